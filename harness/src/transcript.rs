//! The transcript: everything that crossed a pipe or the wire during a scenario, in order,
//! timed from the start. Printed live in a demo, and in full when a check fails, so a
//! student can see what went wrong without running anything again.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crate::output::{self, Pipe};
use crate::style::{Style, printable};

/// One thing that happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A heading or a sentence of narration from the scenario itself.
    Say(String),
    /// A process started, with its whole command line.
    Start { who: String, command: String },
    /// A line written to a process's stdin.
    Stdin { who: String, line: String },
    /// A line a process printed on stdout.
    Stdout { who: String, line: String },
    /// A line a process printed on stderr.
    Stderr { who: String, line: String },
    /// Bytes that crossed the wire: a UDP datagram or a chunk of a TCP stream.
    Wire { from: String, to: String, proto: Proto, bytes: Vec<u8> },
    /// A TCP event with no bytes: connected, closed, reset, half-closed.
    Conn { from: String, to: String, what: String },
    /// What a lossy link ([`crate::link`]) did to a datagram from `from` to `to`, other than
    /// pass it: "dropped datagram 3". What it passes on is recorded as [`Event::Wire`].
    Link { from: String, to: String, what: String, bytes: Vec<u8> },
    /// A process ended.
    Exit { who: String, status: String },
    /// What the kernel's table of TCP sockets showed of a connection's ends at that moment:
    /// each end's name and its state (`FIN_WAIT2`), or `gone` where it lists none.
    States(Vec<(String, String)>),
    /// The start (true) or end (false) of a part recorded but not shown live, nor drawn.
    Hush(bool),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Udp,
    Tcp,
}

/// Which of the kernel's tables lists sockets of this protocol.
impl From<Proto> for lab_common::socket_table::Proto {
    fn from(proto: Proto) -> Self {
        match proto {
            Proto::Udp => lab_common::socket_table::Proto::Udp,
            Proto::Tcp => lab_common::socket_table::Proto::Tcp,
        }
    }
}

/// A shared, append-only record. Cloning it shares the same record.
#[derive(Clone)]
pub struct Transcript {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    start: Instant,
    events: Vec<(Duration, Event)>,
    names: HashMap<SocketAddr, String>,
    live: Option<Style>,
    hushed: usize,
    /// The output pipes of the processes recorded here, read before anything else is recorded.
    pipes: Vec<Weak<[Mutex<Pipe>; 2]>>,
    /// The end of a vital role (the server under test) that did not end well.
    crash: Option<Crash>,
    /// Where the events of the server's last attempt begin: what an abandoned attempt printed
    /// (a bind that failed on a port another program took) is no evidence against the server.
    attempt: usize,
    /// The payload bytes recorded so far (lines, datagrams, chunks of a stream).
    bytes: usize,
    /// What was not recorded past [`MAX_EVENTS`] or [`MAX_BYTES`].
    dropped: Dropped,
    /// The CPU the server under test had used when it was stopped (see [`crate::diagnosis`]).
    usage: Option<crate::diagnosis::Usage>,
    /// A capture of this scenario's packets is being made ([`crate::capture`]): roles name
    /// their sockets as they stop, for its comments.
    capturing: bool,
}

/// The most events one transcript keeps, and the most payload bytes: a backstop behind the
/// limits each source keeps (a pipe's lines, a tap's reads), so that no program under test can
/// grow the checker's memory without end, however it floods. Past either, events are counted
/// and dropped, and one note at the end says how many.
pub const MAX_EVENTS: usize = 200_000;
pub const MAX_BYTES: usize = 64 * 1024 * 1024;

/// What a source did not record past its limit, and where its note is, to keep it up to date.
#[derive(Debug, Default)]
pub(crate) struct Dropped {
    pub(crate) events: u64,
    pub(crate) bytes: u64,
    note: Option<usize>,
}

impl Dropped {
    /// Count `events` more events of `bytes` bytes as not recorded.
    pub(crate) fn add(&mut self, events: u64, bytes: u64) {
        self.events += events;
        self.bytes += bytes;
    }
}

