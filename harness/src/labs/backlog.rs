//! backlog's scenarios: what listen(n) bounds, shown on the wire and in the kernel's tables
//! against any server that takes `--backlog N`, `--accept never|on-enter|after SECS` and
//! `--defer-accept SECS` (TCP_DEFER_ACCEPT).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::kernel::{self, SynSchedule};
use crate::peer::Attempt;
use crate::process::Role;
use crate::scenario::{Fixture, Flag, Lab, Spec};
use crate::session::Session;
use crate::transcript::{Event, Proto};
use crate::{QUIET, WAIT, secs};
use crate::{ports, wait};

pub const LAB: Lab = Lab {
    name: "backlog",
    teaches: "TCP listen backlog: the accept queue, not a client limit",
    proto: Proto::Tcp,
    default_port: 9200,
    roles: &["server", "probe"],
    modes: &[],
    server_flags: &["--backlog", "1"],
    story: "
Original lesson 001 writes listen(5) and warns: 5 is not the maximum number of connections. What is
it, then? The kernel completes each client's handshake on its own, before the program calls
accept, and parks the finished connection in the listening socket's accept queue; listen's
backlog bounds that queue. The server below listens with the backlog it is given and accepts
only when told, and prints the queue's length and limit as the kernel reports them. The probe
opens connections one after another and prints a table of what became of each; alice, bob and
friends are plain TCP sockets the harness drives.",
    scenarios: &[
        scenario!(
            exactly_backlog_plus_one_connects_complete,
            claim: "With nobody accepting, backlog N lets N+1 connects complete; the next gets no answer, not a refusal",
            hint: "Look at the number you pass to listen(): it must be the \
                   --backlog you were given, not a constant. With --accept never, \
                   never call accept: the kernel alone completes these connects.",
            bug: "fixed-backlog",
        ),
        scenario!(
            a_connect_to_a_full_queue_sends_its_syn_again,
            claim: "A connect to a full queue is not refused: on Linux its SYN goes again about 1 s later, and again",
            hint: "Pass listen() the --backlog you were given (here 0), and with --accept never, never \
                   call accept: only a queue that is really full leaves the next connect waiting.",
            bug: "fixed-backlog",
        ),
        scenario!(
            the_syn_queue_is_bounded_by_the_backlog_too,
            claim: "Half-open connections are bounded by the backlog too: with backlog 2, the SYN queue stops at 2 or 3",
            hint: "Pass listen() the --backlog you were given: on Linux it bounds \
                   half-open connections too. --defer-accept must set TCP_DEFER_ACCEPT \
                   on the listening socket, or no connection stays half-open.",
            bug: "fixed-backlog",
        ),
        scenario!(
            bytes_sent_while_queued_are_answered_once_accepted,
            claim: "A queued connection is not served: its bytes wait in the kernel, and are all answered once accepted",
            hint: "Look at how you split a read into lines: a queued client's lines wait in the kernel, \
                   so your first read after accept may hold several, and each must be answered.",
            bug: "one-line-per-read",
        ),
        scenario!(
            each_accept_frees_one_slot,
            claim: "Each accept takes one connection out of the queue, and lets exactly one more in",
            hint: "With --accept on-enter, call accept exactly once for each line read from stdin: each \
                   accept frees one place in the queue, and accepting more lets in clients that should wait.",
            bug: "enter-accepts-all",
        ),
        scenario!(
            backlog_one_serves_fifty_clients,
            claim: "The backlog is not a client limit: with backlog 1, fifty clients are served at once",
            hint: "Serve each accepted client on a thread of its own and go straight \
                   back to accept: these clients stay connected, so a server that \
                   serves one to the end before the next never answers the second.",
            bug: "one-at-a-time",
        ),
    ],
    fixture: Fixture { script: "tests/fixtures/backlog.py", passes_with: &[""], reports: &[] },
    by_hand: &[
        "cargo lab backlog server --backlog 2    # terminal 1: never accepts; watch its queue figures",
        "cargo lab backlog probe --clients 5     # terminal 2: 3 connect, 2 time out; `ss -lnt` agrees",
    ],
    spec: Spec {
        task: "A TCP server that listens with the backlog it is given and accepts only when told to; each \
               client it accepts gets every line it sends back in capitals, on a thread of its own.",
        flags: &[
            Flag {
                usage: "--backlog N",
                does: "Pass N to listen(): how many finished handshakes may wait for accept.",
            },
            Flag {
                usage: "--accept never|on-enter|after SECS",
                does: "When to call accept. never: not at all. on-enter: once for each line read on stdin, and \
                       exit 0 when stdin ends. after SECS: wait SECS seconds, then accept every client as it \
                       comes.",
            },
            Flag {
                usage: "--defer-accept SECS",
                does: "Set TCP_DEFER_ACCEPT to SECS before listening (Linux): the kernel keeps each new \
                       connection half-open, in the SYN queue, until its client sends something.",
            },
        ],
        protocol: &[
            "The queue is the kernel's: listen with exactly the --backlog given, and accept only as --accept \
             says. The scenarios count the connections that complete, wait, or get no answer.",
            "Lines over TCP: answer each whole line (up to its \\n) with the same line in capitals and a \\n. A \
             line may arrive in pieces, or several in one read: keep what is not yet a whole line for the next \
             read. Bytes a client sent while it waited in the queue are answered once it is accepted. Serve \
             each accepted client on its own thread, so that accepting goes on.",
        ],
    },
};

