//! upper's scenarios: what a TCP upper-case server must do on the wire, in any language.

use std::time::Duration;

use anyhow::Result;

use crate::scenario::{Fixture, Flag, Lab, Report, Spec};
use crate::session::Session;
use crate::transcript::Proto;
use crate::{QUIET, WAIT};

pub const LAB: Lab = Lab {
    name: "upper",
    teaches: "TCP upper-case server: iterative vs threaded, abrupt client exit",
    proto: Proto::Tcp,
    default_port: 9999,
    roles: &["server", "client"],
    modes: &["iterative", "threaded"],
    server_flags: &[],
    story: "
A TCP server needs a connection per client: the client connects, the kernel completes the
handshake, and accept hands the server a socket for that one client. Original lesson 001's server
is iterative: it serves one client at a time, and the next ones wait, connected, in the
kernel's queue. Below, alice, bob and friends are plain TCP sockets the harness drives; every
chunk of bytes is shown as they read it, so its time is when they read it.",
    scenarios: &[
        scenario!(
            bytes_come_back_upper_cased,
            claim: "Bytes come back upper-cased, and a 100 KB line comes back whole",
            hint: "Keep reading until the client closes: one recv returns what has arrived \
                   so far, at most the size you asked for, not the client's whole message.",
            bug: "one-read",
        ),
        scenario!(
            a_character_split_across_reads_is_upper_cased,
            claim: "A character whose bytes arrive in two reads is still upper-cased",
            hint: "Look at where you decode the bytes you read: a read can end inside a UTF-8 \
                   character, so its last bytes may be text only together with the next read's.",
            bug: "decode-each-read",
        ),
        scenario!(
            the_next_client_waits_until_the_first_leaves,
            claim: "Iterative: a second client connects at once, but is answered only when the first leaves",
            hint: "With --mode iterative, serve one client until it leaves before you call accept \
                   again: the next client is meant to wait, connected, in the kernel's queue.",
            bug: "always-threaded",
            mode: "iterative",
        ),
        scenario!(
            fifty_clients_are_answered_at_once,
            claim: "Threaded: fifty clients, all connected, are all answered",
            hint: "With --mode threaded, hand each accepted connection to a thread of its own and go \
                   straight back to accept: a client served inside the accept loop holds up all the others.",
            bug: "always-iterative",
            mode: "threaded",
        ),
        scenario!(
            a_vanished_client_does_not_stop_the_server,
            claim: "A client that resets or closes mid-request is logged, and the next one is served",
            hint: "Look at what your server does when a read or write fails \
                   with connection reset, or a client leaves in the middle of \
                   a line: that ends one client, to be logged, not the server.",
            bug: "die-on-reset",
        ),
        scenario!(
            a_half_closed_client_still_gets_every_reply,
            claim: "A client that half-closes still gets the reply to everything it sent",
            hint: "Look at the bytes you still hold when a read returns 0: the client has only stopped \
                   sending (shutdown) and is still reading, so send everything you owe it before you close.",
            bug: "line-buffered",
        ),
        scenario!(
            an_empty_session_is_clean,
            claim: "Connecting and closing without a word is a clean session, not an error",
            hint: "A read of 0 bytes, even before any data, ends that client's session, \
                   not the server: after it, go back to accept the next client.",
            bug: "serve-once",
        ),
    ],
    fixture: Fixture {
        script: "tests/fixtures/upper.py",
        passes_with: &["--mode iterative", "--mode threaded"],
        reports: &[
            Report {
                name: "a_crash_on_a_reset_leads_with_the_exception",
                scenario: scenario_name!(a_vanished_client_does_not_stop_the_server),
                leads_with: &["your server crashed: ConnectionResetError"],
                bug: "die-on-reset",
                shows: &[],
            },
            Report {
                name: "a_server_that_leaves_its_accept_loop_says_it_ended",
                scenario: scenario_name!(an_empty_session_is_clean),
                leads_with: &["your server ended on its own (exited with status 0"],
                bug: "serve-once",
                shows: &[],
            },
        ],
    },
    by_hand: &[
        "cargo lab upper server        # terminal 1 (iterative; add --mode threaded for the other)",
        "cargo lab upper client        # terminal 2, and again in terminal 3 (or: nc 127.0.0.1 9999)",
    ],
    spec: Spec {
        task: "A TCP server that sends back, upper-cased, every byte each client sends, until that client \
               closes.",
        flags: &[Flag {
            usage: "--mode iterative|threaded",
            does: "iterative (the default): serve one client at a time, from accept to its close, while the \
                   next waits in the accept queue. threaded: serve each accepted client on a thread of its \
                   own, so that all are answered at once. The scenarios marked [iterative only] and \
                   [threaded only] pass it; the others start your server without it.",
        }],
        protocol: &[
            "A byte stream with no framing: there are no lines to wait for. Send back what each read brought, \
             upper-cased as UTF-8 text; bytes that are not UTF-8 go back as they came. A character whose bytes \
             are cut between two reads is upper-cased once its rest arrives, so keep its first bytes for the \
             next read.",
            "A read of 0 bytes is the client's close, or half-close (it still reads every reply): send what is \
             left and close the connection. A client that resets or vanishes mid-request is logged on stderr \
             and ends only its own connection; the server goes on to the next.",
        ],
    },
};

