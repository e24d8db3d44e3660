//! udp-echo as a user meets it on the command line: help that teaches, errors that say what to
//! do next, and the flags that are not conformance scenarios (--upper).

use std::time::Duration;

use assert_cmd::cargo::cargo_bin_cmd;
use harness::Target;
use harness::labs::udp_echo::LAB;
use predicates::prelude::*;

/// `--help` says what each role demonstrates, not only its flags.
#[test]
fn help_says_what_each_role_demonstrates() {
    cargo_bin_cmd!("udp-echo")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("no connection"));
    cargo_bin_cmd!("udp-echo")
        .args(["server", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("learns each client's address"));
}

/// A buffer of 0 bytes is a usage error (status 2), caught before any socket exists.
#[test]
fn a_zero_buffer_is_a_usage_error() {
    cargo_bin_cmd!("udp-echo").args(["server", "--buf", "0"]).assert().code(2);
}

/// With nobody listening, the client waits out its timeout, says so, and exits 0 at end of
/// input: UDP gave it no error to report.
#[test]
fn the_client_says_when_no_reply_comes() {
    let port = harness::ports::unused_port(harness::Proto::Udp).unwrap();
    cargo_bin_cmd!("udp-echo")
        .args(["client", "--server", &format!("127.0.0.1:{port}"), "--timeout-ms", "200"])
        .write_stdin("anyone?\n")
        .timeout(Duration::from_secs(10))
        .assert()
        .success()
        .stdout(predicate::str::contains("no reply within 200 ms"));
}

/// `--upper` replies in capitals: Unicode-aware for text, ASCII-only for bytes that are not
/// UTF-8 (which pass through untouched otherwise).
#[test]
fn upper_replies_in_capitals() {
    let target = Target::reference(&LAB, env!("CARGO_BIN_EXE_udp-echo"));
    harness::testing::assert_holds(&target, |s| {
        let server = s.server(&["--upper"])?;
        let alice = s.udp("alice")?;
        alice.send_to(server.addr(), "hello, 张三, straße".as_bytes())?;
        alice.expect_datagram("HELLO, 张三, STRASSE".as_bytes())?;
        alice.send_to(server.addr(), b"abc\xff")?;
        alice.expect_datagram(b"ABC\xff")?;
        Ok(())
    });
}

/// A datagram's control characters (ESC, BEL) and a right-to-left override (U+202E) could
/// clear the server's screen, retitle its window or disguise text: they are shown escaped.
#[test]
fn control_and_bidi_characters_in_a_datagram_are_shown_escaped() {
    let target = Target::reference(&LAB, env!("CARGO_BIN_EXE_udp-echo"));
    harness::testing::assert_holds(&target, |s| {
        let mut server = s.server(&[])?;
        let alice = s.udp("alice")?;
        alice.send_to(server.addr(), "\x1b[2J\x1b]0;owned\x07 \u{202e}ecila".as_bytes())?;
        server.expect_line("the datagram, escaped", harness::WAIT, |line| {
            line.ends_with(r#" bytes: "\u{1b}[2J\u{1b}]0;owned\u{7} \u{202e}ecila""#)
        })?;
        Ok(())
    });
}

/// Upper case can be longer than the text: `ΐ` is 2 bytes in UTF-8 and its capital, `Ϊ́`
/// (three characters: Ι and two combining accents), is 6. A 65,506-byte datagram of `ΐ`
/// upper-cases to 196,518 bytes, three times what one IPv4 datagram carries (65,507). The
/// reply is not silence: it carries the capitals of as many whole characters as fit, 10,917
/// of them (65,502 bytes), and the server says on stderr what it left out.
#[test]
fn an_upper_case_reply_too_long_for_one_datagram_is_cut_and_said() {
    let target = Target::reference(&LAB, env!("CARGO_BIN_EXE_udp-echo"));
    harness::testing::assert_holds(&target, |s| {
        let mut server = s.server(&["--upper"])?;
        let alice = s.udp("alice")?;
        alice.send_to(server.addr(), "ΐ".repeat(65_506 / 2).as_bytes())?;
        alice.expect_datagram("\u{399}\u{308}\u{301}".repeat(10_917).as_bytes())?;
        server.expect_stderr_line("that the reply was cut", harness::WAIT, |line| {
            line.contains("196518 bytes") && line.contains("65507")
        })?;
        alice.send_to(server.addr(), "ß".as_bytes())?;
        alice.expect_datagram(b"SS")?;
        Ok(())
    });
}
