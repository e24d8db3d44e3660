//! The class at a glance: a row per submission, a column per scenario (numbered, with a key
//! below that gives each scenario's pass rate), the points, and for a submission that could
//! not be checked at all, why, once; then the class's figures ([`Statistics`]): how many
//! submissions got each number of points, the mean and the median.

use serde::{Deserialize, Serialize};
use unicode_width::UnicodeWidthStr;

use super::{Status, Submission, number};

/// The table for `submissions`, all of one lab with the same scenarios. `paint` colours a
/// cell's word (or leaves it plain).
pub fn render(submissions: &[Submission], paint: &dyn Fn(&str, &str) -> String) -> String {
    let Some(first) = submissions.first() else {
        return "(no submissions)\n".to_string();
    };
    let name_width =
        submissions.iter().map(|s| shown(&s.name).width()).chain(["submission".width()]).max().unwrap_or(10);
    let columns = first.scenarios.len();
    let mut text = pad("submission", name_width);
    for column in 1..=columns {
        text.push_str(&format!("  {column:<4}"));
    }
    text.push_str("  points\n");
    for submission in submissions {
        text.push_str(&pad(&shown(&submission.name), name_width));
        for scenario in &submission.scenarios {
            let (word, colour) = match (scenario.status, &submission.problem) {
                (_, Some(_)) => ("-", "2"),
                (Status::Pass, None) => ("pass", "32"),
                (Status::Fail, None) => ("FAIL", "31"),
                (Status::Skip, None) => ("skip", "33"),
            };
            text.push_str(&format!("  {}{}", paint(colour, word), " ".repeat(4 - word.len())));
        }
        let points = format!("{}/{}", number(submission.points()), number(submission.max_points()));
        text.push_str(&format!("  {points}"));
        if submission.problem.is_some() {
            text.push_str(&format!("  {}", paint("31", "not checked (below)")));
        }
        text.push('\n');
    }
    // Why a submission could not be checked, whole: a reason cut to fit the row would leave
    // out what a teacher needs (which limit, which line of the compiler).
    let unchecked: Vec<&Submission> = submissions.iter().filter(|s| s.problem.is_some()).collect();
    if !unchecked.is_empty() {
        text.push_str("\nnot checked (\"-\": no scenario of it ran; each counts as failed in the files):\n");
        for submission in unchecked {
            let problem = submission.problem.as_deref().unwrap_or_default();
            let headline = problem.lines().next().unwrap_or_default();
            text.push_str(&format!("  {}: {}\n", shown(&submission.name), paint("31", &shown(headline))));
        }
    }
    text.push('\n');
    let statistics = Statistics::of(submissions);
    let name_width = first.scenarios.iter().map(|s| s.name.width()).max().unwrap_or(0);
    for (index, (scenario, rate)) in first.scenarios.iter().zip(&statistics.pass_rates).enumerate() {
        text.push_str(&format!(
            "{:>3}  {}  passed by {}/{} ({:.0}%)\n",
            index + 1,
            pad(&scenario.name, name_width),
            rate.passed,
            rate.of,
            100.0 * rate.rate
        ));
    }
    text.push_str("\npoints  submissions\n");
    for bucket in statistics.distribution.iter().rev() {
        text.push_str(&format!(
            "{:>6}  {} {}\n",
            number(bucket.points),
            "#".repeat(bucket.submissions),
            bucket.submissions
        ));
    }
    text.push_str(&format!(
        "\n{} submissions: {} passed every scenario; mean {}, median {} of {} points\n",
        statistics.submissions,
        statistics.all_passed,
        number(statistics.mean),
        number(statistics.median),
        number(first.max_points())
    ));
    text
}

/// The class's figures, in the table and in summary.json.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Statistics {
    pub submissions: usize,
    /// How many passed every scenario.
    pub all_passed: usize,
    pub mean: f64,
    pub median: f64,
    /// Each scenario, in the lab's order: how many of the class passed it.
    pub pass_rates: Vec<PassRate>,
    /// How many submissions got each number of points, fewest points first.
    pub distribution: Vec<Bucket>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PassRate {
    pub scenario: String,
    pub passed: usize,
    pub of: usize,
    /// `passed / of`, from 0 to 1.
    pub rate: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub points: f64,
    pub submissions: usize,
}

impl Statistics {
    pub fn of(submissions: &[Submission]) -> Statistics {
        let Some(first) = submissions.first() else { return Statistics::default() };
        let mut points: Vec<f64> = submissions.iter().map(Submission::points).collect();
        points.sort_by(f64::total_cmp);
        let middle = points.len() / 2;
        let median = match points.len() % 2 {
            0 => (points[middle - 1] + points[middle]) / 2.0,
            _ => points[middle],
        };
        let mut distribution: Vec<Bucket> = Vec::new();
        for &p in &points {
            match distribution.last_mut() {
                Some(bucket) if bucket.points == p => bucket.submissions += 1,
                _ => distribution.push(Bucket { points: p, submissions: 1 }),
            }
        }
        let pass_rates = first
            .scenarios
            .iter()
            .enumerate()
            .map(|(index, scenario)| {
                let passed = submissions
                    .iter()
                    .filter(|s| s.scenarios.get(index).is_some_and(|r| r.status == Status::Pass))
                    .count();
                let of = submissions.len();
                PassRate { scenario: scenario.name.clone(), passed, of, rate: passed as f64 / of as f64 }
            })
            .collect();
        Statistics {
            submissions: submissions.len(),
            all_passed: submissions.iter().filter(|s| s.all_passed()).count(),
            mean: points.iter().sum::<f64>() / points.len() as f64,
            median,
            pass_rates,
            distribution,
        }
    }
}

/// A name (or a line) as the table and grade's files show it: control characters (escape
/// sequences, a newline that would forge a row) and the marks that turn text around (U+202E)
/// written as `\u{..}`; the rest as it is.
pub fn shown(name: &str) -> String {
    harness::style::escaped_inline(name)
}

/// `text` followed by spaces up to `width` columns on a terminal (中 takes two).
fn pad(text: &str, width: usize) -> String {
    format!("{text}{}", " ".repeat(width.saturating_sub(text.width())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submission(name: &str, statuses: &[Status]) -> Submission {
        Submission {
            name: name.into(),
            lab: "udp-echo".into(),
            server: String::new(),
            problem: None,
            scenarios: statuses
                .iter()
                .enumerate()
                .map(|(index, &status)| crate::report::bare_result(format!("s{index}"), status))
                .collect(),
            seconds: 0.0,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn statistics_give_pass_rates_and_the_spread_of_points() {
        use Status::{Fail, Pass};
        let class = [
            submission("a", &[Pass, Pass]),
            submission("b", &[Pass, Fail]),
            submission("c", &[Fail, Fail]),
            submission("d", &[Pass, Pass]),
        ];
        let statistics = Statistics::of(&class);
        let rates: Vec<(usize, usize)> = statistics.pass_rates.iter().map(|r| (r.passed, r.of)).collect();
        assert_eq!(rates, [(3, 4), (2, 4)]);
        let spread: Vec<(f64, usize)> =
            statistics.distribution.iter().map(|b| (b.points, b.submissions)).collect();
        assert_eq!(spread, [(0.0, 1), (1.0, 1), (2.0, 2)]);
        assert_eq!((statistics.mean, statistics.median, statistics.all_passed), (1.25, 1.5, 2));
    }

    #[test]
    fn wide_characters_take_two_columns() {
        assert_eq!(pad("张 三", 8), "张 三   ");
        assert_eq!(pad("ab", 4), "ab  ");
    }
}
