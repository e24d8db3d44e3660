//! my-tcp-states: a TCP echo server that leaves no connection behind.
//!
//! Echo each line back; close a connection once its client has closed it; close first when a
//! client sends the line `q`; survive a client's reset; restart at once on the same port.
//! Read the full spec with `cargo lab spec tcp-states`, then check your server, from the folder
//! that holds my-tcp-states, with:
//!
//! ```text
//! cargo lab check tcp-states --build 'cargo build --quiet --manifest-path my-tcp-states/Cargo.toml --target-dir my-tcp-states/target' \
//!     --server 'my-tcp-states/target/debug/my-tcp-states --port {port} {args}'
//! ```
//!
//! Rust, standard library only. Fill in the TODOs; each names the scenario that checks it.
//! While it runs, `ss -tan` (or `cat /proc/net/tcp`) shows its sockets' states.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(port) = port_from_args() else {
        eprintln!("usage: my-tcp-states --port N");
        return ExitCode::from(2);
    };
    // TODO (the_server_restarts_at_once_on_its_port): a restart must bind the port while an
    //   old connection waits there in TIME_WAIT, which takes SO_REUSEADDR. On Unix, std's
    //   TcpListener::bind sets it for you (Windows has no such need); check that yours does.
    let listener = match TcpListener::bind(("127.0.0.1", port)) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: binding tcp://127.0.0.1:{port}: {error}");
            return ExitCode::FAILURE;
        }
    };
    // The ready line, once bind and listen have returned (the_handshake_completes_before_accept).
    let addr = listener.local_addr().expect("a bound listener has an address");
    println!("listening on tcp://{addr}");
    let _ = std::io::stdout().flush();

    for stream in listener.incoming() {
        match stream {
            Ok(stream) => serve(stream),
            Err(error) => eprintln!("accept failed: {error}"),
        }
    }
    ExitCode::SUCCESS
}

/// `--port N` from the command line, parsed by hand; other flags are passed over.
fn port_from_args() -> Option<u16> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|arg| arg == "--port")?;
    args.get(at + 1)?.parse().ok()
}

/// Serve one client, from accept to the end of its connection.
fn serve(stream: TcpStream) {
    // TODO (a_closed_client_leaves_no_close_wait): loop: read; a read of 0 bytes means the
    //   client closed (its end of stream). Drop the stream then: until you do, the kernel
    //   keeps your end in CLOSE_WAIT, for as long as your program runs.
    // TODO (a_half_closed_client_still_gets_its_answer): write back each line (up to and
    //   including its \n) as it completes; at the end of the stream, write back what came
    //   after the last \n too, before you drop the stream: the client may have only
    //   half-closed.
    // TODO (the_side_that_closes_first_waits_in_time_wait): the line `q` is not written back:
    //   drop the stream (a plain close: your end then waits in TIME_WAIT).
    // TODO (a_reset_leaves_no_time_wait_and_the_server_goes_on): a client that resets makes
    //   read fail with ErrorKind::ConnectionReset: log it on stderr and return; the accept
    //   loop goes on.
    drop(stream);
}
