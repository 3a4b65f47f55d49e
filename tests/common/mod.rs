//! Helpers shared by the tests against simulated devices (`ssh_sim`,
//! `telnet_sim`): starting devices, building session specs and targets,
//! running one check and judging its verdict. Only loopback addresses.

use std::net::SocketAddr;
use std::time::Duration;

use reachd::probe::{Probe, run_check};
use reachd::secret::Secret;
use reachd::sim::{self, DeviceSpec, Fault, Sim};
use reachd::target::{Algorithms, CheckSpec, HostKeyPolicy, Protocol, SessionSpec, Target};
use reachd::verdict::{Phase, Reason, Verdict};

/// A loopback address with a port the OS picks.
pub fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Starts the simulator with this one device.
pub async fn start(spec: DeviceSpec) -> Sim {
    sim::start(vec![spec]).await.expect("simulator starts")
}

/// A healthy device "R1" on loopback, with these faults.
pub fn sim_spec(faults: &[Fault]) -> DeviceSpec {
    let mut d = DeviceSpec::healthy("R1", local());
    d.faults = faults.to_vec();
    d
}

/// The login the simulated devices accept: admin/admin, enable "cisco",
/// a Cisco IOS XE platform, short timeouts.
pub fn session_spec(port: u16) -> SessionSpec {
    SessionSpec {
        port,
        username: Some("admin".into()),
        password: Some(Secret::new("admin")),
        secondary: Some(Secret::new("cisco")),
        private_key: None,
        private_key_passphrase: None,
        host_key: HostKeyPolicy::Off,
        known_hosts: None,
        platform: Some("cisco_iosxe".into()),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        enable: true,
        command: None,
        expect: None,
        algorithms: Algorithms::default(),
    }
}

/// Device "R1" at `addr` checked over `protocol` (SSH or Telnet) with the
/// session `s`; the port is taken from `addr`.
pub fn target(protocol: Protocol, addr: SocketAddr, s: SessionSpec, timeout: Duration) -> Target {
    let s = SessionSpec {
        port: addr.port(),
        ..s
    };
    let spec = match protocol {
        Protocol::Ssh => CheckSpec::Ssh(s),
        Protocol::Telnet => CheckSpec::Telnet(s),
        other => panic!("no session spec for an {other} target"),
    };
    Target {
        device: "R1".into(),
        protocol,
        host: addr.ip().to_string(),
        interval: Duration::from_secs(60),
        timeout,
        spec,
        source: Default::default(),
        ip_family: Default::default(),
    }
}

/// One check of the device at `addr` with `probe`, within 20 seconds.
pub async fn check_with(probe: &dyn Probe, addr: SocketAddr, s: SessionSpec) -> Verdict {
    let t = target(probe.protocol(), addr, s, Duration::from_secs(20));
    run_check(probe, &t).await
}

pub fn assert_verdict(v: &Verdict, reason: Reason, phase: Phase) {
    assert_eq!((v.reason, v.phase), (reason, phase), "{v:#?}");
    assert_eq!(v.up, reason == Reason::Ok);
}

/// None of `secrets` appears anywhere in the verdict.
pub fn assert_no_secrets(v: &Verdict, secrets: &[&str]) {
    let all = format!("{v:?}");
    for s in secrets {
        assert!(!all.contains(s), "secret in verdict: {all}");
    }
}

/// No piece of `secret` of `len` characters or more appears anywhere in
/// the verdict.
pub fn assert_no_piece_of(v: &Verdict, secret: &str, len: usize) {
    let all = format!("{v:?}");
    let chars: Vec<char> = secret.chars().collect();
    for w in chars.windows(len) {
        let piece: String = w.iter().collect();
        assert!(
            !all.contains(&piece),
            "`{piece}` of the secret in the verdict: {all}"
        );
    }
}
