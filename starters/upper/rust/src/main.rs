//! my-upper: a TCP server that upper-cases what each client sends.
//!
//! Send back, upper-cased, every byte each client sends, until that client closes.
//! Read the full spec with `cargo lab spec upper`, then check your server, from the folder
//! that holds my-upper, with:
//!
//! ```text
//! cargo lab check upper --build 'cargo build --quiet --manifest-path my-upper/Cargo.toml --target-dir my-upper/target' \
//!     --server 'my-upper/target/debug/my-upper --port {port} {args}'
//! ```
//!
//! Rust, standard library only. Fill in the TODOs; each names the scenario that checks it.

// While TODOs are open, some names are not used yet and rustc would warn about each. Delete
// this line once you are done: any warning left then points at something you forgot.
#![allow(unused_variables, unused_mut)]

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};

/// The flags the checker passes.
struct Args {
    /// `--port N`: the TCP port to listen on, on 127.0.0.1. Always passed.
    port: u16,
    /// `--mode iterative|threaded` (iterative when the flag is absent).
    mode: Mode,
}

enum Mode {
    /// One client at a time, from accept to its close.
    Iterative,
    /// Each client on a thread of its own.
    Threaded,
}

/// Serve one client, from accept to its close.
fn serve(mut stream: TcpStream, from: SocketAddr) {
    // TODO (bytes_come_back_upper_cased): loop: read, upper-case the bytes as UTF-8 text,
    //   write_all the result. There are no lines: answer each read as it comes.
    // TODO (a_character_split_across_reads_is_upper_cased): a character's bytes may be
    //   cut between two reads; keep its first bytes for the next read (std::str::from_utf8's
    //   error says how far the bytes are valid, valid_up_to, and error_len is None when
    //   the rest is only a cut character). Non-UTF-8 bytes go back as they came.
    // TODO (a_half_closed_client_still_gets_every_reply, an_empty_session_is_clean):
    //   a read of 0 bytes is the client's close: send what is left, then close.
    // TODO (a_vanished_client_does_not_stop_the_server): a read or write that fails (a
    //   reset) is an Err: log it on stderr and end only this connection (no unwrap).
    //
    // Until then the stream is dropped here, which closes the connection.
}

fn main() {
    let args = parse_args();

    // std's bind does it all for TCP: socket, bind, and listen (SO_REUSEADDR set, on Unix).
    let listener = TcpListener::bind(("127.0.0.1", args.port)).unwrap_or_else(|error| {
        eprintln!("error: listening on tcp://127.0.0.1:{}: {error}", args.port);
        std::process::exit(1)
    });
    let port = listener.local_addr().expect("a bound socket has an address").port();
    println!("listening on tcp://127.0.0.1:{port}");
    // The checker waits for that line: flush it now, not whenever a buffer fills.
    let _ = std::io::stdout().flush();

    loop {
        // The kernel has already finished the handshake: accept only takes the next
        // connection off the listening socket's queue.
        let (stream, from) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("accept failed: {error}");
                continue;
            }
        };
        match args.mode {
            // TODO (the_next_client_waits_until_the_first_leaves): serve this client to its
            //   close before accepting the next; the next one waits in the accept queue.
            Mode::Iterative => serve(stream, from),
            // TODO (fifty_clients_are_answered_at_once): serve each client on a thread of
            //   its own (std::thread::spawn(move || serve(stream, from))).
            Mode::Threaded => serve(stream, from),
        }
    }
}

const USAGE: &str = "usage: my-upper --port N [--mode iterative|threaded]";

/// Read the flags by hand, from std::env::args.
fn parse_args() -> Args {
    let mut port = None;
    let mut mode = Mode::Iterative;
    let mut words = std::env::args().skip(1);
    while let Some(flag) = words.next() {
        match flag.as_str() {
            "--port" => port = Some(number(&flag, words.next())),
            "--mode" => {
                mode = match words.next().as_deref() {
                    Some("iterative") => Mode::Iterative,
                    Some("threaded") => Mode::Threaded,
                    _ => usage("--mode takes iterative or threaded"),
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
