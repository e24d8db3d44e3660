//! One submission's results as data, for the tools schools grade with: `check --format
//! json|junit|gradescope` writes one, `grade` gathers a class of them. Each format is written
//! by a serializer (serde_json, quick-xml), never by hand.
//!
//! - [`run`]: a lab's scenarios against one server, each with a time limit, into a
//!   [`Submission`].
//! - [`Points`]: each scenario's weight (1 unless a points file says otherwise).
//! - [`junit`], [`gradescope`], [`table`]: the formats.

pub mod gradescope;
pub mod html;
pub mod index;
pub mod junit;
pub mod table;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use harness::Target;
use harness::scenario::{self, Hints, Lab, Outcome, Scenario};
use serde::{Deserialize, Serialize};

use crate::check::{self, Options};

/// How `check` reports: text for a person, the rest for a tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A line per scenario, the failure report under each failure (the default).
    Text,
    /// Every scenario's result, with its points and report, as JSON.
    Json,
    /// JUnit XML, for CI systems.
    Junit,
    /// Gradescope's results.json.
    Gradescope,
    /// One self-contained web page: each scenario's exchange drawn as a sequence diagram,
    /// beside the lab's own server's where it failed.
    Html,
}

/// One submission (one server) checked against a lab's scenarios.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Submission {
    /// The submission's name (its entry in the submissions folder), or the server command.
    pub name: String,
    pub lab: String,
    /// The server command the scenarios ran.
    pub server: String,
    /// Why no scenario could run (the server never started, the submission ran out of time):
    /// said once here, and each scenario fails with a pointer to it.
    pub problem: Option<String>,
    pub scenarios: Vec<ScenarioResult>,
    pub seconds: f64,
    /// The spec's rules that no scenario proves and the server did not keep (its ready line
    /// not first, a bind to every interface, a second port): `check --strict` fails on them.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// One scenario's result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ScenarioResult {
    pub name: String,
    pub claim: String,
    pub status: Status,
    pub points: f64,
    pub max_points: f64,
    pub seconds: f64,
    /// For a failure, the report a student reads (claim, what failed, hint, transcript); for a
    /// skip, why; for a pass, nothing.
    pub report: String,
    /// The run's exchange as a Mermaid sequence diagram, repeats folded (for the HTML report;
    /// empty in a report from before it, or where the scenario did not run).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub diagram: String,
    /// For a failure, what the server did wrong in a line, when the checker could tell.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub diagnosis: String,
    /// For a failure, where to look (empty with --no-hints).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hint: String,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        }
    }
}

impl Submission {
    pub fn points(&self) -> f64 {
        self.scenarios.iter().map(|s| s.points).sum()
    }

    pub fn max_points(&self) -> f64 {
        self.scenarios.iter().map(|s| s.max_points).sum()
    }

    pub fn count(&self, status: Status) -> usize {
        self.scenarios.iter().filter(|s| s.status == status).count()
    }

    /// Every scenario passed: none failed, none was skipped (a skip is not a pass).
    pub fn all_passed(&self) -> bool {
        self.problem.is_none() && self.count(Status::Fail) == 0 && self.count(Status::Skip) == 0
    }

    /// "5 passed, 2 failed, 0 skipped; 5 of 7 points".
    pub fn summary(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped; {} of {} points",
            self.count(Status::Pass),
            self.count(Status::Fail),
            self.count(Status::Skip),
            number(self.points()),
            number(self.max_points())
        )
    }

    /// The whole report as text, as `check` prints it: a line per scenario, each failure's
    /// report under it, and the summary.
    pub fn text(&self) -> String {
        let mut text = format!("{}: {} against {}'s scenarios\n", self.name, self.server, self.lab);
        if let Some(problem) = &self.problem {
            text.push_str(&format!("\nFAIL before any scenario: {problem}\n"));
        }
        for warning in &self.warnings {
            text.push_str(&format!("warning: {warning}\n"));
        }
        text.push('\n');
        for scenario in &self.scenarios {
            let status = scenario.status.word().to_uppercase();
            match scenario.status {
                Status::Pass => text.push_str(&format!("{status} {} — {}\n", scenario.name, scenario.claim)),
                Status::Skip => text.push_str(&format!("{status} {} — {}\n", scenario.name, scenario.report)),
                Status::Fail => {
                    text.push_str(&format!("{status} {} — {}\n", scenario.name, scenario.claim));
                    for line in scenario.report.lines() {
                        text.push_str(&format!("    {line}\n"));
                    }
                    text.push('\n');
                }
            }
        }
        text.push_str(&format!("\n{}: {} in {:.2}s\n", self.lab, self.summary(), self.seconds));
        text
    }
}

