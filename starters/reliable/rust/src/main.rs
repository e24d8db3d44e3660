//! reliable starter: the receiving end of a reliable transfer over UDP.
//!
//! A sender numbers each line (`SSSS DATA N LINE`, SSSS a checksum); a lossy link between you
//! loses, copies, reorders and corrupts datagrams. Print each line exactly once, in order, and
//! acknowledge every datagram (`SSSS ACK M`) so that the sender knows what to send again.
//! Read the full spec with `cargo lab spec reliable`, then check your receiver, from the
//! folder that holds my-reliable (README.md beside Cargo.toml has the exact commands), with:
//!
//! ```text
//! cargo lab check reliable --build 'cargo build --quiet --manifest-path my-reliable/Cargo.toml --target-dir my-reliable/target' \
//!     --server 'my-reliable/target/debug/my-reliable --port {port} {args}'
//! ```
//!
//! Rust, standard library only. Fill in the TODOs; each names the scenario that checks it.

use std::io::Write;
use std::net::UdpSocket;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut port: Option<u16> = None;
    let mut naive = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().and_then(|value| value.parse().ok()),
            "--naive" => naive = true,
            other => {
                eprintln!("error: unexpected argument {other:?}; usage: my-reliable --port N [--naive]");
                return ExitCode::from(2);
            }
        }
    }
    let Some(port) = port else {
        eprintln!("error: --port N is required");
        return ExitCode::from(2);
    };

    let socket = match UdpSocket::bind(("127.0.0.1", port)) {
        Ok(socket) => socket,
        Err(error) => {
            eprintln!("error: binding udp://127.0.0.1:{port}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let addr = socket.local_addr().expect("a bound socket has an address");
    println!("listening on udp://{addr}");
    std::io::stdout().flush().expect("stdout is open");

    // TODO (the_sender_gives_up_once_the_receiver_has_quit): when stdin ends, the user has
    //   quit: exit with status 0. Read stdin on a thread of its own (std::thread::spawn),
    //   since the loop below waits in recv_from.

    let mut buf = vec![0u8; 65_536];
    loop {
        let (len, sender) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(error) => {
                eprintln!("receive failed: {error}");
                continue;
            }
        };
        let datagram = &buf[..len];
        // TODO (the_pinger_counts_exactly_the_pings_the_link_dropped): a datagram that starts
        //   with b"ping " goes back unchanged to the sender, at once.
        // TODO (without_acknowledgements_lost_lines_stay_lost): with `naive` the datagram is
        //   the line itself: print it, answer nothing.
        // TODO (a_corrupted_datagram_is_discarded_not_delivered): split off the first five
        //   bytes (four hex digits and a space); if they do not match checksum(body), the
        //   datagram was damaged: discard it, print nothing, answer nothing.
        // TODO (stop_and_wait_delivers_every_line_once_in_order,
        //   each_sender_is_a_stream_of_its_own): the body is `DATA N LINE`.
        //   Keep the next number you expect per sender address (a HashMap, 0 at first); print
        //   LINE only when N is that number (then expect N + 1).
        // TODO (a_lost_ack_brings_a_copy_that_is_acknowledged_again): answer every DATA that
        //   passed the checksum, a copy too, with socket.send_to(&ack(expected), sender).
        // TODO (go_back_n_keeps_a_window_of_lines_in_flight): after a gap (N bigger than
        //   expected), print nothing and answer with the number you still expect.
        let _ = (naive, sender, ack(0));
        println!("{}", String::from_utf8_lossy(datagram));
    }
}

/// The Internet checksum (RFC 1071) of `body`.
fn checksum(body: &[u8]) -> u16 {
    // TODO (a_corrupted_datagram_is_discarded_not_delivered): add the bytes as 16-bit
    //   big-endian words (pad an odd last byte with a zero), fold each carry back in,
    //   invert. `DATA 0 hello` gives 0x5509.
    let _ = body;
    0
}

/// `SSSS ACK M`: "every line before M has been printed; M is the next I expect".
fn ack(next: u64) -> Vec<u8> {
    let body = format!("ACK {next}");
    format!("{:04x} {body}", checksum(body.as_bytes())).into_bytes()
}
