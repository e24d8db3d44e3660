//! `cargo lab`: the runner. Lists the labs, narrates a lab's demo, runs one of its roles, or
//! checks another implementation against the lab's scenarios.
//!
//! ```text
//! cargo lab                          # list the labs
//! cargo lab NAME                     # narrated demo of NAME; exit 0 when every step held
//! cargo lab NAME ROLE [ARGS...]      # one role, interactively (same as the lab's binary)
//! cargo lab check NAME --server CMD  # NAME's scenarios against your own server
//! ```

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use harness::scenario::{self, Target};
use harness::{Lab, labs, out};

#[derive(Parser)]
#[command(
    name = "cargo lab",
    bin_name = "cargo lab",
    about = "Run a socket lab's narrated demo, one of its roles, or its checks against your own server.",
    after_help = "Examples:\n  cargo lab udp-echo                 narrated demo\n  cargo lab udp-echo server          run the server yourself\n  cargo lab check udp-echo --server 'python3 my_echo.py {port}'"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// List the labs (the same as `cargo lab` alone).
    List,
    /// Run a lab's conformance scenarios against your own server, in any language.
    Check {
        /// The lab whose scenarios to run.
        lab: String,
        /// Shell command that starts your server. `{port}` and `{addr}` are replaced by the port
        /// and address (127.0.0.1:PORT) the checker chose; `{args}` by the flags a scenario
        /// needs (`--buf 16`, say). Scenarios that need flags are skipped without `{args}`.
        /// The server is ready when it prints `listening on udp://ADDR` (or tcp://) or, if it
        /// prints nothing, once the port is bound.
        #[arg(long, value_name = "CMD")]
        server: String,
    },
    /// NAME [ROLE ARGS...]: the narrated demo of lab NAME, or one of its roles.
    #[command(external_subcommand)]
    Lab(Vec<String>),
}

fn main() -> ExitCode {
    harness::process::interrupt::kill_roles_on_signal();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        None | Some(Command::List) => {
            list();
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Check { lab, server }) => {
            let lab = find(&lab)?;
            let target = Target::command(lab, reference_binary(lab)?, &server);
            out!("checking `{server}` against {}'s {} scenarios\n", lab.name, lab.scenarios.len());
            Ok(verdict(scenario::check(&target)))
        }
        Some(Command::Lab(args)) => {
            let lab = find(&args[0])?;
            let binary = reference_binary(lab)?;
            if args.len() == 1 {
                Ok(verdict(scenario::demo(&Target::reference(lab, binary))))
            } else {
                run_role(&binary, &args[1..])
            }
        }
    }
}

fn list() {
    out!("The labs (run one with `cargo lab NAME`):\n");
    for lab in labs::ALL {
        out!("  {:<10} {}", lab.name, lab.teaches);
    }
    out!("\nAlso: `cargo lab NAME ROLE` runs one role (server, client, ...) by hand,");
    out!("      `cargo lab check NAME --server CMD` checks your own server.");
}

fn find(name: &str) -> Result<&'static Lab> {
    match labs::find(name) {
        Some(lab) => Ok(lab),
        None => {
            let names: Vec<&str> = labs::ALL.iter().map(|lab| lab.name).collect();
            bail!("there is no lab named {name:?}; the labs are: {}", names.join(", "))
        }
    }
}

fn reference_binary(lab: &Lab) -> Result<std::path::PathBuf> {
    harness::cargo::binary(lab.name, lab.name)
}

fn verdict(all_held: bool) -> ExitCode {
    if all_held { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Run one role in this terminal, as if the lab's binary had been started directly.
fn run_role(binary: &std::path::Path, args: &[String]) -> Result<ExitCode> {
    let mut command = std::process::Command::new(binary);
    command.args(args);
    #[cfg(unix)]
    {
        // Become the lab's process: Ctrl-C, stdin and the exit status are all its own.
        use std::os::unix::process::CommandExt;
        let error = command.exec();
        Err(error).with_context(|| format!("starting {}", binary.display()))
    }
    #[cfg(not(unix))]
    {
        let status = command.status().with_context(|| format!("starting {}", binary.display()))?;
        Ok(ExitCode::from(status.code().unwrap_or(1) as u8))
    }
}
