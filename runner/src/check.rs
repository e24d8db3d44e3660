//! `cargo lab check NAME --server CMD`: a lab's scenarios against a student's server, in any
//! language. The scenarios run side by side (each owns its server, ports and peers); their
//! results are printed in the lab's order, a line each with its time, the failure report (with
//! the scenario's hint, unless `--no-hints`) under each failure, and a closing count.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use harness::diagnosis::{self, Diagnosis, Symptom};
use harness::ready::WrongPort;
use harness::scenario::{self, Hints, Outcome, Scenario};
use harness::session::Skip;
use harness::style::Style;
use harness::transcript::Transcript;
use harness::{Lab, Session, Target, out};

/// How `check` runs.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// How many scenarios run at once.
    pub jobs: usize,
    /// Only these scenarios (all when empty).
    pub only: Vec<String>,
    /// Start no more scenarios once one has failed.
    pub fail_fast: bool,
    /// Whether a failure says where to look (`--no-hints` hides it, for an exam).
    pub hints: Hints,
    /// A scenario still running after this long fails, and once all are done every role still
    /// alive is killed (a thread cannot be stopped from outside; its processes can). None: no
    /// limit but the scenarios' own deadlines.
    pub time_limit: Option<Duration>,
    /// Warnings (the spec's rules a pass does not prove) count as failures: for a teacher.
    pub strict: bool,
    /// Set from outside (a save during a `--watch` run): start no more scenarios, and stop the
    /// roles of those running.
    pub cancel: Arc<AtomicBool>,
    /// `--pcap DIR`: each scenario's packets, written to DIR/SCENARIO.pcapng.
    pub pcap: Option<PathBuf>,
}

/// Scenarios wait far more than they compute: a few run at once per core.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) * 8
}

/// One scenario's result, with its transcript, how long it took, and for a failure the
/// symptom the server showed.
pub struct Ran {
    pub scenario: &'static Scenario,
    pub outcome: Outcome,
    pub transcript: Transcript,
    pub took: Duration,
    pub diagnosis: Option<Diagnosis>,
}

/// What happens during a run: every report (text, watch, json, junit, gradescope, and grade
/// through json) reads these, and a [`Tally`] counts them, as nextest's reporter reads its
/// test events.
pub enum Event {
    /// A scenario started (in the order they start).
    Started(&'static Scenario),
    /// A scenario ended, passed, failed or skipped (in the lab's order).
    Finished(Ran),
    /// A scenario was not run: --fail-fast after a failure, or a run cancelled.
    NotRun(&'static Scenario),
}

/// Failures that share a symptom: reported once, in full for the first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub key: String,
    pub headline: String,
    /// The first scenario that failed this way, shown in full.
    pub first: &'static str,
    pub count: usize,
}

/// How a run went so far: the one count every report reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub started: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub not_run: usize,
    /// The failures' symptoms, in the order first seen.
    pub groups: Vec<Group>,
    /// The reasons scenarios were skipped, each once.
    pub skips: Vec<String>,
}

impl Tally {
    /// Count `event`. For a failure whose symptom an earlier failure showed, the name of that
    /// earlier scenario (shown in full already).
    pub fn on(&mut self, event: &Event) -> Option<&'static str> {
        match event {
            Event::Started(_) => self.started += 1,
            Event::NotRun(_) => self.not_run += 1,
            Event::Finished(ran) => match &ran.outcome {
                Outcome::Passed => self.passed += 1,
                Outcome::Skipped(why) => {
                    self.skipped += 1;
                    if !self.skips.contains(why) {
                        self.skips.push(why.clone());
                    }
                }
                Outcome::Failed(_) => {
                    self.failed += 1;
                    let found = ran.diagnosis.as_ref()?;
                    if let Some(group) = self.groups.iter_mut().find(|group| group.key == found.key) {
                        group.count += 1;
                        return Some(group.first);
                    }
                    self.groups.push(Group {
                        key: found.key.clone(),
                        headline: found.headline.clone(),
                        first: ran.scenario.name,
                        count: 1,
                    });
                }
            },
        }
        None
    }

    /// Skipped, or not run: not a pass either way.
    pub fn not_passed_nor_failed(&self) -> usize {
        self.skipped + self.not_run
    }

    /// The symptoms more than one scenario showed.
    pub fn shared(&self) -> impl Iterator<Item = &Group> {
        self.groups.iter().filter(|group| group.count > 1)
    }
}

