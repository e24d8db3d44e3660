//! tcp-states' scenarios: a connection's life as the kernel's table of TCP sockets shows it
//! (/proc/net/tcp, Linux), at both ends, and what a TCP server must do so that it leaves
//! nothing behind: close what its clients closed, survive a reset, restart at once.
//!
//! The server under test is paused (SIGSTOP, as Ctrl-Z pauses a program) where a scenario
//! must show what the kernel does on its own: the handshake, the acknowledgement of a FIN.
//! Every state is read from the table, waiting for it with a deadline; none is assumed.

use std::net::SocketAddr;

use anyhow::{Context, Result, anyhow, bail};
use socket2::{Domain, Socket, Type};

use crate::kernel::{self, End, State, wait_for_states};
use crate::peer::TcpPeer;
use crate::scenario::{Fixture, Lab, Report, Spec};
use crate::session::{Session, Skip};
use crate::transcript::Proto;
use crate::{WAIT, wait};

pub const LAB: Lab = Lab {
    name: "tcp-states",
    teaches: "the handshake and the four-way close in the kernel's state table; TIME_WAIT, CLOSE_WAIT",
    proto: Proto::Tcp,
    default_port: 9400,
    roles: &["server", "client"],
    modes: &[],
    server_flags: &[],
    story: "
A TCP connection has two ends, and the kernel keeps a state for each: ESTABLISHED once the
handshake is done, then, as each side closes, FIN_WAIT2, CLOSE_WAIT, TIME_WAIT, and gone.
Linux lists every socket's state in /proc/net/tcp (`netstat -tan` prints that file; `ss -tan`
asks the kernel for the same list over netlink): each \"kernel:\" line below was read from it during this run. The server is an echo server (a line
`q` makes it close first); alice and bob are plain TCP sockets the harness drives. Where the
server is paused (SIGSTOP, as Ctrl-Z pauses a program), what happens is the kernel's doing alone.",
    scenarios: &[
        scenario!(
            the_handshake_completes_before_accept,
            claim: "The kernel completes the handshake before accept: alice is ESTABLISHED while the \
                    paused server has accepted nothing",
            hint: "Print the ready line only after listen() has returned: a socket that is bound \
                   but not listening refuses every connect, and the kernel completes handshakes \
                   only for a listening one.",
            bug: "ready-before-listen",
        ),
        scenario!(
            the_side_that_closes_first_waits_in_time_wait,
            claim: "The side that closes first goes through FIN_WAIT2 to TIME_WAIT; the other sits in \
                    CLOSE_WAIT until it closes, then its end is gone",
            hint: "Look at how your server closes a connection on `q`: a plain close() sends a FIN, \
                   while SO_LINGER 0 (advice for avoiding TIME_WAIT) sends a reset and destroys \
                   whatever was still on its way.",
            bug: "linger-zero",
        ),
        scenario!(
            a_half_closed_client_still_gets_its_answer,
            claim: "After alice's shutdown(write) the server reads the end of the stream, and can \
                    still send from CLOSE_WAIT: alice receives it",
            hint: "Look at what your server does with the bytes after the last newline when a read \
                   returns 0: the client has only stopped sending, and still reads what you owe it.",
            bug: "drop-unfinished-line",
        ),
        scenario!(
            a_closed_client_leaves_no_close_wait,
            claim: "A server that closes every connection its client closed leaves no CLOSE_WAIT \
                    behind (one that forgets keeps it for as long as it runs)",
            hint: "When a read returns 0 bytes, close that socket: as long as your program holds it \
                   open (a variable, a list of clients), the kernel keeps it in CLOSE_WAIT, \
                   whatever the client did.",
            bug: "never-close",
        ),
        scenario!(
            a_reset_leaves_no_time_wait_and_the_server_goes_on,
            claim: "A close with unread bytes sends a reset: no TIME_WAIT at either end, and the \
                    server serves the next client",
            hint: "A recv on a connection the client reset raises an error (ConnectionResetError in \
                   Python): catch it around that one client's loop, close that socket, and go back \
                   to accept.",
            bug: "die-on-reset",
        ),
        scenario!(
            the_server_restarts_at_once_on_its_port,
            claim: "A server stopped with a client connected leaves TIME_WAIT on its port: bind \
                    fails without SO_REUSEADDR and works with it, so the server restarts at once",
            hint: "Set SO_REUSEADDR on your listening socket before bind(), at every start: the \
                   port's old connections inherit the flag, and a TIME_WAIT lets a new socket \
                   bind only when both have it.",
            bug: "no-reuseaddr",
        ),
    ],
    fixture: Fixture {
        script: "tests/fixtures/echo.py",
        passes_with: &[""],
        reports: &[
            Report {
                name: "a_crash_on_a_reset_leads_with_the_exception",
                scenario: scenario_name!(a_reset_leaves_no_time_wait_and_the_server_goes_on),
                leads_with: &["your server crashed: ConnectionResetError"],
                bug: "die-on-reset",
                shows: &[],
            },
            Report {
            name: "a_server_that_never_closes_is_caught_in_close_wait",
            scenario: scenario_name!(a_closed_client_leaves_no_close_wait),
            leads_with: &[],
            bug: "never-close",
            shows: &[&["it still shows alice FIN_WAIT2, server (alice) CLOSE_WAIT"], &["CLOSE_WAIT"]],
        },
        ],
    },
    by_hand: &[
        "cargo lab tcp-states server        # terminal 1: an echo server that shows its sockets' states",
        "cargo lab tcp-states client        # terminal 2: type lines; /states /shutdown /close /reset",
    ],
    spec: Spec {
        task: "A TCP echo server that closes each connection once its client has closed it, closes first \
               when a client sends the line `q`, survives a client's reset, and can be stopped and started \
               again at once on the same port.",
        flags: &[],
        protocol: &[
            "Lines of UTF-8 text, each ending in \\n. Send each line back as it came, newline and all. The \
             line `q` is not sent back: close that connection (your server closes first).",
            "A read of 0 bytes is the client's close, or half-close (it still reads): send back whatever \
             it sent after its last newline, then close the connection. Hold no connection open after that: \
             a socket your program keeps stays in CLOSE_WAIT.",
            "A client that resets its connection ends only that connection: log it on stderr and serve the \
             next. Set SO_REUSEADDR on the listening socket before bind, so that a restart binds the port \
             while old connections wait in TIME_WAIT.",
        ],
    },
};

