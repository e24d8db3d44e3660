//! The two ways to run a group over one UDP socket, as plain state machines: a datagram (or
//! an owner's console line) goes in, the datagrams to send come out. No sockets here, so every
//! rule of the protocol can be read, and tested, without a network.
//!
//! - [`Relay`] (original lesson 001): remember every address that ever sent a datagram, and pass each
//!   datagram on to all of them.
//! - [`Room`] (original lesson 004): members register a name (`N`), speak (`M`), leave (`Q`), ask who is
//!   here (`W`); each name is bound to the address that registered it.

use std::collections::HashMap;
use std::net::SocketAddr;

/// A group the server can run: it reacts to datagrams and to the owner's console.
pub trait Group {
    /// A datagram of at most the server's size limit arrived from `from`.
    fn receive(&mut self, from: SocketAddr, bytes: &[u8]) -> Outcome;
    /// The owner typed a line on the server's stdin.
    fn console(&mut self, line: &str) -> Outcome;
    /// Everyone a broadcast goes to.
    fn addresses(&self) -> Vec<SocketAddr>;
    /// What the owner's console does, said once when the server starts.
    fn console_help(&self) -> &'static str;
}

/// What one input leads to: datagrams to send, and a line for the server's log.
#[derive(Debug, Default, PartialEq)]
pub struct Outcome {
    pub sends: Vec<Delivery>,
    pub log: Option<Log>,
}

/// One datagram to send, to one address or to the whole group.
#[derive(Debug, PartialEq)]
pub enum Delivery {
    To(SocketAddr, Vec<u8>),
    All(Vec<u8>),
    AllBut(SocketAddr, Vec<u8>),
}

/// A line for the server's log: an event on stdout, a rejection on stderr.
#[derive(Debug, PartialEq)]
pub enum Log {
    Event(String),
    Rejected(String),
}

impl Outcome {
    fn event(log: String, sends: Vec<Delivery>) -> Outcome {
        Outcome { sends, log: Some(Log::Event(log)) }
    }

    /// Refuse a datagram: `ERR <why>` back to its sender, and a line on stderr. Nobody else
    /// hears of it.
    pub fn refuse(from: SocketAddr, why: String) -> Outcome {
        let reply = format!("ERR {why}").into_bytes();
        Outcome { sends: vec![Delivery::To(from, reply)], log: Some(Log::Rejected(format!("{from}: {why}"))) }
    }

    /// Something only the owner sees (the answer to `/who`, a typo).
    fn note(text: String) -> Outcome {
        Outcome { sends: Vec::new(), log: Some(Log::Event(text)) }
    }
}

/// Original lesson 001's group chat: no names, no leaving. Whoever sends a datagram is remembered, and
/// every datagram goes to everyone remembered, sender included.
pub struct Relay {
    known: Vec<SocketAddr>,
    max_members: usize,
}

impl Relay {
    pub fn new(max_members: usize) -> Relay {
        Relay { known: Vec::new(), max_members }
    }
}

impl Group for Relay {
    fn receive(&mut self, from: SocketAddr, bytes: &[u8]) -> Outcome {
        // The whole membership protocol of original lesson 001: "I have heard from you, so you are in".
        // The original lesson keys its dict by port alone (`clients[addr[1]]`), so two machines using the
        // same port overwrite each other; the full address (IP and port) is the identity.
        if !self.known.contains(&from) {
            if self.known.len() >= self.max_members {
                return Outcome::refuse(from, format!("group full: {} addresses", self.max_members));
            }
            self.known.push(from);
        }
        let log = format!("{from} sent {} bytes, relayed to {}", bytes.len(), self.known.len());
        Outcome::event(log, vec![Delivery::All(bytes.to_vec())])
    }

    fn console(&mut self, line: &str) -> Outcome {
        Outcome::event(format!("owner: {line}"), vec![Delivery::All(line.as_bytes().to_vec())])
    }

    fn addresses(&self) -> Vec<SocketAddr> {
        self.known.clone()
    }

    fn console_help(&self) -> &'static str {
        "owner's console: a line you type goes to every address the relay has heard from"
    }
}

/// Original lesson 004's chat room, with each name bound to the address that registered it.
pub struct Room {
    /// name → address, and the reverse, kept in step: a name has one address, an address one
    /// name.
    by_name: HashMap<String, SocketAddr>,
    by_addr: HashMap<SocketAddr, String>,
    max_members: usize,
}

/// The longest name, in characters (张三 is 2).
pub const MAX_NAME_CHARS: usize = 32;

/// How much of the member list one `W` answer carries, so that it fits one datagram.
const WHO_BYTES: usize = 900;

