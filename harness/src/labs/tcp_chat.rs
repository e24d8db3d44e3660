//! tcp-chat's scenarios: what a one-to-one TCP chat server must do on the wire, in any
//! language. The server's operator is its stdin; what it receives must show on its stdout
//! (in any wording that contains the line).

use anyhow::{Context, Result, bail};

use super::chat::in_duplex_either_side_types_at_any_time;
use crate::process::describe_status;
use crate::scenario::{Fixture, Flag, Lab, Report, Spec};
use crate::session::Session;
use crate::transcript::Proto;
use crate::{QUIET, WAIT};

pub const LAB: Lab = Lab {
    name: "tcp-chat",
    teaches: "TCP one-to-one chat (\"simple QQ\"): lock-step, quit word, queued clients",
    proto: Proto::Tcp,
    default_port: 9000,
    roles: &["server", "client"],
    modes: &["lockstep", "duplex"],
    server_flags: &[],
    story: "
Two people chat over TCP: one types into the server, the other into the client. The server
must run first; then the client speaks first and they take turns (lockstep, as the original
lessons chat), or, in duplex mode, type whenever they like. A quit word (q or 88) ends the
conversation for both, and the server goes on to the next client in its queue. Below, the
server's operator is its stdin (\"server stdin <\"), what it shows is its stdout; alice and
bob are plain TCP sockets the harness drives, and every chunk of bytes is shown as they read it.",
    scenarios: &[
        scenario!(
            the_client_is_refused_until_the_server_runs,
            claim: "Start the server first: before it runs, the client is refused at once",
            hint: "Print the ready line only after listen() has returned (a port that is \
                   bound but not listening refuses connects), and end each line you send \
                   with a newline: the client prints a line once its newline arrives.",
            bug: "ready-before-listen",
        ),
        scenario!(
            in_lockstep_the_client_speaks_first_then_they_take_turns,
            claim: "Lockstep: the client speaks first, and a second line waits for the reply",
            hint: "With --mode lockstep, after sending one typed line wait for the client's \
                   next line before you send another: lines typed meanwhile wait their turn.",
            bug: "always-duplex",
            mode: "lockstep",
        ),
        scenario!(
            in_duplex_either_side_types_at_any_time,
            claim: "Duplex: the server sends two lines and the client shows both, typing nothing",
            hint: "With --mode duplex, receive and send independently (a thread each, or select): \
                   a typed line goes out at once, without waiting for the client's next line.",
            bug: "always-lockstep",
            mode: "duplex",
        ),
        scenario!(
            a_quit_word_from_either_side_ends_the_conversation,
            claim: "A quit word (q or 88, any case) from either side ends the conversation",
            hint: "Look at how you compare a line with the quit words: compare text with text \
                   (decoded, newline stripped, case ignored), for lines received and typed alike.",
            bug: "quit-never-matches",
        ),
        scenario!(
            the_next_client_is_served_after_a_quit_and_loses_nothing,
            claim: "A client that connected meanwhile is served next, and loses nothing it sent",
            hint: "When a conversation ends, go back to accept instead of ending the server: \
                   the next client has been waiting in the queue, its first line in the kernel.",
            bug: "serve-once",
        ),
        scenario!(
            a_long_line_arrives_whole_up_to_the_bound,
            claim: "A 100 KB line arrives whole both ways; one over 1 MiB ends only its conversation",
            hint: "Gather reads into a buffer until a newline arrives, rather \
                   than taking one recv as one line: a 100 KB line takes many \
                   reads. At 1 MiB with no newline, end only that conversation.",
            bug: "recv-1024",
        ),
    ],
    fixture: Fixture {
        script: "tests/fixtures/chat.py",
        passes_with: &["--mode lockstep", "--mode duplex"],
        reports: &[
            // The original lesson's server sends its replies with no newline: the lab's client
            // prints nothing, and the report shows the 18 bytes that did arrive.
            Report {
                name: "a_reply_without_its_newline_shows_on_the_wire",
                scenario: scenario_name!(the_client_is_refused_until_the_server_runs),
                leads_with: &[],
                bug: "no-newline",
                shows: &[
                    &["server → client  bytes (18 bytes): \"yes, I am here now\""],
                    &["the client prints a line once its newline has arrived"],
                ],
            },
            Report {
                name: "the_quit_failure_shows_the_unnoticed_quit_word",
                scenario: scenario_name!(a_quit_word_from_either_side_ends_the_conversation),
                leads_with: &[],
                bug: "quit-never-matches",
                shows: &[&["server stdout> client 1: Q"], &["expected the server to close the connection"]],
            },
        ],
    },
    by_hand: &[
        "cargo lab tcp-chat server        # terminal 1: you type the server's side",
        "cargo lab tcp-chat client        # terminal 2: speak first; q or 88 ends the conversation",
    ],
    spec: Spec {
        task: "The server's end of a one-to-one TCP chat: its operator types on stdin, and what the client \
               says shows on stdout. One client at a time; the next waits in the accept queue.",
        flags: &[Flag {
            usage: "--mode lockstep|duplex",
            does: "lockstep (the default): take turns, the client first; a line typed on stdin waits until \
                   the client's line has arrived. duplex: send each typed line at once, and show each line \
                   that arrives at once, in any order.",
        }],
        protocol: &[
            "Lines of UTF-8 text, each ending in \\n, both ways. A line may arrive in pieces, or with others \
             in one read: keep a buffer across reads, and bound it. A line of 100 KB arrives whole; one over \
             1 MiB ends that conversation, not the server.",
            "Print each line from the client on stdout (the checks look for its text; `client 1: hello` in \
             the reference). Send each line typed on stdin to the client, with its \\n.",
            "A quit word, q or 88 in any case, from either side ends the conversation: close it, and serve \
             the next client, who may have connected and sent lines meanwhile. At the end of stdin, send a \
             quit word and exit 0.",
        ],
    },
};