/// Every scenario reads the kernel's table of TCP sockets: where there is none (not Linux),
/// they are skipped, not passed.
fn needs_the_table() -> Result<()> {
    if lab_common::socket_table::available() && cfg!(unix) {
        return Ok(());
    }
    Err(Skip("needs the kernel's table of TCP sockets, /proc/net/tcp, which is Linux's".into()).into())
}

/// A connection's two ends as the kernel lists them: `who`'s socket and the server's.
fn ends(who: &str, local: SocketAddr, server: SocketAddr) -> [End; 2] {
    let client = End::new(who, local, server);
    let server = client.peer("server");
    [client, server]
}

/// `who` must read the end of the stream: the server closed its side. If it does not, the
/// failure says what the kernel's table shows of both ends (CLOSE_WAIT at the server's: its
/// program has not closed the socket).
fn expect_server_closed(s: &Session, who: &mut TcpPeer, ends: &[End]) -> Result<()> {
    who.expect_eof().map_err(|error| match kernel::show_states(s.transcript(), ends) {
        Some(states) => {
            anyhow!("{error:#}; the kernel's table shows {}", kernel::describe_states(ends, &states))
        }
        None => error,
    })
}

fn both(client: State, server: State) -> [Option<State>; 2] {
    [Some(client), Some(server)]
}

/// Wait until `end`'s receive queue holds `bytes` unread, as its row's rx_queue says (in
/// sequence numbers: a FIN that arrived counts one).
fn wait_unread(end: &End, bytes: u32) -> Result<()> {
    let mut last = None;
    let seen = wait::until_pausing(WAIT, kernel::TABLE_PAUSE, || {
        let rows = lab_common::socket_table::read_ports_in(
            kernel::HERE,
            lab_common::socket_table::Proto::Tcp,
            &[end.local.port()],
        )?;
        last = end.row(&rows).map(|row| row.rx_queue);
        (last == Some(bytes)).then_some(())
    });
    match (seen, last) {
        (Some(()), _) => Ok(()),
        (None, Some(unread)) => {
            bail!("expected {bytes} bytes waiting unread at {}'s end; the table counts {unread}", end.who)
        }
        (None, None) => bail!(
            "expected {bytes} bytes waiting unread at {}'s end, but the table lists no such socket: the \
             connection is gone",
            end.who
        ),
    }
}

