//! `cargo bench -p backlog`, or `cargo lab bench backlog`: a burst of clients against small and
//! large backlogs, and how many clients a backlog-1 server holds. Nothing is asserted: the
//! figures depend on the machine.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use harness::process::Role;
use harness::transcript::Transcript;
use harness::{Session, Target};

fn main() -> ExitCode {
    match backlog(Path::new(env!("CARGO_BIN_EXE_backlog"))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

const CONNECT_BURST: usize = 200;
const CROWD: usize = 500;

/// backlog: where the backlog does matter. A burst of clients connecting all at once, faster
/// than the server accepts, against backlogs of 1, 8 and 128: how many got in at once and how
/// many waited for their kernel to send the SYN again. Then how many clients a backlog-1
/// server holds at once.
pub fn backlog(binary: &Path) -> Result<()> {
    harness::out!(
        "backlog benchmark: {CONNECT_BURST} clients connect at the same moment to a server that accepts at once\n"
    );
    harness::out!(
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
        harness::out!(
            "{backlog:<10} {:>10} {retried:>22} {:>9.1} ms {:>9.1} ms",
            times.len(),
            micros(median) / 1000.0,
            micros(slowest) / 1000.0
        );
    }
    let server = start_backlog(binary, 1)?;
    let started = Instant::now();
    let held = hold(server.addr(), CROWD)?;
    harness::out!(
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
                harness::out!("connect number {} failed: {error}", clients.len() + 1);
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
    let target = Target::reference(&harness::labs::backlog::LAB, binary);
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

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}
