//! `reachd demo`: the embedded default. A small lab on loopback, monitored
//! with the daemon's own code, so a newcomer sees metrics and the status
//! page within seconds, with no configuration and nothing sent off the machine.
//!
//! The lab follows the seeds' example: R1 and R2 healthy, R3 healthy over
//! ICMP but with a wrong password (its SSH and Telnet checks fail with
//! `auth_failed`), R4 unreachable: nothing answers it. Its SSH and Telnet
//! ports drop every connection attempt ([`Fault::Blackhole`]), and its ping
//! goes to 127.255.255.255, loopback's broadcast address, which Linux does
//! not answer. SW1 and SW2, two access switches reached through R4
//! (`parents: [R4]`), are down with it: their SSH and Telnet ports drop
//! every connection too, and the status page shows them behind R4, in one
//! collapsed "R4 down — 2 devices behind it". The SSH and Telnet devices
//! are simulated in this process ([`crate::sim`]) on loopback addresses.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{self, LogSettings, Plan};
use crate::daemon::{self, Overrides, PlanSource};
use crate::probe::Probes;
use crate::probe::icmp::IcmpProbe;
use crate::secret::Secret;
use crate::sim::{self, DeviceSpec, Fault};
use crate::target::{
    Algorithms, CheckSpec, Device, HostKeyPolicy, IcmpSpec, Protocol, SessionSpec, Target,
};

/// The lab's devices: name, loopback address, site label.
const LAB: &[(&str, &str, &str)] = &[
    ("R1", "127.0.0.1", "lab-a"),
    ("R2", "127.0.0.2", "lab-a"),
    ("R3", "127.0.0.3", "lab-b"),
    ("R4", "127.0.0.4", "lab-b"),
    ("SW1", "127.0.0.5", "lab-b"),
    ("SW2", "127.0.0.6", "lab-b"),
];

/// The device that nothing answers.
const SILENT: &str = "R4";

/// The devices behind the silent one (`parents: [R4]`), down with it. They
/// are not pinged: every other loopback address answers ping.
const BEHIND_SILENT: &[&str] = &["SW1", "SW2"];

/// Where the silent device is pinged. Every 127.x address answers ping and
/// the demo sends nothing off the machine; this one is loopback's broadcast
/// address, to which Linux does not reply while
/// `net.ipv4.icmp_echo_ignore_broadcasts` is 1, its default.
const SILENT_PING: &str = "127.255.255.255";

/// The simulated SSH and Telnet side of the lab: (device, loopback address,
/// fault), each device serving both.
const SIM_LAB: &[(&str, &str, Option<Fault>)] = &[
    ("R1", "127.0.0.1", None),
    ("R2", "127.0.0.2", None),
    ("R3", "127.0.0.3", Some(Fault::WrongPassword)),
    ("R4", "127.0.0.4", Some(Fault::Blackhole)),
    ("SW1", "127.0.0.5", Some(Fault::Blackhole)),
    ("SW2", "127.0.0.6", Some(Fault::Blackhole)),
];

/// What the demo can check over ICMP, decided once at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IcmpLab {
    /// Every device; the silent one at [`SILENT_PING`].
    All,
    /// Every device but the silent one: loopback's broadcast address
    /// answers on this host, so no loopback address is silent.
    NoSilentTarget,
    /// No ICMP check: this process may open no ICMP socket (the reason).
    Unavailable(String),
}

impl IcmpLab {
    /// Opens the ICMP probe the demo's checks need, allowed to ping
    /// loopback's broadcast address only when Linux ignores it, and says
    /// what the demo can check. The daemon runs on this probe: the sockets
    /// and their thread are opened once.
    pub fn detect() -> (IcmpLab, Option<IcmpProbe>) {
        let ignored = std::fs::read_to_string("/proc/sys/net/ipv4/icmp_echo_ignore_broadcasts")
            .is_ok_and(|v| v.trim() == "1");
        let opened = if ignored {
            IcmpProbe::with_broadcast()
        } else {
            IcmpProbe::new()
        };
        match opened {
            Err(e) => (IcmpLab::Unavailable(e.to_string()), None),
            Ok(probe) if ignored => (IcmpLab::All, Some(probe)),
            Ok(probe) => (IcmpLab::NoSilentTarget, Some(probe)),
        }
    }

