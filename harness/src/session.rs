//! A session: what one scenario runs against (the [`Target`]) and works with: ways to start
//! the server under test, the lab's own roles and raw peers, all recorded in one transcript.

use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::READY_WAIT;
use crate::link::{Link, Plan};
use crate::peer::{Attempt, TcpPeer, UdpPeer, Unread};
use crate::ports::{self, HeldPort};
use crate::process::{Program, Role, Spawn};
use crate::proxy::{Proxy, Rechunk};
use crate::ready::{Ready, WrongPort};
use crate::sandbox::Sandbox;
use crate::scenario::Lab;
use crate::tap::Tap;
use crate::transcript::{Proto, Transcript};

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
    /// How long a server may take to be ready ([`READY_WAIT`] unless the user says).
    pub ready_wait: Duration,
    /// Where a server command runs: `None`, as the user who runs the check; see
    /// [`crate::sandbox`].
    pub sandbox: Option<Sandbox>,
}

impl Target {
    pub fn reference(lab: &'static Lab, binary: impl Into<PathBuf>) -> Target {
        Target::new(lab, binary.into(), Server::Reference)
    }

    fn new(lab: &'static Lab, reference: PathBuf, server: Server) -> Target {
        Target { lab, reference, server, server_args: Vec::new(), ready_wait: READY_WAIT, sandbox: None }
    }

    pub fn command(lab: &'static Lab, binary: impl Into<PathBuf>, command: &str) -> Target {
        Target::new(lab, binary.into(), Server::Command(command.to_string()))
    }

    /// A Python server kept as a test fixture: `python3 SCRIPT --port {port} EXTRA {args}`.
    pub fn python(
        lab: &'static Lab,
        binary: impl Into<PathBuf>,
        script: &std::path::Path,
        extra: &str,
    ) -> Target {
        let python = crate::process::quote(python3());
        let command = format!("{python} '{}' --port {{port}} {extra} {{args}}", script.display());
        Target::command(lab, binary, &command)
    }

    pub fn with_server_args(mut self, args: &[&str]) -> Target {
        self.server_args = args.iter().map(|a| a.to_string()).collect();
        self
    }

    pub fn with_ready_wait(mut self, within: Duration) -> Target {
        self.ready_wait = within;
        self
    }
}

