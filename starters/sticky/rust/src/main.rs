//! my-sticky: TCP is a byte stream, not messages; framing puts them back.
//!
//! Read each connection as told (--read-size, --read-delay), print every read and every
//! message decoded in the --framing given. Read the full spec (the output format, the
//! framings) with `cargo lab spec sticky`, then check your server, from the folder that holds
//! my-sticky, with:
//!
//! ```text
//! cargo lab check sticky --build 'cargo build --quiet --manifest-path my-sticky/Cargo.toml --target-dir my-sticky/target' \
//!     --server 'my-sticky/target/debug/my-sticky --port {port} {args}'
//! ```
//!
//! Rust, standard library only. Fill in the TODOs; each names the scenario that checks it.

// While TODOs are open, some names are not used yet and rustc would warn about each. Delete
// this line once you are done: any warning left then points at something you forgot.
#![allow(unused_variables, dead_code)]

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::thread;
use std::time::Duration;

/// The flags the checker passes.
struct Args {
    /// `--port N`: the port to bind on 127.0.0.1. Always passed.
    port: u16,
    /// `--framing raw|gap|delimiter|length` (raw when the flag is absent).
    framing: Framing,
    /// `--read-size N`: at most N bytes per read (1024 when absent).
    read_size: usize,
    /// `--read-delay MS`: sleep MS milliseconds before each read (0 when absent).
    read_delay: u64,
    /// `--max N`: the longest line or frame, in bytes (1 MiB when absent).
    max: usize,
    /// `--transport tcp|udp` (tcp when absent).
    transport: Transport,
}

enum Framing {
    Raw,
    Gap,
    Delimiter,
    Length,
}

#[derive(PartialEq)]
enum Transport {
    Tcp,
    Udp,
}

/// Show bytes as the checker expects: [text], with escapes for the rest.
fn boxed(data: &[u8]) -> String {
    let mut out = String::from("[");
    // utf8_chunks cuts the bytes into runs of valid UTF-8 text, each followed by the bytes
    // that are not (a character cut by a read shows up there).
    for chunk in data.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' | '[' | ']' => {
                    out.push('\\');
                    out.push(c);
                }
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 32 || c as u32 == 127 => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out.push(']');
    out
}

/// Print one line on stdout and flush it: the checker reads each line as it comes, and std
/// promises to flush at each newline only when stdout is a terminal.
fn say(line: &str) {
    println!("{line}");
    let _ = io::stdout().flush();
}

/// One read from a connection, as slowly and as small as told.
fn read(stream: &mut TcpStream, args: &Args) -> io::Result<Vec<u8>> {
    thread::sleep(Duration::from_millis(args.read_delay));
    let mut buf = vec![0u8; args.read_size];
    let len = stream.read(&mut buf)?;
    buf.truncate(len);
    say(&format!("recv {len} bytes {}", boxed(&buf)));
    Ok(buf)
}

/// One datagram, as slowly and as small as told.
fn read_datagram(socket: &UdpSocket, args: &Args) -> io::Result<Vec<u8>> {
    thread::sleep(Duration::from_millis(args.read_delay));
    let mut buf = vec![0u8; args.read_size];
    let len = socket.recv(&mut buf)?;
    buf.truncate(len);
    say(&format!("recv {len} bytes {}", boxed(&buf)));
    Ok(buf)
}

fn main() {
    let args = parse_args();

    if args.transport == Transport::Udp {
        let socket = UdpSocket::bind(("127.0.0.1", args.port)).unwrap_or_else(|error| {
            eprintln!("error: binding udp://127.0.0.1:{}: {error}", args.port);
            std::process::exit(1)
        });
        let port = socket.local_addr().expect("a bound socket has an address").port();
        say(&format!("listening on udp://127.0.0.1:{port}"));
        loop {
            let data = match read_datagram(&socket, &args) {
                Ok(data) => data,
                Err(error) => {
                    eprintln!("receive failed: {error}");
                    continue;
                }
            };
            // TODO (udp_keeps_every_datagram_whole): print one message line per datagram.
        }
    }

    let listener = TcpListener::bind(("127.0.0.1", args.port)).unwrap_or_else(|error| {
        eprintln!("error: listening on tcp://127.0.0.1:{}: {error}", args.port);
        std::process::exit(1)
    });
    let port = listener.local_addr().expect("a bound socket has an address").port();
    say(&format!("listening on tcp://127.0.0.1:{port}"));

    loop {
        let (mut stream, from) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("accept failed: {error}");
                continue;
            }
        };
        loop {
            let data = match read(&mut stream, &args) {
                Ok(data) => data,
                Err(error) => {
                    eprintln!("{from}: {error}");
                    break;
                }
            };
            if data.is_empty() {
                // TODO (a_frame_cut_off_by_the_peer_is_reported): if a line or frame is
                //   unfinished, say so on stderr, e.g. "truncated: got 2 of 5 bytes".
                break;
            }
            // TODO (short_messages_stick_together_in_a_slow_reader,
            //   a_long_message_arrives_in_pieces_cut_mid_character,
            //   a_pause_between_writes_is_not_a_framing): raw and gap: each read is one
            //   message; say(&format!("message {}", boxed(&data))).
            // TODO (delimiter_framing_survives_any_rechunking): delimiter: keep a buffer;
            //   print a message for each \n-ended line, keep the rest for the next read.
            // TODO (an_over_long_line_is_refused): a line longer than args.max with no \n
            //   yet: say why on stderr and close this connection (the next is served).
            // TODO (length_framing_survives_any_rechunking): length: a 4-byte big-endian
            //   length (u32::from_be_bytes), then that many bytes; keep partial headers/bodies.
            // TODO (an_over_sized_length_is_refused_from_the_header): a header over
            //   args.max: refuse at once, on stderr, and close this connection.
        }
        // The stream is dropped at the end of this iteration: that closes the connection.
    }
}

const USAGE: &str = "usage: my-sticky --port N [--framing raw|gap|delimiter|length] [--read-size N] \
                     [--read-delay MS] [--max N] [--transport tcp|udp]";

/// Read the flags by hand, from std::env::args.
fn parse_args() -> Args {
    let mut port = None;
    let mut framing = Framing::Raw;
    let mut read_size = 1024;
    let mut read_delay = 0;
    let mut max = 1024 * 1024;
    let mut transport = Transport::Tcp;
    let mut words = std::env::args().skip(1);
    while let Some(flag) = words.next() {
        match flag.as_str() {
            "--port" => port = Some(number(&flag, words.next())),
            "--framing" => {
                framing = match words.next().as_deref() {
                    Some("raw") => Framing::Raw,
                    Some("gap") => Framing::Gap,
                    Some("delimiter") => Framing::Delimiter,
                    Some("length") => Framing::Length,
                    _ => usage("--framing takes raw, gap, delimiter or length"),
                }
            }
            "--read-size" => read_size = number(&flag, words.next()),
            "--read-delay" => read_delay = number(&flag, words.next()),
            "--max" => max = number(&flag, words.next()),
            "--transport" => {
                transport = match words.next().as_deref() {
                    Some("tcp") => Transport::Tcp,
                    Some("udp") => Transport::Udp,
                    _ => usage("--transport takes tcp or udp"),
                }
            }
            "-h" | "--help" => {
                say(USAGE);
                std::process::exit(0)
            }
            _ => usage(&format!("unknown flag {flag:?}")),
        }
    }
    let port = port.unwrap_or_else(|| usage("--port N is required"));
    Args { port, framing, read_size, read_delay, max, transport }
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
