//! tcp-vs-udp's own roles as a user meets them: help that teaches, and blast and requests
//! against the lab's server, printing the figures the chapter quotes.

use assert_cmd::cargo::cargo_bin_cmd;
use harness::labs::tcp_vs_udp::LAB;
use harness::{Session, Target, WAIT};
use predicates::prelude::*;

fn target() -> Target {
    Target::reference(&LAB, env!("CARGO_BIN_EXE_tcp-vs-udp"))
}

/// `--help` says what each role demonstrates, not only its flags. Help is wrapped to the
/// terminal's width, so a phrase may break across lines.
#[test]
fn help_says_what_each_role_demonstrates() {
    cargo_bin_cmd!("tcp-vs-udp")
        .args(["server", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"the\s+kernel's\s+count\s+of\s+datagrams\s+it\s+dropped").unwrap())
        .stdout(predicate::str::is_match(r"everyone\s+waits").unwrap());
    cargo_bin_cmd!("tcp-vs-udp")
        .args(["blast", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"nothing\s+holds\s+the\s+sender\s+back").unwrap())
        .stdout(predicate::str::is_match(r"held\s+back").unwrap());
    cargo_bin_cmd!("tcp-vs-udp")
        .args(["requests", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"how\s+many\s+connections\s+the\s+kernel\s+opened").unwrap());
}

/// The word after `name=` on blast's or requests' summary line.
fn field(summary: &str, name: &str) -> u64 {
    let prefix = format!("{name}=");
    summary
        .split_whitespace()
        .find_map(|word| word.strip_prefix(&prefix)?.parse().ok())
        .unwrap_or_else(|| panic!("no {name}= in {summary:?}"))
}

/// blast over UDP into a napping sink: datagrams are lost, and the line it prints from the
/// sink's report puts the kernel's drop count beside the gaps, equal.
#[test]
fn blast_over_udp_prints_the_kernels_drops_beside_the_gaps() {
    harness::testing::assert_holds(&target(), |s: &mut Session| {
        let server = s.server(&["--proto", "udp", "--read-delay", "5", "--rcvbuf", "2048"])?;
        let to = server.addr().to_string();
        let mut blast = s.role("blast", "blast", &["--to", &to, "--count", "300", "--size", "100"])?;
        blast.expect_line("the kernel's count", WAIT, |line| line.contains("the same as its gaps"))?;
        let summary = blast.expect_line("the summary", WAIT, |line| line.starts_with("summary"))?;
        anyhow::ensure!(field(&summary, "gaps") > 0, "nothing was lost: {summary}");
        anyhow::ensure!(field(&summary, "gaps") == field(&summary, "drops"), "{summary}");
        anyhow::ensure!(blast.wait_exit(WAIT)?.success(), "blast failed");
        Ok(())
    });
}

/// blast over TCP into the same napping sink: every record arrives.
#[test]
fn blast_over_tcp_loses_nothing() {
    harness::testing::assert_holds(&target(), |s: &mut Session| {
        let server =
            s.server_on(harness::Proto::Tcp, &["--proto", "tcp", "--read-delay", "5", "--rcvbuf", "2048"])?;
        let to = server.addr().to_string();
        let args = ["--to", &to, "--proto", "tcp", "--count", "300", "--size", "100"];
        let mut blast = s.role("blast", "blast", &args)?;
        blast.expect_line("nothing lost", WAIT, |line| {
            line.contains("301 of 301") && line.contains("nothing lost")
        })?;
        anyhow::ensure!(blast.wait_exit(WAIT)?.success(), "blast failed");
        Ok(())
    });
}

/// requests over UDP: every one answered, and no connection opened.
#[test]
fn requests_over_udp_open_no_connection() {
    harness::testing::assert_holds(&target(), |s: &mut Session| {
        let server = s.server(&[])?;
        let to = server.addr().to_string();
        let mut requests =
            s.role("requests", "requests", &["--to", &to, "--mode", "udp", "--count", "50"])?;
        let summary = requests.expect_line("the summary", WAIT, |line| line.starts_with("summary"))?;
        anyhow::ensure!(
            field(&summary, "answered") == 50 && field(&summary, "connections") == 0,
            "{summary}"
        );
        anyhow::ensure!(requests.wait_exit(WAIT)?.success(), "requests failed");
        Ok(())
    });
}
