//! JUnit XML, as CI systems read it (Jenkins, GitLab, GitHub's test reporters): one
//! `testsuite` per submission, one `testcase` per scenario, a failure's report as the text of
//! its `failure`, a skip as `skipped`. A submission that could not be checked at all carries
//! its problem in the suite's `system-err` too.

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::{Status, Submission, number};

/// The `testsuites` document for `submissions` (one, for `check`; a class, for `grade`).
pub fn write(name: &str, submissions: &[Submission]) -> String {
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
        .with_attribute(("skipped", count(Status::Skip).to_string().as_str()))
        .with_attribute(("errors", "0"))
        .with_attribute(("time", format!("{seconds:.3}").as_str()))
        .write_inner_content(|writer| {
            for submission in submissions {
                suite(writer, submission)?;
            }
            Ok(())
        })
        .expect(io);
    let mut xml = String::from_utf8(writer.into_inner()).expect("quick-xml writes the UTF-8 it is given");
    xml.push('\n');
    xml
}

fn suite(writer: &mut Writer<Vec<u8>>, submission: &Submission) -> std::io::Result<()> {
    writer
        .create_element("testsuite")
        .with_attribute(("name", clean(&submission.name).as_str()))
        .with_attribute(("tests", submission.scenarios.len().to_string().as_str()))
        .with_attribute(("failures", submission.count(Status::Fail).to_string().as_str()))
        .with_attribute(("skipped", submission.count(Status::Skip).to_string().as_str()))
        .with_attribute(("errors", "0"))
        .with_attribute(("time", format!("{:.3}", submission.seconds).as_str()))
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
                            writer
                                .create_element("failure")
                                .with_attribute(("message", clean(&scenario.claim).as_str()))
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
    fn control_characters_are_shown_not_written() {
        assert_eq!(clean("a\u{7}b\n中"), "a\\u{7}b\n中");
    }
}
