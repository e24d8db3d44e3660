//! # udp-echo: UDP has no connection
//!
//! A UDP server accepts nobody. It binds a port and waits; each datagram arrives together with
//! the address it came from (`recvfrom`), and the reply goes back to that address (`sendto`).
//! Nothing else ties a reply to its request. Every datagram is one message: it arrives whole
//! (cut only if the receiver's buffer is smaller than the datagram), never merged with
//! another, never split, or not at all.
//!
//! Try it by hand, one terminal each:
//!
//! ```text
//! cargo lab udp-echo server                 # prints: listening on udp://127.0.0.1:8888
//! cargo lab udp-echo client                 # type lines; each one is a datagram
//! nc -u 127.0.0.1 8888                      # netcat works as a client too
//! cargo lab udp-echo server --buf 16        # then send a long line: watch it get cut
//! ```

mod upper;

use std::io::BufRead;
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use lab_common::show;
use lab_common::udp::{self, Datagram};

fn main() -> ExitCode {
    let result = match Cli::parse().role {
        Role::Server { bind, port, upper, buf } => {
            serve(lab_common::listen_addr(bind, port), upper, buf as usize)
        }
        Role::Client { server, timeout_ms } => chat(server, Duration::from_millis(timeout_ms)),
    };
    lab_common::exit(result)
}

/// The server: bind, then receive and reply, forever. There is no `listen` and no `accept`:
/// one socket serves every client.
fn serve(bind: SocketAddr, upper: bool, buf_size: usize) -> Result<()> {
    let socket = UdpSocket::bind(bind).with_context(|| format!("binding udp://{bind}"))?;
    let addr = socket.local_addr()?;
    lab_common::print_ready("udp", addr);
    lab_common::server::say_who_can_reach(addr);

    let mut buf = vec![0; buf_size];
    loop {
        // Each receive takes exactly one datagram off the socket's queue. One longer than the
        // buffer is cut to fit and the rest dropped: UDP will not deliver "the rest" in a
        // second receive, because there is no rest. std's recv_from hides the cut; this
        // receive also asks the kernel for the datagram's real size (lab-common's udp.rs).
        //
        // A failed receive or send concerns one datagram, never the server: report it and go on.
        let datagram = match udp::recv_from_reporting_size(&socket, &mut buf) {
            Ok(datagram) => datagram,
            Err(error) => {
                eprintln!("receive failed: {error}");
                continue;
            }
        };
        report(&datagram, buf_size);
        // `--upper` (upper.rs): capitals can be longer than the text, and must still fit one datagram.
        let reply = if upper {
            upper::to_upper_in_one_datagram(datagram.bytes, datagram.from)
        } else {
            datagram.bytes.to_vec()
        };
        // The reply goes to the address the datagram came from. That address is the only
        // thing that makes this "a reply to that client".
        if let Err(error) = socket.send_to(&reply, datagram.from) {
            eprintln!("reply to {} failed: {error}", datagram.from);
        }
    }
}

/// One line per datagram: who sent it, how big it really was, what it said.
fn report(datagram: &Datagram, buf_size: usize) {
    let from = datagram.from;
    let text = show(datagram.bytes);
    match (datagram.truncated, datagram.real_len) {
        (false, _) if datagram.bytes.is_empty() => {
            // Zero bytes on TCP would mean "the peer closed". On UDP it is a message like any
            // other: an empty datagram, and it gets an empty reply.
            println!("{from} sent an empty datagram (0 bytes)");
        }
        (false, _) => println!("{from} sent {} bytes: {text}", datagram.bytes.len()),
        (true, Some(real)) => {
            println!(
                "{from} sent {real} bytes, truncated to {buf_size} (--buf {buf_size}); the rest is lost: {text}"
            )
        }
        (true, None) => println!("{from} sent more than {buf_size} bytes, truncated to {buf_size}: {text}"),
    }
}

