//! Checks: one folder per check (`probe/<name>/`: its settings and spec in
//! `settings.rs`, its [`Check`] in `check.rs`, its probe in `mod.rs`, and
//! what it measures beyond up or down, if anything, in `stats.rs`), listed
//! once, below.
//! From that list come [`Protocol`], [`CheckSpec`], [`CheckStats`],
//! [`CheckCounters`], [`start_probe`] and [`Layers`]; the config,
//! scheduler, sinks, views, HTTP and CLI learn
//! about checks only through them and the traits in [`check`]. Beside the
//! checks, [`session`]: what the SSH and Telnet checks share.

pub mod check;
pub mod factory;
pub mod session;
pub mod source;

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::MapAccess;
use serde::{Deserialize, Serialize};

pub use check::{BoxFuture, BoxProbe, Check, Counters, Probe, Probes, Stats, run_check};
pub use session::settings::Login;

use crate::exposition::Family;
use crate::settings::{Block, CheckSettings, Layer};

/// From the list of checks: [`Layers`], every check's layer of settings,
/// and what the configuration does with them, check by check.
macro_rules! checks {
    ($( $variant:ident $name:ident: $check:ty $(, stats $stats:ty)?; )*) => {
        $( pub mod $name; )*

        /// A check, by its name.
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(rename_all = "lowercase")]
        pub enum Protocol {
            $( $variant, )*
        }

        impl Protocol {
            pub const ALL: [Protocol; [$(stringify!($name)),*].len()] = [$(Protocol::$variant),*];

            /// Sockets one check in flight holds open.
            pub fn sockets_per_check(self) -> u64 {
                match self {
                    $( Protocol::$variant => <$check as Check>::SOCKETS_PER_CHECK, )*
                }
            }

            pub fn as_str(self) -> &'static str {
                match self {
                    $( Protocol::$variant => stringify!($name), )*
                }
            }
        }

        impl std::str::FromStr for Protocol {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $(
                    if s == stringify!($name) || <$check as Check>::ALIASES.contains(&s) {
                        return Ok(Protocol::$variant);
                    }
                )*
                Err(format!("unknown protocol `{s}` (expected {})", names_text()))
            }
        }

        /// A target's check-specific settings; the scheduler never looks
        /// inside.
        #[derive(Clone, Debug, PartialEq)]
        pub enum CheckSpec {
            $( $variant(<$check as Check>::Spec), )*
        }

        /// What a check measured beyond up or down, on its verdict: the
        /// [`Stats`] of the checks that have some. Serialized as
        /// `"<check>": {…}`.
        #[derive(Clone, Debug, PartialEq, Serialize)]
        #[serde(rename_all = "lowercase")]
        pub enum CheckStats {
            $( $( $variant($stats), )? )*
        }

        $( $(
            impl From<$stats> for CheckStats {
                fn from(s: $stats) -> Self {
                    CheckStats::$variant(s)
                }
            }
        )? )*

        impl CheckStats {
            /// The time to show for the check in place of its duration.
            pub fn time(&self) -> Option<std::time::Duration> {
                match self {
                    $( $( CheckStats::$variant(s) => <$stats as Stats>::time(s), )? )*
                }
            }

            /// Adds these stats to a target's `counters` (made on first use).
            pub fn add_to(&self, counters: &mut Option<Box<CheckCounters>>) {
                match self {
                    $( $(
                        CheckStats::$variant(s) => {
                            if !matches!(counters.as_deref(), Some(CheckCounters::$variant(_))) {
                                let fresh = <<$stats as Stats>::Counters>::default();
                                *counters = Some(Box::new(CheckCounters::$variant(fresh)));
                            }
                            if let Some(CheckCounters::$variant(c)) = counters.as_deref_mut() {
                                c.add(s);
                            }
                        }
                    )? )*
                }
            }
        }

        /// A target's [`CheckStats`] added up over its checks: the
        /// [`Counters`] of its check.
        #[derive(Clone, Debug)]
        pub enum CheckCounters {
            $( $( $variant(<$stats as Stats>::Counters), )? )*
        }

        impl CheckCounters {
            /// The checks' own metric families: each check with stats and
            /// its families, in list order.
            pub const FAMILIES: &'static [(Protocol, &'static [Family])] = &[
                $( $( (Protocol::$variant, <<$stats as Stats>::Counters as Counters>::FAMILIES), )? )*
            ];

            /// Writes the target's series: `out` has one buffer per family
            /// of [`CheckCounters::FAMILIES`], check after check; `device`
            /// is the device label's value, already escaped.
            pub fn write_series(&self, device: &str, out: &mut [String]) {
                match self {
                    $( $(
                        CheckCounters::$variant(c) => {
                            let at = Self::families_before(Protocol::$variant);
                            let n = <<$stats as Stats>::Counters as Counters>::FAMILIES.len();
                            c.write_series(device, &mut out[at..at + n]);
                        }
                    )? )*
                }
            }

            /// The status row's fields, by name.
            pub fn status_fields(&self) -> Vec<(&'static str, f64)> {
                match self {
                    $( $( CheckCounters::$variant(c) => <<$stats as Stats>::Counters as Counters>::status_fields(c), )? )*
                }
            }

            /// The status page's "last" column, in place of the duration.
            pub fn last(&self) -> Option<String> {
                match self {
                    $( $( CheckCounters::$variant(c) => <<$stats as Stats>::Counters as Counters>::last(c), )? )*
                }
            }

            fn families_before(protocol: Protocol) -> usize {
                Self::FAMILIES
                    .iter()
                    .take_while(|(p, _)| *p != protocol)
                    .map(|(_, f)| f.len())
                    .sum()
            }
        }

        /// Starts the probe of check `protocol` (one per daemon); an error
        /// says what to fix.
        pub fn start_probe(protocol: Protocol, env: &check::ProbeEnv) -> Result<BoxProbe, String> {
            match protocol {
                $( Protocol::$variant => <$check as Check>::probe(env), )*
            }
        }

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

            /// Gives every check's block the fields of `source` it does not
            /// set itself (the shorthand beside the blocks).
            pub fn fill_source(&mut self, source: &source::Source) {
                $( self.$name.fill_source(source); )*
            }

            /// Gives every check's block the `ip_family` written beside the
            /// blocks, unless it sets its own.
            pub fn fill_ip_family(&mut self, family: Option<crate::inventory::IpFamily>) {
                $( self.$name.fill_ip_family(family); )*
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

            /// The interval, timeout, spec, source and address family of
            /// check `protocol` of a device whose settings these are.
            pub fn target(
                &self,
                protocol: Protocol,
                login: &Login,
            ) -> Result<
                (
                    std::time::Duration,
                    std::time::Duration,
                    CheckSpec,
                    source::Source,
                    crate::inventory::IpFamily,
                ),
                String,
            > {
                match protocol {
                    $(
                        Protocol::$variant => {
                            let s = self.$name.resolve();
                            <$check as Check>::validate(&s)?;
                            let spec = <$check as Check>::spec(&s, login)?;
                            Ok((
                                s.interval(),
                                s.timeout(),
                                CheckSpec::$variant(spec),
                                s.source(),
                                s.ip_family(),
                            ))
                        }
                    )*
                }
            }
        }
    };
}
// Every check reachd has, the one list naming them all: its `Protocol`
// variant, its name (its folder `probe/<name>/`, its YAML block under
// `defaults:`, a profile or a device, its `protocol` label), its `Check`
// and, for a check that measures more than up or down, its `Stats`.
// Everything else learns about checks through this list.
checks! {
    Icmp icmp: icmp::check::Icmp, stats icmp::stats::IcmpStats;
    Ssh ssh: ssh::check::Ssh;
    Telnet telnet: telnet::check::Telnet;
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The checks' names as a sentence: `icmp, ssh or telnet`.
pub fn names_text() -> String {
    match Layers::NAMES.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}