impl Room {
    pub fn new(max_members: usize) -> Room {
        Room { by_name: HashMap::new(), by_addr: HashMap::new(), max_members }
    }

    /// `N <name>`: register, or repeat a registration whose `OK` was lost.
    fn register(&mut self, from: SocketAddr, name: &str) -> Outcome {
        if let Some(mine) = self.by_addr.get(&from) {
            // UDP loses datagrams, our `OK` among them, and the client then asks again. The same
            // name from the same address is that retry: answer `OK` again, tell nobody.
            if mine == name {
                return Outcome::event(format!("{name} registered again"), vec![ok(from)]);
            }
            return Outcome::refuse(from, format!("this address is already {mine}; send Q {mine} first"));
        }
        if let Err(why) = check_name(name) {
            return Outcome::refuse(from, why);
        }
        if self.by_name.contains_key(name) {
            return Outcome::refuse(from, format!("the name {name} is taken"));
        }
        if self.by_name.len() >= self.max_members {
            return Outcome::refuse(from, format!("the room is full ({} members)", self.max_members));
        }
        self.by_name.insert(name.to_string(), from);
        self.by_addr.insert(from, name.to_string());
        // The newcomer gets exactly `OK` (original lesson 004's client compares the whole reply with it);
        // the others learn who came. The newcomer is already on the member list, so the notice
        // goes to everyone but them: as in the original lesson, nobody is told of their own arrival.
        let notice = format!("* {name} joined").into_bytes();
        let log = format!("{name} joined from {from} ({})", members(self.by_name.len()));
        Outcome::event(log, vec![ok(from), Delivery::AllBut(from, notice)])
    }

    /// `M <name> <text>` and `Q <name>` are accepted only from the address that registered
    /// `name`. On a LAN this stops the original lesson's attack (anyone could send `Q alice` and throw
    /// alice out). It does not stop someone who can forge source addresses: UDP has no
    /// handshake, so nothing proves that a datagram came from the address it carries.
    fn check_sender(&self, from: SocketAddr, name: &str) -> Result<(), String> {
        match self.by_addr.get(&from) {
            None => Err("this address has not registered: send N <name> first".to_string()),
            // `name` is whatever the datagram said: shown escaped, on stderr and in the ERR.
            Some(mine) if mine != name => {
                Err(format!("this address is {mine}, not {}", lab_common::as_text(name.as_bytes())))
            }
            Some(_) => Ok(()),
        }
    }

    fn speak(&mut self, from: SocketAddr, name: &str, text: &str) -> Outcome {
        if let Err(why) = self.check_sender(from, name) {
            return Outcome::refuse(from, why);
        }
        // The text goes out as it came, every space kept (original lesson 004 split the datagram on
        // spaces and joined the words back without them). The sender gets a copy too: it is
        // the sender's proof that the message went round. The owner's log shows it escaped:
        // an ESC in it is the start of a terminal command (clear the screen, retitle the
        // window), and a member's bytes must not command the owner's terminal.
        let line = format!("{name}: {text}");
        let log = format!("{name}: {}", lab_common::as_text(text.as_bytes()));
        Outcome::event(log, vec![Delivery::All(line.into_bytes())])
    }

    fn leave(&mut self, from: SocketAddr, name: &str) -> Outcome {
        if let Err(why) = self.check_sender(from, name) {
            return Outcome::refuse(from, why);
        }
        self.remove(name);
        let log = format!("{name} left ({})", members(self.by_name.len()));
        Outcome::event(log, vec![Delivery::All(format!("* {name} left").into_bytes())])
    }

    fn who(&self, from: SocketAddr) -> Outcome {
        let list = self.list(WHO_BYTES);
        Outcome { sends: vec![Delivery::To(from, list.into_bytes())], log: None }
    }

    /// "3 members: alice, bob, 张三", cut after about `max_bytes` with how many more there are.
    fn list(&self, max_bytes: usize) -> String {
        let mut names: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
        names.sort();
        let mut text = format!("{}:", members(names.len()));
        for (shown, name) in names.iter().enumerate() {
            if text.len() + name.len() > max_bytes {
                text.push_str(&format!(" … and {} more", names.len() - shown));
                break;
            }
            text.push_str(if shown == 0 { " " } else { ", " });
            text.push_str(name);
        }
        text
    }

    fn kick(&mut self, name: &str) -> Outcome {
        let Some(&addr) = self.by_name.get(name) else {
            return Outcome::note(format!("nobody here is called {name}; /who lists the members"));
        };
        self.remove(name);
        let told = format!("* you were removed by the owner ({name})").into_bytes();
        let notice = format!("* {name} was removed by the owner").into_bytes();
        let log = format!("the owner removed {name} ({})", members(self.by_name.len()));
        Outcome::event(log, vec![Delivery::To(addr, told), Delivery::All(notice)])
    }

