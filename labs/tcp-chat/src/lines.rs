//! tcp-chat's framing: every message is one line of UTF-8 ending in `\n`, up to a bound (1 MiB
//! unless `--max-line` says otherwise). This module turns the byte stream into lines and lines
//! into bytes; lab-common's `framing` does the checking (is a whole line there yet?) and the
//! taking.

use std::io::Read;
use std::net::TcpStream;

use anyhow::Result;
use lab_common::framing::{self, Decoder, FrameError, Framing};

/// Lines from a TCP stream. TCP delivers bytes, not lines: one read may return half a line,
/// or three lines and a bit. The decoder keeps bytes until their newline arrives, so a 100 KB
/// line comes out whole; the original lessons' `recv(1024)` cut it into a hundred "messages".
pub struct Lines {
    stream: TcpStream,
    decoder: Decoder,
    buf: Vec<u8>,
}

impl Lines {
    pub fn new(stream: TcpStream, framing: Framing) -> Lines {
        Lines { stream, decoder: Decoder::new(framing), buf: vec![0; 64 * 1024] }
    }

    /// The next whole line, without its newline (nor a `\r` before it); `None` once they have
    /// closed the connection. A line longer than the bound is an error: the decoder stops
    /// there instead of buffering without end.
    pub fn next_line(&mut self) -> Result<Option<Vec<u8>>> {
        loop {
            // "Not yet" (`None`) is the usual answer while a line is still arriving: read more.
            if let Some(mut line) = self.decoder.next_message()? {
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(line));
            }
            // A read of 0 bytes is TCP's end of stream: they closed their side. If half a line
            // was left, say so rather than drop it silently.
            let len = self.stream.read(&mut self.buf)?;
            if len == 0 {
                self.decoder.finish()?;
                return Ok(None);
            }
            self.decoder.push(&self.buf[..len]);
        }
    }
}

/// The bytes that carry one typed line: the line and its `\n`. A line longer than the bound
/// is refused, and nothing of it is sent.
pub fn encode(framing: Framing, line: &[u8]) -> Result<Vec<u8>, FrameError> {
    framing::encode(framing, line)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::{Shutdown, TcpListener};

    use super::*;

    /// A connected pair on loopback: what is written to the first is read from the second.
    fn connected(framing: Framing) -> (TcpStream, Lines) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let writer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (reader, _) = listener.accept().unwrap();
        (writer, Lines::new(reader, framing))
    }

    /// Lines arrive whole however the bytes are cut: a line in three writes, two lines in one,
    /// a `\r\n` ending, and the end of the stream after the last whole line.
    #[test]
    fn lines_arrive_whole_however_the_bytes_are_cut() {
        let (mut writer, mut lines) = connected(Framing::Line { max: 64 });
        for piece in [&b"hel"[..], b"lo, ", "张三\nsecond\r\nthi".as_bytes(), b"rd\n"] {
            writer.write_all(piece).unwrap();
        }
        writer.shutdown(Shutdown::Write).unwrap();
        assert_eq!(lines.next_line().unwrap(), Some("hello, 张三".as_bytes().to_vec()));
        assert_eq!(lines.next_line().unwrap(), Some(b"second".to_vec()));
        assert_eq!(lines.next_line().unwrap(), Some(b"third".to_vec()));
        assert_eq!(lines.next_line().unwrap(), None);
    }

    /// A line past the bound, or half a line at the end of the stream, is an error, not a line.
    #[test]
    fn a_line_past_the_bound_or_cut_off_by_the_end_is_an_error() {
        let (mut writer, mut lines) = connected(Framing::Line { max: 8 });
        writer.write_all(b"123456789").unwrap();
        assert!(lines.next_line().unwrap_err().to_string().contains("line too long"));
        let (mut writer, mut lines) = connected(Framing::Line { max: 8 });
        writer.write_all(b"half").unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
        assert!(lines.next_line().unwrap_err().to_string().contains("truncated"));
    }

    /// A typed line goes out with its newline; one over the bound is refused whole.
    #[test]
    fn a_typed_line_is_sent_with_its_newline_up_to_the_bound() {
        let framing = Framing::Line { max: 8 };
        assert_eq!(encode(framing, b"88").unwrap(), b"88\n");
        assert_eq!(encode(framing, b"123456789"), Err(FrameError::LineTooLong { max: 8 }));
    }
}
