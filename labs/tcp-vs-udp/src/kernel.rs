//! What the kernel counts and no byte on the wire says: how many datagrams it dropped on a
//! socket whose receive buffer was full (SO_RXQ_OVFL), the window a TCP receiver advertises
//! and how long a sender waited for it (TCP_INFO), and how many connections it opened
//! (/proc/net/snmp). All of it is Linux's; elsewhere every figure is "not known".
//!
//! socket2 has no SO_RXQ_OVFL, so this module calls the C library itself: the one place in the
//! lab with `unsafe`, each call with the reason it is sound. TCP_INFO is read by
//! [`lab_common::tcp_info`].

use std::io;
use std::net::{SocketAddr, UdpSocket};

/// One datagram, received with the kernel's drop count beside it.
pub struct Received {
    pub len: usize,
    pub from: SocketAddr,
    /// How many datagrams the kernel had dropped on this socket, for want of room in its
    /// receive buffer, by the time this one was queued. Linux sends the count only once it is
    /// above 0: `None` means none were dropped yet (or this is not Linux).
    pub dropped_before: Option<u32>,
}

/// Ask the kernel to attach its drop count to every datagram we receive (Linux's
/// SO_RXQ_OVFL, since 2.6.33). In the kernel: `sock_recv_drops` in net/socket.c puts the
/// socket's `sk_drops` counter, as it was when the datagram was queued, in a control message.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn count_drops(socket: &UdpSocket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt(2) reads size_of::<c_int>() bytes from `on`, which outlives the call;
    // the descriptor is the socket's own, open while `socket` is borrowed.
    let done = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RXQ_OVFL,
            (&raw const on).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if done != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn count_drops(_socket: &UdpSocket) -> io::Result<()> {
    Ok(())
}

/// `recv_from`, plus the kernel's drop count that SO_RXQ_OVFL attaches (see [`count_drops`]).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn recv_counting_drops(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
    use std::os::fd::AsRawFd;
    // Room for one control message holding a u32, as CMSG_SPACE computes it, and to spare.
    let mut control = [0u64; 8];
    let mut addr: libc::sockaddr_storage =
        // SAFETY: all zeroes is a valid sockaddr_storage (a plain C struct of integers).
        unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: all zeroes is a valid msghdr; its pointers are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&raw mut addr).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of_val(&control) as _;
    // SAFETY: every pointer in `msg` points into locals that outlive the call, with the sizes
    // given; the kernel writes at most those sizes.
    let len = unsafe { libc::recvmsg(socket.as_raw_fd(), &raw mut msg, 0) };
    if len < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut dropped_before = None;
    // SAFETY: `msg` was filled by recvmsg; CMSG_FIRSTHDR and CMSG_NXTHDR stay within
    // msg_controllen, and a SO_RXQ_OVFL message carries one u32 (read unaligned, to be safe).
    unsafe {
        let mut header = libc::CMSG_FIRSTHDR(&raw const msg);
        while !header.is_null() {
            if (*header).cmsg_level == libc::SOL_SOCKET && (*header).cmsg_type == libc::SO_RXQ_OVFL {
                dropped_before = Some(std::ptr::read_unaligned(libc::CMSG_DATA(header).cast::<u32>()));
            }
            header = libc::CMSG_NXTHDR(&raw const msg, header);
        }
    }
    let from = socket_addr(&addr).ok_or_else(|| io::Error::other("a datagram from a non-IP address"))?;
    Ok(Received { len: len as usize, from, dropped_before })
}

/// The sender's address, as recvmsg wrote it.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn socket_addr(addr: &libc::sockaddr_storage) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr};
    match libc::c_int::from(addr.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which is smaller.
            let v4 = unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
            Some(SocketAddr::from((ip, u16::from_be(v4.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6, which is smaller.
            let v6 = unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
            Some(SocketAddr::from((ip, u16::from_be(v6.sin6_port))))
        }
        _ => None,
    }
}

#[cfg(not(target_os = "linux"))]
pub fn recv_counting_drops(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
    let (len, from) = socket.recv_from(buf)?;
    Ok(Received { len, from, dropped_before: None })
}

/// What TCP_INFO says about one connection, from the sending side: the window the peer
/// advertised last, and how long this socket waited for room in it. Read by lab_common, which
/// the harness reads it through too.
pub use lab_common::tcp_info::{TcpInfo, read as tcp_info};

/// How many TCP connections this machine's kernel has opened (`connect`s that sent a SYN):
/// `ActiveOpens` in /proc/net/snmp. The count is for the whole machine (its network namespace):
/// every other program's connections count too, so a difference is at least ours, never less.
pub fn active_opens() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    snmp_value(&snmp, "Tcp", "ActiveOpens")
}

/// A counter from /proc/net/snmp, which holds pairs of lines: `Tcp: Name Name ...` and
/// `Tcp: value value ...`.
pub fn snmp_value(snmp: &str, group: &str, name: &str) -> Option<u64> {
    let prefix = format!("{group}:");
    let mut lines = snmp.lines().filter(|line| line.starts_with(&prefix));
    let names = lines.next()?;
    let values = lines.next()?;
    let at = names.split_whitespace().position(|n| n == name)?;
    values.split_whitespace().nth(at)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_counter_from_the_snmp_table() {
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\nTcp: RtoAlgorithm ActiveOpens PassiveOpens\n\
                    Tcp: 1 42 7\nUdp: InDatagrams RcvbufErrors\nUdp: 10 3\n";
        assert_eq!(snmp_value(snmp, "Tcp", "ActiveOpens"), Some(42));
        assert_eq!(snmp_value(snmp, "Udp", "RcvbufErrors"), Some(3));
        assert_eq!(snmp_value(snmp, "Udp", "Nothing"), None);
    }
}
