//! udp-echo's scenarios: what a UDP echo server must do on the wire, in any language.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};

use anyhow::{Context, Result, bail, ensure};

use crate::diagnosis::Mismatch;
use crate::kernel;
use crate::scenario::{Fixture, Flag, Lab, Report, Spec};
use crate::session::Session;
use crate::transcript::{Event, Proto, show};
use crate::{QUIET, WAIT, secs};

pub const LAB: Lab = Lab {
    name: "udp-echo",
    teaches: "UDP: no connection, recvfrom gives the sender, boundaries kept, truncation",
    proto: Proto::Udp,
    default_port: 8888,
    roles: &["server", "client"],
    modes: &[],
    server_flags: &[],
    story: "
A UDP server accepts nobody. It binds a port and waits; every datagram arrives with the
address it came from, and the reply goes back to that address. Below, real sockets on
127.0.0.1 talk to the real server: alice and bob are plain UDP sockets the harness drives,
and every datagram that crosses the wire is shown with its exact bytes.",
    scenarios: &[
        scenario!(
            two_clients_get_only_their_own_replies,
            claim: "There is no connection: the server answers whoever sent each datagram",
            hint: "Reply to the address recvfrom gave you for this \
                   datagram, not to the first client you met.",
            bug: "reply-to-first",
        ),
        scenario!(
            datagrams_keep_their_boundaries,
            claim: "Three datagrams sent back to back arrive as three, never merged or split",
            hint: "Echo each datagram on its own, one sendto for each recvfrom: a datagram \
                   is already a whole message, so there is nothing to gather or join.",
            bug: "merge",
        ),
        scenario!(
            a_datagram_longer_than_the_buffer_is_cut,
            claim: "A datagram longer than the receive buffer is cut, and the rest is lost",
            hint: "Look at the size you pass to recvfrom: it must be the --buf your server was \
                   given. The part of a datagram that did not fit is gone; do not read again for it.",
            bug: "ignore-buf",
        ),
        scenario!(
            an_empty_datagram_is_a_message,
            claim: "An empty datagram is a message (on TCP, 0 bytes would mean the end)",
            hint: "Look at what your server does when recvfrom returns 0 bytes: on \
                   UDP that is an empty datagram to echo, not the end of anything.",
            bug: "skip-empty",
        ),
        scenario!(
            a_datagram_sent_before_the_server_starts_is_lost,
            claim: "Sent before the server starts: lost; on Linux only a connected sender is told, once, on its next send or receive",
            hint: "Answer every datagram, the first from a new address too (UDP \
                   has no hello to wait for), and from the socket it arrived on: a \
                   connected client takes replies only from the port it sent to.",
            bug: "needs-hello",
        ),
        scenario!(
            bad_input_does_not_stop_the_server,
            claim: "Bytes that are not UTF-8 and a 65,507-byte datagram do not stop the server",
            hint: "Echo the bytes as they came, without decoding them as text, into a buffer as big as the \
                   spec says (65,536 bytes with no --buf), and check that no datagram (not UTF-8, or 65,507 \
                   bytes long) can raise an error that ends your receive loop.",
            bug: "decode-text",
        ),
        scenario!(
            the_client_prints_each_reply,
            claim: "The lab's client sends a typed line as one datagram and prints the reply",
            hint: "Send each reply from the socket the datagram arrived on: from any \
                   other socket it comes from another port, and the lab's client \
                   passes over a datagram that is not from the server's address.",
            bug: "new-socket",
        ),
    ],
    fixture: Fixture {
        script: "tests/fixtures/echo.py",
        passes_with: &["", "--quiet"],
        reports: &[
            Report {
                name: "a_server_that_reads_1024_bytes_by_default_is_caught",
                scenario: scenario_name!(bad_input_does_not_stop_the_server),
                leads_with: &[],
                bug: "default-1024",
                shows: &[&["but got 1024 of them"]],
            },
            Report {
                name: "a_reply_in_capitals_says_it_differs_only_in_case",
                scenario: scenario_name!(two_clients_get_only_their_own_replies),
                leads_with: &[
                    "off by letter case: alice got \"HELLO FROM ALICE\" where \"hello from alice\" was expected: \
                     every letter upper-cased",
                ],
                bug: "shout",
                shows: &[],
            },
            Report {
                name: "a_reply_sent_to_another_client_names_who_got_it",
                scenario: scenario_name!(two_clients_get_only_their_own_replies),
                leads_with: &["your server sent bob's reply to alice"],
                bug: "reply-to-first",
                shows: &[],
            },
            Report {
                name: "a_crash_leads_with_the_exception",
                scenario: scenario_name!(bad_input_does_not_stop_the_server),
                leads_with: &["your server crashed: UnicodeDecodeError: "],
                bug: "decode-text",
                shows: &[],
            },
            Report {
                name: "a_server_stuck_in_a_loop_says_what_it_received_and_that_it_burns_cpu",
                scenario: scenario_name!(two_clients_get_only_their_own_replies),
                leads_with: &["your server received \"hello from alice\" from alice at"],
                bug: "spin",
                shows: &[&["burning CPU"]],
            },
            Report {
                name: "a_reply_from_another_socket_says_so",
                scenario: scenario_name!(the_client_prints_each_reply),
                leads_with: &["came from another socket"],
                bug: "new-socket",
                shows: &[],
            },
            Report {
                name: "the_merge_failure_shows_the_merged_datagram",
                scenario: scenario_name!(datagrams_keep_their_boundaries),
                leads_with: &["the right bytes, joined"],
                bug: "merge",
                // Which datagrams the fixture gathers into one depends on when it wakes up.
                shows: &[&[
                    r#""onetwo twothree three three""#,
                    r#""onetwo two""#,
                    r#""two twothree three three""#,
                ]],
            },
        ],
    },
    by_hand: &[
        "cargo lab udp-echo server        # terminal 1",
        "cargo lab udp-echo client        # terminal 2: type lines (or: nc -u 127.0.0.1 8888)",
    ],
    spec: Spec {
        task: "A UDP echo server: every datagram that arrives goes back, unchanged, to the address it came from.",
        flags: &[Flag {
            usage: "--buf N",
            does: "Receive into a buffer of N bytes (65536 when the flag is absent). A longer datagram is cut \
                   to its first N bytes: echo those. The rest is gone; do not read again for it.",
        }],
        protocol: &[
            "A datagram is a whole message of any bytes, from 0 to 65,507 of them, not necessarily UTF-8. \
             Answer each with one datagram holding the same bytes, sent from the socket it arrived on to the \
             address recvfrom gave for it: one sendto for each recvfrom.",
            "There is no connection, no hello and no goodbye: the first datagram from a new address is echoed \
             like any other, and an empty datagram is a message to echo, not an end. Nothing a client sends \
             may stop the server.",
        ],
    },
};