    fn remove(&mut self, name: &str) {
        if let Some(addr) = self.by_name.remove(name) {
            self.by_addr.remove(&addr);
        }
    }
}

impl Group for Room {
    fn console_help(&self) -> &'static str {
        "owner's console: a line you type goes to every member; /who lists them, /kick NAME removes one"
    }

    fn receive(&mut self, from: SocketAddr, bytes: &[u8]) -> Outcome {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return Outcome::refuse(from, "not UTF-8 text".to_string());
        };
        match parse(without_line_ending(text)) {
            Ok(Request::Name(name)) => self.register(from, name),
            Ok(Request::Message(name, text)) => self.speak(from, name, text),
            Ok(Request::Quit(name)) => self.leave(from, name),
            Ok(Request::Who) => self.who(from),
            Err(why) => Outcome::refuse(from, why),
        }
    }

    fn console(&mut self, line: &str) -> Outcome {
        if line == "/who" {
            return Outcome::note(self.list(usize::MAX));
        }
        if let Some(name) = line.strip_prefix("/kick ") {
            return self.kick(name.trim());
        }
        if line.starts_with('/') {
            return Outcome::note("owner commands: /who, /kick NAME; any other line goes to everyone".into());
        }
        let said = format!("[owner] {line}");
        Outcome::event(said.clone(), vec![Delivery::All(said.into_bytes())])
    }

    fn addresses(&self) -> Vec<SocketAddr> {
        self.by_addr.keys().copied().collect()
    }
}

/// One datagram of the room protocol, read.
#[derive(Debug, PartialEq)]
enum Request<'a> {
    Name(&'a str),
    Message(&'a str, &'a str),
    Quit(&'a str),
    Who,
}

/// A datagram typed into netcat or socat ends with the Enter that sent it. One line ending,
/// `\n` or `\r\n`, is taken as the end of the message, not part of it; the replies stay
/// exact (`OK`, no newline), since original lesson 004's client compares `OK` byte for byte.
fn without_line_ending(text: &str) -> &str {
    text.strip_suffix("\r\n").or_else(|| text.strip_suffix('\n')).unwrap_or(text)
}

/// Read a datagram: a type letter, a space, then the arguments. For `M` the text is
/// everything after the name's space, byte for byte.
fn parse(text: &str) -> Result<Request<'_>, String> {
    let (kind, rest) = text.split_once(' ').unwrap_or((text, ""));
    match kind {
        "N" => Ok(Request::Name(rest)),
        "M" => match rest.split_once(' ') {
            Some((name, text)) => Ok(Request::Message(name, text)),
            None => Err("M needs a name and a text: M <name> <text>".to_string()),
        },
        "Q" => Ok(Request::Quit(rest)),
        "W" => Ok(Request::Who),
        "" if text.is_empty() => Err("empty datagram: expected N, M, Q or W".to_string()),
        _ => {
            Err(format!("unknown type {:?}: expected N, M, Q or W", kind.chars().take(8).collect::<String>()))
        }
    }
}

/// A name is 1 to 32 characters, none of them white space, control or format characters.
fn check_name(name: &str) -> Result<(), String> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(format!("a name is 1 to {MAX_NAME_CHARS} characters; this one has {chars}"));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a name has no spaces or control characters".to_string());
    }
    if let Some(c) = name.chars().find(|&c| lab_common::is_format(c)) {
        return Err(format!(
            "a name has no invisible format characters (this one has U+{:04X}): they make one name \
             look like another",
            c as u32
        ));
    }
    Ok(())
}

/// "1 member", "3 members".
fn members(count: usize) -> String {
    if count == 1 { "1 member".to_string() } else { format!("{count} members") }
}

