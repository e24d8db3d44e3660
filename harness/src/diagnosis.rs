//! What a failure report says first: the symptom the server showed, read from what was
//! observed (the error, and the transcript), not the scenario's usual cause. A crash leads
//! with its exception or panic; a reply sent to another peer names who got it; a reply off by
//! a line ending shows the one character; the right bytes cut differently say so; a server
//! that received and went quiet says what it got, for how long it has said nothing, and
//! whether it is burning CPU; a field a scenario knows (a checksum) is named.
//!
//! - [`Mismatch`]: the error a peer returns when the bytes it expected did not come.
//! - [`Finding`]: a scenario's own finding about a field of its protocol.
//! - [`diagnose`]: the symptom, if one shows.

use std::fmt;
use std::time::Duration;

use crate::transcript::{Event, Transcript, show};

/// A peer expected bytes and got others, or none: the evidence a diagnosis compares.
#[derive(Debug)]
pub struct Mismatch {
    /// Who expected them ("alice").
    pub who: String,
    /// What was expected: one piece, or the pieces expected in turn (three datagrams).
    pub expected: Vec<Vec<u8>>,
    /// What came instead; None when nothing did.
    pub got: Option<Vec<u8>>,
    /// Whether the pieces are datagrams (each a message) or a stream's bytes.
    pub datagrams: bool,
    /// The failure as the scenario says it.
    pub message: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Mismatch {}

/// A scenario's own finding about one field of its protocol ("the checksum's two bytes are
/// swapped"): the report leads with it.
#[derive(Debug)]
pub struct Finding {
    /// The field, as the spec names it: "the checksum".
    pub field: &'static str,
    /// What was wrong with it, in a sentence.
    pub what: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.what)
    }
}

impl std::error::Error for Finding {}

/// The kinds of symptom, in the order a report prefers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Symptom {
    Field,
    Crashed,
    WrongPeer,
    Whitespace,
    /// The right letters in another case (an echo that shouts).
    Case,
    Boundaries,
    Silent,
    /// Other bytes than expected, for no reason a diagnosis names: shown on one line.
    Other,
}

/// What the server showed, as a report's first line and the lines under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnosis {
    pub symptom: Symptom,
    /// The first line of the report: the mistake, in the student's terms.
    pub headline: String,
    /// What makes two failures the same ("crashed: ZeroDivisionError ..."): failures with the
    /// same key are reported once.
    pub key: String,
    /// Evidence under the headline (a crash's last words).
    pub details: Vec<String>,
}

/// How much CPU a vital role's processes had used when it was stopped, and over how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub cpu: Duration,
    pub alive: Duration,
    /// When it was stopped, from the scenario's start: the end of its silence.
    pub at: Duration,
}

impl Usage {
    /// "busy: it used 4.9s of CPU in its 5.1s (a loop that never waits?)", or "idle (waiting)".
    fn describe(&self) -> String {
        let (cpu, alive) = (self.cpu.as_secs_f64(), self.alive.as_secs_f64());
        if alive > 0.5 && cpu > alive * 0.5 {
            format!("burning CPU: it used {cpu:.1}s of CPU in {alive:.1}s (a loop that never waits?)")
        } else {
            format!("not burning CPU ({cpu:.1}s of CPU in {alive:.1}s): blocked, waiting for something")
        }
    }
}