/// Two clients, interleaved: each gets exactly its own echoes, because the server replies to
/// the address `recvfrom` gave it, not to "the client".
pub fn two_clients_get_only_their_own_replies(s: &mut Session) -> Result<()> {
    let server = s.server(&[])?;
    let alice = s.udp("alice")?;
    let bob = s.udp("bob")?;
    s.say("alice and bob each send from a port of their own; no one connects first.");
    alice.send_to(server.addr(), b"hello from alice")?;
    alice.expect_datagram(b"hello from alice")?;
    bob.send_to(server.addr(), b"hello from bob")?;
    bob.expect_datagram(b"hello from bob")?;
    alice.send_to(server.addr(), b"alice again")?;
    alice.expect_datagram(b"alice again")?;
    s.say("Nothing more arrives for alice or bob: neither got the other's reply.");
    alice.expect_nothing(QUIET)?;
    bob.expect_nothing(QUIET)?;
    Ok(())
}

/// Three datagrams sent with no pause arrive as three datagrams of the same sizes. (UDP does
/// not promise their order, so only the set is compared.)
pub fn datagrams_keep_their_boundaries(s: &mut Session) -> Result<()> {
    let server = s.server(&[])?;
    let alice = s.udp("alice")?;
    let sent: [&[u8]; 3] = [b"one", b"two two", b"three three three"];
    s.say("alice sends three datagrams back to back, without waiting for replies.");
    for datagram in sent {
        alice.send_to(server.addr(), datagram)?;
    }
    let expected: Vec<Vec<u8>> = sent.iter().map(|d| d.to_vec()).collect();
    let mut got: Vec<Vec<u8>> = Vec::new();
    for _ in sent {
        let Some((bytes, _)) = alice.recv(WAIT)? else {
            bail!("alice expected 3 replies within {}, got {}", crate::secs(WAIT), got.len())
        };
        got.push(bytes);
        // Each reply must be one of the datagrams sent, once: a merged or cut one fails at once.
        let mut left = expected.clone();
        let whole =
            got.iter().all(|reply| left.iter().position(|d| d == reply).map(|at| left.remove(at)).is_some());
        if !whole {
            let message = format!(
                "alice expected the datagrams {} back, one each\n  but got {}",
                list(&expected),
                list(&got)
            );
            let got = got.last().cloned();
            return Err(Mismatch { who: "alice".into(), expected, got, datagrams: true, message }.into());
        }
    }
    s.say("Three in, three out: a datagram is a message, whole.");
    alice.expect_nothing(QUIET)?;
    Ok(())
}

