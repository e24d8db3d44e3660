//! The kernel's own tables of sockets: every TCP and UDP socket's addresses, state, queues and
//! inode, as Linux lists them in /proc/net/tcp, tcp6, udp and udp6. `netstat -tanu` prints these
//! files; `ss -tanu` asks the kernel for the same lists over netlink (sock_diag). Each TCP row is
//! printed by `get_tcp4_sock` (net/ipv4/tcp_ipv4.c) or `get_tcp6_sock` (net/ipv6/tcp_ipv6.c); a
//! connection in TIME_WAIT, which no program holds any more, by `get_timewait4_sock`; a UDP row
//! by `udp4_format_sock` (net/ipv4/udp.c). Linux only: elsewhere there is no table, and every
//! read says so with `None`. This is the one reader of these tables in the workspace: the labs,
//! the harness and the runner all read them through it.
//!
//! The tables list the sockets of one network namespace: whose is chosen by [`Net`] (this
//! process's, this thread's, or another process's).
//!
//! One read of a table is not one snapshot: the kernel hands it out a page at a time, and a
//! socket that comes or goes between two pages can be missed. A socket absent from one read
//! may be there all the same; absent from two reads in a row, it is gone.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Which table: the TCP sockets or the UDP ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

/// Whose network namespace's tables to read: each namespace has its own sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Net {
    /// This process's (/proc/self/net, which /proc/net points to).
    Ours,
    /// The calling thread's (/proc/thread-self/net): differs from the process's once the
    /// thread has entered a namespace of its own (setns, unshare).
    Thread,
    /// Another process's (/proc/PID/net): the namespace that process is in.
    Pid(u32),
}

impl Net {
    /// The two files of `proto`'s table in this namespace: IPv4, then IPv6.
    pub fn tables(self, proto: Proto) -> [String; 2] {
        let dir = match self {
            Net::Ours => "/proc/self/net".to_string(),
            Net::Thread => "/proc/thread-self/net".to_string(),
            Net::Pid(pid) => format!("/proc/{pid}/net"),
        };
        let name = match proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        };
        [format!("{dir}/{name}"), format!("{dir}/{name}6")]
    }
}

/// A TCP state, numbered as the kernel numbers it (include/net/tcp_states.h) and as the `st`
/// column of the table shows it, in hex.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct State(pub u8);

impl State {
    pub const ESTABLISHED: State = State(1);
    pub const SYN_SENT: State = State(2);
    pub const SYN_RECV: State = State(3);
    pub const FIN_WAIT1: State = State(4);
    pub const FIN_WAIT2: State = State(5);
    pub const TIME_WAIT: State = State(6);
    pub const CLOSE: State = State(7);
    pub const CLOSE_WAIT: State = State(8);
    pub const LAST_ACK: State = State(9);
    pub const LISTEN: State = State(10);
    pub const CLOSING: State = State(11);
    pub const NEW_SYN_RECV: State = State(12);

    /// The state's name as the kernel's source (`TCP_FIN_WAIT2`) and `netstat` write it:
    /// `FIN_WAIT2`. (`ss` and RFC 9293 write `FIN-WAIT-2`.)
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 13] = [
            "?",
            "ESTABLISHED",
            "SYN_SENT",
            "SYN_RECV",
            "FIN_WAIT1",
            "FIN_WAIT2",
            "TIME_WAIT",
            "CLOSE",
            "CLOSE_WAIT",
            "LAST_ACK",
            "LISTEN",
            "CLOSING",
            "NEW_SYN_RECV",
        ];
        NAMES.get(usize::from(self.0)).copied().unwrap_or("?")
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One socket as the kernel lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    pub local: SocketAddr,
    /// The other end; `0.0.0.0:0` for a listening socket, or a UDP socket not connected.
    pub remote: SocketAddr,
    /// A TCP socket's state; a UDP socket shows CLOSE (7), or ESTABLISHED (1) once connected.
    pub state: State,
    /// Bytes sent and not yet acknowledged (a listener: 0).
    pub tx_queue: u32,
    /// Bytes received and not yet read by the program; for a listener, the connections that
    /// wait in its accept queue.
    pub rx_queue: u32,
    /// How many times the socket has sent its last segment again without an answer (`ss` shows
    /// the same count); for a connect, its SYN. Always 0 for UDP.
    pub retransmits: u32,
    /// The socket's inode, as /proc/PID/fd lists it (`socket:[INODE]`): whose socket it is.
    /// 0 for a connection in TIME_WAIT, which no program holds.
    pub inode: u64,
    /// UDP only: how many datagrams the kernel dropped on this socket (`sk_drops`: its receive
    /// buffer was full), the same counter SO_RXQ_OVFL reports to the socket's owner.
    pub drops: Option<u64>,
}

