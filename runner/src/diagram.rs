//! A Mermaid sequence diagram of what crossed the wire, drawn from real transcripts, with the
//! roles' names (alice, server) rather than their ports. Git hosts render it in Markdown.

use std::fmt::Write as _;
use std::time::Duration;

use harness::transcript::{Event, Proto, show};

/// One run a diagram is drawn from: a scenario's claim and what its transcript recorded.
pub type Run = (&'static str, Vec<(Duration, Event)>);

/// The runs a diagram is drawn from.
pub type Runs = [Run];

/// One diagram for a run of scenarios: each scenario's claim and narration as notes, its
/// datagrams and bytes as arrows, and what the lab's own roles read and print as notes too.
/// Every event is drawn (the book's chapters: a demo's run is short).
pub fn sequence(sections: &Runs) -> String {
    let (participants, lines) = lines(sections);
    header(&participants) + &lines.iter().map(|line| line.text.as_str()).collect::<String>()
}

/// The same diagram for a run of any length (a student's, in a report): a run of exchanges
/// that repeat the same arrows between the same roles is drawn twice, then a note says how
/// many more like them are not drawn, then its last time; past [`MOST_DRAWN`] lines nothing
/// more is drawn but a note that says how much is left. 10^5 datagrams of a flood come out as
/// a few lines, which Mermaid draws at once and a page holds easily.
pub fn sequence_folded(sections: &Runs) -> String {
    let (participants, lines) = lines(sections);
    let mut drawn = String::new();
    let mut count = 0;
    let mut start = 0;
    while start < lines.len() {
        if count >= MOST_DRAWN {
            let left = lines.len() - start;
            let over = &lines[start].over;
            let _ = writeln!(
                drawn,
                "    Note over {over}: … {} more events, not drawn (the transcript has them)",
                thousands(left)
            );
            break;
        }
        match repeats(&lines[start..]) {
            Some((period, times)) => {
                let block = |at: usize| lines[start + at * period..start + (at + 1) * period].iter();
                for line in block(0).chain(block(1)) {
                    drawn.push_str(&line.text);
                }
                let hidden = &lines[start + 2 * period..start + (times - 1) * period];
                // What they all are ("datagrams"), or "events" where they differ.
                let noun = hidden
                    .iter()
                    .map(|line| line.noun)
                    .reduce(|a, b| if a == b { a } else { "events" })
                    .unwrap_or("events");
                let over = &lines[start].over;
                let _ = writeln!(
                    drawn,
                    "    Note over {over}: … {} more {noun} like these, not drawn",
                    thousands(hidden.len())
                );
                for line in block(times - 1) {
                    drawn.push_str(&line.text);
                }
                count += 3 * period + 1;
                start += times * period;
            }
            None => {
                drawn.push_str(&lines[start].text);
                count += 1;
                start += 1;
            }
        }
    }
    header(&participants) + &drawn
}

/// The most lines [`sequence_folded`] draws for one diagram (Mermaid refuses a diagram's
/// text past 50,000 characters, and a few hundred arrows are already more than a reader
/// follows).
pub const MOST_DRAWN: usize = 200;

/// A block repeated this many times in a row is folded, when folding hides at least
/// [`FEWEST_HIDDEN`] lines (fewer are drawn: a note in their place would save nothing).
const FOLD_AT: usize = 5;
const FEWEST_HIDDEN: usize = 10;

/// The longest block of lines [`repeats`] looks for (a request, its replies to a few members).
const LONGEST_BLOCK: usize = 8;

/// The block of lines that `lines` opens with and repeats at once, most often in a row
/// (by lines covered), when it repeats at least [`FOLD_AT`] times and folding it would hide
/// [`FEWEST_HIDDEN`] lines: (its length, how many times).
fn repeats(lines: &[Line]) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    for period in 1..=LONGEST_BLOCK {
        let same = |at: usize| {
            lines.get(at * period..(at + 1) * period).is_some_and(|block| {
                block.iter().zip(&lines[..period]).all(|(a, b)| a.key.is_some() && a.key == b.key)
            })
        };
        let mut times = 1;
        while same(times) {
            times += 1;
        }
        let hidden = times.saturating_sub(3) * period;
        if times >= FOLD_AT && hidden >= FEWEST_HIDDEN && best.is_none_or(|(p, t)| times * period > p * t) {
            best = Some((period, times));
        }
    }
    best
}

