//! What tcp-chat and udp-chat share on the wire: duplex, where either side types at any time.

use anyhow::Result;

use crate::WAIT;
use crate::session::Session;

/// Duplex: once the lab's client has said hello (over UDP, the server learns its address from
/// it), the server's operator types two lines, and the client shows both without typing
/// anything; then the client types two in a row, and the server shows both.
pub fn in_duplex_either_side_types_at_any_time(s: &mut Session) -> Result<()> {
    let mut server = s.server(&["--mode", "duplex"])?;
    // Through a tap, so that a failure shows what reached the client, not only what it printed.
    let tap = s.tap(&server, "client")?;
    let address = tap.addr().to_string();
    let mut client = s.role("client", "client", &["--server", &address, "--mode", "duplex"])?;
    s.say("The client says hello first; the server shows it, and now has someone to talk to.");
    client.send_line("hello from the client")?;
    server.expect_line_containing("hello from the client")?;
    s.say("The server's operator types two lines; the client shows both without typing anything.");
    server.send_line("first, from the server")?;
    server.send_line("second, from the server")?;
    client.expect_line("the server's first line", WAIT, |line| line.contains("first, from the server"))?;
    client.expect_line("the server's second line", WAIT, |line| line.contains("second, from the server"))?;
    s.say("The client types two lines in a row, with no reply between them; the server shows both.");
    client.send_line("one from the client")?;
    client.send_line("two from the client")?;
    server.expect_line_containing("one from the client")?;
    server.expect_line_containing("two from the client")?;
    Ok(())
}
