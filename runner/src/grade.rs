//! `cargo lab grade LAB --submissions DIR --server TEMPLATE`: a whole class. Each entry of DIR
//! (a file or a folder) is one submission, checked by its own `lab check --format json`
//! process, several at once; on Linux each inside namespaces of its own (see
//! [`harness::isolate`]), so that submissions neither clash on ports nor outlive their turn.
//! The class comes out as a table on stdout and, in `--out`, a text report per submission,
//! `results.csv`, `junit.xml` and `summary.json`.

use std::io::{IsTerminal, Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use harness::process::quote;
use harness::style::Style;
use harness::{Lab, isolate, out, secs};
use serde::{Deserialize, Serialize};

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
    /// The `lab` runner itself (each submission's checker), and the lab's reference binary.
    pub runner: PathBuf,
    pub reference: PathBuf,
}

/// What `summary.json` holds: the class, a line per submission.
#[derive(Debug, Serialize, Deserialize)]
pub struct Summary {
    pub lab: String,
    /// Whether each submission ran in namespaces of its own (see the teachers' chapter).
    pub isolated: bool,
    pub scenarios: Vec<String>,
    pub max_points: f64,
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
const REPORT_CAP: u64 = 64 * 1024 * 1024;

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
    let entries = entries(&options.submissions)?;
    if entries.is_empty() {
        bail!("{} holds no submissions (one file or folder each)", options.submissions.display());
    }
    prepare_out(&options.out, &options.submissions)?;
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
    let started = Instant::now();
    let graded: Mutex<Vec<Option<Submission>>> = Mutex::new(entries.iter().map(|_| None).collect());
    let (next, done) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let progress = Progress::new(entries.len());
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.clamp(1, entries.len()) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some((name, path)) = entries.get(index) else { return };
                    let submission = grade_one(options, &points, isolated, name, path);
                    lock(&graded)[index] = Some(submission);
                    progress.show(done.fetch_add(1, Ordering::SeqCst) + 1, name);
                }
            });
        }
    });
    progress.finish();
    let submissions: Vec<Submission> =
        lock(&graded).drain(..).map(|slot| slot.expect("every submission was graded")).collect();
    let style = Style::for_stdout();
    out!("{}", report::table::render(&submissions, &|code, text| style.paint(code, text)).trim_end());
    write_reports(options, &submissions, isolated)?;
    out!(
        "\ngraded {} submissions in {:.1}s{}; reports in {}",
        submissions.len(),
        started.elapsed().as_secs_f64(),
        if isolated { ", each in namespaces of its own" } else { "" },
        options.out.display()
    );
    Ok(submissions)
}

/// The lab's scenarios that `options` asks for, in its order.
fn selected(options: &Options) -> Vec<&'static harness::Scenario> {
    let wanted = |name: &str| options.only.is_empty() || options.only.iter().any(|n| n == name);
    options.lab.scenarios.iter().filter(|s| wanted(s.name)).collect()
}

