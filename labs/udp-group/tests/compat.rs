//! Wire compatibility with seed 004, both ways: a client that speaks only what the seed's
//! client speaks works with the lab's server, and the lab's client works with a server that
//! answers only what the seed's server answers (`OK`, and plain text lines).

use std::path::Path;

use anyhow::{Result, bail, ensure};
use harness::labs::udp_group::LAB;
use harness::process::{Program, Role};
use harness::{Target, WAIT};

fn target() -> Target {
    Target::reference(&LAB, env!("CARGO_BIN_EXE_udp-group"))
}

/// The seed-style client: N with a taken name ("name taken"), N again with a free one, a line
/// with runs of spaces, a line from alice printed, then `quit` sends Q.
#[test]
fn a_seed_style_client_works_with_the_lab_server() {
    harness::scenario::assert_holds(&target(), |s| {
        let server = s.server(&[])?;
        let alice = s.udp("alice")?;
        alice.send_to(server.addr(), b"N alice")?;
        alice.expect_datagram(b"OK")?;

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
        expect_containing(&alice, "张三")?;

        seed.send_line("hello   from  the seed")?;
        expect_containing(&alice, "hello   from  the seed")?;
        alice.send_to(server.addr(), "M alice 你好 张三".as_bytes())?;
        expect_containing(&alice, "你好 张三")?;
        seed.expect_line("alice's line", WAIT, |line| line.contains("你好 张三"))?;

        seed.send_line("quit")?;
        expect_containing(&alice, "张三")?;
        ensure!(seed.wait_exit(WAIT)?.success(), "the seed client did not exit cleanly");
        Ok(())
    });
}

/// The harness plays a server that knows nothing of `ERR`: it refuses a name in plain words
/// (as the seed's server does, 该昵称已被占用), then answers `OK`, and relays plain lines. The
/// lab's client shows the refusal, asks again, and speaks only N, M and Q.
#[test]
fn the_lab_client_works_with_a_seed_style_server() {
    harness::scenario::assert_holds(&target(), |s| {
        let seed_server = s.udp("seed server")?;
        let address = seed_server.local_addr()?.to_string();
        let mut client = s.role("client", "client", &["--server", &address])?;

        client.expect_line("a prompt for the nickname", WAIT, |line| line.contains("nickname"))?;
        client.send_line("alice")?;
        let (request, from) = recv(&seed_server)?;
        ensure!(request == b"N alice", "expected N alice, got {request:?}");
        seed_server.send_to(from, "该昵称已被占用".as_bytes())?;
        client.expect_line("the server's refusal", WAIT, |line| line.contains("该昵称已被占用"))?;

        client.send_line("张三")?;
        let (request, from) = recv(&seed_server)?;
        ensure!(request == "N 张三".as_bytes(), "expected N 张三, got {request:?}");
        seed_server.send_to(from, b"OK")?;
        client.expect_line("that it joined", WAIT, |line| line.contains("joined as 张三"))?;

        seed_server.send_to(from, "【系统消息】:alice 进入到聊天室".as_bytes())?;
        client.expect_line("the server's plain line", WAIT, |line| line.contains("alice 进入到聊天室"))?;
        client.send_line("hi  there")?;
        let (request, _) = recv(&seed_server)?;
        ensure!(request == "M 张三 hi  there".as_bytes(), "expected M 张三 hi  there, got {request:?}");

        client.close_stdin();
        let (request, _) = recv(&seed_server)?;
        ensure!(request == "Q 张三".as_bytes(), "expected Q 张三, got {request:?}");
        ensure!(client.wait_exit(WAIT)?.success(), "the client did not exit cleanly");
        Ok(())
    });
}

fn recv(peer: &harness::peer::UdpPeer) -> Result<(Vec<u8>, std::net::SocketAddr)> {
    match peer.recv(WAIT)? {
        Some(datagram) => Ok(datagram),
        None => bail!("{} got nothing within {:?}", peer.who(), WAIT),
    }
}

fn expect_containing(peer: &harness::peer::UdpPeer, text: &str) -> Result<()> {
    let (bytes, _) = recv(peer)?;
    let got = String::from_utf8_lossy(&bytes);
    ensure!(got.contains(text), "{} expected a datagram containing {text:?}, got {got:?}", peer.who());
    Ok(())
}
