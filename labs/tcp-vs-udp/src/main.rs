//! # tcp-vs-udp: the lessons' comparison table, measured
//!
//! The lessons end with a table: TCP is a reliable byte stream, UDP sends and does not care;
//! connecting for every request makes a TCP server slow; on a loop server one long request
//! makes everyone wait. This lab turns each row into a figure you see on your own machine, with
//! the kernel's own counters beside ours.
//!
//! One server (also called `sink`) takes three kinds of message (see `protocol.rs`): numbered
//! `data` records, which it only counts; `report`, answered with what it counted; and `work MS
//! TAG`, a request that takes it MS milliseconds. `blast` sends a sink records as fast as it
//! can; `requests` sends a server quick requests, one connection each, over one connection, or
//! as datagrams.
//!
//! Try it by hand, one terminal each:
//!
//! ```text
//! cargo lab tcp-vs-udp sink --proto udp --read-delay 1        # a sink that naps before each read
//! cargo lab tcp-vs-udp blast --proto udp --count 5000         # UDP: sent, lost, and the kernel's count
//! cargo lab tcp-vs-udp sink --proto tcp --read-delay 1
//! cargo lab tcp-vs-udp blast --proto tcp --bytes 20000000     # TCP: nothing lost; the sender waits
//! cargo lab tcp-vs-udp server --proto tcp
//! cargo lab tcp-vs-udp requests --mode tcp-new --count 2000   # a connection per request
//! cargo lab tcp-vs-udp requests --mode tcp-keep --count 2000  # one connection for all
//! ```
//!
//! netcat talks to the server too: `nc -u 127.0.0.1 9500`, then type `work 2000 me`, or
//! `report`.

mod blast;
mod kernel;
mod protocol;
mod requests;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use lab_common::server;
use socket2::{Domain, Socket, Type};

use protocol::{HEAD, Message, Tally};

fn main() -> ExitCode {
    let result = match Cli::parse().role {
        Role::Server(args) | Role::Sink(args) => {
            let server = Server {
                mode: args.mode,
                read_delay: Duration::from_millis(args.read_delay),
                rcvbuf: args.rcvbuf,
            };
            let bind = lab_common::listen_addr(args.bind, args.port);
            match args.proto {
                Proto::Udp => server.serve_udp(bind),
                Proto::Tcp => server.serve_tcp(bind),
            }
        }
        Role::Blast(args) => blast::run(args),
        Role::Requests(args) => requests::run(args),
    };
    lab_common::exit(result)
}

/// TCP against UDP, measured: what each does with a receiver that cannot keep up, what a
/// connection costs, and how one slow request holds up a loop server.
#[derive(Parser)]
#[command(name = "tcp-vs-udp", version)]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
enum Role {
    /// A sink and a request server, over UDP or TCP. It counts the numbered records a blast
    /// sends and answers `report` with what it received, the gaps in the numbering and,
    /// over UDP, the kernel's count of datagrams it dropped for want of room; `--read-delay`
    /// makes it nap before each read, a receiver that cannot keep up. It answers `work MS TAG`
    /// after MS milliseconds: iterative, one request at a time, so that everyone waits behind
    /// a long one; threaded, a thread per request (UDP) or per connection (TCP).
    Server(ServerArgs),
    /// The server, named for what it is in the blast: it counts the numbered records a blast
    /// sends and reports what it received, the gaps in the numbering and, over UDP, the
    /// kernel's count of datagrams it dropped for want of room. With `--read-delay` it naps
    /// before each read: a receiver that cannot keep up.
    Sink(ServerArgs),
    /// Send a sink numbered records as fast as the socket takes them, then ask for its report.
    /// Over UDP nothing holds the sender back and what the sink had no room for is lost: the sink's
    /// gaps and the kernel's drop count say how many. Over TCP nothing is lost: the sender is
    /// held back instead, and the window the receiver advertised shows why.
    Blast(blast::Args),
    /// Send a server N quick requests and time them: a new TCP connection for each
    /// (tcp-new), one kept connection (tcp-keep), or one datagram each (udp). Prints
    /// requests per second, latency percentiles, and how many connections the kernel opened.
    Requests(requests::Args),
}

