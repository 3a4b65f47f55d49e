//! The gate between the schedulers and the sinks: when a target goes down
//! and its device has parents, the parents are re-checked at once and the
//! target's result is held until they have answered, so that its state
//! change is recorded (metrics, status, log line) already knowing whether
//! it is behind a down parent.
//!
//! - A parent already known down, or whose last check began after the
//!   child's failing check began, is not re-checked.
//! - A parent being re-checked is not re-checked again: 1,000 children
//!   failing behind one parent cause one re-check of it.
//! - A parent whose own re-check result goes down holds too, on its own
//!   parents; its children wait for those, and are released after it.
//! - Every hold is bounded: a parent that does not answer within its
//!   timeout (and a second) releases its children as they are.
//!
//! Results of the same target keep their order; results of targets
//! without parents, up results, and results of targets already down pass
//! straight through.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prometheus::IntCounter;
use tokio::time::Instant;

use super::diagnosis::{Diagnoser, Traced};
use crate::result::{CheckResult, Event};
use crate::sink::Sinks;
use crate::sink::deps::{Dependencies, checked_since, is_down, targets};
use crate::target::{Protocol, TargetKey};
use crate::topology::{Graph, Id};

/// Asks the schedulers to run these targets now, out of schedule.
pub type Recheck = Box<dyn FnMut(Vec<TargetKey>) + Send>;

/// Beyond a parent's check timeout, how long its children may wait for it.
const SLACK: Duration = Duration::from_secs(1);

/// A parent being re-checked.
struct Pending {
    /// When the re-check was asked for: results ending later count.
    asked: SystemTime,
    /// Its checks that have not answered since.
    waiting: Vec<Protocol>,
    deadline: Instant,
}

/// A target's results held back, oldest first.
struct Held {
    device: Id,
    results: Vec<CheckResult>,
    /// The parents (being re-checked, or held themselves) it waits for.
    waiting: BTreeSet<Id>,
    deadline: Instant,
}

pub struct Gate {
    sinks: Sinks,
    deps: Arc<Dependencies>,
    recheck: Recheck,
    rechecks: IntCounter,
    pending: HashMap<Id, Pending>,
    held: HashMap<TargetKey, Held>,
    /// Per device with held results: how many targets, and the latest
    /// deadline among them.
    held_devices: HashMap<Id, (usize, Instant)>,
    /// Every hold's deadline, counted, for the earliest one.
    deadlines: BTreeMap<Instant, usize>,
    /// The graph the ids above belong to.
    graph: Arc<Graph>,
    /// Traces the path to targets that stop answering, when set.
    diagnoser: Option<Diagnoser>,
}

impl Gate {
    pub fn new(sinks: Sinks, recheck: Recheck) -> Gate {
        let deps = sinks.deps.clone();
        let rechecks = sinks.metrics.parent_rechecks();
        Gate {
            graph: deps.graph(),
            sinks,
            deps,
            recheck,
            rechecks,
            pending: HashMap::new(),
            held: HashMap::new(),
            held_devices: HashMap::new(),
            deadlines: BTreeMap::new(),
            diagnoser: None,
        }
    }

    /// Traces paths with `d`.
    pub fn with_diagnoser(mut self, d: Diagnoser) -> Gate {
        self.diagnoser = Some(d);
        self
    }

    /// A trace has finished: it is kept for the device's down targets.
    pub fn traced(&mut self, t: Traced) {
        let keys = match self.graph.id(&t.0.device) {
            Some(id) => targets(&self.graph, id),
            None => vec![t.0.clone()],
        };
        if let Some(d) = &mut self.diagnoser {
            d.finished(&self.sinks, &keys, t);
        }
    }

