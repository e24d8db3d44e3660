//! # udp-group: a chat room on one UDP socket
//!
//! One server socket serves the whole group. There are no connections, so the server's only
//! idea of "a member" is an address it has heard from: `recvfrom` names the sender of every
//! datagram, and a broadcast is one `sendto` per remembered address.
//!
//! Two modes, two lessons:
//!
//! - `--mode relay` (original lesson 001): every address that ever sent a datagram is remembered, and every
//!   datagram is passed on to all of them. A receive-only member joins by sending one hello.
//!   No names, no way to leave, and anyone who sends once is in.
//! - `--mode room` (original lesson 004, the default): members register a nickname (`N alice`, answered
//!   exactly `OK`), speak (`M alice hello`), leave (`Q alice`), ask who is here (`W`). Each name
//!   is bound to the address that registered it, so nobody else can speak or leave as alice.
//!   The server's stdin is the owner's console: a line goes to everyone, `/who`, `/kick NAME`.
//!
//! The protocol itself, with no sockets in it, is in `room.rs`; the `client` and `listen`
//! roles are in `client.rs`; `--broadcast batch`, the same broadcast in one system call, is in
//! `batch.rs`.
//!
//! Try it by hand, one terminal each:
//!
//! ```text
//! cargo lab udp-group server                # prints: listening on udp://127.0.0.1:10024
//! cargo lab udp-group client --name alice   # type lines; /who, /quit
//! cargo lab udp-group client --name 张三     # a second member: each sees the other's lines
//! cargo lab udp-group server --mode relay   # then: cargo lab udp-group listen, and type on the server
//! ```

mod batch;
mod client;
mod room;

use std::io::{BufRead, ErrorKind};
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::thread;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use room::{Delivery, Group, Log, Outcome, Relay, Room};
use socket2::{SockAddr, SockRef};

fn main() -> ExitCode {
    let result = match Cli::parse().role {
        Role::Server { bind, port, mode, max_members, max_datagram, broadcast } => {
            let group: Shared = match mode {
                Mode::Room => Arc::new(Mutex::new(Room::new(max_members as usize))),
                Mode::Relay => Arc::new(Mutex::new(Relay::new(max_members as usize))),
            };
            serve(lab_common::listen_addr(bind, port), group, max_datagram as usize, broadcast)
        }
        Role::Client { server, name } => client::chat(server, name),
        Role::Listen { server, name } => client::listen(server, name),
    };
    lab_common::exit(result)
}

/// The group, shared by the receive loop and the owner's console.
type Shared = Arc<Mutex<dyn Group + Send>>;

/// The server: bind one socket, let the owner type on another thread, and handle datagrams,
/// one at a time, forever.
fn serve(bind: SocketAddr, group: Shared, max_datagram: usize, how: Broadcast) -> Result<()> {
    let socket = Arc::new(UdpSocket::bind(bind).with_context(|| format!("binding udp://{bind}"))?);
    let addr = socket.local_addr()?;
    lab_common::print_ready("udp", addr);
    lab_common::server::say_who_can_reach(addr);

    // Two sources of input at once, the network and the owner's keyboard: a thread each (as
    // the original lesson does). Both touch the same member list, so it sits behind a lock.
    let (console_socket, console_group) = (Arc::clone(&socket), Arc::clone(&group));
    eprintln!("{}", lock(&group).console_help());
    thread::spawn(move || read_console(&console_socket, &console_group, how));

    // One byte more than the limit: a datagram that fills the buffer is over the limit. The
    // kernel has already thrown away whatever did not fit, so the only honest answer is ERR.
    let mut buf = vec![0; max_datagram + 1];
    loop {
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(received) => received,
            // Whatever went wrong concerns one datagram, never the room: report it and go on.
            Err(error) => {
                eprintln!("receive failed: {error}");
                continue;
            }
        };
        let mut group = lock(&group);
        let outcome = if len > max_datagram {
            Outcome::refuse(from, format!("datagram over {max_datagram} bytes; none of it was used"))
        } else {
            group.receive(from, &buf[..len])
        };
        deliver(&socket, &*group, outcome, how);
    }
}

/// The owner's console: each line of stdin becomes an action on the group. At end of input
/// the console closes and the room goes on.
fn read_console(socket: &UdpSocket, group: &Shared, how: Broadcast) {
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let mut group = lock(group);
        let outcome = group.console(&line);
        deliver(socket, &*group, outcome, how);
    }
    eprintln!("owner's console closed (end of input); the room goes on: Ctrl-C stops the server");
}

