//! Every lab's scenarios as tests, generated from each lab's one list of them in
//! harness/src/labs/ (where `cargo lab check` and the demos find them too): each holds for the
//! lab's own server, fails against the fixture bug it exists to catch, and passes against the
//! correct Python fixture. See harness/src/testing.rs for the tests' names.

use std::process::ExitCode;

fn main() -> ExitCode {
    harness::testing::main(harness::labs::ALL, runner::cargo::workspace_root(), |lab| {
        runner::cargo::binary(lab.name, lab.name)
    })
}
