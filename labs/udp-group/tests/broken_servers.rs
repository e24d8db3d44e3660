//! The scenarios bite: each one fails against a server with the bug it exists to catch, and a
//! correct server in another language (Python) passes them all, with or without a ready line.

use std::path::Path;

use harness::labs::udp_group::LAB;
use harness::scenario::{self, Target};
use rstest::rstest;

/// Each scenario, and the bug in tests/fixtures/room.py that it must catch.
const CAUGHT: &[(&str, &str)] = &[
    ("relay_mode_relays_to_every_known_address", "relay-skips-sender"),
    ("registering_gets_exactly_ok", "ok-newline"),
    ("the_join_notice_reaches_the_others_not_the_newcomer", "notice-to-all"),
    ("a_taken_name_is_refused_and_its_owner_keeps_it", "takeover"),
    ("a_message_arrives_byte_for_byte_at_every_member", "eat-spaces"),
    ("the_owner_speaks_to_everyone", "deaf-owner"),
    ("impersonation_is_rejected_and_nothing_is_broadcast", "trust-names"),
    ("a_leave_notice_reaches_the_others", "silent-leave"),
    ("a_repeated_registration_is_idempotent", "refuse-retry"),
    ("bad_input_gets_err_and_the_room_goes_on", "truncate-long"),
    ("a_full_room_refuses_newcomers", "no-limit"),
    ("the_lab_client_chats_through_the_server", "new-socket"),
];

fn python_server(extra: &str) -> Target {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/room.py");
    Target::python(&LAB, env!("CARGO_BIN_EXE_udp-group"), &script, extra)
}

/// Every scenario has a broken server that it is shown to catch.
#[test]
fn every_scenario_has_a_bug_it_catches() {
    scenario::assert_every_scenario_has_a_bug(&LAB, CAUGHT);
}

/// Each scenario fails against its bug, and the failure report carries the transcript.
#[rstest]
fn each_scenario_fails_against_its_bug(#[values(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)] case: usize) {
    scenario::assert_catches(&LAB, CAUGHT[case], python_server);
}

/// A correct Python server passes every scenario: the checks hold any language to the wire,
/// not to the reference's wording.
#[rstest]
fn a_correct_python_server_passes_every_scenario(#[values("", "--quiet")] ready_line: &str) {
    scenario::assert_all_pass(&python_server(ready_line));
}

/// The seed's space-eating server is caught with the evidence in view: the words run together.
#[test]
fn the_eaten_spaces_show_in_the_failure() {
    let report = scenario::expect_failure(
        LAB.scenario("a_message_arrives_byte_for_byte_at_every_member"),
        &python_server("--bug eat-spaces"),
    )
    .unwrap();
    assert!(report.contains("你好,everyone:twospaces,three,andoneattheend"), "{report}");
}
