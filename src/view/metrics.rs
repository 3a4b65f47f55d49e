//! Prometheus metrics: the `/metrics` view of the state store.
//!
//! Per-target series (up, reason, durations, counters, each check's own
//! series such as ICMP's RTT histograms, `reachd_device_info`) are rendered at scrape time straight from the
//! [`StateStore`]: a few hundred bytes per target, where label-vector metrics
//! cost kilobytes, which matters at 100,000 targets. reachd's own health
//! (scheduler, reloads, build, process) uses the `prometheus` crate, in
//! [`Metrics`]' registry.
//!
//! Label values come only from the inventory and the fixed reason and phase
//! sets, so cardinality is bounded by the configuration; a target removed
//! from the configuration leaves the store and its series disappear. Every
//! metric is listed in the README.

use std::fmt::Write as _;

use prometheus::{Encoder, TextEncoder};

use crate::exposition::{Family, esc, header, num};
use crate::probe::CheckCounters;
use crate::sink::deps::{self, Dependencies};
use crate::sink::registry::Metrics;
use crate::sink::state::{StateStore, TargetState, unix_seconds};
use crate::target::Device;
use crate::topology::Graph;

/// The `/metrics` view.
impl Metrics {
    /// The text exposition format: per-target series, then reachd's own.
    pub fn render(&self, state: &StateStore) -> String {
        self.render_with(state, &Dependencies::default())
    }

    /// [`Metrics::render`], and `reachd_parent_down` from `deps`.
    pub fn render_with(&self, state: &StateStore, deps: &Dependencies) -> String {
        let mut out = String::with_capacity(4096 + state.len() * 1200);
        let devices = self.devices();
        render_device_info(&devices, &mut out);
        render_source_info(state, &mut out);
        render_parent_down(&deps.graph(), state, &mut out);
        render_paths(state, &mut out);
        render_targets(state, &mut out);
        let mut buf = Vec::with_capacity(16 * 1024);
        if let Err(e) = TextEncoder::new().encode(&self.registry().gather(), &mut buf) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        out.push_str(&String::from_utf8_lossy(&buf));
        out
    }
}

fn render_device_info(devices: &[Device], out: &mut String) {
    if devices.is_empty() {
        return;
    }
    let mut names: Vec<&str> = devices
        .iter()
        .flat_map(|d| d.labels.keys().map(String::as_str))
        .filter(|k| !matches!(*k, "device" | "address"))
        .collect();
    names.sort_unstable();
    names.dedup();
    header(
        out,
        "reachd_device_info",
        "gauge",
        "The inventory's labels of each device (value 1).",
    );
    for d in devices {
        let _ = write!(
            out,
            "reachd_device_info{{device=\"{}\",address=\"{}\"",
            esc(&d.name),
            esc(&d.host)
        );
        for k in &names {
            let v = d.labels.get(*k).map_or("", String::as_str);
            let _ = write!(out, ",{k}=\"{}\"", esc(v));
        }
        out.push_str("} 1\n");
    }
}

/// `reachd_source_info{device,protocol,source_address,source_interface}`:
/// one series (value 1) per check with a source set (`source_address`,
/// `source_interface`), the unset one empty; none for checks with the
/// default source, so no series at all where no device sets one.
fn render_source_info(state: &StateStore, out: &mut String) {
    let mut lines = String::new();
    state.for_each(|s| {
        let t = &s.target;
        if t.source.is_default() {
            return;
        }
        let address = t.source.address.map(|a| a.to_string()).unwrap_or_default();
        let _ = writeln!(
            lines,
            "reachd_source_info{{device=\"{}\",protocol=\"{}\",source_address=\"{}\",source_interface=\"{}\"}} 1",
            esc(&t.device),
            t.protocol,
            esc(&address),
            esc(t.source.interface.as_deref().unwrap_or(""))
        );
    });
    if lines.is_empty() {
        return;
    }
    header(
        out,
        "reachd_source_info",
        "gauge",
        "The source (address, interface) each check with a configured source sends from (value 1).",
    );
    out.push_str(&lines);
}

/// `reachd_parent_down{device}` for every device that has parents: 1
/// while any of its ancestors is down.
fn render_parent_down(g: &Graph, state: &StateStore, out: &mut String) {
    if !g.has_dependencies() {
        return;
    }
    header(
        out,
        "reachd_parent_down",
        "gauge",
        "1 while any ancestor (parents:, transitively) of the device is down, else 0; only devices with parents.",
    );
    let behind = deps::behind_all(g, state);
    for id in 0..g.len() as u32 {
        if g.parents(id).is_empty() {
            continue;
        }
        let down = u8::from(behind[id as usize].is_some());
        let _ = writeln!(
            out,
            "reachd_parent_down{{device=\"{}\"}} {down}",
            esc(g.name(id))
        );
    }
}

