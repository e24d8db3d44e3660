//! A re-chunking TCP proxy: put it between a client and a server, and the bytes arrive in
//! other pieces than they were written in, as a real network may deliver them. It merges
//! writes (it holds bytes for a moment and forwards them together) and splits them (it forwards
//! at most a random number of bytes at a time, 1 to 4096, with a small pause after each), in
//! both directions, never changing, dropping or reordering a byte.
//!
//! Everything random comes from one seed, printed in the transcript. `LAB_PROXY_SEED=N` in the
//! environment fixes it, to replay a failure: the sizes and pauses repeat exactly (how they meet
//! the other side's timing may still vary a little).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::transcript::{Event, Proto, Transcript};

/// The environment variable that fixes the seed of every proxy a scenario starts.
pub const SEED_VAR: &str = "LAB_PROXY_SEED";

/// How the proxy cuts the stream.
#[derive(Clone, Debug)]
pub struct Rechunk {
    pub seed: u64,
    /// How many bytes one forwarded piece may hold at most, chosen afresh for each piece.
    pub sizes: RangeInclusive<usize>,
    /// How long to hold the first bytes of a piece for more to join them, and to pause after
    /// forwarding it; chosen afresh each time.
    pub delays: RangeInclusive<Duration>,
}

impl Rechunk {
    /// Pieces of 1 to 4096 bytes, held and paused for up to 2 ms.
    pub fn new(seed: u64) -> Rechunk {
        Rechunk { seed, sizes: 1..=4096, delays: Duration::ZERO..=Duration::from_millis(2) }
    }

    /// The seed from `LAB_PROXY_SEED`, or a fresh one from the clock.
    pub fn seed_from_env() -> u64 {
        match std::env::var(SEED_VAR).ok().and_then(|text| text.trim().parse().ok()) {
            Some(seed) => seed,
            None => {
                let now =
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                Rng::new(now.as_nanos() as u64 ^ u64::from(std::process::id())).next() % 1_000_000
            }
        }
    }
}

/// A running proxy. Dropping it stops it and cuts every connection through it.
pub struct Proxy {
    addr: SocketAddr,
    stopped: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    /// Listen on a free loopback port; each connection to it gets one to `upstream`.
    pub fn start(upstream: SocketAddr, rechunk: Rechunk, transcript: &Transcript) -> Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the proxy on 127.0.0.1")?;
        let addr = listener.local_addr()?;
        transcript.name(addr, "proxy");
        let stopped = Arc::new(AtomicBool::new(false));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let (stop, open, transcript) = (stopped.clone(), streams.clone(), transcript.clone());
        thread::spawn(move || {
            for (number, client) in (0u64..).zip(listener.incoming()) {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    // Nobody upstream: the client sees its connection closed, as through a
                    // real proxy.
                    continue;
                };
                // For a capture's comments (harness::capture): the proxy's end toward the server.
                if let Ok(local) = server.local_addr() {
                    transcript.name(local, "proxy");
                }
                let seed = rechunk.seed.wrapping_add(number.wrapping_mul(2));
                let _ = relay(&client, &server, Rechunk { seed, ..rechunk.clone() }, &transcript, &open);
                let _ = relay(
                    &server,
                    &client,
                    Rechunk { seed: seed.wrapping_add(1), ..rechunk.clone() },
                    &transcript,
                    &open,
                );
            }
        });
        Ok(Proxy { addr, stopped, streams })
    }

    /// Where clients connect to reach the server through the proxy.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag and ends.
        let _ = TcpStream::connect(self.addr);
        for stream in self.streams.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// Start a thread that copies `from` to `to` in re-cut pieces.
