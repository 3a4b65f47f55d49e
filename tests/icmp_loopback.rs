//! The ICMP probe against real sockets, on loopback only.
//!
//! Runs as root (raw socket) or where unprivileged ICMP is allowed
//! (`net.ipv4.ping_group_range`); `tests/interop/icmp.sh` runs this file both
//! ways inside network namespaces of its own.

use std::net::{Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use reachd::probe::icmp::IcmpProbe;
use reachd::probe::icmp::stats::IcmpStats;
use reachd::probe::{Probe, run_check};
use reachd::target::{CheckSpec, IcmpSpec, IpFamily, Protocol, SessionSpec, Source, Target};
use reachd::verdict::{Phase, Reason, Verdict};

fn target(device: &str, host: &str, count: u32) -> Target {
    Target {
        device: device.into(),
        protocol: Protocol::Icmp,
        host: host.into(),
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(3),
        spec: CheckSpec::Icmp(IcmpSpec {
            count,
            spacing: Duration::from_millis(20),
            payload_size: 56,
        }),
        source: Default::default(),
        ip_family: Default::default(),
    }
}

fn probe() -> IcmpProbe {
    match IcmpProbe::new() {
        Ok(p) => p,
        Err(e) => panic!("ICMP unavailable here: {e}"),
    }
}

#[track_caller]
fn assert_up(v: &Verdict, sent: u32) {
    let stats = IcmpStats::of(v.stats.as_ref()).expect("ICMP stats");
    assert!(v.up, "{v:?}");
    assert_eq!(v.reason, Reason::Ok, "{v:?}");
    assert_eq!(v.phase, Phase::Connect, "{v:?}");
    assert_eq!((stats.sent, stats.received), (sent, sent), "{v:?}");
    assert_eq!(stats.rtts.len(), sent as usize, "{v:?}");
    assert!(stats.rtts.iter().all(|r| !r.is_zero()), "a zero RTT: {v:?}");
    assert!(
        v.detail
            .starts_with(&format!("{sent}/{sent} replies, rtt ")),
        "{}",
        v.detail
    );
}

#[tokio::test]
async fn loopback_127_0_0_1_answers_3_of_3() {
    let p = probe();
    assert!(["unprivileged", "raw"].contains(&p.mode()), "{}", p.mode());
    eprintln!(
        "mode: {}, IPv6: {:?} {:?}",
        p.mode(),
        p.ipv6_mode(),
        p.ipv6_error()
    );
    let v = run_check(&p, &target("lo", "127.0.0.1", 3)).await;
    assert_up(&v, 3);
    assert!(v.detail.ends_with(" ms"), "{}", v.detail);
    // A literal address: the resolve phase is entered and left at once.
    assert_eq!(v.phases[0].0, Phase::Resolve);
    assert_eq!(v.phases[1].0, Phase::Connect);
    assert_eq!(p.protocol(), Protocol::Icmp);
}

#[tokio::test]
async fn other_loopback_addresses_answer() {
    let p = probe();
    for host in ["127.1.2.3", "127.200.0.9", "localhost", "[127.0.0.1]"] {
        let v = run_check(&p, &target(host, host, 3)).await;
        assert_up(&v, 3);
    }
}

fn has_ipv6_loopback() -> bool {
    UdpSocket::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, 0))).is_ok()
}

#[tokio::test]
async fn ipv6_loopback_answers() {
    let p = probe();
    let v = run_check(&p, &target("lo6", "::1", 3)).await;
    if !has_ipv6_loopback() {
        eprintln!("NOTE: ::1 is not configured here; skipping the IPv6 assertion ({v:?})");
        return;
    }
    if let Some(why) = p.ipv6_error() {
        panic!("::1 is configured but IPv6 ICMP could not be opened: {why}");
    }
    assert_up(&v, 3);
}

