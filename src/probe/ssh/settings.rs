//! The `ssh:` settings: declared once, with their built-in defaults, and
//! the SSH check's place in the list of checks.

use std::fmt;
use std::path::PathBuf;
use std::net::IpAddr;
use std::time::Duration;

use crate::inventory::IpFamily;
use crate::probe::source::{InterfaceName, SourceAddress};

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use crate::settings::duration::{PositiveDur, SessionInterval};
use crate::settings::values::{Concurrency, NonEmpty, Port, Regex, RelPath};
use crate::settings::{Field, custom};
use crate::probe::session::settings::HostKeyPolicy;

crate::settings! {
    /// The `ssh:` block (under `defaults:`, a profile or a device).
    pub struct SshSettings, layer SshLayer, "a map of ssh settings" {
        interval: SessionInterval => Duration = Duration::from_secs(60),
        timeout: PositiveDur => Duration = Duration::from_secs(30),
        concurrency: Concurrency => usize = 100,
        /// Send from this address of the host (bind before connect).
        source_address: SourceAddress => Option<IpAddr> = None,
        /// Send through this interface or VRF device (`SO_BINDTODEVICE`).
        source_interface: InterfaceName => Option<String> = None,
        /// Which of a name's addresses to check: `auto`, `ipv4`, `ipv6`.
        ip_family: IpFamily => IpFamily = IpFamily::Auto,
        port: Port => u16 = 22,
        /// Connect (TCP) timeout, scrapli's `timeout_socket`.
        connect_timeout: PositiveDur => Duration = Duration::from_secs(5),
        /// Timeout of each wait for the device, scrapli's `timeout_transport`.
        read_timeout: PositiveDur => Duration = Duration::from_secs(10),
        host_key: HostKeyPolicy => HostKeyPolicy = HostKeyPolicy::AcceptNew,
        known_hosts: RelPath => Option<PathBuf> = None,
        /// `enable` after login (default: when there is a secondary password).
        enable: bool => Option<bool> = None,
        command: NonEmpty => Option<String> = None,
        expect: Regex => Option<String> = None,
        kex: AlgList => Option<String> = None,
        ciphers: AlgList => Option<String> = None,
        macs: AlgList => Option<String> = None,
        host_key_algorithms: AlgList => Option<String> = None,
    }
}


impl Field<HostKeyPolicy> for HostKeyPolicy {
    fn value(self) -> HostKeyPolicy {
        self
    }
}

/// An OpenSSH-style algorithm list: `+aes128-cbc,3des-cbc`, `-ssh-rsa`,
/// `^curve25519-sha256`, or a plain list replacing the defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlgList(pub String);

impl Field<String> for AlgList {
    fn value(self) -> String {
        self.0
    }
}

impl<'de> Deserialize<'de> for AlgList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = String;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an algorithm list such as \"+aes128-cbc,3des-cbc\" or a list of names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
                check_alg_list(v).map_err(custom)?;
                Ok(v.to_owned())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<String, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                let joined = items.join(",");
                check_alg_list(&joined).map_err(custom)?;
                Ok(joined)
            }
        }
        d.deserialize_any(V).map(AlgList)
    }
}

fn check_alg_list(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("algorithm list must not be empty".to_owned());
    }
    for (i, item) in s.split(',').enumerate() {
        let name = if i == 0 {
            item.trim_start_matches(['+', '-', '^'])
        } else {
            item.strip_prefix(['+', '-']).unwrap_or(item)
        };
        let ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
        if !ok {
            return Err(format!(
                "invalid algorithm list `{s}` (expected comma-separated names, e.g. +aes128-cbc,3des-cbc)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_lists() {
        for ok in [
            "+aes128-cbc,3des-cbc",
            "-ssh-rsa",
            "^curve25519-sha256",
            "aes128-ctr,+x@openssh.com",
        ] {
            assert_eq!(check_alg_list(ok), Ok(()), "{ok}");
        }
        for bad in ["", "+", "aes128-cbc,,3des-cbc", "aes 128"] {
            assert!(check_alg_list(bad).is_err(), "{bad}");
        }
    }
}
