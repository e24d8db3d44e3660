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
//! a conversation begins and ends. Every input is stamped with the conversation it was typed
//! (or sent) in, and is only ever handed to that one: a line typed for a client that has gone
//! never reaches the next client.
//!
//! A program with nobody to talk to waits in `accept` or `recvfrom`, which nothing portable
//! interrupts, while its user may leave (the end of input, or a quit word). So it waits through
//! [`Keyboard::until_left`]: the blocking call runs on a thread of its own, and the program's
//! main loop hears whichever comes first, and returns.
//!
//! A conversation stuck sending to a peer that does not read is not waiting on the keyboard,
//! so a quit word would wait in the queue behind the stuck line for ever. While it is stuck,
//! the keyboard's own thread acts on a quit word (or the end of input): see
//! [`Keyboard::hang_up_on_quit`].

use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// The original lesson's server compared the bytes it received with the string 'q'; in Python 3
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

/// Why the user left while nobody was there to talk to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goodbye {
    /// The user's input ended.
    InputEnded,
    /// A quit word, typed to a server with nobody connected ([`WhileAlone::DropLines`]).
    QuitWord,
}

impl Goodbye {
    /// What the program says as it ends.
    pub fn describe(self) -> &'static str {
        match self {
            Goodbye::InputEnded => "end of input: goodbye",
            Goodbye::QuitWord => "quit word with nobody connected: goodbye",
        }
    }
}

/// What came first while nobody was there to talk to: see [`Keyboard::until_left`].
#[derive(Debug)]
pub enum Alone<T> {
    /// What the wait returned: someone to talk to.
    Came(T),
    /// The user left first.
    Left(Goodbye),
}

/// The keyboard's queue, and what the program has told it.
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

struct State {
    /// The conversation in progress, or `None` while nobody is there to talk to.
    conversation: Option<u64>,
    /// The number the next conversation gets.
    next: u64,
    alone: WhileAlone,
    /// The user's input has ended.
    ended: bool,
    /// The user has typed a quit word in this conversation, or ended input: they want out.
    leaving: bool,
    /// While the conversation is stuck sending: how to hang up on the other side.
    stuck: Option<HangUp>,
    /// The user left while nobody was there to talk to: the program is done.
    left: Option<Goodbye>,
    /// While the program waits with nobody to talk to: how to tell it that the user left.
    on_leaving: Option<Box<dyn FnOnce(Goodbye) + Send>>,
}

impl State {
    /// The user left with nobody there to talk to: tell the program, now if it is waiting in
    /// [`Keyboard::until_left`], or when it next does.
    fn leave(&mut self, goodbye: Goodbye) {
        self.left = Some(goodbye);
        if let Some(tell) = self.on_leaving.take() {
            tell(goodbye);
        }
    }
}

struct HangUp {
    hang_up: Box<dyn FnOnce() + Send>,
    done: Arc<AtomicBool>,
}

impl HangUp {
    fn run(self) {
        // Said before it is done: the conversation checks as soon as its write fails.
        self.done.store(true, Ordering::SeqCst);
        (self.hang_up)();
    }
}

/// How a conversation left the keyboard, once it is over.
#[derive(Debug)]
pub struct AfterConversation {
    /// The user's input has ended (or they left as the conversation began): there is
    /// nothing more to type for anyone.
    pub input_ended: bool,
    /// Lines typed for that conversation that it never took: they are dropped, not kept for
    /// the next one.
    pub unsent: usize,
}