/// The Python interpreter itself, asked once: `python3` on PATH may be a version manager's
/// shim (pyenv's is a shell script), which would double the cost of every fixture's start.
pub fn python3() -> &'static str {
    static PYTHON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PYTHON.get_or_init(|| {
        let asked = std::process::Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .stderr(std::process::Stdio::null())
            .output();
        match asked {
            Ok(output) if output.status.success() => {
                String::from_utf8_lossy(&output.stdout).trim().to_string()
            }
            _ => "python3".to_string(),
        }
    })
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
        self.server_on(self.target.lab.proto, args)
    }

    /// Start the server under test on a given loopback port.
    pub fn server_at(&mut self, port: u16, args: &[&str]) -> Result<Role> {
        self.start_server(self.target.lab.proto, Some(port), args)
    }

    /// Start the server under test over the other protocol than the lab's own (sticky's
    /// `--transport udp`): its ready line must name `proto`.
    pub fn server_on(&mut self, proto: Proto, args: &[&str]) -> Result<Role> {
        if matches!(self.target.server, Server::Reference) {
            return self.start_server(proto, None, args);
        }
        // A server that must be told its port gets one we picked: another program may take it
        // before the server binds it. Only when that is what went wrong is another tried.
        for attempt in 1..=3 {
            let port = ports::unused_port(proto)?;
            match self.start_server(proto, Some(port), args) {
                Err(error) if attempt < 3 && !error.is::<Skip>() && ports::is_bound(proto, port) => {
                    self.say(format!(
                        "(another program took port {port} meanwhile: {error:#}; trying another)"
                    ));
                    self.transcript.abandon_attempt();
                }
                started => return started,
            }
        }
        unreachable!("the third attempt returns")
    }

    /// Start the server under test on a port where nobody listened before: `before` runs
    /// first, with the port held closed (a datagram sent there is lost, a connect refused),
    /// then the port is let go and the server started there. Another program may take the
    /// port in between; only when that is what went wrong is another port tried, three at most.
    pub fn server_after<T>(
        &mut self,
        args: &[&str],
        mut before: impl FnMut(&mut Session, SocketAddr) -> Result<T>,
    ) -> Result<(Role, T)> {
        let proto = self.target.lab.proto;
        for attempt in 1..=3 {
            let held = HeldPort::closed(proto)?;
            let addr = held.addr();
            self.transcript.name(addr, "server");
            let value = before(self, addr)?;
            if !held.release() {
                self.say("(the port stayed bound by another program after we let go of it; trying another)");
                continue;
            }
            match self.server_at(addr.port(), args) {
                Ok(server) => return Ok((server, value)),
                // A server without SO_REUSEADDR can still meet the copy described at
                // ports::closed_tcp_port: the table cannot show it, the server's words can.
                Err(error)
                    if attempt < 3 && (ports::is_bound(proto, addr.port()) || self.said_address_in_use()) =>
                {
                    self.say(format!("(another program took the port meanwhile: {error:#}; trying another)"));
                    self.transcript.abandon_attempt();
                }
                Err(error) => return Err(error),
            }
        }
        bail!("three ports in a row were taken by other programs before the server could start")
    }

    /// Whether the server that just failed to start said its port was in use (EADDRINUSE's
    /// words, as the C library, Python and Rust all print them).
    fn said_address_in_use(&self) -> bool {
        self.transcript.last_stderr("server", 12).iter().any(|line| line.contains("Address already in use"))
    }

    /// A tap in front of the running `server`, for the lab's client role `who`: every byte
    /// between them is recorded (see [`crate::tap`]). The client is to be pointed at
    /// `tap.addr()`.
    pub fn tap(&mut self, server: &Role, who: &str) -> Result<Tap> {
        let tap = Tap::start(self.target.lab.proto, server.addr(), who, &self.transcript)?;
        self.say(format!(
            "({who} reaches the server through a relay that records every byte between them: the \
             server sees the relay's address, not {who}'s)"
        ));
        Ok(tap)
    }

    /// A re-chunking proxy in front of `upstream` (see [`crate::proxy`]), cutting as `rechunk`
    /// says. Its seed is said in the transcript, so that a failure can be replayed
    /// (`Rechunk::seed_from_env` takes it from `LAB_PROXY_SEED`).
    pub fn proxy_with(&mut self, upstream: SocketAddr, rechunk: Rechunk) -> Result<Proxy> {
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

    /// A lossy link in front of `to`, for `near` (who is to send to `link.addr()`): see
    /// [`crate::link`]. What it does is said in the transcript, with its seed.
    pub fn link(&mut self, near: &str, to: SocketAddr, plan: Plan) -> Result<Link> {
        let far = self.transcript.who(to);
        self.say(format!("A lossy link between {near} and {far}: {}.", plan.describe()));
        Link::start(to, near, &far, plan, &self.transcript)
    }

    fn start_server(&mut self, proto: Proto, port: Option<u16>, args: &[&str]) -> Result<Role> {
        // A flag passed to a server in another language (a student's, a fixture) is one a
        // student's server must take: `cargo lab spec` must say so. (The lab's own server
        // takes more, which its own tests use.)
        let spec = &self.target.lab.spec;
        let foreign = matches!(self.target.server, Server::Command(_));
        if let Some(flag) = args.iter().find(|arg| foreign && arg.starts_with("--") && !spec.takes(arg)) {
            bail!(
                "this scenario starts the server with {flag}, which {}'s spec does not list: add it to \
                 the lab's spec flags",
                self.target.lab.name
            );
        }
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
                let mut role = Spawn::new("server", program).vital().start(&self.transcript)?;
                let ready = role.wait_ready(self.target.ready_wait)?;
                (role, ready)
            }
            Server::Command(command) => {
                if !command.contains("{port}") && !command.contains("{addr}") {
                    bail!("the server command has neither {{port}} nor {{addr}}: it cannot be told its port");
                }
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
                    None => ports::unused_port(proto)?,
                };
                let line = command
                    .replace("{port}", &port.to_string())
                    .replace("{addr}", &format!("127.0.0.1:{port}"))
                    .replace("{args}", &args.join(" "))
                    .trim_end()
                    .to_string();
                let mut role = Spawn::new("server", Program::Shell(line))
                    .vital()
                    .output_cap(crate::process::STRANGER_OUTPUT_CAP)
                    .sandbox(self.target.sandbox.clone())
                    .start(&self.transcript)?;
                let expected = Ready { proto, addr: ([127, 0, 0, 1], port).into() };
                let ready = role.wait_ready_or_bound(expected, self.target.ready_wait)?;
                if ready.addr.port() != port {
                    let said = "its ready line says so";
                    return Err(WrongPort { said, listens_on: vec![ready.addr.port()], given: port }.into());
                }
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
        role.set_ready(ready);
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

    pub fn tcp(&mut self, who: &str, addr: SocketAddr) -> Result<TcpPeer> {
        let peer = TcpPeer::connect(who, addr, &self.transcript)?;
        self.peers.push(Unread::of_tcp(&peer));
        Ok(peer)
    }

    /// A connect that may not complete within `within`: see [`TcpPeer::attempt`].
    pub fn tcp_attempt(&mut self, who: &str, addr: SocketAddr, within: Duration) -> Result<Attempt> {
        let attempt = TcpPeer::attempt(who, addr, within, &self.transcript)?;
        if let Attempt::Connected(peer) = &attempt {
            self.peers.push(Unread::of_tcp(peer));
        }
        Ok(attempt)
    }

    /// A plain TCP listener on loopback, named `who`, for checking a lab's client role.
    pub fn tcp_listener(&mut self, who: &str) -> Result<TcpListener> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        self.transcript.name(listener.local_addr()?, who);
        Ok(listener)
    }

    /// The next connection to `listener` (within the usual deadline), as a peer named `who`
    /// talking to the client `other`.
    pub fn accept(&mut self, who: &str, listener: &TcpListener, other: &str) -> Result<TcpPeer> {
        let peer = TcpPeer::accept(who, other, listener, &self.transcript)?;
        self.peers.push(Unread::of_tcp(&peer));
        Ok(peer)
    }

    /// After a failure: record what reached our peers but was never read.
    pub(crate) fn collect_unread(&self) -> usize {
        self.peers.iter().map(|peer| peer.collect(&self.transcript)).sum()
    }
}
