//! # tcp-chat: the "simple QQ" one-to-one chat, over TCP
//!
//! Two people type to each other: one runs the server, the other the client. TCP needs the
//! server first: a client with nobody to connect to is refused at once. And TCP needs a
//! connection per conversation: while the server talks to one client, the next ones wait,
//! connected, in the kernel's accept queue, and are served in turn when the conversation ends.
//!
//! Lockstep (the seed lessons' form, the default): the client speaks first, then they take
//! turns; a line typed out of turn waits until the other side's line has arrived, but a quit
//! word or the end of input ends the conversation at once, even with a silent partner. Duplex
//! (the seeds' "next step"): one thread sends what you type while another prints what arrives,
//! so either side may type at any time.
//!
//! On the wire every message is one line of UTF-8 ending in `\n`, up to 1 MiB however many
//! reads it takes to arrive. A quit word (`q` or `88`, any case) is sent like any line, and
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

use std::collections::VecDeque;
use std::io::{BufRead, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use lab_common::framing::{self, DEFAULT_MAX, Decoder, Framing};

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

/// How both sides chat: the settings each conversation needs.
#[derive(Clone)]
struct Chat {
    mode: Mode,
    quit: Vec<String>,
    framing: Framing,
}

impl Chat {
    fn new(args: ChatArgs) -> Chat {
        Chat { mode: args.mode, quit: args.quit, framing: Framing::Line { max: args.max_line } }
    }

    /// A quit word, whatever its case: `Q` and `q` both end the conversation.
    ///
    /// The seed's server compared the bytes it received with the string 'q'; in Python 3
    /// bytes never equal a string, so its server never noticed a quit. Compare like with like.
    fn is_quit(&self, line: &[u8]) -> bool {
        let text = String::from_utf8_lossy(line);
        self.quit.iter().any(|word| word.eq_ignore_ascii_case(text.trim()))
    }
}

fn main() -> ExitCode {
    let result = match Cli::parse().role {
        Role::Server { bind, chat } => serve(bind, Chat::new(chat)),
        Role::Client { server, chat } => talk(server, Chat::new(chat)),
    };
    lab_common::exit(result)
}

/// The server: listen, then serve one conversation after another, in the order the clients
/// connected (the seed lesson's nested loop: accept outside, chat inside).
fn serve(bind: SocketAddr, chat: Chat) -> Result<()> {
    let listener = TcpListener::bind(bind).with_context(|| format!("binding tcp://{bind}"))?;
    lab_common::print_ready("tcp", listener.local_addr()?);
    let keyboard = Keyboard::start(true, chat.clone());

    // While we chat with one client, the kernel goes on completing handshakes with the next
    // ones and keeps them in the accept queue, with whatever they send. accept only takes the
    // next one out: nothing they sent meanwhile is lost.
    for (number, stream) in (1..).zip(listener.incoming()) {
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                eprintln!("accept failed: {error}");
                continue;
            }
        };
        let them = format!("client {number}");
        let from = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
        println!("{them} connected from {from}");
        eprintln!("{}", turn_hint(chat.mode, &them, false, &chat.quit));
        keyboard.between_conversations(false);
        match converse(stream, &them, number, false, &chat, &keyboard) {
            Ok(Ending::InputEnded) => {
                println!("end of input: said goodbye to {them}");
                return Ok(());
            }
            Ok(ending) => println!("{}", ending.describe(&them)),
            // A conversation's failure is reported and ends there: the server goes on.
            Err(error) => println!("{them}: the conversation ended with an error: {error:#}"),
        }
        if keyboard.between_conversations(true) {
            println!("end of input: goodbye");
            return Ok(());
        }
        eprintln!("waiting for the next client (any that connected meanwhile are first in the queue)");
    }
    unreachable!("incoming() never ends")
}

/// The client: connect, then chat until either side quits.
fn talk(server: SocketAddr, chat: Chat) -> Result<()> {
    // connect() is the three-way handshake. With nobody listening on that port, the server's
    // kernel answers our SYN with a reset, and connect fails at once: "connection refused".
    // There is no waiting for a server that might start later; start it first.
    let stream = TcpStream::connect(server).with_context(|| format!("connecting to tcp://{server}"))?;
    eprintln!("connected to tcp://{server} from {}", stream.local_addr()?);
    eprintln!("{}", turn_hint(chat.mode, "the server", true, &chat.quit));
    let keyboard = Keyboard::start(false, chat.clone());
    let ending = converse(stream, "server", 0, true, &chat, &keyboard)?;
    println!("{}", ending.describe("the server"));
    Ok(())
}

