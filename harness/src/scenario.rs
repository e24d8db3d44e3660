//! Scenarios: named claims about the wire, each with the code that proves it. A lab's one list
//! of them (in `labs/`) serves its tests (generated from the list by [`crate::testing`]),
//! `cargo lab check` against a student's server, and `cargo lab NAME`, the narrated demo.

use std::fmt;

use anyhow::Result;

use crate::diagnosis;
use crate::session::{Session, Skip, Target};
use crate::transcript::{Event, Proto, Transcript};

/// A lab, as the runner, the checker and the tests see it.
#[derive(Debug)]
pub struct Lab {
    /// The lab's name, which is also its binary's and its package's.
    pub name: &'static str,
    /// What it teaches, in one line.
    pub teaches: &'static str,
    pub proto: Proto,
    pub default_port: u16,
    /// The binary's roles (its subcommands): `server`, `client`, and any of the lab's own.
    pub roles: &'static [&'static str],
    /// The kinds of server the reference runs as (`--mode iterative`, `--mode threaded`). A
    /// scenario for every kind runs against each; none when the server has one kind.
    pub modes: &'static [&'static str],
    /// Flags the lab's server cannot start without, with values that serve any start
    /// (`--backlog 1`): what starts every lab's server alike (the suite's tests) passes them.
    /// Each is in [`Spec::flags`] too.
    pub server_flags: &'static [&'static str],
    /// The demo's opening paragraph.
    pub story: &'static str,
    pub scenarios: &'static [Scenario],
    /// The lab's broken servers: one program with a `--bug` switch per scenario.
    pub fixture: Fixture,
    /// Commands to try the lab by hand, one terminal each.
    pub by_hand: &'static [&'static str],
    /// What a student's own server must do: `cargo lab spec` prints it, each chapter shows it.
    pub spec: Spec,
}

impl Lab {
    pub fn scenario(&self, name: &str) -> &Scenario {
        self.scenarios
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{} has no scenario named {name}", self.name))
    }
}

/// What a student's own server must do, beyond binding `127.0.0.1:PORT` (`--port N`) and
/// the ready line, which are the same for every lab: the rest of the page is the scenarios'
/// claims, so that the page and the checker cannot disagree.
#[derive(Debug)]
pub struct Spec {
    /// The server in a sentence or two.
    pub task: &'static str,
    /// Every flag the scenarios start the server with, besides `--port N`.
    pub flags: &'static [Flag],
    /// The wire protocol: what a datagram, line or frame holds and what the server answers,
    /// one paragraph each.
    pub protocol: &'static [&'static str],
}

impl Spec {
    /// Whether `flag` (`--mode`) is one of [`Spec::flags`].
    pub fn takes(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f.usage.split(' ').next() == Some(flag))
    }
}

/// One flag of a student's server, and what the server must do with it.
#[derive(Debug)]
pub struct Flag {
    /// As the checker passes it, with its values: `--buf N`, `--mode iterative|threaded`.
    pub usage: &'static str,
    pub does: &'static str,
}

/// A server in another language (Python), kept beside the lab's tests: correct as it is, and
/// broken in one way per scenario with `--bug NAME`.
#[derive(Debug)]
pub struct Fixture {
    /// Its path from the lab's folder (`tests/fixtures/echo.py`).
    pub script: &'static str,
    /// Flags with which the correct server must pass every scenario: each way it can start
    /// (`--quiet` prints no ready line; `--mode threaded`). `""` is the plain start.
    pub passes_with: &'static [&'static str],
    /// Failure reports that must show the fault itself, not only that a scenario failed.
    pub reports: &'static [Report],
}

/// `scenario` fails against the fixture's `--bug BUG`, and its report shows the evidence: for
/// each entry of `shows`, one of its texts (the bytes may arrive in more than one way).
#[derive(Debug)]
pub struct Report {
    /// The test's name: what the report shows.
    pub name: &'static str,
    /// The scenario that fails, as `scenario_name!(its_function)` writes it: a name that is
    /// no function does not compile.
    pub scenario: &'static str,
    pub bug: &'static str,
    pub shows: &'static [&'static [&'static str]],
    /// The report's first line (what a student reads under FAIL) holds one of these: the
    /// mistake itself. Empty: no demand on the first line.
    pub leads_with: &'static [&'static str],
}

/// One claim about the wire, and the code that proves it. Written with [`scenario!`], so that
/// its name is the name of the function that proves it.
pub struct Scenario {
    /// A name that says the behaviour: the proving function's name, and its tests' names.
    pub name: &'static str,
    /// The claim in plain words.
    pub claim: &'static str,
    /// Where a student whose server fails the scenario should look in their own code: the
    /// usual cause, not the fix. Shown under a FAIL, unless hints are off (an exam).
    pub hint: &'static str,
    /// The kind of server the scenario is for, when it is not for every kind ("iterative").
    pub mode: Option<&'static str>,
    /// The bug in the lab's fixture (`--bug NAME`) that this scenario exists to catch.
    pub bug: &'static str,
    pub run: fn(&mut Session) -> Result<()>,
}

