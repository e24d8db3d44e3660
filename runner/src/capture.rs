//! A capture of a real run for a chapter (`cargo lab docs`): one scenario of the lab's own
//! server, run with `check --pcap`'s capture, and each frame as tshark's one-line summary says
//! it, with who sent it to whom from the capture's comments. Needs tshark (Wireshark's reader).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use harness::scenario::Outcome;
use harness::{Lab, Target};

use crate::check;

/// The chapters that show a capture, and the scenario each shows.
pub const CHAPTERS: &[(&str, &str)] = &[("tcp-states", "the_side_that_closes_first_waits_in_time_wait")];

/// The capture block of `lab`'s chapter, from a run of its scenario against `binary`'s server;
/// `None` for a chapter that shows none.
pub fn chapter_block(lab: &'static Lab, binary: &Path) -> Result<Option<String>> {
    let Some(&(_, name)) = CHAPTERS.iter().find(|(chapter, _)| *chapter == lab.name) else { return Ok(None) };
    harness::capture::probe().map_err(anyhow::Error::msg)?;
    let scenario = lab
        .scenarios
        .iter()
        .find(|s| s.name == name)
        .with_context(|| format!("{} has no {name}", lab.name))?;
    let dir = std::env::temp_dir().join(format!("socket-labs-capture-{}", std::process::id()));
    let options = check::Options { jobs: 1, pcap: Some(dir.clone()), ..check::Options::default() };
    let mut passed = false;
    check::run_all(&Target::reference(lab, binary), &[scenario], &options, |event| {
        if let check::Event::Finished(ran) = event {
            passed = matches!(ran.outcome, Outcome::Passed);
        }
    });
    let lines = summary(&dir.join(format!("{name}.pcapng")));
    let _ = std::fs::remove_dir_all(&dir);
    ensure!(passed, "{name} did not pass against the lab's own server");
    let lines = lines?;
    let heading =
        format!("# {name}.pcapng: frame, seconds, who to whom (the capture's comments), tshark's summary");
    Ok(Some(format!("```text\n{heading}\n{lines}```")))
}

/// Each frame of `file` on a line: its number, its time, who sent it to whom, and tshark's
/// summary (ports, flags, sequence numbers).
pub fn summary(file: &Path) -> Result<String> {
    let output = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-T", "fields", "-E", "separator=|"])
        .args([
            "-e",
            "frame.number",
            "-e",
            "frame.time_relative",
            "-e",
            "frame.comment",
            "-e",
            "_ws.col.Info",
        ])
        .output()
        .context("running tshark (Debian and Ubuntu: apt-get install tshark)")?;
    if !output.status.success() {
        bail!("tshark could not read {}: {}", file.display(), String::from_utf8_lossy(&output.stderr).trim());
    }
    let mut lines = String::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let fields: Vec<&str> = line.splitn(4, '|').collect();
        let [number, time, who, info] = fields[..] else { continue };
        let time: f64 = time.parse().unwrap_or_default();
        lines.push_str(&format!("{number:>3} {time:.6}  {who:<16} {info}\n"));
    }
    Ok(lines)
}
