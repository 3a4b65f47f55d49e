//! The Telnet check against simulated Telnet devices: every reason and
//! phase. Only loopback addresses; short configured timeouts, no timed
//! assertions.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{assert_verdict, local};
use reachd::probe::run_check;
use reachd::probe::telnet::TelnetProbe;
use reachd::secret::Secret;
use reachd::sim::{self, DeviceSpec, Fault, Sim};
use reachd::target::{Protocol, SessionSpec, Target};
use reachd::verdict::{Phase, Reason, Verdict};

fn spec() -> SessionSpec {
    common::session_spec(0)
}

fn target(addr: SocketAddr, s: SessionSpec, timeout: Duration) -> Target {
    common::target(Protocol::Telnet, addr, s, timeout)
}

async fn check(addr: SocketAddr, s: SessionSpec) -> Verdict {
    common::check_with(&TelnetProbe::new(), addr, s).await
}

async fn start(faults: &[Fault]) -> Sim {
    common::start(common::sim_spec(faults).over_telnet()).await
}

fn no_secrets(v: &Verdict) {
    common::assert_no_secrets(v, &["admin-not", "cisco-not", "hunter2", "s3cret"]);
}

fn phases(v: &Verdict) -> Vec<Phase> {
    v.phases.iter().map(|(p, _)| *p).collect()
}

