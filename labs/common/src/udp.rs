//! Receiving one UDP datagram and learning how big it really was.
//!
//! std's `UdpSocket::recv_from` receives a datagram, but hides one fact: when the datagram is
//! longer than the buffer, the kernel silently drops the excess and `recv_from` returns the
//! buffer's size as if that were all. `recvmsg` reports the cut in a flag (MSG_TRUNC), and on
//! Linux, asked with MSG_TRUNC, returns the datagram's full length. socket2 exposes both.

use std::io;
use std::mem::MaybeUninit;
use std::net::{SocketAddr, UdpSocket};

use socket2::{MaybeUninitSlice, SockRef};

/// One datagram as the kernel handed it over.
#[derive(Debug)]
pub struct Datagram<'buf> {
    pub from: SocketAddr,
    /// What fit in the buffer.
    pub bytes: &'buf [u8],
    /// How big the datagram really was, where the platform tells (Linux does).
    pub real_len: Option<usize>,
    /// The kernel cut the datagram to fit the buffer; the rest is gone for good.
    pub truncated: bool,
}

/// Receive one datagram into `buf`, and find out whether it was cut, and from what size.
pub fn recv_from_reporting_size<'buf>(socket: &UdpSocket, buf: &'buf mut [u8]) -> io::Result<Datagram<'buf>> {
    let mut bufs = [MaybeUninitSlice::new(as_uninit(buf))];
    let (len, flags, from) = SockRef::from(socket).recv_from_vectored_with_flags(&mut bufs, REAL_LEN)?;
    let from = from.as_socket().expect("a UDP socket's peer is an IP address");
    let kept = len.min(buf.len());
    let truncated = flags.is_truncated();
    // With MSG_TRUNC passed in, Linux returns the datagram's full length, not the bytes kept.
    let real_len = if cfg!(target_os = "linux") || !truncated { Some(len) } else { None };
    Ok(Datagram { from, bytes: &buf[..kept], real_len, truncated })
}

/// Asking for the real length is Linux's extension of recv(2); elsewhere we ask for nothing.
#[cfg(target_os = "linux")]
const REAL_LEN: libc::c_int = libc::MSG_TRUNC;
#[cfg(not(target_os = "linux"))]
const REAL_LEN: libc::c_int = 0;

/// socket2 receives into `MaybeUninit` bytes so that callers never have to zero a buffer
/// first. Ours is initialised already; this only changes how the type system sees it.
#[allow(unsafe_code)]
fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: `MaybeUninit<u8>` has the same layout as `u8`, and the kernel only ever writes
    // real bytes into the buffer, so every byte stays initialised.
    unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A datagram longer than the buffer is cut to it, and on Linux its real size is told.
    #[test]
    fn a_cut_datagram_reports_its_real_size() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(b"0123456789", receiver.local_addr().unwrap()).unwrap();
        let mut buf = [0; 4];
        let datagram = recv_from_reporting_size(&receiver, &mut buf).unwrap();
        assert_eq!(datagram.bytes, b"0123");
        assert!(datagram.truncated);
        assert_eq!(datagram.from, sender.local_addr().unwrap());
        if cfg!(target_os = "linux") {
            assert_eq!(datagram.real_len, Some(10));
        }
    }
}
