//! `requests`: N quick requests (`work 0 N`), each timed from the moment it is sent (and, with a
//! new connection each, from the connect) to its answer.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;

use crate::{kernel, protocol};

#[derive(clap::Args)]
pub struct Args {
    /// The server to send to.
    #[arg(long, alias = "to", value_parser = lab_common::address, default_value = "127.0.0.1:9500")]
    server: SocketAddr,
    #[arg(long, value_enum, default_value_t = Mode::TcpKeep)]
    mode: Mode,
    /// How many requests.
    #[arg(long, default_value_t = 1000)]
    count: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// A new TCP connection for each request: handshake, request, answer, close.
    TcpNew,
    /// One TCP connection for every request.
    TcpKeep,
    /// One datagram each way; no connection at all.
    Udp,
}

/// How long a UDP request waits for its answer before it counts as lost.
const UDP_WAIT: Duration = Duration::from_secs(1);

pub fn run(args: Args) -> Result<()> {
    let opens_before = kernel::active_opens();
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(args.count as usize);
    let mut connections = 0;
    let mut lost = 0;
    match args.mode {
        Mode::TcpNew => {
            for n in 0..args.count {
                let asked = Instant::now();
                // Each connect is a three-way handshake before the request can go, and each
                // close a four-way goodbye after; the client's side then waits in TIME_WAIT.
                let stream = connect(args.server)?;
                connections += 1;
                ask_over_tcp(&stream, &mut BufReader::new(&stream), n)?;
                latencies.push(asked.elapsed());
            }
        }
        Mode::TcpKeep => {
            let stream = connect(args.server)?;
            connections += 1;
            let mut reader = BufReader::new(&stream);
            for n in 0..args.count {
                let asked = Instant::now();
                ask_over_tcp(&stream, &mut reader, n)?;
                latencies.push(asked.elapsed());
            }
        }
        Mode::Udp => {
            let socket = UdpSocket::bind(lab_common::local_addr_for(args.server))?;
            socket.connect(args.server)?;
            for n in 0..args.count {
                let asked = Instant::now();
                match ask_over_udp(&socket, n)? {
                    true => latencies.push(asked.elapsed()),
                    false => lost += 1,
                }
            }
        }
    }
    let elapsed = started.elapsed();
    let opened = match (opens_before, kernel::active_opens()) {
        (Some(before), Some(after)) => format!(
            "ActiveOpens rose by {} while this ran (the whole machine's count: other programs' connects add to it)",
            after - before
        ),
        _ => "ActiveOpens not known here (/proc/net/snmp is Linux's)".to_string(),
    };
    let mode = args.mode.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default();
    latencies.sort();
    let answered = latencies.len();
    println!(
        "requests  {answered} of {} answered over {mode}, {connections} {} opened, {lost} lost",
        args.count,
        if connections == 1 { "connection" } else { "connections" }
    );
    println!(
        "latency   p50 {} µs, p90 {} µs, p99 {} µs, max {} µs; {:.0} requests/s",
        micros(percentile(&latencies, 50)),
        micros(percentile(&latencies, 90)),
        micros(percentile(&latencies, 99)),
        micros(latencies.last().copied().unwrap_or_default()),
        answered as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    println!("kernel    {opened}");
    println!(
        "summary mode={mode} count={} answered={answered} connections={connections} lost={lost} seconds={:.6} p50_us={} p99_us={}",
        args.count,
        elapsed.as_secs_f64(),
        micros(percentile(&latencies, 50)),
        micros(percentile(&latencies, 99)),
    );
    Ok(())
}

fn connect(server: SocketAddr) -> Result<TcpStream> {
    let stream = TcpStream::connect(server).with_context(|| format!("connecting to tcp://{server}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    // Each request is one small write awaiting its answer: Nagle's algorithm would hold it
    // back while an earlier segment is unacknowledged.
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// `work 0 N` on a TCP connection, and its answer `done N`.
fn ask_over_tcp(mut stream: &TcpStream, reader: &mut impl BufRead, n: u64) -> Result<()> {
    stream.write_all(format!("work 0 {n}\n").as_bytes()).with_context(|| format!("sending request {n}"))?;
    let answer =
        protocol::read_answer(reader).with_context(|| format!("waiting for the answer to request {n}"))?;
    let Some(answer) = answer else {
        bail!("the server closed the connection before answering request {n}");
    };
    let expected = format!("done {n}");
    if answer != expected {
        bail!("request {n} was answered {}, not {expected:?}", lab_common::show(answer.as_bytes()));
    }
    Ok(())
}

/// `work 0 N` as a datagram, and its answer; false when none came within [`UDP_WAIT`] of the
/// sending. An answer to an earlier request, come late, is passed over, and so is anything
/// else: what arrives meanwhile shortens the wait that is left, never restarts it.
fn ask_over_udp(socket: &UdpSocket, n: u64) -> Result<bool> {
    socket.send(format!("work 0 {n}").as_bytes()).with_context(|| format!("sending request {n}"))?;
    let deadline = Instant::now() + UDP_WAIT;
    let expected = format!("done {n}");
    let mut buf = [0; protocol::MAX_ANSWER];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        socket.set_read_timeout(Some(left))?;
        match socket.recv(&mut buf) {
            Ok(len) if buf[..len] == *expected.as_bytes() => return Ok(true),
            Ok(_) => continue,
            Err(error)
                if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
            {
                return Ok(false);
            }
            Err(error) => {
                return Err(error).with_context(|| format!("waiting for the answer to request {n}"));
            }
        }
    }
}

fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() * pct / 100).min(sorted.len() - 1)]
}

fn micros(duration: Duration) -> u128 {
    duration.as_micros()
}
