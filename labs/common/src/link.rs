//! A lossy link: a UDP relay that loses, duplicates, reorders, delays and corrupts datagrams on
//! purpose, so that a lesson about reliability can happen on 127.0.0.1, where the kernel loses
//! a datagram only when a queue on its way is full (most often a socket's receive buffer).
//!
//! Whoever sends to the link's address is a sender; the link relays each datagram to the far
//! end (`to`), from a socket of its own for each sender, and each reply from there back to
//! that sender. Every datagram gets one
//! fate, decided by [`Plan::fate`] from the seed, its direction and its number in that
//! direction alone: the same seed decides the same, however the datagrams are timed. The
//! reliable lab's `link` role prints each decision; the harness records each in a transcript.

use std::fmt;
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread;
use std::time::{Duration, Instant};

/// How often the relay's threads look whether the link has been stopped.
const LOOK: Duration = Duration::from_millis(100);

/// At most this many datagrams wait in a delayed direction; more are dropped, and said so.
const QUEUE: usize = 4096;

/// Which way a datagram goes through the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Way {
    /// From whoever sends to the link, on to `to`.
    Forward,
    /// The replies from `to`, back to whoever sent last.
    Back,
}

/// What the link does with one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Pass,
    Drop,
    /// Sent twice.
    Duplicate,
    /// Sent with one bit flipped: bit `bit` (0 the lowest) of the byte `from_end` bytes before
    /// the end (0 the last byte), so that it lands in the payload, which comes last.
    Corrupt {
        from_end: usize,
        bit: u8,
    },
    /// Held back until the next datagram that goes the same way has been sent, then sent
    /// after it: the two arrive in the wrong order.
    HoldBack,
}

impl Fate {
    /// "dropped datagram 3", "corrupted datagram 5 (bit 0 of the last byte flipped)": what
    /// the link did to the `number`th datagram of its direction.
    pub fn describe(&self, number: u64) -> String {
        match self {
            Fate::Pass => format!("passed datagram {number}"),
            Fate::Drop => format!("dropped datagram {number}"),
            Fate::Duplicate => format!("duplicated datagram {number}"),
            Fate::Corrupt { from_end: 0, bit } => {
                format!("corrupted datagram {number} (bit {bit} of its last byte flipped)")
            }
            Fate::Corrupt { from_end, bit } => {
                format!(
                    "corrupted datagram {number} (bit {bit} of its byte {} from the end flipped)",
                    from_end + 1
                )
            }
            Fate::HoldBack => format!("held back datagram {number}, to send it after the next one"),
        }
    }
}

/// A fate decided in advance for one datagram: the `number`th (from 1) going `way`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub way: Way,
    pub number: u64,
    pub fate: Fate,
}

/// How the link treats datagrams: a chance of each fate (they add up to 1 at most; the rest
/// pass), a delay for all, the seed of the chances, and fates decided in advance.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub loss: f64,
    pub dup: f64,
    pub reorder: f64,
    pub corrupt: f64,
    pub delay: Duration,
    pub seed: u64,
    pub rules: Vec<Rule>,
}

impl Plan {
    /// Checks that each chance is between 0 and 1 and that together they are at most 1.
    pub fn check(&self) -> Result<(), String> {
        let chances =
            [("loss", self.loss), ("dup", self.dup), ("reorder", self.reorder), ("corrupt", self.corrupt)];
        for (name, chance) in chances {
            if !(0.0..=1.0).contains(&chance) {
                return Err(format!("--{name} {chance} is not a chance between 0 and 1"));
            }
        }
        if self.loss + self.dup + self.reorder + self.corrupt > 1.0 + 1e-9 {
            return Err(
                "--loss, --dup, --reorder and --corrupt add up to more than 1: each datagram gets one fate"
                    .into(),
            );
        }
        Ok(())
    }

