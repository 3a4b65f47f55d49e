//! The state of every target, kept compact for 100,000 targets: the last
//! verdict, since when the target is up or down, the counters its metrics
//! are rendered from, and its check's own counters (ICMP: echo counts and
//! the RTT histogram). The single place that decides
//! whether a result is a state change; read by metrics, the status page and
//! the API.
//!
//! Sharded by target so that rendering a large scrape holds each lock only
//! briefly and never stalls the result stream for long.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::diagnose::Path;
use crate::probe::CheckCounters;
use crate::result::CheckResult;
use crate::target::{Protocol, Target, TargetKey};
use crate::verdict::{Phase, Reason};

/// How a result relates to the state before it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transition {
    /// The state before this result, if the target had been checked.
    pub previous: Option<(bool, Reason)>,
    /// Up/down flipped, the down reason changed, or this is the first result.
    pub changed: bool,
    /// Up/down flipped, or this is the first result.
    pub flipped: bool,
    /// Since when the target is up, or down (whatever the reasons since).
    pub since: SystemTime,
    /// How long the previous up or down state lasted, when it flipped.
    pub previous_lasted: Option<Duration>,
}

/// Everything kept about one target.
#[derive(Clone, Debug)]
pub struct TargetState {
    pub target: Arc<Target>,
    pub up: bool,
    pub reason: Reason,
    pub phase: Phase,
    pub detail: Box<str>,
    pub prompt: Option<Box<str>>,
    pub since: SystemTime,
    pub last_check: SystemTime,
    pub duration: Duration,
    /// Time in each phase the last check entered.
    pub phases: Box<[(Phase, Duration)]>,
    pub checks: u64,
    /// Times the target went up or down (the first result is not a change).
    pub changes: u64,
    /// Failures by reason, only reasons seen.
    pub failures: Vec<(Reason, u64)>,
    /// The check's own counters, from its verdicts' stats.
    pub stats: Option<Box<CheckCounters>>,
    /// The path traced when the target last went down; cleared when it
    /// is up again.
    pub path: Option<Arc<Path>>,
}

/// One row of the status page and `/api/v1/status`.
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
    /// The check's own fields (ICMP: `rtt`, the last check's average RTT in
    /// seconds, and `loss`).
    #[serde(flatten, serialize_with = "fields")]
    pub fields: Vec<(&'static str, f64)>,
    /// The status page's "last" column from the check's own counters
    /// (ICMP: the RTT), shown in place of the duration.
    #[serde(skip)]
    pub last: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    pub checks: u64,
    /// The topmost down ancestor of the device, while this target is down
    /// (filled in by [`crate::sink::Sinks::snapshot`]).
    pub behind: Option<Arc<str>>,
    /// The path traced when the target went down: one element per hop,
    /// `null` for a hop that did not answer (see [`Path`]).
    #[serde(serialize_with = "path_hops")]
    pub path: Option<Arc<Path>>,
    /// When that trace ended (Unix seconds).
    #[serde(serialize_with = "path_time")]
    pub path_at: Option<Arc<Path>>,
}

type Shard = RwLock<HashMap<TargetKey, TargetState>>;

pub struct StateStore {
    shards: Box<[Shard]>,
    hasher: std::collections::hash_map::RandomState,
}

const SHARDS: usize = 64;

impl Default for StateStore {
    fn default() -> Self {
        StateStore {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }
}

impl StateStore {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn shard(&self, key: &TargetKey) -> &Shard {
        &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS]
    }

