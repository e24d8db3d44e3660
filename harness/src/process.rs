//! A role: one running process (a lab binary, or any shell command in `check` mode) whose
//! stdin the harness writes and whose stdout and stderr it reads, line by line.
//!
//! Each pipe the child writes is drained on its own thread. A child that fills a pipe nobody
//! reads blocks on its next print, and a blocked server looks exactly like a broken one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use crate::ports;
use crate::ready::{self, Ready};
use crate::transcript::{Event, Transcript};
use crate::wait::{self, Deadline};
use crate::{QUIET, WAIT, secs};

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

/// A running process. Dropping it kills the process (and anything it started) and reaps it.
pub struct Role {
    who: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    err_lines: Receiver<String>,
    stderr: Option<JoinHandle<()>>,
    /// One message from each drain thread as it finishes.
    drained: Receiver<()>,
    transcript: Transcript,
    exited: Option<ExitStatus>,
    addr: Option<SocketAddr>,
}

/// A resource limit set on a child before it runs its program (setrlimit), never on us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// RLIMIT_NOFILE: how many file descriptors it may hold open.
    OpenFiles(u64),
    /// RLIMIT_AS: how many bytes of address space it may map (threads' stacks included).
    AddressSpace(u64),
    /// RLIMIT_CPU: how many seconds of CPU it may use before the kernel kills it.
    CpuSeconds(u64),
}

/// How a role is started: the program, and what the caller controls about its process.
/// `Spawn::new(who, program).env(..).current_dir(..).limit(..).start(&transcript)`.
#[derive(Clone, Debug)]
pub struct Spawn {
    who: String,
    program: Program,
    env: Vec<(String, String)>,
    dir: Option<PathBuf>,
    limits: Vec<Limit>,
    output_cap: usize,
}

/// How many bytes of each of a child's streams are recorded; the rest is read and dropped, so
/// that a child printing without end neither blocks nor fills our memory.
pub const OUTPUT_CAP: usize = 16 * 1024 * 1024;

