//! tcp-vs-udp's scenarios: the lessons' TCP-versus-UDP table as facts on the wire and in the
//! kernel's own counters, never as speeds (those are the benchmark's).

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

use crate::scenario::{Fixture, Flag, Lab, Spec};
use crate::session::Session;
use crate::tap::Tap;
use crate::transcript::{Event, Proto};
use crate::{QUIET, WAIT, secs};
use crate::{kernel, wait};

pub const LAB: Lab = Lab {
    name: "tcp-vs-udp",
    teaches: "the lessons' TCP-vs-UDP table measured: loss vs flow control, connection cost",
    proto: Proto::Udp,
    default_port: 9500,
    roles: &["server", "sink", "blast", "requests"],
    modes: &["iterative", "threaded"],
    server_flags: &[],
    story: "
The lessons end with a table: TCP is a reliable stream, UDP sends and does not care; a new
connection for every request costs a TCP server dearly; one long request on a loop server makes
everyone wait. Below, each row is a fact you can watch: a sink that naps before each read, fed
over UDP and then over TCP; quick requests over a new connection each and over one kept
connection, counted by a relay in front of the server; and a quick request sent behind a slow
one. The kernel's own counters (/proc/net/udp, TCP_INFO) are read beside the server's.",
    scenarios: &[
        scenario!(
            udp_into_a_napping_sink_loses_what_the_kernel_drops,
            claim: "UDP into a napping sink: datagrams are lost, and the sink's gaps equal the kernel's drop count",
            hint: "Count the gaps from the sequence numbers (each data datagram's second word), not from \
                   how many datagrams you read, and take the drop count from the control message \
                   SO_RXQ_OVFL attaches to each datagram (recvmsg).",
            bug: "no-gaps",
        ),
        scenario!(
            tcp_into_a_napping_sink_loses_nothing_and_holds_the_sender,
            claim: "TCP into the same napping sink: nothing is lost, and the sender's writes had to wait",
            hint: "A read returns what has arrived so far, not one line: keep the bytes after the last \
                   newline for the next read, and count each line, however the reads cut them.",
            bug: "one-line-per-read",
        ),
        scenario!(
            a_new_connection_per_request_opens_one_connection_each,
            claim: "tcp-new: N requests open exactly N connections, each answered",
            hint: "After a client closes (a read returns 0 bytes), go back to accept the next one: a \
                   client that connects for every request needs a server that outlives each connection.",
            bug: "one-connection",
        ),
        scenario!(
            a_kept_connection_carries_every_request,
            claim: "tcp-keep: N requests over one connection, each answered on it",
            hint: "Answer every line the client sends on its connection, and close only when it has \
                   closed: a client that keeps its connection sends its next request on it.",
            bug: "close-after-answer",
        ),
        scenario!(
            a_quick_request_waits_behind_a_slow_one,
            claim: "Iterative: a quick request sent behind a slow one is answered after it",
            hint: "With --mode iterative, do each request's work in the receive loop itself, before you \
                   receive the next datagram: that is the loop server the lesson warns about.",
            bug: "always-threaded",
            mode: "iterative",
        ),
        scenario!(
            a_thread_per_request_answers_the_quick_one_first,
            claim: "Threaded: a quick request sent behind a slow one is answered before it",
            hint: "With --mode threaded, hand each work request to a thread of its own and go straight \
                   back to receive: the slow one must not hold the loop.",
            bug: "always-iterative",
            mode: "threaded",
        ),
        scenario!(
            bad_messages_are_answered_and_the_server_goes_on,
            claim: "A message that is not data, report or work gets an error answer, and the server goes on",
            hint: "Look at what your server does with a datagram it cannot parse (not UTF-8, an unknown \
                   word, a number that is not one, work longer than 10000 ms): answer it with an \
                   error, and keep receiving.",
            bug: "die-on-garbage",
        ),
    ],
    fixture: Fixture {
        script: "tests/fixtures/server.py",
        passes_with: &["--mode iterative", "--mode threaded"],
        reports: &[],
    },
    by_hand: &[
        "cargo lab tcp-vs-udp sink --proto udp --read-delay 1           # terminal 1: a sink that naps before each read",
        "cargo lab tcp-vs-udp blast --proto udp --count 5000            # terminal 2: sent, lost, and the kernel's count",
        "cargo lab tcp-vs-udp requests --mode udp --count 1000          # terminal 2: quick requests, one datagram each",
    ],
    spec: Spec {
        task: "A sink and a request server, over UDP or TCP: it counts numbered data records, reports what \
               it received, the gaps in the numbering and the kernel's drop count, and answers work \
               requests, one at a time or a thread each.",
        flags: &[
            Flag {
                usage: "--proto udp|tcp",
                does: "udp (the default): one UDP socket, each datagram a message. tcp: a listening TCP socket, \
                       each line (ending in \\n) a message; the ready line says tcp://.",
            },
            Flag {
                usage: "--mode iterative|threaded",
                does: "iterative (the default): do each work request in the receive loop, so the next waits. \
                       threaded: do each work request on a thread of its own (over TCP, a thread per \
                       connection is enough). The scenarios marked [iterative only] and [threaded only] pass \
                       it; the others run against both.",
            },
            Flag {
                usage: "--read-delay MS",
                does: "Sleep MS milliseconds before each receive (recvfrom over UDP, recv over TCP): a \
                       receiver slower than its sender. 0 when absent.",
            },
            Flag {
                usage: "--rcvbuf BYTES",
                does: "Set the socket's receive buffer (SO_RCVBUF) to BYTES before bind (over TCP, on the \
                       listening socket, before listen). Linux caps the figure at net.core.rmem_max, then doubles it. The system's default when \
                       absent.",
            },
        ],
        protocol: &[
            "`data SEQ ...`: a record numbered SEQ (from 0; whatever follows is padding). Count it; never \
             answer it. A record numbered 0 starts a new count.",
            "`report` or `report SEQ`: answer `received R gaps G drops D` (more words may follow): R records \
             counted since record 0 (a report with a SEQ counts as that record), G the numbers missing below \
             the highest seen, D how many datagrams the kernel dropped on the socket since record 0, from \
             SO_RXQ_OVFL (option 40 at SOL_SOCKET on Linux: recvmsg then brings the socket's drop count \
             with each datagram); 0 over TCP.",
            "`work MS TAG`: wait MS milliseconds (at most 10000), then answer `done TAG`. Anything else \
             is answered with a line or datagram starting `error`, and the server goes on. Over UDP each \
             answer goes to the address the message came from; over TCP, on its connection, as a line.",
        ],
    },
};

