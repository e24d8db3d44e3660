//! # reliable: why TCP is reliable — acknowledgements, timeouts and retransmission
//!
//! The lessons say it in two sentences: UDP sends a datagram and does not care whether it
//! arrived; TCP is reliable because after sending it waits for an acknowledgement. On
//! 127.0.0.1 a datagram is lost only when a queue on its way is full, most often the receiving
//! socket's buffer (the kernel drops it and counts it: /proc/net/udp's `drops` column; the
//! tcp-vs-udp lab shows it), so neither sentence can be seen in an ordinary exchange. This lab
//! puts a lossy link between two programs (`link`: it drops, duplicates, reorders, delays and
//! corrupts datagrams on purpose, each decision printed) and builds reliability on top of UDP,
//! the way TCP builds it on top of IP:
//!
//! - a sequence number on every line, so that the receiver can tell a new line from a copy;
//! - a checksum, so that a damaged datagram is thrown away rather than believed;
//! - an acknowledgement (ACK) for every datagram, so that the sender learns what arrived;
//! - a timeout and retransmission, for what was lost (the line, or its ACK);
//! - a window (`--window N`): N lines in flight before the first is acknowledged. N = 1 is
//!   stop-and-wait (the alternating-bit protocol's way, though lines here are numbered 0, 1,
//!   2, … where that protocol needs only 0, 1, 0, 1); N > 1 is Go-Back-N.
//!
//! `--naive` on both ends sends bare datagrams instead, and shows what UDP alone loses. `ping`
//! measures the round trip and the loss through the link, as the classic UDP pinger does.
//! The wire format is in wire.rs; the sender is in send.rs; the receiver, below, is the part a
//! student writes (`cargo lab spec reliable`).
//!
//! Try it by hand, one terminal each:
//!
//! ```text
//! cargo lab reliable server                        # the receiver: listening on udp://127.0.0.1:9300
//! cargo lab reliable link --loss 30% --seed 7      # a link on udp://127.0.0.1:9301, each decision printed
//! cargo lab reliable send --to 127.0.0.1:9301      # type lines: each arrives once, in order
//! cargo lab reliable ping --server 127.0.0.1:9301  # round trips through the link, and the loss
//! ```
//!
//! And UDP alone: start the receiver with `--naive` and the sender with `--naive`, through
//! the same link. Lines go missing, and nobody is told.

mod ping;
mod send;
mod wire;

use std::collections::HashMap;
use std::io::Read;
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use lab_common::link::{self, Fate, Link, Plan, Report, Way};
use lab_common::{as_text, show};

use crate::wire::Packet;

/// The receiver keeps the next expected line of this many senders at most. A new one takes the
/// place of the one heard from longest ago if that one has been silent for [`ACTIVE`];
/// otherwise the new one is refused (not acknowledged, and said on stderr) until a sender
/// falls silent: forgetting an active sender would start its stream again at 0.
const MAX_SENDERS: usize = 1024;

/// A sender heard from within this long is active, and never forgotten to make room.
const ACTIVE: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let result = match Cli::parse().role {
        Role::Server(args) | Role::Recv(args) => {
            receive(lab_common::listen_addr(args.bind, args.port), args.naive)
        }
        Role::Client(args) | Role::Send(args) => send::send(&args.into()),
        Role::Link(args) => relay(args),
        Role::Ping { server, count, timeout } => ping::ping(server, count, Duration::from_millis(timeout)),
    };
    lab_common::exit(result)
}

