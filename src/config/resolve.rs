//! The settings cascade — built-in defaults → `defaults:` → profile → device,
//! field by field — and the per-protocol blocks it merges, resolved into
//! [`Target`]s.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::context::Ctx;
use super::duration::{Dur, IcmpInterval, PositiveDur, SessionInterval};
use super::fields::{
    AlgList, Checks, Concurrency, Count, DefaultsOnly, Labels, NonEmpty, PayloadSize, PlatformName,
    Port, Regex, RelPath, map_then,
};
use super::secret_source::{KeyPath, SecretValue};
use crate::secret::Secret;
use crate::target::{
    Algorithms, CheckSpec, Device, HostKeyPolicy, IcmpSpec, Protocol, SessionSpec, Target,
};
use crate::verdict::fmt_duration;

/// Built-in defaults, the bottom of the cascade.
pub(crate) mod builtin {
    use std::time::Duration;

    use crate::target::IcmpSpec;

    pub const ICMP_INTERVAL: Duration = Duration::from_secs(10);
    pub const ICMP_TIMEOUT: Duration = Duration::from_secs(2);
    pub const ICMP_CONCURRENCY: usize = 10_000;
    pub const ICMP_COUNT: u32 = IcmpSpec::DEFAULT.count;
    pub const ICMP_SPACING: Duration = IcmpSpec::DEFAULT.spacing;
    pub const ICMP_PAYLOAD: usize = IcmpSpec::DEFAULT.payload_size;

    pub const SESSION_INTERVAL: Duration = Duration::from_secs(60);
    pub const SESSION_TIMEOUT: Duration = Duration::from_secs(30);
    pub const SESSION_CONCURRENCY: usize = 100;
    pub const SSH_PORT: u16 = 22;
    pub const TELNET_PORT: u16 = 23;
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
}

