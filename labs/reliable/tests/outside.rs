//! From outside the project: `send` and `recv` deliver 200 lines exactly once and in order
//! through a lossy relay that is not the lab's own (tests/fixtures/relay.py, written apart,
//! with Python's random generator), and `ping` through it reports the loss the relay caused;
//! `ping` against the textbook's pinger server (tests/fixtures/pinger_server.py: it upper-cases
//! every ping and drops about 4 in 11) counts every reply, each shown as not an exact echo.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Result, bail};
use harness::process::{Program, Role};
use harness::transcript::Transcript;
use harness::{READY_WAIT, WAIT};

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_reliable"))
}

fn reliable(who: &str, args: &[&str], transcript: &Transcript) -> Result<Role> {
    let args = args.iter().map(|a| a.to_string()).collect();
    Role::spawn(who, Program::Exec { path: binary(), args }, transcript)
}

/// A Python fixture from tests/fixtures/, started with `args`, ready, and where it listens.
fn python(who: &str, script: &str, args: &[&str], transcript: &Transcript) -> Result<(Role, String)> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(script);
    let mut argv = vec![script.display().to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let mut role = Role::spawn(who, Program::Exec { path: "python3".into(), args: argv }, transcript)?;
    let ready = role.wait_ready(READY_WAIT)?;
    Ok((role, ready.addr.to_string()))
}

/// The relay, started in front of `to` with `chances` (`--loss 0.1 ...`), ready, and where it
/// listens.
fn relay(to: &str, chances: &[&str], transcript: &Transcript) -> Result<(Role, String)> {
    let mut args = vec!["--to", to];
    args.extend(chances);
    python("relay", "relay.py", &args, transcript)
}

/// Run `check`; on failure, panic with the transcript.
fn holds(check: impl FnOnce(&Transcript) -> Result<()>) {
    let transcript = Transcript::new();
    if let Err(error) = check(&transcript) {
        panic!("{error:#}\n\ntranscript:\n{}", transcript.render());
    }
}

/// 200 lines from `send` with `window`, through the relay (loss, copies, reordering and
/// corruption each way), reach `recv`'s stdout exactly once and in order, and the sender exits 0.
fn two_hundred_lines_through_the_relay(window: &str) {
    holds(|transcript| {
        let mut receiver = reliable("receiver", &["recv", "--port", "0"], transcript)?;
        let ready = receiver.wait_ready(READY_WAIT)?;
        let chances =
            ["--loss", "0.05", "--dup", "0.03", "--reorder", "0.03", "--corrupt", "0.03", "--seed", "3"];
        let (_relay, to) = relay(&ready.addr.to_string(), &chances, transcript)?;
        let args = ["send", "--to", &to, "--window", window, "--timeout", "10", "--retries", "200"];
        let mut sender = reliable("sender", &args, transcript)?;
        let lines: Vec<String> = (1..=200).map(|n| format!("line {n} of 200, 第{n}行")).collect();
        let _quiet = transcript.hush();
        for line in &lines {
            sender.send_line(line)?;
        }
        sender.close_stdin();
        let status = sender.wait_exit(WAIT * 4)?;
        if !status.success() {
            bail!("the sender ended with {status}");
        }
        for line in &lines {
            let got = receiver.expect_line(line, WAIT, |_| true)?;
            if &got != line {
                bail!("the receiver printed {got:?} where {line:?} was next");
            }
        }
        receiver.expect_no_line("anything more", harness::QUIET, |_| true)?;
        Ok(())
    });
}

#[test]
fn stop_and_wait_delivers_200_lines_once_in_order_through_a_foreign_relay() {
    two_hundred_lines_through_the_relay("1");
}

#[test]
fn go_back_n_delivers_200_lines_once_in_order_through_a_foreign_relay() {
    two_hundred_lines_through_the_relay("16");
}

