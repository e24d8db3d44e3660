//! A role: one running process (a lab binary, or any shell command in `check` mode) whose
//! stdin the harness writes and whose stdout and stderr it reads, line by line.
//!
//! Each pipe the child writes is drained on its own thread. A child that fills a pipe nobody
//! reads blocks on its next print, and a blocked server looks exactly like a broken one.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use crate::output::{self, Pipe, Stream};
use crate::ready::{self, Ready};
use crate::sandbox::{Limits, Sandbox};
use crate::transcript::Proto;
use crate::transcript::{Event, Transcript};
use crate::wait::{self, Deadline};
use crate::{QUIET, WAIT, secs};
use crate::{ports, procs};

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
    /// Disconnected once both pipes have ended and every line is recorded.
    drained: Receiver<()>,
    /// The exit status, sent the moment the process ends on its own (see `watch`).
    exit: Receiver<ExitStatus>,
    /// Set before we kill the process, so that its end is not reported as its own.
    ending: Arc<AtomicBool>,
    /// Its pipes, held here so that the transcript reads them while the role lives.
    _pipes: output::Pipes,
    transcript: Transcript,
    exited: Option<ExitStatus>,
    /// Whether `child.wait()` has reaped it (after which its process group is not killed).
    reaped: bool,
    /// Where a listening role listens, from its ready line.
    ready: Option<Ready>,
    vital: bool,
    started: std::time::Instant,
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
    /// RLIMIT_NPROC: how many processes and threads its user may have.
    Processes(u64),
    /// RLIMIT_FSIZE: the largest file it may write.
    FileSize(u64),
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
    vital: bool,
    sandbox: Option<Sandbox>,
}

/// How many bytes of each of a child's streams are recorded; the rest is read and dropped, so
/// that a child printing without end neither blocks nor fills our memory.
pub const OUTPUT_CAP: usize = 16 * 1024 * 1024;

/// The same for a server the harness did not write (a student's, in `check`): a megabyte of
/// each stream is more than any failure report needs, and every scenario starts its own.
pub const STRANGER_OUTPUT_CAP: usize = 1024 * 1024;

/// What recording one line costs, at least, however short (an event, its names, its time): a
/// stream's byte cap over this is the most lines recorded of it (16,384 for a stranger's), so
/// that a flood of empty lines is bounded as a flood of bytes is.
pub const LINE_COST: usize = 64;

impl Spawn {
    pub fn new(who: &str, program: Program) -> Spawn {
        Spawn {
            who: who.to_string(),
            program,
            env: Vec::new(),
            dir: None,
            limits: Vec::new(),
            output_cap: OUTPUT_CAP,
            vital: false,
            sandbox: None,
        }
    }

    /// Run it in `sandbox` (see [`crate::sandbox`]): its files, identity, environment and
    /// limits. An end at one of the limits is said as such.
    pub fn sandbox(mut self, sandbox: Option<Sandbox>) -> Spawn {
        self.sandbox = sandbox;
        self
    }

