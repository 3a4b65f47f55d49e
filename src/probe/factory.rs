//! The probe factory: the probe each check of a plan needs, each opened
//! by its check (`Check::probe`, through the list of checks).

use std::sync::Arc;

use super::check::ProbeEnv;
use super::{Probe, Probes};
use crate::config::Plan;
use crate::target::Protocol;

/// The probe for `protocol`, opened for `plan`; an error says what to fix.
pub fn build_probe(protocol: Protocol, plan: &Plan) -> Result<Arc<dyn Probe>, String> {
    let env = ProbeEnv {
        state_dir: plan.state_dir.as_deref(),
        icmp_broadcast: plan.icmp_broadcast,
    };
    super::start_probe(protocol, &env)
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
