//! `cargo bench -p udp-group`, or `cargo lab bench udp-group`: fan-out deliveries per second
//! and the time from a member's send to the last member's receipt, at 10, 100 and 1000
//! members. Nothing is asserted: speed depends on the machine.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    match harness::bench::udp_group(Path::new(env!("CARGO_BIN_EXE_udp-group"))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