fn turn_hint(mode: Mode, them: &str, we_start: bool, quit: &[String]) -> String {
    let turns = match (mode, we_start) {
        (Mode::Lockstep, true) => "you speak first, then wait for each reply".to_string(),
        (Mode::Lockstep, false) => format!("{them} speaks first; type your reply when its line arrives"),
        (Mode::Duplex, _) => "duplex: type at any time".to_string(),
    };
    format!("({turns}; {} ends the conversation)", quit.join(" or "))
}

/// How a conversation ended.
enum Ending {
    /// We typed a quit word (and sent it).
    WeQuit,
    /// They sent a quit word.
    TheyQuit,
    /// They closed the connection without a quit word.
    TheyLeft,
    /// Our input ended (Ctrl-D): we said goodbye with a quit word.
    InputEnded,
}

impl Ending {
    fn describe(&self, them: &str) -> String {
        match self {
            Ending::WeQuit => format!("you ended the conversation with {them}"),
            Ending::TheyQuit => format!("{them} ended the conversation"),
            Ending::TheyLeft => format!("{them} closed the connection"),
            Ending::InputEnded => format!("end of input: said goodbye to {them}"),
        }
    }
}

/// One conversation, over one connection, in the chosen mode. `id` tells this conversation's
/// news apart from a finished one's.
fn converse(
    stream: TcpStream,
    them: &str,
    id: u32,
    we_start: bool,
    chat: &Chat,
    keyboard: &Keyboard,
) -> Result<Ending> {
    let lines = LineReader::new(stream.try_clone()?, chat.framing);
    match chat.mode {
        Mode::Lockstep => {
            let ending = take_turns(stream.try_clone()?, lines, them, id, we_start, chat, keyboard);
            // However it ended, its reading thread may be blocked in a read: shutting down both
            // directions sends our FIN and ends that read, so the thread ends and the socket
            // closes.
            let _ = stream.shutdown(Shutdown::Both);
            ending
        }
        Mode::Duplex => talk_freely(stream, lines, them, id, chat, keyboard),
    }
}

/// Lockstep, as the seeds chat: send a line, wait for theirs, send the next.
///
/// The seeds wait for their line in a blocking read. Then nobody looks at the keyboard until
/// it arrives: a silent partner holds us forever, and even a quit word or the end of input
/// waits for them. So here a thread reads their lines, one each time it is their turn, and
/// passes each on through the keyboard's queue: the conversation waits in one place for
/// whatever comes first. A line typed out of turn is kept until our turn; a quit word or the
/// end of input ends the conversation at once.
fn take_turns(
    mut stream: TcpStream,
    lines: LineReader,
    them: &str,
    id: u32,
    we_start: bool,
    chat: &Chat,
    keyboard: &Keyboard,
) -> Result<Ending> {
    let their_turn = read_on_request(lines, them, id, chat, keyboard);
    let mut typed_early = VecDeque::new();
    let mut our_turn = we_start;
    if !our_turn {
        let _ = their_turn.send(());
    }
    let ending = loop {
        let kept = if our_turn { typed_early.pop_front() } else { None };
        match kept.map_or_else(|| keyboard.next(), Input::Typed) {
            // Enter alone sends nothing, as in the seeds.
            Input::Typed(line) if line.is_empty() => {}
            // A quit word cannot wait for the turn: it is how the user leaves a silent partner.
            Input::Typed(line) if our_turn || chat.is_quit(&line) => {
                if !send_line(&mut stream, chat, &line)? {
                    continue; // not sent: the turn stays ours
                }
                if chat.is_quit(&line) {
                    break Ending::WeQuit;
                }
                our_turn = false;
                let _ = their_turn.send(());
            }
            Input::Typed(line) => typed_early.push_back(line),
            Input::KeyboardClosed => {
                say_goodbye(&mut stream, chat);
                break Ending::InputEnded;
            }
            Input::Heard(conversation, heard) if conversation == id => match heard? {
                Some(ending) => break ending,
                None => our_turn = true,
            },
            // News of a conversation that is already over (TheyLeft is duplex's news).
            Input::Heard(..) | Input::TheyLeft(_) => {}
        }
    };
    if !typed_early.is_empty() {
        eprintln!("not sent: {} line(s) typed while it was {them}'s turn", typed_early.len());
    }
    Ok(ending)
}

