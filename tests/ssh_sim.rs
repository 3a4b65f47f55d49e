//! The SSH check against simulated devices: every reason and phase.
//! Only loopback addresses; short configured timeouts, no timed assertions.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::{assert_verdict, check_with, local, session_spec as spec, sim_spec, start};
use reachd::probe::run_check;
use reachd::probe::ssh::SshProbe;
use reachd::sim::{self, DeviceSpec, Fault};
use reachd::target::{Algorithms, HostKeyPolicy, Protocol, SessionSpec, Target};
use reachd::verdict::{Phase, Reason, Verdict};

fn target(addr: SocketAddr, s: SessionSpec, timeout: Duration) -> Target {
    common::target(Protocol::Ssh, addr, s, timeout)
}

async fn check(addr: SocketAddr, s: SessionSpec) -> Verdict {
    check_with(&SshProbe::new(None), addr, s).await
}

fn no_secrets(v: &Verdict) {
    common::assert_no_secrets(v, &["admin-not", "cisco-not"]);
    // The passwords themselves ("admin", "cisco") are also the user name
    // and the platform; check the detail never echoes the enable password.
    assert!(!v.detail.contains("cisco\""), "{}", v.detail);
}

#[tokio::test]
async fn healthy_device_reaches_the_privileged_prompt() {
    let sim = start(sim_spec(&[])).await;
    let v = check(sim.devices[0].addr, spec(0)).await;
    assert_verdict(&v, Reason::Ok, Phase::Enable);
    assert_eq!(v.prompt.as_deref(), Some("R1#"));
    let phases: Vec<Phase> = v.phases.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        phases,
        [
            Phase::Resolve,
            Phase::Connect,
            Phase::Handshake,
            Phase::Auth,
            Phase::Prompt,
            Phase::Enable
        ]
    );
}

#[tokio::test]
async fn without_enable_the_user_prompt_is_enough() {
    let sim = start(sim_spec(&[])).await;
    let v = check(
        sim.devices[0].addr,
        SessionSpec {
            enable: false,
            secondary: None,
            ..spec(0)
        },
    )
    .await;
    assert_verdict(&v, Reason::Ok, Phase::Prompt);
    assert_eq!(v.prompt.as_deref(), Some("R1>"));
}

#[tokio::test]
async fn command_with_expected_output() {
    let sim = start(sim_spec(&[])).await;
    let addr = sim.devices[0].addr;
    let good = SessionSpec {
        command: Some("show version".into()),
        expect: Some(r"Cisco IOS XE Software, Version \d+".into()),
        ..spec(0)
    };
    let v = check(addr, good.clone()).await;
    assert_verdict(&v, Reason::Ok, Phase::Command);
    assert_eq!(v.prompt.as_deref(), Some("R1#"));
    let bad = SessionSpec {
        expect: Some("Junos".into()),
        ..good
    };
    let v = check(addr, bad).await;
    assert_verdict(&v, Reason::Error, Phase::Command);
    assert!(v.detail.contains("does not match /Junos/"), "{}", v.detail);
}

#[tokio::test]
async fn wrong_password_is_auth_failed() {
    let sim = start(sim_spec(&[Fault::WrongPassword])).await;
    let v = check(sim.devices[0].addr, spec(0)).await;
    assert_verdict(&v, Reason::AuthFailed, Phase::Auth);
    assert!(v.detail.contains("password"), "{}", v.detail);
    no_secrets(&v);
}

#[tokio::test]
async fn wrong_enable_password_is_enable_failed() {
    let sim = start(sim_spec(&[Fault::WrongEnable])).await;
    let v = check(sim.devices[0].addr, spec(0)).await;
    assert_verdict(&v, Reason::EnableFailed, Phase::Enable);
    no_secrets(&v);
}

#[tokio::test]
async fn enable_without_a_secondary_password_is_enable_failed() {
    let sim = start(sim_spec(&[])).await;
    let v = check(
        sim.devices[0].addr,
        SessionSpec {
            secondary: None,
            ..spec(0)
        },
    )
    .await;
    assert_verdict(&v, Reason::EnableFailed, Phase::Enable);
}

