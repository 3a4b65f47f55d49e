//! The cause, not a storm of symptoms: device dependencies (`parents:`).
//!
//! A device is **down** when every check it has is down. A device whose
//! ancestor is down is **behind** the topmost down one; its own verdict,
//! reason and phase stay as measured. When a target goes down and its
//! device has parents, the [`gate`] re-checks the parents at once (once
//! for any number of children) and holds the child's result until they
//! answer, so the child's state change is recorded and logged already
//! knowing whether it is behind a parent: alerts that say `unless
//! reachd_parent_down == 1` never see the child alone.
//!
//! - [`crate::topology`]: the devices' parents, built once per plan;
//! - [`crate::sink::deps`]: is a device down, what is it behind;
//! - [`gate`]: between the schedulers and the sinks, the re-checks and the
//!   hold;
//! - [`diagnosis`]: the path traced to a target that stops answering;

pub mod diagnosis;
pub mod gate;
