//! udp-echo's conformance scenarios against the lab's own server. The scenarios themselves
//! live in harness/src/labs/udp_echo.rs, where `cargo lab check` and the demo run them too.

use harness::labs::udp_echo::LAB;

fn check(scenario: &str) {
    harness::assert_passes(&LAB, scenario, env!("CARGO_BIN_EXE_udp-echo"));
}

/// Two clients, interleaved, each get only their own echoes: the reply goes to the address
/// each datagram came from.
#[test]
fn two_clients_get_only_their_own_replies() {
    check("two_clients_get_only_their_own_replies");
}

/// "one", "two two", "three three three" sent back to back come back as three datagrams.
#[test]
fn datagrams_keep_their_boundaries() {
    check("datagrams_keep_their_boundaries");
}

/// With --buf 16, 100 bytes come back as their first 16, nothing more, and the server reports
/// the real size (100) and the cut.
#[test]
fn a_datagram_longer_than_the_buffer_is_cut() {
    check("a_datagram_longer_than_the_buffer_is_cut");
}

/// A 0-byte datagram is echoed as a 0-byte datagram, and the server goes on.
#[test]
fn an_empty_datagram_is_a_message() {
    check("an_empty_datagram_is_a_message");
}

/// sendto a port nobody holds succeeds and nothing returns; once the server is up, the next
/// datagram is echoed.
#[test]
fn a_datagram_sent_before_the_server_starts_is_lost() {
    check("a_datagram_sent_before_the_server_starts_is_lost");
}

/// Invalid UTF-8 and a 65,507-byte datagram are echoed byte for byte; another client is
/// still served.
#[test]
fn bad_input_does_not_stop_the_server() {
    check("bad_input_does_not_stop_the_server");
}

/// The client turns a typed line into a datagram, prints the reply, exits 0 at end of input.
#[test]
fn the_client_prints_each_reply() {
    check("the_client_prints_each_reply");
}
