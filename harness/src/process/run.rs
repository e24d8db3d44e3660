//! A program run to its end, not a role: nobody talks to it, its output is kept (up to a cap)
//! and read once it has ended. `grade` runs each submission's checker so, and `check` a
//! student's build. Like a role it gets a process group of its own and dies with us; past its
//! time limit it is killed with all it started.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};

use super::exit::kill_tree;
use super::signal::interrupt;
use super::spawn::{STRANGER_OUTPUT_CAP, confine};
use crate::sandbox::Sandbox;

/// How to run a program to its end: `Run::new(command).time_limit(..).finish()`.
pub struct Run {
    command: Command,
    what: String,
    sandbox: Option<Sandbox>,
    stdout_cap: u64,
    stderr_cap: u64,
    time_limit: Option<Duration>,
}

/// How a [`Run`] ended, and what it printed (up to the caps).
#[derive(Debug)]
pub struct Finished {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// How it ended; `None` when its time limit ran out and it was killed.
    pub status: Option<ExitStatus>,
}

impl Run {
    /// Run `command` (its program and arguments, its environment), called `what` in an error
    /// ("starting the checker"). Its stdin is empty; stdout and stderr are kept, up to
    /// [`STRANGER_OUTPUT_CAP`] each unless capped otherwise.
    pub fn new(what: &str, command: Command) -> Run {
        let cap = STRANGER_OUTPUT_CAP as u64;
        Run {
            command,
            what: what.to_string(),
            sandbox: None,
            stdout_cap: cap,
            stderr_cap: cap,
            time_limit: None,
        }
    }

    /// Run it in `sandbox` (see [`crate::sandbox`]), with the sandbox's limits.
    pub fn sandbox(mut self, sandbox: Sandbox) -> Run {
        self.sandbox = Some(sandbox);
        self
    }

    /// Keep at most `stdout` and `stderr` bytes of each stream; the rest is read and dropped,
    /// so that the program never blocks on a full pipe.
    pub fn output_caps(mut self, stdout: usize, stderr: usize) -> Run {
        (self.stdout_cap, self.stderr_cap) = (stdout as u64, stderr as u64);
        self
    }

    /// Past `limit`, kill it and all it started.
    pub fn time_limit(mut self, limit: Duration) -> Run {
        self.time_limit = Some(limit);
        self
    }

    /// Start it and wait for its end (or its time limit). Killed on Ctrl-C, like a role.
    pub fn finish(self) -> Result<Finished> {
        let Run { mut command, what, sandbox, stdout_cap, stderr_cap, time_limit } = self;
        confine(&mut command, sandbox.as_ref(), Vec::new())?;
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        // Killed if we die before it ends: this thread waits for it, so the kernel's
        // PR_SET_PDEATHSIG (set in `confine`) fires only when we are gone.
        let mut child = command.spawn().with_context(|| format!("starting {what}"))?;
        let pid = child.id();
        interrupt::register(pid);
        let stdout = kept(child.stdout.take(), stdout_cap);
        let stderr = kept(child.stderr.take(), stderr_cap);
        let (sender, exited) = mpsc::channel();
        let waiter = thread::spawn(move || {
            let status = child.wait();
            let _ = sender.send(());
            status
        });
        let finished = match time_limit {
            Some(limit) => exited.recv_timeout(limit).is_ok(),
            None => exited.recv().is_ok(),
        };
        if !finished {
            // Not reaped yet (its waiter is still waiting): its group id is still its own.
            kill_tree(pid);
        }
        let status = waiter.join().map_err(|_| anyhow!("waiting for {what}"))?;
        interrupt::unregister(pid);
        let status = status.with_context(|| format!("waiting for {what}"))?;
        let stdout = stdout.join().unwrap_or_default();
        let stderr = stderr.join().unwrap_or_default();
        Ok(Finished { stdout, stderr, status: finished.then_some(status) })
    }
}

/// Read `pipe` to its end on a thread of its own, keeping its first `cap` bytes; past the
/// cap, read on and drop, so that the writer never blocks on a full pipe.
fn kept(pipe: Option<impl Read + Send + 'static>, cap: u64) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut kept = Vec::new();
        if let Some(pipe) = pipe {
            let mut pipe = pipe.take(cap);
            let _ = pipe.read_to_end(&mut kept);
            let _ = std::io::copy(&mut pipe.into_inner(), &mut std::io::sink());
        }
        kept
    })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn shell(line: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", line]);
        command
    }

    /// Its output is kept up to the caps, the rest is read and dropped, and its status is its
    /// own.
    #[test]
    fn keeps_the_output_up_to_the_caps() {
        let run = Run::new("a printer", shell("yes | head -c 100000; echo oops >&2; exit 3"));
        let finished = run.output_caps(10, 2).finish().unwrap();
        assert_eq!(finished.stdout, b"y\ny\ny\ny\ny\n");
        assert_eq!(finished.stderr, b"oo");
        assert_eq!(finished.status.and_then(|status| status.code()), Some(3));
    }

    /// Past its time limit, it is killed with what it started (here a sleeper in the
    /// background that holds its stdout open, which a kill of the shell alone would leave).
    #[test]
    fn a_run_past_its_time_limit_is_killed_with_all_it_started() {
        let started = std::time::Instant::now();
        let run = Run::new("a sleeper", shell("sleep 30 & wait"));
        let finished = run.time_limit(Duration::from_millis(300)).finish().unwrap();
        assert!(finished.status.is_none());
        // Its pipes closed at once: the sleeper that held them is gone too (alive, it would
        // have held them for 30 s).
        assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    }
}
