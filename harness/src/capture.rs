//! A scenario's packets, as Wireshark would show them: `check --pcap DIR` runs each scenario
//! in a network namespace of its own (its loopback carries that scenario's packets and no
//! other's), records every frame on that `lo` with a packet socket, and writes them to
//! `DIR/SCENARIO.pcapng`, with each endpoint's role name (alice, the server) in the comments.
//!
//! Linux only. A thread may enter a network namespace alone (`unshare(CLONE_NEWNET)`); the
//! threads it starts and the processes it spawns are in it too. Making one needs CAP_SYS_ADMIN
//! and a packet socket CAP_NET_RAW: root has both; a plain user has both inside a user
//! namespace of its own ([`enter_user_namespace`], before any thread starts). Where neither is
//! possible, [`probe`] says why and the check goes on without captures.
//!
//! Loopback hands a packet socket each frame twice: as it is sent (`PACKET_OUTGOING`) and as it
//! is received. Only the sent copy is kept: it is queued the moment it is sent, so when a
//! scenario ends every frame it sent is already there to read. A frame on `lo` has an Ethernet
//! header of zeros, so the file's link type is Ethernet.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::transcript::Transcript;

/// The most frame bytes one capture keeps, and the most frames: a server that floods cannot
/// grow the checker's memory without end (a check runs a dozen scenarios at once, and grade a
/// few checks). Past either, frames are counted, not kept, and the file's comment says how
/// many. The first ones are kept: the exchange a scenario starts with.
pub const MAX_BYTES: usize = 4 * 1024 * 1024;
pub const MAX_FRAMES: usize = 20_000;

/// The longest frame on `lo` (its MTU is 65536, plus the Ethernet header), kept whole.
const SNAPLEN: usize = 65536 + 14;

/// One frame as it was sent, and when.
struct Frame {
    at: Duration,
    bytes: Vec<u8>,
}

/// What a capture recorded: the frames it kept and how many it did not.
#[derive(Default)]
struct Recorded {
    frames: Vec<Frame>,
    bytes: usize,
    left_out: u64,
    /// Frames the kernel dropped, its queue full, before they were read (either copy).
    dropped: u32,
}

/// Run `body` on a thread of its own, in a network namespace of its own whose `lo` is up and
/// recorded, and write what was recorded to `path` with the role names `transcript` knows.
/// `body` runs whatever happens to the capture (in the machine's own network if no namespace
/// could be made); the second value says why there is no file, if there is none.
pub fn around<T: Send>(
    path: &Path,
    transcript: &Transcript,
    body: impl FnOnce() -> T + Send,
) -> (T, Result<(), String>) {
    std::thread::scope(|scope| {
        let thread = scope.spawn(move || {
            let recorder = enter_own_network().and_then(|()| Recorder::start());
            if recorder.is_ok() {
                transcript.set_capturing();
            }
            let result = body();
            let written = match recorder {
                Ok(recorder) => {
                    let recorded = recorder.stop();
                    write(path, transcript, &recorded)
                        .map_err(|error| format!("writing {}: {error}", path.display()))
                }
                Err(error) => Err(error),
            };
            (result, written)
        });
        thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Name every socket a role's processes (the process group `group`) hold, bound, listening or
/// connected, `who`, for the comments of a capture being made: a lab's own client connects
/// from a port only its process knows. Nothing when no capture is being made, and no address
/// named already is named again.
pub(crate) fn name_role(transcript: &Transcript, who: &str, group: u32) {
    if !transcript.capturing() {
        return;
    }
    let inodes = crate::procs::sockets(group);
    let known: std::collections::HashSet<SocketAddr> =
        transcript.names().into_iter().map(|(addr, _)| addr).collect();
    use lab_common::socket_table::{self, Proto};
    let rows = [Proto::Tcp, Proto::Udp]
        .into_iter()
        .flat_map(|proto| socket_table::read_in(crate::kernel::HERE, proto).unwrap_or_default());
    for row in rows.filter(|row| inodes.contains(&row.inode)) {
        let local = row.local;
        // A socket bound to every interface is reached here on the loopback's addresses.
        let seen_as = match local.ip().is_unspecified() {
            true => vec![
                SocketAddr::from(([127, 0, 0, 1], local.port())),
                SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, local.port())),
            ],
            false => vec![local],
        };
        for addr in seen_as.into_iter().filter(|addr| !known.contains(addr)) {
            transcript.name(addr, who);
        }
    }
}

/// Whether captures can be made here: `Err` says why not, in a line for the user.
pub fn probe() -> Result<(), String> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                enter_own_network().and_then(|()| Recorder::start()).map(|recorder| drop(recorder.stop()))
            })
            .join()
            .unwrap_or_else(|_| Err("the capture probe panicked".into()))
    })
}

