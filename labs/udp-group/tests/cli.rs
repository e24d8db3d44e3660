//! udp-group as a user meets it on the command line: help that teaches and states the bounds,
//! errors that say what to do next, the owner's console, /who, the listen role, and a member
//! that never reads costing nobody else anything; and --broadcast batch passing every scenario.

use std::time::Duration;

use anyhow::ensure;
use assert_cmd::cargo::cargo_bin_cmd;
use harness::labs::udp_group::{LAB, expect_containing, expect_silence, join};
use harness::{Target, WAIT};
use predicates::prelude::*;

fn target() -> Target {
    Target::reference(&LAB, env!("CARGO_BIN_EXE_udp-group"))
}

/// `--help` says what each role demonstrates, and the server's help states every bound.
#[test]
fn help_says_what_each_role_demonstrates_and_the_bounds() {
    cargo_bin_cmd!("udp-group")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("no connections"));
    cargo_bin_cmd!("udp-group")
        .args(["server", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("owner's console"))
        .stdout(predicate::str::contains("[default: 1000]"))
        .stdout(predicate::str::contains("[default: 1024]"))
        .stdout(predicate::str::contains("32 characters"));
    cargo_bin_cmd!("udp-group")
        .args(["client", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("second thread"));
    cargo_bin_cmd!("udp-group")
        .args(["listen", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("receive-only"));
}

/// Limits out of range are usage errors (status 2), caught before any socket exists.
#[test]
fn out_of_range_limits_are_usage_errors() {
    cargo_bin_cmd!("udp-group").args(["server", "--max-members", "0"]).assert().code(2);
    cargo_bin_cmd!("udp-group").args(["server", "--max-datagram", "70000"]).assert().code(2);
}

/// With a socket at the server's port that never answers, the client asks three times, then
/// says so and exits 1: silence is all UDP gives it.
#[test]
fn the_client_says_when_nobody_answers() {
    // Bound, so nothing else can take the port, and never answering.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    cargo_bin_cmd!("udp-group")
        .args(["client", "--server", &format!("127.0.0.1:{port}"), "--name", "alice"])
        .timeout(Duration::from_secs(20))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no answer from"))
        .stderr(predicate::str::contains("after 3 tries"));
}

/// With nothing bound at the server's port, the kernel answers the client's `N alice` with
/// ICMP port-unreachable, which its connected socket reports as "connection refused": the
/// client says so at once, with the hint to start the server.
#[test]
fn the_client_is_told_when_nothing_is_there() {
    let (_held, port) = harness::ports::closed_udp_port().unwrap();
    cargo_bin_cmd!("udp-group")
        .args(["client", "--server", &format!("127.0.0.1:{port}"), "--name", "alice"])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("Connection refused"))
        .stderr(predicate::str::contains("hint: nothing is listening there: start the server first"));
}

/// The room's client pointed at a relay gets its own `N` back, and says what it met.
#[test]
fn the_client_recognises_a_relay() {
    harness::testing::assert_holds(&target(), |s| {
        let relay = s.server(&["--mode", "relay"])?;
        let address = relay.addr().to_string();
        let mut client = s.role("client", "client", &["--server", &address, "--name", "alice"])?;
        client.expect_stderr_line("that it met a relay", WAIT, |line| line.contains("it is a relay"))?;
        let status = client.wait_exit(WAIT)?;
        ensure!(status.code() == Some(1), "expected status 1, got {status:?}");
        Ok(())
    });
}

/// The owner's console: `/who` lists the members on the server's stdout; `/kick bob` tells bob
/// and alice, and bob can no longer speak.
#[test]
fn the_owner_lists_and_removes_members() {
    harness::testing::assert_holds(&target(), |s| {
        let mut server = s.server(&[])?;
        let at = server.addr();
        let alice = join(s, at, "alice", "alice")?;
        let bob = join(s, at, "bob", "bob")?;
        expect_containing(&alice, at, b"bob")?;
        server.send_line("/who")?;
        server.expect_line("the member list", WAIT, |line| line == "2 members: alice, bob")?;
        server.send_line("/kick bob")?;
        expect_containing(&bob, at, b"removed")?;
        expect_containing(&alice, at, b"bob was removed")?;
        bob.send_to(at, b"M bob still here?")?;
        expect_containing(&bob, at, b"ERR ")?;
        expect_silence(at, &[&alice])
    });
}

/// The lab's client keeps an unknown `/command` to itself (it says so, and nothing is sent),
/// and after the owner kicks it, the `ERR` its next line gets comes with the hint to rejoin.
#[test]
fn the_client_explains_unknown_commands_and_a_kick() {
    harness::testing::assert_holds(&target(), |s| {
        let mut server = s.server(&[])?;
        let at = server.addr();
        let alice = join(s, at, "alice", "alice")?;
        let address = at.to_string();
        let mut client = s.role("bob", "client", &["--server", &address, "--name", "bob"])?;
        client.expect_line("that it joined", WAIT, |line| line.contains("joined as bob"))?;
        expect_containing(&alice, at, b"bob")?;
        client.send_line("/nonsense")?;
        client
            .expect_stderr_line("that /nonsense is unknown", WAIT, |line| line.contains("unknown command"))?;
        expect_silence(at, &[&alice])?;
        server.send_line("/kick bob")?;
        expect_containing(&alice, at, b"bob was removed")?;
        client.send_line("still here?")?;
        client.expect_line("the server's ERR", WAIT, |line| line.starts_with("ERR "))?;
        client.expect_stderr_line("the hint", WAIT, |line| line.contains("start the client again"))?;
        Ok(())
    });
}

/// `W` is answered to the asker only, with the member list.
#[test]
fn who_is_answered_to_the_asker_only() {
    harness::testing::assert_holds(&target(), |s| {
        let server = s.server(&[])?;
        let at = server.addr();
        let alice = join(s, at, "alice", "alice")?;
        let zhang = join(s, at, "张三", "张三")?;
        expect_containing(&alice, at, "张三".as_bytes())?;
        zhang.send_to(at, b"W")?;
        zhang.expect_datagram_from(at, "2 members: alice, 张三".as_bytes())?;
        expect_silence(at, &[&alice])
    });
}

/// `listen` without a name says hello to a relay and prints what the group sends; with a name
/// it joins a room, prints messages, and leaves with `Q` at end of input.
#[test]
fn listen_receives_in_both_modes() {
    harness::testing::assert_holds(&target(), |s| {
        let relay = s.server(&["--mode", "relay"])?;
        let address = relay.addr().to_string();
        let mut listener = s.role("listener", "listen", &["--server", &address])?;
        listener.expect_line("its own hello, relayed back", WAIT, |line| line == "hello")?;
        let alice = s.udp("alice")?;
        alice.send_to(relay.addr(), "大家好".as_bytes())?;
        listener.expect_line("alice's datagram", WAIT, |line| line == "大家好")?;

        let room = s.server(&[])?;
        let address = room.addr().to_string();
        let at = room.addr();
        let bob = join(s, at, "bob", "bob")?;
        let mut quiet = s.role("quiet", "listen", &["--server", &address, "--name", "quiet"])?;
        quiet.expect_line("that it joined", WAIT, |line| line.contains("joined as quiet"))?;
        expect_containing(&bob, at, b"quiet")?;
        bob.send_to(at, b"M bob hello quiet")?;
        quiet.expect_line("bob's message", WAIT, |line| line.contains("hello quiet"))?;
        quiet.close_stdin();
        expect_containing(&bob, at, b"hello quiet")?;
        expect_containing(&bob, at, b"quiet")?;
        ensure!(quiet.wait_exit(WAIT)?.success(), "listen did not exit 0");
        Ok(())
    });
}

/// A member that never reads fills its receive buffer; the kernel drops its copies, and the
/// others still get every one of 2000 messages. (How many the idle member lost is printed,
/// not asserted: it depends on the kernel's buffer sizes.)
#[test]
fn a_member_that_never_reads_costs_nobody_else_anything() {
    harness::testing::assert_holds(&target(), |s| {
        let server = s.server(&[])?;
        let at = server.addr();
        let idle = join(s, at, "idle", "idle")?;
        let alice = join(s, at, "alice", "alice")?;
        let bob = join(s, at, "bob", "bob")?;
        expect_containing(&alice, at, b"bob")?;
        let _hush = s.transcript().hush();
        for number in 0..2000 {
            let text = format!("message {number:04} {}", "x".repeat(200));
            alice.send_to(at, format!("M alice {text}").as_bytes())?;
            expect_containing(&alice, at, text.as_bytes())?;
            expect_containing(&bob, at, text.as_bytes())?;
        }
        let mut idle_got = 0;
        while idle.recv_from(at, Duration::from_millis(50))?.is_some() {
            idle_got += 1;
        }
        eprintln!("the idle member's buffer held {idle_got} of its 2002 datagrams");
        Ok(())
    });
}

/// `--broadcast batch` hands the kernel the very datagrams the loop of sendto does, in one
/// sendmmsg call: every scenario of the lab passes against it, byte for byte.
#[test]
fn every_scenario_passes_with_the_batched_broadcast() -> anyhow::Result<()> {
    let target = target().with_server_args(&["--broadcast", "batch"]);
    for scenario in LAB.scenarios {
        harness::testing::passes(scenario, &target)?;
    }
    Ok(())
}