/// The symptom `error` and `transcript` show, if one does.
pub fn diagnose(error: &anyhow::Error, transcript: &Transcript) -> Option<Diagnosis> {
    if let Some(finding) = find::<Finding>(error) {
        let headline = format!("{} is wrong: {}", finding.field, finding.what);
        return Some(Diagnosis {
            symptom: Symptom::Field,
            key: headline.clone(),
            headline,
            details: Vec::new(),
        });
    }
    let events = transcript.events();
    // A crash as the scenario was tearing down (its clients closing after it had failed
    // already, a broken pipe) is not the cause: it comes after a while with nothing new.
    let crash = crashed(transcript);
    // (An end with status 0 is never such a by-product; nor one the scenario went on after.)
    let late = transcript.crash().is_some_and(|crash| {
        let before = events.iter().rev().find(|(at, event)| *at < crash.at && !said_by_server(event));
        let after = events.iter().any(|(at, event)| *at > crash.at && !said_by_server(event));
        !crash.clean
            && !after
            && before.is_some_and(|(at, _)| crash.at.saturating_sub(*at) >= Duration::from_secs(2))
    });
    if let Some(crash) = crash.clone().filter(|_| !late) {
        return Some(crash);
    }
    if let Some(raised) = raised(transcript).filter(|_| transcript.crash().is_none()) {
        return Some(raised);
    }
    let mismatch = find::<Mismatch>(error);
    if let Some(mismatch) = mismatch {
        if let Some(found) = elsewhere(mismatch, &events) {
            return Some(found);
        }
        let sent = sent_to_server(&events);
        if let Some(got) = &mismatch.got
            && let Some(found) = misshapen(mismatch, got, &sent)
        {
            return Some(found);
        }
    }
    if let Some(found) = from_another_socket(&events) {
        return Some(found);
    }
    if mismatch.is_none_or(|mismatch| mismatch.got.is_none())
        && let Some(found) = silent(transcript, &events)
    {
        return Some(found);
    }
    // A late crash is in the transcript; what failed before it says more.
    crash.filter(|_| !late)
}

/// What peers sent the server, each datagram or piece in turn.
fn sent_to_server(events: &[(Duration, Event)]) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|(_, event)| match event {
            Event::Wire { to, bytes, .. } if to == "server" => Some(bytes.clone()),
            _ => None,
        })
        .collect()
}

/// A line the server printed (or its end): not something the scenario did.
fn said_by_server(event: &Event) -> bool {
    match event {
        Event::Stdout { who, .. } | Event::Stderr { who, .. } | Event::Exit { who, .. } => who == "server",
        _ => false,
    }
}

/// A server still running that printed an exception or a panic: one of its threads died (a
/// client's, say), and what that thread was doing is left undone.
fn raised(transcript: &Transcript) -> Option<Diagnosis> {
    let stderr = escaped(transcript.last_stderr("server", 400));
    let thrown = stderr.iter().any(|line| line.starts_with("Traceback (") || line.contains("panicked at "));
    let words = last_words(&stderr).filter(|_| thrown)?;
    let headline = format!(
        "your server raised {} — on a thread of its own, it seems: the server is still running, and what that \
         thread was doing was left undone",
        words.line
    );
    Some(Diagnosis {
        symptom: Symptom::Crashed,
        key: format!("raised: {}", words.line),
        headline,
        details: words.context,
    })
}

/// `error`'s own `T`, or a context of that type, or one of its causes.
fn find<T: std::error::Error + Send + Sync + 'static>(error: &anyhow::Error) -> Option<&T> {
    error.downcast_ref::<T>().or_else(|| error.chain().find_map(|cause| cause.downcast_ref::<T>()))
}

/// A server's lines as a report may show them: a control character (an escape sequence, a
/// carriage return, U+202E) escaped, never passed to the reader's terminal.
fn escaped(lines: Vec<String>) -> Vec<String> {
    lines.iter().map(|line| crate::style::printable(line).into_owned()).collect()
}

/// The server ended on its own: led by its exception or panic line.
fn crashed(transcript: &Transcript) -> Option<Diagnosis> {
    let crash = transcript.crash()?;
    let stderr = escaped(transcript.last_stderr(&crash.who, 400));
    let at = format!("{} at {:.3}s", crash.status, crash.at.as_secs_f64());
    let (headline, key, details) = match last_words(&stderr) {
        Some(words) => (
            format!("your {} crashed: {} ({at})", crash.who, words.line),
            format!("crashed: {}", words.line),
            words.context,
        ),
        None if crash.clean => (
            format!("your {} ended on its own ({at}), while the scenario still needed it", crash.who),
            "ended".to_string(),
            Vec::new(),
        ),
        None => {
            let said = if stderr.is_empty() { ", printing nothing on stderr" } else { "" };
            let last = stderr.iter().rev().take(6).rev().map(|line| format!("stderr> {line}")).collect();
            (format!("your {} crashed: it {at}{said}", crash.who), format!("crashed: {}", crash.status), last)
        }
    };
    Some(Diagnosis { symptom: Symptom::Crashed, headline, key, details })
}

