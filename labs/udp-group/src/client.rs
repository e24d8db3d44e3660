//! The members' side: `client` (type and read at the same time) and `listen` (read only).
//!
//! Both speak only what original lesson 004's client speaks (`N`, `M`, `Q`; `W` for /who) and treat a
//! reply of exactly `OK` as "you are in" and any other reply as a refusal to show the user, so
//! they also work with the original lesson's own server, which refuses a name in plain words.

use std::io::{BufRead, ErrorKind};
use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long to wait for the answer to `N name`, and how many times to ask. UDP may lose the
/// request or the `OK`; asking again is safe, because the server answers a repeat from the
/// same address with `OK` again.
const REPLY_WAIT: Duration = Duration::from_secs(1);
const TRIES: u32 = 3;

/// The largest datagram a member can receive whole.
const MAX_DATAGRAM: usize = 65_536;

/// `client`: register, then send what the user types while a thread prints what arrives.
pub fn chat(server: SocketAddr, name: Option<String>) -> Result<()> {
    let socket = bind_near(server)?;
    eprintln!(
        "joining udp://{server} from {}; /who lists the members, /quit or Ctrl-D leaves",
        socket.local_addr()?
    );
    let mut lines = std::io::stdin().lock().lines();
    let Some(name) = join(&socket, server, name, &mut lines)? else {
        return Ok(()); // End of input before any name was accepted: nothing to leave.
    };

    // From here on, two things happen at once: the user types, and datagrams arrive. A
    // client that read only after each line typed (as a lock-step client does) would show
    // the others' messages late, in a heap, whenever its user pressed Enter.
    let receiver = socket.try_clone().context("cloning the socket for the receive thread")?;
    thread::spawn(move || print_incoming(&receiver, server));

    for line in lines {
        let line = line.context("reading stdin")?;
        let datagram = match line.as_str() {
            "/quit" | "quit" => break,
            "/who" => "W".to_string(),
            "" => continue,
            command if command.starts_with('/') => {
                eprintln!(
                    "unknown command {command}: /who lists the members, /quit leaves (nothing was sent)"
                );
                continue;
            }
            text => format!("M {name} {text}"),
        };
        send(&socket, server, &datagram)?;
    }
    leave(&socket, server, &name)
}

/// `listen`: a member that only receives. Named, it registers in a room; unnamed, it says
/// hello, which is all a relay needs to remember it.
pub fn listen(server: SocketAddr, name: Option<String>) -> Result<()> {
    let socket = bind_near(server)?;
    eprintln!("listening to udp://{server} from {}; Ctrl-D leaves", socket.local_addr()?);
    match &name {
        Some(wanted) => {
            if join(&socket, server, Some(wanted.clone()), &mut std::iter::empty())?.is_none() {
                bail!("udp://{server} did not accept the name {wanted}");
            }
        }
        // Original lesson 001's receiver: one datagram, so that the relay learns our address.
        None => send(&socket, server, "hello")?,
    }
    let receiver = socket.try_clone().context("cloning the socket for the receive thread")?;
    thread::spawn(move || print_incoming(&receiver, server));

    // Nothing to send: stdin only tells us when the user is done.
    for line in std::io::stdin().lock().lines() {
        line.context("reading stdin")?;
    }
    match name {
        Some(name) => leave(&socket, server, &name),
        None => Ok(()), // A relay has no way to leave: it will go on sending to this port.
    }
}

/// Our own port, on loopback when the server is, chosen by the OS. The server learns it from
/// our first datagram.
fn bind_near(server: SocketAddr) -> Result<UdpSocket> {
    let local = lab_common::local_addr_for(server);
    let socket = UdpSocket::bind(local).with_context(|| format!("binding udp://{local}"))?;
    // A UDP `connect` sends nothing: it only fixes the socket's other end. From now on the
    // kernel hands us datagrams from the server alone, and when a datagram of ours meets a
    // closed port, the ICMP "port unreachable" that comes back is reported to us once, as
    // "connection refused", on our next send or receive. On Linux an unconnected socket is
    // not told unless it sets IP_RECVERR (on Windows, it is: WSAECONNRESET).
    socket.connect(server).with_context(|| format!("connecting the socket to udp://{server}"))?;
    Ok(socket)
}

