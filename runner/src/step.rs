//! `cargo lab NAME --step`: the demo for a class, one event per Enter. Each step runs first,
//! quietly (its processes and sockets are as real as in the demo, and its times are the real
//! ones), and is then shown one event at a time: a datagram, a connection, a line printed or
//! typed, a sentence of narration. The class predicts each before it appears. The step's claim
//! comes last, after its events, so that it does not give the answer away.
//!
//! On a terminal the screen is drawn again at each Enter, with the step's header at the top
//! and as many of its latest events as fit below; lines are wrapped to the terminal's width,
//! and nothing is dim (a projector washes dim text out). Written to a pipe, the same lines
//! come one after another, wrapped to `COLUMNS` if it is set.

use std::io::{BufRead, Write as _};
use std::time::Duration;

use harness::scenario::{self, Outcome};
use harness::screen::wrap;
use harness::style::Style;
use harness::transcript::{self, Event, Transcript};
use harness::{Target, out};

/// Where a wrapped event line goes on: under the text, past the time column (`  0.004s  `).
const INDENT: usize = 10;

/// Run every step of the lab, each shown one event per Enter. True when every step held.
pub fn run(target: &Target) -> bool {
    let lab = target.lab;
    let screen = Screen::of_stdout();
    let mut enter = Enter::default();
    let mut intro = screen.wrap(&format!("{} — {}", lab.name, lab.teaches), 0);
    intro.push(String::new());
    for paragraph in lab.story.trim().split("\n\n") {
        intro.extend(screen.wrap(&paragraph.replace('\n', " "), 0));
        intro.push(String::new());
    }
    intro.extend(screen.wrap(
        "Each step starts real processes and sockets on 127.0.0.1 and runs at once; then its \
         events come one per Enter, with their real times: predict each before you press. \
         The step's claim comes last. Ctrl-D shows the rest without waiting.",
        0,
    ));
    screen.show(&[], &intro, &format!("Enter: step 1 of {}", lab.scenarios.len()), &mut 0);
    enter.wait();
    let mut held = 0;
    for (number, scenario) in lab.scenarios.iter().enumerate() {
        let header = vec![
            screen.bold(&format!("{} — step {} of {}", lab.name, number + 1, lab.scenarios.len())),
            "─".repeat(screen.width.unwrap_or(40).min(80)),
        ];
        let mut printed = 0;
        screen.show(&header, &[], "(running the step…)", &mut printed);
        let transcript = Transcript::new();
        let outcome = scenario::run(scenario, target, &transcript);
        let events = shown(transcript.events());
        let mut body = Vec::new();
        for (count, (at, event)) in events.iter().enumerate() {
            // After Ctrl-D nobody is pressing: the step's screen is drawn once, at its end.
            if !enter.ended {
                let prompt = format!("Enter: event {} of {}", count + 1, events.len());
                screen.show(&header, &body, &prompt, &mut printed);
                enter.wait();
            }
            body.extend(screen.lines(*at, event));
        }
        body.push(String::new());
        body.extend(screen.wrap(&format!("The claim: {}", scenario.claim), 0));
        let verdict = match outcome {
            Outcome::Passed => {
                held += 1;
                screen.paint("32", "✔ held")
            }
            Outcome::Skipped(why) => screen.paint("33", &format!("skipped: {why}")),
            Outcome::Failed(error) => screen.paint("31", &format!("✘ did not hold: {error:#}")),
        };
        body.extend(screen.wrap(&verdict, 0));
        let next = match number + 2 {
            next if next <= lab.scenarios.len() => format!("Enter: step {next} of {}", lab.scenarios.len()),
            _ => "Enter: the end".to_string(),
        };
        screen.show(&header, &body, &next, &mut printed);
        enter.wait();
    }
    let all = lab.scenarios.len();
    let mut end = vec![if held == all {
        screen.paint("32", &format!("All {all} steps held."))
    } else {
        screen.paint("31", &format!("{held} of {all} steps held."))
    }];
    end.push(String::new());
    end.push("Try it by hand, one terminal each:".to_string());
    for command in lab.by_hand {
        end.extend(screen.wrap(&format!("    {command}"), 4));
    }
    screen.show(&[], &end, "", &mut 0);
    held == all
}

