//! What the kernel knows about one socket and no event tells: a TCP socket's row in
//! /proc/net/tcp or tcp6 (its state and how often it sent its SYN again; the half-open requests
//! on a listener's port; the state of each end of a connection, and a wait for the states a
//! scenario expects), Linux's SYN retry schedule, whether a UDP socket has an error waiting, and
//! IP_RECVERR. Linux only: elsewhere every answer is "not known". The table itself is read by
//! [`lab_common::socket_table`], which the labs' binaries read too.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use anyhow::{Result, bail};
use lab_common::socket_table;
pub use lab_common::socket_table::{Row, State};

use crate::transcript::{Event, Transcript};
use crate::{secs, wait};

/// TCP states as /proc/net/tcp numbers them (`include/net/tcp_states.h`).
pub const ESTABLISHED: State = State::ESTABLISHED;
pub const SYN_SENT: State = State::SYN_SENT;
pub const SYN_RECV: State = State::SYN_RECV;

/// One TCP socket as the kernel lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpRow {
    pub state: State,
    /// The `retrnsmt` column: how many times the socket has sent its last segment again (a
    /// connect: its SYN) without an answer. `ss` shows the same count.
    pub retransmits: u32,
}

/// The row of the TCP socket from `local` to `remote`. `None` when there is no such socket,
/// or no table to read (not Linux).
pub fn tcp_row(local: SocketAddr, remote: SocketAddr) -> Option<TcpRow> {
    let rows = socket_table::read()?;
    let row = rows.iter().find(|row| row.local == local && row.remote == remote)?;
    Some(TcpRow { state: row.state, retransmits: row.retransmits })
}

/// How many half-open connections (SYN-RECV: the SYN answered, the final ACK not yet taken)
/// wait on the listening port `port`: the SYN queue, as /proc/net/tcp lists it. `None` when
/// there is no table to read.
pub fn half_open(port: u16) -> Option<usize> {
    Some(half_open_in(&socket_table::read()?, port))
}

fn half_open_in(rows: &[Row], port: u16) -> usize {
    rows.iter().filter(|row| row.local.port() == port && row.state == SYN_RECV).count()
}

/// The row of the socket listening at `addr` (its `rx_queue`: the connections waiting in its
/// accept queue). `None` when none is listed, or there is no table.
pub fn listener(addr: SocketAddr) -> Option<Row> {
    let rows = socket_table::read_ports(&[addr.port()])?;
    rows.into_iter().find(|row| row.local.port() == addr.port() && row.state == State::LISTEN)
}

/// One end of a TCP connection, as a scenario names it: the socket at `local` whose peer is at
/// `remote`.
#[derive(Clone, Debug)]
pub struct End {
    pub who: String,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

impl End {
    pub fn new(who: &str, local: SocketAddr, remote: SocketAddr) -> End {
        End { who: who.to_string(), local, remote }
    }

    /// The same connection's other end, named `who`.
    pub fn peer(&self, who: &str) -> End {
        End::new(who, self.remote, self.local)
    }

    /// This end's row, if the table lists it.
    pub fn row(&self, rows: &[Row]) -> Option<Row> {
        rows.iter().find(|row| row.local == self.local && row.remote == self.remote).copied()
    }
}

/// The longest pause between two looks at the table while waiting for a state.
pub const TABLE_PAUSE: Duration = Duration::from_millis(100);

/// "ESTABLISHED", or "gone" for an end the table does not list.
pub fn state_name(state: Option<State>) -> &'static str {
    state.map_or("gone", State::name)
}

/// Wait until the kernel's table shows each of `ends` in the state `wanted` says (`None`: gone,
/// which takes two reads in a row, since one read can miss a socket), within `within`, and
/// record what it showed. An error says what the table showed last; so does the transcript.
pub fn wait_for_states(
    transcript: &Transcript,
    ends: &[End],
    wanted: &[Option<State>],
    within: Duration,
) -> Result<()> {
    let mut last: Vec<Option<State>> = Vec::new();
    let mut gone_looks = 0;
    // Polling the kernel's table: a state has no event to wait on. One look reads every TCP
    // socket of the machine (thousands, where many programs run), so looks go up to 100 ms
    // apart: a state that is there at once is seen at once, one that never comes costs little.
    let ports: Vec<u16> = ends.iter().map(|end| end.local.port()).collect();
    let seen = wait::until_pausing(within, TABLE_PAUSE, || {
        let rows = socket_table::read_ports(&ports)?;
        last = ends.iter().map(|end| end.row(&rows).map(|row| row.state)).collect();
        if last != wanted {
            gone_looks = 0;
            return None;
        }
        gone_looks += 1;
        (wanted.iter().all(Option::is_some) || gone_looks >= 2).then_some(())
    });
    record_states(transcript, ends, &last);
    if seen.is_none() {
        if last.is_empty() {
            bail!("no kernel table to read (/proc/net/tcp is Linux's)");
        }
        bail!(
            "expected the kernel's table to show {} within {}; it still shows {}",
            describe_states(ends, wanted),
            secs(within),
            describe_states(ends, &last)
        );
    }
    Ok(())
}

