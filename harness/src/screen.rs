//! How wide the runner's text is: the terminal's size, and text wrapped to a width. One place,
//! so that the demo, `--step`, `--watch`, `spec` and the list of labs agree.

use std::io::IsTerminal;

use unicode_width::UnicodeWidthChar;

/// The widest the runner's own prose is set (the list of labs, `spec`, `--help`), however
/// wide the terminal: a line longer than this is hard to read, and 80 columns is the terminal
/// many students have.
pub const PROSE: usize = 80;

/// The terminal on stdout, if it is one: its columns and rows.
#[allow(unsafe_code)]
pub fn terminal() -> Option<(usize, usize)> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct we pass, and nothing else.
    let done = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
    (done == 0 && size.ws_col > 0 && size.ws_row > 0).then_some((size.ws_col.into(), size.ws_row.into()))
}

/// How wide stdout is when it is a terminal, or for a pipe what `COLUMNS` says (a chapter's
/// generated block asks for 100); `None` for a pipe without it, where a line is never broken
/// (a log, a test's expectations).
pub fn terminal_width() -> Option<usize> {
    terminal()
        .map(|(columns, _)| columns)
        .or_else(|| std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).filter(|&c: &usize| c >= 20))
}

/// The width for the runner's prose: [`PROSE`], or less on a narrower terminal.
pub fn prose_width() -> usize {
    terminal_width().map_or(PROSE, |columns| columns.clamp(20, PROSE))
}

/// How many columns `text` takes on a terminal (中文 counts two).
pub fn columns(text: &str) -> usize {
    text.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// `text` in lines of at most `width` columns (中文 counts two), broken at spaces; a word
/// longer than a line is broken where it must. Lines after the first start with `indent`
/// spaces; a line break in `text` starts a new line too.
pub fn wrap(text: &str, width: usize, indent: usize) -> Vec<String> {
    let indent = indent.min(width / 2);
    let mut lines = Vec::new();
    for (n, paragraph) in text.split('\n').enumerate() {
        let mut line = " ".repeat(if n == 0 { 0 } else { indent });
        let mut used = line.len();
        let mut empty = true;
        for word in paragraph.split(' ') {
            let need = columns(word) + usize::from(!empty);
            if used + need <= width {
                if !empty {
                    line.push(' ');
                }
                line.push_str(word);
                (used, empty) = (used + need, false);
                continue;
            }
            if !empty {
                lines.push(std::mem::take(&mut line).trim_end().to_string());
                (line, used) = (" ".repeat(indent), indent);
            }
            for c in word.chars() {
                let w = c.width().unwrap_or(0);
                if used + w > width && used > indent {
                    lines.push(std::mem::take(&mut line).trim_end().to_string());
                    (line, used) = (" ".repeat(indent), indent);
                }
                line.push(c);
                used += w;
            }
            empty = false;
        }
        lines.push(line.trim_end().to_string());
    }
    lines
}

/// Prose written with line breaks of its own (a lab's story, a spec's paragraph) set again at
/// `width`: the lines of a paragraph are joined and broken anew; a blank line stays a
/// paragraph's end, and a line that starts a list item (`- `, `* `, `1. `) or is indented
/// starts a new line, its wrapped lines hanging under its text.
pub fn reflow(text: &str, width: usize) -> String {
    let mut out = Vec::new();
    let mut item: Option<(String, usize)> = None;
    let flush = |item: &mut Option<(String, usize)>, out: &mut Vec<String>| {
        if let Some((text, hang)) = item.take() {
            let lead = text.len() - text.trim_start().len();
            let body = wrap(text.trim_start(), width.saturating_sub(lead).max(8), hang);
            out.extend(body.into_iter().map(|line| format!("{}{line}", " ".repeat(lead))));
        }
    };
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            flush(&mut item, &mut out);
            out.push(String::new());
            continue;
        }
        let marker = trimmed.starts_with("- ")
            || trimmed.starts_with("* ")
            || trimmed
                .split_once(". ")
                .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        // An indented line goes on a list item; after plain prose it is set apart (an example).
        let indented = line.starts_with(' ');
        let continues = match &item {
            Some((text, hang)) if !marker && !text.starts_with(' ') => indented == (*hang > 0),
            _ => false,
        };
        match &mut item {
            Some((text, _)) if continues => {
                text.push(' ');
                text.push_str(trimmed);
            }
            _ => {
                flush(&mut item, &mut out);
                let hang = if marker { trimmed.find(' ').map_or(0, |i| i + 1) } else { 0 };
                item = Some((line.trim_end().to_string(), hang));
            }
        }
    }
    flush(&mut item, &mut out);
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::{reflow, wrap};

    #[test]
    fn wraps_between_words_and_indents_what_follows() {
        assert_eq!(
            wrap("  0.004s  alice → server  datagram", 20, 10),
            ["  0.004s  alice →", "          server", "          datagram"]
        );
        assert_eq!(wrap("short", 80, 10), ["short"]);
        assert_eq!(wrap("abcdefghij", 4, 2), ["abcd", "  ef", "  gh", "  ij"]);
        assert_eq!(wrap("张三 说", 4, 0), ["张三", "说"]);
        assert_eq!(wrap("one\ntwo", 80, 2), ["one", "  two"]);
    }

    #[test]
    fn reflow_joins_a_paragraph_and_keeps_items_and_blank_lines() {
        let text = "one two\nthree four\n\n- a b\n  c d\n- e";
        assert_eq!(reflow(text, 8), "one two\nthree\nfour\n\n- a b c\n  d\n- e");
        assert_eq!(reflow(text, 80), "one two three four\n\n- a b c d\n- e");
        assert_eq!(reflow("Run:\n    cargo lab x\nthen", 80), "Run:\n    cargo lab x\nthen");
    }
}