/// The events a live demo would print: those of a quiet part are left out, as there.
fn shown(events: Vec<(Duration, Event)>) -> Vec<(Duration, Event)> {
    let mut quiet = false;
    let mut shown = Vec::new();
    for (at, event) in events {
        match event {
            Event::Hush(start) => {
                quiet = start;
                shown.push((at, event));
            }
            _ if quiet => {}
            event => shown.push((at, event)),
        }
    }
    shown
}

/// Each Enter the class presses. After the end of input (Ctrl-D) nothing waits any more.
#[derive(Default)]
struct Enter {
    ended: bool,
}

impl Enter {
    fn wait(&mut self) {
        if self.ended {
            return;
        }
        let mut line = String::new();
        self.ended = !matches!(std::io::stdin().lock().read_line(&mut line), Ok(1..));
    }
}

/// What stdout is: its width and height on a terminal, or a pipe (maybe with `COLUMNS`).
struct Screen {
    width: Option<usize>,
    /// On a terminal, its height: the screen is drawn again at each Enter.
    rows: Option<usize>,
    style: Style,
}

impl Screen {
    fn of_stdout() -> Screen {
        let style = Style::for_stdout();
        let rows = harness::screen::terminal().map(|(_, rows)| rows.max(8));
        Screen { width: harness::screen::terminal_width(), rows, style }
    }

    /// An event as the demo prints it, wrapped; narration in bold, its wrapped lines hanging
    /// two columns in, so that each event's first line stands out.
    fn lines(&self, at: Duration, event: &Event) -> Vec<String> {
        let text = transcript::render(at, event, Style::PLAIN);
        match event {
            Event::Say(_) => self.wrap(&text, 11).iter().map(|line| self.bold(line)).collect(),
            _ => self.wrap(&text, INDENT),
        }
    }

    fn bold(&self, text: &str) -> String {
        self.style.paint("1", text)
    }

    fn paint(&self, code: &str, text: &str) -> String {
        self.style.paint(code, text)
    }

    /// `text` as lines of at most the screen's width, broken between words where it can, each
    /// line after the first indented by `indent`.
    fn wrap(&self, text: &str, indent: usize) -> Vec<String> {
        match self.width {
            Some(width) => wrap(text, width, indent),
            None => vec![text.to_string()],
        }
    }

    /// On a terminal: the header, as many of the body's last lines as fit (of a page with no
    /// header, its first), and the prompt, on a fresh screen. On a pipe: the body's lines not
    /// `printed` yet, and the prompt.
    fn show(&self, header: &[String], body: &[String], prompt: &str, printed: &mut usize) {
        let mut stdout = std::io::stdout().lock();
        match self.rows {
            Some(rows) => {
                let room = rows.saturating_sub(header.len() + 2);
                let shown = match header.is_empty() {
                    true => &body[..body.len().min(room)],
                    false => &body[body.len().saturating_sub(room)..],
                };
                let _ = write!(stdout, "\x1b[H\x1b[2J");
                for line in header.iter().chain(shown) {
                    let _ = writeln!(stdout, "{line}");
                }
                let _ = write!(stdout, "\n{}", self.bold(prompt));
            }
            None => {
                if *printed == 0 {
                    for line in header {
                        let _ = writeln!(stdout, "{line}");
                    }
                }
                for line in &body[(*printed).min(body.len())..] {
                    let _ = writeln!(stdout, "{line}");
                }
                *printed = body.len().max(1);
                if !prompt.is_empty() {
                    let _ = writeln!(stdout, "{prompt}");
                }
            }
        }
        let _ = stdout.flush();
        if self.rows.is_some() && prompt.is_empty() {
            out!("");
        }
    }
}
