//! udp-group's scenarios: what a UDP chat-room server must do on the wire, in any language.
//! Notices (joined, left, the owner's lines) may be worded freely: the checks look for the
//! name or the text in them. Only two things are exact: the reply `OK`, and the `ERR ` prefix.

use std::net::SocketAddr;

use anyhow::{Result, bail};

use crate::peer::UdpPeer;
use crate::scenario::{Fixture, Flag, Lab, Report, Spec};
use crate::session::Session;
use crate::transcript::{Proto, show};
use crate::{QUIET, WAIT, secs};

pub const LAB: Lab = Lab {
    name: "udp-group",
    teaches: "UDP chat room: register, unique nickname, join/leave, owner broadcast",
    proto: Proto::Udp,
    default_port: 10024,
    roles: &["server", "client", "listen"],
    modes: &[],
    server_flags: &[],
    story: "
A group chat on UDP has one server socket and no connections. The server knows a member only
as an address its datagrams came from, and \"send to everyone\" is a loop: one sendto per
member. The original lessons (the Chinese tutorials these labs follow) build it twice. First the
relay of lesson 001, which remembers every address that ever sent it anything; then the room of
lesson 004, a homework: nicknames (N), messages (M), leaving (Q), and the owner typing on
the server's stdin. Below, alice, bob, 张三 and mallory are plain UDP sockets the harness
drives, and every datagram that crosses the wire is shown with its exact bytes.",
    scenarios: &[
        scenario!(
            relay_mode_relays_to_every_known_address,
            claim: "Relay (original lesson 001): every datagram goes to every address ever heard from",
            hint: "In --mode relay, send each datagram to every address you have heard from, the \
                   sender's own included; an address is known from the first datagram it sends.",
            bug: "relay-skips-sender",
        ),
        scenario!(
            registering_gets_exactly_ok,
            claim: "Room (original lesson 004): N <name> is answered with exactly OK",
            hint: "Look at the exact bytes you answer N with: original lesson 004's client compares the \
                   whole datagram with OK, so a newline or anything after it reads as a refusal.",
            bug: "ok-newline",
        ),
        scenario!(
            the_join_notice_reaches_the_others_not_the_newcomer,
            claim: "A join notice reaches the members already there, not the newcomer",
            hint: "When you announce a join, leave the newcomer's own address \
                   out of the loop: they know they are in from their OK.",
            bug: "notice-to-all",
        ),
        scenario!(
            a_taken_name_is_refused_and_its_owner_keeps_it,
            claim: "A name already taken is refused with ERR, and its owner keeps it",
            hint: "Before you register a name, check whether another address holds it \
                   already; if one does, answer ERR and change nothing in your member lists.",
            bug: "takeover",
        ),
        scenario!(
            a_message_arrives_byte_for_byte_at_every_member,
            claim: "A message with runs of spaces and 中文 arrives intact at every member, sender included",
            hint: "Look at how you cut the text out of M <name> <text>: it is \
                   everything after the space that ends the name, byte for byte. \
                   Splitting it on spaces and joining the words loses runs of spaces.",
            bug: "eat-spaces",
        ),
        scenario!(
            the_owner_speaks_to_everyone,
            claim: "A line typed on the server's stdin (the owner) reaches every member",
            hint: "Your server must read its stdin while it waits for datagrams (a thread of \
                   its own, or select on both): each line typed there goes to every member.",
            bug: "deaf-owner",
        ),
        scenario!(
            impersonation_is_rejected_and_nothing_is_broadcast,
            claim: "M and Q in someone else's name get ERR, nothing is broadcast, the victim stays",
            hint: "Do not believe the name written in M or Q: check it against the name \
                   registered for the address recvfrom gave you, and answer ERR when they differ.",
            bug: "trust-names",
        ),
        scenario!(
            a_leave_notice_reaches_the_others,
            claim: "Q <name>: the others are told, and the leaver gets no more messages",
            hint: "On Q, tell the remaining members who left, and remove the leaver's \
                   address along with the name, so that nothing more is sent there.",
            bug: "silent-leave",
        ),
        scenario!(
            a_repeated_registration_is_idempotent,
            claim: "N <name> again from the same address (its OK was lost) gets OK, and no second notice",
            hint: "Look at N from an address that is already a member: the same name again means its \
                   OK was lost, so answer OK again with no second notice; another name from it is ERR.",
            bug: "refuse-retry",
        ),
        scenario!(
            bad_input_gets_err_and_the_room_goes_on,
            claim: "Empty, not UTF-8, unknown, bad names, too long: each gets ERR, and the room goes on",
            hint: "Check every datagram before acting on it (empty, not UTF-8, unknown type, \
                   bad name, over 1024 bytes) and answer each bad one with ERR. A 1024-byte \
                   receive buffer cannot tell an over-long datagram from one that fits.",
            bug: "truncate-long",
        ),
        scenario!(
            a_full_room_refuses_newcomers,
            claim: "With --max-members 2, a third member is refused until someone leaves",
            hint: "Before adding a member, compare the number of members with --max-members and \
                   answer ERR when the room is full; a member who leaves frees the place again.",
            bug: "no-limit",
        ),
        scenario!(
            the_lab_client_chats_through_the_server,
            claim: "The lab's client joins, sends what is typed, prints what arrives, leaves at Ctrl-D",
            hint: "Send every reply, OK included, from the socket bound to your \
                   server's port: the lab's client connects its socket to the address \
                   it sends to, and its kernel drops datagrams from any other.",
            bug: "new-socket",
        ),
    ],
    fixture: Fixture {
        script: "tests/fixtures/room.py",
        passes_with: &["", "--quiet"],
        reports: &[
            Report {
                name: "a_reply_with_a_newline_too_many_shows_the_newline",
                scenario: scenario_name!(registering_gets_exactly_ok),
                leads_with: &[
                    r#"off by whitespace: alice got "OK\n" where "OK" was expected: an extra "\n" at the end"#,
                ],
                bug: "ok-newline",
                shows: &[],
            },
            Report {
                name: "the_eaten_spaces_show_in_the_failure",
                scenario: scenario_name!(a_message_arrives_byte_for_byte_at_every_member),
                leads_with: &[],
                bug: "eat-spaces",
                shows: &[&["你好,everyone:twospaces,three,andoneattheend"]],
            },
        ],
    },
    by_hand: &[
        "cargo lab udp-group server                # terminal 1: you are the owner; type here too",
        "cargo lab udp-group client --name alice   # terminal 2",
        "cargo lab udp-group client --name 张三     # terminal 3: /who, /quit",
    ],
    spec: Spec {
        task: "A UDP chat room: members register a nickname, each message goes to every member, and a line \
               typed on the server's stdin (the owner) goes to everyone. With --mode relay, a plain relay \
               instead.",
        flags: &[
            Flag {
                usage: "--mode room|relay",
                does: "room (the default): the room protocol below. relay: no protocol at all; every datagram \
                       goes to every address ever heard from, its sender included.",
            },
            Flag {
                usage: "--max-members N",
                does: "At most N members (1000 when the flag is absent): N <name> to a full room gets ERR, \
                       until someone leaves.",
            },
        ],
        protocol: &[
            "Every datagram is one message of UTF-8 text, at most 1024 bytes, with no newline; its first \
             letter and a space say what it is. A registration (N) is answered with exactly OK; M and Q get no \
             OK (the sender of M gets its own copy of the broadcast, a leaver gets nothing more). What the \
             server refuses is answered with ERR, a space and the reason.",
            "N <name>: register. A name is 1 to 32 characters with no spaces or control characters. Answer OK, \
             and tell every other member (not the newcomer) that the name joined. A name already taken: ERR, \
             and its owner keeps it. N with the same name again from the same address (its OK was lost): OK \
             again and no second notice; a second name from a registered address: ERR.",
            "M <name> <text>: send `<name>: <text>` to every member, the sender included, with the text byte \
             for byte (runs of spaces, 中文). Q <name>: leave; the others are told that the name left, and the \
             leaver gets nothing more. For M and Q the name must be the one registered from the address \
             recvfrom gave; if it is not: ERR, nothing is broadcast, and the named member stays. W: answer the \
             sender alone with the members' names, comma-separated, in one datagram. (M with a name and no \
             text gets ERR in the reference; no scenario checks it.)",
            "Each of these gets ERR, and the room goes on: an empty datagram, bytes that are not UTF-8, an \
             unknown first letter, a bad name, a datagram over 1024 bytes. Notices (joined, left, the owner's \
             lines, `[owner] <line>` in the reference) may be worded freely: the checks look for the name or \
             the text in them. Only OK and the ERR prefix are exact.",
        ],
    },
};

