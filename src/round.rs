//! `reachd check`: one round of checks, a table or JSON lines on stdout,
//! exit 1 if anything is down. The seeds' scripts, done right.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::Plan;
use crate::probe::{Probes, run_check};
use crate::result::CheckResult;
use crate::target::{Device, Protocol, Target};
use crate::topology::Graph;

/// The table's BEHIND column.
const BEHIND: usize = 6;
use crate::verdict::{Outcome, Phase, Progress, Reason, Verdict, fmt_duration};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
}

/// Which targets of the plan to check.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub protocols: Vec<Protocol>,
    pub devices: Vec<String>,
}

impl Filter {
    /// The selected targets, or an error naming a device that isn't there.
    pub fn select(&self, plan: &Plan) -> Result<Vec<Arc<Target>>, String> {
        for d in &self.devices {
            if !plan.devices.iter().any(|x| &*x.name == d) {
                return Err(format!("no device named `{d}` in the inventory"));
            }
        }
        Ok(plan
            .targets
            .iter()
            .filter(|t| self.protocols.is_empty() || self.protocols.contains(&t.protocol))
            .filter(|t| self.devices.is_empty() || self.devices.iter().any(|d| **d == *t.device))
            .cloned()
            .collect())
    }
}

/// Runs every target once (per-protocol concurrency limits apply) and
/// returns the results in target order. A target whose protocol has no
/// probe (a bug: [`build_probes`](crate::probe::factory::build_probes) makes every
/// one a plan needs) gets an `error` verdict saying so.
pub async fn run_round(
    targets: Vec<Arc<Target>>,
    probes: &Probes,
    concurrency: &BTreeMap<Protocol, usize>,
) -> Vec<CheckResult> {
    let limits: BTreeMap<Protocol, Arc<Semaphore>> = Protocol::ALL
        .iter()
        .map(|p| {
            let n = concurrency.get(p).copied().unwrap_or(100).max(1);
            (*p, Arc::new(Semaphore::new(n)))
        })
        .collect();
    let mut set = JoinSet::new();
    for (i, target) in targets.into_iter().enumerate() {
        let probe = probes.get(target.protocol).cloned();
        let permits = limits[&target.protocol].clone();
        set.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let verdict = match probe {
                Some(probe) => run_check(&*probe, &target).await,
                None => Progress::start(Phase::Resolve, target.timeout).finish(Outcome::fail(
                    Reason::Error,
                    format!("no {} probe was started", target.protocol),
                )),
            };
            (
                i,
                CheckResult {
                    target,
                    verdict,
                    finished_at: SystemTime::now(),
                    lag: Duration::ZERO,
                },
            )
        });
    }
    let mut results = Vec::with_capacity(set.len());
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(r) => results.push(r),
            Err(e) => tracing::error!(error = %e, "a check task failed"),
        }
    }
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// For each result, the topmost down ancestor of its device when it is
/// down (a device is down when every check of it that ran is down); all
/// `None` when no device has parents.
pub fn behind(devices: &[Device], results: &[CheckResult]) -> Vec<Option<Arc<str>>> {
    let targets: Vec<Arc<Target>> = results.iter().map(|r| r.target.clone()).collect();
    let g = Graph::new(devices, &targets);
    if !g.has_dependencies() {
        return vec![None; results.len()];
    }
    let mut checks = vec![(0usize, 0usize); g.len()];
    for r in results {
        if let Some(id) = g.id(&r.target.device) {
            let c = &mut checks[id as usize];
            c.0 += 1;
            c.1 += usize::from(!r.verdict.up);
        }
    }
    let all = g.behind_all(&mut |id| {
        let (n, down) = checks[id as usize];
        n > 0 && n == down
    });
    results
        .iter()
        .map(|r| {
            let id = g.id(&r.target.device)?;
            if r.verdict.up {
                return None;
            }
            all[id as usize].map(|b| g.name(b).clone())
        })
        .collect()
}

#[derive(Serialize)]
struct JsonRow<'a> {
    device: &'a str,
    protocol: Protocol,
    host: &'a str,
    #[serde(flatten)]
    verdict: &'a Verdict,
    /// The topmost down ancestor of the device, while it is down.
    behind: Option<&'a str>,
}

