//! `cargo lab grade LAB --submissions DIR --server TEMPLATE`: a whole class. Each entry of DIR
//! (a file or a folder) is one submission, checked by its own `lab check --format json`
//! process, several at once; on Linux each inside namespaces of its own (see
//! [`harness::isolate`]), so that submissions neither clash on ports nor outlive their turn.
//! The class comes out as a table on stdout and, in `--out`, a report per submission (text,
//! and the checker's JSON, from which `--only` rebuilds the class), `results.csv`,
//! `junit.xml` and `summary.json`; with `--pcap`, each scenario's packets in
//! `captures/NAME/SCENARIO.pcapng` (see [`harness::capture`]).
//!
//! Each student's server runs in a sandbox of its own ([`harness::sandbox`]): a fresh copy of
//! its submission to work in, a uid of its own where the grader is root, a clean environment,
//! limits, and (Landlock) no other file to write or read. The checker that decides the score
//! is out of its reach: another user, outside its Landlock domain, its report on a pipe.

mod html;
pub(crate) mod out;
pub mod sandbox;

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use harness::process::{self, Finished, quote};
use harness::style::Style;
use harness::{Lab, isolate, out, secs};
use serde::{Deserialize, Serialize};

use self::sandbox::{SandboxArgs, Workspace};

use crate::report::{self, Points, ScenarioResult, Status, Submission};

/// How a class is graded.
#[derive(Clone, Debug)]
pub struct Options {
    pub lab: &'static Lab,
    /// The folder of submissions: one entry each.
    pub submissions: PathBuf,
    /// The server command, with `{submission}` where the entry's path goes (quoted for the
    /// shell here), and `{port}`, `{args}` as for `check`.
    pub template: String,
    /// Where the reports go; never inside the submissions.
    pub out: PathBuf,
    /// How many submissions are checked at once.
    pub jobs: usize,
    /// How many scenarios of one submission run at once.
    pub scenario_jobs: usize,
    /// Only these scenarios (all when empty).
    pub only: Vec<String>,
    pub points: Option<PathBuf>,
    /// A submission still running after this is stopped, and every scenario not done fails.
    pub time_limit: Duration,
    /// A scenario still running after this fails.
    pub scenario_time_limit: Duration,
    pub no_hints: bool,
    /// Check each submission in namespaces of its own, where they can be made.
    pub isolate: bool,
    /// Run each student's server in a sandbox (see the module's header).
    pub sandbox: bool,
    /// A build to run first in each submission's copy (`{submission}` as in the template).
    pub build: Option<String>,
    pub limits: SandboxArgs,
    /// Grade only these students (entries' names) into the --out of an earlier run, keeping
    /// everyone else's reports (all when empty).
    pub students: Vec<String>,
    /// Only the entries whose names match one of these globs are submissions (when any).
    pub include: Vec<String>,
    /// How long a server may take to be ready (the checker's default when `None`).
    pub ready_wait: Option<Duration>,
    /// The `lab` runner itself (each submission's checker), and the lab's reference binary.
    pub runner: PathBuf,
    pub reference: PathBuf,
    /// Each student's captures in OUT/captures/NAME/ (`check --pcap`).
    pub pcap: bool,
}

