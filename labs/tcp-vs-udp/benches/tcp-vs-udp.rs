//! `cargo bench -p tcp-vs-udp`, or `cargo lab bench tcp-vs-udp`: the lessons' TCP-versus-UDP
//! table with this machine's figures, each measured by the lab's own roles (their `summary`
//! lines), and, when iperf3 is installed, iperf3's figures for the same loads on the same
//! loopback in the same run. Nothing is asserted: the figures depend on the machine.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use harness::process::Role;
use harness::transcript::{Proto, Transcript};
use harness::{Session, Target};

fn main() -> ExitCode {
    match bench(Path::new(env!("CARGO_BIN_EXE_tcp-vs-udp"))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Bytes for the TCP bitrate, ours and iperf3's, in each of [`ROUNDS`] rounds.
const TCP_BYTES: u64 = 2 * 1024 * 1024 * 1024;
const ROUNDS: usize = 3;
/// UDP at a fixed rate: iperf3's -b, -l and the datagram count.
const UDP_RATE: &str = "1G";
const UDP_SIZE: u64 = 1400;
const UDP_COUNT: u64 = 100_000;
/// Requests per mode.
const REQUESTS: u64 = 5000;

fn bench(binary: &Path) -> Result<()> {
    harness::out!("tcp-vs-udp benchmark: the lessons' table on this machine (loopback, release build)\n");

    harness::out!("1. A receiver slower than its sender (the sink naps 1 ms before each read)");
    let napping = ["--read-delay", "1"];
    let udp = blast(binary, Proto::Udp, &napping, &["--count", "20000", "--size", "1400"])?;
    harness::out!(
        "   UDP  sent {} datagrams in {:.3} s, never held back; lost {}/{} ({:.1}%); the kernel dropped {} (SO_RXQ_OVFL), gaps {}",
        udp["sent"],
        udp["seconds"],
        udp["lost"],
        udp["total"],
        100.0 * udp["lost"] / udp["total"],
        udp["drops"],
        udp["gaps"]
    );
    let tcp = blast(binary, Proto::Tcp, &napping, &["--bytes", "100M"])?;
    harness::out!(
        "   TCP  sent {:.0} MB in {:.3} s: lost {} of {} records; the sink's window held the sender back {:.3} s (tcpi_rwnd_limited), zero window in {} samples",
        tcp["bytes"] / 1e6,
        tcp["seconds"],
        tcp["total"] - tcp["received"],
        tcp["total"],
        tcp["window_limited_s"],
        tcp["zero_window_samples"]
    );

    harness::out!("\n2. Bitrate, no naps, beside iperf3 (same loopback, same run)");
    let iperf3 = iperf3();
    // Taken in turns, three rounds: whatever else the machine does then weighs on both alike.
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let run = blast(binary, Proto::Tcp, &[], &["--bytes", &TCP_BYTES.to_string()])?;
        ours.push(run["bytes"] * 8.0 / run["seconds"]);
        if let Some(iperf3) = &iperf3 {
            theirs.push(iperf3_tcp(iperf3)?);
        }
    }
    harness::out!(
        "   TCP  tcp-vs-udp blast: {} (median of {ROUNDS} runs: {}), {TCP_BYTES} bytes in 128 KiB writes",
        gbits(median(&ours)),
        ours.iter().map(|b| gbits(*b)).collect::<Vec<_>>().join(", ")
    );
    if !theirs.is_empty() {
        harness::out!(
            "   TCP  iperf3 -n {TCP_BYTES} -l 128K: {} (median of {ROUNDS} runs: {}); ours is {:.2} of iperf3's",
            gbits(median(&theirs)),
            theirs.iter().map(|b| gbits(*b)).collect::<Vec<_>>().join(", "),
            median(&ours) / median(&theirs)
        );
    }
    let udp_ours = blast(
        binary,
        Proto::Udp,
        &[],
        &["--count", &UDP_COUNT.to_string(), "--size", &UDP_SIZE.to_string(), "--rate", UDP_RATE],
    )?;
    harness::out!(
        "   UDP  tcp-vs-udp blast --rate {UDP_RATE} --size {UDP_SIZE}: lost {}/{} ({:.2}%), jitter {:.3} ms",
        udp_ours["lost"],
        udp_ours["total"],
        100.0 * udp_ours["lost"] / udp_ours["total"],
        udp_ours["jitter_ms"]
    );
    match &iperf3 {
        None => harness::out!(
            "   iperf3 is not installed: `sudo apt-get install iperf3` (Debian, Ubuntu) and run this again to see its figures here"
        ),
        Some(iperf3) => {
            let (lost, total, jitter) = iperf3_udp(iperf3)?;
            harness::out!(
                "   UDP  iperf3 -u -b {UDP_RATE} -l {UDP_SIZE}: lost {lost}/{total} ({:.2}%), jitter {jitter:.3} ms",
                100.0 * lost / total.max(1.0)
            );
        }
    }

    harness::out!("\n3. The cost of a connection: {REQUESTS} quick requests each way");
    harness::out!(
        "   {:<9} {:>12} {:>10} {:>10} {:>12} {:>22}",
        "mode",
        "requests/s",
        "p50",
        "p99",
        "connections",
        "ActiveOpens rose by"
    );
    for (mode, proto) in [("tcp-new", Proto::Tcp), ("tcp-keep", Proto::Tcp), ("udp", Proto::Udp)] {
        let server = server(binary, proto, &[])?;
        let figures = role(
            binary,
            &[
                "requests",
                "--to",
                &server.addr().to_string(),
                "--mode",
                mode,
                "--count",
                &REQUESTS.to_string(),
            ],
        )?;
        let opened = figures.opened.map_or("not known".to_string(), |n| n.to_string());
        harness::out!(
            "   {mode:<9} {:>12.0} {:>7} µs {:>7} µs {:>12} {:>22}",
            figures.summary["answered"] / figures.summary["seconds"],
            figures.summary["p50_us"],
            figures.summary["p99_us"],
            figures.summary["connections"],
            opened
        );
    }

    harness::out!("\n4. One slow request (500 ms) on a UDP loop server, then 20 quick ones from 20 clients");
    for mode in ["iterative", "threaded"] {
        let server = server(binary, Proto::Udp, &["--mode", mode])?;
        let waits = head_of_line(server.addr())?;
        harness::out!(
            "   {mode:<9} the quick ones were answered after {:.1} ms (median), {:.1} ms (slowest)",
            waits[waits.len() / 2].as_secs_f64() * 1e3,
            waits[waits.len() - 1].as_secs_f64() * 1e3
        );
    }

    harness::out!(
        "\n5. The chapter's chart: a sink napping 10 ms before each read, with a 64 KiB buffer, looked at every 2 ms"
    );
    let udp = udp_series(binary)?;
    let tcp = tcp_series(binary)?;
    let chart = runner_root().join("docs/src/tcp-vs-udp-slow-receiver.svg");
    draw(&chart, &udp, &tcp)?;
    harness::out!(
        "   UDP  {} sent, {} dropped by the kernel; TCP {:.0} MB written, write calls took {:.2} s of the run's 1 s (copying, and waiting for room)",
        udp.last().map_or(0, |s| s.sent),
        udp.last().map_or(0, |s| s.dropped),
        tcp.last().map_or(0.0, |s| s.written as f64 / 1e6),
        tcp.last().map_or(0.0, |s| s.waited.as_secs_f64())
    );
    harness::out!("   drawn into {}", chart.display());
    Ok(())
}

/// Which figure of a UDP sample a line of the chart shows.
type Figure = fn(&UdpSample) -> f64;

/// One look at the UDP blast: datagrams sent so far, and dropped so far by the sink's kernel.
struct UdpSample {
    at: Duration,
    sent: u64,
    dropped: u64,
}

/// One look at the TCP blast: bytes written so far, the time writes spent so far, and the
/// window the sink advertised last.
struct TcpSample {
    at: Duration,
    written: u64,
    acked: Option<u64>,
    waited: Duration,
    window: Option<u32>,
    room: Option<u64>,
}

/// How long each run of the chart lasts, and how often it is looked at.
const CHART_RUN: Duration = Duration::from_secs(1);
const LOOK: Duration = Duration::from_millis(2);
/// The chart's sink, the same for UDP and TCP: 10 ms naps, a 64 KiB receive buffer (Linux makes it 128).
const CHART_SINK: [&str; 4] = ["--read-delay", "10", "--rcvbuf", "65536"];

/// 1,400-byte datagrams at 100 Mbit/s for a second into the chart's sink; every 2 ms, how many were sent and how many the kernel dropped on the sink's socket
/// (the `drops` column of /proc/net/udp, Linux's).
fn udp_series(binary: &Path) -> Result<Vec<UdpSample>> {
    let sink = server(binary, Proto::Udp, &CHART_SINK)?;
    let port = sink.addr().port();
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.connect(sink.addr())?;
    let per_datagram = Duration::from_secs_f64(UDP_SIZE as f64 * 8.0 / 100e6);
    let started = Instant::now();
    let (mut samples, mut sent, mut next_look) = (Vec::new(), 0u64, Duration::ZERO);
    while started.elapsed() < CHART_RUN {
        let at = started.elapsed();
        if at >= next_look {
            let dropped = harness::kernel::udp_drops(port).unwrap_or(0);
            samples.push(UdpSample { at, sent, dropped });
            next_look += LOOK;
        }
        // Paced as iperf3's -b paces: the next datagram when it is due.
        if let Some(ahead) = (per_datagram * sent as u32).checked_sub(at) {
            std::thread::sleep(ahead.min(LOOK));
            continue;
        }
        socket.send(&vec![b'.'; UDP_SIZE as usize]).ok();
        sent += 1;
    }
    let dropped = harness::kernel::udp_drops(port).unwrap_or(0);
    samples.push(UdpSample { at: started.elapsed(), sent, dropped });
    Ok(samples)
}

/// 64 KiB writes for a second into the chart's sink; every 2 ms, the bytes written, the time spent in writes, and the window the
/// sink advertised (TCP_INFO, Linux's), read on another thread.
fn tcp_series(binary: &Path) -> Result<Vec<TcpSample>> {
    use std::io::Write;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let sink = server(binary, Proto::Tcp, &CHART_SINK)?;
    let stream = std::net::TcpStream::connect(sink.addr())?;
    let (written, waited, done) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
    let looker = {
        let (stream, written, waited, done) =
            (stream.try_clone()?, written.clone(), waited.clone(), done.clone());
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut samples = Vec::new();
            while !done.load(Ordering::SeqCst) {
                let info = harness::kernel::tcp_info(&stream).unwrap_or_default();
                samples.push(TcpSample {
                    at: started.elapsed(),
                    written: written.load(Ordering::SeqCst),
                    acked: info.acked,
                    waited: Duration::from_nanos(waited.load(Ordering::SeqCst)),
                    window: info.peer_window,
                    room: info.room(),
                });
                std::thread::sleep(LOOK);
            }
            samples
        })
    };
    let started = Instant::now();
    let chunk = vec![b'.'; 64 * 1024];
    while started.elapsed() < CHART_RUN {
        let writing = Instant::now();
        (&stream).write_all(&chunk)?;
        waited.fetch_add(writing.elapsed().as_nanos() as u64, Ordering::SeqCst);
        written.fetch_add(chunk.len() as u64, Ordering::SeqCst);
    }
    done.store(true, Ordering::SeqCst);
    looker.join().map_err(|_| anyhow::anyhow!("the sampling thread panicked"))
}

