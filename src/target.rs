//! A target is one check of one device: what the scheduler runs and a probe
//! performs. The configuration resolves every setting (protocol defaults →
//! profile → device) into targets, so nothing downstream looks at config.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use crate::inventory::IpFamily;
pub use crate::probe::icmp::settings::IcmpSpec;
pub use crate::probe::session::settings::{Algorithms, HostKeyPolicy, SessionSpec};
pub use crate::probe::source::Source;
pub use crate::probe::{CheckSpec, CheckStats, Protocol};

/// A device as the inventory describes it, for `reachd_device_info` and the
/// status page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Device {
    pub name: Arc<str>,
    /// Address or host name, as configured.
    pub host: String,
    /// Inventory labels (site, role, platform, …), exported on the info metric.
    pub labels: BTreeMap<String, String>,
    /// The devices this one depends on (`parents:`), all in the plan.
    pub parents: Vec<Arc<str>>,
    /// Whether the path to it is traced when it stops answering
    /// (`path_trace:`, default on).
    pub path_trace: bool,
}

/// One device × protocol check, with every setting resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub device: Arc<str>,
    pub protocol: Protocol,
    /// Address or host name to check.
    pub host: String,
    pub interval: Duration,
    /// The whole check ends within this, whatever the device does.
    pub timeout: Duration,
    pub spec: CheckSpec,
    /// Where its packets leave from (default: the routing table's choice).
    pub source: Source,
    /// Which of a host name's addresses to check (`ip_family`; `auto`:
    /// the first usable one, as the resolver orders them).
    pub ip_family: IpFamily,
}

impl Target {
    /// Identity across reloads: the same key is the same series and schedule.
    pub fn key(&self) -> TargetKey {
        TargetKey {
            device: self.device.clone(),
            protocol: self.protocol,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetKey {
    pub device: Arc<str>,
    pub protocol: Protocol,
}

impl fmt::Display for TargetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.device, self.protocol)
    }
}

/// Spreads first runs over the interval: a stable hash of the device name and
/// protocol (FNV-1a), so a restart or reload puts each target at the same
/// place in its interval and the load stays flat.
pub fn spread_offset(key: &TargetKey, interval: Duration) -> Duration {
    let h = fnv1a(
        key.device
            .as_bytes()
            .iter()
            .chain([0u8, key.protocol as u8].iter()),
    );
    let nanos = interval.as_nanos().max(1);
    // u128 arithmetic: no overflow for any interval.
    let off = (u128::from(h) * nanos) >> 64;
    Duration::from_nanos(u64::try_from(off).unwrap_or(u64::MAX))
}

/// FNV-1a: stable across runs, versions and machines (unlike std's hasher).
fn fnv1a<'a>(bytes: impl Iterator<Item = &'a u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// One of `count` instances that split an inventory between them: instance
/// `index` (1-based) checks the devices whose name hashes to it, so every
/// device is checked by exactly one instance, the same one on every run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub fn owns(&self, device: &str) -> bool {
        fnv1a(device.as_bytes().iter()) % u64::from(self.count) == u64::from(self.index - 1)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || format!("invalid shard `{s}` (expected I/N with 1 <= I <= N, e.g. 2/4)");
        let (i, n) = s.split_once('/').ok_or_else(err)?;
        let index: u32 = i.trim().parse().map_err(|_| err())?;
        let count: u32 = n.trim().parse().map_err(|_| err())?;
        if count == 0 || index == 0 || index > count {
            return Err(err());
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> TargetKey {
        TargetKey {
            device: name.into(),
            protocol: Protocol::Icmp,
        }
    }

    #[test]
    fn spread_is_stable_and_inside_interval() {
        let iv = Duration::from_secs(10);
        for i in 0..1000 {
            let k = key(&format!("dev{i}"));
            let a = spread_offset(&k, iv);
            assert_eq!(a, spread_offset(&k, iv));
            assert!(a < iv);
        }
    }

    #[test]
    fn spread_is_roughly_uniform() {
        let iv = Duration::from_secs(10);
        let mut buckets = [0u32; 10];
        for i in 0..10_000 {
            let off = spread_offset(&key(&format!("r{i}.site{}", i % 7)), iv);
            buckets[off.as_secs() as usize] += 1;
        }
        for b in buckets {
            assert!((800..1200).contains(&b), "uneven spread: {buckets:?}");
        }
    }

    #[test]
    fn shards_split_every_device_exactly_once() {
        let shards: Vec<Shard> = (1..=4).map(|i| format!("{i}/4").parse().unwrap()).collect();
        let mut per = [0u32; 4];
        for d in 0..4000 {
            let name = format!("sw{d}.site{}", d % 13);
            let owners: Vec<usize> = (0..4).filter(|&i| shards[i].owns(&name)).collect();
            assert_eq!(owners.len(), 1, "{name}");
            per[owners[0]] += 1;
        }
        assert!(per.iter().all(|&n| (850..1150).contains(&n)), "{per:?}");
        assert!("1/1".parse::<Shard>().unwrap().owns("anything"));
        for bad in ["0/4", "5/4", "1/0", "x", "1-4", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn protocols_parse() {
        assert_eq!("ssh".parse::<Protocol>(), Ok(Protocol::Ssh));
        assert_eq!("ping".parse::<Protocol>(), Ok(Protocol::Icmp));
        assert!("http".parse::<Protocol>().is_err());
    }
}
