//! The teacher's side: `cargo lab grade` over a folder of submissions, `check --format
//! json|junit|gradescope`, the isolation of one submission from another, and the teachers'
//! chapter's commands run as written. Every report is read back with a parser (serde_json,
//! quick-xml, csv), never matched as a string alone.
//!
//! Not libtest's own harness: the namespace test is marked ignored (skipped, not passed) where
//! this machine cannot make namespaces, and two runs of the whole fixture class are ignored
//! unless asked for (`cargo test --test scenarios -- --ignored by_hand`): they take longer than the
//! suite may, and print their figures.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use assert_cmd::Command;
use libtest_mimic::Trial;
use serde::Deserialize;

const SCENARIOS: [&str; 7] = [
    "two_clients_get_only_their_own_replies",
    "datagrams_keep_their_boundaries",
    "a_datagram_longer_than_the_buffer_is_cut",
    "an_empty_datagram_is_a_message",
    "a_datagram_sent_before_the_server_starts_is_lost",
    "bad_input_does_not_stop_the_server",
    "the_client_prints_each_reply",
];

const TEMPLATE: &str = "python3 {submission} --port {port} {args}";

/// A folder whose `python3` is the interpreter itself, put first on the PATH of every command
/// here: `python3` on PATH may be a version manager's shim (pyenv's is a shell script), which
/// would double the cost of every server's start. The commands stay as a teacher writes them.
/// The folder of every lab's binary, each built once for this test process: each `cargo lab`
/// these tests start finds them there (LAB_BINARIES) instead of asking cargo again.
pub fn lab_binaries() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        for lab in harness::labs::ALL {
            runner::cargo::binary(lab.name, lab.name).expect("building the labs");
        }
        let runner = runner::cargo::binary("runner", "lab").expect("building the runner");
        runner.parent().expect("a binary is in a folder").to_path_buf()
    })
    .clone()
}

pub fn python_first_on_path() -> std::ffi::OsString {
    static PATH: std::sync::OnceLock<std::ffi::OsString> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let asked =
            std::process::Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output();
        let Some(output) = asked.ok().filter(|output| output.status.success()) else { return path };
        let python = String::from_utf8_lossy(&output.stdout).trim().to_string();
        let bin = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-bin");
        // Made beside and renamed into place: another run of these tests may be doing the same.
        let ours = bin.join(format!("python3.{}", std::process::id()));
        let made = std::fs::create_dir_all(&bin)
            .and_then(|()| std::os::unix::fs::symlink(&python, &ours))
            .and_then(|()| std::fs::rename(&ours, bin.join("python3")));
        if made.is_err() {
            return path;
        }
        std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&path))).unwrap_or(path)
    })
    .clone()
}

/// Each test below, for the suite's one test binary (tests/scenarios.rs). `listing`: only the
/// names are wanted (`--list`), so nothing is probed.
pub fn trials(listing: bool) -> Vec<Trial> {
    let isolation =
        if listing { Ok(()) } else { harness::isolate::probe(&lab_binary(), &["isolated", "list"]) };
    if let Err(why) = &isolation {
        eprintln!(
            "namespaces cannot be made here ({why}): the isolation test is skipped (ignored), not passed"
        );
    }
    // The hostile class needs the whole sandbox: Landlock, and root to give each server a uid.
    let sandboxed = harness::sandbox::landlock_abi() > 0 && harness::sandbox::is_root();
    if !listing && !sandboxed {
        eprintln!("no Landlock, or not root: the hostile class test is skipped (ignored), not passed");
    }
    let test = |name: &str, run: fn() -> Result<()>| harness::testing::trial(format!("grade::{name}"), run);
    let trials = vec![
        test("grades_a_small_class_and_every_report_agrees_with_the_table", grades_a_small_class),
        test("a_submission_past_its_time_limit_is_stopped_and_leaves_nothing", time_limit_stops_a_submission),
        test("a_scenario_past_its_time_limit_fails_and_its_server_is_killed", scenario_time_limit),
        test("check_formats_parse_back_and_agree", check_formats_parse_back),
        test("the_teachers_chapter_commands_run_as_written", teachers_commands_run),
        test("templates_and_out_folders_that_cannot_work_are_refused", bad_templates_are_refused),
        test("step_without_a_terminal_is_refused_with_a_hint", step_needs_a_terminal),
        test("without_namespaces_grading_says_so_once_and_goes_on", without_namespaces),
        test("namespaces_let_two_submissions_bind_the_same_fixed_port", two_submissions_one_fixed_port)
            .with_ignored_flag(isolation.is_err()),
        test("a_hostile_class_changes_no_honest_score_and_nothing_outside_out", hostile_class)
            .with_ignored_flag(isolation.is_err() || !sandboxed),
        test(
            "only_regrades_one_student_and_what_is_not_a_submission_is_passed_over",
            regrade_one_and_pass_over_what_is_not_a_submission,
        ),
        test(
            "a_server_that_never_gets_ready_is_given_up_on_at_the_ready_timeout",
            ready_timeout_is_the_graders,
        ),
        test("by_hand::the_whole_fixture_class", the_whole_fixture_class).with_ignored_flag(true),
        test("by_hand::ten_udp_echo_submissions", ten_submissions).with_ignored_flag(true),
    ];
    trials
}

fn root() -> &'static Path {
    runner::cargo::workspace_root()
}

fn lab_binary() -> PathBuf {
    runner::cargo::binary("runner", "lab").expect("building the lab runner")
}

fn lab() -> Command {
    let mut command = Command::new(lab_binary());
    command
        .env("NO_COLOR", "1")
        .env("LAB_PROGRESS", "/dev/null")
        .env("LAB_BINARIES", lab_binaries())
        .env("PATH", python_first_on_path())
        // Only ends a grade that hangs: a correct one ends long before, however busy the machine.
        .timeout(Duration::from_secs(600));
    if let Some(mark) = harness::guard::current() {
        command.env(harness::guard::VAR, mark);
    }
    command
}

fn class() -> PathBuf {
    root().join("tests/fixtures/grade/class")
}

/// A fresh folder `submissions` holding copies of these entries of the fixture class (each
/// wrapper finds the lab's fixture through its own path, so the copy sits beside the class).
fn copy_class(names: &[&str]) -> Result<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::Builder::new().prefix("grade-").tempdir_in(root().join("tests/fixtures/grade"))?;
    let submissions = dir.path().join("submissions");
    std::fs::create_dir(&submissions)?;
    for name in names {
        std::fs::copy(class().join(name), submissions.join(name))
            .with_context(|| format!("copying {name}"))?;
    }
    Ok((dir, submissions))
}