/// What `summary.json` holds: the class, a line per submission, and the class's figures.
#[derive(Debug, Serialize, Deserialize)]
pub struct Summary {
    pub lab: String,
    /// The grader's version (this runner's), when, and with which options.
    pub grader: String,
    pub date: String,
    pub options: Vec<String>,
    /// Whether each submission ran in namespaces of its own (see the teachers' chapter).
    pub isolated: bool,
    /// Whether each student's server ran in its sandbox, and with Landlock's file rules.
    pub sandboxed: bool,
    pub landlock_abi: i32,
    pub scenarios: Vec<String>,
    pub max_points: f64,
    pub statistics: report::table::Statistics,
    pub submissions: Vec<SummaryRow>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SummaryRow {
    pub name: String,
    pub points: f64,
    pub problem: Option<String>,
    /// Each scenario's status, in the lab's order.
    pub results: Vec<Status>,
    pub report: String,
}

/// Bytes of a checker's JSON report kept; a report is far smaller, as each student server's
/// output is capped (see `harness::process::STRANGER_OUTPUT_CAP`).
const REPORT_CAP: usize = 64 * 1024 * 1024;

/// Grade the class: print the table, write the reports, and return the submissions.
pub fn grade(options: &Options) -> Result<Vec<Submission>> {
    check_template(&options.template, options.lab)?;
    for name in &options.only {
        if !options.lab.scenarios.iter().any(|s| s.name == name) {
            let names: Vec<&str> = options.lab.scenarios.iter().map(|s| s.name).collect();
            bail!(
                "{} has no scenario named {name:?}; its scenarios are:\n  {}",
                options.lab.name,
                names.join("\n  ")
            );
        }
    }
    let (class, passed_over) = entries(&options.submissions, &options.include)?;
    if !passed_over.is_empty() {
        eprintln!(
            "note: not graded, as not submissions: {} (--include GLOB chooses the submissions)",
            passed_over.iter().map(|name| shown(name)).collect::<Vec<_>>().join(", ")
        );
    }
    if class.is_empty() && !options.include.is_empty() {
        bail!(
            "no entry of {} matches --include {}",
            options.submissions.display(),
            options.include.join(" --include ")
        );
    }
    if class.is_empty() {
        bail!("{} holds no submissions (one file or folder each)", options.submissions.display());
    }
    let entries: Vec<Entry> = match options.students.is_empty() {
        true => class.clone(),
        false => {
            for student in &options.students {
                if !class.iter().any(|(name, _)| name == student) {
                    let near = crate::suggest::nearest(student, class.iter().map(|(name, _)| name.as_str()));
                    bail!(
                        "--only {student:?}: {} has no such submission{}",
                        options.submissions.display(),
                        near.map(|near| format!("; did you mean {near}?")).unwrap_or_default()
                    );
                }
            }
            class.iter().filter(|(name, _)| options.students.contains(name)).cloned().collect()
        }
    };
    prepare_out(&options.out, &options.submissions, !options.students.is_empty())?;
    if options.students.is_empty() {
        // An earlier run's captures are of other reports: they go with them.
        forget_captures(&options.out)?;
    }
    // Re-grading some: everyone else's report is read back first, so that a missing one stops
    // the run before anything is changed.
    let kept: Vec<Submission> = class
        .iter()
        .filter(|(name, _)| !entries.iter().any(|(graded, _)| graded == name))
        .map(|(name, _)| earlier_report(&options.out, name))
        .collect::<Result<_>>()?;
    let points = match &options.points {
        Some(path) => Points::read(path, options.lab)?,
        None => Points::default(),
    };
    let isolated = options.isolate
        && match isolate::probe(&options.runner, &["isolated", "list"]) {
            Ok(()) => true,
            Err(why) => {
                eprintln!(
                    "note: grading without isolation: {why}\n      (submissions share this machine's \
                     network: see \"What is isolated\" in the teachers' chapter)"
                );
                false
            }
        };
    let landlock_abi = harness::sandbox::landlock_abi();
    if options.sandbox && landlock_abi == 0 {
        eprintln!(
            "note: this kernel has no Landlock: each server runs with its own copy, user, environment and \
             limits, but may read and write any file its user may (see \"The sandbox\" in the teachers' chapter)"
        );
    } else if options.sandbox && landlock_abi < 6 && !harness::sandbox::is_root() {
        eprintln!(
            "note: this kernel's Landlock (ABI {landlock_abi}) cannot stop a server from signalling its \
             checker, which runs as the same user: run grade as root to give each server a user of its own"
        );
    }
    let started = Instant::now();
    let graded: Mutex<Vec<Option<Submission>>> = Mutex::new(entries.iter().map(|_| None).collect());
    let (next, done) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let progress = Progress::new(entries.len());
    std::thread::scope(|scope| {
        for slot in 0..options.jobs.clamp(1, entries.len()) {
            let (graded, next, done, progress, points, entries) =
                (&graded, &next, &done, &progress, &points, &entries);
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some((name, path)) = entries.get(index) else { return };
                    let submission = grade_one(options, points, isolated, slot, name, path);
                    lock(graded)[index] = Some(submission);
                    progress.show(done.fetch_add(1, Ordering::SeqCst) + 1, &shown(name));
                }
            });
        }
    });
    progress.finish();
    let mut submissions: Vec<Submission> =
        lock(&graded).drain(..).map(|slot| slot.expect("every submission was graded")).collect();
    let kept_count = kept.len();
    submissions.extend(kept);
    submissions.sort_by(|a, b| a.name.cmp(&b.name));
    let style = Style::for_stdout();
    out!("{}", report::table::render(&submissions, &|code, text| style.paint(code, text)).trim_end());
    let sandboxed = options.sandbox;
    write_reports(options, &submissions, &entries, Run { isolated, sandboxed, landlock_abi })?;
    let graded: Vec<String> = entries.iter().map(|(name, _)| shown(name)).collect();
    html::write(options, &submissions, &graded)?;
    out!(
        "\ngraded {} in {:.1}s{}{}; reports in {} (open index.html)",
        match entries.len() {
            1 => "1 submission".to_string(),
            n => format!("{n} submissions"),
        },
        started.elapsed().as_secs_f64(),
        if isolated { ", each in namespaces of its own" } else { "" },
        match (sandboxed, landlock_abi) {
            (false, _) => "",
            (true, 0) => ", each server with its own copy, user and limits",
            (true, _) => ", each server in its sandbox",
        },
        options.out.display()
    );
    if kept_count > 0 {
        out!("(the {kept_count} others' reports are from the earlier run)");
    }
    Ok(submissions)
}

