//! The ready line: a listening role's first line on stdout, `listening on udp://127.0.0.1:8888`.

use std::net::SocketAddr;

use crate::transcript::Proto;

/// Where a listening role is ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ready {
    pub proto: Proto,
    pub addr: SocketAddr,
}

impl Ready {
    pub fn proto_name(&self) -> &'static str {
        match self.proto {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        }
    }
}

/// A server that listens on another port than the one it was given (a port fixed in its
/// code): every scenario would fail the same way, so the checker says it once.
#[derive(Debug)]
pub struct WrongPort {
    /// How the server told us: "its ready line says", "it".
    pub said: &'static str,
    pub listens_on: Vec<u16>,
    pub given: u16,
}

impl std::fmt::Display for WrongPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ports: Vec<String> = self.listens_on.iter().map(u16::to_string).collect();
        write!(
            f,
            "the server listens on port {} ({}), but it was given port {}: use the port from the command \
             line ({{port}} or {{addr}} in your --server command) instead of a fixed one",
            ports.join(" and "),
            self.said,
            self.given
        )
    }
}

impl std::error::Error for WrongPort {}

/// Parse a ready line: `listening on tcp://127.0.0.1:43117` or `listening on udp://[::1]:8888`.
pub fn parse(line: &str) -> Option<Ready> {
    let rest = line.trim().strip_prefix("listening on ")?;
    let (proto, addr) = rest.split_once("://")?;
    let proto = match proto {
        "udp" => Proto::Udp,
        "tcp" => Proto::Tcp,
        _ => return None,
    };
    Some(Ready { proto, addr: addr.parse().ok()? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ready_lines_for_both_protocols_and_families() {
        assert_eq!(
            parse("listening on udp://127.0.0.1:8888"),
            Some(Ready { proto: Proto::Udp, addr: "127.0.0.1:8888".parse().unwrap() })
        );
        assert_eq!(parse("listening on tcp://[::1]:9").map(|r| r.addr.port()), Some(9));
        assert_eq!(parse("listening on sctp://127.0.0.1:1"), None);
        assert_eq!(parse("hello"), None);
        assert_eq!(parse("listening on udp://localhost:80"), None);
    }
}
