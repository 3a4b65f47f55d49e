//! The ICMP check's own series in `/metrics`: from its verdicts' stats,
//! through the state store, to the text format.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use reachd::probe::icmp::stats::IcmpStats;
use reachd::result::CheckResult;
use reachd::sink::registry::Metrics;
use reachd::sink::state::StateStore;
use reachd::target::{CheckSpec, CheckStats, IcmpSpec, Protocol, Target, TargetKey};
use reachd::verdict::{Outcome, Phase, Progress, Reason};

/// An ICMP check of `device` ending in `reason` at `at_secs`.
fn result(device: &str, reason: Reason, at_secs: u64) -> CheckResult {
    let target = Arc::new(Target {
        device: device.into(),
        protocol: Protocol::Icmp,
        host: "127.0.0.1".into(),
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(2),
        spec: CheckSpec::Icmp(IcmpSpec::default()),
        source: Default::default(),
        ip_family: Default::default(),
    });
    let p = Progress::start(Phase::Resolve, target.timeout);
    p.enter(Phase::Connect);
    CheckResult {
        target,
        verdict: p.finish(Outcome::new(reason, "detail")),
        finished_at: UNIX_EPOCH + Duration::from_secs(at_secs),
        lag: Duration::ZERO,
    }
}

#[test]
fn icmp_rtts_fill_the_histogram_and_counters() {
    let m = Metrics::new();
    let s = StateStore::default();
    let mut r = result("r1", Reason::Ok, 100);
    r.verdict.stats = Some(CheckStats::from(IcmpStats {
        sent: 3,
        received: 2,
        rtts: vec![Duration::from_micros(300), Duration::from_millis(3)],
    }));
    s.record(&r);
    let text = m.render(&s);
    assert!(text.contains(r#"reachd_icmp_rtt_seconds_bucket{device="r1",le="0.00025"} 0"#));
    assert!(text.contains(r#"reachd_icmp_rtt_seconds_bucket{device="r1",le="0.0005"} 1"#));
    assert!(text.contains(r#"reachd_icmp_rtt_seconds_bucket{device="r1",le="0.005"} 2"#));
    assert!(text.contains(r#"reachd_icmp_rtt_seconds_bucket{device="r1",le="+Inf"} 2"#));
    assert!(text.contains(r#"reachd_icmp_rtt_seconds_count{device="r1"} 2"#));
    assert!(text.contains(r#"reachd_icmp_rtt_seconds_sum{device="r1"} 0.0033"#));
    assert!(text.contains(r#"reachd_icmp_requests_sent_total{device="r1"} 3"#));
    assert!(text.contains(r#"reachd_icmp_replies_received_total{device="r1"} 2"#));
    assert!(text.contains(r#"reachd_icmp_loss_ratio{device="r1"} 0.333"#));
}

#[test]
fn removed_targets_lose_every_series() {
    let m = Metrics::new();
    let s = StateStore::default();
    for (name, reason) in [("gone", Reason::NoReply), ("kept", Reason::Ok)] {
        let mut r = result(name, reason, 100);
        r.verdict.stats = Some(CheckStats::from(IcmpStats {
            sent: 1,
            received: 1,
            rtts: vec![Duration::from_millis(1)],
        }));
        s.record(&r);
    }
    s.remove(&TargetKey {
        device: "gone".into(),
        protocol: Protocol::Icmp,
    });
    let text = m.render(&s);
    assert!(!text.contains(r#"device="gone""#), "{text}");
    assert!(text.contains(r#"reachd_up{device="kept",protocol="icmp"} 1"#));
}
