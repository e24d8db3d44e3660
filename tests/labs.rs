//! House rules every lab keeps, checked rather than remembered: its `//!` header with the
//! commands to try it by hand, a test for each of its scenarios, and a scenario function in
//! the harness for each name; and the contract's rule for a port that is taken.

use std::fs;
use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

use harness::Proto;
use harness::labs::ALL;
use predicates::prelude::*;

fn read(path: &str) -> String {
    let path = harness::cargo::workspace_root().join(path);
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

/// Each scenario has a test of the same name in the lab's tests/scenarios.rs, and a function
/// of that name in the harness.
#[test]
fn every_scenario_has_its_test_and_its_function() {
    for lab in ALL {
        let tests = read(&format!("labs/{}/tests/scenarios.rs", lab.name));
        let module = read(&format!("harness/src/labs/{}.rs", lab.name.replace('-', "_")));
        for scenario in lab.scenarios {
            let test = format!("fn {}(", scenario.name);
            assert!(tests.contains(&test), "labs/{}/tests/scenarios.rs has no {test}", lab.name);
            let function = format!("pub fn {}(s: &mut Session)", scenario.name);
            assert!(module.contains(&function), "the harness has no {function} for {}", lab.name);
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
        // The one server flag a lab requires.
        if lab.name == "backlog" {
            args.extend(["--backlog".to_string(), "1".to_string()]);
        }
        let binary = harness::cargo::binary(lab.name, lab.name).unwrap();
        assert_cmd::Command::new(binary)
            .args(&args)
            .timeout(Duration::from_secs(10))
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
