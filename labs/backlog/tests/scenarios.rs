//! backlog's scenarios as tests, generated from the lab's one list of them in
//! harness/src/labs/backlog.rs (where `cargo lab check` and the demo find them too): each holds
//! for the lab's own server, fails against the fixture bug it exists to catch, and passes
//! against the correct Python fixture. See harness/src/testing.rs for the tests' names.

use std::process::ExitCode;

use harness::labs::backlog::LAB;

fn main() -> ExitCode {
    harness::testing::main(&LAB, env!("CARGO_BIN_EXE_backlog"), env!("CARGO_MANIFEST_DIR"))
}
