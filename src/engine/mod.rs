//! The engine: a plan's targets split by protocol, one scheduler per
//! protocol on its own lane ([`lane`]), every result sent down one channel
//! to the sinks, and reloads applied as a diff (new targets start, removed
//! ones stop, unchanged ones keep their state and schedule).

pub mod lane;
pub mod scheduler;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::cause::diagnosis::Diagnoser;
use crate::cause::gate::{Gate, Recheck};
use crate::config::Plan;
use crate::diagnose::{TraceOptions, Tracer};
use crate::probe::{Probes, factory};
use crate::result::Event;
use crate::sink::Sinks;
use crate::target::{Protocol, Target, TargetKey};
use scheduler::Handle;

/// Results on their way from the schedulers to the sinks, before a
/// scheduler waits for the sinks.
const RESULTS_BUFFER: usize = 4096;

/// Splits targets by protocol, dropping (with a warning) those whose probe
/// could not be started.
fn by_protocol(targets: &[Arc<Target>], probes: &Probes) -> BTreeMap<Protocol, Vec<Arc<Target>>> {
    let mut map: BTreeMap<Protocol, Vec<Arc<Target>>> = BTreeMap::new();
    for t in targets {
        map.entry(t.protocol).or_default().push(t.clone());
    }
    map.retain(|p, ts| {
        if probes.get(*p).is_some() {
            return true;
        }
        warn!(protocol = %p, targets = ts.len(), "the {p} probe could not start (see above): these targets are not checked");
        false
    });
    map
}

/// The running schedulers, one per protocol, all feeding one channel to
/// the sinks.
pub struct Engine {
    probes: Probes,
    sinks: Sinks,
    handles: BTreeMap<Protocol, Handle>,
    events: mpsc::Sender<Event>,
    grace: std::time::Duration,
    concurrency: BTreeMap<Protocol, usize>,
    /// The targets now scheduled, to tell what a reload changes.
    current: HashMap<TargetKey, Arc<Target>>,
    heartbeats: crate::notify::Heartbeats,
    /// The schedulers, for the gate's out-of-schedule re-checks.
    runners: Runners,
}

/// The running schedulers by protocol, shared with the [`Gate`], which
/// asks them to re-check parents now.
#[derive(Clone, Default)]
struct Runners(Arc<std::sync::Mutex<BTreeMap<Protocol, Handle>>>);

impl Runners {
    fn insert(&self, protocol: Protocol, handle: Handle) {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        all.insert(protocol, handle);
    }

    fn recheck(&self) -> Recheck {
        let runners = self.clone();
        Box::new(move |keys: Vec<TargetKey>| {
            let all = runners.0.lock().unwrap_or_else(|e| e.into_inner());
            let mut by: BTreeMap<Protocol, Vec<TargetKey>> = BTreeMap::new();
            for k in keys {
                by.entry(k.protocol).or_default().push(k);
            }
            for (p, keys) in by {
                if let Some(h) = all.get(&p) {
                    h.run_now(keys);
                }
            }
        })
    }
}

