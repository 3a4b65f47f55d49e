//! ICMP probe benchmarks, run on purpose (they print tables and assert
//! nothing about speed). The probe alone, without the daemon around it; for
//! the whole binary beside fping see `bench/icmp.py`.
//!
//! ```text
//! cargo bench --bench icmp_probe              # both
//! cargo bench --bench icmp_probe -- round     # 10,000-target rounds vs fping
//! cargo bench --bench icmp_probe -- spread    # 100,000 targets over 10 s
//! ```
//!
//! Targets are distinct loopback addresses (127.20.0.0 and up), so nothing
//! leaves the host. `bench_round_vs_fping` runs 10,000-target rounds two
//! ways — all checks in one stream (one task, as a scheduler's
//! `buffer_unordered` would) and one task per check — and `fping` on the same
//! addresses (if installed). `bench_100k_spread` spreads 100,000 targets over
//! a 10 s interval and reports the cores used. As root the probe uses a raw
//! socket; inside a network namespace with
//! `net.ipv4.ping_group_range="0 2147483647"` an unprivileged one.
//!
//! Columns: wall and CPU (user + system, all threads) time of the round;
//! replies received/sent; RTT percentiles (on loopback these measure the
//! probe's own queueing); `drops`: replies the kernel dropped because the
//! socket's receive buffer was full.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::{self, FuturesUnordered};
use reachd::probe::icmp::IcmpProbe;
use reachd::probe::icmp::stats::IcmpStats;
use reachd::probe::run_check;
use reachd::target::{CheckSpec, IcmpSpec, Protocol, Target};
use reachd::verdict::Verdict;

fn addr(i: usize) -> String {
    format!(
        "127.{}.{}.{}",
        20 + i / 62_500,
        (i / 250) % 250,
        i % 250 + 1
    )
}

fn targets(n: usize, count: u32, spacing: Duration) -> Vec<Target> {
    (0..n)
        .map(|i| Target {
            device: format!("d{i}").into(),
            protocol: Protocol::Icmp,
            host: addr(i),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(1),
            spec: CheckSpec::Icmp(IcmpSpec {
                count,
                spacing,
                payload_size: 56,
            }),
            source: Default::default(),
            ip_family: Default::default(),
        })
        .collect()
}

/// User + system CPU time of this process so far (all threads).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (in parentheses); utime and stime
    // are fields 14 and 15, so 12th and 13th here.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10) // CLK_TCK = 100
}

fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024)
}

