//! What the kernel knows of one TCP connection and no byte on the wire says: TCP_INFO
//! (getsockopt, Linux). The window the peer advertised last, the bytes on their way, and how
//! long the sender waited for room. socket2 has no TCP_INFO, so this module calls the C library
//! itself, once, for the labs and the harness alike.

use std::io;
use std::net::TcpStream;
use std::time::Duration;

/// What TCP_INFO says about one connection, from the sending side. The struct grows with each
/// kernel: each field is read at its offset in include/uapi/linux/tcp.h, and is `None` where
/// this kernel does not fill it in (or this is not Linux).
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpInfo {
    /// The receive window the peer advertised last, in bytes (`tcpi_snd_wnd`, Linux 5.4 and
    /// later): 0 when its receive buffer is full.
    pub peer_window: Option<u32>,
    /// Bytes sent and not yet acknowledged: `tcpi_bytes_sent` less `tcpi_bytes_retrans` and
    /// `tcpi_bytes_acked` (Linux 4.19 and later).
    pub in_flight: Option<u64>,
    /// Bytes the peer has acknowledged (`tcpi_bytes_acked`, Linux 4.1 and later).
    pub acked: Option<u64>,
    /// How long this socket had data to send and could not, because the peer's window was
    /// closed (`tcpi_rwnd_limited`, Linux 4.10 and later; counted in jiffies, so a wait
    /// shorter than one, 1 to 10 ms, may count as 0).
    pub window_limited: Option<Duration>,
}

impl TcpInfo {
    /// The room the window leaves: what the peer advertised, less what is already on its way.
    /// 0 while the sender must wait.
    pub fn room(&self) -> Option<u64> {
        Some(u64::from(self.peer_window?).saturating_sub(self.in_flight?))
    }
}

/// TCP_INFO of `stream` (see [`TcpInfo`]).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn read(stream: &TcpStream) -> io::Result<TcpInfo> {
    use std::os::fd::AsRawFd;
    let mut raw = [0u8; 256];
    let mut len = raw.len() as libc::socklen_t;
    // SAFETY: getsockopt(2) writes at most `len` bytes into `raw` and sets `len` to how many;
    // the descriptor is the stream's own and stays open while `stream` is borrowed.
    let done = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            raw.as_mut_ptr().cast(),
            &raw mut len,
        )
    };
    if done != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(from_bytes(&raw[..len as usize]))
}

#[cfg(not(target_os = "linux"))]
pub fn read(_stream: &TcpStream) -> io::Result<TcpInfo> {
    Ok(TcpInfo::default())
}

/// The fields of a `struct tcp_info` the kernel filled `filled` bytes of.
fn from_bytes(filled: &[u8]) -> TcpInfo {
    let u32_at =
        |at: usize| filled.get(at..at + 4).and_then(|b| Some(u32::from_ne_bytes(b.try_into().ok()?)));
    let u64_at =
        |at: usize| filled.get(at..at + 8).and_then(|b| Some(u64::from_ne_bytes(b.try_into().ok()?)));
    let (sent, retransmitted, acked) = (u64_at(200), u64_at(208), u64_at(120));
    TcpInfo {
        peer_window: u32_at(228),
        in_flight: sent
            .zip(retransmitted)
            .zip(acked)
            .map(|((sent, retransmitted), acked)| sent.saturating_sub(retransmitted).saturating_sub(acked)),
        acked,
        window_limited: u64_at(176).map(Duration::from_micros),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An old kernel fills less of the struct: the fields past its end are not known.
    #[test]
    fn a_short_struct_leaves_the_later_fields_unknown() {
        let mut raw = [0u8; 232];
        raw[228..232].copy_from_slice(&65_536u32.to_ne_bytes());
        raw[200..208].copy_from_slice(&1000u64.to_ne_bytes());
        raw[120..128].copy_from_slice(&400u64.to_ne_bytes());
        let info = from_bytes(&raw);
        assert_eq!((info.peer_window, info.in_flight, info.acked), (Some(65_536), Some(600), Some(400)));
        assert_eq!(info.room(), Some(64_936));
        let old = from_bytes(&raw[..192]);
        assert_eq!((old.peer_window, old.in_flight, old.window_limited), (None, None, Some(Duration::ZERO)));
    }

    /// A live connection: the peer advertised a window, and nothing is on its way.
    #[cfg(target_os = "linux")]
    #[test]
    fn reads_a_live_connections_window() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let info = read(&stream).unwrap();
        assert!(info.peer_window.is_some_and(|window| window > 0), "{info:?}");
    }
}