/// `reachd_path_hops_answered{device}`: hops that answered in the last
/// trace of the device's path (the newest of its down targets' traces);
/// present while a target of the device is down with a trace.
fn render_paths(state: &StateStore, out: &mut String) {
    let mut latest: std::collections::BTreeMap<
        std::sync::Arc<str>,
        (std::time::SystemTime, usize),
    > = Default::default();
    state.for_each(|s| {
        if let Some(p) = &s.path {
            let e = latest
                .entry(s.target.device.clone())
                .or_insert((p.finished_at, p.answered()));
            if p.finished_at > e.0 {
                *e = (p.finished_at, p.answered());
            }
        }
    });
    if latest.is_empty() {
        return;
    }
    header(
        out,
        "reachd_path_hops_answered",
        "gauge",
        "Hops that answered in the last trace of the path to the device, traced when a check of it stopped answering; present while it is down.",
    );
    for (device, (_, hops)) in latest {
        let _ = writeln!(
            out,
            "reachd_path_hops_answered{{device=\"{}\"}} {hops}",
            esc(&device)
        );
    }
}

/// The per-target families every check has: name, type, help. Each
/// check's own families follow ([`CheckCounters::FAMILIES`]).
const FAMILIES: &[Family] = &[
    (
        "reachd_up",
        "gauge",
        "1 if the last check of the device on the protocol succeeded, else 0.",
    ),
    (
        "reachd_reason",
        "gauge",
        "The reason and phase of the last check's verdict (value 1; reason=\"ok\" when up).",
    ),
    (
        "reachd_check_duration_seconds",
        "gauge",
        "Duration of the last check.",
    ),
    (
        "reachd_phase_duration_seconds",
        "gauge",
        "Time the last check spent in each phase it entered.",
    ),
    ("reachd_checks_total", "counter", "Checks completed."),
    (
        "reachd_state_changes_total",
        "counter",
        "Times the target went up or down.",
    ),
    (
        "reachd_check_failures_total",
        "counter",
        "Checks that ended down, by reason.",
    ),
    (
        "reachd_state_change_timestamp_seconds",
        "gauge",
        "Unix time the target last went up or down.",
    ),
    (
        "reachd_last_check_timestamp_seconds",
        "gauge",
        "Unix time the last check ended.",
    ),
];

/// Renders every target's series. Each target is read once, under its
/// shard's lock, so all of a target's series come from the same moment
/// (its requests sent and replies received agree); the lines go to one
/// buffer per family, joined at the end as the text format wants.
fn render_targets(state: &StateStore, out: &mut String) {
    if state.is_empty() {
        return;
    }
    let families: Vec<&Family> = FAMILIES
        .iter()
        .chain(CheckCounters::FAMILIES.iter().flat_map(|(_, f)| f.iter()))
        .collect();
    let per_target = state.len() / families.len() + 1;
    let mut bufs: Vec<String> = families
        .iter()
        .map(|_| String::with_capacity(per_target * 64))
        .collect();
    state.for_each(|s| render_target(s, &mut bufs));
    for ((name, kind, help), buf) in families.into_iter().zip(bufs) {
        if !buf.is_empty() {
            header(out, name, kind, help);
            out.push_str(&buf);
        }
    }
}