/// The receiver: bind, then for each datagram, check it, deliver it if it is the next line,
/// and acknowledge it either way. It ends when its own input ends (Ctrl-D).
fn receive(bind: SocketAddr, naive: bool) -> Result<()> {
    let socket = UdpSocket::bind(bind).with_context(|| format!("binding udp://{bind}"))?;
    let addr = socket.local_addr()?;
    lab_common::print_ready("udp", addr);
    lab_common::server::say_who_can_reach(addr);
    quit_at_end_of_input();
    if naive {
        eprintln!(
            "(naive: each datagram is a line; nothing is acknowledged, so a sender never learns of a loss)"
        );
    }

    // What we expect next from each sender: a sender that starts again from a new port is a
    // new stream, from 0. The lines of one sender arrive through one address (its own, or the
    // link's), so the address is the stream's name, as in TCP's four-tuple.
    let mut senders: HashMap<SocketAddr, Stream> = HashMap::new();
    let mut buf = vec![0; 65_536];
    loop {
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            // One datagram's trouble is never the server's. (On Windows, an ICMP "port
            // unreachable" for an ACK we sent fails the next recvfrom, WSAECONNRESET; Linux does
            // not tell an unconnected socket without IP_RECVERR.)
            Err(error) => {
                eprintln!("receive failed: {error}");
                continue;
            }
        };
        let datagram = &buf[..len];
        // A ping is answered as it came, so that `reliable ping` measures the path to us.
        if datagram.starts_with(b"ping ") {
            answer(&socket, datagram, from);
            continue;
        }
        if naive {
            // UDP alone: the datagram is the line. A lost one simply never comes, and nothing
            // here could notice: there is no number to see a gap in.
            println!("{}", as_text(datagram));
            continue;
        }
        let (seq, line) = match Packet::parse(datagram) {
            Ok(Packet::Data { seq, line }) => (seq, line),
            Ok(Packet::Ack { .. }) => {
                eprintln!("ignored an ACK from {from}: a receiver sends ACKs, it does not take them");
                continue;
            }
            // Damaged (or not ours): no answer at all. Its sequence number cannot be trusted,
            // so even a "please send it again" could name the wrong line. The sender's timer
            // will notice the silence.
            Err(damage) => {
                eprintln!("discarded a datagram from {from}: {damage}");
                continue;
            }
        };
        let Some(stream) = stream_of(&mut senders, from) else {
            eprintln!(
                "refused DATA {seq} from {from}: already {MAX_SENDERS} senders, all heard from within {} s; not acknowledged",
                ACTIVE.as_secs()
            );
            continue;
        };
        if seq == stream.next {
            // The next line: deliver it (print it) before acknowledging it, so that an ACK is
            // a promise the line is out.
            println!("{}", as_text(&line));
            stream.next += 1;
            eprintln!("DATA {seq} from {from}: delivered; ACK {}", stream.next);
        } else if seq < stream.next {
            // A copy: our ACK was lost (so the sender sent it again), or the link duplicated
            // it. Printed once already; but acknowledged again, or a sender whose ACK was lost
            // would send it for ever.
            eprintln!(
                "DATA {seq} from {from} again: delivered already, not printed; ACK {} again",
                stream.next
            );
        } else {
            // A gap: a line before it was lost. Go-Back-N keeps nothing out of order: the
            // sender will send this one again after the missing one.
            eprintln!(
                "DATA {seq} from {from}: expected {} first; discarded; ACK {}",
                stream.next, stream.next
            );
        }
        answer(&socket, &Packet::Ack { next: stream.next }.encode(), from);
    }
}

/// Where one sender's stream stands.
struct Stream {
    /// The sequence number of the next line to deliver: every line before it was printed.
    next: u64,
    heard: Instant,
}

/// The stream of `from`, a new one if we have not heard from it; at most [`MAX_SENDERS`] are
/// kept, so no crowd of senders grows this without bound. None for a new sender when all
/// those kept are active.
fn stream_of(senders: &mut HashMap<SocketAddr, Stream>, from: SocketAddr) -> Option<&mut Stream> {
    if !senders.contains_key(&from) && senders.len() >= MAX_SENDERS {
        let (oldest, heard) =
            senders.iter().map(|(addr, stream)| (*addr, stream.heard)).min_by_key(|(_, heard)| *heard)?;
        if heard.elapsed() < ACTIVE {
            return None;
        }
        senders.remove(&oldest);
        eprintln!(
            "forgot {oldest}, silent for {} s: {MAX_SENDERS} senders at most",
            heard.elapsed().as_secs()
        );
    }
    let stream = senders.entry(from).or_insert(Stream { next: 0, heard: Instant::now() });
    stream.heard = Instant::now();
    Some(stream)
}

/// Send one datagram; a failure concerns that datagram only.
fn answer(socket: &UdpSocket, datagram: &[u8], to: SocketAddr) {
    if let Err(error) = socket.send_to(datagram, to) {
        eprintln!("sending {} to {to} failed: {error}", show(datagram));
    }
}