/// A submission: its name in the folder, and its path.
type Entry = (String, PathBuf);

/// How the run went, for summary.json.
struct Run {
    isolated: bool,
    sandboxed: bool,
    landlock_abi: i32,
}

pub use crate::report::table::shown;

/// The lab's scenarios that `options` asks for, in its order.
fn selected(options: &Options) -> Vec<&'static harness::Scenario> {
    let wanted = |name: &str| options.only.is_empty() || options.only.iter().any(|n| n == name);
    options.lab.scenarios.iter().filter(|s| wanted(s.name)).collect()
}

/// The template names `{submission}` unquoted (it is quoted here) and the port.
fn check_template(template: &str, lab: &Lab) -> Result<()> {
    let example = format!(
        "{} grade {} --submissions DIR --server 'python3 {{submission}} --port {{port}} {{args}}'",
        crate::installed::command_name(),
        lab.name
    );
    if !template.contains("{submission}") {
        bail!(
            "the --server template has no {{submission}} in it, so every student would run the same server\nhint: {example}"
        );
    }
    if template.contains("'{submission}'") || template.contains("\"{submission}\"") {
        bail!(
            "{{submission}} is quoted in the --server template; it is quoted for you (names with spaces work)\nhint: {example}"
        );
    }
    if !template.contains("{port}") && !template.contains("{addr}") {
        bail!(
            "the --server template has neither {{port}} nor {{addr}}: a server cannot know which port to use\nhint: {example}"
        );
    }
    Ok(())
}

/// One submission per entry of `dir`, sorted by name, and the names passed over: hidden
/// entries (`.git`), `README*`, `__MACOSX` (a Mac's zip), and, with `include`, whatever no
/// glob matches. A name that is not UTF-8 cannot go into a report: it is said and passed over.
fn entries(dir: &Path, include: &[String]) -> Result<(Vec<Entry>, Vec<String>)> {
    let dir =
        dir.canonicalize().with_context(|| format!("reading the submissions folder {}", dir.display()))?;
    let globs: Vec<glob::Pattern> = include
        .iter()
        .map(|glob| glob::Pattern::new(glob).with_context(|| format!("--include {glob:?} is not a glob")))
        .collect::<Result<_>>()?;
    let (mut entries, mut passed_over) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let name = match entry.file_name().into_string() {
            Ok(name) => name,
            Err(name) => {
                eprintln!(
                    "warning: {} is not a UTF-8 name: rename it to grade it",
                    shown(&name.to_string_lossy())
                );
                continue;
            }
        };
        let submission = match globs.is_empty() {
            true => !(name.starts_with('.') || name.starts_with("README") || name == "__MACOSX"),
            false => globs.iter().any(|glob| glob.matches(&name)),
        };
        match submission {
            true => entries.push((name, entry.path())),
            false => passed_over.push(name),
        }
    }
    entries.sort();
    passed_over.sort();
    Ok((entries, passed_over))
}

