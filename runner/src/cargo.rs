//! Finding a lab's binary: in the repository, ask cargo to build it and read the path from
//! cargo's own report (guessing `target/debug/NAME` would break under another target dir, and
//! could run a stale build); installed from the wheel, take the one it holds (installed.rs).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result, bail};

use crate::installed;

/// The workspace root: this crate lives in `runner/` beneath it.
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("runner/ has a parent directory")
}

/// Build binary `bin` of package `package` and return its path. Every binary of the
/// workspace is built at the first call (one cargo run, not one per lab: the suite's tests ask
/// for every lab at once, and cargo runs one build at a time), and found in that build's report
/// afterwards.
pub fn binary(package: &str, bin: &str) -> Result<PathBuf> {
    // A folder where the binaries are built already: the suite's tests name theirs, so that
    // each `cargo lab` they start does not ask cargo again (and wait for its lock).
    if let Some(dir) = std::env::var_os("LAB_BINARIES") {
        let path = PathBuf::from(dir).join(bin);
        if path.is_file() {
            return Ok(path);
        }
    }
    if let Some(data) = installed::data() {
        return installed::lab_binary(data, bin);
    }
    static BUILT: OnceLock<Mutex<Option<String>>> = OnceLock::new();
    let mut built =
        BUILT.get_or_init(Default::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if built.is_none() {
        *built = Some(match std::env::var("NEXTEST_RUN_ID") {
            Ok(run) => built_for_run(&run)?,
            Err(_) => build_report(&["--workspace", "--bins"], "the labs")?,
        });
    }
    let report = built.as_deref().expect("built above");
    executable_in(report, bin).with_context(|| format!("the build of {package} names no executable {bin}"))
}

/// Under nextest, every test is a process of its own, and each would ask cargo again (one at a
/// time: cargo holds a lock), hundreds of times a run. The first to ask builds and writes down
/// cargo's report for the rest of the run (nextest gives each run an id); the others wait for
/// it on a file lock, then read it.
fn built_for_run(run: &str) -> Result<String> {
    let place = std::env::temp_dir().join(format!("socket-labs-binaries-{run}"));
    let lock = std::fs::File::create(place.with_extension("lock")).context("making the build's lock file")?;
    lock.lock().context("waiting for the build's lock")?;
    let record = place.with_extension("json");
    if let Ok(report) = std::fs::read_to_string(&record) {
        return Ok(report);
    }
    let report = build_report(&["--workspace", "--bins"], "the labs")?;
    std::fs::write(&record, &report).context("writing down where the binaries are")?;
    Ok(report)
}

/// `cargo SUBCOMMAND --manifest-path <workspace>/Cargo.toml`, run by the same cargo that
/// started us (under `cargo run` and `cargo test`, CARGO names it).
pub fn command(subcommand: &str) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.arg(subcommand).arg("--manifest-path").arg(workspace_root().join("Cargo.toml"));
    command
}

/// `cargo build ARGS`, and cargo's report of what it built (a JSON message a line).
fn build_report(args: &[&str], what: &str) -> Result<String> {
    let output = command("build")
        .args(["--quiet", "--message-format=json-render-diagnostics"])
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running cargo build for {what}"))?;
    if !output.status.success() {
        bail!("cargo could not build {what} ({}); its errors are above", output.status);
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Cargo prints one JSON message a line; a `compiler-artifact` for our binary carries the
/// `executable` path.
pub(crate) fn executable_in(report: &str, bin: &str) -> Option<PathBuf> {
    report.lines().filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok()).find_map(
        |message| {
            let is_ours = message["reason"] == "compiler-artifact" && message["target"]["name"] == bin;
            let path = message["executable"].as_str()?;
            is_ours.then(|| PathBuf::from(path))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_executable_in_cargo_messages() {
        let report = r#"{"reason":"compiler-artifact","target":{"name":"anyhow"},"executable":null}
{"reason":"compiler-artifact","target":{"name":"udp-echo"},"executable":"/t/debug/udp-echo"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(executable_in(report, "udp-echo"), Some(PathBuf::from("/t/debug/udp-echo")));
        assert_eq!(executable_in(report, "upper"), None);
    }
}