/// The scenarios of `target`'s lab that `options` asks for, in the lab's order; an unknown
/// name is an error that lists the real ones.
pub fn selected(target: &Target, options: &Options) -> Result<Vec<&'static Scenario>> {
    let lab = target.lab;
    for name in &options.only {
        if !lab.scenarios.iter().any(|s| s.name == name) {
            let names: Vec<&str> = lab.scenarios.iter().map(|s| s.name).collect();
            bail!(
                "{} has no scenario named {name:?}; its scenarios are:\n  {}",
                lab.name,
                names.join("\n  ")
            );
        }
    }
    Ok(lab
        .scenarios
        .iter()
        .filter(|s| options.only.is_empty() || options.only.iter().any(|n| n == s.name))
        .collect())
}

enum Message {
    Started(usize),
    Done(usize, Option<Ran>),
}

/// Run `scenarios` against `target`, `jobs` at a time, handing each event to `on`: a start as
/// it happens, each result in the scenarios' order as soon as it and all before it are done.
/// With `fail_fast`, no scenario starts after one has failed, and once `options.cancel` is set
/// none starts at all; those are handed over as not run.
pub fn run_all(
    target: &Target,
    scenarios: &[&'static Scenario],
    options: &Options,
    mut on: impl FnMut(Event),
) {
    let captures = captures(options);
    let options = &Options { pcap: captures, ..options.clone() };
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let overran = AtomicBool::new(false);
    let (sender, messages) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        // Each worker waits as patiently as the thread that started the run.
        let stretch = harness::wait::stretching();
        for _ in 0..options.jobs.clamp(1, scenarios.len().max(1)) {
            let sender = sender.clone();
            let (next, failed, overran) = (&next, &failed, &overran);
            scope.spawn(move || {
                harness::wait::with_stretch(stretch, || {
                    loop {
                        let index = next.fetch_add(1, Ordering::SeqCst);
                        let Some(&scenario) = scenarios.get(index) else { return };
                        let stop = options.cancel.load(Ordering::SeqCst)
                            || (options.fail_fast && failed.load(Ordering::SeqCst));
                        let ran = if stop {
                            None
                        } else {
                            let _ = sender.send(Message::Started(index));
                            let ran = run_one(scenario, target, options, overran);
                            if matches!(ran.outcome, Outcome::Failed(_)) {
                                failed.store(true, Ordering::SeqCst);
                            }
                            Some(ran)
                        };
                        let _ = sender.send(Message::Done(index, ran));
                    }
                })
            });
        }
        drop(sender);
        let mut done: Vec<Option<Option<Ran>>> = scenarios.iter().map(|_| None).collect();
        let mut shown = 0;
        for message in messages {
            match message {
                Message::Started(index) => on(Event::Started(scenarios[index])),
                Message::Done(index, ran) => done[index] = Some(ran),
            }
            while let Some(slot) = done.get_mut(shown).and_then(Option::take) {
                match slot {
                    Some(ran) => on(Event::Finished(ran)),
                    None => on(Event::NotRun(scenarios[shown])),
                }
                shown += 1;
            }
        }
    });
    if overran.load(Ordering::SeqCst) {
        harness::process::interrupt::kill_all();
    }
}

/// The folder captures go to, if `--pcap` asked for them and they can be made here; if they
/// cannot, a warning says why, once, and the scenarios run (and score) the same without.
fn captures(options: &Options) -> Option<PathBuf> {
    let dir = options.pcap.as_ref()?;
    let ready = std::fs::create_dir_all(dir)
        .map_err(|error| format!("cannot make {}: {error}", dir.display()))
        .and_then(|()| harness::capture::probe());
    match ready {
        Ok(()) => Some(dir.clone()),
        Err(why) => {
            eprintln!("warning: no captures (--pcap): {why}; the scenarios run without them");
            None
        }
    }
}

/// One scenario, timed, and its symptom if it failed.
fn run_one(scenario: &'static Scenario, target: &Target, options: &Options, overran: &AtomicBool) -> Ran {
    let transcript = Transcript::new();
    let started = Instant::now();
    let outcome = match &options.pcap {
        None => run_timed(scenario, target, options, &transcript, overran),
        Some(dir) => captured(dir, scenario, &transcript, || {
            run_timed(scenario, target, options, &transcript, overran)
        }),
    };
    let took = started.elapsed();
    let diagnosis = match &outcome {
        Outcome::Failed(error) => diagnosis::diagnose(error, &transcript),
        _ => None,
    };
    Ran { scenario, outcome, transcript, took, diagnosis }
}

