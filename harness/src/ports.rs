//! Ports on loopback: one nothing is bound to, one held closed, and the kernel's own tables
//! (/proc/net on Linux) that say whether a port is bound and how full a listener's accept
//! queue is.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::time::Duration;

use crate::transcript::Proto;
use crate::wait;

/// A port on loopback that nothing is bound to right now, for a server that must be told its
/// port (`check` mode, and the start-order scenarios). It is taken from below the kernel's
/// ephemeral range, so between our look and the server's bind the kernel never hands it to a
/// socket that binds port 0 or connects (another test's peer, say), which it would for a port
/// from `bind(0)`; only a program that names this very port could take it.
pub fn unused_port(proto: Proto) -> std::io::Result<u16> {
    for _ in 0..10 {
        let port = match proto {
            Proto::Udp => bind_outside_ephemeral(UdpSocket::bind)?.local_addr()?.port(),
            Proto::Tcp => bind_outside_ephemeral(TcpListener::bind)?.local_addr()?.port(),
        };
        if wait_until_free(proto, port) {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, "every port tried stayed bound"))
}

/// Bind with `bind` to a loopback port below the kernel's ephemeral range (Linux:
/// net.ipv4.ip_local_port_range, 32768 and up by default), trying ports from a random start.
/// Where the range is unknown or leaves no room below it, port 0: any free port.
fn bind_outside_ephemeral<S>(bind: impl Fn(SocketAddr) -> std::io::Result<S>) -> std::io::Result<S> {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(0);
    if low < 4096 {
        return bind(SocketAddr::from(([127, 0, 0, 1], 0)));
    }
    let first = low.saturating_sub(16_384).max(2048);
    let span = low - first;
    let mut candidate = random() % span;
    let mut last_error = None;
    for _ in 0..64 {
        let port = (first + candidate) as u16;
        candidate = (candidate + 7919) % span;
        // Scenarios run side by side: this process hands a port to one of them at a time.
        if !hand_out(port) {
            continue;
        }
        match bind(SocketAddr::from(([127, 0, 0, 1], port))) {
            Ok(socket) => return Ok(socket),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::ErrorKind::AddrInUse.into()))
}

/// Mark `port` as handed out by this process; false if it was among the last 4096 handed out
/// (long enough ago, a port is free to be handed out again).
fn hand_out(port: u16) -> bool {
    static HANDED: std::sync::Mutex<std::collections::VecDeque<u16>> =
        std::sync::Mutex::new(std::collections::VecDeque::new());
    let mut handed = HANDED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if handed.contains(&port) {
        return false;
    }
    if handed.len() == 4096 {
        handed.pop_front();
    }
    handed.push_back(port);
    true
}

/// A number that differs from call to call and from process to process: where to start
/// looking for a free port.
fn random() -> u32 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut x = now.as_nanos() as u64
        ^ (u64::from(std::process::id()) << 32)
        ^ CALLS.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // xorshift: spread the bits.
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    (x >> 16) as u32
}

/// Wait, about a second (and a few looks at least), until no socket at all is on `port`;
/// false if one stays. A socket we have just closed can live on for a moment: a process that
/// another thread is starting right then holds a copy until it runs its program (descriptors
/// are copied on fork and closed on exec), and meanwhile the port looks bound, as if a server
/// were ready there.
pub fn wait_until_free(proto: Proto, port: u16) -> bool {
    // Polling the kernel's socket table: there is no event to wait on. The table is read in
    // pieces, and a socket can be missed when others come and go between two pieces: free
    // means free at two looks in a row.
    let mut free_looks = 0;
    let mut looks = 0;
    // On a machine so busy that one look takes hundreds of milliseconds, a second may hold
    // only one look: give up only after a few looks, too.
    loop {
        let free = wait::until(Duration::from_secs(1), || {
            looks += 1;
            free_looks = if on_port(proto, port, None) { 0 } else { free_looks + 1 };
            (free_looks >= 2).then_some(())
        });
        if free.is_some() {
            return true;
        }
        if looks >= 5 {
            return false;
        }
    }
}

/// A loopback TCP port where nothing listens, held bound (but not listening) until the
/// socket is dropped: a connect there is refused. Holding it keeps other programs off the
/// port, and, like the choice of a port below the ephemeral range (see [`unused_port`]),
/// keeps the kernel from picking it as the local port of the very connect that tests it: a
/// connect from port P to port P on the same address is TCP's "self-connect", which succeeds
/// with nobody listening.
///
/// The socket has SO_REUSEADDR: a bound socket that is not listening shows in no table of
/// /proc/net, so [`HeldPort::release`] cannot see a copy of it that lives on for a moment in a
/// process another thread is starting (between its fork and its exec). With SO_REUSEADDR on
/// both, such a copy does not stop the server's bind (Linux, `inet_bind_conflict`: two sockets
/// that both set it conflict only if one listens).
pub fn closed_tcp_port() -> std::io::Result<(socket2::Socket, u16)> {
    let socket = bind_outside_ephemeral(|addr| {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        Ok(socket)
    })?;
    let port = socket.local_addr()?.as_socket().map_or(0, |addr| addr.port());
    Ok((socket, port))
}