    /// When the next hold or re-check runs out, if any.
    pub fn deadline(&self) -> Option<Instant> {
        let held = self.deadlines.keys().next().copied();
        let pending = self.pending.values().map(|p| p.deadline).min();
        match (held, pending) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// How many results are held now.
    pub fn held(&self) -> usize {
        self.held.values().map(|h| h.results.len()).sum()
    }

    pub fn handle(&mut self, event: Event) {
        let graph = self.deps.graph();
        if !Arc::ptr_eq(&graph, &self.graph) {
            // A reload: the ids changed. What is held goes through as it is.
            self.release_all();
            self.graph = graph;
        }
        match event {
            Event::Checked(r) => {
                self.checked(r);
            }
            Event::Removed(key) => {
                if let Some(h) = self.held.remove(&key) {
                    self.forget(&h);
                }
                self.sinks.handle(&Event::Removed(key));
            }
        }
    }

    fn checked(&mut self, r: CheckResult) {
        let key = r.target.key();
        if let Some(h) = self.held.get_mut(&key) {
            h.results.push(r); // keeps the target's order
            return;
        }
        let Some(id) = self.graph.id(&key.device) else {
            self.record(r, None);
            return;
        };
        // Only a target going down (or down at its first check) whose
        // device has parents asks; one already down was decided on when it
        // went down.
        let going_down = !r.verdict.up
            && !self.graph.parents(id).is_empty()
            && !matches!(self.sinks.state.peek(&key), Some((false, _)));
        let waiting = if going_down {
            self.ask_parents(id, &r)
        } else {
            BTreeSet::new()
        };
        if waiting.is_empty() {
            self.record(r, Some(id));
            return;
        }
        let deadline = waiting
            .iter()
            .filter_map(|p| self.deadline_of(*p))
            .max()
            .unwrap_or_else(Instant::now);
        let h = Held {
            device: id,
            results: vec![r],
            waiting,
            deadline,
        };
        self.remember(&h);
        self.held.insert(key, h);
    }

    /// Counts a new hold.
    fn remember(&mut self, h: &Held) {
        let d = self.held_devices.entry(h.device).or_insert((0, h.deadline));
        d.0 += 1;
        d.1 = d.1.max(h.deadline);
        *self.deadlines.entry(h.deadline).or_default() += 1;
    }

    /// Uncounts a hold that ends.
    fn forget(&mut self, h: &Held) {
        if let Some(d) = self.held_devices.get_mut(&h.device) {
            d.0 -= 1;
            if d.0 == 0 {
                self.held_devices.remove(&h.device);
            }
        }
        self.uncount(h.deadline);
    }

    fn uncount(&mut self, deadline: Instant) {
        if let Some(n) = self.deadlines.get_mut(&deadline) {
            *n -= 1;
            if *n == 0 {
                self.deadlines.remove(&deadline);
            }
        }
    }

    /// When what a child waits for on `p` runs out.
    fn deadline_of(&self, p: Id) -> Option<Instant> {
        let pending = self.pending.get(&p).map(|x| x.deadline);
        let held = self.held_devices.get(&p).map(|d| d.1);
        pending.max(held)
    }

    /// Re-checks the parents of `id` that need it; returns those to wait
    /// for.
    fn ask_parents(&mut self, id: Id, r: &CheckResult) -> BTreeSet<Id> {
        let began = r
            .finished_at
            .checked_sub(r.verdict.duration)
            .unwrap_or(r.finished_at);
        let g = self.graph.clone();
        let state = &self.sinks.state;
        let mut waiting = BTreeSet::new();
        for &p in g.parents(id) {
            if self.pending.contains_key(&p) || self.held_devices.contains_key(&p) {
                waiting.insert(p);
                continue;
            }
            if g.checks(p).is_empty() || is_down(&g, state, p) || checked_since(&g, state, p, began)
            {
                continue;
            }
            let keys = targets(&g, p);
            self.pending.insert(
                p,
                Pending {
                    asked: SystemTime::now(),
                    waiting: g.checks(p).to_vec(),
                    deadline: Instant::now() + g.timeout(p) + SLACK,
                },
            );
            self.rechecks.inc();
            (self.recheck)(keys);
            waiting.insert(p);
        }
        waiting
    }

    /// Records `r`; settles what waited for its device's re-check.
    fn record(&mut self, r: CheckResult, id: Option<Id>) {
        let finished = r.finished_at;
        let protocol = r.target.protocol;
        let tr = self.sinks.checked(&r);
        if let Some(d) = &mut self.diagnoser {
            let allowed = id.is_some_and(|i| self.graph.path_trace(i));
            if let Some(path) = d.on_result(&r, &tr, allowed) {
                self.sinks.state.set_path(&r.target.key(), path, |_| true);
            }
        }
        let Some(id) = id else { return };
        let Some(p) = self.pending.get_mut(&id) else {
            return;
        };
        if finished >= p.asked {
            p.waiting.retain(|x| *x != protocol);
        }
        if p.waiting.is_empty() {
            self.pending.remove(&id);
            self.settle(id);
        }
    }

    /// Parent `p` has answered (or will not): children stop waiting for its
    /// re-check, but wait on for its own result while that is held (it
    /// waits on its parents in turn), until its hold's deadline.
    fn settle(&mut self, p: Id) {
        let held_p = self.held_devices.get(&p).map(|d| d.1);
        let mut moved = Vec::new();
        for h in self.held.values_mut() {
            if !h.waiting.contains(&p) {
                continue;
            }
            match held_p {
                None => {
                    h.waiting.remove(&p);
                }
                Some(until) if until > h.deadline => {
                    moved.push((h.deadline, until));
                    h.deadline = until;
                }
                Some(_) => {}
            }
        }
        for (old, new) in moved {
            self.uncount(old);
            *self.deadlines.entry(new).or_default() += 1;
        }
        self.release_ready();
    }

    /// Releases every hold that waits for nothing, parents first; a
    /// device released lets go of the children held on it.
    fn release_ready(&mut self) {
        loop {
            let mut ready: Vec<(u16, TargetKey)> = self
                .held
                .iter()
                .filter(|(_, h)| h.waiting.is_empty())
                .map(|(k, h)| (self.graph.depth(h.device), k.clone()))
                .collect();
            if ready.is_empty() {
                return;
            }
            ready.sort();
            let mut freed = Vec::new();
            for (_, key) in ready {
                let Some(h) = self.held.remove(&key) else {
                    continue;
                };
                self.forget(&h);
                let device = h.device;
                for r in h.results {
                    self.record(r, Some(device));
                }
                if !self.held_devices.contains_key(&device) && !self.pending.contains_key(&device) {
                    freed.push(device);
                }
            }
            if freed.is_empty() {
                return;
            }
            for h in self.held.values_mut() {
                for d in &freed {
                    h.waiting.remove(d);
                }
            }
        }
    }

    /// Ends every hold and re-check whose time is up (`now` or earlier).
    pub fn expire(&mut self, now: Instant) {
        let late: Vec<Id> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            self.pending.remove(&id);
            self.settle(id);
        }
        for h in self.held.values_mut() {
            if h.deadline <= now {
                h.waiting.clear();
            }
        }
        self.release_ready();
    }

