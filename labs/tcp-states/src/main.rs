//! # tcp-states: a connection's life, read from the kernel's own table
//!
//! A TCP connection has two ends, and the kernel keeps a state for each. The handshake
//! (SYN, SYN-ACK, ACK) makes both ESTABLISHED, before any program calls accept. Then each
//! direction is closed on its own, with a FIN and its ACK (the "four-way close", 四次挥手): the
//! side that closes first goes FIN_WAIT1, FIN_WAIT2, then TIME_WAIT; the other sits in
//! CLOSE_WAIT until its program closes too (or shuts down its side), then LAST_ACK, then it
//! is gone (RFC 9293, section 3.3.2; Linux's `tcp_close_state` in net/ipv4/tcp.c, and
//! `tcp_fin` in tcp_input.c). Linux lists every socket and its state in /proc/net/tcp and
//! /proc/net/tcp6 (`netstat -tan` prints them; `ss -tan` asks the kernel for the same list
//! over netlink); both
//! roles here print what it says, at each step, for both ends of their connection.
//!
//! The server echoes each line; the line `q` makes it close first. The client sends what you
//! type, and takes commands: `/states`, `/shutdown` (half-close), `/close`, `/reset` (close with
//! SO_LINGER 0).
//!
//! Try it by hand, one terminal each:
//!
//! ```text
//! cargo lab tcp-states server        # terminal 1: listening on tcp://127.0.0.1:9400
//! cargo lab tcp-states client        # terminal 2: type hello, then /close: FIN_WAIT2, TIME_WAIT
//! ```
//!
//! Press Ctrl-Z in terminal 1 to pause the server (`fg` resumes it): connect, type, `/close`,
//! and `/states` shows the kernel doing its part alone: ESTABLISHED before any accept, then the
//! server's end in CLOSE_WAIT until the server runs again and closes it.