/// A word no other process has in its environment: every process the run starts inherits it,
/// so that one left behind is found by it, whatever its command line.
fn mark() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static RUNS: AtomicU32 = AtomicU32::new(0);
    format!("SOCKET_LABS_GRADE_TEST={}-{}", std::process::id(), RUNS.fetch_add(1, Ordering::SeqCst))
}

/// The processes (pid and command) with `mark` in their environment.
fn processes_with(mark: &str) -> Vec<String> {
    harness::procs::with_environment_entry(mark)
        .into_iter()
        .map(|(pid, command)| format!("{pid}: {command}"))
        .collect()
}

/// Nothing the run started is left. Killed processes may take a moment to be reaped by their
/// parents (or init), so the check waits for it, with a deadline.
fn nothing_left(mark: &str) -> Result<()> {
    let gone = harness::wait::until(Duration::from_secs(5), || processes_with(mark).is_empty().then_some(()));
    if gone.is_none() {
        bail!("processes left behind after the run:\n  {}", processes_with(mark).join("\n  "));
    }
    Ok(())
}

/// What `grade` left: its stdout and stderr, and the --out folder.
struct Graded {
    stdout: String,
    stderr: String,
    out: PathBuf,
}

fn grade(submissions: &Path, out: &Path, extra: &[&str], mark: &str) -> Result<Graded> {
    let (key, value) = mark.split_once('=').expect("a mark is KEY=VALUE");
    let output = lab()
        .args(["grade", "udp-echo", "--submissions"])
        .arg(submissions)
        .args(["--server", TEMPLATE, "--out"])
        .arg(out)
        .args(extra)
        .env(key, value)
        .output()?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    ensure!(output.status.success(), "grade failed ({}):\n{stdout}\n{stderr}", output.status);
    Ok(Graded { stdout, stderr, out: out.to_path_buf() })
}

/// Each submission's row as the table shows it: its cells ("pass", "FAIL", "skip", "-"), then
/// its points ("6/7").
fn table(stdout: &str, names: &[&str], columns: usize) -> Result<BTreeMap<String, Vec<String>>> {
    let mut rows = BTreeMap::new();
    for name in names {
        let line = stdout
            .lines()
            .find(|line| line.starts_with(&format!("{name} ")))
            .with_context(|| format!("no row for {name} in:\n{stdout}"))?;
        let cells: Vec<String> =
            line[name.len()..].split_whitespace().take(columns + 1).map(String::from).collect();
        rows.insert(name.to_string(), cells);
    }
    Ok(rows)
}

#[derive(Debug, Deserialize)]
struct Suites {
    /// junit-10.xsd allows no `skipped` on `testsuites`.
    #[serde(rename = "@skipped")]
    skipped: Option<String>,
    #[serde(rename = "testsuite", default)]
    suites: Vec<Suite>,
}

#[derive(Debug, Deserialize)]
struct Suite {
    #[serde(rename = "@name")]
    name: String,
    #[serde(rename = "@failures")]
    failures: usize,
    #[serde(rename = "@timestamp")]
    timestamp: String,
    #[serde(rename = "testcase", default)]
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    #[serde(rename = "@name")]
    name: String,
    failure: Option<Failure>,
    skipped: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct Failure {
    #[serde(rename = "@type")]
    kind: String,
    #[serde(rename = "@message")]
    message: String,
    #[serde(rename = "$text", default)]
    text: String,
}

/// Each submission's statuses, read from junit.xml, summary.json and results.csv, must be the
/// table's: `expected` gives each row as the table shows it (cells, then points).
fn reports_agree(graded: &Graded, expected: &BTreeMap<String, Vec<String>>, columns: &[&str]) -> Result<()> {
    let names: Vec<&str> = expected.keys().map(String::as_str).collect();
    let shown = table(&graded.stdout, &names, columns.len())?;
    ensure!(&shown == expected, "the table is not as expected:\n{}\nexpected {expected:#?}", graded.stdout);
    // What a cell means for a scenario's status in the files: "-" (not run) is a failure.
    let status = |cell: &str| match cell {
        "pass" => "pass",
        "skip" => "skip",
        _ => "fail",
    };

    let xml = std::fs::read_to_string(graded.out.join("junit.xml"))?;
    let suites: Suites = quick_xml::de::from_str(&xml).context("parsing junit.xml")?;
    ensure!(suites.suites.len() == expected.len(), "junit.xml has {} suites", suites.suites.len());
    ensure!(suites.skipped.is_none(), "`skipped` on <testsuites>, which junit-10.xsd refuses");
    for suite in &suites.suites {
        let stamp = suite.timestamp.as_bytes();
        ensure!(stamp.len() == 19 && stamp[10] == b'T', "{}: timestamp {:?}", suite.name, suite.timestamp);
        let row = &expected[&suite.name];
        let cases: Vec<&str> = suite.cases.iter().map(|c| c.name.as_str()).collect();
        ensure!(cases == columns, "{}: testcases {cases:?}", suite.name);
        for (case, cell) in suite.cases.iter().zip(row) {
            let in_xml = match (&case.failure, &case.skipped) {
                (Some(failure), _) => {
                    ensure!(!failure.text.trim().is_empty(), "{}: an empty failure", case.name);
                    ensure!(
                        ["scenario-failed", "not-checked"].contains(&failure.kind.as_str())
                            && !failure.message.is_empty()
                            && failure.message != case.name,
                        "{}: failure type {:?}, message {:?}",
                        case.name,
                        failure.kind,
                        failure.message
                    );
                    "fail"
                }
                (None, Some(_)) => "skip",
                (None, None) => "pass",
            };
            ensure!(
                in_xml == status(cell),
                "{} {}: junit says {in_xml}, the table {cell}",
                suite.name,
                case.name
            );
        }
        let failures = row[..columns.len()].iter().filter(|c| status(c) == "fail").count();
        ensure!(
            suite.failures == failures,
            "{}: failures=\"{}\", table {failures}",
            suite.name,
            suite.failures
        );
    }

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(graded.out.join("summary.json"))?)
            .context("summary.json")?;
    let submissions = summary["submissions"].as_array().context("summary.json has submissions")?;
    ensure!(submissions.len() == expected.len(), "summary.json has {} submissions", submissions.len());
    for submission in submissions {
        let name = submission["name"].as_str().context("a name")?;
        let row = &expected[name];
        let results: Vec<&str> =
            submission["results"].as_array().context("results")?.iter().filter_map(|r| r.as_str()).collect();
        let from_table: Vec<&str> = row[..columns.len()].iter().map(|c| status(c)).collect();
        ensure!(results == from_table, "{name}: summary.json {results:?}, table {from_table:?}");
        let points = format!("{}/{}", submission["points"], summary["max_points"]).replace(".0", "");
        ensure!(points == row[columns.len()], "{name}: summary.json {points}, table {}", row[columns.len()]);
        let report = graded.out.join(submission["report"].as_str().context("a report")?);
        ensure!(report.is_file(), "{name}: no report at {}", report.display());
    }

