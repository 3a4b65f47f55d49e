//! The `icmp:` settings: declared once, with their built-in defaults, and
//! the ICMP check's place in the list of checks.

use std::time::Duration;

use crate::probe::check::Check;
use crate::probe::session::settings::Login;
use crate::settings::check_timing;
use crate::settings::duration::{Dur, IcmpInterval, PositiveDur};
use crate::settings::values::{Bounded, Concurrency};
use crate::target::{CheckSpec, IcmpSpec};
use crate::verdict::fmt_duration;

/// Echo requests per check.
pub type Count = Bounded<1, 100>;
/// ICMP payload bytes: what fits in one IPv4 datagram.
pub type PayloadSize = Bounded<0, 65507>;

crate::settings! {
    /// The `icmp:` block (under `defaults:`, a profile or a device).
    pub struct IcmpSettings, layer IcmpLayer, "a map of icmp settings" {
        interval: IcmpInterval => Duration = Duration::from_secs(10),
        timeout: PositiveDur => Duration = Duration::from_secs(2),
        concurrency: Concurrency => usize = 10_000,
        count: Count => u32 = IcmpSpec::DEFAULT.count,
        spacing: Dur => Duration = IcmpSpec::DEFAULT.spacing,
        payload_size: PayloadSize => usize = IcmpSpec::DEFAULT.payload_size,
    }
}

/// The ICMP echo check.
pub struct Icmp;

impl Check for Icmp {
    type Layer = IcmpLayer;

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

    fn spec(s: &IcmpSettings, _: &Login) -> Result<CheckSpec, String> {
        Ok(CheckSpec::Icmp(IcmpSpec {
            count: s.count,
            spacing: s.spacing,
            payload_size: s.payload_size,
        }))
    }
}
