//! The harness: spawns labs (or any other program), drives them over loopback, checks what
//! crosses the wire, and records a transcript a student can follow.
//!
//! - [`process`]: a running process (a [`process::Role`]), started by a [`process::Spawn`].
//! - [`peer`]: raw UDP and TCP sockets the harness drives by hand.
//! - [`proxy`]: a TCP proxy that re-cuts the stream, to prove a framing holds.
//! - [`tap`]: a relay that records what reaches the lab's own client from the server.
//! - [`link`]: a lossy relay (drops, copies, reorders, delays, corrupts), each decision recorded.
//! - [`ready`] and [`ports`]: the ready line, free and closed ports, the kernel's tables.
//! - [`kernel`]: one socket as the kernel sees it (a connect's SYN retries, an error waiting, the
//!   states of a connection's two ends, and a wait for the states a scenario expects).
//! - [`capture`]: a scenario's packets, in a network namespace of its own, as pcapng.
//! - [`isolate`]: a submission's own network and processes, in Linux namespaces.
//! - [`sandbox`]: a stranger's server's files (Landlock), identity, environment and limits.
//! - [`wait`]: deadlines, and the one loop that polls what has no event to wait on.
//! - [`transcript`]: everything that happened, timed, printed on failure; [`style`] prints it.
//! - [`diagnosis`]: what a failure report says first, the symptom the server showed.
//! - [`scenario`] and [`session`]: named claims, and what each runs against and with.
//! - [`testing`]: a lab's tests, generated from its scenarios; [`guard`]: none of a test's
//!   processes outlives it.
//! - [`labs`]: each lab's definition and scenarios, one module per lab.
//! - [`bench`]: what the labs' benchmarks share (a C reference server, medians, the load).

// First, so that its `scenario!` is in scope for the labs below.
#[macro_use]
pub mod scenario;

pub mod bench;
pub mod capture;
pub mod diagnosis;
pub mod guard;
pub mod isolate;
pub mod kernel;
pub mod labs;
pub mod limits;
pub mod link;
mod output;
pub mod peer;
pub mod ports;
pub mod process;
pub mod procs;
pub mod proxy;
pub mod ready;
pub mod sandbox;
pub mod screen;
pub mod session;
pub mod style;
pub mod tap;
pub mod testing;
pub mod transcript;
pub mod wait;

use std::time::Duration;

pub use scenario::{Lab, Scenario};
pub use session::{Session, Target};
pub use transcript::Proto;

/// How long to wait for something that should happen. Generous, because it is only ever
/// waited out in full when a check fails.
pub const WAIT: Duration = Duration::from_secs(5);

/// How long to watch for something that must not happen. Short, because a passing run waits it
/// out in full; a late arrival after it would not be caught, an early one always is.
pub const QUIET: Duration = Duration::from_millis(300);

/// How long a server may take to print its ready line (or bind its port). Long, because a
/// correct server pays nothing for it: it is waited out in full only by a server that neither
/// ends nor binds, while everything that can be known sooner is reported at once (an exit, a
/// crash, a port held by someone else, a ready line on another port). A cold Python start on a
/// machine at load average 80 takes seconds. `check --ready-timeout` and `grade
/// --ready-timeout` change it for one run ([`Target::ready_wait`]).
pub const READY_WAIT: Duration = Duration::from_secs(30);

/// "5s", "0.3s": a duration as the messages say it.
pub fn secs(duration: Duration) -> String {
    format!("{}s", duration.as_secs_f64())
}

/// `println!` for the runner's reports: a closed stdout (`cargo lab udp-echo | head`) does not
/// stop the run, so its roles are still cleaned up as usual.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::style::out(format_args!($($arg)*))
    };
}
