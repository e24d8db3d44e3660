//! `cargo bench -p udp-group`, or `cargo lab bench udp-group`: the room's fan-out rate and
//! latency at 10, 100 and 1000 members. Nothing is asserted: the figures depend on the machine.

use std::mem::MaybeUninit;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use harness::transcript::Transcript;
use harness::{Session, Target};

fn main() -> ExitCode {
    match udp_group(Path::new(env!("CARGO_BIN_EXE_udp-group"))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
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
    harness::out!(
        "udp-group benchmark: room mode on 127.0.0.1; member 0 sends, every member (sender included) receives.\n\
         Fan-out: {BURSTS} bursts of {BURST} messages sent back to back. Latency: {LATENCY_ROUNDS} single messages, each timed from\n\
         its send until the harness has read it at every member (one thread reads all the members' sockets).\n"
    );
    harness::out!(
        "{:>8} {:>16} {:>8} {:>24} {:>20}",
        "members",
        "deliveries/s",
        "lost",
        "send → last, median",
        "send → last, worst"
    );
    for size in GROUP_SIZES {
        let target = Target::reference(&harness::labs::udp_group::LAB, binary);
        let server = Session::new(&target, &Transcript::new()).server(&[])?;
        let members = register_members(server.addr(), size)?;
        let (mut delivered, mut lost, mut took) = (0, 0, Duration::ZERO);
        for _ in 0..BURSTS {
            let (got, missing, time) = fan_out(server.addr(), &members)?;
            (delivered, lost, took) = (delivered + got, lost + missing, took + time);
        }
        let rate = delivered as f64 / took.as_secs_f64();
        let (median, worst) = latency(server.addr(), &members)?;
        harness::out!(
            "{size:>8} {rate:>16.0} {lost:>8} {:>21.1} µs {:>17.1} µs",
            micros(median),
            micros(worst)
        );
    }
    Ok(())
}

/// `size` members, registered one by one; each join notice is read as it comes, so that no
/// member's buffer fills before the measuring starts.
fn register_members(server: SocketAddr, size: usize) -> Result<Vec<UdpSocket>> {
    let mut members: Vec<UdpSocket> = Vec::new();
    let mut buf = vec![0; 65_536];
    let mut unread = vec![MaybeUninit::uninit(); 65_536];
    for number in 0..size {
        let member = UdpSocket::bind("127.0.0.1:0")?;
        member.set_read_timeout(Some(Duration::from_secs(10)))?;
        member.send_to(format!("N m{number}").as_bytes(), server)?;
        let len = next_datagram(&member, &mut buf)?;
        if &buf[..len] != b"OK" {
            bail!("member {number} was not registered: {}", harness::transcript::show(&buf[..len]));
        }
        for earlier in &members {
            drain(earlier, &mut unread);
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
    let mut buf = vec![MaybeUninit::uninit(); 65_536];
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

/// The next datagram, waited for up to 10 seconds (each member's socket has that read
/// timeout).
fn next_datagram(socket: &UdpSocket, buf: &mut [u8]) -> Result<usize> {
    socket.recv(buf).context("waiting for a datagram at a member")
}

/// Read whatever is waiting, without waiting; returns how many datagrams.
fn drain(socket: &UdpSocket, buf: &mut [MaybeUninit<u8>]) -> usize {
    let socket = socket2::SockRef::from(socket);
    let mut count = 0;
    while socket.recv_with_flags(buf, libc::MSG_DONTWAIT).is_ok() {
        count += 1;
    }
    count
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}
