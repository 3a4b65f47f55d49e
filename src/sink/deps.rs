//! The devices' dependencies as the sinks and views see them: the plan's
//! [`Graph`] (replaced on reload), and the questions asked of it against
//! the state store — is a device down (every check it has is down), what
//! is it behind (the topmost down ancestor). See [`crate::cause`] for what
//! acts on them.

use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use super::state::StateStore;
use crate::target::{Device, Target, TargetKey};
use crate::topology::{Graph, Id};

/// The plan's dependency graph, replaced on reload.
#[derive(Default)]
pub struct Dependencies {
    graph: RwLock<Arc<Graph>>,
}

impl Dependencies {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The graph of a new plan.
    pub fn set(&self, devices: &[Device], targets: &[Arc<Target>]) {
        let g = Arc::new(Graph::new(devices, targets));
        *self.graph.write().unwrap_or_else(|e| e.into_inner()) = g;
    }

    pub fn graph(&self) -> Arc<Graph> {
        self.graph.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn key(g: &Graph, id: Id, protocol: crate::target::Protocol) -> TargetKey {
    TargetKey {
        device: g.name(id).clone(),
        protocol,
    }
}

/// Device `id`'s targets.
pub fn targets(g: &Graph, id: Id) -> Vec<TargetKey> {
    g.checks(id).iter().map(|&p| key(g, id, p)).collect()
}

/// Whether device `id` is down: it has checks, and the last result of
/// every one is down. A device not checked yet is not down.
pub fn is_down(g: &Graph, state: &StateStore, id: Id) -> bool {
    let checks = g.checks(id);
    !checks.is_empty()
        && checks
            .iter()
            .all(|&p| matches!(state.peek(&key(g, id, p)), Some((false, _))))
}

/// Whether every check of device `id` began at or after `since` (a result
/// fresh enough to decide on without checking again: a check that began
/// before a child's failing check may have seen the path before it broke,
/// even if it ended after).
pub fn checked_since(g: &Graph, state: &StateStore, id: Id, since: SystemTime) -> bool {
    g.checks(id)
        .iter()
        .all(|&p| matches!(state.peek(&key(g, id, p)), Some((_, at)) if at >= since))
}

/// The topmost down ancestor of `device`, if any.
pub fn behind(g: &Graph, state: &StateStore, device: &str) -> Option<Arc<str>> {
    let id = g.id(device)?;
    if g.parents(id).is_empty() {
        return None;
    }
    g.behind(id, &mut |a| is_down(g, state, a))
        .map(|a| g.name(a).clone())
}

/// For every device: the topmost down ancestor, if any (by graph id).
pub fn behind_all(g: &Graph, state: &StateStore) -> Vec<Option<Id>> {
    if !g.has_dependencies() {
        return vec![None; g.len()];
    }
    g.behind_all(&mut |a| is_down(g, state, a))
}