/// A loopback UDP port where nobody receives, held until the socket is dropped: a datagram
/// sent there is answered by the kernel with ICMP port-unreachable, which a connected sender
/// sees as "connection refused". The socket holding the port is connected to port 1 (it never
/// sends), and a connected UDP socket only takes datagrams from the address it is connected
/// to: for everyone else the port is closed. Holding it keeps other programs off the port, and
/// keeps the sender from being given this port as its own.
pub fn closed_udp_port() -> std::io::Result<(UdpSocket, u16)> {
    let socket = bind_outside_ephemeral(UdpSocket::bind)?;
    socket.connect(SocketAddr::from(([127, 0, 0, 1], 1)))?;
    let port = socket.local_addr()?.port();
    Ok((socket, port))
}

/// A loopback port held closed ([`closed_tcp_port`], [`closed_udp_port`]) until a server is
/// to be started there.
pub enum HeldPort {
    Tcp(socket2::Socket, u16),
    Udp(UdpSocket, u16),
}

impl HeldPort {
    pub fn closed(proto: Proto) -> std::io::Result<HeldPort> {
        Ok(match proto {
            Proto::Tcp => {
                let (socket, port) = closed_tcp_port()?;
                HeldPort::Tcp(socket, port)
            }
            Proto::Udp => {
                let (socket, port) = closed_udp_port()?;
                HeldPort::Udp(socket, port)
            }
        })
    }

    pub fn addr(&self) -> SocketAddr {
        let port = match self {
            HeldPort::Tcp(_, port) | HeldPort::Udp(_, port) => *port,
        };
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// Let go of the port, for a server to bind, once the kernel shows it free (see
    /// [`wait_until_free`]). False if it stays bound.
    pub fn release(self) -> bool {
        let (proto, port) = match &self {
            HeldPort::Tcp(_, port) => (Proto::Tcp, *port),
            HeldPort::Udp(_, port) => (Proto::Udp, *port),
        };
        drop(self);
        wait_until_free(proto, port)
    }
}

/// Is some socket bound to this UDP port, or listening on this TCP port? On Linux the kernel's
/// tables in /proc/net say so without touching the port; elsewhere we try to bind it ourselves.
pub fn is_bound(proto: Proto, port: u16) -> bool {
    if cfg!(target_os = "linux") {
        // 0A is TCP_LISTEN: a bound but not yet listening socket is not ready.
        on_port(proto, port, if proto == Proto::Tcp { Some("0A") } else { None })
    } else {
        match proto {
            Proto::Udp => UdpSocket::bind(("127.0.0.1", port)).is_err(),
            Proto::Tcp => TcpListener::bind(("127.0.0.1", port)).is_err(),
        }
    }
}

/// Does the kernel's table (Linux) list a socket on `port`, in `state` if one is given?
/// Elsewhere there is no table to read, and the answer is no.
fn on_port(proto: Proto, port: u16, state: Option<&str>) -> bool {
    let tables = match proto {
        Proto::Udp => ["/proc/thread-self/net/udp", "/proc/thread-self/net/udp6"],
        Proto::Tcp => ["/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"],
    };
    tables
        .iter()
        .any(|table| std::fs::read_to_string(table).is_ok_and(|text| table_has_port(&text, port, state)))
}

/// The ports on which the sockets with these `inodes` (see [`crate::procs::sockets`]) are
/// bound (UDP) or listening (TCP), from the kernel's tables. Empty where there are none.
pub fn held_by(proto: Proto, inodes: &std::collections::HashSet<u64>) -> Vec<u16> {
    let tables = match proto {
        Proto::Udp => [("/proc/thread-self/net/udp", proto), ("/proc/thread-self/net/udp6", proto)],
        Proto::Tcp => [("/proc/thread-self/net/tcp", proto), ("/proc/thread-self/net/tcp6", proto)],
    };
    let mut ports: Vec<u16> = bound_in(&tables, inodes).into_iter().map(|bound| bound.port).collect();
    ports.sort();
    ports.dedup();
    ports
}

/// Where the sockets with these `inodes` are bound (UDP) or listening (TCP), from the
/// kernel's tables: each with its protocol, port, and whether it is bound to every interface
/// (0.0.0.0 or ::) rather than one address. Empty where there are none, or no tables.
pub fn bound_by(inodes: &std::collections::HashSet<u64>) -> Vec<Bound> {
    let tables = [
        ("/proc/thread-self/net/udp", Proto::Udp),
        ("/proc/thread-self/net/udp6", Proto::Udp),
        ("/proc/thread-self/net/tcp", Proto::Tcp),
        ("/proc/thread-self/net/tcp6", Proto::Tcp),
    ];
    bound_in(&tables, inodes)
}

/// The sockets with these `inodes` in `tables` (each a /proc/net file and its protocol).
fn bound_in(tables: &[(&str, Proto)], inodes: &std::collections::HashSet<u64>) -> Vec<Bound> {
    tables
        .iter()
        .filter_map(|&(table, proto)| Some((std::fs::read_to_string(table).ok()?, proto)))
        .flat_map(|(text, proto)| rows_bound_by(&text, proto, inodes))
        .collect()
}

/// The rows of one table (`proto`'s) whose socket is one of `inodes`, bound (UDP) or listening
/// (TCP) on a port.
fn rows_bound_by(table: &str, proto: Proto, inodes: &std::collections::HashSet<u64>) -> Vec<Bound> {
    table
        .lines()
        .skip(1)
        .filter_map(|row| {
            let fields: Vec<&str> = row.split_whitespace().collect();
            let inode: u64 = fields.get(9)?.parse().ok()?;
            let listening = proto == Proto::Udp || fields.get(3) == Some(&"0A");
            let (address, port) = fields.get(1)?.rsplit_once(':')?;
            let port = u16::from_str_radix(port, 16).ok()?;
            let every_interface = address.bytes().all(|digit| digit == b'0');
            (inodes.contains(&inode) && listening && port != 0).then_some(Bound {
                proto,
                port,
                every_interface,
            })
        })
        .collect()
}

/// A socket a process holds bound or listening: see [`bound_by`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bound {
    pub proto: Proto,
    pub port: u16,
    /// Bound to 0.0.0.0 or ::, where other machines can reach it.
    pub every_interface: bool,
}

