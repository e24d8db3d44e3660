//! reliable's scenarios: what a receiver must do, in any language, so that lines sent through
//! a lossy link arrive once and in order. The checker plays the sender (the lab's own `send`
//! role) and the link (see [`crate::link`]), whose every decision is in the transcript; the
//! server under test is the receiver.

use std::net::SocketAddr;

use anyhow::{Result, bail};

use crate::diagnosis::Finding;
use crate::link::{Fate, Plan, Rule, Way};
use crate::process::{Role, describe_status};
use crate::scenario::{Fixture, Flag, Lab, Report, Spec};
use crate::session::Session;
use crate::transcript::{Event, Proto, show};
use crate::{QUIET, WAIT, link, wait};

pub const LAB: Lab = Lab {
    name: "reliable",
    teaches: "acknowledgements, timeouts, retransmission over a lossy UDP link; the pinger",
    proto: Proto::Udp,
    default_port: 9300,
    roles: &["server", "client", "recv", "send", "link", "ping"],
    modes: &[],
    server_flags: &[],
    story: "
On 127.0.0.1 a datagram is lost only when a queue on its way is full (most often the receiving
socket's buffer), so here a lossy link sits between the sender and the receiver (the server), and drops, duplicates, reorders or corrupts datagrams on purpose, the
same way for the same seed. Each of its decisions is shown (\"link dropped datagram 3\"), and
every datagram it passes on. First UDP alone, and the pinger; then the receiver and the sender
build reliability: a sequence number and a checksum on every line, an acknowledgement (ACK) for
every datagram, a timeout and a retransmission for what was lost, and a window of lines in
flight.",
    scenarios: &[
        scenario!(
            without_acknowledgements_lost_lines_stay_lost,
            claim: "UDP alone (--naive): the lines the link drops never arrive, and the sender is never told",
            hint: "With --naive, a datagram is the line itself, with no checksum and no number in front: \
                   print each datagram's bytes as one line, and send nothing back.",
            bug: "naive-needs-header",
        ),
        scenario!(
            the_pinger_counts_exactly_the_pings_the_link_dropped,
            claim: "The pinger reports as lost exactly the pings whose ping or echo the link dropped",
            hint: "A datagram that starts with `ping ` must go back unchanged, at once, to the address it \
                   came from, before any checksum check.",
            bug: "ignores-pings",
        ),
        scenario!(
            stop_and_wait_delivers_every_line_once_in_order,
            claim: "Stop-and-wait through loss, copies and reordering: every line printed once, in order",
            hint: "Keep the next sequence number you expect from each sender, and print a line only when its \
                   number is that one; a copy of an earlier line is answered, not printed.",
            bug: "deliver-copies",
        ),
        scenario!(
            a_lost_ack_brings_a_copy_that_is_acknowledged_again,
            claim: "A lost ACK: the receiver gets the line twice, prints it once, and acknowledges both",
            hint: "Answer every datagram that passes the checksum with `ACK next`, a copy of a line you \
                   printed already too: the sender sent it again because your first ACK never arrived.",
            bug: "silent-on-copies",
        ),
        scenario!(
            a_corrupted_datagram_is_discarded_not_delivered,
            claim: "A datagram with a flipped bit fails its checksum: it is discarded, never printed",
            hint: "Compute the Internet checksum of everything after the first five bytes and compare it \
                   with the four hex digits in front before you believe anything in the datagram.",
            bug: "no-checksum",
        ),
        scenario!(
            go_back_n_keeps_a_window_of_lines_in_flight,
            claim: "Go-Back-N (window 8): after a gap the receiver repeats its ACK; several lines in flight, every line printed once, in order",
            hint: "After a gap, discard what comes out of order and answer it with the number you still \
                   expect (a cumulative ACK), not the number after the datagram you got.",
            bug: "acks-what-it-got",
        ),
        scenario!(
            each_sender_is_a_stream_of_its_own,
            claim: "Two senders, each numbering its lines from 0: the receiver prints the lines of both",
            hint: "Keep the next number you expect per sender address (a dict keyed by the address recvfrom \
                   gives), not one counter for everyone.",
            bug: "one-counter",
        ),
        scenario!(
            the_sender_gives_up_once_the_receiver_has_quit,
            claim: "Once the receiver has quit (end of its input), the sender gives up after its retries: exit 1, a clear error",
            hint: "Read stdin beside the socket (a thread, or select) and exit with status 0 when it ends: \
                   the user has quit.",
            bug: "ignores-end-of-input",
        ),
    ],
    fixture: Fixture {
        script: "tests/fixtures/receiver.py",
        passes_with: &[""],
        reports: &[
            Report {
                name: "a_checksum_summed_in_the_wrong_byte_order_is_named",
                scenario: scenario_name!(stop_and_wait_delivers_every_line_once_in_order),
                leads_with: &["the checksum is wrong: your receiver answered"],
                bug: "checksum-little-endian",
                shows: &[],
            },
            Report {
                name: "the_copy_failure_shows_the_line_printed_twice",
                scenario: scenario_name!(stop_and_wait_delivers_every_line_once_in_order),
                leads_with: &[],
                bug: "deliver-copies",
                shows: &[&["printed \"line"], &["again, after"]],
            },
        ],
    },
    by_hand: &[
        "cargo lab reliable server                          # the receiver, on udp://127.0.0.1:9300",
        "cargo lab reliable link --loss 30% --dup 10%       # a lossy link on 127.0.0.1:9301, to 9300",
        "cargo lab reliable send --to 127.0.0.1:9301        # type lines: each arrives once, in order",
        "cargo lab reliable ping --server 127.0.0.1:9301    # round trips through the link, and the loss",
    ],
    spec: Spec {
        task: "The receiving end of a reliable transfer over UDP: it prints each line a sender sends exactly once, \
               in order, whatever the link between them loses, copies, reorders or corrupts, and acknowledges \
               every datagram so that the sender knows what to send again. It also answers pings, and, with \
               --naive, shows what UDP alone delivers.",
        flags: &[Flag {
            usage: "--naive",
            does: "UDP alone: each datagram is one line, bare (no checksum, no number): print it, and send \
                   nothing back. Pings are still answered.",
        }],
        protocol: &[
            "A line travels as one datagram `SSSS DATA N LINE`: SSSS is a checksum in four lowercase hex digits, \
             then a space, then the body `DATA N LINE`, where N is the line's sequence number in decimal \
             (0 for a sender's first line, then 1, 2, ...) and LINE the line's bytes (UTF-8, no newline). \
             The checksum is the Internet checksum (RFC 1071) of the body: add the body as 16-bit big-endian \
             words (an odd last byte padded with a zero byte), fold each carry back in, invert. `5509 DATA 0 \
             hello` is a first line, hello.",
            "Check the checksum first. A datagram whose checksum does not match (or that is not of this form) \
             was damaged on the way: discard it, print nothing, answer nothing.",
            "Keep, per sender address, the number of the next line you expect (0 at first). When N is that \
             number, print LINE on stdout, alone on its line, and expect N + 1. Otherwise (a copy of a line \
             already printed, or a line after a gap) print nothing. Either way, answer the sender with \
             `SSSS ACK M`, M being the number you now expect next (a cumulative ACK: every line before M has \
             been printed), SSSS the checksum of `ACK M`: `429c ACK 1` answers `5509 DATA 0 hello`. Print the \
             line before you send its ACK.",
            "A datagram that starts with `ping ` goes back unchanged to its sender, at once (with or without \
             --naive): `reliable ping` measures the round trip with it.",
            "Stdout carries the delivered lines only (anything else goes to stderr). When stdin ends, the user \
             has quit: exit with status 0.",
        ],
    },
};

/// The seeds of the scenarios' links: each drops what its scenario shows (the naive one lines
/// 4 and 7 of 8; the pinger's ping 3 on the way there and ping 5's echo on the way back).
const NAIVE_SEED: u64 = 13;
const PING_SEED: u64 = 57;
const STOP_AND_WAIT_SEED: u64 = 4;
const GO_BACK_N_SEED: u64 = 2;

/// How long the scenarios' sender waits for an ACK before sending again: on 127.0.0.1 an ACK
/// takes well under a millisecond, so a lost one costs only this.
const TIMEOUT_MS: &str = "40";

/// How many times it sends a line again, with no progress, before it gives up: 2 s of
/// silence, as long as a machine busy with other work may stall the link, the receiver or the
/// sender itself. Only a receiver that never answers makes it wait so long.
const RETRIES: &str = "50";

/// UDP alone: eight lines through a link that drops 30%. The sender exits 0, every send
/// having succeeded; the receiver prints exactly the lines the link passed.
pub fn without_acknowledgements_lost_lines_stay_lost(s: &mut Session) -> Result<()> {
    let mut server = s.server(&["--naive"])?;
    let link = s.link("sender", server.addr(), Plan { loss: 0.3, seed: NAIVE_SEED, ..Plan::default() })?;
    s.say("The sender sends each line as a bare datagram, once (--naive): no number, no checksum, no ACK.");
    let mut sender = start_sender(s, link.addr(), &["--naive"])?;
    let lines = numbered(8);
    type_lines(&mut sender, &lines)?;
    expect_success(s, &mut sender, "the naive sender, whose every send succeeded,")?;
    // Every datagram has its fate as soon as it reaches the link.
    let decided = wait::until(WAIT, || {
        let count = link::dropped(s.transcript(), "sender", "server").len()
            + link::passed(s.transcript(), "sender", "server").len();
        (count >= lines.len()).then_some(())
    });
    if decided.is_none() {
        bail!("the link saw fewer than {} datagrams from the sender", lines.len());
    }
    let dropped = link::dropped(s.transcript(), "sender", "server");
    let arrived: Vec<String> =
        lines.iter().filter(|line| !dropped.contains(&line.as_bytes().to_vec())).cloned().collect();
    s.say(format!(
        "The link dropped {} of the {} lines. The receiver can print only the others, and nobody tells the \
         sender.",
        dropped.len(),
        lines.len()
    ));
    expect_printed(&mut server, &arrived)
}

/// Six pings through a link that drops 30% each way, one at a time, 500 ms each: the pinger
/// says "timed out" for exactly those whose ping or echo the link dropped (or, on a machine
/// too busy to answer in 500 ms, whose echo came after that), and counts them in its summary.
pub fn the_pinger_counts_exactly_the_pings_the_link_dropped(s: &mut Session) -> Result<()> {
    let server = s.server(&[])?;
    let link = s.link("pinger", server.addr(), Plan { loss: 0.3, seed: PING_SEED, ..Plan::default() })?;
    let address = link.addr().to_string();
    let mut pinger = s.role("pinger", "ping", &["--server", &address, "--count", "6", "--timeout", "500"])?;
    let mut lost = 0;
    for number in 1..=6 {
        let ping = format!("ping {number}");
        let said = pinger.expect_line(&format!("what became of {ping}"), WAIT, |line| {
            line.contains(&format!("{ping}:"))
        })?;
        // `ping 3 5f1c9e0a`: the number, and a token the pinger drew for it.
        let is_ping = |datagram: &Vec<u8>| datagram.starts_with(format!("{ping} ").as_bytes());
        let there = link::dropped(s.transcript(), "pinger", "server").iter().any(is_ping);
        let back = link::dropped(s.transcript(), "server", "pinger").iter().any(is_ping);
        let timed_out = said.contains("timed out");
        lost += usize::from(timed_out);
        match (timed_out, there, back) {
            (true, false, false) => {
                // Neither was dropped: the echo must come, late (a busy machine), or the
                // receiver never answered.
                let echoed = wait::until(WAIT, || {
                    link::passed(s.transcript(), "server", "pinger").iter().any(is_ping).then_some(())
                });
                if echoed.is_none() {
                    bail!(
                        "{ping} timed out, but the link dropped neither it nor an echo: the receiver never answered it"
                    );
                }
                s.say(format!("(the echo of {ping} came after the pinger's timeout, from a busy machine: lost to the pinger)"));
            }
            (false, true, _) => bail!("the pinger got a reply to {ping}, which the link dropped"),
            (false, _, true) => bail!("the pinger got a reply to {ping}, whose echo the link dropped"),
            _ => {}
        }
    }
    pinger.expect_line(&format!("a summary with {lost} lost"), WAIT, |line| {
        line.contains(&format!("{lost} lost"))
    })?;
    Ok(())
}

/// Stop-and-wait (window 1) through a link that drops 30%, copies 10% and holds back 10%
/// (each way), and copies the first datagram: six lines, each printed once, in order.
pub fn stop_and_wait_delivers_every_line_once_in_order(s: &mut Session) -> Result<()> {
    probed(s, |s, server| {
        // The first datagram (DATA 0, sent first) is copied, so there is always a copy to see,
        // whatever the chances do.
        let rules = vec![Rule { way: Way::Forward, number: 1, fate: Fate::Duplicate }];
        let plan =
            Plan { loss: 0.3, dup: 0.1, reorder: 0.1, seed: STOP_AND_WAIT_SEED, rules, ..Plan::default() };
        let link = s.link("sender", server.addr(), plan)?;
        s.say("The sender sends line N as DATA N, and sends it again until ACK N+1 comes back.");
        let mut sender =
            start_sender(s, link.addr(), &["--window", "1", "--timeout", TIMEOUT_MS, "--retries", RETRIES])?;
        let lines = numbered(6);
        type_lines(&mut sender, &lines)?;
        expect_success(s, &mut sender, "the sender, every line acknowledged,")?;
        expect_printed(server, &lines)
    })
}

/// The link drops the receiver's first ACK. The sender's timer runs out and it sends line 0
/// again; the receiver must not print it again, but must acknowledge it again.
pub fn a_lost_ack_brings_a_copy_that_is_acknowledged_again(s: &mut Session) -> Result<()> {
    probed(s, |s, server| {
        let rules = vec![Rule { way: Way::Back, number: 1, fate: Fate::Drop }];
        let link = s.link("sender", server.addr(), Plan { rules, ..Plan::default() })?;
        let mut sender = start_sender(s, link.addr(), &["--timeout", TIMEOUT_MS, "--retries", RETRIES])?;
        let lines = vec!["first".to_string(), "second".to_string()];
        type_lines(&mut sender, &lines)?;
        let status = sender.wait_exit(WAIT)?;
        let acks = |datagrams: Vec<Vec<u8>>| datagrams.iter().filter(|d| body(d) == "ACK 1").count();
        let answered = acks(link::dropped(s.transcript(), "server", "sender"))
            + acks(link::passed(s.transcript(), "server", "sender"));
        let copies = link::passed(s.transcript(), "sender", "server")
            .iter()
            .filter(|d| body(d) == "DATA 0 first")
            .count();
        if copies >= 2 && answered < 2 {
            bail!(
                "the receiver got DATA 0 {copies} times (its first ACK was dropped by the link) but answered ACK 1 only \
                 {answered} time(s): the sender, never told, {}",
                describe_status(status)
            );
        }
        if !status.success() {
            bail!("expected the sender to exit 0, every line acknowledged; it {}", describe_status(status));
        }
        expect_printed(server, &lines)
    })
}

/// The link flips the lowest bit of the last byte of the first datagram: `hello` becomes
/// `helln`. The checksum no longer matches; the receiver discards it, and prints `hello` only
/// when the sender's copy arrives intact.
pub fn a_corrupted_datagram_is_discarded_not_delivered(s: &mut Session) -> Result<()> {
    probed(s, |s, server| {
        let rules = vec![Rule { way: Way::Forward, number: 1, fate: Fate::Corrupt { from_end: 0, bit: 0 } }];
        let link = s.link("sender", server.addr(), Plan { rules, ..Plan::default() })?;
        let mut sender = start_sender(s, link.addr(), &["--timeout", TIMEOUT_MS, "--retries", RETRIES])?;
        let lines = vec!["hello".to_string()];
        type_lines(&mut sender, &lines)?;
        expect_success(s, &mut sender, "the sender, every line acknowledged,")?;
        expect_printed(server, &lines)
    })
}

/// First by hand: carol sends line 0, then lines 2 and 3 with line 1 missing. The receiver
/// prints line 0 only and answers `ACK 1` three times (duplicate ACKs: "I still expect 1");
/// once line 1 comes, it prints 1, 2 and 3 as they come again. Then Go-Back-N with a window of
/// 8, through 10% loss and 5% copies each way, and the third datagram dropped: sixteen lines,
/// each printed once, in order; and at some moment more than one line was in flight.
pub fn go_back_n_keeps_a_window_of_lines_in_flight(s: &mut Session) -> Result<()> {
    probed(s, |s, server| {
        s.say("carol, a sender written by hand, leaves a gap: line 1 never comes the first time.");
        let carol = s.udp("carol")?;
        let line = |seq: u64| format!("carol's line {seq}");
        carol.send_to(server.addr(), &data(0, &line(0)))?;
        carol.expect_datagram(&ack(1))?;
        for seq in [2, 3] {
            carol.send_to(server.addr(), &data(seq, &line(seq)))?;
            carol.expect_datagram(&ack(1))?;
        }
        s.say(
            "The receiver keeps nothing out of order, and says so each time: ACK 1, still. Now line 1, 2 \
             and 3.",
        );
        for seq in [1, 2, 3] {
            carol.send_to(server.addr(), &data(seq, &line(seq)))?;
            carol.expect_datagram(&ack(seq + 1))?;
        }
        expect_lines(server, &(0..4).map(line).collect::<Vec<_>>())?;

        // The third datagram (DATA 2, sent first, the window open) is dropped, so there is
        // a gap, whatever the chances do.
        let rules = vec![Rule { way: Way::Forward, number: 3, fate: Fate::Drop }];
        let plan = Plan { loss: 0.1, dup: 0.05, seed: GO_BACK_N_SEED, rules, ..Plan::default() };
        let link = s.link("sender", server.addr(), plan)?;
        s.say(
            "Now the lab's sender: up to 8 lines go out before the first is acknowledged; a timeout sends all those \
             in flight again.",
        );
        let mut sender =
            start_sender(s, link.addr(), &["--window", "8", "--timeout", TIMEOUT_MS, "--retries", RETRIES])?;
        let lines = numbered(16);
        type_lines(&mut sender, &lines)?;
        expect_success(s, &mut sender, "the sender, every line acknowledged,")?;
        expect_printed(server, &lines)?;
        let most = most_in_flight(s);
        if most < 2 {
            bail!("never more than {most} line in flight at once: the window did not open");
        }
        s.say(format!("At one moment {most} lines were in flight, sent and not yet acknowledged."));
        Ok(())
    })
}

/// alice's sender sends two lines; then bob's, from another port, sends two of its own,
/// numbered from 0 again. The receiver prints all four: bob's `DATA 0` is not a copy of
/// alice's.
pub fn each_sender_is_a_stream_of_its_own(s: &mut Session) -> Result<()> {
    probed(s, |s, server| {
        let mut printed = Vec::new();
        for who in ["alice", "bob"] {
            let link = s.link(who, server.addr(), Plan::default())?;
            let address = link.addr().to_string();
            let flags = ["--to", address.as_str(), "--timeout", TIMEOUT_MS, "--retries", RETRIES];
            let mut sender = s.role(who, "send", &flags)?;
            let lines = vec![format!("{who}'s first line"), format!("{who}'s second line")];
            type_lines(&mut sender, &lines)?;
            let status = sender.wait_exit(WAIT)?;
            if !status.success() {
                bail!(
                    "{who}'s sender {}: its lines, numbered from 0, were taken for copies of another \
                     sender's",
                    describe_status(status)
                );
            }
            printed.extend(lines);
        }
        expect_printed(server, &printed)
    })
}

/// The receiver prints one line; then its user quits (its stdin ends) and it exits 0. The
/// sender's next line is never acknowledged: after 19 retries, 100 ms apart (2 s, as long as
/// a busy machine may stall), it gives up with status 1 and an error, instead of waiting for
/// ever.
pub fn the_sender_gives_up_once_the_receiver_has_quit(s: &mut Session) -> Result<()> {
    probed(s, |s, server| {
        let link = s.link("sender", server.addr(), Plan::default())?;
        let mut sender = start_sender(s, link.addr(), &["--timeout", "100", "--retries", "19"])?;
        sender.send_line("one")?;
        expect_printed(server, &["one".to_string()])?;
        s.say("The receiver's user quits: its input ends.");
        server.close_stdin();
        let status = server.wait_exit(WAIT)?;
        if !status.success() {
            bail!("expected the receiver to exit 0 at the end of its input; it {}", describe_status(status));
        }
        s.say("The sender's next line has nobody to acknowledge it.");
        sender.send_line("two")?;
        let status = sender.wait_exit(WAIT)?;
        if status.code() != Some(1) {
            bail!("expected the sender to give up with status 1; it {}", describe_status(status));
        }
        // Read from the transcript, not waited for: the sender has ended, and every line it
        // printed is in.
        let said = s.transcript().last_stderr("sender", 3);
        if !said.iter().any(|line| line.starts_with("error: ")) {
            bail!("the sender gave up without an `error:` line saying why; its last lines: {said:?}");
        }
        Ok(())
    })
}

/// The receiver started, then `body` run with it. A receiver that fails having acknowledged
/// nothing at all is asked about the checksum, the field a receiver most often gets wrong
/// without a word: two probes, each a sender's first line, one with the checksum right and
/// one with its two bytes swapped. Answering only the swapped one means the body's 16-bit
/// words were added little-endian, and the report names the field.
fn probed(s: &mut Session, body: impl FnOnce(&mut Session, &mut Role) -> Result<()>) -> Result<()> {
    let mut server = s.server(&[])?;
    let error = match body(s, &mut server) {
        Ok(()) => return Ok(()),
        Err(error) => error,
    };
    if acknowledged_any(s) || s.transcript().crash().is_some() {
        return Err(error);
    }
    match checksum_probe(s, server.addr()) {
        Ok(Some(finding)) => Err(error.context(finding)),
        _ => Err(error),
    }
}

/// Did the receiver send any ACK in this scenario (one the link dropped too)?
fn acknowledged_any(s: &Session) -> bool {
    s.transcript().events().iter().any(|(_, event)| match event {
        Event::Wire { from, bytes, .. } | Event::Link { from, bytes, .. } => {
            from == "server" && body(bytes).starts_with("ACK ")
        }
        _ => false,
    })
}

/// See [`probed`].
fn checksum_probe(s: &mut Session, at: SocketAddr) -> Result<Option<Finding>> {
    s.say(
        "(The receiver acknowledged nothing. Two probes: a first line with its checksum right, and one \
         with the checksum's two bytes swapped, as a sum of little-endian 16-bit words makes it.)",
    );
    let right = data(0, "probe");
    let line = String::from_utf8_lossy(&right[5..]).to_string();
    let sum = u16::from_str_radix(&String::from_utf8_lossy(&right[..4]), 16)?;
    let swapped = format!("{:04x} {line}", sum.swap_bytes()).into_bytes();
    if swapped == right {
        return Ok(None);
    }
    let (straight, crossed) = (s.udp("probe")?, s.udp("probe2")?);
    crossed.send_to(at, &swapped)?;
    straight.send_to(at, &right)?;
    if crossed.recv(WAIT)?.is_none() || straight.recv(QUIET)?.is_some() {
        return Ok(None);
    }
    Ok(Some(Finding {
        field: "the checksum",
        what: format!(
            "your receiver answered {} (its checksum's two bytes swapped) and not {} (the right one): it adds \
             the body's 16-bit words little-endian; RFC 1071 adds them big-endian, the first byte of each pair \
             the high one",
            show(&swapped),
            show(&right)
        ),
    }))
}

/// The lab's sender, to `to`, with `args`.
fn start_sender(s: &mut Session, to: SocketAddr, args: &[&str]) -> Result<Role> {
    let address = to.to_string();
    let mut argv = vec!["--to", address.as_str()];
    argv.extend_from_slice(args);
    s.role("sender", "send", &argv)
}

/// "line 1 of 8", ... "line 8 of 8".
fn numbered(count: usize) -> Vec<String> {
    (1..=count).map(|n| format!("line {n} of {count}")).collect()
}

/// Type `lines` into the sender, then end its input.
fn type_lines(sender: &mut Role, lines: &[String]) -> Result<()> {
    for line in lines {
        sender.send_line(line)?;
    }
    sender.close_stdin();
    Ok(())
}

/// The lab's sender (named "sender") exits 0; if not, the failure quotes its last words,
/// which say what was never acknowledged.
fn expect_success(s: &Session, sender: &mut Role, who: &str) -> Result<()> {
    let status = sender.wait_exit(WAIT)?;
    if !status.success() {
        let said = s.transcript().last_stderr("sender", 1).join("");
        bail!("expected {who} to exit 0; it {}: {said}", describe_status(status));
    }
    Ok(())
}

/// The receiver prints exactly `lines`, in order, and nothing after them.
fn expect_printed(server: &mut Role, lines: &[String]) -> Result<()> {
    expect_lines(server, lines)?;
    let after = lines.last().map(String::as_str).unwrap_or("anything");
    server
        .expect_no_line(&format!("anything after {after:?}"), QUIET, |got| crate::ready::parse(got).is_none())
}

/// The receiver's next lines are `lines`, in order.
fn expect_lines(server: &mut Role, lines: &[String]) -> Result<()> {
    for (at, line) in lines.iter().enumerate() {
        // A server found ready by its bound port may print its ready line after that.
        let got = server.expect_line(&format!("{line:?}"), WAIT, |got| crate::ready::parse(got).is_none())?;
        if &got == line {
            continue;
        }
        let earlier = lines[..at].iter().position(|earlier| *earlier == got);
        match earlier {
            Some(_) => {
                bail!("the receiver printed {got:?} again, after printing it already; {line:?} was next")
            }
            None if lines.contains(&got) => {
                bail!("the receiver printed {got:?} before {line:?}: out of order")
            }
            None => bail!("the receiver printed {got:?} where {line:?} was next: a line never sent"),
        }
    }
    Ok(())
}

/// `SSSS DATA seq line`, as a sender writes it: the harness's own writing of the wire format
/// (the lab's is in its wire.rs).
fn data(seq: u64, line: &str) -> Vec<u8> {
    with_checksum(format!("DATA {seq} {line}"))
}

/// `SSSS ACK next`.
fn ack(next: u64) -> Vec<u8> {
    with_checksum(format!("ACK {next}"))
}

fn with_checksum(body: String) -> Vec<u8> {
    let mut sum: u32 = 0;
    for pair in body.as_bytes().chunks(2) {
        sum += u32::from(u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]));
        sum = (sum & 0xffff) + (sum >> 16);
    }
    format!("{:04x} {body}", !(sum as u16)).into_bytes()
}

