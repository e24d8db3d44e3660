//! From outside the project: `send` and `recv` deliver 200 lines exactly once and in order
//! through a lossy relay that is not the lab's own (tests/fixtures/relay.py, written apart,
//! with Python's random generator), and `ping` through it reports the loss the relay caused.

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

/// The pinger, through the relay (20% loss each way, 8 pings) to `recv`, says "timed out" for as many
/// pings as the relay dropped a ping or an echo of, and its summary says that many lost.
#[test]
fn ping_reports_the_loss_a_foreign_relay_caused() {
    holds(|transcript| {
        let mut receiver = reliable("receiver", &["recv", "--port", "0"], transcript)?;
        let ready = receiver.wait_ready(READY_WAIT)?;
        let (mut relay, to) = relay(&ready.addr.to_string(), &["--loss", "0.2", "--seed", "5"], transcript)?;
        let mut pinger =
            reliable("pinger", &["ping", "--server", &to, "--count", "8", "--timeout", "200"], transcript)?;
        let summary = pinger.expect_line("the summary", WAIT * 2, |line| line.starts_with("---"))?;
        pinger.wait_exit(WAIT)?;
        let mut dropped = std::collections::BTreeSet::new();
        while let Ok(line) = relay.expect_line("a drop", harness::QUIET, |line| line.starts_with("dropped")) {
            // `dropped there b'ping 3'`, `dropped back b'ping 3'`: one lost ping either way.
            let ping = line.split(' ').skip(2).collect::<Vec<_>>().join(" ");
            dropped.insert(ping);
        }
        if dropped.is_empty() {
            bail!("the relay dropped nothing: the test shows nothing (pick another seed)");
        }
        if !summary.contains(&format!("{} lost", dropped.len())) {
            bail!(
                "the relay dropped {} pings or echoes ({dropped:?}); the pinger says {summary:?}",
                dropped.len()
            );
        }
        Ok(())
    });
}
