//! # udp-chat: the "simple QQ" chat over UDP, where either side may start first
//!
//! UDP has no connection, so the two ends of a chat are alike: each binds a port and sends
//! datagrams to the other's address. Nothing checks that the other end exists. A line sent
//! before it starts is lost, and `send` still reports success; once both run, lines flow both
//! ways. Start them in either order.
//!
//! The original lessons call the end that waits "the server": it learns its peer from the first
//! datagram, as `recvfrom` says who sent it. The other end, "the client", speaks first. `peer`
//! is either end, with both addresses given.
//!
//! Each end `connect`s its UDP socket to the other's address. Nothing is sent: connect only
//! fixes the destination, makes the kernel drop datagrams from anyone else that arrive from
//! then on (one already queued stays: we check each sender too), and lets it report
//! an ICMP "port unreachable" that comes back for one of our datagrams, once, as "connection
//! refused" on our next send or receive. That is the only sign a line was lost, and only when
//! the other machine says so; TCP, by contrast, refuses the connect itself (at once, on Linux).
//!
//! Every message is one datagram: the line's UTF-8, no newline, up to 65,507 bytes. A quit
//! word (`q` or `88`, any case) is sent like any line, and ends the chat for both.
//!
//! Try it by hand, one terminal each:
//!
//! ```text
//! cargo lab udp-chat client                 # first: your line is sent, and lost
//! cargo lab udp-chat server                 # prints listening on udp://127.0.0.1:8889
//! cargo lab udp-chat client                 # type a line; the server's side answers
//! cargo lab udp-chat peer --bind 127.0.0.1:7001 --peer 127.0.0.1:7002
//! cargo lab udp-chat peer --bind 127.0.0.1:7002 --peer 127.0.0.1:7001
//! ```

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use lab_common::keyboard::{Alone, Input, QuitWords, WhileAlone};

/// The keyboard, as this lab uses it: its only news is that they quit, from the duplex
/// receiving thread.
type Keyboard = lab_common::keyboard::Keyboard<TheyQuit>;

/// The largest datagram we receive whole: more than UDP over IPv4 can carry (65,507 bytes), so
/// the kernel never has to cut one.
const BUF: usize = 65_536;

/// How long lockstep waits in silence for the other side's line before it says why that may
/// last forever.
const PATIENCE: Duration = Duration::from_secs(30);

/// The most one UDP datagram over IPv4 carries: 65,535 less the IP and UDP headers.
const MAX_DATAGRAM: usize = 65_507;

fn main() -> ExitCode {
    let result = match Cli::parse().role {
        Role::Server { bind, port, chat } => {
            serve(lab_common::listen_addr(bind, port), chat.or_mode(Mode::Lockstep))
        }
        Role::Client { server, chat } => talk(None, server, chat.or_mode(Mode::Lockstep)),
        // Two peers in lockstep both start with their turn, so neither reads until it has
        // spoken, and their lines cross. Duplex lets each print what arrives at once.
        Role::Peer { bind, peer, chat } => talk(Some(bind), peer, chat.or_mode(Mode::Duplex)),
    };
    lab_common::exit(result)
}

/// The server: bind, wait for the first datagram from anyone, then chat with its sender.
fn serve(bind: SocketAddr, chat: Chat) -> Result<()> {
    let socket = UdpSocket::bind(bind).with_context(|| format!("binding udp://{bind}"))?;
    let addr = socket.local_addr()?;
    lab_common::print_ready("udp", addr);
    lab_common::server::say_who_can_reach(addr);
    // Lines typed before anyone speaks are kept for whoever does: this server has one peer.
    let keyboard = Keyboard::for_server(chat.quit.clone(), WhileAlone::KeepLines);
    eprintln!("(waiting for someone to speak first; {} ends the chat)", chat.quit.listed());

    // There is no accept: whoever sends the first datagram is the one we chat with. recvfrom
    // is the only place their address comes from. (It waits on a thread of its own: the
    // operator may leave first, and nothing portable wakes a recvfrom.)
    let waiting = socket.try_clone().context("cloning the socket")?;
    let (first, peer) = match keyboard.until_left(move || receive_first(&waiting)) {
        Alone::Came(received) => received.context("receiving the first datagram")?,
        Alone::Left(goodbye) => {
            println!("{}", goodbye.describe());
            return Ok(());
        }
    };
    keyboard.begin_conversation();
    // From now on the socket is "connected" to that peer: sends go there, and the kernel drops
    // datagrams from any other address as they arrive. But connect does not empty the queue: a
    // stranger's datagram that arrived before it is still there, so every receive checks the
    // sender as well (see receive). The original lesson's server replied to whoever sent last, so anyone
    // could cut into the conversation.
    socket.connect(peer).with_context(|| format!("connecting the socket to udp://{peer}"))?;
    println!("{peer} spoke first; chatting with it, and ignoring anyone else");
    println!("client: {}", lab_common::as_text(&first));
    if chat.quit.is_quit(&first) {
        println!("{}", Ending::TheyQuit.describe("the client"));
        return Ok(());
    }
    let ending = converse(socket, "client", &chat, &keyboard)?;
    println!("{}", ending.describe("the client"));
    Ok(())
}

