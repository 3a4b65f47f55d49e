//! Validated scalar fields. Each checks itself while it is deserialized, so
//! its error carries the line and column of the value.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::LazyLock;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};

use crate::settings::{custom, str_then};
use crate::target::Protocol;

/// A device address: an IP address or a host name. Never resolved here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Address(pub String);

pub(crate) fn check_address(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("address must not be empty".to_owned());
    }
    if s.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    // A resolver would take these for a name (or, worse, for a number in
    // inet_aton's shorthand): a mistyped address, refused.
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let zero_padded = s
            .split('.')
            .any(|part| part.len() > 1 && part.starts_with('0'));
        return Err(format!(
            "invalid address `{s}`: only digits and dots, but not an IPv4 address (four \
             numbers from 0 to 255{})",
            if zero_padded {
                ", without leading zeros"
            } else {
                ""
            }
        ));
    }
    if s.starts_with('[') && s.ends_with(']') {
        return Err(format!(
            "invalid address `{s}`: write IPv6 addresses without brackets"
        ));
    }
    if s.parse::<SocketAddr>().is_ok()
        || s.rsplit_once(':').is_some_and(|(h, p)| {
            !h.contains(':') && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())
        })
    {
        return Err(format!(
            "invalid address `{s}`: give the port separately (`ssh: {{port: …}}`, scrapli's `port:`)"
        ));
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    let valid = name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid address `{s}` (expected an IP address or a host name)"
        ))
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "an IP address or host name", |s| {
            let s = s.trim();
            check_address(s)?;
            Ok(Address(s.to_owned()))
        })
    }
}

/// A device name (its uniqueness across files is checked as devices are
/// resolved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DeviceName(pub String);

/// The longest device name, label name, label value or platform, in
/// bytes: each ends up in metric labels, which every scrape repeats.
pub(crate) const MAX_LABEL_BYTES: usize = 256;

/// `Err` when `s` is longer than [`MAX_LABEL_BYTES`]; `what` names it.
fn check_len(what: &str, s: &str, note: &str) -> Result<(), String> {
    if s.len() > MAX_LABEL_BYTES {
        return Err(format!(
            "{what} is {} bytes long (at most {MAX_LABEL_BYTES}{note})",
            s.len()
        ));
    }
    Ok(())
}

pub(crate) fn check_device_name(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("device name must not be empty".to_owned());
    }
    check_len("device name", s, "")?;
    if s.chars().any(char::is_control) {
        return Err("device name must not contain control characters".to_owned());
    }
    Ok(())
}

impl<'de> Deserialize<'de> for DeviceName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "a device name", |s| {
            check_device_name(s)?;
            Ok(DeviceName(s.to_owned()))
        })
    }
}

/// The name of a profile (that it exists is checked as it is resolved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProfileName(pub String);

impl<'de> Deserialize<'de> for ProfileName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "a profile name", |s| Ok(ProfileName(s.to_owned())))
    }
}

/// A list of checks: `[icmp, ssh]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Checks(pub Vec<Protocol>);

struct ProtocolName(Protocol);

impl<'de> Deserialize<'de> for ProtocolName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        static EXPECTING: LazyLock<String> =
            LazyLock::new(|| format!("a check: {}", crate::probe::names_text()));
        str_then(d, &EXPECTING, |s| s.parse::<Protocol>().map(ProtocolName))
    }
}

impl<'de> Deserialize<'de> for Checks {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<Protocol>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of checks, such as [icmp, ssh]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(ProtocolName(p)) = seq.next_element()? {
                    if out.contains(&p) {
                        return Err(custom(format!("`{p}` is listed twice")));
                    }
                    out.push(p);
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V).map(Checks)
    }
}

/// Devices this one depends on: `parents: [core1, dist2]`. That they
/// exist, and that no device depends on itself, is checked once every
/// device is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Parents(pub Vec<String>);

impl<'de> Deserialize<'de> for Parents {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<String>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of device names, such as [core1, dist2]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<String> = Vec::new();
                while let Some(DeviceName(n)) = seq.next_element()? {
                    if out.contains(&n) {
                        return Err(custom(format!("`{n}` is listed twice")));
                    }
                    out.push(n);
                }
                Ok(out)
            }
            // One parent may be written without the list.
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
                check_device_name(s).map_err(E::custom)?;
                Ok(vec![s.to_owned()])
            }
        }
        d.deserialize_any(V).map(Parents)
    }
}