#[tokio::test]
async fn healthy_device_reaches_the_privileged_prompt() {
    let sim = start(&[]).await;
    let v = check(sim.devices[0].addr, spec()).await;
    assert_verdict(&v, Reason::Ok, Phase::Enable);
    assert_eq!(v.prompt.as_deref(), Some("R1#"));
    assert_eq!(
        phases(&v),
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
async fn without_enable_and_with_a_command() {
    let sim = start(&[]).await;
    let addr = sim.devices[0].addr;
    let s = SessionSpec {
        enable: false,
        secondary: None,
        ..spec()
    };
    let v = check(addr, s).await;
    assert_verdict(&v, Reason::Ok, Phase::Prompt);
    assert_eq!(v.prompt.as_deref(), Some("R1>"));
    let good = SessionSpec {
        command: Some("show version".into()),
        expect: Some(r"Cisco IOS XE Software, Version \d+".into()),
        ..spec()
    };
    let v = check(addr, good.clone()).await;
    assert_verdict(&v, Reason::Ok, Phase::Command);
    let v = check(
        addr,
        SessionSpec {
            expect: Some("Junos".into()),
            ..good
        },
    )
    .await;
    assert_verdict(&v, Reason::Error, Phase::Command);
    assert!(v.detail.contains("does not match /Junos/"), "{}", v.detail);
}

#[tokio::test]
async fn wrong_password_is_auth_failed() {
    let sim = start(&[Fault::WrongPassword]).await;
    let v = check(sim.devices[0].addr, spec()).await;
    assert_verdict(&v, Reason::AuthFailed, Phase::Auth);
    assert!(v.detail.contains("Authentication failed"), "{}", v.detail);
    no_secrets(&v);
    // A password the device echoes is redacted.
    let v = check(
        sim.devices[0].addr,
        SessionSpec {
            password: Some(Secret::new("hunter2")),
            ..spec()
        },
    )
    .await;
    assert_verdict(&v, Reason::AuthFailed, Phase::Auth);
    no_secrets(&v);
}

#[tokio::test]
async fn wrong_enable_is_enable_failed() {
    let sim = start(&[Fault::WrongEnable]).await;
    let v = check(sim.devices[0].addr, spec()).await;
    assert_verdict(&v, Reason::EnableFailed, Phase::Enable);
    no_secrets(&v);
}

#[tokio::test]
async fn password_only_line() {
    let sim = start(&[Fault::PasswordOnly]).await;
    let v = check(sim.devices[0].addr, spec()).await;
    assert_verdict(&v, Reason::Ok, Phase::Enable);
    assert_eq!(v.prompt.as_deref(), Some("R1#"));
    let bad = start(&[Fault::PasswordOnly, Fault::WrongPassword]).await;
    let v = check(bad.devices[0].addr, spec()).await;
    assert_verdict(&v, Reason::AuthFailed, Phase::Auth);
    assert!(v.detail.contains("asked again"), "{}", v.detail);
}

#[tokio::test]
async fn a_blackholed_device_times_out_in_connect() {
    let sim = start(&[Fault::Blackhole]).await;
    let s = SessionSpec {
        connect_timeout: Duration::from_millis(400),
        ..spec()
    };
    let v = check(sim.devices[0].addr, s).await;
    assert_verdict(&v, Reason::Timeout, Phase::Connect);
    // The connect timeout, not the check's: the device never answered SYN.
    assert!(v.duration < Duration::from_secs(3), "{:?}", v.duration);
}

#[tokio::test]
async fn tarpit_times_out_in_handshake() {
    let sim = start(&[Fault::Tarpit]).await;
    let s = SessionSpec {
        read_timeout: Duration::from_millis(500),
        ..spec()
    };
    let v = check(sim.devices[0].addr, s).await;
    assert_verdict(&v, Reason::Timeout, Phase::Handshake);
    assert!(v.detail.contains("said nothing"), "{}", v.detail);
    // Bounded by the check's own timeout too.
    let timeout = Duration::from_millis(800);
    let s = SessionSpec {
        read_timeout: Duration::from_secs(30),
        ..spec()
    };
    let v = run_check(
        &TelnetProbe::new(),
        &target(sim.devices[0].addr, s, timeout),
    )
    .await;
    assert_verdict(&v, Reason::Timeout, Phase::Handshake);
    assert!(v.duration <= timeout, "{:?}", v.duration);
}

#[tokio::test]
async fn negotiation_then_silence_times_out_in_handshake() {
    let sim = start(&[Fault::BannerSilence]).await;
    let s = SessionSpec {
        read_timeout: Duration::from_millis(500),
        ..spec()
    };
    let v = check(sim.devices[0].addr, s).await;
    assert_verdict(&v, Reason::Timeout, Phase::Handshake);
    assert!(v.detail.contains("negotiated"), "{}", v.detail);
}

#[tokio::test]
async fn iac_storm_times_out_in_handshake() {
    let sim = start(&[Fault::IacStorm]).await;
    let s = SessionSpec {
        read_timeout: Duration::from_millis(800),
        ..spec()
    };
    let v = check(sim.devices[0].addr, s).await;
    assert_verdict(&v, Reason::Timeout, Phase::Handshake);
    assert!(v.detail.contains("negotiated"), "{}", v.detail);
}

#[tokio::test]
async fn iac_storm_ends_at_the_byte_budget_in_handshake() {
    // A read timeout the storm outlasts: the check's byte budget ends it.
    let sim = start(&[Fault::IacStorm]).await;
    let s = SessionSpec {
        read_timeout: Duration::from_secs(15),
        ..spec()
    };
    let t = common::target(
        Protocol::Telnet,
        sim.devices[0].addr,
        s,
        Duration::from_secs(20),
    );
    let v = run_check(&TelnetProbe::new(), &t).await;
    assert_verdict(&v, Reason::Handshake, Phase::Handshake);
    assert!(
        v.detail
            .contains("negotiated Telnet options endlessly (more than 256 KiB)"),
        "{}",
        v.detail
    );
}

#[tokio::test]
async fn garbage_then_silence_is_no_login_prompt() {
    let sim = start(&[Fault::Garbage]).await;
    let s = SessionSpec {
        read_timeout: Duration::from_millis(500),
        ..spec()
    };
    let v = check(sim.devices[0].addr, s).await;
    assert_verdict(&v, Reason::Prompt, Phase::Auth);
    assert!(v.detail.contains("no login prompt within"), "{}", v.detail);
}

#[tokio::test]
async fn silence_after_password_is_prompt_with_last_output() {
    let sim = start(&[Fault::NoPrompt]).await;
    let s = SessionSpec {
        read_timeout: Duration::from_millis(800),
        ..spec()
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
    let sim = start(&[Fault::DisconnectMidLogin]).await;
    let v = check(sim.devices[0].addr, spec()).await;
    assert_verdict(&v, Reason::Closed, Phase::Auth);
    assert!(v.detail.contains("Authorized access only"), "{}", v.detail);
}

#[tokio::test]
async fn slow_prompt_within_and_beyond_the_read_timeout() {
    let mut d = DeviceSpec::healthy("R1", local()).over_telnet();
    d.faults = vec![Fault::SlowPrompt];
    d.slow_prompt = Duration::from_millis(1500);
    let sim = sim::start(vec![d]).await.unwrap();
    let v = check(sim.devices[0].addr, spec()).await;
    assert_verdict(&v, Reason::Ok, Phase::Enable);
    let s = SessionSpec {
        read_timeout: Duration::from_millis(500),
        ..spec()
    };
    let v = check(sim.devices[0].addr, s).await;
    assert_verdict(&v, Reason::Prompt, Phase::Prompt);
}

#[tokio::test]
async fn endless_output_ends_as_prompt_bounded() {
    let sim = start(&[Fault::EndlessOutput]).await;
    let s = SessionSpec {
        read_timeout: Duration::from_millis(800),
        ..spec()
    };
    let v = check(sim.devices[0].addr, s).await;
    assert_verdict(&v, Reason::Prompt, Phase::Prompt);
    assert!(v.detail.contains("line protocol is up"), "{}", v.detail);
    assert!(v.detail.len() < 800, "{}", v.detail.len());
}

#[tokio::test]
async fn refused_port() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let v = check(addr, spec()).await;
    assert_verdict(&v, Reason::Refused, Phase::Connect);
}

#[tokio::test]
async fn no_username_configured_is_auth_failed() {
    let sim = start(&[]).await;
    let s = SessionSpec {
        username: None,
        ..spec()
    };
    let v = check(sim.devices[0].addr, s).await;
    assert_verdict(&v, Reason::AuthFailed, Phase::Auth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_devices_at_once() {
    let specs: Vec<DeviceSpec> = (1..=50)
        .map(|i| DeviceSpec::healthy(&format!("R{i}"), local()).over_telnet())
        .collect();
    let sim = sim::start(specs).await.unwrap();
    let probe = Arc::new(TelnetProbe::new());
    let mut set = tokio::task::JoinSet::new();
    for d in &sim.devices {
        let probe = probe.clone();
        let (addr, name) = (d.addr, d.name.clone());
        set.spawn(async move {
            let t = target(addr, spec(), Duration::from_secs(30));
            (name, run_check(&*probe, &t).await)
        });
    }
    while let Some(r) = set.join_next().await {
        let (name, v) = r.unwrap();
        assert_verdict(&v, Reason::Ok, Phase::Enable);
        assert_eq!(v.prompt, Some(format!("{name}#")));
    }
}

/// A device that echoes the login password, then prints a long notice:
/// the 200 characters the detail shows start inside the echoed password.
/// No piece of it (6 characters or more) may appear in the verdict.
#[tokio::test]
async fn echoed_password_cut_by_the_detail_leaks_no_piece_of_it() {
    let password = "CNRY-ECHOTRUNC-cc22dd";
    let notice = sim::ECHO_NOTICE.trim().chars().count();
    // The premise: the last 200 characters (the notice, " | ", and the
    // rest) start inside the password.
    assert!(notice + 3 < 200 && notice + 3 + password.len() > 206);
    let mut d = DeviceSpec::healthy("R1", local()).over_telnet();
    d.faults = vec![Fault::EchoPassword];
    d.password = password.into();
    let sim = sim::start(vec![d]).await.unwrap();
    let s = SessionSpec {
        password: Some(Secret::new(password)),
        read_timeout: Duration::from_millis(800),
        ..spec()
    };
    let v = check(sim.devices[0].addr, s).await;
    assert_verdict(&v, Reason::Prompt, Phase::Prompt);
    assert!(v.detail.contains("no prompt will follow"), "{}", v.detail);
    common::assert_no_piece_of(&v, password, 6);
    assert!(v.detail.contains("<redacted>"), "{}", v.detail);
}
