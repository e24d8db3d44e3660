//! The keyboard of a chat (tcp-chat, udp-chat): stdin, read line by line on a thread of its
//! own for the whole program.
//!
//! A chat waits for two things at once: the user's typing and the other side's lines. A
//! thread blocked reading a socket cannot also read the keyboard, so the keyboard gets its own
//! thread and puts what it reads in a queue. Threads that read the network put their news in
//! the same queue, so a conversation waits in one place, [`Keyboard::next`], for whatever
//! comes first.
//!
//! A program that talks to one party after another (tcp-chat's server) tells the keyboard when
//! a conversation begins and ends. News from a thread of an earlier conversation is never
//! handed to a later one.

use std::io::BufRead;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;

/// The words that end a conversation when either side types one, in any case (`q` and `88`).
#[derive(Clone, Debug)]
pub struct QuitWords(Vec<String>);

impl QuitWords {
    /// `words` is what `--quit` gave: at least one word.
    pub fn new(words: Vec<String>) -> QuitWords {
        assert!(!words.is_empty(), "clap asks for at least one quit word");
        QuitWords(words)
    }

    /// A quit word, whatever its case: `Q` and `q` both end the conversation.
    ///
    /// The seed's server compared the bytes it received with the string 'q'; in Python 3
    /// bytes never equal a string, so its server never noticed a quit. Compare like with like.
    pub fn is_quit(&self, line: &[u8]) -> bool {
        let text = String::from_utf8_lossy(line);
        self.0.iter().any(|word| word.eq_ignore_ascii_case(text.trim()))
    }

    /// The word sent as a goodbye when the user's input ends: the first one.
    pub fn goodbye(&self) -> &str {
        &self.0[0]
    }

    /// The words as a hint says them: `q or 88`.
    pub fn listed(&self) -> String {
        self.0.join(" or ")
    }
}

/// What reaches a conversation, in one queue.
#[derive(Debug)]
pub enum Input<N> {
    /// A line the user typed, without its line ending.
    Typed(Vec<u8>),
    /// The user's input has ended (Ctrl-D, or the end of a pipe).
    Ended,
    /// News from another thread of this conversation (one that reads the network, say).
    News(N),
}

/// What a program with nobody to talk to does with the lines its user types.
#[derive(Clone, Copy, Debug)]
pub enum WhileAlone {
    /// Keep them, in order, for the first conversation: udp-chat's server, whose only peer is
    /// whoever speaks first.
    KeepLines,
    /// Say they were not sent, and forget them; a quit word ends the program: tcp-chat's
    /// server, whose next client must not get lines typed for nobody.
    DropLines,
}

/// The keyboard's queue, and what the program has told it.
#[derive(Debug)]
pub struct Keyboard<N> {
    inputs: Receiver<Stamped<N>>,
    /// Kept so that the queue never disconnects: `next` only ever waits.
    sender: Sender<Stamped<N>>,
    state: Arc<Mutex<State>>,
}

/// An input, and the conversation it belongs to.
#[derive(Debug)]
struct Stamped<N> {
    conversation: u64,
    input: Input<N>,
}

#[derive(Debug)]
struct State {
    /// The conversation in progress, or `None` while nobody is there to talk to.
    conversation: Option<u64>,
    /// The number the next conversation gets.
    next: u64,
    alone: WhileAlone,
    /// The user's input has ended.
    ended: bool,
}

/// How a conversation left the keyboard, once it is over.
#[derive(Debug)]
pub struct AfterConversation {
    /// The user's input has ended: there is nothing more to type for anyone.
    pub input_ended: bool,
}

