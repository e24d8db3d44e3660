//! Gradescope's `results.json`, as its autograder reads it from
//! `/autograder/results/results.json`: a test per scenario with its `score`, `max_score`,
//! `status` (`passed` or `failed`), `output` and `visibility`, and the submission's
//! `execution_time`, `output` and its `output_format` (`text`). Gradescope has no "skipped": a skipped scenario earns nothing
//! and says why.

use serde::Serialize;

use super::{Status, Submission};

/// Who sees a test's result, and when (Gradescope's own words).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Visible,
    Hidden,
    #[value(name = "after_due_date")]
    AfterDueDate,
    #[value(name = "after_published")]
    AfterPublished,
}

#[derive(Serialize)]
struct Results<'a> {
    score: f64,
    execution_time: f64,
    output: String,
    /// How Gradescope shows `output`: as plain text (our reports are not Markdown or HTML).
    output_format: &'static str,
    visibility: Visibility,
    stdout_visibility: Visibility,
    tests: Vec<Test<'a>>,
}

#[derive(Serialize)]
struct Test<'a> {
    name: &'a str,
    number: String,
    score: f64,
    max_score: f64,
    status: &'static str,
    output: String,
    visibility: Visibility,
}

/// `results.json` for one submission; every test shown as `visibility` says.
pub fn write(submission: &Submission, visibility: Visibility) -> String {
    let tests = submission
        .scenarios
        .iter()
        .enumerate()
        .map(|(index, scenario)| Test {
            name: &scenario.name,
            number: (index + 1).to_string(),
            score: scenario.points,
            max_score: scenario.max_points,
            status: if scenario.status == Status::Pass { "passed" } else { "failed" },
            output: match scenario.status {
                Status::Pass => scenario.claim.clone(),
                Status::Skip => format!("skipped: {}", scenario.report),
                Status::Fail => scenario.report.clone(),
            },
            visibility,
        })
        .collect();
    let mut output = format!("{}: {}", submission.lab, submission.summary());
    if let Some(problem) = &submission.problem {
        output = format!("FAIL before any scenario: {problem}\n\n{output}");
    }
    for warning in &submission.warnings {
        output.push_str(&format!("\nwarning: {warning}"));
    }
    let results = Results {
        score: submission.points(),
        execution_time: submission.seconds,
        output,
        output_format: "text",
        visibility,
        stdout_visibility: Visibility::Hidden,
        tests,
    };
    serde_json::to_string_pretty(&results).expect("plain data always serializes") + "\n"
}
