//! Views: the state store ([`crate::sink::state`]) rendered for HTTP. They
//! read the store and never change it.
//!
//! - [`metrics`]: the Prometheus text exposition (`/metrics`): per-target
//!   series straight from the store, plus the registry of reachd's own
//!   health metrics (scheduler, reloads, build, process).
//! - [`status`]: the status page (`/`, from `status.html`) and the
//!   `/api/v1/status` JSON document it embeds.

pub mod metrics;
pub mod status;
