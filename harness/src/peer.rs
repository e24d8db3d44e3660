//! Raw peers: a UDP socket and a TCP stream that the harness drives by hand. Every send and
//! every receive is recorded; every receive has a deadline.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Weak};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::diagnosis::Mismatch;
use crate::transcript::{Event, Proto, Transcript, show};
use crate::wait::Deadline;
use crate::{WAIT, secs};

/// The largest datagram a peer can receive whole (UDP's 16-bit length field).
const MAX_DATAGRAM: usize = 65_536;

/// A UDP socket on loopback, bound to a port of its own.
pub struct UdpPeer {
    who: String,
    socket: Arc<UdpSocket>,
    transcript: Transcript,
}

impl UdpPeer {
    pub fn bind(who: &str, transcript: &Transcript) -> Result<UdpPeer> {
        let socket = UdpSocket::bind("127.0.0.1:0").context("binding a UDP socket on 127.0.0.1")?;
        transcript.name(socket.local_addr()?, who);
        // The first ask turns the kernel's timestamps on, for what arrives from now on.
        let _ = arrived_ago(&socket);
        Ok(UdpPeer { who: who.to_string(), socket: Arc::new(socket), transcript: transcript.clone() })
    }

    /// The peer's name in the transcript ("alice").
    pub fn who(&self) -> &str {
        &self.who
    }

    /// The address the peer's socket is bound to, for a role that must send to it.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.socket.local_addr().context("reading a UDP socket's address")
    }

    /// Send one datagram to `to`.
    pub fn send_to(&self, to: SocketAddr, bytes: &[u8]) -> Result<()> {
        self.transcript.record(Event::Wire {
            from: self.who.clone(),
            to: self.transcript.who(to),
            proto: Proto::Udp,
            bytes: bytes.to_vec(),
        });
        let sent = self.socket.send_to(bytes, to).with_context(|| format!("{} sending to {to}", self.who))?;
        if sent != bytes.len() {
            bail!("{} sent only {sent} of {} bytes in one datagram", self.who, bytes.len());
        }
        Ok(())
    }

    /// The next datagram, if one arrives within `within`.
    pub fn recv(&self, within: Duration) -> Result<Option<(Vec<u8>, SocketAddr)>> {
        let deadline = Deadline::after(within);
        let mut buf = vec![0; MAX_DATAGRAM];
        loop {
            let Some(slice) = deadline.next_slice(&self.transcript) else { return Ok(None) };
            self.socket.set_read_timeout(Some(slice))?;
            match self.socket.recv_from(&mut buf) {
                Ok((len, from)) => {
                    let bytes = buf[..len].to_vec();
                    self.transcript.record(Event::Wire {
                        from: self.transcript.who(from),
                        to: self.who.clone(),
                        proto: Proto::Udp,
                        bytes: bytes.clone(),
                    });
                    return Ok(Some((bytes, from)));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) =>
                {
                    continue;
                }
                // An ICMP error for an earlier send says nothing about this receive. Linux
                // reports those only to connected sockets, which a peer's is not; other
                // systems may differ, so keep waiting either way.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e).with_context(|| format!("{} receiving", self.who)),
            }
        }
    }

    /// The next datagram from `from`, if one arrives within `within`. Anyone can send to a
    /// peer's port (on a busy machine, a stray datagram meant for a port that was free a moment
    /// ago), so datagrams from other addresses are passed over; the transcript still shows them.
    pub fn recv_from(&self, from: SocketAddr, within: Duration) -> Result<Option<Vec<u8>>> {
        let deadline = Deadline::after(within);
        loop {
            match self.recv(deadline.left().unwrap_or_default())? {
                Some((bytes, sender)) if sender == from => return Ok(Some(bytes)),
                Some(_) => continue,
                None => return Ok(None),
            }
        }
    }

    /// The next datagram must be exactly `expected`, and arrive within the usual deadline.
    pub fn expect_datagram(&self, expected: &[u8]) -> Result<SocketAddr> {
        let next = self.recv(WAIT)?;
        self.expected(expected, next.clone(), "")?;
        Ok(next.map(|(_, from)| from).expect("the datagram that was expected arrived"))
    }

    /// The next datagram from `from` must be exactly `expected`, within the usual deadline.
    pub fn expect_datagram_from(&self, from: SocketAddr, expected: &[u8]) -> Result<()> {
        let next = self.recv_from(from, WAIT)?.map(|bytes| (bytes, from));
        self.expected(expected, next, &format!(" from {}", self.transcript.who(from)))
    }

    fn expected(&self, expected: &[u8], next: Option<(Vec<u8>, SocketAddr)>, from: &str) -> Result<()> {
        let message = match &next {
            Some((bytes, _)) if bytes == expected => return Ok(()),
            Some((bytes, sender)) => format!(
                "{} expected the datagram {} ({} bytes){from}\n  but the next datagram, from {}, was {} ({} bytes)",
                self.who,
                show(expected),
                expected.len(),
                self.transcript.who(*sender),
                show(bytes),
                bytes.len()
            ),
            None => format!(
                "{} expected the datagram {}{from} within {}, but nothing arrived",
                self.who,
                show(expected),
                secs(WAIT)
            ),
        };
        Err(Mismatch {
            who: self.who.clone(),
            expected: vec![expected.to_vec()],
            got: next.map(|(bytes, _)| bytes),
            datagrams: true,
            message,
        }
        .into())
    }

    /// No datagram at all may arrive within `within`.
    pub fn expect_nothing(&self, within: Duration) -> Result<()> {
        match self.recv(within)? {
            None => Ok(()),
            Some((bytes, from)) => bail!(
                "{} expected no datagram for {}, but {} sent {}",
                self.who,
                secs(within),
                self.transcript.who(from),
                show(&bytes)
            ),
        }
    }
}

