//! Wire compatibility with seed 004, both ways: a client that speaks only what the seed's
//! client speaks works with the lab's server, and the lab's client works with a server that
//! answers only what the seed's server answers (`OK`, and plain text lines).

use std::path::Path;

use std::net::SocketAddr;

use anyhow::{Result, bail, ensure};
use harness::labs::udp_group::{LAB, expect_containing, join};
use harness::peer::UdpPeer;
use harness::process::{Program, Role};
use harness::wait::Deadline;
use harness::{Target, WAIT};

fn target() -> Target {
    Target::reference(&LAB, env!("CARGO_BIN_EXE_udp-group"))
}

/// The seed-style client: N with a taken name ("name taken"), N again with a free one, a line
/// with runs of spaces, a line from alice printed, then `quit` sends Q.
#[test]
fn a_seed_style_client_works_with_the_lab_server() {
    harness::testing::assert_holds(&target(), |s| {
        let server = s.server(&[])?;
        let at = server.addr();
        let alice = join(s, at, "alice", "alice")?;

        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed_client.py");
        let port = server.addr().port().to_string();
        let program = Program::Exec {
            path: "python3".into(),
            args: vec![script.display().to_string(), "--port".into(), port],
        };
        let mut seed = Role::spawn("seed client", program, s.transcript())?;
        seed.send_line("alice")?;
        seed.expect_line("that the name is taken", WAIT, |line| line == "name taken")?;
        seed.send_line("张三")?;
        seed.expect_line("that it logged in", WAIT, |line| line == "logged in")?;
        expect_containing(&alice, at, "张三".as_bytes())?;

        seed.send_line("hello   from  the seed")?;
        expect_containing(&alice, at, b"hello   from  the seed")?;
        alice.send_to(at, "M alice 你好 张三".as_bytes())?;
        expect_containing(&alice, at, "你好 张三".as_bytes())?;
        seed.expect_line("alice's line", WAIT, |line| line.contains("你好 张三"))?;

        seed.send_line("quit")?;
        expect_containing(&alice, at, "张三".as_bytes())?;
        ensure!(seed.wait_exit(WAIT)?.success(), "the seed client did not exit cleanly");
        Ok(())
    });
}

/// The harness plays a server that knows nothing of `ERR`: it refuses a name in plain words
/// (as the seed's server does, 该昵称已被占用), then answers `OK`, and relays plain lines. The
/// lab's client shows the refusal, asks again, and speaks only N, M and Q.
#[test]
fn the_lab_client_works_with_a_seed_style_server() {
    harness::testing::assert_holds(&target(), |s| {
        let seed_server = s.udp("seed server")?;
        let address = seed_server.local_addr()?.to_string();
        let mut client = s.role("client", "client", &["--server", &address])?;

        client.expect_line("a prompt for the nickname", WAIT, |line| line.contains("nickname"))?;
        client.send_line("alice")?;
        let mut from = None;
        let request = recv(&seed_server, &mut from)?;
        ensure!(request == b"N alice", "expected N alice, got {request:?}");
        let client_at = from.expect("recv learned the client's address");
        seed_server.send_to(client_at, "该昵称已被占用".as_bytes())?;
        client.expect_line("the server's refusal", WAIT, |line| line.contains("该昵称已被占用"))?;

        client.send_line("张三")?;
        let request = recv(&seed_server, &mut from)?;
        ensure!(request == "N 张三".as_bytes(), "expected N 张三, got {request:?}");
        seed_server.send_to(client_at, b"OK")?;
        client.expect_line("that it joined", WAIT, |line| line.contains("joined as 张三"))?;

        seed_server.send_to(client_at, "【系统消息】:alice 进入到聊天室".as_bytes())?;
        client.expect_line("the server's plain line", WAIT, |line| line.contains("alice 进入到聊天室"))?;
        client.send_line("hi  there")?;
        let request = recv(&seed_server, &mut from)?;
        ensure!(request == "M 张三 hi  there".as_bytes(), "expected M 张三 hi  there, got {request:?}");

        client.close_stdin();
        let request = recv(&seed_server, &mut from)?;
        ensure!(request == "Q 张三".as_bytes(), "expected Q 张三, got {request:?}");
        ensure!(client.wait_exit(WAIT)?.success(), "the client did not exit cleanly");
        Ok(())
    });
}

/// The next datagram the seed server gets from the client. The client's address is learned
/// from its first `N` (a stray datagram before it is passed over); after that, only datagrams
/// from that address count.
fn recv(peer: &UdpPeer, client: &mut Option<SocketAddr>) -> Result<Vec<u8>> {
    if let Some(from) = *client {
        return match peer.recv_from(from, WAIT)? {
            Some(bytes) => Ok(bytes),
            None => bail!("{} got nothing from the client within {:?}", peer.who(), WAIT),
        };
    }
    let deadline = Deadline::after(WAIT);
    while let Some((bytes, from)) = peer.recv(deadline.left().unwrap_or_default())? {
        if bytes.starts_with(b"N ") {
            *client = Some(from);
            return Ok(bytes);
        }
    }
    bail!("{} got no registration from the client within {:?}", peer.who(), WAIT)
}
