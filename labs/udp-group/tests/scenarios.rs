//! udp-group's conformance scenarios against the lab's own server. The scenarios themselves
//! live in harness/src/labs/udp_group.rs, where `cargo lab check` and the demo run them too.

use harness::labs::udp_group::LAB;

fn check(scenario: &str) {
    harness::assert_passes(&LAB, scenario, env!("CARGO_BIN_EXE_udp-group"));
}

/// Relay mode: a hello makes the listener known; alice's line reaches the listener and alice;
/// a stranger's one datagram reaches all three.
#[test]
fn relay_mode_relays_to_every_known_address() {
    check("relay_mode_relays_to_every_known_address");
}

/// `N alice` and `N 张三` are each answered with exactly the two bytes `OK`.
#[test]
fn registering_gets_exactly_ok() {
    check("registering_gets_exactly_ok");
}

/// bob joins: alice gets a notice naming bob; bob gets `OK` and nothing more.
#[test]
fn the_join_notice_reaches_the_others_not_the_newcomer() {
    check("the_join_notice_reaches_the_others_not_the_newcomer");
}

/// mallory's `N alice` gets `ERR`; alice hears nothing of it and her next message reaches her,
/// not mallory.
#[test]
fn a_taken_name_is_refused_and_its_owner_keeps_it() {
    check("a_taken_name_is_refused_and_its_owner_keeps_it");
}

/// 张三's text with runs of spaces, a trailing space and Chinese reaches alice, bob and 张三
/// byte for byte, once each.
#[test]
fn a_message_arrives_byte_for_byte_at_every_member() {
    check("a_message_arrives_byte_for_byte_at_every_member");
}

/// A line on the server's stdin reaches alice and bob.
#[test]
fn the_owner_speaks_to_everyone() {
    check("the_owner_speaks_to_everyone");
}

/// `M alice` from a stranger and `Q alice` from bob get `ERR`; nobody receives anything; alice
/// can still speak to bob.
#[test]
fn impersonation_is_rejected_and_nothing_is_broadcast() {
    check("impersonation_is_rejected_and_nothing_is_broadcast");
}

/// `Q bob`: alice and 张三 get a notice naming bob; alice's next message does not reach bob.
#[test]
fn a_leave_notice_reaches_the_others() {
    check("a_leave_notice_reaches_the_others");
}

/// A second `N bob` from bob's address gets `OK` and no second notice; `N robert` from it gets
/// `ERR`.
#[test]
fn a_repeated_registration_is_idempotent() {
    check("a_repeated_registration_is_idempotent");
}

/// Empty, not UTF-8, unknown type, bad names and an over-long datagram each get `ERR`; nothing
/// is broadcast; bob's next message reaches alice.
#[test]
fn bad_input_gets_err_and_the_room_goes_on() {
    check("bad_input_gets_err_and_the_room_goes_on");
}

/// With `--max-members 2`, carol gets `ERR` until bob leaves, then `OK`.
#[test]
fn a_full_room_refuses_newcomers() {
    check("a_full_room_refuses_newcomers");
}

/// The lab's client joins as 张三, its typed line reaches alice, alice's reply is printed, and
/// end of input sends `Q` and exits 0.
#[test]
fn the_lab_client_chats_through_the_server() {
    check("the_lab_client_chats_through_the_server");
}
