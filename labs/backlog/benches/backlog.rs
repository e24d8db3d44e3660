//! `cargo bench -p backlog`, or `cargo lab bench backlog`: a burst of clients against small and
//! large backlogs, and how many clients a backlog-1 server holds. Nothing is asserted: the
//! figures depend on the machine.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    match harness::bench::backlog(Path::new(env!("CARGO_BIN_EXE_backlog"))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