/// This thread (and what it starts from now on) in a new network namespace, with `lo` up.
fn enter_own_network() -> Result<(), String> {
    unshare_network().map_err(|error| {
        format!(
            "capture needs a network namespace of its own: run as root, or (without --sandbox) where \
             user namespaces are allowed (unshare(CLONE_NEWNET) failed: {error})"
        )
    })?;
    crate::isolate::loopback_up()
        .map_err(|error| format!("bringing up lo in the capture's namespace: {error}"))
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn unshare_network() -> std::io::Result<()> {
    // SAFETY: unshare(2) takes a flag word; CLONE_NEWNET moves only the calling thread.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn unshare_network() -> std::io::Result<()> {
    Err(std::io::Error::other("network namespaces are Linux's alone"))
}

/// For a user who is not root: enter a user namespace of our own, in which we are root and so
/// may make network namespaces and packet sockets. Only a process with one thread may, so call
/// this first thing in `main`. Our files stay ours (our uid is mapped to its root); what we
/// cannot do outside, we cannot do inside either.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn enter_user_namespace() -> std::io::Result<()> {
    // SAFETY: geteuid and getegid cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if uid == 0 {
        return Ok(());
    }
    // SAFETY: unshare(2) takes a flag word; it fails (EINVAL) if other threads exist.
    if unsafe { libc::unshare(libc::CLONE_NEWUSER) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/uid_map", format!("0 {uid} 1"))?;
    std::fs::write("/proc/self/gid_map", format!("0 {gid} 1"))
}

#[cfg(not(target_os = "linux"))]
pub fn enter_user_namespace() -> std::io::Result<()> {
    Err(std::io::Error::other("user namespaces are Linux's alone"))
}

/// A packet socket on `lo`, read on a thread of its own until [`Recorder::stop`].
struct Recorder {
    stop: std::os::unix::net::UnixStream,
    reader: std::thread::JoinHandle<Recorded>,
}

impl Recorder {
    fn start() -> Result<Recorder, String> {
        let socket = packet_socket()
            .map_err(|error| format!("capture needs CAP_NET_RAW to open a packet socket on lo ({error})"))?;
        let (stop, stopped) = std::os::unix::net::UnixStream::pair()
            .map_err(|error| format!("a pipe for the capture: {error}"))?;
        let reader = std::thread::spawn(move || read_until(&socket, &stopped));
        Ok(Recorder { stop, reader })
    }

    /// Every frame sent until now (each is queued on the socket as it is sent), and the end of
    /// the reading thread.
    fn stop(self) -> Recorded {
        use std::io::Write as _;
        let _ = (&self.stop).write_all(b"x");
        self.reader.join().unwrap_or_default()
    }
}

/// A raw packet socket bound to `lo`, every protocol, with a receive buffer large enough that a
/// burst is not dropped before the reader gets to it.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn packet_socket() -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let all = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: socket(2) takes integers; the descriptor it returns is ours alone.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, i32::from(all)) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh, open descriptor that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: if_nametoindex reads a NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
    if index == 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: an all-zero sockaddr_ll is a valid value of that plain C struct.
    let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    address.sll_family = libc::AF_PACKET as u16;
    address.sll_protocol = all;
    address.sll_ifindex = index as i32;
    let buffer: libc::c_int = 8 * 1024 * 1024;
    // SAFETY: bind and setsockopt read only the structures passed, of the sizes given.
    unsafe {
        let size = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        if libc::bind(socket.as_raw_fd(), (&raw const address).cast(), size) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SO_RCVBUFFORCE passes the system's limit (we may: CAP_NET_ADMIN); where refused,
        // SO_RCVBUF gets what the limit allows.
        let int = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let fd = socket.as_raw_fd();
        if libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, (&raw const buffer).cast(), int) != 0
        {
            libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, (&raw const buffer).cast(), int);
        }
        // Every frame stamped by the kernel as it is sent, from the first one on (see `arrived`).
        let on: libc::c_int = 1;
        libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, (&raw const on).cast(), int);
    }
    Ok(socket)
}

