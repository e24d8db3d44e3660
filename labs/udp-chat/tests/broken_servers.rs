//! Failure reports show the fault itself, not only that a scenario failed: each test runs a
//! scenario against the fixture bug it catches and looks for the bad bytes in the report. (That
//! every scenario catches its bug is tested for every lab by its generated tests.)

use std::path::Path;

use harness::Target;
use harness::labs::udp_chat::LAB;
use harness::testing;

fn python_server(extra: &str) -> Target {
    testing::fixture(&LAB, env!("CARGO_BIN_EXE_udp-chat"), Path::new(env!("CARGO_MANIFEST_DIR")), extra)
}

/// The seed's reply-to-last server shows the stranger's line in the report.
#[test]
fn the_stranger_failure_shows_the_strangers_line() {
    let report = testing::expect_failure(
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
    let report = testing::expect_failure(
        LAB.scenario("a_stranger_cannot_cut_into_the_chat"),
        &python_server("--bug trust-connect"),
    )
    .unwrap();
    assert!(report.contains("but it printed \"client: alice here, from a new port\""), "{report}");
}