impl<N: Send + 'static> Keyboard<N> {
    /// A client's keyboard: it has someone to talk to from the start, in one conversation.
    pub fn for_client(quit: QuitWords) -> Keyboard<N> {
        let keyboard = Keyboard::new(WhileAlone::KeepLines);
        // Before the keyboard's thread starts: an input that ends at once is a goodbye to the
        // server, not the end of a program with nobody to talk to.
        keyboard.begin_conversation();
        keyboard.reading(|| std::io::stdin().lock(), quit)
    }

    /// A server's keyboard: nobody to talk to yet. With nobody there, the end of input ends
    /// the program, and typed lines are kept or dropped as `alone` says.
    pub fn for_server(quit: QuitWords, alone: WhileAlone) -> Keyboard<N> {
        Keyboard::new(alone).reading(|| std::io::stdin().lock(), quit)
    }

    fn new(alone: WhileAlone) -> Keyboard<N> {
        let (sender, inputs) = mpsc::channel();
        let state = State {
            conversation: None,
            next: 1,
            alone,
            ended: false,
            leaving: false,
            stuck: None,
            left: None,
            on_leaving: None,
        };
        Keyboard { inputs, sender, state: Arc::new(Mutex::new(state)) }
    }

    /// Start the keyboard's thread, reading lines from what `open` gives it (stdin).
    fn reading<R: BufRead>(self, open: impl FnOnce() -> R + Send + 'static, quit: QuitWords) -> Keyboard<N> {
        let (typing, state) = (self.sender.clone(), self.state.clone());
        thread::spawn(move || read_typing(open(), &typing, &state, &quit));
        self
    }

    /// Someone is there to talk to: lines typed from now on are for them.
    pub fn begin_conversation(&self) {
        let mut state = lock(&self.state);
        let conversation = state.next;
        state.conversation = Some(conversation);
        state.next += 1;
        state.leaving = false;
        // The user left just as they came, with nobody there yet: the keyboard's thread has
        // ended, so the conversation hears it here, as the end of input.
        if state.left.is_some() {
            let _ = self.sender.send(Stamped { conversation, input: Input::Ended });
        }
    }

    /// The conversation is over: nobody is there to talk to until the next one begins. The
    /// lines typed for it that it never took are dropped, and counted.
    pub fn end_conversation(&self) -> AfterConversation {
        let input_ended = {
            let mut state = lock(&self.state);
            state.conversation = None;
            state.stuck = None;
            state.ended || state.left.is_some()
        };
        // The keyboard's thread stamps and queues a line under the lock, so from here on it
        // queues nothing more for that conversation: what is in the queue now is all of it.
        let unsent =
            self.inputs.try_iter().filter(|stamped| matches!(stamped.input, Input::Typed(_))).count();
        AfterConversation { input_ended, unsent }
    }

    /// The next input for the conversation in progress: waits until there is one.
    pub fn next(&self) -> Input<N> {
        loop {
            // We hold a sender ourselves, so the queue never disconnects: recv only waits.
            let stamped = self.inputs.recv().expect("the keyboard holds its own sender");
            // Anything stamped for another conversation (news from one of its threads, say)
            // is not for this one.
            if self.is_current(stamped.conversation) {
                return stamped.input;
            }
        }
    }

    /// The conversation is stuck sending: the other side takes none of our bytes. It cannot
    /// look at the keyboard, so until the returned [`Stuck`] is dropped, a quit word or the end
    /// of input does not wait in the queue: the keyboard's thread calls `hang_up` at once.
    /// If the user has already typed one in this conversation, `hang_up` is called now.
    pub fn hang_up_on_quit(&self, hang_up: impl FnOnce() + Send + 'static) -> Stuck {
        let done = Arc::new(AtomicBool::new(false));
        let hang_up = HangUp { hang_up: Box::new(hang_up), done: done.clone() };
        let mut state = lock(&self.state);
        if state.leaving {
            hang_up.run();
        } else {
            state.stuck = Some(hang_up);
        }
        Stuck { state: self.state.clone(), done }
    }

    /// Wait, with nobody to talk to, for whichever comes first: someone to talk to (what `wait`
    /// returns: a blocking `accept` or `recvfrom`, run on a thread of its own) or the user
    /// leaving (the end of input, or, with [`WhileAlone::DropLines`], a quit word).
    ///
    /// A thread blocked in accept cannot also read the keyboard, and nothing portable wakes
    /// it; so the wait gets a thread, and the keyboard's thread tells this one when the user
    /// leaves. After [`Alone::Left`] the program ends: the thread still blocked in `wait` ends
    /// with it.
    pub fn until_left<T: Send + 'static>(&self, wait: impl FnOnce() -> T + Send + 'static) -> Alone<T> {
        let (first, came_first) = mpsc::channel();
        {
            let mut state = lock(&self.state);
            if let Some(goodbye) = state.left {
                return Alone::Left(goodbye);
            }
            let leaving = first.clone();
            state.on_leaving = Some(Box::new(move |goodbye| {
                let _ = leaving.send(Alone::Left(goodbye));
            }));
        }
        thread::spawn(move || {
            let _ = first.send(Alone::Came(wait()));
        });
        // The keyboard's state holds a sender until one of the two has sent: recv only waits.
        let came = came_first.recv().expect("the keyboard's state holds a sender");
        lock(&self.state).on_leaving = None;
        came
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

/// A conversation stuck sending: see [`Keyboard::hang_up_on_quit`].
pub struct Stuck {
    state: Arc<Mutex<State>>,
    done: Arc<AtomicBool>,
}

impl Stuck {
    /// The user hung up while the conversation was stuck.
    pub fn hung_up(&self) -> bool {
        self.done.load(Ordering::SeqCst)
    }
}

impl Drop for Stuck {
    /// No longer stuck: a quit word goes through the queue again.
    fn drop(&mut self) {
        lock(&self.state).stuck = None;
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
            (Some(conversation), _) if ended || quit.is_quit(&line) => {
                state.leaving = true;
                // Stuck sending to someone who does not read: the quit word could not be sent
                // anyway. Hang up now; the conversation sees its send fail.
                if let Some(stuck) = state.stuck.take() {
                    stuck.run();
                    if !ended {
                        continue;
                    }
                }
                conversation
            }
            (Some(conversation), _) => conversation,
            // Nobody to talk to, and nothing more to type: the program is done. Its main loop
            // waits in `until_left`, for someone to talk to or for this.
            (None, _) if ended => {
                state.leave(Goodbye::InputEnded);
                return;
            }
            (None, WhileAlone::KeepLines) => state.next,
            // A server with nobody connected has nobody to send to. Keeping the line would
            // hand it to the next client as if typed for them; a quit word here can only
            // mean "stop the server".
            (None, WhileAlone::DropLines) if quit.is_quit(&line) => {
                state.leave(Goodbye::QuitWord);
                return;
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

    /// A keyboard the test types into through a pipe, as a user types into stdin; closing the
    /// pipe is the end of input.
    fn typed_into() -> (Keyboard<&'static str>, std::io::PipeWriter) {
        let (typed, typing) = std::io::pipe().unwrap();
        let quit = QuitWords::new(vec!["q".into()]);
        let keyboard = Keyboard::new(WhileAlone::DropLines).reading(|| std::io::BufReader::new(typed), quit);
        (keyboard, typing)
    }

    /// A wait that never ends by itself, as an accept with no client: the test holds the sender.
    fn forever() -> (mpsc::Sender<()>, impl FnOnce() + Send + 'static) {
        let (sender, never) = mpsc::channel::<()>();
        (sender, move || {
            let _ = never.recv();
        })
    }

    /// With nobody connected, the end of input ends the wait for the next one: the program's
    /// main loop hears it, instead of the keyboard's thread ending the process.
    #[test]
    fn with_nobody_there_the_end_of_input_ends_the_wait() {
        let (keyboard, typing) = typed_into();
        let (_held, accept) = forever();
        drop(typing);
        assert!(matches!(keyboard.until_left(accept), Alone::Left(Goodbye::InputEnded)));
        // Told once, it is told again: the program may ask after the keyboard's thread is gone.
        assert!(matches!(keyboard.until_left(|| ()), Alone::Left(Goodbye::InputEnded)));
    }

    /// A user who leaves just as someone comes, before the conversation has begun, is heard
    /// by that conversation as the end of input: it says goodbye, and nothing waits for ever.
    #[test]
    fn a_user_who_leaves_as_someone_comes_ends_that_conversation() {
        let (keyboard, typing) = typed_into();
        let (_held, accept) = forever();
        drop(typing);
        assert!(matches!(keyboard.until_left(accept), Alone::Left(Goodbye::InputEnded)));
        keyboard.begin_conversation();
        assert!(matches!(keyboard.next(), Input::Ended));
        assert!(keyboard.end_conversation().input_ended);
    }

    /// A server with nobody connected hears a quit word as "stop the server"; other lines are
    /// dropped, and someone who comes first is who the wait returns.
    #[test]
    fn with_nobody_there_a_quit_word_ends_the_wait_and_a_client_comes_first() {
        use std::io::Write;
        let (keyboard, mut typing) = typed_into();
        assert!(matches!(keyboard.until_left(|| "a client"), Alone::Came("a client")));
        let (_held, accept) = forever();
        typing.write_all(b"for nobody\nQ\n").unwrap();
        assert!(matches!(keyboard.until_left(accept), Alone::Left(Goodbye::QuitWord)));
    }

    fn typed(input: Input<&str>) -> Option<Vec<u8>> {
        match input {
            Input::Typed(line) => Some(line),
            _ => None,
        }
    }

    /// A line typed for one conversation, whether it was still in the queue when that one ended
    /// or stamped just before and queued after, never reaches the next one; nor does news from
    /// the first one's threads.
    #[test]
    fn what_belongs_to_one_conversation_never_reaches_the_next() {
        // No keyboard thread: the test queues what it would have, stamped as it would have.
        let keyboard = Keyboard::new(WhileAlone::DropLines);
        let type_for = |conversation, line: &str| {
            let input = Input::Typed(line.as_bytes().to_vec());
            keyboard.sender.send(Stamped { conversation, input }).unwrap();
        };
        keyboard.begin_conversation();
        let news = keyboard.news();
        type_for(1, "for the first, still queued");
        assert_eq!(keyboard.end_conversation().unsent, 1);
        keyboard.begin_conversation();
        type_for(1, "for the first, late");
        news.send("the first one's news");
        keyboard.news().send("the second one's news");
        type_for(2, "for the second");
        assert!(matches!(keyboard.next(), Input::News("the second one's news")));
        assert_eq!(typed(keyboard.next()), Some(b"for the second".to_vec()));
    }

    /// Stuck sending, the conversation cannot read the queue: a quit word hangs up from the
    /// keyboard's thread, and is not queued.
    #[test]
    fn a_quit_word_hangs_up_a_stuck_conversation() {
        use std::io::Write;
        let (keyboard, mut typing) = typed_into();
        keyboard.begin_conversation();
        let (hung_up, hanging_up) = mpsc::channel();
        let stuck = keyboard.hang_up_on_quit(move || hung_up.send(()).unwrap());
        typing.write_all(b"Q\n").unwrap();
        hanging_up.recv_timeout(std::time::Duration::from_secs(5)).expect("the quit word hangs up");
        assert!(stuck.hung_up());
        drop(stuck);
        assert_eq!(keyboard.end_conversation().unsent, 0);
    }

    /// A quit word typed before the conversation got stuck (waiting in the queue behind the
    /// line that is stuck) hangs up as soon as it is stuck.
    #[test]
    fn a_quit_word_typed_earlier_hangs_up_as_soon_as_it_is_stuck() {
        use std::io::Write;
        let (keyboard, mut typing) = typed_into();
        keyboard.begin_conversation();
        typing.write_all(b"hello\nq\n").unwrap();
        assert_eq!(typed(keyboard.next()), Some(b"hello".to_vec()));
        assert_eq!(typed(keyboard.next()), Some(b"q".to_vec()));
        let stuck = keyboard.hang_up_on_quit(|| {});
        assert!(stuck.hung_up());
    }
}
