//! # backlog: what `listen(n)` really bounds
//!
//! The original lesson calls `listen(5)` "the half-open pool" and warns that 5 is not the maximum
//! number of connections. This lab shows what it is. The kernel completes each client's
//! handshake on its own, before the program calls accept, and parks the finished connection
//! in the listening socket's accept queue. `n` bounds that queue: on Linux a new connection
//! gets in while no more than `n` wait, so `n + 1` fit; the next client's SYN gets no answer
//! at all. Once the program accepts, the connection leaves the queue: how many clients a
//! server serves is up to the program, not up to `n`.
//!
//! Try it by hand, one terminal each:
//!
//! ```text
//! cargo lab backlog server --backlog 2                   # never accepts; prints the queue's figures
//! cargo lab backlog probe --clients 5                    # 3 connect at once, 2 time out
//! cargo lab backlog server --backlog 2 --accept on-enter # press Enter to accept one client
//! cargo lab backlog probe --clients 3                    # then watch each reply arrive
//! ```
//!
//! With `--defer-accept 30` a connection stays half-open until its client sends something, so
//! clients that send nothing fill the SYN queue instead; `ss -tn state syn-recv` lists them:
//!
//! ```text
//! cargo lab backlog server --backlog 2 --defer-accept 30
//! python3 -c "import socket, time; c = [socket.create_connection(('127.0.0.1', 9200)) for _ in range(5)]; time.sleep(60)"
//! ```
//!
//! `ss -lnt` shows the same figures as the server: Recv-Q is the queue's length, Send-Q its
//! limit.

mod kernel;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser, Subcommand};
use lab_common::server::{self, Incoming};
use socket2::{Domain, Socket, Type};

fn main() -> ExitCode {
    let result = match Cli::parse().role {
        Role::Server { bind, port, backlog, accept, defer_accept } => {
            serve(lab_common::listen_addr(bind, port), backlog, parse_accept(&accept), defer_accept)
        }
        Role::Probe { server, clients, timeout } => probe(server, clients, Duration::from_millis(timeout)),
    };
    lab_common::exit(result)
}

/// The TCP listen backlog: the kernel finishes handshakes before accept and queues them;
/// listen(n) bounds that queue, not the number of clients a server can serve.
#[derive(Parser)]
#[command(name = "backlog", version)]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
enum Role {
    /// Listen with exactly the backlog you give, and accept only when told. Meanwhile it shows
    /// the accept queue's length and limit as the kernel reports them (the figures `ss -lnt`
    /// shows), and reads net.core.somaxconn and net.ipv4.tcp_abort_on_overflow to say what
    /// happens to a client that finds the queue full. Each accepted client gets a thread; each
    /// line it sends comes back in capitals.
    Server {
        /// Address to listen on; port 0 lets the OS pick a free one.
        #[arg(long, value_parser = lab_common::address, default_value = "127.0.0.1:9200")]
        bind: SocketAddr,
        /// Port on 127.0.0.1 to listen on: the same as `--bind 127.0.0.1:PORT`.
        #[arg(long, conflicts_with = "bind")]
        port: Option<u16>,
        /// listen(2)'s backlog: how many finished handshakes may wait for accept.
        #[arg(long)]
        backlog: u32,
        /// When to accept: `never`, `on-enter` (one client per line typed on stdin), or
        /// `after SECS` (then every client, as they come).
        #[arg(long, num_args = 1..=2, value_names = ["WHEN", "SECS"], default_value = "never")]
        accept: Vec<String>,
        /// Set TCP_DEFER_ACCEPT (Linux): the kernel keeps each new connection half-open, in the
        /// SYN queue, until its client sends something or SECS pass. Clients that send nothing
        /// then show how many half-open connections the queue takes.
        #[arg(long, value_name = "SECS")]
        defer_accept: Option<u32>,
    },
    /// Open connections one after another, each with a deadline, send a line on each that
    /// connects, and print a table: which connected and how fast, which timed out (the
    /// server's kernel dropped the SYN) and which were refused. Then wait for the replies,
    /// which come once the server accepts; Ctrl-D stops waiting.
    Probe {
        /// The server to connect to.
        #[arg(long, value_parser = lab_common::address, default_value = "127.0.0.1:9200")]
        server: SocketAddr,
        /// How many connections to open.
        #[arg(long, default_value_t = 5)]
        clients: u32,
        /// How long each connect may take, in milliseconds. Linux sends a dropped SYN again
        /// after about a second, so keep it below 1000 to see the drop.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
        timeout: u64,
    },
}

/// When the server calls accept.
#[derive(Clone, Copy)]
enum Accept {
    Never,
    /// One accept for each line typed on stdin.
    OnEnter,
    /// Wait, then accept every client as it comes.
    After(Duration),
}

