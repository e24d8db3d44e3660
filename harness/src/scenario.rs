//! Scenarios: named checks of what crosses the wire. One definition serves three uses:
//! a lab's tests run it against the reference binary, `cargo lab check` against a student's
//! server, and `cargo lab NAME` narrates it as a demo.

use std::fmt;
use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};

use crate::peer::{Attempt, TcpPeer, UdpPeer, Unread};
use crate::process::{Program, Role};
use crate::proxy::{Proxy, Rechunk};
use crate::ready::{self, Ready};
use crate::transcript::{Proto, Style, Transcript};
use crate::{READY_WAIT, out};

/// A lab, as the runner and the checker see it.
#[derive(Debug)]
pub struct Lab {
    /// The lab's name, which is also its binary's and its package's.
    pub name: &'static str,
    /// What it teaches, in one line.
    pub teaches: &'static str,
    pub proto: Proto,
    pub default_port: u16,
    /// The binary's roles (its subcommands): `server`, `client`, and any of the lab's own.
    pub roles: &'static [&'static str],
    /// The demo's opening paragraph.
    pub story: &'static str,
    pub scenarios: &'static [Scenario],
    /// Commands to try the lab by hand, one terminal each.
    pub by_hand: &'static [&'static str],
}

impl Lab {
    pub fn scenario(&self, name: &str) -> &Scenario {
        self.scenarios
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{} has no scenario named {name}", self.name))
    }
}

/// One claim about the wire, and the code that proves it.
pub struct Scenario {
    /// A name that says the behaviour, as the test that runs it is named.
    pub name: &'static str,
    /// The claim in plain words.
    pub claim: &'static str,
    /// The kind of server the scenario is for, when it is not for every kind ("iterative").
    pub only: Option<&'static str>,
    pub run: fn(&mut Session) -> Result<()>,
}

impl Scenario {
    /// "[iterative only]", or nothing.
    pub fn tag(&self) -> String {
        self.only.map(|kind| format!(" [{kind} only]")).unwrap_or_default()
    }
}

impl fmt::Debug for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// Which server the scenarios talk to.
#[derive(Clone, Debug)]
pub enum Server {
    /// The lab's own server role.
    Reference,
    /// A shell command line with `{port}`, `{addr}` and `{args}` in it.
    Command(String),
}

/// What a scenario runs against: the lab, its reference binary (for the client roles, and
/// the server unless another is given), and the server under test.
#[derive(Clone, Debug)]
pub struct Target {
    pub lab: &'static Lab,
    pub reference: PathBuf,
    pub server: Server,
    /// Flag-and-value pairs for every start of the reference server (`--mode threaded`); a
    /// scenario that passes the same flag replaces the pair.
    pub server_args: Vec<String>,
}

impl Target {
    pub fn reference(lab: &'static Lab, binary: impl Into<PathBuf>) -> Target {
        Target { lab, reference: binary.into(), server: Server::Reference, server_args: Vec::new() }
    }

    pub fn command(lab: &'static Lab, binary: impl Into<PathBuf>, command: &str) -> Target {
        let server = Server::Command(command.to_string());
        Target { lab, reference: binary.into(), server, server_args: Vec::new() }
    }

    /// A Python server kept as a test fixture: `python3 SCRIPT --port {port} EXTRA {args}`.
    pub fn python(
        lab: &'static Lab,
        binary: impl Into<PathBuf>,
        script: &std::path::Path,
        extra: &str,
    ) -> Target {
        let command = format!("python3 '{}' --port {{port}} {extra} {{args}}", script.display());
        Target::command(lab, binary, &command)
    }

    pub fn with_server_args(mut self, args: &[&str]) -> Target {
        self.server_args = args.iter().map(|a| a.to_string()).collect();
        self
    }
}

/// A scenario that cannot run against this server (it needs flags the command cannot take).
#[derive(Debug)]
pub struct Skip(pub String);

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Skip {}

/// What a scenario gets to work with: ways to start roles and peers, all recorded in one
/// transcript.
pub struct Session {
    target: Target,
    transcript: Transcript,
    peers: Vec<Unread>,
}

impl Session {
    pub fn new(target: &Target, transcript: &Transcript) -> Session {
        Session { target: target.clone(), transcript: transcript.clone(), peers: Vec::new() }
    }

    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    /// Narration: shown in the demo and in a failure's transcript.
    pub fn say(&self, text: impl Into<String>) {
        self.transcript.say(text);
    }

    /// Is the server the lab's own? Only then may a scenario read its stdout, whose wording is
    /// free for other implementations.
    pub fn is_reference(&self) -> bool {
        matches!(self.target.server, Server::Reference)
    }

