//! `cargo lab progress`: each lab, not started, n of m scenarios, or done, from the student's
//! own check runs only. `cargo lab check` (and each run of `--watch`) writes a line for the lab
//! and the command it checked into one `lab-progress.txt` (see [`file`]), a plain file a
//! student can read; each lab shows its best.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use harness::style::Style;
use harness::{Lab, labs, out};

/// The file, in the folder `cargo lab` runs in.
pub const FILE: &str = "lab-progress.txt";

const HEADER: &str =
    "# cargo lab progress: the last whole check of each lab with each command (lab, passed/total, command)";

/// One lab's last whole check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub lab: String,
    pub passed: usize,
    pub total: usize,
    /// The command that checked it, to run again.
    pub command: String,
}

impl Entry {
    /// Done: every scenario passed, and the lab has no more now than then.
    pub fn done(&self, lab: &Lab) -> bool {
        self.passed == self.total && self.total == lab.scenarios.len()
    }
}

/// The one progress file, whatever folder the command runs in (a check from inside
/// `my-udp-echo/` counts as much as one from the top): `LAB_PROGRESS` if set; else
/// lab-progress.txt at the top of the socket-labs repository this runner was built from; else
/// (a runner installed without the repository) in the user's state folder,
/// `$XDG_STATE_HOME/socket-labs/` or `~/.local/state/socket-labs/`.
pub fn file() -> Result<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|value| !value.is_empty()).map(PathBuf::from);
    let home = var("XDG_STATE_HOME").or_else(|| var("HOME").map(|home| home.join(".local").join("state")));
    let chosen = choose(var("LAB_PROGRESS"), crate::cargo::workspace_root(), home)
        .context("neither XDG_STATE_HOME nor HOME is set, so there is nowhere to keep your progress")?;
    if let Some(dir) = chosen.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(chosen)
}

/// See [`file`]: `set` (LAB_PROGRESS), else the `repository`'s top if it is one, else
/// `state`/socket-labs.
fn choose(set: Option<PathBuf>, repository: &Path, state: Option<PathBuf>) -> Option<PathBuf> {
    if set.is_some() {
        return set;
    }
    if repository.join("labs").is_dir() && repository.join("Cargo.toml").is_file() {
        return Some(repository.join(FILE));
    }
    Some(state?.join("socket-labs").join(FILE))
}

/// The entries in `file` (none when it does not exist yet). A line that does not parse is
/// passed over: the file is the student's, and may have been edited.
pub fn read(file: &Path) -> Result<Vec<Entry>> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error).with_context(|| format!("reading {}", file.display())),
    };
    Ok(text.lines().filter_map(parse).collect())
}

fn parse(line: &str) -> Option<Entry> {
    if line.starts_with('#') {
        return None;
    }
    let mut words = line.splitn(3, ' ');
    let lab = words.next()?.to_string();
    let (passed, total) = words.next()?.split_once('/')?;
    let command = words.next().unwrap_or("").to_string();
    Some(Entry { lab, passed: passed.parse().ok()?, total: total.parse().ok()?, command })
}

/// Record a whole check of a lab (every scenario run), replacing the line of the same lab
/// checked with the same command: a check of a scratch copy does not undo the real one's done.
pub fn record(file: &Path, entry: Entry) -> Result<()> {
    let mut entries = read(file)?;
    entries.retain(|old| !(old.lab == entry.lab && old.command == entry.command));
    entries.push(entry);
    // A few commands a lab at most: the oldest go.
    const KEPT: usize = 5;
    let mut count = std::collections::HashMap::new();
    for entry in entries.iter().rev() {
        *count.entry(entry.lab.clone()).or_insert(0) += 1;
    }
    entries.retain(|entry| {
        let left = count.get_mut(&entry.lab).expect("counted");
        *left -= 1;
        *left < KEPT
    });
    let order = |name: &str| labs::ALL.iter().position(|lab| lab.name == name).unwrap_or(usize::MAX);
    entries.sort_by_key(|entry| order(&entry.lab));
    let mut text = format!("{HEADER}\n");
    for entry in &entries {
        text.push_str(&format!("{} {}/{} {}\n", entry.lab, entry.passed, entry.total, entry.command));
    }
    std::fs::write(file, text).with_context(|| format!("writing {}", file.display()))
}

/// Record `entry`, but a folder that cannot be written to costs the check nothing but the record.
pub fn keep(file: &Path, entry: Entry) {
    if let Err(error) = record(file, entry) {
        eprintln!("warning: {error:#}: `cargo lab progress` will not show this check");
    }
}

/// The lab after `lab` in the course, if any.
pub fn next_lab(lab: &Lab) -> Option<&'static Lab> {
    let at = labs::ALL.iter().position(|each| each.name == lab.name)?;
    labs::ALL.get(at + 1).copied()
}

/// What to do once `lab` is done.
pub fn next_step(lab: &Lab) -> String {
    match next_lab(lab) {
        Some(next) => format!(
            "Next: {} ({}). Watch it with `{me} {}`, then start yours with `{me} new {}`.",
            next.name,
            next.teaches,
            next.name,
            next.name,
            me = crate::installed::command_name()
        ),
        None => "That was the last lab: every lab of the course is behind you.".to_string(),
    }
}

/// `cargo lab progress`: every lab, in the course's order.
pub fn show(file: &Path) -> Result<()> {
    let entries = read(file)?;
    let style = Style::for_stdout();
    if entries.is_empty() {
        out!("No whole check has been run yet ({} does not exist).", file.display());
        let me = crate::installed::command_name();
        out!("Start with `{me} new {0}`, then check it as its README says.", labs::ALL[0].name);
        return Ok(());
    }
    out!("Your labs, from the best of your whole checks of each (kept in {}):\n", file.display());
    let mut done = 0;
    let mut next = None;
    for lab in labs::ALL {
        // The best check of the lab; of equals, the latest.
        let entry = entries.iter().filter(|entry| entry.lab == lab.name).max_by_key(|entry| entry.passed);
        let status = match entry {
            Some(entry) if entry.done(lab) => {
                done += 1;
                style.paint("32", "done ✓")
            }
            Some(entry) => format!("{} of {} scenarios", entry.passed, lab.scenarios.len()),
            None => style.paint("2", "not started"),
        };
        if next.is_none() && !entry.is_some_and(|entry| entry.done(lab)) {
            next = Some((lab, entry));
        }
        out!("  {:<11} {}", lab.name, status);
    }
    out!("\n{done} of {} labs done.", labs::ALL.len());
    match next {
        Some((lab, Some(entry))) => {
            out!("Next: finish {}:\n  {}", lab.name, entry.command)
        }
        Some((lab, None)) => {
            let me = crate::installed::command_name();
            out!("Next: {}: watch `{me} {}`, then `{me} new {}`.", lab.name, lab.name, lab.name)
        }
        None => out!("Every lab is done."),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One file per repository, wherever the command runs; outside one, the state folder.
    #[test]
    fn progress_is_kept_once_per_repository() {
        let root = crate::cargo::workspace_root();
        assert_eq!(choose(None, root, None), Some(root.join(FILE)));
        let elsewhere = Path::new("/nonexistent/socket-labs-build");
        let state = PathBuf::from("/home/ana/.local/state");
        assert_eq!(choose(None, elsewhere, Some(state.clone())), Some(state.join("socket-labs").join(FILE)));
        assert_eq!(choose(Some("/tmp/p.txt".into()), root, None), Some(PathBuf::from("/tmp/p.txt")));
    }
}
