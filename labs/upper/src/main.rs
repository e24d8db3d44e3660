//! # upper: a TCP server, one client at a time or one thread per client
//!
//! The server reads bytes, upper-cases them and sends them back. On TCP that needs a
//! connection: the client connects, the kernel completes the three-way handshake, and the
//! server's `accept` hands it a socket of its own for that one client. An iterative server
//! (the original lesson's) serves those sockets one after another: while it talks to one client,
//! the next ones are connected but wait in the kernel's queue. A threaded server gives each
//! client a thread.
//!
//! Try it by hand, one terminal each:
//!
//! ```text
//! cargo lab upper server                    # iterative: prints listening on tcp://127.0.0.1:9999
//! cargo lab upper client                    # type lines; each comes back in capitals
//! cargo lab upper client                    # a second client: connected, but no reply yet
//! cargo lab upper server --mode threaded    # now both are answered at once
//! ```
//!
//! netcat works as a client too: `nc 127.0.0.1 9999`.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use lab_common::server;
use socket2::{Domain, Socket, Type};

fn main() -> ExitCode {
    let result = match Cli::parse().role {
        Role::Server { bind, port, mode, backlog } => {
            serve(lab_common::listen_addr(bind, port), mode, backlog)
        }
        Role::Client { server } => talk(server),
    };
    lab_common::exit(result)
}

/// TCP, shown by an upper-case server: connections, one client at a time or a thread each, and
/// what the server sees when a client closes, half-closes or vanishes.
#[derive(Parser)]
#[command(name = "upper", version)]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
enum Role {
    /// Upper-case whatever each client sends and send it back. Iterative (the default) serves
    /// one client at a time while the next ones wait, connected, in the kernel's queue;
    /// threaded serves every client at once. Logs each connection and how it ended.
    Server {
        /// Address to listen on; port 0 lets the OS pick a free one.
        #[arg(long, value_parser = lab_common::address, default_value = "127.0.0.1:9999")]
        bind: SocketAddr,
        /// Port on 127.0.0.1 to listen on: the same as `--bind 127.0.0.1:PORT`.
        #[arg(long, conflicts_with = "bind")]
        port: Option<u16>,
        /// One client at a time, or a thread per client.
        #[arg(long, value_enum, default_value_t = Mode::Iterative)]
        mode: Mode,
        /// listen(2)'s backlog: how many finished handshakes the kernel may queue before accept.
        #[arg(long, default_value_t = 128)]
        backlog: i32,
    },
    /// Send each line you type and print the reply. End of input (Ctrl-D) half-closes the
    /// connection: the server still answers everything already sent, then closes.
    Client {
        /// The server to connect to.
        #[arg(long, value_parser = lab_common::address, default_value = "127.0.0.1:9999")]
        server: SocketAddr,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// One client at a time; the next ones wait in the kernel's accept queue.
    Iterative,
    /// A thread per client.
    Threaded,
}

/// The server: listen, then accept connections forever, serving each one in turn (iterative)
/// or on its own thread (threaded).
fn serve(bind: SocketAddr, mode: Mode, backlog: i32) -> Result<()> {
    let listener = listen(bind, backlog)?;
    let addr = listener.local_addr()?;
    lab_common::print_ready("tcp", addr);
    server::say_who_can_reach(addr);

    // By the time accept returns, the handshake is long done, without us: the kernel answered
    // the client's SYN with a SYN-ACK, and when the client's ACK came back it completed the
    // connection and parked it in the accept queue. accept only takes the next one out. (`server::incoming` is std's `listener.incoming()`, except that a
    // failed accept, such as running out of file descriptors, makes it pause, not spin.)
    for (number, stream) in (1..).zip(server::incoming(&listener)) {
        match mode {
            Mode::Iterative => serve_client(number, stream),
            Mode::Threaded => serve_on_a_thread(number, stream),
        }
    }
    unreachable!("incoming() never ends")
}

/// Threaded mode: a thread for this client, or, when the system will not create one more, a
/// refusal for this client alone. The clients already connected keep their threads.
fn serve_on_a_thread(number: u32, stream: TcpStream) {
    let refused = server::spawn_or_give_back(stream, move |stream| serve_client(number, stream));
    if let Err((mut stream, error)) = refused {
        eprintln!("no thread for client {number}: {error}; told it so and closed the connection");
        // A new connection's send buffer is empty: this short line goes out at once, and the
        // accept loop does not wait for the client. (A client that had already sent something
        // may get a reset along with it: Linux resets a connection closed with unread bytes.)
        let _ = stream.write_all(b"error: the server could not start a thread for you; try again later\n");
    }
}

/// std's `TcpListener::bind` asks for a backlog of 128 (on Linux); socket2 lets us choose.
fn listen(bind: SocketAddr, backlog: i32) -> Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(bind), Type::STREAM, None)?;
    // Lets a restarted server bind the port while old connections are still in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&bind.into()).with_context(|| format!("binding tcp://{bind}"))?;
    socket.listen(backlog).with_context(|| format!("listening on tcp://{bind}"))?;
    Ok(socket.into())
}

