//! Logs: one event per state change, per-check detail only at debug.
//!
//! A device that stays down is logged once, when it goes down (or when its
//! down reason changes), not every round.

use tracing::{debug, info, warn};

use crate::result::CheckResult;
use crate::sink::state::Transition;
use crate::verdict::fmt_duration;

/// Logs `r`; `behind`: the topmost down ancestor of its device, for a
/// down state change.
pub fn record(r: &CheckResult, tr: &Transition, behind: Option<&str>) {
    let v = &r.verdict;
    let t = &r.target;
    debug!(
        device = %t.device,
        protocol = %t.protocol,
        up = v.up,
        reason = %v.reason,
        phase = %v.phase,
        duration_ms = ms(v.duration),
        lag_ms = ms(r.lag),
        detail = %v.detail,
        "check"
    );
    if !tr.changed {
        return;
    }
    let duration_ms = ms(v.duration);
    match (tr.previous, v.up) {
        // First result and up: normal, not worth a line per device at start.
        (None, true) => debug!(
            device = %t.device, protocol = %t.protocol, host = %t.host, duration_ms,
            "first check: up"
        ),
        (_, true) => info!(
            device = %t.device,
            protocol = %t.protocol,
            host = %t.host,
            duration_ms,
            was = %tr.previous.map_or("", |(_, r)| r.as_str()),
            down_for = %tr.previous_lasted.map(fmt_duration).unwrap_or_default(),
            "up again"
        ),
        (_, false) => warn!(
            device = %t.device,
            protocol = %t.protocol,
            host = %t.host,
            reason = %v.reason,
            phase = %v.phase,
            duration_ms,
            detail = %v.detail,
            behind,
            was = %match tr.previous {
                None => "unknown",
                Some((true, _)) => "up",
                Some((false, r)) => r.as_str(),
            },
            "down"
        ),
    }
}

/// Milliseconds with microsecond precision: `12.345`, not `12.345000000000001`.
fn ms(d: std::time::Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}