/// Create `out`, refusing a place inside the submissions (a report there would be graded
/// next time as a submission) before anything is made there. Unless only some students are
/// re-graded, the reports of an earlier run in `out` go: a student graded then and not now
/// would otherwise keep a report beside the table.
fn prepare_out(out: &Path, submissions: &Path, regrade: bool) -> Result<()> {
    let (out_real, submissions_real) = (std::path::absolute(out)?, std::path::absolute(submissions)?);
    let submissions_real = submissions_real.canonicalize().unwrap_or(submissions_real);
    let out_real =
        match (out_real.parent().and_then(|parent| parent.canonicalize().ok()), out_real.file_name()) {
            (Some(parent), Some(name)) => parent.join(name),
            _ => out_real,
        };
    if out_real.starts_with(&submissions_real) {
        bail!(
            "--out {} is inside the submissions folder; put the reports elsewhere, as in --out grades",
            out.display()
        );
    }
    out::folder(out)?;
    let reports = out.join("reports");
    out::folder(&reports)?;
    if regrade {
        return Ok(());
    }
    let earlier: Vec<_> =
        std::fs::read_dir(&reports)?.filter_map(|entry| entry.ok()).map(|entry| entry.path()).collect();
    if !earlier.is_empty() {
        eprintln!(
            "note: {} holds an earlier run's reports ({} files): they are replaced",
            reports.display(),
            earlier.len()
        );
    }
    for path in earlier.iter().filter(|path| {
        path.extension().is_some_and(|ext| ext == "txt" || ext == "json") || html::is_page(path)
    }) {
        std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}

/// A student's report from an earlier run into `out` (`--only` keeps it).
fn earlier_report(out: &Path, name: &str) -> Result<Submission> {
    let path = out.join(report_path(name, "json"));
    let text = std::fs::read_to_string(&path).map_err(|_| {
        anyhow::anyhow!(
            "--only re-grades some students into an --out that holds the whole class's reports \
             already, but {} has no report for {} ({}): grade the whole class into it first, \
             without --only",
            out.display(),
            shown(name),
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))
}

/// The command line that makes the namespaces: a root grader needs no user namespace (and so
/// keeps the power to give each server a uid of its own); anyone else maps themself to root
/// in a new one.
fn unshare() -> &'static [&'static str] {
    if harness::sandbox::is_root() { isolate::UNSHARE_AS_ROOT } else { isolate::UNSHARE }
}

/// Check one submission in a process (in namespaces) of its own, within the time limit.
fn grade_one(
    options: &Options,
    points: &Points,
    isolated: bool,
    slot: usize,
    name: &str,
    path: &Path,
) -> Submission {
    let started = Instant::now();
    let fail = |server: String, problem: String| {
        let seconds = started.elapsed().as_secs_f64();
        unchecked(options.lab.name, &selected(options), points, &shown(name), &server, problem, seconds)
    };
    // As root in namespaces, the checker makes the copy itself, in a tmpfs of its own.
    let in_memory = isolated && harness::sandbox::is_root();
    let placed = match options.sandbox {
        true => place(path, slot, in_memory).map(Some),
        false => Ok(None),
    };
    let (workspace, copy, identity) = match placed {
        Ok(Some((workspace, copy, identity))) => (Some(workspace), copy, identity),
        Ok(None) => (None, path.to_path_buf(), None),
        Err(error) => return fail(String::new(), format!("its copy could not be made: {error:#}")),
    };
    let server = options.template.replace("{submission}", &quote(&copy.to_string_lossy()));
    // As the teacher wrote it, with the student's name: the copy's path in a folder of the
    // grader's own means nothing to a student reading the report.
    let shown_server = options.template.replace("{submission}", &quote(&shown(name)));
    let mut command = match isolated {
        true => {
            let mut command = Command::new(unshare()[0]);
            command.args(&unshare()[1..]).arg(&options.runner).arg("isolated");
            command
        }
        false => Command::new(&options.runner),
    };
    // `--flag=VALUE`: a name or command that starts with `-` is still a value.
    command.args([
        "check",
        options.lab.name,
        &format!("--server={server}"),
        "--format=json",
        &format!("--name={}", shown(name)),
    ]);
    command.arg("--reference").arg(&options.reference);
    command.args(["--jobs", &options.scenario_jobs.to_string()]);
    command.args(["--scenario-time-limit", &options.scenario_time_limit.as_secs_f64().to_string()]);
    if let Some(build) = &options.build {
        command.arg(format!("--build={}", build.replace("{submission}", &quote(&copy.to_string_lossy()))));
    }
    if let Some(wait) = options.ready_wait {
        command.arg(format!("--ready-timeout={}", wait.as_secs_f64()));
    }
    if let Some(workspace) = &workspace {
        command.arg(format!("--sandbox-dir={}", workspace.root.display()));
        command.args(options.limits.to_args());
        if in_memory {
            command.arg(format!("--sandbox-from={}", path.display()));
        }
    }
    if let Some(uid) = identity {
        command.arg(format!("--sandbox-uid={uid}"));
    }
    if options.no_hints {
        command.arg("--no-hints");
    }
    if let Some(file) = &options.points {
        command.arg("--points").arg(file);
    }
    for scenario in &options.only {
        command.args(["--scenario", scenario]);
    }
    if options.pcap {
        pass_captures(&mut command, &options.out, name);
    }
    let problem = match run_checker(command, options.time_limit) {
        Ok(Finished { stdout, stderr, status: Some(status) }) => {
            match serde_json::from_slice::<Submission>(&stdout) {
                Ok(submission) if status.code().is_some_and(|code| code <= 1) => {
                    return Submission { server: shown_server, ..submission };
                }
                _ => checker_failed(status, &stderr),
            }
        }
        Ok(Finished { status: None, .. }) => {
            format!("the submission ran out of time ({}) and was stopped", secs(options.time_limit))
        }
        Err(error) => format!("the checker could not run: {error:#}"),
    };
    drop(workspace);
    fail(shown_server, problem)
}

/// `--pcap OUT/captures/NAME` for a student's checker, in a folder emptied of an earlier
/// run's captures. Where the folder cannot be made, a note says so and the student is graded
/// the same without.
fn pass_captures(command: &mut Command, out: &Path, name: &str) {
    let dir = captures_dir(out, name);
    let _ = std::fs::remove_dir_all(&dir);
    match out::folder(&dir).and_then(|()| Ok(std::path::absolute(&dir)?)) {
        Ok(dir) => {
            command.arg(format!("--pcap={}", dir.display()));
        }
        Err(error) => eprintln!("note: no captures for {}: {error:#}", shown(name)),
    }
}

/// Remove OUT/captures (a link there is removed, not followed).
fn forget_captures(out: &Path) -> Result<()> {
    let captures = out.join("captures");
    match std::fs::remove_dir_all(&captures) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(error).with_context(|| format!("removing an earlier run's {}", captures.display()))
        }
        _ => Ok(()),
    }
}

