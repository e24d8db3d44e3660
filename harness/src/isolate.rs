//! A submission's own machine, as far as Linux lets an unprivileged user make one: `grade`
//! runs each student's checker inside new user, network, PID and mount namespaces
//! (`unshare(1)` makes them; util-linux has it on every Linux distribution).
//!
//! - Network: the namespace has its own loopback (brought up by [`loopback_up`]) and no other
//!   interface, so two submissions may both bind port 9999, and nothing a submission sends
//!   leaves it.
//! - PID: the checker is the namespace's first process (PID 1). When it ends, or is killed,
//!   the kernel kills every process left in the namespace (kernel/pid_namespace.c,
//!   `zap_pid_ns_processes`): a fork that escaped its process group goes too. `--kill-child`
//!   makes unshare's own end kill PID 1.
//! - Mount: only so that /proc can be mounted afresh and show the namespace's own processes
//!   (the checker reads /proc to find a server's sockets).
//! - User: for a grader who is not root, so that it may make the others; its root is that
//!   user, mapped. A root grader makes none ([`UNSHARE_AS_ROOT`]) and keeps the power to run
//!   each student's server as a uid of its own.
//!
//! The files a student's server may touch, its identity and its limits are
//! [`crate::sandbox`]'s. Where the namespaces cannot be made (unshare missing, or a kernel or
//! security module that forbids unprivileged user namespaces), [`probe`] says why.

use std::path::Path;
use std::process::{Command, Stdio};

/// The command line that runs a program inside new namespaces: put the program and its
/// arguments after it.
pub const UNSHARE: &[&str] = &[
    "unshare",
    "--user",
    "--map-root-user",
    "--net",
    "--pid",
    "--fork",
    "--kill-child",
    "--mount",
    "--mount-proc",
    "--",
];

/// The same for a grader who is root: no user namespace is needed to make the others.
pub const UNSHARE_AS_ROOT: &[&str] =
    &["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc", "--"];

/// Whether submissions can be isolated here: `Err` says why not, in a line for the user.
/// `probe_args` run `exe` inside the namespaces; they must bring the loopback up (see
/// [`loopback_up`]) and exit 0.
pub fn probe(exe: &Path, probe_args: &[&str]) -> Result<(), String> {
    if !cfg!(target_os = "linux") {
        return Err("network namespaces are Linux's alone".into());
    }
    let unshare = if crate::sandbox::is_root() { UNSHARE_AS_ROOT } else { UNSHARE };
    let output = Command::new(unshare[0])
        .args(&unshare[1..])
        .arg(exe)
        .args(probe_args)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("unshare(1) could not be started ({error}); it is in util-linux"))?;
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr);
    Err(format!("`unshare -rn` failed here: {}", said.trim().lines().last().unwrap_or("(it said nothing)")))
}

/// Bring up the loopback interface of the network namespace we are in: a new namespace's
/// `lo` is down, and until it is up even 127.0.0.1 is unreachable. Needs CAP_NET_ADMIN in the
/// namespace, which its (mapped) root has.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn loopback_up() -> std::io::Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: socket(2) takes integers; the descriptor it returns is ours alone, and OwnedFd
    // closes it.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh, open descriptor that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: an all-zero ifreq is a valid value of that plain C struct.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS and SIOCSIFFLAGS read and write only the ifreq we pass, whose name
    // is NUL-terminated; ifru_flags is the union member these two requests use.
    unsafe {
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn loopback_up() -> std::io::Result<()> {
    Err(std::io::Error::other("network namespaces are Linux's alone"))
}

/// In the namespaces' own /proc, each process sees only its own user's processes
/// (`hidepid=invisible`): a student's server cannot read even the checker's command line.
/// Needs root in the mount namespace; where the remount is refused, /proc stays as it was.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn hide_processes() -> std::io::Result<()> {
    let (source, target, kind, options) = (c"proc", c"/proc", c"proc", c"hidepid=invisible");
    // SAFETY: mount(2) reads the four NUL-terminated strings above, which outlive the call.
    let done = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            kind.as_ptr(),
            libc::MS_REMOUNT | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            options.as_ptr().cast(),
        )
    };
    if done == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

#[cfg(not(target_os = "linux"))]
pub fn hide_processes() -> std::io::Result<()> {
    Ok(())
}

/// Mount a tmpfs of `bytes` at `dir` (in our own mount namespace, which `unshare` makes
/// private: nobody else sees it, and it goes when the namespace does): a submission's copy,
/// HOME and TMPDIR then cannot fill the machine's disk. Needs root in the mount namespace.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn mount_tmpfs(dir: &Path, bytes: u64) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let target = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    let options = std::ffi::CString::new(format!("size={bytes},mode=0711"))?;
    // SAFETY: mount(2) reads the NUL-terminated strings, which outlive the call.
    let done = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            options.as_ptr().cast(),
        )
    };
    if done == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

#[cfg(not(target_os = "linux"))]
pub fn mount_tmpfs(_dir: &Path, _bytes: u64) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}
