//! my-tcp-vs-udp: a sink and a request server, over UDP or TCP.
//!
//! Count numbered `data` records, answer `report` with what you received, the gaps in the
//! numbering and the kernel's drop count, and answer `work MS TAG` after MS milliseconds.
//! Read the full spec with `cargo lab spec tcp-vs-udp`, then check your server, from the
//! folder that holds my-tcp-vs-udp, with:
//!
//! ```text
//! cargo lab check tcp-vs-udp --build 'cargo build --quiet --manifest-path my-tcp-vs-udp/Cargo.toml --target-dir my-tcp-vs-udp/target' \
//!     --server 'my-tcp-vs-udp/target/debug/my-tcp-vs-udp --port {port} {args}'
//! ```
//!
//! Rust, standard library only. Fill in the TODOs; each names the scenario that checks it.
//! Two socket options are not in std: SO_RCVBUF and SO_RXQ_OVFL (Linux's, option 40 at
//! SOL_SOCKET). For those, add the `socket2` crate (`set_recv_buffer_size`, `recvmsg`) or
//! `libc` to Cargo.toml yourself.

// While TODOs are open, some names are not used yet and rustc would warn about each. Delete
// this line once you are done: any warning left then points at something you forgot.
#![allow(unused_variables, unused_mut)]

use std::io::Write;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::ExitCode;

/// The flags the checker passes: `--port N` and, per scenario, the others.
struct Args {
    port: u16,
    proto: String,
    mode: String,
    read_delay_ms: u64,
    rcvbuf: Option<usize>,
}

fn parse_args() -> Result<Args, String> {
    let mut args =
        Args { port: 0, proto: "udp".into(), mode: "iterative".into(), read_delay_ms: 0, rcvbuf: None };
    let mut words = std::env::args().skip(1);
    let mut port = None;
    while let Some(flag) = words.next() {
        let mut value = || words.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => port = Some(value()?.parse().map_err(|_| "--port takes a number".to_string())?),
            "--proto" => args.proto = value()?,
            "--mode" => args.mode = value()?,
            "--read-delay" => {
                args.read_delay_ms =
                    value()?.parse().map_err(|_| "--read-delay takes milliseconds".to_string())?
            }
            "--rcvbuf" => {
                args.rcvbuf = Some(value()?.parse().map_err(|_| "--rcvbuf takes bytes".to_string())?)
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    args.port = port.ok_or("--port N is required")?;
    if !matches!(args.proto.as_str(), "udp" | "tcp")
        || !matches!(args.mode.as_str(), "iterative" | "threaded")
    {
        return Err("--proto is udp or tcp, --mode iterative or threaded".into());
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let served = if args.proto == "udp" { serve_udp(&args) } else { serve_tcp(&args) };
    if let Err(error) = served {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The answer to one message, or `None` for a data record. `drops` is the kernel's count of
/// datagrams dropped on the socket so far (0 over TCP).
fn answer_to(message: &[u8], drops: u32) -> Option<Vec<u8>> {
    // TODO (udp_into_a_napping_sink_loses_what_the_kernel_drops): `data SEQ ...` is counted:
    //   how many arrived since record 0, the highest SEQ seen, the drops when record 0 came.
    //   `report [SEQ]` (a SEQ makes it a record too) is answered
    //   "received R gaps G drops D": G the numbers missing below the highest seen.
    // TODO (a_quick_request_waits_behind_a_slow_one): `work MS TAG`: sleep MS ms, answer "done TAG".
    // TODO (bad_messages_are_answered_and_the_server_goes_on): anything else, or MS over 10000,
    //   or bytes that are not UTF-8, is answered with "error: ..." and the server goes on.
    Some(b"error: not written yet".to_vec())
}

fn serve_udp(args: &Args) -> std::io::Result<()> {
    // TODO (udp_into_a_napping_sink_loses_what_the_kernel_drops): set SO_RCVBUF to --rcvbuf
    //   before bind, and SO_RXQ_OVFL to 1, so that the kernel says how many it dropped.
    let socket = UdpSocket::bind(("127.0.0.1", args.port))?;
    println!("listening on udp://{}", socket.local_addr()?);
    std::io::stdout().flush()?;
    let mut buf = vec![0; 65_536];
    loop {
        // TODO (udp_into_a_napping_sink_loses_what_the_kernel_drops): sleep --read-delay ms
        //   before each receive; receive with recvmsg, and read the drop count from the
        //   SO_RXQ_OVFL control message (a u32; absent while it is 0).
        let (len, sender) = socket.recv_from(&mut buf)?;
        // TODO (a_thread_per_request_answers_the_quick_one_first): with --mode threaded, do a
        //   work request on a thread of its own and go straight back to receive.
        if let Some(reply) = answer_to(&buf[..len], 0) {
            socket.send_to(&reply, sender)?;
        }
    }
}

fn serve_tcp(args: &Args) -> std::io::Result<()> {
    // TODO (tcp_into_a_napping_sink_loses_nothing_and_holds_the_sender): set SO_RCVBUF to
    //   --rcvbuf before listen (std binds and listens in one call: socket2 splits them).
    let listener = TcpListener::bind(("127.0.0.1", args.port))?;
    println!("listening on tcp://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    for stream in listener.incoming() {
        // TODO (a_new_connection_per_request_opens_one_connection_each): after a client closes,
        //   come back here for the next; with --mode threaded, a thread per connection.
        serve_connection(stream?, args);
    }
    Ok(())
}

fn serve_connection(stream: TcpStream, args: &Args) {
    // TODO (tcp_into_a_napping_sink_loses_nothing_and_holds_the_sender): sleep --read-delay ms
    //   before each read; a read returns any piece of the stream, so keep what follows the last
    //   newline for the next read, and answer each line in turn.
    // TODO (a_kept_connection_carries_every_request): answer every line on this connection
    //   (each answer a line); stop only when a read returns 0 bytes (the client closed).
}
