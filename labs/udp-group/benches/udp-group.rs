//! `cargo bench -p udp-group`, or `cargo lab bench udp-group`: the room's fan-out rate and
//! latency at 10, 200 and 1000 members, with each broadcast sent as a loop of `sendto` (the
//! lesson) and as one `sendmmsg` (`--broadcast batch`); next to a room in C that sends with
//! sendmmsg (`room.c`, built here with the system's `cc`), the reference for what one server
//! thread can do. The servers take turns, round after round, on the same members, and each
//! figure is the median of its rounds, so that whatever else the machine is doing weighs on
//! all of them alike. Nothing is asserted: the figures depend on the machine.

use std::mem::MaybeUninit;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use harness::bench::{CpuClock, compile_c, machine, median};
use harness::process::Role;
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

/// Members in each run; rounds (each server takes a turn in each); in each turn, a fan-out
/// burst of BURST messages and LATENCY_ROUNDS timed single messages.
const GROUP_SIZES: [usize; 3] = [10, 200, 1000];
const ROUNDS: usize = 9;
const BURST: usize = 100;
const LATENCY_ROUNDS: usize = 10;

const C_ROOM: &str = "C room, sendmmsg (reference)";

/// One server in the comparison, and its figures, a value per round.
struct Contender {
    label: &'static str,
    server: Role,
    /// Deliveries per second by the wall clock, and per second of the server's own CPU time.
    rates: Vec<f64>,
    per_cpu: Vec<f64>,
    lost: usize,
    median_latency: Vec<f64>,
    worst_latency: f64,
}

/// udp-group: how many deliveries per second the room's fan-out makes (one member sends a
/// burst, every member receives each message), and how long one message takes from its send
/// to the moment the last member has it.
pub fn udp_group(binary: &Path) -> Result<()> {
    harness::out!(
        "udp-group benchmark: room mode on 127.0.0.1; member 0 sends, every member (sender included) receives.\n\
         {ROUNDS} rounds, the servers taking turns in each, on the same members; medians of the rounds.\n\
         In each turn, fan-out: a burst of {BURST} messages sent back to back; latency: {LATENCY_ROUNDS} single\n\
         messages, each timed from its send until the harness has read it at every member (one thread reads all\n\
         the members' sockets, so its own reading is in every figure).\n\
         Machine: {}\n",
        machine()
    );
    let c_room = compile_c(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/room.c"),
        Path::new(env!("CARGO_TARGET_TMPDIR")),
    );
    if let Err(error) = &c_room {
        harness::out!("the C reference figures are missing: {error:#}\n");
    }
    harness::out!(
        "{:>7}  {:<28} {:>12} {:>6}  {:>15} {:>6} {:>5} {:>19} {:>19}",
        "members",
        "server",
        "deliveries/s",
        "vs C",
        "per CPU-second",
        "vs C",
        "lost",
        "send → last, median",
        "send → last, worst"
    );
    for size in GROUP_SIZES {
        let mut contenders = Vec::new();
        if let Ok(program) = &c_room {
            contenders.push(Contender::new(C_ROOM, start_c(program)?));
        }
        contenders.push(Contender::new("udp-group, loop of sendto", start(binary, "loop")?));
        contenders.push(Contender::new("udp-group --broadcast batch", start(binary, "batch")?));
        let members = register_members(&contenders, size)?;
        // Each round, each server takes a turn; who goes first moves on by one every round.
        for round in 0..ROUNDS {
            for turn in 0..contenders.len() {
                let next = (round + turn) % contenders.len();
                contenders[next].measure(&members)?;
            }
        }
        let reference = contenders.iter().find(|c| c.label == C_ROOM);
        for contender in &contenders {
            let (rate, per_cpu) = (median(&contender.rates), median(&contender.per_cpu));
            let (ratio, ratio_cpu) = match reference {
                Some(c) => (ratio(rate, median(&c.rates)), ratio(per_cpu, median(&c.per_cpu))),
                None => ("-".to_string(), "-".to_string()),
            };
            harness::out!(
                "{size:>7}  {:<28} {rate:>12.0} {ratio:>6}  {per_cpu:>15.0} {ratio_cpu:>6} {:>5} {:>16.1} µs {:>16.1} µs",
                contender.label,
                contender.lost,
                median(&contender.median_latency),
                contender.worst_latency,
            );
        }
    }
    harness::out!("\nafterwards: {}", machine());
    Ok(())
}

impl Contender {
    fn new(label: &'static str, server: Role) -> Contender {
        Contender {
            label,
            server,
            rates: Vec::new(),
            per_cpu: Vec::new(),
            lost: 0,
            median_latency: Vec::new(),
            worst_latency: 0.0,
        }
    }

    /// One turn: the fan-out burst, then the single messages.
    fn measure(&mut self, members: &[UdpSocket]) -> Result<()> {
        let burst = fan_out(&self.server, members)?;
        self.rates.push(burst.delivered as f64 / burst.took.as_secs_f64());
        if let Some(cpu) = burst.cpu {
            self.per_cpu.push(burst.delivered as f64 / cpu.as_secs_f64());
        }
        self.lost += burst.lost;
        let (median, worst) = latency(self.server.addr(), members)?;
        self.median_latency.push(micros(median));
        self.worst_latency = self.worst_latency.max(micros(worst));
        Ok(())
    }
}