#[cfg(not(target_os = "linux"))]
fn packet_socket() -> std::io::Result<std::os::fd::OwnedFd> {
    Err(std::io::Error::other("packet sockets are Linux's"))
}

/// Read frames from `socket` until `stopped` is readable, then what is left queued; keep the
/// sent copy of each.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn read_until(socket: &std::os::fd::OwnedFd, stopped: &std::os::unix::net::UnixStream) -> Recorded {
    use std::os::fd::AsRawFd;
    let mut recorded = Recorded::default();
    let mut buffer = vec![0u8; SNAPLEN];
    let mut stopping = false;
    loop {
        let mut fds = [
            libc::pollfd { fd: socket.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: stopped.as_raw_fd(), events: libc::POLLIN, revents: 0 },
        ];
        if !stopping {
            // SAFETY: poll(2) writes only the revents of the two pollfds passed. No timeout:
            // either a frame comes or the stop does.
            if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return recorded;
            }
            stopping = fds[1].revents != 0;
        }
        // SAFETY: an all-zero sockaddr_ll is a valid value; recvfrom writes at most the sizes
        // given into the buffer and the address.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut size = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        let read = unsafe {
            libc::recvfrom(
                socket.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                (&raw mut from).cast(),
                &mut size,
            )
        };
        if read < 0 {
            // Nothing queued: wait again, or, once stopping, everything sent has been read.
            if stopping {
                recorded.dropped = kernel_drops(socket);
                return recorded;
            }
            continue;
        }
        if from.sll_pkttype != libc::PACKET_OUTGOING {
            continue;
        }
        let len = (read as usize).min(buffer.len());
        keep(&mut recorded, &buffer[..len], arrived(socket));
    }
}

/// How many frames the kernel dropped on `socket` for want of room in its queue
/// (PACKET_STATISTICS' tp_drops).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn kernel_drops(socket: &std::os::fd::OwnedFd) -> u32 {
    use std::os::fd::AsRawFd;
    // struct tpacket_stats { tp_packets, tp_drops }, both unsigned ints (linux/if_packet.h).
    let mut stats = [0u32; 2];
    let mut size = std::mem::size_of_val(&stats) as libc::socklen_t;
    // SAFETY: getsockopt writes at most `size` bytes into `stats`.
    let done = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            stats.as_mut_ptr().cast(),
            &mut size,
        )
    };
    if done == 0 { stats[1] } else { 0 }
}

#[cfg(not(target_os = "linux"))]
fn read_until(_socket: &std::os::fd::OwnedFd, _stopped: &std::os::unix::net::UnixStream) -> Recorded {
    Recorded::default()
}

/// When the frame last read from `socket` reached it, as the kernel stamped it (SIOCGSTAMPNS),
/// since the Unix epoch: not when the capture got round to reading it, which on a busy machine
/// may be later. Where the kernel does not say, now.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn arrived(socket: &std::os::fd::OwnedFd) -> Duration {
    use std::os::fd::AsRawFd;
    // SIOCGSTAMPNS (linux/sockios.h; the libc crate does not name it).
    const SIOCGSTAMPNS: libc::c_ulong = 0x8907;
    let mut stamp = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: this ioctl writes one timespec into `stamp`.
    let done = unsafe { libc::ioctl(socket.as_raw_fd(), SIOCGSTAMPNS as _, &mut stamp) };
    match (done, u64::try_from(stamp.tv_sec), u32::try_from(stamp.tv_nsec)) {
        (0, Ok(secs), Ok(nanos)) if secs > 0 => Duration::new(secs, nanos),
        _ => SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default(),
    }
}

