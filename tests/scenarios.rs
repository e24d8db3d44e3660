//! Every lab's scenarios as tests, generated from each lab's one list of them in
//! harness/src/labs/ (where `cargo lab check` and the demos find them too): each holds for the
//! lab's own server, fails against the fixture bug it exists to catch, and passes against the
//! correct Python fixture. See harness/src/testing.rs for the tests' names.
//!
//! Here too, because they wait as much, and side by side their waits overlap:
//! `LAB::starter::LANG`, each lab's starter in each language, written by `cargo lab new` and
//! run through the checker; `runner::NAME`, the runner as a user drives it (tests/suite/runner.rs);
//! `grade::NAME`, the teacher's side (tests/suite/grade.rs); `capture::NAME`, `check --pcap` read
//! back with tshark (tests/suite/capture.rs).

#[path = "suite/capture.rs"]
mod capture;
#[path = "suite/grade.rs"]
mod grade;
#[path = "suite/runner.rs"]
mod runner_tests;

use std::process::ExitCode;

use anyhow::{Result, anyhow, ensure};
use harness::scenario::{self, Hints, Outcome};
use harness::testing::trial;
use harness::{Lab, Target, labs};
use runner::check::{self, Ran};
use runner::new::{self, Lang};

fn main() -> ExitCode {
    let mut starters = Vec::new();
    for &lab in labs::ALL {
        for lang in [Lang::Python, Lang::Rust] {
            if new::starter(lab, lang).is_some() {
                let name = format!("{}::starter::{}", lab.name, lang.name().to_lowercase());
                starters.push(trial(name, move || the_starter_runs(lab, lang)));
            }
        }
    }
    starters.extend(runner_tests::trials());
    starters.extend(grade::trials(std::env::args().any(|arg| arg == "--list")));
    starters.extend(capture::trials(std::env::args().any(|arg| arg == "--list")));
    harness::testing::main(labs::ALL, runner::cargo::workspace_root(), binary, starters)
}

/// The Rust starter as `cargo lab new` writes it, but in a folder kept between runs, where a
/// file is written only when it changed (so its time stays put): cargo then builds it again
/// only when the starter changed, not on every run of the suite. (`new` puts the folder's own
/// path into the starter's comments; the repository's text is the same code.)
fn kept_for_builds(lab: &Lab) -> Result<new::Commands> {
    let kept =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("starters").join(format!("my-{}", lab.name));
    for (file, text) in new::starter(lab, Lang::Rust).ok_or_else(|| anyhow!("no Rust starter"))? {
        let path = kept.join(file);
        if std::fs::read(&path).ok().as_deref() != Some(text.as_bytes()) {
            std::fs::create_dir_all(path.parent().expect("a file is in a folder"))?;
            std::fs::write(&path, text)?;
        }
    }
    Ok(new::Commands::new(lab, &kept, Lang::Rust))
}

fn binary(lab: &Lab) -> Result<std::path::PathBuf> {
    runner::cargo::binary(lab.name, lab.name)
}

/// The starter `cargo lab new` writes is what the checker expects, as it stands: it builds,
/// every scenario finds it ready on the port it was given, it takes every flag a scenario passes (none is
/// skipped, none fails on a usage error), and its first failure (it is a starter: something
/// fails) carries that scenario's hint.
fn the_starter_runs(lab: &'static Lab, lang: Lang) -> Result<()> {
    let place = tempfile::tempdir()?;
    let mut commands = new::create(lab, &place.path().join(format!("my-{}", lab.name)), lang)?;
    if lang == Lang::Rust {
        commands = kept_for_builds(lab)?;
    }
    if let Some(build) = &commands.build
        && let Some(failed) = runner::build::run(build)?
    {
        return Err(anyhow!("the starter does not build:\n{}", failed.report()));
    }
    // The interpreter itself, not a version manager's shim on PATH: a shim's shell script
    // costs each start more than the starter does.
    let python = harness::process::quote(harness::session::python3());
    let server = match commands.server.strip_prefix("python3 ") {
        Some(rest) => format!("{python} {rest}"),
        None => commands.server.clone(),
    };
    let target = Target::command(lab, binary(lab)?, &server);
    let scenarios: Vec<_> = lab.scenarios.iter().collect();
    let options = check::Options { jobs: scenarios.len(), hints: Hints::Shown, ..check::Options::default() };
    let mut ran: Vec<Ran> = Vec::new();
    // A starter fails (that is what this expects): its waits need not stretch on a busy machine.
    harness::wait::with_stretch(false, || {
        check::run_all(&target, &scenarios, &options, |event| {
            if let check::Event::Finished(result) = event {
                ran.push(result);
            }
        })
    });
    let mut first = None;
    for ran in &ran {
        match &ran.outcome {
            Outcome::Skipped(why) => return Err(anyhow!("{} was skipped: {why}", ran.scenario.name)),
            Outcome::Failed(error) => {
                let report =
                    scenario::failure_report(lab, ran.scenario, error, &ran.transcript, Hints::Shown);
                for not_ready in [
                    "printed no ready line",
                    "before printing",
                    "neither printed a ready line",
                    "but it was given port",
                    "unrecognized arguments",
                    "usage:",
                ] {
                    // A start given up because another program took the port, and tried
                    // again on another, is the checker's doing, not the starter's.
                    let what: String = report
                        .lines()
                        .filter(|line| !line.contains("; trying another)"))
                        .collect::<Vec<_>>()
                        .join("\n")
                        .to_lowercase();
                    ensure!(!what.contains(not_ready), "{} failed at start-up:\n{report}", ran.scenario.name);
                }
                first.get_or_insert((ran.scenario, report));
            }
            Outcome::Passed => {}
        }
    }
    let (scenario, report) =
        first.ok_or_else(|| anyhow!("the starter passes every scenario: it gives the lab away"))?;
    ensure!(
        report.contains(&format!("hint: {}", scenario.hint)),
        "the first failure, {}, does not carry its hint:\n{report}",
        scenario.name
    );
    Ok(())
}