/// One client, from connect to close. Whatever happens to this connection is logged and ends
/// here: it never stops the server.
fn serve_client(number: u32, stream: TcpStream) {
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
    println!("client {number} connected from {peer}");
    let ending = match upper_case_until_closed(stream) {
        Ok(Served { bytes, mid_line: false }) => {
            format!("closed by the client (clean close), {bytes} bytes served")
        }
        // Nothing is wrong on the wire: the client closed properly. But its last line had no
        // newline, so it left in the middle of what a person would call a request.
        Ok(Served { bytes, mid_line: true }) => {
            format!("closed by the client (clean close) in the middle of a line, {bytes} bytes served")
        }
        // The client's kernel sent a reset (RST): it vanished without a proper close.
        Err(error) if error.kind() == ErrorKind::ConnectionReset => "reset by the client".to_string(),
        Err(error) => format!("error: {error}"),
    };
    println!("client {number} {ending}");
}

/// What a connection came to, once the client closed it.
struct Served {
    bytes: u64,
    /// The last byte the client sent was not a newline.
    mid_line: bool,
}

/// Read, upper-case, reply, until the client closes its side.
fn upper_case_until_closed(mut stream: TcpStream) -> std::io::Result<Served> {
    let mut buf = vec![0; 64 * 1024];
    // TCP delivers bytes, not characters: one read can end in the middle of a multi-byte
    // character, whose other bytes come with the next read. Those bytes wait here.
    let mut unfinished: Vec<u8> = Vec::new();
    let mut served = Served { bytes: 0, mid_line: false };
    loop {
        let len = stream.read(&mut buf)?;
        if len == 0 {
            // A read of 0 bytes is TCP's end of stream: the client has closed its side (or only
            // half-closed it, with shutdown(write)). Everything it sent has been answered, so
            // the bytes still unfinished are sent back as they are. Returning drops the stream,
            // and closing it sends our FIN: the client reads 0 bytes in turn.
            stream.write_all(&unfinished)?;
            return Ok(served);
        }
        served.bytes += len as u64;
        served.mid_line = buf[len - 1] != b'\n';
        let read = &mut buf[..len];
        let all_ascii = upper_case_ascii(read);
        if all_ascii && unfinished.is_empty() {
            // The fast path, and the one most text takes: every byte was ASCII, and no part of
            // a character waits from the read before. The reply is these bytes, upper-cased
            // where they lie: no copy, no allocation, no decoding.
            stream.write_all(read)?;
        } else {
            // Anything else takes the careful path: characters of several bytes, maybe one cut
            // off at the end, maybe bytes that are not UTF-8 at all.
            unfinished.extend_from_slice(read);
            let complete = complete_utf8_len(&unfinished);
            stream.write_all(&to_upper(&unfinished[..complete]))?;
            unfinished.drain(..complete);
        }
    }
}

/// Upper-case the ASCII letters in `bytes` where they lie, in one pass, and say whether every
/// byte was ASCII.
///
/// An ASCII byte (below 0x80) is a whole character on its own: UTF-8 spells the first 128
/// characters exactly as ASCII does, one byte each, and every byte of a longer character is
/// 0x80 or above. So an ASCII byte is never half of anything, whatever the read cut off, and
/// its capital is one byte too: it can be raised without decoding anything. The bytes of
/// longer characters, and bytes that are not UTF-8 at all, are left as they are, for the
/// careful path.
fn upper_case_ascii(bytes: &mut [u8]) -> bool {
    let mut seen = 0;
    for byte in bytes {
        seen |= *byte;
        byte.make_ascii_uppercase();
    }
    // Only a byte of 0x80 or above sets the top bit.
    seen.is_ascii()
}

