//! Benchmarks: figures printed, never asserted. Each lab's bench target (`cargo bench -p LAB`,
//! which `cargo lab bench LAB` runs) calls in here, built in release mode.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::out;
use crate::process::Role;
use crate::scenario::{Session, Target};
use crate::transcript::Transcript;

const ROUND_TRIPS: u32 = 20_000;
const BULK_BYTES: usize = 64 * 1024 * 1024;
const CROWD: usize = 500;

/// upper: lock-step round trips with and without TCP_NODELAY, bulk throughput, and how many
/// clients the threaded mode holds at once; next to a plain in-process echo loop as the
/// baseline for what loopback allows.
pub fn upper(binary: &Path) -> Result<()> {
    out!("upper benchmark: {ROUND_TRIPS} lock-step round trips of 16 bytes, then a 64 MiB stream\n");
    out!("{:<34} {:>14} {:>14} {:>12}", "server", "RTT nodelay", "RTT Nagle", "bulk");
    let baseline = plain_echo_server()?;
    row("plain read/write loop (baseline)", baseline)?;
    for mode in ["iterative", "threaded"] {
        let server = start(binary, mode)?;
        row(&format!("upper --mode {mode}"), server.addr())?;
    }

    let server = start(binary, "threaded")?;
    let held = crowd(server.addr(), CROWD)?;
    out!(
        "\nthreaded mode held {held} of {CROWD} clients connected at once, each answered while all were connected"
    );
    Ok(())
}

/// The lab's server in `mode`, started as the scenarios start it.
fn start(binary: &Path, mode: &str) -> Result<Role> {
    let target = Target::reference(&crate::labs::upper::LAB, binary);
    Session::new(&target, &Transcript::new()).server(&["--mode", mode])
}

fn row(label: &str, addr: SocketAddr) -> Result<()> {
    let nodelay = round_trip(addr, true)?;
    let nagle = round_trip(addr, false)?;
    let bulk = bulk(addr)?;
    out!(
        "{label:<34} {:>11.1} µs {:>11.1} µs {:>7.0} MB/s   ({:.0} and {:.0} round trips/s)",
        micros(nodelay),
        micros(nagle),
        bulk,
        1.0 / nodelay.as_secs_f64(),
        1.0 / nagle.as_secs_f64()
    );
    Ok(())
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// The mean time of one write-then-read-the-reply, after a warm-up.
fn round_trip(addr: SocketAddr, nodelay: bool) -> Result<Duration> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(nodelay)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let request = [b'x'; 16];
    let mut reply = [0; 16];
    let mut once = || -> Result<()> {
        stream.write_all(&request)?;
        stream.read_exact(&mut reply).context("reading a reply")
    };
    for _ in 0..1000 {
        once()?;
    }
    let started = Instant::now();
    for _ in 0..ROUND_TRIPS {
        once()?;
    }
    Ok(started.elapsed() / ROUND_TRIPS)
}

/// MB/s for 64 MiB sent on one thread and read back on another.
fn bulk(addr: SocketAddr) -> Result<f64> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut writer = stream.try_clone()?;
    let started = Instant::now();
    let sending = thread::spawn(move || -> std::io::Result<()> {
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..BULK_BYTES / chunk.len() {
            writer.write_all(&chunk)?;
        }
        Ok(())
    });
    let mut reader = stream;
    let mut buf = vec![0; 256 * 1024];
    let mut got = 0;
    while got < BULK_BYTES {
        match reader.read(&mut buf)? {
            0 => bail!("the server closed after {got} of {BULK_BYTES} bytes"),
            len => got += len,
        }
    }
    let elapsed = started.elapsed();
    sending.join().expect("the sending thread does not panic")?;
    Ok(BULK_BYTES as f64 / 1e6 / elapsed.as_secs_f64())
}

/// Connect `count` clients, keep them all connected, and have each get a reply. Returns how
/// many did before the first failure (a file-descriptor limit, say).
fn crowd(addr: SocketAddr, count: usize) -> Result<usize> {
    let mut clients = Vec::new();
    for _ in 0..count {
        match TcpStream::connect(addr) {
            Ok(stream) => clients.push(stream),
            Err(error) => {
                out!("connect number {} failed: {error}", clients.len() + 1);
                break;
            }
        }
    }
    let mut answered = 0;
    for client in &mut clients {
        client.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut reply = [0; 3];
        if client.write_all(b"hi\n").is_ok() && client.read_exact(&mut reply).is_ok() && &reply == b"HI\n" {
            answered += 1;
        }
    }
    Ok(answered)
}

