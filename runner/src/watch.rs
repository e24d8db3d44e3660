//! `cargo lab check LAB --server CMD --watch [PATH…]`: check again on every save. Each run
//! redraws the screen: each scenario's line as it ends, with a running count; how many pass
//! (a bar); the first failing scenario's report and hint, folded to fit the terminal; and once
//! all pass, "done ✓" and the next lab. A save during a run stops it and starts the next. File events come from the system
//! (inotify on Linux) through notify's debouncer; where they never arrive (network file
//! systems, some VMs) `--poll` looks at the files twice a second instead, and a system that
//! refuses to watch falls back to that by itself.

use std::io::IsTerminal;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use harness::scenario::{self, Outcome};
use harness::style::Style;
use harness::{Target, out};
use notify_debouncer_full::notify::{self, EventKind, PollWatcher, RecursiveMode, Watcher};
use notify_debouncer_full::{DebounceEventResult, Debouncer, NoCache, new_debouncer_opt};

use crate::check::{self, Options, Ran, indent};
use crate::{build, progress};

/// What `--watch` was given besides the check's own options.
#[derive(Clone, Debug)]
pub struct Watch {
    /// Files and folders to watch (their whole trees).
    pub paths: Vec<PathBuf>,
    /// Poll instead of waiting for the system's file events.
    pub poll: bool,
    /// The build to run before each check (`--build`), if any.
    pub build: Option<String>,
    /// The command line, as the progress file keeps it.
    pub command: String,
    /// The progress file.
    pub progress: PathBuf,
}

/// Saves close together (an editor writes a file in several steps) are one change.
const SETTLE: Duration = Duration::from_millis(200);
const POLL_EVERY: Duration = Duration::from_millis(500);

/// What wakes the watch loop: a change to the files, or the end of a run.
enum Wake {
    Change(DebounceEventResult),
    RunDone(Result<()>),
}

/// Check, then check again after every change under the watched paths, until Ctrl-C (which
/// kills whatever the run had started: see harness::process::interrupt). A save during a run
/// cancels it (no scenario starts after it, and the roles of those running are stopped) and
/// starts the next at once.
pub fn watch(target: &Target, options: &Options, watch: &Watch) -> Result<()> {
    for path in &watch.paths {
        if !path.exists() {
            bail!("{} does not exist, so there is nothing to watch there", path.display());
        }
    }
    let (wake, woken) = channel::<Wake>();
    let changes = wake.clone();
    let (_watching, how) = start(&watch.paths, watch.poll, move |change| {
        let _ = changes.send(Wake::Change(change));
    })?;
    let style = Style::for_stdout();
    let screen = std::io::stdout().is_terminal();
    std::thread::scope(|scope| -> Result<()> {
        for run in 1.. {
            if screen {
                // Clear the screen and go home: each run replaces the last.
                print!("\x1b[2J\x1b[H");
            } else if run > 1 {
                out!("");
            }
            let started = Instant::now();
            out!("{} · run {run} · {}", target.lab.name, style.paint("2", &clock()));
            let cancel = Arc::new(AtomicBool::new(false));
            let options = Options { cancel: cancel.clone(), ..options.clone() };
            let done = wake.clone();
            scope.spawn(move || {
                let _ = done.send(Wake::RunDone(once(target, &options, watch, style, screen)));
            });
            // Until the run ends: a save cancels it, and the next run starts once it has.
            let mut cancelled = false;
            loop {
                match woken.recv().context("the file watcher stopped")? {
                    Wake::RunDone(result) => {
                        result?;
                        break;
                    }
                    Wake::Change(change) if !cancelled && matters_any(&change, &watch.progress) => {
                        cancelled = true;
                        cancel.store(true, Ordering::SeqCst);
                        harness::process::interrupt::kill_all();
                    }
                    Wake::Change(_) => {}
                }
            }
            if cancelled {
                out!(
                    "\n{}",
                    style.paint("33", "A file changed during the run: it was stopped; checking again.")
                );
                continue;
            }
            out!(
                "\n{}",
                style.paint(
                    "2",
                    &format!(
                        "Watching {} ({how}); this run took {:.1}s. Save to check again; Ctrl-C to stop.",
                        shown(&watch.paths),
                        started.elapsed().as_secs_f64()
                    )
                )
            );
            loop {
                match woken.recv().context("the file watcher stopped")? {
                    Wake::Change(change) if matters_any(&change, &watch.progress) => break,
                    _ => {}
                }
            }
        }
        Ok(())
    })
}