    /// A role the scenario cannot go on without (the server under test): if it ends on its
    /// own, every wait of the scenario gives up soon after, and a failure says first that the
    /// server ended and how.
    pub fn vital(mut self) -> Spawn {
        self.vital = true;
        self
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
        let Spawn { who, program, env, dir, mut limits, output_cap, vital, sandbox } = spawn;
        let who = who.as_str();
        let mut command = match &program {
            Program::Exec { path, args } => {
                let mut command = Command::new(path);
                command.args(args);
                command
            }
            Program::Shell(line) => {
                let mut command = Command::new("sh");
                // A simple command replaces the shell (exec): the role's process is then the
                // program itself, and its end, with its own status, is the role's end.
                let simple = !line.contains(['\n', ';', '&', '|', '(', ')', '<', '>', '`', '$']);
                command.arg("-c").arg(if simple { format!("exec {line}") } else { line.clone() });
                // A Python server that prints its ready line into a pipe would otherwise hold
                // it in a buffer until exit.
                command.env("PYTHONUNBUFFERED", "1");
                command
            }
        };
        if let Some(sandbox) = &sandbox {
            enter(&mut command, sandbox, &mut limits)?;
        }
        command.envs(env.iter().map(|(k, v)| (k, v)));
        crate::guard::mark(&mut command);
        if let Some(dir) = &dir {
            command.current_dir(dir);
        }
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        new_process_group(&mut command);
        die_with_us(&mut command);
        set_limits(&mut command, &limits);
        transcript.record(Event::Start { who: who.to_string(), command: program.describe() });
        if vital {
            transcript.forget_crash();
        }
        let mut child = command.spawn().with_context(|| format!("starting {who}: {}", program.describe()))?;
        interrupt::register(child.id());

        let (out_sender, lines) = mpsc::channel();
        let (err_sender, err_lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout was piped above");
        let stderr = child.stderr.take().expect("stderr was piped above");
        let pipes: output::Pipes = Arc::new([
            Mutex::new(Pipe::new(stdout, Stream::Stdout, who, output_cap, out_sender, transcript)),
            Mutex::new(Pipe::new(stderr, Stream::Stderr, who, output_cap, err_sender, transcript)),
        ]);
        transcript.watch_pipes(Arc::downgrade(&pipes));
        let (drain_done, drained) = mpsc::channel::<()>();
        let draining = pipes.clone();
        thread::spawn(move || {
            output::drain(draining);
            drop(drain_done);
        });
        let ending = Arc::new(AtomicBool::new(false));
        let limits = sandbox.map(|sandbox| sandbox.limits);
        let exit = watch(child.id(), who, vital, limits, &ending, transcript);

        Ok(Role {
            who: who.to_string(),
            stdin: child.stdin.take().inspect(|stdin| {
                // Our end of the pipe only: a write that finds it full says so at once, and
                // `send_line` waits for room with a deadline (the child's end is unchanged).
                output::set_nonblocking(std::os::fd::AsRawFd::as_raw_fd(stdin));
            }),
            child,
            lines,
            err_lines,
            drained,
            exit,
            ending,
            _pipes: pipes,
            transcript: transcript.clone(),
            exited: None,
            reaped: false,
            ready: None,
            vital,
            started: std::time::Instant::now(),
        })
    }

    /// Where a listening role listens (from its ready line).
    /// The process's id (a shell command's: the command itself once the shell has exec'd).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn addr(&self) -> SocketAddr {
        self.ready
            .map(|ready| ready.addr)
            .unwrap_or_else(|| panic!("{} is not a listening role: it has no address", self.who))
    }

    /// The sockets the role's processes hold bound or listening (Linux; none elsewhere).
    pub fn bound(&self) -> Vec<ports::Bound> {
        ports::bound_by(&procs::sockets(self.child.id()))
    }

    pub(crate) fn set_ready(&mut self, ready: Ready) {
        self.ready = Some(ready);
    }

    /// Wait for the ready line (`listening on udp://ADDR`) as the very first line on stdout.
    /// A role that ends first is reported at once, also when something it started still holds
    /// its stdout open (the pipe's end alone would not tell).
    pub fn wait_ready(&mut self, within: Duration) -> Result<Ready> {
        let deadline = Deadline::after(within);
        loop {
            let slice = deadline.left().unwrap_or_default().min(wait::SLICE);
            match self.lines.recv_timeout(slice) {
                Ok(line) => {
                    return ready::parse(&line).ok_or_else(|| {
                        anyhow!(
                            "{} printed {line:?} first; a listening role's first line on stdout must be \
                             the ready line, like `listening on udp://127.0.0.1:8888`",
                            self.who
                        )
                    });
                }
                Err(RecvTimeoutError::Disconnected) => return Err(self.exited_early("its ready line")),
                Err(RecvTimeoutError::Timeout) => {}
            }
            if let Ok(status) = self.exit.try_recv() {
                self.exited = Some(status);
                // Its last lines may still be on their way: the ready line among them counts.
                if let Ok(line) = self.lines.recv_timeout(QUIET)
                    && let Some(ready) = ready::parse(&line)
                {
                    return Ok(ready);
                }
                return Err(self.exited_early("its ready line"));
            }
            if deadline.passed() {
                bail!(
                    "{} printed no ready line within {} (and is still running: `--ready-timeout SECS` \
                     gives a slow start longer)",
                    self.who,
                    secs(within)
                );
            }
        }
    }

