//! Waiting, in one place. Something the harness waits for either arrives as an event (a line
//! on a channel, bytes on a socket: those reads carry their own deadline) or can only be looked
//! at (the kernel's socket table, whether a process has ended). For the second kind,
//! [`until`] looks again and again, a little less often each time, until the deadline.

use std::time::{Duration, Instant};

use crate::transcript::Transcript;

/// The longest a wait blocks in one go before it looks again whether the server has crashed.
pub const SLICE: Duration = Duration::from_millis(50);

/// How long the waits go on after the server under test crashed: a client may still print its
/// answer to the server's end. Then they give up, and the failure says the server crashed.
pub const AFTER_A_CRASH: Duration = Duration::from_millis(500);

/// The same after the server ended with status 0, which may be on purpose (a quit word ends
/// the chat servers): the waits that follow such an end get longer.
pub const AFTER_A_CLEAN_END: Duration = Duration::from_secs(2);

/// A point in time by which something must have happened.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(Instant);

impl Deadline {
    /// `within` from now: see [`patience`] for a wait of [`crate::WAIT`].
    pub fn after(within: Duration) -> Deadline {
        Deadline(Instant::now() + patience(within))
    }

    /// The time left, or `None` once the deadline has passed.
    pub fn left(&self) -> Option<Duration> {
        self.0.checked_duration_since(Instant::now()).filter(|left| !left.is_zero())
    }

    pub fn passed(&self) -> bool {
        self.left().is_none()
    }

    /// How long a wait may block now: up to [`SLICE`], within the deadline, and, once a vital
    /// role of `transcript` has crashed, within [`AFTER_A_CRASH`] of that. `None`: give up.
    pub fn next_slice(&self, transcript: &Transcript) -> Option<Duration> {
        let mut left = self.left()?;
        if let Some(crash) = transcript.crash() {
            let after = if crash.clean { AFTER_A_CLEAN_END } else { AFTER_A_CRASH };
            let grace = (crash.when + after).checked_duration_since(Instant::now());
            left = left.min(grace.filter(|grace| !grace.is_zero())?);
        }
        Some(left.min(SLICE))
    }
}

/// How long a wait of `within` lasts on this machine now. [`crate::WAIT`] is the wait for
/// something that should happen (a reply, a line, an exit): on a busy machine a correct
/// program takes longer to be scheduled, a Python client longer to start, so that wait is
/// stretched by how busy the machine is: by the runnable processes per core beyond four (the
/// suite's own load stays below that), at most six times. A passing run pays nothing for it,
/// a failing one waits longer only on a busy machine. Every other wait is as asked: a wait for
/// what must not happen ([`crate::QUIET`]), or one a protocol's timer sets.
pub fn patience(within: Duration) -> Duration {
    if within != crate::WAIT || !STRETCH.get() {
        return within;
    }
    within.mul_f64(busy())
}

