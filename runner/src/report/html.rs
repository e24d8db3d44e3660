//! One submission as a web page (`check --format html`, `check --html FILE`, and grade's
//! `reports/NAME.html`): the bar of passing scenarios, then each scenario with its exchange
//! drawn as a sequence diagram from the student's own run and, where it failed, the same
//! scenario's run against the lab's own server beside it, the diagnosis, the hint, the full
//! report, and a link to its capture when there is one.
//!
//! The diagrams are drawn in the browser by the Mermaid the book vendors
//! (docs/assets/mermaid.min.js, 5.5 MB). A page of its own carries it gzip-compressed and in
//! base64 (about 2 MB), unpacked by the browser's DecompressionStream: one file, no network.
//! grade's pages share one copy beside them instead ([`Mermaid::Beside`]).
//!
//! Everything that came from the student's server is HTML-escaped ([`escape`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result};
use harness::Target;
use harness::scenario::{Hints, Outcome};

use super::{Status, Submission, number};
use crate::check;

/// The Mermaid the book draws its diagrams with.
pub const MERMAID: &[u8] = include_bytes!("../../../docs/assets/mermaid.min.js");

/// The book's own script around Mermaid: here for its `breakLongText`, which sets a long note
/// or message on lines of 40 characters (on a page it finds no mdBook blocks, and draws none).
const BOOK_INIT: &str = include_str!("../../../docs/assets/mermaid-init.js");

/// What a page adds to the submission's results.
#[derive(Debug, Default)]
pub struct Extras {
    /// For each failed scenario, by name: the diagram of the lab's own server's run of it, or
    /// why there is none.
    pub expected: BTreeMap<String, Result<String, String>>,
    /// For each scenario with a capture, by name: the link to it from the page.
    pub captures: BTreeMap<String, String>,
    pub mermaid: Mermaid,
}

/// How a page gets Mermaid.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub enum Mermaid {
    /// In the page, gzip-compressed: the page is whole on its own.
    #[default]
    Inline,
    /// A script beside the page, at this link (grade's pages share one).
    Beside(String),
}

/// The most lines of a scenario's text report a page shows: its head and its tail (the text
/// report, and the JSON, have it all).
const REPORT_HEAD: usize = 300;
const REPORT_TAIL: usize = 100;