use std::io::{BufRead, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use lab_common::server;
use lab_common::socket_table::{self, State};
use socket2::{Domain, Socket, Type};

fn main() -> ExitCode {
    let result = match Cli::parse().role {
        Role::Server { bind, port } => serve(lab_common::listen_addr(bind, port)),
        Role::Client { server } => talk(server),
    };
    lab_common::exit(result)
}

/// A TCP connection's states, as the kernel's own table shows them at each step: the
/// handshake done before accept, the four-way close, TIME_WAIT and CLOSE_WAIT, a reset, and
/// why a server sets SO_REUSEADDR. The states are read from /proc/net/tcp (Linux).
#[derive(Parser)]
#[command(name = "tcp-states", version)]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
enum Role {
    /// Echo each line back, a thread per client; the line `q` makes the server close first.
    /// Logs each connection's life with both ends' states as the kernel lists them: CLOSE_WAIT
    /// when a client has closed, TIME_WAIT when the server closed first. Pause it with Ctrl-Z
    /// to see what the kernel does without it. Sets SO_REUSEADDR, so it restarts at once.
    Server {
        /// Address to listen on; port 0 lets the OS pick a free one.
        #[arg(long, value_parser = lab_common::address, default_value = "127.0.0.1:9400")]
        bind: SocketAddr,
        /// Port on 127.0.0.1 to listen on: the same as `--bind 127.0.0.1:PORT`.
        #[arg(long, conflicts_with = "bind")]
        port: Option<u16>,
    },
    /// Connect, send each line you type, print what comes back, and drive the connection's
    /// end by hand: /states shows both ends' states, /shutdown half-closes (FIN, still
    /// reading), /close closes (FIN), /reset closes with SO_LINGER 0 (a reset, no TIME_WAIT).
    Client {
        /// The server to connect to.
        #[arg(long, value_parser = lab_common::address, default_value = "127.0.0.1:9400")]
        server: SocketAddr,
    },
}

/// The longest line the server holds before it echoes it anyway: a peer that never sends a
/// newline cannot make it buffer without end.
const MAX_LINE: usize = 64 * 1024;

/// The server: listen (with SO_REUSEADDR), then echo each client's lines on a thread of its own.
fn serve(bind: SocketAddr) -> Result<()> {
    let listener = listen(bind)?;
    let addr = listener.local_addr()?;
    lab_common::print_ready("tcp", addr);
    server::say_who_can_reach(addr);
    if !socket_table::available() {
        eprintln!("note: this system has no /proc/net/tcp (it is Linux's): states are not shown");
    } else if let Some(row) = listening_row(addr) {
        // The table's rx_queue for a listening socket counts the connections in its accept
        // queue: handshakes the kernel has finished that accept has not taken out yet.
        println!("kernel: listener {} · {} in its accept queue", row.state, row.rx_queue);
    }
    // One thread reads the table for every connection: see `log_steps`.
    let (steps, logged) = mpsc::channel();
    std::thread::spawn(move || log_steps(addr.port(), logged));
    for (number, stream) in (1..).zip(server::incoming(&listener)) {
        let steps = steps.clone();
        let refused = server::spawn_or_give_back(stream, move |stream| serve_client(number, stream, &steps));
        if let Err((_, error)) = refused {
            eprintln!("no thread for client {number}: {error}; closed its connection");
        }
    }
    unreachable!("incoming() never ends")
}

/// A step in one connection's life, to be printed with both ends' states.
struct Step {
    ends: Ends,
    text: String,
}

/// Print each step with the states the kernel's table shows for its connection. Reading the
/// table costs time in proportion to every TCP socket on the machine (TIME_WAIT ones
/// included), so it is read here, on one thread, once for all the steps waiting, and never
/// by a connection's own thread: a connection is served at once, whatever the table costs,
/// and a thousand connections closing together cost a few reads, not a thousand. The states
/// printed are the table's when it was read, just after the step.
fn log_steps(port: u16, steps: mpsc::Receiver<Step>) {
    while let Ok(first) = steps.recv() {
        let batch: Vec<Step> = std::iter::once(first).chain(steps.try_iter()).collect();
        // Every connection of this server has the server's port at one end.
        let table = Table::read(port);
        for step in batch {
            println!("{}; {}", step.text, table.states(step.ends));
        }
    }
}

/// The listening socket's row in the kernel's table, if there is a table.
fn listening_row(addr: SocketAddr) -> Option<socket_table::Row> {
    let rows = socket_table::read_ports(&[addr.port()])?;
    rows.into_iter().find(|row| row.local == addr && row.state == State::LISTEN)
}

/// Bind and listen with SO_REUSEADDR set. Without it, a restarted server cannot bind its port
/// while a connection of the old one waits there in TIME_WAIT: "Address already in use". (Rust's
/// `TcpListener::bind` sets it on Unix by itself; Python's `socket` does not.)
fn listen(bind: SocketAddr) -> Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(bind), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&bind.into()).with_context(|| format!("binding tcp://{bind}"))?;
    socket.listen(128).with_context(|| format!("listening on tcp://{bind}"))?;
    Ok(socket.into())
}

/// One client, from accept to close, each step logged with the states of both ends.
fn serve_client(number: u32, stream: TcpStream, steps: &mpsc::Sender<Step>) {
    let (Ok(local), Ok(peer)) = (stream.local_addr(), stream.peer_addr()) else { return };
    let ends = Ends { client: peer, server: local };
    // The logging thread is there for as long as the server: a send cannot fail.
    let log = |text: String| {
        let _ = steps.send(Step { ends, text });
    };
    // By now the handshake is long done: the kernel finished it alone and queued the
    // connection; accept only took it out of the queue.
    log(format!("client {number} connected from {peer}"));
    match echo_lines(stream) {
        Ok(Ending::ClientClosed) => {
            // We have closed too (the stream was dropped): the client's end took our FIN.
            log(format!("client {number} closed its side, and we closed ours"));
        }
        Ok(Ending::Quit) => log(format!("client {number} sent q: we closed first")),
        Err(error) if error.kind() == ErrorKind::ConnectionReset => {
            log(format!("client {number} reset the connection: {error}"));
        }
        Err(error) => eprintln!("client {number}: {error}"),
    }
}

