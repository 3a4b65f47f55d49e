//! Prometheus metrics: per device × protocol state, ICMP RTTs, the inventory
//! as `reachd_device_info`, and reachd's own health.
//!
//! Label values come only from the inventory and the fixed reason and phase
//! sets, so cardinality is bounded by the configuration. Every metric is
//! listed in the README.

use std::collections::BTreeSet;
use std::sync::Mutex;

use prometheus::core::Collector;
use prometheus::proto::{self, LabelPair, MetricFamily, MetricType};
use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

use crate::result::CheckResult;
use crate::scheduler::SchedulerMetrics;
use crate::sink::status::{Transition, unix_seconds};
use crate::target::{Device, Protocol, TargetKey};
use crate::verdict::{Phase, Reason};

/// Smokeping-style RTT buckets, 100µs to 2.5s.
const RTT_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
/// Scheduler lag buckets, 1ms to 10s.
const LAG_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub struct Metrics {
    registry: Registry,
    up: IntGaugeVec,
    duration: GaugeVec,
    phase_duration: GaugeVec,
    reason: IntGaugeVec,
    checks: IntCounterVec,
    failures: IntCounterVec,
    last_change: GaugeVec,
    last_check: GaugeVec,
    rtt: HistogramVec,
    icmp_sent: IntCounterVec,
    icmp_received: IntCounterVec,
    icmp_loss: GaugeVec,
    targets: IntGaugeVec,
    in_flight: IntGaugeVec,
    skipped: IntCounterVec,
    lag: HistogramVec,
    reload_ok: IntGauge,
    reload_time: Gauge,
    /// Rebuilt on every (re)load of the inventory.
    device_info: Mutex<Option<MetricFamily>>,
}

