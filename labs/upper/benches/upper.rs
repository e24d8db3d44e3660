//! `cargo bench -p upper`, or `cargo lab bench upper`: lock-step round trips, bulk throughput
//! and concurrent clients, printed as figures next to a plain echo loop's. Nothing is asserted:
//! speed depends on the machine.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    match harness::bench::upper(Path::new(env!("CARGO_BIN_EXE_upper"))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
