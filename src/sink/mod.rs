//! Sinks consume the merged result streams: the status store decides what is
//! a state change, then metrics and logs record the result. They know nothing
//! about how a result was obtained.

pub mod log;
pub mod metrics;
pub mod status;

use std::sync::Arc;

use futures::{Stream, StreamExt};

use crate::result::Event;
use metrics::Metrics;
use status::StatusStore;

#[derive(Clone)]
pub struct Sinks {
    pub metrics: Arc<Metrics>,
    pub status: Arc<StatusStore>,
}

impl Sinks {
    pub fn new() -> Self {
        Sinks {
            metrics: Arc::new(Metrics::new()),
            status: StatusStore::new(),
        }
    }

    pub fn handle(&self, event: &Event) {
        match event {
            Event::Checked(r) => {
                let tr = self.status.record(r);
                self.metrics.record(r, &tr);
                log::record(r, &tr);
            }
            Event::Removed(key) => {
                self.status.remove(key);
                self.metrics.remove(key);
                tracing::info!(device = %key.device, protocol = %key.protocol, "removed from the configuration");
            }
        }
    }

    /// Consumes `events` until it ends.
    pub async fn consume(self, mut events: impl Stream<Item = Event> + Unpin) {
        while let Some(ev) = events.next().await {
            self.handle(&ev);
        }
    }
}

impl Default for Sinks {
    fn default() -> Self {
        Self::new()
    }
}