    /// Records `result` and says how it changed the target's state.
    pub fn record(&self, result: &CheckResult) -> Transition {
        let v = &result.verdict;
        let t = &result.target;
        let key = t.key();
        let now = result.finished_at;
        let mut shard = self.shard(&key).write().unwrap_or_else(|e| e.into_inner());
        let fresh = || TargetState {
            target: t.clone(),
            up: v.up,
            reason: v.reason,
            phase: v.phase,
            detail: Box::from(""),
            prompt: None,
            since: now,
            last_check: now,
            duration: Duration::ZERO,
            phases: Box::new([]),
            checks: 0,
            changes: 0,
            failures: Vec::new(),
            stats: None,
            path: None,
        };
        let (s, previous) = match shard.get_mut(&key) {
            Some(s) => {
                let previous = Some((s.up, s.reason));
                (s, previous)
            }
            None => (shard.entry(key).or_insert_with(fresh), None),
        };
        let changed = previous != Some((v.up, v.reason));
        let flipped = previous.map(|(up, _)| up) != Some(v.up);
        let previous_lasted = match (flipped, previous) {
            (true, Some(_)) => now.duration_since(s.since).ok(),
            _ => None,
        };
        if flipped {
            s.since = now;
            if previous.is_some() {
                s.changes += 1;
            }
        }
        if !Arc::ptr_eq(&s.target, t) {
            s.target = t.clone(); // settings changed on reload
        }
        if v.up {
            s.path = None;
        }
        s.up = v.up;
        s.reason = v.reason;
        s.phase = v.phase;
        if *s.detail != *v.detail {
            s.detail = v.detail.as_str().into();
        }
        s.prompt = v.prompt.as_deref().map(Box::from);
        s.last_check = now;
        s.duration = v.duration;
        if s.phases.len() == v.phases.len() {
            s.phases.copy_from_slice(&v.phases);
        } else {
            s.phases = v.phases.as_slice().into();
        }
        s.checks += 1;
        if !v.up {
            match s.failures.iter_mut().find(|(r, _)| *r == v.reason) {
                Some((_, n)) => *n += 1,
                None => s.failures.push((v.reason, 1)),
            }
        }
        if let Some(stats) = &v.stats {
            stats.add_to(&mut s.stats);
        }
        Transition {
            previous,
            changed,
            flipped,
            since: s.since,
            previous_lasted,
        }
    }

    /// Keeps the path traced for a target that is still down and that
    /// `fits` (its host, its reason); false if it is gone, up again (the
    /// trace is stale) or does not fit.
    pub fn set_path(
        &self,
        key: &TargetKey,
        path: Arc<Path>,
        fits: impl Fn(&TargetState) -> bool,
    ) -> bool {
        let mut shard = self.shard(key).write().unwrap_or_else(|e| e.into_inner());
        match shard.get_mut(key) {
            Some(s) if !s.up && fits(s) => {
                s.path = Some(path);
                true
            }
            _ => false,
        }
    }

    /// Whether the target is up, and when its last check began; `None`
    /// before its first result.
    pub fn peek(&self, key: &TargetKey) -> Option<(bool, SystemTime)> {
        self.shard(key)
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .map(|s| {
                (
                    s.up,
                    s.last_check.checked_sub(s.duration).unwrap_or(s.last_check),
                )
            })
    }

