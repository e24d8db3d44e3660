//! The runner, `cargo lab`, as a user drives it: listing, demos, one role, and `check` against
//! servers in another language, right and wrong. The `lab` binary belongs to another crate, so
//! it is built through cargo and found from cargo's own report.

use std::path::PathBuf;
use std::time::Duration;

use assert_cmd::Command;
use harness::wait::until;
use predicates::prelude::*;

/// Each test below, for the suite's one test binary (tests/scenarios.rs).
pub fn trials() -> Vec<libtest_mimic::Trial> {
    let test = |name: &str, run: fn()| {
        harness::testing::trial(name.to_string(), move || {
            run();
            Ok(())
        })
    };
    vec![
        test("runner::lists_every_lab", lists_every_lab),
        test(
            "runner::a_watch_that_logs_into_its_own_folder_runs_once",
            a_watch_that_logs_into_its_own_folder_runs_once,
        ),
        test("runner::an_unknown_lab_is_named_with_the_choices", an_unknown_lab_is_named_with_the_choices),
        test(
            "runner::spec_names_the_flags_the_scenarios_and_the_check_command",
            spec_names_the_flags_the_scenarios_and_the_check_command,
        ),
        test("runner::spec_of_an_unknown_lab_is_an_error", spec_of_an_unknown_lab_is_an_error),
        test("runner::bench_names_the_labs_that_have_one", bench_names_the_labs_that_have_one),
        test(
            "runner::the_udp_echo_demo_holds_and_ends_with_the_commands_to_try",
            the_udp_echo_demo_holds_and_ends_with_the_commands_to_try,
        ),
        test("runner::a_role_runs_the_lab_binary", a_role_runs_the_lab_binary),
        test("runner::check_passes_a_correct_python_server", check_passes_a_correct_python_server),
        test(
            "runner::check_waits_for_the_port_when_there_is_no_ready_line",
            check_waits_for_the_port_when_there_is_no_ready_line,
        ),
        test(
            "runner::check_skips_what_needs_flags_the_command_cannot_take",
            check_skips_what_needs_flags_the_command_cannot_take,
        ),
        test(
            "runner::check_fails_a_merging_server_and_shows_the_fault",
            check_fails_a_merging_server_and_shows_the_fault,
        ),
        test("runner::check_reports_a_server_that_dies_at_once", check_reports_a_server_that_dies_at_once),
        test(
            "runner::check_passes_a_correct_python_upper_server",
            check_passes_a_correct_python_upper_server,
        ),
        test(
            "runner::check_names_the_mode_a_skipped_scenario_needs",
            check_names_the_mode_a_skipped_scenario_needs,
        ),
        test(
            "runner::check_fails_a_server_that_decodes_each_read",
            check_fails_a_server_that_decodes_each_read,
        ),
        test("runner::check_refuses_a_command_without_a_port", check_refuses_a_command_without_a_port),
        test(
            "runner::check_shows_the_hint_under_a_failure_unless_told_not_to",
            check_shows_the_hint_under_a_failure_unless_told_not_to,
        ),
        test(
            "runner::check_reports_a_server_that_crashes_with_its_status_and_traceback",
            check_reports_a_server_that_crashes_with_its_status_and_traceback,
        ),
        test(
            "runner::check_names_the_port_a_server_used_instead_of_its_own",
            check_names_the_port_a_server_used_instead_of_its_own,
        ),
        test("runner::check_runs_only_the_scenarios_asked_for", check_runs_only_the_scenarios_asked_for),
        test(
            "runner::check_stops_at_the_first_failure_when_asked",
            check_stops_at_the_first_failure_when_asked,
        ),
        test("runner::check_says_to_quote_a_split_command", check_says_to_quote_a_split_command),
        test("runner::new_writes_a_starter_the_checker_can_run", new_writes_a_starter_the_checker_can_run),
        test(
            "runner::watch_checks_again_on_every_save_until_done",
            watch_checks_again_on_every_save_until_done,
        ),
        test(
            "runner::a_build_that_fails_is_shown_as_a_compile_error",
            a_build_that_fails_is_shown_as_a_compile_error,
        ),
        test(
            "runner::a_silent_server_is_told_it_sent_nothing_before_the_hint",
            a_silent_server_is_told_it_sent_nothing_before_the_hint,
        ),
        test("runner::check_reports_a_missing_file_once", check_reports_a_missing_file_once),
        test(
            "runner::check_runs_a_server_that_needs_a_flag_every_scenario_passes",
            check_runs_a_server_that_needs_a_flag_every_scenario_passes,
        ),
        test("runner::check_reports_one_cause_once", check_reports_one_cause_once),
        test(
            "runner::check_warns_of_the_rules_a_pass_does_not_prove",
            check_warns_of_the_rules_a_pass_does_not_prove,
        ),
        test("runner::check_replaces_a_port_of_the_commands_own", check_replaces_a_port_of_the_commands_own),
        test(
            "runner::reliable_ping_measures_the_udp_echo_server_through_reliable_link",
            reliable_ping_measures_the_udp_echo_server_through_reliable_link,
        ),
        test("runner::no_process_outlives_a_failing_test", no_process_outlives_a_failing_test),
        test(LEAVES_A_WATCH_RUNNING, a_failing_test_that_leaves_a_watch_running).with_ignored_flag(true),
    ]
}

