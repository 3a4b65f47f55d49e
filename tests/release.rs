//! Every check releases everything it opened, however it ends: each
//! simulator fault, checked many times over SSH and over Telnet, leaves the
//! process's open file descriptors and the runtime's tasks where they were.
//!
//! The simulated devices run in a child process (`reachd sim`), so the
//! counts are the checks' alone. Loopback only (127.0.77.x, 127.0.78.x,
//! 127.0.79.x: one range per test). The tests count the whole process's
//! fds, so they run one at a time.

#[allow(dead_code)] // the helpers other test files use too
mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::session_spec;
use reachd::probe::ssh::SshProbe;
use reachd::probe::telnet::TelnetProbe;
use reachd::probe::{Probe, run_check};
use reachd::sim::Fault;
use reachd::target::{Protocol, SessionSpec};

const SSH_PORT: u16 = 2222;
const TELNET_PORT: u16 = 2323;
const ROUNDS: usize = 5;

/// One test at a time: each counts the whole process's descriptors.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `reachd sim` with device i+1 (R1, R2…) at 127.0.`net`.(i+1) having
/// `faults[i]` (none for `None`), stopped when dropped.
struct SimProcess(Child, u8);

impl SimProcess {
    fn start(net: u8, faults: &[Option<Fault>]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_reachd"));
        cmd.args(["sim", "-n", &faults.len().to_string()])
            .args(["--base", &format!("127.0.{net}.1")])
            .args(["--port", &SSH_PORT.to_string()])
            .args(["--telnet-port", &TELNET_PORT.to_string()])
            .args(["--slow-prompt", "200ms"]);
        for (i, f) in faults.iter().enumerate() {
            if let Some(f) = f {
                cmd.arg("--fault").arg(format!("R{}={}", i + 1, f.as_str()));
            }
        }
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("reachd sim starts");
        // Killed and waited for when dropped, on every path from here.
        let mut sim = SimProcess(child, net);
        let out = sim.0.stdout.take().expect("stdout");
        for line in BufReader::new(out).lines() {
            let line = line.expect("sim output");
            if line.contains("devices up") || line.contains("device up") {
                return sim;
            }
        }
        panic!("reachd sim ended before its devices were up");
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl SimProcess {
    /// Device i's address (R{i+1}).
    fn addr(&self, i: usize, port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, self.1, i as u8 + 1], port))
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

fn tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Short timeouts, so silent devices end their checks quickly.
fn spec() -> SessionSpec {
    SessionSpec {
        connect_timeout: Duration::from_millis(700),
        read_timeout: Duration::from_millis(700),
        ..session_spec(0)
    }
}

/// One round: every device over both protocols, all at once.
async fn round(sim: &SimProcess, ssh: &SshProbe, telnet: &TelnetProbe, n: usize) -> Vec<String> {
    let mut checks = Vec::new();
    for i in 0..n {
        for (probe, port) in [
            (ssh as &dyn Probe, SSH_PORT),
            (telnet as &dyn Probe, TELNET_PORT),
        ] {
            let t = common::target(
                probe.protocol(),
                sim.addr(i, port),
                spec(),
                Duration::from_millis(1500),
            );
            checks.push(async move {
                let v = run_check(probe, &t).await;
                format!("R{} {} {} {}", i + 1, t.protocol, v.reason, v.phase)
            });
        }
    }
    futures::future::join_all(checks).await
}

/// The value of `f()` once it has stopped changing for half a second
/// (connections of a check that just ended are still closing).
async fn steady(f: impl Fn() -> usize) -> usize {
    let mut last = f();
    let mut same = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = f();
        same = if now == last { same + 1 } else { 0 };
        last = now;
        if same >= 10 {
            break;
        }
    }
    last
}

/// Waits (bounded) until `f()` is at most `limit`; returns the last value.
async fn settles(limit: usize, f: impl Fn() -> usize) -> usize {
    let mut now = f();
    for _ in 0..100 {
        if now <= limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        now = f();
    }
    now
}