/// A crash's own words: the line that says what went wrong, and a few lines around it.
#[derive(Debug, PartialEq, Eq)]
pub struct LastWords {
    pub line: String,
    pub context: Vec<String>,
}

/// The exception (Python), panic (Rust, with or without a backtrace) or `error:` line in a
/// crashed program's stderr, with the lines that locate it.
pub fn last_words(stderr: &[String]) -> Option<LastWords> {
    // Rust: `thread 'main' panicked at src/main.rs:5:9:` then the message (since 1.73), or
    // `thread 'main' panicked at 'message', src/main.rs:5:9` before; a backtrace follows
    // when RUST_BACKTRACE is set, and is passed over.
    if let Some(at) = stderr.iter().rposition(|line| line.contains("panicked at ")) {
        let line = &stderr[at];
        let place = line.split_once("panicked at ").map_or("", |(_, place)| place).trim_end_matches(':');
        let message: Vec<&str> = stderr[at + 1..]
            .iter()
            .map(String::as_str)
            .take_while(|line| !line.starts_with("note: ") && !line.starts_with("stack backtrace:"))
            .collect();
        let said = match message.is_empty() {
            true => format!("panicked at {place}"),
            false => format!("panicked: {} (at {place})", message.join(" ")),
        };
        return Some(LastWords { line: said, context: vec![line.clone()] });
    }
    // Python: the last traceback's first line that is not indented is the exception.
    if let Some(at) = stderr.iter().rposition(|line| line.starts_with("Traceback (most recent call last)")) {
        let rest = &stderr[at + 1..];
        if let Some(offset) = rest.iter().position(|line| !line.starts_with(' ') && !line.is_empty()) {
            let frames: Vec<String> =
                rest[..offset].iter().rev().take(2).rev().map(|line| line.trim().to_string()).collect();
            return Some(LastWords { line: rest[offset].clone(), context: frames });
        }
    }
    let error = stderr.iter().rev().find(|line| {
        let lower = line.to_lowercase();
        lower.starts_with("error") || lower.contains("exception") || lower.starts_with("fatal")
    })?;
    Some(LastWords { line: error.clone(), context: Vec::new() })
}

/// What the peer expected went to someone else, or came from another socket.
fn elsewhere(mismatch: &Mismatch, events: &[(Duration, Event)]) -> Option<Diagnosis> {
    let who = &mismatch.who;
    // Only what the server sent after `who`'s last request: an earlier "OK" to another peer
    // was that peer's own.
    let asked = events
        .iter()
        .rposition(
            |(_, event)| matches!(event, Event::Wire { from, to, .. } if from == who && to == "server"),
        )
        .unwrap_or(0);
    for (at, event) in &events[asked..] {
        let Event::Wire { from, to, bytes, .. } = event else { continue };
        if !mismatch.expected.iter().any(|expected| expected == bytes) {
            continue;
        }
        let to_name = name_of(to);
        if from == "server" && to_name != who {
            let headline = format!(
                "your server sent {who}'s reply to {to_name}: {} went to {to_name} at {:.3}s, and nothing to {who}",
                show(bytes),
                at.as_secs_f64()
            );
            let key = "wrong peer: replies go to another peer than the sender".to_string();
            return Some(Diagnosis { symptom: Symptom::WrongPeer, headline, key, details: Vec::new() });
        }
        if to_name == who && from.parse::<std::net::SocketAddr>().is_ok() {
            let headline = format!(
                "your server's reply to {who} came from another socket: {} came from {from}, not from the \
                 server's address, and {who} passed over it",
                show(bytes)
            );
            let key = "wrong peer: replies from another socket".to_string();
            return Some(Diagnosis { symptom: Symptom::WrongPeer, headline, key, details: Vec::new() });
        }
    }
    None
}

