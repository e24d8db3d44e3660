//! The scenarios bite: each one fails against a server with the bug it exists to catch, and a
//! correct server in Python passes them all.

use std::path::Path;

use harness::labs::backlog::LAB;
use harness::scenario::{self, Target};
use rstest::rstest;

/// Each scenario, and the bug in tests/fixtures/backlog.py that it must catch.
const CAUGHT: &[(&str, &str)] = &[
    ("exactly_backlog_plus_one_connects_complete", "fixed-backlog"),
    ("bytes_sent_while_queued_are_answered_once_accepted", "one-line-per-read"),
    ("each_accept_frees_one_slot", "enter-accepts-all"),
    ("backlog_one_serves_fifty_clients", "one-at-a-time"),
];

fn python_server(extra: &str) -> Target {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/backlog.py");
    Target::python(&LAB, env!("CARGO_BIN_EXE_backlog"), &script, extra)
}

/// Every scenario has a broken server that it is shown to catch.
#[test]
fn every_scenario_has_a_bug_it_catches() {
    scenario::assert_every_scenario_has_a_bug(&LAB, CAUGHT);
}

/// Each scenario fails against its bug, with the transcript in the report.
#[rstest]
fn each_scenario_fails_against_its_bug(#[values(0, 1, 2, 3)] case: usize) {
    scenario::assert_catches(&LAB, CAUGHT[case], python_server);
}

/// A correct Python server passes every scenario; the flags each needs come through {args}.
#[test]
fn a_correct_python_server_passes_every_scenario() {
    scenario::assert_all_pass(&python_server(""));
}
