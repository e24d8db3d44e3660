//! What every lab binary does the same way, so each lab's `main.rs` can stay the lesson:
//! the ready line, a fatal error as one line plus a hint, and bytes shown as text; and, in
//! their own modules, message framing, the chats' keyboard, a datagram's real size, a lossy
//! link, a server's accept loop that neither spins nor dies at the machine's limits, the
//! kernel's tables of sockets, and what TCP_INFO says of a connection.

pub mod framing;
pub mod keyboard;
pub mod link;
pub mod server;
pub mod socket_table;
pub mod tcp;
pub mod tcp_info;
pub mod udp;

use std::fmt::Write as _;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;

/// An address from the command line (`--bind`, `--server`): `127.0.0.1:9000` or `[::1]:9000`;
/// for convenience `localhost:9000` and a bare port, `9000`, both mean 127.0.0.1. Host names
/// are not looked up: the labs stay on loopback unless you name another address yourself.
pub fn address(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let port = text.strip_prefix("localhost:").unwrap_or(text);
    match port.parse::<u16>() {
        Ok(port) => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
        Err(_) => {
            Err("expected IP:PORT, like 127.0.0.1:9000 or [::1]:9000 (or localhost:PORT, or a port alone)"
                .into())
        }
    }
}

/// Where a listening role listens: `--port N` is `--bind 127.0.0.1:N`, as a student's own
/// server takes it; without it, `--bind` (or its default).
pub fn listen_addr(bind: SocketAddr, port: Option<u16>) -> SocketAddr {
    port.map_or(bind, |port| SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Print the ready line, `listening on udp://127.0.0.1:8888`: the first line on stdout,
/// printed once the socket is bound (and, for TCP, listening), with the real port.
pub fn print_ready(proto: &str, addr: SocketAddr) {
    // Rust's stdout is line-buffered, so the line leaves at once, even into a pipe.
    println!("listening on {proto}://{addr}");
}

/// End the program: 0 on success; on failure one `error: what: why` line on stderr, a hint
/// where one helps, and status 1.
pub fn exit(result: anyhow::Result<()>) -> ExitCode {
    let Err(error) = result else {
        return ExitCode::SUCCESS;
    };
    eprintln!("error: {error:#}");
    if let Some(hint) = hint(&error) {
        eprintln!("hint: {hint}");
    }
    ExitCode::FAILURE
}

fn hint(error: &anyhow::Error) -> Option<&'static str> {
    let io = error.chain().find_map(|cause| cause.downcast_ref::<std::io::Error>())?;
    match io.kind() {
        ErrorKind::AddrInUse => {
            Some("is another lab already on that port? try --bind 127.0.0.1:0 for a free one")
        }
        ErrorKind::ConnectionRefused => Some("nothing is listening there: start the server first"),
        ErrorKind::AddrNotAvailable => Some("that address is not on this machine; the labs use 127.0.0.1"),
        ErrorKind::PermissionDenied => Some("ports below 1024 need root; pick one above 1024, or 0 for any"),
        ErrorKind::ConnectionReset => {
            Some("the other side reset the connection: it stopped, or closed without reading what we sent")
        }
        ErrorKind::BrokenPipe => {
            Some("the connection was already closed: the other side stopped or reset it")
        }
        _ => None,
    }
}

/// The local address a client binds to reach `server`: loopback for a loopback server, so
/// the lab's traffic never leaves the machine; any address of the right family otherwise.
pub fn local_addr_for(server: SocketAddr) -> SocketAddr {
    let ip = match server.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_loopback() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

/// A received line or datagram as a chat prints it: plain UTF-8 text as it is, and anything
/// else (bytes that are not UTF-8, characters a terminal would act on or that disguise text:
/// see [`needs_escape`]) the way [`show`] escapes it.
pub fn as_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.chars().any(needs_escape) => text.to_string(),
        _ => show(bytes),
    }
}