/// Register `name` from a new peer: exactly `OK` must come back.
pub fn join(s: &mut Session, at: SocketAddr, who: &str, name: &str) -> Result<UdpPeer> {
    let peer = s.udp(who)?;
    peer.send_to(at, format!("N {name}").as_bytes())?;
    peer.expect_datagram_from(at, b"OK")?;
    Ok(peer)
}

/// Register each name in turn; each member already there reads the newcomer's join notice.
fn room(s: &mut Session, at: SocketAddr, names: &[&str]) -> Result<Vec<UdpPeer>> {
    let mut members: Vec<UdpPeer> = Vec::new();
    for name in names {
        let newcomer = join(s, at, name, name)?;
        for member in &members {
            expect_containing(member, at, name.as_bytes())?;
        }
        members.push(newcomer);
    }
    Ok(members)
}

/// The next datagram from the server must contain `needle` (notices are worded freely; the
/// name or the text in them is not).
pub fn expect_containing(peer: &UdpPeer, at: SocketAddr, needle: &[u8]) -> Result<Vec<u8>> {
    match peer.recv_from(at, WAIT)? {
        Some(bytes) if contains(&bytes, needle) => Ok(bytes),
        Some(bytes) => bail!(
            "{} expected a datagram containing {}, byte for byte\n  but the next one from the server was {}",
            peer.who(),
            show(needle),
            show(&bytes)
        ),
        None => bail!(
            "{} expected a datagram containing {} within {}, but nothing came from the server",
            peer.who(),
            show(needle),
            secs(WAIT)
        ),
    }
}

