//! Framing: how a receiver finds the messages in a TCP byte stream.
//!
//! TCP delivers bytes, in order, and nothing else. Two `send` calls of 5 bytes may reach the
//! other side as one `recv` of 10 bytes, or as 3 + 7, or as ten `recv`s of 1 byte: the
//! boundaries between the sender's writes are not on the wire (writes merged in one read
//! are 粘包, "sticky packets"; one write split over reads is 拆包, leaving a 半包, "half
//! packet"). A program that needs messages must put the boundaries into the bytes
//! itself, and the receiver must cope with a read that holds one and a half messages.
//!
//! This module is the receiving half and the sending half of three framings:
//!
//! - [`Framing::Raw`]: no framing at all. It believes each read is one message. That is the
//!   bug the sticky lab shows; it is here so that you can diff it against the fixes.
//! - [`Framing::Line`]: every message ends with `\n` (a message may not contain one).
//! - [`Framing::Length`]: every message is preceded by its length, 4 bytes, big-endian.
//!
//! The decoder works the way tokio's mini-redis reads frames: bytes are appended to a buffer
//! as they arrive, [`Decoder::next_message`] first *checks* whether a whole message is there, and only
//! then *takes* it out. "Not yet" is a normal answer (`Ok(None)`): read more and ask again.
//! What does not fit a message is kept for the next read.

use std::fmt;

/// The longest line or frame a decoder accepts unless told otherwise: 1 MiB.
pub const DEFAULT_MAX: usize = 1024 * 1024;

/// How the messages are marked in the byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// None: each read is taken to be one message (wrong, and the lesson of the sticky lab).
    Raw,
    /// A `\n` ends each message; a message holds at most `max` bytes before its `\n`.
    Line { max: usize },
    /// A 4-byte big-endian length comes before each message; at most `max` bytes each.
    Length { max: usize },
}

/// Why a message could not be sent or received.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// A line with no `\n` in its first `max` bytes; the decoder stops here rather than
    /// buffer without end.
    LineTooLong { max: usize },
    /// A length header announced more than `max` bytes. Refused before anything is allocated.
    FrameTooLarge { announced: usize, max: usize },
    /// The sender was asked to send a line that contains `\n`: it would arrive as two lines.
    /// Line framing refuses such a message rather than escape it; use length framing for
    /// arbitrary bytes.
    NewlineInLine,
    /// The stream ended in the middle of a message: `got` bytes of it arrived, of `want` (when
    /// the header said how many; a line does not say).
    Truncated { got: usize, want: Option<usize> },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::LineTooLong { max } => {
                write!(f, "line too long: no newline in the first {max} bytes")
            }
            FrameError::FrameTooLarge { announced, max } => {
                write!(f, "frame too large: the length header says {announced} bytes, the limit is {max}")
            }
            FrameError::NewlineInLine => write!(f, "a line-framed message cannot contain a newline"),
            FrameError::Truncated { got, want: Some(want) } => {
                write!(f, "truncated: got {got} of {want} bytes")
            }
            FrameError::Truncated { got, want: None } => {
                write!(f, "truncated: got {got} bytes and the stream ended before their newline")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// The bytes to send for one message: the message itself plus its boundary.
pub fn encode(framing: Framing, message: &[u8]) -> Result<Vec<u8>, FrameError> {
    match framing {
        Framing::Raw => Ok(message.to_vec()),
        Framing::Line { max } => {
            if message.contains(&b'\n') {
                return Err(FrameError::NewlineInLine);
            }
            if message.len() > max {
                return Err(FrameError::LineTooLong { max });
            }
            Ok([message, b"\n"].concat())
        }
        Framing::Length { max } => {
            if message.len() > max {
                return Err(FrameError::FrameTooLarge { announced: message.len(), max });
            }
            // A message over 4 GiB cannot be announced in 4 bytes; `max` keeps us far below.
            let header = u32::try_from(message.len()).expect("max is below 4 GiB").to_be_bytes();
            Ok([&header[..], message].concat())
        }
    }
}

/// Where the next complete message sits in the buffer: its bytes, and how many bytes to
/// remove from the front of the buffer once it is taken (the message plus its boundary).
struct Found {
    body: std::ops::Range<usize>,
    used: usize,
}

/// Collects the bytes of one connection and hands out whole messages.
#[derive(Debug)]
pub struct Decoder {
    framing: Framing,
    buffer: Vec<u8>,
    /// How much of the buffer is known to hold no newline, so that a long line arriving a
    /// byte at a time is searched once, not once per byte.
    searched: usize,
}

impl Decoder {
    pub fn new(framing: Framing) -> Decoder {
        Decoder { framing, buffer: Vec::new(), searched: 0 }
    }

    /// Append what one read returned. Call [`Decoder::next_message`] until it says `None` after each.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole message, or `Ok(None)` when the buffer holds none yet ("incomplete":
    /// read more, then ask again). An error means the stream cannot be framed any further.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let Some(found) = self.check()? else {
            // Nothing here ends a message yet: the next search starts where this one stopped.
            self.searched = self.buffer.len();
            return Ok(None);
        };
        let message = self.buffer[found.body].to_vec();
        self.buffer.drain(..found.used);
        self.searched = 0;
        Ok(Some(message))
    }

    /// Every whole message in the buffer, in order.
    pub fn drain(&mut self) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut messages = Vec::new();
        while let Some(message) = self.next_message()? {
            messages.push(message);
        }
        Ok(messages)
    }

    /// The stream has ended (the peer closed). Fine if nothing was left half-received;
    /// otherwise the half message is reported, never silently dropped.
    pub fn finish(&self) -> Result<(), FrameError> {
        let got = self.buffer.len();
        match self.framing {
            _ if got == 0 => Ok(()),
            Framing::Raw => Ok(()),
            Framing::Line { .. } => Err(FrameError::Truncated { got, want: None }),
            Framing::Length { .. } if got < 4 => Err(FrameError::Truncated { got, want: Some(4) }),
            Framing::Length { .. } => {
                Err(FrameError::Truncated { got: got - 4, want: Some(announced(&self.buffer)) })
            }
        }
    }

    /// How many bytes are waiting for the rest of their message.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Is there a whole message at the front of the buffer? This is the one place where the
    /// framings differ: how the receiver knows where a message ends.
    fn check(&self) -> Result<Option<Found>, FrameError> {
        let buffer = &self.buffer;
        match self.framing {
            // The bug: whatever one read returned is taken as one message. Two messages that
            // arrived together come out as one; one that arrived in two reads comes out as two.
            Framing::Raw if buffer.is_empty() => Ok(None),
            Framing::Raw => Ok(Some(Found { body: 0..buffer.len(), used: buffer.len() })),

            // A message ends at the first newline. Without one, wait for more bytes, but only
            // up to the limit: a peer that never sends `\n` must not fill our memory.
            Framing::Line { max } => match newline_from(buffer, self.searched) {
                Some(end) if end > max => Err(FrameError::LineTooLong { max }),
                Some(end) => Ok(Some(Found { body: 0..end, used: end + 1 })),
                None if buffer.len() > max => Err(FrameError::LineTooLong { max }),
                None => Ok(None),
            },

            // The header says how long the message is. Check the announced length against the
            // limit before waiting for (or allocating) that many bytes.
            Framing::Length { .. } if buffer.len() < 4 => Ok(None),
            Framing::Length { max } => {
                let len = announced(buffer);
                if len > max {
                    return Err(FrameError::FrameTooLarge { announced: len, max });
                }
                if buffer.len() < 4 + len {
                    return Ok(None);
                }
                Ok(Some(Found { body: 4..4 + len, used: 4 + len }))
            }
        }
    }
}