// ---------------------------------------------------------------------------
// The per-protocol blocks as written (`icmp:`, `ssh:`, `telnet:`). `C` is the
// type of `concurrency`: a number under `defaults:`, an error elsewhere.

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map of icmp settings")]
pub(crate) struct IcmpBlock<C> {
    interval: Option<IcmpInterval>,
    timeout: Option<PositiveDur>,
    concurrency: Option<C>,
    count: Option<Count>,
    spacing: Option<Dur>,
    payload_size: Option<PayloadSize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map of ssh settings")]
pub(crate) struct SshBlock<C> {
    interval: Option<SessionInterval>,
    timeout: Option<PositiveDur>,
    concurrency: Option<C>,
    port: Option<Port>,
    connect_timeout: Option<PositiveDur>,
    read_timeout: Option<PositiveDur>,
    host_key: Option<HostKeyPolicy>,
    known_hosts: Option<RelPath>,
    enable: Option<bool>,
    command: Option<NonEmpty>,
    expect: Option<Regex>,
    kex: Option<AlgList>,
    ciphers: Option<AlgList>,
    macs: Option<AlgList>,
    host_key_algorithms: Option<AlgList>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map of telnet settings")]
pub(crate) struct TelnetBlock<C> {
    interval: Option<SessionInterval>,
    timeout: Option<PositiveDur>,
    concurrency: Option<C>,
    port: Option<Port>,
    connect_timeout: Option<PositiveDur>,
    read_timeout: Option<PositiveDur>,
    enable: Option<bool>,
    command: Option<NonEmpty>,
    expect: Option<Regex>,
}

// ---------------------------------------------------------------------------
// Layers: one level of the cascade, every field optional.

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct IcmpLayer {
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub count: Option<u32>,
    pub spacing: Option<Duration>,
    pub payload_size: Option<usize>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct SessionLayer {
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub port: Option<u16>,
    pub connect_timeout: Option<Duration>,
    pub read_timeout: Option<Duration>,
    pub host_key: Option<HostKeyPolicy>,
    pub known_hosts: Option<PathBuf>,
    pub enable: Option<bool>,
    pub command: Option<String>,
    pub expect: Option<String>,
    pub kex: Option<String>,
    pub ciphers: Option<String>,
    pub macs: Option<String>,
    pub host_key_algorithms: Option<String>,
}

/// Settings of a profile or a device (or, for the per-protocol blocks,
/// `defaults:`).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Layer {
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub secondary: Option<Secret>,
    pub private_key: Option<PathBuf>,
    pub private_key_passphrase: Option<Secret>,
    pub platform: Option<String>,
    pub checks: Option<Vec<Protocol>>,
    pub labels: BTreeMap<String, String>,
    pub icmp: IcmpLayer,
    pub ssh: SessionLayer,
    pub telnet: SessionLayer,
}

/// Field by field: `top`'s value where it has one, else `base`'s.
macro_rules! over {
    ($top:expr, $base:expr, $ty:ident { $($f:ident),* $(,)? }) => {
        $ty { $($f: $top.$f.clone().or_else(|| $base.$f.clone())),* }
    };
}

impl IcmpLayer {
    pub fn over(&self, base: &IcmpLayer) -> IcmpLayer {
        over!(
            self,
            base,
            IcmpLayer {
                interval,
                timeout,
                count,
                spacing,
                payload_size
            }
        )
    }
}

impl SessionLayer {
    pub fn over(&self, base: &SessionLayer) -> SessionLayer {
        over!(
            self,
            base,
            SessionLayer {
                interval,
                timeout,
                port,
                connect_timeout,
                read_timeout,
                host_key,
                known_hosts,
                enable,
                command,
                expect,
                kex,
                ciphers,
                macs,
                host_key_algorithms,
            }
        )
    }
}

impl Layer {
    /// This layer on top of `base`. Labels merge, this layer's winning.
    pub fn over(&self, base: &Layer) -> Layer {
        let mut labels = base.labels.clone();
        labels.extend(self.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        Layer {
            username: self.username.clone().or_else(|| base.username.clone()),
            password: self.password.clone().or_else(|| base.password.clone()),
            secondary: self.secondary.clone().or_else(|| base.secondary.clone()),
            private_key: self
                .private_key
                .clone()
                .or_else(|| base.private_key.clone()),
            private_key_passphrase: self
                .private_key_passphrase
                .clone()
                .or_else(|| base.private_key_passphrase.clone()),
            platform: self.platform.clone().or_else(|| base.platform.clone()),
            checks: self.checks.clone().or_else(|| base.checks.clone()),
            labels,
            icmp: self.icmp.over(&base.icmp),
            ssh: self.ssh.over(&base.ssh),
            telnet: self.telnet.over(&base.telnet),
        }
    }
}

impl<C> From<IcmpBlock<C>> for IcmpLayer {
    fn from(b: IcmpBlock<C>) -> Self {
        IcmpLayer {
            interval: b.interval.map(|d| d.0),
            timeout: b.timeout.map(|d| d.0),
            count: b.count.map(|c| u32::try_from(c.0).unwrap_or(u32::MAX)),
            spacing: b.spacing.map(|d| d.0),
            payload_size: b
                .payload_size
                .map(|p| usize::try_from(p.0).unwrap_or(usize::MAX)),
        }
    }
}

pub(crate) fn port(p: Option<Port>) -> Option<u16> {
    p.and_then(|p| u16::try_from(p.0).ok())
}

impl<C> From<SshBlock<C>> for SessionLayer {
    fn from(b: SshBlock<C>) -> Self {
        SessionLayer {
            interval: b.interval.map(|d| d.0),
            timeout: b.timeout.map(|d| d.0),
            port: port(b.port),
            connect_timeout: b.connect_timeout.map(|d| d.0),
            read_timeout: b.read_timeout.map(|d| d.0),
            host_key: b.host_key,
            known_hosts: b.known_hosts.map(|p| p.0),
            enable: b.enable,
            command: b.command.map(|c| c.0),
            expect: b.expect.map(|r| r.0),
            kex: b.kex.map(|a| a.0),
            ciphers: b.ciphers.map(|a| a.0),
            macs: b.macs.map(|a| a.0),
            host_key_algorithms: b.host_key_algorithms.map(|a| a.0),
        }
    }
}

impl<C> From<TelnetBlock<C>> for SessionLayer {
    fn from(b: TelnetBlock<C>) -> Self {
        SessionLayer {
            interval: b.interval.map(|d| d.0),
            timeout: b.timeout.map(|d| d.0),
            port: port(b.port),
            connect_timeout: b.connect_timeout.map(|d| d.0),
            read_timeout: b.read_timeout.map(|d| d.0),
            enable: b.enable,
            command: b.command.map(|c| c.0),
            expect: b.expect.map(|r| r.0),
            ..SessionLayer::default()
        }
    }
}

// ---------------------------------------------------------------------------
// `defaults:` and `profiles:`.

/// The `defaults:` section: per-protocol blocks and concurrency limits.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Defaults {
    pub layer: Layer,
    pub concurrency: BTreeMap<Protocol, usize>,
}

impl Defaults {
    /// The concurrency limit of every protocol.
    pub fn concurrency_limits(&self) -> BTreeMap<Protocol, usize> {
        Protocol::ALL
            .iter()
            .map(|p| {
                let builtin = match p {
                    Protocol::Icmp => builtin::ICMP_CONCURRENCY,
                    Protocol::Ssh | Protocol::Telnet => builtin::SESSION_CONCURRENCY,
                };
                (*p, self.concurrency.get(p).copied().unwrap_or(builtin))
            })
            .collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    icmp: Option<IcmpBlock<Concurrency>>,
    ssh: Option<SshBlock<Concurrency>>,
    telnet: Option<TelnetBlock<Concurrency>>,
}

impl<'de> Deserialize<'de> for Defaults {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        map_then(
            d,
            "a map of per-protocol defaults (icmp, ssh, telnet)",
            |raw: RawDefaults| {
                let mut out = Defaults::default();
                let mut limit = |p, c: Option<Concurrency>| {
                    if let Some(c) = c {
                        let c = usize::try_from(c.0).unwrap_or(usize::MAX);
                        out.concurrency.insert(p, c);
                    }
                };
                if let Some(mut b) = raw.icmp {
                    limit(Protocol::Icmp, b.concurrency.take());
                    out.layer.icmp = b.into();
                }
                if let Some(mut b) = raw.ssh {
                    limit(Protocol::Ssh, b.concurrency.take());
                    out.layer.ssh = b.into();
                }
                if let Some(mut b) = raw.telnet {
                    limit(Protocol::Telnet, b.concurrency.take());
                    out.layer.telnet = b.into();
                }
                // The defaults alone must already make sense.
                IcmpTiming::of(&out.layer.icmp).check()?;
                session_timing(Protocol::Ssh, &out.layer.ssh)?;
                session_timing(Protocol::Telnet, &out.layer.telnet)?;
                Ok(out)
            },
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a profile (a map of settings)")]
struct RawProfile {
    username: Option<NonEmpty>,
    password: Option<SecretValue>,
    secondary: Option<SecretValue>,
    private_key: Option<KeyPath>,
    private_key_passphrase: Option<SecretValue>,
    platform: Option<PlatformName>,
    checks: Option<Checks>,
    labels: Option<Labels>,
    icmp: Option<IcmpBlock<DefaultsOnly>>,
    ssh: Option<SshBlock<DefaultsOnly>>,
    telnet: Option<TelnetBlock<DefaultsOnly>>,
}

/// The [`Layer`] of a raw profile or native device entry, whose settings
/// keys are the same. (The raw structs repeat the fields: serde's `flatten`
/// would share them, but cannot be combined with `deny_unknown_fields`.)
macro_rules! layer_of {
    ($raw:ident) => {
        $crate::config::resolve::Layer {
            username: $raw.username.map(|u| u.0),
            password: $raw.password.map(|s| s.0),
            secondary: $raw.secondary.map(|s| s.0),
            private_key: $raw.private_key.map(|k| k.0),
            private_key_passphrase: $raw.private_key_passphrase.map(|s| s.0),
            platform: $raw.platform.map(|p| p.0),
            checks: $raw.checks.map(|c| c.0),
            labels: $raw.labels.map(|l| l.0).unwrap_or_default(),
            icmp: $raw.icmp.map(Into::into).unwrap_or_default(),
            ssh: $raw.ssh.map(Into::into).unwrap_or_default(),
            telnet: $raw.telnet.map(Into::into).unwrap_or_default(),
        }
    };
}
pub(crate) use layer_of;

/// One entry of `profiles:`.
pub(crate) struct Profile(pub Layer);

impl<'de> Deserialize<'de> for Profile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawProfile::deserialize(d)?;
        Ok(Profile(layer_of!(raw)))
    }
}

// ---------------------------------------------------------------------------
// Resolution.

/// A device and its targets, every setting resolved.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Resolved {
    pub device: Device,
    pub targets: Vec<Target>,
}

struct IcmpTiming {
    interval: Duration,
    timeout: Duration,
    count: u32,
    spacing: Duration,
}

impl IcmpTiming {
    fn of(l: &IcmpLayer) -> Self {
        IcmpTiming {
            interval: l.interval.unwrap_or(builtin::ICMP_INTERVAL),
            timeout: l.timeout.unwrap_or(builtin::ICMP_TIMEOUT),
            count: l.count.unwrap_or(builtin::ICMP_COUNT),
            spacing: l.spacing.unwrap_or(builtin::ICMP_SPACING),
        }
    }

