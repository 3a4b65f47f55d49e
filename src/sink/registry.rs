//! reachd's own metrics: the registry the scheduler, reloads and the HTTP
//! server update (scheduler lag, checks in flight and skipped, reload
//! success and time, build, process), and the inventory's devices that
//! `reachd_device_info` describes. [`crate::view::metrics`] renders them
//! with the per-target series for `/metrics`.

use std::sync::{Arc, Mutex};

use prometheus::core::Collector;
use prometheus::{
    Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

use crate::engine::scheduler::SchedulerMetrics;
use crate::sink::state::unix_seconds;
use crate::target::{Device, Protocol};

/// Scheduler lag buckets, 1ms to 10s.
const LAG_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub struct Metrics {
    registry: Registry,
    targets: IntGaugeVec,
    in_flight: IntGaugeVec,
    skipped: IntCounterVec,
    lag: HistogramVec,
    reload_ok: IntGauge,
    reload_time: Gauge,
    parent_rechecks: IntCounter,
    devices: Mutex<Arc<Vec<Device>>>,
    sources: Mutex<Vec<SourceHealth>>,
}

/// How an inventory source fares now, for the status page and its JSON
/// (the same as the `reachd_inventory_source_*` series).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct SourceHealth {
    pub name: String,
    pub kind: &'static str,
    pub up: bool,
    pub devices: usize,
    pub skipped: usize,
    /// Unix time of the last good read.
    pub last_success: Option<f64>,
    /// Why the last read failed (`None` while up).
    pub error: Option<String>,
}

fn must<T>(r: prometheus::Result<T>) -> T {
    // Only static names and label sets reach here; a failure is a bug in
    // this file, caught by the tests.
    r.expect("static metric definition")
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let targets = must(IntGaugeVec::new(
            Opts::new("reachd_targets", "Targets scheduled."),
            &["protocol"],
        ));
        let in_flight = must(IntGaugeVec::new(
            Opts::new("reachd_checks_in_flight", "Checks running now."),
            &["protocol"],
        ));
        let skipped = must(IntCounterVec::new(
            Opts::new(
                "reachd_checks_skipped_total",
                "Checks not started because the previous check of the target was still queued or running.",
            ),
            &["protocol"],
        ));
        let lag = must(HistogramVec::new(
            HistogramOpts::new(
                "reachd_scheduler_lag_seconds",
                "How late checks started against their schedule (waiting for a concurrency slot included).",
            )
            .buckets(LAG_BUCKETS.to_vec()),
            &["protocol"],
        ));
        let reload_ok = must(IntGauge::new(
            "reachd_config_last_reload_successful",
            "1 if the last configuration load succeeded.",
        ));
        let reload_time = must(Gauge::new(
            "reachd_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load.",
        ));
        let parent_rechecks = must(IntCounter::new(
            "reachd_parent_rechecks_total",
            "Parent devices re-checked out of schedule because a child went down; children failing while the parent is being re-checked, or known down, add none.",
        ));
        let build = must(IntGaugeVec::new(
            Opts::new("reachd_build_info", "reachd's version (value 1)."),
            &["version"],
        ));
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        for p in Protocol::ALL {
            // Present from the start, so rate() and alerts see zeros.
            targets.with_label_values(&[p.as_str()]);
            in_flight.with_label_values(&[p.as_str()]);
            skipped.with_label_values(&[p.as_str()]);
        }
        for c in [
            Box::new(targets.clone()) as Box<dyn Collector>,
            Box::new(in_flight.clone()),
            Box::new(skipped.clone()),
            Box::new(lag.clone()),
            Box::new(reload_ok.clone()),
            Box::new(reload_time.clone()),
            Box::new(parent_rechecks.clone()),
            Box::new(build),
        ] {
            must(registry.register(c));
        }
        #[cfg(target_os = "linux")]
        must(registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        )));

        Metrics {
            registry,
            targets,
            in_flight,
            skipped,
            lag,
            reload_ok,
            reload_time,
            parent_rechecks,
            devices: Mutex::new(Arc::new(Vec::new())),
            sources: Mutex::new(Vec::new()),
        }
    }

    /// Updates (or adds) the health of source `name` of `kind`.
    pub fn source(&self, name: &str, kind: &'static str, f: impl FnOnce(&mut SourceHealth)) {
        let mut all = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        match all.iter_mut().find(|h| h.name == name && h.kind == kind) {
            Some(h) => f(h),
            None => {
                let mut h = SourceHealth {
                    name: name.to_owned(),
                    kind,
                    ..SourceHealth::default()
                };
                f(&mut h);
                all.push(h);
            }
        }
    }

    /// Forgets a source no longer configured.
    pub fn forget_source(&self, name: &str, kind: &str) {
        let mut all = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|h| !(h.name == name && h.kind == kind));
    }

    /// Every source's health, in configuration order.
    pub fn sources(&self) -> Vec<SourceHealth> {
        self.sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The registry of reachd's own metrics, for other parts (the HTTP
    /// server) to add theirs.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The scheduler's health metrics for `protocol`.
    pub fn scheduler(&self, protocol: Protocol) -> SchedulerMetrics {
        let p = [protocol.as_str()];
        SchedulerMetrics {
            targets: self.targets.with_label_values(&p),
            in_flight: self.in_flight.with_label_values(&p),
            skipped: self.skipped.with_label_values(&p),
            lag: self.lag.with_label_values(&p),
        }
    }

    /// Counts parent re-checks (see [`crate::cause::gate`]).
    pub fn parent_rechecks(&self) -> IntCounter {
        self.parent_rechecks.clone()
    }

    /// The devices `reachd_device_info` describes (replaced on reload).
    pub fn set_devices(&self, devices: &[Device]) {
        *self.devices.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(devices.to_vec());
    }

    pub fn reload(&self, ok: bool, at: std::time::SystemTime) {
        self.reload_ok.set(i64::from(ok));
        if ok {
            self.reload_time.set(unix_seconds(at));
        }
    }

    /// The devices `reachd_device_info` describes.
    pub fn devices(&self) -> Arc<Vec<Device>> {
        self.devices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