/// Every TCP socket in this process's network namespace. `None` where there is no table to
/// read: not Linux.
pub fn read() -> Option<Vec<Row>> {
    read_in(Net::Ours, Proto::Tcp)
}

/// The TCP sockets bound to one of `ports` (as their local or remote port): [`read`], but
/// parsing only the lines that name one of the ports, which costs far less on a machine with
/// thousands of sockets. `None` where there is no table.
pub fn read_ports(ports: &[u16]) -> Option<Vec<Row>> {
    read_ports_in(Net::Ours, Proto::Tcp, ports)
}

/// Every socket of `proto` in `net`'s namespace, IPv4 and IPv6. `None` where there is no
/// table to read (not Linux, or the process named is gone).
pub fn read_in(net: Net, proto: Proto) -> Option<Vec<Row>> {
    read_tables(net, proto, |text| parse(text, proto).collect())
}

/// The sockets of `proto` in `net`'s namespace whose local or remote port is one of `ports`.
pub fn read_ports_in(net: Net, proto: Proto, ports: &[u16]) -> Option<Vec<Row>> {
    read_tables(net, proto, |text| parse_ports(text, proto, ports))
}

fn read_tables(net: Net, proto: Proto, parse: impl Fn(&str) -> Vec<Row>) -> Option<Vec<Row>> {
    let mut rows = Vec::new();
    let mut found = false;
    for table in net.tables(proto) {
        if let Ok(text) = std::fs::read_to_string(table) {
            found = true;
            rows.extend(parse(&text));
        }
    }
    found.then_some(rows)
}

/// The rows of one table whose local or remote port is one of `ports`; the other lines are
/// passed over without being parsed.
fn parse_ports(table: &str, proto: Proto, ports: &[u16]) -> Vec<Row> {
    let named: Vec<String> = ports.iter().map(|port| format!(":{port:04X} ")).collect();
    let lines = table.lines().skip(1).filter(|line| named.iter().any(|port| line.contains(port.as_str())));
    let mut text = String::from("header\n");
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    parse(&text, proto)
        .filter(|row| ports.contains(&row.local.port()) || ports.contains(&row.remote.port()))
        .collect()
}

/// Is there a table to read here?
pub fn available() -> bool {
    Net::Ours.tables(Proto::Tcp).iter().any(|table| std::path::Path::new(table).exists())
}

/// The state of the socket at `local` connected to `remote`, in `rows`; `None` when no such
/// socket is listed (it is gone, or was never there).
pub fn state_of(rows: &[Row], local: SocketAddr, remote: SocketAddr) -> Option<State> {
    rows.iter().find(|row| row.local == local && row.remote == remote).map(|row| row.state)
}