/// End the program, with status 0, when stdin ends: the user quit (Ctrl-D). A sender still
/// sending then hears nothing more, and gives up after its retries.
fn quit_at_end_of_input() {
    std::thread::spawn(|| {
        let mut sink = [0; 1024];
        let mut stdin = std::io::stdin().lock();
        while !matches!(stdin.read(&mut sink), Ok(0) | Err(_)) {}
        eprintln!("(end of input: the receiver stops)");
        std::process::exit(0);
    });
}

/// The lossy link: relay between whoever sends to `--bind` and `--to`, deciding each
/// datagram's fate as the plan says, and printing each decision.
fn relay(args: LinkArgs) -> Result<()> {
    let plan = Plan {
        loss: args.loss,
        dup: args.dup,
        reorder: args.reorder,
        corrupt: args.corrupt,
        delay: Duration::from_millis(args.delay),
        seed: args.seed,
        rules: Vec::new(),
    };
    if let Err(problem) = plan.check() {
        bail!("{problem}");
    }
    let bind = lab_common::listen_addr(args.bind, args.port);
    let to = args.to;
    let watch = move |report: Report| match report {
        Report::Decided { way, number, fate, bytes } => {
            let arrow = match way {
                Way::Forward => format!("→ {to}"),
                Way::Back => format!("← {to} (a reply)"),
            };
            let note = if fate == Fate::Pass { "" } else { "  <<" };
            println!("{} {arrow}: {}{note}", fate.describe(number), show(bytes));
        }
        Report::Sent { .. } => {}
        Report::Unsent { way: Way::Forward, why } => println!("could not send a datagram on to {to}: {why}"),
        Report::Unsent { way: Way::Back, why } => println!("could not send a reply back: {why}"),
    };
    let link = Link::start(bind, to, plan.clone(), std::sync::Arc::new(watch))
        .with_context(|| format!("binding udp://{bind}"))?;
    lab_common::print_ready("udp", link.addr());
    lab_common::server::say_who_can_reach(link.addr());
    eprintln!(
        "relaying to udp://{to}: loss {}, dup {}, reorder {}, corrupt {}, delay {} ms each way, seed {}; \
         Ctrl-D stops",
        plan.loss, plan.dup, plan.reorder, plan.corrupt, args.delay, plan.seed
    );
    let mut sink = [0; 1024];
    let mut stdin = std::io::stdin().lock();
    while !matches!(stdin.read(&mut sink), Ok(0) | Err(_)) {}
    Ok(())
}

/// Reliability built from acknowledgements, timeouts and retransmission, over a UDP link
/// that loses, duplicates, reorders and corrupts datagrams on purpose (and says which).
#[derive(Parser)]
#[command(name = "reliable", version)]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
enum Role {
    /// The receiver, the same as `recv` under the name every lab's server has: prints each line
    /// once, in order, and acknowledges every datagram. Shows that reliability is built by
    /// both ends. Keeps 1,024 senders' streams; past that a new sender is refused while every
    /// one kept was heard from within 30 s.
    Server(RecvArgs),
    /// The sender, the same as `send` under the name every lab's client has: sends each line
    /// again until it is acknowledged. Shows what a timeout and retransmission buy.
    Client(SendArgs),
    /// Receive lines and print each one once, in order: checks each datagram's checksum,
    /// delivers only the next line in sequence, and acknowledges every datagram (a copy
    /// too). Shows that reliability is built by both ends: a receiver that forgets to
    /// acknowledge a copy leaves its sender resending for ever. Keeps 1,024 senders' streams;
    /// past that a new sender is refused while every one kept was heard from within 30 s.
    Recv(RecvArgs),
    /// Send each line of stdin, numbered and checksummed, and send it again until it is
    /// acknowledged. Shows what a timeout and retransmission buy, and, with --window, what a
    /// window of lines in flight buys back. Exits 0 once everything is acknowledged, 1 when
    /// the receiver stops answering.
    Send(SendArgs),
    /// A lossy link: relay datagrams between whoever sends to it and --to, dropping,
    /// duplicating, reordering, delaying or corrupting them as told, the same way for the
    /// same seed, and print each decision. Shows what UDP is allowed to do to a datagram.
    /// Each sender gets a port of its own toward --to, 64 at most; past that a new sender's
    /// datagrams are dropped while every one was heard from within 30 s.
    Link(LinkArgs),
    /// The UDP pinger: send numbered pings one at a time, print each reply's round-trip time
    /// or "timed out", then the minimum, average and maximum, and the loss. Works against any
    /// echo server (udp-echo's too) and against `recv`. Shows that a timeout is UDP's only news of a
    /// loss.
    Ping {
        /// The echo server (or a link in front of it).
        #[arg(long, value_parser = lab_common::address, default_value = "127.0.0.1:9300")]
        server: SocketAddr,
        /// How many pings.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=100_000))]
        count: u64,
        /// How long to wait for each reply, in milliseconds.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
        timeout: u64,
    },
}

