//! backlog's conformance scenarios against the lab's own server. The scenarios live in
//! harness/src/labs/backlog.rs, where `cargo lab check` and the demo run them.

use harness::labs::backlog::LAB;

fn check(scenario: &str) {
    harness::assert_passes(&LAB, scenario, env!("CARGO_BIN_EXE_backlog"));
}

/// Backlog 0, 1, 2, 5, nobody accepting: N+1 connects complete, the next one times out.
#[test]
fn exactly_backlog_plus_one_connects_complete() {
    check("exactly_backlog_plus_one_connects_complete");
}

/// "one\n", "two\n" sent before accept: one Enter later, "ONE\nTWO\n" comes back.
#[test]
fn bytes_sent_while_queued_are_answered_once_accepted() {
    check("bytes_sent_while_queued_are_answered_once_accepted");
}

/// Backlog 1: full at two; one accept lets dave in, and erin after him still times out.
#[test]
fn each_accept_frees_one_slot() {
    check("each_accept_frees_one_slot");
}

/// Backlog 1, accepting at once: fifty clients connected together, all answered.
#[test]
fn backlog_one_serves_fifty_clients() {
    check("backlog_one_serves_fifty_clients");
}
