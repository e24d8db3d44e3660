//! tcp-states under many connections: the kernel's table is read by one thread for everyone,
//! so a connection's own thread serves it and ends, however long the table has grown.

use std::net::TcpStream;

use harness::process::{Program, Role};
use harness::transcript::Transcript;
use harness::{READY_WAIT, WAIT};

const CYCLES: usize = 800;

/// The number of threads process `pid` has, from /proc.
fn threads(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server is running");
    let line = status.lines().find(|line| line.starts_with("Threads:")).expect("a Threads: line");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a count")
}

/// 800 clients, one after another, each connects and closes at once (leaving 800 sockets in
/// TIME_WAIT, which every read of the table must go through). Once the server has logged
/// every close, its connection threads are gone: it runs its main thread and its one logging
/// thread, and none is left waiting on the table. (How fast it gets there is the bench's.)
#[cfg(target_os = "linux")]
#[test]
fn many_connect_and_close_cycles_leave_no_threads_behind() {
    let program = Program::Exec {
        path: env!("CARGO_BIN_EXE_tcp-states").into(),
        args: ["server", "--port", "0"].map(String::from).to_vec(),
    };
    let transcript = Transcript::new();
    let mut server = Role::spawn("server", program, &transcript).unwrap();
    let addr = server.wait_ready(READY_WAIT).unwrap().addr;
    // The binary itself, run directly: the role's process is the server's.
    let pid = server.pid();
    {
        let _hush = transcript.hush();
        for _ in 0..CYCLES {
            drop(TcpStream::connect(addr).unwrap());
        }
        let mut closed = 0;
        while closed < CYCLES {
            server
                .expect_line("a client's close", WAIT * 6, |line| line.contains(" closed its side"))
                .unwrap_or_else(|error| panic!("after {closed} closes: {error:#}"));
            closed += 1;
        }
    }
    // The main thread and the logging thread, and a few connection threads at most, in their
    // last instructions after handing over their last line.
    let threads = threads(pid);
    assert!(threads <= 8, "the server still has {threads} threads after {CYCLES} connections ended");
}
