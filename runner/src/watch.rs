//! `cargo lab check LAB --server CMD --watch [PATH…]`: check again on every save. Each run
//! redraws the screen: how many scenarios pass (a bar), the first failing scenario's report
//! and hint, and once all pass, "done ✓" and the next lab. File events come from the system
//! (inotify on Linux) through notify's debouncer; where they never arrive (network file
//! systems, some VMs) `--poll` looks at the files twice a second instead, and a system that
//! refuses to watch falls back to that by itself.

use std::io::IsTerminal;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{Receiver, channel};
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

/// Check, then check again after every change under the watched paths, until Ctrl-C (which
/// kills whatever the run had started: see harness::process::interrupt).
pub fn watch(target: &Target, options: &Options, watch: &Watch) -> Result<()> {
    for path in &watch.paths {
        if !path.exists() {
            bail!("{} does not exist, so there is nothing to watch there", path.display());
        }
    }
    let (events, changes) = channel();
    let (_watching, how) = start(&watch.paths, watch.poll, events)?;
    let style = Style::for_stdout();
    let screen = std::io::stdout().is_terminal();
    for run in 1.. {
        if screen {
            // Clear the screen and go home: each run replaces the last.
            print!("\x1b[2J\x1b[H");
        } else if run > 1 {
            out!("");
        }
        let started = Instant::now();
        out!("{} · run {run} · {}", target.lab.name, style.paint("2", &clock()));
        once(target, options, watch, style)?;
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
        wait_for_change(&changes, &watch.progress)?;
    }
    Ok(())
}

/// One run: build, start, every scenario, the verdict.
fn once(target: &Target, options: &Options, watch: &Watch, style: Style) -> Result<()> {
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
    if let Some(problem) = check::start_problem(target) {
        out!("\n{} before any scenario: {}", style.paint("31", "FAIL"), problem.headline);
        if let Some(transcript) = &problem.transcript {
            out!("{}", indent(&format!("\ntranscript (times from the start):\n{transcript}")));
        }
        return Ok(());
    }
    let scenarios = check::selected(target, options)?;
    let mut ran: Vec<Ran> = Vec::new();
    check::run_all(target, &scenarios, options, |event| {
        if let check::Event::Finished(result) = event {
            ran.push(result);
        }
    });
    let passed = ran.iter().filter(|ran| matches!(ran.outcome, Outcome::Passed)).count();
    let total = scenarios.len();
    out!("\n{} {passed}/{total} scenarios pass\n", bar(passed, total, style));
    for ran in &ran {
        let (status, colour) = match ran.outcome {
            Outcome::Passed => ("PASS", "32"),
            Outcome::Failed(_) => ("FAIL", "31"),
            Outcome::Skipped(_) => ("SKIP", "33"),
        };
        out!("  {} {}{}", style.paint(colour, status), ran.scenario.name, ran.scenario.tag());
    }
    if options.only.is_empty() {
        let entry =
            progress::Entry { lab: lab.name.to_string(), passed, total, command: watch.command.clone() };
        progress::keep(&watch.progress, entry);
    }
    let failures: Vec<&Ran> = ran.iter().filter(|ran| matches!(ran.outcome, Outcome::Failed(_))).collect();
    match failures.first() {
        Some(first) => {
            let Outcome::Failed(error) = &first.outcome else { unreachable!("a failure") };
            let scenario = first.scenario;
            out!("\n{} {}{} — {}", style.paint("31", "FAIL"), scenario.name, scenario.tag(), scenario.claim);
            out!(
                "{}",
                indent(&scenario::failure_report(lab, scenario, error, &first.transcript, options.hints))
            );
            if failures.len() > 1 {
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
            for ran in &ran {
                if let Outcome::Skipped(why) = &ran.outcome {
                    out!("\n{} {}: {why}", style.paint("33", "SKIP"), ran.scenario.name);
                }
            }
        }
    }
    Ok(())
}

/// Watch `paths` with the system's file events, or by polling when asked or when the system
/// refuses; says which.
fn start(
    paths: &[PathBuf],
    poll: bool,
    events: std::sync::mpsc::Sender<DebounceEventResult>,
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

/// Block until a file that matters changed: not a build's output, not an editor's backup,
/// not the progress file this loop writes.
fn wait_for_change(changes: &Receiver<DebounceEventResult>, progress: &Path) -> Result<()> {
    loop {
        let batch = changes.recv().context("the file watcher stopped")?;
        let Ok(events) = batch else { continue };
        // Opening a file (the server's own start reads it) is no change.
        let mut changed = events
            .iter()
            .filter(|event| !matches!(event.kind, EventKind::Access(_)))
            .flat_map(|event| &event.paths);
        if changed.any(|path| matters(path, progress)) {
            // Whatever else is already queued belongs to the same save.
            while changes.try_recv().is_ok() {}
            return Ok(());
        }
    }
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