/// The baseline: the simplest echo server there is, on a thread of this process.
fn plain_echo_server() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut buf = vec![0; 64 * 1024];
                while let Ok(len @ 1..) = stream.read(&mut buf) {
                    if stream.write_all(&buf[..len]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    Ok(addr)
}

const CONNECT_BURST: usize = 200;

/// backlog: where the backlog does matter. A burst of clients connecting all at once, faster
/// than the server accepts, against backlogs of 1, 8 and 128: how many got in at once and how
/// many waited for their kernel to send the SYN again. Then how many clients a backlog-1
/// server holds at once.
pub fn backlog(binary: &Path) -> Result<()> {
    out!(
        "backlog benchmark: {CONNECT_BURST} clients connect at the same moment to a server that accepts at once\n"
    );
    out!(
        "{:<10} {:>10} {:>22} {:>12} {:>12}",
        "backlog",
        "connected",
        "waited for a SYN retry",
        "median",
        "slowest"
    );
    for backlog in [1, 8, 128] {
        let server = start_backlog(binary, backlog)?;
        let mut times = burst(server.addr(), CONNECT_BURST)?;
        times.sort();
        let retried = times.iter().filter(|t| **t > Duration::from_millis(900)).count();
        let median = times.get(times.len() / 2).copied().unwrap_or_default();
        let slowest = times.last().copied().unwrap_or_default();
        out!(
            "{backlog:<10} {:>10} {retried:>22} {:>9.1} ms {:>9.1} ms",
            times.len(),
            micros(median) / 1000.0,
            micros(slowest) / 1000.0
        );
    }
    let server = start_backlog(binary, 1)?;
    let started = Instant::now();
    let held = hold(server.addr(), CROWD)?;
    out!(
        "\nbacklog 1 held {held} of {CROWD} clients connected at once, each answered again while all were \
         connected ({:.2} s in all)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Connect `count` clients one after another, each answered before the next connects (so the
/// queue never overflows), then have every one of them answered again while all are connected.
fn hold(addr: SocketAddr, count: usize) -> Result<usize> {
    let mut clients = Vec::new();
    let mut reply = [0; 3];
    for _ in 0..count {
        let mut client = match TcpStream::connect_timeout(&addr, Duration::from_secs(10)) {
            Ok(client) => client,
            Err(error) => {
                out!("connect number {} failed: {error}", clients.len() + 1);
                break;
            }
        };
        client.set_read_timeout(Some(Duration::from_secs(10)))?;
        client.write_all(b"hi\n")?;
        client.read_exact(&mut reply).context("reading a first reply")?;
        clients.push(client);
    }
    let mut answered = 0;
    for client in &mut clients {
        if client.write_all(b"hi\n").is_ok() && client.read_exact(&mut reply).is_ok() && &reply == b"HI\n" {
            answered += 1;
        }
    }
    Ok(answered)
}

fn start_backlog(binary: &Path, backlog: u32) -> Result<Role> {
    let target = Target::reference(&crate::labs::backlog::LAB, binary);
    Session::new(&target, &Transcript::new()).server(&[
        "--backlog",
        &backlog.to_string(),
        "--accept",
        "after",
        "0",
    ])
}

/// `count` threads connect at once; each connect's time, for those that connected within 10 s.
fn burst(addr: SocketAddr, count: usize) -> Result<Vec<Duration>> {
    let start = std::sync::Arc::new(std::sync::Barrier::new(count));
    let threads: Vec<_> = (0..count)
        .map(|_| {
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                let began = Instant::now();
                TcpStream::connect_timeout(&addr, Duration::from_secs(10))
                    .map(|stream| (began.elapsed(), stream))
            })
        })
        .collect();
    let mut times = Vec::new();
    let mut streams = Vec::new();
    for thread in threads {
        if let Ok((time, stream)) = thread.join().expect("a connecting thread does not panic") {
            times.push(time);
            streams.push(stream);
        }
    }
    Ok(times)
}

/// Members in each udp-group run, messages in each fan-out burst, and timed single messages.
const GROUP_SIZES: [usize; 3] = [10, 100, 1000];
const BURST: usize = 100;
const BURSTS: usize = 10;
const LATENCY_ROUNDS: usize = 50;

/// udp-group: how many deliveries per second the room's fan-out makes (one member sends a
/// burst, every member receives each message), and how long one message takes from its send
/// to the moment the last member has it, at 10, 100 and 1000 members.
pub fn udp_group(binary: &Path) -> Result<()> {
    out!(
        "udp-group benchmark: room mode on 127.0.0.1; member 0 sends, every member (sender included) receives.\n\
         Fan-out: {BURSTS} bursts of {BURST} messages sent back to back. Latency: {LATENCY_ROUNDS} single messages, each timed from\n\
         its send until the harness has read it at every member (one thread reads all the members' sockets).\n"
    );
    out!(
        "{:>8} {:>16} {:>8} {:>24} {:>20}",
        "members",
        "deliveries/s",
        "lost",
        "send → last, median",
        "send → last, worst"
    );
    for size in GROUP_SIZES {
        let target = Target::reference(&crate::labs::udp_group::LAB, binary);
        let server = Session::new(&target, &Transcript::new()).server(&[])?;
        let members = register_members(server.addr(), size)?;
        let (mut delivered, mut lost, mut took) = (0, 0, Duration::ZERO);
        for _ in 0..BURSTS {
            let (got, missing, time) = fan_out(server.addr(), &members)?;
            (delivered, lost, took) = (delivered + got, lost + missing, took + time);
        }
        let rate = delivered as f64 / took.as_secs_f64();
        let (median, worst) = latency(server.addr(), &members)?;
        out!("{size:>8} {rate:>16.0} {lost:>8} {:>21.1} µs {:>17.1} µs", micros(median), micros(worst));
    }
    Ok(())
}

/// `size` members, registered one by one; each join notice is read as it comes, so that no
/// member's buffer fills before the measuring starts.
fn register_members(server: SocketAddr, size: usize) -> Result<Vec<UdpSocket>> {
    let mut members: Vec<UdpSocket> = Vec::new();
    let mut buf = vec![0; 65_536];
    for number in 0..size {
        let member = UdpSocket::bind("127.0.0.1:0")?;
        member.set_nonblocking(true)?;
        member.send_to(format!("N m{number}").as_bytes(), server)?;
        let len = next_datagram(&member, &mut buf)?;
        if &buf[..len] != b"OK" {
            bail!("member {number} was not registered: {}", crate::transcript::show(&buf[..len]));
        }
        for earlier in &members {
            drain(earlier, &mut buf);
        }
        members.push(member);
    }
    sync(server, &members, "registered")?;
    Ok(members)
}

/// Member 0 says `tag`; every member reads up to it. Afterwards every buffer is empty.
fn sync(server: SocketAddr, members: &[UdpSocket], tag: &str) -> Result<()> {
    members[0].send_to(format!("M m0 {tag}").as_bytes(), server)?;
    let mut buf = vec![0; 65_536];
    for member in members {
        loop {
            let len = next_datagram(member, &mut buf)?;
            if buf[..len].ends_with(tag.as_bytes()) {
                break;
            }
        }
    }
    Ok(())
}

/// One burst: deliveries that came, deliveries that never came, and the time from the first
/// send to the last delivery.
fn fan_out(server: SocketAddr, members: &[UdpSocket]) -> Result<(usize, usize, Duration)> {
    let expected = BURST * members.len();
    let mut buf = vec![0; 65_536];
    let started = Instant::now();
    for number in 0..BURST {
        members[0].send_to(format!("M m0 burst {number}").as_bytes(), server)?;
    }
    let (mut got, mut last) = (0, Instant::now());
    // Sweep every member's socket until all have arrived, or nothing more has for a while
    // (then the rest were dropped: a full receive buffer somewhere).
    while got < expected && last.elapsed() < Duration::from_millis(500) {
        let before = got;
        for member in members {
            got += drain(member, &mut buf);
        }
        if got > before {
            last = Instant::now();
        }
    }
    let took = last.duration_since(started);
    sync(server, members, "after the burst")?;
    Ok((got, expected - got, took))
}

/// Median and worst time from one send to its receipt at the last member.
fn latency(server: SocketAddr, members: &[UdpSocket]) -> Result<(Duration, Duration)> {
    let mut buf = vec![0; 65_536];
    let mut times = Vec::new();
    for round in 0..LATENCY_ROUNDS {
        let started = Instant::now();
        members[0].send_to(format!("M m0 round {round}").as_bytes(), server)?;
        for member in members {
            next_datagram(member, &mut buf)?;
        }
        times.push(started.elapsed());
    }
    times.sort();
    Ok((times[times.len() / 2], times[times.len() - 1]))
}

/// The next datagram on a non-blocking socket, waited for (by polling) up to 10 seconds.
fn next_datagram(socket: &UdpSocket, buf: &mut [u8]) -> Result<usize> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match socket.recv(buf) {
            Ok(len) => return Ok(len),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::yield_now()
            }
            Err(e) => return Err(e).context("waiting for a datagram at a member"),
        }
    }
}

/// Read whatever is waiting, without waiting; returns how many datagrams.
fn drain(socket: &UdpSocket, buf: &mut [u8]) -> usize {
    let mut count = 0;
    while socket.recv(buf).is_ok() {
        count += 1;
    }
    count
}
