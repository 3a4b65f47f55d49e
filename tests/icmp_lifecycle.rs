//! Creating and dropping the ICMP probe leaks nothing: no socket, no thread.
//! (Its own test binary, so no other test's probe is counted.)

use std::time::{Duration, Instant};

use reachd::probe::icmp::IcmpProbe;
use reachd::probe::run_check;
use reachd::target::{CheckSpec, IcmpSpec, Protocol, Target};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn rx_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "reachd-icmp-rx")
        .count()
}

/// Waits (bounded) for the receive threads to finish exiting.
fn settle(want_threads: usize) -> usize {
    let until = Instant::now() + Duration::from_secs(5);
    while rx_threads() > want_threads && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    rx_threads()
}

#[test]
fn dropping_the_probe_closes_its_sockets_and_stops_its_thread() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let fds = open_fds();
    assert_eq!(rx_threads(), 0);
    let target = Target {
        device: "lo".into(),
        protocol: Protocol::Icmp,
        host: "127.0.0.1".into(),
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(2),
        spec: CheckSpec::Icmp(IcmpSpec {
            count: 1,
            ..Default::default()
        }),
        source: Default::default(),
        ip_family: Default::default(),
    };
    for round in 0..20 {
        let probe = match IcmpProbe::new() {
            Ok(p) => p,
            Err(e) => panic!("ICMP unavailable here: {e}"),
        };
        assert_eq!(rx_threads(), 1, "round {round}");
        assert!(open_fds() > fds, "the probe's sockets are not counted");
        let v = rt.block_on(run_check(&probe, &target));
        assert!(v.up, "{v:?}");
        drop(probe);
        assert_eq!(
            settle(0),
            0,
            "receive thread still running after round {round}"
        );
    }
    assert_eq!(open_fds(), fds, "file descriptors leaked");
}
