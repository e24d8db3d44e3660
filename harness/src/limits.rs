//! A lab's server started with a limit of the machine set on it alone (see
//! [`crate::process::Limit`]): out of file descriptors ([`start_server`] with
//! `Limit::OpenFiles`), out of threads ([`ThreadLimit`]).
//!
//! Linux does not hold root to RLIMIT_NPROC (kernel/fork.c skips the check for the root user
//! and for CAP_SYS_RESOURCE), so the server runs as a uid of its own ([`Spawn::user`]), one no
//! other process uses (100000 + this process's id): the kernel counts tasks per user, so that
//! user's count is the server's threads and nothing else, however many tests run at once. That
//! uid must be able to reach the binary, so it runs a copy in a fresh folder anyone may enter
//! (the build's own folder may be under one that is root's alone, /root say).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::process::{Limit, Program, Role, Spawn};
use crate::session::Session;

/// A copy of a binary to run with a thread limit, as a user of its own; the copy is removed
/// when this is dropped.
pub struct ThreadLimit {
    folder: PathBuf,
    copy: PathBuf,
    uid: u32,
    tasks: u32,
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
        // Copied by cp, not by us: a file this process holds open for writing is open in every
        // child another thread forks meanwhile, until that child's exec; running the copy then
        // fails with ETXTBSY ("Text file busy"), which a parallel test run met.
        let copying = std::process::Command::new("cp")
            .arg(binary)
            .arg(&copied)
            .status()
            .with_context(|| format!("copying {} (with cp)", binary.display()))?;
        anyhow::ensure!(copying.success(), "cp {} {} failed: {copying}", binary.display(), copied.display());
        std::fs::set_permissions(&copied, std::fs::Permissions::from_mode(0o755))?;
        Ok(Some(ThreadLimit { folder, copy: copied, uid: 100_000 + std::process::id(), tasks }))
    }

    /// Start the copy as `server --bind 127.0.0.1:0 ARGS`, as its own user, with its thread
    /// limit, and wait for its ready line.
    pub fn start_server(&self, s: &Session, args: &[&str]) -> Result<(Role, SocketAddr)> {
        let spawn = server(&self.copy, args).user(self.uid).limit(Limit::Processes(u64::from(self.tasks)));
        start(s, spawn)
    }
}

impl Drop for ThreadLimit {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// Start `BINARY server --bind 127.0.0.1:0 ARGS` with `limits` set on it alone, and wait for
/// its ready line.
pub fn start_server(
    s: &Session,
    binary: &str,
    limits: &[Limit],
    args: &[&str],
) -> Result<(Role, SocketAddr)> {
    let spawn = limits.iter().fold(server(Path::new(binary), args), |spawn, &limit| spawn.limit(limit));
    start(s, spawn)
}

fn server(binary: &Path, args: &[&str]) -> Spawn {
    let mut argv: Vec<String> = ["server", "--bind", "127.0.0.1:0"].map(String::from).to_vec();
    argv.extend(args.iter().map(|a| a.to_string()));
    Spawn::new("server", Program::Exec { path: binary.to_path_buf(), args: argv })
}

fn start(s: &Session, spawn: Spawn) -> Result<(Role, SocketAddr)> {
    let mut server = spawn.start(s.transcript())?;
    let addr = server.wait_ready(crate::READY_WAIT)?.addr;
    s.transcript().name(addr, "server");
    Ok((server, addr))
}