fn lock(group: &Shared) -> std::sync::MutexGuard<'_, dyn Group + Send + 'static> {
    // Nothing panics while holding the lock; if something did, the member list is still whole.
    group.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Log what happened and send the datagrams it calls for.
fn deliver(socket: &UdpSocket, group: &dyn Group, outcome: Outcome, how: Broadcast) {
    match outcome.log {
        Some(Log::Event(line)) => println!("{line}"),
        Some(Log::Rejected(line)) => eprintln!("rejected {line}"),
        None => {}
    }
    for send in outcome.sends {
        match send {
            Delivery::To(to, bytes) => send_without_waiting(socket, to, &bytes),
            Delivery::All(bytes) => broadcast(socket, group, None, &bytes, how),
            Delivery::AllBut(but, bytes) => broadcast(socket, group, Some(but), &bytes, how),
        }
    }
}

/// "Send to everyone" is not something UDP can do on its own: it is a loop of `sendto`, one
/// datagram per member. A member that vanished without `Q` (its client killed by Ctrl-C) is
/// still in the loop, and stays: its datagrams go to a closed port, and this unconnected socket
/// is not told (on Linux). The name stays taken until the owner types `/kick NAME`.
///
/// `--broadcast batch` sends the very same datagrams, but hands them all to the kernel in one
/// system call (sendmmsg, Linux's): see `batch.rs`.
fn broadcast(socket: &UdpSocket, group: &dyn Group, but: Option<SocketAddr>, bytes: &[u8], how: Broadcast) {
    let members = group.addresses().into_iter().filter(|&to| Some(to) != but);
    match how {
        Broadcast::Loop => {
            for to in members {
                send_without_waiting(socket, to, bytes);
            }
        }
        Broadcast::Batch => {
            let members: Vec<SocketAddr> = members.collect();
            for (to, error) in batch::send_to_all(socket, &members, bytes) {
                report_unsent(to, error);
            }
        }
    }
}

/// Send one datagram, and never wait for room to send it.
///
/// With a thousand members, a broadcast is a thousand sends from one loop. If one send could
/// block (the kernel has no room for the datagram just now), every member after it would wait
/// for that one, and so would every datagram behind it. MSG_DONTWAIT makes the send fail at
/// once instead (EAGAIN, "would block"): that member loses its copy, which is what UDP promises
/// anyway, and nobody else is delayed. On Linux over loopback the usual place for a datagram to
/// be lost is further on: a member that does not read fills its receive buffer, and the kernel
/// drops what arrives for it, again without holding up the sender or anyone else.
fn send_without_waiting(socket: &UdpSocket, to: SocketAddr, bytes: &[u8]) {
    if let Err(error) =
        SockRef::from(socket).send_to_with_flags(bytes, &SockAddr::from(to), libc::MSG_DONTWAIT)
    {
        report_unsent(to, error);
    }
}

/// A datagram for `to` that the kernel would not take: that member's copy is lost, and only
/// that member's.
fn report_unsent(to: SocketAddr, error: std::io::Error) {
    if error.kind() == ErrorKind::WouldBlock {
        eprintln!("dropped a datagram for {to}: no room to send it now");
    } else {
        eprintln!("sending to {to} failed: {error}");
    }
}

/// A UDP group chat: one server socket, many members, no connections. The server knows its
/// members only by the addresses their datagrams come from.
#[derive(Parser)]
#[command(name = "udp-group", version)]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
enum Role {
    /// Run the group: a relay (original lesson 001) or a chat room (original lesson 004), on one UDP socket.
    ///
    /// Relay mode passes every datagram to every address it has heard from; room mode (the
    /// default) has nicknames bound to addresses, join and leave notices, and
    /// the owner's console on stdin (a line goes to everyone; /who; /kick NAME). Every bad
    /// datagram is answered `ERR <why>` and costs nobody else anything.
    Server {
        /// Address to listen on; port 0 lets the OS pick a free one.
        #[arg(long, value_parser = lab_common::address, default_value = "127.0.0.1:10024")]
        bind: SocketAddr,
        /// Port on 127.0.0.1 to listen on: the same as `--bind 127.0.0.1:PORT`.
        #[arg(long, conflicts_with = "bind")]
        port: Option<u16>,
        /// How the group works: names and a protocol (room), or none at all (relay).
        #[arg(long, value_enum, default_value_t = Mode::Room)]
        mode: Mode,
        /// The most members (room) or remembered addresses (relay); beyond it newcomers get ERR.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        max_members: u32,
        /// The largest datagram accepted, in bytes; a longer one gets ERR, never a silent cut.
        /// Names are at most 32 characters.
        #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(16..=65_507))]
        max_datagram: u32,
        /// How a broadcast goes out: a loop of sendto, one system call per member (the
        /// lesson), or the same datagrams in one sendmmsg call (Linux; elsewhere the loop).
        #[arg(long, value_enum, default_value_t = Broadcast::Loop)]
        broadcast: Broadcast,
    },
    /// Join a room and chat, receiving while you type.
    ///
    /// Asks for a nickname until the server answers OK, then sends each
    /// line you type (`M NAME line`) while a second thread prints whatever arrives, so incoming
    /// lines never wait for you to finish typing. /who lists the members; /quit, quit or
    /// end of input (Ctrl-D) leaves with `Q NAME`.
    Client {
        /// The server to join.
        #[arg(long, value_parser = lab_common::address, default_value = "127.0.0.1:10024")]
        server: SocketAddr,
        /// The nickname to try first (1 to 32 characters, no spaces).
        #[arg(long)]
        name: Option<String>,
    },
    /// A receive-only member: prints everything the group sends.
    ///
    /// With --name it registers in a room; without, it sends one hello datagram, which is how a relay learns its address.
    /// End of input (Ctrl-D) leaves.
    Listen {
        /// The server to listen to.
        #[arg(long, value_parser = lab_common::address, default_value = "127.0.0.1:10024")]
        server: SocketAddr,
        /// Join a room under this name (room mode); without it, just say hello (relay mode).
        #[arg(long)]
        name: Option<String>,
    },
}

/// How a broadcast's datagrams are handed to the kernel.
#[derive(Clone, Copy, ValueEnum)]
enum Broadcast {
    /// One sendto per member: the loop the lesson is about.
    Loop,
    /// All of them in one sendmmsg call (Linux): the same datagrams, fewer system calls.
    Batch,
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// Original lesson 004: nicknames, join and leave notices, the owner.
    Room,
    /// Original lesson 001: relay every datagram to every address ever heard from.
    Relay,
}
