//! Failure reports show the fault itself, not only that a scenario failed: each test runs a
//! scenario against the fixture bug it catches and looks for the bad bytes in the report. (That
//! every scenario catches its bug is tested for every lab by its generated tests.)

use std::path::Path;

use harness::Target;
use harness::labs::udp_echo::LAB;
use harness::testing;

fn python_server(extra: &str) -> Target {
    testing::fixture(&LAB, env!("CARGO_BIN_EXE_udp-echo"), Path::new(env!("CARGO_MANIFEST_DIR")), extra)
}

/// The merging server's failure shows the fault itself: the datagrams it glued together.
#[test]
fn the_merge_failure_shows_the_merged_datagram() {
    let report = testing::expect_failure(
        LAB.scenario("datagrams_keep_their_boundaries"),
        &python_server("--bug merge"),
    )
    .unwrap();
    assert!(report.contains(r#""onetwo twothree three three""#), "{report}");
}
