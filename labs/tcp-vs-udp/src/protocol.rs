//! The lab's messages and the sink's tally, in one place. Over UDP a message is one datagram;
//! over TCP it is one line, ending in `\n`. Three kinds:
//!
//! - `data SEQ [t=MICROS] [padding]`: one record of a blast, numbered from 0. Never answered:
//!   the sink only counts it. `t=` is the sender's clock when it sent the record, for jitter.
//! - `report [SEQ]`: "what have you got?", answered `received R gaps G drops D jitter J ms`. With
//!   a SEQ, the report is itself the record numbered SEQ (so that a lost report is a gap too).
//! - `work MS TAG`: a request that takes the server MS milliseconds (a stand-in for a slow
//!   computation), answered `done TAG`. `work 0 TAG` is a quick one.
//!
//! Anything else is answered `error: ...`, and so is a number out of its bound: a SEQ above
//! [`MAX_SEQ`], a `t=` later than [`MAX_MICROS`]. The bounds keep every sum and difference the
//! tally makes of them far from overflowing, so that no datagram can stop the server or make it
//! report a wrong figure.

use std::io::{BufRead, Read};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest a `work` request may ask for: a peer may make the server slow, not stop it.
pub const MAX_WORK: Duration = Duration::from_secs(10);

/// The highest record number taken: a million records a second would need nine years to get
/// there, and `highest + 1` or a count of records can never overflow.
pub const MAX_SEQ: u64 = 1 << 48;

/// The latest sending time taken, in microseconds since 1970 (about the year 6500): a clock
/// difference between two of them always fits in an `i64`.
pub const MAX_MICROS: u64 = 1 << 57;

/// How much of a TCP line the server reads as the message: a `data` line's padding after it
/// is skipped without being kept, so a line of any length costs no memory.
pub const HEAD: usize = 256;

/// One message, parsed.
#[derive(Debug, PartialEq, Eq)]
pub enum Message<'a> {
    Data { seq: u64, sent_at: Option<u64> },
    Report { seq: Option<u64> },
    Work { time: Duration, tag: &'a str },
}

/// Parse one message (a datagram, or a line without its `\n`). The error is the answer.
pub fn parse(bytes: &[u8]) -> Result<Message<'_>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "error: not UTF-8 text".to_string())?;
    let text = text.trim_end_matches(['\n', '\r']);
    let mut words = text.splitn(3, ' ');
    let number = |word: Option<&str>, what: &str, most: u64| -> Result<u64, String> {
        match word.and_then(|w| w.parse::<u64>().ok()) {
            Some(n) if n <= most => Ok(n),
            Some(_) => Err(format!("error: {what} must be at most {most}")),
            None => Err(format!("error: {what} must be a whole number")),
        }
    };
    match words.next() {
        Some("data") => {
            let seq = number(words.next(), "data's SEQ", MAX_SEQ)?;
            // The rest is `t=MICROS` and padding, or padding alone.
            let sent_at = match words.next().and_then(|rest| rest.strip_prefix("t=")) {
                Some(time) => Some(number(time.split(' ').next(), "data's t=", MAX_MICROS)?),
                None => None,
            };
            Ok(Message::Data { seq, sent_at })
        }
        Some("report") => match words.next() {
            None => Ok(Message::Report { seq: None }),
            seq => Ok(Message::Report { seq: Some(number(seq, "report's SEQ", MAX_SEQ)?) }),
        },
        Some("work") => {
            let millis = number(words.next(), "work's MS", u64::MAX)?;
            let time = Duration::from_millis(millis);
            if time > MAX_WORK {
                return Err(format!("error: work takes at most {} ms", MAX_WORK.as_millis()));
            }
            Ok(Message::Work { time, tag: words.next().unwrap_or("") })
        }
        _ => Err("error: expected data SEQ, report [SEQ] or work MS TAG".to_string()),
    }
}