/// Where a student's captures go: OUT/captures/NAME/SCENARIO.pcapng (`name` as [`shown`]).
pub fn captures_dir(out: &Path, name: &str) -> PathBuf {
    out.join("captures").join(shown(name))
}

/// `check --format F [--output FILE]`: the report on stdout, or into FILE, written at the end
/// beside it and renamed over it (a file or link planted there is replaced, not followed).
pub fn report_to(
    submission: &Submission,
    format: report::Format,
    visibility: report::gradescope::Visibility,
    output: Option<&Path>,
) -> Result<()> {
    let Some(file) = output else {
        report::print(submission, format, visibility);
        return Ok(());
    };
    let dir = file.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = file.file_name().with_context(|| format!("--output {} names no file", file.display()))?;
    let text = report::render(submission, format, visibility);
    out::write(dir, &name.to_string_lossy(), text.as_bytes())
}

/// A submission none of whose `scenarios` ran, for `problem`: each fails, with a pointer to it.
pub fn unchecked(
    lab: &str,
    scenarios: &[&harness::Scenario],
    points: &Points,
    name: &str,
    server: &str,
    problem: String,
    seconds: f64,
) -> Submission {
    let not_run = "not run, or not to the end: the submission could not be checked (see the problem above)";
    Submission {
        name: name.to_string(),
        lab: lab.to_string(),
        server: server.to_string(),
        problem: Some(problem),
        scenarios: scenarios
            .iter()
            .map(|scenario| ScenarioResult {
                name: scenario.name.to_string(),
                claim: scenario.claim.to_string(),
                status: Status::Fail,
                points: 0.0,
                max_points: points.of(scenario.name),
                seconds: 0.0,
                report: not_run.to_string(),
                diagram: String::new(),
                diagnosis: String::new(),
                hint: String::new(),
            })
            .collect(),
        seconds,
        warnings: Vec::new(),
    }
}

