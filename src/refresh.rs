//! The daemon's side of the inventory sources ([`crate::inventory`]): each remote source re-read every
//! `refresh:`, inventory files watched, and every change applied as a
//! reload; each source's health exported.
//!
//! A refresh that fails keeps the source's last good devices (the
//! [`Store`] is only replaced by a good fetch), says so once when the
//! source goes down and once when it is back, and sets
//! `reachd_inventory_source_up` to 0. A file that changes is re-read after
//! it has been still for a moment (editors and config management write in
//! steps, or write a new file and rename it over the old one); a file that
//! vanishes or breaks fails that reload, which keeps the running
//! configuration whole.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prometheus::{GaugeVec, IntGaugeVec, Opts};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::{ConfigErrors, Plan};
use crate::inventory::{RemoteSource, SourceReport, Store};
use crate::sink::registry::Metrics;
use crate::sink::state::unix_seconds;

/// How often inventory files are looked at.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);
/// How long a changed file must stay unchanged before it is read.
pub const SETTLE: Duration = Duration::from_millis(500);
/// A source that has never answered is retried this often (at most).
const FIRST_RETRY: Duration = Duration::from_secs(30);

/// The sources' series.
#[derive(Clone)]
struct SourceMetrics {
    /// The same, for the status page.
    health: Arc<Metrics>,
    up: IntGaugeVec,
    last_success: GaugeVec,
    devices: IntGaugeVec,
    skipped: IntGaugeVec,
}

impl SourceMetrics {
    fn register(health: Arc<Metrics>) -> SourceMetrics {
        let labels = &["source", "kind"];
        let registry = health.registry().clone();
        let m = SourceMetrics {
            health,
            up: IntGaugeVec::new(
                Opts::new(
                    "reachd_inventory_source_up",
                    "Whether the inventory source's last read succeeded (1) or failed (0); a failed source keeps its last good devices.",
                ),
                labels,
            )
            .expect("static metric"),
            last_success: GaugeVec::new(
                Opts::new(
                    "reachd_inventory_source_last_success_timestamp_seconds",
                    "When the inventory source was last read successfully (Unix time).",
                ),
                labels,
            )
            .expect("static metric"),
            devices: IntGaugeVec::new(
                Opts::new(
                    "reachd_inventory_source_devices",
                    "Devices the inventory source gives that are checked.",
                ),
                labels,
            )
            .expect("static metric"),
            skipped: IntGaugeVec::new(
                Opts::new(
                    "reachd_inventory_source_skipped_devices",
                    "Devices of the inventory source that are not checked (no name, no address, invalid reachd settings); the log says why.",
                ),
                labels,
            )
            .expect("static metric"),
        };
        for c in [
            Box::new(m.up.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.last_success.clone()),
            Box::new(m.devices.clone()),
            Box::new(m.skipped.clone()),
        ] {
            // Registered once per daemon: a clash is a bug.
            registry
                .register(c)
                .expect("inventory metrics registered once");
        }
        m
    }

    fn success(&self, name: &str, kind: &'static str, at: SystemTime) {
        self.up.with_label_values(&[name, kind]).set(1);
        self.last_success
            .with_label_values(&[name, kind])
            .set(unix_seconds(at));
        self.health.source(name, kind, |h| {
            h.up = true;
            h.last_success = Some(unix_seconds(at));
            h.error = None;
        });
    }

    fn failure(&self, name: &str, kind: &'static str, error: &str) {
        self.up.with_label_values(&[name, kind]).set(0);
        // Present from the start, 0 until a first success.
        let _ = self.last_success.with_label_values(&[name, kind]);
        self.health.source(name, kind, |h| {
            h.up = false;
            h.error = Some(error.to_owned());
        });
    }

    fn counts(&self, s: &SourceReport) {
        self.devices
            .with_label_values(&[&s.name, s.kind])
            .set(s.devices as i64);
        self.skipped
            .with_label_values(&[&s.name, s.kind])
            .set(s.skipped as i64);
        self.health.source(&s.name, s.kind, |h| {
            h.devices = s.devices;
            h.skipped = s.skipped;
        });
    }

