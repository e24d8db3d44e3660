//! A role: one running process (a lab binary, or any shell command in `check` mode) whose
//! stdin the harness writes and whose stdout and stderr it reads, line by line.
//!
//! Each pipe the child writes is drained on its own thread. A child that fills a pipe nobody
//! reads blocks on its next print, and a blocked server looks exactly like a broken one.

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use super::exit::{self, describe_status, watch};
use super::signal::{Signal, interrupt, signal_group};
use super::{Program, Spawn};
use crate::output::{self, Pipe, Stream};
use crate::ready::{self, Ready};
use crate::transcript::Proto;
use crate::transcript::{Event, Transcript};
use crate::wait::{self, Deadline};
use crate::{QUIET, WAIT, secs};
use crate::{ports, procs};

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

impl Role {
    /// Start `program` as `who` with the defaults: see [`Spawn`] for more control.
    pub fn spawn(who: &str, program: Program, transcript: &Transcript) -> Result<Role> {
        Spawn::new(who, program).start(transcript)
    }

    pub(super) fn start(spawn: Spawn, transcript: &Transcript) -> Result<Role> {
        let mut command = spawn.command()?;
        let Spawn { who, program, output_cap, vital, sandbox, .. } = spawn;
        let who = who.as_str();
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
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

    /// The process's id (a shell command's: the command itself once the shell has exec'd).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where a listening role listens (from its ready line).
    pub fn addr(&self) -> SocketAddr {
        self.ready
            .map(|ready| ready.addr)
            .unwrap_or_else(|| panic!("{} is not a listening role: it has no address", self.who))
    }

    /// The sockets the role's processes hold bound or listening (Linux; none elsewhere).
    pub fn bound(&self) -> Vec<ports::Bound> {
        ports::bound_by(crate::kernel::HERE, &procs::sockets(self.child.id()))
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
            ports::held_by(crate::kernel::HERE, proto, &procs::sockets(self.child.id()))
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
                    // Room or not, the loop writes again, and gives up at the deadline.
                    let _ = wait::fd(&*stdin, libc::POLLOUT, slice);
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
        exit::kill_tree(self.child.id());
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
                exit::kill_tree(self.child.id());
                let _ = self.exit.recv_timeout(wait::patience(WAIT));
            } else {
                // Its own end is recorded; what it started and left in its group (a fork that
                // kept the port) is not to outlive it. Not reaped yet, so the group is its own.
                exit::kill_tree(self.child.id());
            }
            let _ = self.child.wait();
        } else if !self.reaped {
            // It ended on its own, and is not reaped yet: what it started and left in its
            // group is not to outlive it.
            exit::kill_tree(self.child.id());
            let _ = self.child.wait();
        }
        // The last lines the role printed are recorded before it is gone, so that a demo shows
        // them in their own step. Its pipes close as it dies; the wait is bounded all the same.
        let _ = self.drained.recv_timeout(QUIET);
        interrupt::unregister(self.child.id());
    }
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