/// With a 16-byte buffer, a 100-byte datagram comes back as its first 16 bytes; the other 84
/// never arrive. The reference server also says so, with the real size.
pub fn a_datagram_longer_than_the_buffer_is_cut(s: &mut Session) -> Result<()> {
    let mut server = s.server(&["--buf", "16"])?;
    let alice = s.udp("alice")?;
    let long: Vec<u8> = b"0123456789".repeat(10);
    s.say("The server reads into a 16-byte buffer; alice sends 100 bytes in one datagram.");
    alice.send_to(server.addr(), &long)?;
    alice.expect_datagram(&long[..16])?;
    s.say("The other 84 bytes are not waiting for a second read: they are gone.");
    alice.expect_nothing(QUIET)?;
    if s.is_reference() {
        server.expect_line("that the datagram was 100 bytes and was truncated", WAIT, |line| {
            line.contains("100") && line.contains("truncated")
        })?;
    }
    Ok(())
}

/// A zero-byte datagram is echoed as a zero-byte datagram, and the server goes on.
pub fn an_empty_datagram_is_a_message(s: &mut Session) -> Result<()> {
    let server = s.server(&[])?;
    let alice = s.udp("alice")?;
    s.say("alice sends a datagram with no bytes in it.");
    alice.send_to(server.addr(), b"")?;
    alice.expect_datagram(b"")?;
    alice.send_to(server.addr(), b"after the empty one")?;
    alice.expect_datagram(b"after the empty one")?;
    Ok(())
}

/// A datagram sent to a port nobody has bound yet: `sendto` succeeds, nothing comes back, and
/// alice, whose socket is not connected, is told nothing (on Linux). bob's socket is connected
/// to that port, and he is told, once (see `a_connected_sender_is_told_once` below). Once the
/// server starts, only the next datagrams are answered, bob's too: the refusal did not break
/// his socket.
pub fn a_datagram_sent_before_the_server_starts_is_lost(s: &mut Session) -> Result<()> {
    let alice = s.udp("alice")?;
    let (server, bob) = s.server_after(&[], |s, nowhere| {
        s.say("No server yet. alice sends to the port the server will use: sendto reports success.");
        alice.send_to(nowhere, b"anyone there?")?;
        s.say(
            "alice waits for a reply. Nothing comes, and no error either: on Linux an unconnected socket \
             is not told of the ICMP port-unreachable (on Windows its next recvfrom fails: WSAECONNRESET).",
        );
        alice.expect_nothing(QUIET)?;
        a_connected_sender_is_told_once(s, nowhere)
    })?;
    s.say("Now the server runs. Its first datagram is the next one alice sends:");
    alice.send_to(server.addr(), b"and now?")?;
    alice.expect_datagram(b"and now?")?;
    s.say("bob's socket was not broken by the refusal: his next datagram is answered too.");
    expect_echo(s, &bob, server.addr(), b"and you?")?;
    alice.expect_nothing(QUIET)?;
    Ok(())
}

