//! How a child is started: its program, and what is set on its process before the program
//! runs (a process group of its own, death with us, resource limits, a sandbox), never on us.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Result;
#[cfg(not(target_os = "linux"))]
use anyhow::bail;

use super::{Program, Role};
use crate::sandbox::Sandbox;
use crate::transcript::Transcript;

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
/// `Spawn::new(who, program).limit(..).user(..).start(&transcript)`.
#[derive(Clone, Debug)]
pub struct Spawn {
    pub(super) who: String,
    pub(super) program: Program,
    limits: Vec<Limit>,
    user: Option<u32>,
    pub(super) output_cap: usize,
    pub(super) vital: bool,
    pub(super) sandbox: Option<Sandbox>,
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
            limits: Vec::new(),
            user: None,
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

    /// Set `limit` on the child (and all it starts) before it runs its program.
    pub fn limit(mut self, limit: Limit) -> Spawn {
        self.limits.push(limit);
        self
    }

    /// Run it as the user and group `id`, with no supplementary groups (we must be root).
    /// A user of its own is what makes [`Limit::Processes`] count its threads alone: the
    /// kernel counts tasks per user, and does not hold root to the limit at all.
    pub fn user(mut self, id: u32) -> Spawn {
        self.user = Some(id);
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

    /// The command that starts the program, with everything above set on it; its standard
    /// streams are the caller's to set.
    pub(super) fn command(&self) -> Result<Command> {
        let mut command = match &self.program {
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
        #[cfg(unix)]
        if let Some(id) = self.user {
            use std::os::unix::process::CommandExt;
            command.uid(id).gid(id);
        }
        confine(&mut command, self.sandbox.as_ref(), self.limits.clone())?;
        Ok(command)
    }
}

/// What every child of the harness gets, a role or a [`Run`](super::Run): `sandbox` if one is
/// given, the test's mark (see [`crate::guard`]), a process group of its own, death with us,
/// and `limits`.
pub(super) fn confine(
    command: &mut Command,
    sandbox: Option<&Sandbox>,
    mut limits: Vec<Limit>,
) -> Result<()> {
    if let Some(sandbox) = sandbox {
        enter(command, sandbox, &mut limits)?;
    }
    crate::guard::mark(command);
    new_process_group(command);
    die_with_us(command);
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
fn die_with_us(command: &mut Command) {
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
fn die_with_us(_command: &mut Command) {}

/// Each role gets a process group of its own, so that a shell command and everything it
/// started can be killed together.
#[cfg(unix)]
fn new_process_group(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
}

#[cfg(not(unix))]
fn new_process_group(_command: &mut Command) {}
