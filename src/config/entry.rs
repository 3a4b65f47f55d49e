//! reachd's own entries, as written: a device (`devices:` in the main
//! file, and native inventory files, which are the same list at the top
//! level), a profile, and `defaults:`. A device and a profile share their
//! settings keys; every check's block (`icmp:`, `ssh:`, …) is parsed by
//! the check's own settings type, found through the list of checks.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::fields::{Address, Checks, DeviceName, Labels, Parents, PlatformName, ProfileName};
use crate::inventory::IpFamily;
use crate::probe::Layers;
use crate::probe::source::{InterfaceName, Source, SourceAddress};
use crate::secret::source::{KeySource, SecretSource};
use crate::settings::Key;
use crate::settings::values::NonEmpty;
use crate::target::Protocol;

/// What a device or a profile sets, as written.
#[derive(Debug, Default)]
pub(crate) struct Settings {
    pub username: Option<String>,
    pub password: Option<SecretSource>,
    pub secondary: Option<SecretSource>,
    pub private_key: Option<KeySource>,
    pub private_key_passphrase: Option<SecretSource>,
    pub platform: Option<String>,
    pub checks: Option<Vec<Protocol>>,
    pub labels: BTreeMap<String, String>,
    /// `parents:`; `Some(vec![])` clears a profile's.
    pub parents: Option<Vec<String>>,
    /// `path_trace:` (default on).
    pub path_trace: Option<bool>,
    pub blocks: Layers,
}

/// A device entry in reachd's format.
#[derive(Debug)]
pub(crate) struct Device {
    pub name: String,
    pub address: String,
    pub profile: Option<String>,
    pub settings: Settings,
}

/// `profiles:` entries.
pub(crate) struct Profile(pub Settings);

/// The `defaults:` section: every check's block, `concurrency` allowed.
pub(crate) struct Defaults(pub Layers);

fn keys(own: &[&'static str]) -> Vec<&'static str> {
    own.iter().chain(Layers::NAMES).copied().collect()
}

/// Keys of a device entry (also for telling formats apart in errors).
pub(crate) static DEVICE_KEYS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    keys(&[
        "name",
        "address",
        "profile",
        "checks",
        "labels",
        "parents",
        "path_trace",
        "platform",
        "username",
        "password",
        "secondary",
        "private_key",
        "private_key_passphrase",
        "source_address",
        "source_interface",
        "ip_family",
    ])
});

static PROFILE_KEYS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    keys(&[
        "username",
        "password",
        "secondary",
        "private_key",
        "private_key_passphrase",
        "platform",
        "checks",
        "labels",
        "parents",
        "path_trace",
        "source_address",
        "source_interface",
        "ip_family",
    ])
});

/// Keys of `defaults:`: every check's block, and the source and address
/// family shorthands.
static DEFAULTS_KEYS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| keys(&["source_address", "source_interface", "ip_family"]));

static DEFAULTS_EXPECTING: LazyLock<String> = LazyLock::new(|| {
    format!(
        "a map of per-protocol defaults ({}) and source_address / source_interface / ip_family",
        Layers::NAMES.join(", ")
    )
});

/// Parses an entry's map: a device's own keys into `device`, the rest
/// into `settings`.
struct Entry {
    keys: &'static [&'static str],
    expecting: &'static str,
    in_defaults: bool,
}

#[derive(Default)]
struct Parsed {
    name: Option<String>,
    address: Option<String>,
    profile: Option<String>,
    settings: Settings,
}

impl<'de> Visitor<'de> for Entry {
    type Value = Parsed;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
        let mut p = Parsed::default();
        let s = &mut p.settings;
        // `source_address` / `source_interface` beside the blocks: for
        // every check at this level (see `Layer::fill_source`).
        let mut source = Source::default();
        let mut ip_family = None;
        while let Some(key) = map.next_key_seed(Key(self.keys))? {
            match key {
                "name" => p.name = map.next_value::<Option<DeviceName>>()?.map(|n| n.0),
                "address" => p.address = map.next_value::<Option<Address>>()?.map(|a| a.0),
                "profile" => p.profile = map.next_value::<Option<ProfileName>>()?.map(|n| n.0),
                "checks" => s.checks = map.next_value::<Option<Checks>>()?.map(|c| c.0),
                "labels" => {
                    s.labels = map.next_value::<Option<Labels>>()?.unwrap_or_default().0;
                }
                "parents" => s.parents = map.next_value::<Option<Parents>>()?.map(|p| p.0),
                "path_trace" => s.path_trace = map.next_value::<Option<bool>>()?,
                "platform" => s.platform = map.next_value::<Option<PlatformName>>()?.map(|p| p.0),
                "username" => s.username = map.next_value::<Option<NonEmpty>>()?.map(|u| u.0),
                "password" => s.password = map.next_value()?,
                "secondary" => s.secondary = map.next_value()?,
                "private_key" => s.private_key = map.next_value()?,
                "private_key_passphrase" => s.private_key_passphrase = map.next_value()?,
                "source_address" => {
                    source.address = map.next_value::<Option<SourceAddress>>()?.map(|a| a.0);
                }
                "source_interface" => {
                    source.interface = map.next_value::<Option<InterfaceName>>()?.map(|i| i.0);
                }
                "ip_family" => ip_family = map.next_value::<Option<IpFamily>>()?,
                check => s.blocks.parse(check, &mut map, self.in_defaults)?,
            }
        }
        s.blocks.fill_source(&source);
        s.blocks.fill_ip_family(ip_family);
        Ok(p)
    }
}

impl<'de> Deserialize<'de> for Device {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Device;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a device (a map with name and address)")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Device, A::Error> {
                let entry = Entry {
                    keys: &DEVICE_KEYS,
                    expecting: "a device (a map with name and address)",
                    in_defaults: false,
                };
                let p = entry.visit_map(map)?;
                Ok(Device {
                    name: p.name.ok_or_else(|| de::Error::missing_field("name"))?,
                    address: p
                        .address
                        .ok_or_else(|| de::Error::missing_field("address"))?,
                    profile: p.profile,
                    settings: p.settings,
                })
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for Profile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let entry = Entry {
            keys: &PROFILE_KEYS,
            expecting: "a profile (a map of settings)",
            in_defaults: false,
        };
        d.deserialize_map(entry).map(|p| Profile(p.settings))
    }
}

impl<'de> Deserialize<'de> for Defaults {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let entry = Entry {
            keys: &DEFAULTS_KEYS,
            expecting: &DEFAULTS_EXPECTING,
            in_defaults: true,
        };
        d.deserialize_map(entry)
            .map(|p| Defaults(p.settings.blocks))
    }
}

/// A device entry without its name: the `reachd:` block of a Nornir
/// host's or group's `data` (the name is the Nornir host's).
pub(crate) struct Block {
    pub address: Option<String>,
    pub profile: Option<String>,
    pub settings: Settings,
}

static BLOCK_KEYS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    DEVICE_KEYS
        .iter()
        .copied()
        .filter(|k| *k != "name")
        .collect()
});

impl<'de> Deserialize<'de> for Block {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let entry = Entry {
            keys: &BLOCK_KEYS,
            expecting: "a reachd device entry without `name` (a map of settings)",
            in_defaults: false,
        };
        d.deserialize_map(entry).map(|p| Block {
            address: p.address,
            profile: p.profile,
            settings: p.settings,
        })
    }
}