/// `scenario`, within its time limit if it has one.
fn run_timed(
    scenario: &'static Scenario,
    target: &Target,
    options: &Options,
    transcript: &Transcript,
    overran: &AtomicBool,
) -> Outcome {
    match options.time_limit {
        None => scenario::run(scenario, target, transcript),
        Some(limit) => within(limit, scenario, target, transcript, overran),
    }
}

/// `run` in a network namespace of its own, its packets written to DIR/SCENARIO.pcapng. A
/// capture that fails is said on stderr and changes nothing else.
fn captured(
    dir: &Path,
    scenario: &Scenario,
    transcript: &Transcript,
    run: impl FnOnce() -> Outcome + Send,
) -> Outcome {
    let path = dir.join(format!("{}.pcapng", scenario.name));
    // An earlier run's file is not to pass for this run's, should this capture fail.
    let _ = std::fs::remove_file(&path);
    let (outcome, written) = harness::capture::around(&path, transcript, run);
    if let Err(why) = written {
        eprintln!("warning: no capture of {}: {why}", scenario.name);
    }
    outcome
}

/// `scenario`, run on a thread of its own and waited for at most `limit`; past it, a failure
/// that says so (what was recorded until then is in `transcript`), and `overran` is set.
fn within(
    limit: Duration,
    scenario: &'static Scenario,
    target: &Target,
    transcript: &Transcript,
    overran: &AtomicBool,
) -> Outcome {
    let (sender, finished) = std::sync::mpsc::channel();
    let (target, recording) = (target.clone(), transcript.clone());
    let stretch = harness::wait::stretching();
    std::thread::spawn(move || {
        let outcome = harness::wait::with_stretch(stretch, || scenario::run(scenario, &target, &recording));
        let _ = sender.send(outcome);
    });
    finished.recv_timeout(limit).unwrap_or_else(|_| {
        overran.store(true, Ordering::SeqCst);
        Outcome::Failed(anyhow::anyhow!(
            "the scenario did not finish within its time limit ({}); what happened until then is below",
            harness::secs(limit)
        ))
    })
}

/// How a check ended: its tally, and the warnings of its first start.
#[derive(Debug, Default)]
pub struct Checked {
    pub tally: Tally,
    pub warnings: Vec<String>,
    /// The server could not be checked at all (every scenario counted as failed).
    pub not_started: bool,
    /// Why, in a line or a few.
    pub problem: Option<String>,
}

impl Checked {
    /// Every scenario passed, none was skipped, and (with --strict) nothing was warned about.
    pub fn all_held(&self, strict: bool) -> bool {
        !self.not_started
            && self.tally.failed == 0
            && self.tally.not_passed_nor_failed() == 0
            && (!strict || self.warnings.is_empty())
    }
}

/// `cargo lab check`: the scenarios against the target, a line each in the lab's order, the
/// failure report under each failure (once per symptom), warnings, and how many passed.
pub fn check(target: &Target, options: &Options) -> Result<Checked> {
    check_reading(target, options, &mut |_| {})
}