/// A handle on a peer's socket, to collect what it received but nobody read, once a scenario
/// has failed: often that is exactly where the fault shows (a reply that went to the wrong
/// client). A UDP socket is kept open until then (closing one tells nobody anything); a TCP
/// handle is weak, so that dropping a peer still closes its connection as the scenario meant.
pub(crate) enum Unread {
    Udp { who: String, socket: Arc<UdpSocket> },
    Tcp { who: String, other: String, stream: Weak<TcpStream> },
}

/// The most bytes collected from one peer's socket once a scenario has failed.
pub const UNREAD_CAP: usize = 1024 * 1024;

impl Unread {
    pub(crate) fn of_udp(peer: &UdpPeer) -> Unread {
        Unread::Udp { who: peer.who.clone(), socket: peer.socket.clone() }
    }

    pub(crate) fn of_tcp(peer: &TcpPeer) -> Unread {
        Unread::Tcp { who: peer.who.clone(), other: peer.other.clone(), stream: Arc::downgrade(&peer.stream) }
    }

    /// Record what waits in a socket that is still open, without blocking, up to
    /// [`UNREAD_CAP`] bytes (a server that sends without end would otherwise keep this
    /// reading for ever); how many datagrams or pieces of a stream that was.
    pub(crate) fn collect(&self, transcript: &Transcript) -> usize {
        let mut buf = vec![0; MAX_DATAGRAM];
        let mut count = 0;
        let mut bytes = 0;
        let mut room = |len: usize| {
            bytes += len;
            bytes <= UNREAD_CAP
        };
        match self {
            Unread::Udp { who, socket } => {
                let _ = socket.set_nonblocking(true);
                while let Ok((len, from)) = socket.recv_from(&mut buf) {
                    if !room(len) {
                        break;
                    }
                    count += 1;
                    let event = Event::Wire {
                        from: transcript.who(from),
                        to: format!("{who} (unread)"),
                        proto: Proto::Udp,
                        bytes: buf[..len].to_vec(),
                    };
                    // Shown when it arrived, not when it was collected after the failure.
                    match arrived_ago(socket) {
                        Some(ago) => transcript.record_earlier(ago, event),
                        None => transcript.record(event),
                    }
                }
            }
            Unread::Tcp { who, other, stream } => {
                let Some(stream) = stream.upgrade() else { return 0 };
                let _ = stream.set_nonblocking(true);
                while let Ok(len @ 1..) = (&*stream).read(&mut buf) {
                    if !room(len) {
                        break;
                    }
                    count += 1;
                    transcript.record(Event::Wire {
                        from: other.clone(),
                        to: format!("{who} (unread)"),
                        proto: Proto::Tcp,
                        bytes: buf[..len].to_vec(),
                    });
                }
            }
        }
        if bytes > UNREAD_CAP {
            let (Unread::Udp { who, .. } | Unread::Tcp { who, .. }) = self;
            transcript.say(format!("(more was waiting for {who}: past {UNREAD_CAP} bytes, not read)"));
        }
        count
    }
}