    /// Wait for the ready line or, for a program that prints none, until it holds `ready`'s
    /// port. A program that holds another port of that protocol instead, and not for a moment
    /// only, fails at once with both ports named: it did not use the port it was given.
    pub fn wait_ready_or_bound(&mut self, ready: Ready, within: Duration) -> Result<Ready> {
        let mut elsewhere_since: Option<std::time::Instant> = None;
        let deadline = Deadline::after(within);
        // The ready line is an event: wait for it. Between waits, look at whether the child has
        // ended and at the kernel's socket tables, which have no event to wait on, less and less
        // often: one look reads every socket of the machine (thousands, where many programs
        // run), and a Python server that takes seconds to start on a busy machine would
        // otherwise have the tables read a hundred times meanwhile.
        let mut pause = Duration::from_millis(1);
        let seen = loop {
            match self.lines.recv_timeout(pause.min(deadline.left().unwrap_or_default())) {
                Ok(line) => match ready::parse(&line) {
                    Some(ready) => break Some(Ok(ready)),
                    None => continue,
                },
                Err(RecvTimeoutError::Disconnected) => break Some(Err(None)),
                Err(RecvTimeoutError::Timeout) => {}
            }
            if let Ok(status) = self.exit.try_recv() {
                self.exited = Some(status);
                break Some(Err(None));
            }
            let held = self.held_ports(ready.proto);
            if held.contains(&ready.addr.port()) {
                break Some(Ok(ready));
            }
            if held.is_empty() {
                elsewhere_since = None;
            } else if elsewhere_since.get_or_insert_with(std::time::Instant::now).elapsed() > QUIET {
                break Some(Err(Some(held)));
            }
            if deadline.passed() {
                break None;
            }
            pause = (pause * 2).min(crate::kernel::TABLE_PAUSE);
        };
        match seen {
            Some(Ok(ready)) => Ok(ready),
            Some(Err(None)) => Err(self.exited_early("a ready line or a bound port")),
            Some(Err(Some(held))) => Err(ready::WrongPort {
                said: "its sockets in the kernel's table say so",
                listens_on: held,
                given: ready.addr.port(),
            }
            .into()),
            None => bail!(
                "{} neither printed a ready line nor bound {} port {} within {} (and is still \
                 running: `--ready-timeout SECS` gives a slow start longer)",
                self.who,
                ready.proto_name(),
                ready.addr.port(),
                secs(within)
            ),
        }
    }

    /// The ports of `proto` on which the role's processes (it and all it started) listen, or
    /// for UDP are bound. Where the kernel does not say whose a socket is (not Linux), any
    /// socket on the port counts, as if it were the role's.
    fn held_ports(&self, proto: Proto) -> Vec<u16> {
        if cfg!(target_os = "linux") {
            ports::held_by(proto, &procs::sockets(self.child.id()))
        } else {
            self.ready
                .map(|ready| ready.addr.port())
                .filter(|&port| ports::is_bound(proto, port))
                .into_iter()
                .collect()
        }
    }

    /// Wait until every thread of the role's processes is waiting (in accept, read, sleep...),
    /// none running: the role has done all it was going to do with what it was given, however
    /// busy the machine. Linux only; elsewhere it returns at once.
    pub fn wait_idle(&self, within: Duration) -> Result<()> {
        if !cfg!(target_os = "linux") {
            return Ok(());
        }
        // Two looks in a row, so that a thread between two steps is not taken for idle.
        let mut idle_looks = 0;
        let idle = wait::until(within, || {
            idle_looks = if procs::all_waiting(self.child.id()) == Some(false) { 0 } else { idle_looks + 1 };
            (idle_looks >= 2).then_some(())
        });
        idle.ok_or_else(|| {
            anyhow!("expected {} to settle within {}; it kept running", self.who, secs(within))
        })
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
        self.send_line_within(line, WAIT)
    }

