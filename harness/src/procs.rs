//! What the kernel says about a role's processes (Linux, from /proc): which processes make up
//! its process group, whether any of their threads is running, and which sockets they hold.
//! Elsewhere there is nothing to read, and each answer says so.

use std::collections::HashSet;
use std::fs;

/// The processes of a role: `group`'s leader (the role's own process) and everything it
/// started, found through each process's list of children (a few reads, where scanning all of
/// /proc would be hundreds). Where the kernel keeps no such list, every process whose group is
/// `group`.
pub fn members(group: u32) -> Vec<u32> {
    if !std::path::Path::new(&format!("/proc/{group}/task/{group}/children")).exists() {
        return in_group(group);
    }
    let mut found = vec![group];
    let mut next = 0;
    while let Some(&pid) = found.get(next) {
        next += 1;
        let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else { continue };
        for task in tasks.filter_map(|task| task.ok()) {
            let children = fs::read_to_string(task.path().join("children")).unwrap_or_default();
            found.extend(children.split_whitespace().filter_map(|child| child.parse::<u32>().ok()));
        }
    }
    found
}

/// Every process whose process group is `group`, from a scan of /proc.
fn in_group(group: u32) -> Vec<u32> {
    every_pid()
        .filter(|&pid| stat_field(&format!("/proc/{pid}/stat"), 2).is_some_and(|g| g == group.to_string()))
        .collect()
}

/// Every process /proc lists (none where there is no /proc).
fn every_pid() -> impl Iterator<Item = u32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
}

/// Is every thread of every process in `group` waiting (asleep, stopped or a zombie), none
/// running or ready to run? `None` where /proc cannot tell (not Linux, or the group is gone).
pub fn all_waiting(group: u32) -> Option<bool> {
    let pids = members(group);
    if pids.is_empty() {
        return None;
    }
    for pid in pids {
        let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else { continue };
        for task in tasks.filter_map(|task| task.ok()) {
            let path = task.path().join("stat");
            // State R: running, or runnable and waiting for a core.
            if stat_field(&path.to_string_lossy(), 0).is_some_and(|state| state == "R") {
                return Some(false);
            }
        }
    }
    Some(true)
}

/// Has every thread of every process in `group` stopped (state T: a SIGSTOP taken), or ended?
/// A stop signal is taken on a thread's way back from the kernel: a call under way when it was
/// sent (an accept, a read) completes first. `None` where /proc cannot tell.
pub fn all_stopped(group: u32) -> Option<bool> {
    let pids = members(group);
    if pids.is_empty() {
        return None;
    }
    for pid in pids {
        let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else { continue };
        for task in tasks.filter_map(|task| task.ok()) {
            let path = task.path().join("stat");
            if stat_field(&path.to_string_lossy(), 0)
                .is_some_and(|state| !matches!(state.as_str(), "T" | "Z" | "X"))
            {
                return Some(false);
            }
        }
    }
    Some(true)
}

/// The CPU time (user and system) the processes of `group` have used so far; `None` where
/// /proc cannot tell. Counted in the kernel's clock ticks, 100 a second on Linux (USER_HZ).
pub fn cpu_time(group: u32) -> Option<std::time::Duration> {
    let pids = members(group);
    if pids.is_empty() {
        return None;
    }
    let ticks: u64 = pids
        .iter()
        .map(|pid| {
            let stat = format!("/proc/{pid}/stat");
            let field = |n| stat_field(&stat, n).and_then(|value| value.parse::<u64>().ok()).unwrap_or(0);
            field(11) + field(12)
        })
        .sum();
    Some(std::time::Duration::from_millis(ticks * 10))
}

/// The inodes of the sockets the processes of `group` hold open.
pub fn sockets(group: u32) -> HashSet<u64> {
    let mut inodes = HashSet::new();
    for pid in members(group) {
        let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else { continue };
        for fd in fds.filter_map(|fd| fd.ok()) {
            let Ok(target) = fs::read_link(fd.path()) else { continue };
            let target = target.to_string_lossy();
            if let Some(inode) = target.strip_prefix("socket:[").and_then(|rest| rest.strip_suffix(']')) {
                inodes.extend(inode.parse::<u64>().ok());
            }
        }
    }
    inodes
}

/// Field `n` of a /proc stat file, counted from the state (0) after the command name, which
/// may itself hold spaces and parentheses.
fn stat_field(path: &str, n: usize) -> Option<String> {
    let stat = fs::read_to_string(path).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(n).map(str::to_string)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Our own process is in our own group, holds the socket we open, and is running (this
    /// very thread).
    #[test]
    fn sees_our_own_group_its_sockets_and_a_running_thread() {
        let group = stat_field("/proc/self/stat", 2).unwrap().parse().unwrap();
        assert!(in_group(group).contains(&std::process::id()));
        assert_eq!(members(std::process::id())[0], std::process::id());
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let inode = std::fs::read_link(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&socket)))
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("socket:[")
            .trim_end_matches(']')
            .parse::<u64>()
            .unwrap();
        assert!(sockets(std::process::id()).contains(&inode));
        assert_eq!(all_waiting(std::process::id()), Some(false));
        let _ = group;
    }
}

/// Every process whose command line contains `text` (a folder a test made, say).
pub fn with_command_line_containing(text: &str) -> Vec<u32> {
    every_pid()
        .filter(|pid| {
            String::from_utf8_lossy(&fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default())
                .contains(text)
        })
        .collect()
}

/// Every process whose environment holds the entry `entry` (`NAME=value`, as a test marks
/// what it starts), with its command line.
pub fn with_environment_entry(entry: &str) -> Vec<(u32, String)> {
    with_environment(|var| var == entry.as_bytes())
}

/// Every process with an environment entry (`NAME=value`) that `matches`, with its command
/// line. A zombie's environment reads as empty: what has ended is not found.
pub fn with_environment(matches: impl Fn(&[u8]) -> bool) -> Vec<(u32, String)> {
    every_pid()
        .filter(|pid| {
            let environ = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            environ.split(|&byte| byte == 0).any(&matches)
        })
        .map(|pid| {
            let command = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            (pid, String::from_utf8_lossy(&command).replace('\0', " "))
        })
        .collect()
}