/// Records per blast: enough to overflow the sink's buffer many times over, few enough to cost
/// nothing.
const RECORDS: u64 = 300;
/// Bytes per record.
const RECORD_SIZE: usize = 100;
/// The sink's naps, and its receive buffer: a few records' worth.
const NAP: &str = "5";
const SMALL_BUFFER: &str = "2048";

/// A `data` record of [`RECORD_SIZE`] bytes, ending in `\n` for TCP.
fn record(seq: u64, newline: bool) -> Vec<u8> {
    let mut bytes = format!("data {seq} ").into_bytes();
    bytes.resize(RECORD_SIZE - usize::from(newline), b'.');
    if newline {
        bytes.push(b'\n');
    }
    bytes
}

/// `received R gaps G drops D`, read back.
#[derive(Debug)]
struct Report {
    received: u64,
    gaps: u64,
    drops: u64,
}

/// The most of a TCP report line the checker reads.
const MAX_REPORT: u64 = 4096;

fn parse_report(text: &str) -> Result<Report> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let after = |name: &str| -> Option<u64> {
        let at = words.iter().position(|w| *w == name)?;
        words.get(at + 1)?.parse().ok()
    };
    match (after("received"), after("gaps"), after("drops")) {
        (Some(received), Some(gaps), Some(drops)) => Ok(Report { received, gaps, drops }),
        _ => bail!("the sink answered {text:?}, not `received R gaps G drops D`"),
    }
}

