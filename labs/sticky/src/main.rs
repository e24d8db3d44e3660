//! # sticky: TCP has no message boundaries (粘包), and how to put them back
//!
//! A client makes two writes, "hello" and "world". TCP delivers bytes, in order, and nothing
//! else: the server may read "helloworld" in one read, or "hel", "lowor", "ld". The original
//! lessons call this 粘包, "sticky packets" (the split half is usually called 拆包), and give
//! three cures: end each message with a
//! delimiter, send each message's length first, or pause between sends. This lab shows each
//! of them on the wire, and shows that the third is no cure.
//!
//! The server prints every read as it happened, the bytes in a box so that the boundaries
//! show (`recv 5 bytes [hello]`), and then the messages it decoded from them
//! (`message [hello]`). The fix lives in one module, `lab_common::framing`
//! (labs/common/src/framing.rs): diff `Framing::Raw` against `Line` and `Length` in its
//! `check`, the one place where they differ.
//!
//! Try it by hand, one terminal each:
//!
//! ```text
//! cargo lab sticky server --read-delay 1000    # terminal 1, a slow reader: listening on tcp://127.0.0.1:9100
//! cargo lab sticky client hello world          # terminal 2: two writes, one read: [helloworld]
//! cargo lab sticky client --framing gap --gap 200 a b c    # a pause between writes: still one read
//! ```
//!
//! Then restart the server as `cargo lab sticky server --framing delimiter --read-size 4` and
//! send with `cargo lab sticky client --framing delimiter hello 张三`: the reads are cut every
//! 4 bytes, through the middle of 张, and the messages still come out whole.
//!
//! The server's line format, for anyone writing their own (`cargo lab check sticky` reads it):
//! one `recv N bytes [BYTES]` line per read that returned bytes, one `message [BYTES]` line per
//! decoded message, where `[BYTES]` is the bytes with `\\`, `\[`, `\]`, `\n`, `\r`, `\t` and
//! `\xNN` for anything else that is not printable UTF-8. Refusals go to stderr; a frame cut off
//! by the peer is reported there as `truncated: got X of Y bytes` (the checker looks for that).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use lab_common::boxed;
use lab_common::framing::{DEFAULT_MAX, Decoder, Framing, encode};
use lab_common::server;

fn main() -> ExitCode {
    let result = match Cli::parse().role {
        Role::Server { bind, port, receive } if receive.transport == Transport::Udp => {
            serve_udp(lab_common::listen_addr(bind, port), &receive)
        }
        Role::Server { bind, port, receive } => serve_tcp(lab_common::listen_addr(bind, port), &receive),
        Role::Client { server, framing, gap, count, transport, messages } => {
            let messages = messages_to_send(messages, count);
            let gap = Duration::from_millis(gap.unwrap_or(if framing == Choice::Gap { 100 } else { 0 }));
            match transport {
                Transport::Tcp => send_tcp(server, framing.framing(DEFAULT_MAX), gap, &messages),
                Transport::Udp => send_udp(server, gap, &messages),
            }
        }
    };
    lab_common::exit(result)
}

/// TCP sticky packets (粘包): a byte stream has no message boundaries. The server shows each
/// read as a box of bytes, and the messages a framing finds in them.
#[derive(Parser)]
#[command(name = "sticky", version)]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
enum Role {
    /// Print every read as it happened (its size and its bytes, in a box), then the messages the
    /// framing decoded from them. With raw or gap framing, each read is taken as a message: two
    /// writes can come out as one read, and one write as several. --read-delay makes a slow
    /// reader, so that bytes pile up in the kernel between reads. One connection at a time; one
    /// that takes longer than --message-deadline (30 s) to complete a message is closed, so that
    /// the next client gets its turn.
    Server {
        /// Address to listen on; port 0 lets the OS pick a free one.
        #[arg(long, value_parser = lab_common::address, default_value = "127.0.0.1:9100")]
        bind: SocketAddr,
        /// Port on 127.0.0.1 to listen on: the same as `--bind 127.0.0.1:PORT`.
        #[arg(long, conflicts_with = "bind")]
        port: Option<u16>,
        #[command(flatten)]
        receive: Receive,
    },
    /// Send each MESSAGE with one write, back to back, framed as --framing says (or with a pause
    /// between writes: --framing gap). Without MESSAGEs, sends --count numbered ones.
    Client {
        /// The server to send to.
        #[arg(long, value_parser = lab_common::address, default_value = "127.0.0.1:9100")]
        server: SocketAddr,
        #[arg(long, value_enum, default_value_t = Choice::Raw)]
        framing: Choice,
        /// Milliseconds to pause after each write (100 with --framing gap, else 0).
        #[arg(long, value_name = "MS")]
        gap: Option<u64>,
        /// How many times to send the MESSAGEs (once), or how many numbered ones (10).
        #[arg(long)]
        count: Option<usize>,
        /// TCP (a byte stream), or UDP (one datagram per message, whatever --framing says).
        #[arg(long, value_enum, default_value_t = Transport::Tcp)]
        transport: Transport,
        /// The messages, one write each.
        messages: Vec<String>,
    },
}