    let mut csv = csv::Reader::from_path(graded.out.join("results.csv"))?;
    let header: Vec<String> = csv.headers()?.iter().map(String::from).collect();
    ensure!(header[1..=columns.len()] == *columns, "results.csv columns {header:?}");
    for record in csv.records() {
        let record = record?;
        let row = &expected[&record[0]];
        let from_table: Vec<&str> = row[..columns.len()].iter().map(|c| status(c)).collect();
        let in_csv: Vec<&str> = (1..=columns.len()).map(|i| &record[i]).collect();
        ensure!(in_csv == from_table, "{}: results.csv {in_csv:?}", &record[0]);
    }
    Ok(())
}

fn row(cells: &str, points: &str) -> Vec<String> {
    cells.split_whitespace().chain([points]).map(String::from).collect()
}

/// A small class, two scenarios each: the correct server, a bug under a name with a space and
/// 中文, one that exits at once (said once, with its traceback), one that forks a child that
/// keeps the port, one that prints 100 MB. The table is exactly as expected, the JUnit, JSON
/// and CSV say the same, and no process is left.
fn grades_a_small_class() -> Result<()> {
    let names = ["correct.py", "张 三 (merge).py", "exits_at_once.py", "forks.py", "loud.py"];
    let (dir, submissions) = copy_class(&names)?;
    let mark = mark();
    let columns = &SCENARIOS[..2];
    let only: Vec<&str> = columns.iter().flat_map(|s| ["--scenario", s]).collect();
    let graded = grade(&submissions, &dir.path().join("grades"), &only, &mark)?;
    nothing_left(&mark)?;
    let expected = BTreeMap::from([
        ("correct.py".to_string(), row("pass pass", "2/2")),
        ("张 三 (merge).py".to_string(), row("pass FAIL", "1/2")),
        ("exits_at_once.py".to_string(), row("- -", "0/2")),
        ("forks.py".to_string(), row("pass pass", "2/2")),
        ("loud.py".to_string(), row("pass pass", "2/2")),
    ]);
    reports_agree(&graded, &expected, columns)?;
    ensure!(graded.stderr.contains("graded 5 of 5"), "no progress on stderr:\n{}", graded.stderr);
    ensure!(
        graded.stdout.contains("exits_at_once.py  ") && graded.stdout.contains("the server did not start")
    );
    // Why it was not checked is said whole, never cut to fit the table's row.
    let why = graded.stdout.lines().find(|line| line.starts_with("  exits_at_once.py: ")).unwrap_or_default();
    ensure!(why.contains("the server did not start") && !why.contains('…'), "{}", graded.stdout);
    let report = std::fs::read_to_string(graded.out.join("reports/exits_at_once.py.txt"))?;
    ensure!(report.matches("the server did not start").count() == 1, "said more than once:\n{report}");
    ensure!(report.contains("NameError: name 'sockt' is not defined"), "no traceback:\n{report}");
    let merge = std::fs::read_to_string(graded.out.join("reports/张 三 (merge).py.txt"))?;
    ensure!(merge.contains("FAIL datagrams_keep_their_boundaries"), "{merge}");
    let loud = std::fs::read_to_string(graded.out.join("reports/loud.py.txt"))?;
    ensure!(loud.len() < 100_000, "loud.py's report is {} bytes", loud.len());
    pages_for_the_class(&graded.out)?;
    ensure!(std::fs::read_dir(&submissions)?.count() == names.len(), "grade wrote into the submissions");
    Ok(())
}

/// The class's pages: index.html links each student's report (the Chinese name encoded in the
/// link, shown as it is), and 张 三's page draws its failure beside the lab's own server's run,
/// with the copy of Mermaid the pages share. (tests/browser/report.test.mjs opens them.)
fn pages_for_the_class(out: &std::path::Path) -> Result<()> {
    let index = std::fs::read_to_string(out.join("index.html"))?;
    ensure!(
        index
            .contains("<a href=\"reports/%E5%BC%A0%20%E4%B8%89%20%28merge%29.py.html\">张 三 (merge).py</a>"),
        "index.html does not link 张 三's report:\n{index}"
    );
    ensure!(index.contains("<svg class=\"histogram\""), "index.html has no histogram");
    let merge = std::fs::read_to_string(out.join("reports/张 三 (merge).py.html"))?;
    let failure = merge.split("id=\"scenario-datagrams_keep_their_boundaries\"").nth(1).unwrap_or_default();
    ensure!(failure.contains("<div class=\"compare\">"), "no observed and expected side by side:\n{merge}");
    ensure!(failure.matches("<pre class=\"mermaid\">sequenceDiagram").count() == 2, "{failure}");
    ensure!(merge.contains("<script src=\"mermaid.min.js\">"), "the page does not use the shared Mermaid");
    let shared = std::fs::metadata(out.join("reports/mermaid.min.js"))?.len();
    ensure!(shared > 5_000_000, "reports/mermaid.min.js is {shared} bytes");
    ensure!(merge.len() < 200_000, "张 三's page is {} bytes", merge.len());
    Ok(())
}

/// A submission that hangs past `--time-limit` is stopped, reported as out of time, and
/// leaves no process behind.
fn time_limit_stops_a_submission() -> Result<()> {
    let (dir, submissions) = copy_class(&["hangs.py"])?;
    let mark = mark();
    let graded = grade(&submissions, &dir.path().join("grades"), &["--time-limit", "2"], &mark)?;
    nothing_left(&mark)?;
    let shown = table(&graded.stdout, &["hangs.py"], 7)?;
    ensure!(shown["hangs.py"] == row("- - - - - - -", "0/7"), "{}", graded.stdout);
    ensure!(graded.stdout.contains("ran out of time (2s) and was stopped"), "{}", graded.stdout);
    Ok(())
}