/// Label names that reachd's own metrics use.
pub(crate) const RESERVED_LABELS: [&str; 4] = ["device", "protocol", "reason", "phase"];

pub(crate) fn check_label_name(s: &str) -> Result<(), String> {
    check_len("label name", s, "")?;
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "invalid label name `{s}` (must match [a-zA-Z_][a-zA-Z0-9_]*)"
        ));
    }
    if s.starts_with("__") {
        return Err(format!(
            "invalid label name `{s}` (names starting with `__` are reserved by Prometheus)"
        ));
    }
    if RESERVED_LABELS.contains(&s) {
        return Err(format!(
            "label name `{s}` is reserved (reachd sets device, protocol, reason and phase itself)"
        ));
    }
    // The other labels `reachd_device_info` sets itself (view::metrics).
    match s {
        "address" => Err(
            "label name `address` is reserved (reachd_device_info carries the device's address \
             as `address`)"
                .to_owned(),
        ),
        "platform" => Err(
            "label name `platform` is reserved (set `platform:` on the device or its profile: \
             reachd_device_info carries it as `platform`)"
                .to_owned(),
        ),
        _ => Ok(()),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct LabelName(String);

impl<'de> Deserialize<'de> for LabelName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "a label name", |s| {
            check_label_name(s)?;
            Ok(LabelName(s.to_owned()))
        })
    }
}

struct LabelValue(String);

impl<'de> Deserialize<'de> for LabelValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "a label value (a string)", |s| {
            check_len("label value", s, "")?;
            Ok(LabelValue(s.to_owned()))
        })
    }
}

/// A device's platform (`cisco_iosxe`): it picks the CLI prompt patterns
/// and is the `platform` label of `reachd_device_info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PlatformName(pub String);

impl<'de> Deserialize<'de> for PlatformName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "a platform name", |s| {
            if s.trim().is_empty() {
                return Err("must not be empty".to_owned());
            }
            check_len(
                "platform",
                s,
                "; it is the `platform` label of reachd_device_info",
            )?;
            Ok(PlatformName(s.to_owned()))
        })
    }
}

/// Inventory labels: `{site: fra1, role: core}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Labels(pub BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BTreeMap<String, String>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of label names to values, such as {site: fra1}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(LabelName(k)) = map.next_key()? {
                    let LabelValue(v) = map.next_value()?;
                    out.insert(k, v);
                }
                Ok(out)
            }
        }
        d.deserialize_map(V).map(Labels)
    }
}

/// A listen address: `127.0.0.1:9806`, `[::1]:9806`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Listen(pub SocketAddr);

impl<'de> Deserialize<'de> for Listen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "an address and port", |s| {
            s.trim().parse().map(Listen).map_err(|_| {
                format!("invalid listen address `{s}` (use e.g. 127.0.0.1:9806 or [::1]:9806)")
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        for ok in [
            "192.0.2.1",
            "2001:db8::1",
            "r1",
            "r1.example.net",
            "r1.example.net.",
            "core_sw-1",
        ] {
            assert_eq!(check_address(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            check_address("192.0.2.1:22"),
            Err("invalid address `192.0.2.1:22`: give the port separately (`ssh: {port: …}`, scrapli's `port:`)".to_owned())
        );
        assert_eq!(
            check_address("[2001:db8::1]"),
            Err(
                "invalid address `[2001:db8::1]`: write IPv6 addresses without brackets".to_owned()
            )
        );
        assert_eq!(
            check_address("r 1"),
            Err("invalid address `r 1` (expected an IP address or a host name)".to_owned())
        );
        assert!(check_address("-r1").is_err());
        assert!(check_address("a..b").is_err());
    }

    #[test]
    fn label_names() {
        assert_eq!(check_label_name("site"), Ok(()));
        assert_eq!(check_label_name("_x9"), Ok(()));
        assert_eq!(
            check_label_name("9x"),
            Err("invalid label name `9x` (must match [a-zA-Z_][a-zA-Z0-9_]*)".to_owned())
        );
        assert_eq!(
            check_label_name("__meta"),
            Err(
                "invalid label name `__meta` (names starting with `__` are reserved by Prometheus)"
                    .to_owned()
            )
        );
        assert_eq!(
            check_label_name("reason"),
            Err("label name `reason` is reserved (reachd sets device, protocol, reason and phase itself)".to_owned())
        );
        assert!(check_label_name("a-b").is_err());
        assert!(check_label_name("").is_err());
    }
}
