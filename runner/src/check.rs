//! `cargo lab check NAME --server CMD`: a lab's scenarios against a student's server, in any
//! language. A line per scenario, the failure report under each failure, and a closing count.

use harness::scenario::{self, Outcome};
use harness::style::Style;
use harness::transcript::Transcript;
use harness::{Target, out};

/// `cargo lab check`: every scenario against the target, a line each, the transcript for each
/// failure. True when none failed.
pub fn check(target: &Target) -> bool {
    let lab = target.lab;
    let style = Style::for_stdout();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for scenario in lab.scenarios {
        let transcript = Transcript::new();
        match scenario::run(scenario, target, &transcript) {
            Outcome::Passed => {
                passed += 1;
                out!(
                    "{} {}{} — {}",
                    style.paint("32", "PASS"),
                    scenario.name,
                    scenario.tag(),
                    scenario.claim
                );
            }
            Outcome::Skipped(why) => {
                skipped += 1;
                out!("{} {}{} — {why}", style.paint("33", "SKIP"), scenario.name, scenario.tag());
            }
            Outcome::Failed(error) => {
                failed += 1;
                out!(
                    "{} {}{} — {}",
                    style.paint("31", "FAIL"),
                    scenario.name,
                    scenario.tag(),
                    scenario.claim
                );
                out!("{}\n", indent(&scenario::failure_report(lab, scenario, &error, &transcript)));
            }
        }
    }
    out!("\n{}: {passed} passed, {failed} failed, {skipped} skipped", lab.name);
    failed == 0
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("    {line}")).collect::<Vec<_>>().join("\n")
}