    /// Start the server under test on a port the OS picks, with extra `args` for the reference
    /// server (a student's command gets them where it says `{args}`).
    pub fn server(&mut self, args: &[&str]) -> Result<Role> {
        self.start_server(self.target.lab.proto, None, args)
    }

    /// Start the server under test on a given loopback port.
    pub fn server_at(&mut self, port: u16, args: &[&str]) -> Result<Role> {
        self.start_server(self.target.lab.proto, Some(port), args)
    }

    /// Start the server under test over the other protocol than the lab's own (sticky's
    /// `--transport udp`): its ready line must name `proto`.
    pub fn server_on(&mut self, proto: Proto, args: &[&str]) -> Result<Role> {
        self.start_server(proto, None, args)
    }

    /// A re-chunking proxy in front of `upstream` (see [`crate::proxy`]), cutting as `rechunk`
    /// says. Its seed is said in the transcript, so that a failure can be replayed
    /// (`Rechunk::seed_from_env` takes it from `LAB_PROXY_SEED`).
    pub fn proxy_with(&mut self, upstream: std::net::SocketAddr, rechunk: Rechunk) -> Result<Proxy> {
        self.say(format!(
            "A proxy re-cuts the stream (pieces of {} to {} bytes, pauses up to {:?}), seed {}: replay with {}={}",
            rechunk.sizes.start(),
            rechunk.sizes.end(),
            rechunk.delays.end(),
            rechunk.seed,
            crate::proxy::SEED_VAR,
            rechunk.seed
        ));
        Proxy::start(upstream, rechunk, &self.transcript)
    }

    fn start_server(&mut self, proto: Proto, port: Option<u16>, args: &[&str]) -> Result<Role> {
        let (mut role, ready) = match &self.target.server {
            Server::Reference => {
                let bind = format!("127.0.0.1:{}", port.unwrap_or(0));
                let mut argv = vec!["server".to_string(), "--bind".to_string(), bind];
                // Base flags come in pairs (`--mode threaded`); a scenario's own flag replaces
                // the base one of the same name.
                for pair in self.target.server_args.chunks(2) {
                    if !args.contains(&pair[0].as_str()) {
                        argv.extend(pair.iter().cloned());
                    }
                }
                argv.extend(args.iter().map(|a| a.to_string()));
                let program = Program::Exec { path: self.target.reference.clone(), args: argv };
                let mut role = Role::spawn("server", program, &self.transcript)?;
                let ready = role.wait_ready(READY_WAIT)?;
                (role, ready)
            }
            Server::Command(command) => {
                if !args.is_empty() && !command.contains("{args}") {
                    return Err(Skip(format!(
                        "needs the server started with `{}`: put {{args}} in your --server command \
                         where such flags go",
                        args.join(" ")
                    ))
                    .into());
                }
                let port = match port {
                    Some(port) => port,
                    None => ready::unused_port(proto)?,
                };
                let line = command
                    .replace("{port}", &port.to_string())
                    .replace("{addr}", &format!("127.0.0.1:{port}"))
                    .replace("{args}", &args.join(" "));
                let mut role = Role::spawn("server", Program::Shell(line), &self.transcript)?;
                let expected = Ready { proto, addr: ([127, 0, 0, 1], port).into() };
                let ready = role.wait_ready_or_bound(expected, READY_WAIT)?;
                (role, ready)
            }
        };
        if ready.proto != proto {
            bail!(
                "the server says it listens on {}, but {} expected it on {proto:?}",
                ready.proto_name(),
                self.target.lab.name
            );
        }
        role.set_addr(ready.addr);
        self.transcript.name(ready.addr, "server");
        Ok(role)
    }

    /// Start one of the lab's own roles (a client, say), always the reference binary.
    pub fn role(&mut self, who: &str, role: &str, args: &[&str]) -> Result<Role> {
        let mut argv = vec![role.to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        Role::spawn(who, Program::Exec { path: self.target.reference.clone(), args: argv }, &self.transcript)
    }

    pub fn udp(&mut self, who: &str) -> Result<UdpPeer> {
        let peer = UdpPeer::bind(who, &self.transcript)?;
        self.peers.push(Unread::of_udp(&peer));
        Ok(peer)
    }

    pub fn tcp(&mut self, who: &str, addr: std::net::SocketAddr) -> Result<TcpPeer> {
        let peer = TcpPeer::connect(who, addr, &self.transcript)?;
        self.peers.push(Unread::of_tcp(&peer));
        Ok(peer)
    }

    /// A connect that may not complete within `within`: see [`TcpPeer::attempt`].
    pub fn tcp_attempt(
        &mut self,
        who: &str,
        addr: std::net::SocketAddr,
        within: std::time::Duration,
    ) -> Result<Attempt> {
        let attempt = TcpPeer::attempt(who, addr, within, &self.transcript)?;
        if let Attempt::Connected(peer) = &attempt {
            self.peers.push(Unread::of_tcp(peer));
        }
        Ok(attempt)
    }

    /// A plain TCP listener on loopback, named `who`, for checking a lab's client role.
    pub fn tcp_listener(&mut self, who: &str) -> Result<std::net::TcpListener> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        self.transcript.name(listener.local_addr()?, who);
        Ok(listener)
    }