/// A vital role (the server under test) ended on its own: every wait in the scenario gives up
/// soon after, instead of waiting out its whole deadline.
#[derive(Clone, Debug)]
pub struct Crash {
    pub who: String,
    /// "exited with status 1", "ended by a signal (SIGSEGV)".
    pub status: String,
    /// When, from the scenario's start.
    pub at: Duration,
    /// When, as an instant, for the waits.
    pub when: Instant,
    /// With status 0: maybe on purpose (a quit word), so the waits give it longer.
    pub clean: bool,
}

impl Transcript {
    /// A silent transcript: it prints only when asked (a test, a check).
    pub fn new() -> Transcript {
        Transcript {
            inner: Arc::new(Mutex::new(Inner {
                start: Instant::now(),
                events: Vec::new(),
                names: HashMap::new(),
                live: None,
                hushed: 0,
                pipes: Vec::new(),
                crash: None,
                attempt: 0,
                bytes: 0,
                dropped: Dropped::default(),
                usage: None,
                capturing: false,
            })),
        }
    }

    /// A transcript that also prints each event to stdout the moment it is recorded (a demo).
    pub fn live() -> Transcript {
        let transcript = Transcript::new();
        transcript.lock().live = Some(Style::for_stdout());
        transcript
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves a consistent Vec: keep reading it.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Remember who is behind an address, so the transcript says "server", not a port.
    pub fn name(&self, addr: SocketAddr, who: &str) {
        self.lock().names.insert(addr, who.to_string());
    }

    /// Say that a capture of this scenario is being made (see [`Transcript::capturing`]).
    pub(crate) fn set_capturing(&self) {
        self.lock().capturing = true;
    }

    /// Whether a capture of this scenario is being made.
    pub(crate) fn capturing(&self) -> bool {
        self.lock().capturing
    }

    /// Every address given a name, and its name (a capture's comments say who is who).
    pub fn names(&self) -> Vec<(SocketAddr, String)> {
        self.lock().names.iter().map(|(addr, who)| (*addr, who.clone())).collect()
    }

    /// The name given to `addr`, or the address itself.
    pub fn who(&self, addr: SocketAddr) -> String {
        self.lock().names.get(&addr).cloned().unwrap_or_else(|| addr.to_string())
    }

    /// Record `event`, after whatever the processes printed before it (see [`crate::output`]).
    pub fn record(&self, event: Event) {
        let pipes = self.lock().pipes.clone();
        output::settle(&pipes);
        self.record_settled(event);
    }

    /// Record `event` as it is: for a process's own output, read from its pipe. Past
    /// [`MAX_EVENTS`] or [`MAX_BYTES`] it is counted and dropped instead.
    pub(crate) fn record_settled(&self, event: Event) {
        let len = event.payload();
        let mut inner = self.lock();
        if inner.events.len() >= MAX_EVENTS || inner.bytes + len > MAX_BYTES {
            let inner = &mut *inner;
            inner.dropped.add(1, len as u64);
            let note = format!(
                "(the transcript is full: past {MAX_EVENTS} events or {} MB, {} more events ({} bytes) were not recorded)",
                MAX_BYTES / (1024 * 1024),
                inner.dropped.events,
                inner.dropped.bytes
            );
            note_in(inner, &mut None, Event::Say(note), true);
            return;
        }
        inner.bytes += len;
        push(&mut inner, event);
    }

    /// Record (the first time) or update in place (every time after) the note a source keeps
    /// about what it did not record: `dropped` remembers where the note is. A note is recorded
    /// even in a full transcript.
    pub(crate) fn note(&self, dropped: &mut Dropped, event: Event) {
        let mut inner = self.lock();
        let mut at = dropped.note;
        note_in(&mut inner, &mut at, event, false);
        dropped.note = at;
    }

    /// Record `event` as having happened `ago` before now, in its place among the others: a
    /// datagram collected late, which the kernel timestamped as it arrived.
    pub(crate) fn record_earlier(&self, ago: Duration, event: Event) {
        let pipes = self.lock().pipes.clone();
        output::settle(&pipes);
        let mut inner = self.lock();
        let at = inner.start.elapsed().saturating_sub(ago);
        let index = inner.events.partition_point(|(when, _)| *when <= at);
        inner.events.insert(index, (at, event));
    }

    /// Read a process's pipes before recording anything else.
    pub(crate) fn watch_pipes(&self, pipes: Weak<[Mutex<Pipe>; 2]>) {
        let mut inner = self.lock();
        inner.pipes.retain(|pipe| pipe.strong_count() > 0);
        inner.pipes.push(pipes);
    }

    /// A vital role ended on its own: `clean` when with status 0.
    pub(crate) fn ended(&self, who: &str, status: &str, clean: bool) {
        let mut inner = self.lock();
        let at = inner.start.elapsed();
        let crash =
            Crash { who: who.to_string(), status: status.to_string(), at, when: Instant::now(), clean };
        inner.crash.get_or_insert(crash);
    }

    /// Forget a vital role's end: a new vital role has started (a server started again on
    /// another port because another program took the first, or a scenario's second server
    /// after the first quit on purpose), and the waits must not give up for the old one's end.
    pub(crate) fn forget_crash(&self) {
        self.lock().crash = None;
    }

    /// Forget a server's start that is given up and tried again on another port: its end, and
    /// what it printed on stderr (kept in the transcript, but no longer read by a diagnosis).
    pub(crate) fn abandon_attempt(&self) {
        let mut inner = self.lock();
        inner.crash = None;
        inner.attempt = inner.events.len();
    }

    /// The crash of a vital role during this scenario, if there was one.
    pub fn crash(&self) -> Option<Crash> {
        self.lock().crash.clone()
    }

    /// How long since the scenario started.
    pub fn elapsed(&self) -> Duration {
        self.lock().start.elapsed()
    }

    /// The CPU a vital role had used when it was stopped: a silent server burning it is stuck
    /// in a loop.
    pub(crate) fn record_usage(&self, usage: crate::diagnosis::Usage) {
        self.lock().usage = Some(usage);
    }

    pub fn usage(&self) -> Option<crate::diagnosis::Usage> {
        self.lock().usage
    }

    /// The last `n` lines `who` printed on stderr.
    pub fn last_stderr(&self, who: &str, n: usize) -> Vec<String> {
        let inner = self.lock();
        let mut lines: Vec<String> = inner.events[inner.attempt.min(inner.events.len())..]
            .iter()
            .rev()
            .filter_map(|(_, event)| match event {
                Event::Stderr { who: w, line } if w == who => Some(line.clone()),
                _ => None,
            })
            .take(n)
            .collect();
        lines.reverse();
        lines
    }

    /// Stop printing events live until the guard is dropped; they are still recorded, and a
    /// failure still shows them. For a crowd of fifty clients in a demo.
    pub fn hush(&self) -> Hush {
        self.record(Event::Hush(true));
        self.lock().hushed += 1;
        Hush(self.clone())
    }

    pub fn say(&self, text: impl Into<String>) {
        self.record(Event::Say(text.into()));
    }

    pub fn events(&self) -> Vec<(Duration, Event)> {
        self.lock().events.clone()
    }

    /// The whole transcript as plain text, one event a line.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for (at, event) in self.events() {
            let _ = writeln!(text, "{}", render(at, &event, Style::PLAIN));
        }
        text
    }
}

