//! `--upper`: the original lesson's server replies in capitals. Upper case can be longer than
//! the text, and a UDP reply must still fit in one datagram: this module keeps it there.

use std::net::SocketAddr;

/// Upper-case text, as much of it as one datagram to `to` carries; bytes that are not UTF-8
/// get only their ASCII letters raised.
///
/// An echo is never longer than the datagram it answers, but its upper case can be: `ß`
/// becomes `SS`, and `ΐ`, 2 bytes in UTF-8, becomes `Ϊ́`, three characters and 6 bytes. So a
/// datagram that fits can have a reply that does not, and the kernel refuses to send that
/// ("Message too long"): the client would get silence. A second datagram with the rest is no
/// way out either: UDP keeps no order between datagrams and does not join them, so the client
/// would get two messages, or only one of them. So the reply carries the upper case of as many
/// whole characters as fit (never half of one: `Ϊ` without its accent is another letter), and
/// the server says on stderr what it left out. A protocol whose messages can outgrow one
/// datagram needs its own way to split a message and put it back together.
pub fn to_upper_in_one_datagram(bytes: &[u8], to: SocketAddr) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        // Raising ASCII letters changes no byte count: this reply is as long as the datagram.
        return bytes.to_ascii_uppercase();
    };
    let whole = text.to_uppercase();
    let room = most_one_datagram_carries(to);
    if whole.len() <= room {
        return whole.into_bytes();
    }
    let mut reply = String::new();
    let mut kept = 0;
    for c in text.chars() {
        let upper: String = c.to_uppercase().collect();
        if reply.len() + upper.len() > room {
            break;
        }
        reply.push_str(&upper);
        kept += 1;
    }
    eprintln!(
        "reply to {to}: upper-casing made it {} bytes, more than one datagram carries ({room}); sent the \
         upper case of the first {kept} of {} characters ({} bytes), and the rest is not sent",
        whole.len(),
        text.chars().count(),
        reply.len()
    );
    reply.into_bytes()
}

/// The most one UDP datagram to `to` carries: the IP packet's 16-bit length, 65,535, less the
/// headers. IPv4 counts its own 20-byte header in that length, and UDP's 8: 65,507. IPv6
/// counts only what follows its header: 65,527. (A v4-mapped address, `::ffff:1.2.3.4`, is an
/// IPv4 peer of an IPv6 socket: its datagrams travel as IPv4.)
fn most_one_datagram_carries(to: SocketAddr) -> usize {
    match to {
        SocketAddr::V6(v6) if v6.ip().to_ipv4_mapped().is_none() => 65_527,
        _ => 65_507,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The capitals of whole characters only, as many as one datagram carries: fewer bytes
    /// over IPv4 than over IPv6, and a v4-mapped peer counts as IPv4.
    #[test]
    fn an_upper_case_reply_keeps_whole_characters_that_fit() {
        let text = "ΐ".repeat(32_753);
        let capital = "\u{399}\u{308}\u{301}";
        let v4: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let v6: SocketAddr = "[::1]:9".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:9".parse().unwrap();
        assert_eq!(to_upper_in_one_datagram(text.as_bytes(), v4), capital.repeat(10_917).into_bytes());
        assert_eq!(to_upper_in_one_datagram(text.as_bytes(), v6), capital.repeat(10_921).into_bytes());
        assert_eq!(to_upper_in_one_datagram(text.as_bytes(), mapped).len(), 65_502);
        assert_eq!(to_upper_in_one_datagram("straße".as_bytes(), v4), b"STRASSE");
        assert_eq!(to_upper_in_one_datagram(b"abc\xff", v4), b"ABC\xff");
    }
}
