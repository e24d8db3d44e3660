//! upper and bytes that are not plain text, at the edges of its ASCII fast path: a read that
//! is all ASCII is upper-cased in place; anything else, including an all-ASCII read while half
//! a character waits from the read before, takes the careful UTF-8 path.

use std::time::Duration;

use harness::Target;
use harness::labs::upper::LAB;

fn target() -> Target {
    Target::reference(&LAB, env!("CARGO_BIN_EXE_upper"))
}

/// Bytes that are not UTF-8 come back as they came, with the letters around them raised; and
/// half a character followed by a read of plain ASCII is not UTF-8 either: it comes back
/// before the ASCII, not after it, and not lost.
#[test]
fn bytes_that_are_not_utf8_come_back_as_they_came_and_in_order() {
    harness::testing::assert_holds(&target(), |s| {
        let server = s.server(&["--mode", "threaded"])?;
        let mut alice = s.tcp("alice", server.addr())?;
        alice.send(b"ab\xffcd\xe5\xbc\n")?;
        alice.expect_bytes(b"AB\xffCD\xe5\xbc\n")?;
        alice.send(b"caf\xc3")?;
        // A deliberate pause, not a wait for anything: it makes the server read the half é on
        // its own, so that "xyz" comes in a read of its own, all ASCII, while that half waits.
        // Were they read together, the check would still hold.
        std::thread::sleep(Duration::from_millis(200));
        alice.send(b"xyz\n")?;
        alice.expect_bytes(b"CAF\xc3XYZ\n")?;
        Ok(())
    });
}
