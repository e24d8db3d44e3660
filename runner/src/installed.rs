//! The runner as pip installs it from the wheel (`socket-labs`), with no repository and no
//! cargo. pip puts the runner in the environment's `bin/` and the wheel's data in the folder
//! above it: the lab binaries in `share/socket-labs/labs/`, the built book in
//! `share/socket-labs/book/`. A virtual environment, `pip install --user` and a system-wide
//! install all lay it out so: scripts in PREFIX/bin, data in PREFIX.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Result, bail};

/// Where the wheel's data lies beneath the prefix (`cargo lab dist` stages it so).
pub const DATA_DIR: &str = "share/socket-labs";

/// The file in DATA_DIR that says what the folder is: an installation has it.
pub const MARKER: &str = "README.txt";

/// The installed data folder when this runner came from the wheel; None in the repository
/// (`target/debug/lab` has no `share/socket-labs/` above it).
pub fn data() -> Option<&'static Path> {
    static DATA: OnceLock<Option<PathBuf>> = OnceLock::new();
    DATA.get_or_init(|| data_beside(&std::env::current_exe().ok()?)).as_deref()
}

/// The data folder of an installation whose runner is `exe` (PREFIX/bin/socket-labs): None
/// unless PREFIX/share/socket-labs has the wheel's README.txt.
fn data_beside(exe: &Path) -> Option<PathBuf> {
    let data = exe.parent()?.parent()?.join(DATA_DIR);
    data.join(MARKER).is_file().then_some(data)
}

/// What the user types to run the runner: `socket-labs` when installed, else `cargo lab`.
pub fn command_name() -> &'static str {
    if data().is_some() { "socket-labs" } else { "cargo lab" }
}

/// `text` as the user should type it: `cargo lab` becomes `socket-labs` when installed.
pub fn named(text: &str) -> String {
    text.replace("cargo lab", command_name())
}

/// An installed lab binary: `share/socket-labs/labs/BIN`.
pub fn lab_binary(data: &Path, bin: &str) -> Result<PathBuf> {
    let path = data.join("labs").join(bin);
    if !path.is_file() {
        bail!(
            "this installation of socket-labs has no {bin} (looked for {})\n\
             hint: install the wheel again: pip install --force-reinstall socket_labs-….whl",
            path.display()
        );
    }
    Ok(path)
}

/// The book as the wheel holds it, built already.
pub fn book() -> Option<PathBuf> {
    data().map(|data| data.join("book"))
}

/// Refuse a command that compiles or writes into the repository, when installed from the wheel.
pub fn needs_repository(command: &str) -> Result<()> {
    if data().is_some() {
        bail!(
            "`socket-labs {command}` needs Rust and the socket-labs repository, which the wheel does not hold\n\
             hint: in a clone of the repository, run `cargo lab {command}` instead"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pip's layout: the runner in PREFIX/bin, the data in PREFIX/share/socket-labs. A runner
    /// elsewhere (target/debug/lab) is not an installation, nor one whose folder lacks README.txt.
    #[test]
    fn an_installation_is_the_data_folder_beside_the_runners_bin() {
        let prefix = tempfile::tempdir().unwrap();
        let exe = prefix.path().join("bin/socket-labs");
        let data = prefix.path().join(DATA_DIR);
        std::fs::create_dir_all(data.join("labs")).unwrap();
        assert_eq!(data_beside(&exe), None, "no README.txt yet");
        std::fs::write(data.join(MARKER), "socket-labs").unwrap();
        assert_eq!(data_beside(&exe), Some(data.clone()));
        assert_eq!(data_beside(&prefix.path().join("target/debug/lab")), None);
        assert!(lab_binary(&data, "udp-echo").is_err(), "a missing binary is an error");
        std::fs::write(data.join("labs/udp-echo"), "").unwrap();
        assert_eq!(lab_binary(&data, "udp-echo").unwrap(), data.join("labs/udp-echo"));
    }
}
