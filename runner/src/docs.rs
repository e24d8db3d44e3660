//! The parts of each chapter that come from a real run or from the lab's definition, not from a
//! hand: between `<!-- begin generated: NAME -->` and `<!-- end generated: NAME -->`.

use anyhow::{Context, Result, bail};
use harness::Target;
use harness::{Lab, out};

use crate::{cargo, demo, diagram, spec};

/// Rewrite each lab's generated parts: all of them, or with `spec_only` the spec alone (the
/// one that comes from the definition, not from a run, so it changes only when that does).
pub fn regenerate(labs: &[&'static Lab], spec_only: bool) -> Result<()> {
    let chapters = cargo::workspace_root().join("docs/src");
    for lab in labs {
        let path = chapters.join(format!("{}.md", lab.name));
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        if spec_only {
            let text = replace(&text, "spec", &spec_block(lab))?;
            let text = replace(&text, "commands", &commands_block(lab))?;
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            out!("regenerated the spec in {}", path.display());
            continue;
        }
        let binary = cargo::binary(lab.name, lab.name)?;
        let target = Target::reference(lab, &binary);
        let output = demo_output(lab.name)?;
        let runs = demo::runs(&target)?;
        let text = replace(&text, "demo", &demo_block(lab, &output))?;
        let text = replace(&text, "diagram", &format!("```mermaid\n{}```", diagram::sequence(&runs)))?;
        // A chapter that has a place for it gets the states the kernel showed, as a state diagram.
        let text = match diagram::states(&runs) {
            Some(states) if text.contains("<!-- begin generated: states -->") => {
                replace(&text, "states", &format!("```mermaid\n{states}```"))?
            }
            _ => text,
        };
        let text = capture_block(lab, &binary, text)?;
        let text = replace(&text, "spec", &spec_block(lab))?;
        let text = replace(&text, "commands", &commands_block(lab))?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        out!("regenerated {}", path.display());
    }
    Ok(())
}

/// A chapter that shows a capture (see [`crate::capture`]) gets one from a new run. Where
/// captures cannot be made or read here, the one it has stays, and a note says why.
fn capture_block(lab: &'static Lab, binary: &std::path::Path, text: String) -> Result<String> {
    if !text.contains("<!-- begin generated: capture -->") {
        return Ok(text);
    }
    match crate::capture::chapter_block(lab, binary) {
        Ok(Some(block)) => replace(&text, "capture", &block),
        Ok(None) => Ok(text),
        Err(why) => {
            eprintln!("note: {}'s capture is kept as it was: {why:#}", lab.name);
            Ok(text)
        }
    }
}

/// The chapter's first screen: the three commands a student runs, in the order of
/// docs/src/students.md (watch, read the spec and start, check on every save).
pub fn commands_block(lab: &Lab) -> String {
    let name = lab.name;
    format!(
        "```sh\n\
         # 1. Watch it: every step on the wire, narrated (add --step for one event per Enter)\n\
         cargo lab {name}\n\
         # 2. Read what your server must do, and start from a starter (in my-{name}/)\n\
         cargo lab spec {name}\n\
         cargo lab new {name}\n\
         # 3. Check your server on every save\n\
         {}\n\
         ```",
        crate::spec::check_command(lab)
    )
}

/// The demo's whole output, folded: a reader opens it when the chapter sends them there.
fn demo_block(lab: &Lab, output: &str) -> String {
    let lines = output.lines().count();
    format!(
        "<details>\n<summary>The whole run: <code>cargo lab {0}</code> ({1} steps, {lines} lines)</summary>\n\n\
         ```text\n$ cargo lab {0}\n{output}```\n\n</details>",
        lab.name,
        lab.scenarios.len()
    )
}

/// The chapter's "Your turn": what `cargo lab spec` prints, as it prints it.
pub fn spec_block(lab: &Lab) -> String {
    format!("```text\n$ cargo lab spec {}\n{}```", lab.name, spec::render(lab))
}

/// The demo as a user sees it, without colour: this very program, run again.
fn demo_output(lab: &str) -> Result<String> {
    let output = std::process::Command::new(std::env::current_exe()?)
        .arg(lab)
        .env("NO_COLOR", "1")
        // Set for a page: narration and long events wrapped at 100 columns.
        .env("COLUMNS", "100")
        .output()
        .context("running the demo")?;
    if !output.status.success() {
        bail!("the {lab} demo did not hold; run `cargo lab {lab}` to see why");
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn replace(text: &str, name: &str, content: &str) -> Result<String> {
    let begin = format!("<!-- begin generated: {name} -->");
    let end = format!("<!-- end generated: {name} -->");
    let (Some(start), Some(stop)) = (text.find(&begin), text.find(&end)) else {
        bail!("the chapter has no `{begin}` ... `{end}` block");
    };
    Ok(format!("{}{begin}\n{content}\n{}", &text[..start], &text[stop..]))
}
