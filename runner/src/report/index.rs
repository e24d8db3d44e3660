//! grade's `index.html`: the class on one page. The table (each name a link to its report),
//! each scenario's pass rate, and the points distribution drawn as an SVG histogram, all in
//! the page (no script).

use std::fmt::Write as _;

use super::html::{escape, link};
use super::table::Statistics;
use super::{Status, Submission, number};

/// The class's page: `submissions` (names as grade shows them), each report at
/// `reports/NAME.html`.
pub fn page(lab: &str, submissions: &[Submission]) -> String {
    let statistics = Statistics::of(submissions);
    let max_points = submissions.first().map_or(0.0, Submission::max_points);
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{} — the class</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<h1>{} — the class</h1>\n",
        escape(lab),
        escape(lab)
    );
    let _ = writeln!(
        html,
        "<p class=\"summary\">{} submissions; {} passed every scenario; mean {} and median {} of {} points</p>",
        statistics.submissions,
        statistics.all_passed,
        number(statistics.mean),
        number(statistics.median),
        number(max_points)
    );
    html.push_str("<h2>Points</h2>\n");
    html.push_str(&histogram(&statistics, max_points));
    html.push_str(
        "<h2>Submissions</h2>\n<table class=\"class\">\n<thead><tr><th>submission</th><th>points</th>",
    );
    for rate in &statistics.pass_rates {
        let _ = write!(html, "<th class=\"scenario\"><span>{}</span></th>", escape(&rate.scenario));
    }
    html.push_str("<th>problem</th></tr></thead>\n<tbody>\n");
    for submission in submissions {
        let report = link(&["reports", &format!("{}.html", submission.name)]);
        let _ = write!(
            html,
            "<tr><td><a href=\"{}\">{}</a></td><td class=\"points\">{}</td>",
            escape(&report),
            escape(&submission.name),
            number(submission.points())
        );
        for result in &submission.scenarios {
            let (class, mark) = match result.status {
                // A server that could not be checked at all failed nothing it was asked: its
                // cells say "not run", as grade's table does, and the problem says why.
                _ if submission.problem.is_some() => ("notrun", "–"),
                Status::Pass => ("pass", "✓"),
                Status::Fail => ("fail", "✗"),
                Status::Skip => ("skip", "–"),
            };
            let _ = write!(html, "<td class=\"{class}\" title=\"{}\">{mark}</td>", escape(&result.name));
        }
        let problem = submission.problem.as_deref().map(super::problem_line).unwrap_or_default();
        let _ = writeln!(html, "<td class=\"problem\">{}</td></tr>", escape(&problem));
    }
    html.push_str("</tbody>\n<tfoot><tr><th>passed</th><th></th>");
    for rate in &statistics.pass_rates {
        let _ = write!(
            html,
            "<td class=\"rate\" title=\"{}\">{} of {}<br>{:.0}%</td>",
            escape(&rate.scenario),
            rate.passed,
            rate.of,
            100.0 * rate.rate
        );
    }
    html.push_str("<td></td></tr></tfoot>\n</table>\n</body>\n</html>\n");
    html
}

