//! The scenarios bite: each one fails against a server with the bug it exists to catch, and a
//! correct server in Python passes them all, in both modes.

use std::path::Path;

use harness::labs::tcp_chat::LAB;
use harness::scenario::{self, Target};
use rstest::rstest;

/// Each scenario, and the bug in tests/fixtures/chat.py that it must catch.
const CAUGHT: &[(&str, &str)] = &[
    ("the_client_is_refused_until_the_server_runs", "ready-before-listen"),
    ("in_lockstep_the_client_speaks_first_then_they_take_turns", "always-duplex"),
    ("in_duplex_either_side_types_at_any_time", "always-lockstep"),
    ("a_quit_word_from_either_side_ends_the_conversation", "quit-never-matches"),
    ("the_next_client_is_served_after_a_quit_and_loses_nothing", "serve-once"),
    ("a_long_line_arrives_whole_up_to_the_bound", "recv-1024"),
];

fn python_server(extra: &str) -> Target {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/chat.py");
    Target::python(&LAB, env!("CARGO_BIN_EXE_tcp-chat"), &script, extra)
}

/// Every scenario has a broken server that it is shown to catch.
#[test]
fn every_scenario_has_a_bug_it_catches() {
    scenario::assert_every_scenario_has_a_bug(&LAB, CAUGHT);
}

/// Each scenario fails against its bug, with the transcript in the report.
#[rstest]
fn each_scenario_fails_against_its_bug(#[values(0, 1, 2, 3, 4, 5)] case: usize) {
    scenario::assert_catches(&LAB, CAUGHT[case], python_server);
}

/// A correct Python server passes every scenario, whichever mode it starts in: the scenarios
/// that need a mode ask for it through {args}.
#[rstest]
fn a_correct_python_server_passes_every_scenario(#[values("--mode lockstep", "--mode duplex")] mode: &str) {
    scenario::assert_all_pass(&python_server(mode));
}

/// The seed's quit bug shows in the report: the server printed the Q and kept the connection.
#[test]
fn the_quit_failure_shows_the_unnoticed_quit_word() {
    let report = scenario::expect_failure(
        LAB.scenario("a_quit_word_from_either_side_ends_the_conversation"),
        &python_server("--bug quit-never-matches"),
    )
    .unwrap();
    assert!(report.contains("server stdout> client 1: Q"), "{report}");
    assert!(report.contains("expected the server to close the connection"), "{report}");
}