/// A short line comes back in capitals; a 100 KB line, which TCP delivers in many pieces,
/// comes back whole.
pub fn bytes_come_back_upper_cased(s: &mut Session) -> Result<()> {
    let server = s.server(&[])?;
    let mut alice = s.tcp("alice", server.addr())?;
    alice.send(b"hello, world\n")?;
    alice.expect_bytes(b"HELLO, WORLD\n")?;
    s.say("Now one line of 100 KB. The original lesson's client reads 1024 bytes and stops; TCP has no such limit.");
    let long = "abcdefghij".repeat(10 * 1024) + "\n";
    alice.send(long.as_bytes())?;
    alice.expect_bytes(long.to_uppercase().as_bytes())?;
    Ok(())
}

/// "café" with its é (two bytes, c3 a9) cut in half: the halves go in two writes with a pause
/// between, so the server reads them separately. The reply must still be "CAFÉ".
pub fn a_character_split_across_reads_is_upper_cased(s: &mut Session) -> Result<()> {
    let server = s.server(&[])?;
    let mut alice = s.tcp("alice", server.addr())?;
    s.say("alice sends \"caf\" and the first byte of é, then, 200 ms later, its second byte.");
    s.say("The server answers \"CAF\" at once and keeps the half é; alice reads both replies at the end.");
    alice.send(b"caf\xc3")?;
    // A deliberate pause, not a wait for anything: it makes the server read the two halves of
    // é separately. Were they to arrive together, the check would still hold.
    std::thread::sleep(Duration::from_millis(200));
    alice.send(b"\xa9\n")?;
    alice.expect_bytes("CAFÉ\n".as_bytes())?;
    Ok(())
}

/// Iterative: bob's connect succeeds while alice is served (the kernel completed the
/// handshake), but his request waits until alice leaves; then it is answered, none of it lost.
pub fn the_next_client_waits_until_the_first_leaves(s: &mut Session) -> Result<()> {
    let server = s.server(&["--mode", "iterative"])?;
    let mut alice = s.tcp("alice", server.addr())?;
    alice.send(b"first\n")?;
    alice.expect_bytes(b"FIRST\n")?;
    s.say("bob connects while alice is still connected. connect succeeds: the kernel did the handshake.");
    let mut bob = s.tcp("bob", server.addr())?;
    bob.send(b"second\n")?;
    s.say("But the server is busy with alice, so nobody reads bob's bytes. They wait in the kernel.");
    bob.expect_nothing(QUIET)?;
    s.say("alice leaves. The server accepts bob, and finds his request waiting.");
    alice.close();
    bob.expect_bytes(b"SECOND\n")?;
    Ok(())
}

