//! The probe factory: the probe each check of a plan needs, each opened
//! by its check (`Check::probe`, through the list of checks).

use std::sync::Arc;

use super::check::ProbeEnv;
use super::{Probe, Probes};
use crate::config::Plan;
use std::collections::BTreeMap;

use crate::target::{Protocol, Source, Target};

/// The probe for `protocol`, opened for `plan`; an error says what to fix.
pub fn build_probe(protocol: Protocol, plan: &Plan) -> Result<Arc<dyn Probe>, String> {
    let env = ProbeEnv {
        state_dir: plan.state_dir.as_deref(),
        icmp_broadcast: plan.icmp_broadcast,
    };
    let probe = super::start_probe(protocol, &env)?;
    probe.prepare(&targets_of(plan, protocol))?;
    Ok(probe)
}

fn targets_of(plan: &Plan, protocol: Protocol) -> Vec<&Target> {
    plan.targets
        .iter()
        .filter(|t| t.protocol == protocol)
        .map(|t| &**t)
        .collect()
}

/// Whether this host can use every source the plan's checks name (see
/// [`Source::check_host`]): an error names the first device using a
/// source that cannot be used.
pub fn check_sources(plan: &Plan) -> Result<(), String> {
    let mut users: BTreeMap<&Source, Vec<&Target>> = BTreeMap::new();
    for t in plan.targets.iter().filter(|t| !t.source.is_default()) {
        users.entry(&t.source).or_default().push(&**t);
    }
    for (source, users) in users {
        if let Err(e) = source.check_host() {
            let first = users[0];
            let more = match users.len() - 1 {
                0 => String::new(),
                1 => " (and 1 more check)".to_owned(),
                n => format!(" (and {n} more checks)"),
            };
            return Err(format!(
                "device {} ({}): {e}{more}",
                first.device, first.protocol
            ));
        }
    }
    Ok(())
}

/// Gets the plan's sources ready in `probes` (at reload, before the plan
/// is applied): checks them, and lets each probe open what they need. An
/// error leaves the running plan as it is.
pub fn prepare(plan: &Plan, probes: &Probes) -> Result<(), String> {
    check_sources(plan)?;
    for p in protocols(plan) {
        if let Some(probe) = probes.get(p) {
            probe.prepare(&targets_of(plan, p))?;
        }
    }
    Ok(())
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
    check_sources(plan)?;
    for p in protocols(plan) {
        match probes.get(p) {
            None => probes.insert(build_probe(p, plan)?),
            Some(probe) => probe.prepare(&targets_of(plan, p))?,
        }
    }
    Ok(probes)
}