/// A healthy device (R1) and one per simulator fault on 127.0.`net`.x, the
/// probes, and the process's fds and tasks once a first round of healthy
/// checks has warmed up what is opened once.
async fn every_fault(
    net: u8,
) -> (
    SimProcess,
    SshProbe,
    TelnetProbe,
    Vec<Option<Fault>>,
    usize,
    usize,
) {
    let mut faults: Vec<Option<Fault>> = vec![None];
    faults.extend(Fault::ALL.iter().copied().map(Some));
    let sim = SimProcess::start(net, &faults);
    let (ssh, telnet) = (SshProbe::new(None), TelnetProbe::new());
    let first = round(&sim, &ssh, &telnet, 1).await;
    assert!(
        first.iter().all(|r| r.ends_with(" ok enable")),
        "healthy device: {first:?}"
    );
    let (fds0, tasks0) = (steady(open_fds).await, steady(tasks).await);
    (sim, ssh, telnet, faults, fds0, tasks0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_releases_its_sockets_and_tasks() {
    let _one_at_a_time = SERIAL.lock().await;
    let (sim, ssh, telnet, faults, fds0, tasks0) = every_fault(77).await;

    let mut seen = Vec::new();
    for _ in 0..ROUNDS {
        seen = round(&sim, &ssh, &telnet, faults.len()).await;
    }
    // Every check of every fault ended with a verdict.
    assert_eq!(seen.len(), faults.len() * 2);

    let fds = settles(fds0, open_fds).await;
    let tasks = settles(tasks0, tasks).await;
    assert!(
        fds <= fds0,
        "open fds {fds0} before, {fds} after {ROUNDS} rounds of {} checks; last round: {seen:#?}",
        seen.len()
    );
    assert!(
        tasks <= tasks0,
        "tasks {tasks0} before, {tasks} after {ROUNDS} rounds; last round: {seen:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_output_ends_at_the_byte_budget_not_the_timeout() {
    let _one_at_a_time = SERIAL.lock().await;
    let sim = SimProcess::start(78, &[Some(Fault::EndlessOutput)]);
    let ssh = SshProbe::new(None);
    let telnet = TelnetProbe::new();
    for probe in [&ssh as &dyn Probe, &telnet as &dyn Probe] {
        let port = match probe.protocol() {
            Protocol::Ssh => SSH_PORT,
            _ => TELNET_PORT,
        };
        // A long read timeout: only the budget can end this check early.
        let s = SessionSpec {
            read_timeout: Duration::from_secs(60),
            ..spec()
        };
        let t = common::target(
            probe.protocol(),
            sim.addr(0, port),
            s,
            Duration::from_secs(120),
        );
        let v = run_check(probe, &t).await;
        assert!(!v.up);
        assert_eq!(v.reason, reachd::verdict::Reason::Prompt, "{v:#?}");
        assert!(
            v.detail.contains("sent more than 256 KiB"),
            "{}: {}",
            probe.protocol(),
            v.detail
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_cancelled_mid_phase_release_their_sockets_and_tasks() {
    // What a reload or shutdown does to a running check: drop it, in
    // whatever phase it is (connect, handshake, auth, prompt, enable).
    let _one_at_a_time = SERIAL.lock().await;
    let (sim, ssh, telnet, faults, fds0, tasks0) = every_fault(79).await;
    for cut in [20u64, 50, 120, 250, 400, 600, 900] {
        let mut checks = Vec::new();
        for i in 0..faults.len() {
            for (probe, port) in [
                (&ssh as &dyn Probe, SSH_PORT),
                (&telnet as &dyn Probe, TELNET_PORT),
            ] {
                let t = common::target(
                    probe.protocol(),
                    sim.addr(i, port),
                    spec(),
                    Duration::from_millis(1500),
                );
                checks.push(async move {
                    let _ = tokio::time::timeout(Duration::from_millis(cut), run_check(probe, &t))
                        .await;
                });
            }
        }
        futures::future::join_all(checks).await;
    }
    let fds = settles(fds0, open_fds).await;
    let tasks = settles(tasks0, tasks).await;
    assert!(fds <= fds0, "open fds {fds0} before, {fds} after");
    assert!(tasks <= tasks0, "tasks {tasks0} before, {tasks} after");
}
