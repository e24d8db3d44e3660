//! House rules every lab keeps, checked rather than remembered: its `//!` header with the
//! commands to try it by hand, a test for each of its scenarios, and a scenario function in
//! the harness for each name.

use std::fs;

use harness::labs::ALL;

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
