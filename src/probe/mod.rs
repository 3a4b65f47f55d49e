//! Checks: one folder per check (`probe/<name>/`: its settings in
//! `settings.rs`, its probe), listed once, below, in [`checks!`].
//!
//! A probe performs one check of one target and reports an [`Outcome`],
//! recording the phases it walks through in a [`Progress`]. It does not need
//! to enforce the target's timeout: [`run_check`] does, so a probe that hangs
//! still ends in a `timeout` verdict naming the phase it hung in.

pub mod check;
pub mod factory;
pub mod icmp;
pub mod session;
pub mod ssh;
pub mod telnet;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use std::collections::BTreeMap;
use std::path::Path;

use futures::FutureExt;
use serde::de::MapAccess;

pub use check::Check;
pub use session::settings::Login;

use crate::settings::{Block, CheckSettings, Layer};
use crate::target::{CheckSpec, Protocol, Target};
use crate::verdict::{Outcome, Phase, Progress, Reason, Verdict};

/// From the list of checks: [`Layers`], every check's layer of settings,
/// and what the configuration does with them, check by check.
macro_rules! checks {
    ($( $variant:ident $name:ident: $check:ty, )*) => {
        /// Every check's settings as one level of the cascade sets them.
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct Layers {
            $( pub $name: <$check as Check>::Layer, )*
        }

        impl Layers {
            /// The checks' names, in order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name)),*];

            /// This level on top of `base`, field by field.
            pub fn over(&self, base: &Layers) -> Layers {
                Layers { $( $name: self.$name.over(&base.$name), )* }
            }

            /// Makes relative paths relative to `dir`.
            pub fn rebase(&mut self, dir: &Path) {
                $( self.$name.rebase(dir); )*
            }

            /// Parses the block of the check `name` (one of [`Layers::NAMES`]).
            pub fn parse<'de, A: MapAccess<'de>>(
                &mut self,
                name: &str,
                map: &mut A,
                in_defaults: bool,
            ) -> Result<(), A::Error> {
                $(
                    if name == stringify!($name) {
                        self.$name = map.next_value_seed(Block::new(in_defaults))?;
                    }
                )*
                Ok(())
            }

            /// Every check's settings, resolved alone, checked (`defaults:`
            /// must make sense by itself).
            pub fn validate(&self) -> Result<(), String> {
                $( <$check as Check>::validate(&self.$name.resolve())?; )*
                Ok(())
            }

            /// Each check's concurrency limit.
            pub fn concurrency(&self) -> BTreeMap<Protocol, usize> {
                BTreeMap::from([$( (Protocol::$variant, self.$name.resolve().concurrency()), )*])
            }

            /// The interval, timeout and spec of check `protocol` of a device
            /// whose settings these are.
            pub fn target(
                &self,
                protocol: Protocol,
                login: &Login,
            ) -> Result<(std::time::Duration, std::time::Duration, CheckSpec), String> {
                match protocol {
                    $(
                        Protocol::$variant => {
                            let s = self.$name.resolve();
                            <$check as Check>::validate(&s)?;
                            let spec = <$check as Check>::spec(&s, login)?;
                            Ok((s.interval(), s.timeout(), spec))
                        }
                    )*
                }
            }
        }
    };
}
// Every check reachd has, the one list naming them all: its `Protocol`,
// its name (its YAML block under `defaults:`, a profile or a device) and
// its `Check`. The configuration learns about checks only through this
// list.
checks! {
    Icmp icmp: icmp::settings::Icmp,
    Ssh ssh: ssh::settings::Ssh,
    Telnet telnet: telnet::settings::Telnet,
}

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