fn relay(
    from: &TcpStream,
    to: &TcpStream,
    rechunk: Rechunk,
    transcript: &Transcript,
    open: &Mutex<Vec<TcpStream>>,
) -> Result<()> {
    let (from, to) = (from.try_clone()?, to.try_clone()?);
    open.lock().unwrap_or_else(|p| p.into_inner()).extend([from.try_clone()?, to.try_clone()?]);
    let transcript = transcript.clone();
    thread::spawn(move || {
        let who_to = transcript.who(to.peer_addr().unwrap_or(([0, 0, 0, 0], 0).into()));
        let mut rng = Rng::new(rechunk.seed);
        loop {
            let size = rng.size(&rechunk.sizes);
            let hold = rng.delay(&rechunk.delays);
            let (piece, ended) = read_piece(&from, size, hold);
            if !piece.is_empty() {
                transcript.record(Event::Wire {
                    from: "proxy".into(),
                    to: who_to.clone(),
                    proto: Proto::Tcp,
                    bytes: piece.clone(),
                });
                if (&to).write_all(&piece).is_err() {
                    break;
                }
                thread::sleep(rng.delay(&rechunk.delays));
            }
            if ended {
                break;
            }
        }
        // Pass the end on: a FIN becomes a FIN (a half-close stays a half-close).
        let _ = to.shutdown(Shutdown::Write);
    });
    Ok(())
}

/// Up to `size` bytes: wait for the first, then gather more for up to `hold`. True when the
/// stream has ended (or failed) after these bytes.
fn read_piece(from: &TcpStream, size: usize, hold: Duration) -> (Vec<u8>, bool) {
    let mut piece = vec![0; size];
    let mut len = 0;
    let mut deadline: Option<Instant> = None;
    while len < size {
        let timeout = match deadline {
            None => None,
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => break,
            },
        };
        if from.set_read_timeout(timeout).is_err() {
            return (piece[..len].to_vec(), true);
        }
        match (&*from).read(&mut piece[len..]) {
            Ok(0) => return (piece[..len].to_vec(), true),
            Ok(got) => {
                len += got;
                deadline.get_or_insert_with(|| Instant::now() + hold);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return (piece[..len].to_vec(), true),
        }
    }
    piece.truncate(len);
    (piece, false)
}

/// splitmix64: a small, seeded pseudo-random generator, plenty for cutting a stream.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A size in `range`, spread evenly over the powers of two: a 1-byte piece is as likely
    /// as one of a few kilobytes, so that small cuts are common.
    fn size(&mut self, range: &RangeInclusive<usize>) -> usize {
        let (low, high) = (*range.start(), *range.end());
        let bits = usize::BITS - high.leading_zeros();
        let top = 1usize << self.below(u64::from(bits));
        let size = top + self.below(top as u64) as usize;
        size.clamp(low, high)
    }

    fn delay(&mut self, range: &RangeInclusive<Duration>) -> Duration {
        let (low, high) = (range.start().as_micros() as u64, range.end().as_micros() as u64);
        Duration::from_micros(low + self.below(high - low + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes stay in range and cover small and large pieces; the same seed repeats them.
    #[test]
    fn sizes_cover_the_range_and_repeat_with_the_seed() {
        let mut rng = Rng::new(7);
        let sizes: Vec<usize> = (0..2000).map(|_| rng.size(&(1..=4096))).collect();
        assert!(sizes.iter().all(|s| (1..=4096).contains(s)));
        assert!(sizes.contains(&1));
        assert!(sizes.iter().any(|s| *s > 2048));
        let mut again = Rng::new(7);
        assert!(sizes.iter().all(|s| *s == again.size(&(1..=4096))));
    }

    /// Whatever the cuts, every byte arrives, in order, and the end is passed on.
    #[test]
    fn bytes_pass_through_unchanged() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let transcript = Transcript::new();
        let proxy = Proxy::start(server.local_addr().unwrap(), Rechunk::new(42), &transcript).unwrap();
        let mut client = TcpStream::connect(proxy.addr()).unwrap();
        // accept gives up after the listening socket's receive timeout (Linux).
        socket2::SockRef::from(&server).set_read_timeout(Some(crate::WAIT)).unwrap();
        let (mut upstream, _) = server.accept().unwrap();
        upstream.set_read_timeout(Some(crate::WAIT)).unwrap();
        let sent: Vec<u8> = (0..20_000u32).map(|n| (n % 251) as u8).collect();
        client.write_all(&sent).unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        upstream.read_to_end(&mut got).unwrap();
        assert_eq!(got, sent);
    }
}