/// A character a peer's bytes must never bring to a terminal raw. Control characters (C0
/// such as ESC and BEL, DEL, C1) make a terminal clear the screen, move the cursor or retitle
/// the window; format characters ([`is_format`]) and the line and paragraph separators are
/// invisible, or reorder or break the text around them, so that it reads as something else.
pub fn needs_escape(c: char) -> bool {
    c.is_control() || is_format(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Unicode's format characters (general category Cf): bidi controls such as U+202E, which
/// shows the text after it right to left, zero-width spaces and joiners, the byte order mark,
/// and their kin. Invisible by design, they can make one name look like another.
pub fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{600}'..='\u{605}'
            | '\u{61c}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{890}'..='\u{891}'
            | '\u{8e2}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{110bd}'
            | '\u{110cd}'
            | '\u{13430}'..='\u{1343f}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0001}'
            | '\u{e0020}'..='\u{e007f}'
    )
}

/// Bytes as a student should see them: UTF-8 as text in quotes, anything else escaped
/// (`\xff`), control and format characters escaped (`\n`, `\u{1b}`, `\u{202e}`), long runs
/// shortened in the middle.
pub fn show(bytes: &[u8]) -> String {
    const HEAD: usize = 72;
    const TAIL: usize = 24;
    if bytes.len() > HEAD + TAIL + 16 {
        let head = escape(&bytes[..HEAD]);
        let tail = escape(&bytes[bytes.len() - TAIL..]);
        let skipped = bytes.len() - HEAD - TAIL;
        return format!("\"{head}\" …{skipped} more bytes… \"{tail}\"");
    }
    format!("\"{}\"", escape(bytes))
}

/// Bytes in a box, `[hel]`, as the sticky lab prints every read and every message so that the
/// boundaries are visible. Text shows as text; `\\`, `\[`, `\]`, `\n`, `\r`, `\t` stand for
/// themselves, and any other character that [`needs_escape`] or byte that is not UTF-8 is
/// `\xNN`. Nothing is shortened: [`unbox`] gives back exactly the bytes.
pub fn boxed(bytes: &[u8]) -> String {
    let mut text = String::from("[");
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => text.push_str("\\\\"),
                '[' => text.push_str("\\["),
                ']' => text.push_str("\\]"),
                '\n' => text.push_str("\\n"),
                '\r' => text.push_str("\\r"),
                '\t' => text.push_str("\\t"),
                c if needs_escape(c) => {
                    for byte in c.to_string().bytes() {
                        let _ = write!(text, "\\x{byte:02x}");
                    }
                }
                c => text.push(c),
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(text, "\\x{byte:02x}");
        }
    }
    text.push(']');
    text
}

/// The bytes in the first box of `text` (`recv 3 bytes [hel]` gives `hel`), or `None` when
/// there is no well-formed box. Accepts every escape [`boxed`] writes.
pub fn unbox(text: &str) -> Option<Vec<u8>> {
    let start = text.find('[')?;
    let mut bytes = Vec::new();
    let mut chars = text[start + 1..].chars();
    while let Some(c) = chars.next() {
        match c {
            ']' => return Some(bytes),
            '\\' => match chars.next()? {
                'n' => bytes.push(b'\n'),
                'r' => bytes.push(b'\r'),
                't' => bytes.push(b'\t'),
                'x' => {
                    let hex: String = chars.by_ref().take(2).collect();
                    bytes.push(u8::from_str_radix(&hex, 16).ok()?);
                }
                other @ ('\\' | '[' | ']') => bytes.push(other as u8),
                _ => return None,
            },
            c => bytes.extend_from_slice(c.to_string().as_bytes()),
        }
    }
    None
}