/// The next datagram from the server must be a refusal: `ERR ` and a reason.
pub fn expect_err(peer: &UdpPeer, at: SocketAddr, after: &str) -> Result<()> {
    match peer.recv_from(at, WAIT)? {
        Some(bytes) if bytes.starts_with(b"ERR ") => Ok(()),
        Some(bytes) => bail!("{} expected ERR <why> after {after}\n  but got {}", peer.who(), show(&bytes)),
        None => {
            bail!("{} expected ERR <why> after {after} within {}, but nothing came", peer.who(), secs(WAIT))
        }
    }
}

/// Nothing was broadcast: a short deadline that expires at each of `peers`.
pub fn expect_silence(at: SocketAddr, peers: &[&UdpPeer]) -> Result<()> {
    for peer in peers {
        if let Some(bytes) = peer.recv_from(at, QUIET)? {
            bail!(
                "{} expected nothing from the server for {}, but got {}",
                peer.who(),
                secs(QUIET),
                show(&bytes)
            );
        }
    }
    Ok(())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|window| window == needle)
}

/// Relay mode: the listener joins by saying hello, and from then on gets every datagram
/// anyone sends, as does the sender; a stranger who sends once is in too.
pub fn relay_mode_relays_to_every_known_address(s: &mut Session) -> Result<()> {
    let server = s.server(&["--mode", "relay"])?;
    let at = server.addr();
    let listener = s.udp("listener")?;
    let alice = s.udp("alice")?;
    s.say("A receive-only member joins the relay the only way there is: by sending it something.");
    listener.send_to(at, b"hello")?;
    listener.expect_datagram_from(at, b"hello")?;
    s.say("alice sends a line. The relay now knows two addresses, and sends it to both.");
    alice.send_to(at, "hi all, 大家好".as_bytes())?;
    listener.expect_datagram_from(at, "hi all, 大家好".as_bytes())?;
    alice.expect_datagram_from(at, "hi all, 大家好".as_bytes())?;
    s.say("A stranger sends one datagram, and is in: no name, no question asked, and no way out.");
    let mallory = s.udp("mallory")?;
    mallory.send_to(at, b"I am in too")?;
    for peer in [&listener, &alice, &mallory] {
        peer.expect_datagram_from(at, b"I am in too")?;
    }
    expect_silence(at, &[&listener, &alice, &mallory])?;
    s.say("That is all a relay is: no names, no leaving, and anyone who sends once is in. Now the room.");
    Ok(())
}

