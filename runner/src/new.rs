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
        format!("cargo lab check {}{build} --server {}", lab.name, quote(&self.server))
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
                "{} is not empty, and nothing in it was touched: name a new folder, as in\n  cargo lab new {} {}-2",
                dir.display(),
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
        std::fs::write(&path, text.replace(&default, &here))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let readme = readme(lab, lang, &commands);
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

/// The names in the parentheses after each `TODO` in `text`.
pub fn todo_names(text: &str) -> Vec<String> {
    text.match_indices("TODO (")
        .filter_map(|(at, _)| {
            let rest = &text[at + "TODO (".len()..];
            Some(rest[..rest.find(')')?].split(',').map(|name| name.trim().to_string()).collect::<Vec<_>>())
        })
        .flatten()
        .collect()
}

impl Lang {
    pub fn name(self) -> &'static str {
        match self {
            Lang::Python => "Python",
            Lang::Rust => "Rust",
        }
    }
}