/// The rows of one table of `proto`'s, which read
/// `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...`
/// (and, at the end of a UDP row, `drops`). An
/// address is hex, `0100007F:1F90`: the IP address as the kernel holds it in memory (each 32-bit
/// word printed as a number in the machine's byte order), then the port. Lines that do not
/// read so are passed over.
pub fn parse(table: &str, proto: Proto) -> impl Iterator<Item = Row> + '_ {
    table.lines().skip(1).filter_map(move |line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (tx_queue, rx_queue) = fields.get(4)?.split_once(':')?;
        Some(Row {
            local: address(fields.get(1)?)?,
            remote: address(fields.get(2)?)?,
            state: State(u8::from_str_radix(fields.get(3)?, 16).ok()?),
            tx_queue: u32::from_str_radix(tx_queue, 16).ok()?,
            rx_queue: u32::from_str_radix(rx_queue, 16).ok()?,
            retransmits: u32::from_str_radix(fields.get(6)?, 16).ok()?,
            inode: fields.get(9)?.parse().ok()?,
            drops: match proto {
                Proto::Udp => fields.get(12).and_then(|drops| drops.parse().ok()),
                Proto::Tcp => None,
            },
        })
    })
}

/// `0100007F:1F90` is 127.0.0.1:8080 (on a little-endian machine); 32 hex digits make an IPv6
/// address. An IPv4 address mapped into IPv6 (`::ffff:127.0.0.1`, a dual-stack socket's view
/// of an IPv4 peer) reads as the IPv4 address, as the program on the other end sees it.
fn address(field: &str) -> Option<SocketAddr> {
    let (ip, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |hex: &str| u32::from_str_radix(hex, 16).ok().map(u32::to_ne_bytes);
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(ip)?)),
        32 => {
            let mut bytes = [0; 16];
            for (n, chunk) in bytes.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(ip.get(n * 8..n * 8 + 8)?)?);
            }
            Ipv6Addr::from(bytes).to_canonical()
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    /// A listener, a connection's two ends and a TIME_WAIT, as Linux prints them on a
    /// little-endian machine.
    #[cfg(target_endian = "little")]
    #[test]
    fn reads_addresses_states_and_queues() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
                     0: 0100007F:1F90 00000000:0000 0A 00000000:00000001 00:00000000 00000000  1000        0 4001\n\
                     1: 0100007F:1F90 0100007F:A000 08 00000000:00000006 00:00000000 00000000  1000        0 4002\n\
                     2: 0100007F:A000 0100007F:1F90 05 00000000:00000000 00:00000000 00000002  1000        0 4003\n\
                     3: 0100007F:A001 0100007F:1F90 06 00000000:00000000 03:00000F9F 00000000     0        0 4004\n";
        let rows: Vec<Row> = parse(table, Proto::Tcp).collect();
        assert_eq!(rows.len(), 4);
        assert_eq!(
            (rows[0].local, rows[0].state, rows[0].rx_queue),
            (addr("127.0.0.1:8080"), State::LISTEN, 1)
        );
        assert_eq!(rows[1].rx_queue, 6);
        assert_eq!(rows[2].retransmits, 2);
        assert_eq!(state_of(&rows, addr("127.0.0.1:40960"), addr("127.0.0.1:8080")), Some(State::FIN_WAIT2));
        assert_eq!(state_of(&rows, addr("127.0.0.1:8080"), addr("127.0.0.1:40960")), Some(State::CLOSE_WAIT));
        assert_eq!(state_of(&rows, addr("127.0.0.1:40961"), addr("127.0.0.1:8080")), Some(State::TIME_WAIT));
        assert_eq!(state_of(&rows, addr("127.0.0.1:1"), addr("127.0.0.1:8080")), None);
    }

    /// Only the rows that name one of the ports, as local or remote port.
    #[cfg(target_endian = "little")]
    #[test]
    fn reads_only_the_rows_of_some_ports() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
                     0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4005\n\
                     1: 0100007F:A000 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 4006\n\
                     2: 0100007F:1F91 0100007F:B000 01 00000000:00000000 00:00000000 00000000  1000        0 4007\n";
        let rows = parse_ports(table, Proto::Tcp, &[0x1F90]);
        assert_eq!(rows.len(), 2);
        assert_eq!(parse_ports(table, Proto::Tcp, &[0xB000])[0].local, addr("127.0.0.1:8081"));
        assert!(parse_ports(table, Proto::Tcp, &[0x0100]).is_empty());
    }

    /// tcp6 rows: ::1, and an IPv4 peer of a dual-stack socket, which reads as IPv4.
    #[cfg(target_endian = "little")]
    #[test]
    fn reads_ipv6_and_mapped_ipv4_addresses() {
        let table = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
                     0: 00000000000000000000000001000000:2328 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4008\n\
                     1: 0000000000000000FFFF00000100007F:2328 0000000000000000FFFF00000100007F:B000 01 00000000:00000000 00:00000000 00000000  1000        0 4009\n";
        let rows: Vec<Row> = parse(table, Proto::Tcp).collect();
        assert_eq!(rows[0].local, addr("[::1]:9000"));
        assert_eq!(rows[1].local, addr("127.0.0.1:9000"));
        assert_eq!(rows[1].remote, addr("127.0.0.1:45056"));
    }

    /// udp rows: the inode, the receive queue and, in the last column, the drops.
    #[cfg(target_endian = "little")]
    #[test]
    fn reads_a_udp_sockets_queue_inode_and_drops() {
        let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                     7: 0100007F:22B8 00000000:0000 07 00000000:00000340 00:00000000 00000000  1000        0 91234 2 0000000000000000 17\n";
        let rows: Vec<Row> = parse(table, Proto::Udp).collect();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].local, rows[0].rx_queue), (addr("127.0.0.1:8888"), 0x340));
        assert_eq!((rows[0].inode, rows[0].drops), (91234, Some(17)));
        // The same columns of a TCP row are not drops.
        assert_eq!(parse(table, Proto::Tcp).next().unwrap().drops, None);
    }

    /// The tables of this process, of this thread and of our pid are the same namespace's.
    #[test]
    fn names_the_tables_of_a_process_a_thread_and_a_pid() {
        assert_eq!(Net::Ours.tables(Proto::Udp), ["/proc/self/net/udp", "/proc/self/net/udp6"]);
        assert_eq!(Net::Thread.tables(Proto::Tcp)[1], "/proc/thread-self/net/tcp6");
        assert_eq!(Net::Pid(42).tables(Proto::Tcp)[0], "/proc/42/net/tcp");
    }

    /// Our own UDP socket, seen with its inode in each view of our namespace.
    #[cfg(target_os = "linux")]
    #[test]
    fn finds_a_live_udp_socket_in_every_view() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        for net in [Net::Ours, Net::Thread, Net::Pid(std::process::id())] {
            // Read until seen: a read can miss a row while other sockets come and go.
            let seen = (0..100).any(|_| {
                let rows = read_ports_in(net, Proto::Udp, &[port]).unwrap();
                rows.iter().any(|row| row.local.port() == port && row.inode != 0 && row.drops == Some(0))
            });
            assert!(seen, "{net:?} never listed our socket on port {port}");
        }
    }

    #[test]
    fn names_every_state() {
        assert_eq!(State::CLOSE_WAIT.to_string(), "CLOSE_WAIT");
        assert_eq!(State(12).name(), "NEW_SYN_RECV");
        assert_eq!(State(99).name(), "?");
    }

    /// Our own listener and connection, found in the live table with their states.
    #[cfg(target_os = "linux")]
    #[test]
    fn finds_a_live_connection_at_both_ends() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(server).unwrap();
        let local = client.local_addr().unwrap();
        // Read until seen: a read can miss a row while other sockets come and go.
        let seen = (0..100).any(|_| {
            let rows = read().unwrap();
            state_of(&rows, local, server) == Some(State::ESTABLISHED)
                && state_of(&rows, server, local) == Some(State::ESTABLISHED)
                && state_of(&rows, server, "0.0.0.0:0".parse().unwrap()) == Some(State::LISTEN)
        });
        assert!(seen, "the table never listed both ends and the listener");
    }
}