/// A TCP connection on loopback.
pub struct TcpPeer {
    who: String,
    /// Who is at the other end: the server we connected to, or the client we accepted.
    other: String,
    stream: Arc<TcpStream>,
    transcript: Transcript,
}

impl TcpPeer {
    pub fn connect(who: &str, addr: SocketAddr, transcript: &Transcript) -> Result<TcpPeer> {
        let server = transcript.who(addr);
        let stream = TcpStream::connect_timeout(&addr, WAIT)
            .with_context(|| format!("{who} connecting to {server} at {addr}"))?;
        transcript.name(stream.local_addr()?, who);
        transcript.record(Event::Conn {
            from: who.to_string(),
            to: server.clone(),
            what: "connected".into(),
        });
        Ok(TcpPeer {
            who: who.to_string(),
            other: server,
            stream: Arc::new(stream),
            transcript: transcript.clone(),
        })
    }

    /// Try to connect within `within`, a deadline that may expire: a connect that must not
    /// complete (a full accept queue) is given a short one. A timed-out attempt's socket is
    /// closed at once, so its SYN is never sent again and it cannot get in later.
    pub fn attempt(
        who: &str,
        addr: SocketAddr,
        within: Duration,
        transcript: &Transcript,
    ) -> Result<Attempt> {
        let server = transcript.who(addr);
        match TcpStream::connect_timeout(&addr, within) {
            Ok(stream) => {
                transcript.name(stream.local_addr()?, who);
                transcript.record(Event::Conn {
                    from: who.to_string(),
                    to: server.clone(),
                    what: "connected".into(),
                });
                let peer = TcpPeer {
                    who: who.to_string(),
                    other: server,
                    stream: Arc::new(stream),
                    transcript: transcript.clone(),
                };
                Ok(Attempt::Connected(peer))
            }
            Err(e) if e.kind() == ErrorKind::TimedOut => {
                let what = format!("connect timed out after {} (no SYN-ACK); gave up", secs(within));
                transcript.record(Event::Conn { from: who.to_string(), to: server, what });
                Ok(Attempt::TimedOut)
            }
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                let what = "connect refused (RST)".to_string();
                transcript.record(Event::Conn { from: who.to_string(), to: server, what });
                Ok(Attempt::Refused)
            }
            Err(e) => Err(e).with_context(|| format!("{who} connecting to {server} at {addr}")),
        }
    }

    /// The next connection to `listener`, within the usual deadline: the harness plays a server
    /// named `who` for a lab's client role, named `other`.
    pub fn accept(
        who: &str,
        other: &str,
        listener: &TcpListener,
        transcript: &Transcript,
    ) -> Result<TcpPeer> {
        // Linux gives up a blocked accept after the listening socket's receive timeout.
        socket2::SockRef::from(listener).set_read_timeout(Some(crate::wait::patience(WAIT)))?;
        let (stream, from) = listener
            .accept()
            .with_context(|| format!("{who} waiting up to {} for {other} to connect", secs(WAIT)))?;
        transcript.name(from, other);
        transcript.record(Event::Conn {
            from: other.to_string(),
            to: who.to_string(),
            what: "connected".into(),
        });
        Ok(TcpPeer {
            who: who.to_string(),
            other: other.to_string(),
            stream: Arc::new(stream),
            transcript: transcript.clone(),
        })
    }

    /// Write all of `bytes` (one `write` call as far as the kernel allows).
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.transcript.record(Event::Wire {
            from: self.who.clone(),
            to: self.other.clone(),
            proto: Proto::Tcp,
            bytes: bytes.to_vec(),
        });
        (&*self.stream).write_all(bytes).with_context(|| format!("{} sending to {}", self.who, self.other))
    }

    /// Read until exactly `expected` has arrived, in however many pieces the stream delivers it.
    pub fn expect_bytes(&mut self, expected: &[u8]) -> Result<()> {
        let deadline = Deadline::after(WAIT);
        let mut got = Vec::new();
        while got.len() < expected.len() {
            let message =
                match self.read_chunk(deadline.left().unwrap_or_default(), expected.len() - got.len())? {
                    Chunk::Bytes(bytes) => {
                        got.extend_from_slice(&bytes);
                        if expected.starts_with(&got) {
                            continue;
                        }
                        format!("{} expected {}\n  but got {}", self.who, show(expected), show(&got))
                    }
                    Chunk::Eof => {
                        format!(
                            "{} expected {} but the stream ended after {}",
                            self.who,
                            show(expected),
                            show(&got)
                        )
                    }
                    Chunk::Nothing => format!(
                        "{} expected {} within {}, but got only {}",
                        self.who,
                        show(expected),
                        secs(WAIT),
                        show(&got)
                    ),
                };
            let got = (!got.is_empty()).then_some(got);
            return Err(Mismatch {
                who: self.who.clone(),
                expected: vec![expected.to_vec()],
                got,
                datagrams: false,
                message,
            }
            .into());
        }
        Ok(())
    }

    /// The server must close the stream (a read of 0 bytes) within the usual deadline.
    pub fn expect_eof(&mut self) -> Result<()> {
        match self.read_chunk(WAIT, 64 * 1024)? {
            Chunk::Eof => Ok(()),
            Chunk::Bytes(bytes) => bail!("{} expected the stream to end, but got {}", self.who, show(&bytes)),
            Chunk::Nothing => {
                bail!("{} expected the stream to end within {}; it stayed open", self.who, secs(WAIT))
            }
        }
    }

    /// The server must end the connection within the usual deadline, by a close (a read of 0
    /// bytes) or a reset: a server that closes with our bytes still unread sends a reset.
    pub fn expect_closed(&mut self) -> Result<()> {
        match self.read_chunk(WAIT, 64 * 1024) {
            Ok(Chunk::Eof) => Ok(()),
            Err(error) if is_reset(&error) => {
                self.transcript.record(Event::Conn {
                    from: self.other.clone(),
                    to: self.who.clone(),
                    what: "reset the connection".into(),
                });
                Ok(())
            }
            Err(error) => Err(error),
            Ok(Chunk::Bytes(bytes)) => {
                bail!("{} expected the server to close the connection, but got {}", self.who, show(&bytes))
            }
            Ok(Chunk::Nothing) => bail!(
                "{} expected the server to close the connection within {}; it stayed open",
                self.who,
                secs(WAIT)
            ),
        }
    }

    /// Nothing may arrive (and the stream must not end) within `within`.
    pub fn expect_nothing(&mut self, within: Duration) -> Result<()> {
        match self.read_chunk(within, 64 * 1024)? {
            Chunk::Nothing => Ok(()),
            Chunk::Eof => bail!("{} expected nothing for {}, but the stream ended", self.who, secs(within)),
            Chunk::Bytes(bytes) => {
                bail!("{} expected nothing for {}, but got {}", self.who, secs(within), show(&bytes))
            }
        }
    }

    /// The address of the peer's own end of the connection.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.stream.local_addr().context("reading a TCP socket's address")
    }

    /// Close with `unread` bytes received and never read: the kernel throws them away and
    /// sends a reset (RST) instead of a FIN (`__tcp_close`, net/ipv4/tcp.c).
    pub fn close_unread(self, unread: usize) {
        self.transcript.record(Event::Conn {
            from: self.who.clone(),
            to: self.other.clone(),
            what: format!("close with {unread} bytes unread: reset (RST)"),
        });
    }

    /// Close the connection properly: the kernel sends a FIN after any bytes still queued.
    pub fn close(self) {
        self.transcript.record(Event::Conn {
            from: self.who.clone(),
            to: self.other.clone(),
            what: "close (FIN)".into(),
        });
    }

    /// Half-close: "I have nothing more to send", while still reading.
    pub fn shutdown_write(&mut self) -> Result<()> {
        self.transcript.record(Event::Conn {
            from: self.who.clone(),
            to: self.other.clone(),
            what: "shutdown(write): FIN, done sending".into(),
        });
        self.stream.shutdown(Shutdown::Write).context("shutdown(write)")
    }

    /// Vanish abruptly: SO_LINGER 0 makes close() send a reset (RST) instead of a FIN.
    pub fn reset(self) -> Result<()> {
        self.transcript.record(Event::Conn {
            from: self.who.clone(),
            to: self.other.clone(),
            what: "reset (SO_LINGER 0, then close)".into(),
        });
        socket2::SockRef::from(&*self.stream).set_linger(Some(Duration::ZERO))?;
        Ok(())
    }

    fn read_chunk(&mut self, within: Duration, max: usize) -> Result<Chunk> {
        let deadline = Deadline::after(within);
        let mut buf = vec![0; max.clamp(1, 64 * 1024)];
        loop {
            let Some(slice) = deadline.next_slice(&self.transcript) else { return Ok(Chunk::Nothing) };
            self.stream.set_read_timeout(Some(slice))?;
            match (&*self.stream).read(&mut buf) {
                Ok(0) => {
                    self.transcript.record(Event::Conn {
                        from: self.other.clone(),
                        to: self.who.clone(),
                        what: "closed the stream (read returned 0)".into(),
                    });
                    return Ok(Chunk::Eof);
                }
                Ok(len) => {
                    self.transcript.record(Event::Wire {
                        from: self.other.clone(),
                        to: self.who.clone(),
                        proto: Proto::Tcp,
                        bytes: buf[..len].to_vec(),
                    });
                    return Ok(Chunk::Bytes(buf[..len].to_vec()));
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("{} reading from {}", self.who, self.other));
                }
            }
        }
    }
}

