//! The ICMP check in the list of checks: its settings resolved into a
//! spec, and its probe started.

use std::sync::Arc;

use super::IcmpProbe;
use super::settings::{IcmpLayer, IcmpSettings, IcmpSpec};
use crate::probe::check::{BoxProbe, Check, ProbeEnv};
use crate::probe::session::settings::Login;
use crate::settings::check_timing;
use crate::verdict::fmt_duration;
/// The ICMP echo check.
pub struct Icmp;

impl Check for Icmp {
    type Layer = IcmpLayer;
    type Spec = IcmpSpec;
    const ALIASES: &'static [&'static str] = &["ping"];
    /// ICMP checks share a few sockets between them all.
    const SOCKETS_PER_CHECK: u64 = 0;

    fn validate(s: &IcmpSettings) -> Result<(), String> {
        check_timing("icmp", s)?;
        let last_sent = s.spacing.saturating_mul(s.count.saturating_sub(1));
        if last_sent >= s.timeout {
            return Err(format!(
                "icmp: {} echo requests {} apart do not fit in the {} timeout \
                 (lower count or spacing, or raise timeout)",
                s.count,
                fmt_duration(s.spacing),
                fmt_duration(s.timeout)
            ));
        }
        Ok(())
    }

    fn spec(s: &IcmpSettings, _: &Login) -> Result<IcmpSpec, String> {
        Ok(IcmpSpec {
            count: s.count,
            spacing: s.spacing,
            payload_size: s.payload_size,
        })
    }

    fn probe(env: &ProbeEnv) -> Result<BoxProbe, String> {
        let icmp = if env.icmp_broadcast {
            IcmpProbe::with_broadcast()
        } else {
            IcmpProbe::new()
        };
        let icmp = icmp.map_err(|e| e.to_string())?;
        tracing::info!(mode = icmp.mode(), "ICMP sockets open");
        Ok(Arc::new(icmp))
    }
}