/// How the server receives.
#[derive(clap::Args)]
struct Receive {
    /// How the receiver finds the messages in the stream.
    #[arg(long, value_enum, default_value_t = Choice::Raw)]
    framing: Choice,
    /// The buffer given to each read: no read returns more (the original lessons' recv(1024)).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    read_size: u32,
    /// Milliseconds to wait before each read: a slow reader.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    read_delay: u64,
    /// The longest line or frame accepted; a longer one is refused and the connection closed.
    /// A connection's buffer never holds more than this plus one read.
    #[arg(long, default_value_t = DEFAULT_MAX)]
    max: usize,
    /// TCP (a byte stream), or UDP (each datagram is one message, whatever --framing says).
    #[arg(long, value_enum, default_value_t = Transport::Tcp)]
    transport: Transport,
    /// Milliseconds a TCP connection has for each message (a line or a frame; with raw framing,
    /// a read), counted from the end of the message before it, or from the connect. Past it,
    /// the connection is closed, so that the next client gets its turn.
    #[arg(long, value_name = "MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    message_deadline: u64,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Choice {
    /// None: each read is taken to be one message. The bug.
    Raw,
    /// Each message ends with a newline, and may not contain one.
    Delimiter,
    /// Each message is preceded by its length, 4 bytes, big-endian.
    Length,
    /// The sender pauses between messages; the receiver reads raw. Not a fix.
    Gap,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Transport {
    Tcp,
    Udp,
}

impl Choice {
    /// The framing each side applies. Gap is raw framing plus the sender's pause: there is
    /// nothing in the bytes for the receiver to find.
    fn framing(self, max: usize) -> Framing {
        match self {
            Choice::Raw | Choice::Gap => Framing::Raw,
            Choice::Delimiter => Framing::Line { max },
            Choice::Length => Framing::Length { max },
        }
    }
}

/// The TCP server: one connection at a time, so that its reads print in the order they
/// happened.
fn serve_tcp(bind: SocketAddr, receive: &Receive) -> Result<()> {
    let listener = TcpListener::bind(bind).with_context(|| format!("binding tcp://{bind}"))?;
    let addr = listener.local_addr()?;
    lab_common::print_ready("tcp", addr);
    server::say_who_can_reach(addr);
    // std's incoming(), except that a failed accept makes it pause rather than spin.
    for (number, stream) in (1..).zip(server::incoming(&listener)) {
        receive_messages(number, stream, receive);
    }
    unreachable!("incoming() never ends")
}

/// Read one connection to its end, showing each read and each message. A peer that breaks
/// the framing is refused on stderr and its connection closed; the server goes on.
fn receive_messages(number: u32, mut stream: TcpStream, receive: &Receive) {
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
    println!("connection {number} from {peer}");
    // One connection at a time: a client that connects and says nothing would keep every
    // other client waiting in the accept queue. So would one that sends a byte now and then
    // and never finishes its line: a limit on each read's wait is not enough. The limit is on
    // each whole message, from the end of the one before.
    let allowed = Duration::from_millis(receive.message_deadline);
    let mut deadline = Instant::now() + allowed;
    let mut decoder = Decoder::new(receive.framing.framing(receive.max));
    let mut buf = vec![0; receive.read_size as usize];
    let (mut reads, mut messages) = (0, 0);
    loop {
        // The slow reader: while we sleep, whatever the peer sends waits in the kernel's
        // receive buffer, and the next read takes all of it that fits, writes merged.
        std::thread::sleep(Duration::from_millis(receive.read_delay));
        // A read waits no longer than the message has left. (set_read_timeout refuses a zero
        // duration, so a deadline already passed is a time-out of its own.)
        let left = deadline.saturating_duration_since(Instant::now());
        let waited = match left.is_zero() {
            true => Err(ErrorKind::TimedOut.into()),
            false => stream.set_read_timeout(Some(left)).and_then(|()| stream.read(&mut buf)),
        };
        let len = match waited {
            // 0 bytes: the peer closed its side. A half-received message is reported here.
            Ok(0) => break,
            Ok(len) => len,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                eprintln!(
                    "connection {number}: no whole message within {}s ({} bytes of one waiting); \
                     closing it to serve the next",
                    allowed.as_secs_f64(),
                    decoder.buffered()
                );
                return;
            }
            Err(error) => {
                eprintln!("connection {number}: {error}");
                return;
            }
        };
        reads += 1;
        // What this read returned is whatever had arrived, up to the buffer's size: it knows
        // nothing of where the sender's writes began or ended.
        println!("recv {len} bytes {}", boxed(&buf[..len]));
        decoder.push(&buf[..len]);
        // One read may complete no message, one, or several; a part of the next one stays
        // in the decoder until the rest arrives. "Not yet" is the normal case, not an error.
        loop {
            match decoder.next_message() {
                Ok(Some(message)) => {
                    messages += 1;
                    println!("message {}", boxed(&message));
                    deadline = Instant::now() + allowed;
                }
                Ok(None) => break,
                Err(error) => {
                    // The stream cannot be framed any further: there is no way to find the
                    // next message's start. Refuse, close, and serve the next connection.
                    eprintln!("connection {number}: {error}; closing it");
                    return;
                }
            }
        }
    }
    if let Err(error) = decoder.finish() {
        eprintln!("connection {number}: {error}");
    }
    println!(
        "connection {number} closed by the peer: {}, {}",
        count(reads, "read"),
        count(messages, "message")
    );
}

