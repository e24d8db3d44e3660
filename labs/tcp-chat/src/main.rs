//! # tcp-chat: the "simple QQ" one-to-one chat, over TCP
//!
//! Two people type to each other: one runs the server, the other the client. TCP needs the
//! server first: a client with nobody to connect to is refused (at once, on Linux, when the
//! machine is there to answer). And TCP needs a
//! connection per conversation: while the server talks to one client, the next ones wait,
//! connected, in the kernel's accept queue, and are served in turn when the conversation ends.
//!
//! Lockstep (the original lessons' form, the default): the client speaks first, then they take
//! turns; a line typed out of turn waits until the other side's line has arrived, but a quit
//! word or the end of input ends the conversation at once, even with a silent partner. Duplex
//! (the original lessons' "next step"): one thread sends what you type while another prints what arrives,
//! so either side may type at any time. How the turns are kept is in `conversation.rs`; this
//! file is the TCP: connect, accept, lines in, lines out.
//!
//! On the wire every message is one line of UTF-8 ending in `\n`, up to 1 MiB however many
//! reads it takes to arrive. A quit word (`q` in either case, or `88`) is sent like any line, and
//! ends the conversation for both.
//!
//! Try it by hand, one terminal each:
//!
//! ```text
//! cargo lab tcp-chat client                 # first: refused, nobody listens yet
//! cargo lab tcp-chat server                 # prints listening on tcp://127.0.0.1:9000
//! cargo lab tcp-chat client                 # type a line; the server's side answers
//! cargo lab tcp-chat client                 # a second client: queued until the first quits
//! cargo lab tcp-chat server --mode duplex   # with `client --mode duplex`: type any time
//! ```

mod conversation;

use std::io::Read;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use conversation::{Ending, FirstTurn, converse};
use lab_common::framing::{self, DEFAULT_MAX, Decoder, Framing};
use lab_common::keyboard::{QuitWords, Stuck, WhileAlone};
use lab_common::server;

/// The keyboard, as this lab uses it: its news comes from the threads that read the socket.
type Keyboard = lab_common::keyboard::Keyboard<conversation::News>;

fn main() -> ExitCode {
    let result = match Cli::parse().role {
        Role::Server { bind, port, chat } => serve(lab_common::listen_addr(bind, port), Chat::new(chat)),
        Role::Client { server, chat } => talk(server, Chat::new(chat)),
    };
    lab_common::exit(result)
}

/// The server: listen, then serve one conversation after another, in the order the clients
/// connected (the original lesson's nested loop: accept outside, chat inside).
fn serve(bind: SocketAddr, chat: Chat) -> Result<()> {
    let listener = TcpListener::bind(bind).with_context(|| format!("binding tcp://{bind}"))?;
    let addr = listener.local_addr()?;
    lab_common::print_ready("tcp", addr);
    server::say_who_can_reach(addr);
    // The operator types while the socket may have something to read: one thread cannot block
    // on both. The keyboard reads stdin on a thread of its own and queues each line, marked
    // with the conversation it was typed in, so a line never reaches another client. (With
    // nobody connected, the end of input or a quit word ends the server from that thread.)
    let keyboard = Keyboard::for_server(chat.quit.clone(), WhileAlone::DropLines);

    // While we chat with one client, the kernel goes on completing handshakes with the next
    // ones and keeps them in the accept queue (up to its backlog, 128 from std: past that, new
    // clients wait for their SYN to be sent again), with whatever they send. accept only takes the
    // next one out: nothing they sent meanwhile is lost. (`server::incoming` is std's
    // `listener.incoming()`, except that a failed accept, such as running out of file
    // descriptors, makes it pause, not spin.)
    for (number, stream) in (1..).zip(server::incoming(&listener)) {
        let them = format!("client {number}");
        let from = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
        println!("{them} connected from {from}");
        eprintln!("{}", conversation::turn_hint(chat.mode, &them, FirstTurn::Theirs, &chat.quit));
        if let Stop::InputEnded = chat_with(stream, &them, &chat, &keyboard) {
            // Returning closes the listening socket: clients still waiting in its accept queue
            // are reset by the kernel, and see "connection reset".
            return Ok(());
        }
        eprintln!("waiting for the next client (any that connected meanwhile are first in the queue)");
    }
    unreachable!("incoming() never ends")
}

/// Whether the server goes on to the next client.
enum Stop {
    NextClient,
    /// The operator's input has ended: the server stops.
    InputEnded,
}

