//! sticky as a user meets it on the command line: help that teaches, errors that say what to
//! do next, and the client's writes and datagrams as they leave it.

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;

/// `--help` says what the server role demonstrates. Help is wrapped to the
/// terminal's width, so a phrase may break across lines.
#[test]
fn help_says_what_the_server_demonstrates() {
    cargo_bin_cmd!("sticky")
        .args(["server", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"two\s+writes\s+can\s+come\s+out\s+as\s+one\s+read").unwrap())
        .stdout(predicate::str::contains("--read-delay"));
}

/// With nobody listening, the client fails at once with "connection refused" and a hint.
#[test]
fn connecting_to_nobody_is_refused_with_a_hint() {
    // Held bound, not listening, until the test ends: nothing can listen there meanwhile.
    let (_held, port) = harness::ports::closed_tcp_port().unwrap();
    cargo_bin_cmd!("sticky")
        .args(["client", "--server", &format!("127.0.0.1:{port}"), "hello"])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!("error: connecting to tcp://127.0.0.1:{port}")))
        .stderr(predicate::str::contains("hint: nothing is listening there: start the server first"));
}

/// Line framing cannot carry a newline inside a message: the client refuses before it
/// connects, rather than send what would arrive as two messages.
#[test]
fn the_client_refuses_a_newline_in_a_delimited_message() {
    let port = harness::ports::unused_port(harness::Proto::Tcp).unwrap();
    cargo_bin_cmd!("sticky")
        .args(["client", "--server", &format!("127.0.0.1:{port}"), "--framing", "delimiter", "one\ntwo"])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("a line-framed message cannot contain a newline"));
}

/// With length framing, each message leaves with its 4-byte big-endian length in front.
#[test]
fn the_client_puts_a_length_before_each_message() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    cargo_bin_cmd!("sticky")
        .args(["client", "--server", &addr, "--framing", "length", "hi", "张三"])
        .timeout(Duration::from_secs(10))
        .assert()
        .success()
        .stdout(predicate::str::contains(r"write 6 bytes [\x00\x00\x00\x02hi]"));
    // The client has connected, sent and closed: its connection waits in the accept queue.
    let (mut stream, _) = listener.accept().unwrap();
    stream.set_read_timeout(Some(harness::WAIT)).unwrap();
    let mut got = Vec::new();
    stream.read_to_end(&mut got).unwrap();
    assert_eq!(got, [&b"\x00\x00\x00\x02hi\x00\x00\x00\x06"[..], "张三".as_bytes()].concat());
}

/// Over UDP, each message is one datagram.
#[test]
fn over_udp_each_message_is_one_datagram() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(harness::WAIT)).unwrap();
    let addr = socket.local_addr().unwrap().to_string();
    cargo_bin_cmd!("sticky")
        .args(["client", "--server", &addr, "--transport", "udp", "hello", "world"])
        .timeout(Duration::from_secs(10))
        .assert()
        .success();
    let mut buf = [0; 64];
    for expected in [&b"hello"[..], b"world"] {
        let (len, _) = socket.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..len], expected);
    }
}
