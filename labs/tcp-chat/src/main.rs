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
//! so either side may type at any time. This file is the TCP: connect, and accept one client
//! after another; a `Conversation` (`conversation.rs`) owns each connection and keeps the turns.
//!
//! On the wire every message is one line of UTF-8 ending in `\n`, up to 1 MiB however many
//! reads it takes to arrive (`lines.rs`). A quit word (`q` in either case, or `88`) is sent like any line, and
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
mod lines;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use conversation::{Chat, Conversation, Ending, FirstTurn, Keyboard, Mode};
use lab_common::framing::{DEFAULT_MAX, Framing};
use lab_common::keyboard::{Alone, QuitWords, WhileAlone};
use lab_common::server;

fn main() -> ExitCode {
    let result = match Cli::parse().role {
        Role::Server { bind, port, chat } => serve(lab_common::listen_addr(bind, port), chat.into()),
        Role::Client { server, chat } => talk(server, chat.into()),
    };
    lab_common::exit(result)
}

/// The server: listen, then serve one conversation after another, in the order the clients
/// connected (the original lesson's nested loop: accept outside, chat inside).
fn serve(bind: SocketAddr, chat: Chat) -> Result<()> {
    let listener = TcpListener::bind(bind).with_context(|| format!("binding tcp://{bind}"))?;
    let addr = listener.local_addr()?;
    // Shared with the thread that waits in accept (see next_client).
    let listener = Arc::new(listener);
    lab_common::print_ready("tcp", addr);
    server::say_who_can_reach(addr);
    // The operator types while the socket may have something to read: one thread cannot block
    // on both. The keyboard reads stdin on a thread of its own and queues each line, marked
    // with the conversation it was typed in, so a line never reaches another client.
    let keyboard = Keyboard::for_server(chat.quit.clone(), WhileAlone::DropLines);

    // While we chat with one client, the kernel goes on completing handshakes with the next
    // ones and keeps them in the accept queue (up to its backlog, 128 from std: past that, new
    // clients wait for their SYN to be sent again), with whatever they send. accept only takes the
    // next one out: nothing they sent meanwhile is lost.
    for number in 1.. {
        let Some(stream) = next_client(&listener, &keyboard) else {
            // The program ends, and with it the listening socket: clients still waiting in its
            // accept queue are reset by the kernel, and see "connection reset".
            return Ok(());
        };
        let them = format!("client {number}");
        let from = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
        println!("{them} connected from {from}");
        eprintln!("{}", conversation::turn_hint(chat.mode, &them, FirstTurn::Theirs, &chat.quit));
        if let Stop::InputEnded = chat_with(stream, &them, &chat, &keyboard) {
            return Ok(());
        }
        eprintln!("waiting for the next client (any that connected meanwhile are first in the queue)");
    }
    unreachable!("there is always a next number")
}

/// The next client out of the accept queue, or `None` when the operator leaves first (the end
/// of input, or a quit word, with nobody connected).
///
/// Nothing portable wakes a thread blocked in accept, so accept waits on a thread of its own
/// and the keyboard says which came first. (`server::incoming` is std's `listener.incoming()`,
/// except that a failed accept, such as running out of file descriptors, makes it pause, not spin.)
fn next_client(listener: &Arc<TcpListener>, keyboard: &Keyboard) -> Option<TcpStream> {
    let listener = Arc::clone(listener);
    match keyboard.until_left(move || server::incoming(&listener).accept()) {
        Alone::Came((stream, _)) => Some(stream),
        Alone::Left(goodbye) => {
            println!("{}", goodbye.describe());
            None
        }
    }
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
    // The chat itself: a `Conversation` (conversation.rs) owns the connection and keeps the
    // turns; its lines cross the wire as lines.rs frames them.
    match Conversation::new(stream, them, chat, keyboard).run(FirstTurn::Theirs) {
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
    let ending = Conversation::new(stream, "server", &chat, &keyboard).run(FirstTurn::Ours)?;
    println!("{}", ending.describe("the server"));
    Ok(())
}

impl From<ChatArgs> for Chat {
    fn from(args: ChatArgs) -> Chat {
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// The command line is well formed: no clashing names, every default parses.
    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// A server started with no flags chats in lockstep, ends on q or 88, and takes lines up
    /// to 1 MiB; the flags change each of these.
    #[test]
    fn the_chat_settings_come_from_the_flags() {
        let Role::Server { chat, port, .. } = Cli::parse_from(["tcp-chat", "server"]).role else {
            panic!("parsed as a server")
        };
        let chat = Chat::from(chat);
        assert!(matches!(chat.mode, Mode::Lockstep) && port.is_none());
        assert_eq!(chat.quit.listed(), "q or 88");
        assert_eq!(chat.framing, Framing::Line { max: 1024 * 1024 });
        let args = ["tcp-chat", "client", "--mode", "duplex", "--quit", "bye", "--max-line", "8"];
        let Role::Client { chat, .. } = Cli::parse_from(args).role else { panic!("parsed as a client") };
        let chat = Chat::from(chat);
        assert!(matches!(chat.mode, Mode::Duplex));
        assert_eq!(chat.quit.listed(), "bye");
        assert_eq!(chat.framing, Framing::Line { max: 8 });
    }

    /// The quit words by default are q and 88, in any case, and only a whole line of one.
    #[test]
    fn quit_words_match_in_any_case_and_only_whole() {
        let Role::Client { chat, .. } = Cli::parse_from(["tcp-chat", "client"]).role else {
            panic!("parsed as a client")
        };
        let quit = Chat::from(chat).quit;
        assert!(quit.is_quit(b"q") && quit.is_quit(b"Q") && quit.is_quit(b"88"));
        assert!(!quit.is_quit(b"quit") && !quit.is_quit(b"q is for quit"));
    }

    /// `--port` is `--bind 127.0.0.1:PORT`, and the two cannot both be given.
    #[test]
    fn port_is_a_shorthand_for_bind_on_loopback() {
        let Role::Server { bind, port, .. } = Cli::parse_from(["tcp-chat", "server", "--port", "0"]).role
        else {
            panic!("parsed as a server")
        };
        assert_eq!(lab_common::listen_addr(bind, port), "127.0.0.1:0".parse().unwrap());
        assert!(Cli::try_parse_from(["tcp-chat", "server", "--port", "1", "--bind", "127.0.0.1:2"]).is_err());
    }
}
