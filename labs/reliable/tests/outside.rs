//! From outside the project: `send` and `recv` deliver 200 lines exactly once and in order
//! through a lossy relay that is not the lab's own (tests/fixtures/relay.py, written apart,
//! with Python's random generator), and `ping` through it reports the loss the relay caused.

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

/// The relay, started in front of `to` with `chances` (`--loss 0.1 ...`), ready, and where it
/// listens.
fn relay(to: &str, chances: &[&str], transcript: &Transcript) -> Result<(Role, String)> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/relay.py");
    let mut args = vec![script.display().to_string(), "--to".to_string(), to.to_string()];
    args.extend(chances.iter().map(|a| a.to_string()));
    let mut relay = Role::spawn("relay", Program::Exec { path: "python3".into(), args }, transcript)?;
    let ready = relay.wait_ready(READY_WAIT)?;
    Ok((relay, ready.addr.to_string()))
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
        // `dropped there b'ping 3'`, `dropped back b'ping 3'`, `sent back b'ping 4'`.
        let (mut dropped, mut echoed) = (BTreeSet::new(), BTreeSet::new());
        while let Ok(line) = relay.expect_line("the relay's report", harness::QUIET, |_| true) {
            let ping = line.split(' ').skip(2).collect::<Vec<_>>().join(" ");
            let ping = ping.trim_start_matches("b'").trim_end_matches('\'').to_string();
            if line.starts_with("dropped") {
                dropped.insert(ping);
            } else if line.starts_with("sent back") {
                echoed.insert(ping);
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