/// Keep `frame`, sent at `at`, unless the capture is full: then count it as left out.
fn keep(recorded: &mut Recorded, frame: &[u8], at: Duration) {
    if recorded.frames.len() >= MAX_FRAMES || recorded.bytes + frame.len() > MAX_BYTES {
        recorded.left_out += 1;
        return;
    }
    recorded.bytes += frame.len();
    recorded.frames.push(Frame { at, bytes: frame.to_vec() });
}

/// Write `recorded` as pcapng: a section whose comment names each endpoint the transcript
/// knows, one Ethernet interface (`lo`, nanosecond times), and each frame with a comment saying
/// who sent it to whom.
fn write(path: &Path, transcript: &Transcript, recorded: &Recorded) -> std::io::Result<()> {
    use pcap_file::pcapng::PcapNgWriter;
    use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
    use pcap_file::pcapng::blocks::interface_description::{
        InterfaceDescriptionBlock, InterfaceDescriptionOption,
    };
    use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};

    let names: HashMap<SocketAddr, String> = transcript.names().into_iter().collect();
    let section = SectionHeaderBlock {
        options: vec![
            SectionHeaderOption::Comment(Cow::Owned(section_comment(&names, recorded))),
            SectionHeaderOption::UserApplication(Cow::Borrowed("socket-labs check --pcap")),
        ],
        ..SectionHeaderBlock::default()
    };
    // Made anew: a file or a link already there is removed, never written through.
    if let Err(error) = std::fs::remove_file(path)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        return Err(error);
    }
    let file = std::io::BufWriter::new(std::fs::OpenOptions::new().write(true).create_new(true).open(path)?);
    let failed = |error: pcap_file::PcapError| std::io::Error::other(error.to_string());
    let mut writer = PcapNgWriter::with_section_header(file, section).map_err(failed)?;
    writer
        .write_pcapng_block(InterfaceDescriptionBlock {
            linktype: pcap_file::DataLink::ETHERNET,
            snaplen: SNAPLEN as u32,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Borrowed("lo")),
                InterfaceDescriptionOption::IfTsResol(9),
            ],
        })
        .map_err(failed)?;
    for frame in &recorded.frames {
        let who = |addr: SocketAddr| names.get(&addr).cloned().unwrap_or_else(|| addr.to_string());
        let comment = match (endpoints(&frame.bytes), unreachable(&frame.bytes)) {
            (Some((from, to)), _) => Some(format!("{} -> {}", who(from), who(to))),
            // The kernel's answer to a datagram nobody receives: said with who sent that one.
            (None, Some((sender, port))) => {
                Some(format!("kernel -> {}: port unreachable, nobody receives at {}", who(sender), who(port)))
            }
            (None, None) => None,
        };
        let options =
            comment.map(|text| EnhancedPacketOption::Comment(Cow::Owned(text))).into_iter().collect();
        writer
            .write_pcapng_block(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: frame.at,
                original_len: frame.bytes.len() as u32,
                data: Cow::Borrowed(&frame.bytes),
                options,
            })
            .map_err(failed)?;
    }
    use std::io::Write as _;
    writer.into_inner().flush()
}

/// "127.0.0.1:40123 alice" for each endpoint, in address order, and what was left out.
fn section_comment(names: &HashMap<SocketAddr, String>, recorded: &Recorded) -> String {
    let mut lines: Vec<(SocketAddr, &String)> = names.iter().map(|(addr, who)| (*addr, who)).collect();
    lines.sort();
    let mut comment = String::from("who is who on this loopback:\n");
    for (addr, who) in lines {
        comment.push_str(&format!("{addr} {who}\n"));
    }
    if recorded.dropped > 0 {
        comment.push_str(&format!(
            "the machine was too busy to read every frame: the kernel dropped {} (counting both copies loopback makes of each)\n",
            recorded.dropped
        ));
    }
    if recorded.left_out > 0 {
        comment.push_str(&format!(
            "the capture was full (past {MAX_FRAMES} frames or {} MB): {} more frames were not kept\n",
            MAX_BYTES / (1024 * 1024),
            recorded.left_out
        ));
    }
    comment
}