/// How many leading bytes can be upper-cased now: all of them, except a character cut off at
/// the very end, whose remaining bytes have not arrived yet.
///
/// The original lesson's Python server decodes each read on its own; when a read ends in the middle of a
/// character, `decode("utf-8")` raises, and the client is dropped for sending valid text.
fn complete_utf8_len(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        // error_len() is None when the bytes are not wrong, only unfinished: keep them.
        Err(error) if error.error_len().is_none() => error.valid_up_to(),
        // Bytes that are not UTF-8 at all will never become a character: pass them on.
        Err(_) => bytes.len() - unfinished_tail(bytes),
    }
}

/// The length of an unfinished character at the very end of `bytes` (0 to 3).
fn unfinished_tail(bytes: &[u8]) -> usize {
    (1..=3.min(bytes.len()))
        .find(|&n| {
            let tail = &bytes[bytes.len() - n..];
            matches!(std::str::from_utf8(tail), Err(e) if e.error_len().is_none() && e.valid_up_to() == 0)
        })
        .unwrap_or(0)
}

/// Upper-case text; bytes that are not UTF-8 get only their ASCII letters raised.
fn to_upper(bytes: &[u8]) -> Vec<u8> {
    let mut upper = Vec::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        upper.extend_from_slice(chunk.valid().to_uppercase().as_bytes());
        upper.extend_from_slice(chunk.invalid());
    }
    upper
}

/// The client: connect, then send each line typed and print the reply.
fn talk(server: SocketAddr) -> Result<()> {
    // connect() is the three-way handshake. With nobody listening, the server's kernel answers
    // with a reset and connect fails at once: "connection refused".
    let stream = TcpStream::connect(server).with_context(|| format!("connecting to tcp://{server}"))?;
    eprintln!("connected to tcp://{server} from {}; type lines, Ctrl-D quits", stream.local_addr()?);
    let mut replies = BufReader::new(stream.try_clone()?);
    let mut writer = stream;

    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading stdin")?;
        writer.write_all(format!("{line}\n").as_bytes()).context("sending")?;
        // The reply ends where the request did, at the newline: read up to it, however many
        // reads the stream takes to deliver it.
        let mut reply = Vec::new();
        if replies.read_until(b'\n', &mut reply).context("receiving")? == 0 {
            println!("the server closed the connection");
            return Ok(());
        }
        print_reply(&reply);
    }
    // "I have nothing more to send": the server reads 0 bytes, answers what is left, closes.
    writer.shutdown(Shutdown::Write)?;
    let mut rest = Vec::new();
    replies.read_to_end(&mut rest)?;
    rest.split_inclusive(|&byte| byte == b'\n').for_each(print_reply);
    Ok(())
}

/// Print one line of the server's reply. Its bytes are the peer's, not ours: control
/// characters are shown escaped, so that a server sending ESC sequences cannot clear our
/// screen or retitle the window.
fn print_reply(line: &[u8]) {
    println!("{}", lab_common::as_text(line.strip_suffix(b"\n").unwrap_or(line)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_cut_at_the_end_waits_for_its_other_bytes() {
        let cafe = "café".as_bytes();
        assert_eq!(complete_utf8_len(&cafe[..4]), 3);
        assert_eq!(complete_utf8_len(cafe), 5);
        assert_eq!(complete_utf8_len(&"张".as_bytes()[..2]), 0);
    }

    #[test]
    fn bytes_that_are_not_utf8_pass_through() {
        assert_eq!(complete_utf8_len(b"ab\xffcd"), 5);
        assert_eq!(complete_utf8_len(b"\xff\xe5\xbc"), 1);
        assert_eq!(to_upper(b"ab\xffcd"), b"AB\xffCD");
        assert_eq!(to_upper("straße 张三".as_bytes()), "STRASSE 张三".as_bytes());
    }

    #[test]
    fn ascii_is_raised_in_place_and_the_rest_left_for_the_careful_path() {
        let mut ascii = *b"hello, World 42\n";
        assert!(upper_case_ascii(&mut ascii));
        assert_eq!(&ascii, b"HELLO, WORLD 42\n");
        let mut mixed = "café \u{ff}".as_bytes().to_vec();
        assert!(!upper_case_ascii(&mut mixed));
        assert_eq!(mixed, "CAFé \u{ff}".as_bytes());
        assert_eq!(to_upper(&mixed), "CAFÉ \u{178}".as_bytes());
    }
}
