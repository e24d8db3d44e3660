//! `cargo lab new LAB [DIR]`: a starter for a student's own server, written into DIR (by
//! default `my-LAB`): a Python file, standard library only, that already takes `--port` and
//! every flag the lab's scenarios pass, binds 127.0.0.1 and prints the ready line, with the
//! lesson's decisions left as TODOs that name the scenario checking each. Beside it a README:
//! the lab's spec and the exact command to check it. The starters live in `starters/` in the
//! repository, where a teacher can read them; this command writes the copy built into it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use harness::{Lab, out};

/// Each lab's Python starter, as the repository has it.
const STARTERS: &[(&str, &str)] = &[
    ("udp-echo", include_str!("../../starters/udp-echo/server.py")),
    ("upper", include_str!("../../starters/upper/server.py")),
    ("backlog", include_str!("../../starters/backlog/server.py")),
    ("udp-group", include_str!("../../starters/udp-group/server.py")),
    ("sticky", include_str!("../../starters/sticky/server.py")),
    ("tcp-chat", include_str!("../../starters/tcp-chat/server.py")),
    ("udp-chat", include_str!("../../starters/udp-chat/server.py")),
    ("tcp-states", include_str!("../../starters/tcp-states/server.py")),
];

/// The starter of `lab`.
pub fn starter(lab: &Lab) -> Option<&'static str> {
    STARTERS.iter().find(|(name, _)| *name == lab.name).map(|(_, text)| *text)
}

/// Where the starter goes when no folder is named: `my-LAB` here.
pub fn default_dir(lab: &Lab) -> PathBuf {
    PathBuf::from(format!("my-{}", lab.name))
}

/// Write the starter and its README into `dir`, which must be new or empty: nothing is ever
/// overwritten.
pub fn write(lab: &Lab, dir: &Path) -> Result<()> {
    let Some(code) = starter(lab) else { bail!("{} has no starter yet", lab.name) };
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
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let server = dir.join("server.py");
    let check = format!(
        "cargo lab check {} --server 'python3 {} --port {{port}} {{args}}'",
        lab.name,
        server.display()
    );
    let readme = format!(
        "# Your {name} server\n\n`server.py` already takes its flags, binds 127.0.0.1 and prints the ready line; \
         what the lesson is about is left to you, as TODOs naming the scenario that checks each.\n\n\
         From the repository's folder, after each change:\n\n```sh\n{check}\n```\n\n\
         A FAIL shows what crossed the wire and a hint. `cargo lab {name}` shows the lab's own server \
         doing it all, narrated.\n\n```text\n{spec}\n```\n",
        name = lab.name,
        spec = crate::spec::render(lab).trim_end(),
    );
    std::fs::write(&server, code).with_context(|| format!("writing {}", server.display()))?;
    std::fs::write(dir.join("README.md"), readme).with_context(|| format!("writing {}", dir.display()))?;
    out!("Created {} and {}.", server.display(), dir.join("README.md").display());
    out!("\nCheck it, from here, after each change:\n  {check}");
    Ok(())
}