/// Something reached a peer from an address nobody here has a name for: the server's reply,
/// sent from another socket than the one the request arrived on.
fn from_another_socket(events: &[(Duration, Event)]) -> Option<Diagnosis> {
    let server_started =
        events.iter().any(|(_, event)| matches!(event, Event::Start { who, .. } if who == "server"));
    events.iter().find_map(|(at, event)| {
        let Event::Wire { from, to, bytes, .. } = event else { return None };
        from.parse::<std::net::SocketAddr>().ok().filter(|_| server_started)?;
        let to = name_of(to);
        let headline = format!(
            "your server's reply to {to} came from another socket: {} came from {from} at {:.3}s, not from the \
             server's address, and {to} passed over it",
            show(bytes),
            at.as_secs_f64()
        );
        let key = "wrong peer: replies from another socket".to_string();
        Some(Diagnosis { symptom: Symptom::WrongPeer, headline, key, details: Vec::new() })
    })
}

/// A peer's name without what the transcript adds to it: "alice (unread)" is alice.
fn name_of(to: &str) -> &str {
    to.split(" (").next().unwrap_or(to)
}

/// The right bytes but for whitespace, or cut into messages differently.
fn misshapen(mismatch: &Mismatch, got: &[u8], sent: &[Vec<u8>]) -> Option<Diagnosis> {
    let who = &mismatch.who;
    for expected in &mismatch.expected {
        if let Some(difference) = whitespace_difference(expected, got) {
            let headline = format!(
                "off by whitespace: {who} got {} where {} was expected: {difference}",
                show(got),
                show(expected)
            );
            let key = format!("whitespace: {difference}");
            return Some(Diagnosis { symptom: Symptom::Whitespace, headline, key, details: Vec::new() });
        }
    }
    for expected in &mismatch.expected {
        if let Some(difference) = case_difference(expected, got) {
            let headline = format!(
                "off by letter case: {who} got {} where {} was expected: {difference}",
                show(got),
                show(expected)
            );
            let key = format!("case: {difference}");
            return Some(Diagnosis { symptom: Symptom::Case, headline, key, details: Vec::new() });
        }
    }
    let first = mismatch.expected.first()?;
    let unit = if mismatch.datagrams { "datagram" } else { "piece" };
    // Joined: what was sent to the server as separate datagrams (or expected as separate
    // pieces), several in one.
    let joined = (2..=sent.len().max(mismatch.expected.len())).find(|&n| {
        sent.windows(n).any(|run| run.concat() == got)
            || mismatch.expected.windows(n).any(|run| run.concat() == got)
    });
    let (symptom, headline) = if let Some(n) = joined {
        let headline = format!(
            "the right bytes, joined: {who} got {n} {unit}s' bytes as one, {}, where each was to come on its own",
            show(got)
        );
        (Symptom::Boundaries, headline)
    } else if got.len() > first.len() && got.starts_with(first) {
        let headline = format!(
            "too long: {who} got {} bytes where {} were expected: {}, and {} more after them",
            got.len(),
            first.len(),
            show(first),
            got.len() - first.len()
        );
        (Symptom::Boundaries, headline)
    } else if !got.is_empty() && got.len() < first.len() && first.starts_with(got) && mismatch.datagrams {
        let headline = format!(
            "the right bytes, split: {who} got {} as one datagram, only the start of {} ({} of its {} bytes)",
            show(got),
            show(first),
            got.len(),
            first.len()
        );
        (Symptom::Boundaries, headline)
    } else {
        let headline = format!("{who} got {} where {} was expected", show(got), show(first));
        (Symptom::Other, headline)
    };
    let key = headline.clone();
    Some(Diagnosis { symptom, headline, key, details: Vec::new() })
}

/// How `got` differs from `expected` when it differs only in the case of its letters (UTF-8
/// text both): "every letter upper-cased", "every letter lower-cased", or "letters in another
/// case". None when they differ otherwise, or not at all.
pub fn case_difference(expected: &[u8], got: &[u8]) -> Option<String> {
    if expected == got {
        return None;
    }
    // Bytes first (an echo of bytes that are not UTF-8 shouts too), then UTF-8 text (Ä, Σ).
    let (upper, lower) = if expected.eq_ignore_ascii_case(got) {
        (got == expected.to_ascii_uppercase(), got == expected.to_ascii_lowercase())
    } else {
        let (expected, got) = (std::str::from_utf8(expected).ok()?, std::str::from_utf8(got).ok()?);
        if expected.to_lowercase() != got.to_lowercase() {
            return None;
        }
        (got == expected.to_uppercase(), got == expected.to_lowercase())
    };
    Some(
        match (upper, lower) {
            (true, _) => "every letter upper-cased",
            (_, true) => "every letter lower-cased",
            _ => "letters in another case",
        }
        .to_string(),
    )
}

