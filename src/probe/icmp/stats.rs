//! What an ICMP check measures beyond up or down: the echo requests sent,
//! the replies received and their round-trip times ([`IcmpStats`], on
//! each verdict), and what the state store keeps of them per target
//! ([`IcmpCounters`]): the `reachd_icmp_*` series and the status page's
//! `rtt` and `loss`.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::exposition::{Family, num};
use crate::probe::CheckStats;
use crate::probe::check::{Counters, Stats};

/// ICMP RTT histogram bucket bounds (seconds), smokeping style: 100µs–2.5s.
pub const RTT_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Echo statistics of one ICMP check.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct IcmpStats {
    pub sent: u32,
    pub received: u32,
    /// Round-trip time of every reply received, in order.
    #[serde(serialize_with = "ser_secs_list")]
    pub rtts: Vec<Duration>,
}

impl IcmpStats {
    /// The ICMP stats among a verdict's stats, if any.
    pub fn of(stats: Option<&CheckStats>) -> Option<&IcmpStats> {
        match stats {
            Some(CheckStats::Icmp(s)) => Some(s),
            _ => None,
        }
    }
    pub fn loss_ratio(&self) -> f64 {
        if self.sent == 0 {
            return 1.0;
        }
        1.0 - f64::from(self.received) / f64::from(self.sent)
    }
    pub fn min(&self) -> Option<Duration> {
        self.rtts.iter().copied().min()
    }
    pub fn max(&self) -> Option<Duration> {
        self.rtts.iter().copied().max()
    }
    pub fn avg(&self) -> Option<Duration> {
        let n = u32::try_from(self.rtts.len()).ok().filter(|n| *n > 0)?;
        Some(self.rtts.iter().sum::<Duration>() / n)
    }
}

impl Stats for IcmpStats {
    type Counters = IcmpCounters;

    /// The average RTT.
    fn time(&self) -> Option<Duration> {
        self.avg()
    }
}

fn ser_secs_list<S: serde::Serializer>(v: &[Duration], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(Duration::as_secs_f64))
}

/// Per-target ICMP counters.
#[derive(Clone, Debug, Default)]
pub struct IcmpCounters {
    pub sent: u64,
    pub received: u64,
    /// Loss of the last check, 0..1.
    pub loss: f64,
    /// Average RTT of the last check, if any reply came.
    pub last_rtt: Option<Duration>,
    /// Non-cumulative bucket counts (one per bound, then +Inf).
    pub buckets: [u64; RTT_BUCKETS.len() + 1],
    pub rtt_sum: f64,
    pub rtt_count: u64,
}

impl Counters for IcmpCounters {
    type Stats = IcmpStats;

    const FAMILIES: &'static [Family] = &[
        (
            "reachd_icmp_requests_sent_total",
            "counter",
            "ICMP echo requests sent.",
        ),
        (
            "reachd_icmp_replies_received_total",
            "counter",
            "ICMP echo replies received.",
        ),
        (
            "reachd_icmp_loss_ratio",
            "gauge",
            "Fraction of the last check's echo requests left unanswered (0 to 1).",
        ),
        (
            "reachd_icmp_rtt_seconds",
            "histogram",
            "ICMP echo round-trip times.",
        ),
    ];

    fn add(&mut self, stats: &IcmpStats) {
        self.sent += u64::from(stats.sent);
        self.received += u64::from(stats.received);
        self.loss = stats.loss_ratio();
        self.last_rtt = stats.avg();
        for rtt in &stats.rtts {
            let secs = rtt.as_secs_f64();
            let i = RTT_BUCKETS.partition_point(|b| *b < secs);
            self.buckets[i] += 1;
            self.rtt_sum += secs;
            self.rtt_count += 1;
        }
    }

    fn write_series(&self, d: &str, b: &mut [String]) {
        let _ = writeln!(
            b[0],
            "reachd_icmp_requests_sent_total{{device=\"{d}\"}} {}",
            self.sent
        );
        let _ = writeln!(
            b[1],
            "reachd_icmp_replies_received_total{{device=\"{d}\"}} {}",
            self.received
        );
        let _ = writeln!(
            b[2],
            "reachd_icmp_loss_ratio{{device=\"{d}\"}} {}",
            num(self.loss)
        );
        let h = &mut b[3];
        let mut cum = 0;
        for (i, bound) in RTT_BUCKETS.iter().enumerate() {
            cum += self.buckets[i];
            let _ = writeln!(
                h,
                "reachd_icmp_rtt_seconds_bucket{{device=\"{d}\",le=\"{bound}\"}} {cum}"
            );
        }
        cum += self.buckets[RTT_BUCKETS.len()];
        let _ = writeln!(
            h,
            "reachd_icmp_rtt_seconds_bucket{{device=\"{d}\",le=\"+Inf\"}} {cum}"
        );
        let _ = writeln!(
            h,
            "reachd_icmp_rtt_seconds_sum{{device=\"{d}\"}} {}",
            num(self.rtt_sum)
        );
        let _ = writeln!(
            h,
            "reachd_icmp_rtt_seconds_count{{device=\"{d}\"}} {}",
            self.rtt_count
        );
    }

    /// `rtt`: the last check's average RTT (seconds), if a reply came;
    /// `loss`: its loss, 0 to 1.
    fn status_fields(&self) -> Vec<(&'static str, f64)> {
        let mut fields = Vec::with_capacity(2);
        if let Some(rtt) = self.last_rtt {
            fields.push(("rtt", rtt.as_secs_f64()));
        }
        fields.push(("loss", self.loss));
        fields
    }

    /// `rtt 1.234 ms`, the last check's average RTT.
    fn last(&self) -> Option<String> {
        self.last_rtt
            .map(|rtt| format!("rtt {:.3} ms", rtt.as_secs_f64() * 1000.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_stats_summary() {
        let s = IcmpStats {
            sent: 3,
            received: 2,
            rtts: vec![Duration::from_millis(1), Duration::from_millis(3)],
        };
        assert_eq!(s.min(), Some(Duration::from_millis(1)));
        assert_eq!(s.max(), Some(Duration::from_millis(3)));
        assert_eq!(s.avg(), Some(Duration::from_millis(2)));
        assert!((s.loss_ratio() - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(IcmpStats::default().loss_ratio(), 1.0);
    }

    #[test]
    fn rtts_land_in_their_buckets() {
        let mut c = IcmpCounters::default();
        c.add(&IcmpStats {
            sent: 3,
            received: 3,
            rtts: vec![
                Duration::from_micros(100), // on a bound: le="0.0001"
                Duration::from_micros(101),
                Duration::from_secs(3), // above every bound: +Inf
            ],
        });
        assert_eq!(c.buckets[0], 1);
        assert_eq!(c.buckets[1], 1);
        assert_eq!(c.buckets[RTT_BUCKETS.len()], 1);
        assert_eq!(c.rtt_count, 3);
    }
}