/// `check --scenario-time-limit`: a scenario still running past it fails with the limit named,
/// and the server it started is killed before the checker exits.
fn scenario_time_limit() -> Result<()> {
    let mark = mark();
    let (key, value) = mark.split_once('=').expect("KEY=VALUE");
    let server = format!("python3 '{}' --port {{port}}", class().join("hangs.py").display());
    let output = lab()
        .args(["check", "udp-echo", "--server", &server, "--format", "json", "--scenario-time-limit", "0.5"])
        .args(["--scenario", SCENARIOS[0]])
        .env(key, value)
        .output()?;
    nothing_left(&mark)?;
    ensure!(output.status.code() == Some(1), "exit status {}", output.status);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).context("check's JSON")?;
    let scenario = &json["scenarios"][0];
    ensure!(scenario["status"] == "fail", "{scenario}");
    let report = scenario["report"].as_str().unwrap_or_default();
    ensure!(report.contains("did not finish within its time limit (0.5s)"), "{report}");
    Ok(())
}

/// `check --format json|junit|gradescope` against the merge bug: each parses, says the same
/// (the merge scenario failed, the other passed), carries the points file's weight, and
/// `--no-hints` leaves the hint out.
fn check_formats_parse_back() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let points = dir.path().join("points.txt");
    std::fs::write(&points, "# the lesson's core\ndatagrams_keep_their_boundaries = 3\n")?;
    let server = format!("python3 '{}' --port {{port}} {{args}}", class().join("张 三 (merge).py").display());
    let run = |format: &str, extra: &[&str]| -> Result<Vec<u8>> {
        let output = lab()
            .args(["check", "udp-echo", "--server", &server, "--format", format, "--name", "张 三"])
            .args(["--scenario", SCENARIOS[0], "--scenario", SCENARIOS[1], "--points"])
            .arg(&points)
            .args(extra)
            .output()?;
        ensure!(output.status.code() == Some(1), "--format {format}: exit status {}", output.status);
        Ok(output.stdout)
    };
    let hint = harness::labs::udp_echo::LAB.scenario(SCENARIOS[1]).hint;

    // Side by side: each mostly waits.
    let (json, xml, gradescope) = std::thread::scope(|scope| {
        let json = scope.spawn(|| run("json", &[]));
        let xml = scope.spawn(|| run("junit", &[]));
        let gradescope = scope.spawn(|| run("gradescope", &["--no-hints", "--visibility", "after_due_date"]));
        (json.join().expect("no panic"), xml.join().expect("no panic"), gradescope.join().expect("no panic"))
    });
    let json: serde_json::Value = serde_json::from_slice(&json?).context("--format json")?;
    ensure!(json["name"] == "张 三" && json["lab"] == "udp-echo", "{json}");
    let statuses: Vec<&str> = json["scenarios"]
        .as_array()
        .context("scenarios")?
        .iter()
        .filter_map(|s| s["status"].as_str())
        .collect();
    ensure!(statuses == ["pass", "fail"], "{statuses:?}");
    ensure!(json["scenarios"][1]["max_points"] == 3.0 && json["scenarios"][0]["points"] == 1.0, "{json}");
    ensure!(
        json["scenarios"][1]["report"].as_str().unwrap_or_default().contains(hint),
        "no hint in the JSON"
    );

    let xml = String::from_utf8(xml?)?;
    let suites: Suites = quick_xml::de::from_str(&xml).context("--format junit")?;
    let suite = &suites.suites[0];
    ensure!(suite.name == "张 三" && suite.failures == 1, "{suite:?}");
    ensure!(suite.cases[0].failure.is_none(), "{:?}", suite.cases[0]);
    let failure = suite.cases[1].failure.as_ref().context("the merge scenario's failure")?;
    ensure!(failure.text.contains("datagrams_keep_their_boundaries"), "{}", failure.text);

    let results: serde_json::Value = serde_json::from_slice(&gradescope?).context("--format gradescope")?;
    ensure!(results["score"] == 1.0, "{results}");
    let tests = results["tests"].as_array().context("tests")?;
    ensure!(tests.len() == 2, "{results}");
    for (test, (name, status, score, max)) in
        tests.iter().zip([(SCENARIOS[0], "passed", 1.0, 1.0), (SCENARIOS[1], "failed", 0.0, 3.0)])
    {
        ensure!(test["name"] == name && test["status"] == status, "{test}");
        ensure!(test["score"] == score && test["max_score"] == max, "{test}");
        ensure!(test["visibility"] == "after_due_date", "{test}");
        ensure!(!test["output"].as_str().unwrap_or_default().contains(hint), "--no-hints showed the hint");
    }
    Ok(())
}