    fn forget(&self, name: &str, kind: &str) {
        self.health.forget_source(name, kind);
        for v in [&self.up, &self.devices, &self.skipped] {
            let _ = v.remove_label_values(&[name, kind]);
        }
        let _ = self.last_success.remove_label_values(&[name, kind]);
    }
}

/// A remote source's task.
struct Task {
    source: RemoteSource,
    now: Arc<Notify>,
    handle: JoinHandle<()>,
}

/// Keeps the plan's sources fresh; asks for a reload (with the reason) on
/// `reload` when one changed.
pub struct Refresher {
    store: Arc<Store>,
    metrics: SourceMetrics,
    reload: mpsc::Sender<String>,
    tasks: HashMap<String, Task>,
    watcher: Option<(Vec<PathBuf>, JoinHandle<()>)>,
    /// The sources of the running plan, for their series.
    known: Vec<(String, &'static str)>,
}

impl Refresher {
    pub fn start(
        store: Arc<Store>,
        metrics: Arc<Metrics>,
        reload: mpsc::Sender<String>,
        plan: &Plan,
    ) -> Refresher {
        let mut r = Refresher {
            store,
            metrics: SourceMetrics::register(metrics),
            reload,
            tasks: HashMap::new(),
            watcher: None,
            known: Vec::new(),
        };
        r.update(plan);
        r
    }

    /// The plan now running: its sources' series, tasks and watched files.
    pub fn update(&mut self, plan: &Plan) {
        let now = SystemTime::now();
        let reported: Vec<(String, &'static str)> = plan
            .sources
            .iter()
            .map(|s| (s.name.clone(), s.kind))
            .collect();
        for (name, kind) in &self.known {
            if !reported.iter().any(|(n, k)| n == name && k == kind) {
                self.metrics.forget(name, kind);
            }
        }
        self.known = reported;
        for s in &plan.sources {
            self.report(s, now);
        }
        let names: Vec<&str> = plan.remote.iter().map(|s| s.name.as_str()).collect();
        self.store.retain(&names);
        self.tasks.retain(|name, t| {
            let keep = plan.remote.iter().any(|s| s == &t.source);
            if !keep {
                info!(source = %name, "inventory source removed or changed: its refresh task ends");
                t.handle.abort();
            }
            keep
        });
        for source in &plan.remote {
            if self.tasks.contains_key(&source.name) {
                continue;
            }
            let up = plan
                .sources
                .iter()
                .find(|s| s.name == source.name)
                .is_some_and(|s| s.error.is_none());
            let now = Arc::new(Notify::new());
            let handle = tokio::spawn(refresh_loop(
                source.clone(),
                self.store.clone(),
                self.metrics.clone(),
                self.reload.clone(),
                now.clone(),
                up,
            ));
            self.tasks.insert(
                source.name.clone(),
                Task {
                    source: source.clone(),
                    now,
                    handle,
                },
            );
        }
        if self.watcher.as_ref().map(|(w, _)| w) != Some(&plan.watch) {
            if let Some((_, h)) = self.watcher.take() {
                h.abort();
            }
            if !plan.watch.is_empty() {
                let h = tokio::spawn(watch_files(plan.watch.clone(), self.reload.clone()));
                self.watcher = Some((plan.watch.clone(), h));
            }
        }
    }

    fn report(&self, s: &SourceReport, now: SystemTime) {
        let m = &self.metrics;
        m.counts(s);
        // A remote source's health is its refresh task's to say, but for
        // the load that fetched it.
        match &s.error {
            None => m.success(&s.name, s.kind, now),
            Some(e) => {
                warn!(source = %s.name, kind = s.kind, error = %e, "inventory source cannot be read: its last good devices are kept (none at startup)");
                m.failure(&s.name, s.kind, e);
            }
        }
        for w in &s.warnings {
            warn!(source = %s.name, kind = s.kind, warning = %w, "inventory source: check its settings");
        }
        if s.stale > 0 {
            warn!(
                source = %s.name,
                kind = s.kind,
                devices = s.stale,
                errors = %s.stale_examples.join("; "),
                "inventory source: some devices' settings are invalid at the source; they are checked with their last good settings"
            );
        }
        if s.skipped > 0 {
            info!(
                source = %s.name,
                kind = s.kind,
                skipped = s.skipped,
                examples = %s.skipped_examples.join("; "),
                "inventory source: some devices are not checked"
            );
        }
    }

    /// A reload failed: files named in its errors are down.
    pub fn failed(&self, errors: &ConfigErrors) {
        for (name, kind) in &self.known {
            let failed = errors
                .0
                .iter()
                .find(|e| *kind == "file" && e.file.display().to_string() == *name);
            if let Some(e) = failed {
                self.metrics.failure(name, kind, &e.to_string());
            }
        }
    }

    /// Asks every remote source to refresh now (SIGHUP).
    pub fn refresh_now(&self) {
        for t in self.tasks.values() {
            t.now.notify_one();
        }
    }
}

impl Drop for Refresher {
    fn drop(&mut self) {
        for t in self.tasks.values() {
            t.handle.abort();
        }
        if let Some((_, h)) = &self.watcher {
            h.abort();
        }
    }
}

/// Re-reads one source forever.
async fn refresh_loop(
    source: RemoteSource,
    store: Arc<Store>,
    metrics: SourceMetrics,
    reload: mpsc::Sender<String>,
    now: Arc<Notify>,
    mut up: bool,
) {
    let kind = source.kind_name();
    loop {
        let wait = if up || store.cached(&source).is_some() {
            source.refresh
        } else {
            source.refresh.min(FIRST_RETRY)
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = now.notified() => {}
        }
        match source.fetch().await {
            Ok(snapshot) => {
                metrics.success(&source.name, kind, SystemTime::now());
                if !up {
                    info!(source = %source.name, kind, devices = snapshot.entries.len(), "inventory source answers again");
                    up = true;
                }
                let n = snapshot.entries.len();
                // Saving the list in the state directory is file work: off
                // the runtime's workers too.
                let (st, src) = (store.clone(), source.clone());
                let changed = tokio::task::spawn_blocking(move || st.put(&src, snapshot))
                    .await
                    .unwrap_or(false);
                if changed {
                    let why = format!("inventory source {} changed ({n} devices)", source.name);
                    // A full queue already holds a reload that reads it.
                    let _ = reload.try_send(why);
                }
            }
            Err(e) => {
                metrics.failure(&source.name, kind, &e);
                if up {
                    warn!(source = %source.name, kind, error = %e, "inventory source cannot be read: its last good devices are kept");
                    up = false;
                }
            }
        }
    }
}

/// What a file looks like from outside: enough to see a change.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Missing,
    File {
        len: u64,
        modified: Option<SystemTime>,
        inode: u64,
    },
}

fn look(path: &PathBuf) -> Seen {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(m) => Seen::File {
            len: m.len(),
            modified: m.modified().ok(),
            inode: m.ino(),
        },
        Err(_) => Seen::Missing,
    }
}