/// "alice FIN_WAIT2, server CLOSE_WAIT".
pub fn describe_states(ends: &[End], states: &[Option<State>]) -> String {
    let each = ends.iter().zip(states).map(|(end, state)| format!("{} {}", end.who, state_name(*state)));
    each.collect::<Vec<_>>().join(", ")
}

/// Record in `transcript` what the table shows of each end now; the states, in order.
pub fn show_states(transcript: &Transcript, ends: &[End]) -> Option<Vec<Option<State>>> {
    let ports: Vec<u16> = ends.iter().map(|end| end.local.port()).collect();
    let rows = socket_table::read_ports(&ports)?;
    let states: Vec<Option<State>> = ends.iter().map(|end| end.row(&rows).map(|row| row.state)).collect();
    record_states(transcript, ends, &states);
    Some(states)
}

fn record_states(transcript: &Transcript, ends: &[End], states: &[Option<State>]) {
    if states.is_empty() {
        return;
    }
    let ends = ends.iter().zip(states).map(|(end, state)| (end.who.clone(), state_name(*state).to_string()));
    transcript.record(Event::States(ends.collect()));
}

/// Start a TCP connect to `addr` and return at once, the handshake under way: the socket is
/// non-blocking, and its connect's "in progress" is no error here.
pub fn start_connect(addr: SocketAddr) -> std::io::Result<socket2::Socket> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => Ok(socket),
        #[cfg(unix)]
        Err(error) if error.raw_os_error() == Some(libc::EINPROGRESS) => Ok(socket),
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => Ok(socket),
        Err(error) => Err(error),
    }
}

/// When a connect whose SYN gets no answer sends it again, as this kernel's settings say.
#[derive(Clone, Copy, Debug)]
pub struct SynSchedule {
    /// net.ipv4.tcp_syn_linear_timeouts (Linux 6.5 and later): with L, the first L + 1
    /// retries go 1 s apart, then the wait doubles (ip-sysctl.rst, for 4: "1, 1, 1, 1, 1, 2,
    /// 4, ..."). `None`: no such setting here, and every wait doubles (retries 1, 3, 7 s after
    /// the first SYN).
    pub linear: Option<u32>,
}

impl SynSchedule {
    pub const SETTING: &'static str = "/proc/sys/net/ipv4/tcp_syn_linear_timeouts";

    pub fn here() -> SynSchedule {
        let setting = std::fs::read_to_string(Self::SETTING).ok();
        SynSchedule { linear: setting.and_then(|text| text.trim().parse().ok()) }
    }

    /// How long after the first SYN the `n`th retry (1, 2, …) is due. The first wait is 1 s
    /// (TCP_TIMEOUT_INIT); `tcp_retransmit_timer` doubles it after each retry, except, for a
    /// connect, while no more than `linear` retries have gone (net/ipv4/tcp_timer.c).
    pub fn retry(&self, n: u32) -> Duration {
        let linear = self.linear.unwrap_or(0);
        let mut wait = Duration::from_secs(1);
        let mut at = Duration::ZERO;
        for sent in 1..=n {
            at += wait;
            if sent > linear {
                wait *= 2;
            }
        }
        at
    }
}

