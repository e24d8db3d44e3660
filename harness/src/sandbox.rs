//! A stranger's server in a box of its own (`grade`, and `check --sandbox`): a list of what it
//! may touch, and nothing else.
//!
//! - Files (Landlock, Linux 5.13 and later): it reads and writes its working folder (a fresh copy
//!   of its submission), its private HOME and TMPDIR; it reads and runs what a language runtime
//!   needs (/usr, /lib*, /bin, /etc without its secrets, /proc, the folders on its PATH).
//!   Other submissions, the reports, the checker's binaries and the repository are not on the
//!   list. From Landlock ABI 6 (Linux 6.12), it cannot signal a process outside its box either.
//! - Identity: where the checker is root, the server runs as a uid and gid no other process has;
//!   otherwise as the checker's own user with every capability dropped.
//! - Environment: PATH, HOME, TMPDIR, LANG and nothing else (no CARGO_*, RUST*, LAB_*).
//! - Limits ([`Limits`]): CPU seconds, address space, tasks, file size, open files; the kernel
//!   enforces them on the server and all it starts, and an end at one is said as such.
//!
//! Where Landlock is missing, the rest still holds: [`landlock_abi`] tells the caller, which says
//! so once.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// What the kernel stops a sandboxed server from using. Each is a resource limit (setrlimit)
/// set on the server between fork and exec, so it binds the server and what it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// RLIMIT_CPU: seconds of CPU time; then SIGXCPU ends it.
    pub cpu_seconds: u64,
    /// RLIMIT_AS: bytes of address space (every thread's stack and every mapping count).
    pub memory_bytes: u64,
    /// RLIMIT_NPROC: processes and threads of its user (a fork storm stops here). Counted per
    /// user, so only where the server has a uid of its own does it count the server alone.
    pub processes: u64,
    /// RLIMIT_FSIZE: the largest file it may write; past it, SIGXFSZ ends it.
    pub file_bytes: u64,
    /// RLIMIT_NOFILE: file descriptors open at once (sockets included).
    pub open_files: u64,
}

impl Default for Limits {
    /// Generous for any honest server of these labs (a threaded server holding 500
    /// connections, a JVM), small for a fork storm or a memory hog.
    fn default() -> Limits {
        Limits {
            cpu_seconds: 60,
            memory_bytes: 4 << 30,
            processes: 1024,
            file_bytes: 64 << 20,
            open_files: 1024,
        }
    }
}

impl Limits {
    /// A build's (`grade --build`): a compiler needs more than the server it makes: ten times
    /// the CPU time, four times the address space, sixteen times the file size.
    pub fn for_build(self) -> Limits {
        Limits {
            cpu_seconds: self.cpu_seconds.saturating_mul(10),
            memory_bytes: self.memory_bytes.saturating_mul(4),
            file_bytes: self.file_bytes.saturating_mul(16),
            ..self
        }
    }

    /// How an end by `signal` or with `stderr` says which limit it met, if one.
    pub fn reached(&self, signal: Option<i32>, stderr: &str) -> Option<String> {
        match signal {
            Some(libc::SIGXCPU) => {
                return Some(format!("it was stopped at its CPU-time limit ({} s)", self.cpu_seconds));
            }
            Some(libc::SIGXFSZ) => {
                return Some(format!("it was stopped at its file-size limit ({})", bytes(self.file_bytes)));
            }
            _ => {}
        }
        let memory =
            ["MemoryError", "Cannot allocate memory", "memory allocation of", "bad_alloc", "out of memory"];
        if memory.iter().any(|said| stderr.contains(said)) {
            return Some(format!(
                "it ran out of memory at its limit ({} of address space)",
                bytes(self.memory_bytes)
            ));
        }
        let tasks = ["Resource temporarily unavailable", "can't start new thread", "fork: retry"];
        if tasks.iter().any(|said| stderr.contains(said)) {
            return Some(format!("it could start no more processes or threads (limit {})", self.processes));
        }
        None
    }
}

/// "4 GiB", "64 MiB": a size as the reports say it.
pub fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 => format!("{} MiB", n >> 20),
        n => format!("{n} bytes"),
    }
}

/// "4G", "512M", "100k", "1000": a size as the flags take it.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, shift) = match text.char_indices().last() {
        Some((at, 'G' | 'g')) => (&text[..at], 30),
        Some((at, 'M' | 'm')) => (&text[..at], 20),
        Some((at, 'K' | 'k')) => (&text[..at], 10),
        _ => (text, 0),
    };
    let n: u64 = digits.parse().map_err(|_| format!("{text:?} is not a size (as in 512M, 4G)"))?;
    n.checked_mul(1 << shift).ok_or_else(|| format!("{text} is too large"))
}

