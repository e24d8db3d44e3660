//! udp-chat as a user meets it on the command line: help that teaches, errors that say what to
//! do next, and the lab's client and peer roles checked on the wire against plain UDP sockets.

use anyhow::{bail, ensure};
use assert_cmd::cargo::cargo_bin_cmd;
use harness::labs::udp_chat::LAB;
use harness::testing::assert_holds;
use harness::{QUIET, Target, WAIT, ports};
use predicates::prelude::*;

fn target() -> Target {
    Target::reference(&LAB, env!("CARGO_BIN_EXE_udp-chat"))
}

/// `--help` says what each role demonstrates, not only its flags.
#[test]
fn help_says_what_each_role_demonstrates() {
    cargo_bin_cmd!("udp-chat")
        .args(["server", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("learns its peer from the first datagram"));
    cargo_bin_cmd!("udp-chat")
        .args(["client", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("connection refused"));
    cargo_bin_cmd!("udp-chat")
        .args(["peer", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("in either order"));
}

/// Lockstep, the client's side: two lines typed at once; the second datagram leaves only after
/// the reply has arrived. A line too long for one datagram is not sent, and the turn stays.
#[test]
fn the_lockstep_client_sends_its_second_line_only_after_the_reply() {
    assert_holds(&target(), |s| {
        let bob = s.udp("bob")?;
        let address = bob.local_addr()?.to_string();
        let mut client = s.role("client", "client", &["--server", &address])?;
        client.send_line(&"x".repeat(70_000))?;
        client.send_line("one")?;
        client.send_line("two")?;
        let from = bob.expect_datagram(b"one")?;
        bob.expect_nothing(QUIET)?;
        bob.send_to(from, b"reply")?;
        client.expect_line("the reply", WAIT, |line| line == "server: reply")?;
        bob.expect_datagram(b"two")?;
        Ok(())
    });
}

/// Two peers, each given the other's address. The first speaks to nobody: its line is lost,
/// and it hears "refused". The second starts, and lines flow both ways. 88 ends both.
#[test]
fn two_peers_may_start_in_either_order() {
    assert_holds(&target(), |s| {
        for _ in 0..3 {
            // Held until the second peer starts there: until then the port refuses datagrams.
            let (closed, port_b) = ports::closed_udp_port()?;
            let b = format!("127.0.0.1:{port_b}");
            let mut first = s.role("first", "peer", &["--bind", "127.0.0.1:0", "--peer", &b])?;
            let a = first.wait_ready(WAIT)?.addr.to_string();
            first.send_line("anyone there?")?;
            first.expect_line("that its line was refused", WAIT, |line| line.contains("refused"))?;
            drop(closed);
            let mut second = s.role("second", "peer", &["--bind", &b, "--peer", &a])?;
            if second.wait_ready(WAIT).is_err() {
                s.say("(the second peer's port was taken meanwhile; trying another)");
                continue;
            }
            first.send_line("hello, second")?;
            second.expect_line("the first peer's line", WAIT, |line| line == "peer: hello, second")?;
            second.send_line("hello, first")?;
            first.expect_line("the second peer's line", WAIT, |line| line == "peer: hello, first")?;
            first.send_line("88")?;
            second.expect_line("the quit word", WAIT, |line| line == "peer: 88")?;
            ensure!(first.wait_exit(WAIT)?.success(), "the first peer did not exit 0");
            ensure!(second.wait_exit(WAIT)?.success(), "the second peer did not exit 0");
            return Ok(());
        }
        bail!("three free ports in a row were taken before the second peer could bind one")
    });
}

/// End of input is a goodbye: the client sends the first quit word and exits 0. A server that
/// still waits for its first datagram just exits 0.
#[test]
fn end_of_input_says_goodbye_with_a_quit_word() {
    assert_holds(&target(), |s| {
        let bob = s.udp("bob")?;
        let address = bob.local_addr()?.to_string();
        let mut client = s.role("client", "client", &["--server", &address, "--quit", "bye"])?;
        client.close_stdin();
        bob.expect_datagram(b"bye")?;
        ensure!(client.wait_exit(WAIT)?.success(), "the client did not exit 0 at end of input");

        let mut server = s.server(&[])?;
        server.close_stdin();
        ensure!(server.wait_exit(WAIT)?.success(), "the waiting server did not exit 0 at end of input");
        Ok(())
    });
}

/// The other side's control characters (ESC, BEL) and a right-to-left override (U+202E) could
/// clear the screen, retitle the window or disguise text: the client shows them escaped.
#[test]
fn control_and_bidi_characters_from_the_other_side_are_shown_escaped() {
    assert_holds(&target(), |s| {
        let bob = s.udp("bob")?;
        let address = bob.local_addr()?.to_string();
        let mut client = s.role("client", "client", &["--server", &address])?;
        client.send_line("hello")?;
        let from = bob.expect_datagram(b"hello")?;
        bob.send_to(from, "\x1b[2J\x1b]0;owned\x07 \u{202e}ecila".as_bytes())?;
        client.expect_line("the line, escaped", WAIT, |line| {
            line == r#"server: "\u{1b}[2J\u{1b}]0;owned\u{7} \u{202e}ecila""#
        })?;
        Ok(())
    });
}

/// `--bind 0.0.0.0:0` works for a peer too (which listens as the server does), and it says on
/// stderr that other machines can reach it. (For every lab's server: tests/labs.rs.)
#[test]
fn a_peer_bound_to_every_interface_says_so() {
    assert_holds(&target(), |s| {
        let elsewhere = format!("127.0.0.1:{}", ports::unused_port(harness::Proto::Udp)?);
        let roles: [(&str, &[&str]); 1] = [("peer", &["--bind", "0.0.0.0:0", "--peer", &elsewhere])];
        for (role, args) in roles {
            let mut listening = s.role(role, role, args)?;
            let ready = listening.wait_ready(harness::READY_WAIT)?;
            ensure!(ready.addr.ip().is_unspecified(), "the {role}'s ready line names {}", ready.addr);
            listening.expect_stderr_line("that other machines can reach it", WAIT, |line| {
                line.contains("other machines")
            })?;
        }
        Ok(())
    });
}
