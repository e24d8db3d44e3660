//! The docs are half the product: every lab has a complete chapter, the book has its
//! introduction and glossary, and no command quoted in the docs or the README names a lab or
//! role that does not exist.

use std::fs;
use std::path::{Path, PathBuf};

use harness::Lab;
use harness::labs::ALL;

/// A chapter's sections, in order: for the student first (what to build comes before the
/// long run, and "Run it by hand" is where docs/src/students.md sends them), and last the
/// proof, for maintainers.
const SECTIONS: [&str; 9] = [
    "\n## The question\n",
    "\n## Your turn\n",
    "\n## Run it\n",
    "\n### Run it by hand\n",
    "\n## On the wire\n",
    "\n## Spot the bug\n",
    "\n## Try it yourself\n",
    "\n## Further reading\n",
    "\n## How it is proven\n",
];

fn root() -> &'static Path {
    runner::cargo::workspace_root()
}

fn read(path: impl AsRef<Path>) -> String {
    let path = root().join(path);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn chapter(lab: &Lab) -> String {
    read(format!("docs/src/{}.md", lab.name))
}

/// The README and every page of the book.
fn doc_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = vec![root().join("README.md")];
    for entry in fs::read_dir(root().join("docs/src")).unwrap() {
        // Not docs/src/examples/, which holds a report and a capture, not prose.
        let path = entry.unwrap().path();
        if path.is_file() {
            files.push(path);
        }
    }
    files
}

/// A section's text, from its heading to the next `## ` heading (or the end).
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text.find(&format!("\n{heading}\n")).unwrap_or_else(|| panic!("no {heading}"));
    let rest = &text[start + 1..];
    let end = rest[heading.len()..].find("\n## ").map_or(rest.len(), |at| at + heading.len() + 1);
    &rest[..end]
}

/// The text between a chapter's generated markers (`cargo lab docs` fills them from a run).
fn generated<'a>(text: &'a str, name: &str) -> &'a str {
    let begin = format!("<!-- begin generated: {name} -->");
    let end = format!("<!-- end generated: {name} -->");
    let start = text.find(&begin).unwrap_or_else(|| panic!("no {begin}")) + begin.len();
    let stop = text.find(&end).unwrap_or_else(|| panic!("no {end}"));
    &text[start..stop]
}

/// Every lab has a chapter, listed in the book's SUMMARY.md.
#[test]
fn every_lab_has_a_chapter_in_the_summary() {
    let summary = read("docs/src/SUMMARY.md");
    for lab in ALL {
        assert!(root().join(format!("docs/src/{}.md", lab.name)).exists(), "{} has no chapter", lab.name);
        assert!(summary.contains(&format!("({}.md)", lab.name)), "SUMMARY.md does not list {}", lab.name);
    }
}

/// Each chapter has the eight sections, in order.
#[test]
fn every_chapter_has_every_section_in_order() {
    for lab in ALL {
        let text = chapter(lab);
        let mut from = 0;
        for section in SECTIONS {
            let at = text[from..].find(section).unwrap_or_else(|| {
                panic!("{}.md lacks `{}` (or has it out of order)", lab.name, section.trim())
            });
            from += at + section.len();
        }
    }
}

/// The chapter's first screen, before "The question", says what the student will learn and
/// gives the three commands (watch, spec and new, check), as `cargo lab docs` writes them.
#[test]
fn every_chapter_opens_with_what_you_learn_and_the_three_commands() {
    for lab in ALL {
        let text = chapter(lab);
        let first = &text[..text.find("\n## The question\n").unwrap()];
        assert!(
            first.contains("**What you will learn:**"),
            "{}.md does not open with what you learn",
            lab.name
        );
        assert!(
            generated(first, "commands") == format!("\n{}\n", runner::docs::commands_block(lab)),
            "{}.md: the first screen's commands are not `cargo lab docs`'s; run `cargo lab docs {} --spec-only`",
            lab.name,
            lab.name
        );
        assert!(
            first.lines().count() < 30,
            "{}.md's first screen is {} lines",
            lab.name,
            first.lines().count()
        );
    }
}

/// The chapter shows a real run of the demo, in which every step held, folded (`<details>`)
/// in "Run it", so that it does not stand between the reader and the rest.
#[test]
fn every_chapter_shows_a_real_demo_run() {
    for lab in ALL {
        let text = chapter(lab);
        let demo = generated(section(&text, "## Run it"), "demo");
        let held = format!("All {} steps held.", lab.scenarios.len());
        assert!(
            demo.contains(&held),
            "{}.md: the demo output is missing or stale; run `just docs`",
            lab.name
        );
        assert!(
            demo.trim_start().starts_with("<details>") && demo.trim_end().ends_with("</details>"),
            "{}.md: the demo's output is not folded; run `cargo lab docs {}`",
            lab.name,
            lab.name
        );
    }
}

