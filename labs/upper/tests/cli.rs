//! upper as a user meets it on the command line: help that teaches, errors that say what to do
//! next, and the client driven through its stdin.

use std::time::Duration;

use assert_cmd::cargo::cargo_bin_cmd;
use harness::Target;
use harness::labs::upper::LAB;
use predicates::prelude::*;

/// `--help` says what the server role demonstrates, modes included.
#[test]
fn help_says_what_the_server_demonstrates() {
    cargo_bin_cmd!("upper")
        .args(["server", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("wait, connected, in the kernel's queue"))
        .stdout(predicate::str::contains("threaded"));
}

/// With nobody listening, the client fails at once with "connection refused" and a hint to
/// start the server first.
#[test]
fn connecting_to_nobody_is_refused_with_a_hint() {
    // Held bound, not listening, until the test ends: nothing can listen there meanwhile.
    let (_held, port) = harness::ports::closed_tcp_port().unwrap();
    cargo_bin_cmd!("upper")
        .args(["client", "--server", &format!("127.0.0.1:{port}")])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "error: connecting to tcp://127.0.0.1:{port}: Connection refused"
        )))
        .stderr(predicate::str::contains("hint: nothing is listening there: start the server first"));
}

/// The client prints each reply line; at end of input it half-closes, and exits 0 once the
/// server has closed too.
#[test]
fn the_client_prints_replies_and_exits_cleanly_at_end_of_input() {
    let target = Target::reference(&LAB, env!("CARGO_BIN_EXE_upper"));
    harness::testing::assert_holds(&target, |s| {
        let server = s.server(&[])?;
        let address = server.addr().to_string();
        let mut client = s.role("client", "client", &["--server", &address])?;
        client.send_line("hello, 张三, straße")?;
        client.expect_line("the reply", harness::WAIT, |line| line == "HELLO, 张三, STRASSE")?;
        client.close_stdin();
        anyhow::ensure!(client.wait_exit(harness::WAIT)?.success(), "the client failed");
        Ok(())
    });
}