/// Where a sandboxed server lives and what it may use.
#[derive(Clone, Debug)]
pub struct Sandbox {
    /// Its working folder: it reads and writes here (a copy of its submission, for `grade`).
    pub work: PathBuf,
    /// Its own HOME and TMPDIR, read and written by it alone.
    pub home: PathBuf,
    pub tmp: PathBuf,
    /// Folders and files it may read and run, besides what a runtime needs ([`runtime`]).
    pub read_only: Vec<PathBuf>,
    /// The uid and gid it runs as; `None`: the checker's own, with every capability dropped.
    pub identity: Option<u32>,
    pub limits: Limits,
}

/// /etc's entries a server has no business reading: passwords, keys, who may be root.
const SECRETS: &[&str] = &[
    "shadow",
    "shadow-",
    "gshadow",
    "gshadow-",
    "sudoers",
    "sudoers.d",
    "ssh",
    "ssl",
    "security",
    "subuid",
    "subgid",
];

/// What a language runtime reads: its interpreter and libraries, /etc (less [`SECRETS`]), /proc
/// for itself, the folders on `path` (less `except`, the checker's own folder).
pub fn runtime(path: &str, except: &[PathBuf]) -> Vec<PathBuf> {
    let mut read: Vec<PathBuf> = [
        "/usr",
        "/bin",
        "/sbin",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/opt",
        "/proc",
        "/sys/devices/system/cpu",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    if let Ok(etc) = std::fs::read_dir("/etc") {
        read.extend(
            etc.filter_map(|entry| entry.ok())
                .filter(|entry| !SECRETS.iter().any(|secret| entry.file_name() == *secret))
                .map(|entry| entry.path()),
        );
        // The certificates a TLS client reads are public, beside the keys in /etc/ssl/private.
        read.push("/etc/ssl/certs".into());
    }
    read.extend(
        std::env::split_paths(path)
            .filter(|folder| folder.is_absolute())
            .filter(|folder| !except.iter().any(|no| folder.canonicalize().is_ok_and(|real| real == *no))),
    );
    read.retain(|path| path.exists());
    read
}

/// The Landlock ABI this kernel offers (0: none, or not Linux).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn landlock_abi() -> i32 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute and size 0, landlock_create_ruleset(2) only returns the ABI
    // version (or -1); it touches no memory.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    abi.max(0) as i32
}

#[cfg(not(target_os = "linux"))]
pub fn landlock_abi() -> i32 {
    0
}

impl Sandbox {
    /// The environment it gets, all of it.
    pub fn environment(&self, path: &str) -> Vec<(String, String)> {
        vec![
            ("PATH".into(), path.into()),
            ("HOME".into(), self.home.to_string_lossy().into_owned()),
            ("TMPDIR".into(), self.tmp.to_string_lossy().into_owned()),
            ("LANG".into(), "C.UTF-8".into()),
            ("USER".into(), "student".into()),
        ]
    }

    /// The Landlock ruleset, made here (it allocates and opens files, which the child between
    /// fork and exec may not): the child only applies it ([`confine`]). `None` where the kernel
    /// has no Landlock.
    #[cfg(target_os = "linux")]
    pub fn ruleset(&self, path: &str, except: &[PathBuf]) -> Result<Option<OwnedFd>> {
        use landlock::{
            ABI, Access, AccessFs, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreatedAttr, Scope,
            path_beneath_rules,
        };
        if landlock_abi() == 0 {
            return Ok(None);
        }
        let abi = ABI::V6;
        let mut read = runtime(path, except);
        read.extend(self.read_only.iter().filter(|path| path.exists()).cloned());
        let devices = ["/dev/null", "/dev/zero", "/dev/full", "/dev/urandom", "/dev/random"];
        let written = [&self.work, &self.home, &self.tmp];
        let ruleset = Ruleset::default()
            .set_compatibility(CompatLevel::BestEffort)
            .handle_access(AccessFs::from_all(abi))?
            .scope(Scope::from_all(abi))?
            .create()?
            .add_rules(path_beneath_rules(&read, AccessFs::from_read(abi)))?
            .add_rules(path_beneath_rules(devices, AccessFs::from_read(abi) | AccessFs::WriteFile))?
            .add_rules(path_beneath_rules(written, AccessFs::from_all(abi)))
            .context("the sandbox's rules")?;
        Ok(Option::<OwnedFd>::from(ruleset))
    }