    /// "30% dropped, 10% duplicated; seed 7", "the 1st reply dropped": the plan in words.
    pub fn describe(&self) -> String {
        let percent = |chance: f64| format!("{}%", (chance * 1000.0).round() / 10.0);
        let mut parts = Vec::new();
        for (chance, what) in [
            (self.loss, "dropped"),
            (self.dup, "duplicated"),
            (self.reorder, "held back behind the next"),
            (self.corrupt, "corrupted"),
        ] {
            if chance > 0.0 {
                parts.push(format!("{} {what}", percent(chance)));
            }
        }
        if !self.delay.is_zero() {
            parts.push(format!("each delayed {} ms", self.delay.as_millis()));
        }
        let mut text = if parts.is_empty() { "every datagram passed".to_string() } else { parts.join(", ") };
        if parts.iter().any(|part| part.contains('%')) {
            text += &format!(" (seed {})", self.seed);
        }
        for rule in &self.rules {
            let way = match rule.way {
                Way::Forward => "datagram",
                Way::Back => "reply",
            };
            let fate = rule.fate.describe(rule.number);
            let verb = fate.split(' ').next().unwrap_or_default();
            text += &format!("; the {} {way} {verb}", ordinal(rule.number));
        }
        text
    }

    /// The fate of the `number`th datagram (from 1) going `way`, `len` bytes long: a rule's,
    /// or one drawn from the seed, the direction and the number alone.
    pub fn fate(&self, way: Way, number: u64, len: usize) -> Fate {
        if let Some(rule) = self.rules.iter().find(|rule| rule.way == way && rule.number == number) {
            return rule.fate;
        }
        let draw =
            |k: u64| mix(self.seed ^ mix(number.wrapping_mul(4) + k + if way == Way::Back { 2 } else { 0 }));
        // The top 53 bits as a fraction in [0, 1), as a f64 holds them exactly.
        let chance = (draw(0) >> 11) as f64 / (1u64 << 53) as f64;
        let mut edge = self.loss;
        if chance < edge {
            return Fate::Drop;
        }
        edge += self.corrupt;
        if chance < edge && len > 0 {
            let where_ = draw(1);
            return Fate::Corrupt {
                from_end: (where_ % len as u64) as usize,
                bit: ((where_ >> 32) % 8) as u8,
            };
        }
        edge += self.dup;
        if chance < edge {
            return Fate::Duplicate;
        }
        edge += self.reorder;
        if chance < edge {
            return Fate::HoldBack;
        }
        Fate::Pass
    }
}

/// "1st", "2nd", "3rd", "4th", "11th".
fn ordinal(n: u64) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// SplitMix64's finaliser (Steele, Lea and Flood, 2014): 64 well-mixed bits from any 64, so
/// that a datagram's fate depends on nothing but the seed, its direction and its number.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A chance from the command line: `0.3` or `30%`.
pub fn chance(text: &str) -> Result<f64, String> {
    let (number, scale) = match text.strip_suffix('%') {
        Some(percent) => (percent, 100.0),
        None => (text, 1.0),
    };
    let value: f64 =
        number.trim().parse().map_err(|_| format!("expected a chance like 0.3 or 30%, not {text:?}"))?;
    let value = value / scale;
    if !(0.0..=1.0).contains(&value) {
        return Err(format!("{text} is not a chance between 0 and 1 (or 0% and 100%)"));
    }
    Ok(value)
}

/// What the link tells its watcher.
#[derive(Debug)]
pub enum Report<'a> {
    /// The fate of the `number`th datagram going `way`, as it arrived.
    Decided { way: Way, number: u64, fate: Fate, bytes: &'a [u8] },
    /// A datagram leaves the link (its corrupted bytes, if it was corrupted); if the send
    /// then fails, [`Report::Unsent`] follows.
    Sent { way: Way, bytes: &'a [u8] },
    /// A datagram could not be sent on (nobody at the far end yet, say).
    Unsent { way: Way, why: String },
}

/// The watcher of a link: called from its threads.
pub type Watcher = Arc<dyn Fn(Report) + Send + Sync>;

/// A running link. Dropping it stops it; a datagram still held back or delayed is lost.
pub struct Link {
    addr: SocketAddr,
    stopped: Arc<AtomicBool>,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Link({})", self.addr)
    }
}