/// How a connect with a deadline ended.
pub enum Attempt {
    Connected(TcpPeer),
    /// No answer to the SYN within the deadline.
    TimedOut,
    /// A reset in answer to the SYN.
    Refused,
}

impl Attempt {
    /// "connected", "timed out" or "refused".
    pub fn describe(&self) -> &'static str {
        match self {
            Attempt::Connected(_) => "connected",
            Attempt::TimedOut => "timed out",
            Attempt::Refused => "refused",
        }
    }
}

fn is_reset(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<std::io::Error>()
        .is_some_and(|e| matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted))
}

enum Chunk {
    Bytes(Vec<u8>),
    Eof,
    Nothing,
}

/// How long ago the datagram just received on `socket` arrived, from the kernel's timestamp
/// of it (SIOCGSTAMP, Linux); None where the kernel does not say.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn arrived_ago(socket: &UdpSocket) -> Option<Duration> {
    use std::os::fd::AsRawFd;
    // linux/sockios.h: SIOCGSTAMP (SIOCGSTAMP_OLD on 64-bit systems, where timeval is 64-bit).
    const SIOCGSTAMP: libc::c_ulong = 0x8906;
    let mut stamp = libc::timeval { tv_sec: 0, tv_usec: 0 };
    // SAFETY: SIOCGSTAMP writes one timeval into the struct we pass, and nothing else.
    let done = unsafe { libc::ioctl(socket.as_raw_fd(), SIOCGSTAMP, &mut stamp) };
    if done != 0 || stamp.tv_sec <= 0 {
        return None;
    }
    let arrived = std::time::UNIX_EPOCH
        + Duration::from_secs(stamp.tv_sec as u64)
        + Duration::from_micros(stamp.tv_usec as u64);
    // With no stamp on the datagram (timestamps were off when it came), the kernel answers
    // with the time of the ask: that says nothing.
    std::time::SystemTime::now().duration_since(arrived).ok().filter(|ago| *ago > Duration::from_millis(1))
}

