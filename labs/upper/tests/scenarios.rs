//! upper's conformance scenarios against the lab's own server. Those for any server run
//! against both modes; the iterative-only and threaded-only ones against their own. The
//! scenarios live in harness/src/labs/upper.rs, where `cargo lab check` and the demo run them.

use harness::labs::upper::LAB;
use rstest::rstest;

const ITERATIVE: &[&str] = &["--mode", "iterative"];
const THREADED: &[&str] = &["--mode", "threaded"];

fn check(scenario: &str, mode: &[&str]) {
    harness::assert_passes_with(&LAB, scenario, env!("CARGO_BIN_EXE_upper"), mode);
}

/// "hello, world" comes back as "HELLO, WORLD", and a 100 KB line comes back whole.
#[rstest]
fn bytes_come_back_upper_cased(#[values(ITERATIVE, THREADED)] mode: &[&str]) {
    check("bytes_come_back_upper_cased", mode);
}

/// "caf\xc3", a pause, then "\xa9\n": the reply is "CAFÉ\n".
#[rstest]
fn a_character_split_across_reads_is_upper_cased(#[values(ITERATIVE, THREADED)] mode: &[&str]) {
    check("a_character_split_across_reads_is_upper_cased", mode);
}

/// Iterative: bob connects while alice is served, gets nothing, then his reply once alice
/// closes.
#[test]
fn the_next_client_waits_until_the_first_leaves() {
    check("the_next_client_waits_until_the_first_leaves", ITERATIVE);
}

/// Threaded: alice and bob, then fifty clients, all answered while all are connected.
#[test]
fn fifty_clients_are_answered_at_once() {
    check("fifty_clients_are_answered_at_once", THREADED);
}

/// A reset and a close mid-request are logged; the next client is served.
#[rstest]
fn a_vanished_client_does_not_stop_the_server(#[values(ITERATIVE, THREADED)] mode: &[&str]) {
    check("a_vanished_client_does_not_stop_the_server", mode);
}

/// "one\ntwo", shutdown(write): the reply is "ONE\nTWO", then end of stream.
#[rstest]
fn a_half_closed_client_still_gets_every_reply(#[values(ITERATIVE, THREADED)] mode: &[&str]) {
    check("a_half_closed_client_still_gets_every_reply", mode);
}

/// Connect and close without a word: a clean, logged session; the next client is served.
#[rstest]
fn an_empty_session_is_clean(#[values(ITERATIVE, THREADED)] mode: &[&str]) {
    check("an_empty_session_is_clean", mode);
}
