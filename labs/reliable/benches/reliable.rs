//! `cargo bench -p reliable`, or `cargo lab bench reliable`: the goodput of stop-and-wait and of
//! Go-Back-N (windows 4, 16, 64) through the lab's link at 0%, 1%, 10% and 30% loss each way,
//! beside TCP carrying the same bytes over 127.0.0.1 in the same run. Prints a table, and draws
//! it as docs/src/reliable-goodput.svg (goodput against loss, one line per window) with
//! plotters. Nothing is asserted: the figures depend on the machine.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use lab_common::link::{Link, Plan};
use plotters::prelude::*;

/// What is sent: this many lines of this many bytes.
const LINES: usize = 200;
const LINE_BYTES: usize = 100;
/// The link delays every datagram this long each way: a round trip of twice that, as on a
/// short real path (on 127.0.0.1 alone it is some microseconds, and a window buys nothing).
const DELAY: Duration = Duration::from_millis(1);
/// The sender's retransmission timeout: ten round trips.
const TIMEOUT_MS: &str = "20";
const LOSSES: [f64; 4] = [0.0, 0.01, 0.10, 0.30];
const WINDOWS: [u64; 4] = [1, 4, 16, 64];
const SEED: u64 = 1;

fn main() -> ExitCode {
    match bench(Path::new(env!("CARGO_BIN_EXE_reliable"))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// One measured transfer.
struct Run {
    took: Duration,
    /// Datagrams the sender sent, first copies and retransmissions alike.
    datagrams: u64,
}

impl Run {
    /// Goodput: the lines' bytes delivered per second, in KB/s.
    fn goodput(&self) -> f64 {
        (LINES * LINE_BYTES) as f64 / self.took.as_secs_f64() / 1000.0
    }
}

fn bench(binary: &Path) -> Result<()> {
    harness::out!(
        "reliable benchmark: {LINES} lines of {LINE_BYTES} bytes ({} bytes) from `reliable send` to `reliable recv` through\n\
         the lab's link, which delays every datagram {} ms each way and drops the given share each way (seed {SEED});\n\
         the sender's timeout is {TIMEOUT_MS} ms. Goodput is the lines' bytes over the time from the first line typed to\n\
         the sender's exit (everything acknowledged), in KB/s; in brackets, datagrams sent per line.\n",
        LINES * LINE_BYTES,
        DELAY.as_millis()
    );
    let mut header = format!("{:>6}", "loss");
    for window in WINDOWS {
        header += &format!(" {:>20}", name(window));
    }
    harness::out!("{header}");
    let mut table: Vec<(f64, Vec<f64>)> = Vec::new();
    for loss in LOSSES {
        let mut row = format!("{:>5}%", loss * 100.0);
        let mut goodputs = Vec::new();
        for window in WINDOWS {
            let run = transfer(binary, loss, window)?;
            let per_line = run.datagrams as f64 / LINES as f64;
            row += &format!(" {:>11.1} KB/s ({per_line:>3.1})", run.goodput());
            goodputs.push(run.goodput());
        }
        harness::out!("{row}");
        table.push((loss, goodputs));
    }
    let tcp = tcp()?;
    harness::out!(
        "\nTCP, the same {} bytes over 127.0.0.1 (no link, no delay, no loss), connect to close: {:.1} KB/s",
        LINES * LINE_BYTES,
        tcp.goodput()
    );
    let chart = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/src/reliable-goodput.svg");
    draw(&chart, &table, tcp.goodput())?;
    harness::out!("\nDrawn as {}", chart.canonicalize().unwrap_or(chart).display());
    Ok(())
}

fn name(window: u64) -> String {
    if window == 1 { "stop-and-wait".to_string() } else { format!("window {window}") }
}

/// Send the lines through a fresh receiver and link; fails unless every line arrived.
fn transfer(binary: &Path, loss: f64, window: u64) -> Result<Run> {
    let mut receiver = Command::new(binary)
        .args(["recv", "--port", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the receiver")?;
    let mut lines = BufReader::new(receiver.stdout.take().context("the receiver's stdout")?).lines();
    let ready = lines.next().context("the receiver printed nothing")??;
    let addr: SocketAddr = ready.rsplit("//").next().unwrap_or_default().parse().context("its ready line")?;
    let plan = Plan { loss, delay: DELAY, seed: SEED, ..Plan::default() };
    let link = Link::start(([127, 0, 0, 1], 0).into(), addr, plan, Arc::new(|_| {}))?;
    let to = link.addr().to_string();
    let mut sender = Command::new(binary)
        .args([
            "send",
            "--to",
            &to,
            "--window",
            &window.to_string(),
            "--timeout",
            TIMEOUT_MS,
            "--retries",
            "1000",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the sender")?;
    let text: String = (0..LINES).map(|n| format!("{:0width$}\n", n, width = LINE_BYTES)).collect();
    let started = Instant::now();
    sender.stdin.take().context("the sender's stdin")?.write_all(text.as_bytes())?;
    let mut said = String::new();
    sender.stderr.take().context("the sender's stderr")?.read_to_string(&mut said)?;
    let status = sender.wait()?;
    let took = started.elapsed();
    if !status.success() {
        bail!("the sender failed at {loss} loss, window {window}: {said}");
    }
    let delivered = lines.take(LINES).filter_map(|line| line.ok()).count();
    stop(&mut receiver);
    if delivered != LINES {
        bail!("only {delivered} of {LINES} lines arrived at {loss} loss, window {window}");
    }
    // "all 200 lines acknowledged: 431 datagrams sent, 231 of them again"
    let datagrams = said
        .lines()
        .last()
        .and_then(|line| line.split(": ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|count| count.parse().ok())
        .unwrap_or(0);
    Ok(Run { took, datagrams })
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The same bytes over a TCP connection on 127.0.0.1, from connect to the reader's end of file.
fn tcp() -> Result<Run> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let reader = thread::spawn(move || -> std::io::Result<usize> {
        let (mut stream, _) = listener.accept()?;
        let mut all = Vec::new();
        stream.read_to_end(&mut all)?;
        Ok(all.len())
    });
    let text: String = (0..LINES).map(|n| format!("{:0width$}\n", n, width = LINE_BYTES)).collect();
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr)?;
    stream.write_all(text.as_bytes())?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let got = reader.join().map_err(|_| anyhow::anyhow!("the TCP reader panicked"))??;
    let took = started.elapsed();
    if got != text.len() {
        bail!("TCP delivered {got} of {} bytes", text.len());
    }
    Ok(Run { took, datagrams: 0 })
}

/// Goodput against loss, one line per window, on a log scale; TCP as a dashed level.
fn draw(path: &Path, table: &[(f64, Vec<f64>)], tcp: f64) -> Result<()> {
    let root = SVGBackend::new(path, (720, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let top = table.iter().flat_map(|(_, row)| row.iter().copied()).fold(tcp, f64::max) * 2.0;
    let bottom = table.iter().flat_map(|(_, row)| row.iter().copied()).fold(f64::MAX, f64::min) / 2.0;
    let mut chart = ChartBuilder::on(&root)
        .caption("Goodput through a lossy link (1 ms each way)", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..31f64, (bottom..top).log_scale())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("loss each way (%)")
        .y_desc("goodput (KB/s, log scale)")
        .x_label_formatter(&|loss| format!("{loss:.0}%"))
        .y_label_formatter(&|goodput| format!("{goodput:.0}"))
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let colours = [RED, BLUE, GREEN, MAGENTA];
    for (column, window) in WINDOWS.iter().enumerate() {
        let colour = colours[column % colours.len()];
        let points: Vec<(f64, f64)> = table.iter().map(|(loss, row)| (loss * 100.0, row[column])).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(name(*window))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
        chart
            .draw_series(points.iter().map(|&point| Circle::new(point, 3, colour.filled())))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    chart
        .draw_series(LineSeries::new(vec![(0.0, tcp), (31.0, tcp)], BLACK.stroke_width(1)))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .label("TCP over 127.0.0.1 (no link)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}
