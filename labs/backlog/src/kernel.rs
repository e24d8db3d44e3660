//! What the kernel says about our listening socket and its settings, read where `ss -lnt` and
//! `sysctl` read them. Linux only; elsewhere every figure is "not available".
//!
//! - The accept queue's length and limit come from sock_diag, a netlink interface: we ask the
//!   kernel for its TCP sockets in the LISTEN state and pick ours by port. For a listening
//!   socket the answer's `rqueue` is the number of finished handshakes waiting for accept and
//!   `wqueue` the queue's limit: `ss -lnt` prints them as Recv-Q and Send-Q.
//! - /proc/net/tcp shows the same length in the `rx_queue` column of the LISTEN row, but not the
//!   limit: its `tx_queue` column is 0 for a listening socket (seen on Linux 6.18).
//! - The settings are files: /proc/sys/net/core/somaxconn,
//!   /proc/sys/net/ipv4/tcp_abort_on_overflow and /proc/sys/net/ipv4/tcp_syncookies. We only
//!   read them.
//! - One socket option the server may set, TCP_DEFER_ACCEPT (`--defer-accept`), which
//!   socket2 has no setter for.

use anyhow::{Context, Result};

/// The accept queue of one listening socket, as the kernel counts it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Queue {
    /// Finished handshakes waiting for accept.
    pub waiting: u32,
    /// The most that may wait: listen's backlog, capped by net.core.somaxconn.
    pub limit: u32,
}

pub const SOMAXCONN: &str = "/proc/sys/net/core/somaxconn";
pub const ABORT_ON_OVERFLOW: &str = "/proc/sys/net/ipv4/tcp_abort_on_overflow";
pub const SYNCOOKIES: &str = "/proc/sys/net/ipv4/tcp_syncookies";

/// A sysctl's value, read from its file under /proc/sys.
pub fn setting(path: &str) -> Result<u32> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    text.trim().parse().with_context(|| format!("{path} holds {:?}, not a number", text.trim()))
}

/// Set TCP_DEFER_ACCEPT on a listening socket: a connection whose client has sent nothing
/// stays half-open for up to `secs` seconds. socket2 has no setter for it.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn defer_accept(socket: &socket2::Socket, secs: u32) -> Result<()> {
    use std::os::fd::AsRawFd;
    let secs = libc::c_int::try_from(secs).unwrap_or(libc::c_int::MAX);
    // SAFETY: setsockopt(2) reads size_of::<c_int>() bytes from `secs`, which outlives the
    // call; the descriptor is the socket's own and stays open while `socket` is borrowed.
    let done = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&raw const secs).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if done != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn defer_accept(_socket: &socket2::Socket, _secs: u32) -> Result<()> {
    anyhow::bail!("TCP_DEFER_ACCEPT is Linux's; this system has no such option")
}

/// Where the accept queue's figures are asked for (Linux's sock_diag).
#[cfg(not(target_os = "linux"))]
pub struct Diag;

#[cfg(not(target_os = "linux"))]
impl Diag {
    pub fn open() -> Result<Diag> {
        anyhow::bail!("not available on this platform (the lab reads them from Linux's sock_diag)")
    }

    pub fn accept_queue(&self, _listener: std::net::SocketAddr) -> Result<Queue> {
        anyhow::bail!("not available on this platform (the lab reads them from Linux's sock_diag)")
    }
}

#[cfg(target_os = "linux")]
pub use sock_diag::Diag;

#[cfg(target_os = "linux")]
mod sock_diag {
    use std::cell::Cell;
    use std::io::Read;
    use std::net::SocketAddr;
    use std::time::Duration;

    use anyhow::{Context, Result, bail};
    use socket2::{Domain, Protocol, Socket, Type};

    use super::Queue;

