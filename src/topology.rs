//! The dependency graph: which devices each device depends on
//! (`parents:`), transitively. Built once per plan; the configuration has
//! already refused unknown names and cycles ([`find_cycle`]), so the graph
//! is a DAG (walks still stop at a depth bound, never looping).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::target::{Device, Protocol, Target};

/// A device's index in the graph.
pub type Id = u32;

/// Deeper chains than this are not followed (no real network has them; a
/// bug elsewhere cannot make a walk loop).
const MAX_DEPTH: usize = 64;

#[derive(Debug, Default)]
pub struct Graph {
    names: Vec<Arc<str>>,
    index: HashMap<Arc<str>, Id>,
    parents: Vec<Box<[Id]>>,
    /// The checks each device has, in protocol order.
    checks: Vec<Box<[Protocol]>>,
    /// The longest timeout of its checks.
    timeout: Vec<Duration>,
    /// Longest chain of parents above each device (0 for a root).
    depth: Vec<u16>,
    /// Devices that have parents.
    with_parents: usize,
    /// Whether each device may be traced (`path_trace:`).
    path_trace: Vec<bool>,
}

impl Graph {
    /// The graph of `devices`, whose checks are `targets`. A parent that
    /// names no device is left out (the configuration refuses it first).
    pub fn new(devices: &[Device], targets: &[Arc<Target>]) -> Graph {
        let mut g = Graph::default();
        for d in devices {
            let id = g.names.len() as Id;
            g.index.insert(d.name.clone(), id);
            g.names.push(d.name.clone());
        }
        let mut checks: Vec<Vec<Protocol>> = vec![Vec::new(); g.names.len()];
        g.timeout = vec![Duration::ZERO; g.names.len()];
        for t in targets {
            if let Some(&id) = g.index.get(&t.device) {
                checks[id as usize].push(t.protocol);
                let max = &mut g.timeout[id as usize];
                *max = (*max).max(t.timeout);
            }
        }
        g.checks = checks
            .into_iter()
            .map(|mut c| {
                c.sort();
                c.dedup();
                c.into_boxed_slice()
            })
            .collect();
        g.parents = devices
            .iter()
            .map(|d| {
                d.parents
                    .iter()
                    .filter_map(|p| g.index.get(p).copied())
                    .collect()
            })
            .collect();
        g.with_parents = g.parents.iter().filter(|p| !p.is_empty()).count();
        g.path_trace = devices.iter().map(|d| d.path_trace).collect();
        g.depth = vec![u16::MAX; g.names.len()];
        for id in 0..g.names.len() {
            g.depth_of(id as Id, 0);
        }
        g
    }

    fn depth_of(&mut self, id: Id, level: usize) -> u16 {
        let i = id as usize;
        if self.depth[i] != u16::MAX {
            return self.depth[i];
        }
        let mut d = 0;
        if level < MAX_DEPTH {
            for p in self.parents[i].clone().iter() {
                d = d.max(self.depth_of(*p, level + 1).saturating_add(1));
            }
        }
        self.depth[i] = d;
        d
    }

    pub fn id(&self, name: &str) -> Option<Id> {
        self.index.get(name).copied()
    }

