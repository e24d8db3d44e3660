//! One lab's role against another lab's server: reliable's pinger, through reliable's lossy
//! link, measures udp-echo's server, as the classic UDP pinger measures any echo server.

use anyhow::{Result, bail};
use harness::process::{Program, Role};
use harness::transcript::Transcript;
use harness::{READY_WAIT, WAIT};

fn role(who: &str, lab: &str, args: &[&str], transcript: &Transcript) -> Result<Role> {
    let path = runner::cargo::binary(lab, lab)?;
    let args = args.iter().map(|a| a.to_string()).collect();
    Role::spawn(who, Program::Exec { path, args }, transcript)
}

/// Through `reliable link --loss 30%` (seed 33: ping 5 there, ping 3's echo back) to
/// `udp-echo server`, six pings: the pinger times out on each ping the link says it dropped,
/// one way or the other, and on no other unless the link passed its echo back late (a busy
/// machine); its summary counts them.
#[test]
fn the_pinger_measures_udp_echo_through_the_link() {
    let transcript = Transcript::new();
    let check = || -> Result<()> {
        let mut echo = role("server", "udp-echo", &["server", "--port", "0"], &transcript)?;
        let echo_addr = echo.wait_ready(READY_WAIT)?.addr.to_string();
        let args = ["link", "--listen", "127.0.0.1:0", "--to", &echo_addr, "--loss", "30%", "--seed", "33"];
        let mut link = role("link", "reliable", &args, &transcript)?;
        let link_addr = link.wait_ready(READY_WAIT)?.addr.to_string();
        let ping = ["ping", "--server", &link_addr, "--count", "6", "--timeout", "300"];
        let mut pinger = role("pinger", "reliable", &ping, &transcript)?;
        let mut timed_out = Vec::new();
        for number in 1..=6 {
            let ping = format!("ping {number}");
            let said =
                pinger.expect_line("a ping's fate", WAIT, |line| line.contains(&format!("{ping}:")))?;
            if said.contains("timed out") {
                timed_out.push(ping);
            }
        }
        let summary = pinger.expect_line("the summary", WAIT, |line| line.starts_with("---"))?;
        // `dropped datagram 5 → 127.0.0.1:PORT: "ping 5"  <<`, `passed datagram 3 ← ... "ping 4"`.
        let (mut dropped, mut echoed) = (Vec::new(), Vec::new());
        while let Ok(line) = link.expect_line("the link's decisions", harness::QUIET, |_| true) {
            let Some(ping) = line.split('"').nth(1).map(str::to_string) else { continue };
            if line.starts_with("dropped") {
                dropped.push(ping);
            } else if line.contains("(a reply)") {
                echoed.push(ping);
            }
        }
        if dropped.is_empty() {
            bail!("the link dropped nothing: the test shows nothing (pick another seed)");
        }
        for ping in &dropped {
            if !timed_out.contains(ping) {
                bail!("the link dropped {ping} (or its echo), but the pinger got a reply");
            }
        }
        for ping in &timed_out {
            if !dropped.contains(ping) && !echoed.contains(ping) {
                bail!("{ping} timed out, but the link neither dropped it nor passed an echo back");
            }
        }
        if !summary.contains(&format!("{} lost", timed_out.len())) {
            bail!("the pinger timed out {timed_out:?}, and says {summary:?}");
        }
        Ok(())
    };
    if let Err(error) = check() {
        panic!("{error:#}\n\ntranscript:\n{}", transcript.render());
    }
}