/// Every `cargo lab` and `socket-labs` command in the teachers' chapter's code blocks, run as
/// written, in a folder laid out as the chapter says (a student's repository, a class, a mixed
/// class of Python and C, Gradescope's /autograder moved under it), with `cargo lab` and
/// `socket-labs` standing for the runner: a command that the CLI no longer takes, or that no
/// longer passes a correct server, fails here.
fn teachers_commands_run() -> Result<()> {
    let chapter = std::fs::read_to_string(root().join("docs/src/teachers.md"))?;
    let commands = code_commands(&chapter);
    ensure!(commands.len() == 7, "expected 7 commands in the chapter's code blocks: {commands:#?}");
    let dir = tempfile::Builder::new().prefix("grade-").tempdir_in(root().join("tests/fixtures/grade"))?;
    let here = dir.path();
    let correct = root().join("labs/udp-echo/tests/fixtures/echo.py");
    let merge = class().join("张 三 (merge).py");
    let upper = root().join("labs/upper/tests/fixtures/upper.py");
    let c = root().join("tests/fixtures/grade/c");
    for folder in [
        "bin",
        "udp-echo",
        "upper",
        "submissions",
        "mixed/ana",
        "mixed/ben",
        "mixed/typo",
        "autograder/submission",
        "autograder/results",
    ] {
        std::fs::create_dir_all(here.join(folder))?;
    }
    std::os::unix::fs::symlink(lab_binary(), here.join("bin/socket-labs"))?;
    std::fs::copy(&correct, here.join("udp-echo/server.py"))?;
    std::fs::copy(&upper, here.join("upper/server.py"))?;
    std::fs::copy(&correct, here.join("autograder/submission/server.py"))?;
    std::fs::copy(&correct, here.join("student_echo.py"))?;
    std::fs::copy(&correct, here.join("submissions/correct.py"))?;
    std::fs::copy(&merge, here.join("submissions/张 三 (merge).py"))?;
    std::fs::copy(&correct, here.join("mixed/ana/server.py"))?;
    std::fs::copy(c.join("correct/server.c"), here.join("mixed/ben/server.c"))?;
    std::fs::copy(c.join("typo/server.c"), here.join("mixed/typo/server.c"))?;
    // A score planted where Gradescope reads it, as a link to a file of the teacher's: the
    // checker must replace the link, and leave the file as it was.
    std::fs::write(here.join("victim.json"), "{\"score\": 1000}\n")?;
    std::os::unix::fs::symlink(here.join("victim.json"), here.join("autograder/results/results.json"))?;
    let autograder = format!("{}/autograder/", here.display());
    let path = std::env::join_paths(
        std::iter::once(here.join("bin")).chain(std::env::split_paths(&python_first_on_path())),
    )?;
    let run = |command: &str, here: &Path| -> Result<std::process::Output> {
        let command = command
            .replace("/autograder/", &autograder)
            .replace("/path/to/", &format!("{}/", here.display()));
        let script = format!("cargo() {{ shift; \"$LAB\" \"$@\"; }}\n{command}");
        Ok(std::process::Command::new("sh")
            .args(["-c", &script])
            .current_dir(here)
            .env("LAB", lab_binary())
            .env("NO_COLOR", "1")
            .env("PATH", &path)
            .output()?)
    };
    // A copy of the student's repository whose server is wrong: the classroom step must fail it
    // (GitHub Classroom then gives no points).
    let wrong = here.join("wrong");
    std::fs::create_dir_all(wrong.join("udp-echo"))?;
    std::fs::copy(&merge, wrong.join("udp-echo/server.py"))?;
    let classroom =
        commands.iter().find(|c| c.contains("udp-echo/server.py --port")).context("the classroom step")?;
    // Side by side (each mostly waits), but a re-grade after the grade it adds to.
    let (later, first): (Vec<&String>, Vec<&String>) = commands.iter().partition(|c| c.contains("--only"));
    let (outputs, wrong_output) = std::thread::scope(|scope| {
        let runs: Vec<_> = first.iter().map(|command| scope.spawn(|| run(command, here))).collect();
        let wrong_run = scope.spawn(|| run(classroom, &wrong));
        (
            runs.into_iter().map(|run| run.join().expect("no panic")).collect::<Vec<_>>(),
            wrong_run.join().expect("no panic"),
        )
    });
    let outputs: Vec<_> = outputs.into_iter().chain(later.iter().map(|command| run(command, here))).collect();
    for (command, output) in first.iter().chain(&later).zip(outputs) {
        let output = output?;
        ensure!(
            output.status.success(),
            "`{command}` failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
    }
    ensure!(wrong_output?.status.code() == Some(1), "the classroom step passed a wrong server");
    // What the commands wrote: Gradescope's results (over the planted link), the grades.
    let results_file = here.join("autograder/results/results.json");
    ensure!(!results_file.is_symlink(), "the planted link is still there");
    ensure!(std::fs::read_to_string(here.join("victim.json"))? == "{\"score\": 1000}\n", "written through");
    let results: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(results_file)?)?;
    ensure!(results["score"] == 7.0 && results["tests"].as_array().map(Vec::len) == Some(7), "{results}");
    ensure!(results["output_format"] == "text", "{results}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(here.join("grades/summary.json"))?)?;
    ensure!(summary["submissions"].as_array().map(Vec::len) == Some(2), "{summary}");
    let mixed =
        scores(&Graded { stdout: String::new(), stderr: String::new(), out: here.join("grades-mixed") })?;
    let points: Vec<(&str, &str)> =
        mixed.iter().map(|(name, score)| (name.as_str(), score.split(' ').next().unwrap_or(""))).collect();
    ensure!(points == [("ana", "7.0"), ("ben", "7.0"), ("typo", "0.0")], "{mixed:?}");
    let typo = std::fs::read_to_string(here.join("grades-mixed/reports/typo.txt"))?;
    ensure!(typo.contains("the build failed") && typo.contains("error: expected"), "{typo}");
    // The chapter's points file is one the grader reads.
    let points =
        chapter.split("```text\n").find(|block| block.starts_with("# points.txt")).context("points.txt")?;
    let points = &points[..points.find("```").context("the block's end")?];
    runner::report::Points::parse(points, &harness::labs::udp_echo::LAB)?;
    Ok(())
}

/// The `cargo lab ...` and `socket-labs ...` commands in a chapter's `sh` and `yaml` code
/// blocks (from the command, or from a `cd` before it, to the end of the line).
fn code_commands(text: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = line.starts_with("```sh") || line.starts_with("```yaml");
            continue;
        }
        // The command word itself, not a path that ends in it (`ln -s … /usr/local/bin/socket-labs`).
        let word = |command: &str| {
            line.match_indices(command).map(|(at, _)| at).find(|&at| !line[..at].ends_with('/'))
        };
        let Some(at) = ["cargo lab ", "socket-labs "].into_iter().find_map(word) else {
            continue;
        };
        if !in_code {
            continue;
        }
        let from = line.find("cd ").filter(|&cd| cd < at).unwrap_or(at);
        commands.push(line[from..].trim().to_string());
    }
    commands
}

/// A template that cannot work, and --out inside the submissions, are refused before anything
/// runs, with the way to write it.
fn bad_templates_are_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let submissions = dir.path().join("submissions");
    std::fs::create_dir(&submissions)?;
    std::fs::write(submissions.join("a.py"), "")?;
    for (template, said) in [
        ("python3 '{submission}' --port {port}", "{submission} is quoted in the --server template"),
        ("python3 server.py --port {port}", "has no {submission} in it"),
        ("python3 {submission}", "neither {port} nor {addr}"),
    ] {
        let output = lab()
            .args(["grade", "udp-echo", "--submissions"])
            .arg(&submissions)
            .args(["--server", template, "--out"])
            .arg(dir.path().join("grades"))
            .output()?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        ensure!(!output.status.success() && stderr.contains(said), "{template}: {stderr}");
        ensure!(stderr.contains("hint: cargo lab grade udp-echo"), "{template}: no hint: {stderr}");
    }
    let output = lab()
        .args(["grade", "udp-echo", "--submissions"])
        .arg(&submissions)
        .args(["--server", TEMPLATE, "--out"])
        .arg(submissions.join("grades"))
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(!output.status.success() && stderr.contains("is inside the submissions folder"), "{stderr}");
    ensure!(!submissions.join("grades").exists(), "the refused --out was made inside the submissions");
    Ok(())
}

