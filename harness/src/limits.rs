//! A lab's server started with a limit of the machine set on it alone: out of file
//! descriptors (`prlimit`), out of threads ([`ThreadLimit`]).
//!
//! Linux does not hold root to RLIMIT_NPROC (kernel/fork.c skips the check for the root user
//! and for CAP_SYS_RESOURCE), so the server runs as a uid of its own (`setpriv`), one no other
//! process uses (100000 + this process's id): the kernel counts tasks per user, so that user's
//! count is the server's threads and nothing else, however many tests run at once. That uid
//! must be able to reach the binary, so it runs a copy in a fresh folder anyone may enter (the
//! build's own folder may be under one that is root's alone, /root say).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::process::{Program, Role};
use crate::session::Session;

/// A binary's command line with a thread limit in front of it; the copy it runs is removed
/// when this is dropped.
pub struct ThreadLimit {
    folder: PathBuf,
    /// The command, up to and including the binary: `setpriv ... prlimit --nproc=N -- COPY`.
    pub command: Vec<String>,
}

impl ThreadLimit {
    /// `binary` allowed `tasks` threads in all, its main thread included; `None` when this
    /// process is not root, and so cannot give it a uid of its own (the limit would then count
    /// every process of the user running the tests: nothing deterministic to test).
    pub fn new(binary: &Path, tasks: u32) -> Result<Option<ThreadLimit>> {
        let status = std::fs::read_to_string("/proc/self/status")?;
        let root = status.lines().any(|line| line.split_whitespace().take(3).eq(["Uid:", "0", "0"]));
        if !root {
            return Ok(None);
        }
        use std::os::unix::fs::PermissionsExt;
        use std::sync::atomic::{AtomicU32, Ordering};
        static COPIES: AtomicU32 = AtomicU32::new(0);
        let copy = COPIES.fetch_add(1, Ordering::SeqCst);
        let folder = std::env::temp_dir().join(format!("socket-labs-{}-{copy}", std::process::id()));
        std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755))?;
        let name = binary.file_name().context("the binary has a file name")?;
        let copied = folder.join(name);
        std::fs::copy(binary, &copied).with_context(|| format!("copying {}", binary.display()))?;
        std::fs::set_permissions(&copied, std::fs::Permissions::from_mode(0o755))?;
        let uid = 100_000 + std::process::id();
        let mut command: Vec<String> =
            format!("setpriv --reuid={uid} --regid={uid} --clear-groups prlimit --nproc={tasks} --")
                .split(' ')
                .map(String::from)
                .collect();
        command.push(copied.to_string_lossy().into_owned());
        Ok(Some(ThreadLimit { folder, command }))
    }
}

impl Drop for ThreadLimit {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// `binary`, with `limits` (a command and its flags, such as `prlimit --nofile=32 --`) in
/// front of it.
pub fn with_limits(limits: &str, binary: &str) -> Vec<String> {
    limits.split(' ').map(String::from).chain([binary.to_string()]).collect()
}

/// Start `COMMAND server --bind 127.0.0.1:0 ARGS`, where the command is a lab's binary with
/// what sets its limits in front of it ([`with_limits`], [`ThreadLimit::command`]), and wait
/// for its ready line.
pub fn start_server(s: &Session, command: &[String], args: &[&str]) -> Result<(Role, SocketAddr)> {
    let mut argv: Vec<String> = command[1..].to_vec();
    argv.extend(["server", "--bind", "127.0.0.1:0"].map(String::from));
    argv.extend(args.iter().map(|a| a.to_string()));
    let program = Program::Exec { path: command[0].clone().into(), args: argv };
    let mut server = Role::spawn("server", program, s.transcript())?;
    let addr = server.wait_ready(crate::READY_WAIT)?.addr;
    s.transcript().name(addr, "server");
    Ok((server, addr))
}