/// Three panels side by side: UDP sent and dropped; TCP bytes written (and, in the caption,
/// the time writes waited); the window the TCP sink advertised.
fn draw(path: &Path, udp: &[UdpSample], tcp: &[TcpSample]) -> Result<()> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (1200, 380)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, 3));
    let secs = |d: Duration| d.as_secs_f64();
    let end = CHART_RUN.as_secs_f64() * 1.05;

    let most = udp.iter().map(|s| s.sent).max().unwrap_or(1) as f64;
    let mut chart = ChartBuilder::on(&panels[0])
        .caption("UDP into a sink that naps 10 ms per read", ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..end, 0.0..most * 1.05)?;
    chart.configure_mesh().x_desc("seconds").y_desc("datagrams").draw()?;
    let lines: [(&str, RGBColor, Figure); 3] = [
        ("sent", BLUE, |s| s.sent as f64),
        ("dropped by the kernel", RED, |s| s.dropped as f64),
        ("sent - dropped: received or queued", GREEN, |s| s.sent.saturating_sub(s.dropped) as f64),
    ];
    for (label, colour, value) in lines {
        chart
            .draw_series(LineSeries::new(udp.iter().map(|s| (secs(s.at), value(s))), colour.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
    }
    chart.configure_series_labels().position(SeriesLabelPosition::UpperLeft).border_style(BLACK).draw()?;

    let megabytes = tcp.iter().map(|s| s.written).max().unwrap_or(1) as f64 / 1e6;
    let waited = tcp.last().map_or(0.0, |s| secs(s.waited));
    let mut chart = ChartBuilder::on(&panels[1])
        .caption(format!("TCP, same sink: nothing lost; write calls took {waited:.2} s"), ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..end, 0.0..megabytes * 1.05)?;
    chart.configure_mesh().x_desc("seconds").y_desc("MB").draw()?;
    chart
        .draw_series(LineSeries::new(
            tcp.iter().map(|s| (secs(s.at), s.written as f64 / 1e6)),
            BLUE.stroke_width(2),
        ))?
        .label("written by the sender")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(
            tcp.iter().filter_map(|s| Some((secs(s.at), s.acked? as f64 / 1e6))),
            GREEN.stroke_width(2),
        ))?
        .label("acknowledged by the sink (tcpi_bytes_acked)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], GREEN.stroke_width(2)));
    chart.configure_series_labels().position(SeriesLabelPosition::UpperLeft).border_style(BLACK).draw()?;

    let widest = tcp.iter().filter_map(|s| s.window).max().unwrap_or(1) as f64 / 1024.0;
    let mut chart = ChartBuilder::on(&panels[2])
        .caption("The TCP sink's window, as the sender sees it", ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..end, 0.0..widest * 1.05)?;
    chart.configure_mesh().x_desc("seconds").y_desc("KiB").draw()?;
    chart
        .draw_series(LineSeries::new(
            tcp.iter().filter_map(|s| Some((secs(s.at), s.window? as f64 / 1024.0))),
            BLUE.stroke_width(1),
        ))?
        .label("advertised (tcpi_snd_wnd)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(
            tcp.iter().filter_map(|s| Some((secs(s.at), s.room? as f64 / 1024.0))),
            RED.stroke_width(1),
        ))?
        .label("room left: advertised - in flight")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED.stroke_width(2)));
    chart.configure_series_labels().position(SeriesLabelPosition::LowerRight).border_style(BLACK).draw()?;
    root.present()?;
    Ok(())
}

