//! my-backlog: a TCP server that shows the kernel's accept queue.
//!
//! Listen with the backlog given, accept only when told to, and answer each accepted
//! client's lines in capitals, on a thread of its own.
//! Read the full spec with `cargo lab spec backlog`, then check your server, from the folder
//! that holds my-backlog, with:
//!
//! ```text
//! cargo lab check backlog --build 'cargo build --quiet --manifest-path my-backlog/Cargo.toml --target-dir my-backlog/target' \
//!     --server 'my-backlog/target/debug/my-backlog --port {port} {args}'
//! ```
//!
//! Rust, standard library only (Linux: see `listen` and `set_defer_accept` at the end). Fill
//! in the TODOs; each names the scenario that checks it.

// While TODOs are open, some names are not used yet and rustc would warn about each. Delete
// this line once you are done: any warning left then points at something you forgot.
#![allow(unused_variables, unused_mut, dead_code)]

use std::ffi::{c_int, c_void};
use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::Duration;

/// The flags the checker passes.
struct Args {
    /// `--port N`: the TCP port to listen on, on 127.0.0.1. Always passed.
    port: u16,
    /// `--backlog N`: the value to pass to listen().
    backlog: i32,
    /// `--accept never|on-enter|after SECS` (never when the flag is absent).
    accept: Accept,
    /// `--defer-accept SECS`: TCP_DEFER_ACCEPT in seconds (Linux), when the flag is given.
    defer_accept: Option<i32>,
}

/// When to call accept.
enum Accept {
    Never,
    OnEnter,
    After(Duration),
}

/// Answer each whole line with the same line in capitals and a \n.
fn serve(mut stream: TcpStream) {
    // TODO (bytes_sent_while_queued_are_answered_once_accepted): loop on read; keep a
    //   buffer, answer every whole line (up to \n) in it, keep the rest for the next read.
    //   Stop when read returns Ok(0), or an Err.
}

fn main() {
    let args = parse_args();

    // std's bind does socket, bind and listen in one call, and listens with a backlog of its
    // own choosing: 128. The calls below change that socket before the ready line, so before
    // any client can know its port.
    let listener = TcpListener::bind(("127.0.0.1", args.port)).unwrap_or_else(|error| {
        eprintln!("error: listening on tcp://127.0.0.1:{}: {error}", args.port);
        std::process::exit(1)
    });
    if let Some(secs) = args.defer_accept {
        // TODO (the_syn_queue_is_bounded_by_the_backlog_too): set TCP_DEFER_ACCEPT to secs
        //   (with set_defer_accept, below) before the listen below.
    }
    // TODO (exactly_backlog_plus_one_connects_complete, a_connect_to_a_full_queue_sends_its_syn_again):
    //   listen with exactly args.backlog, not a default.
    if let Err(error) = listen(&listener, 128) {
        eprintln!("error: listen: {error}");
        std::process::exit(1)
    }
    let port = listener.local_addr().expect("a bound socket has an address").port();
    println!("listening on tcp://127.0.0.1:{port}");
    // The checker waits for that line: flush it now, not whenever a buffer fills.
    let _ = io::stdout().flush();

    match args.accept {
        Accept::Never => {
            // Never accept: the kernel's queue fills up. Just wait.
            loop {
                thread::sleep(Duration::from_secs(3600));
            }
        }
        Accept::OnEnter => {
            for _line in io::stdin().lines() {
                // TODO (each_accept_frees_one_slot): accept once for each line read on stdin,
                //   and serve that client on a thread of its own.
            }
            // stdin ended: returning from main exits 0, and ends the serving threads too.
        }
        Accept::After(wait) => {
            thread::sleep(wait);
            loop {
                // TODO (backlog_one_serves_fifty_clients): accept every client as it comes,
                //   and serve each on a thread of its own (thread::spawn(move || ...)).
                thread::sleep(Duration::from_secs(1)); // remove this once you accept here
            }
        }
    }
}

const USAGE: &str =
    "usage: my-backlog --port N --backlog N [--accept never|on-enter|after SECS] [--defer-accept SECS]";

/// Read the flags by hand, from std::env::args.
fn parse_args() -> Args {
    let mut port = None;
    let mut backlog = None;
    let mut accept = Accept::Never;
    let mut defer_accept = None;
    let mut words = std::env::args().skip(1);
    while let Some(flag) = words.next() {
        match flag.as_str() {
            "--port" => port = Some(number(&flag, words.next())),
            "--backlog" => backlog = Some(number(&flag, words.next())),
            "--accept" => {
                accept = match words.next().as_deref() {
                    Some("never") => Accept::Never,
                    Some("on-enter") => Accept::OnEnter,
                    Some("after") => {
                        let secs: f64 = number("--accept after", words.next());
                        let wait = Duration::try_from_secs_f64(secs);
                        Accept::After(wait.unwrap_or_else(|_| usage("--accept after takes SECS ≥ 0")))
                    }
                    _ => usage("--accept takes never, on-enter or after SECS"),
                }
            }
            "--defer-accept" => defer_accept = Some(number(&flag, words.next())),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0)
            }
            _ => usage(&format!("unknown flag {flag:?}")),
        }
    }
    let port = port.unwrap_or_else(|| usage("--port N is required"));
    let backlog = backlog.unwrap_or_else(|| usage("--backlog N is required"));
    Args { port, backlog, accept, defer_accept }
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

// std has no call to choose the backlog or to set TCP_DEFER_ACCEPT, so these two ask the C
// library (which std already links) directly. Both are Linux's: the numbers are Linux's, and
// Linux lets a socket that already listens call listen() again, which only sets a new backlog
// (inet_listen in the kernel's net/ipv4/af_inet.c).

/// Call listen() again on `listener`, with `backlog`.
fn listen(listener: &TcpListener, backlog: i32) -> io::Result<()> {
    // SAFETY: listen() takes two integers and touches no memory of ours.
    let result = unsafe { ffi::listen(listener.as_raw_fd(), backlog) };
    ok_or_errno(result)
}

/// Set TCP_DEFER_ACCEPT on `listener` to `secs`: the kernel keeps each new connection
/// half-open, in the SYN queue, until its client sends something.
fn set_defer_accept(listener: &TcpListener, secs: i32) -> io::Result<()> {
    const IPPROTO_TCP: c_int = 6;
    const TCP_DEFER_ACCEPT: c_int = 9;
    let value: c_int = secs;
    let len = std::mem::size_of::<c_int>() as u32;
    let fd = listener.as_raw_fd();
    // SAFETY: setsockopt() reads `len` bytes at the pointer: `value`, alive for the call.
    let result = unsafe {
        ffi::setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &value as *const c_int as *const c_void, len)
    };
    ok_or_errno(result)
}

/// A C socket call returns 0 when it worked, and -1 with the reason in errno when not.
fn ok_or_errno(result: c_int) -> io::Result<()> {
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The two C functions, as the C library declares them.
mod ffi {
    use std::ffi::{c_int, c_void};

    extern "C" {
        pub fn listen(fd: c_int, backlog: c_int) -> c_int;
        pub fn setsockopt(fd: c_int, level: c_int, name: c_int, value: *const c_void, len: u32) -> c_int;
    }
}