/// The sequence diagram is there, drawn with role names rather than ports.
#[test]
fn every_chapter_has_a_diagram_with_role_names() {
    for lab in ALL {
        let text = chapter(lab);
        let diagram = generated(&text, "diagram");
        assert!(
            diagram.contains("```mermaid\nsequenceDiagram"),
            "{}.md has no diagram; run `just docs`",
            lab.name
        );
        assert!(diagram.contains("participant server"), "{}.md's diagram names no server", lab.name);
        assert!(!diagram.contains("127.0.0.1:"), "{}.md's diagram shows ports instead of names", lab.name);
    }
}

/// "Your turn" is what `cargo lab spec` prints now, from the same definitions the checker runs:
/// a flag, a protocol rule or a scenario changed in the code shows here, or this test fails.
#[test]
fn every_chapter_shows_the_spec_the_checker_runs() {
    for lab in ALL {
        let text = chapter(lab);
        let turn = section(&text, "## Your turn");
        assert!(
            generated(turn, "spec") == format!("\n{}\n", runner::docs::spec_block(lab)),
            "{}.md: \"Your turn\" is not what `cargo lab spec {}` prints; run `cargo lab docs {}`",
            lab.name,
            lab.name,
            lab.name
        );
    }
}

/// "How it is proven" names every scenario, as the code names it.
#[test]
fn every_chapter_names_its_scenarios() {
    for lab in ALL {
        let text = chapter(lab);
        let proven = section(&text, "## How it is proven");
        for scenario in lab.scenarios {
            assert!(
                proven.contains(&format!("`{}`", scenario.name)),
                "{}.md does not name {}",
                lab.name,
                scenario.name
            );
        }
    }
}

/// The book has its introduction (linking each lab), glossary and teachers' page.
#[test]
fn the_book_has_its_introduction_glossary_and_teachers_page() {
    let summary = read("docs/src/SUMMARY.md");
    for page in ["introduction.md", "glossary.md", "teachers.md"] {
        assert!(summary.contains(&format!("({page})")), "SUMMARY.md does not list {page}");
    }
    let intro = read("docs/src/introduction.md");
    for lab in ALL {
        assert!(intro.contains(&format!("({}.md)", lab.name)), "the introduction does not link {}", lab.name);
    }
    let glossary = read("docs/src/glossary.md");
    let terms = ["粘包", "半连接池", "三次握手", "四次挥手", "群主", "sticky packets", "accept queue"];
    for term in terms.into_iter().chain(["TIME_WAIT", "CLOSE_WAIT", "SO_REUSEADDR", "端口复用"]) {
        assert!(glossary.contains(term), "the glossary lacks {term}");
    }
}

/// Every `cargo lab ...` and `just lab ...` in the docs and the README names a lab that exists,
/// and a role that lab has.
#[test]
fn commands_in_the_docs_name_real_labs_and_roles() {
    let mut seen = 0;
    for file in doc_files() {
        let text = fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            for words in quoted_commands(line) {
                seen += 1;
                let place = format!("{}:{}: `{}`", file.display(), number + 1, words.join(" "));
                check_command(&words, &place);
            }
        }
    }
    assert!(seen > 5, "found only {seen} commands: is the scan broken?");
}

/// The words after each `cargo lab` or `just lab` on a line, up to the end of the command.
fn quoted_commands(line: &str) -> Vec<Vec<&str>> {
    let mut commands = Vec::new();
    for prefix in ["cargo lab", "just lab"] {
        for (at, _) in line.match_indices(prefix) {
            let rest = &line[at + prefix.len()..];
            let end = rest.find(['`', '#', '"', ')', '|', ':', ',', '<']).unwrap_or(rest.len());
            commands.push(rest[..end].split_whitespace().collect());
        }
    }
    commands
}

fn check_command(words: &[&str], place: &str) {
    let is_placeholder = |word: &str| word.chars().all(|c| c.is_ascii_uppercase() || c == '.');
    match words {
        [] | ["list" | "docs" | "check" | "spec" | "new" | "progress" | "grade" | "dist"] => {}
        ["list" | "docs" | "book", ..] => {}
        ["check" | "bench" | "spec" | "new" | "grade", name, ..] if is_placeholder(name) => {}
        ["check" | "bench" | "spec" | "new" | "grade", name, ..] => {
            assert!(harness::labs::find(name).is_some(), "{place}: no lab named {name}")
        }
        [name, ..] if is_placeholder(name) => {}
        [name, rest @ ..] => {
            let lab = harness::labs::find(name).unwrap_or_else(|| panic!("{place}: no lab named {name}"));
            if let Some(role) = rest.first().filter(|w| !w.starts_with('-') && !is_placeholder(w)) {
                assert!(lab.roles.contains(role), "{place}: {name} has no role {role}");
            }
        }
    }
}