/// Why a checker gave no report: how it ended, and the last of what it said.
fn checker_failed(status: std::process::ExitStatus, stderr: &[u8]) -> String {
    use std::os::unix::process::ExitStatusExt;
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("the checker failed (exit status {code})"),
        (None, Some(signal)) => format!("the checker was killed (signal {signal}) before it could report"),
        (None, None) => "the checker ended without a report".to_string(),
    };
    let said = String::from_utf8_lossy(stderr);
    let said: Vec<&str> = said.trim().lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
    match said.is_empty() {
        true => format!("{how}; it said nothing"),
        false => format!("{how}: {}", shown(&said.join("\n"))),
    }
}

/// A fresh copy of the submission at `path` to work in, with its HOME and TMPDIR beside it,
/// all handed to the uid its server runs as (where the grader is root and can give it one);
/// `later`: only the folder, where the checker makes the copy (see [`sandbox::for_check`]).
fn place(path: &Path, slot: usize, later: bool) -> Result<(Workspace, PathBuf, Option<u32>)> {
    let workspace = Workspace::new("grade")?;
    let identity = harness::sandbox::is_root().then(|| harness::sandbox::identity_for(slot));
    if later {
        let copy = workspace.copy_path(path)?;
        return Ok((workspace, copy, identity));
    }
    let copy = workspace.copy_in(path)?;
    sandbox::make_private(&workspace.root, identity)?;
    Ok((workspace, copy, identity))
}

/// Run one checker: its own process group, its output capped, killed with all it started
/// past `limit` (see [`harness::process::Run`]).
fn run_checker(mut command: Command, limit: Duration) -> Result<Finished> {
    command.env("NO_COLOR", "1");
    // The teacher's build and home are no business of the checker, nor of the servers it starts
    // (a server outside the sandbox inherits the checker's environment).
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if ["CARGO", "RUST", "LAB_"].iter().any(|prefix| key.starts_with(prefix)) || key == "HOME" {
            command.env_remove(&*key);
        }
    }
    // Killed if we die before it ends (this thread waits for it); in namespaces, its end ends
    // everything in them.
    process::Run::new("the checker", command).output_caps(REPORT_CAP, 64 * 1024).time_limit(limit).finish()
}

