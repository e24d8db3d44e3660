//! `cargo lab NAME`: a lab's scenarios narrated live, as a demo; `cargo lab NAME --step`, the
//! same for a class, one event per Enter (see [`crate::step`]); and `cargo lab NAME
//! --diagram`, the same runs drawn as one Mermaid sequence diagram (and, for the connection
//! states the kernel showed, a state diagram: see [`crate::diagram::states`]).

use std::io::IsTerminal;

use anyhow::{Result, bail};
use harness::scenario::{self, Hints, Outcome};
use harness::screen;
use harness::style::Style;
use harness::transcript::Transcript;
use harness::{Target, out};

use crate::diagram::Run;

/// `cargo lab NAME`: every scenario narrated live. True when every step held.
pub fn demo(target: &Target) -> bool {
    narrate(target)
}

/// `cargo lab NAME --step`: the demo, one event per Enter, so that a class can predict each
/// before it shows, and each step's claim after its events. Refused without a terminal on
/// stdin: there is nobody to press it.
pub fn demo_stepped(target: &Target) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "--step waits for Enter before each step, but stdin is not a terminal\n\
             hint: run `{} {} --step` in a terminal, or leave out --step to run every step at once",
            crate::installed::command_name(),
            target.lab.name
        );
    }
    Ok(crate::step::run(target))
}

fn narrate(target: &Target) -> bool {
    let lab = target.lab;
    let style = Style::for_stdout();
    // On a terminal the prose is set to its width; a pipe (a chapter's generated block) gets
    // the lines as written.
    let width = screen::terminal_width();
    let set = |text: &str| match width {
        Some(width) => screen::reflow(text, width),
        None => text.to_string(),
    };
    out!("{}", style.paint("1", &set(&format!("{} — {}", lab.name, lab.teaches))));
    out!("\n{}\n", set(lab.story.trim()));
    out!(
        "{}",
        set("Each step starts real processes and sockets on 127.0.0.1; times are from the step's start.")
    );
    let mut held = 0;
    for (number, scenario) in lab.scenarios.iter().enumerate() {
        let heading = format!("── {}/{} {} ", number + 1, lab.scenarios.len(), scenario.claim);
        let heading = match width {
            Some(width) => screen::wrap(heading.trim_end(), width, 3).join("\n"),
            None => heading,
        };
        out!("\n{}", style.paint("1;34", &heading));
        let transcript = Transcript::live();
        match scenario::run(scenario, target, &transcript) {
            Outcome::Passed => {
                held += 1;
                out!("   {}", style.paint("32", "✔ held"));
            }
            Outcome::Skipped(why) => out!("   {}", style.paint("33", &format!("skipped: {why}"))),
            Outcome::Failed(error) => {
                out!("   {}", style.paint("31", &format!("✘ did not hold: {error:#}")));
            }
        }
    }
    let all = lab.scenarios.len();
    let verdict = if held == all {
        style.paint("32", &format!("All {all} steps held."))
    } else {
        style.paint("31", &format!("{held} of {all} steps held."))
    };
    out!("\n{verdict}\n\nTry it by hand, one terminal each:");
    for command in lab.by_hand {
        let line = format!("    {}", crate::installed::named(command));
        match (width, line.split_once("  #")) {
            // Too wide for the terminal: the command whole on its line (to copy), what it is
            // for as a comment under it.
            (Some(width), Some((command, comment))) if screen::columns(&line) > width => {
                out!("{}", command.trim_end());
                for text in screen::wrap(comment.trim(), width.saturating_sub(8).max(20), 0) {
                    out!("      # {text}");
                }
            }
            _ => out!("{line}"),
        }
    }
    held == all
}

/// `cargo lab NAME --diagram`: run every scenario quietly and draw what crossed the wire as
/// one Mermaid sequence diagram. Fails if a scenario does not hold.
pub fn diagram(target: &Target) -> Result<String> {
    Ok(crate::diagram::sequence(&runs(target)?))
}

/// Every scenario run quietly: each one's claim and what its transcript recorded. Fails if a
/// scenario does not hold.
pub fn runs(target: &Target) -> Result<Vec<Run>> {
    let mut sections = Vec::new();
    for scenario in target.lab.scenarios {
        let transcript = Transcript::new();
        match scenario::run(scenario, target, &transcript) {
            Outcome::Passed => sections.push((scenario.claim, transcript.events())),
            Outcome::Failed(error) => {
                bail!("{}", scenario::failure_report(target.lab, scenario, &error, &transcript, Hints::Shown))
            }
            Outcome::Skipped(why) => bail!("{} was skipped: {why}", scenario.name),
        }
    }
    Ok(sections)
}