/// The page for `submission`.
pub fn page(submission: &Submission, extras: &Extras) -> String {
    let mut html = String::new();
    // `check` names a run by its command, which the line under the heading shows: the heading
    // says "your server" then, and a student's name under grade.
    let name = if submission.name == submission.server { "your server" } else { submission.name.as_str() };
    let title = format!("{}: {name}", submission.lab);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&title)
    );
    let _ = writeln!(
        html,
        "<h1>{} <small>against {}'s scenarios</small></h1>",
        escape(name),
        escape(&submission.lab)
    );
    let _ = writeln!(html, "<p class=\"server\">server: <code>{}</code></p>", escape(&submission.server));
    html.push_str(&bar(submission));
    if let Some(problem) = &submission.problem {
        let _ = writeln!(
            html,
            "<section class=\"problem\"><h2>FAIL before any scenario</h2><pre>{}</pre></section>",
            escape(&capped(problem))
        );
    }
    if !submission.warnings.is_empty() {
        html.push_str("<section class=\"warnings\"><h2>Warnings</h2>\n<ul>\n");
        for warning in &submission.warnings {
            let _ = writeln!(html, "<li>{}</li>", escape(warning));
        }
        html.push_str("</ul>\n</section>\n");
    }
    html.push_str("<nav><ol>\n");
    for scenario in &submission.scenarios {
        let _ = writeln!(
            html,
            "<li class=\"{}\"><a href=\"#{}\">{} {}</a></li>",
            class(scenario.status),
            anchor(&scenario.name),
            scenario.status.word().to_uppercase(),
            escape(&scenario.name)
        );
    }
    html.push_str("</ol></nav>\n");
    for scenario in &submission.scenarios {
        let _ = writeln!(
            html,
            "<section class=\"scenario {}\" id=\"{}\">\n<h2><span class=\"status\">{}</span> {}</h2>\n<p class=\"claim\">{}</p>",
            class(scenario.status),
            anchor(&scenario.name),
            scenario.status.word().to_uppercase(),
            escape(&scenario.name),
            escape(&scenario.claim)
        );
        if !scenario.diagnosis.is_empty() {
            let _ = writeln!(html, "<p class=\"diagnosis\">{}</p>", escape(&scenario.diagnosis));
        }
        // What the check saw go wrong, as the terminal says it: the one line to read first when
        // there is no diagnosis, and the fact under it when there is.
        if let Some(failed) = what_failed(&scenario.report).filter(|_| scenario.status == Status::Fail) {
            let _ = writeln!(html, "<p class=\"failed\">{}</p>", escape(failed));
        }
        if !scenario.hint.is_empty() {
            let _ = writeln!(html, "<p class=\"hint\"><b>hint:</b> {}</p>", escape(&scenario.hint));
        }
        if let Some(link) = extras.captures.get(&scenario.name) {
            let _ = writeln!(
                html,
                "<p class=\"capture\"><a href=\"{}\">the capture of this run (pcapng, for Wireshark)</a></p>",
                escape(link)
            );
        }
        match (scenario.status, scenario.diagram.is_empty()) {
            (_, true) => {}
            (Status::Fail, false) => {
                html.push_str("<div class=\"compare\">\n");
                let _ = writeln!(
                    html,
                    "<figure><figcaption>your server (observed)</figcaption>{}</figure>",
                    diagram(&scenario.diagram)
                );
                let expected = match extras.expected.get(&scenario.name) {
                    Some(Ok(expected)) => diagram(expected),
                    Some(Err(why)) => format!("<p class=\"missing\">{}</p>", escape(why)),
                    None => {
                        "<p class=\"missing\">the lab's own server's run is not available for this report</p>"
                            .to_string()
                    }
                };
                let _ = writeln!(
                    html,
                    "<figure><figcaption>the lab's own server (expected)</figcaption>{expected}</figure>"
                );
                html.push_str("</div>\n");
            }
            (_, false) => html.push_str(&diagram(&scenario.diagram)),
        }
        if !scenario.report.is_empty() {
            let summary = match scenario.status {
                Status::Fail => "the full report, with the transcript",
                _ => "why",
            };
            let _ = writeln!(
                html,
                "<details><summary>{summary}</summary><pre class=\"report\">{}</pre></details>",
                escape(&capped(&scenario.report))
            );
        }
        html.push_str("</section>\n");
    }
    let _ = writeln!(
        html,
        "<footer>{}: {} in {:.2}s</footer>",
        escape(&submission.lab),
        escape(&submission.summary()),
        submission.seconds
    );
    html.push_str(&scripts(&extras.mermaid));
    html.push_str("</body>\n</html>\n");
    html
}

/// The bar of passing scenarios: green, red and grey in proportion, and the count in words.
fn bar(submission: &Submission) -> String {
    let all = submission.scenarios.len().max(1) as f64;
    let mut html = String::from("<div class=\"bar\" role=\"img\" aria-label=\"");
    html.push_str(&escape(&submission.summary()));
    html.push_str("\">");
    for status in [Status::Pass, Status::Fail, Status::Skip] {
        let count = submission.count(status);
        if count > 0 {
            let _ = write!(
                html,
                "<span class=\"{}\" style=\"width:{:.3}%\"></span>",
                class(status),
                100.0 * count as f64 / all
            );
        }
    }
    html.push_str("</div>\n");
    let _ = writeln!(
        html,
        "<p class=\"summary\">{} of {} scenarios passed; {} of {} points</p>",
        submission.count(Status::Pass),
        submission.scenarios.len(),
        number(submission.points()),
        number(submission.max_points())
    );
    html
}

/// The report's `what failed: …` line (the check that did not hold), if it has one.
fn what_failed(report: &str) -> Option<&str> {
    report.lines().map(str::trim).find(|line| line.starts_with("what failed:"))
}

fn diagram(source: &str) -> String {
    format!("<pre class=\"mermaid\">{}</pre>", escape(source))
}