impl Link {
    /// Bind `listen` and relay between whoever sends there and `to`, as `plan` says, telling
    /// `watch` every decision and every send.
    pub fn start(listen: SocketAddr, to: SocketAddr, plan: Plan, watch: Watcher) -> io::Result<Link> {
        let near = UdpSocket::bind(listen)?;
        near.set_read_timeout(Some(LOOK))?;
        let addr = near.local_addr()?;
        let near = Arc::new(near);
        let stopped = Arc::new(AtomicBool::new(false));
        let shared = Shared {
            plan: Arc::new(plan),
            watch,
            stopped: stopped.clone(),
            back_numbers: Arc::new(AtomicU64::new(0)),
        };
        let forward = Outbox::new(Way::Forward, near.clone(), &shared);
        let back = Outbox::new(Way::Back, near.clone(), &shared);
        let relay =
            Forward { near, to, shared, forward, back, senders: Vec::new(), number: 0, held: Vec::new() };
        thread::spawn(move || relay.run());
        Ok(Link { addr, stopped })
    }

    /// Where to send, to go through the link.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
    }
}

/// What every thread of one link shares.
#[derive(Clone)]
struct Shared {
    plan: Arc<Plan>,
    watch: Watcher,
    stopped: Arc<AtomicBool>,
    /// The replies of all senders are numbered in one sequence, as they reach the link.
    back_numbers: Arc<AtomicU64>,
}

/// One sender behind the link, and the link's own socket for it on the far side.
struct Sender {
    addr: SocketAddr,
    far: Arc<UdpSocket>,
    gone: Arc<AtomicBool>,
    heard: Instant,
}

/// A sender heard from within this long is active: its far socket is never taken from it.
pub const ACTIVE: Duration = Duration::from_secs(30);

/// A datagram held back goes on right after the next one that goes on, in the same direction.
/// So that none is held for ever (`--reorder 1` holds every one), at most this many wait at
/// once, the oldest going on when one more is held, and all go on once the link has been
/// quiet in that direction for [`QUIET`]: a held datagram is late, never lost.
const MAX_HELD: usize = 8;
const QUIET: Duration = Duration::from_secs(1);

/// At most this many senders at once have a far socket of their own. A new one takes the
/// place of the one heard from longest ago if that one has been silent for [`ACTIVE`];
/// otherwise every sender is active, and the new one's datagrams are dropped (and the watcher
/// told why) until one falls silent: moving an active sender to a new port would make the far
/// end take it for a new one and start its stream again.
pub const MAX_SENDERS: usize = 64;

/// The forward direction: receive from whoever sends to the link, decide, pass on.
struct Forward {
    near: Arc<UdpSocket>,
    to: SocketAddr,
    shared: Shared,
    forward: Outbox,
    back: Outbox,
    /// Most recently heard last.
    senders: Vec<Sender>,
    number: u64,
    held: Vec<(Arc<UdpSocket>, Vec<u8>)>,
}

