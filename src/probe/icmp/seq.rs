//! ICMP sequence numbers, allocated per destination address.
//!
//! Replies are matched on (address, sequence) — the identifier does not help
//! on an unprivileged socket, where the kernel sets it to the socket's own
//! value for every request — so two checks in flight to the same address
//! must never use the same sequence number. A counter per address gives
//! exactly that: each check takes the next `count` numbers, so a target's
//! sequence numbers advance from check to check like `ping`'s, and two
//! targets that share an address interleave instead of colliding. A late
//! reply to an earlier check carries an old number and is not mistaken for a
//! reply to the current one.
//!
//! The table is sharded so that checks rarely contend on a lock, the lock is
//! never held across an await, and addresses unused for an hour are dropped
//! (a re-created counter restarts at 0, long after any late reply).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

const SHARDS: usize = 64;
/// Counters of addresses not checked for this long are dropped.
const IDLE_SECS: u32 = 3600;
/// A shard looks for idle counters at most this often.
const PRUNE_EVERY_SECS: u32 = 600;

pub(crate) struct SeqRegistry {
    epoch: Instant,
    shards: Box<[Mutex<Shard>]>,
}

#[derive(Default)]
struct Shard {
    counters: HashMap<IpAddr, Counter>,
    pruned_at: u32,
}

struct Counter {
    next: u16,
    /// Seconds since the registry's epoch.
    used: u32,
}

impl SeqRegistry {
    pub(crate) fn new() -> Self {
        SeqRegistry {
            epoch: Instant::now(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    /// Reserves `count` consecutive (wrapping) sequence numbers for one check
    /// of `addr` and returns the first.
    pub(crate) fn take(&self, addr: IpAddr, count: u16) -> u16 {
        let now = u32::try_from(self.epoch.elapsed().as_secs()).unwrap_or(u32::MAX);
        self.take_at(addr, count, now)
    }

    fn take_at(&self, addr: IpAddr, count: u16, now: u32) -> u16 {
        let mut shard = self.shards[shard_of(addr)]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if now.saturating_sub(shard.pruned_at) >= PRUNE_EVERY_SECS {
            shard
                .counters
                .retain(|_, c| now.saturating_sub(c.used) < IDLE_SECS);
            shard.pruned_at = now;
        }
        let c = shard
            .counters
            .entry(addr)
            .or_insert(Counter { next: 0, used: now });
        let first = c.next;
        c.next = c.next.wrapping_add(count);
        c.used = now;
        first
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .counters
                    .len()
            })
            .sum()
    }
}

fn shard_of(addr: IpAddr) -> usize {
    // Fold the address into 64 bits and mix (the low bits of 127.x.y.z and
    // of a /24 differ, the high bits don't).
    let v: u64 = match addr {
        IpAddr::V4(a) => u64::from(a.to_bits()),
        IpAddr::V6(a) => {
            let b = a.to_bits();
            (b as u64) ^ ((b >> 64) as u64)
        }
    };
    let h = v.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> 58) as usize % SHARDS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn sequences_advance_from_check_to_check() {
        let r = SeqRegistry::new();
        assert_eq!(r.take(ip("127.0.0.1"), 3), 0);
        assert_eq!(r.take(ip("127.0.0.1"), 3), 3);
        assert_eq!(r.take(ip("127.0.0.1"), 1), 6);
        assert_eq!(r.take(ip("127.0.0.1"), 5), 7);
    }

    #[test]
    fn each_address_counts_on_its_own() {
        let r = SeqRegistry::new();
        assert_eq!(r.take(ip("127.0.0.1"), 3), 0);
        assert_eq!(r.take(ip("127.0.0.2"), 3), 0);
        assert_eq!(r.take(ip("::1"), 3), 0);
        assert_eq!(r.take(ip("127.0.0.1"), 3), 3);
    }

    #[test]
    fn two_targets_on_one_address_never_share_a_number() {
        let r = SeqRegistry::new();
        let a = r.take(ip("10.0.0.1"), 3);
        let b = r.take(ip("10.0.0.1"), 3);
        let ra: Vec<u16> = (0..3).map(|i| a.wrapping_add(i)).collect();
        let rb: Vec<u16> = (0..3).map(|i| b.wrapping_add(i)).collect();
        assert!(ra.iter().all(|s| !rb.contains(s)));
    }

    #[test]
    fn sequences_wrap_around() {
        let r = SeqRegistry::new();
        let a = ip("127.0.0.1");
        for _ in 0..21845 {
            r.take(a, 3);
        }
        assert_eq!(r.take(a, 3), 65535);
        assert_eq!(r.take(a, 3), 2);
    }

    #[test]
    fn idle_addresses_are_forgotten() {
        let r = SeqRegistry::new();
        for i in 0..1000u32 {
            r.take_at(IpAddr::V4(i.into()), 3, 0);
        }
        assert_eq!(r.len(), 1000);
        // Still in use within the hour: kept, and keeps counting.
        assert_eq!(r.take_at(IpAddr::V4(1.into()), 3, 1800), 3);
        // An hour later every untouched counter goes once its shard is used.
        for i in 0..1000u32 {
            r.take_at(IpAddr::V4(i.into()), 3, 1800 + IDLE_SECS);
        }
        assert_eq!(r.len(), 1000);
        let later = 1800 + 2 * IDLE_SECS;
        r.take_at(IpAddr::V4(5000.into()), 3, later);
        assert!(r.len() < 1000, "prune dropped nothing: {}", r.len());
    }

    #[test]
    fn addresses_spread_over_shards() {
        let mut used = [0u32; SHARDS];
        for i in 0..10_000u32 {
            used[shard_of(IpAddr::V4((0x7f00_0000 + i).into()))] += 1;
        }
        assert!(used.iter().all(|n| *n > 50), "{used:?}");
    }
}