/// `localhost` under each `ip_family`. Which address was pinged shows
/// through a source of one family: the check is up only if the
/// destination is of the source's family, and a destination of the other
/// family is named in the detail.
#[tokio::test]
async fn ip_family_picks_the_address_of_localhost() {
    let p = probe();
    let with = |family: IpFamily, source: &str| {
        let mut t = target("lo", "localhost", 2);
        t.ip_family = family;
        t.source = Source {
            address: Some(source.parse().unwrap()),
            interface: None,
        };
        t
    };
    // ipv4: 127.0.0.1, from 127.0.0.1.
    assert_up(&run_check(&p, &with(IpFamily::Ipv4, "127.0.0.1")).await, 2);
    // auto (as before): localhost is 127.0.0.1, which a source of ::1
    // cannot reach: the detail names the address used.
    if has_ipv6_loopback() && p.ipv6_error().is_none() {
        let v = run_check(&p, &with(IpFamily::Auto, "::1")).await;
        assert!(!v.up, "{v:?}");
        assert!(v.detail.contains("cannot ping 127.0.0.1"), "{}", v.detail);
        // ipv6: ::1, from ::1.
        assert_up(&run_check(&p, &with(IpFamily::Ipv6, "::1")).await, 2);
        // ipv4 from ::1: 127.0.0.1 again, named.
        let v = run_check(&p, &with(IpFamily::Ipv4, "::1")).await;
        assert!(v.detail.contains("cannot ping 127.0.0.1"), "{}", v.detail);
    } else {
        eprintln!("NOTE: no IPv6 loopback (or IPv6 ICMP) here; skipping the ::1 cases");
    }
    // ipv6 from 127.0.0.1: ::1 is pinged, which that source cannot reach.
    let v = run_check(&p, &with(IpFamily::Ipv6, "127.0.0.1")).await;
    assert!(!v.up, "{v:?}");
    assert!(v.detail.contains("cannot ping ::1"), "{}", v.detail);
    // Without a source: both up.
    for family in [IpFamily::Auto, IpFamily::Ipv4] {
        let mut t = target("lo", "localhost", 2);
        t.ip_family = family;
        assert_up(&run_check(&p, &t).await, 2);
    }
}

#[tokio::test]
async fn a_literal_of_the_other_family_is_an_error() {
    // The configuration refuses it; a target built by hand says so too.
    let p = probe();
    let mut t = target("lo", "127.0.0.1", 1);
    t.ip_family = IpFamily::Ipv6;
    let v = run_check(&p, &t).await;
    assert!(!v.up);
    assert_eq!(v.reason, Reason::Error, "{v:?}");
    assert_eq!(
        v.detail,
        "127.0.0.1 is not an IPv6 address (ip_family: ipv6)"
    );
}