fn ok(to: SocketAddr) -> Delivery {
    Delivery::To(to, b"OK".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn sends(room: &mut Room, from: u16, datagram: &str) -> Vec<Delivery> {
        room.receive(addr(from), datagram.as_bytes()).sends
    }

    fn refused(sends: &[Delivery], port: u16) -> bool {
        matches!(sends, [Delivery::To(to, reply)] if *to == addr(port) && reply.starts_with(b"ERR "))
    }

    #[test]
    fn the_text_is_everything_after_the_name() {
        assert_eq!(parse("M 张三 a  b   c "), Ok(Request::Message("张三", "a  b   c ")));
        assert_eq!(parse("M alice "), Ok(Request::Message("alice", "")));
        assert!(parse("M alice").is_err());
        assert_eq!(parse("N bob"), Ok(Request::Name("bob")));
        assert!(parse("").is_err());
        assert!(parse("X hi").is_err());
    }

    #[test]
    fn names_are_short_and_have_no_spaces() {
        assert!(check_name("张三").is_ok());
        assert!(check_name(&"x".repeat(32)).is_ok());
        assert!(check_name(&"x".repeat(33)).is_err());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("a\tb").is_err());
        assert!(check_name("a\u{7}").is_err());
    }

    #[test]
    fn names_that_would_look_like_another_are_refused() {
        for name in ["\u{202e}ecila", "ali\u{200b}ce", "\u{feff}alice", "bob\u{2066}", "x\u{e0041}"] {
            let why = check_name(name).unwrap_err();
            assert!(why.contains("invisible format characters"), "{name:?}: {why}");
        }
        assert!(check_name("\u{202e}ecila").unwrap_err().contains("U+202E"));
        // Letters, marks and emoji are not format characters.
        assert!(check_name("José").is_ok());
        assert!(check_name("🙂").is_ok());
    }

    #[test]
    fn one_line_ending_ends_a_datagram() {
        assert_eq!(without_line_ending("N netcat\n"), "N netcat");
        assert_eq!(without_line_ending("W\r\n"), "W");
        assert_eq!(without_line_ending("M a hi\n\n"), "M a hi\n");
        assert_eq!(without_line_ending("W"), "W");
    }

    #[test]
    fn the_owners_log_shows_a_members_escapes_escaped() {
        let mut room = Room::new(10);
        sends(&mut room, 1, "N mallory");
        let outcome = room.receive(addr(1), b"M mallory \x1b[2Jhi");
        assert_eq!(outcome.sends, vec![Delivery::All(b"mallory: \x1b[2Jhi".to_vec())]);
        let Some(Log::Event(log)) = outcome.log else { panic!("no log line") };
        assert!(!log.contains('\x1b'), "{log:?}");
    }

    #[test]
    fn a_registration_binds_the_name_to_the_address() {
        let mut room = Room::new(10);
        assert_eq!(
            sends(&mut room, 1, "N alice"),
            vec![ok(addr(1)), Delivery::AllBut(addr(1), b"* alice joined".to_vec())]
        );
        assert!(refused(&sends(&mut room, 2, "N alice"), 2));
        assert!(refused(&sends(&mut room, 2, "M alice hi"), 2));
        assert!(refused(&sends(&mut room, 2, "Q alice"), 2));
        assert_eq!(sends(&mut room, 1, "N alice"), vec![ok(addr(1))]);
        assert!(refused(&sends(&mut room, 1, "N alice2"), 1));
        assert_eq!(
            sends(&mut room, 1, "M alice hi  there"),
            vec![Delivery::All(b"alice: hi  there".to_vec())]
        );
    }

    #[test]
    fn a_full_room_refuses_and_a_leave_makes_space() {
        let mut room = Room::new(1);
        sends(&mut room, 1, "N alice");
        assert!(refused(&sends(&mut room, 2, "N bob"), 2));
        assert_eq!(sends(&mut room, 1, "Q alice"), vec![Delivery::All(b"* alice left".to_vec())]);
        assert_eq!(sends(&mut room, 2, "N bob")[0], ok(addr(2)));
    }

    #[test]
    fn the_member_list_fits_one_datagram() {
        let mut room = Room::new(1000);
        for port in 1..=1000 {
            sends(&mut room, port, &format!("N {}", "x".repeat(28) + &port.to_string()));
        }
        let list = room.list(WHO_BYTES);
        assert!(list.len() < 1024, "{}", list.len());
        assert!(list.starts_with("1000 members: ") && list.contains("more"), "{list}");
    }

    #[test]
    fn the_owner_can_remove_a_member() {
        let mut room = Room::new(10);
        sends(&mut room, 1, "N alice");
        let outcome = room.console("/kick alice");
        assert_eq!(outcome.sends.len(), 2);
        assert!(room.addresses().is_empty());
        assert!(refused(&sends(&mut room, 1, "M alice hi"), 1));
    }

    #[test]
    fn the_relay_remembers_every_sender_up_to_its_bound() {
        let mut relay = Relay::new(2);
        relay.receive(addr(1), b"hello");
        relay.receive(addr(2), b"hi");
        relay.receive(addr(1), b"again");
        assert_eq!(relay.addresses(), vec![addr(1), addr(2)]);
        let outcome = relay.receive(addr(3), b"me too");
        assert!(matches!(&outcome.sends[..], [Delivery::To(to, _)] if *to == addr(3)));
    }
}
