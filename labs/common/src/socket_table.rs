//! The kernel's own table of TCP sockets: every socket's addresses and state, as Linux lists
//! them in /proc/net/tcp (IPv4) and /proc/net/tcp6 (IPv6). `netstat -tan` prints these files;
//! `ss -tan` asks the kernel for the same list over netlink (sock_diag). Each row is printed by `get_tcp4_sock` (net/ipv4/tcp_ipv4.c) or
//! `get_tcp6_sock` (net/ipv6/tcp_ipv6.c); a connection in TIME_WAIT, which no program holds any
//! more, by `get_timewait4_sock`. Linux only: elsewhere there is no table, and [`read`] says so
//! with `None`.
//!
//! One read of the table is not one snapshot: the kernel hands it out a page at a time, and a
//! socket that comes or goes between two pages can be missed. A socket absent from one read
//! may be there all the same; absent from two reads in a row, it is gone.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

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

/// One TCP socket as the kernel lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    pub local: SocketAddr,
    /// The other end; `0.0.0.0:0` for a listening socket.
    pub remote: SocketAddr,
    pub state: State,
    /// Bytes sent and not yet acknowledged (a listener: 0).
    pub tx_queue: u32,
    /// Bytes received and not yet read by the program; for a listener, the connections that
    /// wait in its accept queue.
    pub rx_queue: u32,
    /// How many times the socket has sent its last segment again without an answer (`ss` shows
    /// the same count); for a connect, its SYN.
    pub retransmits: u32,
}

/// The two tables, IPv4 and IPv6, as the kernel lists them.
pub const TABLES: [&str; 2] = ["/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"];

/// Every TCP socket on this machine (in this network namespace). `None` where there is no
/// table to read: not Linux.
pub fn read() -> Option<Vec<Row>> {
    let mut rows = Vec::new();
    let mut found = false;
    for table in TABLES {
        if let Ok(text) = std::fs::read_to_string(table) {
            found = true;
            rows.extend(parse(&text));
        }
    }
    found.then_some(rows)
}

/// The sockets bound to one of `ports` (as their local or remote port): [`read`], but parsing
/// only the lines that name one of the ports, which costs far less on a machine with thousands
/// of sockets. `None` where there is no table.
pub fn read_ports(ports: &[u16]) -> Option<Vec<Row>> {
    let mut rows = Vec::new();
    let mut found = false;
    for table in TABLES {
        if let Ok(text) = std::fs::read_to_string(table) {
            found = true;
            rows.extend(parse_ports(&text, ports));
        }
    }
    found.then_some(rows)
}

/// The rows of one table whose local or remote port is one of `ports`; the other lines are
/// passed over without being parsed.
fn parse_ports(table: &str, ports: &[u16]) -> Vec<Row> {
    let named: Vec<String> = ports.iter().map(|port| format!(":{port:04X} ")).collect();
    let lines = table.lines().skip(1).filter(|line| named.iter().any(|port| line.contains(port.as_str())));
    let mut text = String::from("header\n");
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    parse(&text)
        .filter(|row| ports.contains(&row.local.port()) || ports.contains(&row.remote.port()))
        .collect()
}

/// Is there a table to read here?
pub fn available() -> bool {
    TABLES.iter().any(|table| std::path::Path::new(table).exists())
}

/// The state of the socket at `local` connected to `remote`, in `rows`; `None` when no such
/// socket is listed (it is gone, or was never there).
pub fn state_of(rows: &[Row], local: SocketAddr, remote: SocketAddr) -> Option<State> {
    rows.iter().find(|row| row.local == local && row.remote == remote).map(|row| row.state)
}

/// The rows of one table, which read
/// `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid ...`. An
/// address is hex, `0100007F:1F90`: the IP address as the kernel holds it in memory (each 32-bit
/// word printed as a number in the machine's byte order), then the port. Lines that do not
/// read so are passed over.
pub fn parse(table: &str) -> impl Iterator<Item = Row> + '_ {
    table.lines().skip(1).filter_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (tx_queue, rx_queue) = fields.get(4)?.split_once(':')?;
        Some(Row {
            local: address(fields.get(1)?)?,
            remote: address(fields.get(2)?)?,
            state: State(u8::from_str_radix(fields.get(3)?, 16).ok()?),
            tx_queue: u32::from_str_radix(tx_queue, 16).ok()?,
            rx_queue: u32::from_str_radix(rx_queue, 16).ok()?,
            retransmits: u32::from_str_radix(fields.get(6)?, 16).ok()?,
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
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n\
                     0: 0100007F:1F90 00000000:0000 0A 00000000:00000001 00:00000000 00000000  1000\n\
                     1: 0100007F:1F90 0100007F:A000 08 00000000:00000006 00:00000000 00000000  1000\n\
                     2: 0100007F:A000 0100007F:1F90 05 00000000:00000000 00:00000000 00000002  1000\n\
                     3: 0100007F:A001 0100007F:1F90 06 00000000:00000000 03:00000F9F 00000000     0\n";
        let rows: Vec<Row> = parse(table).collect();
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
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n\
                     0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000\n\
                     1: 0100007F:A000 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000\n\
                     2: 0100007F:1F91 0100007F:B000 01 00000000:00000000 00:00000000 00000000  1000\n";
        let rows = parse_ports(table, &[0x1F90]);
        assert_eq!(rows.len(), 2);
        assert_eq!(parse_ports(table, &[0xB000])[0].local, addr("127.0.0.1:8081"));
        assert!(parse_ports(table, &[0x0100]).is_empty());
    }

    /// tcp6 rows: ::1, and an IPv4 peer of a dual-stack socket, which reads as IPv4.
    #[cfg(target_endian = "little")]
    #[test]
    fn reads_ipv6_and_mapped_ipv4_addresses() {
        let table = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid\n\
                     0: 00000000000000000000000001000000:2328 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000\n\
                     1: 0000000000000000FFFF00000100007F:2328 0000000000000000FFFF00000100007F:B000 01 00000000:00000000 00:00000000 00000000  1000\n";
        let rows: Vec<Row> = parse(table).collect();
        assert_eq!(rows[0].local, addr("[::1]:9000"));
        assert_eq!(rows[1].local, addr("127.0.0.1:9000"));
        assert_eq!(rows[1].remote, addr("127.0.0.1:45056"));
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