    /// Where `device` (at `host`) is pinged, if it is.
    fn ping_host<'a>(&self, device: &str, host: &'a str) -> Option<&'a str> {
        match self {
            IcmpLab::Unavailable(_) => None,
            _ if BEHIND_SILENT.contains(&device) => None,
            IcmpLab::All if device == SILENT => Some(SILENT_PING),
            IcmpLab::NoSilentTarget if device == SILENT => None,
            IcmpLab::All | IcmpLab::NoSilentTarget => Some(host),
        }
    }

    /// What the demo says of its ICMP checks.
    fn explain(&self) -> String {
        match self {
            IcmpLab::All => format!(
                "{SILENT} is pinged at {SILENT_PING}, loopback's broadcast address, which \
                 Linux does not answer."
            ),
            IcmpLab::NoSilentTarget => format!(
                "{SILENT} has no ICMP check: every loopback address answers ping here, \
                 even {SILENT_PING} (net.ipv4.icmp_echo_ignore_broadcasts is 0; as root, \
                 `sysctl -w net.ipv4.icmp_echo_ignore_broadcasts=1` makes it silent)."
            ),
            IcmpLab::Unavailable(why) => format!("No ICMP checks: {why}."),
        }
    }
}

/// Starts the lab's simulated SSH and Telnet devices (each on a free port).
pub async fn start_lab() -> std::io::Result<sim::Sim> {
    let specs = SIM_LAB
        .iter()
        .flat_map(|(name, ip, fault)| {
            let addr = std::net::SocketAddr::new(ip.parse().expect("static address"), 0);
            let mut d = DeviceSpec::healthy(name, addr);
            d.faults.extend(fault.iter().copied());
            [d.clone(), d.over_telnet()]
        })
        .collect();
    sim::start(specs).await
}

/// A running simulated device of the lab: name, address, Telnet (else SSH).
pub type LabDevice = (String, std::net::SocketAddr, bool);

/// The running lab's devices, for [`plan`].
pub fn lab_devices(lab: &sim::Sim) -> Vec<LabDevice> {
    lab.devices
        .iter()
        .map(|d| (d.name.clone(), d.addr, d.telnet))
        .collect()
}

fn session_target(name: &str, addr: std::net::SocketAddr, telnet: bool) -> Target {
    let session = SessionSpec {
        port: addr.port(),
        // The lab's advertised credentials; R3's device expects others.
        username: Some("admin".into()),
        password: Some(Secret::new("admin")),
        secondary: Some(Secret::new("cisco")),
        private_key: None,
        private_key_passphrase: None,
        host_key: HostKeyPolicy::AcceptNew,
        known_hosts: None,
        platform: Some("cisco_iosxe".into()),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(3),
        enable: true,
        command: None,
        expect: None,
        algorithms: Algorithms::default(),
    };
    let (protocol, spec) = if telnet {
        (Protocol::Telnet, CheckSpec::Telnet(session))
    } else {
        (Protocol::Ssh, CheckSpec::Ssh(session))
    };
    Target {
        device: name.into(),
        protocol,
        host: addr.ip().to_string(),
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(5),
        spec,
        source: Default::default(),
        ip_family: Default::default(),
    }
}

