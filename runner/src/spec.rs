//! `cargo lab spec NAME`: what a student's own server must do, rendered from the lab's one
//! definition (its [`Spec`](harness::scenario::Spec) and its scenarios' claims). Each chapter's
//! "Your turn" section is this same text, so the page and the checker cannot disagree.

use harness::{Lab, Proto};

/// How wide the text is wrapped: it reads in a terminal and in the book's code block (always
/// this width, whatever the terminal, so that the page and the chapter agree).
const WIDTH: usize = harness::screen::PROSE;

/// The student's page for `lab`: the server's task, flags, ready line, protocol and scenarios,
/// without the commands (a starter's README gives its own, in its own language).
pub fn body(lab: &Lab) -> String {
    let spec = &lab.spec;
    let (proto, ready_after) = match lab.proto {
        Proto::Udp => ("udp", "the socket is bound"),
        Proto::Tcp => ("tcp", "the socket is bound and listening"),
    };
    let mut page = format!("{}: what your server must do\n\n", lab.name);
    page += &wrap(spec.task, "", "");
    page += "\nFlags (the checker passes them; your server must take each one):\n";
    page += "  --port N\n";
    page +=
        &wrap(&format!("Bind 127.0.0.1:N ({}). Always passed.", proto.to_uppercase()), "      ", "      ");
    for flag in spec.flags {
        page += &format!("  {}\n", flag.usage);
        page += &wrap(flag.does, "      ", "      ");
    }
    page += "\nReady:\n";
    page += &wrap(
        &format!(
            "Once {ready_after}, print `listening on {proto}://127.0.0.1:PORT` (the real port) as your \
             first line on stdout, and flush it. Or print nothing: the checker then waits until the port is \
             bound."
        ),
        "  ",
        "  ",
    );
    page += "\nOn the wire:\n";
    for (number, paragraph) in spec.protocol.iter().enumerate() {
        if number > 0 {
            page.push('\n');
        }
        page += &wrap(paragraph, "  ", "  ");
    }
    page += "\n";
    page += &wrap(
        &format!(
            "Scenarios (each starts a server of its own; `cargo lab {}` runs them, narrated, against the \
             lab's own server):",
            lab.name
        ),
        "",
        "",
    );
    for scenario in lab.scenarios {
        page += &wrap(&format!("{} — {}{}", scenario.name, scenario.claim, scenario.tag()), "  ", "      ");
    }
    page
}

/// The student's page for `lab`, ending with the command that checks their server.
pub fn render(lab: &Lab) -> String {
    let mut page = body(lab);
    page += "\n";
    page += &wrap(
        &format!(
            "Start from `cargo lab new {}` (add `--lang rust` for Rust), then check your server on every \
             save (the checker fills in {{port}}, and each scenario's flags for {{args}}):",
            lab.name
        ),
        "",
        "",
    );
    page += &format!("  {}\n", check_command(lab));
    page
}

/// The watch command for the Python starter in its default folder.
pub fn check_command(lab: &Lab) -> String {
    crate::new::Commands::new(lab, &crate::new::default_dir(lab), crate::new::Lang::Python).watch(lab)
}

/// `text` in lines of at most [`WIDTH`] columns (by [`harness::screen::wrap`], the runner's one wrap), the
/// first line after `first`, the others after `rest`; each line ends with a newline.
fn wrap(text: &str, first: &str, rest: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    // `first` and `rest` are indents: the first line's stands before its words, the others'
    // is the wrap's hanging indent.
    let lines = harness::screen::wrap(&format!("{first}{}", words.join(" ")), WIDTH, rest.len());
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::wrap;

    /// Words are never split, and no line is longer than the width unless one word is.
    #[test]
    fn wrap_keeps_words_whole_and_lines_short() {
        let text = "word ".repeat(60);
        let wrapped = wrap(&text, "  ", "    ");
        assert!(wrapped.lines().all(|line| harness::screen::columns(line) <= super::WIDTH));
        assert!(wrapped.lines().skip(1).all(|line| line.starts_with("    word")));
        assert_eq!(wrapped.split_whitespace().count(), 60);
    }
}