/// The test that `no_process_outlives_a_failing_test` runs on purpose, in a test binary of its
/// own: it fails, and leaves a watch running.
const LEAVES_A_WATCH_RUNNING: &str = "by_hand::a_failing_test_that_leaves_a_watch_running";

fn lab() -> Command {
    let binary = runner::cargo::binary("runner", "lab").expect("building the lab runner");
    let mut command = Command::new(binary);
    // Checks keep the student's progress in the folder they run from: not in the repository.
    // And `python3` is the interpreter itself, not a version manager's shim (pyenv's costs each
    // start a shell script): as for grade's tests.
    command
        .env("NO_COLOR", "1")
        .env("LAB_PROGRESS", "/dev/null")
        .env("LAB_BINARIES", crate::grade::lab_binaries())
        .env("PATH", crate::grade::python_first_on_path())
        // Only ends a runner that hangs: a correct run ends long before, however busy the machine.
        .timeout(Duration::from_secs(600));
    if let Some(mark) = harness::guard::current() {
        command.env(harness::guard::VAR, mark);
    }
    command
}

fn echo_fixture() -> PathBuf {
    runner::cargo::workspace_root().join("labs/udp-echo/tests/fixtures/echo.py")
}

fn python_echo(extra: &str) -> String {
    format!("python3 '{}' --port {{port}} {extra} {{args}}", echo_fixture().display())
}

/// `cargo lab` alone lists every lab with what it teaches.
pub fn lists_every_lab() {
    let output = lab().output().expect("runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    // What a lab teaches may wrap onto a second line of its column: read it with the line
    // breaks and their indent as single spaces.
    let words = stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    for each in harness::labs::ALL {
        assert!(
            words.contains(each.name) && words.contains(each.teaches),
            "{} missing:\n{stdout}",
            each.name
        );
    }
    // A pipe is given the prose width: nothing past 80 columns but a command (one word too
    // long to break).
    for line in stdout.lines() {
        let narrow = harness::screen::columns(line) <= harness::screen::PROSE;
        assert!(narrow || !line.trim().contains(' '), "wider than 80 columns: {line:?}");
    }
}

/// An unknown lab name is an error that suggests the nearest one, or lists them all.
pub fn an_unknown_lab_is_named_with_the_choices() {
    lab()
        .arg("udp-eco")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no lab named \"udp-eco\"; did you mean udp-echo?"));
    lab().arg("ftp").assert().code(1).stderr(
        predicate::str::contains("no lab named \"ftp\"").and(predicate::str::contains("udp-echo, upper")),
    );
}

/// `cargo lab spec udp-echo` is the student's page: every scenario by name, the `--buf` flag,
/// the ready line, and the command that checks their server.
pub fn spec_names_the_flags_the_scenarios_and_the_check_command() {
    let mut assert = lab().args(["spec", "udp-echo"]).assert().success();
    for scenario in harness::labs::udp_echo::LAB.scenarios {
        assert = assert.stdout(predicate::str::contains(format!("{} — ", scenario.name)));
    }
    assert
        .stdout(predicate::str::contains("\n  --buf N\n"))
        .stdout(predicate::str::contains("listening on udp://127.0.0.1:PORT"))
        .stdout(predicate::str::contains(
            "cargo lab check udp-echo --server 'python3 my-udp-echo/server.py --port {port} {args}' --watch my-udp-echo",
        ));
}

/// `cargo lab spec` of a lab that does not exist is the same error as for any other command.
pub fn spec_of_an_unknown_lab_is_an_error() {
    lab()
        .args(["spec", "udp-eco"])
        .assert()
        .failure()
        .stdout("")
        .stderr(predicate::str::contains("no lab named \"udp-eco\"; did you mean udp-echo?"));
}

/// A lab without a benchmark says so, and names the labs that have one.
pub fn bench_names_the_labs_that_have_one() {
    lab().args(["bench", "udp-echo"]).assert().code(1).stderr(predicate::str::contains(
        "udp-echo has no benchmark; the labs with one are: upper, backlog, udp-group",
    ));
}

/// The demo narrates every step, exits 0, and ends with the commands to try by hand.
pub fn the_udp_echo_demo_holds_and_ends_with_the_commands_to_try() {
    lab()
        .arg("udp-echo")
        .assert()
        .success()
        .stdout(predicate::str::contains("All 7 steps held."))
        .stdout(predicate::str::contains("alice → server  datagram (16 bytes): \"hello from alice\""))
        .stdout(predicate::str::contains("cargo lab udp-echo server"));
}

/// `cargo lab NAME ROLE ...` is the lab's own binary with those arguments.
pub fn a_role_runs_the_lab_binary() {
    lab().args(["udp-echo", "server", "--help"]).assert().success().stdout(predicate::str::contains("--buf"));
}

/// A correct Python echo server passes every scenario.
pub fn check_passes_a_correct_python_server() {
    lab()
        .args(["check", "udp-echo", "--server", &python_echo("")])
        .assert()
        .success()
        .stdout(predicate::str::contains("udp-echo: 7 passed, 0 failed, 0 skipped"));
}

/// A server that prints no ready line is ready once its port is bound.
pub fn check_waits_for_the_port_when_there_is_no_ready_line() {
    lab()
        .args(["check", "udp-echo", "--server", &python_echo("--quiet")])
        .args(["--scenario", "two_clients_get_only_their_own_replies"])
        .assert()
        .success()
        .stdout(predicate::str::contains("1 passed, 0 failed"));
}