/// The demo plan; `lab` lists the running simulated devices, each of which
/// gets an SSH or Telnet check; `icmp` says which devices get pinged.
pub fn plan(overrides: &Overrides, lab: &[LabDevice], icmp: &IcmpLab) -> Plan {
    let mut devices = Vec::new();
    let mut targets = Vec::new();
    for (name, host, site) in LAB {
        let mut labels = BTreeMap::new();
        labels.insert("site".to_string(), site.to_string());
        labels.insert("platform".to_string(), "cisco_iosxe".to_string());
        devices.push(Device {
            name: (*name).into(),
            host: host.to_string(),
            labels,
            parents: if BEHIND_SILENT.contains(name) {
                vec![SILENT.into()]
            } else {
                Vec::new()
            },
            path_trace: true,
        });
        if let Some(ping) = icmp.ping_host(name, host) {
            targets.push(Arc::new(Target {
                device: (*name).into(),
                protocol: Protocol::Icmp,
                host: ping.to_string(),
                interval: Duration::from_secs(5),
                timeout: Duration::from_secs(2),
                spec: CheckSpec::Icmp(IcmpSpec::default()),
                source: Default::default(),
                ip_family: Default::default(),
            }));
        }
        for telnet in [false, true] {
            if let Some((_, addr, _)) = lab.iter().find(|(n, _, t)| n == name && *t == telnet) {
                targets.push(Arc::new(session_target(name, *addr, telnet)));
            }
        }
    }
    let mut plan = Plan {
        listen: "127.0.0.1:9806".parse().expect("static address"),
        log: LogSettings {
            format: config::LogFormat::Auto,
            level: "info".into(),
        },
        concurrency: Protocol::ALL.iter().map(|p| (*p, 100)).collect(),
        shutdown_grace: Duration::from_secs(2),
        http: config::HttpSettings::default(),
        state_dir: None,
        devices,
        targets,
        icmp_broadcast: *icmp == IcmpLab::All,
        sources: Vec::new(),
        remote: Vec::new(),
        watch: Vec::new(),
    };
    overrides.apply(&mut plan);
    // The demo's reload endpoint is on, as long as only this machine can
    // reach it.
    plan.http.enable_lifecycle = plan.listen.ip().is_loopback();
    plan
}

struct DemoSource(Overrides, Vec<LabDevice>, IcmpLab);

impl PlanSource for DemoSource {
    fn load(&self) -> Result<Plan, config::ConfigErrors> {
        Ok(plan(&self.0, &self.1, &self.2))
    }
}