/// "1 read", "3 reads".
fn count(n: usize, thing: &str) -> String {
    if n == 1 { format!("1 {thing}") } else { format!("{n} {thing}s") }
}

/// The UDP server: every datagram is one read and one message. Datagrams are never merged
/// and never split; one longer than the buffer is cut, and the rest of it is lost.
fn serve_udp(bind: SocketAddr, receive: &Receive) -> Result<()> {
    let socket = UdpSocket::bind(bind).with_context(|| format!("binding udp://{bind}"))?;
    let addr = socket.local_addr()?;
    lab_common::print_ready("udp", addr);
    server::say_who_can_reach(addr);
    if receive.framing != Choice::Raw {
        eprintln!("note: over UDP each datagram is one message; --framing is not needed");
    }
    let mut whole = vec![0; 65_536];
    let mut buf = vec![0; receive.read_size as usize];
    loop {
        std::thread::sleep(Duration::from_millis(receive.read_delay));
        // A peek leaves the datagram queued: only to learn its full size for the lesson.
        let received = socket.peek_from(&mut whole).and_then(|(size, _)| {
            let (len, from) = socket.recv_from(&mut buf)?;
            Ok((size, len, from))
        });
        let (size, len, from) = match received {
            Ok(received) => received,
            // Nothing a peer sends can end the server: say so and read on.
            Err(error) => {
                eprintln!("receiving: {error}");
                continue;
            }
        };
        let cut = match size > len {
            true => format!(" (the datagram had {size} bytes; the other {} lost)", count(size - len, "byte")),
            false => String::new(),
        };
        println!("recv {len} bytes {} from {from}{cut}", boxed(&buf[..len]));
        println!("message {}", boxed(&buf[..len]));
    }
}

/// The given messages `count` times over (once), or `count` numbered ones (10).
fn messages_to_send(given: Vec<String>, count: Option<usize>) -> Vec<String> {
    if given.is_empty() {
        return (1..=count.unwrap_or(10)).map(|n| format!("message {n}")).collect();
    }
    given.iter().cycle().take(given.len() * count.unwrap_or(1)).cloned().collect()
}

/// Send each message with one write, pausing `gap` after each. Every message is framed
/// first, so a message the framing cannot carry stops the client before anything is sent.
fn send_tcp(server: SocketAddr, framing: Framing, gap: Duration, messages: &[String]) -> Result<()> {
    let mut writes = Vec::new();
    for message in messages {
        let bytes = encode(framing, message.as_bytes()).with_context(|| format!("framing {message:?}"))?;
        writes.push(bytes);
    }
    let mut stream = TcpStream::connect(server).with_context(|| format!("connecting to tcp://{server}"))?;
    for bytes in &writes {
        stream.write_all(bytes).context("sending")?;
        println!("write {} bytes {}", bytes.len(), boxed(bytes));
        std::thread::sleep(gap);
    }
    // Dropping the stream closes it: the server reads the rest, then 0 bytes.
    Ok(())
}

/// Send each message as one datagram.
fn send_udp(server: SocketAddr, gap: Duration, messages: &[String]) -> Result<()> {
    let socket = UdpSocket::bind(lab_common::local_addr_for(server)).context("binding a UDP socket")?;
    for message in messages {
        let sent = socket
            .send_to(message.as_bytes(), server)
            .with_context(|| format!("sending to udp://{server}"))?;
        if sent != message.len() {
            bail!("sent only {sent} of {} bytes", message.len());
        }
        println!("sendto {sent} bytes {}", boxed(message.as_bytes()));
        std::thread::sleep(gap);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_messages_or_the_given_ones_repeated() {
        assert_eq!(messages_to_send(vec![], Some(2)), ["message 1", "message 2"]);
        assert_eq!(messages_to_send(vec!["a".into(), "b".into()], Some(2)), ["a", "b", "a", "b"]);
        assert_eq!(messages_to_send(vec!["a".into()], None), ["a"]);
    }

    #[test]
    fn gap_is_raw_bytes_on_the_wire() {
        assert_eq!(Choice::Gap.framing(8), Framing::Raw);
        assert_eq!(Choice::Delimiter.framing(8), Framing::Line { max: 8 });
    }
}