/// How many submissions got each number of points, as bars over a points axis.
fn histogram(statistics: &Statistics, max_points: f64) -> String {
    let (width, height, left, bottom, top) = (640.0, 240.0, 40.0, 40.0, 20.0);
    let most = statistics.distribution.iter().map(|b| b.submissions).max().unwrap_or(0).max(1);
    // One bar per number of points there was; their places along the axis by the points.
    let span = max_points.max(1.0);
    let plot = width - left - 20.0;
    let bar = (plot / (span + 1.0)).min(60.0);
    let mut svg = format!(
        "<svg class=\"histogram\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"the points distribution\">\n"
    );
    let base = height - bottom;
    let _ = writeln!(
        svg,
        "<line x1=\"{left}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#333\"/>",
        width - 10.0
    );
    // The axis's ends, where no bar names them.
    for end in [0.0, max_points] {
        if !statistics.distribution.iter().any(|bucket| bucket.points == end) {
            let x = left + end / span * (plot - bar) + bar * 0.45;
            let _ = writeln!(
                svg,
                "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                base + 16.0,
                number(end)
            );
        }
    }
    for bucket in &statistics.distribution {
        let x = left + bucket.points / span * (plot - bar);
        let h = (base - top) * bucket.submissions as f64 / most as f64;
        let _ = writeln!(
            svg,
            "<rect class=\"bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#4a7ab8\">\
             <title>{} submissions with {} points</title></rect>",
            base - h,
            bar * 0.9,
            bucket.submissions,
            number(bucket.points)
        );
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x + bar * 0.45,
            base - h - 4.0,
            bucket.submissions
        );
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x + bar * 0.45,
            base + 16.0,
            number(bucket.points)
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">points (of {})</text>",
        left + plot / 2.0,
        height - 6.0,
        number(max_points)
    );
    svg.push_str("</svg>\n");
    svg
}

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 1rem; color: #222; }
table.class { border-collapse: collapse; }
table.class td, table.class th { border: 1px solid #ddd; padding: .2rem .4rem; text-align: center; }
table.class td:first-child, td.problem { text-align: left; }
th.scenario span { writing-mode: vertical-rl; transform: rotate(180deg); font-weight: normal; font-size: 85%; }
td.pass { color: #2e8b57; } td.fail { color: #c0392b; background: #fdecea; } td.skip, td.notrun { color: #777; }
td.rate { font-size: 80%; }
svg.histogram text { font-size: 12px; fill: #333; }
";

#[cfg(test)]
mod tests {
    use super::*;

    fn student(name: &str, passed: usize) -> Submission {
        Submission {
            name: name.into(),
            lab: "udp-echo".into(),
            server: String::new(),
            problem: (passed == 0).then(|| "the server did not start: <oops>\nmore".to_string()),
            scenarios: (0..3)
                .map(|n| {
                    crate::report::bare_result(
                        format!("s{n}"),
                        if n < passed { Status::Pass } else { Status::Fail },
                    )
                })
                .collect(),
            seconds: 0.0,
            warnings: Vec::new(),
        }
    }

    /// A row per student linking to its report (names escaped, links encoded), a pass rate per
    /// scenario, and a bar per number of points the class got.
    #[test]
    fn the_index_holds_the_class_its_rates_and_its_histogram() {
        let class =
            [student("张 三 (merge).py", 2), student("<b>x</b>.py", 3), student("a", 2), student("z", 0)];
        let page = page("udp-echo", &class);
        assert!(
            page.contains(
                "<a href=\"reports/%E5%BC%A0%20%E4%B8%89%20%28merge%29.py.html\">张 三 (merge).py</a>"
            ),
            "{page}"
        );
        assert!(
            page.contains("<a href=\"reports/%3Cb%3Ex%3C%2Fb%3E.py.html\">&lt;b&gt;x&lt;/b&gt;.py</a>"),
            "{page}"
        );
        assert!(!page.contains("<b>"), "{page}");
        assert!(page.contains("<td class=\"problem\">the server did not start: &lt;oops&gt;</td>"), "{page}");
        // z could not be checked: its cells say not run, not failed.
        let z = &page[page.find(">z</a>").unwrap()..];
        let z = &z[..z.find("</tr>").unwrap()];
        assert!(z.contains("class=\"notrun\"") && !z.contains("class=\"fail\""), "{z}");
        assert_eq!(page.matches("<tr><td><a href=").count(), 4);
        // s0 and s1: three of four passed; s2: one.
        assert_eq!(page.matches(">3 of 4<br>75%</td>").count(), 2, "{page}");
        assert_eq!(page.matches(">1 of 4<br>25%</td>").count(), 1, "{page}");
        // 0, 2 and 3 points: three bars, the 2 bar twice as tall as the others.
        assert_eq!(page.matches("<rect class=\"bar\"").count(), 3, "{page}");
        assert!(page.contains("<title>2 submissions with 2 points</title>"), "{page}");
        assert!(page.contains("<svg class=\"histogram\""));
    }
}
