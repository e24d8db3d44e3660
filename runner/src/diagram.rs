//! A Mermaid sequence diagram of what crossed the wire, drawn from real transcripts, with the
//! roles' names (alice, server) rather than their ports. Git hosts render it in Markdown.

use std::fmt::Write as _;
use std::time::Duration;

use harness::transcript::{Event, show};

/// One diagram for a run of scenarios: each scenario's claim and narration as notes, its
/// datagrams and bytes as arrows, and what the lab's own roles read and print as notes too.
pub fn sequence(sections: &[(&str, Vec<(Duration, Event)>)]) -> String {
    let mut participants: Vec<String> = Vec::new();
    let mut body = String::new();
    for (claim, events) in sections {
        let over = notes_over(events);
        let _ = writeln!(body, "    Note over {over}: {}", clean(claim));
        let mut quiet = false;
        for (_, event) in events {
            match event {
                Event::Hush(start) => {
                    quiet = *start;
                    if quiet {
                        let _ = writeln!(body, "    Note over {over}: (many more exchanges, not drawn)");
                    }
                }
                _ if quiet => {}
                Event::Say(text) => {
                    let _ = writeln!(body, "    Note over {over}: {}", clean(text));
                }
                Event::Wire { from, to, bytes, .. } => {
                    let text = format!("{} ({} B)", short(bytes), bytes.len());
                    let _ = writeln!(body, "    {from}->>{to}: {}", clean(&text));
                    remember(&mut participants, &[from, to]);
                }
                Event::Conn { from, to, what } => {
                    let _ = writeln!(body, "    {from}-->>{to}: {}", clean(what));
                    remember(&mut participants, &[from, to]);
                }
                // A datagram a lossy link dropped is an arrow that ends in a cross; what else
                // it did (a copy, a flipped bit, a delay) is a note, before what it passed on.
                Event::Link { from, to, what, bytes } if what.starts_with("dropped") => {
                    let text = format!("{} ({} B), dropped by the link", short(bytes), bytes.len());
                    let _ = writeln!(body, "    {from}-x{to}: {}", clean(&text));
                    remember(&mut participants, &[from, to]);
                }
                Event::Link { from, to, what, .. } => {
                    let _ = writeln!(body, "    Note over {from},{to}: link {}", clean(what));
                    remember(&mut participants, &[from, to]);
                }
                Event::Stdin { who, line } => {
                    let _ = writeln!(body, "    Note over {who}: stdin: {}", clean(&show(line.as_bytes())));
                    remember(&mut participants, &[who]);
                }
                // The server's own log is wording free to change; a client's output is what its
                // user sees.
                Event::Stdout { who, line } if who != "server" => {
                    let _ = writeln!(body, "    Note over {who}: prints {}", clean(line));
                    remember(&mut participants, &[who]);
                }
                _ => {}
            }
        }
    }
    let mut diagram = String::from("sequenceDiagram\n");
    for who in &participants {
        let _ = writeln!(diagram, "    participant {who}");
    }
    diagram + &body
}

/// Where a section's notes go: across its first exchange, or over its first role.
fn notes_over(events: &[(Duration, Event)]) -> String {
    let first = events.iter().find_map(|(_, event)| match event {
        Event::Wire { from, to, .. } | Event::Conn { from, to, .. } | Event::Link { from, to, .. } => {
            Some(format!("{from},{to}"))
        }
        Event::Stdin { who, .. } => Some(who.clone()),
        Event::Stdout { who, .. } if who != "server" => Some(who.clone()),
        _ => None,
    });
    first.unwrap_or_else(|| "server".to_string())
}

fn remember(participants: &mut Vec<String>, names: &[&String]) {
    for name in names {
        if !participants.contains(name) {
            participants.push(name.to_string());
        }
    }
}

/// Payloads in a diagram stay short: the first 32 bytes, then an ellipsis.
fn short(bytes: &[u8]) -> String {
    if bytes.len() <= 32 { show(bytes) } else { format!("{}…", show(&bytes[..32])) }
}

/// Mermaid reads `;` and `#` itself: write them as its entity codes.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '#' => "#35;".to_string(),
            ';' => "#59;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness::transcript::Proto;

    #[test]
    fn draws_names_arrows_and_the_claim() {
        let events = vec![
            (Duration::ZERO, Event::Say("alice speaks".into())),
            (
                Duration::ZERO,
                Event::Wire {
                    from: "alice".into(),
                    to: "server".into(),
                    proto: Proto::Udp,
                    bytes: b"hi;#".to_vec(),
                },
            ),
        ];
        let diagram = sequence(&[("No connection", events)]);
        assert_eq!(
            diagram,
            "sequenceDiagram\n    participant alice\n    participant server\n    \
             Note over alice,server: No connection\n    Note over alice,server: alice speaks\n    \
             alice->>server: \"hi#59;#35;\" (4 B)\n"
        );
    }

    /// What a lossy link dropped is an arrow ending in a cross; its other decisions are notes.
    #[test]
    fn draws_the_links_drops_as_crossed_arrows() {
        let link = |what: &str| Event::Link {
            from: "sender".into(),
            to: "server".into(),
            what: what.into(),
            bytes: b"5509 DATA 0 hello".to_vec(),
        };
        let events = vec![
            (Duration::ZERO, link("dropped datagram 1")),
            (Duration::ZERO, link("duplicated datagram 2")),
        ];
        let diagram = sequence(&[("Loss", events)]);
        assert!(
            diagram.contains("    sender-xserver: \"5509 DATA 0 hello\" (17 B), dropped by the link\n"),
            "{diagram}"
        );
        assert!(diagram.contains("    Note over sender,server: link duplicated datagram 2\n"), "{diagram}");
        assert!(diagram.contains("participant sender\n    participant server\n"), "{diagram}");
    }
}
