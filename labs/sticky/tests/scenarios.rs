//! sticky's conformance scenarios against the lab's own server. The scenarios live in
//! harness/src/labs/sticky.rs, where `cargo lab check` and the demo run them.

use harness::labs::sticky::LAB;

fn check(scenario: &str) {
    harness::assert_passes(&LAB, scenario, env!("CARGO_BIN_EXE_sticky"));
}

/// Raw, a slow reader: 100 writes, `1;` to `100;`, come out in at most 10 reads.
#[test]
fn short_messages_stick_together_in_a_slow_reader() {
    check("short_messages_stick_together_in_a_slow_reader");
}

/// Raw, `--read-size 16`: 36 bytes of Chinese in one write come out in reads of at most 16
/// bytes, one of which ends inside a character.
#[test]
fn a_long_message_arrives_in_pieces_cut_mid_character() {
    check("a_long_message_arrives_in_pieces_cut_mid_character");
}

/// Gap: [one][two][three] on an idle loopback; writes stuck together for a slow reader and
/// through a proxy that holds bytes.
#[test]
fn a_pause_between_writes_is_not_a_framing() {
    check("a_pause_between_writes_is_not_a_framing");
}

/// Delimiter framing through the re-chunking proxy, eleven seeds: every line exact, in order.
#[test]
fn delimiter_framing_survives_any_rechunking() {
    check("delimiter_framing_survives_any_rechunking");
}

/// `--max 16`: 60 bytes without a newline are refused and the connection closed; the next
/// client's line is decoded.
#[test]
fn an_over_long_line_is_refused() {
    check("an_over_long_line_is_refused");
}

/// Length framing through the re-chunking proxy, eleven seeds: every message exact, in order.
#[test]
fn length_framing_survives_any_rechunking() {
    check("length_framing_survives_any_rechunking");
}

/// `--max 1024`: a header of 0xfffffff0 is refused at once; the next client's frame is decoded.
#[test]
fn an_over_sized_length_is_refused_from_the_header() {
    check("an_over_sized_length_is_refused_from_the_header");
}

/// "hi", then 2 of 5 announced bytes and a close: "hi" is decoded, the rest reported as
/// `truncated: got 2 of 5 bytes`.
#[test]
fn a_frame_cut_off_by_the_peer_is_reported() {
    check("a_frame_cut_off_by_the_peer_is_reported");
}

/// UDP: 50 datagrams are 50 whole reads; a 40-byte one is cut to 16 and the rest is lost.
#[test]
fn udp_keeps_every_datagram_whole() {
    check("udp_keeps_every_datagram_whole");
}
