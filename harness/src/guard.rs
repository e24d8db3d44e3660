//! No process outlives its test. Every process a test starts carries the test's mark in its
//! environment (`SOCKET_LABS_TEST=PID-N`), and so does everything that process starts in turn:
//! the runner a test drives, a `--watch` it left running, the servers those started. When the
//! test ends, passing, failing or panicking, [`scoped`] finds whatever still carries the mark,
//! kills it, and fails a test that passed but left something behind.
//!
//! Roles (see [`crate::process`]) take the mark on their own; a test that starts a program
//! itself adds it with [`mark`].

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::procs;

/// The environment variable that carries a test's mark.
pub const VAR: &str = "SOCKET_LABS_TEST";

/// How long what a test left is given to end on its own (a runner killed at a deadline takes
/// its servers with it, PR_SET_PDEATHSIG, a moment later) before it is killed and reported.
const GRACE: Duration = Duration::from_secs(2);

thread_local! {
    static CURRENT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The mark of the test running on this thread, if it runs under [`scoped`].
pub fn current() -> Option<String> {
    CURRENT.with(|current| current.borrow().clone())
}

/// Mark `command` as the current test's (if any): what it starts is found when the test ends.
pub fn mark(command: &mut std::process::Command) -> &mut std::process::Command {
    if let Some(mark) = current() {
        command.env(VAR, mark);
    }
    command
}

/// Run `test` as one test: with a fresh mark, and once it has ended however it ended, nothing
/// it started still alive. A test that passed but left processes behind fails, naming them.
pub fn scoped<T>(test: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    static TESTS: AtomicU32 = AtomicU32::new(0);
    let mark = format!("{}-{}", std::process::id(), TESTS.fetch_add(1, Ordering::SeqCst));
    let entry = format!("{VAR}={mark}");
    let before = CURRENT.with(|current| current.replace(Some(mark)));
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(test));
    CURRENT.with(|current| *current.borrow_mut() = before);
    let left = crate::wait::until(GRACE, || {
        let left = carrying(&entry);
        left.is_empty().then_some(())
    });
    let killed = if left.is_none() { kill_all(&entry) } else { Vec::new() };
    if !killed.is_empty() {
        eprintln!("(killed what the test left running:\n  {})", killed.join("\n  "));
    }
    match ran {
        Err(panic) => std::panic::resume_unwind(panic),
        Ok(Ok(value)) if killed.is_empty() => Ok(value),
        Ok(Ok(_)) => Err(format!(
            "the test passed, but left {} process(es) running, killed now:\n  {}",
            killed.len(),
            killed.join("\n  ")
        )),
        Ok(Err(failure)) => Err(failure),
    }
}

/// Every live process whose environment holds `entry` (`NAME=value`), with its command line.
/// A zombie's environment reads as empty, so what has ended is not counted.
pub fn carrying(entry: &str) -> Vec<(u32, String)> {
    procs::with_environment_entry(entry).into_iter().filter(|&(pid, _)| pid != std::process::id()).collect()
}

/// Every live process whose environment has `VAR` starting with `prefix` (for a test that runs
/// another test binary, whose marks all start with that binary's process id).
pub fn carrying_prefix(prefix: &str) -> Vec<(u32, String)> {
    let wanted = format!("{VAR}={prefix}");
    procs::with_environment(|var| var.starts_with(wanted.as_bytes()))
        .into_iter()
        .filter(|&(pid, _)| pid != std::process::id())
        .collect()
}

/// Kill every process that carries `entry`, until none is left; what was killed, described.
#[allow(unsafe_code)]
fn kill_all(entry: &str) -> Vec<String> {
    let mut killed = Vec::new();
    for _ in 0..20 {
        let left = carrying(entry);
        if left.is_empty() {
            break;
        }
        for (pid, command) in left {
            // SAFETY: kill(2) takes plain integers and touches no memory of ours. The process
            // was alive a moment ago and carries this test's mark.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            let described = format!("{pid}: {command}");
            if !killed.contains(&described) {
                killed.push(described);
            }
        }
        // Killed processes are reaped by their parents (or init) a moment later.
        crate::wait::until(Duration::from_millis(200), || carrying(entry).is_empty().then_some(()));
    }
    killed
}