/// Start a thread that reads and prints one line of theirs each time it is asked, and reports
/// through the keyboard's queue. It reads no further ahead than lockstep allows: a client that
/// sends out of turn is held back by TCP's flow control, not queued in our memory.
fn read_on_request(
    mut lines: LineReader,
    them: &str,
    id: u32,
    chat: &Chat,
    keyboard: &Keyboard,
) -> Sender<()> {
    let (ask, asked) = mpsc::channel();
    let (wake, them, chat) = (keyboard.sender(), them.to_string(), chat.clone());
    thread::spawn(move || {
        // Ends when the conversation drops its sender, or the keyboard's queue is gone.
        for () in asked {
            let heard = print_next_line(&mut lines, &them, &chat);
            if wake.send(Input::Heard(id, heard)).is_err() {
                return;
            }
        }
    });
    ask
}

/// Duplex: a thread prints every line that arrives while this one sends every line typed.
/// Whichever side ends the conversation, both directions are shut down and the thread ends.
fn talk_freely(
    mut stream: TcpStream,
    mut lines: LineReader,
    them: &str,
    id: u32,
    chat: &Chat,
    keyboard: &Keyboard,
) -> Result<Ending> {
    let (wake, receiving_chat, receiving_them) = (keyboard.sender(), chat.clone(), them.to_string());
    let receiving = thread::spawn(move || {
        let heard = loop {
            match print_next_line(&mut lines, &receiving_them, &receiving_chat) {
                Ok(None) => continue,
                Ok(Some(ending)) => break Ok(ending),
                Err(error) => break Err(error),
            }
        };
        // The sending side is waiting on the keyboard: tell it this conversation is over.
        let _ = wake.send(Input::TheyLeft(id));
        heard
    });
    let sent = loop {
        match send_typed_line(&mut stream, id, chat, keyboard) {
            Ok(None) => continue,
            Ok(Some(ending)) => break Ok(ending),
            Err(error) => break Err(error),
        }
    };
    // shutdown(Both) sends our FIN after anything still queued (a quit word, say), and makes
    // the receiving thread's blocked read return 0, so it ends even if they never close.
    let _ = stream.shutdown(Shutdown::Both);
    let heard = receiving.join().expect("the receiving thread does not panic");
    match sent {
        // They ended it: the receiving thread knows how.
        Ok(Ending::TheyLeft) => heard,
        ours => ours,
    }
}

/// Our turn: take the next typed line and send it. `Some` when the conversation is over.
fn send_typed_line(
    stream: &mut TcpStream,
    id: u32,
    chat: &Chat,
    keyboard: &Keyboard,
) -> Result<Option<Ending>> {
    loop {
        match keyboard.next() {
            // Enter alone sends nothing, as in the seeds: your turn stays yours.
            Input::Typed(line) if line.is_empty() => continue,
            Input::Typed(line) => {
                if !send_line(stream, chat, &line)? {
                    continue;
                }
                return Ok(chat.is_quit(&line).then_some(Ending::WeQuit));
            }
            Input::KeyboardClosed => {
                say_goodbye(stream, chat);
                return Ok(Some(Ending::InputEnded));
            }
            Input::TheyLeft(conversation) if conversation == id => return Ok(Some(Ending::TheyLeft)),
            // News of a conversation that is already over.
            Input::TheyLeft(_) | Input::Heard(..) => continue,
        }
    }
}

/// Send one typed line, with its newline. False when it is too long to send: nothing was sent.
fn send_line(stream: &mut TcpStream, chat: &Chat, line: &[u8]) -> Result<bool> {
    let bytes = match framing::encode(chat.framing, line) {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!("not sent: {error}");
            return Ok(false);
        }
    };
    stream.write_all(&bytes).context("sending")?;
    Ok(true)
}

/// Our user is gone; the protocol's goodbye is a quit word. They may be gone too, so a failure
/// to say it is no error.
fn say_goodbye(stream: &mut TcpStream, chat: &Chat) {
    let goodbye = format!("{}\n", chat.quit[0]);
    let _ = stream.write_all(goodbye.as_bytes());
}

/// Their turn: wait for their next line and print it. `Some` when the conversation is over.
fn print_next_line(lines: &mut LineReader, them: &str, chat: &Chat) -> Result<Option<Ending>> {
    let Some(line) = lines.next_line().with_context(|| format!("receiving from {them}"))? else {
        return Ok(Some(Ending::TheyLeft));
    };
    println!("{them}: {}", lab_common::as_text(&line));
    Ok(chat.is_quit(&line).then_some(Ending::TheyQuit))
}