/// The first datagram, from anyone, and who sent it.
fn receive_first(socket: &UdpSocket) -> std::io::Result<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0; BUF];
    let (len, from) = socket.recv_from(&mut buf)?;
    buf.truncate(len);
    Ok((buf, from))
}

/// The client (or a peer): bind, connect the socket to the other end, and speak first.
fn talk(bind: Option<SocketAddr>, peer: SocketAddr, chat: Chat) -> Result<()> {
    let (socket, them) = match bind {
        Some(bind) => {
            let socket = UdpSocket::bind(bind).with_context(|| format!("binding udp://{bind}"))?;
            let addr = socket.local_addr()?;
            lab_common::print_ready("udp", addr);
            lab_common::server::say_who_can_reach(addr);
            (socket, "peer")
        }
        None => {
            let local = lab_common::local_addr_for(peer);
            let socket = UdpSocket::bind(local).with_context(|| format!("binding udp://{local}"))?;
            (socket, "server")
        }
    };
    // connect on a UDP socket sends nothing and cannot fail for want of a listener: there is no
    // handshake. Compare tcp-chat, whose connect is refused at once.
    socket.connect(peer).with_context(|| format!("connecting the socket to udp://{peer}"))?;
    eprintln!("sending to udp://{peer} from {}; nothing checks that anyone is there", socket.local_addr()?);
    eprintln!("(you may speak first; {} ends the chat)", chat.quit.listed());
    let keyboard = Keyboard::for_client(chat.quit.clone());
    let ending = converse(socket, them, &chat, &keyboard)?;
    println!("{}", ending.describe(&format!("the {them}")));
    Ok(())
}

/// How a chat ended.
enum Ending {
    WeQuit,
    TheyQuit,
    /// Our input ended (Ctrl-D): we said goodbye with a quit word.
    InputEnded,
}

impl Ending {
    fn describe(&self, them: &str) -> String {
        match self {
            Ending::WeQuit => format!("you ended the chat with {them}"),
            Ending::TheyQuit => format!("{them} ended the chat"),
            Ending::InputEnded => format!("end of input: said goodbye to {them}"),
        }
    }
}

/// How both ends chat: the settings the chat needs.
struct Chat {
    mode: Mode,
    quit: QuitWords,
}

/// The chat itself, over a connected socket, in the chosen mode.
fn converse(socket: UdpSocket, them: &str, chat: &Chat, keyboard: &Keyboard) -> Result<Ending> {
    match chat.mode {
        Mode::Lockstep => take_turns(socket, them, chat, keyboard),
        Mode::Duplex => talk_freely(socket, them, chat, keyboard),
    }
}

/// Lockstep: send a line, wait for theirs, send the next. A line typed out of turn waits in
/// the keyboard's queue.
fn take_turns(socket: UdpSocket, them: &str, chat: &Chat, keyboard: &Keyboard) -> Result<Ending> {
    let mut buf = vec![0; BUF];
    // We speak first: the client always does, and the server's peer has just spoken.
    let mut our_turn = true;
    // Lockstep over UDP can stall for good: nothing resends a lost datagram, so if one line is
    // lost, each side waits for the other. We cannot tell a loss from a quiet partner; after a
    // while of silence we say so, and keep waiting.
    socket.set_read_timeout(Some(PATIENCE)).context("setting a receive timeout")?;
    loop {
        if our_turn {
            if let Some(ending) = send_typed_line(&socket, chat, keyboard)? {
                return Ok(ending);
            }
            our_turn = false;
            continue;
        }
        match receive(&socket, &mut buf)? {
            Heard::Line(line) => {
                println!("{them}: {}", lab_common::as_text(&line));
                if chat.quit.is_quit(&line) {
                    return Ok(Ending::TheyQuit);
                }
                our_turn = true;
            }
            // Our line never arrived: no reply is coming. The turn is ours again.
            Heard::Refused => {
                report_refused();
                our_turn = true;
            }
            Heard::Silence => eprintln!(
                "(nothing from the {them} for {} s. UDP never resends: if a line was lost, both sides \
                 now wait for each other. Ctrl-C ends the chat.)",
                PATIENCE.as_secs()
            ),
        }
    }
}