/// Add an event at the end, printing it if the transcript is live.
fn push(inner: &mut Inner, event: Event) {
    let at = inner.start.elapsed();
    if let Some(style) = inner.live.filter(|_| inner.hushed == 0) {
        let mut out = std::io::stdout().lock();
        // A closed stdout (a demo piped into `head`) must not stop the demo.
        for line in live_lines(at, &event, style) {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    }
    inner.events.push((at, event));
}

/// An event as a live demo prints it: one line, or on a terminal too narrow for it, wrapped
/// between words with what follows hanging under the text (narration in bold). A pipe gets
/// the one line, as the transcript records it.
fn live_lines(at: Duration, event: &Event, style: Style) -> Vec<String> {
    let line = render(at, event, style);
    let Some(width) = crate::screen::terminal_width() else { return vec![line] };
    let plain = render(at, event, Style::PLAIN);
    if crate::screen::columns(&plain) <= width {
        return vec![line];
    }
    match event {
        Event::Say(_) => {
            let lines = crate::screen::wrap(plain.trim_start(), width.saturating_sub(9).max(20), 0);
            lines.iter().map(|text| format!("         {}", style.paint("1", text))).collect()
        }
        _ => crate::screen::wrap(&plain, width, 10),
    }
}

/// Put a note about dropped events where `at` says (the transcript's own note when `own`),
/// or record it at the end the first time.
fn note_in(inner: &mut Inner, at: &mut Option<usize>, event: Event, own: bool) {
    let at = if own { &mut inner.dropped.note } else { at };
    match *at {
        Some(index) if index < inner.events.len() => inner.events[index].1 = event,
        _ => {
            *at = Some(inner.events.len());
            push(inner, event);
        }
    }
}

impl Event {
    /// The bytes this event carries from a program or the wire, which count toward
    /// [`MAX_BYTES`].
    fn payload(&self) -> usize {
        match self {
            Event::Stdout { line, .. } | Event::Stderr { line, .. } | Event::Stdin { line, .. } => line.len(),
            Event::Wire { bytes, .. } | Event::Link { bytes, .. } => bytes.len(),
            Event::Say(text) => text.len(),
            _ => 0,
        }
    }
}

/// While this lives, the transcript records without printing. See [`Transcript::hush`].
pub struct Hush(Transcript);

impl Drop for Hush {
    fn drop(&mut self) {
        self.0.lock().hushed -= 1;
        self.0.record(Event::Hush(false));
    }
}

impl Default for Transcript {
    fn default() -> Self {
        Transcript::new()
    }
}

/// One event as a demo prints it: the time from the scenario's start, who, and what.
pub fn render(at: Duration, event: &Event, style: Style) -> String {
    let time = style.paint("2", &format!("{:>7.3}s", at.as_secs_f64()));
    match event {
        Event::Say(text) => format!("         {}", style.paint("1", &printable(text))),
        Event::Start { who, command } => {
            format!("{time}  {who} {} {}", style.paint("36", "started:"), printable(command))
        }
        Event::Stdin { who, line } => {
            format!("{time}  {who} {} {}", style.paint("36", "stdin <"), show(line.as_bytes()))
        }
        // A line a program printed may hold anything a terminal acts on: shown escaped.
        Event::Stdout { who, line } => {
            format!("{time}  {who} {} {}", style.paint("32", "stdout>"), shorten(&printable(line)))
        }
        Event::Stderr { who, line } => {
            format!("{time}  {who} {} {}", style.paint("33", "stderr>"), shorten(&printable(line)))
        }
        Event::Wire { from, to, proto, bytes } => {
            let what = match proto {
                Proto::Udp => "datagram",
                Proto::Tcp => "bytes",
            };
            let arrow = style.paint("35", &format!("{from} → {to}"));
            format!("{time}  {arrow}  {what} ({}): {}", size(bytes.len()), show(bytes))
        }
        Event::Conn { from, to, what } => {
            format!("{time}  {}  {what}", style.paint("35", &format!("{from} → {to}")))
        }
        Event::Link { from, to, what, bytes } => {
            let arrow = style.paint("35", &format!("{from} → {to}"));
            let what = style.paint("31", &format!("link {what}"));
            format!("{time}  {arrow}  {what} ({}): {}", size(bytes.len()), show(bytes))
        }
        Event::Exit { who, status } => format!("{time}  {who} {}", style.paint("33", status)),
        Event::States(ends) => {
            let states: Vec<String> = ends.iter().map(|(who, state)| format!("{who} {state}")).collect();
            format!("{time}  {} {}", style.paint("34", "kernel:"), states.join(" · "))
        }
        Event::Hush(true) => {
            format!("{time}  {}", style.paint("2", "(quiet part: recorded, not shown live)"))
        }
        Event::Hush(false) => format!("{time}  {}", style.paint("2", "(end of the quiet part)")),
    }
}

/// A printed line as it is, or cut in the middle when it is too long to read (a 100 KB chat
/// line), with the count of what was left out.
fn shorten(line: &str) -> String {
    const HEAD: usize = 72;
    const TAIL: usize = 24;
    let chars = line.chars().count();
    if chars <= 240 {
        return line.to_string();
    }
    let head: String = line.chars().take(HEAD).collect();
    let tail: String = line.chars().skip(chars - TAIL).collect();
    format!("{head} …{} more characters… {tail}", chars - HEAD - TAIL)
}

fn size(len: usize) -> String {
    if len == 1 { "1 byte".to_string() } else { format!("{len} bytes") }
}

pub use lab_common::show;

#[cfg(test)]
mod tests {
    use super::*;

    /// What a server started and given up on printed is not read as the server's last words:
    /// the retry on another port starts afresh (its "Address already in use" once led a report).
    #[test]
    fn an_abandoned_start_leaves_no_last_words() {
        let transcript = Transcript::new();
        let said = |line: &str| Event::Stderr { who: "server".into(), line: line.into() };
        transcript.record(said("OSError: [Errno 98] Address already in use"));
        transcript.abandon_attempt();
        assert!(transcript.last_stderr("server", 10).is_empty());
        transcript.record(said("ValueError: the second start's own"));
        assert_eq!(transcript.last_stderr("server", 10), ["ValueError: the second start's own"]);
        assert_eq!(transcript.events().len(), 2, "the first start's line stays in the transcript");
    }

    /// A 100 KB printed line is shown as its head and tail; a short one as it is.
    #[test]
    fn long_printed_lines_are_shortened() {
        assert_eq!(shorten("client 1: hello"), "client 1: hello");
        let shown = shorten(&"x".repeat(100_000));
        assert!(shown.contains("…99904 more characters…"), "{shown}");
        assert!(shown.len() < 200);
    }

    /// Events keep their order, and a named address is shown by name.
    #[test]
    fn render_names_addresses_and_keeps_order() {
        let transcript = Transcript::new();
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        transcript.name(addr, "server");
        transcript.say("first");
        transcript.record(Event::Wire {
            from: "alice".into(),
            to: transcript.who(addr),
            proto: Proto::Udp,
            bytes: b"x".to_vec(),
        });
        let text = transcript.render();
        let first = text.find("first").unwrap();
        let wire = text.find("alice → server  datagram (1 byte): \"x\"").unwrap();
        assert!(first < wire, "{text}");
    }

    /// Past MAX_EVENTS, events are counted and dropped, and one note at the end, kept up to
    /// date, says how many.
    #[test]
    fn a_full_transcript_counts_what_it_drops() {
        let transcript = Transcript::new();
        for _ in 0..MAX_EVENTS + 3 {
            transcript.record_settled(Event::Stdout { who: "server".into(), line: "ab".into() });
        }
        let events = transcript.events();
        assert_eq!(events.len(), MAX_EVENTS + 1);
        let expected = "(the transcript is full: past 200000 events or 64 MB, 3 more events (6 bytes) were not recorded)";
        assert_eq!(events.last().map(|(_, event)| event), Some(&Event::Say(expected.into())));
    }

    /// A program's line is shown with every control and format character escaped.
    #[test]
    fn printed_lines_are_shown_escaped() {
        let transcript = Transcript::new();
        let line = "\u{1b}[2J\u{9b}1m\u{202e}txt".to_string();
        transcript.record_settled(Event::Stderr { who: "server".into(), line });
        let text = transcript.render();
        assert!(text.ends_with("server stderr> \"\\u{1b}[2J\\u{9b}1m\\u{202e}txt\"\n"), "{text}");
    }

    /// A lossy link's decision reads as what it did, to which datagram, with its bytes.
    #[test]
    fn a_links_decision_names_the_datagram() {
        let transcript = Transcript::new();
        transcript.record(Event::Link {
            from: "sender".into(),
            to: "server".into(),
            what: "dropped datagram 3".into(),
            bytes: b"ping 3".to_vec(),
        });
        let text = transcript.render();
        assert!(text.contains("sender → server  link dropped datagram 3 (6 bytes): \"ping 3\""), "{text}");
    }
}