/// How many finished connections wait in the accept queue of the TCP socket listening on
/// `port`: the rx_queue column of its LISTEN row in /proc/net/tcp (or tcp6). `None` where the
/// kernel does not say (not Linux, or nothing listens there).
pub fn accept_queue(port: u16) -> Option<u32> {
    ["/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .find_map(|text| listen_row_queue(&text, port))
}

/// The rx_queue of `port`'s LISTEN row (state 0A) in a /proc/net/tcp table.
fn listen_row_queue(table: &str, port: u16) -> Option<u32> {
    table.lines().skip(1).find_map(|row| {
        let fields: Vec<&str> = row.split_whitespace().collect();
        let (_, hex_port) = fields.get(1)?.rsplit_once(':')?;
        if u16::from_str_radix(hex_port, 16) != Ok(port) || fields.get(3) != Some(&"0A") {
            return None;
        }
        let (_, rx_queue) = fields.get(4)?.split_once(':')?;
        u32::from_str_radix(rx_queue, 16).ok()
    })
}

/// Rows of /proc/net/{tcp,udp}[6] read `sl local_address rem_address st ...`, with the local
/// address as `0100007F:1F90` (hex address, hex port).
fn table_has_port(table: &str, port: u16, state: Option<&str>) -> bool {
    table.lines().skip(1).any(|row| {
        let fields: Vec<&str> = row.split_whitespace().collect();
        let local_port = fields.get(1).and_then(|local| local.rsplit_once(':'));
        let port_matches = local_port.is_some_and(|(_, hex)| u16::from_str_radix(hex, 16) == Ok(port));
        let state_matches = state.is_none_or(|want| fields.get(3) == Some(&want));
        port_matches && state_matches
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connect to the closed port is refused, however often it is tried.
    #[test]
    fn a_closed_port_refuses_connections() {
        let (_held, port) = closed_tcp_port().unwrap();
        for _ in 0..20 {
            let error = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap_err();
            assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
        }
    }

    /// A datagram to the closed UDP port comes back as "connection refused" on a connected
    /// sender, and the socket holding the port receives nothing.
    #[test]
    fn a_closed_udp_port_refuses_datagrams() {
        let (held, port) = closed_udp_port().unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.connect(("127.0.0.1", port)).unwrap();
        sender.set_read_timeout(Some(crate::WAIT)).unwrap();
        sender.send(b"anyone?").unwrap();
        let error = sender.recv(&mut [0; 16]).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
        held.set_nonblocking(true).unwrap();
        assert_eq!(held.recv(&mut [0; 16]).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    }

    #[test]
    fn reads_the_kernel_socket_table() {
        let table = "  sl  local_address rem_address   st tx_queue\n\
                     0: 0100007F:1F90 00000000:0000 0A 00000000:00000003\n\
                     1: 0100007F:22B8 00000000:0000 07 00000000:00000000\n";
        assert!(table_has_port(table, 0x1F90, Some("0A")));
        assert!(!table_has_port(table, 0x22B8, Some("0A")));
        assert!(table_has_port(table, 0x22B8, None));
        assert_eq!(listen_row_queue(table, 0x1F90), Some(3));
        assert_eq!(listen_row_queue(table, 0x22B8), None);
        assert!(!table_has_port(table, 1, None));
    }

    /// A socket we hold is seen as bound.
    #[test]
    fn sees_a_bound_udp_socket_and_a_listening_tcp_one() {
        // The kernel's table is read in pieces, and a socket can be missed when others come
        // and go between two of them (tests running alongside): look until it is seen.
        let seen = |proto, port| wait::until(crate::WAIT, || is_bound(proto, port).then_some(())).is_some();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        assert!(seen(Proto::Udp, port));
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp_port = tcp.local_addr().unwrap().port();
        assert!(seen(Proto::Tcp, tcp_port));
    }
}
