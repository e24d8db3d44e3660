//! The receiver's bound on senders: it keeps 1,024 streams, and when all are active a new
//! sender is refused rather than an active one forgotten.

use std::net::UdpSocket;

use anyhow::{Context, ensure};
use harness::labs::reliable::LAB;
use harness::{QUIET, Session, Target, WAIT};

const MAX_SENDERS: usize = 1024;

fn target() -> Target {
    Target::reference(&LAB, env!("CARGO_BIN_EXE_reliable"))
}

/// `SSSS BODY`: the wire format's checksum (RFC 1071) and the body, written here apart from
/// the lab's wire.rs.
fn with_checksum(body: &str) -> Vec<u8> {
    let mut sum: u32 = 0;
    for pair in body.as_bytes().chunks(2) {
        sum += u32::from(u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]));
        sum = (sum & 0xffff) + (sum >> 16);
    }
    format!("{:04x} {body}", !(sum as u16)).into_bytes()
}

/// 1,024 senders each deliver line 0 (the first of them keeps sending; the others, each from an
/// address of its own on loopback, are done); the 1,025th is
/// refused, not acknowledged, and said so on stderr; the first is still known: its line 1 is
/// delivered and acknowledged `ACK 2`, not taken for a new stream's.
#[test]
fn a_new_sender_is_refused_rather_than_an_active_one_forgotten() {
    harness::testing::assert_holds(&target(), |s: &mut Session| {
        let mut server = s.server(&[])?;
        let first = s.udp("first")?;
        first.send_to(server.addr(), &with_checksum("DATA 0 hello"))?;
        first.expect_datagram_from(server.addr(), &with_checksum("ACK 1"))?;
        {
            let _hush = s.transcript().hush();
            for n in 1..MAX_SENDERS {
                // An address of its own in 127.0.0.0/8, as a port of its own could be one a
                // sender before it had (a closed socket's port is soon handed out again).
                let ip = std::net::Ipv4Addr::new(127, 1, (n / 250) as u8, (n % 250 + 1) as u8);
                let sender = UdpSocket::bind((ip, 0))?;
                sender.set_read_timeout(Some(WAIT))?;
                sender.send_to(&with_checksum("DATA 0 hi"), server.addr())?;
                let mut buf = [0; 64];
                let len = sender.recv(&mut buf).with_context(|| format!("sender {n}'s ACK"))?;
                ensure!(buf[..len] == with_checksum("ACK 1"), "sender {n} got {:?}", &buf[..len]);
            }
        }
        let late = s.udp("late")?;
        late.send_to(server.addr(), &with_checksum("DATA 0 me too"))?;
        server.expect_stderr_line("the refusal", WAIT, |line| line.starts_with("refused DATA 0 from"))?;
        late.expect_nothing(QUIET)?;
        first.send_to(server.addr(), &with_checksum("DATA 1 still me"))?;
        first.expect_datagram_from(server.addr(), &with_checksum("ACK 2"))
    });
}
