//! The UDP pinger: a numbered ping, one at a time, and a deadline for its echo. UDP says
//! nothing about a lost datagram, so the deadline is all there is: a ping whose echo does not
//! come in time is counted lost, whether the ping or its echo was the one dropped.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use lab_common::show;

pub fn ping(server: SocketAddr, count: u64, timeout: Duration) -> Result<()> {
    let local = lab_common::local_addr_for(server);
    let socket = UdpSocket::bind(local).with_context(|| format!("binding udp://{local}"))?;
    // Connected, so that a "port unreachable" from the server's machine is reported to us.
    socket.connect(server).with_context(|| format!("connecting the socket to udp://{server}"))?;
    eprintln!(
        "pinging udp://{server} from {}: {count} pings, {} ms each",
        socket.local_addr()?,
        timeout.as_millis()
    );
    let mut times: Vec<Duration> = Vec::new();
    let mut buf = vec![0; 65_536];
    for number in 1..=count {
        let ping = format!("ping {number}");
        let sent_at = Instant::now();
        socket.send(ping.as_bytes()).with_context(|| format!("sending to udp://{server}"))?;
        match wait_for_echo(&socket, ping.as_bytes(), sent_at + timeout, &mut buf)? {
            Echo::Came => {
                let took = sent_at.elapsed();
                times.push(took);
                println!("reply to {ping}: time {:.3} ms", millis(took));
            }
            Echo::TimedOut => println!("{ping}: timed out after {} ms", timeout.as_millis()),
            Echo::Refused => println!("{ping}: refused: nothing listens there"),
        }
    }
    let lost = count - times.len() as u64;
    println!(
        "--- {count} pings, {} replies, {lost} lost ({:.0}% loss)",
        times.len(),
        lost as f64 * 100.0 / count as f64
    );
    if times.is_empty() {
        bail!(
            "no reply to any of {count} pings: is an echo server (or a receiver) running at udp://{server}?"
        );
    }
    let (min, max) =
        (times.iter().min().copied().unwrap_or_default(), times.iter().max().copied().unwrap_or_default());
    let avg = times.iter().sum::<Duration>() / times.len() as u32;
    println!("rtt min/avg/max = {:.3}/{:.3}/{:.3} ms", millis(min), millis(avg), millis(max));
    Ok(())
}

enum Echo {
    Came,
    TimedOut,
    Refused,
}

/// Wait until `due` for the echo of `ping`. The echo of an earlier ping, come too late, is
/// not this one's, and is passed over.
fn wait_for_echo(socket: &UdpSocket, ping: &[u8], due: Instant, buf: &mut [u8]) -> Result<Echo> {
    loop {
        let left = due.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Echo::TimedOut);
        }
        socket.set_read_timeout(Some(left))?;
        match socket.recv(buf) {
            Ok(len) if &buf[..len] == ping => return Ok(Echo::Came),
            Ok(len) => eprintln!("passed over {}: not the echo of this ping", show(&buf[..len])),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Ok(Echo::Refused),
            Err(e) => return Err(e).context("receiving an echo"),
        }
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
