//! reachd's own device entries (`devices:` in the main file, and native
//! inventory files, which are the same list at the top level).

use serde::Deserialize;

use super::context;
use super::fields::{
    Address, Checks, DefaultsOnly, DeviceName, Labels, NonEmpty, ProfileRef, map_then,
};
use super::resolve::{IcmpBlock, Layer, Resolved, SshBlock, TelnetBlock, resolve_device};
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
    platform: Option<NonEmpty>,
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
                let layer = Layer {
                    username: raw.username.map(|u| u.0),
                    password: raw.password.map(|s| s.0),
                    secondary: raw.secondary.map(|s| s.0),
                    private_key: raw.private_key.map(|k| k.0),
                    private_key_passphrase: raw.private_key_passphrase.map(|s| s.0),
                    platform: raw.platform.map(|p| p.0),
                    checks: raw.checks.map(|c| c.0),
                    labels: raw.labels.map(|l| l.0).unwrap_or_default(),
                    icmp: raw.icmp.map(Into::into).unwrap_or_default(),
                    ssh: raw.ssh.map(Into::into).unwrap_or_default(),
                    telnet: raw.telnet.map(Into::into).unwrap_or_default(),
                };
                let profile = raw.profile.map(|p| p.0);
                let resolved =
                    resolve_device(&ctx, raw.name.0, raw.address.0, profile.as_deref(), layer)?;
                ctx.entry.set(ctx.entry.get() + 1);
                Ok(NativeEntry(resolved))
            },
        )
    }
}