/// Each lab's list of roles is what its binary really offers.
#[test]
fn each_lab_binary_has_the_roles_it_lists() {
    for lab in ALL {
        let binary = runner::cargo::binary(lab.name, lab.name).unwrap();
        let help = std::process::Command::new(binary).arg("--help").output().unwrap();
        let help = String::from_utf8_lossy(&help.stdout);
        for role in lab.roles {
            assert!(
                help.lines().any(|l| l.trim_start().starts_with(role)),
                "{} --help lacks role {role}",
                lab.name
            );
        }
    }
}

/// Every repository path the docs and the README quote in backticks (`labs/udp-echo/src/main.rs`,
/// `harness/src/labs/`; in a chapter, also from its lab's folder) exists: a file that moved
/// leaves no stale pointer behind.
#[test]
fn paths_quoted_in_the_docs_exist() {
    let mut seen = 0;
    for file in doc_files() {
        let text = fs::read_to_string(&file).unwrap();
        for quoted in text.split('`').skip(1).step_by(2) {
            let is_path =
                ["labs/", "harness/", "runner/", "tests/", "docs/"].iter().any(|top| quoted.starts_with(top))
                    && !quoted.contains(char::is_whitespace)
                    && !quoted.contains(['*', '<', '{', '…']);
            if is_path {
                seen += 1;
                let path = quoted.split(':').next().unwrap_or(quoted);
                // A chapter may name a path from its own lab's folder (`tests/fixtures/...`).
                let lab = root().join("labs").join(file.file_stem().unwrap_or_default());
                let exists = root().join(path).exists() || lab.join(path).exists();
                assert!(exists, "{}: `{quoted}` does not exist", file.display());
            }
        }
    }
    assert!(seen > 10, "found only {seen} paths: is the scan broken?");
}

/// A chapter that shows a capture (runner::capture::CHAPTERS) shows one of a real run, as
/// `cargo lab docs` writes it: for tcp-states, the handshake as its first three frames and a
/// FIN from each end, each frame with who sent it to whom.
#[test]
fn the_capture_chapters_show_the_handshake_and_the_close_from_a_real_capture() {
    for (name, scenario) in runner::capture::CHAPTERS {
        let lab = ALL.iter().find(|lab| lab.name == *name).expect("a chapter of a real lab");
        let text = chapter(lab);
        let block = generated(&text, "capture");
        assert!(
            block.contains(&format!("# {scenario}.pcapng")),
            "{name}.md's capture is not of {scenario}:\n{block}"
        );
        let frames: Vec<&str> = block.lines().filter(|line| line.contains(" -> ")).collect();
        let handshake =
            ["alice -> server", "[SYN]", "server -> alice", "[SYN, ACK]", "alice -> server", "[ACK]"];
        for (at, pair) in handshake.chunks(2).enumerate() {
            let frame = frames.get(at).unwrap_or_else(|| panic!("{name}.md's capture is short:\n{block}"));
            assert!(
                frame.contains(pair[0]) && frame.contains(pair[1]),
                "frame {} is not {pair:?}: {frame}",
                at + 1
            );
        }
        for who in ["alice -> server", "server -> alice"] {
            assert!(
                frames.iter().any(|frame| frame.contains(who) && frame.contains("FIN")),
                "{name}.md's capture has no FIN {who}:\n{block}"
            );
        }
    }
}

/// The udp-group chapter's example of a failing check is a real run of today's scenarios: the
/// page names the scenario that failed, one of udp-group's, with 11 passed beside it, and the
/// capture is a pcapng file whose comments name alice, mallory and the server. (Made again by
/// the command the chapter shows, when the scenarios change.)
#[test]
fn the_udp_group_chapter_keeps_a_real_failing_run() {
    let failed = "a_taken_name_is_refused_and_its_owner_keeps_it";
    assert!(harness::labs::udp_group::LAB.scenarios.iter().any(|s| s.name == failed));
    let folder = root().join("docs/src/examples/udp-group");
    let page = read(folder.join("takeover.html"));
    assert!(page.contains(failed) && page.contains("11 passed, 1 failed"), "the page is not the run shown");
    let chapter = read(root().join("docs/src/udp-group.md"));
    assert!(chapter.contains("examples/udp-group/takeover.html"), "the chapter does not link the page");
    let capture = fs::read(folder.join(format!("{failed}.pcapng"))).expect("the capture is kept");
    assert_eq!(capture[..4], [0x0a, 0x0d, 0x0d, 0x0a], "not a pcapng file (its section header block)");
    let text = String::from_utf8_lossy(&capture);
    for comment in ["alice -> server", "mallory -> server", "server -> mallory"] {
        assert!(text.contains(comment), "the capture's comments lack {comment:?}");
    }
}
