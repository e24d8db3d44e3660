//! The scenarios bite: each one fails against a server with the bug it exists to catch, and a
//! correct server in Python passes them all, in both modes.

use std::path::Path;

use harness::labs::udp_chat::LAB;
use harness::scenario::{self, Target};
use rstest::rstest;

/// Each scenario, and the bug in tests/fixtures/chat.py that it must catch.
const CAUGHT: &[(&str, &str)] = &[
    ("either_side_may_start_first", "new-socket"),
    ("a_stranger_cannot_cut_into_the_chat", "reply-to-last"),
    ("in_lockstep_the_server_waits_for_its_turn", "always-duplex"),
    ("in_duplex_either_side_types_at_any_time", "always-lockstep"),
    ("a_quit_word_from_either_side_ends_the_chat", "case-sensitive"),
];

fn python_server(extra: &str) -> Target {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/chat.py");
    Target::python(&LAB, env!("CARGO_BIN_EXE_udp-chat"), &script, extra)
}

/// Every scenario has a broken server that it is shown to catch.
#[test]
fn every_scenario_has_a_bug_it_catches() {
    scenario::assert_every_scenario_has_a_bug(&LAB, CAUGHT);
}

/// Each scenario fails against its bug, with the transcript in the report.
#[rstest]
fn each_scenario_fails_against_its_bug(#[values(0, 1, 2, 3, 4)] case: usize) {
    scenario::assert_catches(&LAB, CAUGHT[case], python_server);
}

/// A correct Python server passes every scenario, whichever mode it starts in.
#[rstest]
fn a_correct_python_server_passes_every_scenario(#[values("--mode lockstep", "--mode duplex")] mode: &str) {
    scenario::assert_all_pass(&python_server(mode));
}

/// The seed's reply-to-last server shows the stranger's line in the report.
#[test]
fn the_stranger_failure_shows_the_strangers_line() {
    let report = scenario::expect_failure(
        LAB.scenario("a_stranger_cannot_cut_into_the_chat"),
        &python_server("--bug reply-to-last"),
    )
    .unwrap();
    assert!(report.contains("but it printed \"client: alice here, from a new port\""), "{report}");
}

/// connect stops new datagrams from strangers, not one already queued: a server that trusts it
/// shows mallory's line, sent right behind alice's first one.
#[test]
fn a_strangers_datagram_queued_before_connect_is_caught() {
    let report = scenario::expect_failure(
        LAB.scenario("a_stranger_cannot_cut_into_the_chat"),
        &python_server("--bug trust-connect"),
    )
    .unwrap();
    assert!(report.contains("but it printed \"client: alice here, from a new port\""), "{report}");
}