    /// Type a line into the role's stdin, giving up after `within` if the role does not read
    /// it: a program that never reads its stdin fills the pipe (64 KiB on Linux), and a write
    /// without a deadline would then wait for ever.
    pub fn send_line_within(&mut self, line: &str, within: Duration) -> Result<()> {
        self.transcript.record(Event::Stdin { who: self.who.clone(), line: line.to_string() });
        let stdin = self.stdin.as_mut().ok_or_else(|| anyhow!("{}'s stdin is already closed", self.who))?;
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        let deadline = Deadline::after(within);
        let mut written = 0;
        while written < bytes.len() {
            match stdin.write(&bytes[written..]) {
                Ok(len) => written += len,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let Some(slice) = deadline.next_slice(&self.transcript) else {
                        bail!(
                            "{} did not read its stdin: {written} of the {} bytes of this line went into the \
                             pipe within {}, and the rest found it full",
                            self.who,
                            bytes.len(),
                            secs(within)
                        );
                    };
                    wait_writable(&*stdin, slice);
                }
                Err(e) => return Err(e).with_context(|| format!("writing a line to {}'s stdin", self.who)),
            }
        }
        Ok(())
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
        match next_matching(&self.lines, within, &self.transcript, matches) {
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
        match next_matching(&self.err_lines, within, &self.transcript, matches) {
            Ok(line) => Ok(line),
            Err(RecvTimeoutError::Timeout) => {
                bail!("expected {} to print {what} on stderr within {}; it did not", self.who, secs(within))
            }
            Err(RecvTimeoutError::Disconnected) => Err(self.exited_early(what)),
        }
    }

    /// How many lines the role prints on stderr within `within` (waited out in full): for
    /// "it says so once, not for every try".
    pub fn stderr_lines_within(&mut self, within: Duration) -> usize {
        let deadline = Deadline::after(within);
        let mut count = 0;
        while let Some(left) = deadline.left() {
            match self.err_lines.recv_timeout(left) {
                Ok(_) => count += 1,
                Err(_) => break,
            }
        }
        count
    }

    /// The role prints at most `most` more lines on stderr within `within`: it says a trouble
    /// once, instead of once per try in a tight loop (which prints thousands in that time).
    pub fn expect_few_stderr_lines(&mut self, within: Duration, most: usize) -> Result<()> {
        let more = self.stderr_lines_within(within);
        if more > most {
            bail!(
                "{} printed {more} more lines on stderr within {}: it retries without pausing",
                self.who,
                secs(within)
            );
        }
        Ok(())
    }