/// [`check`], with one more reader of its events (`--html FILE` gathers the page's results).
pub fn check_reading(target: &Target, options: &Options, reader: &mut dyn FnMut(&Event)) -> Result<Checked> {
    let lab = target.lab;
    let scenarios = selected(target, options)?;
    let style = Style::for_stdout();
    let first = first_start(target);
    if let Some(problem) = first.problem {
        out!("{} before any scenario: {}", style.paint("31", "FAIL"), problem.headline);
        if let Some(transcript) = &problem.transcript {
            out!("{}\n", indent(&format!("\ntranscript (times from the start):\n{transcript}")));
        }
        out!("\n{}: every scenario would fail the same way, so none was run", target.lab.name);
        let tally = Tally { failed: scenarios.len(), ..Tally::default() };
        let problem = Some(problem.headline);
        return Ok(Checked { tally, warnings: Vec::new(), not_started: true, problem });
    }
    for warning in &first.warnings {
        out!("{} {warning}", style.paint("33", "warning:"));
    }
    if !first.warnings.is_empty() {
        out!("");
    }
    let todos = crate::new::todo_scenarios(lab);
    let mut tally = Tally::default();
    let started = Instant::now();
    run_all(target, &scenarios, options, |event| {
        let same_as = tally.on(&event);
        reader(&event);
        match event {
            Event::Started(_) => {}
            Event::NotRun(scenario) => {
                out!(
                    "{} {}{} — not run (--fail-fast)",
                    style.paint("2", "SKIP"),
                    scenario.name,
                    scenario.tag()
                )
            }
            Event::Finished(ran) => print_result(lab, &ran, same_as, &todos, options.hints, style),
        }
    });
    out!(
        "\n{}: {} passed, {} failed, {} skipped in {:.2}s",
        lab.name,
        tally.passed,
        tally.failed,
        tally.not_passed_nor_failed(),
        started.elapsed().as_secs_f64()
    );
    for group in tally.shared() {
        out!("  {} scenarios failed the same way: {}", group.count, group.headline);
    }
    say_where_captures_are(options, &scenarios);
    if tally.skipped > 0 {
        out!(
            "\n{} {} skipped, so {} is not done: a skipped scenario is not a pass.",
            tally.skipped,
            if tally.skipped == 1 { "scenario was" } else { "scenarios were" },
            lab.name
        );
        for why in &tally.skips {
            out!("  {why}");
        }
    }
    if options.strict && !first.warnings.is_empty() {
        out!(
            "\n{} {} warning(s) count as failures (--strict)",
            style.paint("31", "FAIL"),
            first.warnings.len()
        );
    }
    Ok(Checked { tally, warnings: first.warnings, not_started: false, problem: None })
}