fn must<T>(r: prometheus::Result<T>) -> T {
    // Only static names and label sets reach here; a failure is a bug in
    // this file, caught by the tests.
    r.expect("static metric definition")
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let dp = &["device", "protocol"];
        let reg = |c: Box<dyn Collector>| must(registry.register(c));

        let up = must(IntGaugeVec::new(
            Opts::new(
                "reachd_up",
                "1 if the last check of the device on the protocol succeeded, else 0.",
            ),
            dp,
        ));
        let duration = must(GaugeVec::new(
            Opts::new(
                "reachd_check_duration_seconds",
                "Duration of the last check.",
            ),
            dp,
        ));
        let phase_duration = must(GaugeVec::new(
            Opts::new(
                "reachd_phase_duration_seconds",
                "Time the last check spent in each phase it entered.",
            ),
            &["device", "protocol", "phase"],
        ));
        let reason = must(IntGaugeVec::new(
            Opts::new(
                "reachd_reason",
                "Reason of the last check's verdict (value 1; reason=\"ok\" when up).",
            ),
            &["device", "protocol", "reason", "phase"],
        ));
        let checks = must(IntCounterVec::new(
            Opts::new("reachd_checks_total", "Checks completed."),
            dp,
        ));
        let failures = must(IntCounterVec::new(
            Opts::new(
                "reachd_check_failures_total",
                "Checks that ended down, by reason.",
            ),
            &["device", "protocol", "reason"],
        ));
        let last_change = must(GaugeVec::new(
            Opts::new(
                "reachd_state_change_timestamp_seconds",
                "Unix time the target last went up or down.",
            ),
            dp,
        ));
        let last_check = must(GaugeVec::new(
            Opts::new(
                "reachd_last_check_timestamp_seconds",
                "Unix time the last check ended.",
            ),
            dp,
        ));
        let rtt = must(HistogramVec::new(
            HistogramOpts::new("reachd_icmp_rtt_seconds", "ICMP echo round-trip times.")
                .buckets(RTT_BUCKETS.to_vec()),
            &["device"],
        ));
        let icmp_sent = must(IntCounterVec::new(
            Opts::new(
                "reachd_icmp_requests_sent_total",
                "ICMP echo requests sent.",
            ),
            &["device"],
        ));
        let icmp_received = must(IntCounterVec::new(
            Opts::new(
                "reachd_icmp_replies_received_total",
                "ICMP echo replies received.",
            ),
            &["device"],
        ));
        let icmp_loss = must(GaugeVec::new(
            Opts::new(
                "reachd_icmp_loss_ratio",
                "Fraction of echo requests of the last check left unanswered (0 to 1).",
            ),
            &["device"],
        ));
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
            HistogramOpts::new("reachd_scheduler_lag_seconds", "How late checks started against their schedule (waiting for a concurrency slot included).")
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
        let build = must(IntGaugeVec::new(
            Opts::new("reachd_build_info", "reachd's version (value 1)."),
            &["version"],
        ));
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);

        for c in [
            Box::new(up.clone()) as Box<dyn Collector>,
            Box::new(duration.clone()),
            Box::new(phase_duration.clone()),
            Box::new(reason.clone()),
            Box::new(checks.clone()),
            Box::new(failures.clone()),
            Box::new(last_change.clone()),
            Box::new(last_check.clone()),
            Box::new(rtt.clone()),
            Box::new(icmp_sent.clone()),
            Box::new(icmp_received.clone()),
            Box::new(icmp_loss.clone()),
            Box::new(targets.clone()),
            Box::new(in_flight.clone()),
            Box::new(skipped.clone()),
            Box::new(lag.clone()),
            Box::new(reload_ok.clone()),
            Box::new(reload_time.clone()),
            Box::new(build),
        ] {
            reg(c);
        }
        #[cfg(target_os = "linux")]
        reg(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ));

        Metrics {
            registry,
            up,
            duration,
            phase_duration,
            reason,
            checks,
            failures,
            last_change,
            last_check,
            rtt,
            icmp_sent,
            icmp_received,
            icmp_loss,
            targets,
            in_flight,
            skipped,
            lag,
            reload_ok,
            reload_time,
            device_info: Mutex::new(None),
        }
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

    pub fn record(&self, r: &CheckResult, tr: &Transition) {
        let v = &r.verdict;
        let device: &str = &r.target.device;
        let dp = [device, r.target.protocol.as_str()];
        self.up.with_label_values(&dp).set(i64::from(v.up));
        self.duration
            .with_label_values(&dp)
            .set(v.duration.as_secs_f64());
        for (phase, spent) in &v.phases {
            self.phase_duration
                .with_label_values(&[dp[0], dp[1], phase.as_str()])
                .set(spent.as_secs_f64());
        }
        // One reason series per target: drop the previous one if it differs.
        if let (Some((_, old)), Some(old_phase)) = (tr.previous, tr.previous_phase) {
            if (old, old_phase) != (v.reason, v.phase) {
                let _ = self.reason.remove_label_values(&[
                    dp[0],
                    dp[1],
                    old.as_str(),
                    old_phase.as_str(),
                ]);
            }
        }
        if tr.flipped {
            self.last_change
                .with_label_values(&dp)
                .set(unix_seconds(tr.since));
        }
        self.reason
            .with_label_values(&[dp[0], dp[1], v.reason.as_str(), v.phase.as_str()])
            .set(1);
        self.checks.with_label_values(&dp).inc();
        if !v.up {
            self.failures
                .with_label_values(&[dp[0], dp[1], v.reason.as_str()])
                .inc();
        }
        self.last_check
            .with_label_values(&dp)
            .set(unix_seconds(r.finished_at));
        if let Some(icmp) = &v.icmp {
            let d = [device];
            let h = self.rtt.with_label_values(&d);
            for rtt in &icmp.rtts {
                h.observe(rtt.as_secs_f64());
            }
            self.icmp_sent
                .with_label_values(&d)
                .inc_by(u64::from(icmp.sent));
            self.icmp_received
                .with_label_values(&d)
                .inc_by(u64::from(icmp.received));
            self.icmp_loss.with_label_values(&d).set(icmp.loss_ratio());
        }
    }

    /// Deletes every series of a target that left the configuration.
    pub fn remove(&self, key: &TargetKey) {
        let dp = [&*key.device, key.protocol.as_str()];
        let _ = self.up.remove_label_values(&dp);
        let _ = self.duration.remove_label_values(&dp);
        let _ = self.checks.remove_label_values(&dp);
        let _ = self.last_change.remove_label_values(&dp);
        let _ = self.last_check.remove_label_values(&dp);
        for phase in Phase::ALL {
            let _ = self
                .phase_duration
                .remove_label_values(&[dp[0], dp[1], phase.as_str()]);
        }
        for reason in Reason::ALL {
            let _ = self
                .failures
                .remove_label_values(&[dp[0], dp[1], reason.as_str()]);
            for phase in Phase::ALL {
                let _ = self.reason.remove_label_values(&[
                    dp[0],
                    dp[1],
                    reason.as_str(),
                    phase.as_str(),
                ]);
            }
        }
        if key.protocol == Protocol::Icmp {
            let d = [dp[0]];
            let _ = self.rtt.remove_label_values(&d);
            let _ = self.icmp_sent.remove_label_values(&d);
            let _ = self.icmp_received.remove_label_values(&d);
            let _ = self.icmp_loss.remove_label_values(&d);
        }
    }

    /// Sets `reachd_device_info` to exactly `devices` (removed devices'
    /// series disappear). Labels: device, address, and every inventory
    /// label name used by any device (empty where a device lacks it).
    ///
    /// Rendered at scrape time rather than registered: the registry fixes a
    /// metric's label names for the life of the process, and a reload may
    /// bring new ones.
    pub fn set_devices(&self, devices: &[Device]) {
        let names: BTreeSet<&str> = devices
            .iter()
            .flat_map(|d| d.labels.keys().map(String::as_str))
            .filter(|k| !matches!(*k, "device" | "address"))
            .collect();
        let pair = |name: &str, value: &str| {
            let mut p = LabelPair::default();
            p.set_name(name.to_string());
            p.set_value(value.to_string());
            p
        };
        let mut family = MetricFamily::default();
        family.set_name("reachd_device_info".into());
        family.set_help("The inventory's labels of each device (value 1).".into());
        family.set_field_type(MetricType::GAUGE);
        for d in devices {
            let mut labels = vec![pair("address", &d.host), pair("device", &d.name)];
            labels.extend(
                names
                    .iter()
                    .map(|k| pair(k, d.labels.get(*k).map_or("", String::as_str))),
            );
            labels.sort_by(|a, b| a.name().cmp(b.name()));
            let mut gauge = proto::Gauge::default();
            gauge.set_value(1.0);
            let mut m = proto::Metric::from_gauge(gauge);
            m.set_label(labels);
            family.mut_metric().push(m);
        }
        *self.device_info.lock().unwrap_or_else(|e| e.into_inner()) = Some(family);
    }

    pub fn reload(&self, ok: bool, at: std::time::SystemTime) {
        self.reload_ok.set(i64::from(ok));
        if ok {
            self.reload_time.set(unix_seconds(at));
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut families = self.registry.gather();
        if let Some(info) = &*self.device_info.lock().unwrap_or_else(|e| e.into_inner()) {
            if !info.get_metric().is_empty() {
                families.push(info.clone());
                families.sort_by(|a, b| a.name().cmp(b.name()));
            }
        }
        if let Err(e) = TextEncoder::new().encode(&families, &mut buf) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::status::StatusStore;
    use crate::sink::status::tests::result;
    use crate::verdict::IcmpStats;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn lines_with<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
        text.lines().filter(|l| l.starts_with(prefix)).collect()
    }

    #[test]
    fn renders_state_reason_and_failures() {
        let m = Metrics::new();
        let s = StatusStore::default();
        let r = result("r1", Reason::Ok, 100);
        m.record(&r, &s.record(&r));
        let r = result("r1", Reason::NoReply, 110);
        m.record(&r, &s.record(&r));
        let text = m.render();
        assert_eq!(
            lines_with(&text, "reachd_up{"),
            vec![r#"reachd_up{device="r1",protocol="icmp"} 0"#]
        );
        assert_eq!(
            lines_with(&text, "reachd_reason{"),
            vec![
                r#"reachd_reason{device="r1",phase="connect",protocol="icmp",reason="no_reply"} 1"#
            ],
            "only the current reason has a series"
        );
        assert_eq!(
            lines_with(&text, "reachd_check_failures_total{"),
            vec![r#"reachd_check_failures_total{device="r1",protocol="icmp",reason="no_reply"} 1"#]
        );
        assert_eq!(
            lines_with(&text, "reachd_checks_total{"),
            vec![r#"reachd_checks_total{device="r1",protocol="icmp"} 2"#]
        );
        assert_eq!(
            lines_with(&text, "reachd_state_change_timestamp_seconds{"),
            vec![r#"reachd_state_change_timestamp_seconds{device="r1",protocol="icmp"} 110"#]
        );
        assert!(text.contains("# TYPE reachd_build_info gauge"));
        assert!(text.contains("process_resident_memory_bytes"));
    }

    #[test]
    fn icmp_rtts_fill_the_histogram_and_counters() {
        let m = Metrics::new();
        let s = StatusStore::default();
        let mut r = result("r1", Reason::Ok, 100);
        r.verdict.icmp = Some(IcmpStats {
            sent: 3,
            received: 2,
            rtts: vec![Duration::from_micros(300), Duration::from_millis(3)],
        });
        m.record(&r, &s.record(&r));
        let text = m.render();
        assert!(text.contains(r#"reachd_icmp_rtt_seconds_bucket{device="r1",le="0.0005"} 1"#));
        assert!(text.contains(r#"reachd_icmp_rtt_seconds_bucket{device="r1",le="0.005"} 2"#));
        assert!(text.contains(r#"reachd_icmp_rtt_seconds_count{device="r1"} 2"#));
        assert!(text.contains(r#"reachd_icmp_requests_sent_total{device="r1"} 3"#));
        assert!(text.contains(r#"reachd_icmp_replies_received_total{device="r1"} 2"#));
        assert!(text.contains(r#"reachd_icmp_loss_ratio{device="r1"} 0.333"#));
    }

    #[test]
    fn removed_targets_lose_every_series() {
        let m = Metrics::new();
        let s = StatusStore::default();
        for (name, reason) in [("gone", Reason::NoReply), ("kept", Reason::Ok)] {
            let mut r = result(name, reason, 100);
            r.verdict.icmp = Some(IcmpStats {
                sent: 1,
                received: 1,
                rtts: vec![Duration::from_millis(1)],
            });
            m.record(&r, &s.record(&r));
        }
        m.remove(&TargetKey {
            device: "gone".into(),
            protocol: Protocol::Icmp,
        });
        let text = m.render();
        assert!(!text.contains(r#"device="gone""#), "{text}");
        assert!(text.contains(r#"reachd_up{device="kept",protocol="icmp"} 1"#));
    }

    #[test]
    fn device_info_follows_the_inventory() {
        let m = Metrics::new();
        let dev = |name: &str, labels: &[(&str, &str)]| Device {
            name: name.into(),
            host: "192.0.2.1".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        };
        m.set_devices(&[
            dev("r1", &[("site", "par1")]),
            dev("r2", &[("role", "core")]),
        ]);
        let text = m.render();
        assert!(text.contains(
            r#"reachd_device_info{address="192.0.2.1",device="r1",role="",site="par1"} 1"#
        ));
        m.set_devices(&[dev("r2", &[("role", "edge")])]);
        let text = m.render();
        assert_eq!(
            lines_with(&text, "reachd_device_info{"),
            vec![r#"reachd_device_info{address="192.0.2.1",device="r2",role="edge"} 1"#]
        );
    }

    #[test]
    fn reload_metrics() {
        let m = Metrics::new();
        m.reload(true, std::time::UNIX_EPOCH + Duration::from_secs(42));
        m.reload(false, std::time::UNIX_EPOCH + Duration::from_secs(50));
        let text = m.render();
        assert!(text.contains("reachd_config_last_reload_successful 0"));
        assert!(text.contains("reachd_config_last_reload_success_timestamp_seconds 42"));
    }
}
