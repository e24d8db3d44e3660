//! House rules every lab keeps, checked rather than remembered: its `//!` header with the
//! commands to try it by hand, a fixture bug and a hint for each of its scenarios, unique
//! scenario names, and the contract's rule for a port that is taken.

use std::fs;
use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

use harness::Proto;
use harness::labs::ALL;
use predicates::prelude::*;

fn read(path: &str) -> String {
    let path = runner::cargo::workspace_root().join(path);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Each lab's main.rs opens with a `//!` header that says how to try it by hand.
#[test]
fn every_lab_opens_with_a_header_and_the_commands_to_try_it() {
    for lab in ALL {
        let main = read(&format!("labs/{}/src/main.rs", lab.name));
        assert!(main.starts_with("//! # "), "labs/{}/src/main.rs does not open with a //! header", lab.name);
        assert!(
            main.contains("//! Try it by hand"),
            "labs/{}/src/main.rs does not say how to try it",
            lab.name
        );
        assert!(
            main.contains(&format!("cargo lab {} server", lab.name)),
            "{}: no server command in the header",
            lab.name
        );
    }
}

/// Each scenario names the bug of its lab's fixture that it exists to catch, and the fixture
/// has that bug: a `--bug` choice of that name. (That the scenario does catch it is each lab's
/// generated test `fails_against_its_bug::NAME`.)
#[test]
fn every_scenario_has_a_fixture_bug_it_catches() {
    for lab in ALL {
        let fixture = read(&format!("labs/{}/{}", lab.name, lab.fixture.script));
        for scenario in lab.scenarios {
            assert!(!scenario.bug.is_empty(), "{}: scenario {} names no bug", lab.name, scenario.name);
            assert!(
                fixture.contains(&format!("\"{}\"", scenario.bug)),
                "{}: the fixture {} has no bug {:?} for scenario {}",
                lab.name,
                lab.fixture.script,
                scenario.bug,
                scenario.name
            );
        }
    }
}

/// Every flag the lab's server needs to start (`--backlog`), and `--mode` for a lab whose
/// server runs in modes, is in the lab's spec, so that `cargo lab spec` tells a student every
/// flag their server must take. (A flag a scenario passes is checked as it starts a server in
/// another language: `Session::server` fails the scenario when the spec does not list it.)
#[test]
fn every_flag_a_server_needs_is_in_the_spec() {
    for lab in ALL {
        let needed = lab.server_flags.iter().filter(|arg| arg.starts_with("--"));
        let mode = if lab.modes.is_empty() { None } else { Some(&"--mode") };
        for flag in needed.chain(mode) {
            assert!(
                lab.spec.takes(flag),
                "{}: its server needs {flag}, but its spec does not list it",
                lab.name
            );
        }
    }
}

/// A scenario that starts a student's server with a flag the spec does not list fails, saying
/// so, before any server starts: the spec a student reads lists every flag the checker passes.
/// (Every scenario runs against its lab's Python fixture, so every flag is checked.)
#[test]
fn a_scenario_cannot_pass_a_flag_the_spec_does_not_list() {
    let command = "/nonexistent/server --port {port} {args}";
    let target = harness::Target::command(&harness::labs::udp_echo::LAB, "/nonexistent/udp-echo", command);
    let transcript = harness::transcript::Transcript::new();
    let mut session = harness::Session::new(&target, &transcript);
    let error = session.server(&["--buf", "16", "--no-such-flag"]).err().expect("an unlisted flag fails");
    assert!(
        format!("{error:#}").contains("--no-such-flag, which udp-echo's spec does not list"),
        "{error:#}"
    );
}

/// Every failure report a lab's fixture is tested for names one of that lab's scenarios.
#[test]
fn every_report_names_one_of_its_labs_scenarios() {
    for lab in ALL {
        for report in lab.fixture.reports {
            assert!(
                lab.scenarios.iter().any(|scenario| scenario.name == report.scenario),
                "{}: the report {} names {}, which is not one of its scenarios",
                lab.name,
                report.name,
                report.scenario
            );
        }
    }
}

/// Every scenario has a hint for the student whose server fails it: where to look, in a
/// sentence or two, not its claim said again. (That each failure report shows it is each lab's
/// generated test `fails_against_its_bug::NAME`.)
#[test]
fn every_scenario_has_a_hint_that_is_not_its_claim() {
    let words = |text: &str| {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join(" ")
    };
    for lab in ALL {
        for scenario in lab.scenarios {
            let (name, hint) = (scenario.name, scenario.hint.trim());
            assert!(!hint.is_empty(), "{}: scenario {name} has no hint", lab.name);
            assert!(
                !words(hint).contains(&words(scenario.claim)),
                "{}: the hint of scenario {name} repeats its claim; say where to look instead",
                lab.name
            );
            assert!(
                hint.ends_with('.') && hint.matches(". ").count() < 2,
                "{}: the hint of scenario {name} should be one or two sentences: {hint:?}",
                lab.name
            );
        }
    }
}

/// Scenario names are unique within a lab: they name tests and check results.
#[test]
fn scenario_names_are_unique() {
    for lab in ALL {
        let mut names: Vec<&str> = lab.scenarios.iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), lab.scenarios.len(), "{} repeats a scenario name", lab.name);
    }
}

