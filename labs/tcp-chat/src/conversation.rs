//! One conversation over one connection: how the turns are kept, in lockstep or duplex, while
//! the keyboard and the socket are read on threads of their own. A [`Conversation`] owns its
//! connection and what it needs to chat; `main.rs` accepts or connects, and hands it over.

use std::collections::VecDeque;
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{self, Sender};
use std::thread;

use anyhow::{Context, Result};
use clap::ValueEnum;
use lab_common::framing::Framing;
use lab_common::keyboard::{Input, QuitWords, Stuck};

use crate::lines::{self, Lines};

/// The keyboard, as this lab uses it: its news comes from the threads that read the socket.
pub type Keyboard = lab_common::keyboard::Keyboard<News>;

/// How both sides chat: the settings each conversation needs.
#[derive(Clone)]
pub struct Chat {
    pub mode: Mode,
    pub quit: QuitWords,
    pub framing: Framing,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Mode {
    /// Take turns: each side waits for the other's line before it may send again.
    Lockstep,
    /// Send and receive on two threads: either side may type at any time.
    Duplex,
}

/// Who speaks first in lockstep: the client; so the server waits for its line.
#[derive(Clone, Copy)]
pub enum FirstTurn {
    Ours,
    Theirs,
}

/// How a conversation ended.
pub enum Ending {
    /// We typed a quit word (and sent it).
    WeQuit,
    /// We typed a quit word while they were not reading what we sent: we hung up.
    WeHungUp,
    /// They sent a quit word.
    TheyQuit,
    /// They closed the connection without a quit word.
    TheyLeft,
    /// Our input ended (Ctrl-D): we said goodbye with a quit word.
    InputEnded,
}

impl Ending {
    pub fn describe(&self, them: &str) -> String {
        match self {
            Ending::WeQuit => format!("you ended the conversation with {them}"),
            Ending::WeHungUp => format!("you hung up on {them}, who was not reading"),
            Ending::TheyQuit => format!("{them} ended the conversation"),
            Ending::TheyLeft => format!("{them} closed the connection"),
            Ending::InputEnded => format!("end of input: said goodbye to {them}"),
        }
    }
}

/// News from the thread that reads the socket, through the keyboard's queue.
pub enum News {
    /// Lockstep: their line arrived and was printed; `Some` when it ended the conversation.
    Heard(Result<Option<Ending>>),
    /// Duplex: the other side has gone.
    TheyLeft,
}

/// What the user is told about turns when a conversation begins.
pub fn turn_hint(mode: Mode, them: &str, first: FirstTurn, quit: &QuitWords) -> String {
    let turns = match (mode, first) {
        (Mode::Lockstep, FirstTurn::Ours) => "you speak first, then wait for each reply".to_string(),
        (Mode::Lockstep, FirstTurn::Theirs) => {
            format!("{them} speaks first; type your reply when its line arrives")
        }
        (Mode::Duplex, _) => "duplex: type at any time".to_string(),
    };
    format!("({turns}; {} ends the conversation)", quit.listed())
}

/// One conversation: the connection it owns (for sending; a clone of it is read by [`Hearing`],
/// on a thread of its own), who is on the other end, how to chat, and the keyboard.
pub struct Conversation<'k> {
    stream: TcpStream,
    them: String,
    chat: Chat,
    keyboard: &'k Keyboard,
}

/// What became of a typed line.
enum Sent {
    Whole,
    /// Too long for the protocol: nothing was sent.
    TooLong,
    /// They were not reading, and our user hung up before it could go.
    HungUp,
}

