//! The harness: spawns labs (or any other program), drives them over loopback, checks what
//! crosses the wire, and records a transcript a student can follow.
//!
//! - [`process::Role`]: a running process, its stdin written and its stdout read line by line.
//! - [`peer::UdpPeer`], [`peer::TcpPeer`]: raw sockets the harness drives by hand.
//! - [`proxy::Proxy`]: a TCP proxy that re-cuts the stream, to prove a framing holds.
//! - [`transcript::Transcript`]: everything that happened, timed, printed on failure.
//! - [`scenario`]: named checks, run by the labs' tests, `cargo lab check` and the demos.
//! - [`labs`]: each lab's scenarios, one module per lab.

pub mod bench;
pub mod cargo;
pub mod diagram;
pub mod labs;
pub mod peer;
pub mod process;
pub mod proxy;
pub mod ready;
pub mod scenario;
pub mod transcript;

use std::time::Duration;

pub use scenario::{Lab, Scenario, Session, Target, assert_passes, assert_passes_with};
pub use transcript::Proto;

/// How long to wait for something that should happen. Generous, because it is only ever
/// waited out in full when a check fails.
pub const WAIT: Duration = Duration::from_secs(5);

/// How long to watch for something that must not happen. Short, because a passing run waits it
/// out in full; a late arrival after it would not be caught, an early one always is.
pub const QUIET: Duration = Duration::from_millis(300);

/// How long a server may take to print its ready line (a cold Python start on a busy machine).
pub const READY_WAIT: Duration = Duration::from_secs(10);

/// "5s", "0.3s": a duration as the messages say it.
pub fn secs(duration: Duration) -> String {
    format!("{}s", duration.as_secs_f64())
}

/// `println!` for the runner's reports: a closed stdout (`cargo lab udp-echo | head`) does not
/// stop the run, so its roles are still cleaned up as usual.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::transcript::out(format_args!($($arg)*))
    };
}
