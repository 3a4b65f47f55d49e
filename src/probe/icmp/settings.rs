//! The `icmp:` settings: declared once, with their built-in defaults, and
//! the ICMP check's place in the list of checks.

use std::net::IpAddr;
use std::time::Duration;

use crate::inventory::IpFamily;
use crate::probe::source::{InterfaceName, SourceAddress};

use crate::settings::duration::{Dur, IcmpInterval, PositiveDur};
use crate::settings::values::{Bounded, Concurrency};

/// Echo requests per check.
pub type Count = Bounded<1, 100>;
/// ICMP payload bytes: what fits in one IPv4 datagram.
pub type PayloadSize = Bounded<0, 65507>;

#[derive(Clone, Debug, PartialEq)]
pub struct IcmpSpec {
    /// Echo requests per check; up if any is answered.
    pub count: u32,
    /// Time between two echo requests of one check.
    pub spacing: Duration,
    /// ICMP payload bytes.
    pub payload_size: usize,
}

impl IcmpSpec {
    /// The built-in defaults of the configuration's `icmp:` settings.
    pub const DEFAULT: IcmpSpec = IcmpSpec {
        count: 3,
        spacing: Duration::from_millis(200),
        payload_size: 56,
    };
}

impl Default for IcmpSpec {
    fn default() -> Self {
        IcmpSpec::DEFAULT
    }
}

crate::settings! {
    /// The `icmp:` block (under `defaults:`, a profile or a device).
    pub struct IcmpSettings, layer IcmpLayer, "a map of icmp settings" {
        interval: IcmpInterval => Duration = Duration::from_secs(10),
        timeout: PositiveDur => Duration = Duration::from_secs(2),
        concurrency: Concurrency => usize = 10_000,
        /// Send from this address of the host (bind before connect).
        source_address: SourceAddress => Option<IpAddr> = None,
        /// Send through this interface or VRF device (`SO_BINDTODEVICE`).
        source_interface: InterfaceName => Option<String> = None,
        /// Which of a name's addresses to check: `auto`, `ipv4`, `ipv6`.
        ip_family: IpFamily => IpFamily = IpFamily::Auto,
        count: Count => u32 = IcmpSpec::DEFAULT.count,
        spacing: Dur => Duration = IcmpSpec::DEFAULT.spacing,
        payload_size: PayloadSize => usize = IcmpSpec::DEFAULT.payload_size,
    }
}

