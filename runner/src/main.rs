//! `cargo lab`: the runner. Lists the labs, narrates a lab's demo, runs one of its roles, or
//! checks another implementation against the lab's scenarios. The commands live in the
//! library beside this file; here are the command line and what each word of it runs.
//!
//! ```text
//! cargo lab                          # list the labs
//! cargo lab NAME                     # narrated demo of NAME; exit 0 when every step held
//! cargo lab NAME ROLE [ARGS...]      # one role, interactively (same as the lab's binary)
//! cargo lab check NAME --server CMD  # NAME's scenarios against your own server
//! cargo lab spec NAME                # what your own server must do
//! cargo lab new NAME [DIR]           # a starter for your own server, in Python
//! cargo lab book [--open]            # the lessons as a book, served on 127.0.0.1
//! ```

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use harness::scenario::Hints;
use harness::{Lab, Target, labs, out};
use runner::{cargo, check, demo, docs, new, spec};

#[derive(Parser)]
#[command(
    name = "cargo lab",
    bin_name = "cargo lab",
    about = "Run a socket lab's narrated demo, one of its roles, or its checks against your own server.",
    after_help = "Examples:\n  cargo lab udp-echo                 narrated demo\n  cargo lab udp-echo server          run the server yourself\n  cargo lab check udp-echo --server 'python3 my_echo.py --port {port} {args}'"
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
        /// How many scenarios run at once (each has its own server and ports); 1 runs them one
        /// after another.
        /// (Default: a few per core; with --fail-fast, 1, so that nothing runs past a failure.)
        #[arg(long, short = 'j', value_name = "N")]
        jobs: Option<usize>,
        /// Run only this scenario (repeat the flag for more).
        #[arg(long = "scenario", value_name = "NAME")]
        only: Vec<String>,
        /// Start no more scenarios once one has failed.
        #[arg(long)]
        fail_fast: bool,
        /// Leave out the hint under each failure (where to look in your server): for an exam.
        #[arg(long)]
        no_hints: bool,
        /// (Words after CMD that the shell split off: an error that says to quote CMD.)
        #[arg(hide = true, trailing_var_arg = true, allow_hyphen_values = true)]
        stray: Vec<String>,
    },
    /// What your own server must do for a lab: its flags, its ready line, the protocol, each
    /// scenario that checks it, and the command that runs them.
    Spec {
        /// The lab whose server to describe.
        lab: String,
    },
    /// A starter for your own server (Python, standard library only): it takes the flags,
    /// binds the port and prints the ready line; the lesson's decisions are TODOs, each naming
    /// the scenario that checks it. Never overwrites anything.
    New {
        /// The lab whose server to start.
        lab: String,
        /// The folder to write it into, new or empty (default: my-LAB).
        dir: Option<std::path::PathBuf>,
    },
    /// Print a lab's benchmark figures (its bench target, built in release mode).
    Bench {
        /// The lab to measure.
        lab: String,
    },
    /// Regenerate the generated parts of docs/src (each chapter's demo output and diagram).
    Docs {
        /// Only these labs' chapters (all of them when none is named).
        labs: Vec<String>,
    },
    /// Serve the lessons as a book (mdBook) on 127.0.0.1, with their diagrams drawn; it is
    /// rebuilt whenever a chapter changes.
    Book {
        /// Open it in your web browser too.
        #[arg(long)]
        open: bool,
        /// The port to serve it on (default: 3000, or any free port if 3000 is taken; 0: any
        /// free port).
        #[arg(long, value_name = "N")]
        port: Option<u16>,
    },
    /// NAME [ROLE ARGS...]: the narrated demo of lab NAME, or one of its roles.
    /// `cargo lab NAME --diagram` prints the demo's exchange as a Mermaid sequence diagram.
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
        Some(Command::Check { lab, server, jobs, only, fail_fast, no_hints, stray }) => {
            let lab = find(&lab)?;
            let mut whole = [server.as_str()]
                .into_iter()
                .chain(stray.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" ");
            if !whole.contains("{port}") && !whole.contains("{addr}") {
                whole.push_str(" --port {port} {args}");
            }
            if !stray.is_empty() {
                eprintln!(
                    "error: `{}` came after --server's command: the shell split it into words\n\
                     hint: put the whole command in quotes, as in\n  cargo lab check {} --server '{whole}'",
                    stray.join(" "),
                    lab.name
                );
                return Ok(ExitCode::from(2));
            }
            if !server.contains("{port}") && !server.contains("{addr}") {
                eprintln!(
                    "error: the --server command has neither {{port}} nor {{addr}} in it, so your server \
                     cannot know which port the checker gave it\n\
                     hint: pass the port to your server, as in\n  cargo lab check {} --server '{whole}'",
                    lab.name
                );
                return Ok(ExitCode::from(2));
            }
            let target = Target::command(lab, reference_binary(lab)?, &server);
            let jobs = jobs.unwrap_or(if fail_fast { 1 } else { check::default_jobs() });
            let hints = if no_hints { Hints::Hidden } else { Hints::Shown };
            let options = check::Options { jobs, only, fail_fast, hints };
            let count = check::selected(&target, &options)?.len();
            out!("checking `{server}` against {}'s scenarios, {} at a time\n", lab.name, jobs.min(count));
            Ok(verdict(check::check(&target, &options)?))
        }
        Some(Command::New { lab, dir }) => {
            let lab = find(&lab)?;
            new::write(lab, &dir.unwrap_or_else(|| new::default_dir(lab)))?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Spec { lab }) => {
            out!("{}", spec::render(find(&lab)?).trim_end());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Bench { lab }) => {
            let lab = find(&lab)?;
            let with_benches: Vec<&str> =
                labs::ALL.iter().map(|lab| lab.name).filter(|name| has_bench(name)).collect();
            if !has_bench(lab.name) {
                bail!("{} has no benchmark; the labs with one are: {}", lab.name, with_benches.join(", "));
            }
            let status = cargo::command("bench")
                .args(["--quiet", "--package", lab.name, "--bench", lab.name])
                .status()
                .context("running cargo bench")?;
            Ok(verdict(status.success()))
        }
        Some(Command::Docs { labs }) => {
            let labs = match labs.is_empty() {
                true => labs::ALL.to_vec(),
                false => labs.iter().map(|name| find(name)).collect::<Result<_>>()?,
            };
            docs::regenerate(&labs)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Book { open, port }) => runner::book::serve(port, open),
        Some(Command::Lab(args)) => {
            let lab = find(&args[0])?;
            let binary = reference_binary(lab)?;
            match args.get(1).map(String::as_str) {
                None => Ok(verdict(demo::demo(&Target::reference(lab, binary)))),
                Some("--diagram") => {
                    out!("{}", demo::diagram(&Target::reference(lab, binary))?);
                    Ok(ExitCode::SUCCESS)
                }
                Some(_) => run_role(&binary, &args[1..]),
            }
        }
    }
}