#[tokio::test]
async fn tarpit_times_out_in_handshake_within_its_timeout() {
    let sim = start(sim_spec(&[Fault::Tarpit])).await;
    let timeout = Duration::from_millis(1200);
    let s = SessionSpec {
        read_timeout: Duration::from_secs(30),
        ..spec(0)
    };
    let v = run_check(
        &SshProbe::new(None),
        &target(sim.devices[0].addr, s, timeout),
    )
    .await;
    assert_verdict(&v, Reason::Timeout, Phase::Handshake);
    assert!(v.duration <= timeout, "{:?}", v.duration);
}

#[tokio::test]
async fn a_blackholed_device_times_out_in_connect() {
    let sim = start(sim_spec(&[Fault::Blackhole])).await;
    let s = SessionSpec {
        connect_timeout: Duration::from_millis(400),
        ..spec(0)
    };
    let v = check(sim.devices[0].addr, s).await;
    assert_verdict(&v, Reason::Timeout, Phase::Connect);
    // The connect timeout, not the check's: the device never answered SYN.
    assert!(v.duration < Duration::from_secs(3), "{:?}", v.duration);
}

#[tokio::test]
async fn banner_then_silence_times_out_in_handshake() {
    let sim = start(sim_spec(&[Fault::BannerSilence])).await;
    let s = SessionSpec {
        read_timeout: Duration::from_millis(500),
        ..spec(0)
    };
    let v = check(sim.devices[0].addr, s).await;
    assert_verdict(&v, Reason::Timeout, Phase::Handshake);
}

#[tokio::test]
async fn garbage_instead_of_a_banner_is_a_handshake_failure() {
    let sim = start(sim_spec(&[Fault::Garbage])).await;
    let v = check(sim.devices[0].addr, spec(0)).await;
    assert_verdict(&v, Reason::Handshake, Phase::Handshake);
    assert!(v.detail.contains("not an SSH server"), "{}", v.detail);
}

#[tokio::test]
async fn silence_after_login_is_prompt_with_last_output() {
    let sim = start(sim_spec(&[Fault::NoPrompt])).await;
    let s = SessionSpec {
        read_timeout: Duration::from_millis(1500),
        ..spec(0)
    };
    let v = check(sim.devices[0].addr, s).await;
    assert_verdict(&v, Reason::Prompt, Phase::Prompt);
    assert!(
        v.detail.contains("Authorized access only"),
        "no last output in {}",
        v.detail
    );
}

#[tokio::test]
async fn disconnect_mid_login_is_closed() {
    let sim = start(sim_spec(&[Fault::DisconnectMidLogin])).await;
    let v = check(sim.devices[0].addr, spec(0)).await;
    assert_verdict(&v, Reason::Closed, Phase::Prompt);
}

#[tokio::test]
async fn slow_prompt_within_read_timeout_is_up() {
    let mut d = sim_spec(&[Fault::SlowPrompt]);
    d.slow_prompt = Duration::from_millis(2500);
    let sim = start(d).await;
    let v = check(sim.devices[0].addr, spec(0)).await;
    assert_verdict(&v, Reason::Ok, Phase::Enable);
    // …and slower than the read timeout, it is `prompt`.
    let s = SessionSpec {
        read_timeout: Duration::from_millis(1200),
        ..spec(0)
    };
    let v = check(sim.devices[0].addr, s).await;
    assert_verdict(&v, Reason::Prompt, Phase::Prompt);
}

#[tokio::test]
async fn endless_output_ends_as_prompt() {
    let sim = start(sim_spec(&[Fault::EndlessOutput])).await;
    let s = SessionSpec {
        read_timeout: Duration::from_millis(1500),
        ..spec(0)
    };
    let v = check(sim.devices[0].addr, s).await;
    assert_verdict(&v, Reason::Prompt, Phase::Prompt);
    assert!(v.detail.contains("line protocol is up"), "{}", v.detail);
    // The detail (and so the buffer it comes from) stays bounded; the
    // engine's own test shows the buffer cap.
    assert!(v.detail.len() < 800, "{}", v.detail.len());
}

#[tokio::test]
async fn keyboard_interactive_only_device() {
    let sim = start(sim_spec(&[Fault::KbdInteractive])).await;
    let v = check(sim.devices[0].addr, spec(0)).await;
    assert_verdict(&v, Reason::Ok, Phase::Enable);
    let sim2 = start(sim_spec(&[Fault::KbdInteractive, Fault::WrongPassword])).await;
    let v = check(sim2.devices[0].addr, spec(0)).await;
    assert_verdict(&v, Reason::AuthFailed, Phase::Auth);
    assert!(v.detail.contains("keyboard-interactive"), "{}", v.detail);
}

