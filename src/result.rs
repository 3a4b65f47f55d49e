//! What flows from the scheduler to the sinks.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::target::{Target, TargetKey};
use crate::verdict::Verdict;

/// One finished check.
#[derive(Clone, Debug)]
pub struct CheckResult {
    pub target: Arc<Target>,
    pub verdict: Verdict,
    /// Wall-clock time the check ended, for timestamps people read.
    pub finished_at: SystemTime,
    /// How late the check started against its schedule (0 for one-off checks).
    pub lag: Duration,
}

/// An item of a protocol's result stream.
#[derive(Clone, Debug)]
pub enum Event {
    Checked(CheckResult),
    /// The target left the configuration: sinks forget it. No result of it
    /// follows in the stream.
    Removed(TargetKey),
}