    /// The next connection to `listener` (within the usual deadline), as a peer named `who`
    /// talking to the client `other`.
    pub fn accept(&mut self, who: &str, listener: &std::net::TcpListener, other: &str) -> Result<TcpPeer> {
        let peer = TcpPeer::accept(who, other, listener, &self.transcript)?;
        self.peers.push(Unread::of_tcp(&peer));
        Ok(peer)
    }

    /// After a failure: record what reached our peers but was never read.
    fn collect_unread(&self) {
        for peer in &self.peers {
            peer.collect(&self.transcript);
        }
    }
}

/// How one scenario ended.
#[derive(Debug)]
pub enum Outcome {
    Passed,
    Failed(anyhow::Error),
    Skipped(String),
}

/// Run one scenario, recording into `transcript`.
pub fn run(scenario: &Scenario, target: &Target, transcript: &Transcript) -> Outcome {
    let mut session = Session::new(target, transcript);
    match (scenario.run)(&mut session) {
        Ok(()) => Outcome::Passed,
        Err(error) => match error.downcast::<Skip>() {
            Ok(skip) => Outcome::Skipped(skip.0),
            Err(error) => {
                session.collect_unread();
                Outcome::Failed(error)
            }
        },
    }
}

/// What a student reads when a scenario fails: the claim, what failed, and everything that
/// crossed the wire.
pub fn failure_report(
    lab: &Lab,
    scenario: &Scenario,
    error: &anyhow::Error,
    transcript: &Transcript,
) -> String {
    format!(
        "{}: scenario `{}`{} failed\n  claim: {}\n  what failed: {error:#}\n\ntranscript (times from the scenario's start):\n{}",
        lab.name,
        scenario.name,
        scenario.tag(),
        scenario.claim,
        transcript.render()
    )
}

/// For a lab's tests: the named scenario must pass against the reference binary.
pub fn assert_passes(lab: &'static Lab, name: &str, binary: &str) {
    assert_passes_with(lab, name, binary, &[]);
}

/// The same, with flags for every start of the reference server (`--mode threaded`).
pub fn assert_passes_with(lab: &'static Lab, name: &str, binary: &str, server_args: &[&str]) {
    let scenario = lab.scenario(name);
    let transcript = Transcript::new();
    let target = Target::reference(lab, binary).with_server_args(server_args);
    match run(scenario, &target, &transcript) {
        Outcome::Passed => {}
        Outcome::Failed(error) => panic!("\n{}", failure_report(lab, scenario, &error, &transcript)),
        Outcome::Skipped(why) => panic!("{name} was skipped against the reference server: {why}"),
    }
}

/// For a lab's own tests of what is not a conformance scenario (a flag, the client): `check`
/// must hold against `target`, or the test fails with the transcript.
pub fn assert_holds(target: &Target, check: impl FnOnce(&mut Session) -> Result<()>) {
    let transcript = Transcript::new();
    if let Err(error) = check(&mut Session::new(target, &transcript)) {
        panic!("\n{error:#}\n\ntranscript:\n{}", transcript.render());
    }
}

/// For the tests of other implementations: every scenario must pass against `target`, none
/// skipped.
pub fn assert_all_pass(target: &Target) {
    for scenario in target.lab.scenarios {
        let transcript = Transcript::new();
        match run(scenario, target, &transcript) {
            Outcome::Passed => {}
            Outcome::Failed(error) => {
                panic!("\n{}", failure_report(target.lab, scenario, &error, &transcript))
            }
            Outcome::Skipped(why) => panic!("{} was skipped: {why}", scenario.name),
        }
    }
}

/// For the tests that prove the scenarios bite: `caught` pairs each scenario with the bug (a
/// broken variant of a fixture) that it must catch, and every scenario must have one.
pub fn assert_every_scenario_has_a_bug(lab: &Lab, caught: &[(&str, &str)]) {
    for scenario in lab.scenarios {
        assert!(
            caught.iter().any(|(name, _)| *name == scenario.name),
            "scenario {} of {} has no broken variant that it is shown to catch",
            scenario.name,
            lab.name
        );
    }
}