    pub fn name(&self, id: Id) -> &Arc<str> {
        &self.names[id as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Whether any device has parents (else nothing here has work to do).
    pub fn has_dependencies(&self) -> bool {
        self.with_parents > 0
    }

    pub fn parents(&self, id: Id) -> &[Id] {
        &self.parents[id as usize]
    }

    pub fn checks(&self, id: Id) -> &[Protocol] {
        &self.checks[id as usize]
    }

    /// The longest timeout of the device's checks.
    pub fn timeout(&self, id: Id) -> Duration {
        self.timeout[id as usize]
    }

    /// Whether the path to the device may be traced.
    pub fn path_trace(&self, id: Id) -> bool {
        self.path_trace[id as usize]
    }

    /// Longest chain of parents above the device: parents sort before
    /// their children by it.
    pub fn depth(&self, id: Id) -> u16 {
        self.depth[id as usize]
    }

    /// The topmost down device above `id` (not `id` itself): following
    /// parents in the order written, the first chain that has a down device
    /// gives the highest down device on it. `None` if no ancestor is down.
    pub fn behind(&self, id: Id, down: &mut impl FnMut(Id) -> bool) -> Option<Id> {
        self.parents(id)
            .iter()
            .find_map(|&p| self.topmost(p, down, 0))
    }

    /// The topmost down device among `id` and its ancestors.
    fn topmost(&self, id: Id, down: &mut impl FnMut(Id) -> bool, level: usize) -> Option<Id> {
        if level < MAX_DEPTH {
            if let Some(up) = self
                .parents(id)
                .iter()
                .find_map(|&p| self.topmost(p, down, level + 1))
            {
                return Some(up);
            }
        }
        down(id).then_some(id)
    }

    /// [`Graph::behind`] for every device at once, each device's answer
    /// computed once: what a scrape or the status page needs.
    pub fn behind_all(&self, down: &mut impl FnMut(Id) -> bool) -> Vec<Option<Id>> {
        let n = self.names.len();
        // topmost[i]: the topmost down device among i and its ancestors.
        let mut topmost: Vec<Option<Option<Id>>> = vec![None; n];
        let mut order: Vec<Id> = (0..n as Id).collect();
        order.sort_by_key(|&i| self.depth(i));
        for &i in &order {
            let above = self
                .parents(i)
                .iter()
                .find_map(|&p| topmost[p as usize].flatten());
            topmost[i as usize] = Some(above.or_else(|| down(i).then_some(i)));
        }
        (0..n)
            .map(|i| {
                self.parents[i]
                    .iter()
                    .find_map(|&p| topmost[p as usize].flatten())
            })
            .collect()
    }
}

/// A cycle among `parents` (each device's parents by index), as the
/// devices on it in order, the first repeated at the end; `None` if there
/// is none. The first cycle found from the lowest index.
pub fn find_cycle(parents: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; parents.len()];
    for start in 0..parents.len() {
        if mark[start] != Mark::New {
            continue;
        }
        // Iterative DFS: the path and, per node on it, the next parent to try.
        let mut path: Vec<(usize, usize)> = vec![(start, 0)];
        mark[start] = Mark::Open;
        while let Some(&mut (node, ref mut next)) = path.last_mut() {
            if let Some(&p) = parents[node].get(*next) {
                *next += 1;
                match mark[p] {
                    Mark::Open => {
                        let from = path.iter().position(|(n, _)| *n == p).unwrap_or(0);
                        let mut cycle: Vec<usize> = path[from..].iter().map(|(n, _)| *n).collect();
                        cycle.push(p);
                        return Some(cycle);
                    }
                    Mark::New => {
                        mark[p] = Mark::Open;
                        path.push((p, 0));
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                path.pop();
            }
        }
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashSet};

    /// Devices on 127.0.0.1 with these names and parents.
    pub(crate) fn devices(edges: &[(&str, &[&str])]) -> Vec<Device> {
        edges
            .iter()
            .map(|(n, ps)| Device {
                name: (*n).into(),
                host: "127.0.0.1".into(),
                labels: BTreeMap::new(),
                parents: ps.iter().map(|p| Arc::from(*p)).collect(),
                path_trace: true,
            })
            .collect()
    }

    fn graph(edges: &[(&str, &[&str])]) -> Graph {
        Graph::new(&devices(edges), &[])
    }

    fn downs<'a>(g: &'a Graph, names: &'a [&str]) -> impl FnMut(Id) -> bool + 'a {
        let set: HashSet<Id> = names.iter().map(|n| g.id(n).unwrap()).collect();
        move |i| set.contains(&i)
    }

    fn behind(g: &Graph, device: &str, down: &[&str]) -> Option<String> {
        let id = g.id(device).unwrap();
        let one = g
            .behind(id, &mut downs(g, down))
            .map(|i| g.name(i).to_string());
        let all = g.behind_all(&mut downs(g, down))[id as usize].map(|i| g.name(i).to_string());
        assert_eq!(one, all, "behind and behind_all agree for {device}");
        one
    }

    #[test]
    fn the_topmost_down_ancestor_is_the_one_behind() {
        // d1, d2 → r2 → r1
        let g = graph(&[
            ("r1", &[]),
            ("r2", &["r1"]),
            ("d1", &["r2"]),
            ("d2", &["r2"]),
        ]);
        assert_eq!(behind(&g, "d1", &[]), None);
        assert_eq!(
            behind(&g, "d1", &["d1"]),
            None,
            "its own state is not behind"
        );
        assert_eq!(behind(&g, "d1", &["r2", "d1"]).as_deref(), Some("r2"));
        assert_eq!(behind(&g, "d1", &["r1", "r2", "d1"]).as_deref(), Some("r1"));
        assert_eq!(
            behind(&g, "d2", &["r1"]).as_deref(),
            Some("r1"),
            "transitive"
        );
        assert_eq!(behind(&g, "r2", &["r1"]).as_deref(), Some("r1"));
        assert_eq!(behind(&g, "r1", &["r1"]), None, "a root is behind nothing");
        assert_eq!(g.depth(g.id("r1").unwrap()), 0);
        assert_eq!(g.depth(g.id("d2").unwrap()), 2);
    }

    #[test]
    fn diamonds_are_walked_once_and_first_written_parent_wins() {
        // d → {a, b} → top
        let g = graph(&[
            ("top", &[]),
            ("a", &["top"]),
            ("b", &["top"]),
            ("d", &["a", "b"]),
        ]);
        assert_eq!(behind(&g, "d", &["b"]).as_deref(), Some("b"));
        assert_eq!(behind(&g, "d", &["a", "b"]).as_deref(), Some("a"));
        assert_eq!(behind(&g, "d", &["a", "b", "top"]).as_deref(), Some("top"));
        assert_eq!(g.depth(g.id("d").unwrap()), 2);
    }

    #[test]
    fn cycles_are_found_with_their_path() {
        assert_eq!(find_cycle(&[vec![], vec![0], vec![1]]), None);
        assert_eq!(find_cycle(&[vec![0]]), Some(vec![0, 0]), "itself");
        assert_eq!(
            find_cycle(&[vec![1], vec![2], vec![0]]),
            Some(vec![0, 1, 2, 0])
        );
        // A diamond is no cycle.
        assert_eq!(find_cycle(&[vec![], vec![0], vec![0], vec![1, 2]]), None);
        // A cycle reached from outside it.
        assert_eq!(
            find_cycle(&[vec![1], vec![2], vec![3], vec![1]]),
            Some(vec![1, 2, 3, 1])
        );
    }

    #[test]
    fn a_long_chain_is_walked_without_recursion_trouble() {
        let names: Vec<String> = (0..50).map(|i| format!("n{i}")).collect();
        let parents: Vec<Vec<&str>> = (0..50)
            .map(|i| {
                if i == 0 {
                    vec![]
                } else {
                    vec![names[i - 1].as_str()]
                }
            })
            .collect();
        let edges: Vec<(&str, &[&str])> = names
            .iter()
            .zip(parents.iter())
            .map(|(n, p)| (n.as_str(), p.as_slice()))
            .collect();
        let g = graph(&edges);
        assert_eq!(behind(&g, "n49", &["n3", "n10"]).as_deref(), Some("n3"));
        assert_eq!(g.depth(g.id("n49").unwrap()), 49);
    }
}