/// How `got` differs from `expected` when it differs only in whitespace: `an extra "\n" at
/// the end`, `"\r\n" where "\n" was expected`. None when they differ otherwise, or not at all.
pub fn whitespace_difference(expected: &[u8], got: &[u8]) -> Option<String> {
    let bare = |bytes: &[u8]| bytes.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect::<Vec<u8>>();
    let (bare_expected, bare_got) = (bare(expected), bare(got));
    // A stream's read may stop at the expected length: the got bytes are then a prefix.
    let same = bare_expected == bare_got
        || (got.len() == expected.len() && !bare_got.is_empty() && bare_expected.starts_with(&bare_got));
    if !same || expected == got {
        return None;
    }
    let prefix = expected.iter().zip(got).take_while(|(a, b)| a == b).count();
    let suffix =
        expected[prefix..].iter().rev().zip(got[prefix..].iter().rev()).take_while(|(a, b)| a == b).count();
    let (was, came) = (&expected[prefix..expected.len() - suffix], &got[prefix..got.len() - suffix]);
    let place = if suffix == 0 && (was.is_empty() || came.is_empty()) {
        "at the end".to_string()
    } else if prefix == 0 {
        "at the start".to_string()
    } else {
        format!("after {}", show(&expected[..prefix]))
    };
    Some(match (was.is_empty(), came.is_empty()) {
        (true, _) => format!("an extra {} {place}", show(came)),
        (_, true) => format!("{} missing {place}", show(was)),
        _ if got.len() == expected.len() && came.first().is_some_and(u8::is_ascii_whitespace) => {
            format!("an extra {} {place}", show(&came[..1]))
        }
        _ => format!("{} where {} was expected, {place}", show(came), show(was)),
    })
}

/// The server started, did not crash, and sent nothing for the last part of the scenario:
/// alive and silent, with what it received and whether it is burning CPU.
fn silent(transcript: &Transcript, events: &[(Duration, Event)]) -> Option<Diagnosis> {
    let started =
        events.iter().position(|(_, event)| matches!(event, Event::Start { who, .. } if who == "server"))?;
    let events = &events[started..];
    let end = transcript.usage().map(|usage| usage.at).or_else(|| events.last().map(|(at, _)| *at))?;
    let last_sent = events.iter().rposition(|(_, event)| sent_by_server(event));
    let received: Vec<(Duration, String, Vec<u8>)> = events
        .iter()
        .skip(last_sent.map_or(0, |at| at + 1))
        .filter_map(|(at, event)| match event {
            Event::Wire { from, to, bytes, .. } if to == "server" => Some((*at, from.clone(), bytes.clone())),
            _ => None,
        })
        .collect();
    let (first_at, first_from, first_bytes) = received.first()?.clone();
    let silent_for = end.saturating_sub(first_at);
    if silent_for < Duration::from_millis(250) {
        return None;
    }
    let unit = match events.iter().find_map(|(_, event)| match event {
        Event::Wire { proto, to, .. } if to == "server" => Some(*proto),
        _ => None,
    }) {
        Some(crate::Proto::Tcp) => "pieces of the stream",
        _ => "datagrams",
    };
    let what = match received.len() {
        1 => format!("{} from {first_from}", show(&first_bytes)),
        n => format!("{n} {unit}, the first {} from {first_from}", show(&first_bytes)),
    };
    let before = if last_sent.is_some() { "since it last answered, " } else { "" };
    let running = match transcript.usage() {
        Some(usage) => format!("still running and {}", usage.describe()),
        None => "still running".to_string(),
    };
    let headline = format!(
        "your server received {what} at {:.3}s and {before}has sent (or printed) nothing for {:.1}s: {running}",
        first_at.as_secs_f64(),
        silent_for.as_secs_f64()
    );
    let busy = transcript.usage().is_some_and(|usage| usage.describe().starts_with("burning"));
    let key = format!("silent: received, answered nothing{}", if busy { ", burning CPU" } else { "" });
    Some(Diagnosis { symptom: Symptom::Silent, headline, key, details: Vec::new() })
}