/// A line longer than this is answered with an error, and the client is dropped.
const MAX_LINE: u64 = 4096;

/// `never`, `on-enter` or `after SECS`; anything else is a usage error (status 2).
fn parse_accept(words: &[String]) -> Accept {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words[..] {
        ["never"] => Accept::Never,
        ["on-enter"] => Accept::OnEnter,
        ["after", secs] => match secs.parse::<f64>() {
            Ok(secs) if (0.0..=86_400.0).contains(&secs) => Accept::After(Duration::from_secs_f64(secs)),
            _ => usage_error(&format!("--accept after {secs}: SECS must be a number of seconds, 0 to 86400")),
        },
        _ => usage_error(&format!(
            "--accept {}: expected `never`, `on-enter` or `after SECS`",
            words.join(" ")
        )),
    }
}

fn usage_error(message: &str) -> ! {
    Cli::command().error(clap::error::ErrorKind::InvalidValue, message).exit()
}

/// The server: listen with the given backlog, say what the kernel will do with it, and accept
/// only when told.
fn serve(bind: SocketAddr, backlog: u32, accept: Accept, defer_accept: Option<u32>) -> Result<()> {
    let listener = listen(bind, backlog, defer_accept)?;
    let addr = listener.local_addr()?;
    lab_common::print_ready("tcp", addr);
    server::say_who_can_reach(addr);
    explain_the_limits(backlog, defer_accept);
    if let Err(error) = thread::Builder::new().spawn(move || watch_the_queue(addr)) {
        eprintln!("no thread to watch the accept queue ({error}); its figures will not be shown");
    }
    // `server::incoming` is accept that pauses, rather than spins, while accept fails (out of
    // file descriptors, say).
    let mut incoming = server::incoming(&listener);

    match accept {
        Accept::Never => {
            println!("never accepting: every client that connects stays in the queue");
            // This thread does nothing from here on, yet clients keep connecting: the kernel
            // answers their SYNs and finishes their handshakes without us, until the queue is
            // full.
            loop {
                thread::park();
            }
        }
        Accept::OnEnter => {
            println!("press Enter to accept one client");
            let mut number = 0;
            for line in std::io::stdin().lock().lines() {
                line.context("reading stdin")?;
                number += 1;
                accept_one(&mut incoming, number);
            }
            println!("end of input: no more accepts");
            Ok(())
        }
        Accept::After(delay) => {
            println!("accepting in {} s", delay.as_secs_f64());
            thread::sleep(delay);
            println!("accepting every client now");
            for number in 1.. {
                accept_one(&mut incoming, number);
            }
            unreachable!("the loop above never ends")
        }
    }
}

/// std's `TcpListener::bind` asks for a backlog of 128 (on Linux); socket2 lets us choose.
fn listen(bind: SocketAddr, backlog: u32, defer_accept: Option<u32>) -> Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(bind), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&bind.into()).with_context(|| format!("binding tcp://{bind}"))?;
    // Normally the client's ACK, the handshake's last step, completes a connection at once.
    // With TCP_DEFER_ACCEPT the kernel ignores a bare ACK and keeps the connection half-open,
    // in the SYN queue, until data arrives: a way to see that queue fill up.
    if let Some(secs) = defer_accept {
        kernel::defer_accept(&socket, secs).context("setting TCP_DEFER_ACCEPT")?;
    }
    // listen(2) takes an int; a larger number means "as many as allowed", which is somaxconn.
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    socket.listen(backlog).with_context(|| format!("listening on tcp://{bind}"))?;
    Ok(socket.into())
}

