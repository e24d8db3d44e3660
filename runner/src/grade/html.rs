//! grade's web pages: `reports/NAME.html` for each student graded (as `check --format html`
//! draws it, with the lab's own server's run of each scenario someone failed beside the
//! failure, run once for the class), and `index.html` for the class. The pages share one
//! copy of Mermaid, `reports/mermaid.min.js`, rather than each carrying its own.

use std::path::Path;

use anyhow::Result;
use harness::Target;

use super::{Options, out, report_name};
use crate::report::html::{self, Extras, Mermaid};
use crate::report::{Submission, index};

/// The shared copy of Mermaid, under reports/.
const MERMAID_FILE: &str = "mermaid.min.js";

/// Write the pages of the students graded now (`graded`: their names as shown) and the
/// class's index, from all of `submissions`.
pub fn write(options: &Options, submissions: &[Submission], graded: &[String]) -> Result<()> {
    let reports = options.out.join("reports");
    let now: Vec<&Submission> = submissions.iter().filter(|s| graded.contains(&s.name)).collect();
    if !now.is_empty() {
        out::write(&reports, MERMAID_FILE, html::MERMAID)?;
    }
    let mut failed: Vec<String> = now.iter().flat_map(|s| html::failed(s)).collect();
    failed.sort();
    failed.dedup();
    let target = Target::reference(options.lab, options.reference.clone());
    let expected = html::expected(&target, &failed, options.scenario_jobs);
    for submission in now {
        let captures = options.out.join("captures").join(&submission.name);
        let base = html::link(&["..", "captures", &submission.name]);
        let extras = Extras {
            expected: expected.clone(),
            captures: html::captures(&captures, &base, submission),
            mermaid: Mermaid::Beside(MERMAID_FILE.to_string()),
        };
        out::write(
            &reports,
            &report_name(&submission.name, "html"),
            html::page(submission, &extras).as_bytes(),
        )?;
    }
    out::write(&options.out, "index.html", index::page(options.lab.name, submissions).as_bytes())
}

/// Whether `path` is one of the pages' files (an earlier run's, to be replaced).
pub fn is_page(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "html")
}
