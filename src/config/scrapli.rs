//! scrapli-style inventory entries, exactly as engineers' existing
//! `devices.yaml` files write them:
//!
//! ```yaml
//! - host: 192.168.100.1
//!   auth_username: cisco
//!   auth_password: cisco
//!   auth_secondary: cisco
//!   auth_strict_key: false
//!   timeout_socket: 5
//!   timeout_transport: 10
//!   platform: cisco_iosxe
//!   transport: asyncssh
//! ```
//!
//! Each entry is a device named by its `host` (unless it has a `name`) with an
//! ICMP check plus the check its `transport` names. scrapli keys that do not
//! matter to a login check are accepted and ignored.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, Visitor};

use super::context;
use super::duration::PositiveDur;
use super::error::{closest, custom};
use super::fields::{
    Address, Checks, DeviceName, Labels, NonEmpty, PlatformName, Port, ProfileRef, RelPath,
    map_then,
};
use super::resolve::{Layer, Resolved, SessionLayer, port, resolve_device};
use super::secret_source::{KeyPath, SecretValue};
use crate::target::{HostKeyPolicy, Protocol};

/// scrapli keys that reachd accepts and ignores.
pub(crate) const IGNORED_KEYS: [&str; 19] = [
    "timeout_ops",
    "transport_options",
    "comms_prompt_pattern",
    "comms_return_char",
    "ssh_config_file",
    "auth_bypass",
    "on_init",
    "on_open",
    "on_close",
    "channel_log",
    "channel_log_mode",
    "channel_lock",
    "logging_uid",
    "privilege_levels",
    "default_desired_privilege_level",
    "failed_when_contains",
    "textfsm_platform",
    "genie_platform",
    "variant",
];

/// scrapli keys reachd uses (beyond the shared `name`, `labels`, `checks`,
/// `profile`, `platform`).
pub(crate) const KEYS: [&str; 12] = [
    "host",
    "port",
    "auth_username",
    "auth_password",
    "auth_secondary",
    "auth_private_key",
    "auth_private_key_passphrase",
    "auth_strict_key",
    "ssh_known_hosts_file",
    "timeout_socket",
    "timeout_transport",
    "transport",
];

/// Whether `key` is a scrapli key, used or ignored: one that reachd's own
/// format does not have.
pub(crate) fn is_key(key: &str) -> bool {
    KEYS.contains(&key) || IGNORED_KEYS.contains(&key)
}

const TRANSPORTS: [&str; 6] = [
    "asyncssh",
    "ssh2",
    "paramiko",
    "system",
    "asynctelnet",
    "telnet",
];

/// A scrapli value where `""` means "not set", as scrapli's own defaults
/// write it (`auth_secondary: ""`, `auth_private_key: ""`).
struct Blank<T>(Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Blank<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Option<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<T>, E> {
                if v.is_empty() {
                    return Ok(None);
                }
                T::deserialize(de::value::StrDeserializer::<E>::new(v)).map(Some)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData)).map(Blank)
    }
}

/// A boolean as Python's YAML reads it (`true`, `no`, `On`, …): scrapli
/// files are written for PyYAML.
struct PyBool(bool);

impl<'de> Deserialize<'de> for PyBool {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = bool;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true or false")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
                Ok(v)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
                match v.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "on" | "y" => Ok(true),
                    "false" | "no" | "off" | "n" => Ok(false),
                    _ => Err(custom(format!(
                        "invalid value `{v}` (expected true or false)"
                    ))),
                }
            }
        }
        d.deserialize_any(V).map(PyBool)
    }
}

/// scrapli's `transport`, as the check it means.
struct Transport(Protocol);

impl<'de> Deserialize<'de> for Transport {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Protocol;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scrapli transport name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Protocol, E> {
                match v {
                    "asyncssh" | "ssh2" | "paramiko" | "system" => Ok(Protocol::Ssh),
                    "asynctelnet" | "telnet" => Ok(Protocol::Telnet),
                    _ => {
                        let expected = TRANSPORTS.join(", ");
                        Err(custom(match closest(v, TRANSPORTS.into_iter()) {
                            Some(best) => format!(
                                "unknown transport `{v}`, did you mean `{best}`? (expected {expected})"
                            ),
                            None => format!("unknown transport `{v}` (expected {expected})"),
                        }))
                    }
                }
            }
        }
        d.deserialize_str(V).map(Transport)
    }
}