/// Replies dropped by the kernel so far on this process's ICMP sockets
/// (`/proc/net/{raw,icmp}{,6}` list the sockets of the namespace).
fn socket_drops() -> u64 {
    ["raw", "icmp", "raw6", "icmp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(format!("/proc/net/{f}")).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

#[derive(Default)]
struct Tally {
    up: usize,
    sent: u64,
    received: u64,
    rtts: Vec<Duration>,
    /// Down verdicts by reason, with one detail each.
    down: BTreeMap<&'static str, (usize, String)>,
}

impl Tally {
    fn add(&mut self, v: &Verdict) {
        self.up += usize::from(v.up);
        if let Some(s) = IcmpStats::of(v.stats.as_ref()) {
            self.sent += u64::from(s.sent);
            self.received += u64::from(s.received);
            self.rtts.extend_from_slice(&s.rtts);
        }
        if !v.up {
            let e = self
                .down
                .entry(v.reason.as_str())
                .or_insert((0, v.detail.clone()));
            e.0 += 1;
        }
    }

    fn note(&mut self, n: usize, drops: u64) -> String {
        self.rtts.sort();
        let q = |f: f64| {
            let i = ((self.rtts.len().saturating_sub(1)) as f64 * f) as usize;
            self.rtts.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        let mut s = format!(
            "{}/{n} up, {}/{} replies, rtt p50/p99/max {:.1}/{:.1}/{:.1} ms, drops {drops}",
            self.up,
            self.received,
            self.sent,
            q(0.5),
            q(0.99),
            q(1.0)
        );
        for (reason, (count, detail)) in &self.down {
            let _ = write!(s, " [{count} {reason}: {detail}]");
        }
        s
    }
}

struct Row {
    what: String,
    wall: Duration,
    cpu: Duration,
    note: String,
}

fn table(rows: &[Row]) {
    let mut out = format!("\n{:<48} {:>7} {:>7}\n", "run", "wall", "cpu");
    for r in rows {
        let _ = writeln!(
            out,
            "{:<48} {:>5.0}ms {:>5.0}ms  {}",
            r.what,
            r.wall.as_secs_f64() * 1e3,
            r.cpu.as_secs_f64() * 1e3,
            r.note
        );
    }
    println!("{out}");
}

#[derive(Clone, Copy)]
enum Driver {
    /// All checks in one stream, polled by one task.
    Stream,
    /// One spawned task per check.
    Tasks,
}

async fn round(
    p: &Arc<IcmpProbe>,
    ts: &[Target],
    driver: Driver,
) -> (Duration, Duration, Tally, u64) {
    let (w0, c0, d0) = (Instant::now(), cpu(), socket_drops());
    let mut tally = Tally::default();
    match driver {
        Driver::Stream => {
            let mut results = stream::iter(ts)
                .map(|t| run_check(&**p, t))
                .buffer_unordered(ts.len());
            while let Some(v) = results.next().await {
                tally.add(&v);
            }
        }
        Driver::Tasks => {
            let tasks: Vec<_> = ts
                .iter()
                .map(|t| {
                    let (p, t) = (p.clone(), t.clone());
                    tokio::spawn(async move { run_check(&*p, &t).await })
                })
                .collect();
            for task in tasks {
                match task.await {
                    Ok(v) => tally.add(&v),
                    Err(e) => panic!("check task: {e}"),
                }
            }
        }
    }
    (w0.elapsed(), cpu() - c0, tally, socket_drops() - d0)
}

/// `fping` on the same addresses; `None` if it (or /usr/bin/time) is missing.
fn fping(n: usize, count: u32, period_ms: u32) -> Option<(Duration, Duration, String)> {
    let list = std::env::temp_dir().join(format!("reachd-bench-{}.txt", std::process::id()));
    let text: String = (0..n).map(|i| addr(i) + "\n").collect();
    std::fs::write(&list, text).ok()?;
    let out = Command::new("/usr/bin/time")
        .args(["-f", "TIME %e %U %S", "fping", "-q", "-i0", "-t1000"])
        .arg(format!("-c{count}"))
        .arg(format!("-p{period_ms}"))
        .arg("-f")
        .arg(&list)
        .output();
    let _ = std::fs::remove_file(&list);
    let err = String::from_utf8_lossy(&out.ok()?.stderr).into_owned();
    let line = err.lines().rev().find(|l| l.starts_with("TIME "))?;
    let v: Vec<f64> = line[5..]
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // Per target: "127.20.0.1 : xmt/rcv/%loss = 3/3/0%, min/avg/max = …"
    let (mut sent, mut received) = (0u64, 0u64);
    for l in err.lines().filter(|l| l.contains("xmt/rcv/%loss")) {
        let counts = l.split('=').nth(1).unwrap_or("").trim();
        let mut it = counts.split('/');
        sent += it.next().and_then(|x| x.trim().parse().ok()).unwrap_or(0);
        received += it.next().and_then(|x| x.trim().parse().ok()).unwrap_or(0);
    }
    Some((
        Duration::from_secs_f64(*v.first()?),
        Duration::from_secs_f64(v.get(1)? + v.get(2)?),
        format!("{received}/{sent} replies"),
    ))
}

async fn bench_round_vs_fping() {
    let p = Arc::new(IcmpProbe::new().unwrap_or_else(|e| panic!("{e}")));
    println!("socket mode: {}", p.mode());
    let n = 10_000;
    let mut rows = Vec::new();
    for (count, spacing_ms) in [(1u32, 0u64), (3, 200)] {
        let ts = targets(n, count, Duration::from_millis(spacing_ms));
        for (driver, name) in [
            (Driver::Stream, "one stream"),
            (Driver::Tasks, "task per check"),
        ] {
            round(&p, &ts, driver).await; // warm-up
            for _ in 0..3 {
                let (wall, cpu, mut t, drops) = round(&p, &ts, driver).await;
                rows.push(Row {
                    what: format!("reachd {n} x count {count}/{spacing_ms}ms, {name}"),
                    wall,
                    cpu,
                    note: t.note(n, drops),
                });
            }
        }
        let period = spacing_ms.max(10) as u32;
        for _ in 0..3 {
            match fping(n, count, period) {
                Some((wall, cpu, note)) => rows.push(Row {
                    what: format!("fping -i0 -c{count} -p{period} -t1000, {n} addresses"),
                    wall,
                    cpu,
                    note,
                }),
                None => println!("fping or /usr/bin/time not available"),
            }
        }
    }
    table(&rows);
    println!("peak RSS {} MiB", peak_rss_mib());
}

async fn bench_100k_spread() {
    let p = Arc::new(IcmpProbe::new().unwrap_or_else(|e| panic!("{e}")));
    println!("socket mode: {}", p.mode());
    let n = 100_000;
    let interval = Duration::from_secs(10);
    let ts = targets(n, 3, Duration::from_millis(200));
    let mut rows = Vec::new();
    for _ in 0..2 {
        let (w0, c0, d0) = (Instant::now(), cpu(), socket_drops());
        let start = tokio::time::Instant::now();
        let mut inflight = FuturesUnordered::new();
        let mut next = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        let mut tally = Tally::default();
        loop {
            tokio::select! {
                _ = tick.tick(), if next < n => {
                    let due = (start.elapsed().as_secs_f64() / interval.as_secs_f64()
                        * n as f64) as usize;
                    while next < due.min(n) {
                        inflight.push(run_check(&*p, &ts[next]));
                        next += 1;
                    }
                }
                Some(v) = inflight.next() => tally.add(&v),
                else => break,
            }
        }
        let (wall, cpu) = (w0.elapsed(), cpu() - c0);
        rows.push(Row {
            what: format!("reachd {n} targets over {}s, count 3", interval.as_secs()),
            wall,
            cpu,
            note: format!(
                "{:.2} cores; {}",
                cpu.as_secs_f64() / wall.as_secs_f64(),
                tally.note(n, socket_drops() - d0)
            ),
        });
    }
    table(&rows);
    println!("peak RSS {} MiB", peak_rss_mib());
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // `cargo bench` passes `--bench`; any other argument picks one benchmark.
    let pick: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wants = |name: &str| pick.is_empty() || pick.iter().any(|p| p == name);
    if wants("round") {
        rt.block_on(bench_round_vs_fping());
    }
    if wants("spread") {
        rt.block_on(bench_100k_spread());
    }
}