/// alice connects to a paused server: her connect returns, both ends are ESTABLISHED, and the
/// connection waits in the listener's accept queue, with alice's line unread at the server's end.
/// Resumed, the server accepts it and answers the line.
pub fn the_handshake_completes_before_accept(s: &mut Session) -> Result<()> {
    needs_the_table()?;
    let mut server = s.server(&[])?;
    let addr = server.addr();
    s.say("The server is paused: it can call neither accept nor recv. alice connects all the same.");
    server.pause()?;
    let mut alice = s.tcp("alice", addr)?;
    let ends = ends("alice", alice.local_addr()?, addr);
    wait_for_states(s.transcript(), &ends, &both(State::ESTABLISHED, State::ESTABLISHED), WAIT)?;
    let queued = wait::until_pausing(WAIT, kernel::TABLE_PAUSE, || {
        kernel::listener(addr).filter(|row| row.rx_queue == 1)
    });
    if queued.is_none() {
        bail!("expected alice's connection in the listener's accept queue (its rx_queue 1)");
    }
    s.say(
        "Both ends are ESTABLISHED, and the listening socket's row counts 1 connection in its accept \
         queue: the three-way handshake (SYN, SYN-ACK, ACK) was the kernel's. accept only takes it out.",
    );
    alice.send(b"hello\n")?;
    wait_unread(&ends[1], 6)?;
    s.say(
        "alice's line is acknowledged by the server's kernel too: 6 bytes wait, unread, at the server's end.",
    );
    server.resume()?;
    alice.expect_bytes(b"hello\n")?;
    Ok(())
}

/// alice sends `q`: the server closes first. Its end goes to FIN_WAIT2, alice's to
/// CLOSE_WAIT, where it stays until alice closes; then alice's end is gone and the server's
/// waits in TIME_WAIT.
pub fn the_side_that_closes_first_waits_in_time_wait(s: &mut Session) -> Result<()> {
    needs_the_table()?;
    let server = s.server(&[])?;
    let mut alice = s.tcp("alice", server.addr())?;
    let ends = ends("alice", alice.local_addr()?, server.addr());
    wait_for_states(s.transcript(), &ends, &both(State::ESTABLISHED, State::ESTABLISHED), WAIT)?;
    alice.send(b"hello\n")?;
    alice.expect_bytes(b"hello\n")?;
    s.say("alice sends q, and the server closes first: its kernel sends a FIN, and alice reads the end of the stream.");
    alice.send(b"q\n")?;
    expect_server_closed(s, &mut alice, &ends)?;
    wait_for_states(s.transcript(), &ends, &both(State::CLOSE_WAIT, State::FIN_WAIT2), WAIT)?;
    s.say(
        "alice's kernel acknowledged the FIN: the server's end waits in FIN_WAIT2 for alice's FIN, and \
         alice's end sits in CLOSE_WAIT until she closes. It would sit there as long as she does nothing.",
    );
    alice.close();
    wait_for_states(s.transcript(), &ends, &[None, Some(State::TIME_WAIT)], WAIT)?;
    s.say(
        "alice closed: her end sent its FIN, took the last ACK and is gone. The server's end, which closed \
         first, waits in TIME_WAIT: 60 s on Linux; the server has closed that socket and can no longer shorten it.",
    );
    Ok(())
}

