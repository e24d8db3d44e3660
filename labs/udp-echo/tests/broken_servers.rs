//! The scenarios bite: each one fails against a server with the bug it exists to catch, and a
//! correct server in another language (Python) passes them all, with or without a ready line.

use std::path::Path;

use harness::labs::udp_echo::LAB;
use harness::scenario::{self, Target};
use rstest::rstest;

/// Each scenario, and the bug in tests/fixtures/echo.py that it must catch.
const CAUGHT: &[(&str, &str)] = &[
    ("two_clients_get_only_their_own_replies", "reply-to-first"),
    ("datagrams_keep_their_boundaries", "merge"),
    ("a_datagram_longer_than_the_buffer_is_cut", "ignore-buf"),
    ("an_empty_datagram_is_a_message", "skip-empty"),
    ("a_datagram_sent_before_the_server_starts_is_lost", "needs-hello"),
    ("bad_input_does_not_stop_the_server", "decode-text"),
    ("the_client_prints_each_reply", "new-socket"),
];

fn python_server(extra: &str) -> Target {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/echo.py");
    Target::python(&LAB, env!("CARGO_BIN_EXE_udp-echo"), &script, extra)
}

/// Every scenario has a broken server that it is shown to catch.
#[test]
fn every_scenario_has_a_bug_it_catches() {
    scenario::assert_every_scenario_has_a_bug(&LAB, CAUGHT);
}

/// Each scenario fails against its bug, and the failure report carries the transcript.
#[rstest]
fn each_scenario_fails_against_its_bug(#[values(0, 1, 2, 3, 4, 5, 6)] case: usize) {
    scenario::assert_catches(&LAB, CAUGHT[case], python_server);
}

/// A correct Python server passes every scenario: the checks hold any language to the wire,
/// not to the reference's wording.
#[rstest]
fn a_correct_python_server_passes_every_scenario(#[values("", "--quiet")] ready_line: &str) {
    scenario::assert_all_pass(&python_server(ready_line));
}

/// The merging server's failure shows the fault itself: the datagrams it glued together.
#[test]
fn the_merge_failure_shows_the_merged_datagram() {
    let report = scenario::expect_failure(
        LAB.scenario("datagrams_keep_their_boundaries"),
        &python_server("--bug merge"),
    )
    .unwrap();
    assert!(report.contains(r#""onetwo twothree three three""#), "{report}");
}