// The ignored keys are fields only so that `deny_unknown_fields` accepts them.
#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    host: Address,
    name: Option<DeviceName>,
    port: Option<Port>,
    auth_username: Option<Blank<NonEmpty>>,
    auth_password: Option<SecretValue>,
    auth_secondary: Option<SecretValue>,
    auth_private_key: Option<Blank<KeyPath>>,
    auth_private_key_passphrase: Option<SecretValue>,
    auth_strict_key: Option<PyBool>,
    ssh_known_hosts_file: Option<Blank<RelPath>>,
    timeout_socket: Option<PositiveDur>,
    timeout_transport: Option<PositiveDur>,
    platform: Option<Blank<PlatformName>>,
    transport: Option<Transport>,
    // reachd's own keys, welcome in a scrapli entry.
    labels: Option<Labels>,
    checks: Option<Checks>,
    profile: Option<ProfileRef>,
    // scrapli keys that do not matter here.
    timeout_ops: Option<IgnoredAny>,
    transport_options: Option<IgnoredAny>,
    comms_prompt_pattern: Option<IgnoredAny>,
    comms_return_char: Option<IgnoredAny>,
    ssh_config_file: Option<IgnoredAny>,
    auth_bypass: Option<IgnoredAny>,
    on_init: Option<IgnoredAny>,
    on_open: Option<IgnoredAny>,
    on_close: Option<IgnoredAny>,
    channel_log: Option<IgnoredAny>,
    channel_log_mode: Option<IgnoredAny>,
    channel_lock: Option<IgnoredAny>,
    logging_uid: Option<IgnoredAny>,
    privilege_levels: Option<IgnoredAny>,
    default_desired_privilege_level: Option<IgnoredAny>,
    failed_when_contains: Option<IgnoredAny>,
    textfsm_platform: Option<IgnoredAny>,
    genie_platform: Option<IgnoredAny>,
    variant: Option<IgnoredAny>,
}

/// A scrapli secret; `""` (scrapli's default) means none.
fn set(secret: Option<SecretValue>) -> Option<crate::secret::Secret> {
    secret.map(|s| s.0).filter(|s| !s.expose().is_empty())
}

/// A scrapli-style entry, resolved.
pub(crate) struct ScrapliEntry(pub Resolved);

impl<'de> Deserialize<'de> for ScrapliEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        map_then(d, "a scrapli device (a map with host)", |raw: RawEntry| {
            let ctx = context::current()?;
            // scrapli's default transport is `system` (OpenSSH).
            let transport = raw.transport.map_or(Protocol::Ssh, |t| t.0);
            let name = match raw.name {
                Some(n) => n.0,
                None => {
                    ctx.claim_host_name(&raw.host.0, transport).map_err(|e| {
                        format!("{e}; an entry without `name` is named by its `host`")
                    })?;
                    raw.host.0.clone()
                }
            };
            let session = SessionLayer {
                port: port(raw.port),
                connect_timeout: raw.timeout_socket.map(|d| d.0),
                read_timeout: raw.timeout_transport.map(|d| d.0),
                ..SessionLayer::default()
            };
            let ssh = SessionLayer {
                host_key: raw.auth_strict_key.map(|PyBool(strict)| {
                    if strict {
                        HostKeyPolicy::Strict
                    } else {
                        HostKeyPolicy::Off
                    }
                }),
                known_hosts: raw.ssh_known_hosts_file.and_then(|p| p.0).map(|p| p.0),
                ..session.clone()
            };
            let layer = Layer {
                username: raw.auth_username.and_then(|u| u.0).map(|u| u.0),
                password: set(raw.auth_password),
                secondary: set(raw.auth_secondary),
                private_key: raw.auth_private_key.and_then(|k| k.0).map(|k| k.0),
                private_key_passphrase: set(raw.auth_private_key_passphrase),
                platform: raw.platform.and_then(|p| p.0).map(|p| p.0),
                checks: Some(
                    raw.checks
                        .map_or_else(|| vec![Protocol::Icmp, transport], |c| c.0),
                ),
                labels: raw.labels.map(|l| l.0).unwrap_or_default(),
                icmp: Default::default(),
                ssh,
                telnet: session,
            };
            let profile = raw.profile.map(|p| p.0);
            let resolved = resolve_device(&ctx, name, raw.host.0, profile.as_deref(), layer)?;
            ctx.entry.set(ctx.entry.get() + 1);
            Ok(ScrapliEntry(resolved))
        })
    }
}
