//! sticky against a client that never finishes a message (slowloris), and a server bound to
//! every interface.

use std::time::Duration;

use harness::labs::sticky::LAB;
use harness::{Target, WAIT};

const BINARY: &str = env!("CARGO_BIN_EXE_sticky");

fn target() -> Target {
    Target::reference(&LAB, BINARY)
}

/// A client sends a line one byte every 100 ms and never ends it: each read comes well within
/// any idle limit, but with `--message-deadline 500` the line must be whole within half a
/// second. Its connection is closed, and the client waiting behind it is served.
#[test]
fn a_line_that_never_ends_loses_its_turn() {
    harness::testing::assert_holds(&target(), |s| {
        let mut server = s.server(&["--framing", "delimiter", "--message-deadline", "500"])?;
        let at = server.addr();
        let mut slow = s.tcp("slow", at)?;
        // The attack's own rhythm, not a wait for the server: a byte, a pause, a byte... for up
        // to 4 s, or until the server has closed the connection and a write fails.
        let attacker = std::thread::spawn(move || {
            for _ in 0..40 {
                if slow.send(b"x").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        server.expect_line("the slow client's first byte", WAIT, |line| line == "recv 1 bytes [x]")?;
        let mut next = s.tcp("next", at)?;
        next.send(b"my turn\n")?;
        server.expect_stderr_line("that the slow client lost its turn", WAIT, |line| {
            line.starts_with("connection 1:") && line.contains("0.5s")
        })?;
        server.expect_line("the next client's message", WAIT, |line| line == "message [my turn]")?;
        let _ = attacker.join();
        Ok(())
    });
}
