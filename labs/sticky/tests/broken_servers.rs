//! The scenarios bite: each one fails against a server with the bug it exists to catch, and a
//! correct server in Python passes them all.

use std::path::Path;

use harness::labs::sticky::LAB;
use harness::scenario::{self, Target};
use rstest::rstest;

/// Each scenario, and the bug in tests/fixtures/sticky.py that it must catch.
const CAUGHT: &[(&str, &str)] = &[
    ("short_messages_stick_together_in_a_slow_reader", "tiny-reads"),
    ("a_long_message_arrives_in_pieces_cut_mid_character", "decode-each-read"),
    ("a_pause_between_writes_is_not_a_framing", "ignore-read-delay"),
    ("delimiter_framing_survives_any_rechunking", "split-each-read"),
    ("an_over_long_line_is_refused", "unbounded-line"),
    ("length_framing_survives_any_rechunking", "length-one-read"),
    ("an_over_sized_length_is_refused_from_the_header", "trust-length"),
    ("a_frame_cut_off_by_the_peer_is_reported", "drop-truncated"),
    ("udp_keeps_every_datagram_whole", "ignore-read-size"),
];

fn python_server(extra: &str) -> Target {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sticky.py");
    Target::python(&LAB, env!("CARGO_BIN_EXE_sticky"), &script, extra)
}

/// Every scenario has a broken server that it is shown to catch.
#[test]
fn every_scenario_has_a_bug_it_catches() {
    scenario::assert_every_scenario_has_a_bug(&LAB, CAUGHT);
}

/// Each scenario fails against its bug, with the transcript in the report.
#[rstest]
fn each_scenario_fails_against_its_bug(#[values(0, 1, 2, 3, 4, 5, 6, 7, 8)] case: usize) {
    scenario::assert_catches(&LAB, CAUGHT[case], python_server);
}

/// A correct Python server passes every scenario.
#[test]
fn a_correct_python_server_passes_every_scenario() {
    scenario::assert_all_pass(&python_server(""));
}
