//! Every lab's scenario tests, generated from each lab's one list of scenarios, and the
//! assertions the labs' other tests use. The suite's `tests/scenarios.rs` is only
//!
//! ```text
//! fn main() -> ExitCode {
//!     harness::testing::main(harness::labs::ALL, ROOT, |lab| BUILD THE LAB'S BINARY, MORE_TESTS)
//! }
//! ```
//!
//! and runs, for each scenario of each lab, tests named after it (`cargo test
//! two_clients_get_only_their_own_replies` and nextest filters find them):
//!
//! - `LAB::NAME` (or `LAB::NAME::MODE`, once per kind of server): it holds for the lab's own
//!   server;
//! - `LAB::fails_against_its_bug::NAME`: it fails against the fixture started with `--bug BUG`,
//!   and the failure report shows the scenario's hint;
//! - `LAB::a_correct_python_server_passes::NAME` (`::quiet`, `::threaded`, … for each way the
//!   fixture starts): the correct fixture passes it, so it holds any language to the wire;
//! - `LAB::REPORT`: a failure report shows the fault itself, and its first line names the
//!   mistake (see [`crate::scenario::Report`]).
//!
//! They are one test binary, not one per lab, because most of them wait (on the network, on a
//! deadline that must expire): side by side, a whole lab's waits cost no more than one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Result, anyhow};
pub use libtest_mimic::Trial;
use libtest_mimic::{Arguments, Failed};

use crate::scenario::{self, Hints, Lab, Outcome, Scenario};
use crate::session::{Session, Target};
use crate::transcript::Transcript;

/// Scenario tests mostly wait, so many run at once. `RUST_TEST_THREADS` or `--test-threads`
/// say otherwise.
const THREADS: usize = 32;

/// Finds (building it if need be) a lab's own binary.
pub type Binary = Arc<dyn Fn(&Lab) -> Result<PathBuf> + Send + Sync>;

/// The `main` of the suite's `tests/scenarios.rs` (a test target with `harness = false`):
/// `root` is the workspace, where each lab's folder is `labs/NAME`.
pub fn main(
    labs: &[&'static Lab],
    root: &Path,
    binary: impl Fn(&Lab) -> Result<PathBuf> + Send + Sync + 'static,
    extra: Vec<Trial>,
) -> ExitCode {
    let mut args = Arguments::from_args();
    if args.test_threads.is_none() {
        args.test_threads = Some(THREADS);
    }
    let binary: Binary = Arc::new(binary);
    let mut trials = extra;
    for lab in labs {
        trials.extend(lab_trials(lab, &root.join("labs").join(lab.name), &binary));
    }
    // The tests that wait out a deadline first (a bug caught, a failure report shown, a
    // starter checked), so that the others run while they wait.
    let reports: Vec<String> = labs
        .iter()
        .flat_map(|lab| {
            lab.fixture.reports.iter().map(move |report| format!("{}::{}", lab.name, report.name))
        })
        .collect();
    trials.sort_by_key(|trial| {
        !(trial.name().contains("::fails_against_its_bug::")
            || trial.name().contains("::starter::")
            || reports.iter().any(|name| name == trial.name()))
    });
    libtest_mimic::run(&args, trials).exit_code()
}

/// Every test of `lab`'s scenarios, named as the module doc says.
pub fn lab_trials(lab: &'static Lab, lab_dir: &Path, binary: &Binary) -> Vec<Trial> {
    let mut trials = Vec::new();
    let name = |rest: String| format!("{}::{rest}", lab.name);
    for scenario in lab.scenarios {
        for (suffix, mode) in reference_runs(lab, scenario) {
            let binary = binary.clone();
            trials.push(trial(name(format!("{}{suffix}", scenario.name)), move || {
                let target = Target::reference(lab, binary(lab)?).with_server_args(&mode);
                passes(scenario, &target)
            }));
        }
    }
    for scenario in lab.scenarios {
        let (binary, dir) = (binary.clone(), lab_dir.to_path_buf());
        trials.push(trial(name(format!("fails_against_its_bug::{}", scenario.name)), move || {
            let target = fixture(lab, &binary(lab)?, &dir, &format!("--bug {}", scenario.bug));
            let report = expect_failure(scenario, &target)?;
            let hint = format!("hint: {}", scenario.hint);
            for part in ["what failed:", &hint, "transcript"] {
                if !report.contains(part) {
                    return Err(anyhow!("the failure report has no `{part}`:\n{report}"));
                }
            }
            Ok(())
        }));
    }
    for report in lab.fixture.reports {
        let (binary, dir) = (binary.clone(), lab_dir.to_path_buf());
        trials.push(trial(name(report.name.to_string()), move || {
            let target = fixture(lab, &binary(lab)?, &dir, &format!("--bug {}", report.bug));
            let scenario = lab.scenarios.iter().find(|s| s.name == report.scenario).ok_or_else(|| {
                anyhow!("the report names {}, which is not one of {}'s scenarios", report.scenario, lab.name)
            })?;
            let text = expect_failure(scenario, &target)?;
            for any in report.shows {
                if !any.iter().any(|shown| text.contains(shown)) {
                    return Err(anyhow!("the failure report does not show {any:?}:\n{text}"));
                }
            }
            let first = text.lines().next().unwrap_or("");
            if !report.leads_with.is_empty() && !report.leads_with.iter().any(|lead| first.contains(lead)) {
                return Err(anyhow!(
                    "the failure report's first line does not name the mistake ({:?}):\n{text}",
                    report.leads_with
                ));
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
            let (binary, dir) = (binary.clone(), lab_dir.to_path_buf());
            let test = name(format!("a_correct_python_server_passes::{}{suffix}", scenario.name));
            trials.push(trial(test, move || passes(scenario, &fixture(lab, &binary(lab)?, &dir, start))));
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

/// A test named `name`: an error fails it, with the error's whole chain as the message. No
/// process it starts outlives it (see [`crate::guard`]).
pub fn trial(name: String, test: impl FnOnce() -> Result<()> + Send + 'static) -> Trial {
    Trial::test(name, move || {
        crate::guard::scoped(|| test().map_err(|error| format!("{error:#}"))).map_err(Failed::from)
    })
}

/// The lab's Python fixture, started with `extra` flags: see [`crate::scenario::Fixture`].
pub fn fixture(lab: &'static Lab, binary: &Path, lab_dir: &Path, extra: &str) -> Target {
    Target::python(lab, binary, &lab_dir.join(lab.fixture.script), extra)
}

/// `scenario` must pass against `target`: not fail, not be skipped.
pub fn passes(scenario: &Scenario, target: &Target) -> Result<()> {
    let transcript = Transcript::new();
    match scenario::run(scenario, target, &transcript) {
        Outcome::Passed => Ok(()),
        Outcome::Failed(error) => Err(anyhow!(
            "\n{}",
            scenario::failure_report(target.lab, scenario, &error, &transcript, Hints::Shown)
        )),
        Outcome::Skipped(why) => Err(anyhow!("{} was skipped: {why}", scenario.name)),
    }
}

/// For the tests that prove a scenario bites: it must fail against `target`. Returns the
/// failure report, so the test can check that it shows the fault.
pub fn expect_failure(scenario: &Scenario, target: &Target) -> Result<String> {
    let transcript = Transcript::new();
    // A failure is what this expects: no need to wait longer for it on a busy machine.
    match crate::wait::with_stretch(false, || scenario::run(scenario, target, &transcript)) {
        Outcome::Failed(error) => {
            Ok(scenario::failure_report(target.lab, scenario, &error, &transcript, Hints::Shown))
        }
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
