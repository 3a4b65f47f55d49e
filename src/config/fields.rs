//! Validated scalar fields. Each checks itself while it is deserialized, so
//! its error carries the line and column of the value.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};

use super::context;
use super::error::{closest, custom};
use crate::target::Protocol;

/// An unsigned integer within `MIN..=MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bounded<const MIN: u64, const MAX: u64>(pub u64);

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const MIN: u64, const MAX: u64>;
        impl<const MIN: u64, const MAX: u64> Visitor<'_> for V<MIN, MAX> {
            type Value = u64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a whole number from {MIN} to {MAX}")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
                if (MIN..=MAX).contains(&v) {
                    Ok(v)
                } else {
                    Err(custom(format!(
                        "{v} is out of range (expected {MIN} to {MAX})"
                    )))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(custom(format!(
                        "{v} is out of range (expected {MIN} to {MAX})"
                    ))),
                }
            }
        }
        d.deserialize_any(V::<MIN, MAX>).map(Bounded)
    }
}

pub(crate) type Port = Bounded<1, 65535>;
pub(crate) type Count = Bounded<1, 100>;
pub(crate) type Concurrency = Bounded<1, 1_000_000>;
/// ICMP payload bytes: what fits in one IPv4 datagram.
pub(crate) type PayloadSize = Bounded<0, 65507>;

/// A field that only `defaults:` may set; elsewhere it is an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DefaultsOnly;

impl<'de> Deserialize<'de> for DefaultsOnly {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const MSG: &str =
            "concurrency is a daemon-wide limit per protocol: set it under `defaults:`";
        // Refused inside the visitor, so that the error points at the value.
        struct V;
        impl Visitor<'_> for V {
            type Value = DefaultsOnly;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(MSG)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<DefaultsOnly, E> {
                Err(custom(MSG))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<DefaultsOnly, E> {
                Err(custom(MSG))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<DefaultsOnly, E> {
                Err(custom(MSG))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<DefaultsOnly, E> {
                Err(custom(MSG))
            }
        }
        d.deserialize_any(V)
    }
}

/// A non-empty string, trimmed of nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NonEmpty(pub String);

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "a string", |s| {
            if s.trim().is_empty() {
                return Err("must not be empty".to_owned());
            }
            Ok(NonEmpty(s.to_owned()))
        })
    }
}

/// A path, relative to the file that names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RelPath(pub PathBuf);

impl<'de> Deserialize<'de> for RelPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "a path", |s| relative_path(s).map(RelPath))
    }
}

/// A non-blank path, made relative to the file being parsed.
pub(crate) fn relative_path(s: &str) -> Result<PathBuf, String> {
    if s.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    Ok(context::current()?.relative(s))
}

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

/// A device name, unique across all files. Claimed as soon as it is read.
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
            context::current()?.claim_name(s)?;
            Ok(DeviceName(s.to_owned()))
        })
    }
}

/// The name of a profile that exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProfileRef(pub String);

impl<'de> Deserialize<'de> for ProfileRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "a profile name", |s| {
            let ctx = context::current()?;
            if ctx.profiles.contains_key(s) {
                return Ok(ProfileRef(s.to_owned()));
            }
            Err(if ctx.profiles.is_empty() {
                format!("unknown profile `{s}` (no profiles are defined)")
            } else if let Some(best) = closest(s, ctx.profiles.keys().map(String::as_str)) {
                format!("unknown profile `{s}`, did you mean `{best}`?")
            } else {
                let known: Vec<&str> = ctx.profiles.keys().map(String::as_str).collect();
                format!("unknown profile `{s}` (defined: {})", known.join(", "))
            })
        })
    }
}

/// A list of checks: `[icmp, ssh, telnet]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Checks(pub Vec<Protocol>);

struct ProtocolName(Protocol);

impl<'de> Deserialize<'de> for ProtocolName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "a check: icmp, ssh or telnet", |s| {
            s.parse::<Protocol>().map(ProtocolName)
        })
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

/// A regex that compiles (kept as text: the probe compiles it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Regex(pub String);

impl<'de> Deserialize<'de> for Regex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "a regular expression", |s| match regex::Regex::new(s) {
            Ok(_) => Ok(Regex(s.to_owned())),
            Err(e) => Err(format!("invalid regex `{s}`: {}", regex_reason(&e))),
        })
    }
}

/// The one-line reason of a regex error (its Display is a multi-line
/// diagram ending in `error: …`).
fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map(str::to_owned)
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// An OpenSSH-style algorithm list: `+aes128-cbc,3des-cbc`, `-ssh-rsa`,
/// `^curve25519-sha256`, or a plain list replacing the defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AlgList(pub String);

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

/// A tracing filter: `info`, `debug`, `reachd=debug,warn`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LogLevel(pub String);

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "a log level", |s| {
            if s.trim().is_empty() {
                return Err("must not be empty".to_owned());
            }
            match tracing_subscriber::EnvFilter::builder().parse(s) {
                Ok(_) => Ok(LogLevel(s.to_owned())),
                Err(e) => Err(format!(
                    "invalid log level `{s}`: {e} (use e.g. info, debug, reachd=debug,warn)"
                )),
            }
        })
    }
}

/// Deserializes a string and checks or converts it with `f` inside the
/// visitor, so that `f`'s error carries the string's own line and column.
pub(crate) fn str_then<'de, D, T, F>(d: D, expecting: &'static str, f: F) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    F: FnOnce(&str) -> Result<T, String>,
{
    struct V<F> {
        expecting: &'static str,
        f: F,
    }
    impl<T, F: FnOnce(&str) -> Result<T, String>> Visitor<'_> for V<F> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            (self.f)(v).map_err(custom)
        }
    }
    d.deserialize_str(V { expecting, f })
}

/// Deserializes a `T` from a map, then converts it with `f` — whose error
/// gets the map's line and column. `T` is usually a derived struct.
pub(crate) fn map_then<'de, D, T, R, F>(d: D, expecting: &'static str, f: F) -> Result<R, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
    F: FnOnce(T) -> Result<R, String>,
{
    struct V<T, F> {
        expecting: &'static str,
        f: F,
        t: PhantomData<T>,
    }
    impl<'de, T, R, F> Visitor<'de> for V<T, F>
    where
        T: DeserializeOwned,
        F: FnOnce(T) -> Result<R, String>,
    {
        type Value = R;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<R, A::Error> {
            let t = T::deserialize(de::value::MapAccessDeserializer::new(map))?;
            (self.f)(t).map_err(custom)
        }
    }
    d.deserialize_map(V {
        expecting,
        f,
        t: PhantomData,
    })
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