impl<'k> Conversation<'k> {
    pub fn new(stream: TcpStream, them: &str, chat: &Chat, keyboard: &'k Keyboard) -> Conversation<'k> {
        Conversation { stream, them: them.to_string(), chat: chat.clone(), keyboard }
    }

    /// Chat, in the chosen mode, until either side ends it.
    pub fn run(self, first: FirstTurn) -> Result<Ending> {
        let hearing = Hearing {
            lines: Lines::new(self.stream.try_clone()?, self.chat.framing),
            them: self.them.clone(),
            quit: self.chat.quit.clone(),
        };
        let ending = match self.chat.mode {
            Mode::Lockstep => self.take_turns(hearing, first),
            Mode::Duplex => self.talk_freely(hearing),
        };
        // However it ended, the reading thread may be blocked in a read: shutting down both
        // directions sends our FIN (after anything still queued, a quit word, say) and makes
        // that read return, so the thread ends and the socket closes, even if they never close.
        let _ = self.stream.shutdown(Shutdown::Both);
        ending
    }

    /// Lockstep, as the original lessons chat: send a line, wait for theirs, send the next.
    ///
    /// The original lessons wait for their line in a blocking read. Then nobody looks at the
    /// keyboard until it arrives: a silent partner holds us forever, and even a quit word or the
    /// end of input waits for them. So here a thread reads their lines, one each time it is
    /// their turn, and passes each on through the keyboard's queue: the conversation waits in
    /// one place for whatever comes first. A line typed out of turn is kept until our turn; a
    /// quit word or the end of input ends the conversation at once.
    fn take_turns(&self, hearing: Hearing, first: FirstTurn) -> Result<Ending> {
        let their_turn = read_on_request(hearing, self.keyboard);
        let mut typed_early = VecDeque::new();
        let mut our_turn = matches!(first, FirstTurn::Ours);
        if !our_turn {
            let _ = their_turn.send(());
        }
        let ending = loop {
            let kept = if our_turn { typed_early.pop_front() } else { None };
            match kept.map_or_else(|| self.keyboard.next(), Input::Typed) {
                // Enter alone sends nothing, as in the original lessons.
                Input::Typed(line) if line.is_empty() => {}
                // A quit word cannot wait for the turn: it is how the user leaves a silent partner.
                Input::Typed(line) if our_turn || self.chat.quit.is_quit(&line) => {
                    match self.send(&line)? {
                        Sent::Whole => {}
                        Sent::TooLong => continue, // not sent: the turn stays ours
                        Sent::HungUp => break Ending::WeHungUp,
                    }
                    if self.chat.quit.is_quit(&line) {
                        break Ending::WeQuit;
                    }
                    our_turn = false;
                    let _ = their_turn.send(());
                }
                Input::Typed(line) => typed_early.push_back(line),
                Input::Ended => {
                    self.say_goodbye();
                    break Ending::InputEnded;
                }
                Input::News(News::Heard(heard)) => match heard? {
                    Some(ending) => break ending,
                    None => our_turn = true,
                },
                // Duplex's news; lockstep never sends it.
                Input::News(News::TheyLeft) => {}
            }
        };
        if !typed_early.is_empty() {
            eprintln!("not sent: {} line(s) typed while it was {}'s turn", typed_early.len(), self.them);
        }
        Ok(ending)
    }

    /// Duplex: a thread prints every line that arrives while this one sends every line typed.
    /// Whichever side ends the conversation, both directions are shut down and the thread ends.
    fn talk_freely(&self, mut hearing: Hearing) -> Result<Ending> {
        let news = self.keyboard.news();
        let receiving = thread::spawn(move || {
            let heard = loop {
                match hearing.print_next_line() {
                    Ok(None) => continue,
                    Ok(Some(ending)) => break Ok(ending),
                    Err(error) => break Err(error),
                }
            };
            // The sending side is waiting on the keyboard: tell it this conversation is over.
            news.send(News::TheyLeft);
            heard
        });
        let sent = loop {
            match self.send_typed_line() {
                Ok(None) => continue,
                Ok(Some(ending)) => break Ok(ending),
                Err(error) => break Err(error),
            }
        };
        // The receiving thread's read ends once both directions are shut down.
        let _ = self.stream.shutdown(Shutdown::Both);
        let heard = receiving.join().expect("the receiving thread does not panic");
        match sent {
            // They ended it: the receiving thread knows how.
            Ok(Ending::TheyLeft) => heard,
            ours => ours,
        }
    }

    /// Duplex, any time: take the next typed line and send it. `Some` when the conversation is over.
    fn send_typed_line(&self) -> Result<Option<Ending>> {
        loop {
            match self.keyboard.next() {
                // Enter alone sends nothing, as in the original lessons.
                Input::Typed(line) if line.is_empty() => continue,
                Input::Typed(line) => match self.send(&line)? {
                    Sent::Whole => return Ok(self.chat.quit.is_quit(&line).then_some(Ending::WeQuit)),
                    Sent::TooLong => continue,
                    Sent::HungUp => return Ok(Some(Ending::WeHungUp)),
                },
                Input::Ended => {
                    self.say_goodbye();
                    return Ok(Some(Ending::InputEnded));
                }
                Input::News(News::TheyLeft) => return Ok(Some(Ending::TheyLeft)),
                // Lockstep's news; duplex never sends it.
                Input::News(News::Heard(_)) => continue,
            }
        }
    }

    /// Send one typed line, with its newline.
    ///
    /// TCP has flow control: when they do not read, their receive buffer fills, then our send
    /// buffer, and the write blocks until they read, maybe never. Blocked there we cannot look
    /// at the keyboard, so its thread is told how to hang up: a quit word (or the end of input)
    /// shuts the connection down, which makes the blocked write fail at once.
    fn send(&self, line: &[u8]) -> Result<Sent> {
        let bytes = match lines::encode(self.chat.framing, line) {
            Ok(bytes) => bytes,
            Err(error) => {
                eprintln!("not sent: {error}");
                return Ok(Sent::TooLong);
            }
        };
        let mut stuck: Option<Stuck> = None;
        let written = lab_common::tcp::write_all_or_notice_stall(&self.stream, &bytes, || {
            eprintln!(
                "({} has not read what we sent: its receive buffer and our send buffer are full, so \
                 this line waits for room; {} hangs up)",
                self.them,
                self.chat.quit.listed()
            );
            let connection = self.stream.try_clone();
            stuck = Some(self.keyboard.hang_up_on_quit(move || {
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
    fn say_goodbye(&self) {
        let _ = self.send(self.chat.quit.goodbye().as_bytes());
    }
}

/// The receiving half of a conversation, owned by the thread that reads: their lines, printed
/// as they arrive.
struct Hearing {
    lines: Lines,
    them: String,
    quit: QuitWords,
}

impl Hearing {
    /// Wait for their next line and print it. `Some` when the conversation is over.
    fn print_next_line(&mut self) -> Result<Option<Ending>> {
        let them = &self.them;
        let Some(line) = self.lines.next_line().with_context(|| format!("receiving from {them}"))? else {
            return Ok(Some(Ending::TheyLeft));
        };
        println!("{}", shown(them, &line));
        Ok(self.quit.is_quit(&line).then_some(Ending::TheyQuit))
    }
}

/// A line of theirs as it is printed: who said it, and the text, with bytes that are not
/// text (or would act on the terminal) escaped.
fn shown(them: &str, line: &[u8]) -> String {
    format!("{them}: {}", lab_common::as_text(line))
}

/// Start a thread that reads and prints one line of theirs each time it is asked, and reports
/// through the keyboard's queue. It reads no further ahead than lockstep allows: what a client
/// sends out of turn waits in our kernel's receive buffer, not in this program, and once that
/// is full TCP's flow control holds the client back.
fn read_on_request(mut hearing: Hearing, keyboard: &Keyboard) -> Sender<()> {
    let (ask, asked) = mpsc::channel();
    let news = keyboard.news();
    thread::spawn(move || {
        // Ends when the conversation drops its sender, or the keyboard's queue is gone.
        for () in asked {
            let heard = hearing.print_next_line();
            if !news.send(News::Heard(heard)) {
                return;
            }
        }
    });
    ask
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text in any script is shown as it came; bytes that are not UTF-8 are shown escaped.
    #[test]
    fn received_text_is_shown_as_it_is_and_bytes_escaped() {
        assert_eq!(shown("client 1", "你好, 张三".as_bytes()), "client 1: 你好, 张三");
        assert_eq!(shown("server", b"\xff ok"), r#"server: "\xff ok""#);
    }

    /// Each side is told who speaks first in lockstep, and how to end the conversation.
    #[test]
    fn the_turn_hint_says_who_speaks_first_and_how_to_quit() {
        let quit = QuitWords::new(vec!["q".into(), "88".into()]);
        assert_eq!(
            turn_hint(Mode::Lockstep, "client 1", FirstTurn::Theirs, &quit),
            "(client 1 speaks first; type your reply when its line arrives; q or 88 ends the conversation)"
        );
        assert_eq!(
            turn_hint(Mode::Lockstep, "the server", FirstTurn::Ours, &quit),
            "(you speak first, then wait for each reply; q or 88 ends the conversation)"
        );
        assert!(
            turn_hint(Mode::Duplex, "client 1", FirstTurn::Theirs, &quit)
                .starts_with("(duplex: type at any time;")
        );
    }
}