/// alice sends a line and a half, then shutdown(write), while the server is paused: her end
/// goes to FIN_WAIT2, the server's to CLOSE_WAIT. Resumed, the server reads the bytes and the
/// end of the stream, and from CLOSE_WAIT sends the half line back; then it closes.
pub fn a_half_closed_client_still_gets_its_answer(s: &mut Session) -> Result<()> {
    needs_the_table()?;
    let mut server = s.server(&[])?;
    let mut alice = s.tcp("alice", server.addr())?;
    let ends = ends("alice", alice.local_addr()?, server.addr());
    wait_for_states(s.transcript(), &ends, &both(State::ESTABLISHED, State::ESTABLISHED), WAIT)?;
    alice.send(b"ping\n")?;
    alice.expect_bytes(b"ping\n")?;
    server.pause()?;
    s.say("With the server paused, alice sends 8 bytes with no newline, then shutdown(write): a FIN, nothing more.");
    alice.send(b"one more")?;
    alice.shutdown_write()?;
    wait_for_states(s.transcript(), &ends, &both(State::FIN_WAIT2, State::CLOSE_WAIT), WAIT)?;
    // The table counts what waits unread in sequence numbers, and a FIN takes one of its own.
    wait_unread(&ends[1], 9)?;
    s.say(
        "The server's kernel acknowledged both: its end is in CLOSE_WAIT, and its row counts 9 unread: the \
         8 bytes, and the FIN, which takes a sequence number of its own. alice's end is in FIN_WAIT2: \
         done sending, still receiving.",
    );
    server.resume()?;
    alice.expect_bytes(b"one more")?;
    expect_server_closed(s, &mut alice, &ends)?;
    wait_for_states(s.transcript(), &ends, &[Some(State::TIME_WAIT), None], WAIT)?;
    s.say(
        "The server sent from CLOSE_WAIT, then closed. alice's end took its FIN and went to TIME_WAIT \
         although alice has not closed her socket: she closed first, with shutdown.",
    );
    Ok(())
}

/// alice talks and closes; bob connects and closes without a word. While the server is paused,
/// its ends of both connections sit in CLOSE_WAIT (bob's not even accepted yet). Resumed, the
/// server must close both: then they are gone, and alice's and bob's ends wait in TIME_WAIT.
pub fn a_closed_client_leaves_no_close_wait(s: &mut Session) -> Result<()> {
    needs_the_table()?;
    let mut server = s.server(&[])?;
    let addr = server.addr();
    let mut alice = s.tcp("alice", addr)?;
    let alice_ends = ends("alice", alice.local_addr()?, addr);
    let alice_ends = [alice_ends[0].clone(), alice_ends[0].peer("server (alice)")];
    wait_for_states(s.transcript(), &alice_ends, &both(State::ESTABLISHED, State::ESTABLISHED), WAIT)?;
    alice.send(b"hello\n")?;
    alice.expect_bytes(b"hello\n")?;
    server.pause()?;
    s.say("The server is paused. alice closes, and bob connects and closes without a word.");
    alice.close();
    let bob = s.tcp("bob", addr)?;
    let bob_ends =
        [End::new("bob", bob.local_addr()?, addr), End::new("server (bob)", addr, bob.local_addr()?)];
    wait_for_states(s.transcript(), &bob_ends, &both(State::ESTABLISHED, State::ESTABLISHED), WAIT)?;
    bob.close();
    let all = [alice_ends[0].clone(), alice_ends[1].clone(), bob_ends[0].clone(), bob_ends[1].clone()];
    let closing =
        [Some(State::FIN_WAIT2), Some(State::CLOSE_WAIT), Some(State::FIN_WAIT2), Some(State::CLOSE_WAIT)];
    wait_for_states(s.transcript(), &all, &closing, WAIT)?;
    s.say(
        "The server's kernel acknowledged both FINs on its own: the server's ends wait in CLOSE_WAIT, for the \
         program to close them (bob's connection has not even been accepted). alice and bob wait in FIN_WAIT2.",
    );
    server.resume()?;
    s.say("The server runs again: each read returns 0, and it must close each socket.");
    let gone = [Some(State::TIME_WAIT), None, Some(State::TIME_WAIT), None];
    wait_for_states(s.transcript(), &all, &gone, WAIT)
        .context("the server did not close its sockets: they stay in CLOSE_WAIT as long as it runs")?;
    s.say("Both closed: the server's ends are gone, and alice's and bob's wait in TIME_WAIT, having closed first.");
    Ok(())
}

