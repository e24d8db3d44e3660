//! The scenarios bite: each one fails against a server with the bug it exists to catch, and a
//! correct server in Python passes them all, in both modes.

use std::path::Path;

use harness::labs::upper::LAB;
use harness::scenario::{self, Target};
use rstest::rstest;

/// Each scenario, and the bug in tests/fixtures/upper.py that it must catch.
const CAUGHT: &[(&str, &str)] = &[
    ("bytes_come_back_upper_cased", "one-read"),
    ("a_character_split_across_reads_is_upper_cased", "decode-each-read"),
    ("the_next_client_waits_until_the_first_leaves", "always-threaded"),
    ("fifty_clients_are_answered_at_once", "always-iterative"),
    ("a_vanished_client_does_not_stop_the_server", "die-on-reset"),
    ("a_half_closed_client_still_gets_every_reply", "line-buffered"),
    ("an_empty_session_is_clean", "serve-once"),
];

fn python_server(extra: &str) -> Target {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upper.py");
    Target::python(&LAB, env!("CARGO_BIN_EXE_upper"), &script, extra)
}

/// Every scenario has a broken server that it is shown to catch.
#[test]
fn every_scenario_has_a_bug_it_catches() {
    scenario::assert_every_scenario_has_a_bug(&LAB, CAUGHT);
}

/// Each scenario fails against its bug, with the transcript in the report.
#[rstest]
fn each_scenario_fails_against_its_bug(#[values(0, 1, 2, 3, 4, 5, 6)] case: usize) {
    scenario::assert_catches(&LAB, CAUGHT[case], python_server);
}

/// A correct Python server passes every scenario, whichever mode it starts in: the scenarios
/// that need a mode ask for it through {args}.
#[rstest]
fn a_correct_python_server_passes_every_scenario(
    #[values("--mode iterative", "--mode threaded")] mode: &str,
) {
    scenario::assert_all_pass(&python_server(mode));
}