impl Forward {
    fn run(mut self) {
        let mut buf = vec![0; 65_536];
        let mut heard = Instant::now();
        while !self.shared.stopped.load(Ordering::SeqCst) {
            if heard.elapsed() >= QUIET {
                // Nothing came to overtake what is held back: it goes on now.
                for (far, late) in self.held.drain(..) {
                    self.forward.send(Dest::Far(far), late);
                }
            }
            let (len, sender) = match self.near.recv_from(&mut buf) {
                Ok(got) => got,
                // A timeout (look again whether the link is stopped), or, on Windows, an ICMP
                // error for a reply sent back earlier (Linux tells this unconnected socket
                // nothing): not ours to act on.
                Err(_) => continue,
            };
            heard = Instant::now();
            let Some(far) = self.far_socket_for(sender) else { continue };
            self.number += 1;
            let bytes = &buf[..len];
            let fate = self.shared.plan.fate(Way::Forward, self.number, len);
            (self.shared.watch)(Report::Decided { way: Way::Forward, number: self.number, fate, bytes });
            if fate == Fate::HoldBack {
                if self.held.len() == MAX_HELD {
                    let (far, oldest) = self.held.remove(0);
                    self.forward.send(Dest::Far(far), oldest);
                }
                self.held.push((far, bytes.to_vec()));
                continue;
            }
            if fate != Fate::Drop {
                for copy in apply(fate, bytes) {
                    self.forward.send(Dest::Far(far.clone()), copy);
                }
            }
            for (far, late) in self.held.drain(..) {
                self.forward.send(Dest::Far(far), late);
            }
        }
    }

    /// The link's socket on the far side for `sender`: each sender gets one of its own, as a
    /// NAT router gives each a port, so that the far end can tell them apart. None if no
    /// socket can be had (said to the watcher).
    fn far_socket_for(&mut self, sender: SocketAddr) -> Option<Arc<UdpSocket>> {
        if let Some(at) = self.senders.iter().position(|known| known.addr == sender) {
            let mut known = self.senders.remove(at);
            known.heard = Instant::now();
            let far = known.far.clone();
            self.senders.push(known);
            return Some(far);
        }
        if self.senders.len() >= MAX_SENDERS {
            if self.senders[0].heard.elapsed() < ACTIVE {
                (self.shared.watch)(Report::Unsent {
                    way: Way::Forward,
                    why: format!(
                        "no room for a new sender, {sender}: all {MAX_SENDERS} are active (heard from within {} s); its datagram is dropped",
                        ACTIVE.as_secs()
                    ),
                });
                return None;
            }
            let oldest = self.senders.remove(0);
            oldest.gone.store(true, Ordering::SeqCst);
        }
        let far = match far_socket(self.to) {
            Ok(far) => Arc::new(far),
            Err(error) => {
                (self.shared.watch)(Report::Unsent {
                    way: Way::Forward,
                    why: format!("no socket for {sender}: {error}"),
                });
                return None;
            }
        };
        let gone = Arc::new(AtomicBool::new(false));
        let back = Back {
            far: far.clone(),
            sender,
            shared: self.shared.clone(),
            outbox: self.back.clone(),
            gone: gone.clone(),
        };
        thread::spawn(move || back.run());
        self.senders.push(Sender { addr: sender, far: far.clone(), gone, heard: Instant::now() });
        Some(far)
    }
}

fn far_socket(to: SocketAddr) -> io::Result<UdpSocket> {
    let far = UdpSocket::bind(crate::local_addr_for(to))?;
    far.connect(to)?;
    far.set_read_timeout(Some(LOOK))?;
    Ok(far)
}

/// The copies a fate sends on: none for a drop, two for a duplicate, one bit flipped for a
/// corruption.
fn apply(fate: Fate, bytes: &[u8]) -> Vec<Vec<u8>> {
    match fate {
        Fate::Drop | Fate::HoldBack => Vec::new(),
        Fate::Pass => vec![bytes.to_vec()],
        Fate::Duplicate => vec![bytes.to_vec(), bytes.to_vec()],
        Fate::Corrupt { from_end, bit } => {
            let mut corrupted = bytes.to_vec();
            if let Some(at) = bytes.len().checked_sub(1 + from_end) {
                corrupted[at] ^= 1 << (bit % 8);
            }
            vec![corrupted]
        }
    }
}

/// The back direction for one sender: the replies from the far end, decided and passed back.
struct Back {
    far: Arc<UdpSocket>,
    sender: SocketAddr,
    shared: Shared,
    outbox: Outbox,
    gone: Arc<AtomicBool>,
}