/// Prints `results`; `behind[i]` is what result `i`'s device is behind
/// ([`behind`]); with `parents`, the table has a BEHIND column.
pub fn print(
    results: &[CheckResult],
    behind: &[Option<Arc<str>>],
    parents: bool,
    format: Format,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let behind_of = |i: usize| behind.get(i).and_then(|b| b.as_deref());
    match format {
        Format::Json => {
            for (i, r) in results.iter().enumerate() {
                let row = JsonRow {
                    device: &r.target.device,
                    protocol: r.target.protocol,
                    host: &r.target.host,
                    verdict: &r.verdict,
                    behind: behind_of(i),
                };
                serde_json::to_writer(&mut *out, &row)?;
                writeln!(out)?;
            }
        }
        Format::Table => {
            let rows: Vec<[String; 8]> = results
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let v = &r.verdict;
                    let time = match v.stats.as_ref().and_then(|s| s.time()) {
                        Some(rtt) => format!("{:.3}ms", rtt.as_secs_f64() * 1000.0),
                        None => fmt_duration(v.duration),
                    };
                    [
                        r.target.device.to_string(),
                        r.target.protocol.to_string(),
                        if v.up { "up" } else { "DOWN" }.to_string(),
                        v.reason.to_string(),
                        v.phase.to_string(),
                        time,
                        behind_of(i).unwrap_or("").to_string(),
                        v.detail.clone(),
                    ]
                })
                .collect();
            let header = [
                "DEVICE", "PROTOCOL", "STATE", "REASON", "PHASE", "TIME", "BEHIND", "DETAIL",
            ];
            let mut widths = header.map(str::len);
            for row in &rows {
                for (w, cell) in widths.iter_mut().zip(row.iter()) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            let line = |cells: [&str; 8], out: &mut dyn Write| -> std::io::Result<()> {
                let mut s = String::new();
                for (i, cell) in cells.iter().enumerate() {
                    if i == BEHIND && !parents {
                        continue; // no device has parents: no column
                    }
                    if i == 7 {
                        s.push_str(cell);
                    } else {
                        s.push_str(&format!("{cell:<w$}  ", w = widths[i]));
                    }
                }
                writeln!(out, "{}", s.trim_end())
            };
            line(header, out)?;
            for row in &rows {
                line(row.each_ref().map(String::as_str), out)?;
            }
            let down = results.iter().filter(|r| !r.verdict.up).count();
            writeln!(
                out,
                "\n{} checks: {} up, {} down",
                results.len(),
                results.len() - down,
                down
            )?;
        }
    }
    Ok(())
}

/// `reachd check` on a loaded plan.
pub async fn run(plan: Plan, filter: Filter, format: Format) -> ExitCode {
    let targets = match filter.select(&plan) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("reachd: {e}");
            return ExitCode::from(2);
        }
    };
    if targets.is_empty() {
        eprintln!("reachd: nothing to check (no targets match)");
        return ExitCode::from(2);
    }
    // Sockets for as many checks as run at once: the concurrency, or fewer
    // targets.
    let in_flight = plan
        .concurrency
        .iter()
        .map(|(p, n)| {
            (
                *p,
                (*n).min(targets.iter().filter(|t| t.protocol == *p).count()),
            )
        })
        .collect();
    if let Err(e) = crate::fdlimit::ensure(crate::fdlimit::Need::of(&in_flight, 0)) {
        // A setting that cannot work here, like a config error; 1 means
        // "something is down".
        eprintln!("reachd: {e}");
        return ExitCode::from(2);
    }
    let probes = match crate::probe::factory::build_probes(&plan) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("reachd: {e}");
            return ExitCode::from(1);
        }
    };
    let results = run_round(targets, &probes, &plan.concurrency).await;
    let behind = behind(&plan.devices, &results);
    let parents = plan.devices.iter().any(|d| !d.parents.is_empty());
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Err(e) = print(&results, &behind, parents, format, &mut out) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("reachd: cannot write results: {e}");
        }
        return ExitCode::from(1);
    }
    if results.iter().all(|r| r.verdict.up) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