/// Original lesson 004's client compares the whole reply with `OK`: anything more ("OK\n", "OK alice")
/// and it thinks the name was refused.
pub fn registering_gets_exactly_ok(s: &mut Session) -> Result<()> {
    let server = s.server(&[])?;
    let at = server.addr();
    s.say("alice registers. The only right answer is the two bytes OK.");
    let alice = join(s, at, "alice", "alice")?;
    s.say("A name in Chinese is a name like any other (UTF-8 on the wire).");
    join(s, at, "张三", "张三")?;
    s.say("alice reads the notice that 张三 came in.");
    expect_containing(&alice, at, "张三".as_bytes())?;
    Ok(())
}

/// bob's arrival is announced to alice, who was there; bob gets his `OK` and nothing else.
pub fn the_join_notice_reaches_the_others_not_the_newcomer(s: &mut Session) -> Result<()> {
    let server = s.server(&[])?;
    let at = server.addr();
    let alice = join(s, at, "alice", "alice")?;
    s.say("alice is alone: nobody is told. Now bob comes in.");
    let bob = join(s, at, "bob", "bob")?;
    expect_containing(&alice, at, b"bob")?;
    s.say("bob knows he is in from his OK; a notice about himself would only be noise.");
    expect_silence(at, &[&bob, &alice])
}

/// mallory asks for alice's name: refused; alice is not told anything, and still gets
/// messages; mallory, who is not a member, gets none.
pub fn a_taken_name_is_refused_and_its_owner_keeps_it(s: &mut Session) -> Result<()> {
    let server = s.server(&[])?;
    let at = server.addr();
    let alice = join(s, at, "alice", "alice")?;
    let mallory = s.udp("mallory")?;
    s.say("mallory, from another address, asks for the name alice.");
    mallory.send_to(at, b"N alice")?;
    expect_err(&mallory, at, "N alice for a name already taken")?;
    s.say("Nobody joined, so nobody is told. alice speaks: it reaches her, and not mallory.");
    expect_silence(at, &[&alice])?;
    alice.send_to(at, b"M alice still me")?;
    expect_containing(&alice, at, b"still me")?;
    expect_silence(at, &[&mallory])
}

/// The text after the name's space goes to every member byte for byte: runs of spaces, a
/// trailing space, Chinese. (Original lesson 004's server split on spaces and joined without them.)
pub fn a_message_arrives_byte_for_byte_at_every_member(s: &mut Session) -> Result<()> {
    let server = s.server(&[])?;
    let at = server.addr();
    let members = room(s, at, &["alice", "bob", "张三"])?;
    let text = "你好, everyone:  two spaces,   three, and one at the end ";
    s.say("张三 sends one message. The text is everything after \"M 张三 \", spaces and all.");
    members[2].send_to(at, format!("M 张三 {text}").as_bytes())?;
    for member in &members {
        let got = expect_containing(member, at, text.as_bytes())?;
        if !contains(&got, "张三".as_bytes()) {
            bail!("{} got the message without the sender's name 张三: {}", member.who(), show(&got));
        }
    }
    s.say("Each member got it once, the sender too: that copy is the sender's proof it went round.");
    expect_silence(at, &members.iter().collect::<Vec<_>>())
}