impl Back {
    fn run(self) {
        let mut buf = vec![0; 65_536];
        let mut held: Vec<Vec<u8>> = Vec::new();
        let mut heard = Instant::now();
        while !self.shared.stopped.load(Ordering::SeqCst) && !self.gone.load(Ordering::SeqCst) {
            if heard.elapsed() >= QUIET {
                // Nothing came to overtake what is held back: it goes on now.
                for late in held.drain(..) {
                    self.outbox.send(Dest::Near(self.sender), late);
                }
            }
            let len = match self.far.recv(&mut buf) {
                Ok(len) => len,
                // A timeout, or the ICMP "port unreachable" that this connected socket hears
                // once the far end is gone: the sender will notice by the silence.
                Err(_) => continue,
            };
            heard = Instant::now();
            let number = self.shared.back_numbers.fetch_add(1, Ordering::SeqCst) + 1;
            let bytes = &buf[..len];
            let fate = self.shared.plan.fate(Way::Back, number, len);
            (self.shared.watch)(Report::Decided { way: Way::Back, number, fate, bytes });
            if fate == Fate::HoldBack {
                if held.len() == MAX_HELD {
                    self.outbox.send(Dest::Near(self.sender), held.remove(0));
                }
                held.push(bytes.to_vec());
                continue;
            }
            for copy in apply(fate, bytes) {
                self.outbox.send(Dest::Near(self.sender), copy);
            }
            for late in held.drain(..) {
                self.outbox.send(Dest::Near(self.sender), late);
            }
        }
    }
}

/// Where a datagram leaves the link: on a sender's far socket, or from the near socket to
/// the sender.
#[derive(Clone)]
enum Dest {
    Far(Arc<UdpSocket>),
    Near(SocketAddr),
}

/// Where one direction's datagrams leave the link: at once, or after the plan's delay, in
/// order, from a thread of its own.
#[derive(Clone)]
struct Outbox {
    way: Way,
    near: Arc<UdpSocket>,
    watch: Watcher,
    delayed: Option<SyncSender<(Instant, Dest, Vec<u8>)>>,
}

impl Outbox {
    fn new(way: Way, near: Arc<UdpSocket>, shared: &Shared) -> Outbox {
        let mut outbox = Outbox { way, near, watch: shared.watch.clone(), delayed: None };
        let delay = shared.plan.delay;
        if !delay.is_zero() {
            let (queue, waiting) = mpsc::sync_channel(QUEUE);
            let sender = outbox.clone();
            let stopped = shared.stopped.clone();
            thread::spawn(move || sender.send_when_due(waiting, delay, &stopped));
            outbox.delayed = Some(queue);
        }
        outbox
    }

