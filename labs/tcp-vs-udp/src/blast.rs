//! `blast`: numbered records to a sink as fast as the socket takes them, then the sink's
//! report beside what was sent, in iperf3's terms (bitrate, lost/total datagrams, jitter).

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::protocol::{self, Report};
use crate::{Proto, kernel};

#[derive(clap::Args)]
pub struct Args {
    /// The sink to send to.
    #[arg(long, alias = "to", value_parser = lab_common::address, default_value = "127.0.0.1:9500")]
    server: SocketAddr,
    #[arg(long, value_enum, default_value_t = Proto::Udp)]
    proto: Proto,
    /// How many records to send [default: 1000 over UDP; over TCP, as many as --bytes needs].
    #[arg(long, conflicts_with = "bytes")]
    count: Option<u64>,
    /// How many bytes to send, with K, M or G (powers of 1000) [default over TCP: 100M].
    #[arg(long, value_parser = with_unit)]
    bytes: Option<u64>,
    /// Bytes per record [default: 1400 over UDP, like one Ethernet frame; 128K over TCP, like
    /// iperf3's writes].
    #[arg(long, value_parser = with_unit)]
    size: Option<u64>,
    /// Bits per second, with K, M or G, like iperf3's -b [default: as fast as the socket takes them].
    #[arg(long, value_parser = with_unit)]
    rate: Option<u64>,
}

/// `64K`, `100M`, `1G` (powers of 1000, as iperf3 counts bits), or a plain number.
fn with_unit(text: &str) -> Result<u64, String> {
    let (number, unit) = match text.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((at, _)) => text.split_at(at),
        None => (text, ""),
    };
    let factor = match unit {
        "" => 1,
        "K" | "k" => 1_000,
        "M" | "m" => 1_000_000,
        "G" | "g" => 1_000_000_000,
        _ => return Err(format!("unknown unit {unit:?}: use K, M or G")),
    };
    let number: f64 = number.parse().map_err(|_| format!("{text:?} is not a number"))?;
    Ok((number * factor as f64) as u64)
}

pub fn run(args: Args) -> Result<()> {
    match args.proto {
        Proto::Udp => blast_udp(&args),
        Proto::Tcp => blast_tcp(&args),
    }
}

/// Sleeps until `sent` bytes are due at `rate` bits per second: iperf3's -b.
fn pace(rate: Option<u64>, started: Instant, sent: u64) {
    let Some(rate) = rate.filter(|r| *r > 0) else { return };
    let due = Duration::from_secs_f64(sent as f64 * 8.0 / rate as f64);
    if let Some(ahead) = due.checked_sub(started.elapsed()) {
        thread::sleep(ahead);
    }
}

fn blast_udp(args: &Args) -> Result<()> {
    let count = args.count.unwrap_or(1000);
    let size = args.size.unwrap_or(1400).clamp(32, 65_507) as usize;
    let socket = UdpSocket::bind(lab_common::local_addr_for(args.server))?;
    // A connected UDP socket still sends without asking anyone: connect only fixes the other
    // end, so that an ICMP "port unreachable" (nobody listens) is reported to us.
    socket.connect(args.server).with_context(|| format!("connecting to udp://{}", args.server))?;
    let started = Instant::now();
    for seq in 0..count {
        pace(args.rate, started, seq * size as u64);
        // sendto returns as soon as the datagram is handed to the network: on loopback it is
        // already in the sink's receive buffer, or already dropped. Nobody tells us which.
        socket
            .send(&protocol::data_record(seq, size, false))
            .with_context(|| format!("sending datagram {seq} to udp://{}", args.server))?;
    }
    let sending = started.elapsed();
    let report = ask_over_udp(&socket, count)?;
    // The records numbered up to the report the sink answered: received, or a gap.
    let total = report.received + report.gaps;
    let sent_bytes = count * size as u64;
    println!(
        "sent      {count} datagrams of {size} bytes ({}) in {:.3} s: {}; UDP has no flow control: nothing held the sender back for the sink",
        bytes(sent_bytes),
        sending.as_secs_f64(),
        bitrate(sent_bytes, sending)
    );
    let lost = total.saturating_sub(report.received);
    println!(
        "received  {} of {total} (the last is the report answered): lost {lost}/{total} ({:.1}%), jitter {}",
        report.received,
        percent(lost, total),
        report.jitter_ms.map_or("not reported".to_string(), |j| format!("{j:.3} ms"))
    );
    let agree = if report.drops == report.gaps { "the same as its gaps" } else { "NOT the same as its gaps" };
    println!(
        "kernel    dropped {} datagrams on the sink's socket, its receive buffer full (SO_RXQ_OVFL): {agree}",
        report.drops
    );
    println!(
        "summary proto=udp sent={count} bytes={sent_bytes} seconds={:.6} received={} total={total} lost={lost} gaps={} drops={} jitter_ms={}",
        sending.as_secs_f64(),
        report.received,
        report.gaps,
        report.drops,
        report.jitter_ms.unwrap_or(0.0)
    );
    Ok(())
}

/// Ask the sink for its report with `report SEQ`, SEQ following the last record sent, until
/// one is answered. A report may be dropped like any datagram (the sink may still be busy
/// with the backlog): each try has the next number, so a lost try is one more gap.
fn ask_over_udp(socket: &UdpSocket, count: u64) -> Result<Report> {
    socket.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut buf = [0; protocol::MAX_ANSWER];
    for seq in count..count + 50 {
        socket.send(format!("report {seq}").as_bytes())?;
        match socket.recv(&mut buf) {
            Ok(len) => {
                let text = String::from_utf8_lossy(&buf[..len]);
                let report = protocol::parse_report(&text)
                    .with_context(|| format!("the sink answered {text:?}, not a report"))?;
                return Ok(report);
            }
            Err(error)
                if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(error) => return Err(error).context("waiting for the sink's report"),
        }
    }
    bail!("the sink did not answer 50 report requests in 10 s")
}

