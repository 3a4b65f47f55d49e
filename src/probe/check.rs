//! A check, as the configuration sees it: its settings and how they
//! become a probe's spec. Each check implements [`Check`] in its own
//! folder (`probe/<name>/settings.rs`); the list in `probe/mod.rs` names
//! them all. And a probe, as the scheduler sees it: [`Probe`], and
//! [`run_check`], which bounds every check by its timeout.
//!
//! A probe performs one check of one target and reports an [`Outcome`],
//! recording the phases it walks through in a [`Progress`]. It does not need
//! to enforce the target's timeout: [`run_check`] does, so a probe that hangs
//! still ends in a `timeout` verdict naming the phase it hung in.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use futures::FutureExt;
use serde::Serialize;

use crate::exposition::Family;
use crate::probe::session::settings::Login;
use crate::settings::Layer;
use crate::target::{Protocol, Target};
use crate::verdict::{Outcome, Phase, Progress, Reason, Verdict};

/// What starting a probe may need from the plan.
pub struct ProbeEnv<'a> {
    /// Where state is kept (SSH's accept-new host keys).
    pub state_dir: Option<&'a Path>,
    /// ICMP checks may ping broadcast addresses (only `reachd demo`).
    pub icmp_broadcast: bool,
}

/// A check, as the configuration sees it: its settings and how they become
/// a probe's spec.
pub trait Check {
    /// One level of the check's settings cascade (made by
    /// [`crate::settings!`]).
    type Layer: Layer;
    /// What the probe runs with: one variant of [`crate::probe::CheckSpec`].
    type Spec: Clone + std::fmt::Debug + PartialEq;
    /// Other names for the check in `checks:` lists (`ping`).
    const ALIASES: &'static [&'static str] = &[];
    /// Sockets one check in flight holds open (for the fd budget).
    const SOCKETS_PER_CHECK: u64 = 1;

    /// Whether the resolved settings make sense on their own; checked for
    /// `defaults:` and for every device.
    fn validate(settings: &<Self::Layer as Layer>::Settings) -> Result<(), String>;

    /// The spec a probe runs with: the settings and the device's login.
    fn spec(
        settings: &<Self::Layer as Layer>::Settings,
        login: &Login,
    ) -> Result<Self::Spec, String>;

    /// Starts the check's probe (one per daemon); an error says what to fix.
    fn probe(env: &ProbeEnv) -> Result<BoxProbe, String>;
}

/// What a check measures beyond up or down (ICMP: echo requests, replies
/// and round-trip times), carried on its verdict as one variant of
/// [`crate::probe::CheckStats`]; serialized under the check's name.
/// A check with stats names the type in its line of the list of checks.
pub trait Stats: Clone + std::fmt::Debug + PartialEq + Serialize {
    /// What the state store keeps of them per target, over all its checks.
    type Counters: Counters<Stats = Self>;

    /// The time to show for the check in place of its duration (`reachd
    /// check`'s table), if it has a better one (ICMP: the average RTT).
    fn time(&self) -> Option<std::time::Duration> {
        None
    }
}

/// A check's [`Stats`] added up per target: its own metric series and
/// status fields.
pub trait Counters: Clone + std::fmt::Debug + Default {
    type Stats;
    /// The check's own metric families, in the order of
    /// [`Counters::write_series`]'s buffers.
    const FAMILIES: &'static [Family];

    /// Adds one check's stats.
    fn add(&mut self, stats: &Self::Stats);

    /// Writes the target's series of each family `i` of
    /// [`Counters::FAMILIES`] to `out[i]`, one line each; `device` is the
    /// device label's value, already escaped.
    fn write_series(&self, device: &str, out: &mut [String]);

    /// The target's fields in the status page's rows and
    /// `/api/v1/status`, by name, after `duration`.
    fn status_fields(&self) -> Vec<(&'static str, f64)>;

    /// The status page's "last" column, in place of the check's duration.
    fn last(&self) -> Option<String> {
        None
    }
}

/// A started probe.
pub type BoxProbe = Arc<dyn Probe>;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait Probe: Send + Sync + 'static {
    fn protocol(&self) -> Protocol;

    /// Worker threads of the protocol's own runtime (see [`crate::engine::lane`]).
    /// One suits checks that mostly wait; checks whose work can hold a
    /// thread (key exchanges, decoding) want [`crate::engine::lane::cpu_bound`].
    fn lane_threads(&self) -> usize {
        1
    }

