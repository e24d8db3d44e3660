//! JUnit XML, as CI systems read it (Jenkins, GitLab, GitHub's test reporters), valid against
//! the Jenkins xunit plugin's junit-10.xsd: one `testsuite` per submission (with its
//! `timestamp`), one `testcase` per scenario, a failure as `<failure type message>` (`message`
//! is what went wrong, the text the whole report), a skip as `skipped`. A submission that could
//! not be checked at all carries its problem in each failure and in the suite's `system-err`.
//! `testsuites` carries only what the schema allows it (no `skipped`).

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use std::time::SystemTime;

use super::{Status, Submission, number};

/// The `testsuites` document for `submissions` (one, for `check`; a class, for `grade`),
/// stamped `now`.
pub fn write(name: &str, submissions: &[Submission], now: SystemTime) -> String {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    // Writing into a Vec cannot fail.
    let io = "writing XML into memory cannot fail";
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None))).expect(io);
    let count = |status| submissions.iter().map(|s| s.count(status)).sum::<usize>();
    let tests: usize = submissions.iter().map(|s| s.scenarios.len()).sum();
    let seconds: f64 = submissions.iter().map(|s| s.seconds).sum();
    writer
        .create_element("testsuites")
        .with_attribute(("name", name))
        .with_attribute(("tests", tests.to_string().as_str()))
        .with_attribute(("failures", count(Status::Fail).to_string().as_str()))
        .with_attribute(("errors", "0"))
        .with_attribute(("time", format!("{seconds:.3}").as_str()))
        .write_inner_content(|writer| {
            for submission in submissions {
                suite(writer, submission, &timestamp(now))?;
            }
            Ok(())
        })
        .expect(io);
    let mut xml = String::from_utf8(writer.into_inner()).expect("quick-xml writes the UTF-8 it is given");
    xml.push('\n');
    xml
}

fn suite(writer: &mut Writer<Vec<u8>>, submission: &Submission, timestamp: &str) -> std::io::Result<()> {
    writer
        .create_element("testsuite")
        .with_attribute(("name", clean(&submission.name).as_str()))
        .with_attribute(("tests", submission.scenarios.len().to_string().as_str()))
        .with_attribute(("failures", submission.count(Status::Fail).to_string().as_str()))
        .with_attribute(("skipped", submission.count(Status::Skip).to_string().as_str()))
        .with_attribute(("errors", "0"))
        .with_attribute(("time", format!("{:.3}", submission.seconds).as_str()))
        .with_attribute(("timestamp", timestamp))
        .write_inner_content(|writer| {
            writer.create_element("properties").write_inner_content(|writer| {
                let fixed = [
                    ("lab", submission.lab.clone()),
                    ("server", submission.server.clone()),
                    ("points", number(submission.points())),
                    ("max_points", number(submission.max_points())),
                ];
                // One `warning` property for each rule of the spec no scenario proves (check's warnings).
                let warnings = submission.warnings.iter().map(|warning| ("warning", warning.clone()));
                for (name, value) in fixed.into_iter().chain(warnings) {
                    writer
                        .create_element("property")
                        .with_attribute(("name", name))
                        .with_attribute(("value", clean(&value).as_str()))
                        .write_empty()?;
                }
                Ok(())
            })?;
            for scenario in &submission.scenarios {
                let case = writer
                    .create_element("testcase")
                    .with_attribute(("name", scenario.name.as_str()))
                    .with_attribute((
                        "classname",
                        format!("{}.{}", submission.lab, clean(&submission.name)).as_str(),
                    ))
                    .with_attribute(("time", format!("{:.3}", scenario.seconds).as_str()));
                match scenario.status {
                    Status::Pass => {
                        case.write_empty()?;
                    }
                    Status::Fail => {
                        case.write_inner_content(|writer| {
                            let (kind, message) = what_failed(submission, &scenario.report);
                            writer
                                .create_element("failure")
                                .with_attribute(("type", kind))
                                .with_attribute(("message", clean(&message).as_str()))
                                .write_text_content(BytesText::new(&clean(&scenario.report)))?;
                            Ok(())
                        })?;
                    }
                    Status::Skip => {
                        case.write_inner_content(|writer| {
                            writer
                                .create_element("skipped")
                                .with_attribute(("message", clean(&scenario.report).as_str()))
                                .write_empty()?;
                            Ok(())
                        })?;
                    }
                }
            }
            if let Some(problem) = &submission.problem {
                writer.create_element("system-err").write_text_content(BytesText::new(&clean(problem)))?;
            }
            Ok(())
        })?;
    Ok(())
}

/// A failure's kind and what went wrong, in a line: the submission's problem when it could not
/// be checked, else the report's `what failed:` line.
fn what_failed(submission: &Submission, report: &str) -> (&'static str, String) {
    if let Some(problem) = &submission.problem {
        return ("not-checked", headline(problem.lines()));
    }
    match report.lines().position(|line| line.trim_start().starts_with("what failed: ")) {
        Some(at) => {
            let said =
                report.lines().skip(at).map(|line| line.trim_start().trim_start_matches("what failed: "));
            ("scenario-failed", headline(said))
        }
        None => ("scenario-failed", headline(report.lines())),
    }
}

/// The first line, and where it ends in a colon (`its last lines on stderr:`), the line it
/// introduces: a message that ends in a colon says nothing.
fn headline<'a>(mut lines: impl Iterator<Item = &'a str>) -> String {
    let first = lines.next().unwrap_or_default().trim().to_string();
    if !first.ends_with(':') {
        return first;
    }
    match lines.map(str::trim).find(|line| !line.is_empty()) {
        Some(next) => format!("{first} {next}"),
        None => first.trim_end_matches(':').to_string(),
    }
}

/// `2026-12-06T17:25:25`: `now` in UTC, as JUnit's `timestamp` (ISO 8601, no zone) says it.
pub fn timestamp(now: SystemTime) -> String {
    let seconds = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = ((seconds / 86_400) as i64, seconds % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", rest / 3600, rest / 60 % 60, rest % 60)
}

/// XML 1.0 cannot carry most control characters even escaped, and a student's server may print
/// any: those are shown as `\u{7}`, the rest of the text kept as it is.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c.to_string(),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_civil_dates() {
        let at = |seconds| timestamp(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(seconds));
        assert_eq!(at(0), "1970-01-01T00:00:00");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(at(1_796_491_525), "2026-12-05T17:25:25");
    }

    #[test]
    fn control_characters_are_shown_not_written() {
        assert_eq!(clean("a\u{7}b\n中"), "a\\u{7}b\n中");
    }
}