/// One run: build, start, every scenario (its line as it ends, with a running count), the
/// verdict, and the first failure, folded to fit the terminal.
fn once(target: &Target, options: &Options, watch: &Watch, style: Style, screen: bool) -> Result<()> {
    let lab = target.lab;
    if let Some(command) = &watch.build {
        out!("{}", style.paint("2", &format!("building: {command}")));
        if let Some(failed) = build::run(command)? {
            out!("\n{} {}", style.paint("31", "BUILD FAILED"), failed.report());
            return Ok(());
        }
    }
    // A server that does not start, or listens on a port of its own, fails every scenario the
    // same way: say it once.
    let first = check::first_start(target);
    if let Some(problem) = first.problem {
        out!("\n{} before any scenario: {}", style.paint("31", "FAIL"), problem.headline);
        if let Some(transcript) = &problem.transcript {
            out!("{}", indent(&format!("\ntranscript (times from the start):\n{transcript}")));
        }
        return Ok(());
    }
    for warning in &first.warnings {
        out!("{} {warning}", style.paint("33", "warning:"));
    }
    let scenarios = check::selected(target, options)?;
    let total = scenarios.len();
    out!("");
    let mut tally = check::Tally::default();
    let mut failures: Vec<Ran> = Vec::new();
    let mut lines = 2 + first.warnings.len();
    check::run_all(target, &scenarios, options, |event| {
        tally.on(&event);
        let (status, colour, scenario) = match &event {
            check::Event::Started(_) => return,
            check::Event::NotRun(scenario) => ("----", "2", *scenario),
            check::Event::Finished(ran) => match ran.outcome {
                Outcome::Passed => ("PASS", "32", ran.scenario),
                Outcome::Failed(_) => ("FAIL", "31", ran.scenario),
                Outcome::Skipped(_) => ("SKIP", "33", ran.scenario),
            },
        };
        let count = format!(
            "[{}/{total}, {} pass]",
            tally.passed + tally.failed + tally.skipped + tally.not_run,
            tally.passed
        );
        out!(
            "  {} {}{} {}",
            style.paint(colour, status),
            scenario.name,
            scenario.tag(),
            style.paint("2", &count)
        );
        lines += 1;
        if let check::Event::Finished(ran) = event
            && matches!(ran.outcome, Outcome::Failed(_))
        {
            failures.push(ran);
        }
    });
    if options.cancel.load(Ordering::SeqCst) {
        return Ok(());
    }
    let passed = tally.passed;
    out!("\n{} {passed}/{total} scenarios pass", bar(passed, total, style));
    lines += 2;
    if options.only.is_empty() {
        let entry =
            progress::Entry { lab: lab.name.to_string(), passed, total, command: watch.command.clone() };
        progress::keep(&watch.progress, entry);
    }
    match failures.first() {
        Some(first) => {
            let Outcome::Failed(error) = &first.outcome else { unreachable!("a failure") };
            let scenario = first.scenario;
            out!("\n{} {}{} — {}", style.paint("31", "FAIL"), scenario.name, scenario.tag(), scenario.claim);
            let report =
                indent(&scenario::failure_report(lab, scenario, error, &first.transcript, options.hints));
            // The screen holds the list, the bar, the report and the closing lines: the report
            // is folded to what is left, with the command that shows it all.
            let room = terminal_rows().filter(|_| screen).map(|rows| rows.saturating_sub(lines + 6).max(8));
            let shown: Vec<&str> = report.lines().collect();
            match room {
                Some(room) if shown.len() > room => {
                    out!("{}", shown[..room - 1].join("\n"));
                    out!(
                        "    {}",
                        style.paint(
                            "2",
                            &format!(
                                "… {} more lines: `{} --scenario {}` shows it all",
                                shown.len() + 1 - room,
                                watch.command.split(" --watch").next().unwrap_or(&watch.command),
                                scenario.name
                            )
                        )
                    );
                }
                _ => out!("{report}"),
            }
            let shared: Vec<String> = tally
                .shared()
                .map(|group| format!("{} failed the same way: {}", group.count, group.headline))
                .collect();
            if !shared.is_empty() {
                out!("\n{}", shared.join("\n"));
            } else if failures.len() > 1 {
                let rest: Vec<&str> = failures[1..].iter().map(|ran| ran.scenario.name).collect();
                out!("\n{} more failing, one at a time: {}", rest.len(), rest.join(", "));
            }
        }
        None if passed == total && options.only.is_empty() => {
            out!("\n{} {}: every scenario passes.", style.paint("32", "done ✓"), lab.name);
            out!("{}", progress::next_step(lab));
        }
        None if passed == total => {
            out!(
                "\nThe {total} scenarios you chose pass; without --scenario, the check runs all of {}'s.",
                lab.name
            );
        }
        None => {
            out!("\nSkipped scenarios are not passes; add what they need:");
            for why in &tally.skips {
                out!("  {} {why}", style.paint("33", "SKIP"));
            }
        }
    }
    Ok(())
}