#[cfg(not(target_os = "linux"))]
fn arrived_ago(_: &UdpSocket) -> Option<Duration> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that sends without end to a peer that was not reading: collecting what it
    /// left unread ends, having recorded at most UNREAD_CAP bytes. (Whether the cap is reached
    /// depends on how fast the server refills the socket while it is read; when it is, a line
    /// says that more was waiting.)
    #[test]
    fn collecting_an_endless_stream_ends_within_its_cap() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else { return };
            let chunk = vec![b'x'; 64 * 1024];
            while stream.write_all(&chunk).is_ok() {}
        });
        let transcript = Transcript::new();
        let peer = TcpPeer::connect("alice", addr, &transcript).unwrap();
        Unread::of_tcp(&peer).collect(&transcript);
        let recorded: usize = transcript
            .events()
            .iter()
            .map(|(_, event)| match event {
                Event::Wire { bytes, .. } => bytes.len(),
                _ => 0,
            })
            .sum();
        assert!(recorded <= UNREAD_CAP, "{recorded} bytes recorded");
    }

    #[cfg(target_os = "linux")]
    /// A datagram collected unread after a wait is shown at the time it arrived, before the
    /// wait, not at the time it was collected.
    #[test]
    fn an_unread_datagram_is_timed_when_it_arrived() {
        // The kernel turns timestamps on for the whole system a moment after the first socket
        // asks (a deferred switch): wait until a datagram to ourselves comes stamped.
        let warm = UdpSocket::bind("127.0.0.1:0").unwrap();
        warm.set_read_timeout(Some(WAIT)).unwrap();
        let _ = arrived_ago(&warm);
        let stamped = crate::wait::until(WAIT, || {
            warm.send_to(b"warm", warm.local_addr().unwrap()).unwrap();
            // The stimulus, not a wait: a stamp more than 1 ms old, which `arrived_ago` tells
            // from the time of asking.
            std::thread::sleep(Duration::from_millis(5));
            warm.recv(&mut [0; 8]).unwrap();
            arrived_ago(&warm)
        });
        assert!(stamped.is_some(), "the kernel never stamped a datagram");
        let transcript = Transcript::new();
        let alice = UdpPeer::bind("alice", &transcript).unwrap();
        let bob = UdpSocket::bind("127.0.0.1:0").unwrap();
        bob.send_to(b"early", alice.local_addr().unwrap()).unwrap();
        // The datagram waits in alice's socket while time passes; poll() says when it is there.
        let arrived = transcript.elapsed();
        let mut polled = [0u8; 8];
        alice.socket.set_read_timeout(Some(WAIT)).unwrap();
        alice.socket.peek_from(&mut polled).unwrap();
        let before_wait = transcript.elapsed();
        // The time that passes is the test's stimulus, not a synchronisation.
        std::thread::sleep(Duration::from_millis(200));
        transcript.say("a wait");
        assert_eq!(Unread::of_udp(&alice).collect(&transcript), 1);
        let events = transcript.events();
        let (at, _) = events.iter().find(|(_, event)| matches!(event, Event::Wire { .. })).unwrap();
        assert!(
            *at <= before_wait + Duration::from_millis(50) && *at + Duration::from_millis(50) >= arrived,
            "{at:?}"
        );
        let order: Vec<bool> = events.iter().map(|(_, event)| matches!(event, Event::Wire { .. })).collect();
        assert_eq!(order, [true, false], "the datagram comes before the wait: {}", transcript.render());
    }
}