/// `--step` waits for Enter: with no terminal on stdin there is nobody to press it, so it is
/// refused, with what to do instead, before any step runs.
fn step_needs_a_terminal() -> Result<()> {
    let output = lab().args(["udp-echo", "--step"]).write_stdin("\n\n").output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(output.status.code() == Some(1), "exit status {}", output.status);
    ensure!(
        stderr.contains("stdin is not a terminal")
            && stderr.contains("hint: run `cargo lab udp-echo --step` in a terminal"),
        "{stderr}"
    );
    ensure!(output.stdout.is_empty(), "a step ran: {}", String::from_utf8_lossy(&output.stdout));
    Ok(())
}

/// Where namespaces cannot be made (here: no `unshare` on the PATH), grading says so once, on
/// stderr, and grades all the same, each submission on the machine's own loopback.
fn without_namespaces() -> Result<()> {
    let (dir, submissions) = copy_class(&["correct.py", "forks.py"])?;
    // A PATH with a shell, Python and the Rust tools (the runner builds the lab's binary), and
    // nothing else.
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin)?;
    for program in ["sh", "python3", "cargo", "rustc"] {
        // The system's Python where there is one: each server runs as a user of its own, who
        // may not reach a Python installed under a home folder (pyenv's, under /root).
        let system = Path::new("/usr/bin/python3");
        if program == "python3" && system.exists() {
            std::os::unix::fs::symlink(system, bin.join(program))?;
            continue;
        }
        let found = std::env::split_paths(&python_first_on_path())
            .map(|folder| folder.join(program))
            .find(|path| path.exists())
            .with_context(|| format!("no {program} on the PATH"))?;
        std::os::unix::fs::symlink(found, bin.join(program))?;
    }
    let mark = mark();
    let (key, value) = mark.split_once('=').expect("KEY=VALUE");
    let output = lab()
        .args(["grade", "udp-echo", "--submissions"])
        .arg(&submissions)
        .args(["--server", TEMPLATE, "--scenario", SCENARIOS[0], "--out"])
        .arg(dir.path().join("grades"))
        .env("PATH", &bin)
        .env(key, value)
        .output()?;
    nothing_left(&mark)?;
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    ensure!(output.status.success(), "{stdout}\n{stderr}");
    ensure!(
        stderr.matches("note: grading without isolation: unshare(1) could not be started").count() == 1,
        "{stderr}"
    );
    let graded =
        Graded { stdout: stdout.into_owned(), stderr: stderr.into_owned(), out: dir.path().join("grades") };
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(graded.out.join("summary.json"))?)?;
    ensure!(summary["isolated"] == false, "{summary}");
    let expected = BTreeMap::from([
        ("correct.py".to_string(), row("pass", "1/1")),
        ("forks.py".to_string(), row("pass", "1/1")),
    ]);
    reports_agree(&graded, &expected, &SCENARIOS[..1])
}

/// Two submissions that each also listen on the fixed TCP port 47999, graded at once while this
/// test holds (or someone else holds) that port on the machine's own loopback: both pass only
/// because each has a network of its own.
fn two_submissions_one_fixed_port() -> Result<()> {
    // Held on purpose: a submission on this network could not have it. If another program
    // holds it already, it is taken all the same.
    let _held = std::net::TcpListener::bind("127.0.0.1:47999");
    let dir = tempfile::tempdir()?;
    let submissions = dir.path().join("submissions");
    std::fs::create_dir(&submissions)?;
    for name in ["ana.py", "ben.py"] {
        std::fs::copy(root().join("tests/fixtures/grade/fixed_port.py"), submissions.join(name))?;
    }
    let mark = mark();
    let graded =
        grade(&submissions, &dir.path().join("grades"), &["--jobs", "2", "--scenario", SCENARIOS[0]], &mark)?;
    nothing_left(&mark)?;
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(graded.out.join("summary.json"))?)?;
    ensure!(summary["isolated"] == true, "graded without namespaces: {}", graded.stderr);
    let expected = BTreeMap::from([
        ("ana.py".to_string(), row("pass", "1/1")),
        ("ben.py".to_string(), row("pass", "1/1")),
    ]);
    reports_agree(&graded, &expected, &SCENARIOS[..1])
}

/// By hand: the whole fixture class, every scenario. Prints the table and the time it took.
fn the_whole_fixture_class() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mark = mark();
    let started = Instant::now();
    let graded = grade(&class(), &dir.path().join("grades"), &[], &mark)?;
    let took = started.elapsed();
    nothing_left(&mark)?;
    println!("{}\n(the whole run: {:.1}s)", graded.stdout, took.as_secs_f64());
    let all = |word: &str| [word; 7].join(" ");
    let expected = BTreeMap::from([
        ("bug-decode-text.py".to_string(), row("pass pass pass pass pass FAIL pass", "6/7")),
        ("bug-default-1024.py".to_string(), row("pass pass pass pass pass FAIL pass", "6/7")),
        ("bug-ignore-buf.py".to_string(), row("pass pass FAIL pass pass pass pass", "6/7")),
        ("bug-needs-hello.py".to_string(), row(&all("FAIL"), "0/7")),
        ("bug-new-socket.py".to_string(), row("pass pass pass pass FAIL pass FAIL", "5/7")),
        ("bug-reply-to-first.py".to_string(), row("FAIL pass pass pass FAIL FAIL pass", "4/7")),
        ("bug-skip-empty.py".to_string(), row("pass pass pass FAIL pass pass pass", "6/7")),
        ("correct.py".to_string(), row(&all("pass"), "7/7")),
        ("exits_at_once.py".to_string(), row(&all("-"), "0/7")),
        ("forks.py".to_string(), row(&all("pass"), "7/7")),
        ("hangs.py".to_string(), row(&all("FAIL"), "0/7")),
        ("loud.py".to_string(), row(&all("pass"), "7/7")),
        ("张 三 (merge).py".to_string(), row("pass FAIL pass pass pass pass pass", "6/7")),
    ]);
    reports_agree(&graded, &expected, &SCENARIOS)
}

