//! The `telnet:` settings: declared once, with their built-in defaults, and
//! the Telnet check's place in the list of checks.

use std::net::IpAddr;
use std::time::Duration;

use crate::inventory::IpFamily;
use crate::probe::source::{InterfaceName, SourceAddress};

use crate::settings::duration::{PositiveDur, SessionInterval};
use crate::settings::values::{Concurrency, NonEmpty, Port, Regex};

crate::settings! {
    /// The `telnet:` block (under `defaults:`, a profile or a device).
    pub struct TelnetSettings, layer TelnetLayer, "a map of telnet settings" {
        interval: SessionInterval => Duration = Duration::from_secs(60),
        timeout: PositiveDur => Duration = Duration::from_secs(30),
        concurrency: Concurrency => usize = 100,
        /// Send from this address of the host (bind before connect).
        source_address: SourceAddress => Option<IpAddr> = None,
        /// Send through this interface or VRF device (`SO_BINDTODEVICE`).
        source_interface: InterfaceName => Option<String> = None,
        /// Which of a name's addresses to check: `auto`, `ipv4`, `ipv6`.
        ip_family: IpFamily => IpFamily = IpFamily::Auto,
        port: Port => u16 = 23,
        /// Connect (TCP) timeout, scrapli's `timeout_socket`.
        connect_timeout: PositiveDur => Duration = Duration::from_secs(5),
        /// Timeout of each wait for the device, scrapli's `timeout_transport`.
        read_timeout: PositiveDur => Duration = Duration::from_secs(10),
        /// `enable` after login (default: when there is a secondary password).
        enable: bool => Option<bool> = None,
        command: NonEmpty => Option<String> = None,
        expect: Regex => Option<String> = None,
    }
}