/// The probe's last table line, "3 connected, 2 timed out, 0 refused", as numbers.
struct Tally {
    connected: u32,
    timed_out: u32,
    refused: u32,
}

fn expect_tally(probe: &mut Role) -> Result<Tally> {
    let line = probe.expect_line("its tally (\"N connected, N timed out, N refused\")", WAIT, |line| {
        line.contains(" connected, ") && line.ends_with(" refused")
    })?;
    let numbers: Vec<u32> =
        line.split(' ').filter_map(|word| word.trim_end_matches(',').parse().ok()).collect();
    match numbers[..] {
        [connected, timed_out, refused] => Ok(Tally { connected, timed_out, refused }),
        _ => bail!("the probe's tally {line:?} is not three counts"),
    }
}

/// What the kernel does with a handshake that completes while the queue is full: a setting we
/// read, never change.
fn say_what_overflow_does(s: &Session) {
    let path = "/proc/sys/net/ipv4/tcp_abort_on_overflow";
    match std::fs::read_to_string(path).map(|text| text.trim().to_string()) {
        Ok(value) => s.say(format!(
            "{path} is {value} here. Either way, a SYN that finds the queue full is dropped without an \
             answer; with 1, a handshake that completes just as the queue fills would be reset."
        )),
        Err(_) => s.say(format!("{path} cannot be read here (not Linux?).")),
    }
}

/// For N in 0, 1, 2 and 5, against a server that never accepts: a probe whose connects may take
/// 5 s each connects N+1 times, all completed by the kernel alone. Then one more connect,
/// given 300 ms, gets no answer at all: its SYN was dropped, and its socket is closed before
/// the kernel would send it again (after about a second). It is not refused.
pub fn exactly_backlog_plus_one_connects_complete(s: &mut Session) -> Result<()> {
    say_what_overflow_does(s);
    for backlog in [0, 1, 2, 5] {
        if cfg!(target_os = "linux") {
            s.say(format!(
                "backlog {backlog}: the probe connects {}, each connect allowed {}: all must complete.",
                times(backlog + 1),
                crate::secs(WAIT)
            ));
        }
        let mut server = s.server(&["--backlog", &backlog.to_string(), "--accept", "never"])?;
        let addr = server.addr().to_string();
        if !cfg!(target_os = "linux") {
            s.say(format!(
                "backlog {backlog}: this is not Linux, so the lab shows the count instead of asserting it."
            ));
            let mut probe = start_probe(s, "probe", &addr, backlog + 3, QUIET.as_millis())?;
            let tally = expect_tally(&mut probe)?;
            s.say(format!(
                "Observed: {} of {} connected with nobody accepting (Linux: {}); not verified here.",
                tally.connected,
                backlog + 3,
                backlog + 1
            ));
            continue;
        }
        let mut probe = start_probe(s, "probe", &addr, backlog + 1, WAIT.as_millis())?;
        let tally = expect_tally(&mut probe)?;
        ensure!(
            tally.connected == backlog + 1,
            "with backlog {backlog} and nobody accepting, {} connects should complete, but {} did",
            backlog + 1,
            tally.connected
        );
        if s.is_reference() {
            let full = format!("accept queue: {} waiting, limit {backlog}", backlog + 1);
            server.expect_line(&full, WAIT, |line| line.starts_with(&full))?;
        }
        queue_holds(server.addr(), backlog + 1)?;
        s.say(format!("One more connect, allowed only {}:", crate::secs(QUIET)));
        let mut latecomer = start_probe(s, "latecomer", &addr, 1, QUIET.as_millis())?;
        let tally = expect_tally(&mut latecomer)?;
        ensure!(
            tally.timed_out == 1,
            "with backlog {backlog} and {} connections waiting, one more connect should get no answer \
             (time out), but it {}",
            backlog + 1,
            if tally.connected == 1 {
                "connected: the queue holds more than backlog + 1"
            } else {
                "was refused"
            }
        );
        ensure!(tally.refused == 0, "the latecomer was refused; a full queue drops the SYN instead");
    }
    Ok(())
}