/// A datagram's body: what follows its checksum and space (`DATA 0 hello`, `ACK 1`).
fn body(datagram: &[u8]) -> String {
    show(datagram.get(5..).unwrap_or_default()).trim_matches('"').to_string()
}

/// The most lines the sender had in flight at once: from the transcript, each DATA N that
/// reached the link against the highest ACK that had come back through it by then.
fn most_in_flight(s: &Session) -> u64 {
    let (mut acked, mut most) = (0u64, 0u64);
    for (_, event) in s.transcript().events() {
        // An ACK counts once it has left the link; a DATA as soon as it reached it.
        let (from, to, bytes, passed) = match &event {
            Event::Wire { from, to, bytes, .. } => (from, to, bytes, true),
            Event::Link { from, to, bytes, .. } => (from, to, bytes, false),
            _ => continue,
        };
        let body = body(bytes);
        let mut words = body.split(' ');
        let (kind, number) = (words.next(), words.next().and_then(|n| n.parse::<u64>().ok()));
        match (from.as_str(), kind, number) {
            ("server", Some("ACK"), Some(next)) if passed && to == "sender" => acked = acked.max(next),
            ("sender", Some("DATA"), Some(seq)) if seq >= acked => most = most.max(seq - acked + 1),
            _ => {}
        }
    }
    most
}