/// 99980 as "99,980".
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (at, digit) in digits.chars().enumerate() {
        if at > 0 && (digits.len() - at).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// One line of a diagram: its text, what makes it "the same" as another for folding (its
/// arrow and ends, not its bytes; `None` never folds), what it is called when counted, and
/// where its section's notes go.
struct Line {
    text: String,
    key: Option<String>,
    noun: &'static str,
    over: String,
}

fn header(participants: &[String]) -> String {
    let mut diagram = String::from("sequenceDiagram\n");
    for who in participants {
        match id(who) == *who {
            true => {
                let _ = writeln!(diagram, "    participant {who}");
            }
            false => {
                let _ = writeln!(diagram, "    participant {} as {}", id(who), clean(who));
            }
        }
    }
    diagram
}

/// Every line of the diagram of `sections`, and the roles it names, in order.
fn lines(sections: &Runs) -> (Vec<String>, Vec<Line>) {
    let mut participants: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    for (claim, events) in sections {
        let over = notes_over(events);
        let mut line = |text: String, key: Option<String>, noun: &'static str| {
            lines.push(Line { text: text + "\n", key, noun, over: over.clone() })
        };
        line(format!("    Note over {over}: {}", clean(claim)), None, "notes");
        let mut quiet = false;
        for (_, event) in events {
            match event {
                Event::Hush(start) => {
                    quiet = *start;
                    if quiet {
                        line(
                            format!("    Note over {over}: (many more exchanges, not drawn)"),
                            None,
                            "notes",
                        );
                    }
                }
                _ if quiet => {}
                Event::Say(text) => {
                    line(
                        format!("    Note over {over}: {}", clean(text)),
                        Some(format!("say {text}")),
                        "notes",
                    );
                }
                Event::Wire { from, to, bytes, proto } => {
                    let text = format!("{} ({} B)", short(bytes), bytes.len());
                    let noun = if *proto == Proto::Udp { "datagrams" } else { "chunks of the stream" };
                    line(
                        format!("    {}->>{}: {}", id(from), id(to), clean(&text)),
                        Some(format!("{from}->>{to}")),
                        noun,
                    );
                    remember(&mut participants, &[from, to]);
                }
                Event::Conn { from, to, what } => {
                    let key = format!("{from}-->>{to} {what}");
                    line(
                        format!("    {}-->>{}: {}", id(from), id(to), clean(what)),
                        Some(key),
                        "connection events",
                    );
                    remember(&mut participants, &[from, to]);
                }
                // A datagram a lossy link dropped is an arrow that ends in a cross; what else
                // it did (a copy, a flipped bit, a delay) is a note, before what it passed on.
                Event::Link { from, to, what, bytes } if what.starts_with("dropped") => {
                    let text = format!("{} ({} B), dropped by the link", short(bytes), bytes.len());
                    line(
                        format!("    {}-x{}: {}", id(from), id(to), clean(&text)),
                        Some(format!("{from}-x{to}")),
                        "datagrams",
                    );
                    remember(&mut participants, &[from, to]);
                }
                Event::Link { from, to, what, .. } => {
                    let key = Some(format!("link {from} {to}"));
                    line(
                        format!("    Note over {},{}: link {}", id(from), id(to), clean(what)),
                        key,
                        "link events",
                    );
                    remember(&mut participants, &[from, to]);
                }
                Event::States(ends) => {
                    let text = states_line(ends);
                    let key = Some(format!("states {text}"));
                    line(format!("    Note over {over}: kernel: {}", clean(&text)), key, "readings");
                }
                Event::Stdin { who, line: typed } => {
                    let text =
                        format!("    Note over {}: stdin: {}", id(who), clean(&show(typed.as_bytes())));
                    line(text, Some(format!("stdin {who}")), "lines");
                    remember(&mut participants, &[who]);
                }
                // The server's own log is wording free to change; a client's output is what its
                // user sees.
                Event::Stdout { who, line: printed } if who != "server" => {
                    line(
                        format!("    Note over {}: prints {}", id(who), clean(printed)),
                        Some(format!("stdout {who}")),
                        "lines",
                    );
                    remember(&mut participants, &[who]);
                }
                _ => {}
            }
        }
    }
    (participants, lines)
}

