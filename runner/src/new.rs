//! `cargo lab new LAB [--lang python|rust] [DIR]`: a starter for a student's own server,
//! written into DIR (by default `my-LAB`): a Python file or a small cargo project, standard
//! library only, that already takes `--port` and
//! every flag the lab's scenarios pass, binds 127.0.0.1 and prints the ready line, with the
//! lesson's decisions left as TODOs that name the scenario checking each. Beside it a README:
//! the lab's spec and the exact commands to check it, once or on every save. The starters live in `starters/` in the
//! repository, where a teacher can read them; this command writes the copy built into it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use harness::process::quote;
use harness::{Lab, out};

/// Each lab's Python starter, as the repository has it: `server.py`.
const STARTERS: &[(&str, &str)] = &[
    ("udp-echo", include_str!("../../starters/udp-echo/server.py")),
    ("upper", include_str!("../../starters/upper/server.py")),
    ("backlog", include_str!("../../starters/backlog/server.py")),
    ("udp-group", include_str!("../../starters/udp-group/server.py")),
    ("sticky", include_str!("../../starters/sticky/server.py")),
    ("tcp-chat", include_str!("../../starters/tcp-chat/server.py")),
    ("udp-chat", include_str!("../../starters/udp-chat/server.py")),
    ("reliable", include_str!("../../starters/reliable/server.py")),
    ("tcp-states", include_str!("../../starters/tcp-states/server.py")),
    ("tcp-vs-udp", include_str!("../../starters/tcp-vs-udp/server.py")),
];

/// Each lab's Rust starter, as the repository has it: its Cargo.toml and src/main.rs.
const RUST_STARTERS: &[(&str, &str, &str)] = &[
    (
        "udp-echo",
        include_str!("../../starters/udp-echo/rust/Cargo.toml"),
        include_str!("../../starters/udp-echo/rust/src/main.rs"),
    ),
    (
        "upper",
        include_str!("../../starters/upper/rust/Cargo.toml"),
        include_str!("../../starters/upper/rust/src/main.rs"),
    ),
    (
        "backlog",
        include_str!("../../starters/backlog/rust/Cargo.toml"),
        include_str!("../../starters/backlog/rust/src/main.rs"),
    ),
    (
        "udp-group",
        include_str!("../../starters/udp-group/rust/Cargo.toml"),
        include_str!("../../starters/udp-group/rust/src/main.rs"),
    ),
    (
        "sticky",
        include_str!("../../starters/sticky/rust/Cargo.toml"),
        include_str!("../../starters/sticky/rust/src/main.rs"),
    ),
    (
        "tcp-chat",
        include_str!("../../starters/tcp-chat/rust/Cargo.toml"),
        include_str!("../../starters/tcp-chat/rust/src/main.rs"),
    ),
    (
        "udp-chat",
        include_str!("../../starters/udp-chat/rust/Cargo.toml"),
        include_str!("../../starters/udp-chat/rust/src/main.rs"),
    ),
    (
        "reliable",
        include_str!("../../starters/reliable/rust/Cargo.toml"),
        include_str!("../../starters/reliable/rust/src/main.rs"),
    ),
    (
        "tcp-states",
        include_str!("../../starters/tcp-states/rust/Cargo.toml"),
        include_str!("../../starters/tcp-states/rust/src/main.rs"),
    ),
    (
        "tcp-vs-udp",
        include_str!("../../starters/tcp-vs-udp/rust/Cargo.toml"),
        include_str!("../../starters/tcp-vs-udp/rust/src/main.rs"),
    ),
];

/// The languages a starter comes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// One file, standard library only (the language of the original lessons).
    Python,
    /// A small cargo project, std only.
    Rust,
}

/// The starter of `lab` in `lang`: each file's path in the folder and its text.
pub fn starter(lab: &Lab, lang: Lang) -> Option<Vec<(&'static str, &'static str)>> {
    match lang {
        Lang::Python => {
            STARTERS.iter().find(|(name, _)| *name == lab.name).map(|(_, code)| vec![("server.py", *code)])
        }
        Lang::Rust => {
            RUST_STARTERS.iter().find(|(name, _, _)| *name == lab.name).map(|(_, manifest, code)| {
                vec![("Cargo.toml", *manifest), ("src/main.rs", *code), (".gitignore", "/target\n")]
            })
        }
    }
}

