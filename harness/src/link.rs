//! The lossy link between two peers of a scenario (lab-common's `link`, the reliable lab's
//! `link` role): it drops, duplicates, reorders, delays or corrupts datagrams as its
//! [`Plan`] says, the same way for the same seed. Every decision other than "pass" is
//! recorded in the transcript (and drawn in the diagram: a dropped datagram is an arrow that
//! ends in a cross); every datagram it sends on is recorded as it leaves.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use lab_common::link::Report;
pub use lab_common::link::{Fate, Plan, Rule, Way};

use crate::transcript::{Event, Proto, Transcript};

/// A running link. Dropping it stops it.
pub struct Link {
    link: lab_common::link::Link,
}

impl Link {
    /// A link in front of `to` (named `far` in the transcript), for `near`, which is to send
    /// to [`Link::addr`].
    pub fn start(to: SocketAddr, near: &str, far: &str, plan: Plan, transcript: &Transcript) -> Result<Link> {
        let names_link = transcript.clone();
        let (near, far, transcript) = (near.to_string(), far.to_string(), transcript.clone());
        let names = move |way: Way| match way {
            Way::Forward => (near.clone(), far.clone()),
            Way::Back => (far.clone(), near.clone()),
        };
        let watch = move |report: Report| match report {
            Report::Decided { fate: Fate::Pass, .. } => {}
            Report::Decided { way, number, fate, bytes } => {
                let (from, to) = names(way);
                transcript.record(Event::Link {
                    from,
                    to,
                    what: fate.describe(number),
                    bytes: bytes.to_vec(),
                });
            }
            Report::Sent { way, bytes } => {
                let (from, to) = names(way);
                transcript.record(Event::Wire { from, to, proto: Proto::Udp, bytes: bytes.to_vec() });
            }
            Report::Unsent { way, why } => {
                let (from, to) = names(way);
                transcript.record(Event::Link {
                    from,
                    to,
                    what: format!("could not send on: {why}"),
                    bytes: Vec::new(),
                });
            }
        };
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let link = lab_common::link::Link::start(listen, to, plan, Arc::new(watch))
            .context("starting a lossy link on 127.0.0.1")?;
        // For a capture's comments (harness::capture).
        names_link.name(link.addr(), "link");
        Ok(Link { link })
    }

    /// Where to send, to go through the link.
    pub fn addr(&self) -> SocketAddr {
        self.link.addr()
    }
}

/// The datagrams the link dropped going from `from` to `to`, in the order it dropped them.
pub fn dropped(transcript: &Transcript, from: &str, to: &str) -> Vec<Vec<u8>> {
    decided(transcript, from, to, "dropped")
}

/// The datagrams going from `from` to `to` whose fate the link described with a text that
/// starts with `what` ("dropped", "corrupted", "duplicated", "held back").
pub fn decided(transcript: &Transcript, from: &str, to: &str, what: &str) -> Vec<Vec<u8>> {
    transcript
        .events()
        .into_iter()
        .filter_map(|(_, event)| match event {
            Event::Link { from: f, to: t, what: w, bytes } if f == from && t == to && w.starts_with(what) => {
                Some(bytes)
            }
            _ => None,
        })
        .collect()
}

/// The datagrams that left a link (or any relay that records them) from `from` to `to`.
pub fn passed(transcript: &Transcript, from: &str, to: &str) -> Vec<Vec<u8>> {
    transcript
        .events()
        .into_iter()
        .filter_map(|(_, event)| match event {
            Event::Wire { from: f, to: t, bytes, .. } if f == from && t == to => Some(bytes),
            _ => None,
        })
        .collect()
}
