//! tcp-chat's conformance scenarios against the lab's own server. Those for any mode run
//! against both; the lockstep-only and duplex-only ones against their own. The scenarios live
//! in harness/src/labs/tcp_chat.rs, where `cargo lab check` and the demo run them.

use harness::labs::tcp_chat::LAB;
use rstest::rstest;

const LOCKSTEP: &[&str] = &["--mode", "lockstep"];
const DUPLEX: &[&str] = &["--mode", "duplex"];

fn check(scenario: &str, mode: &[&str]) {
    harness::assert_passes_with(&LAB, scenario, env!("CARGO_BIN_EXE_tcp-chat"), mode);
}

/// The client before the server: status 1, "connection refused", a hint; after: it chats.
#[rstest]
fn the_client_is_refused_until_the_server_runs(#[values(LOCKSTEP, DUPLEX)] mode: &[&str]) {
    check("the_client_is_refused_until_the_server_runs", mode);
}

/// Lockstep: the server's second typed line reaches alice only after her reply.
#[test]
fn in_lockstep_the_client_speaks_first_then_they_take_turns() {
    check("in_lockstep_the_client_speaks_first_then_they_take_turns", LOCKSTEP);
}

/// Duplex: two server lines reach the client with nothing typed there, and two client lines
/// in a row reach the server.
#[test]
fn in_duplex_either_side_types_at_any_time() {
    check("in_duplex_either_side_types_at_any_time", DUPLEX);
}

/// "Q" from alice closes her connection; "88" typed at the server reaches bob, then closes his.
#[rstest]
fn a_quit_word_from_either_side_ends_the_conversation(#[values(LOCKSTEP, DUPLEX)] mode: &[&str]) {
    check("a_quit_word_from_either_side_ends_the_conversation", mode);
}

/// bob's line, sent while alice was served, shows once alice quits.
#[rstest]
fn the_next_client_is_served_after_a_quit_and_loses_nothing(#[values(LOCKSTEP, DUPLEX)] mode: &[&str]) {
    check("the_next_client_is_served_after_a_quit_and_loses_nothing", mode);
}

/// 100 KB lines arrive whole both ways; 1 MiB + 1 byte without a newline ends that conversation.
#[rstest]
fn a_long_line_arrives_whole_up_to_the_bound(#[values(LOCKSTEP, DUPLEX)] mode: &[&str]) {
    check("a_long_line_arrives_whole_up_to_the_bound", mode);
}