/// Backlog 0, never accepting: alice fills the queue. bob connects without waiting (a
/// non-blocking connect), and the kernel's table shows what becomes of his SYN: his socket stays
/// in SYN-SENT, neither connected nor refused, and its retransmission count rises, the first
/// time no sooner than 0.8 s after the connect. The first two retries are watched (Linux 6.5
/// and later: about 1 and 2 s; before: 1 and 3 s) and their times printed.
pub fn a_connect_to_a_full_queue_sends_its_syn_again(s: &mut Session) -> Result<()> {
    if !cfg!(target_os = "linux") {
        s.say("This is not Linux: the table this scenario reads (/proc/net/tcp) is Linux's. Nothing is checked.");
        return Ok(());
    }
    let server = s.server(&["--backlog", "0", "--accept", "never"])?;
    let addr = server.addr();
    let _alice = s.tcp("alice", addr)?;
    queue_holds(addr, 1)?;
    let schedule = SynSchedule::here();
    // The first two retries: about 1 and 2 s on Linux 6.5 and later (1 and 3 s before).
    let watched: Vec<u32> = vec![1, 2];
    let expected: Vec<String> = watched.iter().map(|&n| secs(schedule.retry(n))).collect();
    let why = match schedule.linear {
        Some(linear) => format!("{} is {linear} here", SynSchedule::SETTING),
        None => format!("there is no {} here (Linux before 6.5)", SynSchedule::SETTING),
    };
    s.say("Backlog 0: alice's connection fills the queue. bob connects without waiting for the answer.");
    s.say(format!(
        "While no answer comes, his kernel should send the SYN again, about {} after the first ({why}).",
        expected.join(", ")
    ));

    let started = Instant::now();
    let bob = kernel::start_connect(addr).context("bob connecting without waiting")?;
    let local = bob.local_addr()?.as_socket().context("bob's socket has no IP address")?;
    s.transcript().name(local, "bob");
    let conn = |what: String| Event::Conn { from: "bob".into(), to: "server".into(), what };
    s.transcript().record(conn("SYN (a connect that does not wait)".into()));

    let mut seen = Vec::new();
    for &n in &watched {
        // The kernel says nothing when it sends a SYN again: look at its table until it counts
        // one more. Generous: only waited out in full when no retry comes.
        let row =
            wait::until(schedule.retry(n) + wait::patience(WAIT), || match kernel::tcp_row(local, addr) {
                Some(row) if row.state == kernel::SYN_SENT && row.retransmits < n => None,
                other => Some(other),
            });
        let at = started.elapsed();
        match row {
            Some(Some(row)) if row.state == kernel::SYN_SENT => {
                s.transcript()
                    .record(conn(format!("SYN sent again (retry {}, from /proc/net/tcp)", row.retransmits)));
                seen.push(at);
            }
            Some(Some(row)) if row.state == kernel::ESTABLISHED => bail!(
                "bob's connect completed after {}: the queue had room, but with backlog 0 alice's \
                 connection should have filled it",
                seconds(at)
            ),
            Some(Some(row)) => {
                bail!("bob's socket went to state {} (not SYN-SENT) after {}", row.state, seconds(at))
            }
            Some(None) => bail!(
                "bob's connect ended after {} ({}); it should go on waiting, not be refused",
                seconds(at),
                bob.take_error()?.map_or("no error".to_string(), |error| error.to_string())
            ),
            None => bail!(
                "bob's SYN was not sent again within {} (retry {n} is due at about {})",
                seconds(at),
                secs(schedule.retry(n))
            ),
        }
    }
    let times: Vec<String> = seen.iter().map(|&at| seconds(at)).collect();
    s.say(format!("Seen: bob's SYN went again at {}, still unanswered, not refused.", times.join(", ")));
    // Timers never fire early, but a loaded machine may run them, and us, late: only lower bounds.
    for (&n, &at) in watched.iter().zip(&seen) {
        let earliest = schedule.retry(n).mul_f64(0.8);
        ensure!(at >= earliest, "bob's retry {n} came after {}, sooner than {}", seconds(at), secs(earliest));
    }
    s.say("bob gives up: his socket is closed, so his kernel sends the SYN no more.");
    Ok(())
}