/// How many rows the terminal on stdout has, if it is one.
fn terminal_rows() -> Option<usize> {
    harness::screen::terminal().map(|(_, rows)| rows)
}

/// Whether a batch of file events holds a change worth a new run.
fn matters_any(batch: &DebounceEventResult, progress: &Path) -> bool {
    let Ok(events) = batch else { return false };
    let ours = own_output();
    // Opening a file (the server's own start reads it) is no change; nor is what this run
    // writes itself (`--watch . > log.txt`: each run's lines would start the next run).
    events
        .iter()
        .filter(|event| !matches!(event.kind, EventKind::Access(_)))
        .flat_map(|event| &event.paths)
        .filter(|path| !ours.iter().any(|own| own == *path || path.canonicalize().is_ok_and(|p| &p == own)))
        .any(|path| matters(path, progress))
}

/// The files this process's stdout and stderr write into, when they are files (Linux: where
/// /proc/self/fd/1 and 2 lead).
fn own_output() -> Vec<std::path::PathBuf> {
    ["/proc/self/fd/1", "/proc/self/fd/2"]
        .iter()
        .filter_map(|fd| std::fs::read_link(fd).ok())
        .filter(|path| path.is_file())
        .collect()
}

/// Watch `paths` with the system's file events, or by polling when asked or when the system
/// refuses; says which.
fn start(
    paths: &[PathBuf],
    poll: bool,
    events: impl FnMut(DebounceEventResult) + Send + Clone + 'static,
) -> Result<(Box<dyn std::any::Any>, &'static str)> {
    if !poll {
        let events = events.clone();
        let config = notify::Config::default();
        match new_debouncer_opt::<_, notify::RecommendedWatcher, _>(SETTLE, None, events, NoCache, config)
            .and_then(|mut debouncer| watch_all(&mut debouncer, paths).map(|()| debouncer))
        {
            Ok(debouncer) => return Ok((Box::new(debouncer), "file events")),
            Err(error) => {
                eprintln!("warning: the system would not report file changes ({error}); polling instead")
            }
        }
    }
    let config = notify::Config::default().with_poll_interval(POLL_EVERY);
    let mut debouncer = new_debouncer_opt::<_, PollWatcher, _>(SETTLE, None, events, NoCache, config)
        .context("starting to poll the files")?;
    watch_all(&mut debouncer, paths).context("starting to poll the files")?;
    Ok((Box::new(debouncer), "polling"))
}

fn watch_all<W: Watcher>(debouncer: &mut Debouncer<W, NoCache>, paths: &[PathBuf]) -> notify::Result<()> {
    for path in paths {
        debouncer.watch(path, RecursiveMode::Recursive)?;
    }
    Ok(())
}

/// Whether a change to `path` is worth a new run.
pub fn matters(path: &Path, progress: &Path) -> bool {
    const OUTPUT: &[&str] =
        &["target", ".git", "__pycache__", "node_modules", ".mypy_cache", ".pytest_cache"];
    if path.file_name() == progress.file_name() {
        return false;
    }
    let in_output = path.components().any(|part| match part {
        Component::Normal(name) => OUTPUT.iter().any(|output| name == *output),
        _ => false,
    });
    let name = path.file_name().and_then(|name| name.to_str()).unwrap_or("");
    let backup = name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".pyc")
        || name.starts_with(".#")
        || name == "Cargo.lock" // written by the first build
        || name == "4913"; // vim's probe that a folder is writable
    !in_output && !backup
}

fn bar(passed: usize, total: usize, style: Style) -> String {
    const WIDTH: usize = 24;
    let filled = (passed * WIDTH).checked_div(total).unwrap_or(0);
    let colour = if passed == total { "32" } else { "33" };
    format!("[{}{}]", style.paint(colour, &"█".repeat(filled)), "░".repeat(WIDTH - filled))
}

fn shown(paths: &[PathBuf]) -> String {
    paths.iter().map(|path| path.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// The time of day, UTC, for telling runs apart.
fn clock() -> String {
    let seconds =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_secs());
    format!("{:02}:{:02}:{:02} UTC", seconds / 3600 % 24, seconds / 60 % 60, seconds % 60)
}
