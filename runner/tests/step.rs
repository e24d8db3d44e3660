//! `cargo lab NAME --step` as a class sees it, on a terminal: a pseudo-terminal of a given size
//! is its stdin and stdout, and the test presses Enter at each prompt. One event per Enter; the
//! step's claim only after its events; the step's header at the top of every screen; no line
//! wider than the terminal, no screen taller; no dim text. The plain demo keeps to the
//! terminal's width too.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use rustix::termios::{Winsize, tcsetwinsize};
use unicode_width::UnicodeWidthStr;

/// How long one screen may take to come: a step runs first, and the machine may be busy.
const SCREEN_WAIT: Duration = Duration::from_secs(60);

/// A run of `cargo lab udp-echo --step` on a terminal of `rows` by `columns`.
struct Class {
    child: Child,
    keys: File,
    output: Receiver<Vec<u8>>,
    seen: Vec<u8>,
}

impl Class {
    fn start(rows: u16, columns: u16) -> Class {
        Class::run(&["udp-echo", "--step"], rows, columns)
    }

    /// `cargo lab ARGS` on a terminal of `rows` by `columns`.
    fn run(args: &[&str], rows: u16, columns: u16) -> Class {
        let echo = runner::cargo::binary("udp-echo", "udp-echo").expect("building udp-echo");
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("opening a pseudo-terminal");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        let path = PathBuf::from(name.to_str().expect("a UTF-8 terminal name"));
        let terminal = OpenOptions::new().read(true).write(true).open(&path).expect("opening the terminal");
        let size = Winsize { ws_row: rows, ws_col: columns, ws_xpixel: 0, ws_ypixel: 0 };
        tcsetwinsize(&terminal, size).expect("setting the terminal's size");
        let child = Command::new(env!("CARGO_BIN_EXE_lab"))
            .args(args)
            .env("LAB_BINARIES", echo.parent().unwrap())
            .env("LAB_PROGRESS", "/dev/null")
            .env_remove("NO_COLOR")
            .stdin(Stdio::from(terminal.try_clone().unwrap()))
            .stdout(Stdio::from(terminal.try_clone().unwrap()))
            .stderr(Stdio::from(terminal))
            .spawn()
            .expect("starting cargo lab");
        let master = File::from(master);
        let keys = master.try_clone().unwrap();
        let (send, output) = mpsc::channel();
        std::thread::spawn(move || {
            let mut master = master;
            let mut buf = [0; 4096];
            // Once the child and every copy of the terminal are gone, the read fails (EIO).
            while let Ok(n @ 1..) = master.read(&mut buf) {
                if send.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Class { child, keys, output, seen: Vec::new() }
    }

    /// The next whole screen (what came after the last clear, up to and with its prompt), or
    /// None once the program has ended.
    fn screen(&mut self) -> Option<String> {
        let due = Instant::now() + SCREEN_WAIT;
        loop {
            let text = String::from_utf8_lossy(&self.seen).into_owned();
            if let Some(at) = text.rfind("\x1b[H\x1b[2J")
                && text.ends_with("\x1b[0m")
                && plain(&text[at..]).lines().last().is_some_and(|line| line.starts_with("Enter:"))
            {
                self.seen.clear();
                return Some(text[at..].to_string());
            }
            match self.output.recv_timeout(due.saturating_duration_since(Instant::now())) {
                Ok(bytes) => self.seen.extend(bytes),
                Err(RecvTimeoutError::Disconnected) => return None,
                Err(RecvTimeoutError::Timeout) => panic!("no screen within {SCREEN_WAIT:?}; so far:\n{text}"),
            }
        }
    }

    fn press_enter(&mut self) {
        self.keys.write_all(b"\n").unwrap();
    }

    /// Everything the program printed, once it has ended; and how it ended.
    fn everything(mut self) -> (String, std::process::ExitStatus) {
        let due = Instant::now() + SCREEN_WAIT;
        loop {
            match self.output.recv_timeout(due.saturating_duration_since(Instant::now())) {
                Ok(bytes) => self.seen.extend(bytes),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "not ended within {SCREEN_WAIT:?}; so far:\n{}",
                        String::from_utf8_lossy(&self.seen)
                    )
                }
            }
        }
        let status = self.child.wait().unwrap();
        (String::from_utf8_lossy(&self.seen).into_owned(), status)
    }

    /// Every screen, pressing Enter at each, until the program ends; and how it ended.
    fn every_screen(mut self) -> (Vec<String>, std::process::ExitStatus) {
        let mut screens = Vec::new();
        while let Some(screen) = self.screen() {
            screens.push(screen);
            self.press_enter();
        }
        let status = self.child.wait().unwrap();
        (screens, status)
    }
}

impl Drop for Class {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text without its colour codes and carriage returns.
fn plain(text: &str) -> String {
    let mut plain = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else if c != '\r' {
            plain.push(c);
        }
    }
    plain
}

/// The prompt at the bottom of a screen.
fn prompt(screen: &str) -> String {
    plain(screen).lines().last().unwrap_or_default().to_string()
}

/// The lines that start an event: a time (`  0.004s  alice → server …`) or narration (nine
/// spaces, then text). A wrapped line's continuation starts with ten or eleven.
fn events(screen: &str) -> usize {
    let is_time = |word: &str| word.ends_with('s') && word[..word.len() - 1].parse::<f64>().is_ok();
    plain(screen)
        .lines()
        .filter(|line| {
            let text = line.trim_start();
            let indent = line.len() - text.len();
            (indent <= 2 && text.split(' ').next().is_some_and(is_time)) || (indent == 9 && !text.is_empty())
        })
        .count()
}

/// On a terminal tall enough for a whole step: each Enter shows exactly one more event, and
/// the claim comes once the step's events are all shown, never before.
#[test]
fn each_enter_shows_one_event_and_the_claim_comes_last() {
    let (screens, status) = Class::start(300, 100).every_screen();
    assert!(status.success(), "the demo ended with {status}");
    let mut steps = 0;
    let mut shown = 0;
    for screen in &screens {
        let prompt = prompt(screen);
        let claim = plain(screen).contains("The claim: ");
        if let Some(rest) = prompt.strip_prefix("Enter: event ") {
            let number: usize = rest.split(' ').next().unwrap().parse().unwrap();
            assert_eq!(events(screen), number - 1, "at {prompt:?} the screen shows:\n{}", plain(screen));
            assert!(!claim, "the claim shows before the step's events are all out:\n{}", plain(screen));
            shown = number;
        } else if prompt.starts_with("Enter: step ") && plain(screen).contains("— step ")
            || prompt == "Enter: the end"
        {
            steps += 1;
            assert!(claim, "the step ended without its claim:\n{}", plain(screen));
            assert_eq!(events(screen), shown, "the claim's screen:\n{}", plain(screen));
        }
    }
    assert_eq!(steps, 7, "udp-echo has 7 steps; the screens were:\n{}", screens.join("\n-----\n"));
}

/// On a small terminal: every step's screen starts with the step's header, fits its height and
/// width, and nothing is dim.
#[test]
fn a_small_terminal_keeps_the_header_in_view_and_every_line_within_its_width() {
    let (rows, columns) = (16, 60);
    let (screens, status) = Class::start(rows, columns).every_screen();
    assert!(status.success(), "the demo ended with {status}");
    assert!(screens.len() > 30, "only {} screens", screens.len());
    for screen in &screens {
        assert!(!screen.contains("\x1b[2m"), "dim text:\n{screen:?}");
        let text = plain(screen);
        let text = text.trim_start_matches('\n');
        assert!(text.lines().count() <= usize::from(rows), "taller than the terminal:\n{text}");
        for line in text.lines() {
            assert!(line.width() <= usize::from(columns), "wider than {columns} columns: {line:?}");
        }
        if prompt(screen).starts_with("Enter: event ") {
            let header = text.lines().next().unwrap_or_default();
            assert!(
                header.starts_with("udp-echo — step "),
                "the screen does not start with the header:\n{text}"
            );
        }
    }
}

/// The plain demo on a narrow terminal: its story, its step headings and every event are set
/// to the terminal's width (a pipe gets them as written, one event a line).
#[test]
fn the_demo_on_a_narrow_terminal_keeps_every_line_within_its_width() {
    let columns = 60;
    let (text, status) = Class::run(&["udp-echo"], 40, columns).everything();
    assert!(status.success(), "the demo ended with {status}:\n{text}");
    let text = plain(&text);
    assert!(text.contains("All 7 steps held."), "{text}");
    for line in text.lines() {
        assert!(line.width() <= usize::from(columns), "wider than {columns} columns: {line:?}\n{text}");
    }
}
