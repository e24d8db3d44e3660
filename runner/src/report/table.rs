//! The class at a glance: a row per submission, a column per scenario (numbered, with a key
//! below), the points, and for a submission that could not be checked at all, why, once.

use unicode_width::UnicodeWidthStr;

use super::{Status, Submission, number};

/// The table for `submissions`, all of one lab with the same scenarios. `paint` colours a
/// cell's word (or leaves it plain).
pub fn render(submissions: &[Submission], paint: &dyn Fn(&str, &str) -> String) -> String {
    let Some(first) = submissions.first() else {
        return "(no submissions)\n".to_string();
    };
    let name_width =
        submissions.iter().map(|s| s.name.width()).chain(["submission".width()]).max().unwrap_or(10);
    let columns = first.scenarios.len();
    let mut text = pad("submission", name_width);
    for column in 1..=columns {
        text.push_str(&format!("  {column:<4}"));
    }
    text.push_str("  points\n");
    for submission in submissions {
        text.push_str(&pad(&submission.name, name_width));
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
        if let Some(problem) = &submission.problem {
            let headline = problem.lines().next().unwrap_or_default();
            text.push_str(&format!("  {}", paint("31", &shorten(headline, 60))));
        }
        text.push('\n');
    }
    text.push('\n');
    for (index, scenario) in first.scenarios.iter().enumerate() {
        text.push_str(&format!("{:>3}  {}\n", index + 1, scenario.name));
    }
    let all_passed = submissions.iter().filter(|s| s.all_passed()).count();
    let mean = submissions.iter().map(Submission::points).sum::<f64>() / submissions.len() as f64;
    text.push_str(&format!(
        "\n{} submissions: {all_passed} passed every scenario; mean {} of {} points\n",
        submissions.len(),
        number(mean),
        number(first.max_points())
    ));
    text
}

/// `text` followed by spaces up to `width` columns on a terminal (中 takes two).
fn pad(text: &str, width: usize) -> String {
    format!("{text}{}", " ".repeat(width.saturating_sub(text.width())))
}

fn shorten(text: &str, most: usize) -> String {
    match text.char_indices().nth(most) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_characters_take_two_columns() {
        assert_eq!(pad("张 三", 8), "张 三   ");
        assert_eq!(pad("ab", 4), "ab  ");
    }
}
