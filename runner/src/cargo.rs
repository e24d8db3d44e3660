//! Finding a lab's binary: in the repository, ask cargo to build it and read the path from
//! cargo's own report (guessing `target/debug/NAME` would break under another target dir, and
//! could run a stale build); installed from the wheel, take the one it holds (installed.rs).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result, bail};

use crate::installed;

/// The workspace root: this crate lives in `runner/` beneath it.
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("runner/ has a parent directory")
}

/// Build binary `bin` of package `package` (once per process) and return its path.
pub fn binary(package: &str, bin: &str) -> Result<PathBuf> {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(path) = built.get(bin) {
        return Ok(path.clone());
    }
    // A folder where the binaries are built already: the suite's tests name theirs, so that
    // each `cargo lab` they start does not ask cargo again (and wait for its lock).
    if let Some(dir) = std::env::var_os("LAB_BINARIES") {
        let path = PathBuf::from(dir).join(bin);
        if path.is_file() {
            return Ok(path);
        }
    }
    let path = match installed::data() {
        Some(data) => installed::lab_binary(data, bin)?,
        None => build(package, bin)?,
    };
    built.insert(bin.to_string(), path.clone());
    Ok(path)
}

/// `cargo SUBCOMMAND --manifest-path <workspace>/Cargo.toml`, run by the same cargo that
/// started us (under `cargo run` and `cargo test`, CARGO names it).
pub fn command(subcommand: &str) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.arg(subcommand).arg("--manifest-path").arg(workspace_root().join("Cargo.toml"));
    command
}

fn build(package: &str, bin: &str) -> Result<PathBuf> {
    let output = command("build")
        .args(["--quiet", "--message-format=json-render-diagnostics"])
        .args(["--package", package, "--bin", bin])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running cargo build for {bin}"))?;
    if !output.status.success() {
        bail!("cargo could not build {bin} ({}); its errors are above", output.status);
    }
    let report = String::from_utf8_lossy(&output.stdout);
    executable_in(&report, bin)
        .with_context(|| format!("cargo built {bin} but its report names no executable for it"))
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