/// One conversation, from its first line to its end, which is reported; a failure ends only
/// this conversation. Lines typed for it and not sent are dropped (and counted), never kept
/// for the next client.
fn chat_with(stream: TcpStream, them: &str, chat: &Chat, keyboard: &Keyboard) -> Stop {
    keyboard.begin_conversation();
    // The chat itself: `converse` (conversation.rs) keeps the turns, and calls `send_line` and
    // `print_next_line` below for each line out and in.
    match converse(stream, them, FirstTurn::Theirs, chat, keyboard) {
        Ok(Ending::InputEnded) => {
            println!("end of input: said goodbye to {them}");
            return Stop::InputEnded;
        }
        Ok(ending) => println!("{}", ending.describe(them)),
        Err(error) => println!("{them}: the conversation ended with an error: {error:#}"),
    }
    let after = keyboard.end_conversation();
    if after.unsent > 0 {
        eprintln!("not sent: {} line(s) typed for {them}, whose conversation is over", after.unsent);
    }
    if after.input_ended {
        println!("end of input: goodbye");
        return Stop::InputEnded;
    }
    Stop::NextClient
}

/// The client: connect, then chat until either side quits.
fn talk(server: SocketAddr, chat: Chat) -> Result<()> {
    // connect() is the three-way handshake. With nobody listening on that port, the server's
    // kernel answers our SYN with a reset, and connect fails at once (on Linux; a machine that
    // does not answer at all, behind a firewall, makes it wait): "connection refused".
    // There is no waiting for a server that might start later; start it first.
    let stream = TcpStream::connect(server).with_context(|| format!("connecting to tcp://{server}"))?;
    // Connected means the server's kernel completed the handshake, not that the server has
    // called accept: while it talks to another client, we wait in its accept queue, and
    // nothing on our side can tell the two apart. What we send meanwhile waits there too.
    eprintln!(
        "connected to tcp://{server} from {} (the kernel completed the handshake; if the server is busy \
         with another client, we wait in its accept queue until it is free: we cannot tell which)",
        stream.local_addr()?
    );
    eprintln!("{}", conversation::turn_hint(chat.mode, "the server", FirstTurn::Ours, &chat.quit));
    let keyboard = Keyboard::for_client(chat.quit.clone());
    let ending = converse(stream, "server", FirstTurn::Ours, &chat, &keyboard)?;
    println!("{}", ending.describe("the server"));
    Ok(())
}

/// Lines from a TCP stream. TCP delivers bytes, not lines: one read may return half a line,
/// or three lines and a bit. The decoder keeps bytes until their newline arrives, so a 100 KB
/// line comes out whole; the original lessons' `recv(1024)` cut it into a hundred "messages".
struct LineReader {
    stream: TcpStream,
    decoder: Decoder,
    buf: Vec<u8>,
}

impl LineReader {
    fn new(stream: TcpStream, framing: Framing) -> LineReader {
        LineReader { stream, decoder: Decoder::new(framing), buf: vec![0; 64 * 1024] }
    }

    /// The next whole line, without its newline (nor a `\r` before it); `None` once they have
    /// closed the connection. A line longer than the bound is an error: the decoder stops
    /// there instead of buffering without end.
    fn next_line(&mut self) -> Result<Option<Vec<u8>>> {
        loop {
            if let Some(mut line) = self.decoder.next_message()? {
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(line));
            }
            // A read of 0 bytes is TCP's end of stream: they closed their side. If half a line
            // was left, say so rather than drop it silently.
            let len = self.stream.read(&mut self.buf)?;
            if len == 0 {
                self.decoder.finish()?;
                return Ok(None);
            }
            self.decoder.push(&self.buf[..len]);
        }
    }
}

/// What became of a typed line.
enum Sent {
    Whole,
    /// Too long for the protocol: nothing was sent.
    TooLong,
    /// They were not reading, and our user hung up before it could go.
    HungUp,
}

/// Send one typed line, with its newline.
///
/// TCP has flow control: when they do not read, their receive buffer fills, then our send
/// buffer, and the write blocks until they read, maybe never. Blocked there we cannot look at
/// the keyboard, so its thread is told how to hang up: a quit word (or the end of input)
/// shuts the connection down, which makes the blocked write fail at once.
fn send_line(stream: &TcpStream, line: &[u8], them: &str, chat: &Chat, keyboard: &Keyboard) -> Result<Sent> {
    let bytes = match framing::encode(chat.framing, line) {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!("not sent: {error}");
            return Ok(Sent::TooLong);
        }
    };
    let mut stuck = None;
    let written = lab_common::tcp::write_all_or_notice_stall(stream, &bytes, || {
        eprintln!(
            "({them} has not read what we sent: its receive buffer and our send buffer are full, so \
             this line waits for room; {} hangs up)",
            chat.quit.listed()
        );
        let connection = stream.try_clone();
        stuck = Some(keyboard.hang_up_on_quit(move || {
            if let Ok(connection) = connection {
                let _ = connection.shutdown(Shutdown::Both);
            }
        }));
    });
    if stuck.as_ref().is_some_and(Stuck::hung_up) {
        return Ok(Sent::HungUp);
    }
    written.context("sending")?;
    Ok(Sent::Whole)
}