fn write_reports(
    options: &Options,
    submissions: &[Submission],
    graded: &[(String, PathBuf)],
    run: Run,
) -> Result<()> {
    let out = &options.out;
    let reports = out.join("reports");
    // Only the re-graded students' own reports are written again; the files of the whole
    // class, from all of them.
    for submission in submissions.iter().filter(|s| graded.iter().any(|(name, _)| shown(name) == s.name)) {
        out::write(&reports, &report_name(&submission.name, "txt"), submission.text().as_bytes())?;
        let json = serde_json::to_string_pretty(submission)? + "\n";
        out::write(&reports, &report_name(&submission.name, "json"), json.as_bytes())?;
    }
    let lab = options.lab;
    let mut csv = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["submission".to_string()];
    header.extend(selected(options).iter().map(|s| s.name.to_string()));
    header.extend(["points", "max_points", "problem"].map(String::from));
    csv.write_record(&header)?;
    for submission in submissions {
        let mut row = vec![submission.name.clone()];
        row.extend(submission.scenarios.iter().map(|s| s.status.word().to_lowercase()));
        row.push(report::number(submission.points()));
        row.push(report::number(submission.max_points()));
        row.push(submission.problem.as_deref().map(report::problem_line).unwrap_or_default());
        csv.write_record(&row)?;
    }
    let now = std::time::SystemTime::now();
    out::write(out, "results.csv", &csv.into_inner()?)?;
    out::write(out, "junit.xml", report::junit::write(lab.name, submissions, now).as_bytes())?;
    let summary = Summary {
        lab: lab.name.to_string(),
        grader: format!("socket-labs {}", env!("CARGO_PKG_VERSION")),
        // UTC, and says so (JUnit's timestamp may not carry the zone, so it has its own form).
        date: format!("{}Z", report::junit::timestamp(now)),
        options: std::env::args().skip(1).map(|arg| shown(&arg)).collect(),
        isolated: run.isolated,
        sandboxed: run.sandboxed,
        landlock_abi: run.landlock_abi,
        scenarios: selected(options).iter().map(|s| s.name.to_string()).collect(),
        max_points: submissions.first().map_or(0.0, Submission::max_points),
        statistics: report::table::Statistics::of(submissions),
        submissions: submissions
            .iter()
            .map(|s| SummaryRow {
                name: s.name.clone(),
                points: s.points(),
                problem: s.problem.clone(),
                results: s.scenarios.iter().map(|r| r.status).collect(),
                report: Path::new("reports").join(report_name(&s.name, "txt")).to_string_lossy().into_owned(),
            })
            .collect(),
    };
    out::write(out, "summary.json", (serde_json::to_string_pretty(&summary)? + "\n").as_bytes())?;
    Ok(())
}

/// The file name of a submission's report (`name` as [`shown`]) under `--out/reports`.
fn report_name(name: &str, extension: &str) -> String {
    format!("{name}.{extension}")
}

/// Where a submission's report goes, under `--out`.
fn report_path(name: &str, extension: &str) -> PathBuf {
    Path::new("reports").join(report_name(&shown(name), extension))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// "graded 3 of 30" on stderr: a bar redrawn in place on a terminal, a line each otherwise.
struct Progress {
    all: usize,
    terminal: bool,
}

impl Progress {
    fn new(all: usize) -> Progress {
        let progress = Progress { all, terminal: std::io::stderr().is_terminal() };
        progress.show(0, "");
        progress
    }

    fn show(&self, done: usize, last: &str) {
        let mut stderr = std::io::stderr().lock();
        if self.terminal {
            let filled = 30 * done / self.all.max(1);
            let bar = format!("{}{}", "=".repeat(filled), " ".repeat(30 - filled));
            let _ = write!(stderr, "\r\x1b[2K[{bar}] {done}/{} graded {last}", self.all);
        } else if done > 0 {
            let _ = writeln!(stderr, "graded {done} of {}: {last}", self.all);
        }
        let _ = stderr.flush();
    }

    fn finish(&self) {
        if self.terminal {
            let _ = writeln!(std::io::stderr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_shown_without_control_characters() {
        assert_eq!(shown("张 三 (merge).py"), "张 三 (merge).py");
        assert_eq!(shown("\u{1b}[2Jx\ny"), "\\u{1b}[2Jx\\u{a}y");
        assert_eq!(shown("a\u{202e}b\u{9b}"), "a\\u{202e}b\\u{9b}");
    }

    #[test]
    fn a_killed_checker_says_how_it_ended() {
        use std::os::unix::process::ExitStatusExt;
        let killed = checker_failed(std::process::ExitStatus::from_raw(libc::SIGKILL), b"");
        assert_eq!(killed, "the checker was killed (signal 9) before it could report; it said nothing");
        let failed = checker_failed(std::process::ExitStatus::from_raw(2 << 8), b"error: \x1b[31mbad\n");
        assert_eq!(failed, "the checker failed (exit status 2): error: \\u{1b}[31mbad");
    }
}
