//! udp-chat's scenarios: what the waiting end of a UDP chat (the original lessons' "server") must do on
//! the wire, in any language. Its operator is its stdin; every datagram it accepts must show
//! on its stdout (in any wording that contains the line), and a quit word ends it.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};

use anyhow::{Result, bail};

use super::chat::in_duplex_either_side_types_at_any_time;
use crate::process::{Role, describe_status};
use crate::scenario::{Fixture, Flag, Lab, Report, Spec};
use crate::session::Session;
use crate::transcript::{Event, Proto};
use crate::{QUIET, WAIT, ports};

pub const LAB: Lab = Lab {
    name: "udp-chat",
    teaches: "UDP peer chat: either side may start first; lost vs refused",
    proto: Proto::Udp,
    default_port: 8889,
    roles: &["server", "client", "peer"],
    modes: &["lockstep", "duplex"],
    server_flags: &[],
    story: "
The same chat as tcp-chat, over UDP. There is no connection, so either end may start first:
a line sent before the other end exists is simply lost, and the sender's send still succeeds.
The end that waits (original lesson 000's server) learns its peer from the first datagram. Below, the
server's operator is its stdin (\"server stdin <\"); alice and mallory are plain UDP sockets
the harness drives, and every datagram is shown with its exact bytes. The lab's own client
takes part too; its datagrams are not drawn, but what it prints is.",
    scenarios: &[
        scenario!(
            either_side_may_start_first,
            claim: "TCP refuses a connect at once; a UDP line sent before the server runs is lost",
            hint: "Send your lines from the socket the client's first line arrived \
                   on: the lab's client connects its socket to the address it \
                   sends to, and its kernel drops datagrams from any other.",
            bug: "new-socket",
        ),
        scenario!(
            a_stranger_cannot_cut_into_the_chat,
            claim: "The server chats with whoever spoke first, and ignores everyone else",
            hint: "Keep the address of whoever spoke first and check every later datagram's sender against \
                   it: connect() filters only datagrams that arrive after it, not one already queued.",
            bug: "reply-to-last",
        ),
        scenario!(
            in_lockstep_the_server_waits_for_its_turn,
            claim: "Lockstep: the server's second line waits until the client's line arrives",
            hint: "With --mode lockstep, after sending one typed line wait for the peer's next \
                   datagram before you send another: lines typed meanwhile wait their turn.",
            bug: "always-duplex",
            mode: "lockstep",
        ),
        scenario!(
            in_duplex_either_side_types_at_any_time,
            claim: "Duplex: the server sends two lines and the client shows both, typing nothing",
            hint: "With --mode duplex, receive datagrams and send typed lines independently (a thread \
                   each, or select): a typed line goes out at once, without waiting for the peer.",
            bug: "always-lockstep",
            mode: "duplex",
        ),
        scenario!(
            a_quit_word_from_either_side_ends_the_chat,
            claim: "A quit word (q or 88, any case) from either side ends the chat",
            hint: "Compare a line with the quit words as text, ignoring case and surrounding \
                   whitespace, for lines typed and received alike, and exit with status 0 after one.",
            bug: "case-sensitive",
        ),
    ],
    fixture: Fixture {
        script: "tests/fixtures/chat.py",
        passes_with: &["--mode lockstep", "--mode duplex"],
        reports: &[
            Report {
                name: "the_stranger_failure_shows_the_strangers_line",
                scenario: scenario_name!(a_stranger_cannot_cut_into_the_chat),
                leads_with: &[],
                bug: "reply-to-last",
                // Seen at once, or, on a machine too busy for the server to print it within the
                // short watch, as the line it showed for alice's next.
                shows: &[&[
                    "but it printed \"client: alice here, from a new port\"",
                    "showed mallory's line as its peer's: \"client: alice here, from a new port\"",
                ]],
            },
            // connect stops new datagrams from strangers, not one already queued: a server that
            // trusts it shows mallory's line, sent right behind alice's first one.
            Report {
                name: "a_strangers_datagram_queued_before_connect_is_caught",
                scenario: scenario_name!(a_stranger_cannot_cut_into_the_chat),
                leads_with: &[],
                bug: "trust-connect",
                // Seen at once, or, on a machine too busy for the server to print it within the
                // short watch, as the line it showed for alice's next.
                shows: &[&[
                    "but it printed \"client: alice here, from a new port\"",
                    "showed mallory's line as its peer's: \"client: alice here, from a new port\"",
                ]],
            },
        ],
    },
    by_hand: &[
        "cargo lab udp-chat server        # terminal 1: you type the server's side",
        "cargo lab udp-chat client        # terminal 2: speak first (start it first, too: try it)",
    ],
    spec: Spec {
        task: "The waiting end of a UDP peer chat: it learns its peer from the first datagram and chats with \
               that peer only; its operator types on stdin.",
        flags: &[Flag {
            usage: "--mode lockstep|duplex",
            does: "lockstep (the default): take turns, the client first; after each datagram from the peer, \
                   send one typed line, then wait for the peer's next. duplex: send each typed line at once, \
                   and show each datagram at once.",
        }],
        protocol: &[
            "Each datagram is one line of UTF-8 text, with no newline. Whoever sends the first datagram is the \
             peer: from then on, answer only that address, from the socket it arrived on, and pass over \
             datagrams from anyone else (check the address recvfrom gives: connect alone leaves a stranger's \
             datagram that came before it in the queue).",
            "Print each line from the peer on stdout (the checks look for its text; `client: hello` in the \
             reference). Send each line typed on stdin to the peer as one datagram.",
            "A quit word, q or 88 in any case, from either side ends the chat, and the server exits 0; so \
             does the end of stdin, after sending a quit word. A send that comes back refused (nobody there \
             any more) is no reason to exit: wait for the peer's next datagram.",
        ],
    },
};

/// TCP first, for contrast: a connect to a port where nobody listens is refused at once. Then
/// the lab's UDP client sends a line to a port where nobody receives: the send succeeds, the
/// line is lost, and only the client's next call on its connected socket (here, a receive)
/// hears "connection refused". The server
/// starts there; it never shows the lost line, and the client's next line starts the chat.
pub fn either_side_may_start_first(s: &mut Session) -> Result<()> {
    s.say("TCP first: alice connects to a port where nothing listens.");
    let (_closed, tcp_port) = ports::closed_tcp_port()?;
    let nowhere = SocketAddr::from(([127, 0, 0, 1], tcp_port));
    match TcpStream::connect_timeout(&nowhere, WAIT) {
        Err(error) if error.kind() == ErrorKind::ConnectionRefused => s.transcript().record(Event::Conn {
            from: "alice".into(),
            to: "nobody".into(),
            what: format!("connect refused at once: {error}"),
        }),
        Err(error) => {
            bail!("expected alice's TCP connect to {nowhere} to be refused; it failed with {error}")
        }
        Ok(_) => bail!("expected nothing to listen on {nowhere}, but alice's connect succeeded"),
    }

    let (mut server, mut client) = s.server_after(&[], |s, nowhere| {
        // Held bound, so nothing else takes the port while the client's line is lost there: its
        // kernel refuses what arrives, as for a port nobody holds. See ports::closed_udp_port.
        let address = nowhere.to_string();
        s.say("UDP: the lab's client sends a line to a port where nobody receives yet. The send succeeds.");
        let mut client = s.role("client", "client", &["--server", &address])?;
        client.send_line("anyone there?")?;
        s.say(
            "The line is lost. The client's socket is connected, so the ICMP port-unreachable that came \
             back is reported once, on its next call (here a receive), as \"connection refused\": the only \
             sign of the loss.",
        );
        client.expect_line("that its line was refused", WAIT, |line| line.contains("refused"))?;
        s.say("Now the server starts on that port.");
        Ok(client)
    })?;
    s.say("The client's next line is the first the server hears; it learns its peer from it.");
    client.send_line("and now?")?;
    let first = server.expect_line("the client's line", WAIT, |line| {
        line.contains("and now?") || line.contains("anyone there?")
    })?;
    if first.contains("anyone there?") {
        bail!("the server showed the line sent before it started: {first:?}; that datagram went nowhere");
    }
    s.say("And the server's answer reaches the client: lines flow both ways.");
    server.send_line("here now")?;
    client.expect_line("the server's answer", WAIT, |line| line.contains("here now"))?;
    Ok(())
}

/// alice speaks first, so the server chats with alice. mallory, from another port, sends a
/// line right behind hers, before the server has read either, and later another: the server
/// must show neither, and its answers keep going to alice.
pub fn a_stranger_cannot_cut_into_the_chat(s: &mut Session) -> Result<()> {
    let mut server = s.server(&[])?;
    let alice = s.udp("alice")?;
    let mallory = s.udp("mallory")?;
    let from_mallory = |line: &str| line.contains("from a new port");
    s.say(
        "alice speaks first, and mallory right behind her: hers may be queued before the server has \
         connected its socket to alice, and connect does not empty the queue. It must not show.",
    );
    alice.send_to(server.addr(), b"hello, it is alice")?;
    mallory.send_to(server.addr(), b"alice here, from a new port")?;
    server.expect_line_containing("hello, it is alice")?;
    server.send_line("hello, alice")?;
    let from = alice.expect_datagram(b"hello, alice")?;
    if from != server.addr() {
        bail!(
            "the answer came from {from}, not from the server's port {}: a client that connected its \
             socket to the server never sees it",
            server.addr()
        );
    }
    s.say("mallory, from her port, claims to be alice again. The server must not listen.");
    mallory.send_to(server.addr(), b"it is alice, from a new port")?;
    server.expect_no_line("mallory's line", QUIET, from_mallory)?;
    alice.send_to(server.addr(), b"still alice")?;
    let shown = server
        .expect_line("alice's next line", WAIT, |line| line.contains("still alice") || from_mallory(line))?;
    if from_mallory(&shown) {
        bail!("the server showed mallory's line as its peer's: {shown:?}");
    }
    server.send_line("only for alice")?;
    alice.expect_datagram(b"only for alice")?;
    mallory.expect_nothing(QUIET)?;
    Ok(())
}

/// Lockstep: alice speaks; the server's operator types two lines at once, and only the first
/// is sent. The second follows alice's next line.
pub fn in_lockstep_the_server_waits_for_its_turn(s: &mut Session) -> Result<()> {
    let mut server = s.server(&["--mode", "lockstep"])?;
    let alice = s.udp("alice")?;
    alice.send_to(server.addr(), b"one, from alice")?;
    server.expect_line_containing("one, from alice")?;
    s.say("The server's operator types two lines at once. Only the first may go: then it is alice's turn.");
    server.send_line("two, from the server")?;
    server.send_line("three, from the server")?;
    alice.expect_datagram(b"two, from the server")?;
    alice.expect_nothing(QUIET)?;
    s.say("alice answers, and only now does the server's second line go out.");
    alice.send_to(server.addr(), b"four, from alice")?;
    server.expect_line_containing("four, from alice")?;
    alice.expect_datagram(b"three, from the server")?;
    Ok(())
}

/// The server's operator types "88": it reaches alice, and the server ends. A new server; this
/// time alice sends "Q" (capitals count too), and the server ends.
pub fn a_quit_word_from_either_side_ends_the_chat(s: &mut Session) -> Result<()> {
    let mut server = s.server(&[])?;
    let alice = s.udp("alice")?;
    alice.send_to(server.addr(), b"hi, it is alice")?;
    server.expect_line_containing("hi, it is alice")?;
    s.say("The server's operator types 88. It goes to alice like any line, and the server ends.");
    server.send_line("88")?;
    alice.expect_datagram(b"88")?;
    expect_clean_exit(&mut server)?;

    s.say("A new server. This time alice quits, with Q in capitals.");
    let mut server = s.server(&[])?;
    alice.send_to(server.addr(), b"hello again")?;
    server.expect_line_containing("hello again")?;
    server.send_line("welcome back")?;
    alice.expect_datagram(b"welcome back")?;
    alice.send_to(server.addr(), b"Q")?;
    expect_clean_exit(&mut server)?;
    Ok(())
}

fn expect_clean_exit(server: &mut Role) -> Result<()> {
    let status = server.wait_exit(WAIT)?;
    if !status.success() {
        bail!("expected the server to end with status 0 after the quit word; it {}", describe_status(status));
    }
    Ok(())
}