fn class(status: Status) -> &'static str {
    match status {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::Skip => "skip",
    }
}

/// A scenario's id in the page (its name is a Rust identifier, but say so nowhere).
fn anchor(name: &str) -> String {
    format!("scenario-{}", escape(name))
}

/// `text` as HTML text or an attribute's value: `& < > " '` as entities, and control
/// characters (bar newline and tab) as `\u{..}`, as the text reports write them.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            '\n' | '\t' => escaped.push(c),
            c if c.is_control() => {
                let _ = write!(escaped, "\\u{{{:x}}}", c as u32);
            }
            c => escaped.push(c),
        }
    }
    escaped
}

/// A path as a link: each segment percent-encoded (spaces, 中文, `#`, `?`), `/` between them.
pub fn link(segments: &[&str]) -> String {
    let mut link = String::new();
    for (at, segment) in segments.iter().enumerate() {
        if at > 0 {
            link.push('/');
        }
        for byte in segment.bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    link.push(byte as char)
                }
                _ => {
                    let _ = write!(link, "%{byte:02X}");
                }
            }
        }
    }
    link
}

/// A long report's head and tail, with how many lines between them are left out.
fn capped(report: &str) -> String {
    let lines: Vec<&str> = report.lines().collect();
    if lines.len() <= REPORT_HEAD + REPORT_TAIL {
        return report.to_string();
    }
    let left_out = lines.len() - REPORT_HEAD - REPORT_TAIL;
    format!(
        "{}\n… {left_out} lines not shown here (the text and JSON reports have them all) …\n{}",
        lines[..REPORT_HEAD].join("\n"),
        lines[lines.len() - REPORT_TAIL..].join("\n")
    )
}

/// The scripts at the end of the page: Mermaid (inline or beside), and what hands it the
/// diagrams.
fn scripts(mermaid: &Mermaid) -> String {
    let mut html = String::new();
    match mermaid {
        Mermaid::Inline => {
            let _ = writeln!(
                html,
                "<script id=\"mermaid-gzip\" type=\"application/octet-stream\">{}</script>",
                packed()
            );
        }
        Mermaid::Beside(src) => {
            let _ = writeln!(html, "<script src=\"{}\"></script>", escape(src));
        }
    }
    let _ = writeln!(html, "<script>{BOOK_INIT}</script>");
    let _ = writeln!(html, "<script>{DRAW}</script>");
    html
}

/// mermaid.min.js, gzip-compressed and in base64: made once per run of the program.
fn packed() -> &'static str {
    static PACKED: OnceLock<String> = OnceLock::new();
    PACKED.get_or_init(|| {
        use base64::Engine as _;
        use std::io::Write as _;
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gzip.write_all(MERMAID).expect("compressing into memory cannot fail");
        let compressed = gzip.finish().expect("compressing into memory cannot fail");
        base64::engine::general_purpose::STANDARD.encode(compressed)
    })
}

/// `check --format html` and `check --html FILE`: the page, with the lab's own server's runs
/// beside the failures, on stdout or into `output` (written beside it and renamed over it).
/// `captures`: the folder `check --pcap DIR` wrote each scenario's capture into, if any.
pub fn write_for_check(
    submission: &Submission,
    target: &Target,
    jobs: usize,
    output: Option<&Path>,
    captures: Option<&Path>,
) -> Result<()> {
    let failed = failed(submission);
    if !failed.is_empty() {
        eprintln!(
            "note: running the {} failed scenario(s) against {}'s own server, to draw what was expected",
            failed.len(),
            target.lab.name
        );
    }
    let extras = Extras {
        expected: expected(target, &failed, jobs),
        captures: captures
            .map(|dir| self::captures(dir, &capture_link(dir, output), submission))
            .unwrap_or_default(),
        ..Extras::default()
    };
    let page = page(submission, &extras);
    let Some(file) = output else {
        harness::out!("{}", page.trim_end());
        return Ok(());
    };
    let dir = file.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = file.file_name().with_context(|| format!("{} names no file", file.display()))?;
    crate::grade::out::write(dir, &name.to_string_lossy(), page.as_bytes())
}