/// Why a line the server sent may be missing from what the client printed.
const SHOWN_ON_NEWLINE: &str = "the client prints a line once its newline has arrived: the bytes the server sent it \
     are in the transcript (server → client)";

/// The longest line the protocol carries: 1 MiB, without its newline.
const MAX_LINE: usize = 1024 * 1024;

/// The lab's client, run before any server: it fails at once with "connection refused" and a
/// hint to start the server. Once the server runs on that port, the same command connects and
/// the chat works.
pub fn the_client_is_refused_until_the_server_runs(s: &mut Session) -> Result<()> {
    let (mut server, ()) = s.server_after(&[], |s, nowhere| {
        let address = nowhere.to_string();
        s.say("No server yet. The lab's client connects to the port the server will use:");
        let mut early = s.role("client", "client", &["--server", &address])?;
        let status = early.wait_exit(WAIT)?;
        if status.code() != Some(1) {
            bail!(
                "expected the client to fail with status 1 with nobody listening; it {}",
                describe_status(status)
            );
        }
        early.expect_stderr_line("\"connection refused\"", WAIT, |line| {
            line.to_lowercase().contains("connection refused")
        })?;
        early.expect_stderr_line("a hint to start the server first", WAIT, |line| {
            line.contains("start the server first")
        })?;
        s.say("Refused at once: the kernel answered the handshake's SYN with a reset. Now the server starts there.");
        Ok(())
    })?;
    s.say("The same command again: it connects, and the chat works.");
    // Through a tap, so that a failure shows what reached the client, not only what it printed.
    let tap = s.tap(&server, "client")?;
    let mut client = s.role("client", "client", &["--server", &tap.addr().to_string()])?;
    client.send_line("hello, is anyone there?")?;
    server.expect_line_containing("hello, is anyone there?")?;
    server.send_line("yes, I am here now")?;
    client
        .expect_line("the server's reply", WAIT, |line| line.contains("yes, I am here now"))
        .context(SHOWN_ON_NEWLINE)?;
    Ok(())
}

/// Lockstep: alice speaks first; the server's operator types two lines, and only the first is
/// sent. The second leaves only after alice's next line has arrived.
pub fn in_lockstep_the_client_speaks_first_then_they_take_turns(s: &mut Session) -> Result<()> {
    let mut server = s.server(&["--mode", "lockstep"])?;
    let mut alice = s.tcp("alice", server.addr())?;
    s.say("The client speaks first: alice sends a line, and the server shows it.");
    alice.send(b"hello, server\n")?;
    server.expect_line_containing("hello, server")?;
    s.say("The server's operator types two lines at once. Only the first may go: then it is alice's turn.");
    server.send_line("hello, alice")?;
    server.send_line("are you still there?")?;
    alice.expect_bytes(b"hello, alice\n")?;
    alice.expect_nothing(QUIET)?;
    s.say("alice answers, and only now does the server's second line go out.");
    alice.send(b"yes, still here\n")?;
    server.expect_line_containing("yes, still here")?;
    alice.expect_bytes(b"are you still there?\n")?;
    Ok(())
}

