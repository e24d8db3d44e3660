//! Signals to a role's process group: a pause and a resume, and, on Ctrl-C, the end of every
//! role still alive.

use std::process::Child;

/// The signals a role is paused and resumed with.
pub(super) enum Signal {
    Stop,
    Continue,
}

#[cfg(unix)]
#[allow(unsafe_code)]
pub(super) fn signal_group(child: &Child, signal: Signal) -> std::io::Result<()> {
    let group = child.id() as libc::pid_t;
    let signal = match signal {
        Signal::Stop => libc::SIGSTOP,
        Signal::Continue => libc::SIGCONT,
    };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours. The group is the
    // child's own (see `spawn::confine`), and the child is not yet reaped.
    let done = unsafe { libc::kill(-group, signal) };
    if done == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

#[cfg(not(unix))]
pub(super) fn signal_group(_child: &Child, _signal: Signal) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
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