    // From the kernel's headers: linux/netlink.h, linux/sock_diag.h, linux/inet_diag.h.
    const AF_NETLINK: i32 = 16;
    const NETLINK_SOCK_DIAG: i32 = 4;
    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    const NLM_F_REQUEST: u16 = 0x1;
    const NLM_F_DUMP: u16 = 0x300;
    const NLMSG_ERROR: u16 = 2;
    const NLMSG_DONE: u16 = 3;
    const IPPROTO_TCP: u8 = 6;
    const TCP_LISTEN: u32 = 10;
    /// A netlink header: length, type, flags, sequence number, port id.
    const HEADER: usize = 16;

    /// A netlink socket to ask sock_diag through, opened once and asked again and again. (One
    /// opened for each question would take a file descriptor and give it back every time, and
    /// a server out of descriptors would see its accept succeed once in between.)
    pub struct Diag {
        netlink: Socket,
        /// The last question's sequence number: an answer to an older one is passed over.
        asked: Cell<u32>,
    }

    impl Diag {
        pub fn open() -> Result<Diag> {
            let netlink =
                Socket::new(Domain::from(AF_NETLINK), Type::DGRAM, Some(Protocol::from(NETLINK_SOCK_DIAG)))
                    .context("opening a sock_diag netlink socket")?;
            netlink.set_read_timeout(Some(Duration::from_secs(1)))?;
            Ok(Diag { netlink, asked: Cell::new(0) })
        }

        /// Ask the kernel for the listening TCP sockets on `listener`'s port; return ours. The
        /// whole answer is read, up to its "done", so none of it is left for the next question.
        pub fn accept_queue(&self, listener: SocketAddr) -> Result<Queue> {
            let sequence = self.asked.get().wrapping_add(1);
            self.asked.set(sequence);
            self.netlink.send(&request(listener, sequence)).context("asking sock_diag")?;
            let mut buf = vec![0; 64 * 1024];
            let mut found = None;
            loop {
                let len = (&self.netlink).read(&mut buf).context("reading sock_diag's answer")?;
                let mut rest = &buf[..len];
                while rest.len() >= HEADER {
                    let size = (u32_at(rest, 0) as usize).clamp(HEADER, rest.len());
                    let (message, body) = (&rest[..size], &rest[HEADER..size]);
                    match u16::from_ne_bytes([message[4], message[5]]) {
                        _ if u32_at(message, 8) != sequence => {}
                        NLMSG_DONE => {
                            return found.with_context(|| {
                                format!("the kernel lists no listening socket on {listener}")
                            });
                        }
                        NLMSG_ERROR => bail!("sock_diag refused the request"),
                        _ if body.len() >= 64 && port_of(body) == listener.port() => {
                            // struct inet_diag_msg: 4 bytes, the 48-byte socket id, expires,
                            // then rqueue and wqueue.
                            found = Some(Queue { waiting: u32_at(body, 56), limit: u32_at(body, 60) });
                        }
                        _ => {}
                    }
                    // Each message starts on a 4-byte boundary.
                    rest = rest.get(size.next_multiple_of(4)..).unwrap_or_default();
                }
            }
        }
    }

    /// A netlink header, then struct inet_diag_req_v2: family, protocol, no extensions, the
    /// states wanted (LISTEN only), and a socket id that names only the local port: a dump of
    /// the listening sockets on that port.
    fn request(listener: SocketAddr, sequence: u32) -> Vec<u8> {
        let family: u8 = if listener.is_ipv4() { 2 } else { 10 };
        let mut message = Vec::with_capacity(HEADER + 56);
        message.extend_from_slice(&((HEADER + 56) as u32).to_ne_bytes());
        message.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        message.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        message.extend_from_slice(&sequence.to_ne_bytes());
        message.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
        message.extend_from_slice(&[family, IPPROTO_TCP, 0, 0]);
        message.extend_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
        message.extend_from_slice(&listener.port().to_be_bytes());
        message.extend_from_slice(&[0; 46]);
        message
    }

    /// The local port in an inet_diag_msg's socket id, in network byte order.
    fn port_of(body: &[u8]) -> u16 {
        u16::from_be_bytes([body[4], body[5]])
    }

    fn u32_at(bytes: &[u8], at: usize) -> u32 {
        u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
    }
}
