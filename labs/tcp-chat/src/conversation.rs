//! One conversation over one connection: how the turns are kept, in lockstep or duplex, while
//! the keyboard and the socket are read on threads of their own. The TCP itself (lines in,
//! lines out, connect and accept) is in `main.rs`.

use std::collections::VecDeque;
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{self, Sender};
use std::thread;

use anyhow::Result;
use lab_common::keyboard::{Input, QuitWords};

use crate::{Chat, Keyboard, LineReader, Mode, Sent, print_next_line, say_goodbye, send_line};

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

/// One conversation, over one connection, in the chosen mode.
pub fn converse(
    stream: TcpStream,
    them: &str,
    first: FirstTurn,
    chat: &Chat,
    keyboard: &Keyboard,
) -> Result<Ending> {
    let lines = LineReader::new(stream.try_clone()?, chat.framing);
    match chat.mode {
        Mode::Lockstep => {
            let ending = take_turns(stream.try_clone()?, lines, them, first, chat, keyboard);
            // However it ended, its reading thread may be blocked in a read: shutting down both
            // directions sends our FIN and ends that read, so the thread ends and the socket
            // closes.
            let _ = stream.shutdown(Shutdown::Both);
            ending
        }
        Mode::Duplex => talk_freely(stream, lines, them, chat, keyboard),
    }
}

/// Lockstep, as the original lessons chat: send a line, wait for theirs, send the next.
///
/// The original lessons wait for their line in a blocking read. Then nobody looks at the keyboard until
/// it arrives: a silent partner holds us forever, and even a quit word or the end of input
/// waits for them. So here a thread reads their lines, one each time it is their turn, and
/// passes each on through the keyboard's queue: the conversation waits in one place for
/// whatever comes first. A line typed out of turn is kept until our turn; a quit word or the
/// end of input ends the conversation at once.
fn take_turns(
    stream: TcpStream,
    lines: LineReader,
    them: &str,
    first: FirstTurn,
    chat: &Chat,
    keyboard: &Keyboard,
) -> Result<Ending> {
    let their_turn = read_on_request(lines, them, chat, keyboard);
    let mut typed_early = VecDeque::new();
    let mut our_turn = matches!(first, FirstTurn::Ours);
    if !our_turn {
        let _ = their_turn.send(());
    }
    let ending = loop {
        let kept = if our_turn { typed_early.pop_front() } else { None };
        match kept.map_or_else(|| keyboard.next(), Input::Typed) {
            // Enter alone sends nothing, as in the original lessons.
            Input::Typed(line) if line.is_empty() => {}
            // A quit word cannot wait for the turn: it is how the user leaves a silent partner.
            Input::Typed(line) if our_turn || chat.quit.is_quit(&line) => {
                match send_line(&stream, &line, them, chat, keyboard)? {
                    Sent::Whole => {}
                    Sent::TooLong => continue, // not sent: the turn stays ours
                    Sent::HungUp => break Ending::WeHungUp,
                }
                if chat.quit.is_quit(&line) {
                    break Ending::WeQuit;
                }
                our_turn = false;
                let _ = their_turn.send(());
            }
            Input::Typed(line) => typed_early.push_back(line),
            Input::Ended => {
                say_goodbye(&stream, them, chat, keyboard);
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
        eprintln!("not sent: {} line(s) typed while it was {them}'s turn", typed_early.len());
    }
    Ok(ending)
}

/// Start a thread that reads and prints one line of theirs each time it is asked, and reports
/// through the keyboard's queue. It reads no further ahead than lockstep allows: what a client
/// sends out of turn waits in our kernel's receive buffer, not in this program, and once that
/// is full TCP's flow control holds the client back.
fn read_on_request(mut lines: LineReader, them: &str, chat: &Chat, keyboard: &Keyboard) -> Sender<()> {
    let (ask, asked) = mpsc::channel();
    let (news, them, chat) = (keyboard.news(), them.to_string(), chat.clone());
    thread::spawn(move || {
        // Ends when the conversation drops its sender, or the keyboard's queue is gone.
        for () in asked {
            let heard = print_next_line(&mut lines, &them, &chat);
            if !news.send(News::Heard(heard)) {
                return;
            }
        }
    });
    ask
}

/// Duplex: a thread prints every line that arrives while this one sends every line typed.
/// Whichever side ends the conversation, both directions are shut down and the thread ends.
fn talk_freely(
    stream: TcpStream,
    mut lines: LineReader,
    them: &str,
    chat: &Chat,
    keyboard: &Keyboard,
) -> Result<Ending> {
    let (news, receiving_chat, receiving_them) = (keyboard.news(), chat.clone(), them.to_string());
    let receiving = thread::spawn(move || {
        let heard = loop {
            match print_next_line(&mut lines, &receiving_them, &receiving_chat) {
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
        match send_typed_line(&stream, them, chat, keyboard) {
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

/// Duplex, any time: take the next typed line and send it. `Some` when the conversation is over.
fn send_typed_line(
    stream: &TcpStream,
    them: &str,
    chat: &Chat,
    keyboard: &Keyboard,
) -> Result<Option<Ending>> {
    loop {
        match keyboard.next() {
            // Enter alone sends nothing, as in the original lessons.
            Input::Typed(line) if line.is_empty() => continue,
            Input::Typed(line) => match send_line(stream, &line, them, chat, keyboard)? {
                Sent::Whole => return Ok(chat.quit.is_quit(&line).then_some(Ending::WeQuit)),
                Sent::TooLong => continue,
                Sent::HungUp => return Ok(Some(Ending::WeHungUp)),
            },
            Input::Ended => {
                say_goodbye(stream, them, chat, keyboard);
                return Ok(Some(Ending::InputEnded));
            }
            Input::News(News::TheyLeft) => return Ok(Some(Ending::TheyLeft)),
            // Lockstep's news; duplex never sends it.
            Input::News(News::Heard(_)) => continue,
        }
    }
}