/// A submission's problem in one line, for a table's cell: its first line and, when the
/// server said why it ended (its stderr, in the transcript under it), that too. "the server
/// did not start: … its stderr is in the transcript" alone sends the teacher to the report
/// for `ValueError: '--prot' is not in list`.
pub fn problem_line(problem: &str) -> String {
    let first = problem.lines().next().unwrap_or("");
    let stderr: Vec<String> = problem
        .lines()
        .filter_map(|line| line.split_once(" stderr> "))
        .map(|(_, said)| said.to_string())
        .collect();
    match (harness::diagnosis::last_words(&stderr), stderr.last()) {
        (Some(words), _) => format!("{first} — {}", words.line),
        (None, Some(last)) => format!("{first} — its last words: {last}"),
        (None, None) => first.to_string(),
    }
}

/// 1, 0.5, 2.25: a number of points without a trailing ".0".
pub fn number(points: f64) -> String {
    format!("{}", (points * 100.0).round() / 100.0)
}

/// Each scenario's weight: 1 unless the points file names it.
#[derive(Clone, Debug, Default)]
pub struct Points(BTreeMap<String, f64>);

impl Points {
    /// A points file: one `scenario_name = points` a line; `#` starts a comment. A name that
    /// is not one of the lab's scenarios is an error that lists them.
    pub fn read(path: &Path, lab: &Lab) -> Result<Points> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Points::parse(&text, lab).with_context(|| format!("in the points file {}", path.display()))
    }

    pub fn parse(text: &str, lab: &Lab) -> Result<Points> {
        let mut points = BTreeMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let Some((name, value)) = line.split_once('=') else {
                bail!("line {}: {line:?} is not `scenario_name = points`", number + 1);
            };
            let (name, value) = (name.trim(), value.trim());
            if !lab.scenarios.iter().any(|s| s.name == name) {
                let names: Vec<&str> = lab.scenarios.iter().map(|s| s.name).collect();
                bail!(
                    "line {}: {} has no scenario named {name:?}; its scenarios are:\n  {}",
                    number + 1,
                    lab.name,
                    names.join("\n  ")
                );
            }
            let value: f64 = value
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .with_context(|| format!("line {}: {value:?} is not a number of points", number + 1))?;
            points.insert(name.to_string(), value);
        }
        Ok(Points(points))
    }

    pub fn of(&self, scenario: &str) -> f64 {
        self.0.get(scenario).copied().unwrap_or(1.0)
    }
}

/// Run `target`'s scenarios (those `options` select; `fail_fast` is refused: it is the text
/// format's alone), `options.jobs` at a time, each within `options.time_limit`, into a
/// [`Submission`] named `name`. A server that never starts is found
/// by one start before the scenarios, and reported once.
pub fn run(name: &str, target: &Target, options: &Options, points: &Points) -> Result<Submission> {
    let lab = target.lab;
    if options.fail_fast {
        bail!("--fail-fast goes with the text format: a report for a tool holds every scenario");
    }
    let scenarios = check::selected(target, options)?;
    let server = match &target.server {
        harness::session::Server::Command(command) => command.clone(),
        harness::session::Server::Reference => format!("{}'s own server", lab.name),
    };
    let started = Instant::now();
    let first = check::first_start(target);
    if let Some(problem) = first.problem {
        let mut said = problem.headline.clone();
        if let Some(transcript) = &problem.transcript {
            said.push_str(&format!("\n\ntranscript (times from the start):\n{transcript}"));
        }
        let not_run = "not run: the server could not be checked at all (see the problem above)";
        return Ok(Submission {
            name: name.to_string(),
            lab: lab.name.to_string(),
            server,
            problem: Some(said),
            scenarios: scenarios
                .iter()
                .map(|s| Results::result(s, points, Status::Fail, 0.0, not_run.to_string()))
                .collect(),
            seconds: started.elapsed().as_secs_f64(),
            warnings: Vec::new(),
        });
    }
    let mut results = Results::new(lab, points, options.hints);
    check::run_all(target, &scenarios, options, |event| results.on(&event));
    Ok(Submission {
        name: name.to_string(),
        lab: lab.name.to_string(),
        server,
        problem: None,
        scenarios: results.scenarios,
        seconds: started.elapsed().as_secs_f64(),
        warnings: first.warnings,
    })
}

/// Each scenario's result, gathered from a run's events: the one reader [`run`] and `check
/// --html` (beside the text) share.
pub struct Results<'a> {
    lab: &'static Lab,
    points: &'a Points,
    hints: Hints,
    pub scenarios: Vec<ScenarioResult>,
}