/// The link from a page at `output` (stdout: the current folder) to the captures' folder
/// `dir`: relative where both are named from the current folder and the page is in it, so
/// that the two can move together; otherwise the folder's absolute `file://` address.
fn capture_link(dir: &Path, output: Option<&Path>) -> String {
    let page_here =
        output.is_none_or(|file| file.parent().is_none_or(|parent| parent.as_os_str().is_empty()));
    let segments = |path: &Path| -> Vec<String> {
        path.components()
            .filter_map(|part| match part {
                std::path::Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
                std::path::Component::ParentDir => Some("..".to_string()),
                _ => None,
            })
            .collect()
    };
    if page_here && dir.is_relative() {
        let parts = segments(dir);
        return link(&parts.iter().map(String::as_str).collect::<Vec<_>>());
    }
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let parts = segments(&absolute);
    format!("file:///{}", link(&parts.iter().map(String::as_str).collect::<Vec<_>>()))
}

/// A text run's results as a submission, for its page (`check --html FILE`).
pub fn submission(
    name: &str,
    target: &Target,
    checked: &check::Checked,
    scenarios: Vec<super::ScenarioResult>,
    started: std::time::Instant,
) -> Submission {
    let server = match &target.server {
        harness::session::Server::Command(command) => command.clone(),
        harness::session::Server::Reference => format!("{}'s own server", target.lab.name),
    };
    Submission {
        name: name.to_string(),
        lab: target.lab.name.to_string(),
        server,
        problem: checked.problem.clone(),
        scenarios,
        seconds: started.elapsed().as_secs_f64(),
        warnings: checked.warnings.clone(),
    }
}

/// For each of `failed` (scenario names), the lab's own server's run of it, drawn; or why
/// there is none: its binary is not built here, or it did not pass the scenario either (the
/// picture would show no right answer).
pub fn expected(target: &Target, failed: &[String], jobs: usize) -> BTreeMap<String, Result<String, String>> {
    if failed.is_empty() {
        return BTreeMap::new();
    }
    if !target.reference.is_file() {
        let why = format!(
            "not available: the lab's own server is not built here ({}), so there is no run of it to show",
            target.reference.display()
        );
        return failed.iter().map(|name| (name.clone(), Err(why.clone()))).collect();
    }
    let reference = Target::reference(target.lab, target.reference.clone());
    let options = check::Options {
        jobs,
        only: failed.to_vec(),
        hints: Hints::Hidden,
        time_limit: Some(Duration::from_secs(60)),
        ..check::Options::default()
    };
    let Ok(scenarios) = check::selected(&reference, &options) else {
        return BTreeMap::new();
    };
    let mut expected = BTreeMap::new();
    check::run_all(&reference, &scenarios, &options, |event| {
        if let check::Event::Finished(ran) = event {
            let drawn = match &ran.outcome {
                Outcome::Passed => {
                    Ok(crate::diagram::sequence_folded(&[(ran.scenario.claim, ran.transcript.events())]))
                }
                Outcome::Skipped(why) => {
                    Err(format!("not available: the lab's own server's run was skipped ({why})"))
                }
                Outcome::Failed(error) => {
                    Err(format!("not available: the lab's own server did not pass it here either ({error})"))
                }
            };
            expected.insert(ran.scenario.name.to_string(), drawn);
        }
    });
    expected
}

/// The names of the scenarios `submission` failed.
pub fn failed(submission: &Submission) -> Vec<String> {
    submission
        .scenarios
        .iter()
        .filter(|s| s.status == Status::Fail && !s.diagram.is_empty())
        .map(|s| s.name.clone())
        .collect()
}

/// The captures in `dir` of `submission`'s scenarios (`dir/SCENARIO.pcapng`, as `check
/// --pcap DIR` writes them), each linked as `base/SCENARIO.pcapng`.
pub fn captures(dir: &Path, base: &str, submission: &Submission) -> BTreeMap<String, String> {
    submission
        .scenarios
        .iter()
        .filter(|s| dir.join(format!("{}.pcapng", s.name)).is_file())
        .map(|s| {
            let file = format!("{}.pcapng", s.name);
            let link = match base {
                "" => link(&[&file]),
                base => format!("{base}/{}", link(&[&file])),
            };
            (s.name.clone(), link)
        })
        .collect()
}