/// What the sender saw of the window while it sent.
#[derive(Default)]
struct Windows {
    samples: u32,
    zero: u32,
    smallest: Option<u32>,
}

fn blast_tcp(args: &Args) -> Result<()> {
    let size = args.size.unwrap_or(128 * 1024).max(32) as usize;
    let count = args.count.unwrap_or_else(|| args.bytes.unwrap_or(100_000_000).div_ceil(size as u64));
    let mut stream =
        TcpStream::connect(args.server).with_context(|| format!("connecting to tcp://{}", args.server))?;
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = sample_window(stream.try_clone()?, sampling.clone());

    let started = Instant::now();
    let mut blocked = Duration::ZERO;
    for seq in 0..count {
        pace(args.rate, started, seq * size as u64);
        let record = protocol::data_record(seq, size, true);
        // write_all returns once every byte is in our kernel's send buffer. When that is full,
        // because the receiver's window is closed, it waits: that wait is flow control. The
        // time counted here is both: the copying, and the waiting.
        let writing = Instant::now();
        stream.write_all(&record).context("sending to the sink")?;
        blocked += writing.elapsed();
    }
    stream.write_all(format!("report {count}\n").as_bytes())?;
    let answer = protocol::read_answer(&mut BufReader::new(&stream))
        .context("waiting for the sink's report")?
        .context("the sink closed the connection before its report")?;
    let elapsed = started.elapsed();
    sampling.store(false, Ordering::SeqCst);
    let windows = sampler.join().unwrap_or_default();
    let info = kernel::tcp_info(&stream).unwrap_or_default();
    let report = protocol::parse_report(&answer)
        .with_context(|| format!("the sink answered {answer:?}, not a report"))?;

    let sent_bytes = count * size as u64;
    println!(
        "sent      {count} records of {size} bytes ({}) in {:.3} s, until the sink's report: {}",
        bytes(sent_bytes),
        elapsed.as_secs_f64(),
        bitrate(sent_bytes, elapsed)
    );
    let total = count + 1;
    println!(
        "received  {} of {total} (the last is the report answered), gaps {}: {}",
        report.received,
        report.gaps,
        if report.received == total { "nothing lost" } else { "SOMETHING WAS LOST" }
    );
    let limited =
        info.window_limited.map_or("not known here".to_string(), |d| format!("{:.3} s", d.as_secs_f64()));
    println!(
        "writing   write calls took {:.3} s of {:.3} s ({:.0}%: copying, and waiting for room); held back by the sink's window (TCP_INFO tcpi_rwnd_limited): {limited}",
        blocked.as_secs_f64(),
        elapsed.as_secs_f64(),
        100.0 * blocked.as_secs_f64() / elapsed.as_secs_f64().max(1e-9)
    );
    match windows.smallest {
        Some(smallest) => println!(
            "window    the sink advertised 0 bytes in {} of {} samples, every 2 ms (TCP_INFO tcpi_snd_wnd; smallest {smallest})",
            windows.zero, windows.samples
        ),
        None => println!("window    not known here (TCP_INFO tcpi_snd_wnd is Linux's, 5.4 and later)"),
    }
    println!(
        "summary proto=tcp sent={count} bytes={sent_bytes} seconds={:.6} received={} total={total} gaps={} writing_s={:.6} window_limited_s={:.6} zero_window_samples={}",
        elapsed.as_secs_f64(),
        report.received,
        report.gaps,
        blocked.as_secs_f64(),
        info.window_limited.unwrap_or_default().as_secs_f64(),
        windows.zero
    );
    Ok(())
}

/// Every 2 ms while sending, the window the sink advertised last, as our kernel knows it.
fn sample_window(stream: TcpStream, sampling: Arc<AtomicBool>) -> thread::JoinHandle<Windows> {
    thread::spawn(move || {
        let mut windows = Windows::default();
        while sampling.load(Ordering::SeqCst) {
            if let Ok(kernel::TcpInfo { peer_window: Some(window), .. }) = kernel::tcp_info(&stream) {
                windows.samples += 1;
                windows.zero += u32::from(window == 0);
                windows.smallest = Some(windows.smallest.map_or(window, |s| s.min(window)));
            }
            thread::sleep(Duration::from_millis(2));
        }
        windows
    })
}

fn percent(part: u64, whole: u64) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

/// Bytes as iperf3 prints them: MBytes are MiB.
pub fn bytes(count: u64) -> String {
    let count = count as f64;
    if count >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GBytes", count / (1024.0 * 1024.0 * 1024.0))
    } else if count >= 1024.0 * 1024.0 {
        format!("{:.2} MBytes", count / (1024.0 * 1024.0))
    } else {
        format!("{:.1} KBytes", count / 1024.0)
    }
}

/// Bits per second as iperf3 prints them: powers of 1000.
pub fn bitrate(bytes: u64, time: Duration) -> String {
    let bits = bytes as f64 * 8.0 / time.as_secs_f64().max(1e-9);
    if bits >= 1e9 { format!("{:.2} Gbits/sec", bits / 1e9) } else { format!("{:.1} Mbits/sec", bits / 1e6) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_units_as_iperf3_does() {
        assert_eq!(with_unit("100M"), Ok(100_000_000));
        assert_eq!(with_unit("1.5G"), Ok(1_500_000_000));
        assert_eq!(with_unit("1400"), Ok(1400));
        assert!(with_unit("3X").is_err());
    }
}