/// Where the starter goes when no folder is named: `my-LAB` here.
pub fn default_dir(lab: &Lab) -> PathBuf {
    PathBuf::from(format!("my-{}", lab.name))
}

/// How to check a starter in `dir`, from the folder `new` ran in.
#[derive(Clone, Debug)]
pub struct Commands {
    /// The build to run first, for Rust.
    pub build: Option<String>,
    /// The server command, with `{port}` and `{args}` for the checker to fill in.
    pub server: String,
    /// The folder to watch.
    pub dir: String,
}

impl Commands {
    pub fn new(lab: &Lab, dir: &Path, lang: Lang) -> Commands {
        let folder = dir.display().to_string();
        match lang {
            Lang::Python => Commands {
                build: None,
                server: format!("python3 {} --port {{port}} {{args}}", quote(&format!("{folder}/server.py"))),
                dir: folder,
            },
            Lang::Rust => Commands {
                build: Some(format!(
                    "cargo build --quiet --manifest-path {} --target-dir {}",
                    quote(&format!("{folder}/Cargo.toml")),
                    quote(&format!("{folder}/target"))
                )),
                server: format!(
                    "{} --port {{port}} {{args}}",
                    quote(&format!("{folder}/target/debug/my-{}", lab.name))
                ),
                dir: folder,
            },
        }
    }

    /// The check, once.
    pub fn check(&self, lab: &Lab) -> String {
        let build = self.build.as_ref().map(|build| format!(" --build {}", quote(build))).unwrap_or_default();
        let me = crate::installed::command_name();
        format!("{me} check {}{build} --server {}", lab.name, quote(&self.server))
    }

    /// The check, again on every save in the folder.
    pub fn watch(&self, lab: &Lab) -> String {
        format!("{} --watch {}", self.check(lab), quote(&self.dir))
    }
}

/// `cargo lab new`: write the starter and its README into `dir`, which must be new or empty
/// (nothing is ever overwritten), and say how to check it.
pub fn write(lab: &Lab, dir: &Path, lang: Lang) -> Result<()> {
    let commands = create(lab, dir, lang)?;
    let main = dir.join(if lang == Lang::Rust { "src/main.rs" } else { "server.py" });
    out!("Created {} in {} (and its README.md).", main.display(), dir.display());
    out!("\nCheck it again on every save (Ctrl-C to stop), from this folder:\n  {}", commands.watch(lab));
    out!("\nor once:\n  {}", commands.check(lab));
    Ok(())
}

/// Write the starter and its README into `dir` (new or empty), quietly: the commands that
/// check it.
pub fn create(lab: &Lab, dir: &Path, lang: Lang) -> Result<Commands> {
    let Some(files) = starter(lab, lang) else { bail!("{} has no {} starter yet", lab.name, lang.name()) };
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} is not empty, and nothing in it was touched: name a new folder, as in\n  {} new {} {}-2",
                dir.display(),
                crate::installed::command_name(),
                lab.name,
                dir.display()
            );
        }
    }
    let commands = Commands::new(lab, dir, lang);
    // The starters name the default folder in their commands; say the real one.
    let default = format!("my-{}/", lab.name);
    let here = format!("{}/", dir.display());
    for (name, text) in &files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, crate::installed::named(&text.replace(&default, &here)))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let readme = crate::installed::named(&readme(lab, lang, &commands));
    std::fs::write(dir.join("README.md"), readme).with_context(|| format!("writing {}", dir.display()))?;
    Ok(commands)
}

fn readme(lab: &Lab, lang: Lang, commands: &Commands) -> String {
    let (file, what) = match lang {
        Lang::Python => ("server.py", "Python 3, standard library only"),
        Lang::Rust => ("src/main.rs", "Rust, std only: no crates, the point is the socket code"),
    };
    format!(
        "# Your {name} server\n\n`{file}` ({what}) already takes its flags, binds 127.0.0.1 and prints the \
         ready line; what the lesson is about is left to you, as TODOs naming the scenario that checks each.\n\n\
         From the folder you ran `cargo lab new` in, check it again on every save (Ctrl-C to stop):\n\n\
         ```sh\n{watch}\n```\n\nor once:\n\n```sh\n{check}\n```\n\n\
         Each run shows how many scenarios pass and the first failure: what crossed the wire, and a hint \
         where to look. `cargo lab progress` shows every lab's state. `cargo lab {name}` shows the lab's own \
         server doing it all, narrated.\n\n```text\n{spec}\n```\n",
        name = lab.name,
        watch = commands.watch(lab),
        check = commands.check(lab),
        spec = crate::spec::body(lab).trim_end(),
    )
}