#[tokio::test]
async fn refused_port() {
    // Bind then drop: a port nothing listens on.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let v = check(addr, spec(0)).await;
    assert_verdict(&v, Reason::Refused, Phase::Connect);
}

#[tokio::test]
async fn unresolvable_name_is_dns() {
    let mut t = target(local(), spec(22), Duration::from_secs(5));
    t.host = "r9.lab.invalid".into();
    let v = run_check(&SshProbe::new(None), &t).await;
    // Some resolvers time out instead of failing; both end in resolve.
    assert_eq!(v.phase, Phase::Resolve, "{v:#?}");
    assert!(matches!(v.reason, Reason::Dns | Reason::Timeout), "{v:#?}");
}

#[tokio::test]
async fn legacy_only_device_needs_the_legacy_algorithms() {
    let sim = start(sim_spec(&[Fault::LegacyOnly])).await;
    let addr = sim.devices[0].addr;
    let v = check(addr, spec(0)).await;
    assert_verdict(&v, Reason::Handshake, Phase::Handshake);
    assert!(
        v.detail
            .contains("the device offers [diffie-hellman-group14-sha1"),
        "{}",
        v.detail
    );
    assert!(
        v.detail.contains("reachd offers [mlkem768x25519"),
        "{}",
        v.detail
    );
    let legacy = SessionSpec {
        algorithms: Algorithms {
            kex: Some("+diffie-hellman-group14-sha1".into()),
            ciphers: Some("+aes128-cbc".into()),
            macs: Some("+hmac-sha1".into()),
            host_key: Some("+ssh-rsa".into()),
        },
        ..spec(0)
    };
    let v = check(addr, legacy).await;
    assert_verdict(&v, Reason::Ok, Phase::Enable);
}