/// What a sink has counted since the record numbered 0.
#[derive(Debug, Default)]
pub struct Tally {
    received: u64,
    highest: Option<u64>,
    /// The kernel's drop count (SO_RXQ_OVFL) when record 0 arrived, and on the latest record.
    drops_at_start: u32,
    drops_now: u32,
    /// RFC 3550's interarrival jitter, as iperf3 computes it: a running average of how much
    /// each record's transit time differs from the one before.
    jitter_micros: f64,
    last_transit: Option<i64>,
}

impl Tally {
    /// Count the record numbered `seq`. `drops` is the kernel's count of datagrams dropped on
    /// the socket so far (0 over TCP, which drops nothing the sink could see).
    pub fn record(&mut self, seq: u64, sent_at: Option<u64>, drops: u32) {
        if seq == 0 {
            // Record 0 starts a new blast: what came before was another one's.
            *self = Tally { drops_at_start: drops, ..Tally::default() };
        }
        self.received = self.received.saturating_add(1);
        self.highest = self.highest.max(Some(seq));
        self.drops_now = drops;
        // parse() bounds both clocks by MAX_MICROS, so neither difference can overflow; checked
        // all the same, since a Tally may be fed by other code.
        let transit = sent_at
            .and_then(|sent_at| i64::try_from(now_micros()).ok()?.checked_sub(i64::try_from(sent_at).ok()?));
        if let Some(transit) = transit {
            if let Some(change) = self.last_transit.and_then(|last| transit.checked_sub(last)) {
                let change = change.unsigned_abs() as f64;
                self.jitter_micros += (change - self.jitter_micros) / 16.0;
            }
            self.last_transit = Some(transit);
        }
    }

    /// Records missing among those numbered up to the highest seen: sent, never received.
    pub fn gaps(&self) -> u64 {
        self.highest.map_or(0, |highest| highest.saturating_add(1).saturating_sub(self.received))
    }

    /// The answer to `report`: `received R gaps G drops D jitter J ms`.
    pub fn report(&self) -> String {
        format!(
            "received {} gaps {} drops {} jitter {:.3} ms",
            self.received,
            self.gaps(),
            self.drops_now.saturating_sub(self.drops_at_start),
            self.jitter_micros / 1000.0
        )
    }
}

/// A report, read back: the numbers a sender compares with what it sent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Report {
    pub received: u64,
    pub gaps: u64,
    pub drops: u64,
    pub jitter_ms: Option<f64>,
}

/// Parse `received R gaps G drops D [jitter J ms]`.
pub fn parse_report(text: &str) -> Option<Report> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let after = |name: &str| words.iter().position(|w| *w == name).and_then(|at| words.get(at + 1));
    Some(Report {
        received: after("received")?.parse().ok()?,
        gaps: after("gaps")?.parse().ok()?,
        drops: after("drops")?.parse().ok()?,
        jitter_ms: after("jitter").and_then(|j| j.parse().ok()),
    })
}

/// The longest answer a client reads: a report is about 60 bytes. A server that sends more
/// without a newline is answering something else, and must not fill the client's memory.
pub const MAX_ANSWER: usize = 512;

/// Read one answer line over TCP, without its line ending: `None` when the server closed the
/// connection first; an error when it sent [`MAX_ANSWER`] bytes without a newline or text
/// that is not UTF-8.
pub fn read_answer(reader: &mut impl BufRead) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    // `take` stops at the bound; read_until stops at the newline, whichever comes first.
    let read = Read::take(&mut *reader, MAX_ANSWER as u64).read_until(b'\n', &mut line)?;
    if read == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') && read == MAX_ANSWER {
        let error = format!("the answer ran past {MAX_ANSWER} bytes without a newline");
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, error));
    }
    let text = String::from_utf8(line)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "the answer is not UTF-8 text"))?;
    Ok(Some(text.trim_end_matches(['\n', '\r']).to_string()))
}