fn render_target(s: &TargetState, b: &mut [String]) {
    let l = format!(
        "device=\"{}\",protocol=\"{}\"",
        esc(&s.target.device),
        s.target.protocol
    );
    let _ = writeln!(b[0], "reachd_up{{{l}}} {}", u8::from(s.up));
    let _ = writeln!(
        b[1],
        "reachd_reason{{{l},reason=\"{}\",phase=\"{}\"}} 1",
        s.reason, s.phase
    );
    let _ = writeln!(
        b[2],
        "reachd_check_duration_seconds{{{l}}} {}",
        num(s.duration.as_secs_f64())
    );
    for (phase, d) in s.phases.iter() {
        let _ = writeln!(
            b[3],
            "reachd_phase_duration_seconds{{{l},phase=\"{phase}\"}} {}",
            num(d.as_secs_f64())
        );
    }
    let _ = writeln!(b[4], "reachd_checks_total{{{l}}} {}", s.checks);
    let _ = writeln!(b[5], "reachd_state_changes_total{{{l}}} {}", s.changes);
    for (reason, n) in &s.failures {
        let _ = writeln!(
            b[6],
            "reachd_check_failures_total{{{l},reason=\"{reason}\"}} {n}"
        );
    }
    let _ = writeln!(
        b[7],
        "reachd_state_change_timestamp_seconds{{{l}}} {}",
        num(unix_seconds(s.since))
    );
    let _ = writeln!(
        b[8],
        "reachd_last_check_timestamp_seconds{{{l}}} {}",
        num(unix_seconds(s.last_check))
    );
    if let Some(c) = &s.stats {
        c.write_series(&esc(&s.target.device), &mut b[FAMILIES.len()..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::state::tests::result;
    use crate::verdict::Reason;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn lines_with<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
        text.lines().filter(|l| l.starts_with(prefix)).collect()
    }

    #[test]
    fn renders_state_reason_and_failures() {
        let m = Metrics::new();
        let s = StateStore::default();
        s.record(&result("r1", Reason::Ok, 100));
        s.record(&result("r1", Reason::NoReply, 110));
        let text = m.render(&s);
        assert_eq!(
            lines_with(&text, "reachd_up{"),
            vec![r#"reachd_up{device="r1",protocol="icmp"} 0"#]
        );
        assert_eq!(
            lines_with(&text, "reachd_reason{"),
            vec![
                r#"reachd_reason{device="r1",protocol="icmp",reason="no_reply",phase="connect"} 1"#
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
            lines_with(&text, "reachd_state_changes_total{"),
            vec![r#"reachd_state_changes_total{device="r1",protocol="icmp"} 1"#]
        );
        assert_eq!(
            lines_with(&text, "reachd_state_change_timestamp_seconds{"),
            vec![r#"reachd_state_change_timestamp_seconds{device="r1",protocol="icmp"} 110"#]
        );
        assert!(text.contains("# TYPE reachd_checks_total counter"));
        assert!(text.contains("# TYPE reachd_build_info gauge"));
        assert!(text.contains("reachd_targets{protocol=\"ssh\"} 0"));
        assert!(text.contains("process_resident_memory_bytes"));
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new();
        let s = StateStore::default();
        s.record(&result("a\"b\\c\nd", Reason::Ok, 1));
        let text = m.render(&s);
        assert!(
            text.contains(r#"reachd_up{device="a\"b\\c\nd",protocol="icmp"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn source_info_only_for_checks_with_a_source() {
        let m = Metrics::new();
        let s = StateStore::default();
        s.record(&result("plain", Reason::Ok, 1));
        assert!(!m.render(&s).contains("reachd_source_info"));
        let mut r = result("oob", Reason::Ok, 1);
        let mut t = (*r.target).clone();
        t.source.interface = Some("mgmt0".into());
        r.target = std::sync::Arc::new(t);
        s.record(&r);
        let mut r = result("acl", Reason::Ok, 1);
        let mut t = (*r.target).clone();
        t.source.address = Some("198.18.5.1".parse().unwrap());
        r.target = std::sync::Arc::new(t);
        s.record(&r);
        let text = m.render(&s);
        let mut lines = lines_with(&text, "reachd_source_info{");
        lines.sort_unstable();
        assert_eq!(
            lines,
            vec![
                r#"reachd_source_info{device="acl",protocol="icmp",source_address="198.18.5.1",source_interface=""} 1"#,
                r#"reachd_source_info{device="oob",protocol="icmp",source_address="",source_interface="mgmt0"} 1"#,
            ]
        );
        assert_eq!(
            lines_with(&text, "# TYPE reachd_source_info gauge").len(),
            1
        );
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
            parents: vec![],
            path_trace: true,
        };
        let s = StateStore::default();
        m.set_devices(&[
            dev("r1", &[("site", "par1")]),
            dev("r2", &[("role", "core")]),
        ]);
        let text = m.render(&s);
        assert!(text.contains(
            r#"reachd_device_info{device="r1",address="192.0.2.1",role="",site="par1"} 1"#
        ));
        m.set_devices(&[dev("r2", &[("role", "edge")])]);
        let text = m.render(&s);
        assert_eq!(
            lines_with(&text, "reachd_device_info{"),
            vec![r#"reachd_device_info{device="r2",address="192.0.2.1",role="edge"} 1"#]
        );
    }

    #[test]
    fn reload_metrics() {
        let m = Metrics::new();
        m.reload(true, std::time::UNIX_EPOCH + Duration::from_secs(42));
        m.reload(false, std::time::UNIX_EPOCH + Duration::from_secs(50));
        let text = m.render(&StateStore::default());
        assert!(text.contains("reachd_config_last_reload_successful 0"));
        assert!(text.contains("reachd_config_last_reload_success_timestamp_seconds 42"));
    }
}