/// The lab's server in room mode, its broadcast sent as `broadcast` says (loop or batch).
fn start(binary: &Path, broadcast: &str) -> Result<Role> {
    let target = Target::reference(&harness::labs::udp_group::LAB, binary);
    Session::new(&target, &Transcript::new()).server(&["--broadcast", broadcast])
}

/// The reference: `room.c`, compiled with the system's `cc`, started as a student's server
/// is (`--port N`, the ready line).
fn start_c(program: &Path) -> Result<Role> {
    let command = format!("{} --port {{port}}", harness::process::quote(&program.to_string_lossy()));
    let target = Target::command(&harness::labs::udp_group::LAB, env!("CARGO_BIN_EXE_udp-group"), &command);
    Session::new(&target, &Transcript::new()).server(&[])
}

/// `size` members, each registered with every contender in turn, one by one; each join notice
/// is read as it comes, so that no member's buffer fills before the measuring starts.
fn register_members(contenders: &[Contender], size: usize) -> Result<Vec<UdpSocket>> {
    let mut members = Vec::new();
    for _ in 0..size {
        let member = UdpSocket::bind("127.0.0.1:0")?;
        member.set_read_timeout(Some(Duration::from_secs(10)))?;
        members.push(member);
    }
    let mut buf = vec![0; 65_536];
    let mut unread = vec![MaybeUninit::uninit(); 65_536];
    for contender in contenders {
        let server = contender.server.addr();
        for (number, member) in members.iter().enumerate() {
            member.send_to(format!("N m{number}").as_bytes(), server)?;
            let len = next_datagram(member, &mut buf)?;
            if &buf[..len] != b"OK" {
                bail!(
                    "{}: member {number} was not registered: {}",
                    contender.label,
                    harness::transcript::show(&buf[..len])
                );
            }
            for earlier in &members[..number] {
                drain(earlier, &mut unread);
            }
        }
        sync(server, &members, "registered")?;
    }
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

/// What one burst came to.
struct Burst {
    delivered: usize,
    /// Deliveries that never came.
    lost: usize,
    /// From the first send to the last delivery.
    took: Duration,
    /// The CPU time the server used meanwhile, where it can be known.
    cpu: Option<Duration>,
}

/// One burst: member 0 sends BURST messages back to back, and every member reads them.
fn fan_out(server: &Role, members: &[UdpSocket]) -> Result<Burst> {
    let expected = BURST * members.len();
    let mut buf = vec![MaybeUninit::uninit(); 65_536];
    let cpu = CpuClock::start(server.pid());
    let server = server.addr();
    let started = Instant::now();
    for number in 0..BURST {
        members[0].send_to(format!("M m0 burst {number}").as_bytes(), server)?;
    }
    let (mut got, mut last) = (0, Instant::now());
    let mut order = Shuffle::new(members.len());
    // Sweep every member's socket until all have arrived, or nothing more has for 2 s: then
    // the rest count as lost (dropped at a full receive buffer, or a server that a very busy
    // machine left without a CPU for that long).
    while got < expected && last.elapsed() < Duration::from_secs(2) {
        let before = got;
        for &number in order.next() {
            got += drain(&members[number], &mut buf);
        }
        if got > before {
            last = Instant::now();
        }
    }
    let took = last.duration_since(started);
    let cpu = cpu.and_then(|clock| clock.elapsed());
    sync(server, members, "after the burst")?;
    Ok(Burst { delivered: got, lost: expected - got, took, cpu })
}

/// Median and worst time from one send to its receipt at the last member.
fn latency(server: SocketAddr, members: &[UdpSocket]) -> Result<(Duration, Duration)> {
    let mut buf = vec![0; 65_536];
    let mut times = Vec::new();
    let mut order = Shuffle::new(members.len());
    for round in 0..LATENCY_ROUNDS {
        let started = Instant::now();
        members[0].send_to(format!("M m0 round {round}").as_bytes(), server)?;
        for &number in order.next() {
            next_datagram(&members[number], &mut buf)?;
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

/// "0.93×"; "-" when either figure is missing.
fn ratio(ours: f64, reference: f64) -> String {
    if ours.is_nan() || reference.is_nan() { "-".to_string() } else { format!("{:.2}×", ours / reference) }
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// The order the harness reads the members in: a new one for every sweep. A server sends to
/// its members in some order of its own (the C room in the order they joined, the lab in its
/// hash map's); a reader going the same way as the sender would chase it, one datagram at a
/// time, and a reader going the other way would not: reading in a random order treats every
/// server alike.
struct Shuffle {
    order: Vec<usize>,
    state: u64,
}

impl Shuffle {
    fn new(len: usize) -> Shuffle {
        Shuffle { order: (0..len).collect(), state: 0x9e37_79b9_7f4a_7c15 }
    }

    /// The next order: a Fisher-Yates shuffle driven by xorshift64 (random enough for this).
    fn next(&mut self) -> &[usize] {
        for i in (1..self.order.len()).rev() {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            self.order.swap(i, (self.state % (i as u64 + 1)) as usize);
        }
        &self.order
    }
}
