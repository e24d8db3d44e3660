//! A tap: a relay between one of the lab's own clients and the server under test that records
//! every byte crossing it, so that a failure seen only in what the client printed still shows
//! what reached the client (the server's reply without its newline, say). Unlike the proxy it
//! changes nothing: each read is passed on at once, whole.
//!
//! Put a tap in only once the server is running: through a tap, a client never sees a refusal
//! (the tap is always there to answer), which some scenarios are about.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::transcript::{Dropped, Event, Proto, Transcript};

/// How often a tap's threads look whether the tap is gone.
const LOOK: Duration = Duration::from_millis(100);

/// A running tap. Dropping it stops it and cuts whatever goes through it.
pub struct Tap {
    addr: SocketAddr,
    stopped: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    accepted: Arc<AtomicUsize>,
}

impl Tap {
    /// A tap for `who` (a client role) in front of `server`, over `proto`.
    pub fn start(proto: Proto, server: SocketAddr, who: &str, transcript: &Transcript) -> Result<Tap> {
        let stopped = Arc::new(AtomicBool::new(false));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let addr = match proto {
            Proto::Tcp => tcp(server, who, transcript, &stopped, &streams, &accepted)?,
            Proto::Udp => udp(server, who, transcript, &stopped)?,
        };
        Ok(Tap { addr, stopped, streams, accepted })
    }

    /// How many TCP connections the tap has accepted from the client so far: the connections
    /// the client opened, counted where no other program's connections can add to the count.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Where the client is to send, to reach the server through the tap.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        for stream in self.streams.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn tcp(
    server: SocketAddr,
    who: &str,
    transcript: &Transcript,
    stopped: &Arc<AtomicBool>,
    streams: &Arc<Mutex<Vec<TcpStream>>>,
    accepted: &Arc<AtomicUsize>,
) -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a tap on 127.0.0.1")?;
    // Linux gives up a blocked accept after the listening socket's receive timeout: the loop
    // looks whether the tap is gone that often.
    socket2::SockRef::from(&listener).set_read_timeout(Some(LOOK))?;
    let addr = listener.local_addr()?;
    transcript.name(addr, &format!("tap for {who}"));
    let (who, transcript, stopped, streams, accepted) =
        (who.to_string(), transcript.clone(), stopped.clone(), streams.clone(), accepted.clone());
    thread::spawn(move || {
        while !stopped.load(Ordering::SeqCst) {
            let Ok((client, client_addr)) = listener.accept() else { continue };
            accepted.fetch_add(1, Ordering::SeqCst);
            // An accepted socket inherits the listener's receive timeout (Linux copies the
            // listening socket); the copy below must wait as long as the client is silent.
            if client.set_read_timeout(None).is_err() {
                continue;
            }
            let Ok(upstream) = TcpStream::connect(server) else { continue };
            // For a capture's comments (harness::capture): who is behind each address.
            transcript.name(client_addr, &who);
            if let Ok(local) = upstream.local_addr() {
                transcript.name(local, &format!("tap for {who}"));
            }
            let (Ok(client_copy), Ok(upstream_copy)) = (client.try_clone(), upstream.try_clone()) else {
                continue;
            };
            streams.lock().unwrap_or_else(|p| p.into_inner()).extend([client_copy, upstream_copy]);
            let server_name = transcript.who(server);
            copy(client.try_clone(), upstream.try_clone(), who.clone(), server_name.clone(), &transcript);
            copy(Ok(upstream), Ok(client), server_name, who.clone(), &transcript);
        }
    });
    Ok(addr)
}

