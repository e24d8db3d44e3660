//! my-udp-group: a UDP chat room (or, with --mode relay, a plain relay).
//!
//! Members register a nickname, each message goes to every member, and a line typed on the
//! server's stdin (the owner) goes to everyone. The full room protocol (N, M, Q, W, OK and
//! ERR) is in `cargo lab spec udp-group`. Check your server, from the folder that holds
//! my-udp-group, with:
//!
//! ```text
//! cargo lab check udp-group --build 'cargo build --quiet --manifest-path my-udp-group/Cargo.toml --target-dir my-udp-group/target' \
//!     --server 'my-udp-group/target/debug/my-udp-group --port {port} {args}'
//! ```
//!
//! Rust, standard library only. Fill in the TODOs; each names the scenario that checks it.

// While TODOs are open, some names are not used yet and rustc would warn about each. Delete
// this line once you are done: any warning left then points at something you forgot.
#![allow(unused_variables, unused_mut, dead_code)]

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::thread;

/// The flags the checker passes.
struct Args {
    /// `--port N`: the UDP port to bind on 127.0.0.1. Always passed.
    port: u16,
    /// `--mode room|relay` (room when the flag is absent).
    mode: Mode,
    /// `--max-members N`: at most this many members (1000 when the flag is absent).
    max_members: usize,
}

#[derive(PartialEq)]
enum Mode {
    Room,
    Relay,
}

/// Room mode's members. The receiving loop and the owner's thread both use them, so they
/// live behind one Mutex, shared through an Arc.
#[derive(Default)]
struct Room {
    /// name -> address (you may want address -> name too: add a field here).
    members: HashMap<String, SocketAddr>,
}

fn main() {
    let args = parse_args();

    let socket = UdpSocket::bind(("127.0.0.1", args.port)).unwrap_or_else(|error| {
        eprintln!("error: binding udp://127.0.0.1:{}: {error}", args.port);
        std::process::exit(1)
    });
    let port = socket.local_addr().expect("a bound socket has an address").port();
    println!("listening on udp://127.0.0.1:{port}");
    // The checker waits for that line: flush it now, not whenever a buffer fills.
    let _ = io::stdout().flush();

    let mut heard: Vec<SocketAddr> = Vec::new(); // relay mode: every address ever heard from
    let room: Arc<Mutex<Room>> = Arc::default(); // room mode

    // The owner types while this thread waits for datagrams: the owner gets a thread of its
    // own, with a handle on the same socket (try_clone) and on the same room (Arc::clone).
    let owner_socket = socket.try_clone().expect("cloning a socket handle");
    let owner_room = Arc::clone(&room);
    thread::spawn(move || owner(&owner_socket, &owner_room));

    let mut buf = vec![0u8; 65535];
    loop {
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(received) => received,
            Err(error) => {
                eprintln!("receive failed: {error}");
                continue;
            }
        };
        let data = &buf[..len];
        if args.mode == Mode::Relay {
            // TODO (relay_mode_relays_to_every_known_address): remember `from` if it is new,
            //   then send data to every address ever heard from, the sender included.
            continue;
        }
        // TODO (bad_input_gets_err_and_the_room_goes_on): empty, over 1024 bytes, not UTF-8
        //   (std::str::from_utf8 gives an Err), an unknown first letter or a bad name:
        //   answer b"ERR <reason>" to `from` and go on.
        // TODO (registering_gets_exactly_ok): "N <name>": answer exactly b"OK".
        // TODO (the_join_notice_reaches_the_others_not_the_newcomer): then tell every
        //   other member that the name joined.
        // TODO (a_taken_name_is_refused_and_its_owner_keeps_it): a taken name gets ERR.
        // TODO (a_repeated_registration_is_idempotent): the same name from the same address
        //   gets OK again and no second notice; a second name from that address gets ERR.
        // TODO (a_full_room_refuses_newcomers): a newcomer to a room of args.max_members gets ERR.
        // TODO (a_message_arrives_byte_for_byte_at_every_member): "M <name> <text>": send
        //   "<name>: <text>" to every member, the sender included, text unchanged.
        // TODO (impersonation_is_rejected_and_nothing_is_broadcast): for M and Q, the name
        //   must be the one registered from `from` (the address recv_from gave); if not, ERR.
        // TODO (a_leave_notice_reaches_the_others): "Q <name>": remove the member and tell
        //   the others that the name left.
        // TODO (the_lab_client_chats_through_the_server): "W": answer the sender alone with
        //   the members' names, comma-separated, in one datagram.
    }
}

/// Read the owner's lines from stdin.
fn owner(socket: &UdpSocket, room: &Mutex<Room>) {
    for line in io::stdin().lines().map_while(Result::ok) {
        // TODO (the_owner_speaks_to_everyone): send the line (e.g. "[owner] " + line) to
        //   every member: room.lock().unwrap() gives you the members.
    }
}

const USAGE: &str = "usage: my-udp-group --port N [--mode room|relay] [--max-members N]";

/// Read the flags by hand, from std::env::args.
fn parse_args() -> Args {
    let mut port = None;
    let mut mode = Mode::Room;
    let mut max_members = 1000;
    let mut words = std::env::args().skip(1);
    while let Some(flag) = words.next() {
        match flag.as_str() {
            "--port" => port = Some(number(&flag, words.next())),
            "--mode" => {
                mode = match words.next().as_deref() {
                    Some("room") => Mode::Room,
                    Some("relay") => Mode::Relay,
                    _ => usage("--mode takes room or relay"),
                }
            }
            "--max-members" => max_members = number(&flag, words.next()),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0)
            }
            _ => usage(&format!("unknown flag {flag:?}")),
        }
    }
    let port = port.unwrap_or_else(|| usage("--port N is required"));
    Args { port, mode, max_members }
}

/// The number that follows `flag`.
fn number<T: std::str::FromStr>(flag: &str, value: Option<String>) -> T {
    let Some(value) = value else { usage(&format!("{flag} needs a value")) };
    value.parse().unwrap_or_else(|_| usage(&format!("{flag} takes a number, not {value:?}")))
}

/// A usage error: say what is wrong and how the command goes, and exit with status 2.
fn usage(problem: &str) -> ! {
    eprintln!("error: {problem}\n{USAGE}");
    std::process::exit(2)
}