/// Our user is gone; the protocol's goodbye is a quit word. They may be gone too, or not
/// reading (then the goodbye hangs up), so a failure to say it is no error.
fn say_goodbye(stream: &TcpStream, them: &str, chat: &Chat, keyboard: &Keyboard) {
    let _ = send_line(stream, chat.quit.goodbye().as_bytes(), them, chat, keyboard);
}

/// Their turn: wait for their next line and print it. `Some` when the conversation is over.
fn print_next_line(lines: &mut LineReader, them: &str, chat: &Chat) -> Result<Option<Ending>> {
    let Some(line) = lines.next_line().with_context(|| format!("receiving from {them}"))? else {
        return Ok(Some(Ending::TheyLeft));
    };
    println!("{them}: {}", lab_common::as_text(&line));
    Ok(chat.quit.is_quit(&line).then_some(Ending::TheyQuit))
}

/// How both sides chat: the settings each conversation needs.
#[derive(Clone)]
struct Chat {
    mode: Mode,
    quit: QuitWords,
    framing: Framing,
}

impl Chat {
    fn new(args: ChatArgs) -> Chat {
        Chat {
            mode: args.mode,
            quit: QuitWords::new(args.quit),
            framing: Framing::Line { max: args.max_line },
        }
    }
}

/// TCP, shown by a one-to-one chat: the server must run first, one conversation at a time
/// while the next clients wait in the accept queue, long lines arrive whole (up to 1 MiB),
/// and a quit word ends the conversation for both sides.
#[derive(Parser)]
#[command(name = "tcp-chat", version)]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
enum Role {
    /// Chat with one client at a time: you type the server's side. Clients that connect
    /// meanwhile wait, connected, in the kernel's accept queue; when a conversation ends, the
    /// next one is served, and nothing it already sent is lost.
    Server {
        /// Address to listen on; port 0 lets the OS pick a free one.
        #[arg(long, value_parser = lab_common::address, default_value = "127.0.0.1:9000")]
        bind: SocketAddr,
        /// Port on 127.0.0.1 to listen on: the same as `--bind 127.0.0.1:PORT`.
        #[arg(long, conflicts_with = "bind")]
        port: Option<u16>,
        #[command(flatten)]
        chat: ChatArgs,
    },
    /// Connect to the server and chat. Shows that TCP needs the server first: with nobody
    /// listening, connect is refused at once.
    Client {
        /// The server to connect to.
        #[arg(long, value_parser = lab_common::address, default_value = "127.0.0.1:9000")]
        server: SocketAddr,
        #[command(flatten)]
        chat: ChatArgs,
    },
}

#[derive(clap::Args)]
struct ChatArgs {
    /// Take turns, client first (lockstep), or type at any time (duplex).
    #[arg(long, value_enum, default_value_t = Mode::Lockstep)]
    mode: Mode,
    /// The words that end the conversation when either side types one (any case).
    #[arg(long = "quit", value_name = "WORD", num_args = 1.., default_values = ["q", "88"])]
    quit: Vec<String>,
    /// The longest line accepted from the other side, in bytes; a longer one ends the
    /// conversation rather than fill our memory.
    #[arg(long, default_value_t = DEFAULT_MAX)]
    max_line: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// Take turns: each side waits for the other's line before it may send again.
    Lockstep,
    /// Send and receive on two threads: either side may type at any time.
    Duplex,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat() -> Chat {
        Chat {
            mode: Mode::Lockstep,
            quit: QuitWords::new(vec!["q".into(), "88".into()]),
            framing: Framing::Line { max: 8 },
        }
    }

    #[test]
    fn quit_words_match_in_any_case_and_only_whole() {
        let chat = chat();
        assert!(chat.quit.is_quit(b"q"));
        assert!(chat.quit.is_quit(b"Q"));
        assert!(chat.quit.is_quit(b"88"));
        assert!(!chat.quit.is_quit(b"quit"));
        assert!(!chat.quit.is_quit(b"q is for quit"));
    }

    #[test]
    fn received_text_is_shown_as_it_is_and_bytes_escaped() {
        assert_eq!(lab_common::as_text("你好, 张三".as_bytes()), "你好, 张三");
        assert_eq!(lab_common::as_text(b"\xff ok"), r#""\xff ok""#);
    }
}
