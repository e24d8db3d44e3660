//! A lab's tests, generated from its one list of scenarios, and the assertions its other tests
//! use. A lab's `tests/scenarios.rs` is only
//!
//! ```text
//! fn main() -> ExitCode {
//!     harness::testing::main(&LAB, env!("CARGO_BIN_EXE_udp-echo"), env!("CARGO_MANIFEST_DIR"))
//! }
//! ```
//!
//! and runs, for each scenario, tests named after it (`cargo test two_clients_get_only_their_own_replies`
//! and nextest filters find them):
//!
//! - `NAME` (or `NAME::MODE`, once per kind of server): it holds for the lab's own server;
//! - `fails_against_its_bug::NAME`: it fails against the fixture started with `--bug BUG`;
//! - `a_correct_python_server_passes::NAME` (`::quiet`, `::threaded`, … for each way the
//!   fixture starts): the correct fixture passes it, so it holds any language to the wire.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use libtest_mimic::{Arguments, Failed, Trial};

use crate::scenario::{self, Lab, Outcome, Scenario};
use crate::session::{Session, Target};
use crate::transcript::Transcript;

/// Scenario tests mostly wait (on the network, on a deadline that must expire), so more of them
/// run at once than there are cores. `RUST_TEST_THREADS` or `--test-threads` say otherwise.
const THREADS: usize = 8;

/// The `main` of a lab's `tests/scenarios.rs` (a test target with `harness = false`).
pub fn main(lab: &'static Lab, binary: &str, lab_dir: &str) -> ExitCode {
    let mut args = Arguments::from_args();
    if args.test_threads.is_none() {
        let from_env = std::env::var("RUST_TEST_THREADS").ok().and_then(|n| n.parse().ok());
        args.test_threads = Some(from_env.unwrap_or(THREADS));
    }
    libtest_mimic::run(&args, trials(lab, binary, Path::new(lab_dir))).exit_code()
}

/// Every test of `lab`'s scenarios, named as the module doc says.
pub fn trials(lab: &'static Lab, binary: &str, lab_dir: &Path) -> Vec<Trial> {
    let mut trials = Vec::new();
    for scenario in lab.scenarios {
        for (suffix, mode) in reference_runs(lab, scenario) {
            let target = Target::reference(lab, binary).with_server_args(&mode);
            trials.push(trial(format!("{}{suffix}", scenario.name), move || passes(scenario, &target)));
        }
    }
    for scenario in lab.scenarios {
        let target = fixture(lab, binary, lab_dir, &format!("--bug {}", scenario.bug));
        trials.push(trial(format!("fails_against_its_bug::{}", scenario.name), move || {
            let report = expect_failure(scenario, &target)?;
            for part in ["what failed:", "transcript"] {
                if !report.contains(part) {
                    return Err(anyhow!("the failure report has no `{part}`:\n{report}"));
                }
            }
            Ok(())
        }));
    }
    for start in lab.fixture.passes_with {
        let suffix = match start.rsplit(' ').next().unwrap_or("").trim_start_matches('-') {
            "" => String::new(),
            word => format!("::{word}"),
        };
        for scenario in lab.scenarios {
            let target = fixture(lab, binary, lab_dir, start);
            let name = format!("a_correct_python_server_passes::{}{suffix}", scenario.name);
            trials.push(trial(name, move || passes(scenario, &target)));
        }
    }
    trials
}

/// The runs of `scenario` against the lab's own server: one, or one per kind of server, each
/// with its `--mode` and a test-name suffix.
fn reference_runs(lab: &Lab, scenario: &Scenario) -> Vec<(String, Vec<&'static str>)> {
    match (scenario.mode, lab.modes) {
        (Some(mode), _) => vec![(String::new(), vec!["--mode", mode])],
        (None, []) => vec![(String::new(), Vec::new())],
        (None, modes) => modes.iter().map(|&mode| (format!("::{mode}"), vec!["--mode", mode])).collect(),
    }
}

fn trial(name: String, test: impl FnOnce() -> Result<()> + Send + 'static) -> Trial {
    Trial::test(name, move || test().map_err(|error| Failed::from(format!("{error:#}"))))
}

/// The lab's Python fixture, started with `extra` flags: see [`crate::scenario::Fixture`].
pub fn fixture(lab: &'static Lab, binary: &str, lab_dir: &Path, extra: &str) -> Target {
    Target::python(lab, binary, &lab_dir.join(lab.fixture.script), extra)
}

/// `scenario` must pass against `target`: not fail, not be skipped.
pub fn passes(scenario: &Scenario, target: &Target) -> Result<()> {
    let transcript = Transcript::new();
    match scenario::run(scenario, target, &transcript) {
        Outcome::Passed => Ok(()),
        Outcome::Failed(error) => {
            Err(anyhow!("\n{}", scenario::failure_report(target.lab, scenario, &error, &transcript)))
        }
        Outcome::Skipped(why) => Err(anyhow!("{} was skipped: {why}", scenario.name)),
    }
}

/// For the tests that prove a scenario bites: it must fail against `target`. Returns the
/// failure report, so the test can check that it shows the fault.
pub fn expect_failure(scenario: &Scenario, target: &Target) -> Result<String> {
    let transcript = Transcript::new();
    match scenario::run(scenario, target, &transcript) {
        Outcome::Failed(error) => Ok(scenario::failure_report(target.lab, scenario, &error, &transcript)),
        Outcome::Passed => Err(anyhow!(
            "scenario {} passed against `{:?}`, which it should have caught:\n{}",
            scenario.name,
            target.server,
            transcript.render()
        )),
        Outcome::Skipped(why) => Err(anyhow!("scenario {} was skipped: {why}", scenario.name)),
    }
}

/// For a lab's own tests of what is not a conformance scenario (a flag, the client): `check`
/// must hold against `target`, or the test fails with the transcript.
pub fn assert_holds(target: &Target, check: impl FnOnce(&mut Session) -> Result<()>) {
    let transcript = Transcript::new();
    if let Err(error) = check(&mut Session::new(target, &transcript)) {
        panic!("\n{error:#}\n\ntranscript:\n{}", transcript.render());
    }
}