/// The lab's server over `proto`, started as the scenarios start it, on a port the OS picks.
fn server(binary: &Path, proto: Proto, args: &[&str]) -> Result<Role> {
    let target = Target::reference(&harness::labs::tcp_vs_udp::LAB, binary);
    let name = if proto == Proto::Tcp { "tcp" } else { "udp" };
    let mut all = vec!["--proto", name];
    all.extend_from_slice(args);
    Session::new(&target, &Transcript::new()).server_on(proto, &all)
}

/// A fresh sink with `sink_args`, and `blast` against it: the figures of its summary line.
fn blast(binary: &Path, proto: Proto, sink_args: &[&str], args: &[&str]) -> Result<HashMap<String, f64>> {
    let sink = server(binary, proto, sink_args)?;
    let name = if proto == Proto::Tcp { "tcp" } else { "udp" };
    let mut all = vec!["blast", "--to"];
    let to = sink.addr().to_string();
    all.push(&to);
    all.extend_from_slice(&["--proto", name]);
    all.extend_from_slice(args);
    Ok(role(binary, &all)?.summary)
}

struct Figures {
    summary: HashMap<String, f64>,
    /// The rise in ActiveOpens that `requests` printed.
    opened: Option<u64>,
}

/// Run one of the lab's roles to its end; its `summary key=value ...` line, read back.
fn role(binary: &Path, args: &[&str]) -> Result<Figures> {
    let output = Command::new(binary).args(args).stderr(Stdio::inherit()).output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("tcp-vs-udp {} failed:\n{stdout}", args.join(" "));
    }
    let line = stdout.lines().find(|l| l.starts_with("summary")).context("no summary line")?;
    let summary = line
        .split_whitespace()
        .filter_map(|word| {
            let (key, value) = word.split_once('=')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect();
    let opened =
        stdout.lines().find_map(|l| l.split("rose by ").nth(1)?.split_whitespace().next()?.parse().ok());
    Ok(Figures { summary, opened })
}

/// Send `work 500 slow`, then `work 0 N` from 20 clients; how long each quick one waited.
fn head_of_line(server: SocketAddr) -> Result<Vec<Duration>> {
    let slow = UdpSocket::bind("127.0.0.1:0")?;
    slow.send_to(b"work 500 slow", server)?;
    let quick: Vec<UdpSocket> = (0..20).map(|_| UdpSocket::bind("127.0.0.1:0")).collect::<Result<_, _>>()?;
    let sent = Instant::now();
    for (n, socket) in quick.iter().enumerate() {
        socket.send_to(format!("work 0 {n}").as_bytes(), server)?;
    }
    let mut waits = Vec::new();
    for socket in &quick {
        socket.set_read_timeout(Some(Duration::from_secs(5)))?;
        socket.recv(&mut [0; 64]).context("waiting for a quick answer")?;
        waits.push(sent.elapsed());
    }
    slow.set_read_timeout(Some(Duration::from_secs(5)))?;
    slow.recv(&mut [0; 64]).context("waiting for the slow answer")?;
    waits.sort();
    Ok(waits)
}

/// iperf3's path, if it is installed.
fn iperf3() -> Option<PathBuf> {
    let found = Command::new("iperf3").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    found.ok().filter(|s| s.success()).map(|_| PathBuf::from("iperf3"))
}

/// An iperf3 server for one test, on a free port, and the client's JSON report.
fn iperf3_run(iperf3: &Path, client: &[&str]) -> Result<serde_json::Value> {
    let port = harness::ports::unused_port(Proto::Tcp)?;
    let mut server = Command::new(iperf3)
        .args(["-s", "-1", "-B", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    // Polling the kernel's table: iperf3 says nothing machine-readable when it is ready.
    harness::wait::until(Duration::from_secs(5), || harness::ports::is_bound(Proto::Tcp, port).then_some(()))
        .context("iperf3 -s did not start listening")?;
    let output = Command::new(iperf3)
        .args(["-c", "127.0.0.1", "-p", &port.to_string(), "-J"])
        .args(client)
        .output()?;
    let _ = server.kill();
    let _ = server.wait();
    serde_json::from_slice(&output.stdout).context("reading iperf3's JSON")
}

fn iperf3_tcp(iperf3: &Path) -> Result<f64> {
    let report = iperf3_run(iperf3, &["-n", &TCP_BYTES.to_string(), "-l", "128K"])?;
    report["end"]["sum_received"]["bits_per_second"].as_f64().context("no bits_per_second in iperf3's report")
}

fn iperf3_udp(iperf3: &Path) -> Result<(f64, f64, f64)> {
    let bytes = (UDP_COUNT * UDP_SIZE).to_string();
    let report = iperf3_run(iperf3, &["-u", "-b", UDP_RATE, "-l", &UDP_SIZE.to_string(), "-n", &bytes])?;
    let sum = &report["end"]["sum"];
    Ok((
        sum["lost_packets"].as_f64().unwrap_or(f64::NAN),
        sum["packets"].as_f64().unwrap_or(f64::NAN),
        sum["jitter_ms"].as_f64().unwrap_or(f64::NAN),
    ))
}

/// The workspace: the chart goes into its docs.
fn runner_root() -> PathBuf {
    let lab = Path::new(env!("CARGO_MANIFEST_DIR"));
    lab.parent().and_then(Path::parent).unwrap_or(lab).to_path_buf()
}

fn median(figures: &[f64]) -> f64 {
    let mut sorted = figures.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn gbits(bits_per_second: f64) -> String {
    format!("{:.2} Gbits/sec", bits_per_second / 1e9)
}
