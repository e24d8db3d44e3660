//! backlog as a user meets it on the command line: help that teaches, errors that say what to
//! do next, the settings and queue figures the server reads, and the probe's table.

use std::time::Duration;

use anyhow::ensure;
use assert_cmd::cargo::cargo_bin_cmd;
use harness::labs::backlog::LAB;
use harness::{Target, WAIT};
use predicates::prelude::*;

fn target() -> Target {
    Target::reference(&LAB, env!("CARGO_BIN_EXE_backlog"))
}

/// `--help` says what each role demonstrates, not only its flags. Help is wrapped to the
/// terminal's width, so a phrase may break across lines.
#[test]
fn help_says_what_each_role_demonstrates() {
    cargo_bin_cmd!("backlog")
        .args(["server", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"accept\s+queue's\s+length\s+and\s+limit").unwrap())
        .stdout(predicate::str::contains("on-enter"));
    cargo_bin_cmd!("backlog")
        .args(["probe", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"dropped\s+the\s+SYN").unwrap());
}

/// `--accept` takes `never`, `on-enter` or `after SECS`; anything else is a usage error.
#[test]
fn a_wrong_accept_is_a_usage_error() {
    for accept in [&["sometimes"][..], &["after", "soon"], &["after", "100000"]] {
        cargo_bin_cmd!("backlog")
            .args(["server", "--bind", "127.0.0.1:0", "--backlog", "1", "--accept"])
            .args(accept)
            .timeout(Duration::from_secs(10))
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::contains("--accept"));
    }
}

/// The server reports net.core.somaxconn and net.ipv4.tcp_abort_on_overflow as the files
/// under /proc/sys hold them, and the queue's limit that follows.
#[cfg(target_os = "linux")]
#[test]
fn the_server_reports_the_settings_it_reads() {
    let read = |path: &str| std::fs::read_to_string(path).unwrap().trim().to_string();
    let somaxconn = read("/proc/sys/net/core/somaxconn");
    let limit = somaxconn.parse::<u32>().unwrap().min(100_000);
    let abort = read("/proc/sys/net/ipv4/tcp_abort_on_overflow");
    harness::testing::assert_holds(&target(), |s| {
        let mut server = s.server(&["--backlog", "100000"])?;
        let capped = format!("listen(100000): limit {limit} (net.core.somaxconn is {somaxconn},");
        server.expect_line(&capped, WAIT, |line| line.starts_with(&capped))?;
        let setting = format!("net.ipv4.tcp_abort_on_overflow is {abort} ");
        server.expect_line(&setting, WAIT, |line| line.starts_with(&setting))?;
        let figures = format!("accept queue: 0 waiting, limit {limit} ");
        server.expect_line(&figures, WAIT, |line| line.starts_with(&figures))?;
        Ok(())
    });
}

/// Two clients waiting in a backlog-3 queue: the server says "2 waiting, limit 3", and the
/// LISTEN row of /proc/net/tcp shows the same 2 in its rx_queue column.
#[cfg(target_os = "linux")]
#[test]
fn the_queue_length_agrees_with_proc_net_tcp() {
    harness::testing::assert_holds(&target(), |s| {
        let mut server = s.server(&["--backlog", "3"])?;
        let _alice = s.tcp("alice", server.addr())?;
        let _bob = s.tcp("bob", server.addr())?;
        server.expect_line("2 waiting", WAIT, |line| line.starts_with("accept queue: 2 waiting, limit 3"))?;
        let waiting = harness::ports::accept_queue(server.addr().port());
        ensure!(waiting == Some(2), "/proc/net/tcp's LISTEN row shows {waiting:?} waiting");
        Ok(())
    });
}

/// With nobody listening, each connect is refused at once (a reset), and the probe says so.
#[test]
fn the_probe_shows_a_refusal_when_nobody_listens() {
    // Held bound, not listening, until the test ends: nothing can listen there meanwhile.
    let (_held, port) = harness::ports::closed_tcp_port().unwrap();
    cargo_bin_cmd!("backlog")
        .args(["probe", "--server", &format!("127.0.0.1:{port}"), "--clients", "2"])
        .timeout(Duration::from_secs(10))
        .assert()
        .success()
        .stdout(predicate::str::contains("     2  refused"))
        .stdout(predicate::str::contains("0 connected, 0 timed out, 2 refused"));
}

/// The probe waits for the replies that come once the server accepts, prints them, and exits
/// 0 when every client has its reply.
#[test]
fn the_probe_prints_the_replies_once_the_server_accepts() {
    harness::testing::assert_holds(&target(), |s| {
        let mut server = s.server(&["--backlog", "2", "--accept", "on-enter"])?;
        let address = server.addr().to_string();
        let mut probe = s.role("probe", "probe", &["--server", &address, "--clients", "2"])?;
        probe.expect_line("the tally", WAIT, |line| line == "2 connected, 0 timed out, 0 refused")?;
        server.send_line("")?;
        probe.expect_line("client 1's reply", WAIT, |line| {
            line.starts_with(r#"client 1 got "HELLO FROM CLIENT 1\n""#)
        })?;
        server.send_line("")?;
        probe.expect_line("the end", WAIT, |line| line == "every client got its reply")?;
        ensure!(probe.wait_exit(WAIT)?.success(), "the probe failed");
        Ok(())
    });
}

/// At end of input, a server that accepts on Enter stops and exits 0.
#[test]
fn the_on_enter_server_exits_at_end_of_input() {
    harness::testing::assert_holds(&target(), |s| {
        let mut server = s.server(&["--backlog", "1", "--accept", "on-enter"])?;
        server.close_stdin();
        ensure!(server.wait_exit(WAIT)?.success(), "the server failed");
        Ok(())
    });
}