/// Every lab's server, told to bind a port another program holds, fails as the contract says:
/// nothing on stdout, one `error: binding PROTO://ADDR: ...` line and a hint on stderr, and
/// status 1.
#[test]
fn every_server_refuses_a_taken_port_with_an_error_and_a_hint() {
    for lab in ALL {
        let (_squatter, addr) = match lab.proto {
            Proto::Udp => {
                let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                let addr = socket.local_addr().unwrap();
                (Squatter::Udp(socket), addr)
            }
            Proto::Tcp => {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                (Squatter::Tcp(listener), addr)
            }
        };
        let proto = if lab.proto == Proto::Udp { "udp" } else { "tcp" };
        let mut args = vec!["server".to_string(), "--bind".to_string(), addr.to_string()];
        args.extend(lab.server_flags.iter().map(|flag| flag.to_string()));
        let binary = runner::cargo::binary(lab.name, lab.name).unwrap();
        assert_cmd::Command::new(binary)
            .args(&args)
            // Only ends a hung server: a correct one exits at once, however busy the machine.
            .timeout(Duration::from_secs(120))
            .assert()
            .code(1)
            .stdout("")
            .stderr(predicate::str::starts_with(format!("error: binding {proto}://{addr}: ")))
            .stderr(predicate::str::contains("\nhint: "));
    }
}

/// Whatever holds the port for the test above.
#[allow(dead_code)] // Held for its port, never read.
enum Squatter {
    Udp(UdpSocket),
    Tcp(TcpListener),
}

/// Every lab's server, bound to every interface (`--bind 0.0.0.0:0`, as a user who wants the
/// LAN says), serves, and says on stderr that other machines can reach it.
#[test]
fn every_server_bound_beyond_loopback_says_so() {
    for lab in ALL {
        let binary = runner::cargo::binary(lab.name, lab.name).unwrap();
        let mut args = vec!["server".to_string(), "--bind".to_string(), "0.0.0.0:0".to_string()];
        args.extend(lab.server_flags.iter().map(|flag| flag.to_string()));
        let transcript = harness::transcript::Transcript::new();
        let program = harness::process::Program::Exec { path: binary, args };
        let mut server = harness::process::Role::spawn("server", program, &transcript).unwrap();
        let check = server.wait_ready(harness::READY_WAIT).and_then(|ready| {
            anyhow::ensure!(ready.addr.ip().is_unspecified(), "the ready line names {}", ready.addr);
            server.expect_stderr_line("that other machines can reach it", harness::WAIT, |line| {
                line.contains("other machines")
            })
        });
        if let Err(error) = check {
            panic!("{}: {error:#}\n{}", lab.name, transcript.render());
        }
    }
}

/// Every lab's server takes `--port N` for `--bind 127.0.0.1:N`, as a student's own server
/// does: `--port 0` listens on 127.0.0.1, on a port the OS picked.
#[test]
fn every_server_takes_a_port_alone() {
    for lab in ALL {
        let binary = runner::cargo::binary(lab.name, lab.name).unwrap();
        let mut args = vec!["server".to_string(), "--port".to_string(), "0".to_string()];
        args.extend(lab.server_flags.iter().map(|flag| flag.to_string()));
        let transcript = harness::transcript::Transcript::new();
        let program = harness::process::Program::Exec { path: binary, args };
        let mut server = harness::process::Role::spawn("server", program, &transcript).unwrap();
        let ready = server.wait_ready(harness::READY_WAIT).unwrap_or_else(|e| panic!("{}: {e:#}", lab.name));
        assert!(ready.addr.ip().is_loopback() && ready.addr.port() != 0, "{}: {}", lab.name, ready.addr);
    }
}
