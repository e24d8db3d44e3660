//! `--build CMD`: the student's build (for a compiled language) before the scenarios, so that
//! a compile error is shown as one, not as every scenario failing to start the server.

use std::process::Command;

use anyhow::Result;
use harness::process::Run;

/// What the build said, when it failed.
pub struct Failed {
    pub command: String,
    pub status: String,
    pub output: String,
}

/// Run `command` in a shell and wait for it. Its output is kept and shown only when it fails:
/// a build that worked has nothing to say to a student checking their server.
pub fn run(command: &str) -> Result<Option<Failed>> {
    run_in(command, None)
}

/// [`run`], in `sandbox` where one is given (`grade`'s), with a build's limits. Like every
/// child, it runs in a process group of its own (killed with the roles on Ctrl-C) and its
/// output is capped.
pub fn run_in(command: &str, sandbox: Option<&harness::sandbox::Sandbox>) -> Result<Option<Failed>> {
    let mut shell = Command::new("sh");
    shell.args(["-c", &format!("exec 2>&1; {command}")]);
    let mut build = Run::new(&format!("the build `{command}`"), shell);
    if let Some(sandbox) = sandbox {
        build = build
            .sandbox(harness::sandbox::Sandbox { limits: sandbox.limits.for_build(), ..sandbox.clone() });
    }
    let done = build.finish()?;
    let Some(status) = done.status.filter(|status| !status.success()) else {
        return Ok(None);
    };
    let status = match status.code() {
        Some(code) => format!("exit status {code}"),
        None => "killed by a signal".to_string(),
    };
    let output = String::from_utf8_lossy(&done.stdout).trim_end().to_string();
    Ok(Some(Failed { command: command.to_string(), status, output }))
}

impl Failed {
    /// The build's own words, then what to do.
    pub fn report(&self) -> String {
        format!(
            "{}\n\nbuild failed ({}): `{}`\nno scenario was run: fix the error above, then check again",
            self.output, self.status, self.command
        )
    }
}
