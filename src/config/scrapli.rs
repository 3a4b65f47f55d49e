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

use super::fields::{Address, Checks, DeviceName, Labels, Parents, PlatformName, ProfileName};
use super::resolve::{File, Layer, Resolved, Resolver};
use crate::probe::Login;
use crate::secret::source::{KeySource, SecretSource};
use crate::settings::duration::PositiveDur;
use crate::settings::error::closest;
use crate::settings::values::{NonEmpty, Port, RelPath};
use crate::settings::yaml::FieldPath;
use crate::settings::{ConfigError, Field, custom};
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

/// scrapli keys reachd uses (beyond the shared `name`, `labels`, `checks`, `parents`,
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
#[serde(deny_unknown_fields, expecting = "a scrapli device (a map with host)")]
pub(crate) struct Entry {
    host: Address,
    name: Option<DeviceName>,
    port: Option<Port>,
    auth_username: Option<Blank<NonEmpty>>,
    auth_password: Option<SecretSource>,
    auth_secondary: Option<SecretSource>,
    auth_private_key: Option<Blank<KeySource>>,
    auth_private_key_passphrase: Option<SecretSource>,
    auth_strict_key: Option<PyBool>,
    ssh_known_hosts_file: Option<Blank<RelPath>>,
    timeout_socket: Option<PositiveDur>,
    timeout_transport: Option<PositiveDur>,
    platform: Option<Blank<PlatformName>>,
    transport: Option<Transport>,
    // reachd's own keys, welcome in a scrapli entry.
    labels: Option<Labels>,
    checks: Option<Checks>,
    profile: Option<ProfileName>,
    parents: Option<Parents>,
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

/// Resolves a scrapli-style entry at `at` of `file`: a device with an icmp
/// check and the check its `transport` names (unless it lists `checks`).
/// `file_profile` applies when the entry names no profile.
pub(crate) fn resolve(
    r: &mut Resolver,
    file: &File,
    at: &FieldPath,
    e: Entry,
    file_profile: Option<&str>,
) -> Result<Resolved, ConfigError> {
    // scrapli's default transport is `system` (OpenSSH).
    let transport = e.transport.map_or(Protocol::Ssh, |t| t.0);
    if let Some(n) = &e.name {
        r.claim(file.path, at, &n.0, None)
            .map_err(|err| file.error(&at.key("name"), err))?;
    }
    let profile = e.profile.map(|p| p.0);
    if let Some(p) = &profile {
        r.known_profile(p)
            .map_err(|err| file.error(&at.key("profile"), err))?;
    }
    let secret = |key: &str, s| r.secret(file, &at.key(key), s, true);
    let password = secret("auth_password", e.auth_password)?;
    let secondary = secret("auth_secondary", e.auth_secondary)?;
    let passphrase = secret("auth_private_key_passphrase", e.auth_private_key_passphrase)?;
    let dir = file.dir();
    let private_key = match e.auth_private_key.and_then(|k| k.0) {
        Some(k) => Some(
            k.path(&dir, &*r.env)
                .map_err(|err| file.error(&at.key("auth_private_key"), err))?,
        ),
        None => None,
    };
    let name = match e.name {
        Some(n) => n.0,
        None => {
            r.claim(file.path, at, &e.host.0, Some(transport))
                .map_err(|err| {
                    file.error(
                        at,
                        format!("{err}; an entry without `name` is named by its `host`"),
                    )
                })?;
            e.host.0.clone()
        }
    };
    let mut layer = Layer {
        login: Login {
            username: e.auth_username.and_then(|u| u.0).map(|u| u.0),
            password,
            secondary,
            private_key,
            private_key_passphrase: passphrase,
            platform: e.platform.and_then(|p| p.0).map(|p| p.0),
        },
        checks: Some(
            e.checks
                .map_or_else(|| vec![Protocol::Icmp, transport], |c| c.0),
        ),
        labels: e.labels.map(|l| l.0).unwrap_or_default(),
        parents: e.parents.map(|p| super::resolve::Parents {
            names: p.0,
            at: r.place(file, at.key("parents")),
        }),
        path_trace: None,
        blocks: Default::default(),
    };
    // scrapli's connection settings are the login checks' settings.
    let port: Option<u16> = e.port.map(Field::value);
    let connect_timeout = e.timeout_socket.map(Field::value);
    let read_timeout = e.timeout_transport.map(Field::value);
    let (ssh, telnet) = (&mut layer.blocks.ssh, &mut layer.blocks.telnet);
    (ssh.port, ssh.connect_timeout, ssh.read_timeout) = (port, connect_timeout, read_timeout);
    (telnet.port, telnet.connect_timeout, telnet.read_timeout) =
        (port, connect_timeout, read_timeout);
    ssh.host_key = e.auth_strict_key.map(|PyBool(strict)| {
        if strict {
            HostKeyPolicy::Strict
        } else {
            HostKeyPolicy::Off
        }
    });
    ssh.known_hosts = e
        .ssh_known_hosts_file
        .and_then(|p| p.0)
        .map(|p| Some(dir.join(p.0)));
    r.device(name, e.host.0, profile.as_deref().or(file_profile), layer)
        .map_err(|err| file.error(at, err))
}