/// alice's line comes back and waits in her socket, unread; she closes, so her kernel sends a
/// reset: both ends are gone at once, no TIME_WAIT. The server logs the reset and serves bob.
pub fn a_reset_leaves_no_time_wait_and_the_server_goes_on(s: &mut Session) -> Result<()> {
    needs_the_table()?;
    let mut server = s.server(&[])?;
    let addr = server.addr();
    let mut alice = s.tcp("alice", addr)?;
    let ends = ends("alice", alice.local_addr()?, addr);
    wait_for_states(s.transcript(), &ends, &both(State::ESTABLISHED, State::ESTABLISHED), WAIT)?;
    alice.send(b"hello\n")?;
    wait_unread(&ends[0], 6)?;
    s.say("The server's answer waits in alice's socket, 6 bytes unread. alice closes without reading it.");
    alice.close_unread(6);
    wait_for_states(s.transcript(), &ends, &[None, None], WAIT)?;
    s.say(
        "Closed with unread bytes, alice's socket sent a reset, not a FIN: both ends are gone at once, and \
         neither waits in TIME_WAIT.",
    );
    if s.is_reference() {
        server.expect_line("that alice's connection was reset", WAIT, |line| line.contains("reset"))?;
        s.say("The server's read failed with \"connection reset\", as its log says.");
    }
    s.say("The server goes on: bob is served.");
    let mut bob = s.tcp("bob", addr)?;
    bob.send(b"still there?\n")?;
    bob.expect_bytes(b"still there?\n")?;
    Ok(())
}

/// The server is stopped while alice is connected: the kernel closes its socket, so the server
/// closed first, and once alice closes its end waits in TIME_WAIT on the server's port. A socket
/// without SO_REUSEADDR cannot bind that port; one with it can, and the server restarts there.
pub fn the_server_restarts_at_once_on_its_port(s: &mut Session) -> Result<()> {
    needs_the_table()?;
    let server = s.server(&[])?;
    let addr = server.addr();
    let mut alice = s.tcp("alice", addr)?;
    let ends = ends("alice", alice.local_addr()?, addr);
    wait_for_states(s.transcript(), &ends, &both(State::ESTABLISHED, State::ESTABLISHED), WAIT)?;
    alice.send(b"hello\n")?;
    alice.expect_bytes(b"hello\n")?;
    s.say(
        "The server is stopped (killed) with alice connected. The kernel closes its sockets: a FIN to alice.",
    );
    server.kill();
    expect_server_closed(s, &mut alice, &ends)?;
    wait_for_states(s.transcript(), &ends, &both(State::CLOSE_WAIT, State::FIN_WAIT2), WAIT)?;
    s.say(
        "No program holds the server's end any more, yet it waits in FIN_WAIT2 for alice's FIN. She closes.",
    );
    alice.close();
    wait_for_states(s.transcript(), &ends, &[None, Some(State::TIME_WAIT)], WAIT)?;
    s.say(format!(
        "The server closed first, so its end waits in TIME_WAIT, on the server's own port {}.",
        addr.port()
    ));
    match bind(addr, false) {
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
            s.say(format!("A socket without SO_REUSEADDR: binding the server's port fails: {error}."))
        }
        Err(error) => return Err(error).context(format!("binding {addr} without SO_REUSEADDR")),
        Ok(()) => bail!("a socket without SO_REUSEADDR could bind {addr}, with TIME_WAIT on it"),
    }
    match bind(addr, true) {
        Ok(()) => s.say("A socket with SO_REUSEADDR: binding the server's port succeeds, TIME_WAIT and all."),
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => bail!(
            "even a socket with SO_REUSEADDR cannot bind {addr} ({error}): the TIME_WAIT there lets a socket \
             bind only if it had SO_REUSEADDR too, so the server's listening socket did not set it"
        ),
        Err(error) => return Err(error).context(format!("binding {addr} with SO_REUSEADDR")),
    }
    s.say("The server starts again on the same port, at once:");
    let server = s.server_at(addr.port(), &[])?;
    let mut bob = s.tcp("bob", server.addr())?;
    bob.send(b"back again?\n")?;
    bob.expect_bytes(b"back again?\n")?;
    Ok(())
}

/// Bind a fresh TCP socket to `addr`, with SO_REUSEADDR on or off, and let it go at once.
fn bind(addr: SocketAddr, reuse: bool) -> std::io::Result<()> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // On Unix, std's TcpListener::bind sets SO_REUSEADDR itself; socket2 sets only what it is told.
    socket.set_reuse_address(reuse)?;
    socket.bind(&addr.into())
}