/// The source and destination of a TCP segment or UDP datagram in an Ethernet frame.
fn endpoints(frame: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let ip = frame.get(14..)?;
    let (protocol, from, to, rest): (u8, IpAddr, IpAddr, &[u8]) = match ethertype {
        0x0800 => {
            let header = usize::from(ip.first()? & 0x0f) * 4;
            let from: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let to: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (*ip.get(9)?, from.into(), to.into(), ip.get(header..)?)
        }
        0x86dd => {
            let from: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let to: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (*ip.get(6)?, from.into(), to.into(), ip.get(40..)?)
        }
        _ => return None,
    };
    if protocol != 6 && protocol != 17 {
        return None;
    }
    let port = |at: usize| Some(u16::from_be_bytes([*rest.get(at)?, *rest.get(at + 1)?]));
    Some((SocketAddr::new(from, port(0)?), SocketAddr::new(to, port(2)?)))
}

/// An ICMP (or ICMPv6) port unreachable in an Ethernet frame: the sender of the datagram it
/// answers, and the address nobody received at, read from the copy of that datagram's headers
/// it carries (RFC 792; RFC 4443 for IPv6).
fn unreachable(frame: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let ip = frame.get(14..)?;
    let (icmp, want) = match ethertype {
        0x0800 if *ip.get(9)? == 1 => (ip.get(usize::from(ip.first()? & 0x0f) * 4..)?, [3, 3]),
        0x86dd if *ip.get(6)? == 58 => (ip.get(40..)?, [1, 4]),
        _ => return None,
    };
    if icmp.get(..2)? != want {
        return None;
    }
    // The datagram's own IP header and the first 8 bytes after it (its UDP header), read as a
    // frame of their own.
    let mut inner = frame[..14].to_vec();
    inner.extend_from_slice(icmp.get(8..)?);
    endpoints(&inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A UDP datagram from 127.0.0.1:4000 to 127.0.0.1:5000 in an Ethernet frame on lo.
    fn udp_frame() -> Vec<u8> {
        let mut frame = vec![0u8; 14];
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        let mut ip = vec![0x45, 0, 0, 31, 0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1];
        ip.extend_from_slice(&[0x0f, 0xa0, 0x13, 0x88, 0, 11, 0, 0, b'h', b'i', b'!']);
        frame.extend(ip);
        frame
    }

    #[test]
    fn finds_the_ports_of_a_udp_datagram() {
        let (from, to) = endpoints(&udp_frame()).unwrap();
        assert_eq!((from.to_string(), to.to_string()), ("127.0.0.1:4000".into(), "127.0.0.1:5000".into()));
    }

    /// The kernel's port unreachable for that datagram names its sender and where it went.
    #[test]
    fn a_port_unreachable_names_the_datagram_it_answers() {
        let datagram = udp_frame();
        let mut ip = vec![0x45, 0, 0, 59, 0, 0, 0, 0, 64, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1];
        ip.extend_from_slice(&[3, 3, 0, 0, 0, 0, 0, 0]);
        ip.extend_from_slice(&datagram[14..14 + 28]);
        let mut frame = datagram[..14].to_vec();
        frame.extend(ip);
        assert_eq!(endpoints(&frame), None, "ICMP has no ports of its own");
        let (sender, port) = unreachable(&frame).unwrap();
        assert_eq!(
            (sender.to_string(), port.to_string()),
            ("127.0.0.1:4000".into(), "127.0.0.1:5000".into())
        );
        assert_eq!(unreachable(&datagram), None);
    }

    #[test]
    fn a_short_frame_has_no_endpoints() {
        assert_eq!(endpoints(&udp_frame()[..30]), None);
    }

    #[test]
    fn a_full_capture_counts_what_it_left_out() {
        let mut recorded = Recorded::default();
        let big = vec![0u8; MAX_BYTES / 2 + 1];
        for _ in 0..3 {
            keep(&mut recorded, &big, Duration::ZERO);
        }
        assert_eq!((recorded.frames.len(), recorded.left_out), (1, 2));
        assert!(section_comment(&HashMap::new(), &recorded).contains("2 more frames were not kept"));
    }
}
