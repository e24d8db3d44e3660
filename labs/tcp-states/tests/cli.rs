//! tcp-states as a user meets it on the command line: help that teaches, errors that say what
//! to do next, and the client driven through its stdin, printing both ends' states from the
//! kernel's table at each step.

use std::time::Duration;

use assert_cmd::cargo::cargo_bin_cmd;
use harness::Target;
use harness::labs::tcp_states::LAB;
use harness::process::Role;
use harness::session::Session;
use predicates::prelude::*;

const BINARY: &str = env!("CARGO_BIN_EXE_tcp-states");

/// `--help` says what each role demonstrates: the states, and the client's commands.
#[test]
fn help_says_what_each_role_demonstrates() {
    cargo_bin_cmd!("tcp-states")
        .args(["server", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("CLOSE_WAIT"))
        .stdout(predicate::str::contains("SO_REUSEADDR"));
    cargo_bin_cmd!("tcp-states")
        .args(["client", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("/shutdown half-closes"))
        .stdout(predicate::str::contains("SO_LINGER 0"));
}

/// With nobody listening, the client fails at once with "connection refused" and a hint.
#[test]
fn connecting_to_nobody_is_refused_with_a_hint() {
    let (_held, port) = harness::ports::closed_tcp_port().unwrap();
    cargo_bin_cmd!("tcp-states")
        .args(["client", "--server", &format!("127.0.0.1:{port}")])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("Connection refused"))
        .stderr(predicate::str::contains("hint: nothing is listening there: start the server first"));
}

/// The lab's own server and its client, the client driven by `lines` typed into it.
fn client(s: &mut Session) -> anyhow::Result<(Role, Role)> {
    let server = s.server(&[])?;
    let address = server.addr().to_string();
    let client = s.role("client", "client", &["--server", &address])?;
    Ok((server, client))
}

fn expect(client: &mut Role, text: &str) -> anyhow::Result<String> {
    client.expect_line(text, harness::WAIT, |line| line.contains(text))
}

/// The client half-closes: the server answers and closes too, and the client's end, which
/// closed first, is in TIME_WAIT while the server's is gone; /close then changes nothing.
#[cfg(target_os = "linux")]
#[test]
fn a_half_close_shows_time_wait_at_the_client() {
    harness::testing::assert_holds(&Target::reference(&LAB, BINARY), |s| {
        let (_server, mut client) = client(s)?;
        expect(&mut client, "kernel: client ESTABLISHED · server ESTABLISHED")?;
        client.send_line("hello, 张三")?;
        expect(&mut client, "< hello, 张三")?;
        client.send_line("/shutdown")?;
        expect(
            &mut client,
            "the server closed its side (read returned 0); kernel: client TIME_WAIT · server gone",
        )?;
        client.send_line("/close")?;
        expect(&mut client, "closed (FIN); kernel: client TIME_WAIT · server gone")?;
        client.send_line("more?")?;
        expect(&mut client, "the connection is closed")?;
        client.close_stdin();
        anyhow::ensure!(client.wait_exit(harness::WAIT)?.success(), "the client failed");
        Ok(())
    });
}

/// `q` makes the server close first: the client's end sits in CLOSE_WAIT until /close, then
/// the server's end waits in TIME_WAIT.
#[cfg(target_os = "linux")]
#[test]
fn the_server_closing_first_leaves_the_client_in_close_wait() {
    harness::testing::assert_holds(&Target::reference(&LAB, BINARY), |s| {
        let (_server, mut client) = client(s)?;
        client.send_line("q")?;
        expect(
            &mut client,
            "the server closed its side (read returned 0); kernel: client CLOSE_WAIT · server FIN_WAIT2",
        )?;
        client.send_line("/states")?;
        expect(&mut client, "kernel: client CLOSE_WAIT · server FIN_WAIT2")?;
        client.send_line("/close")?;
        expect(&mut client, "closed (FIN); kernel: client gone · server TIME_WAIT")?;
        Ok(())
    });
}

/// /reset closes with SO_LINGER 0: both ends are gone at once, and the server logs the reset.
#[cfg(target_os = "linux")]
#[test]
fn a_reset_leaves_nothing_and_the_server_says_so() {
    harness::testing::assert_holds(&Target::reference(&LAB, BINARY), |s| {
        let (mut server, mut client) = client(s)?;
        client.send_line("hello")?;
        expect(&mut client, "< hello")?;
        client.send_line("/reset")?;
        expect(&mut client, "reset (RST: SO_LINGER 0, then close); kernel: client gone · server gone")?;
        server
            .expect_line("the reset", harness::WAIT, |line| line.contains("client 1 reset the connection"))?;
        Ok(())
    });
}