/// The client: each line typed is one datagram; each reply is printed with its round trip.
fn chat(server: SocketAddr, timeout: Duration) -> Result<()> {
    // Port 0: the OS picks our port. The server will learn it from our first datagram.
    let local = lab_common::local_addr_for(server);
    let socket = UdpSocket::bind(local).with_context(|| format!("binding udp://{local}"))?;
    eprintln!(
        "sending to udp://{server} from {}; each line is one datagram, Ctrl-D quits",
        socket.local_addr()?
    );

    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading stdin")?;
        let sent_at = Instant::now();
        // No connection to open first: the first datagram simply goes. If nobody is listening,
        // this still succeeds. The other machine's kernel may answer with an ICMP "port
        // unreachable", but on Linux this unconnected socket is not told of it (a connected one
        // would be: see udp-chat). So all we see is silence.
        socket.send_to(line.as_bytes(), server).with_context(|| format!("sending to {server}"))?;
        // The first datagram from the server counts as the reply to this line: UDP ties no reply
        // to its request. A reply that comes after the timeout is taken as the answer to the
        // next line, with a wrong time: a real protocol numbers its requests.
        match wait_for_reply(&socket, server, timeout)? {
            Some(reply) => {
                let rtt = sent_at.elapsed().as_secs_f64() * 1000.0;
                println!("{} ({} bytes, {rtt:.3} ms)", show(&reply), reply.len());
            }
            None => println!(
                "no reply within {} ms: this socket is not told why (nothing listening at {server}, or a datagram was lost)",
                timeout.as_millis()
            ),
        }
    }
    Ok(())
}

/// The next datagram from `server`, within `timeout`. Anyone can send to our port, so a
/// datagram from another address is not the reply, and is passed over.
fn wait_for_reply(socket: &UdpSocket, server: SocketAddr, timeout: Duration) -> Result<Option<Vec<u8>>> {
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0; 65_536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        socket.set_read_timeout(Some(left))?;
        match socket.recv_from(&mut buf) {
            Ok((len, from)) if from == server => return Ok(Some(buf[..len].to_vec())),
            Ok((_, from)) => eprintln!("ignored a datagram from {from}: not the server"),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            // An ICMP "port unreachable" for an earlier send. Linux tells only a connected
            // socket, which this one is not (other systems may differ); either way it is not a
            // reply: keep waiting until the deadline.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
            Err(e) => return Err(e).context("receiving"),
        }
    }
}

/// UDP, shown by an echo server: no connection, the sender's address in every datagram,
/// message boundaries kept, and what happens to a datagram bigger than the buffer.
#[derive(Parser)]
#[command(name = "udp-echo", version)]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
enum Role {
    /// Echo every datagram back to whoever sent it. Shows that the server learns each client's
    /// address from the datagram itself, and reports each datagram's real size, also when its
    /// buffer was too small and the kernel cut the datagram.
    Server {
        /// Address to listen on; port 0 lets the OS pick a free one.
        #[arg(long, value_parser = lab_common::address, default_value = "127.0.0.1:8888")]
        bind: SocketAddr,
        /// Port on 127.0.0.1 to listen on: the same as `--bind 127.0.0.1:PORT`.
        #[arg(long, conflicts_with = "bind")]
        port: Option<u16>,
        /// Reply in upper case (as the original lesson's server does). Upper case can be longer
        /// than the text (ß is SS): a reply too long for one datagram carries the capitals of
        /// the characters that fit, and stderr says what was left out.
        #[arg(long)]
        upper: bool,
        /// Receive buffer, in bytes: a datagram longer than this is cut to it, and the rest is
        /// lost. 65536 holds any datagram.
        #[arg(long, default_value_t = 65_536, value_parser = clap::value_parser!(u32).range(1..=65_536))]
        buf: u32,
    },
    /// Send each line you type as one datagram, and print each reply with its round-trip time.
    /// Shows that an unconnected UDP socket gets no error when nobody is listening (on Linux):
    /// the reply just never comes.
    Client {
        /// The server to send to.
        #[arg(long, value_parser = lab_common::address, default_value = "127.0.0.1:8888")]
        server: SocketAddr,
        /// How long to wait for each reply, in milliseconds.
        #[arg(long, default_value_t = 1000)]
        timeout_ms: u64,
    },
}
