//! The wire format: one datagram per line sent, one per acknowledgement, each readable as
//! text in a transcript.
//!
//! ```text
//! 5509 DATA 0 hello          a line: its sequence number, then the line itself
//! 429c ACK 1                 "every line before 1 has arrived; 1 is the next I expect"
//! ```
//!
//! The first four characters are a checksum, in hex, of every byte after the space that
//! follows them: the Internet checksum (RFC 1071) that UDP and TCP put in their own headers.
//! A datagram whose checksum does not add up was damaged on the way and is discarded without
//! an answer, as the kernel discards a UDP datagram whose checksum fails. An ACK numbers the
//! next line expected, as TCP's acknowledgement number does: one ACK acknowledges every line
//! before it (a cumulative acknowledgement).

use std::fmt;

/// One datagram of the protocol, checked and parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    Data { seq: u64, line: Vec<u8> },
    Ack { next: u64 },
}

/// Why a datagram is not a packet of ours: it is discarded, and this says why.
#[derive(Debug, PartialEq, Eq)]
pub enum Damage {
    /// Shorter than a checksum and a kind, or without the space after the checksum.
    TooShort,
    /// The checksum field is not four lowercase hex digits.
    NoChecksum,
    /// The checksum does not add up: bits changed on the way.
    Checksum { said: u16, computed: u16 },
    /// It adds up, but is neither `DATA SEQ LINE` nor `ACK NEXT`.
    Unknown,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::TooShort => f.write_str("too short to carry a checksum"),
            Damage::NoChecksum => f.write_str("no checksum (4 lowercase hex digits and a space) in front"),
            Damage::Checksum { said, computed } => {
                write!(
                    f,
                    "its checksum says {said:04x}, its bytes add up to {computed:04x}: damaged on the way"
                )
            }
            Damage::Unknown => f.write_str("neither DATA SEQ LINE nor ACK NEXT"),
        }
    }
}

impl Packet {
    /// The datagram that carries this packet: the checksum, a space, then the body.
    pub fn encode(&self) -> Vec<u8> {
        let body = match self {
            Packet::Data { seq, line } => [format!("DATA {seq} ").as_bytes(), line].concat(),
            Packet::Ack { next } => format!("ACK {next}").into_bytes(),
        };
        let mut datagram = format!("{:04x} ", checksum(&body)).into_bytes();
        datagram.extend_from_slice(&body);
        datagram
    }

    /// Check the checksum first, then read the body. Nothing in a damaged datagram is
    /// trusted, not even its sequence number.
    pub fn parse(datagram: &[u8]) -> Result<Packet, Damage> {
        if datagram.len() < 6 {
            return Err(Damage::TooShort);
        }
        let (sum, body) = datagram.split_at(5);
        let said = std::str::from_utf8(&sum[..4])
            .ok()
            // Lowercase only: the checksum does not cover its own digits, and `A` is `a` with
            // one bit flipped.
            .filter(|hex| hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .and_then(|hex| u16::from_str_radix(hex, 16).ok())
            .filter(|_| sum[4] == b' ')
            .ok_or(Damage::NoChecksum)?;
        let computed = checksum(body);
        if said != computed {
            return Err(Damage::Checksum { said, computed });
        }
        if let Some(rest) = body.strip_prefix(b"DATA ") {
            let space = rest.iter().position(|&b| b == b' ').ok_or(Damage::Unknown)?;
            let seq = number(&rest[..space]).ok_or(Damage::Unknown)?;
            return Ok(Packet::Data { seq, line: rest[space + 1..].to_vec() });
        }
        if let Some(rest) = body.strip_prefix(b"ACK ") {
            return number(rest).map(|next| Packet::Ack { next }).ok_or(Damage::Unknown);
        }
        Err(Damage::Unknown)
    }
}

/// A decimal number, digits only.
fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The Internet checksum (RFC 1071): the bytes as 16-bit big-endian words (an odd last byte
/// padded with a zero), added with every carry folded back in, then inverted. Any one flipped
/// bit changes it.
pub fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in bytes.chunks(2) {
        let word = u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]);
        sum += u32::from(word);
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_read_back_as_written() {
        let data = Packet::Data { seq: 7, line: "hello, 张三".as_bytes().to_vec() };
        assert_eq!(Packet::parse(&data.encode()), Ok(data));
        let ack = Packet::Ack { next: 12 };
        assert_eq!(Packet::parse(&ack.encode()), Ok(ack));
        let empty = Packet::Data { seq: 0, line: Vec::new() };
        assert_eq!(Packet::parse(&empty.encode()), Ok(empty));
    }

    /// The example in the chapter and in the Python fixture: the same bytes.
    #[test]
    fn the_documented_examples_hold() {
        assert_eq!(Packet::Data { seq: 0, line: b"hello".to_vec() }.encode(), b"5509 DATA 0 hello");
        assert_eq!(Packet::Ack { next: 1 }.encode(), b"429c ACK 1");
    }

    /// Every single flipped bit, anywhere in the datagram, is caught.
    #[test]
    fn any_one_flipped_bit_is_caught() {
        let datagram = Packet::Data { seq: 41, line: b"line 41 of the file".to_vec() }.encode();
        for at in 0..datagram.len() {
            for bit in 0..8 {
                let mut damaged = datagram.clone();
                damaged[at] ^= 1 << bit;
                assert!(Packet::parse(&damaged).is_err(), "byte {at} bit {bit}");
            }
        }
    }

    #[test]
    fn what_is_not_ours_is_refused() {
        assert_eq!(Packet::parse(b"hello"), Err(Damage::TooShort));
        assert_eq!(Packet::parse(b"ping 1"), Err(Damage::NoChecksum));
        let body = b"NOPE 3";
        let datagram = [format!("{:04x} ", checksum(body)).as_bytes(), body].concat();
        assert_eq!(Packet::parse(&datagram), Err(Damage::Unknown));
    }
}