impl<N: Send + 'static> Keyboard<N> {
    /// A client's keyboard: it has someone to talk to from the start, in one conversation.
    pub fn for_client(quit: QuitWords) -> Keyboard<N> {
        let keyboard = Keyboard::start(quit, WhileAlone::KeepLines);
        keyboard.begin_conversation();
        keyboard
    }

    /// A server's keyboard: nobody to talk to yet. With nobody there, the end of input ends
    /// the program, and typed lines are kept or dropped as `alone` says.
    pub fn for_server(quit: QuitWords, alone: WhileAlone) -> Keyboard<N> {
        Keyboard::start(quit, alone)
    }

    fn start(quit: QuitWords, alone: WhileAlone) -> Keyboard<N> {
        let (sender, inputs) = mpsc::channel();
        let state = State { conversation: None, next: 1, alone, ended: false };
        let keyboard = Keyboard { inputs, sender, state: Arc::new(Mutex::new(state)) };
        let (typing, state) = (keyboard.sender.clone(), keyboard.state.clone());
        thread::spawn(move || read_typing(std::io::stdin().lock(), &typing, &state, &quit));
        keyboard
    }

    /// Someone is there to talk to: lines typed from now on are for them.
    pub fn begin_conversation(&self) {
        let mut state = lock(&self.state);
        state.conversation = Some(state.next);
        state.next += 1;
    }

    /// The conversation is over: nobody is there to talk to until the next one begins.
    pub fn end_conversation(&self) -> AfterConversation {
        let mut state = lock(&self.state);
        state.conversation = None;
        AfterConversation { input_ended: state.ended }
    }

    /// The next input for the conversation in progress: waits until there is one.
    pub fn next(&self) -> Input<N> {
        loop {
            // We hold a sender ourselves, so the queue never disconnects: recv only waits.
            let stamped = self.inputs.recv().expect("the keyboard holds its own sender");
            match stamped.input {
                // News from a thread of a conversation that is already over.
                Input::News(_) if !self.is_current(stamped.conversation) => continue,
                input => return input,
            }
        }
    }

    /// A way for another thread of this conversation to wake it while it waits on the keyboard.
    pub fn news(&self) -> News<N> {
        let conversation = lock(&self.state).conversation.unwrap_or(0);
        News { conversation, sender: self.sender.clone() }
    }

    fn is_current(&self, conversation: u64) -> bool {
        lock(&self.state).conversation == Some(conversation)
    }
}

/// Where a conversation's other threads send their news: see [`Keyboard::news`].
#[derive(Debug)]
pub struct News<N> {
    conversation: u64,
    sender: Sender<Stamped<N>>,
}

impl<N> News<N> {
    /// Hand `news` to the conversation. False when the keyboard is gone: nobody will read it.
    pub fn send(&self, news: N) -> bool {
        self.sender.send(Stamped { conversation: self.conversation, input: Input::News(news) }).is_ok()
    }
}

/// The keyboard's thread: each typed line goes to the conversation in progress, or is dealt
/// with as `WhileAlone` says when there is none.
fn read_typing<N>(
    mut stdin: impl BufRead,
    typing: &Sender<Stamped<N>>,
    state: &Mutex<State>,
    quit: &QuitWords,
) {
    loop {
        let mut line = Vec::new();
        let ended = matches!(stdin.read_until(b'\n', &mut line), Ok(0) | Err(_));
        while line.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
            line.pop();
        }
        let mut state = lock(state);
        state.ended |= ended;
        let conversation = match (state.conversation, state.alone) {
            (Some(conversation), _) => conversation,
            // Nobody to talk to, and nothing more to type: the program is done. Its main thread
            // waits in accept or recvfrom, which nothing portable interrupts, so this thread
            // ends the process. Every line printed so far has been flushed: stdout is
            // line-buffered.
            (None, _) if ended => {
                println!("end of input: goodbye");
                std::process::exit(0);
            }
            (None, WhileAlone::KeepLines) => state.next,
            // A server with nobody connected has nobody to send to. Keeping the line would
            // hand it to the next client as if typed for them; a quit word here can only
            // mean "stop the server".
            (None, WhileAlone::DropLines) if quit.is_quit(&line) => {
                println!("quit word with nobody connected: goodbye");
                std::process::exit(0);
            }
            (None, WhileAlone::DropLines) => {
                eprintln!("(nobody is connected: that line was not sent)");
                continue;
            }
        };
        let input = if ended { Input::Ended } else { Input::Typed(line) };
        if typing.send(Stamped { conversation, input }).is_err() || ended {
            return;
        }
    }
}

/// The state, also if a thread panicked while holding it: it is a few plain values, always
/// consistent.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quit_words_match_in_any_case_and_only_whole() {
        let quit = QuitWords::new(vec!["q".into(), "88".into()]);
        assert!(quit.is_quit(b"q"));
        assert!(quit.is_quit(b"Q"));
        assert!(quit.is_quit(b"88"));
        assert!(quit.is_quit(b" q "));
        assert!(!quit.is_quit(b"quit"));
        assert!(!quit.is_quit(b"q is for quit"));
        assert_eq!(quit.goodbye(), "q");
        assert_eq!(quit.listed(), "q or 88");
    }
}
