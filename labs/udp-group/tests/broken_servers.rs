//! Failure reports show the fault itself, not only that a scenario failed: each test runs a
//! scenario against the fixture bug it catches and looks for the bad bytes in the report. (That
//! every scenario catches its bug is tested for every lab by its generated tests.)

use std::path::Path;

use harness::Target;
use harness::labs::udp_group::LAB;
use harness::testing;

fn python_server(extra: &str) -> Target {
    testing::fixture(&LAB, env!("CARGO_BIN_EXE_udp-group"), Path::new(env!("CARGO_MANIFEST_DIR")), extra)
}

/// The seed's space-eating server is caught with the evidence in view: the words run together.
#[test]
fn the_eaten_spaces_show_in_the_failure() {
    let report = testing::expect_failure(
        LAB.scenario("a_message_arrives_byte_for_byte_at_every_member"),
        &python_server("--bug eat-spaces"),
    )
    .unwrap();
    assert!(report.contains("你好,everyone:twospaces,three,andoneattheend"), "{report}");
}
