//! udp-group against a hostile or careless peer: terminal escapes aimed at the owner's
//! terminal, names that look like someone else's, a member typing into netcat; and a server
//! bound to every interface.

use anyhow::{Result, ensure};
use harness::labs::udp_group::{LAB, expect_containing, expect_silence, join};
use harness::{Target, WAIT};

const BINARY: &str = env!("CARGO_BIN_EXE_udp-group");

fn target() -> Target {
    Target::reference(&LAB, BINARY)
}

fn no_escapes(line: &str) -> Result<()> {
    let raw = ['\x1b', '\x07', '\u{9b}', '\x7f'];
    ensure!(!line.contains(raw), "a peer's control characters reached the terminal raw: {line:?}");
    Ok(())
}

/// mallory's message clears the screen and retitles the window, and her `Q` in a name full of
/// escapes would do it through the rejection line: the owner's terminal gets both escaped. The
/// members still get mallory's bytes exactly as she sent them.
#[test]
fn a_peers_control_characters_reach_the_owners_terminal_escaped() {
    harness::testing::assert_holds(&target(), |s| {
        let mut server = s.server(&[])?;
        let at = server.addr();
        let alice = join(s, at, "alice", "alice")?;
        let mallory = join(s, at, "mallory", "mallory")?;
        expect_containing(&alice, at, b"mallory")?;

        let attack = b"M mallory \x1b[2J\x1b[31mRED \x1b]0;owned\x07 \xc2\x9b1m \x7f";
        mallory.send_to(at, attack)?;
        let relayed = b"mallory: \x1b[2J\x1b[31mRED \x1b]0;owned\x07 \xc2\x9b1m \x7f";
        alice.expect_datagram_from(at, relayed)?;
        mallory.expect_datagram_from(at, relayed)?;
        let logged = server.expect_line("mallory's message", WAIT, |line| line.contains("RED"))?;
        no_escapes(&logged)?;

        mallory.send_to(at, b"Q \x1b[2Jmallory")?;
        let reply = mallory.recv_from(at, WAIT)?.unwrap_or_default();
        ensure!(reply.starts_with(b"ERR "), "mallory's Q in another name was not refused: {reply:?}");
        let rejected = server.expect_stderr_line("the rejection", WAIT, |line| line.contains("rejected"))?;
        no_escapes(&rejected)
    });
}

/// Names that would show as someone else's (a right-to-left override, a zero-width space, a
/// byte-order mark, a bidi isolate) are refused with an ERR that says why; nobody hears of them.
#[test]
fn names_with_invisible_format_characters_are_refused() {
    harness::testing::assert_holds(&target(), |s| {
        let server = s.server(&[])?;
        let at = server.addr();
        let alice = join(s, at, "alice", "alice")?;
        let mallory = s.udp("mallory")?;
        for name in ["\u{202e}ecila", "ali\u{200b}ce", "\u{feff}alice", "bob\u{2066}", "soft\u{ad}hyphen"] {
            mallory.send_to(at, format!("N {name}").as_bytes())?;
            let reply = mallory.recv_from(at, WAIT)?.unwrap_or_default();
            ensure!(
                reply.starts_with(b"ERR ") && reply.windows(9).any(|w| w == b"invisible"),
                "N {name:?} got {:?}, not an ERR that says the name has an invisible character",
                String::from_utf8_lossy(&reply)
            );
        }
        expect_silence(at, &[&alice])
    });
}

/// netcat sends each typed line with its newline: `N netcat\n` joins (exactly `OK`), `W\r\n`
/// lists the members, and `M netcat hi\n` reaches alice as `netcat: hi`.
#[test]
fn one_trailing_line_ending_ends_a_datagram() {
    harness::testing::assert_holds(&target(), |s| {
        let server = s.server(&[])?;
        let at = server.addr();
        let alice = join(s, at, "alice", "alice")?;
        let netcat = s.udp("netcat")?;
        netcat.send_to(at, b"N netcat\n")?;
        netcat.expect_datagram_from(at, b"OK")?;
        expect_containing(&alice, at, b"netcat")?;
        netcat.send_to(at, b"W\r\n")?;
        netcat.expect_datagram_from(at, b"2 members: alice, netcat")?;
        netcat.send_to(at, b"M netcat hi\n")?;
        alice.expect_datagram_from(at, b"netcat: hi")?;
        // Only one: a second newline is part of the text, and a name cannot hold one.
        let other = s.udp("other")?;
        other.send_to(at, b"N other\n\n")?;
        let reply = other.recv_from(at, WAIT)?.unwrap_or_default();
        ensure!(reply.starts_with(b"ERR "), "N other\\n\\n got {:?}", String::from_utf8_lossy(&reply));
        Ok(())
    });
}