#[derive(clap::Args)]
struct ServerArgs {
    /// Address to listen on; port 0 lets the OS pick a free one.
    #[arg(long, value_parser = lab_common::address, default_value = "127.0.0.1:9500")]
    bind: SocketAddr,
    /// Port on 127.0.0.1 to listen on: the same as `--bind 127.0.0.1:PORT`.
    #[arg(long, conflicts_with = "bind")]
    port: Option<u16>,
    #[arg(long, value_enum, default_value_t = Proto::Udp)]
    proto: Proto,
    /// One request at a time, or a thread per request (UDP) or per connection (TCP).
    #[arg(long, value_enum, default_value_t = Mode::Iterative)]
    mode: Mode,
    /// Milliseconds to nap before each read: a receiver slower than its sender.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    read_delay: u64,
    /// The socket's receive buffer (SO_RCVBUF) in bytes. Linux caps it at net.core.rmem_max,
    /// then doubles it: ask 2000000 where rmem_max is 212992 and you get 425984.
    #[arg(long, value_name = "BYTES")]
    rcvbuf: Option<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
pub enum Proto {
    Udp,
    Tcp,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// One request (UDP) or one connection (TCP) at a time.
    Iterative,
    /// A thread per request (UDP) or per connection (TCP).
    Threaded,
}

/// How many `work` requests may be under way on threads at once (threaded UDP): beyond it a
/// request is answered `error: busy`, so that no peer can make the server start threads
/// without end.
const MAX_THREADS: usize = 256;

struct Server {
    mode: Mode,
    read_delay: Duration,
    rcvbuf: Option<usize>,
}

impl Server {
    /// UDP: one socket for everyone; every datagram is a message.
    fn serve_udp(&self, bind: SocketAddr) -> Result<()> {
        let socket = Socket::new(Domain::for_address(bind), Type::DGRAM, None)?;
        if let Some(bytes) = self.rcvbuf {
            socket.set_recv_buffer_size(bytes).context("setting SO_RCVBUF")?;
        }
        socket.bind(&bind.into()).with_context(|| format!("binding udp://{bind}"))?;
        let socket: UdpSocket = socket.into();
        // From now on the kernel tells us, with each datagram, how many it has dropped on
        // this socket so far because the receive buffer was full.
        kernel::count_drops(&socket).context("setting SO_RXQ_OVFL")?;
        lab_common::print_ready("udp", socket.local_addr()?);
        server::say_who_can_reach(socket.local_addr()?);

        let socket = Arc::new(socket);
        let busy = Arc::new(AtomicUsize::new(0));
        let mut tally = Tally::default();
        let mut buf = vec![0; 65_536];
        loop {
            // The nap happens while datagrams keep coming. They wait in the socket's receive
            // buffer, and once it is full the kernel drops each new one and counts it: the
            // sender is never told, and never slowed down.
            thread::sleep(self.read_delay);
            let received = match kernel::recv_counting_drops(&socket, &mut buf) {
                Ok(received) => received,
                Err(error) => {
                    // On Windows an ICMP "port unreachable" for an earlier reply fails the
                    // next recvfrom (WSAECONNRESET); Linux tells an unconnected socket only
                    // with IP_RECVERR. Either way it is about one peer, not the server.
                    eprintln!("receive failed: {error}");
                    continue;
                }
            };
            let drops = received.dropped_before.unwrap_or(0);
            let datagram = &buf[..received.len];
            let answer = match protocol::parse(datagram) {
                Ok(Message::Data { seq, sent_at }) => {
                    tally.record(seq, sent_at, drops);
                    None
                }
                Ok(Message::Report { seq }) => {
                    if let Some(seq) = seq {
                        tally.record(seq, None, drops);
                    }
                    Some(tally.report())
                }
                Ok(Message::Work { time, tag }) => match self.mode {
                    // The loop does the work itself: every datagram that arrives meanwhile,
                    // anyone's, waits in the buffer until it is done.
                    Mode::Iterative => {
                        thread::sleep(time);
                        Some(format!("done {tag}"))
                    }
                    Mode::Threaded => {
                        work_on_a_thread(&socket, &busy, received.from, time, tag.to_string());
                        None
                    }
                },
                Err(error) => {
                    eprintln!("from {}: {}: answered {error}", received.from, lab_common::as_text(datagram));
                    Some(error)
                }
            };
            if let Some(answer) = answer
                && let Err(error) = socket.send_to(answer.as_bytes(), received.from)
            {
                eprintln!("answering {}: {error}", received.from);
            }
        }
    }