    pub fn remove(&self, key: &TargetKey) {
        self.shard(key)
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// Calls `f` on every target, one shard lock at a time (no order).
    pub fn for_each(&self, mut f: impl FnMut(&TargetState)) {
        for shard in self.shards.iter() {
            let shard = shard.read().unwrap_or_else(|e| e.into_inner());
            shard.values().for_each(&mut f);
        }
    }

    /// Every target's status, sorted by device then protocol.
    pub fn snapshot(&self) -> Vec<TargetStatus> {
        let mut rows = Vec::with_capacity(self.len());
        self.for_each(|s| {
            rows.push(TargetStatus {
                device: s.target.device.clone(),
                protocol: s.target.protocol,
                host: s.target.host.clone(),
                up: s.up,
                reason: s.reason,
                phase: s.phase,
                detail: match &s.path {
                    Some(p) => format!("{}; {}", s.detail, p.summary()),
                    None => s.detail.to_string(),
                },
                since: s.since,
                last_check: s.last_check,
                duration: s.duration.as_secs_f64(),
                fields: s
                    .stats
                    .as_ref()
                    .map(|c| c.status_fields())
                    .unwrap_or_default(),
                last: s.stats.as_ref().and_then(|c| c.last()),
                prompt: s.prompt.as_deref().map(str::to_string),
                checks: s.checks,
                behind: None,
                path: s.path.clone(),
                path_at: s.path.clone(),
            })
        });
        rows.sort_by(|a, b| (&a.device, a.protocol).cmp(&(&b.device, b.protocol)));
        rows
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn fields<S: serde::Serializer>(v: &[(&'static str, f64)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(v.iter().copied())
}

fn path_hops<S: serde::Serializer>(p: &Option<Arc<Path>>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => s.collect_seq(p.hops.iter()),
        None => s.serialize_none(),
    }
}

fn path_time<S: serde::Serializer>(p: &Option<Arc<Path>>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => s.serialize_f64(unix_seconds(p.finished_at)),
        None => s.serialize_none(),
    }
}

fn unix_secs<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(unix_seconds(*t))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::target::{CheckSpec, IcmpSpec};
    use crate::verdict::{Outcome, Progress};

    pub(crate) fn result(device: &str, reason: Reason, at_secs: u64) -> CheckResult {
        let at = UNIX_EPOCH + Duration::from_secs(at_secs);
        result_at(device, Protocol::Icmp, reason, at)
    }

    /// A result of `device`'s `protocol` check to 127.0.0.1 (every 10 s),
    /// ended at `finished_at` in phase connect.
    pub(crate) fn result_at(
        device: &str,
        protocol: Protocol,
        reason: Reason,
        finished_at: SystemTime,
    ) -> CheckResult {
        let target = Arc::new(Target {
            device: device.into(),
            protocol,
            host: "127.0.0.1".into(),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            spec: CheckSpec::Icmp(IcmpSpec::default()),
            source: Default::default(),
            ip_family: Default::default(),
        });
        let p = Progress::start(Phase::Resolve, target.timeout);
        p.enter(Phase::Connect);
        CheckResult {
            target,
            verdict: p.finish(Outcome::new(reason, "detail")),
            finished_at,
            lag: Duration::ZERO,
        }
    }

    #[test]
    fn a_path_is_kept_while_down_and_cleared_when_up() {
        let s = StateStore::default();
        let key = TargetKey {
            device: "r1".into(),
            protocol: Protocol::Icmp,
        };
        let path = || {
            Arc::new(Path {
                hops: vec![Some("198.18.1.2".parse().unwrap()), None],
                reached: false,
                finished_at: UNIX_EPOCH + Duration::from_secs(125),
            })
        };
        assert!(!s.set_path(&key, path(), |_| true), "no target yet");
        s.record(&result("r1", Reason::Ok, 100));
        assert!(
            !s.set_path(&key, path(), |_| true),
            "up: a late trace is stale"
        );
        s.record(&result("r1", Reason::NoReply, 120));
        assert!(!s.set_path(&key, path(), |_| false), "does not fit");
        assert!(s.set_path(&key, path(), |_| true));
        let row = s.snapshot().remove(0);
        assert_eq!(
            row.detail,
            "detail; path ends after 198.18.1.2 (hop 1 of ≥2)"
        );
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(json["path"], serde_json::json!(["198.18.1.2", null]));
        assert_eq!(json["path_at"], serde_json::json!(125.0));
        s.record(&result("r1", Reason::Ok, 130));
        let json = serde_json::to_value(s.snapshot().remove(0)).unwrap();
        assert_eq!(json["path"], serde_json::Value::Null, "up again: no path");
        assert_eq!(json["detail"], "detail");
    }

    #[test]
    fn transitions() {
        let s = StateStore::default();
        let t = s.record(&result("r1", Reason::Ok, 100));
        assert!(t.changed && t.flipped);
        assert_eq!(t.previous, None);

        let t = s.record(&result("r1", Reason::Ok, 110));
        assert!(!t.changed);
        assert_eq!(t.since, UNIX_EPOCH + Duration::from_secs(100));

        let t = s.record(&result("r1", Reason::NoReply, 120));
        assert!(t.changed && t.flipped);
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

        s.for_each(|st| assert_eq!(st.changes, 2, "down at 120, up at 190"));
        let rows = s.snapshot();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].checks, 5);
        assert!(rows[0].up);
        s.remove(&TargetKey {
            device: "r1".into(),
            protocol: Protocol::Icmp,
        });
        assert!(s.is_empty());
    }
}
