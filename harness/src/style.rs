//! How the runner and a live transcript print: colour only for a terminal, a closed stdout
//! that stops nothing, and text from a stranger's program made safe to print.

use std::borrow::Cow;
use std::io::{IsTerminal, Write as _};

/// `text` with every character a terminal would act on, or that hides or reorders text (the
/// same as [`printable`] escapes), written `\u{1b}`, and nothing else changed: for a name in a
/// table, where quotes would be noise.
pub fn escaped_inline(text: &str) -> String {
    text.chars()
        .map(|c| if lab_common::needs_escape(c) { c.escape_unicode().to_string() } else { c.to_string() })
        .collect()
}

/// Text from a program or a person the runner does not trust (a line a student's server
/// printed, a crash's last words, a submission's folder name), made safe to print on a
/// terminal or to write into a report. This is the one escaping function: the transcript, the
/// crash heading, grade's names and the demos all go through it.
///
/// Text whose every character is harmless comes back as it is (张三, مرحبا and emoji included).
/// Otherwise it comes back in quotes with `"` and `\` escaped and every character that
/// [`lab_common::needs_escape`] names written as an escape (`\u{1b}`): control characters (C0
/// such as ESC, BEL, CR, LF and TAB, DEL, and C1 such as U+009B, the one-character CSI), the
/// format characters that reorder or hide text (bidi overrides such as U+202E, zero-width
/// spaces), and the line and paragraph separators. So nothing from it can clear a screen, move
/// the cursor, retitle a window, ask the terminal to answer, start a new line or make one name
/// read as another. Nothing is shortened.
///
/// ```
/// use harness::style::printable;
/// assert_eq!(printable("张三 joined"), "张三 joined");
/// assert_eq!(printable("\x1b]0;owned\x07"), r#""\u{1b}]0;owned\u{7}""#);
/// assert_eq!(printable("forged\nrow"), r#""forged\nrow""#);
/// ```
pub fn printable(text: &str) -> Cow<'_, str> {
    if text.chars().any(lab_common::needs_escape) {
        Cow::Owned(format!("\"{}\"", lab_common::escape(text.as_bytes())))
    } else {
        Cow::Borrowed(text)
    }
}

/// [`printable`] for bytes that may not be UTF-8 (a file name, a pipe's raw line): a byte that
/// is not part of a UTF-8 character is written `\xff`, inside the quotes.
///
/// ```
/// use harness::style::printable_bytes;
/// assert_eq!(printable_bytes(b"ok"), "ok");
/// assert_eq!(printable_bytes(b"bad \xff"), r#""bad \xff""#);
/// ```
pub fn printable_bytes(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => printable(text),
        Err(_) => Cow::Owned(format!("\"{}\"", lab_common::escape(bytes))),
    }
}

/// Print a line on stdout. A reader that went away (`cargo lab udp-echo | head`) is not an
/// error worth stopping for: the run goes on, and its roles are cleaned up as usual.
pub fn out(text: impl std::fmt::Display) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
}

/// Colours for a terminal, or none.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub colour: bool,
}

impl Style {
    pub const PLAIN: Style = Style { colour: false };

    /// Colour only when stdout is a terminal and NO_COLOR is unset (https://no-color.org).
    pub fn for_stdout() -> Style {
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Style { colour }
    }

    pub fn paint(self, code: &str, text: &str) -> String {
        if self.colour { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples in `printable`'s documentation (doctests are off in this crate), and the
    /// characters the hostile battery sent: OSC, CSI, DSR, a C1 CSI, U+202E.
    #[test]
    fn printable_escapes_what_a_terminal_acts_on() {
        assert_eq!(printable("张三 joined"), "张三 joined");
        assert_eq!(printable("\x1b]0;owned\x07"), r#""\u{1b}]0;owned\u{7}""#);
        assert_eq!(printable("forged\nrow"), r#""forged\nrow""#);
        assert_eq!(printable("\x1b[2J\x1b[6n\u{9b}1m\u{202e}"), r#""\u{1b}[2J\u{1b}[6n\u{9b}1m\u{202e}""#);
        assert_eq!(printable("a \"b\" \\ \t"), r#""a \"b\" \\ \t""#);
        assert_eq!(printable_bytes(b"ok"), "ok");
        assert_eq!(printable_bytes(b"bad \xff"), r#""bad \xff""#);
    }
}
