//! `cargo bench -p upper`, or `cargo lab bench upper`: lock-step round trips with and without
//! TCP_NODELAY, bulk throughput, and how many clients the threaded mode holds at once; next to
//! a plain echo loop in C (`echo.c`, built here with the system's `cc`) as the reference for
//! what loopback allows. The servers take turns, round after round, and each figure is the
//! median of its rounds, so that whatever else the machine is doing weighs on all of them
//! alike. Nothing is asserted: the figures depend on the machine.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use harness::bench::{CpuClock, compile_c, machine, median};
use harness::process::Role;
use harness::transcript::Transcript;
use harness::{Session, Target};

fn main() -> ExitCode {
    match upper(Path::new(env!("CARGO_BIN_EXE_upper"))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

const ROUNDS: usize = 9;
const ROUND_TRIPS: u32 = 5_000;
const BULK_BYTES: usize = 128 * 1024 * 1024;
const CROWD: usize = 500;
const C_ECHO: &str = "plain echo loop in C (reference)";

/// One server in the comparison, and its figures, a value per round.
struct Contender {
    label: String,
    server: Role,
    nodelay: Vec<f64>,
    nagle: Vec<f64>,
    /// MB/s by the wall clock, and MB per second of the server's own CPU time.
    bulk: Vec<f64>,
    bulk_per_cpu: Vec<f64>,
}

/// upper: lock-step round trips with and without TCP_NODELAY, bulk throughput, and how many
/// clients the threaded mode holds at once; next to a plain echo loop in C, the reference for
/// what loopback allows.
pub fn upper(binary: &Path) -> Result<()> {
    harness::out!(
        "upper benchmark: {ROUNDS} rounds, the servers taking turns in each; per round {ROUND_TRIPS} lock-step round trips\n\
         of 16 bytes with and without TCP_NODELAY, then a {} MiB stream of ASCII text. Medians of the rounds.\n\
         Machine: {}\n",
        BULK_BYTES >> 20,
        machine()
    );
    let mut contenders = Vec::new();
    match c_echo() {
        Ok(server) => contenders.push(Contender::new(C_ECHO, server)),
        Err(error) => harness::out!("the C reference figures are missing: {error:#}\n"),
    }
    for mode in ["iterative", "threaded"] {
        contenders.push(Contender::new(&format!("upper --mode {mode}"), start(binary, mode)?));
    }
    // Each round, each server takes a turn; who goes first moves on by one every round.
    for round in 0..ROUNDS {
        for turn in 0..contenders.len() {
            let next = (round + turn) % contenders.len();
            contenders[next].measure()?;
        }
    }

    harness::out!(
        "{:<34} {:>12} {:>12} {:>11} {:>6}   {:>15} {:>6}",
        "server",
        "RTT nodelay",
        "RTT Nagle",
        "bulk",
        "vs C",
        "bulk per CPU-s",
        "vs C"
    );
    let reference = contenders.first().filter(|c| c.label == C_ECHO);
    for contender in &contenders {
        let (bulk, per_cpu) = (median(&contender.bulk), median(&contender.bulk_per_cpu));
        let (ratio, ratio_cpu) = match reference {
            Some(c) => (ratio(bulk, median(&c.bulk)), ratio(per_cpu, median(&c.bulk_per_cpu))),
            None => ("-".to_string(), "-".to_string()),
        };
        harness::out!(
            "{:<34} {:>9.1} µs {:>9.1} µs {:>6.0} MB/s {ratio:>6}   {:>10.0} MB/s {ratio_cpu:>6}   (bulk {:.0}–{:.0} MB/s)",
            contender.label,
            median(&contender.nodelay),
            median(&contender.nagle),
            bulk,
            per_cpu,
            min(&contender.bulk),
            max(&contender.bulk),
        );
    }
    harness::out!("\nafterwards: {}", machine());

    let server = start(binary, "threaded")?;
    let held = crowd(server.addr(), CROWD)?;
    harness::out!(
        "\nthreaded mode held {held} of {CROWD} clients connected at once, each answered while all were connected"
    );
    Ok(())
}

impl Contender {
    fn new(label: &str, server: Role) -> Contender {
        Contender {
            label: label.to_string(),
            server,
            nodelay: Vec::new(),
            nagle: Vec::new(),
            bulk: Vec::new(),
            bulk_per_cpu: Vec::new(),
        }
    }

    /// One round: round trips with and without TCP_NODELAY (in µs), then the stream (in MB/s,
    /// and in MB per second of CPU time the server used for it).
    fn measure(&mut self) -> Result<()> {
        let addr = self.server.addr();
        self.nodelay.push(micros(round_trip(addr, true)?));
        self.nagle.push(micros(round_trip(addr, false)?));
        let cpu = CpuClock::start(self.server.pid());
        let (rate, took) = bulk(addr).with_context(|| format!("streaming through {}", self.label))?;
        self.bulk.push(rate);
        if let Some(used) = cpu.and_then(|clock| clock.elapsed()) {
            self.bulk_per_cpu.push(rate * took.as_secs_f64() / used.as_secs_f64());
        }
        Ok(())
    }
}

/// The lab's server in `mode`, started as the scenarios start it.
fn start(binary: &Path, mode: &str) -> Result<Role> {
    let target = Target::reference(&harness::labs::upper::LAB, binary);
    Session::new(&target, &Transcript::new()).server(&["--mode", mode])
}

/// The reference: `echo.c`, compiled now with the system's `cc`, started as a student's server
/// is (`--port N`, the ready line).
fn c_echo() -> Result<Role> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/echo.c");
    let program = compile_c(&source, Path::new(env!("CARGO_TARGET_TMPDIR")))?;
    let command = format!("{} --port {{port}}", harness::process::quote(&program.to_string_lossy()));
    let target = Target::command(&harness::labs::upper::LAB, env!("CARGO_BIN_EXE_upper"), &command);
    Session::new(&target, &Transcript::new()).server(&[])
}

/// "0.93×"; "-" when either figure is missing.
fn ratio(ours: f64, reference: f64) -> String {
    if ours.is_nan() || reference.is_nan() { "-".to_string() } else { format!("{:.2}×", ours / reference) }
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
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

/// MB/s for BULK_BYTES of ASCII text sent on one thread and read back on another, and how
/// long it took.
fn bulk(addr: SocketAddr) -> Result<(f64, Duration)> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut writer = stream.try_clone()?;
    let started = Instant::now();
    let sending = thread::spawn(move || -> std::io::Result<()> {
        // 64 bytes a line, 1024 lines: 64 KiB of lower-case ASCII text a write.
        let chunk = b"the quick brown fox jumps over the lazy dog, 1234567890 times!!\n".repeat(1024);
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
    Ok((BULK_BYTES as f64 / 1e6 / elapsed.as_secs_f64(), elapsed))
}

/// Connect `count` clients, keep them all connected, and have each get a reply. Returns how
/// many did before the first failure (a file-descriptor limit, say).
fn crowd(addr: SocketAddr, count: usize) -> Result<usize> {
    let mut clients = Vec::new();
    for _ in 0..count {
        match TcpStream::connect(addr) {
            Ok(stream) => clients.push(stream),
            Err(error) => {
                harness::out!("connect number {} failed: {error}", clients.len() + 1);
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