/// The scenarios the TODOs of `lab`'s starters name (`# TODO (name, name): ...`), in both
/// languages: a failure report points a silent starter to the TODO of its scenario.
pub fn todo_scenarios(lab: &Lab) -> Vec<String> {
    let mut names = Vec::new();
    for lang in [Lang::Python, Lang::Rust] {
        for (_, text) in starter(lab, lang).unwrap_or_default() {
            names.extend(todo_names(text));
        }
    }
    names.sort();
    names.dedup();
    names
}

/// The scenario names in the parentheses after each `TODO` in `text`: `TODO (name, name):`.
/// `TODO (spec: ...)` is a rule of the spec that no scenario checks, and names none.
pub fn todo_names(text: &str) -> Vec<String> {
    text.match_indices("TODO (")
        .filter_map(|(at, _)| {
            let rest = &text[at + "TODO (".len()..];
            let inside = &rest[..rest.find(')')?];
            (!inside.starts_with("spec:"))
                .then(|| inside.split(',').map(|name| comment_free(name).to_string()).collect::<Vec<_>>())
        })
        .flatten()
        .collect()
}

/// A word of a TODO without the comment marks of the line it continues on (`#`, `//`).
fn comment_free(word: &str) -> &str {
    word.trim().trim_start_matches(['#', '/']).trim()
}

impl Lang {
    pub fn name(self) -> &'static str {
        match self {
            Lang::Python => "Python",
            Lang::Rust => "Rust",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As rustlings checks its exercise list: in both starters of every lab, every TODO names
    /// real scenarios of its lab (or says it is the spec's alone), both languages name the
    /// same ones, and so every scenario a failure's note points to has its TODO.
    #[test]
    fn every_todo_names_a_real_scenario_in_both_starters() {
        for lab in harness::labs::ALL {
            let mut named = Vec::new();
            for lang in [Lang::Python, Lang::Rust] {
                let files = starter(lab, lang)
                    .unwrap_or_else(|| panic!("{} has no {} starter", lab.name, lang.name()));
                let mut names: Vec<String> = files.iter().flat_map(|(_, text)| todo_names(text)).collect();
                for (file, text) in &files {
                    for (at, _) in text.match_indices("TODO") {
                        let after = &text[at + 4..];
                        assert!(
                            after.starts_with('s') || after.starts_with(" ("),
                            "{}'s {file}: a TODO that names no scenario: {:?}",
                            lab.name,
                            text[at..].lines().next().unwrap_or("")
                        );
                    }
                }
                assert!(!names.is_empty(), "{}'s {} starter names no scenario", lab.name, lang.name());
                for name in &names {
                    assert!(
                        lab.scenarios.iter().any(|s| s.name == name),
                        "{}'s {} starter has a TODO naming {name:?}, which is no scenario of the lab",
                        lab.name,
                        lang.name()
                    );
                }
                names.sort();
                names.dedup();
                named.push(names);
            }
            assert_eq!(
                named[0], named[1],
                "{}'s Python and Rust starters name different scenarios",
                lab.name
            );
            assert_eq!(todo_scenarios(lab), named[0]);
        }
    }

    /// Each starter's README gives the commands in its own language: no `python3` for Rust,
    /// no cargo build for Python.
    #[test]
    fn each_readme_speaks_its_own_language() {
        for lab in harness::labs::ALL {
            let dir = default_dir(lab);
            let python = readme(lab, Lang::Python, &Commands::new(lab, &dir, Lang::Python));
            let rust = readme(lab, Lang::Rust, &Commands::new(lab, &dir, Lang::Rust));
            assert!(!rust.contains("python3") && !rust.contains("server.py"), "{}:\n{rust}", lab.name);
            assert!(
                !python.contains("cargo build") && !python.contains("main.rs"),
                "{}:\n{python}",
                lab.name
            );
            assert!(rust.contains("--build 'cargo build"), "{}:\n{rust}", lab.name);
        }
    }
}