    /// Fail if a stdout line that `matches` arrives within `within`.
    pub fn expect_no_line(
        &mut self,
        what: &str,
        within: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> Result<()> {
        match next_matching(&self.lines, within, &self.transcript, matches) {
            Ok(line) => bail!("expected {} not to print {what}, but it printed {line:?}", self.who),
            Err(_) => Ok(()),
        }
    }

    /// Stop the role's processes where they are (SIGSTOP to its process group), as Ctrl-Z stops
    /// a program in a terminal: it runs no more code, but its sockets stay open, and the kernel
    /// goes on doing TCP for them (handshakes, acknowledgements, a peer's FIN) without it.
    /// [`Role::resume`] lets it go on; dropping the role kills it, paused or not.
    pub fn pause(&mut self) -> Result<()> {
        self.transcript.say(format!("({} paused: SIGSTOP)", self.who));
        signal_group(&self.child, Signal::Stop).with_context(|| format!("pausing {}", self.who))?;
        // The signal is taken on each thread's way out of the kernel: a call under way (an
        // accept that a connection has just woken) completes first. Paused means every thread
        // has stopped. (Where /proc cannot tell, not Linux, the signal alone has to do.)
        let stopped =
            wait::until(WAIT, || procs::all_stopped(self.child.id()).is_none_or(|all| all).then_some(()));
        if stopped.is_none() {
            bail!("{} did not stop within {} of SIGSTOP", self.who, secs(WAIT));
        }
        Ok(())
    }

    /// Let a paused role run again (SIGCONT).
    pub fn resume(&mut self) -> Result<()> {
        self.transcript.say(format!("({} resumed: SIGCONT)", self.who));
        signal_group(&self.child, Signal::Continue).with_context(|| format!("resuming {}", self.who))
    }

    /// Stop the role for good (SIGKILL, then reap it): as a server is stopped to be restarted.
    /// The kernel closes whatever sockets it held, as it closes any: a FIN on each connection
    /// (a reset where bytes it never read are thrown away), and its port is let go.
    pub fn kill(mut self) {
        self.transcript.record(Event::Exit { who: self.who.clone(), status: "stopped (SIGKILL)".into() });
        // Not a role on its way out of its own accord, to be given a moment: see Drop. Once
        // dropped, it is dead and reaped, and its sockets are closed.
        self.ready = None;
    }

    /// Wait for the process to end on its own.
    pub fn wait_exit(&mut self, within: Duration) -> Result<ExitStatus> {
        if let Some(status) = self.exited {
            return Ok(status);
        }
        let status = match self.exit.recv_timeout(wait::patience(within)) {
            Ok(status) => status,
            Err(RecvTimeoutError::Timeout) => {
                bail!("expected {} to exit within {}; it is still running", self.who, secs(within))
            }
            Err(RecvTimeoutError::Disconnected) => self.child.wait()?,
        };
        self.exited = Some(status);
        // Its group first: what it started is not to outlive it (and once it is reaped, its
        // group's id is no longer sure to be its own).
        kill_process_group(&mut self.child);
        let _ = self.child.wait();
        self.reaped = true;
        // The process is gone, so its pipes are at their end (unless something it started
        // still holds them): wait, briefly, until every line is recorded.
        let _ = self.drained.recv_timeout(QUIET);
        Ok(status)
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        if self.exited.is_none() && self.vital {
            // Whether a server that went silent was burning CPU (a loop) or waiting.
            if let Some(cpu) = procs::cpu_time(self.child.id()) {
                let (alive, at) = (self.started.elapsed(), self.transcript.elapsed());
                self.transcript.record_usage(crate::diagnosis::Usage { cpu, alive, at });
            }
        }
        if self.exited.is_none() {
            crate::capture::name_role(&self.transcript, &self.who, self.child.id());
            // A role that ended on its own has its end recorded by `watch` (a failure report
            // shows a server that died): let it, before reaping the process. A server that no
            // longer holds its port is on its way out (a crash closes its sockets first): it is
            // given a moment to end on its own rather than be killed in the middle.
            let leaving = |ready: &Ready| !self.held_ports(ready.proto).contains(&ready.addr.port());
            let ended = self.vital
                && self.ready.as_ref().is_some_and(leaving)
                && self.exit.recv_timeout(QUIET).is_ok();
            if !ended {
                self.ending.store(true, Ordering::SeqCst);
                kill_process_group(&mut self.child);
                let _ = self.exit.recv_timeout(wait::patience(WAIT));
            } else {
                // Its own end is recorded; what it started and left in its group (a fork that
                // kept the port) is not to outlive it. Not reaped yet, so the group is its own.
                kill_process_group(&mut self.child);
            }
            let _ = self.child.wait();
        } else if !self.reaped {
            // It ended on its own, and is not reaped yet: what it started and left in its
            // group is not to outlive it.
            kill_process_group(&mut self.child);
            let _ = self.child.wait();
        }
        // The last lines the role printed are recorded before it is gone, so that a demo shows
        // them in their own step. Its pipes close as it dies; the wait is bounded all the same.
        let _ = self.drained.recv_timeout(QUIET);
        interrupt::unregister(self.child.id());
    }
}

/// Watch for the process `pid` to end on its own: the moment it does, its end is recorded in
/// the transcript (a failure report shows a server that died), reported as a crash if the role
/// is vital and the status is not 0, and sent on the returned channel. The process is not
/// reaped here (WNOWAIT): the role still owns it, and reaps it on drop.
#[cfg(unix)]
#[allow(unsafe_code)]
fn watch(
    pid: u32,
    who: &str,
    vital: bool,
    limits: Option<Limits>,
    ending: &Arc<AtomicBool>,
    transcript: &Transcript,
) -> Receiver<ExitStatus> {
    use std::os::unix::process::ExitStatusExt;
    let (sender, exit) = mpsc::channel();
    let (who, ending, transcript) = (who.to_string(), ending.clone(), transcript.clone());
    thread::spawn(move || {
        // SAFETY: waitid(2) writes only into the siginfo_t we pass; a zeroed siginfo_t is a valid
        // value of that plain C struct. WNOWAIT leaves the child to be reaped by its Role.
        let status = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            loop {
                let done =
                    libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT);
                if done == 0 {
                    break;
                }
                if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                    return; // Reaped already: the role was dropped.
                }
            }
            match info.si_code {
                libc::CLD_EXITED => ExitStatus::from_raw((info.si_status() & 0xff) << 8),
                _ => ExitStatus::from_raw(info.si_status() & 0x7f),
            }
        };
        // Ended by our SIGKILL, as the role was dropped: not an end of its own.
        let ours = ending.load(Ordering::SeqCst) && status.signal() == Some(libc::SIGKILL);
        if !ours {
            let mut described = describe_status(status);
            transcript.record(Event::Exit { who: who.clone(), status: described.clone() });
            let stderr = || transcript.last_stderr(&who, 20).join("\n");
            if let Some(reached) =
                limits.filter(|_| !status.success()).and_then(|l| l.reached(status.signal(), &stderr()))
            {
                transcript.say(format!("({who}: {reached})"));
                described = format!("{described}: {reached}");
            }
            if vital {
                transcript.ended(&who, &described, status.success());
            }
        }
        let _ = sender.send(status);
    });
    exit
}