/// 300 datagrams of 100 bytes, sent without a pause to a sink that naps 5 ms before each read
/// and has a 2 KB receive buffer (Linux makes it 4 KB). Then `report 300`, `report 301`, ...
/// until one is answered. Its gaps must be the kernel's drop count for the sink's socket, read
/// by us from /proc/net/udp and by the sink from SO_RXQ_OVFL.
pub fn udp_into_a_napping_sink_loses_what_the_kernel_drops(s: &mut Session) -> Result<()> {
    let server = s.server(&["--proto", "udp", "--read-delay", NAP, "--rcvbuf", SMALL_BUFFER])?;
    let blaster = UdpSocket::bind("127.0.0.1:0").context("binding the blaster's UDP socket")?;
    s.transcript().name(blaster.local_addr()?, "blaster");
    blaster.connect(server.addr())?;
    s.say(format!(
        "The sink naps {NAP} ms before each read; its receive buffer holds a few datagrams. The blaster \
         sends {RECORDS} datagrams of {RECORD_SIZE} bytes, \"data 0 ...\" to \"data {}\", without a pause:",
        RECORDS - 1
    ));
    for seq in 0..RECORDS {
        let sent = blaster.send(&record(seq, false)).with_context(|| format!("sending data {seq}"))?;
        ensure!(sent == RECORD_SIZE, "the blaster sent only {sent} of {RECORD_SIZE} bytes");
    }
    s.say(format!(
        "(blaster → server: {RECORDS} datagrams, each sendto returned at once: UDP has no flow control, nothing holds a sender back for its receiver)"
    ));
    // Polling the kernel's table: nothing tells us when the sink has read its backlog. Once
    // it has, the report finds room in the buffer.
    let port = server.addr().port();
    if kernel::udp_queued(port).is_some() {
        wait::until(WAIT, || (kernel::udp_queued(port)? == 0).then_some(()));
    }
    s.say("Once the sink has read what its buffer held, the blaster asks for the report, numbered like a record.");
    let (answer, last) = ask_for_report(s, &blaster, server.addr(), RECORDS)?;
    let report = parse_report(&answer)?;
    let total = report.received + report.gaps;
    ensure!(
        (RECORDS + 1..=last + 1).contains(&total),
        "the sink says received {} and gaps {}, which should add up to the records numbered 0 to the report \
         it answers (report {RECORDS}{})",
        report.received,
        report.gaps,
        if last > RECORDS { format!(" to {last}") } else { String::new() }
    );
    let Some(dropped) = kernel::udp_drops(server.addr().port()) else {
        s.say("(This system has no /proc/net/udp to read the kernel's drop count from: Linux's.)");
        return Ok(());
    };
    s.say(format!(
        "The kernel's table (/proc/net/udp, the `drops` column of the sink's socket) says it dropped {dropped}."
    ));
    ensure!(
        dropped > 0,
        "the kernel dropped none of {total} datagrams: the sink must have read them as fast as they came; \
         it should set SO_RCVBUF to --rcvbuf {SMALL_BUFFER} and sleep --read-delay {NAP} ms before each read"
    );
    ensure!(
        report.gaps == dropped,
        "the sink counts {} gaps in the numbering, but the kernel dropped {dropped} datagrams on its socket",
        report.gaps
    );
    ensure!(
        report.drops == dropped,
        "the sink reports {} drops, but the kernel's count for its socket is {dropped}: read SO_RXQ_OVFL",
        report.drops
    );
    s.say(format!(
        "Lost {dropped} of {total}: every gap in the numbering is a datagram the kernel dropped, and said so."
    ));
    Ok(())
}