thread_local! {
    /// Whether this thread's waits of [`crate::WAIT`] are stretched (see [`patience`]).
    static STRETCH: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// Run `f` with this thread's waits of [`crate::WAIT`] stretched or not. A test that expects a
/// scenario to fail (against a fixture's bug, against a starter) runs it unstretched: the
/// stretch keeps a correct program from failing on a busy machine, and there a failure is the
/// expected verdict, so waiting longer for it only makes the suite slower. A thread started
/// for the scenario ([`crate::wait::stretching`] read before, and passed on) does the same.
pub fn with_stretch<R>(stretch: bool, f: impl FnOnce() -> R) -> R {
    let before = STRETCH.replace(stretch);
    let result = f();
    STRETCH.set(before);
    result
}

/// Whether this thread's waits are stretched now: for a thread started on its behalf.
pub fn stretching() -> bool {
    STRETCH.get()
}

/// How many times over the machine is busy (1 when it is not): the larger of the 1-minute
/// load average and the processes runnable right now, per core, over four. Linux only;
/// elsewhere 1.
fn busy() -> f64 {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let load = read("/proc/loadavg").split_whitespace().next().and_then(|n| n.parse::<f64>().ok());
    let running = read("/proc/stat")
        .lines()
        .find_map(|line| line.strip_prefix("procs_running "))
        .and_then(|n| n.trim().parse::<f64>().ok());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let runnable = load.unwrap_or(0.0).max(running.unwrap_or(0.0));
    (runnable / (4.0 * cores)).clamp(1.0, 6.0)
}

/// Look at `poll` until it gives an answer or `within` has passed. The first looks come 1 ms
/// apart, then further apart up to 20 ms: a quick answer is seen at once, a slow one costs
/// little CPU. This polls only what has no event to wait on; it never stands in for one.
pub fn until<T>(within: Duration, poll: impl FnMut() -> Option<T>) -> Option<T> {
    until_pausing(within, Duration::from_millis(20), poll)
}

/// [`until`], with the looks further apart, up to `longest` between two: for a look that
/// costs much (the whole table of TCP sockets, on a machine that has thousands).
pub fn until_pausing<T>(
    within: Duration,
    longest: Duration,
    mut poll: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Deadline::after(within);
    let mut pause = Duration::from_millis(1);
    loop {
        // A look can itself take long on a busy machine (a table of thousands of sockets):
        // the answer is "none" only after a look that began once the deadline had passed.
        let last = deadline.passed();
        if let Some(answer) = poll() {
            return Some(answer);
        }
        if last {
            return None;
        }
        std::thread::sleep(pause.min(deadline.left().unwrap_or_default()));
        pause = (pause * 2).min(longest);
    }
}

/// Wait up to `within` for one of `events` (POLLOUT, say; errors, POLLERR, are reported
/// whatever is asked) on the descriptor `fd`: poll(2), the one wait on a descriptor in the
/// harness. What poll reported (its `revents`), or `None` if nothing came in time.
#[cfg(unix)]
#[allow(unsafe_code)]
pub fn fd(fd: &impl std::os::fd::AsRawFd, events: i16, within: Duration) -> std::io::Result<Option<i16>> {
    let deadline = Deadline::after(within);
    loop {
        let Some(left) = deadline.left() else { return Ok(None) };
        let mut wanted = libc::pollfd { fd: fd.as_raw_fd(), events, revents: 0 };
        let millis = i32::try_from(left.as_millis()).unwrap_or(i32::MAX).max(1);
        // SAFETY: poll(2) reads and writes the one pollfd we pass, which outlives the call; the
        // descriptor is the caller's own and stays open while `fd` is borrowed.
        let ready = unsafe { libc::poll(&mut wanted, 1, millis) };
        match ready {
            0 => continue,
            1.. => return Ok(Some(wanted.revents)),
            _ => {
                let error = std::io::Error::last_os_error();
                if error.kind() != std::io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_the_first_answer_and_gives_up_at_the_deadline() {
        let mut looks = 0;
        assert_eq!(
            until(Duration::from_secs(5), || {
                looks += 1;
                (looks == 3).then_some(looks)
            }),
            Some(3)
        );
        let started = Instant::now();
        assert_eq!(until(Duration::from_millis(50), || None::<()>), None);
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn only_the_wait_for_what_should_happen_is_stretched() {
        assert_eq!(patience(crate::QUIET), crate::QUIET);
        assert_eq!(patience(Duration::from_secs(1)), Duration::from_secs(1));
        let waited = patience(crate::WAIT);
        assert!(waited >= crate::WAIT && waited <= crate::WAIT * 6, "{waited:?}");
    }

    /// A pipe with nothing in it is not readable within the wait; with a byte in it, it is
    /// at once.
    #[cfg(unix)]
    #[test]
    fn waits_for_a_descriptor_until_it_is_ready() {
        use std::io::Write;
        let (reader, mut writer) = std::io::pipe().unwrap();
        assert_eq!(fd(&reader, libc::POLLIN, Duration::from_millis(20)).unwrap(), None);
        writer.write_all(b"x").unwrap();
        let seen = fd(&reader, libc::POLLIN, crate::WAIT).unwrap();
        assert!(seen.is_some_and(|revents| revents & libc::POLLIN != 0), "{seen:?}");
    }
}