/// Backlog 2, never accepting, and TCP_DEFER_ACCEPT (`--defer-accept 30`): the server's kernel
/// keeps each connection half-open (SYN-RECV, in the SYN queue) until its client sends
/// something, and these clients send nothing, although each client's connect has returned.
/// Two clients: two half-open. Three more: on Linux the SYN queue is checked against the same
/// limit as the accept queue, so it stops at 2 (before 2025's kernels) or 3, far below
/// net.ipv4.tcp_max_syn_backlog. With SYN cookies on (the default) the clients past it still
/// connect, by cookie, which keeps no half-open entry: they go straight into the accept queue.
/// With cookies off they get no answer. Checked once every connected client is counted in one
/// queue or the other.
pub fn the_syn_queue_is_bounded_by_the_backlog_too(s: &mut Session) -> Result<()> {
    if !cfg!(target_os = "linux") {
        s.say("This is not Linux: the table this scenario reads (/proc/net/tcp) is Linux's. Nothing is checked.");
        return Ok(());
    }
    let cookies = std::fs::read_to_string(SYNCOOKIES).ok().and_then(|text| text.trim().parse::<u32>().ok());
    if cookies == Some(2) {
        s.say(format!("{SYNCOOKIES} is 2 here: every SYN is answered with a cookie, so no SYN queue fills. Nothing to show."));
        return Ok(());
    }
    let backlog: usize = 2;
    let server =
        s.server(&["--backlog", &backlog.to_string(), "--accept", "never", "--defer-accept", "30"])?;
    let addr = server.addr();
    s.say(
        "Backlog 2 and TCP_DEFER_ACCEPT: each connection stays half-open on the server until its client \
         sends something, and these clients send nothing. Their connects return all the same.",
    );
    let mut clients = Vec::new();
    for n in 1..=backlog {
        clients.push(s.tcp(&format!("client{n}"), addr)?);
        half_open_reaches(addr.port(), n)?;
    }
    s.say(format!(
        "Two half-open. Three more clients; {SYNCOOKIES} is {}.",
        cookies.map_or("unreadable".to_string(), |value| value.to_string())
    ));
    for n in backlog + 1..=backlog + 3 {
        let who = format!("client{n}");
        if cookies == Some(0) {
            // Without cookies, a SYN past the SYN queue's limit is dropped: a short deadline.
            if let Attempt::Connected(client) = s.tcp_attempt(&who, addr, QUIET)? {
                clients.push(client);
            }
        } else {
            clients.push(s.tcp(&who, addr)?);
        }
    }
    let connected = clients.len();
    // Look at the kernel's table until every connected client is counted, half-open or queued.
    let mut last = (None, None);
    let counted = wait::until(WAIT, || {
        last = (kernel::half_open(addr.port()), ports::accept_queue(addr.port()));
        match last {
            (Some(half), Some(queued)) if half + queued as usize == connected => Some((half, queued)),
            _ => None,
        }
    });
    let Some((half, queued)) = counted else {
        bail!(
            "of {connected} connected clients, /proc/net/tcp should count each, half-open or in the accept \
             queue, but shows (half-open, queued) = {last:?}"
        );
    };
    s.say(format!(
        "Seen: {connected} of {} connected; {half} half-open (SYN-RECV), {queued} in the accept queue.",
        backlog + 3
    ));
    ensure!(
        half <= backlog + 1,
        "with backlog {backlog}, the SYN queue held {half} half-open connections; the backlog bounds it \
         too, so it should stop at {backlog} or {}",
        backlog + 1
    );
    if cookies != Some(0) {
        s.say("The SYN queue stopped at the backlog's limit (on Linux, one more than n); the clients past it got in by SYN cookie.");
    }
    Ok(())
}