/// The template names `{submission}` unquoted (it is quoted here) and the port.
fn check_template(template: &str, lab: &Lab) -> Result<()> {
    let example = format!(
        "cargo lab grade {} --submissions DIR --server 'python3 {{submission}} --port {{port}} {{args}}'",
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

/// One submission per entry of `dir`, sorted by name; hidden entries (`.git`) are not
/// submissions. A name that is not UTF-8 cannot go into a report: it is said and passed over.
fn entries(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let dir =
        dir.canonicalize().with_context(|| format!("reading the submissions folder {}", dir.display()))?;
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        match entry.file_name().into_string() {
            Ok(name) if name.starts_with('.') => {}
            Ok(name) => entries.push((name, entry.path())),
            Err(name) => eprintln!("warning: {name:?} is not a UTF-8 name: rename it to grade it"),
        }
    }
    entries.sort();
    Ok(entries)
}

/// Create `out`, refusing a place inside the submissions (a report there would be graded
/// next time as a submission) before anything is made there. The reports of an earlier run in
/// `out` go: a student graded then and not now would otherwise keep a report beside the table.
fn prepare_out(out: &Path, submissions: &Path) -> Result<()> {
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
    let reports = out.join("reports");
    if let Ok(earlier) = std::fs::read_dir(&reports) {
        let stale: Vec<_> = earlier.filter_map(|entry| entry.ok()).map(|entry| entry.path()).collect();
        if !stale.is_empty() {
            eprintln!(
                "note: {} holds an earlier run's reports ({} files): they are replaced",
                reports.display(),
                stale.len()
            );
        }
        for path in stale.iter().filter(|path| path.extension().is_some_and(|ext| ext == "txt")) {
            std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    std::fs::create_dir_all(&reports).with_context(|| format!("creating {}", out.display()))?;
    Ok(())
}

/// Check one submission in a process (in namespaces) of its own, within the time limit.
fn grade_one(options: &Options, points: &Points, isolated: bool, name: &str, path: &Path) -> Submission {
    let server = options.template.replace("{submission}", &quote(&path.to_string_lossy()));
    let started = Instant::now();
    let mut command = match isolated {
        true => {
            let mut command = Command::new(isolate::UNSHARE[0]);
            command.args(&isolate::UNSHARE[1..]).arg(&options.runner).arg("isolated");
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
        &format!("--name={name}"),
    ]);
    command.arg("--reference").arg(&options.reference);
    command.args(["--jobs", &options.scenario_jobs.to_string()]);
    command.args(["--scenario-time-limit", &options.scenario_time_limit.as_secs_f64().to_string()]);
    if options.no_hints {
        command.arg("--no-hints");
    }
    if let Some(file) = &options.points {
        command.arg("--points").arg(file);
    }
    for scenario in &options.only {
        command.args(["--scenario", scenario]);
    }
    let outcome = run_checker(command, options.time_limit);
    let seconds = started.elapsed().as_secs_f64();
    let problem = match outcome {
        Ok(Checked { stdout, stderr, finished: true }) => match serde_json::from_slice::<Submission>(&stdout)
        {
            Ok(submission) => return submission,
            Err(_) => format!("the checker failed: {}", String::from_utf8_lossy(&stderr).trim()),
        },
        Ok(Checked { finished: false, .. }) => {
            format!("the submission ran out of time ({}) and was stopped", secs(options.time_limit))
        }
        Err(error) => format!("the checker could not run: {error:#}"),
    };
    let not_run = "not run to the end: the submission could not be checked (see the problem above)";
    Submission {
        name: name.to_string(),
        lab: options.lab.name.to_string(),
        server,
        problem: Some(problem),
        scenarios: selected(options)
            .into_iter()
            .map(|scenario| ScenarioResult {
                name: scenario.name.to_string(),
                claim: scenario.claim.to_string(),
                status: Status::Fail,
                points: 0.0,
                max_points: points.of(scenario.name),
                seconds: 0.0,
                report: not_run.to_string(),
            })
            .collect(),
        seconds,
        warnings: Vec::new(),
    }
}

struct Checked {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// False when the time limit ran out and the checker was killed.
    finished: bool,
}

/// Run one checker in a process group of its own; past `limit`, kill it and all it started.
fn run_checker(mut command: Command, limit: Duration) -> Result<Checked> {
    use std::os::unix::process::CommandExt;
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    command.env("NO_COLOR", "1");
    die_with_us(&mut command);
    let mut child = command.spawn().context("starting the checker")?;
    let pid = child.id();
    harness::process::interrupt::register(pid);
    let capped = |pipe: Option<Box<dyn Read + Send>>, cap: u64| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            if let Some(pipe) = pipe {
                let mut pipe = pipe.take(cap);
                let _ = pipe.read_to_end(&mut kept);
                // Past the cap, read on and drop, so that the checker never blocks on a full pipe.
                let _ = std::io::copy(&mut pipe.into_inner(), &mut std::io::sink());
            }
            kept
        })
    };
    let stdout = capped(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>), REPORT_CAP);
    let stderr = capped(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>), 64 * 1024);
    let (sender, exited) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let status = child.wait();
        let _ = sender.send(());
        status
    });
    let finished = exited.recv_timeout(limit).is_ok();
    if !finished {
        kill_tree(pid);
    }
    let _ = waiter.join();
    harness::process::interrupt::unregister(pid);
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Ok(Checked { stdout, stderr, finished })
}

/// The checker is killed if we die before it ends (even by SIGKILL, which no handler sees):
/// the kernel sends it SIGKILL when the thread that started it ends (PR_SET_PDEATHSIG), and
/// that thread waits for it. In namespaces, its end ends everything in them.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_us(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: runs in the child between fork and exec, where only async-signal-safe calls are
    // allowed: prctl(2) is a plain system call, and nothing here allocates or locks.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_us(_command: &mut Command) {}

/// Kill the checker `pid` (not yet reaped: its waiter holds it), its process group, and every
/// process below it: in namespaces, the first kill ends them all (unshare's `--kill-child`,
/// then the PID namespace); without, each server's own process group is found and killed.
#[allow(unsafe_code)]
fn kill_tree(pid: u32) {
    let below = harness::procs::members(pid);
    // SAFETY: kill(2) takes plain integers. `pid` is not reaped yet, so its group id is its
    // own; the others were found alive a moment ago, below it.
    unsafe {
        libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
        for other in below.into_iter().filter(|&other| other != pid) {
            libc::kill(other as libc::pid_t, libc::SIGKILL);
        }
    }
}

fn write_reports(options: &Options, submissions: &[Submission], isolated: bool) -> Result<()> {
    let out = &options.out;
    let write = |name: &Path, text: &str| {
        std::fs::write(out.join(name), text).with_context(|| format!("writing {}", out.join(name).display()))
    };
    for submission in submissions {
        write(&report_path(&submission.name), &submission.text())?;
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
        row.push(submission.problem.as_deref().and_then(|p| p.lines().next()).unwrap_or("").to_string());
        csv.write_record(&row)?;
    }
    write(Path::new("results.csv"), &String::from_utf8(csv.into_inner()?)?)?;
    write(Path::new("junit.xml"), &report::junit::write(lab.name, submissions))?;
    let summary = Summary {
        lab: lab.name.to_string(),
        isolated,
        scenarios: selected(options).iter().map(|s| s.name.to_string()).collect(),
        max_points: submissions.first().map_or(0.0, Submission::max_points),
        submissions: submissions
            .iter()
            .map(|s| SummaryRow {
                name: s.name.clone(),
                points: s.points(),
                problem: s.problem.clone(),
                results: s.scenarios.iter().map(|r| r.status).collect(),
                report: report_path(&s.name).to_string_lossy().into_owned(),
            })
            .collect(),
    };
    write(Path::new("summary.json"), &(serde_json::to_string_pretty(&summary)? + "\n"))?;
    Ok(())
}

/// Where a submission's text report goes, under `--out`.
fn report_path(name: &str) -> PathBuf {
    Path::new("reports").join(format!("{name}.txt"))
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