pub async fn run(overrides: Overrides) -> ExitCode {
    // The simulated SSH and Telnet devices live as long as the demo.
    let lab = match start_lab().await {
        Ok(l) => Some(l),
        Err(e) => {
            eprintln!(
                "reachd demo: cannot start the simulated SSH and Telnet devices ({e}); ICMP only"
            );
            None
        }
    };
    let ssh = lab.as_ref().map(lab_devices).unwrap_or_default();
    let (icmp, icmp_probe) = IcmpLab::detect();
    let plan = plan(&overrides, &ssh, &icmp);
    crate::logging::init(plan.log.format, &plan.log.level);
    let mut opened = Probes::default();
    if let Some(probe) = icmp_probe {
        tracing::info!(mode = probe.mode(), "ICMP sockets open");
        opened.insert(Arc::new(probe));
    }
    let listen = plan.listen;
    eprintln!(
        "reachd demo: monitoring {} lab devices on loopback.\n  status page: http://{listen}/\n  metrics:     http://{listen}/metrics\n  Ctrl-C stops.",
        LAB.len()
    );
    for (name, addr, telnet) in &ssh {
        let proto = if *telnet { "Telnet" } else { "SSH" };
        eprintln!(
            "  simulated {proto} device {name} at {addr} (user admin, password admin, enable cisco)"
        );
    }
    eprintln!(
        "  R3 has a wrong password. {SILENT} is unreachable: its SSH and Telnet ports drop every\n  \
         connection attempt, so connects time out. {} (parents: [{SILENT}]) are down with it:\n  \
         the status page shows them behind {SILENT}.\n  {}",
        BEHIND_SILENT.join(" and "),
        icmp.explain()
    );
    let source = DemoSource(overrides.clone(), ssh, icmp);
    let code = daemon::serve(Box::new(source), overrides, plan, opened).await;
    drop(lab);
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Reason;

    #[test]
    fn the_demo_allows_reload_on_loopback_only() {
        let on = plan(&Overrides::default(), &[], &IcmpLab::All);
        assert!(on.http.enable_lifecycle);
        let exposed = Overrides {
            listen: Some("0.0.0.0:9806".parse().unwrap()),
            ..Overrides::default()
        };
        assert!(!plan(&exposed, &[], &IcmpLab::All).http.enable_lifecycle);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_lab_shows_the_seeds_four_cases_over_ssh_and_telnet() {
        let lab = start_lab().await.unwrap();
        let plan = plan(&Overrides::default(), &lab_devices(&lab), &IcmpLab::All);
        let ssh = crate::probe::ssh::SshProbe::new(None);
        let telnet = crate::probe::telnet::TelnetProbe::new();
        let mut got = Vec::new();
        for t in plan.targets.iter().filter(|t| t.protocol != Protocol::Icmp) {
            let mut t = (**t).clone();
            // The tarpit ends at the read timeout; healthy devices have room
            // even in a loaded debug build.
            t.timeout = Duration::from_secs(6);
            if let CheckSpec::Ssh(s) | CheckSpec::Telnet(s) = &mut t.spec {
                s.read_timeout = Duration::from_secs(2);
            }
            let v = if t.protocol == Protocol::Ssh {
                crate::probe::run_check(&ssh, &t).await
            } else {
                crate::probe::run_check(&telnet, &t).await
            };
            got.push((t.device.to_string(), t.protocol, v.reason));
        }
        let expect = |p| {
            [
                ("R1".to_owned(), p, Reason::Ok),
                ("R2".to_owned(), p, Reason::Ok),
                ("R3".to_owned(), p, Reason::AuthFailed),
                ("R4".to_owned(), p, Reason::Timeout),
                ("SW1".to_owned(), p, Reason::Timeout),
                ("SW2".to_owned(), p, Reason::Timeout),
            ]
        };
        let ssh_got: Vec<_> = got
            .iter()
            .filter(|g| g.1 == Protocol::Ssh)
            .cloned()
            .collect();
        let telnet_got: Vec<_> = got
            .iter()
            .filter(|g| g.1 == Protocol::Telnet)
            .cloned()
            .collect();
        assert_eq!(ssh_got, expect(Protocol::Ssh));
        assert_eq!(telnet_got, expect(Protocol::Telnet));
    }

    #[test]
    fn the_switches_are_behind_r4_and_not_pinged() {
        let p = plan(&Overrides::default(), &[], &IcmpLab::All);
        let parents: Vec<(String, Vec<String>)> = p
            .devices
            .iter()
            .map(|d| {
                let ps = d.parents.iter().map(|p| p.to_string()).collect();
                (d.name.to_string(), ps)
            })
            .collect();
        let none = Vec::<String>::new;
        assert_eq!(
            parents,
            [
                ("R1".to_owned(), none()),
                ("R2".to_owned(), none()),
                ("R3".to_owned(), none()),
                ("R4".to_owned(), none()),
                ("SW1".to_owned(), vec!["R4".to_owned()]),
                ("SW2".to_owned(), vec!["R4".to_owned()]),
            ]
        );
        // The plan's parents are valid: the dependency graph takes them.
        let g = crate::topology::Graph::new(&p.devices, &p.targets);
        assert!(g.has_dependencies());
    }

    fn icmp_hosts(icmp: &IcmpLab) -> Vec<(String, String)> {
        let p = plan(&Overrides::default(), &[], icmp);
        assert_eq!(p.icmp_broadcast, *icmp == IcmpLab::All);
        p.targets
            .iter()
            .filter(|t| t.protocol == Protocol::Icmp)
            .map(|t| (t.device.to_string(), t.host.clone()))
            .collect()
    }

    #[test]
    fn r4_is_pinged_at_loopback_broadcast_or_not_at_all() {
        let pair = |d: &str, h: &str| (d.to_owned(), h.to_owned());
        assert_eq!(
            icmp_hosts(&IcmpLab::All),
            [
                pair("R1", "127.0.0.1"),
                pair("R2", "127.0.0.2"),
                pair("R3", "127.0.0.3"),
                pair("R4", "127.255.255.255"),
            ]
        );
        assert_eq!(
            icmp_hosts(&IcmpLab::NoSilentTarget),
            [
                pair("R1", "127.0.0.1"),
                pair("R2", "127.0.0.2"),
                pair("R3", "127.0.0.3"),
            ]
        );
        assert!(icmp_hosts(&IcmpLab::Unavailable("no".into())).is_empty());
        // Every address the demo may send to is loopback.
        for (_, host) in icmp_hosts(&IcmpLab::All) {
            assert!(
                host.parse::<std::net::IpAddr>().unwrap().is_loopback(),
                "{host}"
            );
        }
        assert!(
            IcmpLab::NoSilentTarget
                .explain()
                .contains("icmp_echo_ignore_broadcasts")
        );
        assert!(IcmpLab::Unavailable("why".into()).explain().contains("why"));
    }
}