/// By hand: ten correct udp-echo submissions, every scenario; prints how long it took (the
/// issue asks for under 15 s on a 2-core machine; measured, not asserted: see the report).
fn ten_submissions() -> Result<()> {
    let dir = tempfile::Builder::new().prefix("grade-").tempdir_in(root().join("tests/fixtures/grade"))?;
    let submissions = dir.path().join("submissions");
    std::fs::create_dir(&submissions)?;
    // The fixture itself, not the class's wrapper around it: one Python start per server.
    let echo = root().join("labs/udp-echo/tests/fixtures/echo.py");
    for n in 1..=10 {
        std::fs::copy(&echo, submissions.join(format!("student{n:02}.py")))?;
    }
    let mark = mark();
    let started = Instant::now();
    let graded = grade(&submissions, &dir.path().join("grades"), &[], &mark)?;
    let took = started.elapsed();
    nothing_left(&mark)?;
    println!(
        "ten udp-echo submissions graded in {:.1}s (the whole `cargo lab grade` run)",
        took.as_secs_f64()
    );
    ensure!(graded.stdout.contains("10 submissions: 10 passed every scenario"), "{}", graded.stdout);
    Ok(())
}

/// The honest students of the hostile class: correct, one with a bug, one that forks.
const HONEST: [&str; 3] = ["correct.py", "张 三 (merge).py", "forks.py"];

/// The hostile ones (tests/fixtures/grade/hostile): each attacks when it starts.
const HOSTILE: [&str; 7] =
    ["vandal.py", "spy.py", "tamperer.py", "killer.py", "fork_storm.py", "memory_hog.py", "disk_filler.py"];

/// Every file under `dir` (but `except`), and each file of `files`, with a hash of its bytes
/// (a link: of where it points).
fn checksums(dir: &Path, except: &[PathBuf], files: &[PathBuf]) -> Result<BTreeMap<PathBuf, u64>> {
    use std::hash::{Hash, Hasher};
    let hash = |path: &Path| -> Result<u64> {
        let meta = std::fs::symlink_metadata(path)?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        match meta.is_symlink() {
            true => std::fs::read_link(path)?.hash(&mut hasher),
            false => std::fs::read(path)?.hash(&mut hasher),
        }
        Ok(hasher.finish())
    };
    let mut sums = BTreeMap::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if except.iter().any(|no| path.starts_with(no)) {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).with_context(|| format!("{}", path.display()))?;
            match meta.is_dir() {
                true => folders.push(path),
                false => {
                    _ = sums.insert(path.clone(), hash(&path).with_context(|| format!("{}", path.display()))?)
                }
            }
        }
    }
    for file in files {
        sums.insert(file.clone(), hash(file)?);
    }
    Ok(sums)
}

/// The processes, still alive, of the uids a grade run `pid` gives its students' servers.
fn students_left(pid: u32) -> Vec<String> {
    let first = (1u32 << 30) + (pid % (1 << 22)) * 256;
    let mut left = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let uid = status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().next().and_then(|uid| uid.parse::<u32>().ok()));
        if uid.is_some_and(|uid| (first..first + 256).contains(&uid)) {
            left.push(format!("{:?} (uid {uid:?})", entry.file_name()));
        }
    }
    left
}

/// `grade` over `submissions` as `grade` does, but started here so that its pid is known.
fn grade_with_pid(submissions: &Path, out: &Path, extra: &[&str], mark: &str) -> Result<(Graded, u32)> {
    let (key, value) = mark.split_once('=').expect("a mark is KEY=VALUE");
    let child = std::process::Command::new(lab_binary())
        .args(["grade", "udp-echo", "--submissions"])
        .arg(submissions)
        .args(["--server", TEMPLATE, "--out"])
        .arg(out)
        .args(extra)
        .env("NO_COLOR", "1")
        .env("LAB_BINARIES", lab_binaries())
        .env("PATH", python_first_on_path())
        .env(key, value)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let output = child.wait_with_output()?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    ensure!(output.status.success(), "grade failed ({}):\n{stdout}\n{stderr}", output.status);
    Ok((Graded { stdout, stderr, out: out.to_path_buf() }, pid))
}

/// Each submission's points and statuses, from summary.json.
fn scores(graded: &Graded) -> Result<BTreeMap<String, String>> {
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(graded.out.join("summary.json"))?)?;
    let rows = summary["submissions"].as_array().context("submissions")?;
    Ok(rows
        .iter()
        .map(|row| {
            (
                row["name"].as_str().unwrap_or_default().to_string(),
                format!("{} {}", row["points"], row["results"]),
            )
        })
        .collect())
}