/// With `--pcap`, where the captures of this run are, if any were written.
fn say_where_captures_are(options: &Options, scenarios: &[&'static Scenario]) {
    let Some(dir) = &options.pcap else { return };
    let written = scenarios.iter().filter(|s| dir.join(format!("{}.pcapng", s.name)).is_file()).count();
    if written > 0 {
        out!(
            "\ncaptures: {written} in {} (one SCENARIO.pcapng each; open one in Wireshark, or `tshark -r FILE`)",
            dir.display()
        );
    }
}

/// One scenario's line, and for a failure its report: in full for the first failure of its
/// kind, its first line and a pointer for the next ones.
fn print_result(lab: &Lab, ran: &Ran, same_as: Option<&str>, todos: &[String], hints: Hints, style: Style) {
    let scenario = ran.scenario;
    let took = style.paint("2", &format!("({:.2}s)", ran.took.as_secs_f64()));
    match &ran.outcome {
        Outcome::Passed => {
            let status = style.paint("32", "PASS");
            out!("{status} {}{} — {} {took}", scenario.name, scenario.tag(), scenario.claim);
        }
        Outcome::Skipped(why) => {
            out!("{} {}{} — {why}", style.paint("33", "SKIP"), scenario.name, scenario.tag());
        }
        Outcome::Failed(error) => {
            let status = style.paint("31", "FAIL");
            out!("{status} {}{} — {} {took}", scenario.name, scenario.tag(), scenario.claim);
            if let (Some(first), Some(found)) = (same_as, &ran.diagnosis) {
                out!("    {}\n    (the same as {first} above: see its report)\n", found.headline);
                return;
            }
            let report = scenario::failure_report(lab, scenario, error, &ran.transcript, hints);
            let (headline, rest) = report.split_once('\n').unwrap_or((&report, ""));
            let silent = ran.diagnosis.as_ref().is_some_and(|found| found.symptom == Symptom::Silent);
            let note = if silent && hints == Hints::Shown && todos.iter().any(|todo| todo == scenario.name) {
                format!(
                    "\n  note: if your server is still the starter, begin with the TODO that names {}",
                    scenario.name
                )
            } else {
                String::new()
            };
            out!("{}\n", indent(&format!("{headline}{note}\n{rest}")));
        }
    }
}

/// What the first start showed: why the server cannot be checked at all, if it cannot; and
/// the spec's rules that no scenario proves and it did not keep.
#[derive(Debug, Default)]
pub struct FirstStart {
    pub problem: Option<StartProblem>,
    pub warnings: Vec<String>,
}

/// Why the server cannot be checked at all, found by starting it once before any scenario.
#[derive(Debug)]
pub struct StartProblem {
    /// In a line or a few: the server did not start, or listens on a port of its own choosing.
    pub headline: String,
    /// What it printed as it failed (a traceback, the shell's complaint), when that helps.
    pub transcript: Option<String>,
}

/// The server started once with no flags, before any scenario. A server that does not start,
/// or listens on a port of its own choosing and not the one it was given, fails every scenario
/// the same way (and, run side by side, each start after the first finds the port taken,
/// which only confuses): this one start tells, so that it is reported once. A server that
/// starts is looked at for the spec's rules no scenario proves: see [`warnings`].
pub fn first_start(target: &Target) -> FirstStart {
    let transcript = Transcript::new();
    let error = match Session::new(target, &transcript).server(&[]) {
        Ok(server) => return FirstStart { problem: None, warnings: warnings(target, &server, &transcript) },
        Err(error) => error,
    };
    if error.is::<Skip>() {
        return FirstStart::default();
    }
    // Started with no flags, a server that needs one (backlog's --backlog, which every
    // scenario passes) stops with a usage error naming it, status 2 by convention (argparse,
    // clap, the starters): the scenarios will pass the flag, so that is no problem yet. Status
    // 2 for anything else (Python's "can't open file") is one.
    let names_a_flag = |line: &String| {
        target.lab.spec.flags.iter().any(|flag| line.contains(flag.usage.split(' ').next().unwrap_or("")))
    };
    if transcript.crash().is_some_and(|crash| crash.status == "exited with status 2")
        && transcript.last_stderr("server", 12).iter().any(names_a_flag)
    {
        return FirstStart::default();
    }
    let problem = match error.downcast::<WrongPort>() {
        Ok(wrong) => StartProblem { headline: wrong.to_string(), transcript: None },
        Err(error) => StartProblem {
            headline: format!("the server did not start: {error:#}"),
            transcript: Some(transcript.render()),
        },
    };
    FirstStart { problem: Some(problem), warnings: Vec::new() }
}

/// The spec's rules that a pass does not prove, looked at on the server's first start: the
/// ready line first on stdout and in its format, the socket bound to 127.0.0.1 and not every
/// interface, and one port only.
fn warnings(target: &Target, server: &harness::process::Role, transcript: &Transcript) -> Vec<String> {
    let mut warnings = Vec::new();
    // Whatever it prints as it starts, once it has settled.
    let _ = server.wait_idle(harness::QUIET);
    transcript.say("(looking at what the server printed and the sockets it holds)");
    let printed: Vec<String> = transcript
        .events()
        .into_iter()
        .filter_map(|(_, event)| match event {
            harness::transcript::Event::Stdout { who, line } if who == "server" => Some(line),
            _ => None,
        })
        .collect();
    let ready = printed.iter().position(|line| harness::ready::parse(line).is_some());
    let port = server.addr().port();
    let proto = match target.lab.proto {
        harness::Proto::Udp => "udp",
        harness::Proto::Tcp => "tcp",
    };
    match ready {
        Some(0) => {}
        Some(at) => warnings.push(format!(
            "your server printed {:?} before its ready line: the ready line must be the first line on stdout",
            printed[at - 1]
        )),
        None => {
            if let Some(line) = printed.first() {
                warnings.push(format!(
                    "your server printed {line:?} and no ready line: the spec's is `listening on \
                     {proto}://127.0.0.1:{port}` (the checker found your server by its bound port)"
                ));
            }
        }
    }
    let bound = server.bound();
    if let Some(every) = bound.iter().find(|bound| bound.every_interface) {
        warnings.push(format!(
            "your server is bound to every interface (0.0.0.0 or ::, port {}): other machines can reach it; \
             bind 127.0.0.1, as the spec says",
            every.port
        ));
    }
    let others: Vec<String> = bound
        .iter()
        .filter(|bound| bound.port != port)
        .map(|bound| {
            format!("{} port {}", if bound.proto == harness::Proto::Udp { "udp" } else { "tcp" }, bound.port)
        })
        .collect();
    if !others.is_empty() {
        warnings.push(format!(
            "your server also holds {} besides the port it was given ({port}): the spec asks for one port only",
            others.join(" and ")
        ));
    }
    warnings
}

/// `text` with each line indented by four spaces, as a report sits under its PASS or FAIL line.
pub(crate) fn indent(text: &str) -> String {
    text.lines().map(|line| format!("    {line}")).collect::<Vec<_>>().join("\n")
}