/// Duplex's news, from the receiving thread to the sending one: they sent a quit word.
struct TheyQuit;

/// Duplex: a thread prints every datagram that arrives while this one sends every line typed.
fn talk_freely(socket: UdpSocket, them: &str, chat: &Chat, keyboard: &Keyboard) -> Result<Ending> {
    let receiving = socket.try_clone()?;
    let (news, them, quit) = (keyboard.news(), them.to_string(), chat.quit.clone());
    thread::spawn(move || {
        let mut buf = vec![0; BUF];
        loop {
            match receive(&receiving, &mut buf) {
                Ok(Heard::Line(line)) => {
                    println!("{them}: {}", lab_common::as_text(&line));
                    if quit.is_quit(&line) {
                        news.send(TheyQuit);
                        return;
                    }
                }
                Ok(Heard::Refused) => report_refused(),
                // Duplex sets no receive timeout: it never waits in silence for a turn.
                Ok(Heard::Silence) => {}
                Err(error) => eprintln!("{error:#}"),
            }
        }
    });
    // The receiving thread needs no stopping: when the chat ends, the program does.
    loop {
        if let Some(ending) = send_typed_line(&socket, chat, keyboard)? {
            return Ok(ending);
        }
    }
}

/// What one receive brought.
enum Heard {
    Line(Vec<u8>),
    /// An earlier datagram of ours reached a port where nobody listens.
    Refused,
    /// Nothing arrived within the receive timeout.
    Silence,
}

/// Receive one datagram from the peer the socket is connected to.
fn receive(socket: &UdpSocket, buf: &mut [u8]) -> Result<Heard> {
    let peer = socket.peer_addr().context("finding the peer the socket is connected to")?;
    loop {
        let (len, from) = match socket.recv_from(buf) {
            Ok(received) => received,
            // When a datagram of ours reaches a port with no socket, that machine's kernel
            // answers with an ICMP "port unreachable". Our kernel matches it to this connected
            // socket and hands it to us once, as an error on our next call, send or receive;
            // here that is usually this receive. On Linux an unconnected socket (the original lessons') is
            // not told unless it sets IP_RECVERR; on Windows its next recvfrom fails with
            // WSAECONNRESET.
            Err(error) if error.kind() == ErrorKind::ConnectionRefused => return Ok(Heard::Refused),
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(Heard::Silence);
            }
            Err(error) => return Err(error).context("receiving"),
        };
        if from == peer {
            return Ok(Heard::Line(buf[..len].to_vec()));
        }
        // Only a datagram queued before connect can come from anyone else.
        eprintln!("(ignored a datagram from {from}: this chat is with {peer})");
    }
}

/// Say that a line of ours was lost, and how we know. The send itself "succeeded": the line
/// left, reached a port with nobody on it, and was dropped there. What came back is the
/// kernel's ICMP port-unreachable, which a connected socket hears as "connection refused".
fn report_refused() {
    println!(
        "(that line was lost: nobody listens there, and the kernel's ICMP reply came back as \"connection refused\")"
    );
}

/// Our turn: take the next typed line and send it as one datagram. `Some` when the chat is over.
fn send_typed_line(socket: &UdpSocket, chat: &Chat, keyboard: &Keyboard) -> Result<Option<Ending>> {
    loop {
        match keyboard.next() {
            // Enter alone sends nothing, as in the original lessons: your turn stays yours.
            Input::Typed(line) if line.is_empty() => continue,
            // One datagram carries the line whole, or not at all: there is no "rest" to follow.
            Input::Typed(line) if line.len() > MAX_DATAGRAM => {
                eprintln!(
                    "not sent: one datagram carries at most {MAX_DATAGRAM} bytes, this line has {}",
                    line.len()
                );
                continue;
            }
            Input::Typed(line) => {
                send(socket, &line)?;
                return Ok(chat.quit.is_quit(&line).then_some(Ending::WeQuit));
            }
            Input::Ended => {
                // The protocol's goodbye is a quit word; nobody may be there to hear it.
                let _ = socket.send(chat.quit.goodbye().as_bytes());
                return Ok(Some(Ending::InputEnded));
            }
            Input::News(TheyQuit) => return Ok(Some(Ending::TheyQuit)),
        }
    }
}

