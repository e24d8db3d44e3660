//! my-udp-echo: a UDP echo server.
//!
//! Every datagram that arrives goes back, unchanged, to the address it came from.
//! Read the full spec with `cargo lab spec udp-echo`, then check your server, from the folder
//! that holds my-udp-echo, with:
//!
//! ```text
//! cargo lab check udp-echo --build 'cargo build --quiet --manifest-path my-udp-echo/Cargo.toml --target-dir my-udp-echo/target' \
//!     --server 'my-udp-echo/target/debug/my-udp-echo --port {port} {args}'
//! ```
//!
//! Rust, standard library only. Fill in the TODOs; each names the scenario that checks it.

// While TODOs are open, some names are not used yet and rustc would warn about each. Delete
// this line once you are done: any warning left then points at something you forgot.
#![allow(unused_variables, dead_code)]

use std::io::Write;
use std::net::UdpSocket;

/// The flags the checker passes.
struct Args {
    /// `--port N`: the UDP port to bind on 127.0.0.1. Always passed.
    port: u16,
    /// `--buf N`: the receive buffer's size in bytes (65536 when the flag is absent).
    buf: usize,
}

fn main() {
    let args = parse_args();

    // No listen and no accept: UDP has no connections. One bound socket serves every client.
    let socket = UdpSocket::bind(("127.0.0.1", args.port)).unwrap_or_else(|error| {
        eprintln!("error: binding udp://127.0.0.1:{}: {error}", args.port);
        std::process::exit(1)
    });
    let port = socket.local_addr().expect("a bound socket has an address").port();
    println!("listening on udp://127.0.0.1:{port}");
    // The checker waits for that line: flush it now, not whenever a buffer fills.
    let _ = std::io::stdout().flush();

    let mut buf = vec![0u8; 1024];
    loop {
        // TODO (a_datagram_longer_than_the_buffer_is_cut): receive into a buffer of args.buf
        //   bytes, not 1024. A longer datagram is cut: echo what you got, and do not read
        //   again for the rest.
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(received) => received,
            Err(error) => {
                eprintln!("receive failed: {error}");
                continue;
            }
        };
        let data = &buf[..len];
        // TODO (an_empty_datagram_is_a_message): 0 bytes on UDP is not an end; echo it too.
        // TODO (two_clients_get_only_their_own_replies, datagrams_keep_their_boundaries):
        //   answer with one send_to per recv_from, to the address recv_from gave you.
        // TODO (bad_input_does_not_stop_the_server): any bytes, any size up to 65,507;
        //   nothing a client sends may stop this loop (do not decode the bytes, and a failed
        //   send_to is one datagram's problem: say so on stderr and go on, no unwrap, no ?).
        // TODO (a_datagram_sent_before_the_server_starts_is_lost): nothing more to write:
        //   it passes once your server echoes every datagram; read what its transcript shows.
    }
}

const USAGE: &str = "usage: my-udp-echo --port N [--buf N]";

/// Read the flags by hand, from std::env::args.
fn parse_args() -> Args {
    let mut port = None;
    let mut buf = 65536;
    let mut words = std::env::args().skip(1);
    while let Some(flag) = words.next() {
        match flag.as_str() {
            "--port" => port = Some(number(&flag, words.next())),
            "--buf" => buf = number(&flag, words.next()),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0)
            }
            _ => usage(&format!("unknown flag {flag:?}")),
        }
    }
    let port = port.unwrap_or_else(|| usage("--port N is required"));
    Args { port, buf }
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
