//! The probe factory: the probe each protocol needs, opened for a plan.

use std::sync::Arc;

use tracing::info;

use super::{Probe, Probes};
use crate::config::Plan;
use crate::target::Protocol;

/// The probe for `protocol`; an error says what to fix.
pub fn build_probe(protocol: Protocol, plan: &Plan) -> Result<Arc<dyn Probe>, String> {
    use crate::probe::icmp::IcmpProbe;
    Ok(match protocol {
        Protocol::Icmp => {
            let icmp = if plan.icmp_broadcast {
                IcmpProbe::with_broadcast()
            } else {
                IcmpProbe::new()
            };
            let icmp = icmp.map_err(|e| e.to_string())?;
            info!(mode = icmp.mode(), "ICMP sockets open");
            Arc::new(icmp)
        }
        Protocol::Ssh => {
            let ssh = crate::probe::ssh::SshProbe::new(plan.state_dir.as_deref());
            match ssh.tofu_file() {
                Some(f) => {
                    info!(known_hosts = %f.display(), "SSH accept-new host keys are recorded here")
                }
                None => info!("no state_dir: SSH accept-new host keys are kept in memory only"),
            }
            Arc::new(ssh)
        }
        Protocol::Telnet => Arc::new(crate::probe::telnet::TelnetProbe::new()),
    })
}

/// The protocols `plan` has targets for.
pub fn protocols(plan: &Plan) -> Vec<Protocol> {
    Protocol::ALL
        .into_iter()
        .filter(|p| plan.targets.iter().any(|t| t.protocol == *p))
        .collect()
}

/// The probes `plan` needs; an error says what to fix.
pub fn build_probes(plan: &Plan) -> Result<Probes, String> {
    complete_probes(plan, Probes::default())
}

/// `probes`, plus those `plan` needs and `probes` lacks.
pub fn complete_probes(plan: &Plan, mut probes: Probes) -> Result<Probes, String> {
    for p in protocols(plan) {
        if probes.get(p).is_none() {
            probes.insert(build_probe(p, plan)?);
        }
    }
    Ok(probes)
}
