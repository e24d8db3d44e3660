//! udp-chat's conformance scenarios against the lab's own server. Those for any mode run
//! against both; the lockstep-only and duplex-only ones against their own. The scenarios live
//! in harness/src/labs/udp_chat.rs, where `cargo lab check` and the demo run them.

use harness::labs::udp_chat::LAB;
use rstest::rstest;

const LOCKSTEP: &[&str] = &["--mode", "lockstep"];
const DUPLEX: &[&str] = &["--mode", "duplex"];

fn check(scenario: &str, mode: &[&str]) {
    harness::assert_passes_with(&LAB, scenario, env!("CARGO_BIN_EXE_udp-chat"), mode);
}

/// TCP's connect is refused; the UDP client's line to nobody is lost, reported later as
/// refused; once the server runs, lines flow both ways.
#[rstest]
fn either_side_may_start_first(#[values(LOCKSTEP, DUPLEX)] mode: &[&str]) {
    check("either_side_may_start_first", mode);
}

/// mallory's datagram is not shown, and the server's answers keep going to alice.
#[rstest]
fn a_stranger_cannot_cut_into_the_chat(#[values(LOCKSTEP, DUPLEX)] mode: &[&str]) {
    check("a_stranger_cannot_cut_into_the_chat", mode);
}

/// Lockstep: the server's second typed line reaches alice only after her next line.
#[test]
fn in_lockstep_the_server_waits_for_its_turn() {
    check("in_lockstep_the_server_waits_for_its_turn", LOCKSTEP);
}

/// Duplex: two server lines reach the client with nothing typed there, and two client lines
/// in a row reach the server.
#[test]
fn in_duplex_either_side_types_at_any_time() {
    check("in_duplex_either_side_types_at_any_time", DUPLEX);
}

/// "88" typed at the server reaches alice and ends the server; "Q" from alice ends the next.
#[rstest]
fn a_quit_word_from_either_side_ends_the_chat(#[values(LOCKSTEP, DUPLEX)] mode: &[&str]) {
    check("a_quit_word_from_either_side_ends_the_chat", mode);
}