const SYNCOOKIES: &str = "/proc/sys/net/ipv4/tcp_syncookies";

/// Wait until the kernel lists `n` half-open connections (SYN-RECV) on the listening `port`.
fn half_open_reaches(port: u16, n: usize) -> Result<()> {
    let mut seen = None;
    if wait::until(WAIT, || {
        seen = kernel::half_open(port);
        (seen == Some(n)).then_some(())
    })
    .is_none()
    {
        bail!(
            "the server's SYN queue should hold {n} half-open connections (its clients sent nothing, and \
             --defer-accept should keep them half-open), but /proc/net/tcp shows {seen:?}"
        );
    }
    Ok(())
}

/// "1.05s": a time measured, to the hundredth.
fn seconds(at: Duration) -> String {
    format!("{:.2}s", at.as_secs_f64())
}

/// "once", "twice", "6 times".
fn times(n: u32) -> String {
    match n {
        1 => "once".to_string(),
        2 => "twice".to_string(),
        n => format!("{n} times"),
    }
}

/// The lab's probe: `clients` connects to `addr`, one after another, each allowed `timeout_ms`.
fn start_probe(s: &mut Session, who: &str, addr: &str, clients: u32, timeout_ms: u128) -> Result<Role> {
    let (clients, timeout) = (clients.to_string(), timeout_ms.to_string());
    s.role(who, "probe", &["--server", addr, "--clients", &clients, "--timeout", &timeout])
}

/// Backlog 2, accepting one client per Enter. alice sends two lines in two writes and bob one,
/// before anyone accepts: no reply. Enter: alice is accepted, and both her lines come back,
/// in order, although the server's first read gets them together. Enter again: bob's too.
pub fn bytes_sent_while_queued_are_answered_once_accepted(s: &mut Session) -> Result<()> {
    let mut server = s.server(&["--backlog", "2", "--accept", "on-enter"])?;
    let mut alice = s.tcp("alice", server.addr())?;
    let mut bob = s.tcp("bob", server.addr())?;
    s.say("alice and bob are connected, by the kernel alone. They send; nobody has accepted them.");
    alice.send(b"one\n")?;
    alice.send(b"two\n")?;
    bob.send(b"three\n")?;
    alice.expect_nothing(QUIET)?;
    s.say("Their bytes wait in the kernel, in each connection's receive buffer. Enter: one accept.");
    server.send_line("")?;
    s.say("The oldest connection, alice's, comes out of the queue, and both her lines are answered.");
    alice.expect_bytes(b"ONE\nTWO\n")?;
    server.send_line("")?;
    bob.expect_bytes(b"THREE\n")?;
    Ok(())
}