/// Wait, at most `within`, until the pipe has room for a write.
#[allow(unsafe_code)]
fn wait_writable(pipe: &impl std::os::fd::AsRawFd, within: Duration) {
    let mut polled = libc::pollfd { fd: pipe.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
    let millis = within.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
    // SAFETY: poll(2) reads and writes only the one pollfd we pass, with a count of 1.
    unsafe { libc::poll(&mut polled, 1, millis) };
}

/// The next line from one of a role's streams that `matches`, within `within`; other lines
/// are passed over (they are in the transcript).
fn next_matching(
    lines: &Receiver<String>,
    within: Duration,
    transcript: &Transcript,
    matches: impl Fn(&str) -> bool,
) -> Result<String, RecvTimeoutError> {
    let deadline = Deadline::after(within);
    loop {
        let slice = deadline.next_slice(transcript).ok_or(RecvTimeoutError::Timeout)?;
        match lines.recv_timeout(slice) {
            Ok(line) if matches(&line) => return Ok(line),
            Ok(_) | Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
        }
    }
}

pub fn describe_status(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => format!("ended by a signal ({status})"),
    }
}

/// Run `command` (not a role: a student's build, say) in `sandbox`, with its limits.
pub fn sandboxed(command: &mut Command, sandbox: &Sandbox) -> Result<()> {
    let mut limits = Vec::new();
    enter(command, sandbox, &mut limits)?;
    set_limits(command, &limits);
    Ok(())
}