/// bob connects his UDP socket to `nowhere`, where nobody listens, and sends. The kernel answers
/// with an ICMP port-unreachable, and Linux keeps it as an error waiting on bob's socket (poll
/// shows it). His next call, a send, fails with "connection refused" and sends nothing; the
/// receive after it just waits: he was told once. Again, and this time a receive is told.
/// carol, not connected but with IP_RECVERR set, is told too. Returns bob's socket.
fn a_connected_sender_is_told_once(s: &mut Session, nowhere: SocketAddr) -> Result<UdpSocket> {
    let bob = UdpSocket::bind("127.0.0.1:0").context("binding bob's UDP socket")?;
    s.transcript().name(bob.local_addr()?, "bob");
    bob.connect(nowhere).context("connecting bob's UDP socket")?;
    s.say(
        "bob connects his UDP socket to the same port: that sends nothing, it only fixes the other end of \
         his socket. Then he sends.",
    );
    sent(s, "bob", nowhere, b"anyone there?", bob.send(b"anyone there?"))?;
    if !cfg!(target_os = "linux") {
        s.say("(This is not Linux: what bob is told now is Linux's behaviour, not checked here.)");
        let told = bob.take_error()?;
        s.say(format!("(His socket's pending error: {told:?}.)"));
        return Ok(bob);
    }
    s.say(
        "The kernel answers with an ICMP port-unreachable, kept as an error on bob's socket (poll: POLLERR).",
    );
    ensure!(
        kernel::error_waits(&bob, WAIT)?,
        "no error reached bob's connected socket within {}, after he sent to a port where nobody listens",
        secs(WAIT)
    );
    s.say("His next call is a send: it fails with \"connection refused\", and sends nothing.");
    refused(s, "bob", nowhere, "send", bob.send(b"hello?").map(|_| ()))?;
    s.say("He was told once: the error is gone, and a receive now waits for a datagram.");
    bob.set_read_timeout(Some(QUIET))?;
    match bob.recv(&mut [0; 64]) {
        Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        Err(error) => bail!("bob's receive after the refused send should wait, but it failed: {error}"),
        Ok(len) => bail!("bob's receive after the refused send should wait, but got {len} bytes"),
    }
    s.say("Again; this time his next call is a receive, and the receive is told.");
    sent(s, "bob", nowhere, b"still nobody?", bob.send(b"still nobody?"))?;
    bob.set_read_timeout(Some(WAIT))?;
    refused(s, "bob", nowhere, "receive", bob.recv(&mut [0; 64]).map(|_| ()))?;

    let carol = UdpSocket::bind("127.0.0.1:0").context("binding carol's UDP socket")?;
    s.transcript().name(carol.local_addr()?, "carol");
    kernel::set_recverr(&carol).context("setting IP_RECVERR on carol's socket")?;
    s.say("carol's socket is not connected, but has IP_RECVERR set: Linux tells her too.");
    sent(s, "carol", nowhere, b"me neither?", carol.send_to(b"me neither?", nowhere))?;
    carol.set_read_timeout(Some(WAIT))?;
    refused(s, "carol", nowhere, "receive", carol.recv_from(&mut [0; 64]).map(|_| ()))?;
    Ok(bob)
}

/// bob, connected to the server's address, sends `bytes` and must get them back. Only a reply
/// from that very address can reach him: a connected socket drops datagrams from any other.
fn expect_echo(s: &Session, bob: &UdpSocket, server: SocketAddr, bytes: &[u8]) -> Result<()> {
    sent(s, "bob", server, bytes, bob.send(bytes))?;
    bob.set_read_timeout(Some(WAIT))?;
    let mut buf = vec![0; bytes.len() + 64];
    match bob.recv(&mut buf) {
        Ok(len) => {
            let got = &buf[..len];
            let from = s.transcript().who(server);
            s.transcript().record(Event::Wire {
                from,
                to: "bob".into(),
                proto: Proto::Udp,
                bytes: got.to_vec(),
            });
            ensure!(got == bytes, "bob expected {} back, got {}", show(bytes), show(got));
            Ok(())
        }
        Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => bail!(
            "bob expected {} back within {}, but nothing came from the server's address (his socket is \
             connected to it, so a reply from any other port never reaches him)",
            show(bytes),
            secs(WAIT)
        ),
        Err(error) => bail!("bob expected {} back, but his receive failed: {error}", show(bytes)),
    }
}