/// Lines from a TCP stream. TCP delivers bytes, not lines: one read may return half a line,
/// or three lines and a bit. The decoder keeps bytes until their newline arrives, so a 100 KB
/// line comes out whole; the seeds' `recv(1024)` cut it into a hundred "messages".
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

/// What reaches a conversation, in one queue: a typed line, the end of typing, or news from
/// the thread that reads conversation `u32`'s socket.
enum Input {
    Typed(Vec<u8>),
    KeyboardClosed,
    /// Lockstep: their line arrived and was printed; `Some` when it ended the conversation.
    Heard(u32, Result<Option<Ending>>),
    /// Duplex: the other side has gone.
    TheyLeft(u32),
}

/// The keyboard (stdin), read line by line on a thread of its own for the whole program. A
/// conversation takes the typed lines from a queue: a server blocked in `accept` leaves them
/// there, in order, until it has someone to talk to. The threads that read a socket put their
/// news in the same queue, so a conversation waits in one place.
struct Keyboard {
    sender: Sender<Input>,
    inputs: Receiver<Input>,
    /// The server waits in accept, with nobody to say goodbye to: end of input ends it there.
    idle: Arc<AtomicBool>,
    /// The user's input has ended.
    closed: Arc<AtomicBool>,
}

impl Keyboard {
    /// Start reading; `idle` when the program has nobody to talk to yet (a server).
    fn start(idle: bool, chat: Chat) -> Keyboard {
        let (sender, inputs) = mpsc::channel();
        let typing = sender.clone();
        let (idle, closed) = (Arc::new(AtomicBool::new(idle)), Arc::new(AtomicBool::new(false)));
        let (idle_now, closed_now) = (idle.clone(), closed.clone());
        thread::spawn(move || {
            let mut stdin = std::io::stdin().lock();
            loop {
                let mut line = Vec::new();
                match stdin.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => {
                        closed_now.store(true, Ordering::SeqCst);
                        if idle_now.load(Ordering::SeqCst) {
                            println!("end of input: goodbye");
                            std::process::exit(0);
                        }
                        let _ = typing.send(Input::KeyboardClosed);
                        return;
                    }
                    Ok(_) => {
                        while line.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
                            line.pop();
                        }
                        // A server with nobody connected has nobody to send to. Keeping the
                        // line would hand it to the next client as if typed for them; a quit
                        // word here can only mean "stop the server".
                        if idle_now.load(Ordering::SeqCst) {
                            if chat.is_quit(&line) {
                                println!("quit word with nobody connected: goodbye");
                                std::process::exit(0);
                            }
                            eprintln!("(nobody is connected: that line was not sent)");
                            continue;
                        }
                        if typing.send(Input::Typed(line)).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Keyboard { sender, inputs, idle, closed }
    }

    /// The server tells the keyboard when it is between conversations, waiting in accept
    /// (true), or talking (false). True back when the input has already ended: nothing more
    /// to serve.
    fn between_conversations(&self, idle: bool) -> bool {
        self.idle.store(idle, Ordering::SeqCst);
        idle && self.closed.load(Ordering::SeqCst)
    }

    /// A way for another thread to wake a conversation that waits on the keyboard.
    fn sender(&self) -> Sender<Input> {
        self.sender.clone()
    }

    fn next(&self) -> Input {
        // We hold a sender ourselves, so the queue never disconnects: recv only waits.
        self.inputs.recv().expect("the keyboard holds its own sender")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat() -> Chat {
        Chat { mode: Mode::Lockstep, quit: vec!["q".into(), "88".into()], framing: Framing::Line { max: 8 } }
    }

    #[test]
    fn quit_words_match_in_any_case_and_only_whole() {
        let chat = chat();
        assert!(chat.is_quit(b"q"));
        assert!(chat.is_quit(b"Q"));
        assert!(chat.is_quit(b"88"));
        assert!(!chat.is_quit(b"quit"));
        assert!(!chat.is_quit(b"q is for quit"));
    }

    #[test]
    fn received_text_is_shown_as_it_is_and_bytes_escaped() {
        assert_eq!(lab_common::as_text("你好, 张三".as_bytes()), "你好, 张三");
        assert_eq!(lab_common::as_text(b"\xff ok"), r#""\xff ok""#);
    }
}