/// Backlog 1, accepting one client per Enter: alice and bob fill the queue, carol's connect
/// gets no answer within 300 ms. Enter: alice is accepted (her reply proves it). Now dave gets
/// in, and erin, after him, does not: one accept, one slot.
pub fn each_accept_frees_one_slot(s: &mut Session) -> Result<()> {
    let mut server = s.server(&["--backlog", "1", "--accept", "on-enter"])?;
    let addr = server.addr();
    let mut alice = s.tcp("alice", addr)?;
    let _bob = s.tcp("bob", addr)?;
    queue_holds(addr, 2)?;
    s.say(format!("Backlog 1: alice and bob fill the queue. carol tries, allowed {}:", crate::secs(QUIET)));
    expect_no_way_in(s, "carol", addr)?;
    s.say("Enter: the server accepts one connection, alice's; her reply shows it has.");
    server.send_line("")?;
    alice.send(b"am I in?\n")?;
    alice.expect_bytes(b"AM I IN?\n")?;
    s.say("One slot is free: dave gets in at once.");
    let _dave = s.tcp("dave", addr)?;
    // However slow the server is to act on the Enter, it has acted once it is idle: a server
    // that accepts more than one has then taken bob and dave off the queue.
    server.wait_idle(WAIT)?;
    queue_holds(addr, 2)?;
    s.say("And it was only one: erin, after dave, gets no answer.");
    expect_no_way_in(s, "erin", addr)?;
    Ok(())
}

/// Wait until the kernel shows `n` connections in the accept queue of the server at `addr`
/// (Linux; elsewhere there is nothing to read). A client's connect returns once it has sent the
/// handshake's last ACK, and the server's kernel queues the connection a moment later: a
/// connect tried in between would still find room.
fn queue_holds(addr: SocketAddr, n: u32) -> Result<()> {
    if !cfg!(target_os = "linux") {
        return Ok(());
    }
    // There is no event to wait on: look at the kernel's table until the deadline.
    let mut waiting = None;
    let full = wait::until(WAIT, || {
        waiting = ports::accept_queue(addr.port());
        (waiting == Some(n)).then_some(())
    });
    if full.is_none() {
        bail!("the accept queue should hold {n} connections, but /proc/net/tcp shows {waiting:?}");
    }
    Ok(())
}

/// On Linux, a connect to a full queue must time out (its SYN dropped), not complete and not be
/// refused. Elsewhere the outcome is only shown.
fn expect_no_way_in(s: &mut Session, who: &str, addr: SocketAddr) -> Result<()> {
    let attempt = s.tcp_attempt(who, addr, QUIET)?;
    if !cfg!(target_os = "linux") {
        s.say(format!("{who}'s connect {} (this is not Linux: shown, not checked).", attempt.describe()));
        return Ok(());
    }
    match attempt {
        Attempt::TimedOut => Ok(()),
        Attempt::Connected(_) => {
            bail!("{who} connected, but the queue was full: it should have got no answer")
        }
        Attempt::Refused => bail!("{who} was refused; a full queue drops the SYN instead of refusing it"),
    }
}

/// Backlog 1, accepting every client: fifty clients connect one after another, each answered
/// before the next connects, and all stay connected; then each speaks again and is answered
/// while all fifty are connected.
pub fn backlog_one_serves_fifty_clients(s: &mut Session) -> Result<()> {
    let mut server = s.server(&["--backlog", "1", "--accept", "after", "0"])?;
    s.say("Backlog 1, and the server accepts at once, giving each client a thread.");
    s.say("Fifty clients connect, one after another, each answered before the next connects.");
    s.say("(Their bytes are recorded, but not shown here unless something goes wrong.)");
    let hush = s.transcript().hush();
    let mut clients = Vec::new();
    for n in 1..=50 {
        // Waiting for each reply before the next connect keeps the queue from filling: no SYN
        // is dropped, so no connect waits for the kernel to send one again.
        let mut client = s.tcp(&format!("client{n}"), server.addr())?;
        client.send(format!("client {n} here\n").as_bytes())?;
        client.expect_bytes(format!("CLIENT {n} HERE\n").as_bytes())?;
        clients.push(client);
    }
    for (n, client) in (1..).zip(clients.iter_mut()) {
        client.send(format!("client {n} again\n").as_bytes())?;
    }
    for (n, client) in (1..).zip(clients.iter_mut()) {
        client.expect_bytes(format!("CLIENT {n} AGAIN\n").as_bytes())?;
    }
    for client in clients {
        client.close();
    }
    if s.is_reference() {
        // Still hushed: let the server log all fifty goodbyes before the story goes on.
        for _ in 0..50 {
            server.expect_line("a client's close", WAIT, |line| line.contains("closed the connection"))?;
        }
    }
    drop(hush);
    s.say("All fifty are connected at once and all were answered again: backlog 1 did not stop them.");
    Ok(())
}