/// Looks at every file, off the runtime's workers: a file on a hung
/// mount holds a blocking thread, not the daemon's loop.
async fn look_all(files: &Arc<Vec<PathBuf>>) -> Vec<Seen> {
    let files = files.clone();
    tokio::task::spawn_blocking(move || files.iter().map(look).collect())
        .await
        .unwrap_or_default()
}

/// Watches inventory files; asks for a reload when one changed and then
/// stayed still for [`SETTLE`].
async fn watch_files(files: Vec<PathBuf>, reload: mpsc::Sender<String>) {
    let files = Arc::new(files);
    let mut seen = look_all(&files).await;
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = look_all(&files).await;
        if now == seen {
            continue;
        }
        // Changed: wait until it is still.
        let mut settled = now;
        loop {
            tokio::time::sleep(SETTLE).await;
            let again = look_all(&files).await;
            if again == settled {
                break;
            }
            settled = again;
        }
        let changed: Vec<String> = files
            .iter()
            .zip(seen.iter().zip(&settled))
            .filter(|(_, (a, b))| a != b)
            .map(|(f, (_, b))| {
                let gone = if *b == Seen::Missing { " (gone)" } else { "" };
                format!("{}{gone}", f.display())
            })
            .collect();
        seen = settled;
        let _ = reload.try_send(format!("inventory file changed: {}", changed.join(", ")));
    }
}