/// The pinger, through the relay (20% loss each way, 8 pings) to `recv`, says "timed out" for
/// every ping whose ping or echo the relay dropped, and for no other unless its echo came late
/// (a busy machine); its summary counts them all.
#[test]
fn ping_reports_the_loss_a_foreign_relay_caused() {
    holds(|transcript| {
        let mut receiver = reliable("receiver", &["recv", "--port", "0"], transcript)?;
        let ready = receiver.wait_ready(READY_WAIT)?;
        let (mut relay, to) = relay(&ready.addr.to_string(), &["--loss", "0.2", "--seed", "5"], transcript)?;
        let mut pinger =
            reliable("pinger", &["ping", "--server", &to, "--count", "8", "--timeout", "200"], transcript)?;
        let mut timed_out = BTreeSet::new();
        for number in 1..=8 {
            let ping = format!("ping {number}");
            let said = pinger.expect_line(&ping, WAIT, |line| line.contains(&format!("{ping}:")))?;
            if said.contains("timed out") {
                timed_out.insert(ping);
            }
        }
        let summary = pinger.expect_line("the summary", WAIT, |line| line.starts_with("---"))?;
        pinger.wait_exit(WAIT)?;
        // `dropped there b'ping 3 5f1c9e0a'`, `dropped back b'ping 3 5f1c9e0a'`, `sent back b'ping 4 …'`.
        let (mut dropped, mut echoed) = (BTreeSet::new(), BTreeSet::new());
        while let Ok(line) = relay.expect_line("the relay's report", harness::QUIET, |_| true) {
            if line.starts_with("dropped") {
                dropped.extend(ping_named(&line));
            } else if line.starts_with("sent back") {
                echoed.extend(ping_named(&line));
            }
        }
        if dropped.is_empty() {
            bail!("the relay dropped nothing: the test shows nothing (pick another seed)");
        }
        if let Some(missed) = dropped.difference(&timed_out).next() {
            bail!("the relay dropped {missed} (or its echo), but the pinger did not count it lost");
        }
        for late in timed_out.difference(&dropped) {
            if !echoed.contains(late) {
                bail!("{late} timed out, but the relay neither dropped it nor sent its echo back");
            }
        }
        if !summary.contains(&format!("{} lost", timed_out.len())) {
            bail!("the pinger timed out {} pings ({timed_out:?}), but says {summary:?}", timed_out.len());
        }
        Ok(())
    });
}

/// `ping 3` from a fixture's report line (`dropped there b'ping 3 5f1c9e0a'`).
fn ping_named(line: &str) -> Option<String> {
    let words: Vec<&str> = line.split(['\'', ' ']).collect();
    let at = words.iter().position(|w| w.ends_with("ping"))?;
    Some(format!("ping {}", words.get(at + 1)?))
}

/// Against the textbook's pinger server (upper-cases, drops `randint(0, 10) < 4`; seed 1 drops
/// pings 1, 3, 5 and 11 of 11), the pinger says "timed out" for every ping the server dropped
/// and "not an exact echo" for every other (or "timed out", if its reply came late on a busy
/// machine); its summary counts both. With `--ahead` the server also sends, after each reply, a
/// guess at the next one, which is waiting before that ping is sent: it must never be counted.
fn ping_against_the_textbook_server(ahead: bool) {
    holds(|transcript| {
        let args: &[&str] = if ahead { &["--seed", "1", "--ahead"] } else { &["--seed", "1"] };
        let (mut server, to) = python("server", "pinger_server.py", args, transcript)?;
        let mut pinger =
            reliable("pinger", &["ping", "--server", &to, "--count", "11", "--timeout", "300"], transcript)?;
        let (mut timed_out, mut replied) = (BTreeSet::new(), BTreeSet::new());
        for number in 1..=11 {
            let ping = format!("ping {number}");
            let said = pinger.expect_line(&ping, WAIT, |line| line.contains(&format!("{ping}:")))?;
            if said.contains("timed out") {
                timed_out.insert(ping);
            } else if said.contains("not an exact echo: \"PING ") {
                replied.insert(ping);
            } else {
                bail!("the pinger said {said:?}: neither a timeout nor an upper-cased reply");
            }
        }
        let summary = pinger.expect_line("the summary", WAIT, |line| line.starts_with("---"))?;
        pinger.wait_exit(WAIT)?;
        let mut dropped = BTreeSet::new();
        while let Ok(line) = server.expect_line("the server's report", harness::QUIET, |_| true) {
            if line.starts_with("dropped") {
                dropped.extend(ping_named(&line));
            }
        }
        let expected: BTreeSet<String> = [1, 3, 5, 11].map(|n| format!("ping {n}")).into();
        if dropped != expected {
            bail!("the server dropped {dropped:?}, not {expected:?}: did Python's random generator change?");
        }
        if let Some(counted) = dropped.intersection(&replied).next() {
            bail!("the server dropped {counted}, but the pinger counted a reply to it");
        }
        let lost = format!("{} lost", timed_out.len());
        let altered = format!("{} of the replies not an exact echo", replied.len());
        if !summary.contains(&lost) || !summary.contains(&altered) {
            bail!("the pinger says {summary:?}, but printed {lost} and {altered}");
        }
        Ok(())
    });
}

#[test]
fn ping_counts_the_upper_cased_replies_of_the_textbook_server() {
    ping_against_the_textbook_server(false);
}

#[test]
fn ping_never_counts_a_reply_that_was_there_before_its_ping() {
    ping_against_the_textbook_server(true);
}