/// Wait up to `within` for an error to wait on `socket` (the ICMP error for a datagram it
/// sent), without taking it: poll(2) reports POLLERR and leaves the error for the socket's
/// next call. False if none came.
#[cfg(unix)]
#[allow(unsafe_code)]
pub fn error_waits(socket: &UdpSocket, within: Duration) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let deadline = crate::wait::Deadline::after(within);
    loop {
        let Some(left) = deadline.left() else { return Ok(false) };
        // Asking for no events: poll reports errors (POLLERR) whatever is asked.
        let mut wanted = libc::pollfd { fd: socket.as_raw_fd(), events: 0, revents: 0 };
        let millis = i32::try_from(left.as_millis()).unwrap_or(i32::MAX).max(1);
        // SAFETY: poll(2) reads and writes the one pollfd we pass, which outlives the call; the
        // descriptor is the socket's own and stays open while `socket` is borrowed.
        let ready = unsafe { libc::poll(&mut wanted, 1, millis) };
        match ready {
            0 => continue,
            1.. => return Ok(wanted.revents & libc::POLLERR != 0),
            _ => {
                let error = std::io::Error::last_os_error();
                if error.kind() != std::io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
}

#[cfg(not(unix))]
pub fn error_waits(_socket: &UdpSocket, _within: Duration) -> std::io::Result<bool> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Set IP_RECVERR on `socket`: Linux then reports ICMP errors to it although it is not
/// connected, and keeps each in the socket's error queue (MSG_ERRQUEUE). socket2 has no setter.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn set_recverr(socket: &UdpSocket) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt(2) reads size_of::<c_int>() bytes from `on`, which outlives the call;
    // the descriptor is the socket's own and stays open while `socket` is borrowed.
    let done = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_RECVERR,
            (&raw const on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if done == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

#[cfg(not(target_os = "linux"))]
pub fn set_recverr(_socket: &UdpSocket) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// How many datagrams the kernel has dropped on the UDP socket bound to `port` (the last
/// column of /proc/net/udp or udp6: the socket's `sk_drops`, the same counter SO_RXQ_OVFL
/// reports to the socket's owner). Per socket, so nothing else running on the machine adds
/// to it. `None` when no such socket is listed (or not Linux).
pub fn udp_drops(port: u16) -> Option<u64> {
    udp_row(port)?.last()?.parse().ok()
}

/// How many bytes wait in the receive queue of the UDP socket bound to `port`: the rx_queue
/// column of /proc/net/udp or udp6. `None` when no such socket is listed (or not Linux).
pub fn udp_queued(port: u16) -> Option<u64> {
    let row = udp_row(port)?;
    let (_, queued) = row.get(4)?.split_once(':')?;
    u64::from_str_radix(queued, 16).ok()
}

/// The fields of the row of /proc/net/udp or udp6 whose local port is `port`.
fn udp_row(port: u16) -> Option<Vec<String>> {
    ["/proc/thread-self/net/udp", "/proc/thread-self/net/udp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .find_map(|table| {
            table.lines().skip(1).find_map(|line| {
                let fields: Vec<String> = line.split_whitespace().map(str::to_string).collect();
                let local = u16::from_str_radix(fields.get(1)?.rsplit_once(':')?.1, 16).ok()?;
                (local == port).then_some(fields)
            })
        })
}

/// What TCP_INFO says about a sending socket: the window its peer advertised last
/// (`tcpi_snd_wnd`, Linux 5.4 and later), the bytes sent and not yet acknowledged
/// (`tcpi_bytes_sent` less `tcpi_bytes_retrans` and `tcpi_bytes_acked`, Linux 4.19 and later),
/// and how long it had data it could not send because that window had no room for it
/// (`tcpi_rwnd_limited`, Linux 4.10 and later), read at their offsets in
/// include/uapi/linux/tcp.h. `None` for what this kernel does not fill in (or not Linux).
#[derive(Clone, Copy, Debug, Default)]
pub struct SenderInfo {
    pub peer_window: Option<u32>,
    pub in_flight: Option<u64>,
    /// Bytes the peer has acknowledged (`tcpi_bytes_acked`, Linux 4.1 and later).
    pub acked: Option<u64>,
    pub window_limited: Option<Duration>,
}

impl SenderInfo {
    /// The room the window leaves: what the peer advertised, less what is already on its way.
    /// 0 while the sender must wait.
    pub fn room(&self) -> Option<u64> {
        Some(u64::from(self.peer_window?).saturating_sub(self.in_flight?))
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn sender_info(stream: &std::net::TcpStream) -> std::io::Result<SenderInfo> {
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
            &mut len,
        )
    };
    if done != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let filled = &raw[..len as usize];
    let u64_at =
        |at: usize| filled.get(at..at + 8).map(|b| u64::from_ne_bytes(b.try_into().unwrap_or_default()));
    let (sent, retransmitted, acked) = (u64_at(200), u64_at(208), u64_at(120));
    Ok(SenderInfo {
        peer_window: filled.get(228..232).map(|b| u32::from_ne_bytes(b.try_into().unwrap_or_default())),
        in_flight: sent
            .zip(retransmitted)
            .zip(acked)
            .map(|((s, r), a)| s.saturating_sub(r).saturating_sub(a)),
        acked,
        window_limited: u64_at(176).map(Duration::from_micros),
    })
}

#[cfg(not(target_os = "linux"))]
pub fn sender_info(_stream: &std::net::TcpStream) -> std::io::Result<SenderInfo> {
    Ok(SenderInfo::default())
}

/// Wait up to `within` until `stream` (non-blocking) may be written to again: poll(2) for
/// POLLOUT. False if it stayed full.
#[cfg(unix)]
#[allow(unsafe_code)]
pub fn writable(stream: &std::net::TcpStream, within: Duration) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let deadline = crate::wait::Deadline::after(within);
    loop {
        let Some(left) = deadline.left() else { return Ok(false) };
        let mut wanted = libc::pollfd { fd: stream.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
        let millis = i32::try_from(left.as_millis()).unwrap_or(i32::MAX).max(1);
        // SAFETY: poll(2) reads and writes the one pollfd we pass, which outlives the call; the
        // descriptor is the stream's own and stays open while `stream` is borrowed.
        let ready = unsafe { libc::poll(&mut wanted, 1, millis) };
        match ready {
            0 => continue,
            1.. => return Ok(true),
            _ => {
                let error = std::io::Error::last_os_error();
                if error.kind() != std::io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
}

#[cfg(not(unix))]
pub fn writable(_stream: &std::net::TcpStream, _within: Duration) -> std::io::Result<bool> {
    Err(std::io::ErrorKind::Unsupported.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_a_listeners_half_open_requests() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n\
                     0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000\n\
                     1: 0100007F:1F90 0100007F:A000 03 00000000:00000000 01:00000064 00000000  1000\n\
                     2: 0100007F:A001 0100007F:1F90 02 00000001:00000000 01:00000063 00000002  1000\n";
        let rows: Vec<Row> = socket_table::parse(table).collect();
        assert_eq!(half_open_in(&rows, 0x1F90), 1);
        assert_eq!(half_open_in(&rows, 0xA001), 0);
    }

    /// A connection we hold: both ends ESTABLISHED; closed by the client first, the client
    /// waits in FIN_WAIT2 and the server's end in CLOSE_WAIT until it closes too.
    #[cfg(target_os = "linux")]
    #[test]
    fn waits_for_the_states_of_both_ends() {
        let transcript = Transcript::new();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let alice = End::new("alice", client.local_addr().unwrap(), listener.local_addr().unwrap());
        let ends = [alice.clone(), alice.peer("server")];
        let both = |a, b| [Some(a), Some(b)];
        wait_for_states(&transcript, &ends, &both(ESTABLISHED, ESTABLISHED), crate::WAIT).unwrap();
        drop(client);
        wait_for_states(&transcript, &ends, &both(State::FIN_WAIT2, State::CLOSE_WAIT), crate::WAIT).unwrap();
        let error =
            wait_for_states(&transcript, &ends, &[Some(State::TIME_WAIT), None], Duration::from_millis(30));
        assert!(format!("{:#}", error.unwrap_err()).contains("server CLOSE_WAIT"));
        drop(server);
        wait_for_states(&transcript, &ends, &[Some(State::TIME_WAIT), None], crate::WAIT).unwrap();
        assert!(
            transcript.render().contains("kernel: alice TIME_WAIT · server gone"),
            "{}",
            transcript.render()
        );
    }

    #[test]
    fn syn_retries_wait_one_second_then_double() {
        let seconds =
            |schedule: SynSchedule| -> Vec<u64> { (1..=7).map(|n| schedule.retry(n).as_secs()).collect() };
        assert_eq!(seconds(SynSchedule { linear: Some(4) }), [1, 2, 3, 4, 5, 7, 11]);
        assert_eq!(seconds(SynSchedule { linear: None }), [1, 3, 7, 15, 31, 63, 127]);
    }

    /// A connected socket's datagram to a closed port: the error waits, and poll leaves it there.
    #[cfg(target_os = "linux")]
    #[test]
    fn poll_shows_a_waiting_error_without_taking_it() {
        let (_held, port) = crate::ports::closed_udp_port().unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.connect(("127.0.0.1", port)).unwrap();
        assert!(!error_waits(&socket, Duration::from_millis(10)).unwrap());
        socket.send(b"anyone?").unwrap();
        assert!(error_waits(&socket, crate::WAIT).unwrap());
        assert!(error_waits(&socket, crate::WAIT).unwrap());
        assert_eq!(
            socket.take_error().unwrap().map(|e| e.kind()),
            Some(std::io::ErrorKind::ConnectionRefused)
        );
    }
}
