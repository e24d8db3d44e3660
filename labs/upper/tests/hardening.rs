//! upper when the machine, not a peer, says no: out of file descriptors, out of threads; a
//! server that sends terminal escapes to the client; a server bound to every interface.
//!
//! Each limit is set on the spawned server alone (setrlimit in the child, and a user of its own
//! for the thread limit: see harness::limits), never on the test process.

use std::path::Path;

use anyhow::ensure;
use harness::labs::upper::LAB;
use harness::limits::{ThreadLimit, start_server};
use harness::peer::TcpPeer;
use harness::process::Limit;
use harness::{QUIET, Target, WAIT};

const BINARY: &str = env!("CARGO_BIN_EXE_upper");

fn target() -> Target {
    Target::reference(&LAB, BINARY)
}

/// With room for about 28 connections (RLIMIT_NOFILE 32) and 40 clients, accept fails
/// with "Too many open files". The server says so once, does not retry in a tight loop, still
/// serves the clients it has, and says so again when accepting works once more: the client
/// that waited in the queue is then served.
#[test]
fn out_of_file_descriptors_the_server_says_so_once_and_goes_on() {
    harness::testing::assert_holds(&target(), |s| {
        let (mut server, at) = start_server(s, BINARY, &[Limit::OpenFiles(32)], &["--mode", "threaded"])?;
        let mut clients = Vec::new();
        {
            let _hush = s.transcript().hush();
            for number in 1..=40 {
                clients.push(s.tcp(&format!("client {number}"), at)?);
            }
        }
        server.expect_stderr_line("that accept failed", WAIT, |line| line.contains("Too many open files"))?;
        // A few lines at most: a descriptor free for a moment may honestly start a new episode.
        server.expect_few_stderr_lines(QUIET, 4)?;

        clients[0].send(b"still there?\n")?;
        clients[0].expect_bytes(b"STILL THERE?\n")?;

        // Twenty clients leave: their threads end and close their sockets, and accept works.
        let last = clients.pop().expect("40 clients");
        for client in clients.drain(..20) {
            client.close();
        }
        server.expect_stderr_line("that it accepts again", WAIT, |line| line.contains("accepting again"))?;
        let mut last = last;
        last.send(b"late\n")?;
        last.expect_bytes(b"LATE\n")
    });
}

/// With room for 6 threads in all (RLIMIT_NPROC 6: the main thread and 5 clients'), the
/// 6th client cannot get a thread. It is told why and closed; the clients already served go on,
/// and so does the server.
#[test]
fn a_client_that_gets_no_thread_is_told_why_and_the_others_go_on() {
    let Some(limit) = ThreadLimit::new(Path::new(BINARY), 6).unwrap() else {
        eprintln!("skipped: RLIMIT_NPROC can be tested deterministically only as root (see harness::limits)");
        return;
    };
    harness::testing::assert_holds(&target(), |s| {
        let (mut server, at) = limit.start_server(s, &["--mode", "threaded"])?;
        let mut clients: Vec<TcpPeer> = Vec::new();
        for number in 1..=8 {
            clients.push(s.tcp(&format!("client {number}"), at)?);
        }
        clients[7].expect_bytes(b"error: the server could not start a thread for you; try again later\n")?;
        clients[7].expect_eof()?;
        server.expect_stderr_line("the refusal", WAIT, |line| line.contains("no thread for client"))?;
        clients[0].send(b"hi\n")?;
        clients[0].expect_bytes(b"HI\n")?;
        clients[4].send(b"me too\n")?;
        clients[4].expect_bytes(b"ME TOO\n")
    });
}

/// A server that sends terminal escapes (clear the screen, retitle the window): the client
/// prints them escaped, not raw.
#[test]
fn the_client_shows_a_servers_control_characters_escaped() {
    harness::testing::assert_holds(&target(), |s| {
        let listener = s.tcp_listener("server")?;
        let address = listener.local_addr()?.to_string();
        let mut client = s.role("client", "client", &["--server", &address])?;
        let mut server = s.accept("server", &listener, "client")?;
        client.send_line("hi")?;
        server.expect_bytes(b"hi\n")?;
        server.send(b"\x1b[2J\x1b]0;owned\x07HI\n")?;
        let line = client.expect_line("the reply", WAIT, |line| line.contains("HI"))?;
        ensure!(!line.contains(['\x1b', '\x07']), "the client printed the server's escapes raw: {line:?}");
        Ok(())
    });
}
