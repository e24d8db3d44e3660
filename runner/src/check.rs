//! `cargo lab check NAME --server CMD`: a lab's scenarios against a student's server, in any
//! language. The scenarios run side by side (each owns its server, ports and peers); their
//! results are printed in the lab's order, a line each with its time, the failure report (with
//! the scenario's hint, unless `--no-hints`) under each failure, and a closing count.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use harness::ready::WrongPort;
use harness::scenario::{self, Hints, Outcome, Scenario};
use harness::session::Skip;
use harness::style::Style;
use harness::transcript::Transcript;
use harness::{Session, Target, out};

/// How `check` runs.
#[derive(Clone, Debug)]
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
}

/// Scenarios wait far more than they compute: a few run at once per core.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) * 8
}

/// One scenario's result, with its transcript and how long it took.
pub struct Ran {
    pub scenario: &'static Scenario,
    pub outcome: Outcome,
    pub transcript: Transcript,
    pub took: Duration,
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

/// Run `scenarios` against `target`, `jobs` at a time, handing each result to `report` in the
/// scenarios' order as soon as it and all before it are done. With `fail_fast`, no scenario
/// starts after one has failed; those are handed over as `None`.
pub fn run_all(
    target: &Target,
    scenarios: &[&'static Scenario],
    options: &Options,
    mut report: impl FnMut(&'static Scenario, Option<Ran>),
) {
    let results: Mutex<Vec<Option<Option<Ran>>>> = Mutex::new(scenarios.iter().map(|_| None).collect());
    let done = Condvar::new();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let overran = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.clamp(1, scenarios.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&scenario) = scenarios.get(index) else { return };
                    let ran = if options.fail_fast && failed.load(Ordering::SeqCst) {
                        None
                    } else {
                        let transcript = Transcript::new();
                        let started = Instant::now();
                        let outcome = match options.time_limit {
                            None => scenario::run(scenario, target, &transcript),
                            Some(limit) => within(limit, scenario, target, &transcript, &overran),
                        };
                        let took = started.elapsed();
                        if matches!(outcome, Outcome::Failed(_)) {
                            failed.store(true, Ordering::SeqCst);
                        }
                        Some(Ran { scenario, outcome, transcript, took })
                    };
                    lock(&results)[index] = Some(ran);
                    done.notify_all();
                }
            });
        }
        for (index, &scenario) in scenarios.iter().enumerate() {
            let mut slots = lock(&results);
            while slots[index].is_none() {
                slots = done.wait(slots).unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            let ran = slots[index].take().expect("the slot was filled");
            drop(slots);
            report(scenario, ran);
        }
    });
    if overran.load(Ordering::SeqCst) {
        harness::process::interrupt::kill_all();
    }
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
    std::thread::spawn(move || {
        let _ = sender.send(scenario::run(scenario, &target, &recording));
    });
    finished.recv_timeout(limit).unwrap_or_else(|_| {
        overran.store(true, Ordering::SeqCst);
        Outcome::Failed(anyhow::anyhow!(
            "the scenario did not finish within its time limit ({}); what happened until then is below",
            harness::secs(limit)
        ))
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How a check went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// `cargo lab check`: the scenarios against the target, a line each in the lab's order, the
/// failure report under each failure, and how many passed.
pub fn check(target: &Target, options: &Options) -> Result<Tally> {
    let lab = target.lab;
    let scenarios = selected(target, options)?;
    let style = Style::for_stdout();
    if let Some(problem) = start_problem(target) {
        out!("{} before any scenario: {}", style.paint("31", "FAIL"), problem.headline);
        if let Some(transcript) = &problem.transcript {
            out!("{}\n", indent(&format!("\ntranscript (times from the start):\n{transcript}")));
        }
        out!("\n{}: every scenario would fail the same way, so none was run", target.lab.name);
        return Ok(Tally { failed: scenarios.len(), ..Tally::default() });
    }
    let (mut passed, mut failed, mut skipped, mut not_run) = (0, 0, 0, 0);
    let started = Instant::now();
    run_all(target, &scenarios, options, |scenario, ran| {
        let Some(ran) = ran else {
            not_run += 1;
            out!("{} {}{} — not run (--fail-fast)", style.paint("2", "SKIP"), scenario.name, scenario.tag());
            return;
        };
        let took = style.paint("2", &format!("({:.2}s)", ran.took.as_secs_f64()));
        match ran.outcome {
            Outcome::Passed => {
                passed += 1;
                let status = style.paint("32", "PASS");
                out!("{status} {}{} — {} {took}", scenario.name, scenario.tag(), scenario.claim);
            }
            Outcome::Skipped(why) => {
                skipped += 1;
                out!("{} {}{} — {why}", style.paint("33", "SKIP"), scenario.name, scenario.tag());
            }
            Outcome::Failed(error) => {
                failed += 1;
                let status = style.paint("31", "FAIL");
                out!("{status} {}{} — {} {took}", scenario.name, scenario.tag(), scenario.claim);
                out!(
                    "{}\n",
                    indent(&scenario::failure_report(lab, scenario, &error, &ran.transcript, options.hints))
                );
            }
        }
    });
    let skipped = skipped + not_run;
    out!(
        "\n{}: {passed} passed, {failed} failed, {skipped} skipped in {:.2}s",
        lab.name,
        started.elapsed().as_secs_f64()
    );
    Ok(Tally { passed, failed, skipped })
}

/// Why the server cannot be checked at all, found by starting it once before any scenario.
#[derive(Debug)]
pub struct StartProblem {
    /// In a line or a few: the server did not start, or listens on a port of its own choosing.
    pub headline: String,
    /// What it printed as it failed (a traceback, the shell's complaint), when that helps.
    pub transcript: Option<String>,
}

/// A server that does not start, or listens on a port of its own choosing and not the one it
/// was given, fails every scenario the same way (and, run side by side, each start after the
/// first finds the port taken, which only confuses): one start with no flags tells, before
/// any scenario runs, so that it is reported once.
pub fn start_problem(target: &Target) -> Option<StartProblem> {
    let transcript = Transcript::new();
    let error = Session::new(target, &transcript).server(&[]).err()?;
    if error.is::<Skip>() {
        return None;
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
        return None;
    }
    Some(match error.downcast::<WrongPort>() {
        Ok(wrong) => StartProblem { headline: wrong.to_string(), transcript: None },
        Err(error) => StartProblem {
            headline: format!("the server did not start: {error:#}"),
            transcript: Some(transcript.render()),
        },
    })
}

/// `text` with each line indented by four spaces, as a report sits under its PASS or FAIL line.
pub(crate) fn indent(text: &str) -> String {
    text.lines().map(|line| format!("    {line}")).collect::<Vec<_>>().join("\n")
}
