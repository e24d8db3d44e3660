//! The process wrapper keeps its promises: whatever a role started dies with it, also when the
//! test that started it panics; a listening role's first line must be its ready line; and a
//! wait that fails says what it was waiting for.

use std::panic;
use std::time::Duration;

use harness::process::{Program, Role};
use harness::transcript::{Event, Transcript};

/// A shell that starts a long-running grandchild and prints its process id.
fn shell_with_grandchild(transcript: &Transcript) -> (Role, u32) {
    let program = Program::Shell("sleep 300 & echo $!; wait".into());
    let mut role = Role::spawn("sh", program, transcript).unwrap();
    let line = role.expect_line("the grandchild's pid", harness::WAIT, |_| true).unwrap();
    (role, line.trim().parse().unwrap())
}

/// Gone, or a zombie waiting for its new parent to reap it: either way, no longer running.
fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

fn wait_until_gone(pid: u32) -> bool {
    // Nothing announces a process's end to a stranger: look again, until the deadline.
    harness::wait::until(harness::WAIT, || (!is_running(pid)).then_some(())).is_some()
}

/// Dropping a role kills its whole process group: the shell and the `sleep` it started.
#[cfg(target_os = "linux")]
#[test]
fn dropping_a_role_kills_everything_its_command_started() {
    let transcript = Transcript::new();
    let (role, grandchild) = shell_with_grandchild(&transcript);
    assert!(is_running(grandchild));
    drop(role);
    assert!(wait_until_gone(grandchild), "the grandchild {grandchild} outlived its role");
}

/// A test that panics mid-scenario still leaves nothing running behind it.
#[cfg(target_os = "linux")]
#[test]
fn a_panicking_test_still_kills_its_roles() {
    let transcript = Transcript::new();
    let (sender, receiver) = std::sync::mpsc::channel();
    let result = panic::catch_unwind(|| {
        let (_role, grandchild) = shell_with_grandchild(&transcript);
        sender.send(grandchild).unwrap();
        panic!("a scenario failing half way");
    });
    assert!(result.is_err());
    let grandchild = receiver.recv().unwrap();
    assert!(wait_until_gone(grandchild), "the grandchild {grandchild} outlived the panic");
}

/// A listening role that prints anything before its ready line is told what the first line
/// must be.
#[test]
fn the_ready_line_must_come_first() {
    let transcript = Transcript::new();
    let program = Program::Shell("echo hello; echo 'listening on udp://127.0.0.1:9'; sleep 5".into());
    let mut role = Role::spawn("server", program, &transcript).unwrap();
    let error = role.wait_ready(harness::WAIT).unwrap_err().to_string();
    assert!(error.contains("printed \"hello\" first"), "{error}");
    assert!(error.contains("listening on udp://127.0.0.1:8888"), "{error}");
}

/// A role that ends before its ready line: the error says so, and its stderr is in the
/// transcript.
#[test]
fn a_role_that_dies_early_is_reported_with_its_stderr() {
    let transcript = Transcript::new();
    let program = Program::Shell("echo 'error: binding: address in use' >&2; exit 1".into());
    let mut role = Role::spawn("server", program, &transcript).unwrap();
    let error = role.wait_ready(harness::WAIT).unwrap_err().to_string();
    assert!(error.contains("ended (exited with status 1) before printing its ready line"), "{error}");
    assert!(
        transcript.render().contains("server stderr> error: binding: address in use"),
        "{}",
        transcript.render()
    );
}

/// Lines typed into a role and lines it prints are both in the transcript, in order.
#[test]
fn stdin_and_stdout_are_recorded_in_order() {
    let transcript = Transcript::new();
    let mut role = Role::spawn("cat", Program::Shell("cat".into()), &transcript).unwrap();
    role.send_line("张三 says hi").unwrap();
    role.expect_line("the echo", harness::WAIT, |line| line == "张三 says hi").unwrap();
    role.close_stdin();
    assert!(role.wait_exit(harness::WAIT).unwrap().success());
    let text = transcript.render();
    let typed = text.find("cat stdin < \"张三 says hi\"").expect(&text);
    let printed = text.find("cat stdout> 张三 says hi").expect(&text);
    assert!(typed < printed, "{text}");
}

/// Waiting for a line that never comes fails after the deadline, naming what was awaited.
#[test]
fn a_missing_line_is_named_when_the_wait_ends() {
    let transcript = Transcript::new();
    let mut role = Role::spawn("quiet", Program::Shell("sleep 5".into()), &transcript).unwrap();
    let error = role.expect_line("a greeting", Duration::from_millis(100), |_| true).unwrap_err();
    assert_eq!(error.to_string(), "expected quiet to print a greeting within 0.1s; it did not");
}

/// The transcript shows things in the order they happened: a line the program printed before
/// it sent a datagram comes before the datagram, on stdout and on stderr alike, even when the
/// line is long (100 KB) and the datagram arrives at once. (Between a program's own two
/// streams, lines written within moments of each other may be shown either way round: two
/// pipes carry no common order.)
#[test]
fn output_printed_before_a_datagram_is_recorded_before_it() {
    let transcript = Transcript::new();
    let peer = harness::peer::UdpPeer::bind("peer", &transcript).unwrap();
    let port = peer.local_addr().unwrap().port();
    let script = format!(
        "import socket, sys\n\
         print('x' * 100000, flush=True)\n\
         print('then stderr', file=sys.stderr, flush=True)\n\
         socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'sent last', ('127.0.0.1', {port}))\n\
         sys.stdin.read()\n"
    );
    let program = Program::Exec { path: "python3".into(), args: vec!["-c".into(), script] };
    let _role = Role::spawn("program", program, &transcript).unwrap();
    assert!(peer.recv(harness::WAIT).unwrap().is_some(), "no datagram came");
    let events = transcript.events();
    let at = |what: &dyn Fn(&Event) -> bool| {
        events.iter().position(|(_, event)| what(event)).unwrap_or_else(|| panic!("{}", transcript.render()))
    };
    let stdout = at(&|e| matches!(e, Event::Stdout { line, .. } if line.len() == 100_000));
    let stderr = at(&|e| matches!(e, Event::Stderr { line, .. } if line == "then stderr"));
    let wire = at(&|e| matches!(e, Event::Wire { .. }));
    assert!(stdout < wire && stderr < wire, "out of order:\n{}", transcript.render());
}

/// Typing a long line into a program that never reads its stdin fails after the deadline,
/// saying so, instead of waiting for ever on the full pipe.
#[test]
fn a_line_for_a_program_that_does_not_read_gives_up_at_the_deadline() {
    let transcript = Transcript::new();
    let mut role = Role::spawn("server", Program::Shell("sleep 30".into()), &transcript).unwrap();
    let long = "x".repeat(200_000);
    let error = role.send_line_within(&long, Duration::from_millis(300)).unwrap_err();
    assert!(format!("{error:#}").contains("did not read its stdin"), "{error:#}");
}