    #[cfg(not(target_os = "linux"))]
    pub fn ruleset(&self, _path: &str, _except: &[PathBuf]) -> Result<Option<OwnedFd>> {
        Ok(None)
    }

    /// Make the folders it writes, where missing.
    pub fn make_folders(&self) -> Result<()> {
        for folder in [&self.work, &self.home, &self.tmp] {
            std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
        }
        Ok(())
    }
}

/// In the child, between fork and exec (after std has set its uid and gid): drop every
/// capability where it keeps the checker's user, then restrict it to `ruleset`. Only system
/// calls: nothing here allocates or locks.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn confine(ruleset: Option<&OwnedFd>, drop_capabilities: bool) -> std::io::Result<()> {
    // SAFETY: prctl(2), capset(2) and landlock_restrict_self(2) take integers and pointers to
    // the local structs below, which outlive the calls.
    unsafe {
        if drop_capabilities {
            for capability in 0..64 {
                // EINVAL past the last capability, EPERM without CAP_SETPCAP: nothing to drop.
                libc::prctl(libc::PR_CAPBSET_DROP, capability, 0, 0, 0);
            }
            #[repr(C)]
            struct Header {
                version: u32,
                pid: i32,
            }
            #[repr(C)]
            struct Data {
                effective: u32,
                permitted: u32,
                inheritable: u32,
            }
            let header = Header { version: 0x2008_0522, pid: 0 };
            let none = [
                Data { effective: 0, permitted: 0, inheritable: 0 },
                Data { effective: 0, permitted: 0, inheritable: 0 },
            ];
            if libc::syscall(libc::SYS_capset, &header, none.as_ptr()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if let Some(ruleset) = ruleset
            && libc::syscall(libc::SYS_landlock_restrict_self, ruleset.as_raw_fd(), 0) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn confine(_ruleset: Option<&OwnedFd>, _drop_capabilities: bool) -> std::io::Result<()> {
    Ok(())
}

/// A uid (and gid) for one of `grade`'s submissions that no other process uses: above the
/// range of people and of subordinate ids, one per process and job `slot`.
pub fn identity_for(slot: usize) -> u32 {
    (1 << 30) + (std::process::id() % (1 << 22)) * 256 + (slot % 256) as u32
}

/// Whether this process is root (and so can give a server a uid of its own).
#[allow(unsafe_code)]
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    cfg!(unix) && unsafe { libc::geteuid() } == 0
}

/// Hand `path` and all below it to `uid` (links themselves, never what they point to).
pub fn give(path: &Path, uid: u32) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid))
        .with_context(|| format!("handing over {}", path.display()))?;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            give(&entry?.path(), uid)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_and_said() {
        assert_eq!(parse_bytes("4G"), Ok(4 << 30));
        assert_eq!(parse_bytes("512M"), Ok(512 << 20));
        assert_eq!(parse_bytes("100k"), Ok(100 << 10));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("99999999999G").is_err());
        assert_eq!(bytes(4 << 30), "4 GiB");
        assert_eq!(bytes(64 << 20), "64 MiB");
    }

    #[test]
    fn an_end_at_a_limit_says_which() {
        let limits = Limits::default();
        assert_eq!(
            limits.reached(Some(libc::SIGXCPU), ""),
            Some("it was stopped at its CPU-time limit (60 s)".to_string())
        );
        assert!(limits.reached(Some(libc::SIGXFSZ), "").is_some_and(|said| said.contains("64 MiB")));
        let hog = "OSError: [Errno 12] Cannot allocate memory";
        assert!(limits.reached(None, hog).is_some_and(|said| said.contains("4 GiB of address space")));
        assert_eq!(limits.reached(Some(libc::SIGSEGV), "Segmentation fault"), None);
        assert_eq!(limits.reached(None, "NameError: name 'sockt' is not defined"), None);
    }

    #[test]
    fn the_runtime_list_leaves_out_secrets_and_the_checker() {
        let ours = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
        let path = format!("{}:/usr/bin:relative", ours.display());
        let read = runtime(&path, std::slice::from_ref(&ours));
        assert!(read.iter().any(|p| p == Path::new("/usr")));
        assert!(!read.iter().any(|p| p == Path::new("/etc/shadow") || p == Path::new("/etc/sudoers")));
        assert!(!read.iter().any(|p| *p == ours || p == Path::new("relative")));
    }
}