fn sent_by_server(event: &Event) -> bool {
    match event {
        Event::Wire { from, .. } => from == "server",
        Event::Stdout { who, line } => who == "server" && crate::ready::parse(line).is_none(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    /// A Rust panic is found under a backtrace (RUST_BACKTRACE=1), message and place.
    #[test]
    fn a_panic_is_found_whatever_rust_backtrace_says() {
        let stderr = lines(
            "listening...\nthread 'main' panicked at src/main.rs:12:30:\ncalled `Result::unwrap()` on an `Err` value: Os { code: 98 }\n\
             stack backtrace:\n   0: rust_begin_unwind\n   1: core::panicking::panic_fmt\n   2: upper::main\n\
             note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.",
        );
        let words = last_words(&stderr).unwrap();
        assert_eq!(
            words.line,
            "panicked: called `Result::unwrap()` on an `Err` value: Os { code: 98 } (at src/main.rs:12:30)"
        );
        let old = lines(
            "thread 'main' panicked at 'index out of bounds', src/main.rs:3:5\nnote: run with `RUST_BACKTRACE=1`",
        );
        assert_eq!(last_words(&old).unwrap().line, "panicked at 'index out of bounds', src/main.rs:3:5");
    }

    /// A Python traceback's exception line, the last one when exceptions are chained.
    #[test]
    fn a_python_exception_is_the_line_under_its_traceback() {
        let stderr = lines(
            "Traceback (most recent call last):\n  File \"server.py\", line 9, in <module>\n    data.decode()\n\
             UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
        );
        let words = last_words(&stderr).unwrap();
        assert!(words.line.starts_with("UnicodeDecodeError: 'utf-8'"), "{words:?}");
        assert_eq!(words.context, ["File \"server.py\", line 9, in <module>", "data.decode()"]);
    }

    /// A line ending or a space is shown as the one character it is.
    #[test]
    fn whitespace_differences_show_the_character() {
        assert_eq!(whitespace_difference(b"OK", b"OK\n").unwrap(), r#"an extra "\n" at the end"#);
        assert_eq!(whitespace_difference(b"HI\n", b"HI").unwrap(), r#""\n" missing at the end"#);
        assert_eq!(whitespace_difference(b"HI\n", b"HI\r\n").unwrap(), r#"an extra "\r" after "HI""#);
        assert_eq!(whitespace_difference(b"a b", b"ab").unwrap(), r#"" " missing after "a""#);
        // A stream read stopped at the expected length: a stray newline before the next line.
        assert_eq!(whitespace_difference(b"HELLO", b"\nHELL").unwrap(), r#"an extra "\n" at the start"#);
        assert_eq!(whitespace_difference(b"OK", b"NO"), None);
        assert_eq!(whitespace_difference(b"OK", b"OK"), None);
    }

    #[test]
    fn case_differences_say_which_way() {
        assert_eq!(
            case_difference(b"hello, \xe5\xbc\xa0", b"HELLO, \xe5\xbc\xa0").unwrap(),
            "every letter upper-cased"
        );
        assert_eq!(case_difference(b"Hi", b"hi").unwrap(), "every letter lower-cased");
        assert_eq!(case_difference(b"Hi", b"hI").unwrap(), "letters in another case");
        assert_eq!(case_difference(b"OK", b"OK"), None);
        assert_eq!(case_difference(b"OK", b"NO"), None);
        assert_eq!(
            case_difference(b"\xff not UTF-8", b"\xff NOT UTF-8").unwrap(),
            "every letter upper-cased"
        );
        assert_eq!(case_difference("straße".as_bytes(), "STRASSE".as_bytes()), None);
    }
}
