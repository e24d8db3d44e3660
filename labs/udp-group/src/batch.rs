//! `--broadcast batch`: the same datagrams as the loop of `sendto`, handed to the kernel in one
//! system call.
//!
//! A broadcast to 200 members is 200 datagrams whichever way it is sent: UDP has no "send to
//! all". What the loop pays 200 times besides the datagram itself is the system call: the
//! switch into the kernel and back, and finding the socket from its descriptor. Linux's
//! sendmmsg(2) takes a list of messages (each with its own address, here all with the same
//! bytes) and sends them one after another in one call, so that part is paid once. The kernel's
//! work per datagram (routing, a buffer, the receiver's queue) is the same as before, and a
//! little more: it reads a whole message header for each. Whether the batch wins depends on
//! what a system call costs on the machine; on the one this lab was built on it did not (the
//! chapter has the figures).
//!
//! sendmmsg is Linux's (and some BSDs'); std and socket2 do not offer it, so this module calls
//! the C library, with `unsafe`. Elsewhere `--broadcast batch` is the same loop as the lesson's.

use std::io;
use std::net::{SocketAddr, UdpSocket};

/// Send `bytes` to every address in `to`, never waiting for room to send (MSG_DONTWAIT, as
/// the loop does). Returns the members whose datagram the kernel refused, with its reason.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn send_to_all(socket: &UdpSocket, to: &[SocketAddr], bytes: &[u8]) -> Vec<(SocketAddr, io::Error)> {
    use std::os::fd::AsRawFd;

    use socket2::SockAddr;

    let addrs: Vec<SockAddr> = to.iter().map(|&addr| SockAddr::from(addr)).collect();
    // One buffer, shared by every message: the kernel only reads it.
    let mut iov = libc::iovec { iov_base: bytes.as_ptr().cast_mut().cast(), iov_len: bytes.len() };
    let mut messages: Vec<libc::mmsghdr> = addrs
        .iter()
        .map(|addr| {
            // SAFETY: all zeroes is a valid mmsghdr (plain C structs of integers and pointers).
            let mut message: libc::mmsghdr = unsafe { std::mem::zeroed() };
            message.msg_hdr.msg_name = addr.as_ptr().cast_mut().cast();
            message.msg_hdr.msg_namelen = addr.len();
            message.msg_hdr.msg_iov = &raw mut iov;
            message.msg_hdr.msg_iovlen = 1;
            message
        })
        .collect();

    let mut refused = Vec::new();
    let mut next = 0;
    while next < messages.len() {
        // The kernel takes at most UIO_MAXIOV (1024) messages a call.
        let count = (messages.len() - next).min(1024) as libc::c_uint;
        // SAFETY: `messages[next..]` holds at least `count` headers, whose pointers point into
        // `addrs`, `iov` and `bytes`, all alive and unmoved until the call returns; the kernel
        // only reads them, and writes each header's own msg_len.
        let sent = unsafe {
            libc::sendmmsg(socket.as_raw_fd(), messages[next..].as_mut_ptr(), count, libc::MSG_DONTWAIT)
        };
        if sent > 0 {
            next += sent as usize;
        } else {
            // sendmmsg stops at the first message the kernel refuses and reports it only if it
            // was the first of the call: so the next call, which starts there, says why.
            refused.push((to[next], io::Error::last_os_error()));
            next += 1;
        }
    }
    refused
}

/// Not Linux: no sendmmsg here, so the batch is the loop.
#[cfg(not(target_os = "linux"))]
pub fn send_to_all(socket: &UdpSocket, to: &[SocketAddr], bytes: &[u8]) -> Vec<(SocketAddr, io::Error)> {
    use socket2::{SockAddr, SockRef};
    let socket = SockRef::from(socket);
    to.iter()
        .filter_map(|&addr| {
            socket
                .send_to_with_flags(bytes, &SockAddr::from(addr), libc::MSG_DONTWAIT)
                .err()
                .map(|e| (addr, e))
        })
        .collect()
}