/// A hostile class graded with honest students, while the same honest students are graded
/// alone beside it (load): a vandal that overwrites classmates and writes outside its folder, a
/// spy, a tamperer that replaces the checker through /proc/1/exe, one that kills its parent,
/// a fork storm, a memory hog, a disk filler, and links planted in --out. Every honest student keeps the
/// score it gets alone; no submission, binary or file outside --out changes; every attack is
/// refused (each attacker says what it tried); nothing is left running.
fn hostile_class() -> Result<()> {
    let (dir, submissions) = copy_class(&HONEST)?;
    let alone = dir.path().join("alone");
    std::fs::create_dir(&alone)?;
    for name in HONEST {
        std::fs::copy(submissions.join(name), alone.join(name))?;
    }
    for name in HOSTILE {
        let text = std::fs::read_to_string(root().join("tests/fixtures/grade/hostile").join(name))?;
        std::fs::write(
            submissions.join(name),
            text.replace("@SUBMISSIONS@", &submissions.to_string_lossy()),
        )?;
    }
    // Links planted in --out, to a file and a folder outside it.
    let (out, outside) = (dir.path().join("grades"), dir.path().join("outside"));
    std::fs::create_dir_all(outside.join("reports"))?;
    std::fs::write(outside.join("victim.csv"), "the teacher's own file\n")?;
    std::fs::create_dir(&out)?;
    std::os::unix::fs::symlink(outside.join("victim.csv"), out.join("results.csv"))?;
    std::os::unix::fs::symlink(outside.join("reports"), out.join("reports"))?;
    let binaries = vec![lab_binary(), lab_binaries().join("udp-echo")];
    let alone_out = dir.path().join("grades-alone");
    let outs = [out.clone(), alone_out.clone()];
    let before = checksums(dir.path(), &outs, &binaries)?;

    // Each attacker attacks before it is ready (most never are): the wait for readiness is what
    // lets it, so a busy machine gets all the time it needs (the wait ends at the event).
    let flags = [
        "--scenario",
        SCENARIOS[0],
        "--scenario",
        SCENARIOS[1],
        "--process-limit",
        "128",
        "--disk-limit",
        "64M",
        "--ready-timeout",
        "120",
    ];
    let (mark, mark_alone) = (mark(), mark());
    let (together, by_themselves) = std::thread::scope(|scope| {
        let together = scope.spawn(|| grade_with_pid(&submissions, &out, &flags, &mark));
        let by_themselves = scope.spawn(|| grade(&alone, &alone_out, &flags, &mark_alone));
        (together.join().expect("no panic"), by_themselves.join().expect("no panic"))
    });
    let ((graded, pid), by_themselves) = (together?, by_themselves?);
    nothing_left(&mark)?;
    let left = harness::wait::until(Duration::from_secs(5), || students_left(pid).is_empty().then_some(()));
    ensure!(left.is_some(), "students' processes left: {:?}", students_left(pid));

    let (with_class, alone) = (scores(&graded)?, scores(&by_themselves)?);
    for name in HONEST {
        ensure!(
            with_class.get(name) == alone.get(name),
            "{name}: {:?} graded with the hostile class, {:?} alone\n{}",
            with_class.get(name),
            alone.get(name),
            graded.stdout
        );
    }
    let after = checksums(dir.path(), &outs, &binaries)?;
    let changed: Vec<_> = before.keys().filter(|path| before.get(*path) != after.get(*path)).collect();
    let added: Vec<_> = after.keys().filter(|path| !before.contains_key(*path)).collect();
    ensure!(changed.is_empty() && added.is_empty(), "changed {changed:?}, added {added:?}");
    ensure!(!Path::new("/tmp/socket-labs-vandal-was-here").exists(), "the vandal wrote into /tmp");
    ensure!(
        out.join("reports").is_dir() && !out.join("reports").is_symlink(),
        "--out/reports is still a link"
    );

    let report = |name: &str| {
        std::fs::read_to_string(out.join("reports").join(format!("{name}.txt")))
            .with_context(|| format!("{name}'s report, in:\n{}", graded.stdout))
    };
    for (name, managed) in [
        ("vandal.py", "WROTE"),
        ("spy.py", "READ "),
        ("tamperer.py", "WROTE"),
        ("tamperer.py", "REPLACED"),
        ("disk_filler.py", "WROTE"),
    ] {
        let text = report(name)?;
        ensure!(text.contains("denied "), "{name} tried nothing:\n{text}");
        ensure!(!text.contains(managed), "{name} managed it:\n{text}");
    }
    let killer = &with_class["killer.py"];
    ensure!(killer.starts_with("2.0 "), "the killer's checker did not live through it: {killer}");
    let filler = report("disk_filler.py")?;
    ensure!(filler.contains("No space left on device"), "{filler}");
    let hog = report("memory_hog.py")?;
    ensure!(hog.contains("ran out of memory at its limit (4 GiB of address space)"), "{hog}");
    Ok(())
}

/// `--only NAME` re-grades one student into an earlier --out and keeps everyone else's rows
/// and reports; README.md, __MACOSX and dot-files are passed over and named once; a name with
/// an escape sequence and a newline is shown escaped and forges no row.
fn regrade_one_and_pass_over_what_is_not_a_submission() -> Result<()> {
    let (dir, submissions) = copy_class(&["correct.py", "张 三 (merge).py"])?;
    std::fs::write(submissions.join("README.md"), "the class\n")?;
    std::fs::create_dir(submissions.join("__MACOSX"))?;
    std::fs::write(submissions.join(".DS_Store"), "")?;
    let forged = "\u{1b}[2Jforged\npass pass 2 of 2.py";
    std::fs::copy(class().join("correct.py"), submissions.join(forged))?;
    let out = dir.path().join("grades");
    let flags = ["--scenario", SCENARIOS[0], "--scenario", SCENARIOS[1]];
    let first = grade(&submissions, &out, &flags, &mark())?;
    ensure!(
        first.stderr.matches("not graded, as not submissions: .DS_Store, README.md, __MACOSX").count() == 1,
        "{}",
        first.stderr
    );
    ensure!(
        !first.stdout.contains('\u{1b}') && first.stdout.contains("\\u{1b}[2Jforged\\u{a}pass"),
        "{}",
        first.stdout
    );
    ensure!(scores(&first)?.len() == 3, "{:?}", scores(&first)?);
    // The merge student fixes the bug and is graded again, alone.
    std::fs::copy(class().join("correct.py"), submissions.join("张 三 (merge).py"))?;
    let mut again: Vec<&str> = flags.to_vec();
    again.extend(["--only", "张 三 (merge).py"]);
    let second = grade(&submissions, &out, &again, &mark())?;
    let (before, after) = (scores(&first)?, scores(&second)?);
    ensure!(after.len() == 3, "rows dropped: {after:?}");
    ensure!(after["correct.py"] == before["correct.py"], "{after:?}");
    ensure!(after["张 三 (merge).py"].starts_with("2.0 "), "not re-graded: {after:?}");
    let csv = std::fs::read_to_string(out.join("results.csv"))?;
    ensure!(csv.lines().count() == 4, "{csv}");
    ensure!(out.join("reports/correct.py.txt").is_file(), "correct.py's report went");
    Ok(())
}

/// `grade --ready-timeout`: a server that never gets ready is given up on after that long,
/// and the report says so, with the figure.
fn ready_timeout_is_the_graders() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let submissions = dir.path().join("submissions");
    std::fs::create_dir(&submissions)?;
    std::fs::write(submissions.join("slow.py"), "import time\ntime.sleep(60)\n")?;
    let mark = mark();
    let graded = grade(
        &submissions,
        &dir.path().join("grades"),
        &["--scenario", SCENARIOS[0], "--ready-timeout", "0.5"],
        &mark,
    )?;
    nothing_left(&mark)?;
    let report = std::fs::read_to_string(graded.out.join("reports/slow.py.txt"))?;
    ensure!(report.contains("within 0.5s"), "{report}");
    Ok(())
}