/// Record a datagram `who` sent (or tried to) to `to`; the send must have succeeded.
fn sent(s: &Session, who: &str, to: SocketAddr, bytes: &[u8], sending: std::io::Result<usize>) -> Result<()> {
    let to = s.transcript().who(to);
    s.transcript().record(Event::Wire {
        from: who.into(),
        to: to.clone(),
        proto: Proto::Udp,
        bytes: bytes.to_vec(),
    });
    match sending {
        Ok(len) if len == bytes.len() => Ok(()),
        Ok(len) => bail!("{who} sent only {len} of {} bytes in one datagram", bytes.len()),
        Err(error) => {
            bail!("{who}'s send to {to} should succeed (UDP sends without asking), but failed: {error}")
        }
    }
}

/// `who`'s `call` (a send or a receive) must fail with "connection refused": the ICMP
/// port-unreachable for an earlier datagram, reported now.
fn refused(
    s: &Session,
    who: &str,
    nowhere: SocketAddr,
    call: &str,
    result: std::io::Result<()>,
) -> Result<()> {
    match result {
        Err(error) if error.kind() == ErrorKind::ConnectionRefused => {
            s.transcript().record(Event::Conn {
                from: s.transcript().who(nowhere),
                to: who.into(),
                what: format!(
                    "port unreachable (ICMP, from the kernel: nobody listens): {who}'s {call} fails: {error}"
                ),
            });
            Ok(())
        }
        Err(error) => {
            bail!("{who}'s {call} should fail with \"connection refused\", but failed with: {error}")
        }
        Ok(()) => bail!(
            "{who}'s {call} should fail with \"connection refused\" (the ICMP port-unreachable for the \
             datagram before), but it succeeded"
        ),
    }
}

/// Bytes that are not UTF-8, and the largest datagram IPv4 carries, are echoed (the big one
/// possibly cut to the server's buffer), and the server still answers the next client.
pub fn bad_input_does_not_stop_the_server(s: &mut Session) -> Result<()> {
    let server = s.server(&[])?;
    let mallory = s.udp("mallory")?;
    let bob = s.udp("bob")?;
    s.say("mallory sends bytes that are not UTF-8. An echo server echoes bytes, not text.");
    let not_text = b"\xff\xfe\xfd not UTF-8 \xc3";
    mallory.send_to(server.addr(), not_text)?;
    mallory.expect_datagram(not_text)?;

    s.say("mallory sends 65,507 bytes: the most one IPv4 datagram can carry.");
    let huge = vec![b'x'; 65_507];
    mallory.send_to(server.addr(), &huge)?;
    // With no --buf the server receives into 65,536 bytes, so all of it must come back.
    match mallory.recv(WAIT)? {
        Some((reply, _)) if reply != huge => bail!(
            "mallory expected all 65,507 bytes back (with no --buf, the buffer is 65,536 bytes), but got \
             {} of them",
            reply.len()
        ),
        Some(_) => {}
        None => bail!("mallory expected the huge datagram back within {}", crate::secs(WAIT)),
    }

    s.say("The server is still there for everyone else:");
    bob.send_to(server.addr(), "bob, 张三 的朋友".as_bytes())?;
    bob.expect_datagram("bob, 张三 的朋友".as_bytes())?;
    Ok(())
}

/// The lab's own client, driven through its stdin: a line becomes one datagram, and the reply
/// is printed.
pub fn the_client_prints_each_reply(s: &mut Session) -> Result<()> {
    let server = s.server(&[])?;
    // Through a tap, so that a failure shows what reached the client, not only what it printed.
    let tap = s.tap(&server, "client")?;
    let address = tap.addr().to_string();
    let mut client = s.role("client", "client", &["--server", &address])?;
    s.say("A user types a line into the client:");
    client.send_line("hello, 张三")?;
    let line = client.expect_line("the reply", WAIT, |_| true)?;
    if !line.starts_with(r#""hello, 张三""#) {
        bail!("expected the client to print the echoed line \"hello, 张三\", but it printed {line:?}");
    }
    s.say("End of input (Ctrl-D) ends the client, with status 0.");
    client.close_stdin();
    let status = client.wait_exit(WAIT)?;
    if !status.success() {
        bail!(
            "expected the client to exit with status 0 at end of input; it {}",
            crate::process::describe_status(status)
        );
    }
    Ok(())
}

fn list(datagrams: &[Vec<u8>]) -> String {
    let shown: Vec<String> = datagrams.iter().map(|d| crate::transcript::show(d)).collect();
    format!("[{}]", shown.join(", "))
}