impl Spawn {
    pub fn new(who: &str, program: Program) -> Spawn {
        Spawn {
            who: who.to_string(),
            program,
            env: Vec::new(),
            dir: None,
            limits: Vec::new(),
            output_cap: OUTPUT_CAP,
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> Spawn {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Spawn {
        self.dir = Some(dir.into());
        self
    }

    pub fn limit(mut self, limit: Limit) -> Spawn {
        self.limits.push(limit);
        self
    }

    /// Record at most `bytes` of each of the child's streams.
    pub fn output_cap(mut self, bytes: usize) -> Spawn {
        self.output_cap = bytes;
        self
    }

    /// Start the process, recording the command line, its stdin, stdout and stderr in
    /// `transcript`.
    pub fn start(self, transcript: &Transcript) -> Result<Role> {
        Role::start(self, transcript)
    }
}

impl Role {
    /// Start `program` as `who` with the defaults: see [`Spawn`] for more control.
    pub fn spawn(who: &str, program: Program, transcript: &Transcript) -> Result<Role> {
        Spawn::new(who, program).start(transcript)
    }

    fn start(spawn: Spawn, transcript: &Transcript) -> Result<Role> {
        let Spawn { who, program, env, dir, limits, output_cap } = spawn;
        let who = who.as_str();
        let mut command = match &program {
            Program::Exec { path, args } => {
                let mut command = Command::new(path);
                command.args(args);
                command
            }
            Program::Shell(line) => {
                let mut command = Command::new("sh");
                command.arg("-c").arg(line);
                // A Python server that prints its ready line into a pipe would otherwise hold
                // it in a buffer until exit.
                command.env("PYTHONUNBUFFERED", "1");
                command
            }
        };
        command.envs(env.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &dir {
            command.current_dir(dir);
        }
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        new_process_group(&mut command);
        set_limits(&mut command, &limits);
        transcript.record(Event::Start { who: who.to_string(), command: program.describe() });
        let mut child = command.spawn().with_context(|| format!("starting {who}: {}", program.describe()))?;
        interrupt::register(child.id());

        let (sender, lines) = mpsc::channel();
        let (out_done, drained) = mpsc::channel();
        let err_done = out_done.clone();
        let stdout = child.stdout.take().expect("stdout was piped above");
        let (out_who, out_transcript) = (who.to_string(), transcript.clone());
        thread::spawn(move || {
            for line in read_lines(stdout, output_cap) {
                out_transcript.record(Event::Stdout { who: out_who.clone(), line: line.clone() });
                // The role may be gone already; its lines are still in the transcript.
                let _ = sender.send(line);
            }
            let _ = out_done.send(());
        });
        let stderr = child.stderr.take().expect("stderr was piped above");
        let (err_who, err_transcript) = (who.to_string(), transcript.clone());
        let (err_sender, err_lines) = mpsc::channel();
        let stderr = thread::spawn(move || {
            for line in read_lines(stderr, output_cap) {
                err_transcript.record(Event::Stderr { who: err_who.clone(), line: line.clone() });
                let _ = err_sender.send(line);
            }
            let _ = err_done.send(());
        });

        Ok(Role {
            who: who.to_string(),
            stdin: child.stdin.take(),
            child,
            lines,
            err_lines,
            stderr: Some(stderr),
            drained,
            transcript: transcript.clone(),
            exited: None,
            addr: None,
        })
    }

    /// Where a listening role listens (from its ready line).
    pub fn addr(&self) -> SocketAddr {
        self.addr.unwrap_or_else(|| panic!("{} is not a listening role: it has no address", self.who))
    }

    pub(crate) fn set_addr(&mut self, addr: SocketAddr) {
        self.addr = Some(addr);
    }

    /// Wait for the ready line (`listening on udp://ADDR`) as the very first line on stdout.
    pub fn wait_ready(&mut self, within: Duration) -> Result<Ready> {
        match self.lines.recv_timeout(within) {
            Ok(line) => ready::parse(&line).ok_or_else(|| {
                anyhow!(
                    "{} printed {line:?} first; a listening role's first line on stdout must be \
                     the ready line, like `listening on udp://127.0.0.1:8888`",
                    self.who
                )
            }),
            Err(RecvTimeoutError::Timeout) => {
                bail!("{} printed no ready line within {}", self.who, secs(within))
            }
            Err(RecvTimeoutError::Disconnected) => Err(self.exited_early("its ready line")),
        }
    }

    /// Wait for the ready line or, for a program that prints none, for `port` to be bound.
    pub fn wait_ready_or_bound(&mut self, ready: Ready, within: Duration) -> Result<Ready> {
        // Polling the kernel's socket table and the child: neither has an event to wait on.
        let seen = wait::until(within, || {
            loop {
                match self.lines.try_recv() {
                    Ok(line) => match ready::parse(&line) {
                        Some(ready) => return Some(Ok(ready)),
                        None => continue,
                    },
                    Err(mpsc::TryRecvError::Disconnected) => return Some(Err(())),
                    Err(mpsc::TryRecvError::Empty) => {}
                }
                if ports::is_bound(ready.proto, ready.addr.port()) {
                    return Some(Ok(ready));
                }
                return match self.child.try_wait() {
                    Ok(Some(status)) => {
                        self.exited = Some(status);
                        Some(Err(()))
                    }
                    _ => None,
                };
            }
        });
        match seen {
            Some(Ok(ready)) => Ok(ready),
            Some(Err(())) => Err(self.exited_early("a ready line or a bound port")),
            None => bail!(
                "{} neither printed a ready line nor bound {} port {} within {}",
                self.who,
                ready.proto_name(),
                ready.addr.port(),
                secs(within)
            ),
        }
    }

    fn exited_early(&mut self, waiting_for: &str) -> anyhow::Error {
        let status = self.wait_exit(WAIT).map(describe_status).unwrap_or_else(|e| e.to_string());
        anyhow!(
            "{} ended ({status}) before printing {waiting_for}; its stderr is in the transcript",
            self.who
        )
    }

    /// Type a line into the role's stdin.
    pub fn send_line(&mut self, line: &str) -> Result<()> {
        self.transcript.record(Event::Stdin { who: self.who.clone(), line: line.to_string() });
        let stdin = self.stdin.as_mut().ok_or_else(|| anyhow!("{}'s stdin is already closed", self.who))?;
        writeln!(stdin, "{line}")
            .and_then(|_| stdin.flush())
            .with_context(|| format!("writing a line to {}'s stdin", self.who))
    }

    /// Close the role's stdin: for an interactive role, the user has quit.
    pub fn close_stdin(&mut self) {
        self.transcript.record(Event::Stdin { who: self.who.clone(), line: "(end of input)".into() });
        self.stdin = None;
    }

    /// The next stdout line that `matches`, within `within`. Other lines are passed over
    /// (they are in the transcript).
    pub fn expect_line(
        &mut self,
        what: &str,
        within: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> Result<String> {
        match next_matching(&self.lines, within, matches) {
            Ok(line) => Ok(line),
            Err(RecvTimeoutError::Timeout) => {
                bail!("expected {} to print {what} within {}; it did not", self.who, secs(within))
            }
            Err(RecvTimeoutError::Disconnected) => Err(self.exited_early(what)),
        }
    }

    /// The next stdout line that contains `text`, within the usual deadline: a role shows what
    /// it received, in any wording, as long as the text is there whole.
    pub fn expect_line_containing(&mut self, text: &str) -> Result<String> {
        let what = format!("a line showing {}", crate::transcript::show(text.as_bytes()));
        self.expect_line(&what, crate::WAIT, |line| line.contains(text))
    }

    /// The next stderr line that `matches`, within `within`: for a diagnostic the lab's
    /// contract asks for (a refused frame, say). Other lines are passed over.
    pub fn expect_stderr_line(
        &mut self,
        what: &str,
        within: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> Result<String> {
        match next_matching(&self.err_lines, within, matches) {
            Ok(line) => Ok(line),
            Err(RecvTimeoutError::Timeout) => {
                bail!("expected {} to print {what} on stderr within {}; it did not", self.who, secs(within))
            }
            Err(RecvTimeoutError::Disconnected) => Err(self.exited_early(what)),
        }
    }

    /// Fail if a stdout line that `matches` arrives within `within`.
    pub fn expect_no_line(
        &mut self,
        what: &str,
        within: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> Result<()> {
        match next_matching(&self.lines, within, matches) {
            Ok(line) => bail!("expected {} not to print {what}, but it printed {line:?}", self.who),
            Err(_) => Ok(()),
        }
    }

    /// Wait for the process to end on its own.
    pub fn wait_exit(&mut self, within: Duration) -> Result<ExitStatus> {
        if let Some(status) = self.exited {
            return Ok(status);
        }
        // std's Child has no wait with a timeout: look again shortly, until the deadline.
        let Some(status) = wait::until(within, || self.child.try_wait().ok().flatten()) else {
            bail!("expected {} to exit within {}; it is still running", self.who, secs(within));
        };
        self.exited = Some(status);
        // The child is gone, so its stderr is at EOF: join to have every line recorded.
        if let Some(stderr) = self.stderr.take() {
            let _ = stderr.join();
        }
        self.transcript.record(Event::Exit { who: self.who.clone(), status: describe_status(status) });
        Ok(status)
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        if self.exited.is_none() {
            match self.child.try_wait() {
                // It ended on its own, and nobody was watching: a failure report must say so.
                Ok(Some(status)) => self
                    .transcript
                    .record(Event::Exit { who: self.who.clone(), status: describe_status(status) }),
                _ => {
                    kill_process_group(&mut self.child);
                    let _ = self.child.wait();
                }
            }
        }
        // The last lines the role printed are recorded before it is gone, so that a demo shows
        // them in their own step. Its pipes close as it dies; the wait is bounded all the same.
        for _ in 0..2 {
            let _ = self.drained.recv_timeout(QUIET);
        }
        interrupt::unregister(self.child.id());
    }
}

/// The next line from one of a role's streams that `matches`, within `within`; other lines
/// are passed over (they are in the transcript).
fn next_matching(
    lines: &Receiver<String>,
    within: Duration,
    matches: impl Fn(&str) -> bool,
) -> Result<String, RecvTimeoutError> {
    let deadline = Deadline::after(within);
    loop {
        let line = lines.recv_timeout(deadline.left().ok_or(RecvTimeoutError::Timeout)?)?;
        if matches(&line) {
            return Ok(line);
        }
    }
}

pub fn describe_status(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => format!("ended by a signal ({status})"),
    }
}

/// Lines as the child printed them; bytes that are not UTF-8 are kept visible, escaped. Past
/// `cap` bytes in all, one line says the rest was cut, and the pipe is still read to its end
/// (a child blocked on a full pipe would look hung).
fn read_lines(pipe: impl Read, cap: usize) -> impl Iterator<Item = String> {
    let mut reader = BufReader::new(pipe);
    let mut seen = 0;
    std::iter::from_fn(move || {
        if seen > cap {
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
            return None;
        }
        let mut line = Vec::new();
        // A line is cut at the cap too, so one endless line cannot fill our memory either.
        let limit = (cap + 1 - seen) as u64;
        match (&mut reader).take(limit).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => None,
            Ok(read) => {
                seen += read;
                if seen > cap {
                    return Some(format!("(output cut: more than {cap} bytes; the rest was not recorded)"));
                }
                while line.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
                    line.pop();
                }
                Some(match String::from_utf8(line) {
                    Ok(text) => text,
                    Err(err) => crate::transcript::show(err.as_bytes()),
                })
            }
        }
    })
}

/// Resource limits, set in the child between fork and exec: they bind the child and all it
/// starts, and never us.
#[cfg(unix)]
#[allow(unsafe_code)]
fn set_limits(command: &mut Command, limits: &[Limit]) {
    use std::os::unix::process::CommandExt;
    if limits.is_empty() {
        return;
    }
    let limits: Vec<_> = limits
        .iter()
        .map(|limit| match *limit {
            Limit::OpenFiles(n) => (libc::RLIMIT_NOFILE, n as libc::rlim_t),
            Limit::AddressSpace(n) => (libc::RLIMIT_AS, n as libc::rlim_t),
            Limit::CpuSeconds(n) => (libc::RLIMIT_CPU, n as libc::rlim_t),
        })
        .collect();
    // SAFETY: the closure runs in the child after fork, where only async-signal-safe calls are
    // allowed: setrlimit(2) is one, and the closure neither allocates nor locks (the Vec was
    // built before the fork and is only read).
    unsafe {
        command.pre_exec(move || {
            for &(resource, value) in &limits {
                let limit = libc::rlimit { rlim_cur: value, rlim_max: value };
                if libc::setrlimit(resource, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

#[cfg(not(unix))]
fn set_limits(_command: &mut Command, _limits: &[Limit]) {}

/// Each role gets a process group of its own, so that a shell command and everything it
/// started can be killed together.
#[cfg(unix)]
fn new_process_group(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
}

#[cfg(not(unix))]
fn new_process_group(_command: &mut Command) {}

#[cfg(unix)]
#[allow(unsafe_code)]
fn kill_process_group(child: &mut Child) {
    let group = child.id() as libc::pid_t;
    // SAFETY: kill(2) takes plain integers and touches no memory of ours. The group is the
    // child's own (process_group(0) above), and the child is not yet reaped, so its id
    // cannot have been reused.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}

#[cfg(not(unix))]
fn kill_process_group(child: &mut Child) {
    let _ = child.kill();
}

/// Ctrl-C in a demo reaches the runner, but not the roles: each sits in a process group of
/// its own. The runner calls [`interrupt::kill_roles_on_signal`] so that an interrupted demo
/// leaves no server behind.
pub mod interrupt {
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Process ids of the live roles; 0 is a free slot. A signal handler may read atomics, but
    /// may not lock or allocate: hence a fixed array.
    static ROLES: [AtomicU32; 64] = [const { AtomicU32::new(0) }; 64];

    pub(super) fn register(pid: u32) {
        // With more than 64 roles alive at once, the rest are still killed on drop, only not
        // on Ctrl-C.
        let _ = ROLES
            .iter()
            .find(|slot| slot.compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst).is_ok());
    }

    pub(super) fn unregister(pid: u32) {
        let _ = ROLES
            .iter()
            .find(|slot| slot.compare_exchange(pid, 0, Ordering::SeqCst, Ordering::SeqCst).is_ok());
    }

    /// On SIGINT, SIGTERM or SIGHUP: kill every live role's process group, then exit 130.
    #[cfg(unix)]
    #[allow(unsafe_code)]
    pub fn kill_roles_on_signal() {
        extern "C" fn on_signal(_: libc::c_int) {
            for slot in &ROLES {
                let pid = slot.load(Ordering::SeqCst);
                if pid != 0 {
                    // SAFETY: kill(2) is async-signal-safe and takes plain integers.
                    unsafe { libc::kill(-(pid as libc::pid_t), libc::SIGKILL) };
                }
            }
            // SAFETY: _exit(2) is async-signal-safe; 130 is the shell's "ended by Ctrl-C".
            unsafe { libc::_exit(130) };
        }
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: the handler only loads atomics and calls async-signal-safe functions.
            unsafe { libc::signal(signal, on_signal as *const () as libc::sighandler_t) };
        }
    }

    #[cfg(not(unix))]
    pub fn kill_roles_on_signal() {}
}
