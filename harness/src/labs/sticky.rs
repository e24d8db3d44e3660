//! sticky's scenarios: what a TCP stream does to message boundaries, and which framings
//! survive it, on the wire.
//!
//! The server under test sends nothing back; it reports on stdout, in a format any
//! implementation can print (see labs/sticky/src/main.rs): one `recv N bytes [BYTES]` line per
//! read, one `message [BYTES]` line per decoded message. Refusals go to stderr, in any words,
//! except a frame cut off by the peer: `truncated: got X of Y bytes`, the wording the lab's
//! issue and chapter give, so a student's server is held to it too.

use std::time::Duration;

use anyhow::{Result, bail, ensure};
use lab_common::{boxed, unbox};

use crate::process::Role;
use crate::proxy::Rechunk;
use crate::scenario::{Fixture, Flag, Lab, Spec};
use crate::session::Session;
use crate::transcript::Proto;
use crate::{QUIET, WAIT};

pub const LAB: Lab = Lab {
    name: "sticky",
    teaches: "TCP sticky packets (粘包): a byte stream has no message boundaries, and the fixes",
    proto: Proto::Tcp,
    default_port: 9100,
    roles: &["server", "client"],
    modes: &[],
    server_flags: &[],
    story: "
TCP delivers bytes in order and nothing else: the boundaries between a sender's writes are not
on the wire. Below, the server prints every read it made, its bytes in a box, [hel][lowor][ld],
and then the messages it found in them. Raw first (each read taken as a message: the bug), then
a pause between writes (original lesson 004's third cure, which is none), then a newline after each message
and a length before each, through a proxy that re-cuts the stream at random; last, UDP, where
each datagram is a message of its own.",
    scenarios: &[
        scenario!(
            short_messages_stick_together_in_a_slow_reader,
            claim: "Raw: 100 writes reach a slow reader in a few reads, stuck together",
            hint: "Read with the size --read-size gives you, and sleep --read-delay milliseconds \
                   before each read: a slow reader finds many writes waiting together in the kernel.",
            bug: "tiny-reads",
        ),
        scenario!(
            a_long_message_arrives_in_pieces_cut_mid_character,
            claim: "Raw: one write longer than the read size arrives in pieces, a character cut in two",
            hint: "Print each read's bytes in its [BYTES] box without decoding them as text \
                   first: with --read-size 16 a read can end in the middle of a character.",
            bug: "decode-each-read",
        ),
        scenario!(
            a_pause_between_writes_is_not_a_framing,
            claim: "Gap: a pause keeps writes apart on an idle loopback, not for a slow reader or a proxy",
            hint: "With --framing gap, read as raw does, and honour --read-delay there too: \
                   wait that long before each read, so that writes can pile up in the kernel.",
            bug: "ignore-read-delay",
        ),
        scenario!(
            delimiter_framing_survives_any_rechunking,
            claim: "Delimiter: through a proxy that re-cuts the stream, every line arrives exactly, in order",
            hint: "Keep the bytes after a read's last newline and put the next read behind them: \
                   the proxy cuts the stream anywhere, so a read can end in the middle of a line.",
            bug: "split-each-read",
        ),
        scenario!(
            an_over_long_line_is_refused,
            claim: "Delimiter: a line longer than --max is refused and its connection closed; the next is served",
            hint: "Look at how much you buffer while waiting for a newline: past --max bytes with \
                   none, refuse on stderr and close that connection, then go on serving the next.",
            bug: "unbounded-line",
        ),
        scenario!(
            length_framing_survives_any_rechunking,
            claim: "Length prefix: through the proxy, every message (any bytes, empty too) arrives exactly",
            hint: "A frame's 4-byte header and its body can arrive in separate reads, the header itself cut \
                   too: take a message only when the buffer holds all of it, and keep the rest for the next.",
            bug: "length-one-read",
        ),
        scenario!(
            an_over_sized_length_is_refused_from_the_header,
            claim: "Length prefix: a header announcing more than --max is refused at once; the next is served",
            hint: "Check the length in the header against --max as soon as its 4 bytes are in, before \
                   waiting for the body or making room for it; refuse on stderr and close that connection.",
            bug: "trust-length",
        ),
        scenario!(
            a_frame_cut_off_by_the_peer_is_reported,
            claim: "Length prefix: a frame cut off by the peer's close is reported as truncated, not lost",
            hint: "Look at what is left in your buffer when a read returns 0: an unfinished frame \
                   there must be reported on stderr as `truncated: got X of Y bytes`, not dropped.",
            bug: "drop-truncated",
        ),
        scenario!(
            udp_keeps_every_datagram_whole,
            claim: "UDP: a burst of datagrams arrives as as many messages; one too big for the buffer is cut",
            hint: "With --transport udp, pass --read-size to recvfrom: a datagram longer than \
                   that is cut to it, and the rest is thrown away, not kept for the next read.",
            bug: "ignore-read-size",
        ),
    ],
    fixture: Fixture { script: "tests/fixtures/sticky.py", passes_with: &[""], reports: &[] },
    by_hand: &[
        "cargo lab sticky server --read-delay 1000     # terminal 1: a slow reader",
        "cargo lab sticky client hello world           # terminal 2: two writes, one read",
    ],
    spec: Spec {
        task: "A TCP server that reads each connection as it is told (how much per read, how slowly), and \
               prints every read it made and every message it decoded from them, in the framing it is given.",
        flags: &[
            Flag {
                usage: "--framing raw|gap|delimiter|length",
                does: "How the bytes are cut into messages (raw when the flag is absent); see below.",
            },
            Flag { usage: "--read-size N", does: "Ask for at most N bytes per read (1024 when absent)." },
            Flag {
                usage: "--read-delay MS",
                does: "Sleep MS milliseconds before each read (0 when absent): a slow reader.",
            },
            Flag {
                usage: "--max N",
                does: "The longest line (delimiter) or frame (length) accepted, in bytes (1 MiB when absent).",
            },
            Flag {
                usage: "--transport tcp|udp",
                does: "udp: bind a UDP socket instead (its ready line says udp://), and print each datagram \
                       as one recv line and one message line; --read-size and --read-delay apply as on TCP.",
            },
        ],
        protocol: &[
            "The checker reads your stdout, one line per event: `recv N bytes [BYTES]` for every read, and \
             `message [BYTES]` for every message decoded. In a box, bytes that are UTF-8 text show as text, \
             with \\ [ ] written \\\\ \\[ \\], newline, CR and tab written \\n \\r \\t, and any other control \
             byte or byte that is not UTF-8 written \\xNN.",
            "raw: each read is taken as one message (the bug this lab shows). gap: the same, while the sender \
             pauses between writes (a pause is no framing). delimiter: a message is the bytes before each \\n; \
             keep the bytes after the last \\n for the next read. length: a message is a 4-byte big-endian \
             length, then that many bytes; keep a partial header or body for the next read.",
            "Refuse a line longer than --max that has no \\n yet, or a length header over --max (at once, \
             from the header alone): a line on stderr saying why, and close that connection; the server goes \
             on with the next. When a client closes in the middle of a line or frame, say so on stderr, as in \
             `truncated: got 2 of 5 bytes` (of the bytes the header announced).",
        ],
    },
};

/// Re-cut rounds per framing; each round is one connection through a proxy with its own seed.
const ROUNDS: u64 = 10;

/// Raw, with a slow reader (`--read-delay 300`): alice makes 100 writes, `1;` to `100;`; the
/// server reads them in at most 10 reads (in practice one), the writes stuck together.
pub fn short_messages_stick_together_in_a_slow_reader(s: &mut Session) -> Result<()> {
    let mut server = s.server(&["--framing", "raw", "--read-delay", "300"])?;
    let mut alice = s.tcp("alice", server.addr())?;
    let writes: Vec<Vec<u8>> = (1..=100).map(|n| format!("{n};").into_bytes()).collect();
    s.say("alice writes 100 short messages, 1; to 100;, one write each, 2 ms apart: all in 200 ms.");
    s.say("The server waits 300 ms before each read. (The writes are recorded, not shown.)");
    let hush = s.transcript().hush();
    let started = std::time::Instant::now();
    for write in &writes {
        alice.send(write)?;
        // The scenario's own pace, not a wait for anything: a reader that reads at once gets
        // each write alone, so only a slow reader can pass.
        std::thread::sleep(Duration::from_millis(2));
    }
    // A reader that waits 300 ms before each read reads at most once per 300 ms while the
    // writes go on, and once more for the rest: 10 reads on an idle machine, where the writes
    // take 200 ms; more where a busy machine made the writes themselves slow.
    let most = 10.max(started.elapsed().as_millis() as usize / 300 + 2);
    drop(hush);
    let total = writes.concat().len();
    let mut reads = Vec::new();
    while reads.iter().map(Vec::len).sum::<usize>() < total {
        reads.push(next_box(&mut server, "recv")?);
        // No need to wait for the rest once there are too many reads to pass.
        ensure!(
            reads.len() <= most,
            "expected the slow reader to get the 100 writes in at most {most} reads, stuck together; it made more: {}",
            boxes(&reads)
        );
    }
    s.say(format!("100 writes, {}: {}", count(reads.len(), "read"), boxes(&reads)));
    ensure!(reads.concat() == writes.concat(), "the reads do not add up to the bytes alice wrote");
    s.say("Taken as messages, as the original lessons' servers take each recv: 100 messages sent, far fewer received.");
    Ok(())
}

/// Raw with `--read-size 16`: one write of 36 bytes (twelve 3-byte characters) arrives in
/// reads of at most 16 bytes, so at least one read ends inside a character.
pub fn a_long_message_arrives_in_pieces_cut_mid_character(s: &mut Session) -> Result<()> {
    let mut server = s.server(&["--framing", "raw", "--read-size", "16"])?;
    let mut alice = s.tcp("alice", server.addr())?;
    let message = "张三李四王五赵六钱七孙八".as_bytes();
    s.say("alice writes 12 Chinese characters, 3 bytes each in UTF-8: 36 bytes, one write.");
    s.say("The server reads into a 16-byte buffer, as the original lessons read into recv(1024).");
    alice.send(message)?;
    let reads = read_bytes(&mut server, message.len())?;
    s.say(format!("One write, {}: {}", count(reads.len(), "read"), boxes(&reads)));
    ensure!(reads.concat() == message, "the reads do not add up to the bytes alice wrote");
    ensure!(reads.iter().all(|r| r.len() <= 16), "a read returned more than the 16 bytes asked for");
    ensure!(reads.len() >= 3, "36 bytes cannot fit in fewer than 3 reads of 16");
    let cut = reads.iter().find(|read| std::str::from_utf8(read).is_err());
    let Some(cut) = cut else { bail!("expected a read that ends inside a character; none did") };
    s.say(format!(
        "{} is not text on its own: a character's bytes were cut between two reads. \
         decode(\"utf-8\") on each read, as in the original lessons, raises here.",
        boxed(cut)
    ));
    Ok(())
}

/// Gap framing: the sender pauses between writes, the receiver reads raw. On an idle loopback
/// with a 200 ms pause, three writes are three reads. With a slow reader (1000 ms before each
/// read), five writes 100 ms apart stick together. Through a proxy that holds bytes for 300 ms
/// or more, five writes 50 ms apart do too.
pub fn a_pause_between_writes_is_not_a_framing(s: &mut Session) -> Result<()> {
    s.say("1. An idle loopback, a reader that reads at once, a 200 ms pause after each write:");
    // "Works" depends on the reader being scheduled within the pause. On a busy machine it
    // may not be; the step is tried again (up to 3 times) before it counts as failed, and
    // says so, since a pause failing on a busy machine is the lesson too.
    for attempt in 1..=3 {
        let mut server = s.server(&["--framing", "gap"])?;
        send_with_client(s, server.addr(), &["--framing", "gap", "--gap", "200", "one", "two", "three"])?;
        let reads = read_bytes(&mut server, "onetwothree".len())?;
        s.say(format!("Three writes, {}: {}", count(reads.len(), "read"), boxes(&reads)));
        if reads == [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()] {
            break;
        }
        ensure!(attempt < 3, "expected [one][two][three], three times in a row");
        s.say("The machine was busy: even here, a pause did not keep the writes apart. Again:");
    }

    s.say("2. The same, to a slow reader (600 ms before each read), 100 ms pauses:");
    let mut server = s.server(&["--framing", "gap", "--read-delay", "600"])?;
    let five = ["--framing", "gap", "--gap", "100", "one", "two", "three", "four", "five"];
    send_with_client(s, server.addr(), &five)?;
    let reads = read_bytes(&mut server, "onetwothreefourfive".len())?;
    s.say(format!("Five writes, {}: {}", count(reads.len(), "read"), boxes(&reads)));
    ensure!(reads.len() < 5, "expected the slow reader to find writes stuck together; it read each alone");
    drop(server);

    s.say("3. A reader that reads at once, but a network in between that holds bytes a while:");
    let mut server = s.server(&["--framing", "gap"])?;
    let rechunk = Rechunk {
        seed: Rechunk::seed_from_env(),
        sizes: 64..=4096,
        delays: Duration::from_millis(300)..=Duration::from_millis(400),
    };
    let proxy = s.proxy_with(server.addr(), rechunk)?;
    let five = ["--framing", "gap", "--gap", "50", "one", "two", "three", "four", "five"];
    send_with_client(s, proxy.addr(), &five)?;
    let reads = read_bytes(&mut server, "onetwothreefourfive".len())?;
    s.say(format!("Five writes, {}: {}", count(reads.len(), "read"), boxes(&reads)));
    ensure!(reads.len() < 5, "expected the proxy to merge writes 50 ms apart; the server read each alone");
    s.say("A pause works only while it is longer than every delay on the way, and no sender knows those.");
    Ok(())
}

/// Delimiter framing through the re-chunking proxy, round after round with a new seed: every
/// line (empty ones, UTF-8, every byte but the newline, 3000 bytes long) arrives exactly.
pub fn delimiter_framing_survives_any_rechunking(s: &mut Session) -> Result<()> {
    let mut server = s.server(&["--framing", "delimiter"])?;
    let mut messages = sample_messages();
    messages.retain(|m| !m.contains(&b'\n'));
    messages.push((0..=255u8).filter(|b| *b != b'\n').collect());
    through_the_proxy(s, &mut server, &messages, |m| [m, b"\n"].concat())
}

/// Delimiter framing with `--max 16`: alice sends 60 bytes with no newline; the server refuses
/// (a line on stderr) and closes her connection; bob's line is then decoded.
pub fn an_over_long_line_is_refused(s: &mut Session) -> Result<()> {
    let mut server = s.server(&["--framing", "delimiter", "--max", "16"])?;
    let mut alice = s.tcp("alice", server.addr())?;
    s.say("The server accepts lines of up to 16 bytes. alice sends 60 bytes and no newline.");
    alice.send(b"no newline here, and far more than sixteen bytes of it......")?;
    alice.expect_closed()?;
    let refusal = server.expect_stderr_line("why it refused alice", WAIT, |_| true)?;
    if s.is_reference() {
        ensure!(refusal.contains("line too long"), "expected the refusal to say `line too long`");
    }
    s.say("Waiting for a newline that may never come would let one peer grow the buffer without end.");
    let mut bob = s.tcp("bob", server.addr())?;
    bob.send(b"short\n")?;
    expect_messages(&mut server, &[b"short".to_vec()])?;
    Ok(())
}

/// Length framing through the re-chunking proxy: every message, with every byte value, newlines
/// and empty messages included, arrives exactly, in order.
pub fn length_framing_survives_any_rechunking(s: &mut Session) -> Result<()> {
    let mut server = s.server(&["--framing", "length"])?;
    let mut messages = sample_messages();
    messages.push((0..=255u8).collect());
    let frame = |m: &[u8]| [&(m.len() as u32).to_be_bytes()[..], m].concat();
    through_the_proxy(s, &mut server, &messages, frame)
}

/// Length framing with `--max 1024`: a header announcing 0xfffffff0 bytes is refused at once,
/// without waiting for (or allocating) the body; the next client's frame is decoded.
pub fn an_over_sized_length_is_refused_from_the_header(s: &mut Session) -> Result<()> {
    let mut server = s.server(&["--framing", "length", "--max", "1024"])?;
    let mut alice = s.tcp("alice", server.addr())?;
    s.say("alice's header announces 4,294,967,280 bytes; the limit is 1024. Three bytes follow, no more.");
    alice.send(b"\xff\xff\xff\xf0abc")?;
    alice.expect_closed()?;
    let refusal = server.expect_stderr_line("why it refused alice", WAIT, |_| true)?;
    if s.is_reference() {
        ensure!(refusal.contains("frame too large"), "expected the refusal to say `frame too large`");
    }
    s.say("The header alone decides: the server neither waits for 4 GB nor allocates room for them.");
    let mut bob = s.tcp("bob", server.addr())?;
    bob.send(b"\x00\x00\x00\x02hi")?;
    expect_messages(&mut server, &[b"hi".to_vec()])?;
    Ok(())
}

/// Length framing: alice sends a whole frame "hi", then a header for 5 bytes and only 2 of
/// them, and closes. "hi" is decoded; the rest is reported as `truncated: got 2 of 5 bytes`.
pub fn a_frame_cut_off_by_the_peer_is_reported(s: &mut Session) -> Result<()> {
    let mut server = s.server(&["--framing", "length"])?;
    let mut alice = s.tcp("alice", server.addr())?;
    s.say("alice sends the frame \"hi\", then a header for 5 bytes and only \"ab\", and closes.");
    alice.send(b"\x00\x00\x00\x02hi\x00\x00\x00\x05ab")?;
    alice.close();
    expect_messages(&mut server, &[b"hi".to_vec()])?;
    server.expect_stderr_line("`truncated: got 2 of 5 bytes`", WAIT, |line| {
        line.contains("truncated: got 2 of 5 bytes")
    })?;
    s.say("A half message at the end is an error to report: dropping it silently would lose it.");
    Ok(())
}

/// UDP, a slow reader: 50 datagrams sent back to back are 50 reads, each one datagram whole.
/// With `--read-size 16`, a 40-byte datagram is cut to 16 bytes, and the next read is the
/// next datagram: the other 24 bytes are gone, not waiting as they would on TCP.
pub fn udp_keeps_every_datagram_whole(s: &mut Session) -> Result<()> {
    let args = ["--transport", "udp", "--read-size", "16", "--read-delay", "5"];
    let mut server = s.server_on(Proto::Udp, &args)?;
    let alice = s.udp("alice")?;
    let datagrams: Vec<Vec<u8>> = (1..=50).map(|n| format!("{n};").into_bytes()).collect();
    s.say("alice sends 50 datagrams, 1; to 50;, back to back; the server waits 5 ms before each read.");
    s.say("(The datagrams and the server's 50 reads are recorded, not shown.)");
    let hush = s.transcript().hush();
    for datagram in &datagrams {
        alice.send_to(server.addr(), datagram)?;
    }
    let mut reads = read_bytes(&mut server, datagrams.concat().len())?;
    drop(hush);
    s.say(format!("50 datagrams, {}: {}", count(reads.len(), "read"), boxes(&reads)));
    // UDP does not promise order (loopback keeps it), so compare the sets.
    let mut sent = datagrams.clone();
    sent.sort();
    reads.sort();
    ensure!(reads == sent, "expected each read to be one whole datagram, as sent");

    s.say("Now one datagram of 40 bytes, then \"next\". The server reads into 16 bytes.");
    let big = b"0123456789abcdefghijklmnopqrstuvwxyz!?#*".to_vec();
    alice.send_to(server.addr(), &big)?;
    alice.send_to(server.addr(), b"next")?;
    let cut = next_box(&mut server, "recv")?;
    ensure!(cut == big[..16], "expected the first 16 bytes of the 40-byte datagram, got {}", boxed(&cut));
    let next = next_box(&mut server, "recv")?;
    ensure!(next == b"next", "expected the next read to be the datagram \"next\", got {}", boxed(&next));
    s.say("The next read is the next datagram: the other 24 bytes were thrown away, not kept for later.");
    Ok(())
}

/// Send `messages` framed by `frame` through a fresh proxy per round, and expect the server to
/// decode exactly them, in order. The first round is shown; the rest are recorded only.
fn through_the_proxy(
    s: &mut Session,
    server: &mut Role,
    messages: &[Vec<u8>],
    frame: impl Fn(&[u8]) -> Vec<u8>,
) -> Result<()> {
    let first = Rechunk::seed_from_env();
    let short: Vec<Vec<u8>> = vec![b"hello".to_vec(), "张三".into(), Vec::new(), b"world".to_vec()];
    s.say("First four short messages, one write each, through one proxy:");
    send_through_proxy(s, server, &short, &frame, first)?;
    s.say(format!(
        "Then {ROUNDS} more rounds of {} messages (empty ones, 3000-byte ones, every byte value), \
         a new seed each (recorded, not shown).",
        messages.len()
    ));
    let hush = s.transcript().hush();
    for round in 1..=ROUNDS {
        send_through_proxy(s, server, messages, &frame, first.wrapping_add(round))?;
    }
    drop(hush);
    server.expect_no_line("a message nobody sent", QUIET, |line| line.starts_with("message "))?;
    s.say(format!(
        "Every message of every round arrived exactly, in order, seeds {first} to {}.",
        first + ROUNDS
    ));
    Ok(())
}

fn send_through_proxy(
    s: &mut Session,
    server: &mut Role,
    messages: &[Vec<u8>],
    frame: &impl Fn(&[u8]) -> Vec<u8>,
    seed: u64,
) -> Result<()> {
    let proxy = s.proxy_with(server.addr(), Rechunk::new(seed))?;
    let mut alice = s.tcp("alice", proxy.addr())?;
    for message in messages {
        alice.send(&frame(message))?;
    }
    alice.close();
    expect_messages(server, messages).map_err(|e| e.context(format!("proxy seed {seed}")))
}

/// Messages of every kind a framing must carry: empty, text in two scripts, with a newline
/// (which line framing removes), and long enough to be cut many times.
fn sample_messages() -> Vec<Vec<u8>> {
    let mut messages: Vec<Vec<u8>> =
        vec![Vec::new(), b"hello".to_vec(), "张三 说：你好".into(), b"a\nb".to_vec()];
    for n in 0..20 {
        messages.push(format!("message {n} ").repeat(n * n / 2 + 1).into_bytes());
    }
    messages.push(b"x".repeat(3000));
    messages.push(Vec::new());
    messages
}

/// Start the lab's client with `args` and wait for it to finish sending.
fn send_with_client(s: &mut Session, server: std::net::SocketAddr, args: &[&str]) -> Result<()> {
    let address = server.to_string();
    let mut argv = vec!["--server", address.as_str()];
    argv.extend_from_slice(args);
    let mut client = s.role("client", "client", &argv)?;
    ensure!(client.wait_exit(WAIT)?.success(), "the lab's client failed; its stderr is in the transcript");
    Ok(())
}

/// The server's `recv` lines until they hold `total` bytes: each read's bytes.
fn read_bytes(server: &mut Role, total: usize) -> Result<Vec<Vec<u8>>> {
    let mut reads = Vec::new();
    let mut got = 0;
    while got < total {
        let read = next_box(server, "recv")?;
        got += read.len();
        reads.push(read);
    }
    Ok(reads)
}

/// The next `message` lines must be exactly `expected`.
fn expect_messages(server: &mut Role, expected: &[Vec<u8>]) -> Result<()> {
    for (number, want) in (1..).zip(expected) {
        let got = next_box(server, "message")?;
        if &got != want {
            bail!(
                "message {number} of {} should be {} ({} bytes)\n  but the server decoded {} ({} bytes)",
                expected.len(),
                boxed(want),
                want.len(),
                boxed(&got),
                got.len()
            );
        }
    }
    Ok(())
}

/// The bytes in the server's next `KIND [BYTES]` line.
fn next_box(server: &mut Role, kind: &str) -> Result<Vec<u8>> {
    let prefix = format!("{kind} ");
    let what = format!("a `{kind} ... [BYTES]` line");
    let line = server.expect_line(&what, WAIT, |line| line.starts_with(&prefix))?;
    match unbox(&line) {
        Some(bytes) => Ok(bytes),
        None => bail!("the server printed {line:?}, which has no well-formed [BYTES] box"),
    }
}

/// "1 read", "3 reads".
fn count(n: usize, thing: &str) -> String {
    if n == 1 { format!("1 {thing}") } else { format!("{n} {thing}s") }
}

/// Reads as the lesson shows them, `[hel][lowor][ld]`; a long row keeps its two ends.
fn boxes(reads: &[Vec<u8>]) -> String {
    let row: String = reads.iter().map(|read| boxed(read)).collect();
    let chars: Vec<char> = row.chars().collect();
    if chars.len() <= 160 {
        return row;
    }
    let head: String = chars[..100].iter().collect();
    let tail: String = chars[chars.len() - 40..].iter().collect();
    format!("{head} … {tail}")
}