/// How a conversation ended.
enum Ending {
    /// A read returned 0 bytes: the client closed (or half-closed) its side, and so did we.
    ClientClosed,
    /// The client sent `q`, and we closed first.
    Quit,
}

/// Echo each line until the client's end of stream, or its `q`. Returning drops the stream,
/// which closes our end.
fn echo_lines(mut stream: TcpStream) -> std::io::Result<Ending> {
    let mut buf = vec![0; 16 * 1024];
    let mut line = Vec::new();
    loop {
        let len = stream.read(&mut buf)?;
        if len == 0 {
            // End of stream: the client's FIN has arrived, and our end is in CLOSE_WAIT. The
            // kernel keeps it there for as long as we hold the socket open, so we answer what
            // is left (the client may have only half-closed: it still reads) and close.
            stream.write_all(&line)?;
            return Ok(Ending::ClientClosed);
        }
        for &byte in &buf[..len] {
            line.push(byte);
            if byte == b'\n' {
                if line == b"q\n" {
                    return Ok(Ending::Quit);
                }
                stream.write_all(&line)?;
                line.clear();
            } else if line.len() == MAX_LINE {
                stream.write_all(&line)?;
                line.clear();
            }
        }
    }
}

/// The two ends of one connection, as the kernel's table names them: by their addresses.
#[derive(Clone, Copy)]
struct Ends {
    client: SocketAddr,
    server: SocketAddr,
}

impl Ends {
    /// "kernel: client FIN_WAIT2 · server CLOSE_WAIT", as the table says it right now.
    fn now(&self) -> String {
        Table::read(self.server.port()).states(*self)
    }
}

/// One read of the kernel's table: the rows of every socket with `port` at one end.
struct Table {
    port: u16,
    rows: Option<Vec<socket_table::Row>>,
    /// A second read, made only if an end is missing from the first.
    again: std::cell::OnceCell<Vec<socket_table::Row>>,
}

impl Table {
    fn read(port: u16) -> Table {
        Table { port, rows: socket_table::read_ports(&[port]), again: std::cell::OnceCell::new() }
    }

    /// "kernel: client FIN_WAIT2 · server CLOSE_WAIT" for one connection's two ends.
    fn states(&self, ends: Ends) -> String {
        let Some(rows) = &self.rows else {
            return "kernel: (no table to read here)".into();
        };
        // One read can miss a socket while others come and go: an end missing from the first
        // read is looked for in a second.
        let state = |local, remote| {
            socket_table::state_of(rows, local, remote).or_else(|| {
                let again =
                    self.again.get_or_init(|| socket_table::read_ports(&[self.port]).unwrap_or_default());
                socket_table::state_of(again, local, remote)
            })
        };
        let client = state(ends.client, ends.server);
        let server = state(ends.server, ends.client);
        format!("kernel: client {} · server {}", name(client), name(server))
    }
}

/// A state's name, or "gone" for an end the kernel no longer lists.
fn name(state: Option<State>) -> &'static str {
    state.map_or("gone", State::name)
}

