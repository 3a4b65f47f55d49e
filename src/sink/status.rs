//! The current state of every target: the single place that knows whether a
//! result is a state change. Read by the HTTP API and status page.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::result::CheckResult;
use crate::target::{Protocol, TargetKey};
use crate::verdict::{Phase, Reason};

/// How a result relates to the state before it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transition {
    /// The state before this result, if the target had been checked.
    pub previous: Option<(bool, Reason)>,
    /// The phase the previous check stopped in.
    pub previous_phase: Option<Phase>,
    /// Up/down flipped, the down reason changed, or this is the first result.
    pub changed: bool,
    /// Up/down flipped, or this is the first result.
    pub flipped: bool,
    /// Since when the target is up, or down (whatever the reasons since).
    pub since: SystemTime,
    /// How long the previous up or down state lasted, when it flipped.
    pub previous_lasted: Option<Duration>,
}

/// One row of the status page.
#[derive(Clone, Debug, Serialize)]
pub struct TargetStatus {
    pub device: Arc<str>,
    pub protocol: Protocol,
    pub host: String,
    pub up: bool,
    pub reason: Reason,
    pub phase: Phase,
    pub detail: String,
    #[serde(serialize_with = "unix_secs")]
    pub since: SystemTime,
    #[serde(serialize_with = "unix_secs")]
    pub last_check: SystemTime,
    /// Duration of the last check, seconds.
    pub duration: f64,
    /// Average RTT of the last ICMP check, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    pub checks: u64,
}

#[derive(Default)]
pub struct StatusStore {
    by_key: RwLock<HashMap<TargetKey, TargetStatus>>,
}

impl StatusStore {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Records `result` and says how it changed the target's state.
    pub fn record(&self, result: &CheckResult) -> Transition {
        let v = &result.verdict;
        let t = &result.target;
        let mut map = self.by_key.write().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(t.key());
        let now = result.finished_at;
        let (previous, previous_phase, checks, since_before) = match &entry {
            std::collections::hash_map::Entry::Occupied(o) => {
                let s = o.get();
                (
                    Some((s.up, s.reason)),
                    Some(s.phase),
                    s.checks,
                    Some(s.since),
                )
            }
            std::collections::hash_map::Entry::Vacant(_) => (None, None, 0, None),
        };
        let changed = previous != Some((v.up, v.reason));
        let flipped = previous.map(|(up, _)| up) != Some(v.up);
        let since = match (flipped, since_before) {
            (false, Some(s)) => s,
            _ => now,
        };
        let previous_lasted = match (flipped, since_before) {
            (true, Some(s)) => now.duration_since(s).ok(),
            _ => None,
        };
        let status = TargetStatus {
            device: t.device.clone(),
            protocol: t.protocol,
            host: t.host.clone(),
            up: v.up,
            reason: v.reason,
            phase: v.phase,
            detail: v.detail.clone(),
            since,
            last_check: now,
            duration: v.duration.as_secs_f64(),
            rtt: v
                .icmp
                .as_ref()
                .and_then(|s| s.avg())
                .map(|d| d.as_secs_f64()),
            loss: v.icmp.as_ref().map(|s| s.loss_ratio()),
            prompt: v.prompt.clone(),
            checks: checks + 1,
        };
        entry.insert_entry(status);
        Transition {
            previous,
            previous_phase,
            changed,
            flipped,
            since,
            previous_lasted,
        }
    }

    pub fn remove(&self, key: &TargetKey) {
        self.by_key
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// Every target's status, sorted by device then protocol.
    pub fn snapshot(&self) -> Vec<TargetStatus> {
        let mut rows: Vec<_> = self
            .by_key
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        rows.sort_by(|a, b| (&a.device, a.protocol).cmp(&(&b.device, b.protocol)));
        rows
    }

    pub fn len(&self) -> usize {
        self.by_key.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn unix_secs<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(unix_seconds(*t))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::target::{CheckSpec, IcmpSpec, Target};
    use crate::verdict::{Outcome, Progress};

    pub(crate) fn result(device: &str, reason: Reason, at_secs: u64) -> CheckResult {
        let target = Arc::new(Target {
            device: device.into(),
            protocol: Protocol::Icmp,
            host: "127.0.0.1".into(),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            spec: CheckSpec::Icmp(IcmpSpec::default()),
        });
        let p = Progress::start(Phase::Resolve, target.timeout);
        p.enter(Phase::Connect);
        CheckResult {
            target,
            verdict: p.finish(Outcome::new(reason, "detail")),
            finished_at: UNIX_EPOCH + Duration::from_secs(at_secs),
            lag: Duration::ZERO,
        }
    }

    #[test]
    fn transitions() {
        let s = StatusStore::default();
        let t = s.record(&result("r1", Reason::Ok, 100));
        assert!(t.changed);
        assert_eq!(t.previous, None);

        let t = s.record(&result("r1", Reason::Ok, 110));
        assert!(!t.changed);
        assert_eq!(t.since, UNIX_EPOCH + Duration::from_secs(100));

        let t = s.record(&result("r1", Reason::NoReply, 120));
        assert!(t.changed);
        assert_eq!(t.previous, Some((true, Reason::Ok)));
        assert_eq!(t.previous_lasted, Some(Duration::from_secs(20)));

        // A different down reason is a change too, but down since 120.
        let t = s.record(&result("r1", Reason::Unreachable, 130));
        assert!(t.changed);
        assert!(!t.flipped);
        assert_eq!(t.since, UNIX_EPOCH + Duration::from_secs(120));

        let t = s.record(&result("r1", Reason::Ok, 190));
        assert!(t.changed);
        assert_eq!(
            t.previous_lasted,
            Some(Duration::from_secs(70)),
            "down since 120"
        );

        let rows = s.snapshot();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].checks, 5);
        assert!(rows[0].up);
        s.remove(&rows[0].device_key());
        assert!(s.is_empty());
    }

    impl TargetStatus {
        fn device_key(&self) -> TargetKey {
            TargetKey {
                device: self.device.clone(),
                protocol: self.protocol,
            }
        }
    }
}
