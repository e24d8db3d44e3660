//! Failure reports show the fault itself, not only that a scenario failed: each test runs a
//! scenario against the fixture bug it catches and looks for the bad bytes in the report. (That
//! every scenario catches its bug is tested for every lab by its generated tests.)

use std::path::Path;

use harness::Target;
use harness::labs::tcp_chat::LAB;
use harness::testing;

fn python_server(extra: &str) -> Target {
    testing::fixture(&LAB, env!("CARGO_BIN_EXE_tcp-chat"), Path::new(env!("CARGO_MANIFEST_DIR")), extra)
}

/// The seed's quit bug shows in the report: the server printed the Q and kept the connection.
#[test]
fn the_quit_failure_shows_the_unnoticed_quit_word() {
    let report = testing::expect_failure(
        LAB.scenario("a_quit_word_from_either_side_ends_the_conversation"),
        &python_server("--bug quit-never-matches"),
    )
    .unwrap();
    assert!(report.contains("server stdout> client 1: Q"), "{report}");
    assert!(report.contains("expected the server to close the connection"), "{report}");
}
