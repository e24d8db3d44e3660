//! A Mermaid sequence diagram of what crossed the wire, drawn from real transcripts, with the
//! roles' names (alice, server) rather than their ports. Git hosts render it in Markdown.

use std::fmt::Write as _;
use std::time::Duration;

use harness::transcript::{Event, show};

/// One run a diagram is drawn from: a scenario's claim and what its transcript recorded.
pub type Run = (&'static str, Vec<(Duration, Event)>);

/// The runs a diagram is drawn from.
pub type Runs = [Run];

/// One diagram for a run of scenarios: each scenario's claim and narration as notes, its
/// datagrams and bytes as arrows, and what the lab's own roles read and print as notes too.
pub fn sequence(sections: &Runs) -> String {
    let mut participants: Vec<String> = Vec::new();
    let mut body = String::new();
    for (claim, events) in sections {
        let over = notes_over(events);
        let _ = writeln!(body, "    Note over {over}: {}", clean(claim));
        let mut quiet = false;
        for (_, event) in events {
            match event {
                Event::Hush(start) => {
                    quiet = *start;
                    if quiet {
                        let _ = writeln!(body, "    Note over {over}: (many more exchanges, not drawn)");
                    }
                }
                _ if quiet => {}
                Event::Say(text) => {
                    let _ = writeln!(body, "    Note over {over}: {}", clean(text));
                }
                Event::Wire { from, to, bytes, .. } => {
                    let text = format!("{} ({} B)", short(bytes), bytes.len());
                    let _ = writeln!(body, "    {from}->>{to}: {}", clean(&text));
                    remember(&mut participants, &[from, to]);
                }
                Event::Conn { from, to, what } => {
                    let _ = writeln!(body, "    {from}-->>{to}: {}", clean(what));
                    remember(&mut participants, &[from, to]);
                }
                // A datagram a lossy link dropped is an arrow that ends in a cross; what else
                // it did (a copy, a flipped bit, a delay) is a note, before what it passed on.
                Event::Link { from, to, what, bytes } if what.starts_with("dropped") => {
                    let text = format!("{} ({} B), dropped by the link", short(bytes), bytes.len());
                    let _ = writeln!(body, "    {from}-x{to}: {}", clean(&text));
                    remember(&mut participants, &[from, to]);
                }
                Event::Link { from, to, what, .. } => {
                    let _ = writeln!(body, "    Note over {from},{to}: link {}", clean(what));
                    remember(&mut participants, &[from, to]);
                }
                Event::States(ends) => {
                    let _ = writeln!(body, "    Note over {over}: kernel: {}", clean(&states_line(ends)));
                }
                Event::Stdin { who, line } => {
                    let _ = writeln!(body, "    Note over {who}: stdin: {}", clean(&show(line.as_bytes())));
                    remember(&mut participants, &[who]);
                }
                // The server's own log is wording free to change; a client's output is what its
                // user sees.
                Event::Stdout { who, line } if who != "server" => {
                    let _ = writeln!(body, "    Note over {who}: prints {}", clean(line));
                    remember(&mut participants, &[who]);
                }
                _ => {}
            }
        }
    }
    let mut diagram = String::from("sequenceDiagram\n");
    for who in &participants {
        let _ = writeln!(diagram, "    participant {who}");
    }
    diagram + &body
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
            Some(format!("{from},{to}"))
        }
        Event::Stdin { who, .. } => Some(who.clone()),
        Event::Stdout { who, .. } if who != "server" => Some(who.clone()),
        _ => None,
    });
    first.unwrap_or_else(|| "server".to_string())
}

fn remember(participants: &mut Vec<String>, names: &[&String]) {
    for name in names {
        if !participants.contains(name) {
            participants.push(name.to_string());
        }
    }
}

/// Payloads in a diagram stay short: the first 32 bytes, then an ellipsis.
fn short(bytes: &[u8]) -> String {
    if bytes.len() <= 32 { show(bytes) } else { format!("{}…", show(&bytes[..32])) }
}

/// Mermaid ends a text at `;` and `#`. Its entity codes (`#59;`) would do, but read badly
/// where the diagram's source is shown as it is (a plain Markdown view, mdBook without
/// mdbook-mermaid): write the full-width forms `；` and `＃` instead, which read the same. The
/// exact bytes are in the transcript above the diagram.
fn clean(text: &str) -> String {
    text.replace(';', "；").replace('#', "＃")
}

#[cfg(test)]
mod tests {
    use super::states as states_diagram;
    use super::*;
    use harness::transcript::Proto;

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
}