/// The client: connect, then send lines and run commands typed on stdin, printing the states
/// of both ends after each step. What the server sends is printed by a thread of its own.
fn talk(server: SocketAddr) -> Result<()> {
    // connect() returns once the handshake is done: the server's kernel answered, whether or
    // not its program has called accept yet.
    let stream = TcpStream::connect(server).with_context(|| format!("connecting to tcp://{server}"))?;
    let ends = Ends { client: stream.local_addr()?, server };
    println!("connected to tcp://{server} from {}; {}", ends.client, ends.now());
    if !socket_table::available() {
        eprintln!("note: this system has no /proc/net/tcp (it is Linux's): states are not shown");
    }
    eprintln!("type lines to send; /states /shutdown /close /reset; Ctrl-D quits");
    let connection = Connection { stream: Arc::new(stream), closing: Arc::new(AtomicBool::new(false)) };
    let reading = {
        let connection = connection.clone();
        std::thread::spawn(move || print_what_arrives(&connection, ends))
    };
    let mut open = Some((connection, reading));
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading stdin")?;
        match (line.trim(), &open) {
            ("/states", _) => println!("{}", ends.now()),
            (_, None) => {
                println!("the connection is closed: /states shows what the kernel keeps of it; Ctrl-D quits")
            }
            ("/shutdown", Some((connection, _))) => {
                // "I have nothing more to send": a FIN goes out, and we go on reading.
                connection.stream.shutdown(Shutdown::Write).context("shutdown(write)")?;
                println!("shut down our sending side (FIN); {}", settled(ends));
            }
            ("/close", Some(_)) => {
                close(open.take().expect("matched Some"), false)?;
                println!("closed (FIN); {}", settled(ends));
            }
            ("/reset", Some(_)) => {
                close(open.take().expect("matched Some"), true)?;
                println!("reset (RST: SO_LINGER 0, then close); {}", settled(ends));
            }
            (_, Some((connection, _))) => {
                // After /shutdown, or once the server has reset the connection, a send fails
                // (EPIPE, "broken pipe"): the connection stays for the other commands.
                if let Err(error) = (&*connection.stream).write_all(format!("{line}\n").as_bytes()) {
                    println!("could not send: {error}; {}", ends.now());
                }
            }
        }
    }
    if let Some(connection) = open {
        close(connection, false)?;
    }
    Ok(())
}

/// The client's connection, shared with the thread that prints what arrives.
#[derive(Clone)]
struct Connection {
    stream: Arc<TcpStream>,
    /// Set when we close: the reading thread's last read then returns 0 because of us.
    closing: Arc<AtomicBool>,
}

/// Close our end: the last handle on the socket goes, and close() sends a FIN, or, with
/// SO_LINGER 0 (`reset`), a reset that throws away whatever is still queued either way.
fn close((connection, reading): (Connection, JoinHandle<()>), reset: bool) -> Result<()> {
    if reset {
        socket2::SockRef::from(&*connection.stream).set_linger(Some(Duration::ZERO))?;
    }
    // The reading thread holds the socket too, blocked in read. shutdown(read) sends nothing
    // on the wire; it makes that read return 0, so the thread lets go of the socket.
    connection.closing.store(true, Ordering::SeqCst);
    let _ = connection.stream.shutdown(Shutdown::Read);
    let _ = reading.join();
    drop(connection);
    Ok(())
}

/// Print everything the server sends, then how the stream ended, with the states then.
fn print_what_arrives(connection: &Connection, ends: Ends) {
    let mut buf = vec![0; 16 * 1024];
    loop {
        match (&*connection.stream).read(&mut buf) {
            Ok(0) if connection.closing.load(Ordering::SeqCst) => return,
            Ok(0) => {
                println!("the server closed its side (read returned 0); {}", settled(ends));
                return;
            }
            Ok(len) => {
                // Bytes from the other side, shown escaped where they are not plain text.
                for line in buf[..len].split_inclusive(|&byte| byte == b'\n') {
                    println!("< {}", lab_common::as_text(line.strip_suffix(b"\n").unwrap_or(line)));
                }
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => {
                println!("the connection ended: {error}; {}", settled(ends));
                return;
            }
        }
    }
}

/// The states once a step's packets have all crossed: on loopback the other side's kernel
/// answers at once, but its program (the server closing its end, say) takes a moment. Looks
/// until two looks 50 ms apart agree, a second at most.
fn settled(ends: Ends) -> String {
    let mut last = ends.now();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(50));
        let now = ends.now();
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rust's std sets SO_REUSEADDR on every listener it binds on Unix; socket2 sets only what
    /// it is told, which is how the scenarios show a bind with it and without it.
    #[cfg(unix)]
    #[test]
    fn std_sets_so_reuseaddr_on_unix_and_socket2_only_when_told() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(socket2::SockRef::from(&listener).reuse_address().unwrap());
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        assert!(!socket.reuse_address().unwrap());
        assert!(
            socket2::SockRef::from(&listen("127.0.0.1:0".parse().unwrap()).unwrap()).reuse_address().unwrap()
        );
    }
}