/// Send `report SEQ` from `first` on, one at a time, until one is answered (within [`QUIET`]
/// each, 30 tries at most: a report can be dropped like any datagram, and is then one more
/// gap). Returns the answer and the last SEQ asked with.
fn ask_for_report(s: &Session, socket: &UdpSocket, server: SocketAddr, first: u64) -> Result<(String, u64)> {
    socket.set_read_timeout(Some(QUIET))?;
    let mut buf = [0; 512];
    for seq in first..first + 30 {
        let ask = format!("report {seq}");
        s.transcript().record(Event::Wire {
            from: "blaster".into(),
            to: "server".into(),
            proto: Proto::Udp,
            bytes: ask.clone().into_bytes(),
        });
        socket.send(ask.as_bytes())?;
        match socket.recv(&mut buf) {
            Ok(len) => {
                s.transcript().record(Event::Wire {
                    from: s.transcript().who(server),
                    to: "blaster".into(),
                    proto: Proto::Udp,
                    bytes: buf[..len].to_vec(),
                });
                return Ok((String::from_utf8_lossy(&buf[..len]).into_owned(), seq));
            }
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(error) => bail!("waiting for the sink's report: {error}"),
        }
    }
    bail!("the sink answered none of 30 report requests, each given {}", secs(QUIET))
}

/// The same 300 records, as lines over TCP, to the same napping sink. The blaster's socket has
/// a small send buffer and does not block: a write that finds no room says so (WouldBlock), and
/// we wait until there is. The report must count all 301, and some writes must have waited.
pub fn tcp_into_a_napping_sink_loses_nothing_and_holds_the_sender(s: &mut Session) -> Result<()> {
    let server =
        s.server_on(Proto::Tcp, &["--proto", "tcp", "--read-delay", NAP, "--rcvbuf", SMALL_BUFFER])?;
    let stream = small_sender(server.addr())?;
    s.transcript().name(stream.local_addr()?, "blaster");
    s.transcript().record(Event::Conn {
        from: "blaster".into(),
        to: "server".into(),
        what: "connected".into(),
    });
    s.say(format!(
        "The same sink, over TCP; the blaster writes the same {RECORDS} records, as lines, and each write \
         that finds the socket's buffers full waits until the sink has read some."
    ));
    let mut waits = 0;
    let mut smallest_window: Option<u32> = None;
    let mut lines: Vec<u8> = (0..RECORDS).flat_map(|seq| record(seq, true)).collect();
    lines.extend_from_slice(format!("report {RECORDS}\n").as_bytes());
    let mut written = 0;
    while written < lines.len() {
        match (&stream).write(&lines[written..]) {
            Ok(len) => written += len,
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                waits += 1;
                // Our kernel holds what it cannot send: the sink's window is closed.
                if let Ok(kernel::TcpInfo { peer_window: Some(window), .. }) = kernel::tcp_info(&stream) {
                    smallest_window = Some(smallest_window.map_or(window, |w| w.min(window)));
                }
                ensure!(
                    kernel::writable(&stream, WAIT)?,
                    "the blaster could not write for {}: the sink stopped reading",
                    secs(WAIT)
                );
            }
            Err(error) => bail!("the blaster's write failed after {written} bytes: {error}"),
        }
    }
    s.say(format!(
        "(blaster → server: {RECORDS} lines of {RECORD_SIZE} bytes and \"report {RECORDS}\"; the writes found no \
         room {waits} times)"
    ));
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(WAIT))?;
    // A report is a short line: a server that sends more without a newline is read only so
    // far, so that it cannot fill the checker's memory.
    let mut answer = Vec::new();
    BufReader::new(&stream)
        .take(MAX_REPORT)
        .read_until(b'\n', &mut answer)
        .context("waiting for the sink's report")?;
    s.transcript().record(Event::Wire {
        from: "server".into(),
        to: "blaster".into(),
        proto: Proto::Tcp,
        bytes: answer.clone(),
    });
    let answer = String::from_utf8_lossy(&answer);
    let report = parse_report(&answer)?;
    let total = RECORDS + 1;
    ensure!(
        report.received == total && report.gaps == 0,
        "the sink counted {} records with {} gaps; TCP delivered all {total} lines, in order",
        report.received,
        report.gaps
    );
    ensure!(
        report.drops == 0,
        "the sink reports {} drops over TCP, where the kernel drops nothing",
        report.drops
    );
    s.say(format!("All {total} arrived, none missing: TCP loses nothing the receiver is slow to read."));
    ensure!(
        waits > 0,
        "the blaster's writes never had to wait: the sink read as fast as they came; it should set SO_RCVBUF \
         to --rcvbuf {SMALL_BUFFER} and sleep --read-delay {NAP} ms before each read"
    );
    s.say(format!("Instead the sender was held back: {waits} times a write found no room and had to wait."));
    let info = kernel::tcp_info(&stream).unwrap_or_default();
    if let Some(limited) = info.window_limited {
        s.say(format!(
            "Our kernel (TCP_INFO tcpi_rwnd_limited) counts {} ms in which it had data to send and the sink's \
             window had no room for it; the smallest window seen while waiting was {} bytes.",
            limited.as_millis(),
            smallest_window.map_or("not known".to_string(), |w| w.to_string())
        ));
    }
    Ok(())
}