    /// Check `target` once. Call `progress.enter(phase)` on entering each
    /// phase; a check starts in [`Phase::Resolve`].
    fn check<'a>(&'a self, target: &'a Target, progress: &'a Progress) -> BoxFuture<'a, Outcome>;

    /// Gets ready for a plan's `targets` of this protocol (at startup and
    /// reload, before they run): ICMP opens the sockets of their sources.
    /// An error names a device and says what to fix.
    fn prepare(&self, _targets: &[&Target]) -> Result<(), String> {
        Ok(())
    }
}

/// Runs one check, bounded by the target's timeout whatever the probe does.
/// A probe that panics (a bug) gives an `error` verdict in the phase it was
/// in, so the target keeps being checked and reported.
pub async fn run_check(probe: &dyn Probe, target: &Target) -> Verdict {
    let progress = Progress::start(Phase::Resolve, target.timeout);
    let check = AssertUnwindSafe(probe.check(target, &progress)).catch_unwind();
    match tokio::time::timeout(target.timeout, check).await {
        Ok(Ok(outcome)) => progress.finish(outcome),
        Ok(Err(panic)) => {
            let what = panic
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("no message");
            let detail = format!("the {} probe failed (a bug): {what}", probe.protocol());
            progress.finish(Outcome::fail(Reason::Error, detail))
        }
        Err(_) => progress.timed_out(target.timeout),
    }
}

/// The probes available to a run, one per protocol.
#[derive(Clone, Default)]
pub struct Probes {
    by_protocol: Vec<(Protocol, Arc<dyn Probe>)>,
}

impl Probes {
    pub fn insert(&mut self, probe: Arc<dyn Probe>) {
        let p = probe.protocol();
        self.by_protocol.retain(|(q, _)| *q != p);
        self.by_protocol.push((p, probe));
    }
    pub fn get(&self, protocol: Protocol) -> Option<&Arc<dyn Probe>> {
        self.by_protocol
            .iter()
            .find(|(p, _)| *p == protocol)
            .map(|(_, probe)| probe)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{CheckSpec, IcmpSpec};
    use std::time::Duration;

    /// Walks into `handshake`, then never returns.
    struct Hangs;
    impl Probe for Hangs {
        fn protocol(&self) -> Protocol {
            Protocol::Ssh
        }
        fn check<'a>(&'a self, _: &'a Target, progress: &'a Progress) -> BoxFuture<'a, Outcome> {
            Box::pin(async move {
                progress.enter(Phase::Connect);
                tokio::time::sleep(Duration::from_millis(10)).await;
                progress.enter(Phase::Handshake);
                std::future::pending().await
            })
        }
    }

    fn target(timeout: Duration) -> Target {
        Target {
            device: "r1".into(),
            protocol: Protocol::Ssh,
            host: "127.0.0.1".into(),
            interval: Duration::from_secs(10),
            timeout,
            spec: CheckSpec::Icmp(IcmpSpec::default()),
            source: Default::default(),
            ip_family: Default::default(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_probe_ends_at_its_timeout_in_its_phase() {
        let start = tokio::time::Instant::now();
        let v = run_check(&Hangs, &target(Duration::from_secs(2))).await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert_eq!(v.reason, Reason::Timeout);
        assert_eq!(v.phase, Phase::Handshake);
        assert_eq!(v.duration, Duration::from_secs(2));
        assert_eq!(v.phases[0], (Phase::Resolve, Duration::ZERO));
        assert_eq!(v.phases[1], (Phase::Connect, Duration::from_millis(10)));
    }

    /// Panics in `auth`.
    struct Panics;
    impl Probe for Panics {
        fn protocol(&self) -> Protocol {
            Protocol::Ssh
        }
        fn check<'a>(&'a self, _: &'a Target, progress: &'a Progress) -> BoxFuture<'a, Outcome> {
            Box::pin(async move {
                progress.enter(Phase::Auth);
                panic!("index out of bounds");
            })
        }
    }

    #[tokio::test]
    async fn a_panicking_probe_gives_an_error_verdict_in_its_phase() {
        let v = run_check(&Panics, &target(Duration::from_secs(2))).await;
        assert!(!v.up);
        assert_eq!(v.reason, Reason::Error);
        assert_eq!(v.phase, Phase::Auth);
        assert_eq!(
            v.detail,
            "the ssh probe failed (a bug): index out of bounds"
        );
    }
}
