//! backlog when the machine, not a peer, says no: out of file descriptors, out of threads;
//! and a server bound to every interface.
//!
//! Each limit is set on the spawned server alone (`prlimit`, `setpriv` in front of its
//! command), never on the test process.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Result, bail};
use harness::labs::backlog::LAB;
use harness::limits::ThreadLimit;
use harness::peer::TcpPeer;
use harness::process::{Program, Role};
use harness::{QUIET, READY_WAIT, Session, Target, WAIT};

const BINARY: &str = env!("CARGO_BIN_EXE_backlog");

fn target() -> Target {
    Target::reference(&LAB, BINARY)
}

/// Start `COMMAND server --bind 127.0.0.1:0 ARGS`, where the command is the binary with what
/// sets its limits in front of it, and wait for its ready line.
fn start_server(s: &Session, command: &[String], args: &[&str]) -> Result<(Role, SocketAddr)> {
    let mut argv: Vec<String> = command[1..].to_vec();
    argv.extend(["server", "--bind", "127.0.0.1:0"].map(String::from));
    argv.extend(args.iter().map(|a| a.to_string()));
    let program = Program::Exec { path: command[0].clone().into(), args: argv };
    let mut server = Role::spawn("server", program, s.transcript())?;
    let addr = server.wait_ready(READY_WAIT)?.addr;
    s.transcript().name(addr, "server");
    Ok((server, addr))
}

/// The binary, with `limits` (a command and its flags) in front of it.
fn with_limits(limits: &str) -> Vec<String> {
    limits.split(' ').map(String::from).chain([BINARY.to_string()]).collect()
}

/// Accept every client as it comes.
const ACCEPT_ALL: &[&str] = &["--backlog", "128", "--accept", "after", "0"];

/// With room for about 28 connections (`prlimit --nofile=32`) and 40 clients, accept fails
/// with "Too many open files". The server says so once, does not retry in a tight loop, still
/// serves the clients it has, and says so again when accepting works once more: the client
/// that waited in the queue is then served.
#[test]
fn out_of_file_descriptors_the_server_says_so_once_and_goes_on() {
    harness::testing::assert_holds(&target(), |s| {
        let (mut server, at) = start_server(s, &with_limits("prlimit --nofile=32 --"), ACCEPT_ALL)?;
        let mut clients = Vec::new();
        {
            let _hush = s.transcript().hush();
            for number in 1..=40 {
                clients.push(s.tcp(&format!("client {number}"), at)?);
            }
        }
        server.expect_stderr_line("that accept failed", WAIT, |line| {
            line.starts_with("accept failed") && line.contains("Too many open files")
        })?;
        // A server that retries at once prints thousands of lines in this time; one that
        // pauses, a few at most (a descriptor can be free for a moment, and a new episode start).
        let more = server.stderr_lines_within(QUIET);
        if more > 4 {
            bail!(
                "the server printed {more} more lines on stderr within {QUIET:?}: it retries without pausing"
            );
        }

        clients[0].send(b"still there?\n")?;
        clients[0].expect_bytes(b"STILL THERE?\n")?;

        // Twenty clients leave: their threads end and close their sockets, and accept works.
        let mut last = clients.pop().expect("40 clients");
        for client in clients.drain(..20) {
            client.close();
        }
        server.expect_stderr_line("that it accepts again", WAIT, |line| line.contains("accepting again"))?;
        last.send(b"late\n")?;
        last.expect_bytes(b"LATE\n")
    });
}

/// With room for 6 threads in all (`prlimit --nproc=6`: the main thread, the one watching the
/// queue, and 4 clients'), the 5th client cannot get a thread. It is told why and closed; the clients already served go on,
/// and so does the server.
#[test]
fn a_client_that_gets_no_thread_is_told_why_and_the_others_go_on() {
    let Some(limit) = ThreadLimit::new(Path::new(BINARY), 6).unwrap() else {
        eprintln!("skipped: RLIMIT_NPROC can be tested deterministically only as root (see harness::limits)");
        return;
    };
    harness::testing::assert_holds(&target(), |s| {
        let (mut server, at) = start_server(s, &limit.command, ACCEPT_ALL)?;
        let mut clients: Vec<TcpPeer> = Vec::new();
        for number in 1..=7 {
            clients.push(s.tcp(&format!("client {number}"), at)?);
        }
        clients[6].expect_bytes(b"error: the server could not start a thread for you; try again later\n")?;
        clients[6].expect_eof()?;
        server.expect_stderr_line("the refusal", WAIT, |line| line.contains("no thread for client"))?;
        clients[0].send(b"hi\n")?;
        clients[0].expect_bytes(b"HI\n")?;
        clients[3].send(b"me too\n")?;
        clients[3].expect_bytes(b"ME TOO\n")
    });
}
