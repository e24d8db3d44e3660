//! What the labs' benchmarks share: a C reference server built with the system's `cc`, the
//! machine's size and load printed beside the figures, a server's CPU time, and the median of
//! alternating rounds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// Compile one C file with the system's `cc` (`-O2`) into `out_dir`, and return the program.
/// The error says why there is none (no `cc`, or it failed), so the bench can say which
/// figure is missing and go on without it.
pub fn compile_c(source: &Path, out_dir: &Path) -> Result<PathBuf> {
    let name = source.file_stem().context("a C source file has a name")?;
    let program = out_dir.join(name);
    let output = Command::new("cc")
        .arg("-O2")
        .arg("-o")
        .arg(&program)
        .arg(source)
        .output()
        .context("running cc (is a C compiler installed?)")?;
    if !output.status.success() {
        bail!("cc {} failed: {}", source.display(), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(program)
}

/// "2 cores, load average 1.52 0.98 0.61": what the figures were measured on and beside.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "not known".to_string());
    format!("{cores} cores, load average {load}")
}

/// The middle value (the mean of the two middle ones for an even count); NaN for none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The CPU time a server's threads use from now on: on a machine shared with other work, a
/// server's wall-clock rate says as much about the others as about the server, and the CPU
/// time it used for the same work does not.
///
/// Read from Linux's /proc/PID/task/*/schedstat (the first field: nanoseconds on a CPU), a
/// thread at a time, so that a thread born meanwhile counts from 0 and one that ended meanwhile
/// (its last moments are lost) does not subtract. `None` where there is no such file.
pub struct CpuClock {
    pid: u32,
    start: HashMap<String, u64>,
}

impl CpuClock {
    pub fn start(pid: u32) -> Option<CpuClock> {
        Some(CpuClock { pid, start: thread_times(pid)? })
    }

    pub fn elapsed(&self) -> Option<Duration> {
        let now = thread_times(self.pid)?;
        let nanos = now.iter().map(|(tid, &ns)| ns.saturating_sub(*self.start.get(tid).unwrap_or(&0))).sum();
        Some(Duration::from_nanos(nanos))
    }
}

/// Nanoseconds on a CPU so far, by thread id.
fn thread_times(pid: u32) -> Option<HashMap<String, u64>> {
    let mut times = HashMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        // A thread may end between the listing and the read: it simply is not counted.
        if let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) {
            let nanos = stat.split_whitespace().next()?.parse().ok()?;
            times.insert(task.file_name().to_string_lossy().into_owned(), nanos);
        }
    }
    Some(times)
}
