//! my-tcp-chat: the server's end of a one-to-one TCP chat.
//!
//! Its operator types on stdin, and what the client says shows on stdout. One client at a
//! time; the next waits in the accept queue. Read the full spec with `cargo lab spec
//! tcp-chat`, then check your server, from the folder that holds my-tcp-chat, with:
//!
//! ```text
//! cargo lab check tcp-chat --build 'cargo build --quiet --manifest-path my-tcp-chat/Cargo.toml --target-dir my-tcp-chat/target' \
//!     --server 'my-tcp-chat/target/debug/my-tcp-chat --port {port} {args}'
//! ```
//!
//! Rust, standard library only. Fill in the TODOs; each names the scenario that checks it.

// While TODOs are open, some names are not used yet and rustc would warn about each. Delete
// this line once you are done: any warning left then points at something you forgot.
#![allow(unused_variables, unused_mut, dead_code)]

use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};

/// The flags the checker passes.
struct Args {
    /// `--port N`: the TCP port to listen on, on 127.0.0.1. Always passed.
    port: u16,
    /// `--mode lockstep|duplex` (lockstep when the flag is absent).
    mode: Mode,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Take turns, the client first.
    Lockstep,
    /// Either side types at any time.
    Duplex,
}

const QUIT_WORDS: [&str; 2] = ["q", "88"]; // in any case
const MAX_LINE: usize = 1024 * 1024; // a longer line ends the conversation, not the server

/// Chat with one client until a quit word from either side.
fn converse(mut stream: TcpStream, mode: Mode) {
    // TODO (a_long_line_arrives_whole_up_to_the_bound): keep a buffer across reads and
    //   print only whole lines (up to \n); a 100 KB line arrives in many reads. If the
    //   buffer grows past MAX_LINE with no \n, end this conversation.
    // TODO (in_lockstep_the_client_speaks_first_then_they_take_turns): in lockstep, wait
    //   for the client's line, print it (and flush stdout), then read one line from stdin
    //   (io::stdin().read_line) and send it, with its \n; repeat.
    // TODO (in_duplex_either_side_types_at_any_time): in duplex, send each typed line at
    //   once and print each arriving line at once (a thread of its own for one of the two:
    //   stream.try_clone() gives it a handle on the same connection).
    // TODO (a_quit_word_from_either_side_ends_the_conversation): a quit word typed or
    //   received (QUIT_WORDS.contains(&line.trim().to_lowercase().as_str())) ends this
    //   conversation.
    // TODO (spec: no scenario checks this): at the end of stdin, send a
    //   quit word to the client and exit 0.
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
    let _ = io::stdout().flush();

    loop {
        // TODO (the_client_is_refused_until_the_server_runs): nothing more to write: it
        //   passes once your server prints the client's line and sends the line typed on
        //   its stdin, newline included; read what its transcript shows.
        let (stream, from) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("accept failed: {error}");
                continue;
            }
        };
        eprintln!("{from} connected");
        // TODO (the_next_client_is_served_after_a_quit_and_loses_nothing): serve one
        //   client to its quit, then come back here for the next one, who may already
        //   have sent lines while waiting in the queue.
        converse(stream, args.mode);
    }
}

const USAGE: &str = "usage: my-tcp-chat --port N [--mode lockstep|duplex]";

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