/// A connection to `server` whose send buffer is small (Linux doubles 4096) and fixed, so that
/// autotuning cannot grow it to hold the whole blast, and whose writes do not block.
fn small_sender(server: SocketAddr) -> Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.set_send_buffer_size(4096)?;
    socket
        .connect_timeout(&server.into(), WAIT)
        .with_context(|| format!("connecting to the sink at {server}"))?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// How many requests the `requests` role sends in the connection scenarios.
const REQUESTS: usize = 20;

/// The lab's `requests --mode tcp-new` through a relay that counts the connections it accepts:
/// exactly one per request. The kernel's machine-wide ActiveOpens count rose at least as much.
pub fn a_new_connection_per_request_opens_one_connection_each(s: &mut Session) -> Result<()> {
    let (tap, opened) = requests_through_a_tap(s, "tcp-new")?;
    ensure!(
        tap.connections() == REQUESTS,
        "the relay accepted {} connections for {REQUESTS} requests, one each",
        tap.connections()
    );
    s.say(format!(
        "The relay accepted {REQUESTS} connections: a handshake before each request, a goodbye after it."
    ));
    if let Some(opened) = opened {
        // The relay connects to the server once for each connection it accepts: those count too.
        let at_least = 2 * REQUESTS as u64;
        ensure!(
            opened >= at_least,
            "the kernel's ActiveOpens rose by only {opened}, for {REQUESTS} connects and the relay's {REQUESTS}"
        );
        s.say(format!(
            "The kernel's ActiveOpens (/proc/net/snmp) rose by {opened}: {REQUESTS} connects of the role's, \
             {REQUESTS} of the relay's, and any other program's meanwhile. The machine-wide count can only \
             say \"at least\": the relay counts exactly."
        ));
    }
    Ok(())
}

/// The same requests with `--mode tcp-keep`: one connection carries them all.
pub fn a_kept_connection_carries_every_request(s: &mut Session) -> Result<()> {
    let (tap, _) = requests_through_a_tap(s, "tcp-keep")?;
    ensure!(
        tap.connections() == 1,
        "the relay accepted {} connections, where one carries every request",
        tap.connections()
    );
    s.say(format!("The relay accepted 1 connection, and {REQUESTS} requests went over it."));
    Ok(())
}

/// Start a TCP server, a counting relay in front of it, and the `requests` role through the
/// relay in `mode`; the role must answer that all were answered and exit 0. Returns the relay
/// and the rise in ActiveOpens the role printed.
fn requests_through_a_tap(s: &mut Session, mode: &str) -> Result<(Tap, Option<u64>)> {
    let server = s.server_on(Proto::Tcp, &["--proto", "tcp"])?;
    let tap = Tap::start(Proto::Tcp, server.addr(), "requests", s.transcript())?;
    s.say(
        "The lab's requests role talks to the server through a relay that counts each connection it accepts.",
    );
    let relay = tap.addr().to_string();
    let count = REQUESTS.to_string();
    let hush = s.transcript().hush();
    let mut role =
        s.role("requests", "requests", &["--server", &relay, "--mode", mode, "--count", &count])?;
    let status = role.wait_exit(WAIT);
    drop(hush);
    let status = status?;
    if !status.success() {
        let said = s.transcript().last_stderr("requests", 2).join(" / ");
        bail!("the requests role {}: {said}", crate::process::describe_status(status));
    }
    let answered = role.expect_line("how many were answered", WAIT, |line| line.starts_with("requests"))?;
    let kernel_line = role.expect_line("the kernel's count", WAIT, |line| line.starts_with("kernel"));
    s.say(format!("requests printed: {answered}"));
    ensure!(
        answered.contains(&format!("{REQUESTS} of {REQUESTS} answered")),
        "expected all {REQUESTS} requests answered, but the role printed {answered:?}"
    );
    let opened = kernel_line.ok().and_then(|line| {
        let after = line.split("rose by ").nth(1)?;
        after.split_whitespace().next()?.parse().ok()
    });
    Ok((tap, opened))
}