/// The owner types on the server's stdin; every member gets the line.
pub fn the_owner_speaks_to_everyone(s: &mut Session) -> Result<()> {
    let mut server = s.server(&[])?;
    let at = server.addr();
    let members = room(s, at, &["alice", "bob"])?;
    s.say("The owner (群主) types a line into the server's terminal.");
    let line = "大家好, the room closes at 22:00";
    server.send_line(line)?;
    for member in &members {
        expect_containing(member, at, line.as_bytes())?;
    }
    s.say("One line typed on the server, one datagram per member: the owner's voice is a loop of sendto.");
    Ok(())
}

/// mallory, not a member, speaks as alice; bob, a member, tries to make alice leave. Both get
/// ERR, nothing reaches anyone else, and alice is still in.
pub fn impersonation_is_rejected_and_nothing_is_broadcast(s: &mut Session) -> Result<()> {
    let server = s.server(&[])?;
    let at = server.addr();
    let members = room(s, at, &["alice", "bob"])?;
    let (alice, bob) = (&members[0], &members[1]);
    let mallory = s.udp("mallory")?;
    s.say("mallory never registered. She sends a message in alice's name.");
    mallory.send_to(at, b"M alice send me your password")?;
    expect_err(&mallory, at, "M alice from an address that is not alice's")?;
    s.say("bob tries the original lesson's attack: Q alice, to throw alice out.");
    bob.send_to(at, b"Q alice")?;
    expect_err(bob, at, "Q alice from bob's address")?;
    s.say("The server checked each datagram's source address against the name: nothing was broadcast.");
    expect_silence(at, &[alice, bob, &mallory])?;
    s.say("alice is still a member: her message reaches bob.");
    alice.send_to(at, b"M alice I am still here")?;
    expect_containing(alice, at, b"I am still here")?;
    expect_containing(bob, at, b"I am still here")?;
    Ok(())
}

/// bob leaves: alice and 张三 are told; what alice says next reaches 张三 and not bob.
pub fn a_leave_notice_reaches_the_others(s: &mut Session) -> Result<()> {
    let server = s.server(&[])?;
    let at = server.addr();
    let members = room(s, at, &["alice", "bob", "张三"])?;
    let (alice, bob, zhang) = (&members[0], &members[1], &members[2]);
    s.say("bob leaves with Q bob.");
    bob.send_to(at, b"Q bob")?;
    expect_containing(alice, at, b"bob")?;
    expect_containing(zhang, at, b"bob")?;
    s.say("alice speaks. bob is no longer a member, so nothing of it reaches him.");
    alice.send_to(at, b"M alice bye bob")?;
    expect_containing(alice, at, b"bye bob")?;
    expect_containing(zhang, at, b"bye bob")?;
    while let Some(bytes) = bob.recv_from(at, QUIET)? {
        if contains(&bytes, b"bye bob") {
            bail!("bob left, but alice's message still reached him: {}", show(&bytes));
        }
    }
    s.say("Nothing reached bob: his address left the member list with his name.");
    Ok(())
}

/// bob's `OK` was lost (this is UDP), so his client asks again: same name, same address. He
/// gets `OK` again and alice hears of him once. A different name from his address is refused.
pub fn a_repeated_registration_is_idempotent(s: &mut Session) -> Result<()> {
    let server = s.server(&[])?;
    let at = server.addr();
    let members = room(s, at, &["alice", "bob"])?;
    let (alice, bob) = (&members[0], &members[1]);
    s.say("bob sends N bob again, as a client does when its OK never came.");
    bob.send_to(at, b"N bob")?;
    bob.expect_datagram_from(at, b"OK")?;
    s.say("The same member, registered once: alice gets no second notice.");
    expect_silence(at, &[alice])?;
    s.say("One address, one name: bob cannot take a second one.");
    bob.send_to(at, b"N robert")?;
    expect_err(bob, at, "N robert from the address already registered as bob")?;
    expect_silence(at, &[alice])
}

