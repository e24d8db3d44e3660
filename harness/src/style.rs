//! How the runner and a live transcript print: colour only for a terminal, and a closed
//! stdout that stops nothing.

use std::io::{IsTerminal, Write as _};

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