/// Say what the kernel makes of our backlog, from the settings it reads.
fn explain_the_limits(backlog: u32, defer_accept: Option<u32>) {
    // The kernel quietly lowers a backlog above net.core.somaxconn to somaxconn. Linux's test
    // for "full" is "more than the limit wait", so one more than the limit fits; other systems
    // count differently.
    match kernel::setting(kernel::SOMAXCONN) {
        Ok(somaxconn) if cfg!(target_os = "linux") => {
            let limit = backlog.min(somaxconn);
            println!(
                "listen({backlog}): limit {limit} (net.core.somaxconn is {somaxconn}, from {}); \
                 a connection gets in while at most {limit} wait, so {} fit",
                kernel::SOMAXCONN,
                limit as u64 + 1
            );
        }
        Ok(somaxconn) => println!("listen({backlog}); net.core.somaxconn is {somaxconn}"),
        Err(error) => println!("listen({backlog}); net.core.somaxconn: {error:#}"),
    }
    // What a client that finds the queue full sees. A SYN that arrives at a full queue is
    // dropped without an answer either way; the setting decides what happens to a handshake
    // whose final ACK arrives when the queue has filled up: with 0 that ACK is ignored, the
    // request is kept and its SYN-ACK sent again later (the client's ACK to it may then find
    // room); with 1 the client gets a reset.
    match kernel::setting(kernel::ABORT_ON_OVERFLOW) {
        Ok(0) => println!(
            "net.ipv4.tcp_abort_on_overflow is 0 (from {}): a client that finds the queue full \
             gets no answer, not a refusal",
            kernel::ABORT_ON_OVERFLOW
        ),
        Ok(value) => println!(
            "net.ipv4.tcp_abort_on_overflow is {value} (from {}): a SYN that finds the queue full \
             gets no answer; a handshake that completes while it is full is reset",
            kernel::ABORT_ON_OVERFLOW
        ),
        Err(error) => println!("net.ipv4.tcp_abort_on_overflow: {error:#}"),
    }
    if let Some(secs) = defer_accept {
        // The SYN queue is checked against the same limit as the accept queue (Linux:
        // `inet_csk_reqsk_queue_is_full`); past it, a SYN gets a SYN cookie, which keeps no
        // half-open entry, or, with cookies off, no answer; and a SYN that finds the accept
        // queue full gets no answer either way.
        let cookies = match kernel::setting(kernel::SYNCOOKIES) {
            Ok(0) => "off: a SYN past it gets no answer".to_string(),
            Ok(value) => format!(
                "{value}: a SYN past it is answered with a SYN cookie while the accept queue has room"
            ),
            Err(error) => format!("unknown ({error:#})"),
        };
        println!(
            "TCP_DEFER_ACCEPT {secs} s: a connection stays half-open (SYN-RECV) until its client sends \
             something; the half-open ones are limited by the backlog too; net.ipv4.tcp_syncookies is {cookies}"
        );
    }
}

/// Print the accept queue's figures each time they change.
fn watch_the_queue(addr: SocketAddr) {
    let mut last = None;
    let mut failing = false;
    // One netlink socket for all the asking, opened again only after a failure.
    let mut diag = None;
    loop {
        let asked = diag.take().map_or_else(kernel::Diag::open, Ok).and_then(|opened| {
            let queue = opened.accept_queue(addr)?;
            diag = Some(opened);
            Ok(queue)
        });
        match asked {
            Ok(queue) => {
                if failing {
                    eprintln!("accept queue's figures: readable again");
                    failing = false;
                }
                if last != Some(queue) {
                    let source =
                        if last.is_none() { " (from sock_diag, as `ss -lnt` shows them)" } else { "" };
                    println!("accept queue: {} waiting, limit {}{source}", queue.waiting, queue.limit);
                    last = Some(queue);
                }
            }
            // Asking needs a socket of its own, so opening one fails too when the process is out
            // of file descriptors. Said once; the server goes on, and so does the asking, more
            // slowly.
            Err(error) if !failing => {
                eprintln!("accept queue's figures: {error:#}; trying again each second");
                failing = true;
            }
            Err(_) => {}
        }
        // Polling: the kernel does not tell us when a handshake finishes. accept would, but
        // calling it is exactly what this server must not do.
        thread::sleep(Duration::from_millis(if failing { 1000 } else { 50 }));
    }
}

/// Take the oldest finished connection out of the queue and serve it on a thread of its own.
/// With the queue empty, accept waits for the next client.
fn accept_one(incoming: &mut Incoming, number: u32) {
    let (stream, peer) = incoming.accept();
    println!("accepted client {number} from {peer}");
    let refused = server::spawn_or_give_back(stream, move |stream| serve_client(number, stream));
    if let Err((mut stream, error)) = refused {
        // The one client that gets no thread is told why; the others keep theirs. A new
        // connection's send buffer is empty, so this short line does not make us wait.
        eprintln!("no thread for client {number}: {error}; told it so and closed the connection");
        let _ = stream.write_all(b"error: the server could not start a thread for you; try again later\n");
    }
}

/// One client: answer each line in capitals until it closes. What it sent while it waited in
/// the queue is already in the kernel's receive buffer, so the first read may return several
/// lines at once.
fn serve_client(number: u32, stream: TcpStream) {
    let ending = match answer_lines(&stream) {
        Ok(1) => "closed the connection after 1 line".to_string(),
        Ok(lines) => format!("closed the connection after {lines} lines"),
        Err(error) if error.kind() == ErrorKind::ConnectionReset => "reset the connection".to_string(),
        Err(error) => format!("was dropped: {error}"),
    };
    println!("client {number} {ending}");
}