#[tokio::test]
async fn unsupported_algorithm_is_a_clear_error() {
    let sim = start(sim_spec(&[])).await;
    let s = SessionSpec {
        algorithms: Algorithms {
            ciphers: Some("+arcfour".into()),
            ..Algorithms::default()
        },
        ..spec(0)
    };
    let v = check(sim.devices[0].addr, s).await;
    assert_verdict(&v, Reason::Error, Phase::Handshake);
    assert!(
        v.detail.contains("`arcfour` is not supported"),
        "{}",
        v.detail
    );
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("reachd-ssh-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn strict_host_keys() {
    let sim = start(sim_spec(&[])).await;
    let addr = sim.devices[0].addr;
    let dir = temp_dir("strict");
    let kh = dir.join("known_hosts");
    let strict = SessionSpec {
        host_key: HostKeyPolicy::Strict,
        known_hosts: Some(kh.clone()),
        ..spec(0)
    };
    // No file at all: unknown, with the fingerprint.
    let v = check(addr, strict.clone()).await;
    assert_verdict(&v, Reason::HostKeyUnknown, Phase::Handshake);
    assert!(
        v.detail.contains(&sim::fingerprint_for("R1")),
        "{}",
        v.detail
    );

    // The right key: up.
    let line = |name: &str| {
        format!(
            "[{}]:{} {}\n",
            addr.ip(),
            addr.port(),
            sim::host_key_for(name).public_key().to_openssh().unwrap()
        )
    };
    std::fs::write(&kh, line("R1")).unwrap();
    let v = check(addr, strict.clone()).await;
    assert_verdict(&v, Reason::Ok, Phase::Enable);

    // Another key recorded for this host: changed, naming what it saw.
    std::fs::write(&kh, line("OTHER")).unwrap();
    let v = check(addr, strict).await;
    assert_verdict(&v, Reason::HostKeyChanged, Phase::Handshake);
    assert!(
        v.detail.contains(&sim::fingerprint_for("R1")),
        "{}",
        v.detail
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn accept_new_records_then_detects_a_change() {
    let dir = temp_dir("tofu");
    let probe = SshProbe::new(Some(&dir));
    let sim = start(sim_spec(&[Fault::ChangedHostKey])).await;
    let addr = sim.devices[0].addr;
    let s = SessionSpec {
        host_key: HostKeyPolicy::AcceptNew,
        ..spec(0)
    };
    let v = check_with(&probe, addr, s.clone()).await;
    assert_verdict(&v, Reason::Ok, Phase::Enable);
    let recorded = std::fs::read_to_string(dir.join("known_hosts")).unwrap();
    assert!(
        recorded.starts_with(&format!("[{}]:{} ssh-ed25519 ", addr.ip(), addr.port())),
        "{recorded}"
    );
    // The device shows a new key on the next connection.
    let v = check_with(&probe, addr, s.clone()).await;
    assert_verdict(&v, Reason::HostKeyChanged, Phase::Handshake);
    // A fresh probe (a restarted daemon) reads the file and agrees.
    let v = check_with(&SshProbe::new(Some(&dir)), addr, s.clone()).await;
    assert_verdict(&v, Reason::HostKeyChanged, Phase::Handshake);
    // A stable device is recorded once and stays up.
    let stable = start(DeviceSpec::healthy("R2", local())).await;
    for _ in 0..2 {
        let v = check_with(&probe, stable.devices[0].addr, s.clone()).await;
        assert_verdict(&v, Reason::Ok, Phase::Enable);
    }
    let lines = std::fs::read_to_string(dir.join("known_hosts")).unwrap();
    assert_eq!(lines.lines().count(), 2, "{lines}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn public_key_login_errors_are_clear() {
    // The simulator has no public-key users: a missing key file is a local
    // error naming the file, not a device fault.
    let sim = start(sim_spec(&[])).await;
    let s = SessionSpec {
        private_key: Some(PathBuf::from("/nonexistent/reachd_test_key")),
        ..spec(0)
    };
    let v = check(sim.devices[0].addr, s).await;
    assert_verdict(&v, Reason::Error, Phase::Auth);
    assert!(
        v.detail.contains("/nonexistent/reachd_test_key"),
        "{}",
        v.detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_devices_at_once() {
    let specs: Vec<DeviceSpec> = (1..=20)
        .map(|i| DeviceSpec::healthy(&format!("R{i}"), local()))
        .collect();
    let sim = sim::start(specs).await.unwrap();
    let probe = Arc::new(SshProbe::new(None));
    let mut set = tokio::task::JoinSet::new();
    for d in &sim.devices {
        let probe = probe.clone();
        let addr = d.addr;
        let name = d.name.clone();
        // Generous waits: this is about concurrency, not speed (debug
        // builds do key exchanges slowly).
        let s = SessionSpec {
            read_timeout: Duration::from_secs(30),
            ..spec(0)
        };
        set.spawn(async move {
            let t = target(addr, s, Duration::from_secs(60));
            (name, run_check(&*probe, &t).await)
        });
    }
    while let Some(r) = set.join_next().await {
        let (name, v) = r.unwrap();
        assert_verdict(&v, Reason::Ok, Phase::Enable);
        assert_eq!(v.prompt, Some(format!("{name}#")));
    }
}

#[tokio::test]
async fn the_simulator_refuses_non_loopback_addresses() {
    let d = DeviceSpec::healthy("R1", "0.0.0.0:0".parse().unwrap());
    let e = sim::start(vec![d]).await.err().expect("refused");
    assert!(e.to_string().contains("loopback"), "{e}");
}

/// A device that echoes the enable password, then prints a long notice:
/// the 200 characters the detail shows start inside the echoed password.
/// No piece of it (6 characters or more) may appear in the verdict.
#[tokio::test]
async fn echoed_enable_password_cut_by_the_detail_leaks_no_piece_of_it() {
    let secret = "CNRY-ECHOTRUNC-cc22dd";
    let notice = sim::ECHO_NOTICE.trim().chars().count();
    assert!(notice + 3 < 200 && notice + 3 + secret.len() > 206);
    let mut d = sim_spec(&[Fault::EchoPassword]);
    d.enable_password = secret.into();
    let sim = start(d).await;
    let s = SessionSpec {
        secondary: Some(reachd::secret::Secret::new(secret)),
        read_timeout: Duration::from_millis(800),
        ..spec(0)
    };
    let v = check(sim.devices[0].addr, s).await;
    assert_verdict(&v, Reason::Prompt, Phase::Enable);
    assert!(v.detail.contains("no prompt will follow"), "{}", v.detail);
    common::assert_no_piece_of(&v, secret, 6);
    assert!(v.detail.contains("<redacted>"), "{}", v.detail);
}
