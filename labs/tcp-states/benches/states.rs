//! `cargo bench -p tcp-states`: what many connections cost the server, whose every step is
//! logged with the kernel's table. N clients connect and stay; an honest client then has a line
//! echoed; then all N close, and the figure is how long until the server has logged every
//! close (its ends have left CLOSE_WAIT). Nothing is asserted: the figures depend on the
//! machine and its load, printed beside them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use harness::process::{Program, Role, Spawn};
use harness::transcript::Transcript;

fn main() -> ExitCode {
    match bench() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Long enough for the slowest server this bench has met; an event ends each wait sooner.
const PATIENCE: Duration = Duration::from_secs(120);

fn bench() -> Result<()> {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    harness::out!(
        "tcp-states benchmark (load average {})",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    harness::out!("{:>8} {:>22} {:>26}", "clients", "honest client's echo", "all closes logged after");
    for clients in [100, 200, 500] {
        let transcript = Transcript::new();
        let mut server = start(&transcript)?;
        let addr = server.wait_ready(PATIENCE)?.addr;
        let _hush = transcript.hush();
        let held: Vec<TcpStream> =
            (0..clients).map(|_| TcpStream::connect(addr)).collect::<std::io::Result<_>>()?;
        let asked = Instant::now();
        let mut honest = TcpStream::connect(addr)?;
        honest.set_read_timeout(Some(PATIENCE))?;
        honest.write_all(b"hello\n")?;
        let mut echo = [0; 6];
        honest.read_exact(&mut echo).context("reading the honest client's echo")?;
        let echoed = asked.elapsed();
        drop(honest);
        let closing = Instant::now();
        drop(held);
        for _ in 0..=clients {
            server.expect_line("a close", PATIENCE, |line| line.contains(" closed its side"))?;
        }
        harness::out!(
            "{clients:>8} {:>19.1} ms {:>23.1} ms",
            echoed.as_secs_f64() * 1000.0,
            closing.elapsed().as_secs_f64() * 1000.0
        );
    }
    Ok(())
}

fn start(transcript: &Transcript) -> Result<Role> {
    let program = Program::Exec {
        path: env!("CARGO_BIN_EXE_tcp-states").into(),
        args: ["server", "--port", "0"].map(String::from).to_vec(),
    };
    Spawn::new("server", program).start(transcript)
}