fn answer_lines(mut stream: &TcpStream) -> std::io::Result<u64> {
    let mut reader = BufReader::new(stream);
    let mut answered = 0;
    loop {
        let mut line = Vec::new();
        // Bounded: a peer that never sends a newline cannot make us buffer without end.
        let len = reader.by_ref().take(MAX_LINE + 1).read_until(b'\n', &mut line)?;
        if len == 0 {
            return Ok(answered);
        }
        if len as u64 > MAX_LINE {
            stream.write_all(format!("error: a line may be at most {MAX_LINE} bytes\n").as_bytes())?;
            return Err(std::io::Error::new(ErrorKind::InvalidData, "line too long"));
        }
        stream.write_all(&line.to_ascii_uppercase())?;
        answered += 1;
    }
}

/// The probe: connect `clients` times, one after another, each connect allowed `timeout`.
fn probe(server: SocketAddr, clients: u32, timeout: Duration) -> Result<()> {
    println!("client  connect     after");
    let mut connected = Vec::new();
    let (mut timed_out, mut refused) = (0, 0);
    for number in 1..=clients {
        let started = Instant::now();
        // connect() is the handshake: SYN, SYN-ACK, ACK. It returns as soon as our kernel has
        // the SYN-ACK and has sent the ACK; the server's kernel queues the connection when that
        // ACK arrives, a moment later, and the server program has not been asked.
        match TcpStream::connect_timeout(&server, timeout) {
            Ok(mut stream) => {
                println!("{number:>6}  connected   {}", millis(started.elapsed()));
                stream
                    .write_all(format!("hello from client {number}\n").as_bytes())
                    .with_context(|| format!("client {number} sending its line"))?;
                connected.push((number, stream, Instant::now()));
            }
            // No SYN-ACK came: the server's kernel dropped our SYN because the queue was full.
            // Our kernel would send it again after about a second; we gave up first, and
            // closing the socket ends the attempt for good.
            Err(error) if error.kind() == ErrorKind::TimedOut => {
                timed_out += 1;
                println!("{number:>6}  timed out   {}  (no answer to the SYN)", millis(started.elapsed()));
            }
            // A reset (RST) in answer to the SYN: nothing listens there.
            Err(error) if error.kind() == ErrorKind::ConnectionRefused => {
                refused += 1;
                println!("{number:>6}  refused     {}  (answered with a reset)", millis(started.elapsed()));
            }
            Err(error) => {
                return Err(error).with_context(|| format!("client {number} connecting to {server}"));
            }
        }
    }
    println!("{} connected, {timed_out} timed out, {refused} refused", connected.len());
    wait_for_replies(connected)
}

fn millis(duration: Duration) -> String {
    format!("{:>8.1} ms", duration.as_secs_f64() * 1000.0)
}

/// Each connected client waits for its reply on a thread of its own; the replies are printed
/// as they come. Ends when every client has its reply, or at end of input.
fn wait_for_replies(connected: Vec<(u32, TcpStream, Instant)>) -> Result<()> {
    if connected.is_empty() {
        return Ok(());
    }
    eprintln!("waiting for the replies; they come once the server accepts (Ctrl-D stops waiting)");
    let (events, replies) = mpsc::channel();
    let expected = connected.len();
    for (number, stream, sent) in connected {
        let events = events.clone();
        thread::spawn(move || {
            let mut reply = Vec::new();
            let outcome = BufReader::new(stream).take(MAX_LINE).read_until(b'\n', &mut reply);
            let _ = events.send(Some((number, outcome.map(|_| reply), sent.elapsed())));
        });
    }
    // End of input on stdin means the user has seen enough.
    thread::spawn(move || {
        let _ = std::io::stdin().lock().read_to_end(&mut Vec::new());
        let _ = events.send(None);
    });
    for got in 1..=expected {
        let Some((number, reply, after)) = replies.recv().context("waiting for replies")? else {
            println!("stopped waiting: {} of {expected} replied", got - 1);
            return Ok(());
        };
        match reply {
            Ok(reply) if reply.is_empty() => println!("client {number}: the server closed without a reply"),
            Ok(reply) => {
                println!("client {number} got {} after {}", lab_common::show(&reply), millis(after).trim())
            }
            Err(error) => println!("client {number}: {error}"),
        }
    }
    println!("every client got its reply");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_takes_never_on_enter_or_after_secs() {
        let words = |text: &str| text.split(' ').map(String::from).collect::<Vec<_>>();
        assert!(matches!(parse_accept(&words("never")), Accept::Never));
        assert!(matches!(parse_accept(&words("on-enter")), Accept::OnEnter));
        assert!(
            matches!(parse_accept(&words("after 1.5")), Accept::After(d) if d == Duration::from_millis(1500))
        );
    }
}