impl<'a> Results<'a> {
    pub fn new(lab: &'static Lab, points: &'a Points, hints: Hints) -> Results<'a> {
        Results { lab, points, hints, scenarios: Vec::new() }
    }

    /// Read one event of the run: a finished or not-run scenario becomes its result.
    pub fn on(&mut self, event: &check::Event) {
        let ran = match event {
            check::Event::Finished(ran) => ran,
            check::Event::Started(_) => return,
            check::Event::NotRun(scenario) => {
                let result = Results::result(scenario, self.points, Status::Skip, 0.0, "not run".to_string());
                self.scenarios.push(result);
                return;
            }
        };
        let (scenario, seconds) = (ran.scenario, ran.took.as_secs_f64());
        let mut result = match &ran.outcome {
            Outcome::Passed => Results::result(scenario, self.points, Status::Pass, seconds, String::new()),
            Outcome::Skipped(why) => {
                Results::result(scenario, self.points, Status::Skip, seconds, why.clone())
            }
            Outcome::Failed(error) => {
                let report = scenario::failure_report(self.lab, scenario, error, &ran.transcript, self.hints);
                let mut result = Results::result(scenario, self.points, Status::Fail, seconds, report);
                result.diagnosis =
                    ran.diagnosis.as_ref().map(|found| found.headline.clone()).unwrap_or_default();
                if self.hints == Hints::Shown {
                    result.hint = scenario.hint.to_string();
                }
                result
            }
        };
        if !matches!(ran.outcome, Outcome::Skipped(_)) {
            result.diagram = crate::diagram::sequence_folded(&[(scenario.claim, ran.transcript.events())]);
        }
        self.scenarios.push(result);
    }

    fn result(
        scenario: &Scenario,
        points: &Points,
        status: Status,
        seconds: f64,
        report: String,
    ) -> ScenarioResult {
        ScenarioResult {
            name: scenario.name.to_string(),
            claim: scenario.claim.to_string(),
            status,
            points: if status == Status::Pass { points.of(scenario.name) } else { 0.0 },
            max_points: points.of(scenario.name),
            seconds,
            report,
            diagram: String::new(),
            diagnosis: String::new(),
            hint: String::new(),
        }
    }
}

/// Print `submission` on stdout as `format` says (text as in a report file).
pub fn print(submission: &Submission, format: Format, visibility: gradescope::Visibility) {
    harness::out!("{}", render(submission, format, visibility).trim_end());
}

/// `submission` as `format` says.
pub fn render(submission: &Submission, format: Format, visibility: gradescope::Visibility) -> String {
    match format {
        Format::Text => submission.text(),
        Format::Json => {
            serde_json::to_string_pretty(submission).expect("plain data always serializes") + "\n"
        }
        Format::Junit => {
            junit::write(&submission.lab, std::slice::from_ref(submission), std::time::SystemTime::now())
        }
        Format::Gradescope => gradescope::write(submission, visibility),
        // Without the lab's own server's runs beside the failures: `check` adds them (see
        // html::expected) before it renders.
        Format::Html => html::page(submission, &html::Extras::default()),
    }
}

/// Whether the hints show: a failure report either says where to look, or (an exam) not.
pub fn hints(no_hints: bool) -> Hints {
    if no_hints { Hints::Hidden } else { Hints::Shown }
}

/// A scenario's result with nothing but its name and status: for the reports' tests.
#[cfg(test)]
pub(crate) fn bare_result(name: String, status: Status) -> ScenarioResult {
    ScenarioResult {
        name,
        claim: String::new(),
        status,
        points: if status == Status::Pass { 1.0 } else { 0.0 },
        max_points: 1.0,
        seconds: 0.0,
        report: String::new(),
        diagram: String::new(),
        diagnosis: String::new(),
        hint: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::problem_line;

    /// A problem's cell names the server's own last words: a Python exception, or else its
    /// last line on stderr.
    #[test]
    fn a_problem_line_carries_the_servers_last_words() {
        let problem = "the server did not start: it ended (exit status: 1); its stderr is in the transcript

                       transcript (times from the start):
                       \x20 0.050s  server stderr> Traceback (most recent call last):
                       \x20 0.050s  server stderr>   File \"server.py\", line 3, in <module>
                       \x20 0.050s  server stderr> ValueError: '--prot' is not in list
";
        let line = problem_line(problem);
        assert!(line.starts_with("the server did not start: it ended"), "{line}");
        assert!(line.ends_with("ValueError: '--prot' is not in list"), "{line}");
        assert_eq!(problem_line("no ready line\n\nsomething\n"), "no ready line");
        let plain = "it ended\n  0.1s  server stderr> bind: address in use\n";
        assert_eq!(problem_line(plain), "it ended — its last words: bind: address in use");
    }
}
