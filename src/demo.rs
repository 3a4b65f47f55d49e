//! `reachd demo`: the embedded default. A small lab on loopback, monitored
//! with the daemon's own code, so a newcomer sees metrics and the status
//! page within seconds, with no configuration and nothing sent off the machine.
//!
//! The lab follows the seeds' example: R1 and R2 healthy, R3 healthy over
//! ICMP but with a wrong password (its SSH check fails with `auth_failed`),
//! R4 never answers (its SSH device is a tarpit). The SSH devices are
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

/// The simulated SSH side of the lab: (device, loopback address, fault).
const SSH_LAB: &[(&str, &str, Option<Fault>)] = &[
    ("R1", "127.0.0.1", None),
    ("R2", "127.0.0.2", None),
    ("R3", "127.0.0.3", Some(Fault::WrongPassword)),
    ("R4", "127.0.0.4", Some(Fault::Tarpit)),
];

/// Starts the lab's simulated SSH devices (each on a free port).
pub async fn start_ssh_lab() -> std::io::Result<sim::Sim> {
    let specs = SSH_LAB
        .iter()
        .map(|(name, ip, fault)| {
            let addr = std::net::SocketAddr::new(ip.parse().expect("static address"), 0);
            let mut d = DeviceSpec::healthy(name, addr);
            d.faults.extend(fault.iter().copied());
            d
        })
        .collect();
    sim::start(specs).await
}

fn ssh_target(name: &str, addr: std::net::SocketAddr) -> Target {
    Target {
        device: name.into(),
        protocol: Protocol::Ssh,
        host: addr.ip().to_string(),
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(5),
        spec: CheckSpec::Ssh(SessionSpec {
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
        }),
    }
}

/// The demo plan; `ssh` lists the running simulated SSH devices (name,
/// address), each of which gets an SSH check.
pub fn plan(overrides: &Overrides, ssh: &[(String, std::net::SocketAddr)]) -> Plan {
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
        if let Some((_, addr)) = ssh.iter().find(|(n, _)| n == name) {
            targets.push(Arc::new(ssh_target(name, *addr)));
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

struct DemoSource(Overrides, Vec<(String, std::net::SocketAddr)>);

impl PlanSource for DemoSource {
    fn load(&self) -> Result<Plan, config::ConfigErrors> {
        Ok(plan(&self.0, &self.1))
    }
}

pub async fn run(overrides: Overrides) -> ExitCode {
    // The simulated SSH devices live as long as the demo.
    let lab = match start_ssh_lab().await {
        Ok(l) => Some(l),
        Err(e) => {
            eprintln!("reachd demo: cannot start the simulated SSH devices ({e}); ICMP only");
            None
        }
    };
    let ssh: Vec<(String, std::net::SocketAddr)> = lab
        .iter()
        .flat_map(|l| l.devices.iter().map(|d| (d.name.clone(), d.addr)))
        .collect();
    let source = DemoSource(overrides.clone(), ssh.clone());
    let plan = plan(&overrides, &ssh);
    crate::logging::init(plan.log.format, &plan.log.level);
    let listen = plan.listen;
    eprintln!(
        "reachd demo: monitoring {} lab devices on loopback.\n  status page: http://{listen}/\n  metrics:     http://{listen}/metrics\n  Ctrl-C stops.",
        LAB.len()
    );
    for (name, addr) in &ssh {
        eprintln!(
            "  simulated SSH device {name} at {addr} (user admin, password admin, enable cisco)"
        );
    }
    let code = daemon::serve(Box::new(source), overrides, plan).await;
    drop(lab);
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Reason;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_ssh_lab_shows_the_seeds_four_cases() {
        let lab = start_ssh_lab().await.unwrap();
        let ssh: Vec<_> = lab
            .devices
            .iter()
            .map(|d| (d.name.clone(), d.addr))
            .collect();
        let plan = plan(&Overrides::default(), &ssh);
        let probe = crate::probe::ssh::SshProbe::new(None);
        let mut got = Vec::new();
        for t in plan.targets.iter().filter(|t| t.protocol == Protocol::Ssh) {
            let mut t = (**t).clone();
            // The tarpit ends at the read timeout; healthy devices have room
            // even in a loaded debug build.
            t.timeout = Duration::from_secs(6);
            if let CheckSpec::Ssh(s) = &mut t.spec {
                s.read_timeout = Duration::from_secs(2);
            }
            let v = crate::probe::run_check(&probe, &t).await;
            got.push((t.device.to_string(), v.reason));
        }
        assert_eq!(
            got,
            [
                ("R1".to_owned(), Reason::Ok),
                ("R2".to_owned(), Reason::Ok),
                ("R3".to_owned(), Reason::AuthFailed),
                ("R4".to_owned(), Reason::Timeout),
            ]
        );
    }
}
