//! The one layer for child processes that run a lab's or a stranger's code: the roles the
//! scenarios, demos and tests start, `grade`'s checker of each submission and a student's build
//! all go through it, so that each is started, capped, limited and killed the same way (house
//! rules 7 and 12). (Tools the runner calls for itself, cargo or mdbook, are run plainly.)
//!
//! - [`Program`]: what to run, a binary or a shell command line.
//! - [`spawn`](Spawn): how a child is started: a process group of its own, killed if we die
//!   (PR_SET_PDEATHSIG), its resource limits and sandbox set on it alone.
//! - [`Role`]: a running process the harness talks to line by line (a server, a client).
//! - exit: the watch for a child's end, and the kill of a child and all it started.
//! - signal: pausing a role's group (SIGSTOP, SIGCONT), and Ctrl-C ([`interrupt`]).
//! - [`Run`]: a program run to its end with its output kept (`grade`'s checker, a build).

mod exit;
mod role;
mod run;
mod signal;
mod spawn;

use std::path::PathBuf;

pub use exit::describe_status;
pub use role::Role;
pub use run::{Finished, Run};
pub use signal::interrupt;
pub use spawn::{LINE_COST, Limit, OUTPUT_CAP, STRANGER_OUTPUT_CAP, Spawn};

/// What to run.
#[derive(Clone, Debug)]
pub enum Program {
    /// A binary with its arguments, run directly.
    Exec { path: PathBuf, args: Vec<String> },
    /// A shell command line (`sh -c`), for a student's server in any language.
    Shell(String),
}

impl Program {
    pub fn describe(&self) -> String {
        match self {
            Program::Exec { path, args } => {
                let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
                std::iter::once(name.into_owned())
                    .chain(args.iter().map(|a| quote(a)))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            Program::Shell(line) => line.clone(),
        }
    }
}

/// A word as a shell would need it: as it is when that is safe, in single quotes otherwise.
pub fn quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,{}".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}
