//! `cargo bench -p upper`, or `cargo lab bench upper`: lock-step round trips with and without
//! TCP_NODELAY, bulk throughput, and how many clients the threaded mode holds at once; next to a
//! plain in-process echo loop as the baseline for what loopback allows. Nothing is asserted:
//! the figures depend on the machine.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
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

const ROUND_TRIPS: u32 = 20_000;
const BULK_BYTES: usize = 64 * 1024 * 1024;
const CROWD: usize = 500;
/// upper: lock-step round trips with and without TCP_NODELAY, bulk throughput, and how many
/// clients the threaded mode holds at once; next to a plain in-process echo loop as the
/// baseline for what loopback allows.
pub fn upper(binary: &Path) -> Result<()> {
    harness::out!("upper benchmark: {ROUND_TRIPS} lock-step round trips of 16 bytes, then a 64 MiB stream\n");
    harness::out!("{:<34} {:>14} {:>14} {:>12}", "server", "RTT nodelay", "RTT Nagle", "bulk");
    let baseline = plain_echo_server()?;
    row("plain read/write loop (baseline)", baseline)?;
    for mode in ["iterative", "threaded"] {
        let server = start(binary, mode)?;
        row(&format!("upper --mode {mode}"), server.addr())?;
    }

    let server = start(binary, "threaded")?;
    let held = crowd(server.addr(), CROWD)?;
    harness::out!(
        "\nthreaded mode held {held} of {CROWD} clients connected at once, each answered while all were connected"
    );
    Ok(())
}

/// The lab's server in `mode`, started as the scenarios start it.
fn start(binary: &Path, mode: &str) -> Result<Role> {
    let target = Target::reference(&harness::labs::upper::LAB, binary);
    Session::new(&target, &Transcript::new()).server(&["--mode", mode])
}

fn row(label: &str, addr: SocketAddr) -> Result<()> {
    let nodelay = round_trip(addr, true)?;
    let nagle = round_trip(addr, false)?;
    let bulk = bulk(addr)?;
    harness::out!(
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