/// Send one datagram.
fn send(socket: &UdpSocket, line: &[u8]) -> Result<()> {
    match socket.send(line) {
        Ok(_) => Ok(()),
        // The kernel may report an earlier datagram's ICMP error on this send instead of a
        // receive. It concerns that datagram, not this one: report it and send again.
        Err(error) if error.kind() == ErrorKind::ConnectionRefused => {
            report_refused();
            socket.send(line).context("sending")?;
            Ok(())
        }
        Err(error) => Err(error).context("sending"),
    }
}

/// UDP, shown by a one-to-one chat: either end may start first, a line sent to nobody is lost
/// without an error at the sender, and a connected socket hears of it later as "connection
/// refused".
#[derive(Parser)]
#[command(name = "udp-chat", version)]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
enum Role {
    /// Wait for someone to speak first, then chat with them: you type the server's side. Shows
    /// that a UDP server accepts nobody; it learns its peer from the first datagram, and from
    /// then on ignores datagrams from anyone else.
    Server {
        /// Address to listen on; port 0 lets the OS pick a free one.
        #[arg(long, value_parser = lab_common::address, default_value = "127.0.0.1:8889")]
        bind: SocketAddr,
        /// Port on 127.0.0.1 to listen on: the same as `--bind 127.0.0.1:PORT`.
        #[arg(long, conflicts_with = "bind")]
        port: Option<u16>,
        #[command(flatten)]
        chat: ChatArgs,
    },
    /// Chat with the server, speaking first. Shows that sending to nobody "succeeds": the line
    /// is lost, and only a later receive hears "connection refused", from an ICMP message.
    Client {
        /// The server to send to.
        #[arg(long, value_parser = lab_common::address, default_value = "127.0.0.1:8889")]
        server: SocketAddr,
        #[command(flatten)]
        chat: ChatArgs,
    },
    /// Either end of a chat, with both addresses given: UDP makes both ends alike. Start two,
    /// each with the other's address, in either order.
    Peer {
        /// Address to listen on.
        #[arg(long, value_parser = lab_common::address)]
        bind: SocketAddr,
        /// The other peer's address.
        #[arg(long, value_parser = lab_common::address)]
        peer: SocketAddr,
        #[command(flatten)]
        chat: ChatArgs,
    },
}

#[derive(clap::Args)]
struct ChatArgs {
    /// Take turns (lockstep: the default for server and client, as the original lessons chat), or type at
    /// any time (duplex: the default for peer, whose two ends may both speak first).
    #[arg(long, value_enum)]
    mode: Option<Mode>,
    /// The words that end the chat when either side types one (any case).
    #[arg(long = "quit", value_name = "WORD", num_args = 1.., default_values = ["q", "88"])]
    quit: Vec<String>,
}

impl ChatArgs {
    /// The chat's settings, in `mode` unless `--mode` said otherwise.
    fn or_mode(self, mode: Mode) -> Chat {
        Chat { mode: self.mode.unwrap_or(mode), quit: QuitWords::new(self.quit) }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// Take turns: after sending, wait for the other side's line before sending again.
    Lockstep,
    /// Send and receive on two threads: either side may type at any time.
    Duplex,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quit_words_match_in_any_case_and_only_whole() {
        let chat = ChatArgs { mode: None, quit: vec!["q".into(), "88".into()] }.or_mode(Mode::Lockstep);
        assert!(chat.quit.is_quit(b"Q"));
        assert!(chat.quit.is_quit(b"88"));
        assert!(!chat.quit.is_quit(b"q is for quit"));
    }

    #[test]
    fn received_text_is_shown_as_it_is_and_bytes_escaped() {
        assert_eq!(lab_common::as_text("你好".as_bytes()), "你好");
        assert_eq!(lab_common::as_text(b"\xff"), r#""\xff""#);
    }
}