#[tokio::test]
async fn an_invalid_name_fails_in_resolve_without_a_query() {
    let p = probe();
    for host in ["x.invalid", "r1.lab.INVALID."] {
        let v = run_check(&p, &target("bad", host, 3)).await;
        assert!(!v.up);
        assert_eq!(v.reason, Reason::Dns, "{v:?}");
        assert_eq!(v.phase, Phase::Resolve, "{v:?}");
        assert!(v.detail.contains(host), "{}", v.detail);
        let stats = IcmpStats::of(v.stats.as_ref()).expect("stats on down verdicts too");
        assert_eq!((stats.sent, stats.received), (0, 0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_checks_each_get_their_own_replies() {
    let p = Arc::new(probe());
    let mut tasks = Vec::new();
    for i in 0..1000u32 {
        let host = format!("127.10.{}.{}", i / 250, i % 250 + 1);
        let t = target(&format!("d{i}"), &host, 3);
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            (t.host.clone(), run_check(&*p, &t).await)
        }));
    }
    let mut down = Vec::new();
    for task in tasks {
        let (host, v) = task.await.expect("check task");
        let s = IcmpStats::of(v.stats.as_ref()).expect("stats");
        if !v.up || s.received != s.sent || s.sent != 3 {
            down.push(format!("{host}: {} {}", v.reason, v.detail));
        }
    }
    assert!(
        down.is_empty(),
        "{} of 1000 not 3/3: {:?}",
        down.len(),
        &down[..down.len().min(10)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_sharing_an_address_do_not_take_each_others_replies() {
    let p = Arc::new(probe());
    // Two, as in a device configured twice; then twenty at once.
    for n in [2, 20] {
        let mut tasks = Vec::new();
        for i in 0..n {
            let t = target(&format!("twin{i}"), "127.0.0.1", 3);
            let p = p.clone();
            tasks.push(tokio::spawn(async move { run_check(&*p, &t).await }));
        }
        for task in tasks {
            assert_up(&task.await.expect("check task"), 3);
        }
    }
}

#[tokio::test]
async fn count_one_and_count_five() {
    let p = probe();
    assert_up(&run_check(&p, &target("c1", "127.0.0.1", 1)).await, 1);
    assert_up(&run_check(&p, &target("c5", "127.0.0.1", 5)).await, 5);
}

#[tokio::test]
async fn repeated_checks_of_one_target_all_answer() {
    let p = probe();
    let t = target("again", "127.0.0.7", 3);
    for _ in 0..5 {
        assert_up(&run_check(&p, &t).await, 3);
    }
}

/// How late a check's end may be seen on a loaded machine (the test
/// threads share 2 cores with the rest of the suite): the daemon's own
/// allowance for a check beyond its timeout (`bench/soak.py`).
const LATE: Duration = Duration::from_millis(100);

#[tokio::test]
async fn through_run_check_with_a_short_timeout() {
    let p = probe();
    let mut t = target("short", "127.0.0.1", 3);
    t.timeout = Duration::from_millis(300);
    if let CheckSpec::Icmp(spec) = &mut t.spec {
        spec.spacing = Duration::from_millis(100);
    }
    let v = run_check(&p, &t).await;
    assert_up(&v, 3);
    assert!(v.duration < t.timeout + LATE, "{v:?}");

    // More requests than fit: the ones whose turn comes after the probe's
    // own finish are not sent, and the check is still up, within its timeout.
    let mut t = target("tight", "127.0.0.1", 10);
    t.timeout = Duration::from_millis(250);
    if let CheckSpec::Icmp(spec) = &mut t.spec {
        spec.spacing = Duration::from_millis(100);
    }
    let v = run_check(&p, &t).await;
    assert_up(&v, 3);
    assert!(v.duration < t.timeout + LATE, "{v:?}");
}

#[tokio::test]
async fn payload_sizes_from_empty_to_the_maximum() {
    let p = probe();
    for size in [0, 1, 1472, 4000, 65_507] {
        let mut t = target("payload", "127.0.0.1", 1);
        if let CheckSpec::Icmp(spec) = &mut t.spec {
            spec.payload_size = size;
        }
        let v = run_check(&p, &t).await;
        assert!(v.up, "payload {size}: {v:?}");
    }
}

#[tokio::test]
async fn impossible_settings_are_errors_not_panics() {
    let p = probe();
    type Change = Box<dyn Fn(&mut Target)>;
    let cases: [(&str, Change); 5] = [
        ("count 0", Box::new(|t| set(t, |s| s.count = 0))),
        (
            "count too large",
            Box::new(|t| set(t, |s| s.count = 70_000)),
        ),
        (
            "payload too large",
            Box::new(|t| set(t, |s| s.payload_size = 65_508)),
        ),
        ("multicast", Box::new(|t| t.host = "224.0.0.1".into())),
        (
            "not an ICMP spec",
            Box::new(|t| t.spec = CheckSpec::Ssh(session())),
        ),
    ];
    for (name, change) in cases {
        let mut t = target("bad", "127.0.0.1", 3);
        change(&mut t);
        let v = run_check(&p, &t).await;
        assert_eq!(v.reason, Reason::Error, "{name}: {v:?}");
        assert!(!v.detail.is_empty());
        assert!(IcmpStats::of(v.stats.as_ref()).is_some(), "{name}");
    }
}

#[tokio::test]
async fn absurd_spacing_sends_one_request_and_ends_in_time() {
    let p = probe();
    let mut t = target("slow", "127.0.0.1", 3);
    t.timeout = Duration::from_millis(500);
    set(&mut t, |s| s.spacing = Duration::MAX);
    let v = run_check(&p, &t).await;
    assert_up(&v, 1);
}

fn set(t: &mut Target, f: impl FnOnce(&mut IcmpSpec)) {
    if let CheckSpec::Icmp(spec) = &mut t.spec {
        f(spec);
    }
}

fn session() -> SessionSpec {
    SessionSpec {
        port: 22,
        username: None,
        password: None,
        secondary: None,
        private_key: None,
        private_key_passphrase: None,
        host_key: Default::default(),
        known_hosts: None,
        platform: None,
        connect_timeout: Duration::from_secs(1),
        read_timeout: Duration::from_secs(1),
        enable: false,
        command: None,
        expect: None,
        algorithms: Default::default(),
    }
}

/// 127.255.255.255, loopback's broadcast address: the demo's silent target.
#[tokio::test]
async fn loopback_broadcast_is_refused_unless_allowed_and_then_silent() {
    // Without SO_BROADCAST the kernel refuses the send: an `error` that
    // names the likely cause, and nothing counted as sent.
    let v = run_check(&probe(), &target("bc", "127.255.255.255", 2)).await;
    assert_eq!(v.reason, Reason::Error, "{v:?}");
    assert!(v.detail.contains("a broadcast address?"), "{}", v.detail);
    assert_eq!(
        IcmpStats::of(v.stats.as_ref()).map(|s| s.sent),
        Some(0),
        "{v:?}"
    );

    let ignored = std::fs::read_to_string("/proc/sys/net/ipv4/icmp_echo_ignore_broadcasts")
        .expect("Linux /proc");
    assert_eq!(
        ignored.trim(),
        "1",
        "this host answers broadcast pings (net.ipv4.icmp_echo_ignore_broadcasts)"
    );
    let p = IcmpProbe::with_broadcast().unwrap_or_else(|e| panic!("{e}"));
    let mut t = target("bc", "127.255.255.255", 2);
    t.timeout = Duration::from_millis(800);
    let v = run_check(&p, &t).await;
    assert_eq!(v.reason, Reason::NoReply, "{v:?}");
    assert_eq!(v.detail, "0/2 replies", "{v:?}");
    // The probe's own finish, a little before the check's deadline (the
    // reason above says the probe ended it, not the timeout).
    assert!(v.duration <= t.timeout + LATE, "{v:?}");
    // The same probe still pings ordinary addresses.
    assert_up(&run_check(&p, &target("lo", "127.0.0.1", 2)).await, 2);
}