/// Copy `from` to `to` on a thread of its own, recording each read, until `from` ends; then
/// pass the end on (a half-close stays a half-close).
fn copy(
    from: std::io::Result<TcpStream>,
    to: std::io::Result<TcpStream>,
    from_name: String,
    to_name: String,
    transcript: &Transcript,
) {
    let (Ok(mut from), Ok(mut to)) = (from, to) else { return };
    let transcript = transcript.clone();
    thread::spawn(move || {
        let mut buf = vec![0; 64 * 1024];
        let mut limit = Limit::default();
        loop {
            match from.read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Ok(0) | Err(_) => break,
                Ok(len) => {
                    let event = Event::Wire {
                        from: from_name.clone(),
                        to: to_name.clone(),
                        proto: Proto::Tcp,
                        bytes: buf[..len].to_vec(),
                    };
                    limit.record(&transcript, event, len);
                    if to.write_all(&buf[..len]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// The most a tap records of one direction of one connection (or of one UDP direction), in
/// bytes and in reads (datagrams): everything is passed on, but past either only counted, so
/// that a server answering without end cannot fill the checker's memory through its tap.
pub const TAP_BYTES: usize = 1024 * 1024;
pub const TAP_READS: usize = 10_000;

/// What one direction of a tap has recorded, and what it has not.
#[derive(Default)]
struct Limit {
    bytes: usize,
    reads: usize,
    dropped: Dropped,
}

impl Limit {
    /// Record `event`, of `len` bytes, or past the limit count it in a note.
    fn record(&mut self, transcript: &Transcript, event: Event, len: usize) {
        if self.reads < TAP_READS && self.bytes + len <= TAP_BYTES {
            self.reads += 1;
            self.bytes += len;
            transcript.record(event);
            return;
        }
        let Event::Wire { from, to, .. } = event else { return };
        self.dropped.add(1, len as u64);
        let what = format!(
            "(tap: past {TAP_READS} reads or {TAP_BYTES} bytes recorded; {} more reads ({} bytes) passed on and not recorded)",
            self.dropped.events, self.dropped.bytes
        );
        transcript.note(&mut self.dropped, Event::Conn { from, to, what });
    }
}

fn udp(
    server: SocketAddr,
    who: &str,
    transcript: &Transcript,
    stopped: &Arc<AtomicBool>,
) -> Result<SocketAddr> {
    // One socket faces the client, one the server: the server sees the tap as its client.
    let front = UdpSocket::bind("127.0.0.1:0").context("binding a tap on 127.0.0.1")?;
    let back = UdpSocket::bind("127.0.0.1:0").context("binding a tap on 127.0.0.1")?;
    // Not connected to the server: a reply from another of its sockets (another port) must
    // reach the tap to be recorded, as the lab's client would see it and pass it over.
    front.set_read_timeout(Some(LOOK))?;
    back.set_read_timeout(Some(LOOK))?;
    let addr = front.local_addr()?;
    transcript.name(addr, &format!("tap for {who}"));
    transcript.name(back.local_addr()?, &format!("tap for {who}"));
    let (front, back) = (Arc::new(front), Arc::new(back));
    let client: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
    let server_name = transcript.who(server);
    let relay =
        |from: Arc<UdpSocket>, to: Arc<UdpSocket>, from_name: String, to_name: String, upward: bool| {
            let (transcript, stopped, client) = (transcript.clone(), stopped.clone(), client.clone());
            thread::spawn(move || {
                let mut buf = vec![0; 65_536];
                let mut limit = Limit::default();
                while !stopped.load(Ordering::SeqCst) {
                    let Ok((len, sender)) = from.recv_from(&mut buf) else { continue };
                    let stranger = !upward && sender != server;
                    let event = Event::Wire {
                        from: if stranger { sender.to_string() } else { from_name.clone() },
                        to: if stranger {
                            format!("{to_name} (passed over: not from the server's address)")
                        } else {
                            to_name.clone()
                        },
                        proto: Proto::Udp,
                        bytes: buf[..len].to_vec(),
                    };
                    limit.record(&transcript, event, len);
                    if stranger {
                        continue;
                    }
                    if upward {
                        let mut known = client.lock().unwrap_or_else(|p| p.into_inner());
                        if *known != Some(sender) {
                            transcript.name(sender, &from_name);
                        }
                        *known = Some(sender);
                        drop(known);
                        let _ = to.send_to(&buf[..len], server);
                    } else if let Some(client) = *client.lock().unwrap_or_else(|p| p.into_inner()) {
                        let _ = to.send_to(&buf[..len], client);
                    }
                }
            });
        };
    relay(front.clone(), back.clone(), who.to_string(), server_name.clone(), true);
    relay(back, front, server_name, who.to_string(), false);
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client that stays silent longer than the tap's look-again interval is still relayed,
    /// and what it sends is recorded.
    #[test]
    fn a_silent_client_is_relayed_when_it_speaks() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        socket2::SockRef::from(&server).set_read_timeout(Some(crate::WAIT)).unwrap();
        let transcript = Transcript::new();
        let tap = Tap::start(Proto::Tcp, server.local_addr().unwrap(), "client", &transcript).unwrap();
        let mut client = TcpStream::connect(tap.addr()).unwrap();
        let (mut upstream, _) = server.accept().unwrap();
        upstream.set_read_timeout(Some(crate::WAIT)).unwrap();
        // The silence is the test's stimulus: three times as long as the tap's look interval.
        thread::sleep(LOOK * 3);
        client.write_all(b"still here\n").unwrap();
        let mut got = [0; 11];
        upstream.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"still here\n");
        assert!(transcript.render().contains("client → 127.0.0.1"), "{}", transcript.render());
    }
}