/// Without `{args}` in the command, the scenario that needs `--buf 16` is skipped, and says
/// how to run it.
pub fn check_skips_what_needs_flags_the_command_cannot_take() {
    let script = echo_fixture();
    let command = format!("python3 '{}' --port {{port}}", script.display());
    lab()
        .args(["check", "udp-echo", "--server", &command])
        .args([
            "--scenario",
            "a_datagram_longer_than_the_buffer_is_cut",
            "--scenario",
            "an_empty_datagram_is_a_message",
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("SKIP a_datagram_longer_than_the_buffer_is_cut"))
        .stdout(predicate::str::contains("put {args} in your --server command"))
        .stdout(predicate::str::contains("1 passed, 0 failed, 1 skipped"))
        .stdout(predicate::str::contains("1 scenario was skipped, so udp-echo is not done"))
        .stdout(predicate::str::contains("done ✓").not());
}

/// A server that merges datagrams fails, and the report shows the merged bytes and the
/// transcript, so the student sees the fault without running anything again.
pub fn check_fails_a_merging_server_and_shows_the_fault() {
    lab()
        .args(["check", "udp-echo", "--server", &python_echo("--bug merge")])
        .args(["--scenario", "datagrams_keep_their_boundaries"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("FAIL datagrams_keep_their_boundaries"))
        // Which datagrams the fixture gathers into one depends on when it wakes up; either
        // way some reply holds two of them.
        .stdout(predicate::str::is_match("\"(onetwo two|two twothree three three)").unwrap())
        .stdout(predicate::str::contains("alice → server  datagram (3 bytes): \"one\""))
        .stdout(predicate::str::contains("1 failed"));
}

/// A command that cannot start at all fails once, before any scenario, with the shell's own
/// complaint, rather than hanging or failing every scenario the same way.
pub fn check_reports_a_server_that_dies_at_once() {
    lab()
        .args(["check", "udp-echo", "--server", "sh -c 'exit 3' {port}"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("server ended (exited with status 3) before printing a ready line"))
        .stdout(predicate::str::contains("every scenario would fail the same way, so none was run"));
}

fn python_upper(extra: &str) -> String {
    let script = runner::cargo::workspace_root().join("labs/upper/tests/fixtures/upper.py");
    format!("python3 '{}' --port {{port}} {extra}", script.display())
}

/// A correct Python upper server passes every scenario, the mode-tagged ones included, when
/// its command takes `{args}`.
pub fn check_passes_a_correct_python_upper_server() {
    lab()
        .args(["check", "upper", "--server", &python_upper("{args}")])
        .args(["--scenario", "the_next_client_waits_until_the_first_leaves"])
        .args(["--scenario", "fifty_clients_are_answered_at_once"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "PASS the_next_client_waits_until_the_first_leaves [iterative only]",
        ))
        .stdout(predicate::str::contains("PASS fifty_clients_are_answered_at_once [threaded only]"))
        .stdout(predicate::str::contains("upper: 2 passed, 0 failed, 0 skipped"));
}

/// Without `{args}`, the mode-tagged scenarios are skipped and name the flag they need.
pub fn check_names_the_mode_a_skipped_scenario_needs() {
    lab().args(["check", "upper", "--server", &python_upper("")])
        .args(["--scenario", "the_next_client_waits_until_the_first_leaves", "--scenario", "bytes_come_back_upper_cased"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "SKIP the_next_client_waits_until_the_first_leaves [iterative only] — needs the server started with `--mode iterative`",
        ))
        .stdout(predicate::str::contains("1 passed, 0 failed, 1 skipped"));
}

/// A server that decodes each read drops the client on a split character, and the report
/// shows the half character it choked on.
pub fn check_fails_a_server_that_decodes_each_read() {
    lab()
        .args(["check", "upper", "--server", &python_upper("--bug decode-each-read {args}")])
        .args(["--scenario", "a_character_split_across_reads_is_upper_cased"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("FAIL a_character_split_across_reads_is_upper_cased"))
        .stdout(predicate::str::contains("alice → server  bytes (4 bytes): \"caf\\xc3\""));
}

fn fixture(name: &str) -> PathBuf {
    runner::cargo::workspace_root().join("tests/fixtures").join(name)
}

/// A command with neither {port} nor {addr} cannot be told its port: refused before anything
/// runs, with exit status 2 and the form to use.
pub fn check_refuses_a_command_without_a_port() {
    lab()
        .args(["check", "udp-echo", "--server", "python3 my_echo.py"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("neither {port} nor {addr}"))
        .stderr(predicate::str::contains("--port {port}"));
}

/// A FAIL says where to look in your own server: the scenario's hint, under what failed.
/// `--no-hints` (for an exam) leaves it out and keeps the rest of the report.
pub fn check_shows_the_hint_under_a_failure_unless_told_not_to() {
    // A bug that crashes the server: the failure comes at once, not after a deadline.
    let scenario = harness::labs::udp_echo::LAB.scenario("bad_input_does_not_stop_the_server");
    let check = |extra: &[&str]| {
        lab()
            .args(["check", "udp-echo", "--server", &python_echo("--bug decode-text")])
            .args(["--scenario", scenario.name])
            .args(extra)
            .assert()
            .code(1)
            .stdout(predicate::str::contains("FAIL bad_input_does_not_stop_the_server"))
            .stdout(predicate::str::contains("what failed: "))
    };
    let hint = format!("  hint: {}\n", scenario.hint);
    // Under what failed, before the transcript.
    let in_its_place = |out: &str| {
        let at = |text: &str| out.find(text).unwrap_or(usize::MAX);
        at("what failed: ") < at(&hint) && at(&hint) < at("transcript (times")
    };
    check(&[]).stdout(predicate::function(in_its_place));
    check(&["--no-hints"])
        .stdout(predicate::str::contains("hint:").not())
        .stdout(predicate::str::contains(scenario.hint).not());
}

/// A server that crashes at its first datagram fails each scenario headed by how it ended, with
/// its traceback, instead of the scenario's own "nothing arrived" after a 5 s wait.
pub fn check_reports_a_server_that_crashes_with_its_status_and_traceback() {
    let crash = format!(
        "python3 '{}' --fault crash --proto udp --port {{port}} {{args}}",
        fixture("misbehaving.py").display()
    );
    lab()
        .args([
            "check",
            "udp-echo",
            "--server",
            &crash,
            "--scenario",
            "two_clients_get_only_their_own_replies",
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("server started as: python3 "))
        // The first line under the FAIL is the exception, then how and when it ended.
        .stdout(predicate::str::contains(
            "\n    your server crashed: RuntimeError: cannot handle b'hello from alice' (exited with status 1 at ",
        ))
        .stdout(predicate::str::contains("0 passed, 1 failed"));
}

/// A server that listens on another port than the one it was given fails once, before any
/// scenario, with both ports named: with a ready line, and without one (seen in the kernel's
/// table as its own socket).
pub fn check_names_the_port_a_server_used_instead_of_its_own() {
    for quiet in ["", "--quiet"] {
        // `--port 0 # {port}`: the server ignores the port it is given and takes any free one.
        let command = format!("python3 '{}' {quiet} --port 0 # {{port}}", echo_fixture().display());
        lab()
            .args([
                "check",
                "udp-echo",
                "--server",
                &command,
                "--scenario",
                "datagrams_keep_their_boundaries",
            ])
            .assert()
            .code(1)
            .stdout(
                predicate::str::is_match(
                    r"FAIL before any scenario: the server listens on port [0-9]+ \([^)]*\), but it was given port [0-9]+",
                )
                .unwrap(),
            )
            .stdout(predicate::str::contains("every scenario would fail the same way, so none was run"));
    }
}

/// --scenario runs only the named scenarios, in the lab's order; an unknown name is an error
/// that lists the real ones.
pub fn check_runs_only_the_scenarios_asked_for() {
    lab()
        .args([
            "check",
            "udp-echo",
            "--server",
            &python_echo(""),
            "--scenario",
            "an_empty_datagram_is_a_message",
        ])
        .args(["--scenario", "two_clients_get_only_their_own_replies"])
        .assert()
        .success()
        .stdout(
            predicate::str::is_match(
                "(?s)PASS two_clients_get_only_their_own_replies.*PASS an_empty_datagram_is_a_message",
            )
            .unwrap(),
        )
        .stdout(predicate::str::contains("2 passed, 0 failed, 0 skipped"));
    lab()
        .args(["check", "udp-echo", "--server", &python_echo(""), "--scenario", "no_such_thing"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no scenario named \"no_such_thing\""))
        .stderr(predicate::str::contains("datagrams_keep_their_boundaries"));
}

/// --fail-fast runs one scenario at a time: after the first failure no other scenario starts,
/// and those are counted as skipped.
pub fn check_stops_at_the_first_failure_when_asked() {
    lab()
        .args(["check", "udp-echo", "--server", &python_echo("--bug merge"), "--fail-fast"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("PASS two_clients_get_only_their_own_replies"))
        .stdout(predicate::str::contains("FAIL datagrams_keep_their_boundaries"))
        .stdout(predicate::str::contains("not run (--fail-fast)"))
        .stdout(predicate::str::contains("1 passed, 1 failed, 5 skipped"));
}

/// A command the shell split into words is refused with exit 2 and the whole command, quoted,
/// with {port} added when it was missing.
pub fn check_says_to_quote_a_split_command() {
    lab()
        .args(["check", "udp-echo", "--server", "python3", "my_echo.py"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`my_echo.py` came after --server's command"))
        .stderr(predicate::str::contains("--server 'python3 my_echo.py --port {port} {args}'"));
}

/// `cargo lab new` writes a starter and its README into a new folder, refuses a folder that is
/// not empty (touching nothing in it), and the starter is what the checker expects: found ready
/// on the port it was given, every flag a scenario passes taken, and each FAIL with its hint.
pub fn new_writes_a_starter_the_checker_can_run() {
    let place = tempfile::tempdir().unwrap();
    let dir = place.path().join("my-udp-echo");
    lab()
        .args(["new", "udp-echo"])
        .arg(&dir)
        .assert()
        .success()
        .stdout(predicate::str::contains("cargo lab check udp-echo"));
    assert!(dir.join("server.py").is_file() && dir.join("README.md").is_file());
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(readme.contains("cargo lab check udp-echo --server 'python3 "), "{readme}");

    std::fs::write(dir.join("server.py"), "mine").unwrap();
    lab()
        .args(["new", "udp-echo"])
        .arg(&dir)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is not empty"));
    assert_eq!(std::fs::read_to_string(dir.join("server.py")).unwrap(), "mine");

    let fresh = place.path().join("again");
    lab().args(["new", "udp-echo"]).arg(&fresh).assert().success();
    let command = format!("python3 '{}' --port {{port}} {{args}}", fresh.join("server.py").display());
    let output = lab().args(["check", "udp-echo", "--server", &command]).output().unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    for wrong in ["unrecognized arguments", "printed no ready line", "neither printed a ready line", "SKIP "]
    {
        assert!(!report.contains(wrong), "the starter's check says {wrong:?}:\n{report}");
    }
    assert!(report.contains("FAIL ") && report.contains("  hint: "), "{report}");
}

/// `check --watch DIR > DIR/log.txt`: what the watch writes itself is no change. (Each run's
/// lines used to start the next: 86 runs in 25 s, a newcomer found.)
pub fn a_watch_that_logs_into_its_own_folder_runs_once() {
    let place = tempfile::tempdir().unwrap();
    std::fs::copy(echo_fixture(), place.path().join("server.py")).unwrap();
    let command = format!(
        "python3 '{}' --port {{port}} --bug merge {{args}}",
        place.path().join("server.py").display()
    );
    let log = place.path().join("log.txt");
    let binary = runner::cargo::binary("runner", "lab").unwrap();
    let mut watch = harness::guard::mark(&mut std::process::Command::new(binary))
        .args(["check", "udp-echo", "--server", &command, "--watch"])
        .arg(place.path())
        .env("NO_COLOR", "1")
        .env("LAB_PROGRESS", "/dev/null")
        .env("LAB_BINARIES", crate::grade::lab_binaries())
        .env("PATH", crate::grade::python_first_on_path())
        .stdout(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    // Generous: it only runs out when the watch is broken, and a run takes a while at load 80.
    let first = harness::wait::until(Duration::from_secs(300), || text().contains("Watching").then_some(()));
    // A second run would start within the watch's settling time (200 ms) of the log's last
    // write: give it ten times that.
    let second = harness::wait::until(Duration::from_secs(2), || text().contains("run 2").then_some(()));
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(first.is_some(), "the first run never ended:\n{}", text());
    assert!(second.is_none(), "the watch ran again on its own output:\n{}", text());
}

/// `check --watch` runs the check at once, again on every save, and says "done ✓" with the next
/// lab once everything passes; the progress file and `cargo lab progress` agree; Ctrl-C (a
/// SIGINT to the runner alone, in the middle of a run) leaves none of its servers behind.
pub fn watch_checks_again_on_every_save_until_done() {
    use std::io::BufRead;
    use std::sync::mpsc;

    let place = tempfile::tempdir().unwrap();
    let dir = place.path().join("my udp-echo");
    lab().args(["new", "udp-echo"]).arg(&dir).assert().success();
    let starter = std::fs::read_to_string(dir.join("server.py")).unwrap();
    let command = format!("python3 '{}' --port {{port}} {{args}}", dir.join("server.py").display());
    let binary = runner::cargo::binary("runner", "lab").unwrap();
    let mut watch = harness::guard::mark(&mut std::process::Command::new(binary))
        .args(["check", "udp-echo", "--server", &command, "--watch"])
        .arg(&dir)
        .current_dir(place.path())
        .env("NO_COLOR", "1")
        .env("LAB_PROGRESS", place.path().join("lab-progress.txt"))
        .env("LAB_BINARIES", crate::grade::lab_binaries())
        .env("PATH", crate::grade::python_first_on_path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, seen) = mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let wait_for = |wanted: &str| {
        // Generous: it only runs out when the watch is broken, and a run takes a while at load 80.
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        let mut shown = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match seen.recv_timeout(left) {
                Ok(line) if line.contains(wanted) => return shown,
                Ok(line) => shown.push(line),
                Err(_) => {
                    panic!("no line with {wanted:?} within 300s; the watch printed:\n{}", shown.join("\n"))
                }
            }
        }
    };
    // A save during the first run stops it, and the next starts at once.
    wait_for("udp-echo · run 1");
    std::fs::write(dir.join("server.py"), format!("{starter}\n# saved during the run\n")).unwrap();
    wait_for("A file changed during the run: it was stopped; checking again.");
    let first = wait_for("Watching");
    assert!(first.iter().any(|line| line.contains("udp-echo · run 2")), "{}", first.join("\n"));
    // Each scenario's line as it ends, with the running count, then the bar and the report.
    let live = first
        .iter()
        .position(|line| line.starts_with("  FAIL two_clients_get_only_their_own_replies [1/7, 0 pass]"));
    let bar = first.iter().position(|line| line.contains("0/7 scenarios pass"));
    assert!(live.is_some() && live < bar, "{}", first.join("\n"));
    assert!(first.iter().any(|line| line.contains("  hint: ")), "{}", first.join("\n"));

    std::fs::copy(echo_fixture(), dir.join("server.py")).unwrap();
    let second = wait_for("done ✓ udp-echo: every scenario passes.");
    assert!(second.iter().any(|line| line.contains("7/7 scenarios pass")), "{}", second.join("\n"));
    assert!(wait_for("Watching").iter().any(|line| line.contains("Next: upper")));
    let progress = std::fs::read_to_string(place.path().join("lab-progress.txt")).unwrap();
    assert!(progress.contains("\nudp-echo 7/7 cargo lab check udp-echo --server "), "{progress}");
    // From inside the starter's folder too: one progress, whatever the folder.
    lab()
        .arg("progress")
        .env("LAB_PROGRESS", place.path().join("lab-progress.txt"))
        .current_dir(&dir)
        .assert()
        .success()
        .stdout(predicate::str::contains("  udp-echo    done ✓"))
        .stdout(predicate::str::contains("  upper       not started"))
        .stdout(predicate::str::contains("1 of "));

    // Back to the starter, and Ctrl-C while its scenarios wait on its servers.
    std::fs::write(dir.join("server.py"), starter).unwrap();
    // The next run, whatever its number: the copy above may have started two (its data, then
    // its permissions, two events that a busy machine can deliver apart, the second stopping
    // the first run), so this one is run 4 or run 5.
    wait_for("udp-echo · run ");
    // The servers' command lines name the folder (the runner's own names it too: leave it out).
    let runner = watch.id();
    let servers = || {
        let mut found =
            harness::procs::with_command_line_containing(&dir.join("server.py").display().to_string());
        found.retain(|&pid| pid != runner);
        Some(found).filter(|found| !found.is_empty())
    };
    assert!(until(Duration::from_secs(300), servers).is_some(), "the last run started no server within 300s");
    let interrupt = std::process::Command::new("kill").args(["-INT", &runner.to_string()]).status();
    assert!(interrupt.unwrap().success());
    let status = watch.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
    let gone = until(Duration::from_secs(30), || servers().is_none().then_some(()));
    assert!(gone.is_some(), "servers left after Ctrl-C: {:?}", servers());
}

/// With `--build`, a compile error is shown as the compiler said it, and no scenario runs.
pub fn a_build_that_fails_is_shown_as_a_compile_error() {
    let place = tempfile::tempdir().unwrap();
    let project = place.path().join("my-udp-echo");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(
        project.join("Cargo.toml"),
        "[package]\nname = \"my-udp-echo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(project.join("src/main.rs"), "fn main() {\n    let port: u16 = \"8888\";\n}\n").unwrap();
    let build = format!(
        "cargo build --quiet --manifest-path '{0}/Cargo.toml' --target-dir '{0}/target'",
        project.display()
    );
    let server = format!("'{}/target/debug/my-udp-echo' --port {{port}} {{args}}", project.display());
    lab()
        .args(["check", "udp-echo", "--build", &build, "--server", &server])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("error[E0308]: mismatched types"))
        .stderr(predicate::str::contains("build failed (exit status 101)"))
        .stderr(predicate::str::contains("no scenario was run"))
        .stdout(predicate::str::contains("PASS").not())
        .stdout(predicate::str::contains("FAIL").not());
}

/// A server that received and sent nothing in a scenario (a starter, as written) is told so
/// first, with what it received and that it is waiting, and pointed to the TODO that names the
/// scenario; one that answered wrongly is not.
pub fn a_silent_server_is_told_it_sent_nothing_before_the_hint() {
    let place = tempfile::tempdir().unwrap();
    let dir = place.path().join("my-udp-echo");
    lab().args(["new", "udp-echo"]).arg(&dir).assert().success();
    let starter = format!("python3 '{}' --port {{port}} {{args}}", dir.join("server.py").display());
    let scenario = "two_clients_get_only_their_own_replies";
    lab()
        .args(["check", "udp-echo", "--scenario", scenario, "--server", &starter])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("\n    your server received \"hello from alice\" from alice at "))
        .stdout(predicate::str::contains("still running and not burning CPU"))
        .stdout(predicate::str::contains(format!(
            "note: if your server is still the starter, begin with the TODO that names {scenario}"
        )))
        .stdout(predicate::str::contains("  hint: Reply to the address recvfrom gave you"));
    lab()
        .args(["check", "udp-echo", "--scenario", "datagrams_keep_their_boundaries"])
        .args(["--server", &python_echo("--bug merge")])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("  hint: Echo each datagram on its own"))
        .stdout(predicate::str::contains("note: if your server is still the starter").not());
}

/// A server that cannot start without a flag every scenario passes (backlog's `--backlog`)
/// stops with a usage error in the start-up check: that is no reason to run no scenario.
pub fn check_runs_a_server_that_needs_a_flag_every_scenario_passes() {
    let fixture = runner::cargo::workspace_root().join("labs/backlog/tests/fixtures/backlog.py");
    let server = format!("python3 '{}' --port {{port}} {{args}}", fixture.display());
    lab()
        .args([
            "check",
            "backlog",
            "--scenario",
            "exactly_backlog_plus_one_connects_complete",
            "--server",
            &server,
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("PASS exactly_backlog_plus_one_connects_complete"));
}

/// One lab's role against another lab's server, as a user runs them: `cargo lab reliable
/// ping`, through `cargo lab reliable link --loss 30%` (seed 33: ping 5 there, ping 3's echo
/// back) to `cargo lab udp-echo server`, six pings: the pinger times out on each ping the link
/// says it dropped, one way or the other, and on no other unless the link passed its echo back
/// late (a busy machine); its summary counts them.
pub fn reliable_ping_measures_the_udp_echo_server_through_reliable_link() {
    let transcript = harness::transcript::Transcript::new();
    let check = || -> anyhow::Result<()> {
        let mut echo = lab_role("server", &["udp-echo", "server", "--port", "0"], &transcript)?;
        let echo_addr = echo.wait_ready(harness::READY_WAIT)?.addr.to_string();
        let chances = ["--loss", "30%", "--seed", "33"];
        let mut args = vec!["reliable", "link", "--listen", "127.0.0.1:0", "--to", &echo_addr];
        args.extend(chances);
        let mut link = lab_role("link", &args, &transcript)?;
        let link_addr = link.wait_ready(harness::READY_WAIT)?.addr.to_string();
        let ping = ["reliable", "ping", "--server", &link_addr, "--count", "6", "--timeout", "300"];
        let mut pinger = lab_role("pinger", &ping, &transcript)?;
        let mut timed_out = Vec::new();
        for number in 1..=6 {
            let ping = format!("ping {number}");
            let said = pinger
                .expect_line("a ping's fate", harness::WAIT, |line| line.contains(&format!("{ping}:")))?;
            if said.contains("timed out") {
                timed_out.push(ping);
            }
        }
        let summary = pinger.expect_line("the summary", harness::WAIT, |line| line.starts_with("---"))?;
        // `dropped datagram 5 → 127.0.0.1:PORT: "ping 5 5f1c9e0a"  <<`, `passed datagram 3 ← ...
        // "ping 4 00c0ffee"`: a ping's number, and the token the pinger drew for it.
        // The link decides on each ping, and on the echo of each it passed; on a busy machine
        // it may print those decisions well after the pinger is done, so wait for all of them.
        let (mut dropped, mut echoed) = (Vec::new(), Vec::new());
        let (mut there, mut awaited) = (0, 0);
        while there < 6 || awaited > 0 {
            let line =
                link.expect_line("the link's decision on every ping and echo", harness::WAIT, |_| true)?;
            let Some(quoted) = line.split('"').nth(1) else { continue };
            let ping = quoted.split(' ').take(2).collect::<Vec<_>>().join(" ");
            let back = line.contains("(a reply)");
            match (line.starts_with("dropped"), back) {
                (dropped_it, false) => {
                    there += 1;
                    awaited += usize::from(!dropped_it);
                }
                (_, true) => awaited = awaited.saturating_sub(1),
            }
            if line.starts_with("dropped") {
                dropped.push(ping);
            } else if back {
                echoed.push(ping);
            }
        }
        if dropped.is_empty() {
            anyhow::bail!("the link dropped nothing: the test shows nothing (pick another seed)");
        }
        for ping in &dropped {
            if !timed_out.contains(ping) {
                anyhow::bail!("the link dropped {ping} (or its echo), but the pinger got a reply");
            }
        }
        for ping in &timed_out {
            if !dropped.contains(ping) && !echoed.contains(ping) {
                anyhow::bail!("{ping} timed out, but the link neither dropped it nor passed an echo back");
            }
        }
        if !summary.contains(&format!("{} lost", timed_out.len())) {
            anyhow::bail!("the pinger timed out {timed_out:?}, and says {summary:?}");
        }
        Ok(())
    };
    if let Err(error) = check() {
        panic!("{error:#}\n\ntranscript:\n{}", transcript.render());
    }
}

/// `cargo lab LAB ROLE ARGS...` as a role of a scenario, with its output in `transcript`: the
/// lab's binary itself, which is what `cargo lab` runs (a_role_runs_the_lab_binary), without
/// the runner asking cargo for it on every start.
fn lab_role(
    who: &str,
    args: &[&str],
    transcript: &harness::transcript::Transcript,
) -> anyhow::Result<harness::process::Role> {
    let path = runner::cargo::binary(args[0], args[0])?;
    let args = args[1..].iter().map(|a| a.to_string()).collect();
    harness::process::Role::spawn(who, harness::process::Program::Exec { path, args }, transcript)
}

/// A command whose file does not exist stops with status 2, as a usage error does, but names
/// none of the lab's flags: it is reported once, before any scenario, with Python's own words.
pub fn check_reports_a_missing_file_once() {
    let place = tempfile::tempdir().unwrap();
    let missing = place.path().join("main.py");
    let server = format!("python3 '{}' --port {{port}} {{args}}", missing.display());
    lab()
        .args(["check", "udp-echo", "--server", &server])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("FAIL before any scenario: the server did not start"))
        .stdout(predicate::str::contains("can't open file"))
        .stdout(predicate::str::contains("every scenario would fail the same way, so none was run"));
}

/// A test that fails while `check --watch` runs (its servers up, waiting on scenarios) leaves
/// nothing behind: this runs one such test, on purpose, in a test binary of its own (this one,
/// again), and then finds none of the processes it started, with `ps`'s own source (/proc).
pub fn no_process_outlives_a_failing_test() {
    let inner = assert_cmd::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", LEAVES_A_WATCH_RUNNING])
        .env(harness::guard::VAR, harness::guard::current().unwrap_or_default())
        .timeout(Duration::from_secs(600))
        .output()
        .unwrap();
    let said =
        format!("{}{}", String::from_utf8_lossy(&inner.stdout), String::from_utf8_lossy(&inner.stderr));
    assert_eq!(inner.status.code(), Some(101), "the inner test was to fail:\n{said}");
    assert!(said.contains("failing on purpose, with the watch running"), "{said}");
    assert!(said.contains("killed what the test left running"), "{said}");
    // Every mark the inner test binary gave starts with its process id.
    let prefix = format!("{}-", inner_pid(&said).expect("the inner test names its process"));
    let gone =
        until(Duration::from_secs(30), || harness::guard::carrying_prefix(&prefix).is_empty().then_some(()));
    assert!(gone.is_some(), "left running: {:?}", harness::guard::carrying_prefix(&prefix));
}

/// The inner test's process id, which it prints for the outer one.
fn inner_pid(said: &str) -> Option<u32> {
    said.split("test process ").nth(1)?.split_whitespace().next()?.parse().ok()
}

/// Run only by `no_process_outlives_a_failing_test`: starts `check --watch` on a starter (which
/// fails every scenario, so the watch goes on), waits until a server of it runs, and fails.
pub fn a_failing_test_that_leaves_a_watch_running() {
    println!("test process {} (its marks start with it)", std::process::id());
    let place = tempfile::tempdir().unwrap();
    let dir = place.path().join("my-udp-echo");
    lab().args(["new", "udp-echo"]).arg(&dir).assert().success();
    let command = format!("python3 '{}' --port {{port}} {{args}}", dir.join("server.py").display());
    let binary = runner::cargo::binary("runner", "lab").unwrap();
    // Never waited for, on purpose: the guard around this test is what must end it.
    #[allow(clippy::zombie_processes)]
    let _watch = harness::guard::mark(&mut std::process::Command::new(binary))
        .args(["check", "udp-echo", "--server", &command, "--watch"])
        .arg(&dir)
        .current_dir(place.path())
        .env("NO_COLOR", "1")
        .env("LAB_PROGRESS", "/dev/null")
        .env("LAB_BINARIES", crate::grade::lab_binaries())
        .env("PATH", crate::grade::python_first_on_path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let entry = format!("{}={}", harness::guard::VAR, harness::guard::current().unwrap());
    let server_runs = || {
        harness::guard::carrying(&entry)
            .iter()
            .any(|(_, command)| command.contains("server.py"))
            .then_some(())
    };
    assert!(
        until(Duration::from_secs(300), server_runs).is_some(),
        "the watch started no server within 300s"
    );
    panic!("failing on purpose, with the watch running (and a server of it)");
}

/// One mistake (`OK\n` for `OK`) that fails eleven scenarios is reported in full once; each
/// other FAIL's first line still names it, and the summary counts them together.
pub fn check_reports_one_cause_once() {
    let room = runner::cargo::workspace_root().join("labs/udp-group/tests/fixtures/room.py");
    let server = format!("python3 '{}' --bug ok-newline --port {{port}} {{args}}", room.display());
    let output = lab().args(["check", "udp-group", "--server", &server]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let newline = r#"off by whitespace: alice got "OK\n" where "OK" was expected: an extra "\n" at the end"#;
    let lines: Vec<&str> = stdout.lines().collect();
    let fails: Vec<usize> = (0..lines.len()).filter(|&at| lines[at].starts_with("FAIL ")).collect();
    assert!(fails.len() > 5, "{stdout}");
    for &at in &fails {
        assert!(
            lines[at + 1].contains(newline),
            "the first line under {} is not the newline:\n{stdout}",
            lines[at]
        );
    }
    assert_eq!(stdout.matches("transcript (times from the scenario's start)").count(), 1, "{stdout}");
    assert!(
        stdout.contains(&format!("  {} scenarios failed the same way: {newline}", fails.len())),
        "{stdout}"
    );
}

/// A server that passes, but prints a line before its ready line, binds 0.0.0.0 and holds a
/// second port, is warned about each (in text and in json); with --strict the check fails.
pub fn check_warns_of_the_rules_a_pass_does_not_prove() {
    let loose = format!(
        "python3 '{}' --fault loose --proto udp --port {{port}} {{args}}",
        fixture("misbehaving.py").display()
    );
    let scenario = ["--scenario", "two_clients_get_only_their_own_replies"];
    let warned = |text: &str| {
        text.contains("printed \"starting the echo server\" before its ready line")
            && text.contains("bound to every interface")
            && text.contains("also holds udp port")
    };
    lab()
        .args(["check", "udp-echo", "--server", &loose])
        .args(scenario)
        .assert()
        .success()
        .stdout(predicate::str::contains("warning: your server printed"))
        .stdout(predicate::function(warned));
    lab()
        .args(["check", "udp-echo", "--strict", "--server", &loose])
        .args(scenario)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("warning(s) count as failures (--strict)"));
    let output = lab()
        .args(["check", "udp-echo", "--format", "json", "--server", &loose])
        .args(scenario)
        .output()
        .unwrap();
    let report: runner::report::Submission = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report.warnings.len(), 3, "{:?}", report.warnings);
    assert!(warned(&report.warnings.join("\n")), "{:?}", report.warnings);
    for format in ["junit", "gradescope"] {
        let output = lab()
            .args(["check", "udp-echo", "--format", format, "--server", &loose])
            .args(scenario)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(warned(&text.replace("&quot;", "\"").replace("\\\"", "\"")), "{format}:\n{text}");
    }
}

/// `--server '... --port 8888'` (a port of its own) gets a suggestion with `{port}` in its
/// place, not a second `--port`.
pub fn check_replaces_a_port_of_the_commands_own() {
    lab()
        .args(["check", "udp-echo", "--server", "python3 my_echo.py --port 8888"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--server 'python3 my_echo.py --port {port} {args}'"))
        .stderr(predicate::str::contains("--port 8888").not());
}