/// Where the first newline in `buffer` is, searching from `from` (the bytes before it are
/// known to hold none).
fn newline_from(buffer: &[u8], from: usize) -> Option<usize> {
    buffer[from..].iter().position(|&byte| byte == b'\n').map(|at| from + at)
}

/// The length in a 4-byte big-endian header at the front of `buffer`.
fn announced(buffer: &[u8]) -> usize {
    let header: [u8; 4] = buffer[..4].try_into().expect("the caller checked there are 4 bytes");
    u32::from_be_bytes(header) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: Framing = Framing::Line { max: 8 };
    const LENGTH: Framing = Framing::Length { max: 8 };

    #[test]
    fn raw_takes_each_read_as_one_message() {
        let mut decoder = Decoder::new(Framing::Raw);
        decoder.push(b"helloworld");
        assert_eq!(decoder.drain().unwrap(), vec![b"helloworld".to_vec()]);
    }

    #[test]
    fn line_keeps_a_half_line_for_the_next_read() {
        let mut decoder = Decoder::new(LINE);
        decoder.push(b"one\ntw");
        assert_eq!(decoder.drain().unwrap(), vec![b"one".to_vec()]);
        assert_eq!(decoder.buffered(), 2);
        decoder.push(b"o\n");
        assert_eq!(decoder.drain().unwrap(), vec![b"two".to_vec()]);
        assert_eq!(decoder.finish(), Ok(()));
    }

    #[test]
    fn a_line_without_newline_past_the_limit_is_refused() {
        let mut decoder = Decoder::new(LINE);
        decoder.push(b"123456789");
        assert_eq!(decoder.next_message(), Err(FrameError::LineTooLong { max: 8 }));
        let mut decoder = Decoder::new(LINE);
        decoder.push(b"12345678\n");
        assert_eq!(decoder.next_message(), Ok(Some(b"12345678".to_vec())));
    }

    #[test]
    fn an_oversized_length_is_refused_from_the_header_alone() {
        let mut decoder = Decoder::new(LENGTH);
        decoder.push(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(decoder.next_message(), Err(FrameError::FrameTooLarge { announced: 0xffff_ffff, max: 8 }));
    }

    #[test]
    fn a_stream_that_ends_mid_frame_is_reported_as_truncated() {
        let mut decoder = Decoder::new(LENGTH);
        decoder.push(&[0, 0, 0, 5, b'a', b'b']);
        assert_eq!(decoder.next_message(), Ok(None));
        assert_eq!(decoder.finish(), Err(FrameError::Truncated { got: 2, want: Some(5) }));
        assert_eq!(decoder.finish().unwrap_err().to_string(), "truncated: got 2 of 5 bytes");
        let mut decoder = Decoder::new(LINE);
        decoder.push(b"half");
        assert_eq!(decoder.finish(), Err(FrameError::Truncated { got: 4, want: None }));
    }

    #[test]
    fn the_sender_refuses_what_the_receiver_would_refuse() {
        assert_eq!(encode(LINE, b"a\nb"), Err(FrameError::NewlineInLine));
        assert_eq!(encode(LINE, b"123456789"), Err(FrameError::LineTooLong { max: 8 }));
        assert_eq!(encode(LENGTH, b"123456789"), Err(FrameError::FrameTooLarge { announced: 9, max: 8 }));
        assert_eq!(encode(LENGTH, b"hi").unwrap(), vec![0, 0, 0, 2, b'h', b'i']);
        assert_eq!(encode(LINE, "张三".as_bytes()).unwrap(), "张三\n".as_bytes());
    }
}
