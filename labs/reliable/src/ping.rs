//! The UDP pinger: a numbered ping, one at a time, and a deadline for its reply. UDP says
//! nothing about a lost datagram, so the deadline is all there is: a ping whose reply does not
//! come in time is counted lost, whether the ping or its reply was the one dropped.
//!
//! Each ping carries its number and a token drawn for it: `ping 3 5f1c9e0a`. A reply is
//! matched to its ping by those two words, not by its bytes, so the pinger works with any echo
//! server, even one that changes the text: Kurose and Ross's `UDPPingerServer.py` upper-cases
//! it (`PING 3 5F1C9E0A`). Such a reply is counted, and shown as not an exact echo. Nobody can
//! know a token before its ping is sent, so a datagram that was already waiting (the echo of an
//! earlier pinger's `ping 3` that had the same port, or a server's guess) is never counted as
//! the reply: a round trip cannot come out shorter than the real one.

use std::hash::{BuildHasher, RandomState};
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use lab_common::show;

pub fn ping(server: SocketAddr, count: u64, timeout: Duration) -> Result<()> {
    let local = lab_common::local_addr_for(server);
    let socket = UdpSocket::bind(local).with_context(|| format!("binding udp://{local}"))?;
    // Connected, so that a "port unreachable" from the server's machine is reported to us
    // (on Linux, an unconnected socket is not told: see udp(7), IP_RECVERR).
    socket.connect(server).with_context(|| format!("connecting the socket to udp://{server}"))?;
    let keys = RandomState::new();
    let mut tokens = Vec::new();
    eprintln!(
        "pinging udp://{server} from {}: {count} pings, {} ms each",
        socket.local_addr()?,
        timeout.as_millis()
    );
    let mut times: Vec<Duration> = Vec::new();
    let mut altered = 0;
    let mut late = 0;
    let mut buf = vec![0; 65_536];
    for number in 1..=count {
        tokens.push(token(&keys, number));
        let ping = format!("ping {number} {}", tokens[tokens.len() - 1]);
        let sent_at = Instant::now();
        socket.send(ping.as_bytes()).with_context(|| format!("sending to udp://{server}"))?;
        match wait_for_reply(&socket, &tokens, sent_at + timeout, &mut buf, &mut late)? {
            Reply::Came(bytes) => {
                let took = sent_at.elapsed();
                times.push(took);
                if bytes == ping.as_bytes() {
                    println!("reply to ping {number}: time {:.3} ms", millis(took));
                } else {
                    altered += 1;
                    println!(
                        "reply to ping {number}: time {:.3} ms, not an exact echo: {}",
                        millis(took),
                        show(&bytes)
                    );
                }
            }
            Reply::TimedOut => println!("ping {number}: timed out after {} ms", timeout.as_millis()),
            Reply::Refused => println!("ping {number}: refused: nothing listens there"),
        }
    }
    let lost = count - times.len() as u64;
    let altered = match altered {
        0 => String::new(),
        n => format!("; {n} of the replies not an exact echo"),
    };
    println!(
        "--- {count} pings, {} replies, {lost} lost ({:.0}% loss){altered}",
        times.len(),
        lost as f64 * 100.0 / count as f64
    );
    if times.is_empty() && late > 0 {
        bail!(
            "every reply came after its ping's time was up ({late} late): try a longer --timeout than {} ms",
            timeout.as_millis()
        );
    }
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

/// Eight hex digits for ping `number` that nobody can guess: std's `RandomState` holds keys
/// drawn from the operating system's random source, and hashes with them (SipHash).
fn token(keys: &RandomState, number: u64) -> String {
    format!("{:08x}", keys.hash_one(number) & 0xffff_ffff)
}

enum Reply {
    Came(Vec<u8>),
    TimedOut,
    Refused,
}

/// Wait until `due` for the reply to the last ping sent (`tokens` holds every ping's token, in
/// order). A reply to an earlier ping (come after its time was up, or a second copy) and
/// anything that is not a reply to a ping of this run are passed over, and said so on stderr;
/// `late` counts the replies to earlier pings.
fn wait_for_reply(
    socket: &UdpSocket,
    tokens: &[String],
    due: Instant,
    buf: &mut [u8],
    late: &mut usize,
) -> Result<Reply> {
    let number = tokens.len() as u64;
    loop {
        let left = due.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Reply::TimedOut);
        }
        socket.set_read_timeout(Some(left))?;
        match socket.recv(buf) {
            Ok(len) => match answers(&buf[..len], tokens) {
                Some(n) if n == number => return Ok(Reply::Came(buf[..len].to_vec())),
                Some(n) if n < number => {
                    *late += 1;
                    eprintln!("passed over a late reply to ping {n}: its time was up");
                }
                _ => eprintln!("passed over {}: not a reply to a ping of this run", show(&buf[..len])),
            },
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Ok(Reply::Refused),
            Err(e) => return Err(e).context("receiving a reply"),
        }
    }
}

/// The number of the ping that `reply` answers: the words `ping N TOKEN` anywhere in it, in
/// any case (a server may upper-case them, or add words around them), N a ping sent and TOKEN
/// its token.
fn answers(reply: &[u8], tokens: &[String]) -> Option<u64> {
    let text = String::from_utf8_lossy(reply).to_ascii_lowercase();
    let words: Vec<&str> = text.split_whitespace().collect();
    words.windows(3).find_map(|w| {
        let number: u64 = w[1].parse().ok()?;
        let token = tokens.get(usize::try_from(number).ok()?.checked_sub(1)?)?;
        (w[0] == "ping" && w[2] == token).then_some(number)
    })
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::answers;

    #[test]
    fn a_reply_is_matched_by_number_and_token_in_any_case() {
        let tokens = ["0badf00d", "00c0ffee", "5f1c9e0a"].map(String::from);
        assert_eq!(answers(b"ping 3 5f1c9e0a", &tokens), Some(3));
        assert_eq!(answers(b"PING 3 5F1C9E0A", &tokens), Some(3));
        assert_eq!(answers(b"echo: ping 1 0badf00d\n", &tokens), Some(1));
        assert_eq!(answers(b"ping 2 5f1c9e0a", &tokens), None, "ping 3's token on ping 2");
        assert_eq!(answers(b"ping 4 5f1c9e0a", &tokens), None, "a ping not sent yet");
        assert_eq!(answers(b"ping 0 5f1c9e0a", &tokens), None);
        assert_eq!(answers(b"ping 3", &tokens), None);
    }
}