    fn check(&self) -> Result<(), String> {
        check_timing(Protocol::Icmp, self.interval, self.timeout)?;
        let last_sent = self.spacing.saturating_mul(self.count.saturating_sub(1));
        if last_sent >= self.timeout {
            return Err(format!(
                "icmp: {} echo requests {} apart do not fit in the {} timeout \
                 (lower count or spacing, or raise timeout)",
                self.count,
                fmt_duration(self.spacing),
                fmt_duration(self.timeout)
            ));
        }
        Ok(())
    }
}

/// A session check's interval and timeout, checked.
fn session_timing(p: Protocol, s: &SessionLayer) -> Result<(Duration, Duration), String> {
    let interval = s.interval.unwrap_or(builtin::SESSION_INTERVAL);
    let timeout = s.timeout.unwrap_or(builtin::SESSION_TIMEOUT);
    check_timing(p, interval, timeout)?;
    Ok((interval, timeout))
}

/// A check's timeout may not exceed its interval: a target never overlaps
/// itself.
fn check_timing(p: Protocol, interval: Duration, timeout: Duration) -> Result<(), String> {
    if timeout > interval {
        return Err(format!(
            "{p} timeout ({}) is longer than its interval ({})",
            fmt_duration(timeout),
            fmt_duration(interval)
        ));
    }
    Ok(())
}

/// Resolves one device: `layer` (the device's own settings) on top of its
/// profile (its own, else its file's) on top of `defaults:`.
pub(crate) fn resolve_device(
    ctx: &Ctx,
    name: String,
    host: String,
    profile: Option<&str>,
    layer: Layer,
) -> Result<Resolved, String> {
    let profile_name = profile.or(ctx.file_profile.as_deref());
    let empty = Layer::default();
    let profile = match profile_name {
        Some(p) => ctx
            .profiles
            .get(p)
            .map(|l| l.as_ref())
            .ok_or_else(|| format!("unknown profile `{p}`"))?,
        None => &empty,
    };
    let merged = layer.over(profile).over(&ctx.defaults.layer);

    let mut checks = merged
        .checks
        .clone()
        .unwrap_or_else(|| vec![Protocol::Icmp]);
    checks.sort();
    checks.dedup();

    let mut labels = merged.labels.clone();
    if let Some(platform) = &merged.platform {
        labels
            .entry("platform".to_owned())
            .or_insert_with(|| platform.clone());
    }
    let name: Arc<str> = name.into();
    let mut targets = Vec::with_capacity(checks.len());
    for protocol in checks {
        let (interval, timeout, spec) = match protocol {
            Protocol::Icmp => {
                let t = IcmpTiming::of(&merged.icmp);
                t.check()?;
                let spec = IcmpSpec {
                    count: t.count,
                    spacing: t.spacing,
                    payload_size: merged.icmp.payload_size.unwrap_or(builtin::ICMP_PAYLOAD),
                };
                (t.interval, t.timeout, CheckSpec::Icmp(spec))
            }
            Protocol::Ssh => {
                let (interval, timeout) = session_timing(protocol, &merged.ssh)?;
                let spec = session_spec(protocol, &merged, &merged.ssh)?;
                (interval, timeout, CheckSpec::Ssh(spec))
            }
            Protocol::Telnet => {
                let (interval, timeout) = session_timing(protocol, &merged.telnet)?;
                let spec = session_spec(protocol, &merged, &merged.telnet)?;
                (interval, timeout, CheckSpec::Telnet(spec))
            }
        };
        targets.push(Target {
            device: name.clone(),
            protocol,
            host: host.clone(),
            interval,
            timeout,
            spec,
        });
    }
    Ok(Resolved {
        device: Device { name, host, labels },
        targets,
    })
}

fn session_spec(p: Protocol, m: &Layer, s: &SessionLayer) -> Result<SessionSpec, String> {
    match p {
        Protocol::Ssh => {
            if m.username.is_none() {
                return Err(
                    "the ssh check needs a username (set `username` on the device or its profile)"
                        .to_owned(),
                );
            }
            if m.password.is_none() && m.private_key.is_none() {
                return Err(
                    "the ssh check needs a password or a private_key (on the device or its profile)"
                        .to_owned(),
                );
            }
        }
        Protocol::Telnet => {
            if m.password.is_none() {
                return Err(
                    "the telnet check needs a password (set `password` on the device or its profile)"
                        .to_owned(),
                );
            }
        }
        Protocol::Icmp => {}
    }
    if s.expect.is_some() && s.command.is_none() {
        return Err(format!(
            "{p}.expect is set but {p}.command is not (expect matches the command's output)"
        ));
    }
    let (default_port, host_key) = match p {
        Protocol::Telnet => (builtin::TELNET_PORT, HostKeyPolicy::Off),
        _ => (
            builtin::SSH_PORT,
            s.host_key.unwrap_or(HostKeyPolicy::AcceptNew),
        ),
    };
    Ok(SessionSpec {
        port: s.port.unwrap_or(default_port),
        username: m.username.clone(),
        password: m.password.clone(),
        secondary: m.secondary.clone(),
        private_key: if p == Protocol::Ssh {
            m.private_key.clone()
        } else {
            None
        },
        private_key_passphrase: if p == Protocol::Ssh {
            m.private_key_passphrase.clone()
        } else {
            None
        },
        host_key,
        known_hosts: s.known_hosts.clone(),
        platform: m.platform.clone(),
        connect_timeout: s.connect_timeout.unwrap_or(builtin::CONNECT_TIMEOUT),
        read_timeout: s.read_timeout.unwrap_or(builtin::READ_TIMEOUT),
        enable: s.enable.unwrap_or(m.secondary.is_some()),
        command: s.command.clone(),
        expect: s.expect.clone(),
        algorithms: Algorithms {
            kex: s.kex.clone(),
            ciphers: s.ciphers.clone(),
            macs: s.macs.clone(),
            host_key: s.host_key_algorithms.clone(),
        },
    })
}