/// Microseconds since 1970 by this machine's clock: sender and sink share it on loopback.
pub fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// A `data` record of `size` bytes (at least its words), ending in `\n` when `newline`.
pub fn data_record(seq: u64, size: usize, newline: bool) -> Vec<u8> {
    let mut record = format!("data {seq} t={} ", now_micros()).into_bytes();
    let end = if newline { 1 } else { 0 };
    record.resize(size.max(record.len() + end) - end, b'.');
    if newline {
        record.push(b'\n');
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_message() {
        assert_eq!(parse(b"data 7 t=123 ....").unwrap(), Message::Data { seq: 7, sent_at: Some(123) });
        assert_eq!(parse(b"data 7\n").unwrap(), Message::Data { seq: 7, sent_at: None });
        assert_eq!(parse(b"report").unwrap(), Message::Report { seq: None });
        assert_eq!(parse(b"report 300\n").unwrap(), Message::Report { seq: Some(300) });
        assert_eq!(
            parse(b"work 250 alice").unwrap(),
            Message::Work { time: Duration::from_millis(250), tag: "alice" }
        );
        assert!(parse(b"work 99999999 x").unwrap_err().contains("at most"));
        assert!(parse(b"data x").is_err());
        assert!(parse(b"\xff\xfe").is_err());
        assert!(parse(b"hello").is_err());
    }

    /// Numbers past their bounds are refused with an answer that names the bound, and the
    /// largest ones a tally can be given leave it sound.
    #[test]
    fn numbers_past_their_bounds_are_refused() {
        assert!(parse(b"report 18446744073709551615").unwrap_err().contains("at most 281474976710656"));
        assert!(parse(b"data 18446744073709551615").unwrap_err().contains("SEQ must be at most"));
        assert!(parse(b"data 0 t=9223372036854775808").unwrap_err().contains("t= must be at most"));
        assert!(parse(b"data 0 t=x").unwrap_err().contains("t= must be a whole number"));
        assert_eq!(parse(b"data 0 .....").unwrap(), Message::Data { seq: 0, sent_at: None });
        let mut tally = Tally::default();
        tally.record(0, Some(MAX_MICROS), 0);
        tally.record(MAX_SEQ, Some(0), 0);
        tally.record(1, Some(MAX_MICROS), 0);
        assert_eq!(tally.gaps(), MAX_SEQ + 1 - 3);
        assert!(tally.report().starts_with("received 3 gaps"), "{}", tally.report());
    }

    #[test]
    fn gaps_are_the_records_missing_below_the_highest() {
        let mut tally = Tally::default();
        for seq in [0, 1, 2, 5, 6, 9] {
            tally.record(seq, None, 0);
        }
        assert_eq!(tally.gaps(), 4);
        let report = parse_report(&tally.report()).unwrap();
        assert_eq!((report.received, report.gaps, report.drops), (6, 4, 0));
    }

    #[test]
    fn record_zero_starts_a_new_count_and_drops_count_from_it() {
        let mut tally = Tally::default();
        tally.record(0, None, 5);
        tally.record(3, None, 7);
        assert_eq!(parse_report(&tally.report()).unwrap().drops, 2);
        tally.record(0, None, 7);
        assert_eq!(tally.gaps(), 0);
        assert_eq!(parse_report(&tally.report()).unwrap().drops, 0);
    }

    /// An answer is read up to its newline; an endless one stops at the bound.
    #[test]
    fn an_answer_is_read_with_a_bound() {
        let mut reader = &b"done 1\r\ndone 2"[..];
        assert_eq!(read_answer(&mut reader).unwrap().as_deref(), Some("done 1"));
        assert_eq!(read_answer(&mut reader).unwrap().as_deref(), Some("done 2"));
        assert_eq!(read_answer(&mut reader).unwrap(), None);
        let mut endless = std::io::repeat(b'x');
        let mut endless = std::io::BufReader::new(&mut endless);
        let error = read_answer(&mut endless).unwrap_err();
        assert!(error.to_string().contains("past 512 bytes"), "{error}");
    }

    #[test]
    fn a_data_record_has_the_size_asked_for() {
        assert_eq!(data_record(3, 100, true).len(), 100);
        assert_eq!(data_record(3, 1400, false).len(), 1400);
        assert!(data_record(3, 4, false).starts_with(b"data 3 t="));
    }
}
