//! A child's end: watched for the moment it comes (and recorded), said in words, and brought
//! about, for the child and all it started.

use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread;

use crate::procs;
use crate::sandbox::Limits;
use crate::transcript::{Event, Transcript};

/// Watch for the process `pid` to end on its own: the moment it does, its end is recorded in
/// the transcript (a failure report shows a server that died), reported as a crash if the role
/// is vital and the status is not 0, and sent on the returned channel. The process is not
/// reaped here (WNOWAIT): the role still owns it, and reaps it on drop.
#[cfg(unix)]
#[allow(unsafe_code)]
pub(super) fn watch(
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

pub fn describe_status(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => format!("ended by a signal ({status})"),
    }
}

/// Kill the child `pid` (started in a process group of its own, and not reaped yet), its
/// group, and every process it started that left the group (a student's server may `setsid` a
/// child that keeps its port): those are found, before the kill, through the kernel's lists of
/// children (Linux; elsewhere the group only). In namespaces of its own (`grade`), the first
/// kill ends them all.
#[cfg(unix)]
#[allow(unsafe_code)]
pub(super) fn kill_tree(pid: u32) {
    let group = pid as libc::pid_t;
    let descendants = procs::members(pid);
    // SAFETY: kill(2) takes plain integers and touches no memory of ours. The group is the
    // child's own (see `spawn::confine`), and the child is not yet reaped, so its id
    // cannot have been reused. The descendants were found alive a moment ago; one that ended
    // since may be a zombie still, or (rarely) its id reused, which the first kill makes
    // unlikely: it stops the group from starting more.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
        for other in descendants.into_iter().filter(|&other| other != pid) {
            libc::kill(other as libc::pid_t, libc::SIGKILL);
        }
    }
}

#[cfg(not(unix))]
pub(super) fn kill_tree(_pid: u32) {}