const STYLE: &str = "
body { font-family: system-ui, sans-serif; max-width: 80rem; margin: 1rem auto; padding: 0 1rem; color: #222; }
h1 small { font-weight: normal; color: #666; font-size: 60%; }
.bar { display: flex; height: 1.2rem; border-radius: .3rem; overflow: hidden; background: #eee; }
.bar span.pass { background: #2e8b57; } .bar span.fail { background: #c0392b; } .bar span.skip { background: #999; }
nav ol { columns: 2; } nav li.pass a { color: #2e8b57; } nav li.fail a { color: #c0392b; } nav li.skip a { color: #777; }
section.scenario { border-top: 1px solid #ddd; padding-top: .5rem; margin-top: 1.5rem; }
section.fail .status { color: #c0392b; } section.pass .status { color: #2e8b57; } section.skip .status { color: #777; }
.diagnosis { font-weight: bold; } .warnings li { color: #8a6d00; }
.compare { display: grid; grid-template-columns: repeat(auto-fit, minmax(34rem, 1fr)); gap: 1rem; }
.failed { font-family: ui-monospace, monospace; font-size: 90%; }
figure { margin: 0; min-width: 0; } figcaption { font-weight: bold; }
pre.mermaid { overflow-x: auto; background: #fafafa; }
pre.report { overflow-x: auto; background: #f4f4f4; padding: .5rem; font-size: 85%; }
.missing { color: #666; font-style: italic; }
footer { margin-top: 2rem; color: #666; }
";

/// Unpack Mermaid where it came inline, then draw every diagram. Where Mermaid cannot be had
/// (a page copied away from grade's shared copy), the diagrams stay as text, and say why.
const DRAW: &str = r#"
(async () => {
    const diagrams = Array.from(document.querySelectorAll('pre.mermaid'));
    const packed = document.getElementById('mermaid-gzip');
    if (typeof mermaid === 'undefined' && packed) {
        const bytes = Uint8Array.from(atob(packed.textContent.trim()), (c) => c.charCodeAt(0));
        const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
        // As a script of the page's own (it runs at once, in the global scope it expects).
        const script = document.createElement('script');
        script.textContent = await new Response(stream).text();
        document.head.append(script);
    }
    if (typeof mermaid === 'undefined') {
        const note = document.createElement('p');
        note.className = 'missing';
        note.textContent = 'The diagrams below are shown as their source: mermaid.min.js was not found beside this page.';
        document.body.prepend(note);
        return;
    }
    // Long notes and messages on lines of 40 characters, as the book sets them: a sentence on
    // one line would widen the whole diagram past its column.
    for (const diagram of diagrams) {
        diagram.textContent = diagram.textContent.split('\n').map(breakLongText).join('\n');
    }
    mermaid.initialize({
        startOnLoad: false,
        securityLevel: 'strict',
        maxTextSize: 200000,
        sequence: { useMaxWidth: false },
    });
    await mermaid.run({ nodes: diagrams });
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Points, Results, ScenarioResult};
    use harness::transcript::{Event, Proto, Transcript};

    fn result(name: &str, status: Status, diagram: &str) -> ScenarioResult {
        ScenarioResult {
            name: name.into(),
            claim: format!("the claim of {name}, with 中文"),
            status,
            points: if status == Status::Pass { 1.0 } else { 0.0 },
            max_points: 1.0,
            seconds: 0.1,
            report: if status == Status::Pass {
                String::new()
            } else {
                "what failed: </pre><script>x()</script>".into()
            },
            diagram: diagram.into(),
            diagnosis: if status == Status::Fail {
                "your server said \"<b>\" & stopped".into()
            } else {
                String::new()
            },
            hint: if status == Status::Fail { "look at 张三's name".into() } else { String::new() },
        }
    }

    fn submission() -> Submission {
        Submission {
            name: "张 三 <img src=x onerror=alert(1)>.py".into(),
            lab: "udp-group".into(),
            server: "python3 '张 三.py' --port {port}".into(),
            problem: None,
            scenarios: vec![
                result(
                    "passes",
                    Status::Pass,
                    "sequenceDiagram\n    participant 张三\n    张三->>server: \"a<b\" (3 B)\n",
                ),
                result("fails", Status::Fail, "sequenceDiagram\n    alice->>server: \"hi\" (2 B)\n"),
                result("skips", Status::Skip, ""),
            ],
            seconds: 1.0,
            warnings: vec!["your server printed \"<hello>\" before its ready line".into()],
        }
    }

    /// One section per scenario, in order, with its status; the failure's run beside the lab's
    /// own (or a plain word that it is missing); the bar; every piece of the student's text
    /// escaped, Chinese as it is; two scripts only (Mermaid, packed, and the one that draws).
    #[test]
    fn the_page_holds_each_scenario_escaped() {
        let mut extras = Extras::default();
        extras.captures.insert("fails".into(), link(&["captures", "张 三", "fails.pcapng"]));
        let page = page(&submission(), &extras);
        let sections: Vec<&str> = page.matches("<section class=\"scenario ").collect();
        assert_eq!(sections.len(), 3, "{page}");
        let at = |text: &str| page.find(text).unwrap_or_else(|| panic!("no {text} in the page"));
        assert!(at("id=\"scenario-passes\"") < at("id=\"scenario-fails\""));
        assert!(at("id=\"scenario-fails\"") < at("id=\"scenario-skips\""));
        assert!(
            page.contains("<span class=\"pass\" style=\"width:33.333%\"></span><span class=\"fail\""),
            "{page}"
        );
        assert!(page.contains("<h1>张 三 &lt;img src=x onerror=alert(1)&gt;.py <small>"), "{page}");
        assert!(page.contains("张三-&gt;&gt;server: &quot;a&lt;b&quot; (3 B)"), "{page}");
        assert!(page.contains("your server said &quot;&lt;b&gt;&quot; &amp; stopped"), "{page}");
        assert!(page.contains("&lt;/pre&gt;&lt;script&gt;x()&lt;/script&gt;"), "{page}");
        assert!(
            page.contains("<li>your server printed &quot;&lt;hello&gt;&quot; before its ready line</li>"),
            "{page}"
        );
        assert!(page.contains("look at 张三&#39;s name"), "{page}");
        assert!(page.contains("the claim of fails, with 中文"), "{page}");
        assert!(page.contains("href=\"captures/%E5%BC%A0%20%E4%B8%89/fails.pcapng\""), "{page}");
        assert_eq!(
            page.matches("<script").count(),
            3,
            "only Mermaid, the book's note-breaking and the drawing script"
        );
        assert!(!page.contains("<img"), "{page}");
        let compare = &page[at("<div class=\"compare\">")..at("id=\"scenario-skips\"")];
        assert!(compare.contains("your server (observed)</figcaption><pre class=\"mermaid\">"), "{compare}");
        assert!(compare.contains("the lab's own server's run is not available"), "{compare}");
        // A passed scenario is drawn alone; a skipped one has no diagram.
        assert_eq!(page.matches("<pre class=\"mermaid\">").count(), 2, "{page}");
        assert!(page.trim_end().ends_with("</html>"));
    }

    /// Mermaid travels packed in the page: base64 of its gzip, which unpacks to the vendored
    /// file byte for byte, and is far smaller.
    #[test]
    fn mermaid_is_inlined_packed_and_unpacks_to_the_vendored_file() {
        use base64::Engine as _;
        use std::io::Read as _;
        let packed = packed();
        let compressed = base64::engine::general_purpose::STANDARD.decode(packed).expect("base64");
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..]).read_to_end(&mut unpacked).expect("gzip");
        assert!(unpacked == MERMAID, "the packed Mermaid is not the vendored one");
        assert!(packed.len() < 2_500_000, "packed Mermaid is {} bytes", packed.len());
        let beside = page(
            &submission(),
            &Extras { mermaid: Mermaid::Beside("mermaid.min.js".into()), ..Extras::default() },
        );
        assert!(beside.contains("<script src=\"mermaid.min.js\"></script>"));
        assert!(beside.len() < 20_000, "{} bytes without Mermaid", beside.len());
    }

    /// Bad input: a failed scenario whose transcript holds 10^5 datagrams makes a page under
    /// 3 MB (Mermaid included), its diagram folded with a count, its report cut with one.
    #[test]
    fn a_scenario_with_100000_datagrams_keeps_the_page_small() {
        let lab = harness::labs::find("udp-echo").expect("udp-echo is a lab");
        let scenario = &lab.scenarios[0];
        let transcript = Transcript::new();
        for n in 0..50_000 {
            let wire = |from: &str, to: &str| Event::Wire {
                from: from.into(),
                to: to.into(),
                proto: Proto::Udp,
                bytes: format!("datagram {n}").into_bytes(),
            };
            transcript.record(wire("alice", "server"));
            transcript.record(wire("server", "alice"));
        }
        let ran = check::Ran {
            scenario,
            outcome: Outcome::Failed(anyhow::anyhow!("alice got no reply to the last datagram")),
            transcript,
            took: Duration::from_secs(1),
            diagnosis: None,
        };
        let points = Points::default();
        let mut results = Results::new(lab, &points, Hints::Shown);
        results.on(&check::Event::Finished(ran));
        let mut flood = submission();
        flood.scenarios = results.scenarios;
        let page = page(&flood, &Extras::default());
        assert!(page.len() < 3_000_000, "the page is {} bytes", page.len());
        assert!(page.contains("… 99,994 more datagrams like these, not drawn"), "the diagram is not folded");
        assert!(
            page.contains("lines not shown here (the text and JSON reports have them all)"),
            "the report is not cut"
        );
        let json = serde_json::to_string(&flood).expect("serializes");
        assert!(
            flood.scenarios[0].diagram.len() < 10_000,
            "the diagram is {} bytes",
            flood.scenarios[0].diagram.len()
        );
        // The JSON keeps the whole report (grade's text report is made from it), and the
        // folded diagram beside it.
        assert!(json.contains("99,994 more datagrams"));
    }

    /// A report written before the page's fields existed still reads.
    #[test]
    fn a_report_without_diagrams_still_reads() {
        let old =
            r#"{"name":"s","claim":"c","status":"fail","points":0,"max_points":1,"seconds":0,"report":"r"}"#;
        let read: ScenarioResult = serde_json::from_str(old).expect("an old report reads");
        assert!(read.diagram.is_empty() && read.diagnosis.is_empty() && read.hint.is_empty());
        let written = serde_json::to_string(&read).expect("serializes");
        assert!(!written.contains("diagram"), "empty fields are left out: {written}");
    }

    /// A capture's link: relative where the page and the folder are named from here, a file
    /// address otherwise.
    #[test]
    fn links_to_the_captures_folder() {
        assert_eq!(capture_link(Path::new("caps"), None), "caps");
        assert_eq!(
            capture_link(Path::new("my caps/run 1"), Some(Path::new("report.html"))),
            "my%20caps/run%201"
        );
        assert_eq!(
            capture_link(Path::new("/tmp/张"), Some(Path::new("out/r.html"))),
            "file:///tmp/%E5%BC%A0"
        );
        let dir = tempfile::tempdir().expect("a temporary folder");
        std::fs::write(dir.path().join("fails.pcapng"), b"").expect("written");
        let found = captures(dir.path(), "caps", &submission());
        assert_eq!(
            found.into_iter().collect::<Vec<_>>(),
            [("fails".to_string(), "caps/fails.pcapng".to_string())]
        );
    }

    #[test]
    fn links_are_percent_encoded_by_segment() {
        assert_eq!(
            link(&["reports", "张 三 (merge).py.html"]),
            "reports/%E5%BC%A0%20%E4%B8%89%20%28merge%29.py.html"
        );
        assert_eq!(link(&["..", "a#b?c"]), "../a%23b%3Fc");
        assert_eq!(escape("a\u{1b}[2J\u{202e}"), "a\\u{1b}[2J\u{202e}");
    }
}
