//! tcp-chat as a user meets it on the command line: help that teaches, errors that say what to
//! do next, and the lab's own client checked on the wire against a plain TCP listener.

use anyhow::{Context, Result, ensure};
use assert_cmd::cargo::cargo_bin_cmd;
use harness::labs::tcp_chat::LAB;
use harness::peer::TcpPeer;
use harness::process::Role;
use harness::testing::assert_holds;
use harness::{QUIET, Session, Target, WAIT};
use predicates::prelude::*;
use rstest::rstest;

const LOCKSTEP: &[&str] = &["--mode", "lockstep"];
const DUPLEX: &[&str] = &["--mode", "duplex"];

/// A long line the server's operator types: under the 1 MiB bound, so it is sent.
const LONG_LINE: usize = 900_000;

fn target() -> Target {
    Target::reference(&LAB, env!("CARGO_BIN_EXE_tcp-chat"))
}

/// `--help` says what each role demonstrates, not only its flags.
#[test]
fn help_says_what_each_role_demonstrates() {
    cargo_bin_cmd!("tcp-chat")
        .args(["server", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("accept queue"))
        .stdout(predicate::str::contains("duplex"));
    cargo_bin_cmd!("tcp-chat")
        .args(["client", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("refused at once"));
}

/// Lockstep, the client's side: two lines typed at once; the second reaches the server only
/// after the server's reply has reached the client.
#[test]
fn the_lockstep_client_sends_its_second_line_only_after_the_reply() {
    assert_holds(&target(), |s| {
        let listener = s.tcp_listener("server")?;
        let address = listener.local_addr()?.to_string();
        let mut client = s.role("client", "client", &["--server", &address])?;
        let mut server = s.accept("server", &listener, "client")?;
        client.send_line("one")?;
        client.send_line("two")?;
        server.expect_bytes(b"one\n")?;
        server.expect_nothing(QUIET)?;
        server.send(b"reply\n")?;
        client.expect_line("the reply", WAIT, |line| line == "server: reply")?;
        server.expect_bytes(b"two\n")?;
        Ok(())
    });
}

/// The client that types a quit word sends it and exits 0; the client whose server sends one
/// prints it and exits 0.
#[test]
fn the_client_exits_cleanly_whichever_side_quits() {
    assert_holds(&target(), |s| {
        let listener = s.tcp_listener("server")?;
        let address = listener.local_addr()?.to_string();
        let mut client = s.role("client", "client", &["--server", &address])?;
        let mut server = s.accept("server", &listener, "client")?;
        client.send_line("88")?;
        server.expect_bytes(b"88\n")?;
        server.expect_eof()?;
        ensure!(client.wait_exit(WAIT)?.success(), "the client did not exit 0 after typing 88");

        let mut client = s.role("client", "client", &["--server", &address, "--mode", "duplex"])?;
        let mut server = s.accept("server", &listener, "client")?;
        server.send(b"Q\n")?;
        client.expect_line("the server's quit word", WAIT, |line| line == "server: Q")?;
        server.expect_eof()?;
        ensure!(client.wait_exit(WAIT)?.success(), "the client did not exit 0 after the server's Q");
        Ok(())
    });
}

/// End of input (Ctrl-D) is a goodbye: the client sends the first quit word and exits 0; so
/// does the server, to the client it is talking to.
#[test]
fn end_of_input_says_goodbye_with_a_quit_word() {
    assert_holds(&target(), |s| {
        let listener = s.tcp_listener("server")?;
        let address = listener.local_addr()?.to_string();
        let mut client = s.role("client", "client", &["--server", &address, "--quit", "bye", "q"])?;
        let mut server = s.accept("server", &listener, "client")?;
        client.close_stdin();
        server.expect_bytes(b"bye\n")?;
        ensure!(client.wait_exit(WAIT)?.success(), "the client did not exit 0 at end of input");

        let mut chat_server = s.server(&[])?;
        let mut alice = s.tcp("alice", chat_server.addr())?;
        alice.send(b"hello\n")?;
        chat_server.expect_line("alice's line", WAIT, |line| line.contains("hello"))?;
        chat_server.close_stdin();
        alice.expect_bytes(b"q\n")?;
        alice.expect_eof()?;
        ensure!(chat_server.wait_exit(WAIT)?.success(), "the server did not exit 0 at end of input");
        Ok(())
    });
}

/// Bytes that are not UTF-8 are shown escaped, and the conversation goes on.
#[test]
fn bytes_that_are_not_text_are_shown_escaped() {
    assert_holds(&target(), |s| {
        let mut server = s.server(&[])?;
        let mut alice = s.tcp("alice", server.addr())?;
        alice.send(b"\xff\xfe not text\n")?;
        server.expect_line("the escaped bytes", WAIT, |line| line == r#"client 1: "\xff\xfe not text""#)?;
        server.send_line("你好, 张三")?;
        alice.expect_bytes("你好, 张三\n".as_bytes())?;
        Ok(())
    });
}

/// End of input while the server waits for a client: it exits 0 at once.
#[test]
fn end_of_input_ends_a_server_that_waits_for_a_client() {
    assert_holds(&target(), |s| {
        let mut server = s.server(&[])?;
        server.close_stdin();
        ensure!(server.wait_exit(WAIT)?.success(), "the waiting server did not exit 0 at end of input");
        Ok(())
    });
}

/// `--max-line` bounds both directions: a typed line over it is not sent (the turn stays), and
/// a received line over it ends that conversation only.
#[test]
fn max_line_bounds_what_is_sent_and_what_is_received() {
    assert_holds(&target(), |s| {
        let mut server = s.server(&["--max-line", "16"])?;
        let mut alice = s.tcp("alice", server.addr())?;
        alice.send(b"sixteen bytes ok\n")?;
        server.expect_line("alice's line", WAIT, |line| line == "client 1: sixteen bytes ok")?;
        server.send_line("seventeen bytes!!")?;
        server.send_line("short")?;
        alice.expect_bytes(b"short\n")?;
        alice.send(b"seventeen bytes!!\n")?;
        alice.expect_eof()?;
        let mut bob = s.tcp("bob", server.addr())?;
        bob.send(b"next\n")?;
        server.expect_line("bob's line", WAIT, |line| line == "client 2: next")?;
        Ok(())
    });
}

/// With nobody connected, a line the server's operator types is not kept for the next client
/// (the server says it was not sent), and a quit word stops the server, status 0.
#[test]
fn with_nobody_connected_a_typed_line_is_not_sent_and_a_quit_word_stops_the_server() {
    assert_holds(&target(), |s| {
        let mut server = s.server(&[])?;
        server.send_line("is anybody there?")?;
        server.expect_stderr_line("that nothing was sent", WAIT, |line| line.contains("not sent"))?;
        let mut alice = s.tcp("alice", server.addr())?;
        alice.send(b"hello\n")?;
        server.expect_line_containing("hello")?;
        server.send_line("hi, alice")?;
        alice.expect_bytes(b"hi, alice\n")?;
        alice.send(b"q\n")?;
        alice.expect_closed()?;
        server.expect_stderr_line("that it waits again", WAIT, |line| {
            line.contains("waiting for the next client")
        })?;
        server.send_line("Q")?;
        ensure!(
            server.wait_exit(WAIT)?.success(),
            "a quit word with nobody connected should end the server, status 0"
        );
        Ok(())
    });
}

/// Lockstep, while a silent client has the turn: a line the server's operator types waits for
/// the turn, but a quit word goes at once and ends the conversation. With the next client, end
/// of input (Ctrl-D) while waiting says goodbye and the server exits 0.
#[test]
fn a_silent_client_cannot_hold_the_lockstep_server() {
    assert_holds(&target(), |s| {
        let mut server = s.server(&["--mode", "lockstep"])?;
        let mut alice = s.tcp("alice", server.addr())?;
        alice.send(b"hello\n")?;
        server.expect_line_containing("hello")?;
        server.send_line("hi, alice")?;
        alice.expect_bytes(b"hi, alice\n")?;
        server.send_line("are you there?")?;
        alice.expect_nothing(QUIET)?;
        server.send_line("88")?;
        alice.expect_bytes(b"88\n")?;
        alice.expect_closed()?;

        let mut bob = bob_is_served(s, &mut server)?;
        server.close_stdin();
        bob.expect_bytes(b"q\n")?;
        bob.expect_closed()?;
        ensure!(server.wait_exit(WAIT)?.success(), "the server did not exit 0 at end of input");
        Ok(())
    });
}

/// Lockstep, the client's side: waiting for a server that never answers, the client still
/// ends at end of input, with its goodbye, and exits 0.
#[test]
fn a_silent_server_cannot_hold_the_lockstep_client() {
    assert_holds(&target(), |s| {
        let listener = s.tcp_listener("server")?;
        let address = listener.local_addr()?.to_string();
        let mut client = s.role("client", "client", &["--server", &address])?;
        let mut server = s.accept("server", &listener, "client")?;
        client.send_line("hello?")?;
        server.expect_bytes(b"hello?\n")?;
        client.close_stdin();
        server.expect_bytes(b"q\n")?;
        server.expect_closed()?;
        ensure!(client.wait_exit(WAIT)?.success(), "the client did not exit 0 at end of input");
        Ok(())
    });
}

/// How many long lines fill everything the kernel may hold for a client that never reads: the
/// server's send buffer and the client's receive buffer, each at the most Linux lets it grow
/// (the third number of tcp_wmem and tcp_rmem), and a few more. Past that, the server's write
/// blocks until the client reads.
fn lines_past_the_kernels_buffers() -> Result<usize> {
    let most = |name: &str| -> Result<usize> {
        let path = format!("/proc/sys/net/ipv4/{name}");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        text.split_whitespace()
            .nth(2)
            .and_then(|max| max.parse().ok())
            .with_context(|| format!("no third number in {path}"))
    };
    Ok((most("tcp_wmem")? + most("tcp_rmem")?) / LONG_LINE + 3)
}

/// A server in `mode` whose first client, alice, sends lines but never reads, and whose operator
/// has typed more long lines than the kernel will hold for her: the server is stuck sending,
/// and has said so.
fn stuck_sending_to_alice(s: &mut Session, mode: &[&str]) -> Result<(Role, TcpPeer)> {
    let lines = lines_past_the_kernels_buffers()?;
    let mut server = s.server(mode)?;
    let mut alice = s.tcp("alice", server.addr())?;
    // In lockstep, each of her lines gives the server a turn to send one of its own.
    alice.send(&b"hello\n".repeat(lines + 1))?;
    server.expect_line_containing("hello")?;
    let long = "x".repeat(LONG_LINE);
    for _ in 0..lines {
        server.send_line(&long)?;
    }
    server.expect_stderr_line("that it is stuck sending to alice", WAIT, |line| {
        line.contains("has not read what we sent")
    })?;
    Ok((server, alice))
}

/// bob connects next, says hello, and gets the line the operator types for him, first.
fn bob_is_served(s: &mut Session, server: &mut Role) -> Result<TcpPeer> {
    let mut bob = s.tcp("bob", server.addr())?;
    bob.send(b"hello, it is bob\n")?;
    server.expect_line_containing("hello, it is bob")?;
    server.send_line("hi, bob")?;
    bob.expect_bytes(b"hi, bob\n")?;
    Ok(bob)
}

/// alice sends lines but never reads; the server's operator types more long lines than the
/// kernel will hold for her, so the server is stuck sending (it says so), with typed lines
/// waiting. alice then resets. bob, served next, gets only what is typed for him: the first bytes he receives
/// are the line typed after he spoke, not one typed for alice.
#[rstest]
fn lines_typed_for_a_client_that_left_never_reach_the_next(#[values(LOCKSTEP, DUPLEX)] mode: &[&str]) {
    assert_holds(&target(), |s| {
        let (mut server, alice) = stuck_sending_to_alice(s, mode)?;
        // Every typed line read from the server's stdin before alice leaves: a line still in the
        // pipe when bob's conversation begins would be typed, as far as the server can tell,
        // while bob is there. (A person types a line in a moment; these lines are 900 KB each.)
        server.wait_idle(WAIT)?;
        alice.reset()?;
        server.expect_stderr_line("that it waits for the next client", WAIT, |line| {
            line.contains("waiting for the next client")
        })?;
        let _bob = bob_is_served(s, &mut server)?;
        Ok(())
    });
}

/// alice sends lines but never reads, and the server is stuck sending her long lines (it says
/// so). The operator types a quit word: it ends alice's conversation at once (she would never
/// read it). bob is served next, and the quit word does not reach him.
#[rstest]
fn a_quit_word_hangs_up_on_a_client_that_does_not_read(#[values(LOCKSTEP, DUPLEX)] mode: &[&str]) {
    assert_holds(&target(), |s| {
        let (mut server, _alice) = stuck_sending_to_alice(s, mode)?;
        server.send_line("88")?;
        server.expect_line("that it hung up on alice", WAIT, |line| line.contains("hung up on client 1"))?;
        let mut bob = bob_is_served(s, &mut server)?;
        bob.expect_nothing(QUIET)?;
        Ok(())
    });
}

/// A client the server has not taken from its accept queue is connected all the same: the
/// kernel completed the handshake. The client says it may be waiting in that queue.
#[test]
fn a_client_says_it_may_be_waiting_in_the_accept_queue() {
    assert_holds(&target(), |s| {
        // A listener that never accepts: every connection stays in its accept queue.
        let listener = s.tcp_listener("server")?;
        let address = listener.local_addr()?.to_string();
        let mut client = s.role("client", "client", &["--server", &address])?;
        client.expect_stderr_line("that it may be waiting in the accept queue", WAIT, |line| {
            line.contains("connected") && line.contains("accept queue")
        })?;
        Ok(())
    });
}

/// The server resets the connection (it stopped, say) while the client waits for a reply: one
/// `error:` line that says so, a hint, status 1.
#[test]
fn a_reset_from_the_server_is_an_error_with_a_hint() {
    assert_holds(&target(), |s| {
        let listener = s.tcp_listener("server")?;
        let address = listener.local_addr()?.to_string();
        let mut client = s.role("client", "client", &["--server", &address])?;
        let mut server = s.accept("server", &listener, "client")?;
        client.send_line("hello?")?;
        server.expect_bytes(b"hello?\n")?;
        server.reset()?;
        client.expect_stderr_line("the reset", WAIT, |line| {
            line.starts_with("error: receiving from server: ") && line.contains("reset")
        })?;
        client.expect_stderr_line("a hint", WAIT, |line| line.starts_with("hint: "))?;
        let status = client.wait_exit(WAIT)?;
        ensure!(status.code() == Some(1), "expected status 1 after a reset, got {status}");
        Ok(())
    });
}

/// A client's control characters (ESC, BEL) and a right-to-left override (U+202E) could clear
/// the operator's screen, retitle the window or disguise text: they are shown escaped.
#[test]
fn control_and_bidi_characters_from_a_client_are_shown_escaped() {
    assert_holds(&target(), |s| {
        let mut server = s.server(&[])?;
        let mut alice = s.tcp("alice", server.addr())?;
        alice.send("\x1b[2J\x1b]0;owned\x07 \u{202e}ecila\n".as_bytes())?;
        server.expect_line("the line, escaped", WAIT, |line| {
            line == r#"client 1: "\u{1b}[2J\u{1b}]0;owned\u{7} \u{202e}ecila""#
        })?;
        Ok(())
    });
}

/// With no file descriptor left for a connection (RLIMIT_NOFILE 4: stdin, stdout, stderr
/// and the listening socket), accept fails with "Too many open files". The server says so
/// once and waits, rather than retry in a tight loop that logs every failure.
#[test]
fn out_of_file_descriptors_the_server_says_so_once() {
    assert_holds(&target(), |s| {
        let binary = env!("CARGO_BIN_EXE_tcp-chat");
        let limits = [harness::process::Limit::OpenFiles(4)];
        let (mut server, at) = harness::limits::start_server(s, binary, &limits, &[])?;
        let _alice = s.tcp("alice", at)?;
        server.expect_stderr_line("that accept failed", WAIT, |line| line.contains("Too many open files"))?;
        // A few lines at most: a descriptor free for a moment may honestly start a new episode.
        server.expect_few_stderr_lines(QUIET, 4)?;
        Ok(())
    });
}