async fn sleep_until_opt(when: Option<tokio::time::Instant>) {
    match when {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// What a reload changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub unchanged: usize,
}

impl Changes {
    fn between(
        old: &HashMap<TargetKey, Arc<Target>>,
        new: &HashMap<TargetKey, Arc<Target>>,
    ) -> Self {
        let mut c = Changes::default();
        for (k, t) in new {
            match old.get(k) {
                None => c.added += 1,
                Some(o) if o == t => c.unchanged += 1,
                Some(_) => c.changed += 1,
            }
        }
        c.removed = old.keys().filter(|k| !new.contains_key(*k)).count();
        c
    }
}

impl Engine {
    /// Starts the schedulers for `plan` and the task that feeds the sinks.
    /// The returned join handle ends when every scheduler has drained.
    pub fn start(
        plan: &Plan,
        probes: Probes,
        sinks: Sinks,
    ) -> (Engine, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<Event>(RESULTS_BUFFER);
        sinks.set_inventory(&plan.devices, &plan.targets);
        let runners = Runners::default();
        let (diagnoser, mut traced) = Diagnoser::new(Tracer::new(TraceOptions::default()));
        let mut gate = Gate::new(sinks.clone(), runners.recheck()).with_diagnoser(diagnoser);
        let consumer = tokio::spawn(async move {
            loop {
                let deadline = gate.deadline();
                tokio::select! {
                    ev = rx.recv() => match ev {
                        Some(ev) => gate.handle(ev),
                        None => break,
                    },
                    Some(t) = traced.recv() => gate.traced(t),
                    () = sleep_until_opt(deadline) => gate.expire(tokio::time::Instant::now()),
                }
            }
            gate.release_all();
        });
        let mut engine = Engine {
            probes,
            sinks,
            handles: BTreeMap::new(),
            events: tx,
            grace: plan.shutdown_grace,
            concurrency: plan.concurrency.clone(),
            current: keyed(&plan.targets),
            heartbeats: Default::default(),
            runners,
        };
        engine.sinks.metrics.reload(true, SystemTime::now());
        for (protocol, targets) in by_protocol(&plan.targets, &engine.probes) {
            engine.spawn(protocol, targets);
        }
        (engine, consumer)
    }

    fn spawn(&mut self, protocol: Protocol, targets: Vec<Arc<Target>>) {
        let Some(probe) = self.probes.get(protocol).cloned() else {
            return;
        };
        let opts = scheduler::Options {
            concurrency: self.concurrency.get(&protocol).copied().unwrap_or(100),
            grace: self.grace,
        };
        info!(protocol = %protocol, targets = targets.len(), concurrency = opts.concurrency, "scheduling");
        let metrics = self.sinks.metrics.scheduler(protocol);
        // The scheduler and its checks run on the protocol's own lane, and
        // send their results straight into the sinks' channel.
        let lane = lane::handle(protocol, probe.lane_threads());
        let handle = {
            let _on_lane = lane.enter();
            scheduler::spawn(probe, targets, opts, metrics, self.events.clone())
        };
        self.heartbeats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((protocol.to_string(), handle.heartbeat()));
        self.runners.insert(protocol, handle.clone());
        self.handles.insert(protocol, handle);
    }

    /// Checks the plan's sources and lets the running probes open what
    /// they need (at reload, before [`Engine::apply`]); an error leaves
    /// the running plan as it is.
    pub fn prepare(&self, plan: &Plan) -> Result<(), String> {
        factory::prepare(plan, &self.probes)
    }

    /// Applies a new plan: new targets start, removed ones stop and lose
    /// their series, unchanged ones keep their state and schedule.
    pub async fn apply(&mut self, plan: &Plan) -> Changes {
        // A reload may bring the first targets of a protocol.
        for p in factory::protocols(plan) {
            if self.probes.get(p).is_none() {
                match factory::build_probe(p, plan) {
                    Ok(probe) => self.probes.insert(probe),
                    Err(e) => error!(protocol = %p, "{e}"),
                }
            }
        }
        let new = keyed(&plan.targets);
        let changes = Changes::between(&self.current, &new);
        self.current = new;
        self.sinks.set_inventory(&plan.devices, &plan.targets);
        let mut wanted = by_protocol(&plan.targets, &self.probes);
        for (protocol, handle) in &self.handles {
            handle
                .update(wanted.remove(protocol).unwrap_or_default())
                .await;
        }
        if plan.concurrency != self.concurrency {
            warn!("a concurrency change takes effect at the next restart");
        }
        if plan.shutdown_grace != self.grace {
            warn!("a shutdown_grace change takes effect at the next restart");
        }
        for (protocol, targets) in wanted {
            self.spawn(protocol, targets);
        }
        changes
    }

    /// The sinks the results go to.
    pub fn sinks(&self) -> &Sinks {
        &self.sinks
    }

    /// The schedulers' heartbeats, for the systemd watchdog.
    pub fn heartbeats(&self) -> crate::notify::Heartbeats {
        self.heartbeats.clone()
    }

    /// Stops scheduling; in-flight checks get the grace period.
    pub fn shutdown(self) {
        for h in self.handles.values() {
            h.shutdown();
        }
        // Dropping `self.events` lets the consumer end once every
        // scheduler has drained and dropped its sender.
    }
}

fn keyed(targets: &[Arc<Target>]) -> HashMap<TargetKey, Arc<Target>> {
    targets.iter().map(|t| (t.key(), t.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Sources};
    use crate::verdict::Reason;
    use std::time::Duration;

    fn plan(dir: &std::path::Path, name: &str, checks: &str, port: u16) -> Plan {
        let file = dir.join(name);
        std::fs::write(
            &file,
            format!(
                "devices:\n  - name: r1\n    address: 127.0.0.1\n    checks: {checks}\n    \
                 password: x\n    telnet: {{port: {port}, interval: 1s, timeout: 1s, \
                 connect_timeout: 500ms, read_timeout: 500ms}}\n"
            ),
        )
        .unwrap();
        config::load(&Sources {
            config: Some(file),
            inventories: vec![],
            ..Default::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn a_reload_can_bring_the_first_targets_of_a_protocol() {
        let dir = std::env::temp_dir().join(format!("reachd-engine-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A loopback port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let before = plan(&dir, "a.yaml", "[]", port);
        assert!(before.targets.is_empty());
        let sinks = Sinks::new();
        let probes = factory::build_probes(&before).unwrap();
        let (mut engine, _consumer) = Engine::start(&before, probes, sinks.clone());

        // The reload brings the first telnet target: its probe must start.
        let after = plan(&dir, "b.yaml", "[telnet]", port);
        let changes = engine.apply(&after).await;
        assert_eq!(changes.added, 1);
        let row = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(row) = sinks.state.snapshot().into_iter().next() {
                    return row;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the new telnet target is checked");
        assert_eq!(row.protocol, Protocol::Telnet);
        assert_eq!(row.reason, Reason::Refused);
        engine.shutdown();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