fn list() {
    out!("The labs (run one with `cargo lab NAME`), with the address each server listens on:\n");
    for lab in labs::ALL {
        let port = format!("{}://127.0.0.1:{}", ready_proto(lab), lab.default_port);
        out!("  {:<10} {:<21} {}", lab.name, port, lab.teaches);
    }
    out!("\nAlso: `cargo lab NAME ROLE` runs one role (server, client, ...) by hand,");
    out!("      `cargo lab spec NAME` says what your own server must do,");
    out!("      `cargo lab new NAME` writes a starter for it,");
    out!("      `cargo lab check NAME --server CMD` checks your own server.");
}

fn ready_proto(lab: &Lab) -> &'static str {
    match lab.proto {
        harness::Proto::Udp => "udp",
        harness::Proto::Tcp => "tcp",
    }
}

fn find(name: &str) -> Result<&'static Lab> {
    match labs::find(name) {
        Some(lab) => Ok(lab),
        None => {
            let names: Vec<&str> = labs::ALL.iter().map(|lab| lab.name).collect();
            let near =
                names.iter().min_by_key(|lab| distance(name, lab)).filter(|lab| distance(name, lab) <= 2);
            match near {
                Some(near) => bail!("there is no lab named {name:?}; did you mean {near}?"),
                None => bail!("there is no lab named {name:?}; the labs are: {}", names.join(", ")),
            }
        }
    }
}

/// How many single-character edits turn `a` into `b` (Levenshtein): for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Does the lab have a bench target (`labs/NAME/benches/`)?
fn has_bench(lab: &str) -> bool {
    cargo::workspace_root().join("labs").join(lab).join("benches").is_dir()
}

fn reference_binary(lab: &Lab) -> Result<std::path::PathBuf> {
    cargo::binary(lab.name, lab.name)
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