/// Threaded: alice and bob are both answered while both are connected, and then fifty
/// clients at once.
pub fn fifty_clients_are_answered_at_once(s: &mut Session) -> Result<()> {
    let mut server = s.server(&["--mode", "threaded"])?;
    let mut alice = s.tcp("alice", server.addr())?;
    let mut bob = s.tcp("bob", server.addr())?;
    s.say("alice and bob are both connected; bob speaks first, and is answered at once.");
    bob.send(b"bob here\n")?;
    bob.expect_bytes(b"BOB HERE\n")?;
    alice.send(b"alice here\n")?;
    alice.expect_bytes(b"ALICE HERE\n")?;

    s.say("Fifty more clients connect, all staying connected, and each sends a line.");
    s.say("(Their bytes are recorded, but not shown here unless something goes wrong.)");
    let hush = s.transcript().hush();
    let mut clients = Vec::new();
    for n in 1..=50 {
        clients.push(s.tcp(&format!("client{n}"), server.addr())?);
    }
    for (n, client) in (1..).zip(clients.iter_mut()) {
        client.send(format!("client {n} here\n").as_bytes())?;
    }
    for (n, client) in (1..).zip(clients.iter_mut()) {
        client.expect_bytes(format!("CLIENT {n} HERE\n").as_bytes())?;
    }
    for client in clients.into_iter().chain([alice, bob]) {
        client.close();
    }
    if s.is_reference() {
        // Still hushed: let the server log all 52 goodbyes before the story goes on.
        for _ in 0..52 {
            server
                .expect_line("a client's clean close", WAIT, |line| line.contains("closed by the client"))?;
        }
    }
    drop(hush);
    s.say("All fifty were answered while all fifty were connected.");
    Ok(())
}

/// alice resets her connection (SO_LINGER 0) in the middle of a request, bob closes his
/// mid-request; the server logs both, and carol is served as if nothing happened.
pub fn a_vanished_client_does_not_stop_the_server(s: &mut Session) -> Result<()> {
    let mut server = s.server(&[])?;
    let mut alice = s.tcp("alice", server.addr())?;
    alice.send(b"half a requ")?;
    alice.expect_bytes(b"HALF A REQU")?;
    s.say("alice aborts: SO_LINGER 0 turns her close into a reset (RST) instead of a FIN.");
    alice.reset()?;
    if s.is_reference() {
        server.expect_line("that client 1 was reset", WAIT, |line| line.contains("client 1 reset"))?;
    }
    let mut bob = s.tcp("bob", server.addr())?;
    bob.send(b"and another half")?;
    bob.expect_bytes(b"AND ANOTHER HALF")?;
    s.say("bob closes in the middle of a line.");
    bob.close();
    if s.is_reference() {
        server.expect_line("that client 2 closed in the middle of a line", WAIT, |line| {
            line.contains("client 2 closed") && line.contains("in the middle of a line")
        })?;
    }
    s.say("The server goes on:");
    let mut carol = s.tcp("carol", server.addr())?;
    carol.send(b"still there?\n")?;
    carol.expect_bytes(b"STILL THERE?\n")?;
    Ok(())
}

/// alice sends two lines, the second without its newline, then shuts down her sending side.
/// She still gets both replies, then the server closes.
pub fn a_half_closed_client_still_gets_every_reply(s: &mut Session) -> Result<()> {
    let server = s.server(&[])?;
    let mut alice = s.tcp("alice", server.addr())?;
    alice.send(b"one\ntwo")?;
    s.say("alice is done sending, but not done reading: shutdown(write) sends a FIN, nothing more.");
    alice.shutdown_write()?;
    s.say("The server has answered every byte already; its next read returns 0 (end of stream), so it closes too.");
    alice.expect_bytes(b"ONE\nTWO")?;
    alice.expect_eof()?;
    Ok(())
}

/// alice connects and closes without sending anything; the server logs a clean session and
/// serves bob next.
pub fn an_empty_session_is_clean(s: &mut Session) -> Result<()> {
    let mut server = s.server(&[])?;
    let alice = s.tcp("alice", server.addr())?;
    s.say("alice connects and leaves without a word. The server's read returns 0 bytes.");
    alice.close();
    if s.is_reference() {
        server.expect_line("a clean close of client 1", WAIT, |line| {
            line.contains("client 1 closed by the client (clean close)")
        })?;
    }
    let mut bob = s.tcp("bob", server.addr())?;
    bob.send(b"next\n")?;
    bob.expect_bytes(b"NEXT\n")?;
    Ok(())
}