    /// Releases everything held (reload, shutdown).
    pub fn release_all(&mut self) {
        self.pending.clear();
        for h in self.held.values_mut() {
            h.waiting.clear();
        }
        self.release_ready();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{CheckSpec, Device, IcmpSpec, Target};
    use crate::verdict::{Outcome, Phase, Progress, Reason};
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// r1 ← r2 ← {d1, d2}, and a device without parents.
    const LAB: &[(&str, &[&str])] = &[
        ("r1", &[]),
        ("r2", &["r1"]),
        ("d1", &["r2"]),
        ("d2", &["r2"]),
        ("solo", &[]),
    ];

    struct Lab {
        gate: Gate,
        sinks: Sinks,
        asked: Arc<Mutex<Vec<String>>>,
        targets: BTreeMap<&'static str, Arc<Target>>,
    }

    fn lab(devices: &[(&'static str, &[&str])]) -> Lab {
        let devs = crate::topology::tests::devices(devices);
        let targets: BTreeMap<&'static str, Arc<Target>> = devices
            .iter()
            .map(|(n, _)| {
                let t = Arc::new(Target {
                    device: (*n).into(),
                    protocol: Protocol::Icmp,
                    host: "127.0.0.1".into(),
                    interval: Duration::from_secs(60),
                    timeout: Duration::from_secs(2),
                    spec: CheckSpec::Icmp(IcmpSpec::default()),
                    source: Default::default(),
                    ip_family: Default::default(),
                });
                (*n, t)
            })
            .collect();
        let sinks = Sinks::new();
        let all: Vec<Arc<Target>> = targets.values().cloned().collect();
        sinks.deps.set(&devs, &all);
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        let gate = Gate::new(
            sinks.clone(),
            Box::new(move |keys: Vec<TargetKey>| {
                let mut log = log.lock().unwrap();
                log.extend(keys.iter().map(|k| k.to_string()));
            }),
        );
        Lab {
            gate,
            sinks,
            asked,
            targets,
        }
    }

    impl Lab {
        fn result(&mut self, device: &str, up: bool) {
            let r = self.make(device, up);
            self.gate.handle(Event::Checked(r));
        }

        fn make(&self, device: &str, up: bool) -> CheckResult {
            let target = self.targets[device].clone();
            let p = Progress::start(Phase::Resolve, target.timeout);
            p.enter(Phase::Connect);
            let outcome = if up {
                Outcome::ok("fine")
            } else {
                Outcome::new(Reason::NoReply, "no reply")
            };
            CheckResult {
                target,
                verdict: p.finish(outcome),
                finished_at: SystemTime::now(),
                lag: Duration::ZERO,
            }
        }

        fn asked(&self) -> Vec<String> {
            std::mem::take(&mut *self.asked.lock().unwrap())
        }

        /// The recorded state of `device`: up, and what it is behind.
        fn seen(&self, device: &str) -> Option<(bool, Option<String>)> {
            self.sinks
                .snapshot()
                .into_iter()
                .find(|r| &*r.device == device)
                .map(|r| (r.up, r.behind.map(|b| b.to_string())))
        }
    }

    fn down_behind(b: &str) -> Option<(bool, Option<String>)> {
        Some((false, Some(b.to_owned())))
    }

    #[tokio::test(start_paused = true)]
    async fn children_fail_first_and_the_parents_recheck_finds_the_root() {
        let mut l = lab(LAB);
        for d in ["r1", "r2", "d1", "d2", "solo"] {
            l.result(d, true);
        }
        assert!(l.asked().is_empty(), "up results ask nothing");

        // d1 fails first: r2 is re-checked at once and d1 is held.
        l.result("d1", false);
        assert_eq!(l.asked(), ["r2/icmp"]);
        assert_eq!(l.seen("d1"), Some((true, None)), "held, not recorded yet");
        assert_eq!(l.gate.held(), 1);
        // d2 fails too: r2's re-check is already on its way.
        l.result("d2", false);
        assert!(l.asked().is_empty(), "one re-check for both children");

        // r2's re-check finds it down: r1 is re-checked, r2 held in turn.
        l.result("r2", false);
        assert_eq!(l.asked(), ["r1/icmp"]);
        assert_eq!(l.gate.held(), 3);
        // r1 down: everything is released, parents first.
        l.result("r1", false);
        assert_eq!(l.gate.held(), 0);
        assert_eq!(l.seen("r1"), Some((false, None)));
        assert_eq!(l.seen("r2"), down_behind("r1"));
        assert_eq!(l.seen("d1"), down_behind("r1"), "the topmost down one");
        assert_eq!(l.seen("d2"), down_behind("r1"));

        // r1 comes back: r2 is behind nothing, and d1 is behind r2.
        l.result("r1", true);
        assert_eq!(l.seen("r2"), Some((false, None)));
        assert_eq!(l.seen("d1"), down_behind("r2"));
        // r2 back too: nothing is behind anything.
        l.result("r2", true);
        assert_eq!(l.seen("d1"), Some((false, None)));
        assert!(l.asked().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_thousand_children_cause_one_recheck() {
        let names: Vec<&'static str> = (0..1000)
            .map(|i| &*Box::leak(format!("c{i}").into_boxed_str()))
            .collect();
        let mut devices: Vec<(&'static str, &[&str])> = vec![("p", &[])];
        devices.extend(names.iter().map(|n| (*n, &["p"][..])));
        let mut l = lab(&devices);
        l.result("p", true);
        for n in &names {
            l.result(n, false);
        }
        assert_eq!(l.asked(), ["p/icmp"]);
        assert_eq!(l.sinks.metrics.parent_rechecks().get(), 1);
        assert_eq!(l.gate.held(), 1000);
        l.result("p", false);
        assert_eq!(l.gate.held(), 0);
        for n in &names {
            assert_eq!(l.seen(n), down_behind("p"));
        }
        // More children failing while p is known down ask nothing.
        l.result("c1", true);
        l.result("c1", false);
        assert!(l.asked().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_parent_that_is_up_leaves_the_child_down_on_its_own() {
        let mut l = lab(LAB);
        for d in ["r1", "r2", "d1"] {
            l.result(d, true);
        }
        l.result("d1", false);
        assert_eq!(l.asked(), ["r2/icmp"]);
        // d2's check ends later, but began before r2 answered.
        let d2 = l.make("d2", false);
        std::thread::sleep(Duration::from_millis(2));
        l.result("r2", true);
        assert_eq!(l.gate.held(), 0);
        assert_eq!(l.seen("d1"), Some((false, None)));
        // r2 was checked after d2's check began: no re-check for d2.
        l.gate.handle(Event::Checked(d2));
        assert!(l.asked().is_empty());
        assert_eq!(l.seen("d2"), Some((false, None)));
        // A child whose check begins after r2's last check asks again.
        std::thread::sleep(Duration::from_millis(2));
        l.result("d1", true);
        l.result("d1", false);
        assert_eq!(l.asked(), ["r2/icmp"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_parent_check_that_began_before_the_child_s_is_no_proof() {
        let mut l = lab(LAB);
        for d in ["r1", "d2"] {
            l.result(d, true);
        }
        // r2's check began 750 ms ago (its first echo answered before the
        // cut) and ended up just now; d2's began 600 ms ago and failed.
        let mut r2 = l.make("r2", true);
        r2.verdict.duration = Duration::from_millis(750);
        l.gate.handle(Event::Checked(r2));
        let mut d2 = l.make("d2", false);
        d2.verdict.duration = Duration::from_millis(600);
        l.gate.handle(Event::Checked(d2));
        assert_eq!(l.asked(), ["r2/icmp"], "r2 must be asked again");
        l.result("r2", false);
        assert_eq!(l.asked(), ["r1/icmp"], "r2 down asks r1 in turn");
        l.result("r1", true);
        assert_eq!(l.seen("r2"), Some((false, None)));
        assert_eq!(l.seen("d2"), down_behind("r2"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_parent_that_never_answers_releases_its_children_in_time() {
        let mut l = lab(LAB);
        for d in ["r1", "r2", "d1"] {
            l.result(d, true);
        }
        l.result("d1", false);
        let deadline = l.gate.deadline().expect("a hold has a deadline");
        assert_eq!(
            deadline - Instant::now(),
            Duration::from_secs(3),
            "r2's timeout + 1s"
        );
        tokio::time::advance(Duration::from_millis(2999)).await;
        l.gate.expire(Instant::now());
        assert_eq!(l.gate.held(), 1);
        tokio::time::advance(Duration::from_millis(1)).await;
        l.gate.expire(Instant::now());
        assert_eq!(l.gate.held(), 0);
        assert_eq!(l.seen("d1"), Some((false, None)));
        assert_eq!(l.gate.deadline(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn results_of_a_held_target_keep_their_order_and_others_pass() {
        let mut l = lab(LAB);
        for d in ["r1", "r2", "d1", "solo"] {
            l.result(d, true);
        }
        l.result("d1", false);
        l.result("d1", true); // a later result waits behind the held one
        l.result("solo", false); // no parents: straight through
        assert_eq!(l.seen("solo"), Some((false, None)));
        assert_eq!(l.gate.held(), 2);
        l.result("r2", true);
        assert_eq!(l.gate.held(), 0);
        assert_eq!(
            l.seen("d1"),
            Some((true, None)),
            "the later result is the last"
        );
        let checks = l.sinks.state.snapshot();
        let d1 = checks.iter().find(|r| &*r.device == "d1").unwrap();
        assert_eq!(d1.checks, 3, "both held results were recorded");
    }

    #[tokio::test(start_paused = true)]
    async fn a_target_removed_while_held_is_dropped_not_recorded() {
        let mut l = lab(LAB);
        for d in ["r1", "r2"] {
            l.result(d, true);
        }
        l.result("d1", false);
        assert_eq!(l.gate.held(), 1);
        l.gate.handle(Event::Removed(l.targets["d1"].key()));
        assert_eq!(l.gate.held(), 0);

        assert_eq!(l.seen("d1"), None, "nothing of d1 is recorded");
        // r2 answers: nothing is left to release.
        l.result("r2", false);
        assert_eq!(l.seen("d1"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reload_releases_what_is_held() {
        let mut l = lab(LAB);
        for d in ["r1", "r2", "d1"] {
            l.result(d, true);
        }
        l.result("d1", false);
        assert_eq!(l.gate.held(), 1);
        // The parent is removed from d1's parents.
        let devs = vec![Device {
            name: "d1".into(),
            host: "127.0.0.1".into(),
            labels: BTreeMap::new(),
            parents: vec![],
            path_trace: true,
        }];
        l.sinks.deps.set(&devs, &[l.targets["d1"].clone()]);
        l.result("d1", false);
        assert_eq!(l.gate.held(), 0);
        assert_eq!(l.seen("d1"), Some((false, None)));
    }
}
