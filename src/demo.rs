//! `reachd demo`: the embedded default. A small lab on loopback, monitored
//! with the daemon's own code, so a newcomer sees metrics and the status
//! page within seconds, with no configuration and nothing sent off the machine.
//!
//! The lab follows the seeds' example: R1 and R2 healthy, R3 healthy over
//! ICMP but with a wrong password (its SSH check fails with `auth_failed`),
//! R4 never answers (its SSH device is a tarpit). Each device is also
//! checked over Telnet, with the same faults. The SSH and Telnet devices are
//! simulated in this process ([`crate::sim`]) on loopback addresses.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{self, LogSettings, Plan};
use crate::daemon::{self, Overrides, PlanSource};
use crate::secret::Secret;
use crate::sim::{self, DeviceSpec, Fault};
use crate::target::{
    Algorithms, CheckSpec, Device, HostKeyPolicy, IcmpSpec, Protocol, SessionSpec, Target,
};

/// The lab's devices: name, loopback address (or a name that cannot resolve
/// for the one that never answers), site label.
const LAB: &[(&str, &str, &str)] = &[
    ("R1", "127.0.0.1", "lab-a"),
    ("R2", "127.0.0.2", "lab-a"),
    ("R3", "127.0.0.3", "lab-b"),
    // Every 127.x address answers ping, and the demo never sends a packet
    // off the machine, so R4 is a name that cannot resolve (RFC 6761).
    ("R4", "r4.lab.invalid", "lab-b"),
];

/// The simulated SSH and Telnet side of the lab: (device, loopback address,
/// fault), each device serving both.
const SIM_LAB: &[(&str, &str, Option<Fault>)] = &[
    ("R1", "127.0.0.1", None),
    ("R2", "127.0.0.2", None),
    ("R3", "127.0.0.3", Some(Fault::WrongPassword)),
    ("R4", "127.0.0.4", Some(Fault::Tarpit)),
];

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
    }
}

/// The demo plan; `lab` lists the running simulated devices, each of which
/// gets an SSH or Telnet check.
pub fn plan(overrides: &Overrides, lab: &[LabDevice]) -> Plan {
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
        });
        targets.push(Arc::new(Target {
            device: (*name).into(),
            protocol: Protocol::Icmp,
            host: host.to_string(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            spec: CheckSpec::Icmp(IcmpSpec::default()),
        }));
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
        state_dir: None,
        devices,
        targets,
    };
    overrides.apply(&mut plan);
    plan
}

struct DemoSource(Overrides, Vec<LabDevice>);

impl PlanSource for DemoSource {
    fn load(&self) -> Result<Plan, config::ConfigErrors> {
        Ok(plan(&self.0, &self.1))
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
    let ssh: Vec<LabDevice> = lab
        .iter()
        .flat_map(|l| l.devices.iter().map(|d| (d.name.clone(), d.addr, d.telnet)))
        .collect();
    let source = DemoSource(overrides.clone(), ssh.clone());
    let plan = plan(&overrides, &ssh);
    crate::logging::init(plan.log.format, &plan.log.level);
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
        "  R3 has a wrong password; R4 never answers its logins (a tarpit). Its ICMP check\n  \
         pings a name that cannot resolve: every 127.x address answers ping, and the demo\n  \
         sends nothing off this machine, so a silent ping target is not possible here."
    );
    let code = daemon::serve(Box::new(source), overrides, plan).await;
    drop(lab);
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Reason;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_lab_shows_the_seeds_four_cases_over_ssh_and_telnet() {
        let lab = start_lab().await.unwrap();
        let devices: Vec<_> = lab
            .devices
            .iter()
            .map(|d| (d.name.clone(), d.addr, d.telnet))
            .collect();
        let plan = plan(&Overrides::default(), &devices);
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
}