/// A stranger and a member send every kind of bad datagram; each gets `ERR`, nobody else hears
/// of any of it, and the room works afterwards.
pub fn bad_input_gets_err_and_the_room_goes_on(s: &mut Session) -> Result<()> {
    let server = s.server(&[])?;
    let at = server.addr();
    let members = room(s, at, &["alice", "bob"])?;
    let (alice, bob) = (&members[0], &members[1]);
    let mallory = s.udp("mallory")?;
    let long_name = format!("N {}", "x".repeat(33));
    let too_long = format!("M bob {}", "y".repeat(1100));
    let bad: [(&UdpPeer, &[u8], &str); 8] = [
        (&mallory, b"", "an empty datagram"),
        (&mallory, b"\xff\xfe not UTF-8", "bytes that are not UTF-8"),
        (&mallory, b"X hello", "an unknown type"),
        (&mallory, b"N ", "an empty name"),
        (&mallory, b"N two words", "a name with a space"),
        (&mallory, long_name.as_bytes(), "a 33-character name"),
        (&mallory, b"N bell\x07", "a name with a control character"),
        (bob, too_long.as_bytes(), "a 1106-byte datagram (over the 1024-byte limit)"),
    ];
    s.say("mallory (a stranger) and bob (a member) send one bad datagram after another.");
    for (peer, datagram, what) in bad {
        peer.send_to(at, datagram)?;
        expect_err(peer, at, what)?;
    }
    s.say("Each got ERR; nothing reached anyone else, and the room still works.");
    expect_silence(at, &[alice, bob, &mallory])?;
    bob.send_to(at, "M bob 我还在".as_bytes())?;
    expect_containing(alice, at, "我还在".as_bytes())?;
    expect_containing(bob, at, "我还在".as_bytes())?;
    Ok(())
}

/// The member list has a bound: at `--max-members 2`, carol is refused until bob leaves.
pub fn a_full_room_refuses_newcomers(s: &mut Session) -> Result<()> {
    let server = s.server(&["--max-members", "2"])?;
    let at = server.addr();
    let members = room(s, at, &["alice", "bob"])?;
    let (alice, bob) = (&members[0], &members[1]);
    let carol = s.udp("carol")?;
    s.say("Two members, the most this server takes. carol knocks.");
    carol.send_to(at, b"N carol")?;
    expect_err(&carol, at, "N carol in a full room")?;
    expect_silence(at, &[alice, bob])?;
    s.say("bob leaves, and there is room again.");
    bob.send_to(at, b"Q bob")?;
    expect_containing(alice, at, b"bob")?;
    carol.send_to(at, b"N carol")?;
    carol.expect_datagram_from(at, b"OK")?;
    expect_containing(alice, at, b"carol")?;
    Ok(())
}

/// The lab's client, typed into: it registers, its line reaches alice, alice's line is
/// printed by it, and end of input sends `Q`.
pub fn the_lab_client_chats_through_the_server(s: &mut Session) -> Result<()> {
    let server = s.server(&[])?;
    let at = server.addr();
    let alice = join(s, at, "alice", "alice")?;
    s.say("The lab's client joins as 张三.");
    // Through a tap, so that a failure shows what reached the client, not only what it printed.
    let tap = s.tap(&server, "张三")?;
    let address = tap.addr().to_string();
    let mut client = s.role("张三", "client", &["--server", &address, "--name", "张三"])?;
    client.expect_line("that it joined", WAIT, |line| line.contains("joined as 张三"))?;
    expect_containing(&alice, at, "张三".as_bytes())?;
    s.say("The user types a line; alice gets it.");
    client.send_line("hello   from the client")?;
    expect_containing(&alice, at, b"hello   from the client")?;
    s.say("alice speaks; the client prints it while its user is not typing anything.");
    alice.send_to(at, "M alice 欢迎, 张三".as_bytes())?;
    expect_containing(&alice, at, "欢迎, 张三".as_bytes())?;
    client.expect_line("alice's message", WAIT, |line| line.contains("欢迎, 张三"))?;
    s.say("End of input (Ctrl-D): the client says Q 张三 and exits with status 0.");
    client.close_stdin();
    expect_containing(&alice, at, "张三".as_bytes())?;
    let status = client.wait_exit(WAIT)?;
    if !status.success() {
        bail!(
            "expected the client to exit 0 at end of input; it {}",
            crate::process::describe_status(status)
        );
    }
    Ok(())
}
