//! `reachd demo`: the embedded default. A small lab on loopback, monitored
//! with the daemon's own code, so a newcomer sees metrics and the status
//! page within seconds, with no configuration and nothing sent off the machine.
//!
//! The lab follows the seeds' example: R1 and R2 healthy, R3 healthy over
//! ICMP too (its fault, a wrong password, shows with the login checks), R4
//! never answers.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{self, LogSettings, Plan};
use crate::daemon::{self, Overrides, PlanSource};
use crate::target::{CheckSpec, Device, IcmpSpec, Protocol, Target};

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

pub fn plan(overrides: &Overrides) -> Plan {
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

struct DemoSource(Overrides);

impl PlanSource for DemoSource {
    fn load(&self) -> Result<Plan, config::ConfigErrors> {
        Ok(plan(&self.0))
    }
}

pub async fn run(overrides: Overrides) -> ExitCode {
    let source = DemoSource(overrides.clone());
    let plan = plan(&overrides);
    crate::logging::init(plan.log.format, &plan.log.level);
    let listen = plan.listen;
    eprintln!(
        "reachd demo: monitoring {} lab devices on loopback.\n  status page: http://{listen}/\n  metrics:     http://{listen}/metrics\n  Ctrl-C stops.",
        LAB.len()
    );
    daemon::serve(Box::new(source), overrides, plan).await
}