/// For a lab's bite tests: the scenario `name` must fail against the server with `bug`
/// (`server_with("--bug BUG")`), and its report must say what failed and show the transcript.
pub fn assert_catches(lab: &'static Lab, (name, bug): (&str, &str), server_with: impl Fn(&str) -> Target) {
    let report = expect_failure(lab.scenario(name), &server_with(&format!("--bug {bug}")))
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(report.contains("what failed:"), "{report}");
    assert!(report.contains("transcript"), "{report}");
}

/// For the tests that prove a scenario bites: it must fail against `target`. Returns the
/// failure report, so the test can check that it shows the fault.
pub fn expect_failure(scenario: &Scenario, target: &Target) -> Result<String> {
    let transcript = Transcript::new();
    match run(scenario, target, &transcript) {
        Outcome::Failed(error) => Ok(failure_report(target.lab, scenario, &error, &transcript)),
        Outcome::Passed => Err(anyhow!(
            "scenario {} passed against `{:?}`, which it should have caught:\n{}",
            scenario.name,
            target.server,
            transcript.render()
        )),
        Outcome::Skipped(why) => Err(anyhow!("scenario {} was skipped: {why}", scenario.name)),
    }
}

/// `cargo lab check`: every scenario against the target, a line each, the transcript for each
/// failure. True when none failed.
pub fn check(target: &Target) -> bool {
    let lab = target.lab;
    let style = Style::for_stdout();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for scenario in lab.scenarios {
        let transcript = Transcript::new();
        match run(scenario, target, &transcript) {
            Outcome::Passed => {
                passed += 1;
                out!(
                    "{} {}{} — {}",
                    style.paint("32", "PASS"),
                    scenario.name,
                    scenario.tag(),
                    scenario.claim
                );
            }
            Outcome::Skipped(why) => {
                skipped += 1;
                out!("{} {}{} — {why}", style.paint("33", "SKIP"), scenario.name, scenario.tag());
            }
            Outcome::Failed(error) => {
                failed += 1;
                out!(
                    "{} {}{} — {}",
                    style.paint("31", "FAIL"),
                    scenario.name,
                    scenario.tag(),
                    scenario.claim
                );
                out!("{}\n", indent(&failure_report(lab, scenario, &error, &transcript)));
            }
        }
    }
    out!("\n{}: {passed} passed, {failed} failed, {skipped} skipped", lab.name);
    failed == 0
}

/// `cargo lab NAME`: every scenario narrated live. True when every step held.
pub fn demo(target: &Target) -> bool {
    let lab = target.lab;
    let style = Style::for_stdout();
    out!("{}", style.paint("1", &format!("{} — {}", lab.name, lab.teaches)));
    out!("\n{}\n", lab.story.trim());
    out!("Each step starts real processes and sockets on 127.0.0.1; times are from the step's start.");
    let mut held = 0;
    for (number, scenario) in lab.scenarios.iter().enumerate() {
        let heading = format!("── {}/{} {} ", number + 1, lab.scenarios.len(), scenario.claim);
        out!("\n{}", style.paint("1;34", &heading));
        let transcript = Transcript::live();
        match run(scenario, target, &transcript) {
            Outcome::Passed => {
                held += 1;
                out!("   {}", style.paint("32", "✔ held"));
            }
            Outcome::Skipped(why) => out!("   {}", style.paint("33", &format!("skipped: {why}"))),
            Outcome::Failed(error) => {
                out!("   {}", style.paint("31", &format!("✘ did not hold: {error:#}")));
            }
        }
    }
    let all = lab.scenarios.len();
    let verdict = if held == all {
        style.paint("32", &format!("All {all} steps held."))
    } else {
        style.paint("31", &format!("{held} of {all} steps held."))
    };
    out!("\n{verdict}\n\nTry it by hand, one terminal each:");
    for command in lab.by_hand {
        out!("    {command}");
    }
    held == all
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("    {line}")).collect::<Vec<_>>().join("\n")
}

/// `cargo lab NAME --diagram`: run every scenario quietly and draw what crossed the wire as
/// one Mermaid sequence diagram. Fails if a scenario does not hold.
pub fn diagram(target: &Target) -> Result<String> {
    let mut sections = Vec::new();
    for scenario in target.lab.scenarios {
        let transcript = Transcript::new();
        match run(scenario, target, &transcript) {
            Outcome::Passed => sections.push((scenario.claim, transcript.events())),
            Outcome::Failed(error) => bail!("{}", failure_report(target.lab, scenario, &error, &transcript)),
            Outcome::Skipped(why) => bail!("{} was skipped: {why}", scenario.name),
        }
    }
    Ok(crate::diagram::sequence(&sections))
}
