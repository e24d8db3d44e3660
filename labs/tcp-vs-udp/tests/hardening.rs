//! tcp-vs-udp against hostile peers: numbers from the wire past any bound, answers that never
//! end, junk that arrives faster than a deadline. The server answers with an error and goes
//! on; the clients give up within a bound of their own.

use std::io::Write;
use std::net::{TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use harness::labs::tcp_vs_udp::LAB;
use harness::{Proto, Session, Target, WAIT};

fn target() -> Target {
    Target::reference(&LAB, env!("CARGO_BIN_EXE_tcp-vs-udp"))
}

/// Each hostile message, and the error it is answered with.
const HOSTILE: [(&str, &str); 3] = [
    ("report 18446744073709551615", "error: report's SEQ must be at most 281474976710656"),
    ("data 0 t=9223372036854775808", "error: data's t= must be at most 144115188075855872"),
    ("data 18446744073709551615", "error: data's SEQ must be at most 281474976710656"),
];

/// Over UDP, iterative and threaded: each number past its bound is answered with an error,
/// said on stderr, and counted as nothing; `report` then finds an empty tally, and the server
/// goes on.
#[test]
fn udp_numbers_past_their_bounds_are_refused_and_the_server_goes_on() {
    for mode in ["iterative", "threaded"] {
        harness::testing::assert_holds(&target(), |s: &mut Session| {
            let mut server = s.server(&["--proto", "udp", "--mode", mode])?;
            let alice = s.udp("alice")?;
            for (message, error) in HOSTILE {
                alice.send_to(server.addr(), message.as_bytes())?;
                alice.expect_datagram_from(server.addr(), error.as_bytes())?;
                server.expect_stderr_line("the refused message", WAIT, |line| line.contains(message))?;
            }
            alice.send_to(server.addr(), b"report")?;
            alice.expect_datagram_from(server.addr(), b"received 0 gaps 0 drops 0 jitter 0.000 ms")?;
            alice.send_to(server.addr(), b"work 0 alive")?;
            alice.expect_datagram_from(server.addr(), b"done alive")
        });
    }
}

/// Over TCP, iterative and threaded: the same, line by line on one connection; the
/// connection stays open, and a second client is served after it.
#[test]
fn tcp_numbers_past_their_bounds_are_refused_and_the_server_goes_on() {
    for mode in ["iterative", "threaded"] {
        harness::testing::assert_holds(&target(), |s: &mut Session| {
            let mut server = s.server_on(Proto::Tcp, &["--proto", "tcp", "--mode", mode])?;
            let mut alice = s.tcp("alice", server.addr())?;
            for (message, error) in HOSTILE {
                alice.send(format!("{message}\n").as_bytes())?;
                alice.expect_bytes(format!("{error}\n").as_bytes())?;
                server.expect_stderr_line("the refused line", WAIT, |line| line.contains(message))?;
            }
            alice.send(b"report\n")?;
            alice.expect_bytes(b"received 0 gaps 0 drops 0 jitter 0.000 ms\n")?;
            alice.close();
            let mut bob = s.tcp("bob", server.addr())?;
            bob.send(b"work 0 bob\n")?;
            bob.expect_bytes(b"done bob\n")
        });
    }
}

/// A server (a thread of this test) that answers a connection with bytes and no newline, for
/// as long as the client reads.
fn endless_tcp_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding on 127.0.0.1");
    let addr = listener.local_addr().expect("a bound listener has an address");
    thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else { return };
        let chunk = vec![b'x'; 64 * 1024];
        // Ends when the client closes: the write fails.
        while stream.write_all(&chunk).is_ok() {}
    });
    addr
}

/// `requests` against a server whose answer never ends: it gives up after a bounded read and
/// says why, instead of reading into memory for ever.
#[test]
fn requests_reads_an_endless_answer_only_up_to_its_bound() {
    harness::testing::assert_holds(&target(), |s: &mut Session| {
        let to = endless_tcp_server().to_string();
        let mut requests =
            s.role("requests", "requests", &["--to", &to, "--mode", "tcp-keep", "--count", "1"])?;
        requests.expect_stderr_line("that the answer ran too long", WAIT, |line| {
            line.contains("ran past 512 bytes without a newline")
        })?;
        anyhow::ensure!(!requests.wait_exit(WAIT)?.success(), "requests succeeded on an endless answer");
        Ok(())
    });
}

/// `blast` over TCP, the same: the report it waits for never ends.
#[test]
fn blast_reads_an_endless_report_only_up_to_its_bound() {
    harness::testing::assert_holds(&target(), |s: &mut Session| {
        let to = endless_tcp_server().to_string();
        let args = ["--to", &to, "--proto", "tcp", "--count", "1", "--size", "100"];
        let mut blast = s.role("blast", "blast", &args)?;
        blast.expect_stderr_line("that the report ran too long", WAIT, |line| {
            line.contains("ran past 512 bytes without a newline")
        })?;
        anyhow::ensure!(!blast.wait_exit(WAIT)?.success(), "blast succeeded on an endless report");
        Ok(())
    });
}

/// `requests --mode udp` against a server that answers every request with junk, a datagram
/// every 50 ms, never with the answer: the 1 s wait for the answer runs out all the same (junk
/// does not restart it), and the request counts as lost.
#[test]
fn requests_over_udp_gives_up_while_junk_keeps_coming() {
    harness::testing::assert_holds(&target(), |s: &mut Session| {
        let server = UdpSocket::bind("127.0.0.1:0")?;
        server.set_read_timeout(Some(WAIT))?;
        let to = server.local_addr()?.to_string();
        let done = Arc::new(AtomicBool::new(false));
        let junk = {
            let done = done.clone();
            thread::spawn(move || {
                let mut buf = [0; 512];
                let Ok((_, client)) = server.recv_from(&mut buf) else { return };
                while !done.load(Ordering::SeqCst) {
                    let _ = server.send_to(b"junk", client);
                    // The junk's pace, faster than the client's 1 s wait: not a synchronisation.
                    thread::sleep(Duration::from_millis(50));
                }
            })
        };
        let mut requests = s.role("requests", "requests", &["--to", &to, "--mode", "udp", "--count", "1"])?;
        let summary = requests.expect_line("the summary", WAIT, |line| line.starts_with("summary"));
        done.store(true, Ordering::SeqCst);
        let _ = junk.join();
        let summary = summary?;
        anyhow::ensure!(summary.contains("answered=0") && summary.contains("lost=1"), "{summary}");
        anyhow::ensure!(requests.wait_exit(WAIT)?.success(), "requests failed");
        Ok(())
    });
}

/// The kept-connection scenario against a server that answers with endless bytes and no
/// newline: the scenario fails, because `requests` stops at its bound and says so (it and the
/// tap in front of it each hold a bounded amount, where both once grew to hundreds of MB).
#[test]
fn a_kept_connection_against_an_endless_answer_fails_with_a_bounded_read() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/endless.py");
    let command = format!(
        "{} {} --port {{port}} {{args}}",
        harness::process::quote(harness::session::python3()),
        harness::process::quote(&script.to_string_lossy())
    );
    let target = Target::command(&LAB, env!("CARGO_BIN_EXE_tcp-vs-udp"), &command);
    let scenario = LAB
        .scenarios
        .iter()
        .find(|scenario| scenario.name == "a_kept_connection_carries_every_request")
        .expect("the scenario");
    let report = harness::testing::expect_failure(scenario, &target).unwrap();
    assert!(report.contains("ran past 512 bytes without a newline"), "{report}");
}