#[derive(Args)]
struct RecvArgs {
    /// Address to listen on; port 0 lets the OS pick a free one.
    #[arg(long, value_parser = lab_common::address, default_value = "127.0.0.1:9300")]
    bind: SocketAddr,
    /// Port on 127.0.0.1 to listen on: the same as `--bind 127.0.0.1:PORT`.
    #[arg(long, conflicts_with = "bind")]
    port: Option<u16>,
    /// Print every datagram as a line, and acknowledge nothing: UDP alone (use with `send
    /// --naive`).
    #[arg(long)]
    naive: bool,
}

#[derive(Args)]
struct SendArgs {
    /// The receiver (or a link in front of it).
    #[arg(long, visible_alias = "server", value_parser = lab_common::address, default_value = "127.0.0.1:9300")]
    to: SocketAddr,
    /// Lines in flight before the first is acknowledged: 1 is stop-and-wait, more is
    /// Go-Back-N.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=4096))]
    window: u64,
    /// How long to wait for an acknowledgement before sending again, in milliseconds. 200 is
    /// Linux TCP's smallest retransmission timeout.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    timeout: u64,
    /// How many times to send the oldest unacknowledged line again, with no progress, before
    /// giving up.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=1000))]
    retries: u32,
    /// Send each line as a bare datagram, with no number, no checksum and no waiting for an
    /// acknowledgement: UDP alone (use with `recv --naive`).
    #[arg(long)]
    naive: bool,
}

impl From<SendArgs> for send::Options {
    fn from(args: SendArgs) -> send::Options {
        send::Options {
            to: args.to,
            window: args.window as usize,
            timeout: Duration::from_millis(args.timeout),
            retries: args.retries,
            naive: args.naive,
        }
    }
}

#[derive(Args)]
struct LinkArgs {
    /// Address to listen on, for whoever sends through the link; port 0 lets the OS pick.
    #[arg(long, visible_alias = "listen", value_parser = lab_common::address, default_value = "127.0.0.1:9301")]
    bind: SocketAddr,
    /// Port on 127.0.0.1 to listen on: the same as `--bind 127.0.0.1:PORT`.
    #[arg(long, conflicts_with = "bind")]
    port: Option<u16>,
    /// Where to relay to (the receiver, an echo server).
    #[arg(long, value_parser = lab_common::address, default_value = "127.0.0.1:9300")]
    to: SocketAddr,
    /// The chance that a datagram is dropped: 0.3 or 30%.
    #[arg(long, value_parser = link::chance, default_value = "0")]
    loss: f64,
    /// The chance that a datagram is sent twice.
    #[arg(long, value_parser = link::chance, default_value = "0")]
    dup: f64,
    /// The chance that a datagram is held back and sent after the next one. At most 8 are held
    /// at once (one more sends the oldest on), and a quiet second sends them all: with
    /// --reorder 1 every datagram is late, none lost.
    #[arg(long, value_parser = link::chance, default_value = "0")]
    reorder: f64,
    /// Delay every datagram by this many milliseconds (each way).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    delay: u64,
    /// The chance that one bit of a datagram is flipped.
    #[arg(long, value_parser = link::chance, default_value = "0")]
    corrupt: f64,
    /// The seed of the chances: the same seed decides the same for the same datagrams.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}