/// `scenario!(proving_function, claim: "…", hint: "…", bug: "fixture-bug")`, with
/// `mode: "threaded"` when the claim is about one kind of server only. The scenario is named
/// after the function.
#[macro_export]
macro_rules! scenario {
    ($run:ident, claim: $claim:expr, hint: $hint:expr, bug: $bug:expr $(, mode: $mode:expr)? $(,)?) => {
        $crate::scenario::Scenario {
            name: stringify!($run),
            claim: $claim,
            hint: $hint,
            mode: $crate::scenario::one_of(&[$($mode)?]),
            bug: $bug,
            run: $run,
        }
    };
}

/// The mode a [`scenario!`] names, if it names one.
pub const fn one_of(modes: &[&'static str]) -> Option<&'static str> {
    match modes {
        [mode] => Some(*mode),
        _ => None,
    }
}

impl Scenario {
    /// "[iterative only]", or nothing.
    pub fn tag(&self) -> String {
        self.mode.map(|kind| format!(" [{kind} only]")).unwrap_or_default()
    }
}

impl fmt::Debug for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// How one scenario ended.
#[derive(Debug)]
pub enum Outcome {
    Passed,
    Failed(anyhow::Error),
    Skipped(String),
}

/// Run one scenario, recording into `transcript`. After a failure, what reached a peer and
/// was never read is recorded too (often that is where the fault shows: a reply that went to
/// the wrong client).
pub fn run(scenario: &Scenario, target: &Target, transcript: &Transcript) -> Outcome {
    let mut session = Session::new(target, transcript);
    match (scenario.run)(&mut session) {
        Ok(()) => Outcome::Passed,
        Err(error) => match error.downcast::<Skip>() {
            Ok(skip) => Outcome::Skipped(skip.0),
            Err(error) => {
                session.collect_unread();
                Outcome::Failed(error)
            }
        },
    }
}

/// Whether a failure report says where to look ([`Scenario::hint`]): off for an exam.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Hints {
    #[default]
    Shown,
    Hidden,
}

/// What a student reads when a scenario fails: first the mistake the server showed, if one
/// shows (see [`crate::diagnosis`]), or else what failed; then the claim, the hint (if `hints`
/// says so), and everything that crossed the wire.
pub fn failure_report(
    _lab: &Lab,
    scenario: &Scenario,
    error: &anyhow::Error,
    transcript: &Transcript,
    hints: Hints,
) -> String {
    let events = transcript.events();
    let mut report = match diagnosis::diagnose(error, transcript) {
        Some(found) => {
            // The server's own words in it are escaped already (see diagnosis::escaped).
            let mut text = found.headline;
            for line in found.details {
                text.push_str(&format!("\n      {line}"));
            }
            text.push_str(&format!("\n  what failed: {error:#}"));
            text
        }
        // The whole of what failed on the first line: its continuation lines ("  but got ...")
        // are the half that says what came.
        None => {
            let said = format!("{error:#}");
            let mut lines = said.lines();
            let mut first = lines.next().unwrap_or("").to_string();
            let mut rest = Vec::new();
            for line in lines {
                match line.strip_prefix("  ") {
                    Some(more) if rest.is_empty() && !more.starts_with(' ') && !more.starts_with("note:") => {
                        first = format!("{first} — {more}")
                    }
                    _ => rest.push(line),
                }
            }
            std::iter::once(format!("what failed: {first}"))
                .chain(rest.into_iter().map(str::to_string))
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    let unread = events
        .iter()
        .filter(|(_, event)| matches!(event, Event::Wire { to, .. } if to.ends_with(" (unread)")))
        .count();
    if unread > 0 {
        report.push_str(&format!(
            "\n  note: {unread} more reached a peer that was not reading then: the \"(unread)\" lines of the \
             transcript show what went where"
        ));
    }
    report.push_str(&format!("\n  claim (scenario {}{}): {}", scenario.name, scenario.tag(), scenario.claim));
    for (_, event) in &events {
        if let Event::Start { who, command } = event
            && who == "server"
        {
            report.push_str(&format!("\n  server started as: {command}"));
        }
    }
    if hints == Hints::Shown {
        report.push_str(&format!("\n  hint: {}", scenario.hint));
    }
    format!("{report}\n\ntranscript (times from the scenario's start):\n{}", transcript.render())
}
