//! Sinks consume the merged result streams: the state store records each
//! result and decides what is a state change; logs report the changes;
//! [`metrics`] holds reachd's own metrics. The store is rendered for HTTP
//! by [`crate::view`]. Sinks know nothing about how a result was obtained.

pub mod deps;
pub mod log;
pub mod registry;
pub mod state;

use std::sync::Arc;

use crate::result::Event;
use crate::target::{Device, Target};
use deps::Dependencies;
use registry::Metrics;
use state::StateStore;

/// The state store, and beside it the registry of reachd's own metrics
/// and the devices' dependencies.
#[derive(Clone)]
pub struct Sinks {
    pub metrics: Arc<Metrics>,
    pub state: Arc<StateStore>,
    pub deps: Arc<Dependencies>,
}

impl Sinks {
    pub fn new() -> Self {
        Sinks {
            metrics: Arc::new(Metrics::new()),
            state: StateStore::new(),
            deps: Dependencies::new(),
        }
    }

    /// The plan's devices and targets, for `reachd_device_info` and the
    /// dependencies.
    pub fn set_inventory(&self, devices: &[Device], targets: &[Arc<Target>]) {
        self.metrics.set_devices(devices);
        self.deps.set(devices, targets);
    }

    /// Every target's status, with the device each down one is behind.
    pub fn snapshot(&self) -> Vec<state::TargetStatus> {
        let mut rows = self.state.snapshot();
        let g = self.deps.graph();
        if g.has_dependencies() {
            let behind = deps::behind_all(&g, &self.state);
            for row in rows.iter_mut().filter(|r| !r.up) {
                row.behind = g
                    .id(&row.device)
                    .and_then(|id| behind[id as usize])
                    .map(|b| g.name(b).clone());
            }
        }
        rows
    }

    /// Records and logs a result; says how it changed the target's state.
    pub fn checked(&self, r: &crate::result::CheckResult) -> state::Transition {
        let tr = self.state.record(r);
        let behind = match (tr.changed, r.verdict.up) {
            (true, false) => deps::behind(&self.deps.graph(), &self.state, &r.target.device),
            _ => None,
        };
        log::record(r, &tr, behind.as_deref());
        tr
    }

    pub fn handle(&self, event: &Event) {
        match event {
            Event::Checked(r) => {
                self.checked(r);
            }
            Event::Removed(key) => {
                self.state.remove(key);
                tracing::info!(device = %key.device, protocol = %key.protocol, "removed from the configuration");
            }
        }
    }
}

impl Default for Sinks {
    fn default() -> Self {
        Self::new()
    }
}