/// Bytes as text, without the quotes [`show`] adds and without shortening: `"` and `\\`
/// escaped, every character that [`needs_escape`] escaped (`\u{1b}`), and every byte that is
/// not part of a UTF-8 character written `\xNN`.
pub fn escape(bytes: &[u8]) -> String {
    let mut text = String::new();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => text.push_str("\\\""),
                '\\' => text.push_str("\\\\"),
                c if needs_escape(c) => text.extend(c.escape_default()),
                c => text.push(c),
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(text, "\\x{byte:02x}");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--bind` and `--server` take IP:PORT, and for convenience localhost:PORT or a port alone.
    #[test]
    fn addresses_take_ip_and_port_localhost_or_a_port_alone() {
        assert_eq!(address("127.0.0.1:9000"), Ok(SocketAddr::from(([127, 0, 0, 1], 9000))));
        assert_eq!(address("[::1]:9"), Ok("[::1]:9".parse().unwrap()));
        assert_eq!(address("localhost:9000"), Ok(SocketAddr::from(([127, 0, 0, 1], 9000))));
        assert_eq!(address("0"), Ok(SocketAddr::from(([127, 0, 0, 1], 0))));
        assert!(address("example.com:80").unwrap_err().contains("IP:PORT"));
        assert!(address("localhost:99999").is_err());
    }

    /// UTF-8 reads as text, broken bytes and control characters as escapes.
    #[test]
    fn show_escapes_what_is_not_printable_text() {
        assert_eq!(show(b"hi"), r#""hi""#);
        assert_eq!(show("张三 says \"hi\"\n".as_bytes()), r#""张三 says \"hi\"\n""#);
        assert_eq!(show(b"\xff\xfeok\x00"), r#""\xff\xfeok\u{0}""#);
        assert_eq!(show(b""), r#""""#);
    }

    /// What a peer sends to clear the screen, retitle the window, ring the bell or write right
    /// to left reaches the terminal escaped: as text, as a show, in a box.
    #[test]
    fn terminal_controls_and_bidi_overrides_are_escaped() {
        let hostile = "\x1b[2J\x1b]0;owned\x07";
        assert_eq!(as_text(hostile.as_bytes()), r#""\u{1b}[2J\u{1b}]0;owned\u{7}""#);
        assert_eq!(as_text("\u{202e}ecila".as_bytes()), r#""\u{202e}ecila""#);
        assert_eq!(
            as_text("ali\u{200b}ce \u{feff}\u{2066} \u{85}".as_bytes()),
            r#""ali\u{200b}ce \u{feff}\u{2066} \u{85}""#
        );
        assert_eq!(show("\u{202e}".as_bytes()), r#""\u{202e}""#);
        assert_eq!(boxed("\u{202e}\x1b".as_bytes()), r"[\xe2\x80\xae\x1b]");
        for text in ["张三 says hi", "مرحبا", "שלום", "emoji 🎉", "café"] {
            assert_eq!(as_text(text.as_bytes()), text, "plain text in any script stays as it is");
        }
    }

    /// Half a multi-byte character is shown as the bytes it is.
    #[test]
    fn show_cuts_through_a_character_visibly() {
        let half = &"张".as_bytes()[..2];
        assert_eq!(show(half), r#""\xe5\xbc""#);
    }

    /// A 100 KB payload is shown as its head and tail, with the count in between.
    #[test]
    fn show_shortens_long_payloads() {
        let shown = show(&[b'a'; 100_000]);
        assert!(shown.contains("…99904 more bytes…"), "{shown}");
        assert!(shown.len() < 200);
    }

    /// A box shows text as text and escapes the rest; unbox gives back every byte value.
    #[test]
    fn boxes_show_boundaries_and_give_back_the_bytes() {
        assert_eq!(boxed(b"hel"), "[hel]");
        assert_eq!(boxed("张[1]\\\n".as_bytes()), r"[张\[1\]\\\n]");
        assert_eq!(boxed(&"张".as_bytes()[..2]), r"[\xe5\xbc]");
        assert_eq!(boxed(&[0, 0, 0, 5]), r"[\x00\x00\x00\x05]");
        let every: Vec<u8> = (0..=255).collect();
        assert_eq!(unbox(&format!("recv 256 bytes {}", boxed(&every))), Some(every));
        assert_eq!(unbox("message [] and more"), Some(vec![]));
        assert_eq!(unbox("no box"), None);
        assert_eq!(unbox("[unclosed"), None);
    }

    #[test]
    fn a_client_of_a_loopback_server_binds_loopback() {
        let v4: SocketAddr = "127.0.0.1:8888".parse().unwrap();
        assert_eq!(local_addr_for(v4), "127.0.0.1:0".parse().unwrap());
        let v6: SocketAddr = "[::1]:8888".parse().unwrap();
        assert_eq!(local_addr_for(v6), "[::1]:0".parse().unwrap());
    }

    #[test]
    fn hints_name_the_next_step() {
        let refused = anyhow::Error::from(std::io::Error::from(ErrorKind::ConnectionRefused));
        assert!(hint(&refused.context("connecting")).unwrap().contains("start the server"));
        let reset = anyhow::Error::from(std::io::Error::from(ErrorKind::ConnectionReset));
        assert!(hint(&reset.context("receiving from server")).unwrap().contains("reset the connection"));
        assert_eq!(hint(&anyhow::anyhow!("plain")), None);
    }
}