/// How long the slow request takes: long enough that the quick one's answer, on a thread,
/// comes well before it even on a loaded machine.
const SLOW: &str = "800";

/// alice asks for 800 ms of work, then bob for none, at once. Iterative: bob's answer comes
/// only after alice's.
pub fn a_quick_request_waits_behind_a_slow_one(s: &mut Session) -> Result<()> {
    let server = s.server(&["--mode", "iterative"])?;
    let (alice, bob) = (s.udp("alice")?, s.udp("bob")?);
    s.say(format!("alice asks for {SLOW} ms of work; right after her, bob asks for none."));
    alice.send_to(server.addr(), format!("work {SLOW} alice").as_bytes())?;
    bob.send_to(server.addr(), b"work 0 bob")?;
    s.say("The loop is busy with alice: bob's datagram waits in the socket's buffer until she is done.");
    bob.expect_datagram(b"done bob")?;
    s.say("By the time bob's answer came, alice's was already there: it was sent first.");
    match alice.recv(Duration::from_millis(1))? {
        Some((bytes, _)) if bytes == b"done alice" => Ok(()),
        Some((bytes, _)) => bail!("alice expected \"done alice\", got {}", crate::transcript::show(&bytes)),
        None => bail!("bob was answered before alice: his quick request did not wait behind her slow one"),
    }
}

/// The same with a thread per request: bob is answered while alice's work goes on; alice is
/// answered later.
pub fn a_thread_per_request_answers_the_quick_one_first(s: &mut Session) -> Result<()> {
    let server = s.server(&["--mode", "threaded"])?;
    let (alice, bob) = (s.udp("alice")?, s.udp("bob")?);
    s.say(format!("alice asks for {SLOW} ms of work; right after her, bob asks for none."));
    alice.send_to(server.addr(), format!("work {SLOW} alice").as_bytes())?;
    bob.send_to(server.addr(), b"work 0 bob")?;
    s.say("alice's work goes to a thread, and the loop reads bob's request at once:");
    bob.expect_datagram(b"done bob")?;
    s.say("bob is answered while alice's work goes on; hers comes when it is done.");
    ensure!(
        alice.recv(Duration::from_millis(1))?.is_none(),
        "alice was answered before bob: his quick request waited behind her slow one"
    );
    alice.expect_datagram(b"done alice")?;
    Ok(())
}

/// mallory sends what is not a message, and each gets an error answer; then bob is served.
pub fn bad_messages_are_answered_and_the_server_goes_on(s: &mut Session) -> Result<()> {
    let server = s.server(&[])?;
    let (mallory, bob) = (s.udp("mallory")?, s.udp("bob")?);
    s.say("mallory sends an unknown word, a number that is not one, too much work, and bytes that are not UTF-8:");
    let bad: [&[u8]; 5] = [b"hello", b"data x", b"work 99999999 forever", b"\xff\xfe\xfd", b""];
    for datagram in bad {
        mallory.send_to(server.addr(), datagram)?;
        match mallory.recv(WAIT)? {
            Some((answer, _)) if answer.starts_with(b"error") => {}
            Some((answer, _)) => bail!(
                "mallory expected an answer starting \"error\" to {}, got {}",
                crate::transcript::show(datagram),
                crate::transcript::show(&answer)
            ),
            None => bail!(
                "mallory got no answer to {} within {}: every bad message is answered",
                crate::transcript::show(datagram),
                secs(WAIT)
            ),
        }
    }
    s.say("The server goes on:");
    bob.send_to(server.addr(), b"work 0 bob")?;
    bob.expect_datagram(b"done bob")?;
    Ok(())
}
