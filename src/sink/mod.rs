//! Sinks consume the merged result streams: the state store records each
//! result and decides what is a state change; logs report the changes;
//! [`metrics`] holds reachd's own metrics. The store is rendered for HTTP
//! by [`crate::view`]. Sinks know nothing about how a result was obtained.

pub mod log;
pub mod registry;
pub mod state;

use std::sync::Arc;

use crate::result::Event;
use registry::Metrics;
use state::StateStore;

/// The state store, and beside it the registry of reachd's own metrics.
#[derive(Clone)]
pub struct Sinks {
    pub metrics: Arc<Metrics>,
    pub state: Arc<StateStore>,
}

impl Sinks {
    pub fn new() -> Self {
        Sinks {
            metrics: Arc::new(Metrics::new()),
            state: StateStore::new(),
        }
    }

    pub fn handle(&self, event: &Event) {
        match event {
            Event::Checked(r) => {
                let tr = self.state.record(r);
                log::record(r, &tr);
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
