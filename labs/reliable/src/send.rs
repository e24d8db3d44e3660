//! The sender: number each line, send it, and send it again until it is acknowledged.
//!
//! It waits on one queue of events: a line typed (from a thread reading stdin), an ACK
//! arrived (from a thread reading the socket), or nothing before the timer runs out. With a
//! window of N, up to N lines are in flight, unacknowledged; one timer runs for the oldest
//! of them. When it runs out, every line in flight is sent again (Go-Back-N: the receiver
//! kept none of those after a gap). With N = 1 this is stop-and-wait.

use std::collections::VecDeque;
use std::io::{BufRead, ErrorKind};
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use lab_common::show;

use crate::wire::Packet;

/// The longest line one datagram carries here, with room for the header: one UDP datagram
/// over IPv4 holds 65,507 bytes.
const MAX_LINE: usize = 65_000;

pub struct Options {
    pub to: SocketAddr,
    pub window: usize,
    pub timeout: Duration,
    pub retries: u32,
    pub naive: bool,
}

/// What the sender waits for.
enum Event {
    Line(Vec<u8>),
    EndOfInput,
    Ack(u64),
    Damaged(String),
    /// The receiver's machine said nobody listens on its port (an ICMP "port unreachable").
    Refused,
}

pub fn send(options: &Options) -> Result<()> {
    let to = options.to;
    let local = lab_common::local_addr_for(to);
    let socket = UdpSocket::bind(local).with_context(|| format!("binding udp://{local}"))?;
    // Connected: only the receiver's datagrams reach us, and an ICMP "port unreachable" for
    // one of ours is reported on this socket (as "connection refused"), which on Linux an
    // unconnected socket is told only if it sets IP_RECVERR (udp(7), `__udp4_lib_err`).
    socket.connect(to).with_context(|| format!("connecting the socket to udp://{to}"))?;
    let (events, queue) = mpsc::channel();
    read_lines(events.clone());
    if options.naive {
        return send_naively(&socket, &queue);
    }
    read_acks(socket.try_clone()?, events);
    eprintln!(
        "sending to udp://{to} from {}: window {}, timeout {} ms, {} retries",
        socket.local_addr()?,
        options.window,
        options.timeout.as_millis(),
        options.retries
    );

    // base: the oldest line not yet acknowledged; in_flight: its datagram and those after
    // it, sent and not acknowledged; waiting: lines read but not sent, the window being full.
    let mut base: u64 = 0;
    let mut in_flight: VecDeque<Vec<u8>> = VecDeque::new();
    let mut waiting: VecDeque<Vec<u8>> = VecDeque::new();
    let mut input_ended = false;
    let mut timer: Option<Instant> = None;
    let mut tries: u32 = 0;
    let (mut sent, mut again) = (0u64, 0u64);
    loop {
        while in_flight.len() < options.window {
            let Some(line) = waiting.pop_front() else { break };
            let seq = base + in_flight.len() as u64;
            let datagram = Packet::Data { seq, line }.encode();
            transmit(&socket, &datagram)?;
            sent += 1;
            in_flight.push_back(datagram);
            timer.get_or_insert_with(|| Instant::now() + options.timeout);
        }
        if input_ended && in_flight.is_empty() && waiting.is_empty() {
            eprintln!("all {base} lines acknowledged: {sent} datagrams sent, {again} of them again");
            return Ok(());
        }
        let event = match timer {
            Some(due) => queue.recv_timeout(due.saturating_duration_since(Instant::now())),
            None => queue.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match event {
            Ok(Event::Line(line)) => waiting.push_back(line),
            Ok(Event::EndOfInput) => input_ended = true,
            Ok(Event::Ack(next)) if next > base && next <= base + in_flight.len() as u64 => {
                // Cumulative: ACK n acknowledges every line before n.
                in_flight.drain(..(next - base) as usize);
                base = next;
                tries = 0;
                timer = (!in_flight.is_empty()).then(|| Instant::now() + options.timeout);
            }
            Ok(Event::Ack(next)) => eprintln!("ACK {next}: nothing new acknowledged (a copy, or late)"),
            Ok(Event::Damaged(why)) => eprintln!("discarded a datagram: {why}"),
            Ok(Event::Refused) => eprintln!("the receiver's machine says nobody listens on udp://{to}"),
            Err(RecvTimeoutError::Timeout) => {
                if tries == options.retries {
                    bail!(
                        "line {base} was never acknowledged: sent {} times, {} ms apart, with no answer; is a \
                         receiver running at udp://{to}, and is the link passing anything?",
                        tries + 1,
                        options.timeout.as_millis()
                    );
                }
                tries += 1;
                // Go-Back-N: everything in flight goes again, from the oldest.
                eprintln!(
                    "timeout: no ACK for line {base} within {} ms; sending {} again (retry {tries} of {})",
                    options.timeout.as_millis(),
                    describe_range(base, in_flight.len()),
                    options.retries
                );
                for datagram in &in_flight {
                    transmit(&socket, datagram)?;
                    again += 1;
                }
                sent += in_flight.len() as u64;
                timer = Some(Instant::now() + options.timeout);
            }
            Err(RecvTimeoutError::Disconnected) => bail!("the threads reading stdin and the socket stopped"),
        }
    }
}

/// "line 3", "lines 3 to 9".
fn describe_range(base: u64, count: usize) -> String {
    match count {
        1 => format!("line {base}"),
        _ => format!("lines {base} to {}", base + count as u64 - 1),
    }
}

fn transmit(socket: &UdpSocket, datagram: &[u8]) -> Result<()> {
    match socket.send(datagram) {
        Ok(_) => Ok(()),
        // A refusal for an earlier datagram, reported on this send: this one was not sent, and
        // the timer will send it again. Whether anyone listens now is for the retries to tell.
        Err(error) if error.kind() == ErrorKind::ConnectionRefused => Ok(()),
        Err(error) => Err(error).with_context(|| format!("sending {}", show(datagram))),
    }
}

/// UDP alone: each line is one bare datagram, sent once. Nothing comes back, so nothing here
/// could know what was lost: the sender ends content.
fn send_naively(socket: &UdpSocket, queue: &mpsc::Receiver<Event>) -> Result<()> {
    let mut sent = 0;
    for event in queue {
        match event {
            Event::Line(line) => {
                transmit(socket, &line)?;
                sent += 1;
            }
            Event::EndOfInput => break,
            _ => {}
        }
    }
    eprintln!("sent {sent} datagrams; every send succeeded, and nobody said whether any arrived");
    Ok(())
}

/// Each line of stdin, without its line ending, as an event; then the end of input.
fn read_lines(events: Sender<Event>) {
    thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut number = 0;
        loop {
            let mut line = Vec::new();
            match stdin.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if line.ends_with(b"\n") {
                line.pop();
            }
            if line.ends_with(b"\r") {
                line.pop();
            }
            number += 1;
            if line.len() > MAX_LINE {
                eprintln!(
                    "line {number} is {} bytes: cut to {MAX_LINE}, what one datagram carries here",
                    line.len()
                );
                line.truncate(MAX_LINE);
            }
            if events.send(Event::Line(line)).is_err() {
                return;
            }
        }
        let _ = events.send(Event::EndOfInput);
    });
}

/// Each ACK from the receiver, as an event; a damaged datagram is reported and otherwise
/// ignored.
fn read_acks(socket: UdpSocket, events: Sender<Event>) {
    thread::spawn(move || {
        let mut buf = vec![0; 65_536];
        loop {
            let event = match socket.recv(&mut buf) {
                Ok(len) => match Packet::parse(&buf[..len]) {
                    Ok(Packet::Ack { next }) => Event::Ack(next),
                    Ok(Packet::Data { seq, .. }) => Event::Damaged(format!("DATA {seq} came to the sender")),
                    Err(damage) => Event::Damaged(format!("{}: {damage}", show(&buf[..len]))),
                },
                Err(error) if error.kind() == ErrorKind::ConnectionRefused => Event::Refused,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            if events.send(event).is_err() {
                return;
            }
        }
    });
}
