//! reachd's own device entries (`devices:` in the main file, and native
//! inventory files, which are the same list at the top level).

use serde::Deserialize;

use super::context;
use super::fields::{
    Address, Checks, DefaultsOnly, DeviceName, Labels, NonEmpty, PlatformName, ProfileRef, map_then,
};
use super::resolve::{IcmpBlock, Resolved, SshBlock, TelnetBlock, layer_of, resolve_device};
use super::secret_source::{KeyPath, SecretValue};

/// Keys of a native entry (for telling formats apart in error messages).
pub(crate) const KEYS: [&str; 14] = [
    "name",
    "address",
    "profile",
    "checks",
    "labels",
    "platform",
    "username",
    "password",
    "secondary",
    "private_key",
    "private_key_passphrase",
    "icmp",
    "ssh",
    "telnet",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    name: DeviceName,
    address: Address,
    profile: Option<ProfileRef>,
    checks: Option<Checks>,
    labels: Option<Labels>,
    platform: Option<PlatformName>,
    username: Option<NonEmpty>,
    password: Option<SecretValue>,
    secondary: Option<SecretValue>,
    private_key: Option<KeyPath>,
    private_key_passphrase: Option<SecretValue>,
    icmp: Option<IcmpBlock<DefaultsOnly>>,
    ssh: Option<SshBlock<DefaultsOnly>>,
    telnet: Option<TelnetBlock<DefaultsOnly>>,
}

/// A native device entry, resolved.
pub(crate) struct NativeEntry(pub Resolved);

impl<'de> Deserialize<'de> for NativeEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        map_then(
            d,
            "a device (a map with name and address)",
            |raw: RawDevice| {
                let ctx = context::current()?;
                let layer = layer_of!(raw);
                let profile = raw.profile.map(|p| p.0);
                let resolved =
                    resolve_device(&ctx, raw.name.0, raw.address.0, profile.as_deref(), layer)?;
                ctx.entry.set(ctx.entry.get() + 1);
                Ok(NativeEntry(resolved))
            },
        )
    }
}