/// Put `command` in `sandbox`: a clean environment, its working folder and identity, its
/// limits (added to `limits`), then, in the child, no capabilities and the Landlock ruleset.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn enter(command: &mut Command, sandbox: &Sandbox, limits: &mut Vec<Limit>) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    // The checker's own folder is not the server's to read.
    let ours: Vec<PathBuf> =
        std::env::current_exe().ok().and_then(|exe| exe.parent().map(PathBuf::from)).into_iter().collect();
    let ruleset = sandbox.ruleset(&path, &ours)?;
    command.env_clear().envs(sandbox.environment(&path));
    if matches!(command.get_program().to_str(), Some("sh")) {
        command.env("PYTHONUNBUFFERED", "1");
    }
    command.current_dir(&sandbox.work);
    if let Some(id) = sandbox.identity {
        command.uid(id).gid(id);
    }
    let l = sandbox.limits;
    limits.extend([
        Limit::CpuSeconds(l.cpu_seconds),
        Limit::AddressSpace(l.memory_bytes),
        Limit::Processes(l.processes),
        Limit::FileSize(l.file_bytes),
        Limit::OpenFiles(l.open_files),
    ]);
    let drop_capabilities = sandbox.identity.is_none();
    // SAFETY: `confine` makes only system calls (prctl, capset, landlock_restrict_self) on
    // values made before the fork: async-signal-safe, no allocation, no lock.
    unsafe {
        command.pre_exec(move || crate::sandbox::confine(ruleset.as_ref(), drop_capabilities));
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn enter(_command: &mut Command, _sandbox: &Sandbox, _limits: &mut Vec<Limit>) -> Result<()> {
    bail!("the sandbox is Linux's alone (Landlock, namespaces)")
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
            Limit::Processes(n) => (libc::RLIMIT_NPROC, n as libc::rlim_t),
            Limit::FileSize(n) => (libc::RLIMIT_FSIZE, n as libc::rlim_t),
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

/// A role is killed if we die before it ends (even by SIGKILL, which no handler sees): the
/// kernel sends it SIGKILL when the thread that started it ends (PR_SET_PDEATHSIG). A runner
/// killed by a test's deadline, or by `kill -9`, leaves no server behind. A role is dropped
/// on the thread that started it, so that thread's end comes after the role's anyway.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn die_with_us(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: runs in the child between fork and exec, where only async-signal-safe calls are
    // allowed: prctl(2) and getppid(2) are plain system calls, and nothing here allocates or
    // locks. `parent` is a plain integer copied into the closure before the fork.
    let parent = std::process::id() as libc::pid_t;
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // We may have died between the fork and the prctl: then nobody would send it.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
pub fn die_with_us(_command: &mut Command) {}

/// Each role gets a process group of its own, so that a shell command and everything it
/// started can be killed together.
#[cfg(unix)]
fn new_process_group(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
}

#[cfg(not(unix))]
fn new_process_group(_command: &mut Command) {}

/// Kill the role's process group, and every process it started that left the group (a
/// student's server may `setsid` a child that keeps its port): those are found, before the
/// kill, through the kernel's lists of children (Linux; elsewhere the group only).
#[cfg(unix)]
#[allow(unsafe_code)]
fn kill_process_group(child: &mut Child) {
    let group = child.id() as libc::pid_t;
    let descendants = procs::members(child.id());
    // SAFETY: kill(2) takes plain integers and touches no memory of ours. The group is the
    // child's own (process_group(0) above), and the child is not yet reaped, so its id
    // cannot have been reused. The descendants were found alive a moment ago; one that ended
    // since may be a zombie still, or (rarely) its id reused, which the first kill makes
    // unlikely: it stops the group from starting more.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
        for pid in descendants.into_iter().filter(|&pid| pid != child.id()) {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    }
}

enum Signal {
    Stop,
    Continue,
}

#[cfg(unix)]
#[allow(unsafe_code)]
fn signal_group(child: &Child, signal: Signal) -> std::io::Result<()> {
    let group = child.id() as libc::pid_t;
    let signal = match signal {
        Signal::Stop => libc::SIGSTOP,
        Signal::Continue => libc::SIGCONT,
    };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours. The group is the
    // child's own (process_group(0) above), and the child is not yet reaped.
    let done = unsafe { libc::kill(-group, signal) };
    if done == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

#[cfg(not(unix))]
fn signal_group(_child: &Child, _signal: Signal) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
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

    /// Kill `pid`'s process group on Ctrl-C (a role, or `grade`'s checker of one submission).
    pub fn register(pid: u32) {
        // With more than 64 roles alive at once, the rest are still killed on drop, only not
        // on Ctrl-C.
        let _ = ROLES
            .iter()
            .find(|slot| slot.compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst).is_ok());
    }

    /// `pid` is reaped: forget it.
    pub fn unregister(pid: u32) {
        let _ = ROLES
            .iter()
            .find(|slot| slot.compare_exchange(pid, 0, Ordering::SeqCst, Ordering::SeqCst).is_ok());
    }

    /// Kill every live role's process group now: for a run that must end while scenarios
    /// are still running (a scenario past its time limit), before the process exits.
    #[cfg(unix)]
    #[allow(unsafe_code)]
    pub fn kill_all() {
        for slot in &ROLES {
            let pid = slot.load(Ordering::SeqCst);
            if pid != 0 {
                // SAFETY: kill(2) takes plain integers; the role is registered until it is
                // reaped, so the group is still its own.
                unsafe { libc::kill(-(pid as libc::pid_t), libc::SIGKILL) };
            }
        }
    }

    #[cfg(not(unix))]
    pub fn kill_all() {}

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
