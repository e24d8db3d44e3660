//! reliable as a user meets it on the command line: help that teaches, errors that say what
//! to do next, and a sender that never hangs.

use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;

/// `--help` says what each role demonstrates, not only its flags.
#[test]
fn help_says_what_each_role_demonstrates() {
    cargo_bin_cmd!("reliable").arg("--help").assert().success().stdout(predicate::str::contains("lossy"));
    for (role, says) in [
        ("recv", "acknowledges every datagram"),
        ("send", "timeout and retransmission"),
        ("link", "what UDP is allowed to do"),
        ("ping", "a timeout is UDP's only news of a loss"),
    ] {
        cargo_bin_cmd!("reliable")
            .args([role, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains(says));
    }
}

/// Chances that add up to more than 1 are refused before any socket exists: each datagram gets
/// one fate. A chance above 1 is a usage error.
#[test]
fn the_link_refuses_chances_that_cannot_be() {
    cargo_bin_cmd!("reliable")
        .args(["link", "--port", "0", "--loss", "60%", "--dup", "0.6"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(
            "error: --loss, --dup, --reorder and --corrupt add up to more than 1",
        ));
    cargo_bin_cmd!("reliable").args(["link", "--loss", "1.5"]).assert().code(2);
}

/// With nobody at the address, the sender does not hang: after its retries it exits 1 with one
/// `error:` line that says what was never acknowledged and what to check.
#[test]
fn the_sender_gives_up_when_nobody_is_there() {
    let port = harness::ports::unused_port(harness::Proto::Udp).unwrap();
    let started = Instant::now();
    cargo_bin_cmd!("reliable")
        .args(["send", "--to", &format!("127.0.0.1:{port}"), "--timeout", "20", "--retries", "3"])
        .write_stdin("anyone?\n")
        .timeout(Duration::from_secs(10))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("error: line 0 was never acknowledged: sent 4 times, 20 ms apart"));
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

/// Nothing typed: the sender has nothing to wait for, and exits 0 at once.
#[test]
fn a_sender_with_nothing_to_send_exits_at_once() {
    let port = harness::ports::unused_port(harness::Proto::Udp).unwrap();
    cargo_bin_cmd!("reliable")
        .args(["send", "--to", &format!("127.0.0.1:{port}")])
        .write_stdin("")
        .timeout(Duration::from_secs(10))
        .assert()
        .success();
}

/// Whatever a stranger sends (bytes that are no packet, a damaged one, an ACK, an empty
/// datagram, a number too big for 64 bits, the largest datagram there is) costs the receiver
/// nothing: no answer to any of it, and the next real line is printed and acknowledged.
#[test]
fn bad_datagrams_cost_the_receiver_nothing() {
    let target = harness::Target::reference(&harness::labs::reliable::LAB, env!("CARGO_BIN_EXE_reliable"));
    harness::testing::assert_holds(&target, |s| {
        let mut server = s.server(&[])?;
        let mallory = s.udp("mallory")?;
        let too_big = format!("DATA {} x", u128::from(u64::MAX) + 1);
        for bad in [
            b"\xff\xfe not a packet".to_vec(),
            b"0000 DATA 0 forged checksum".to_vec(),
            b"429c ACK 1".to_vec(),
            Vec::new(),
            [format!("{:04x} ", checksum(too_big.as_bytes())).as_bytes(), too_big.as_bytes()].concat(),
            vec![b'x'; 65_507],
        ] {
            mallory.send_to(server.addr(), &bad)?;
        }
        mallory.expect_nothing(harness::QUIET)?;
        mallory.send_to(server.addr(), b"5509 DATA 0 hello")?;
        server.expect_line("the line", harness::WAIT, |line| line == "hello")?;
        mallory.expect_datagram(b"429c ACK 1")?;
        Ok(())
    });
}

/// The Internet checksum, written again here from RFC 1071 to forge a datagram.
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in bytes.chunks(2) {
        sum += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