/// "alice FIN_WAIT2 · server CLOSE_WAIT".
fn states_line(ends: &[(String, String)]) -> String {
    ends.iter().map(|(who, state)| format!("{who} {state}")).collect::<Vec<_>>().join(" · ")
}

/// A Mermaid state diagram of the TCP states the kernel's table showed during the runs
/// ([`Event::States`]), each transition one that an end of a connection was seen to make
/// from one reading to the next, labelled with that end and the last connection event before
/// it (the first time it was seen). `gone` is the diagram's end, `[*]`, and so is the start: an
/// end's first reading follows the connect. `None` when no run read any state.
pub fn states(sections: &Runs) -> Option<String> {
    let mut transitions: Vec<(String, String, String)> = Vec::new();
    for (_, events) in sections {
        let mut last: std::collections::HashMap<&str, String> = std::collections::HashMap::new();
        let mut cause = String::new();
        for (_, event) in events {
            match event {
                Event::Conn { from, to, what } => cause = format!("{from} → {to} {what}"),
                Event::Exit { who, status } => cause = format!("{who} {status}"),
                Event::States(ends) => {
                    for (who, state) in ends {
                        let state = if state == "gone" { "[*]".to_string() } else { state.clone() };
                        let from = last.insert(who, state.clone()).unwrap_or_else(|| "[*]".to_string());
                        let seen = transitions.iter().any(|(a, b, _)| *a == from && *b == state);
                        if from != state && !seen {
                            let label = match cause.as_str() {
                                "" => format!("{who}'s end"),
                                cause => format!("{who}'s end, after {cause}"),
                            };
                            transitions.push((from, state, label));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    if transitions.is_empty() {
        return None;
    }
    let mut diagram = String::from("stateDiagram-v2\n");
    for (from, to, cause) in transitions {
        let _ = writeln!(diagram, "    {from} --> {to}: {}", clean(&cause).replace(':', ""));
    }
    Some(diagram)
}

/// Where a section's notes go: across its first exchange, or over its first role.
fn notes_over(events: &[(Duration, Event)]) -> String {
    let first = events.iter().find_map(|(_, event)| match event {
        Event::Wire { from, to, .. } | Event::Conn { from, to, .. } | Event::Link { from, to, .. } => {
            Some(format!("{},{}", id(from), id(to)))
        }
        Event::Stdin { who, .. } => Some(id(who)),
        Event::Stdout { who, .. } if who != "server" => Some(id(who)),
        _ => None,
    });
    first.unwrap_or_else(|| "server".to_string())
}

/// A role's name as Mermaid reads it: the name itself where it is a word (alice, 张三), else
/// an id made of its bytes, which the diagram's header gives the name as its alias (an
/// address the checker did not know, `127.0.0.1:41084`; `server (alice)`).
fn id(name: &str) -> String {
    if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return name.to_string();
    }
    name.bytes().fold(String::from("role_"), |mut id, byte| {
        let _ = write!(id, "{byte:02x}");
        id
    })
}

fn remember(participants: &mut Vec<String>, names: &[&String]) {
    for name in names {
        if participants.contains(name) {
            continue;
        }
        // "alice (unread)" (what reached alice while she was not reading) stands beside alice,
        // not at the far end of the diagram.
        let beside = name.split_once(" (").and_then(|(who, _)| participants.iter().position(|p| p == who));
        match beside {
            Some(at) => participants.insert(at + 1, name.to_string()),
            None => participants.push(name.to_string()),
        }
    }
}

/// Payloads in a diagram stay short: the first 32 bytes, then an ellipsis.
fn short(bytes: &[u8]) -> String {
    if bytes.len() <= 32 {
        return show(bytes);
    }
    // Cut between characters, not inside one: a cut 张 would read as two stray bytes, in the
    // lab where a character cut by the network is the lesson.
    let end = match std::str::from_utf8(&bytes[..32]) {
        // Text whose last character the 32nd byte cuts: end before that character.
        Err(cut) if cut.error_len().is_none() => cut.valid_up_to(),
        _ => 32,
    };
    format!("{}…", show(&bytes[..end]))
}

/// Mermaid ends a text at `;` and `#`. Its entity codes (`#59;`) would do, but read badly
/// where the diagram's source is shown as it is (a plain Markdown view, mdBook without
/// mdbook-mermaid): write the full-width forms `；` and `＃` instead, which read the same. The
/// exact bytes are in the transcript above the diagram. `%%` starts a comment or a directive
/// (`%%{init: …}%%`, which would restyle the diagram): a server's bytes get `%％` instead.
fn clean(text: &str) -> String {
    text.replace(';', "；").replace('#', "＃").replace("%%", "%％")
}

#[cfg(test)]
mod tests {
    use super::states as states_diagram;
    use super::*;

    /// A long payload is cut between characters, and "alice (unread)" stands beside alice.
    #[test]
    fn cuts_between_characters_and_keeps_unread_beside_its_reader() {
        let text = "张三李四王五赵六钱七孙八周九吴十".as_bytes();
        assert_eq!(short(text), format!("{}…", show("张三李四王五赵六钱七".as_bytes())));
        assert_eq!(short(&[0xff; 40]), format!("{}…", show(&[0xff; 32])));
        let mut participants = vec!["alice".to_string(), "server".to_string()];
        remember(&mut participants, &[&"server".to_string(), &"alice (unread)".to_string()]);
        assert_eq!(participants, ["alice", "alice (unread)", "server"]);
    }

    /// Each end's readings become transitions, once each; `gone` is `[*]`.
    #[test]
    fn draws_the_states_each_end_went_through() {
        let states = |ends: &[(&str, &str)]| {
            Event::States(ends.iter().map(|(who, state)| (who.to_string(), state.to_string())).collect())
        };
        let close = Event::Conn { from: "alice".into(), to: "server".into(), what: "close (FIN)".into() };
        let events = vec![
            (Duration::ZERO, states(&[("alice", "ESTABLISHED"), ("server", "ESTABLISHED")])),
            (Duration::ZERO, close),
            (Duration::ZERO, states(&[("alice", "FIN_WAIT2"), ("server", "CLOSE_WAIT")])),
            (Duration::ZERO, states(&[("alice", "TIME_WAIT"), ("server", "gone")])),
        ];
        let diagram = states_diagram(&[("Close", events)]);
        assert_eq!(
            diagram.as_deref(),
            Some(
                "stateDiagram-v2\n    [*] --> ESTABLISHED: alice's end\n    \
                 ESTABLISHED --> FIN_WAIT2: alice's end, after alice → server close (FIN)\n    \
                 ESTABLISHED --> CLOSE_WAIT: server's end, after alice → server close (FIN)\n    \
                 FIN_WAIT2 --> TIME_WAIT: alice's end, after alice → server close (FIN)\n    \
                 CLOSE_WAIT --> [*]: server's end, after alice → server close (FIN)\n"
            )
        );
        assert_eq!(states_diagram(&[("Nothing", Vec::new())]), None);
    }

    #[test]
    fn draws_names_arrows_and_the_claim() {
        let events = vec![
            (Duration::ZERO, Event::Say("alice speaks".into())),
            (
                Duration::ZERO,
                Event::Wire {
                    from: "alice".into(),
                    to: "server".into(),
                    proto: Proto::Udp,
                    bytes: b"hi;#".to_vec(),
                },
            ),
        ];
        let diagram = sequence(&[("No connection", events)]);
        assert_eq!(
            diagram,
            "sequenceDiagram\n    participant alice\n    participant server\n    \
             Note over alice,server: No connection\n    Note over alice,server: alice speaks\n    \
             alice->>server: \"hi；＃\" (4 B)\n"
        );
    }

    /// What a lossy link dropped is an arrow ending in a cross; its other decisions are notes.
    #[test]
    fn draws_the_links_drops_as_crossed_arrows() {
        let link = |what: &str| Event::Link {
            from: "sender".into(),
            to: "server".into(),
            what: what.into(),
            bytes: b"5509 DATA 0 hello".to_vec(),
        };
        let events = vec![
            (Duration::ZERO, link("dropped datagram 1")),
            (Duration::ZERO, link("duplicated datagram 2")),
        ];
        let diagram = sequence(&[("Loss", events)]);
        assert!(
            diagram.contains("    sender-xserver: \"5509 DATA 0 hello\" (17 B), dropped by the link\n"),
            "{diagram}"
        );
        assert!(diagram.contains("    Note over sender,server: link duplicated datagram 2\n"), "{diagram}");
        assert!(diagram.contains("participant sender\n    participant server\n"), "{diagram}");
    }

    /// A flood of 10^5 datagrams (a ping and its pong, 50,000 times) is drawn as its first two
    /// exchanges, a note with how many are not drawn, and its last; the diagram stays small.
    #[test]
    fn folds_a_flood_of_datagrams_into_a_few_lines() {
        let wire = |from: &str, to: &str, text: String| Event::Wire {
            from: from.into(),
            to: to.into(),
            proto: Proto::Udp,
            bytes: text.into_bytes(),
        };
        let mut events = vec![(Duration::ZERO, Event::Say("the flood".into()))];
        for n in 0..50_000 {
            events.push((Duration::ZERO, wire("alice", "server", format!("ping {n}"))));
            events.push((Duration::ZERO, wire("server", "alice", format!("pong {n}"))));
        }
        let diagram = sequence_folded(&[("Many", events.clone())]);
        assert!(
            diagram.contains("alice->>server: \"ping 0\" (6 B)\n    server->>alice: \"pong 0\" (6 B)\n"),
            "{diagram}"
        );
        assert!(diagram.contains("\"ping 1\""), "{diagram}");
        assert!(
            diagram.contains("Note over alice,server: … 99,994 more datagrams like these, not drawn\n"),
            "{diagram}"
        );
        assert!(diagram.ends_with("server->>alice: \"pong 49999\" (10 B)\n"), "{diagram}");
        assert!(!diagram.contains("\"ping 2\""), "{diagram}");
        assert!(diagram.lines().count() < 15, "{diagram}");
        // The book's diagram draws every one.
        assert_eq!(sequence(&[("Many", events)]).lines().count(), 100_005);
    }

    /// What never repeats is still bounded: past MOST_DRAWN lines, one note says how many more.
    #[test]
    fn stops_drawing_past_the_most_lines_and_says_how_many_are_left() {
        let mut events = Vec::new();
        for n in 0..1_000 {
            events.push((Duration::ZERO, Event::Say(format!("step {n}"))));
        }
        let diagram = sequence_folded(&[("Long", events)]);
        assert!(
            diagram.contains("Note over server: … 801 more events, not drawn (the transcript has them)\n"),
            "{diagram}"
        );
        assert!(diagram.lines().count() <= MOST_DRAWN + 3, "{diagram}");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }

    /// A peer the checker had no name for (a reply from another socket) is drawn under its
    /// address, through an id Mermaid can read: a name is a word to it.
    #[test]
    fn a_name_that_is_not_a_word_is_drawn_through_an_alias() {
        let events = vec![(
            Duration::ZERO,
            Event::Wire {
                from: "127.0.0.1:4108".into(),
                to: "alice".into(),
                proto: Proto::Udp,
                bytes: b"hi".to_vec(),
            },
        )];
        let diagram = sequence_folded(&[("Reply", events)]);
        assert_eq!(
            diagram,
            "sequenceDiagram\n    participant role_3132372e302e302e313a34313038 as 127.0.0.1:4108\n    participant alice\n    \
             Note over role_3132372e302e302e313a34313038,alice: Reply\n    \
             role_3132372e302e302e313a34313038->>alice: \"hi\" (2 B)\n"
        );
    }

    /// A short run is drawn whole, folded or not: 12 alike would hide only 9 (fewer than 10).
    #[test]
    fn a_short_run_is_drawn_the_same_folded_or_not() {
        let events: Vec<_> = (0..12)
            .map(|n| {
                (
                    Duration::ZERO,
                    Event::Wire {
                        from: "alice".into(),
                        to: "server".into(),
                        proto: Proto::Udp,
                        bytes: vec![n],
                    },
                )
            })
            .collect();
        assert_eq!(sequence_folded(&[("Few", events.clone())]), sequence(&[("Few", events)]));
    }
}