/// alice sends "Q" (a quit word in capitals): the server closes her connection. bob is served
/// next; the server's operator types "88", which reaches bob, and his connection is closed.
pub fn a_quit_word_from_either_side_ends_the_conversation(s: &mut Session) -> Result<()> {
    let mut server = s.server(&[])?;
    let mut alice = s.tcp("alice", server.addr())?;
    s.say("alice types Q, a quit word in capitals. The server ends the conversation and closes.");
    alice.send(b"Q\n")?;
    alice.expect_closed()?;
    s.say("The server serves the next client. This time its operator quits, with 88.");
    let mut bob = s.tcp("bob", server.addr())?;
    bob.send(b"hello, I am bob\n")?;
    server.expect_line_containing("hello, I am bob")?;
    server.send_line("88")?;
    bob.expect_bytes(b"88\n")?;
    bob.expect_closed()?;
    Ok(())
}

/// While the server chats with alice, bob connects and speaks. Nothing of his shows until
/// alice quits; then his line, sent long before, is the first thing the server shows.
pub fn the_next_client_is_served_after_a_quit_and_loses_nothing(s: &mut Session) -> Result<()> {
    let mut server = s.server(&[])?;
    let mut alice = s.tcp("alice", server.addr())?;
    alice.send(b"alice here\n")?;
    server.expect_line_containing("alice here")?;
    s.say("bob connects meanwhile (the kernel completes his handshake) and speaks first, as a client does.");
    let mut bob = s.tcp("bob", server.addr())?;
    bob.send(b"bob here, waiting\n")?;
    s.say("The server is busy with alice: bob's line waits in the kernel, unread.");
    server.send_line("hi alice")?;
    alice.expect_bytes(b"hi alice\n")?;
    server.expect_no_line("bob's line", QUIET, |line| line.contains("bob here"))?;
    s.say("alice quits. The server takes bob from its accept queue and finds his line waiting.");
    alice.send(b"q\n")?;
    alice.expect_closed()?;
    server.expect_line_containing("bob here, waiting")?;
    server.send_line("hello bob, sorry for the wait")?;
    bob.expect_bytes(b"hello bob, sorry for the wait\n")?;
    Ok(())
}

/// A 100 KB line, which TCP delivers in many reads, arrives whole in both directions. A line
/// with no newline in its first 1 MiB ends alice's conversation; bob is served as usual.
pub fn a_long_line_arrives_whole_up_to_the_bound(s: &mut Session) -> Result<()> {
    let mut server = s.server(&[])?;
    let mut alice = s.tcp("alice", server.addr())?;
    let long = "abcdefghij".repeat(10 * 1024);
    s.say("alice sends one line of 100 KB. The original lesson's recv(1024) would cut it into a hundred messages.");
    alice.send(format!("{long}\n").as_bytes())?;
    server.expect_line_containing(&long)?;
    s.say("The server's operator answers with 100 KB too.");
    let answer = long.to_uppercase();
    server.send_line(&answer)?;
    alice.expect_bytes(format!("{answer}\n").as_bytes())?;

    s.say("alice sends 1 MiB and one byte with no newline: past the protocol's bound.");
    s.say("The server must not buffer without end: it ends alice's conversation.");
    alice.send(&vec![b'x'; MAX_LINE + 1])?;
    // Closed with alice's bytes unread, a server's kernel may send a reset instead of a FIN:
    // either way, the conversation has ended.
    alice.expect_closed()?;
    s.say("The server goes on: bob is served.");
    let mut bob = s.tcp("bob", server.addr())?;
    bob.send(b"am I next?\n")?;
    server.expect_line_containing("am I next?")?;
    server.send_line("yes, bob")?;
    bob.expect_bytes(b"yes, bob\n")?;
    Ok(())
}