    fn send(&self, dest: Dest, bytes: Vec<u8>) {
        match &self.delayed {
            None => self.send_now(&dest, &bytes),
            Some(queue) => match queue.try_send((Instant::now(), dest, bytes)) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => (self.watch)(Report::Unsent {
                    way: self.way,
                    why: format!("dropped: {QUEUE} datagrams already wait out the delay"),
                }),
                Err(TrySendError::Disconnected(_)) => {}
            },
        }
    }

    /// The delay is the lesson's stand-in for a long wire: each datagram waits it out here,
    /// and they leave in the order they came.
    fn send_when_due(
        &self,
        waiting: Receiver<(Instant, Dest, Vec<u8>)>,
        delay: Duration,
        stopped: &AtomicBool,
    ) {
        while !stopped.load(Ordering::SeqCst) {
            let (arrived, dest, bytes) = match waiting.recv_timeout(LOOK) {
                Ok(item) => item,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            let due = arrived + delay;
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            self.send_now(&dest, &bytes);
        }
    }

    fn send_now(&self, dest: &Dest, bytes: &[u8]) {
        // Told before it is sent, so that a watcher records it before the far end's answer.
        (self.watch)(Report::Sent { way: self.way, bytes });
        let sent = match dest {
            Dest::Far(far) => far.send(bytes),
            Dest::Near(sender) => self.near.send_to(bytes, sender),
        };
        match sent {
            Ok(_) => {}
            Err(error) if error.kind() == ErrorKind::ConnectionRefused => (self.watch)(Report::Unsent {
                way: self.way,
                why: "an earlier datagram was refused: nobody listens at the far end".into(),
            }),
            Err(error) => (self.watch)(Report::Unsent { way: self.way, why: error.to_string() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fate depends only on the seed, the direction and the number: asked again, in any
    /// order, it is the same; and over many datagrams each chance comes out about right.
    #[test]
    fn fates_are_decided_by_the_seed_alone() {
        let plan = Plan { loss: 0.3, dup: 0.1, reorder: 0.1, corrupt: 0.1, seed: 7, ..Plan::default() };
        let first: Vec<Fate> = (1..=1000).map(|n| plan.fate(Way::Forward, n, 20)).collect();
        let again: Vec<Fate> = (1..=1000).rev().map(|n| plan.fate(Way::Forward, n, 20)).collect();
        assert!(first.iter().eq(again.iter().rev()));
        let back: Vec<Fate> = (1..=1000).map(|n| plan.fate(Way::Back, n, 20)).collect();
        assert_ne!(first, back, "the two directions draw apart");
        let dropped = first.iter().filter(|f| **f == Fate::Drop).count();
        assert!((250..350).contains(&dropped), "{dropped} of 1000 dropped at 30%");
        let other = Plan { seed: 8, ..plan.clone() };
        assert_ne!(first, (1..=1000).map(|n| other.fate(Way::Forward, n, 20)).collect::<Vec<_>>());
    }

    /// A rule decides its datagram, whatever the chances say.
    #[test]
    fn a_rule_overrides_the_chances() {
        let rules = vec![Rule { way: Way::Back, number: 1, fate: Fate::Drop }];
        let plan = Plan { rules, ..Plan::default() };
        assert_eq!(plan.fate(Way::Back, 1, 5), Fate::Drop);
        assert_eq!(plan.fate(Way::Back, 2, 5), Fate::Pass);
        assert_eq!(plan.fate(Way::Forward, 1, 5), Fate::Pass);
    }

    #[test]
    fn chances_read_as_fractions_or_percents() {
        assert_eq!(chance("0.3"), Ok(0.3));
        assert_eq!(chance("30%"), Ok(0.3));
        assert!(chance("1.5").is_err() && chance("x").is_err());
        let plan = Plan { loss: 0.6, dup: 0.6, ..Plan::default() };
        assert!(plan.check().is_err());
    }

    /// A far end on 127.0.0.1 that the tests read with a deadline.
    fn far_end() -> UdpSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        socket
    }

    fn next(socket: &UdpSocket) -> Vec<u8> {
        let mut buf = [0; 100];
        let (len, _) = socket.recv_from(&mut buf).expect("a datagram within 5 s");
        buf[..len].to_vec()
    }

    /// Through a real link: a held-back datagram arrives after the next one, a duplicate
    /// twice, a dropped one never, a corrupted one with its bit flipped; and a reply goes back
    /// to the sender.
    #[test]
    fn each_fate_happens_on_the_wire() {
        let rule = |number, fate| Rule { way: Way::Forward, number, fate };
        let rules = vec![
            rule(1, Fate::HoldBack),
            rule(3, Fate::Duplicate),
            rule(4, Fate::Drop),
            rule(5, Fate::Corrupt { from_end: 0, bit: 0 }),
        ];
        let far = far_end();
        let link = Link::start(
            "127.0.0.1:0".parse().unwrap(),
            far.local_addr().unwrap(),
            Plan { rules, ..Plan::default() },
            Arc::new(|_| {}),
        )
        .unwrap();
        let sender = far_end();
        for datagram in ["one", "two", "three", "four", "five", "six"] {
            sender.send_to(datagram.as_bytes(), link.addr()).unwrap();
        }
        let arrived: Vec<Vec<u8>> = (0..6).map(|_| next(&far)).collect();
        let expected: [&[u8]; 6] = [b"two", b"one", b"three", b"three", b"fivd", b"six"];
        assert_eq!(arrived, expected.map(|d| d.to_vec()));
        // Had "four" arrived late, it would come before "seven".
        sender.send_to(b"seven", link.addr()).unwrap();
        let mut buf = [0; 10];
        let (len, from) = far.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"seven");
        far.send_to(b"reply", from).unwrap();
        assert_eq!(next(&sender), b"reply");
    }

    /// `--reorder 1` holds every datagram back: each still arrives, at most MAX_HELD behind,
    /// and the last ones once the link is quiet; none is kept for ever.
    #[test]
    fn holding_every_datagram_back_delays_them_and_keeps_none() {
        let far = far_end();
        let plan = Plan { reorder: 1.0, ..Plan::default() };
        let link =
            Link::start("127.0.0.1:0".parse().unwrap(), far.local_addr().unwrap(), plan, Arc::new(|_| {}))
                .unwrap();
        let sender = far_end();
        for number in 0..20u8 {
            sender.send_to(&[number], link.addr()).unwrap();
        }
        let mut arrived: Vec<u8> = (0..20).map(|_| next(&far)[0]).collect();
        arrived.sort();
        assert_eq!(arrived, (0..20).collect::<Vec<u8>>());
    }

    /// 64 senders, all active, fill the link: a 65th is refused (its datagram dropped, the
    /// watcher told why), and the first keeps its far socket, so the far end sees it on the
    /// same port as before.
    #[test]
    fn an_active_sender_keeps_its_port_when_a_new_one_comes() {
        let far = far_end();
        let (told, unsent) = mpsc::channel();
        let told = std::sync::Mutex::new(told);
        let watch: Watcher = Arc::new(move |report| {
            if let Report::Unsent { why, .. } = report {
                let _ = told.lock().unwrap_or_else(|p| p.into_inner()).send(why);
            }
        });
        let link =
            Link::start("127.0.0.1:0".parse().unwrap(), far.local_addr().unwrap(), Plan::default(), watch)
                .unwrap();
        let senders: Vec<UdpSocket> = (0..MAX_SENDERS).map(|_| far_end()).collect();
        let mut first_port = None;
        for sender in &senders {
            sender.send_to(b"hello", link.addr()).unwrap();
            let (_, from) = far.recv_from(&mut [0; 10]).expect("a datagram within 5 s");
            first_port.get_or_insert(from);
        }
        let late = far_end();
        late.send_to(b"me too", link.addr()).unwrap();
        let why = unsent.recv_timeout(Duration::from_secs(5)).expect("the watcher told of the refusal");
        assert!(why.contains("all 64 are active"), "{why}");
        senders[0].send_to(b"still me", link.addr()).unwrap();
        let mut buf = [0; 10];
        let (len, from) = far.recv_from(&mut buf).expect("a datagram within 5 s");
        assert_eq!((&buf[..len], Some(from)), (&b"still me"[..], first_port));
    }

    /// A delay holds every datagram that long, and keeps their order.
    #[test]
    fn a_delay_keeps_the_order() {
        let far = far_end();
        let delay = Duration::from_millis(30);
        let plan = Plan { delay, ..Plan::default() };
        let link =
            Link::start("127.0.0.1:0".parse().unwrap(), far.local_addr().unwrap(), plan, Arc::new(|_| {}))
                .unwrap();
        let sender = far_end();
        let started = Instant::now();
        for number in 0..5u8 {
            sender.send_to(&[number], link.addr()).unwrap();
        }
        let arrived: Vec<Vec<u8>> = (0..5).map(|_| next(&far)).collect();
        assert!(started.elapsed() >= delay);
        assert_eq!(arrived, (0..5u8).map(|n| vec![n]).collect::<Vec<_>>());
    }
}
