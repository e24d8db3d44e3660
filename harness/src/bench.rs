//! What the labs' benchmarks share: a C reference server built with the system's `cc`, the
//! machine's size and load printed beside the figures, and the median of alternating rounds.

use std::path::{Path, PathBuf};
use std::process::Command;

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
