//! Checks driven by `tests/interop/icmp.sh`, which runs them inside network
//! namespaces it creates (as root, and as `nobody`). Ignored by default: on
//! their own they would need those namespaces.
//!
//! `interop_check` reads what to check and what to expect from the
//! environment:
//!
//! | variable | meaning |
//! |---|---|
//! | `REACHD_ICMP_TARGET` | host to check (required) |
//! | `REACHD_ICMP_EXPECT` | expected reason: `ok`, `no_reply`, `unreachable`, … (required) |
//! | `REACHD_ICMP_COUNT` | echo requests (default 3) |
//! | `REACHD_ICMP_TIMEOUT_MS` | check timeout (default 2000) |
//! | `REACHD_ICMP_SENT`, `REACHD_ICMP_RECEIVED` | expected counts (optional) |
//! | `REACHD_ICMP_MODE` | expected socket mode, `raw` or `unprivileged` (optional) |
//! | `REACHD_ICMP_DETAIL` | text the detail must contain (optional) |

use std::time::Duration;

use reachd::probe::icmp::IcmpProbe;
use reachd::probe::icmp::stats::IcmpStats;
use reachd::probe::run_check;
use reachd::target::{CheckSpec, IcmpSpec, Protocol, Target};
use reachd::verdict::{Phase, Reason};

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn required(name: &str) -> String {
    var(name).unwrap_or_else(|| panic!("{name} is not set (run tests/interop/icmp.sh)"))
}

fn number(name: &str) -> Option<u64> {
    var(name).map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by tests/interop/icmp.sh inside its own network namespaces"]
async fn interop_check() {
    let host = required("REACHD_ICMP_TARGET");
    let expect = required("REACHD_ICMP_EXPECT");
    let count = number("REACHD_ICMP_COUNT").unwrap_or(3);
    let timeout = Duration::from_millis(number("REACHD_ICMP_TIMEOUT_MS").unwrap_or(2000));

    let probe = IcmpProbe::new().unwrap_or_else(|e| panic!("{e}"));
    println!(
        "mode: {} (IPv6: {})",
        probe.mode(),
        probe
            .ipv6_mode()
            .unwrap_or_else(|| probe.ipv6_error().unwrap_or("?"))
    );
    if let Some(mode) = var("REACHD_ICMP_MODE") {
        assert_eq!(probe.mode(), mode, "socket mode");
    }

    let target = Target {
        device: "interop".into(),
        protocol: Protocol::Icmp,
        host: host.clone(),
        interval: Duration::from_secs(10),
        timeout,
        spec: CheckSpec::Icmp(IcmpSpec {
            count: u32::try_from(count).expect("count"),
            spacing: Duration::from_millis(200),
            payload_size: 56,
        }),
        source: Default::default(),
        ip_family: Default::default(),
    };
    let v = run_check(&probe, &target).await;
    println!(
        "verdict: {}",
        serde_json::to_string(&v).expect("verdict as JSON")
    );

    assert_eq!(v.reason.as_str(), expect, "reason for {host}: {}", v.detail);
    assert_ne!(
        v.reason,
        Reason::Timeout,
        "the probe must end before run_check's timeout"
    );
    assert!(
        v.duration < timeout,
        "took {:?}, timeout {timeout:?}",
        v.duration
    );
    let stats = IcmpStats::of(v.stats.as_ref()).expect("ICMP stats on every verdict");
    if v.reason != Reason::Dns {
        assert_eq!(v.phase, Phase::Connect);
    }
    if let Some(sent) = number("REACHD_ICMP_SENT") {
        assert_eq!(u64::from(stats.sent), sent, "sent");
    }
    if let Some(received) = number("REACHD_ICMP_RECEIVED") {
        assert_eq!(u64::from(stats.received), received, "received");
    }
    if let Some(text) = var("REACHD_ICMP_DETAIL") {
        assert!(
            v.detail.contains(&text),
            "detail {:?} lacks {text:?}",
            v.detail
        );
    }
}

#[tokio::test]
#[ignore = "run by tests/interop/icmp.sh as an unprivileged user"]
async fn interop_setup_fails() {
    match IcmpProbe::new() {
        Ok(p) => panic!(
            "expected the setup error, but ICMP works ({} mode)",
            p.mode()
        ),
        Err(e) => {
            let msg = e.to_string();
            println!("setup error: {msg}");
            assert!(e.is_permission(), "{msg}");
            for fix in [
                "sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"",
                "setcap cap_net_raw+ep",
                "AmbientCapabilities=CAP_NET_RAW",
            ] {
                assert!(msg.contains(fix), "message lacks {fix:?}: {msg}");
            }
        }
    }
}