/// Ask for a name until the server answers exactly `OK`. Returns the accepted name, or None
/// at end of input.
fn join(
    socket: &UdpSocket,
    server: SocketAddr,
    mut name: Option<String>,
    lines: &mut dyn Iterator<Item = std::io::Result<String>>,
) -> Result<Option<String>> {
    loop {
        let wanted = match name.take() {
            Some(wanted) => wanted,
            None => {
                println!("nickname?");
                match lines.next() {
                    Some(line) => line.context("reading stdin")?.trim().to_string(),
                    None => return Ok(None),
                }
            }
        };
        if wanted.is_empty() {
            continue;
        }
        match register(socket, server, &wanted)? {
            reply if reply == b"OK" => {
                println!("joined as {wanted}");
                return Ok(Some(wanted));
            }
            // A relay sends everything back to everyone, our request included.
            reply if reply == format!("N {wanted}").as_bytes() => bail!(
                "udp://{server} sent our `N {wanted}` back: it is a relay (--mode relay), which has \
                 no names; use `listen` without --name there"
            ),
            // `ERR <why>` from this lab's server; plain words from the original lesson's. Either way: no.
            refusal => println!("{}", lab_common::as_text(&refusal)),
        }
    }
}

/// Send `N name` and wait for the server's answer, asking again if none comes.
fn register(socket: &UdpSocket, server: SocketAddr, name: &str) -> Result<Vec<u8>> {
    for _ in 0..TRIES {
        send(socket, server, &format!("N {name}"))?;
        if let Some(reply) = reply_from(socket, server, REPLY_WAIT)? {
            return Ok(reply);
        }
    }
    bail!(
        "no answer from udp://{server} to `N {name}` after {TRIES} tries of {} ms: is the server running?",
        REPLY_WAIT.as_millis()
    )
}

/// The next datagram from `server` within `wait`. (The connected socket only receives from
/// the server; checking the sender as well keeps that visible in the code.)
fn reply_from(socket: &UdpSocket, server: SocketAddr, wait: Duration) -> Result<Option<Vec<u8>>> {
    let deadline = Instant::now() + wait;
    let mut buf = vec![0; MAX_DATAGRAM];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        socket.set_read_timeout(Some(left))?;
        match socket.recv_from(&mut buf) {
            Ok((len, from)) if from == server => return Ok(Some(buf[..len].to_vec())),
            Ok((_, from)) => eprintln!("ignored a datagram from {from}: not the server"),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            // Anything else ends the wait, said as it is. Most often that is "connection
            // refused": the ICMP "port unreachable" our connected socket is told about, because
            // nothing is bound at the server's port. (A server that is up but silent gives no
            // error at all: that is the timeout above.)
            Err(e) => return Err(e).with_context(|| format!("waiting for an answer from udp://{server}")),
        }
    }
}

/// The receive thread: print every datagram from the server, as it arrives.
fn print_incoming(socket: &UdpSocket, server: SocketAddr) {
    let _ = socket.set_read_timeout(None);
    let mut buf = vec![0; MAX_DATAGRAM];
    let mut hinted = false;
    loop {
        match socket.recv_from(&mut buf) {
            // A late `OK`: the answer to a registration we had already repeated.
            Ok((len, from)) if from == server && &buf[..len] == b"OK" => {}
            Ok((len, from)) if from == server => {
                println!("{}", lab_common::as_text(&buf[..len]));
                if buf[..len].starts_with(b"ERR ") && !hinted {
                    eprintln!(
                        "(an ERR while in the room: if the server no longer counts you as a member, \
                         because you were kicked or it restarted, /quit and start the client again)"
                    );
                    hinted = true;
                }
            }
            Ok((_, from)) => eprintln!("ignored a datagram from {from}: not the server"),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                eprintln!("udp://{server} is not there (port unreachable); still listening")
            }
            Err(e) => {
                eprintln!("receiving stopped: {e}");
                return;
            }
        }
    }
}

fn leave(socket: &UdpSocket, server: SocketAddr, name: &str) -> Result<()> {
    send(socket, server, &format!("Q {name}"))?;
    println!("left the room");
    Ok(())
}

fn send(socket: &UdpSocket, server: SocketAddr, datagram: &str) -> Result<()> {
    // The socket is connected to the server: `send` needs no address.
    socket.send(datagram.as_bytes()).with_context(|| format!("sending to udp://{server}"))?;
    Ok(())
}
