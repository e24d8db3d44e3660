//! The framings hold for any messages cut anywhere: whatever way TCP splits or merges the
//! bytes, the receiver gets exactly the messages that were sent, and a stream cut short gives
//! the whole messages so far and "incomplete" for the rest.

use lab_common::framing::{Decoder, Framing, encode};
use lab_common::{boxed, unbox};
use proptest::prelude::*;

const MAX: usize = 300;

/// Messages of any bytes (empty ones included), short enough for MAX.
fn messages(byte: impl Strategy<Value = u8> + Clone) -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(byte, 0..MAX), 0..12)
}

/// Any byte but a newline, which a line may not contain.
fn line_byte() -> impl Strategy<Value = u8> + Clone {
    any::<u8>().prop_filter("a line has no newline", |byte| *byte != b'\n')
}

/// The wire bytes for `messages`, and where each message's last byte ends.
fn wire(framing: Framing, messages: &[Vec<u8>]) -> (Vec<u8>, Vec<usize>) {
    let mut bytes = Vec::new();
    let mut ends = Vec::new();
    for message in messages {
        bytes.extend(encode(framing, message).unwrap());
        ends.push(bytes.len());
    }
    (bytes, ends)
}

/// Feed `bytes` to a decoder in pieces cut at `cuts` (positions, any order), collecting messages.
fn decode_in_pieces(framing: Framing, bytes: &[u8], cuts: &[usize]) -> (Decoder, Vec<Vec<u8>>) {
    let mut points: Vec<usize> = cuts.iter().map(|cut| cut % (bytes.len() + 1)).collect();
    points.extend([0, bytes.len()]);
    points.sort();
    let mut decoder = Decoder::new(framing);
    let mut out = Vec::new();
    for piece in points.windows(2) {
        decoder.push(&bytes[piece[0]..piece[1]]);
        out.extend(decoder.drain().unwrap());
    }
    (decoder, out)
}

fn holds_for(framing: Framing, messages: Vec<Vec<u8>>, cuts: Vec<usize>) {
    let (bytes, ends) = wire(framing, &messages);

    let (decoder, got) = decode_in_pieces(framing, &bytes, &cuts);
    assert_eq!(got, messages, "cut at {cuts:?}");
    assert_eq!(decoder.finish(), Ok(()));

    for prefix in 0..bytes.len() {
        let (decoder, got) = decode_in_pieces(framing, &bytes[..prefix], &cuts);
        let complete = ends.iter().filter(|end| **end <= prefix).count();
        assert_eq!(got, messages[..complete], "prefix of {prefix} bytes");
        let at_a_boundary = prefix == 0 || ends.contains(&prefix);
        assert_eq!(decoder.finish().is_ok(), at_a_boundary, "prefix of {prefix} bytes");
    }
}

proptest! {
    #[test]
    fn line_framing_survives_any_cuts(messages in messages(line_byte()), cuts in prop::collection::vec(any::<usize>(), 0..20)) {
        holds_for(Framing::Line { max: MAX }, messages, cuts);
    }

    #[test]
    fn length_framing_survives_any_cuts(messages in messages(any::<u8>()), cuts in prop::collection::vec(any::<usize>(), 0..20)) {
        holds_for(Framing::Length { max: MAX }, messages, cuts);
    }

    /// Raw framing, the bug: every byte arrives, in order, but the messages are the reads,
    /// not what was sent.
    #[test]
    fn raw_framing_keeps_the_bytes_but_not_the_boundaries(messages in messages(any::<u8>()), cuts in prop::collection::vec(any::<usize>(), 0..20)) {
        let (bytes, _) = wire(Framing::Raw, &messages);
        let (decoder, got) = decode_in_pieces(Framing::Raw, &bytes, &cuts);
        prop_assert_eq!(got.concat(), bytes);
        prop_assert!(got.iter().all(|read| !read.is_empty()));
        prop_assert_eq!(decoder.finish(), Ok(()));
    }

    /// The boxes the sticky lab prints give back exactly the bytes, whatever they are.
    #[test]
    fn a_box_gives_back_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let line = format!("recv {} bytes {}", bytes.len(), boxed(&bytes));
        prop_assert_eq!(unbox(&line), Some(bytes));
    }
}
