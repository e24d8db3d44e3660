//! The checker against a hostile student server: what it prints reaches the report escaped,
//! and a flood of lines or bytes costs the checker a bounded amount of memory, said in the
//! transcript with how much was not recorded.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::thread;

use harness::process::{LINE_COST, Program, Role, STRANGER_OUTPUT_CAP, Spawn, quote};
use harness::tap::{TAP_BYTES, Tap};
use harness::transcript::{Event, Proto, Transcript};
use harness::{Target, WAIT};

/// Every character of `text` a terminal would act on, or that hides or reorders text, except
/// the newlines between the report's own lines.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars().filter(|&c| c != '\n' && lab_common::needs_escape(c)).collect()
}

/// A server that prints escape sequences, a C1 CSI, U+202E and a carriage return on stdout and
/// stderr, then crashes: the failure report (its transcript and its crash heading, which
/// quotes the last lines on stderr) holds none of them raw, and shows each escaped.
#[test]
fn a_hostile_servers_output_reaches_the_report_escaped() {
    let lab = &harness::labs::udp_echo::LAB;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile_server.py");
    let command =
        format!("{} {} {{port}}", quote(harness::session::python3()), quote(&script.to_string_lossy()));
    // The reference binary is never started: the server crashes before any client role.
    let target = Target::command(lab, "udp-echo", &command);
    let report = harness::testing::expect_failure(&lab.scenarios[0], &target).unwrap();
    assert_eq!(raw_controls(&report), Vec::<char>::new(), "{report}");
    assert!(report.contains("\n      stderr> \"err \\u{1b}]0;owned\\u{7}"), "{report}");
    for escaped in [r"\u{1b}[2J", r"\u{1b}[6n", r"\u{9b}31m", r"\u{202e}evil\rforged", r#""bytes \xff\xfe""#]
    {
        assert!(report.contains(escaped), "{escaped} is not in the report:\n{report}");
    }
}

/// A shell command that prints `n` empty lines on stdout and on stderr.
fn empty_lines(n: usize) -> Program {
    Program::Shell(format!("yes '' | head -n {n}; yes '' | head -n {n} >&2"))
}

/// Start `program` as a stranger's server (its output capped as `check` caps it) and wait
/// until it has ended and all its output is recorded.
fn run_to_the_end(program: Program, transcript: &Transcript) -> Role {
    let mut role = Spawn::new("server", program).output_cap(STRANGER_OUTPUT_CAP).start(transcript).unwrap();
    assert!(role.wait_exit(WAIT * 6).unwrap().success());
    // Recording anything reads every pipe to its end first.
    transcript.say("ended");
    role
}

/// 1,000,000 empty lines on each stream (1 MB, under the byte cap): only the first
/// STRANGER_OUTPUT_CAP / LINE_COST (16,384) of each are recorded, and one line says how many
/// more were read and not recorded.
#[test]
fn a_flood_of_empty_lines_is_recorded_up_to_a_line_cap() {
    let transcript = Transcript::new();
    let _role = run_to_the_end(empty_lines(1_000_000), &transcript);
    let cap = STRANGER_OUTPUT_CAP / LINE_COST;
    for stream in ["stdout", "stderr"] {
        let lines: Vec<String> = transcript
            .events()
            .into_iter()
            .filter_map(|(_, event)| match (event, stream) {
                (Event::Stdout { line, .. }, "stdout") | (Event::Stderr { line, .. }, "stderr") => Some(line),
                _ => None,
            })
            .collect();
        assert_eq!(lines.len(), cap + 1, "{stream}: {:?}", lines.last());
        let dropped = 1_000_000 - cap;
        let note = format!(
            "(output cut: more than {cap} lines; {dropped} more lines ({dropped} bytes) were read and not recorded)"
        );
        assert_eq!(lines.last(), Some(&note), "{stream}");
    }
}

/// A server that answers a connection with bytes and no newline for as long as it is read.
fn endless_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else { return };
        let chunk = vec![b'x'; 64 * 1024];
        while stream.write_all(&chunk).is_ok() {}
    });
    addr
}

/// Read `bytes` through a tap in front of an endless server, then close.
fn read_through_a_tap(bytes: usize, transcript: &Transcript) {
    let tap = Tap::start(Proto::Tcp, endless_server(), "client", transcript).unwrap();
    let mut client = TcpStream::connect(tap.addr()).unwrap();
    client.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = vec![0; 64 * 1024];
    let mut read = 0;
    while read < bytes {
        read += client.read(&mut buf).unwrap();
    }
}

/// 16 MB through a tap: every byte is passed on, at most TAP_BYTES are recorded, and a note
/// says how many more reads were passed on and not recorded.
#[test]
fn a_tap_records_an_endless_answer_up_to_its_cap() {
    let transcript = Transcript::new();
    read_through_a_tap(16 * 1024 * 1024, &transcript);
    let events = transcript.events();
    let recorded: usize = events
        .iter()
        .map(|(_, event)| match event {
            Event::Wire { bytes, .. } => bytes.len(),
            _ => 0,
        })
        .sum();
    assert!(recorded <= TAP_BYTES, "{recorded} bytes recorded");
    let note = events.iter().find_map(|(_, event)| match event {
        Event::Conn { what, .. } if what.starts_with("(tap: past") => Some(what.clone()),
        _ => None,
    });
    let note = note.expect("a note on what the tap did not record");
    assert!(note.contains("more reads") && note.contains("passed on and not recorded"), "{note}");
}

/// The largest this process has been, from /proc: read once the work is done, nothing timed.
fn peak_memory_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|line| line.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Set in the copy of this test binary that [`flooding_costs_the_checker_little_memory`]
/// starts, so that its peak memory is the flood's alone and no other test's.
const CHILD: &str = "HARNESS_MEMORY_CHILD";

/// The checker's memory, flooded as the hostile battery floods it: 1,000,000 empty lines on
/// each of a server's streams (which once cost about 100 bytes each) and 64 MB through a
/// tap (which once kept all of it). Measured in a copy of this binary that does only that: its
/// peak (VmHWM) stays under 64 MB.
#[cfg(target_os = "linux")]
#[test]
fn flooding_costs_the_checker_little_memory() {
    if std::env::var_os(CHILD).is_some() {
        let transcript = Transcript::new();
        let _role = run_to_the_end(empty_lines(1_000_000), &transcript);
        read_through_a_tap(64 * 1024 * 1024, &transcript);
        println!("\npeak {} kB", peak_memory_kb());
        return;
    }
    let me = std::env::current_exe().unwrap();
    let command = format!(
        "env {CHILD}=1 {} flooding_costs_the_checker_little_memory --exact --nocapture --test-threads=1",
        quote(&me.to_string_lossy())
    );
    let transcript = Transcript::new();
    let mut child = Role::spawn("flood", Program::Shell(command), &transcript).unwrap();
    let line = child
        .expect_line("its peak memory", WAIT * 6, |line| line.starts_with("peak "))
        .unwrap_or_else(|error| panic!("{error:#}\n{}", transcript.render()));
    let peak: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(peak < 64 * 1024, "the flood took the checker to {peak} kB");
}
