//! my-udp-chat: the waiting end of a UDP peer chat.
//!
//! It learns its peer from the first datagram and chats with that peer only; its operator
//! types on stdin. Read the full spec with `cargo lab spec udp-chat`, then check it, from the
//! folder that holds my-udp-chat, with:
//!
//! ```text
//! cargo lab check udp-chat --build 'cargo build --quiet --manifest-path my-udp-chat/Cargo.toml --target-dir my-udp-chat/target' \
//!     --server 'my-udp-chat/target/debug/my-udp-chat --port {port} {args}'
//! ```
//!
//! Rust, standard library only. Fill in the TODOs; each names the scenario that checks it.

// While TODOs are open, some names are not used yet and rustc would warn about each. Delete
// this line once you are done: any warning left then points at something you forgot.
#![allow(unused_variables, dead_code)]

use std::io::{self, ErrorKind, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::thread;

/// The flags the checker passes.
struct Args {
    /// `--port N`: the UDP port to bind on 127.0.0.1. Always passed.
    port: u16,
    /// `--mode lockstep|duplex` (lockstep when the flag is absent).
    mode: Mode,
}

#[derive(PartialEq)]
enum Mode {
    /// Take turns, the peer first.
    Lockstep,
    /// Either side types at any time.
    Duplex,
}

const QUIT_WORDS: [&str; 2] = ["q", "88"]; // in any case

/// Duplex mode: send each line typed on stdin at once.
fn typing(socket: &UdpSocket, peer: &Mutex<Option<SocketAddr>>) {
    // TODO (in_duplex_either_side_types_at_any_time): for each line on stdin
    //   (io::stdin().lines()), send it (without its newline) to the peer as one datagram,
    //   once the peer is known.
    // TODO (a_quit_word_from_either_side_ends_the_chat): a typed quit word is sent, then
    //   the server exits 0 (std::process::exit(0) ends every thread); at the end of stdin,
    //   send a quit word and exit 0 too.
}

fn main() {
    let args = parse_args();

    let socket = UdpSocket::bind(("127.0.0.1", args.port)).unwrap_or_else(|error| {
        eprintln!("error: binding udp://127.0.0.1:{}: {error}", args.port);
        std::process::exit(1)
    });
    let port = socket.local_addr().expect("a bound socket has an address").port();
    println!("listening on udp://127.0.0.1:{port}");
    // The checker waits for that line: flush it now, not whenever a buffer fills.
    let _ = io::stdout().flush();

    // The address of whoever sent the first datagram. The typing thread needs it too, so it
    // lives behind a Mutex, shared through an Arc.
    let peer: Arc<Mutex<Option<SocketAddr>>> = Arc::default();

    if args.mode == Mode::Duplex {
        // A handle on the same socket (try_clone), so that replies leave from the port the
        // peer wrote to.
        let typing_socket = socket.try_clone().expect("cloning a socket handle");
        let typing_peer = Arc::clone(&peer);
        thread::spawn(move || typing(&typing_socket, &typing_peer));
    }

    let mut buf = vec![0u8; 65535];
    loop {
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(received) => received,
            // Our last send was refused: nobody there any more. Wait for the next datagram.
            Err(error) if error.kind() == ErrorKind::ConnectionRefused => continue,
            Err(error) => {
                eprintln!("receive failed: {error}");
                continue;
            }
        };
        let data = &buf[..len];
        // TODO (a_stranger_cannot_cut_into_the_chat): the first sender becomes the peer;
        //   after that, pass over any datagram whose address is not the peer's.
        // TODO (either_side_may_start_first): print the peer's line on stdout and flush it,
        //   e.g. println!("client: {text}") (String::from_utf8_lossy(data) gives you text).
        // TODO (a_quit_word_from_either_side_ends_the_chat): a quit word from the peer
        //   (QUIT_WORDS.contains(&text.trim().to_lowercase().as_str())) ends the chat: exit 0.
        // TODO (in_lockstep_the_server_waits_for_its_turn): in lockstep, now read one line
        //   from stdin (io::stdin().read_line) and send it to the peer, then go back to
        //   waiting for the peer.
    }
}

const USAGE: &str = "usage: my-udp-chat --port N [--mode lockstep|duplex]";

/// Read the flags by hand, from std::env::args.
fn parse_args() -> Args {
    let mut port = None;
    let mut mode = Mode::Lockstep;
    let mut words = std::env::args().skip(1);
    while let Some(flag) = words.next() {
        match flag.as_str() {
            "--port" => port = Some(number(&flag, words.next())),
            "--mode" => {
                mode = match words.next().as_deref() {
                    Some("lockstep") => Mode::Lockstep,
                    Some("duplex") => Mode::Duplex,
                    _ => usage("--mode takes lockstep or duplex"),
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0)
            }
            _ => usage(&format!("unknown flag {flag:?}")),
        }
    }
    let port = port.unwrap_or_else(|| usage("--port N is required"));
    Args { port, mode }
}

/// The number that follows `flag`.
fn number<T: std::str::FromStr>(flag: &str, value: Option<String>) -> T {
    let Some(value) = value else { usage(&format!("{flag} needs a value")) };
    value.parse().unwrap_or_else(|_| usage(&format!("{flag} takes a number, not {value:?}")))
}

/// A usage error: say what is wrong and how the command goes, and exit with status 2.
fn usage(problem: &str) -> ! {
    eprintln!("error: {problem}\n{USAGE}");
    std::process::exit(2)
}