    /// TCP: a connection per client; every line is a message.
    fn serve_tcp(&self, bind: SocketAddr) -> Result<()> {
        let socket = Socket::new(Domain::for_address(bind), Type::STREAM, None)?;
        socket.set_reuse_address(true)?;
        if let Some(bytes) = self.rcvbuf {
            // Set before listen, so that every accepted connection has it from its handshake,
            // when the window it may advertise is agreed.
            socket.set_recv_buffer_size(bytes).context("setting SO_RCVBUF")?;
        }
        socket.bind(&bind.into()).with_context(|| format!("binding tcp://{bind}"))?;
        socket.listen(128).with_context(|| format!("listening on tcp://{bind}"))?;
        let listener: TcpListener = socket.into();
        lab_common::print_ready("tcp", listener.local_addr()?);
        server::say_who_can_reach(listener.local_addr()?);

        for stream in server::incoming(&listener) {
            let read_delay = self.read_delay;
            match self.mode {
                Mode::Iterative => serve_connection(stream, read_delay),
                Mode::Threaded => {
                    let refused = server::spawn_or_give_back(stream, move |stream| {
                        serve_connection(stream, read_delay)
                    });
                    if let Err((mut stream, error)) = refused {
                        eprintln!("no thread for a client: {error}; told it so and closed the connection");
                        let _ = stream.write_all(b"error: busy, try again later\n");
                    }
                }
            }
        }
        unreachable!("incoming() never ends")
    }
}

/// Threaded UDP: the work goes to a thread, which answers from the same socket when done; the
/// loop is back at recv at once. At most [`MAX_THREADS`] at a time.
fn work_on_a_thread(
    socket: &Arc<UdpSocket>,
    busy: &Arc<AtomicUsize>,
    to: SocketAddr,
    time: Duration,
    tag: String,
) {
    if busy.fetch_add(1, Ordering::SeqCst) >= MAX_THREADS {
        busy.fetch_sub(1, Ordering::SeqCst);
        let _ = socket.send_to(b"error: busy, try again later", to);
        return;
    }
    let (answering, done) = (socket.clone(), busy.clone());
    let spawned = thread::Builder::new().spawn(move || {
        thread::sleep(time);
        if let Err(error) = answering.send_to(format!("done {tag}").as_bytes(), to) {
            eprintln!("answering {to}: {error}");
        }
        done.fetch_sub(1, Ordering::SeqCst);
    });
    if let Err(error) = spawned {
        busy.fetch_sub(1, Ordering::SeqCst);
        eprintln!("no thread for a request from {to}: {error}");
        let _ = socket.send_to(b"error: busy, try again later", to);
    }
}

/// One connection, until the client closes it: count `data` lines, answer the others.
fn serve_connection(stream: TcpStream, read_delay: Duration) {
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
    let ending = match answer_lines(&stream, &peer, read_delay) {
        Ok(lines) => format!("closed by the client after {lines} lines"),
        Err(error) => format!("ended: {error}"),
    };
    eprintln!("{peer}: {ending}");
}

fn answer_lines(stream: &TcpStream, peer: &str, read_delay: Duration) -> std::io::Result<u64> {
    let mut reader = BufReader::with_capacity(256 * 1024, Napping { stream, read_delay });
    let mut writer = stream;
    let mut tally = Tally::default();
    let mut head = Vec::with_capacity(HEAD);
    let mut lines = 0;
    while read_line_head(&mut reader, &mut head)? {
        lines += 1;
        let answer = match protocol::parse(&head) {
            // Over TCP the kernel never drops what it has acknowledged: the sender is made to
            // wait instead, so the drop count is 0 and there are no gaps to find.
            Ok(Message::Data { seq, sent_at }) => {
                tally.record(seq, sent_at, 0);
                continue;
            }
            Ok(Message::Report { seq }) => {
                if let Some(seq) = seq {
                    tally.record(seq, None, 0);
                }
                tally.report()
            }
            // Even threaded, one connection's requests are answered in order: a thread per
            // connection, not per request.
            Ok(Message::Work { time, tag }) => {
                thread::sleep(time);
                format!("done {tag}")
            }
            Err(error) => {
                eprintln!("from {peer}: {}: answered {error}", lab_common::as_text(head.trim_ascii_end()));
                error
            }
        };
        writer.write_all(format!("{answer}\n").as_bytes())?;
    }
    Ok(lines)
}

/// A connection that naps before each read: the slow receiver. While it naps, what the
/// client sends fills our receive buffer; once it is full, our kernel advertises a window of
/// 0 and the client's kernel stops sending (and its writes block): flow control.
struct Napping<'a> {
    stream: &'a TcpStream,
    read_delay: Duration,
}

impl Read for Napping<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        thread::sleep(self.read_delay);
        self.stream.read(buf)
    }
}

/// Read one line into `head`, keeping only its first [`HEAD`] bytes (the words) and skipping
/// the rest (a `data` record's padding) without keeping it. False at the end of the stream.
fn read_line_head(reader: &mut impl BufRead, head: &mut Vec<u8>) -> std::io::Result<bool> {
    head.clear();
    // `take` stops at HEAD bytes; read_until stops at the newline, whichever comes first.
    let read = reader.by_ref().take(HEAD as u64).read_until(b'\n', head)?;
    if read == 0 {
        return Ok(false);
    }
    if head.last() != Some(&b'\n') {
        // A long line: the rest, up to its newline, is skipped without being kept.
        reader.skip_until(b'\n')?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_is_cut_to_its_head_and_the_next_line_is_whole() {
        let mut input = format!("data 1 {}\nreport\n", ".".repeat(1000)).into_bytes();
        input.extend_from_slice(b"work 0 tail");
        let mut reader = &input[..];
        let mut head = Vec::new();
        assert!(read_line_head(&mut reader, &mut head).unwrap());
        assert_eq!(head.len(), HEAD);
        assert!(read_line_head(&mut reader, &mut head).unwrap());
        assert_eq!(head, b"report\n");
        assert!(read_line_head(&mut reader, &mut head).unwrap());
        assert_eq!(head, b"work 0 tail");
        assert!(!read_line_head(&mut reader, &mut head).unwrap());
    }
}
