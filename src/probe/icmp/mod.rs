//! ICMP echo probe: is the device answering ping?
//!
//! One shared surge-ping client (one socket and one receive task) per
//! address family serves every target. A check resolves the host (phase
//! `resolve`, skipped for literal addresses), then sends `count` echo
//! requests `spacing` apart and waits for replies (phase `connect`). The
//! target is up if any request is answered. The check ends a little before
//! its deadline, so a silent target ends as `no_reply` with its loss, not as
//! the scheduler's bare `timeout`.
//!
//! Reply matching: surge-ping matches a reply to its request on (address,
//! identifier, sequence) over a raw socket, and on (address, sequence) over
//! an unprivileged socket, where the kernel rewrites every request's
//! identifier to the socket's own. So the sequence number alone has to keep
//! concurrent checks apart: it is allocated per destination address (see
//! [`seq`]), and no two requests in flight to one address share one. On a
//! raw socket, which sees every ICMP packet reaching the host, the
//! identifier (random per probe) keeps other pingers' replies out.
//!
//! Checks with a source (`source_address`, `source_interface`) share one
//! client per address family **per distinct source**, opened when a plan
//! needs it ([`IcmpProbe::prepare`], at startup and reload); checks with the
//! default source use the two clients above, as before.

mod dest;
mod exchange;
mod seq;
pub mod check;
pub mod settings;
pub(crate) mod setup;
pub mod stats;

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use surge_ping::{Client, IcmpPacket, PingIdentifier, PingSequence, SurgeError};
use tokio::time::Instant;

pub use setup::IcmpSetupError;
pub(crate) use dest::not_unicast;

use self::dest::{Dest, Failure};
use self::exchange::{Echo, Transport, exchange};
use self::seq::SeqRegistry;
use self::setup::Family;
use crate::probe::source::{self, Source};
use crate::probe::{BoxFuture, Probe};
use crate::target::{CheckSpec, Protocol, Target};
use self::stats::IcmpStats;
use crate::verdict::{Outcome, Phase, Progress, Reason};

/// Largest echo payload: 65535 minus the IPv4 and ICMP headers.
const MAX_PAYLOAD_V4: usize = 65_507;
/// Largest echo payload over IPv6 (its length field excludes the IPv6 header).
const MAX_PAYLOAD_V6: usize = 65_527;

/// The ICMP echo probe. Create one per process and share it.
pub struct IcmpProbe {
    v4: Family,
    v6: Result<Family, String>,
    ident: PingIdentifier,
    seqs: SeqRegistry,
    /// Payload bytes for every request; each check sends a prefix.
    payload: Arc<[u8]>,
    /// The clients of each distinct non-default source the plan uses.
    sourced: std::sync::Mutex<HashMap<Source, Arc<Sourced>>>,
    /// Last, so that it stops after the clients are gone.
    rx: setup::RxThread,
}

impl IcmpProbe {
    /// Opens one shared surge-ping client per address family for all
    /// targets, and a thread that receives their replies. May be called
    /// inside or outside a tokio runtime; checks run in any runtime.
    ///
    /// Fails only if IPv4 ICMP is impossible (neither an unprivileged ICMP
    /// socket nor a raw one may be opened), with a message naming the fixes.
    /// Without IPv6, IPv6 targets get an `error` verdict saying why.
    pub fn new() -> Result<IcmpProbe, IcmpSetupError> {
        Self::open(false)
    }

    /// [`IcmpProbe::new`], and IPv4 echo requests may go to broadcast
    /// addresses (`SO_BROADCAST`). No configuration can ask for this:
    /// pinging a subnet's broadcast address draws replies from many hosts
    /// (or none), which says nothing about one device. `reachd demo` uses
    /// it for its one silent target, 127.255.255.255: loopback's broadcast
    /// address, which Linux does not answer while
    /// `net.ipv4.icmp_echo_ignore_broadcasts` is 1 (its default).
    pub fn with_broadcast() -> Result<IcmpProbe, IcmpSetupError> {
        Self::open(true)
    }

    fn open(broadcast: bool) -> Result<IcmpProbe, IcmpSetupError> {
        let sockets = setup::open_all().map_err(IcmpSetupError::thread)?;
        let v4 = sockets.v4.map_err(|(d, r)| IcmpSetupError::ipv4(d, r))?;
        if broadcast {
            setup::allow_broadcast(&v4.client).map_err(IcmpSetupError::broadcast)?;
        }
        let v6 = sockets.v6.map_err(|(d, r)| {
            if d.kind() == r.kind() {
                d.to_string()
            } else {
                format!("unprivileged ICMPv6 socket: {d}; raw ICMPv6 socket: {r}")
            }
        });
        Ok(IcmpProbe {
            v4,
            v6,
            ident: PingIdentifier(random_u16()),
            seqs: SeqRegistry::new(),
            payload: (0..MAX_PAYLOAD_V6).map(|i| i as u8).collect(),
            sourced: Default::default(),
            rx: sockets.rx,
        })
    }

    /// How IPv4 echo requests are sent: `"unprivileged"` (an ICMP datagram
    /// socket, allowed by `net.ipv4.ping_group_range`) or `"raw"` (a raw
    /// socket, allowed by CAP_NET_RAW).
    pub fn mode(&self) -> &'static str {
        self.v4.mode.as_str()
    }

    /// Like [`IcmpProbe::mode`] for IPv6; `None` if IPv6 ICMP is unavailable.
    pub fn ipv6_mode(&self) -> Option<&'static str> {
        self.v6.as_ref().ok().map(|f| f.mode.as_str())
    }

    /// Why IPv6 ICMP is unavailable, if it is.
    pub fn ipv6_error(&self) -> Option<&str> {
        self.v6.as_ref().err().map(String::as_str)
    }

    fn family(&self, addr: IpAddr) -> Result<&Family, &str> {
        match addr {
            IpAddr::V4(_) => Ok(&self.v4),
            IpAddr::V6(_) => self.v6.as_ref().map_err(String::as_str),
        }
    }

    /// Opens the clients of every distinct source `targets` use (keeping
    /// those already open, closing those no longer used). An error names a
    /// device whose source cannot be used.
    pub fn prepare(&self, targets: &[&Target]) -> Result<(), String> {
        let mut wanted: HashMap<Source, Vec<&Target>> = HashMap::new();
        for t in targets.iter().filter(|t| !t.source.is_default()) {
            wanted.entry(t.source.clone()).or_default().push(t);
        }
        let old = self.sourced.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut next = HashMap::with_capacity(wanted.len());
        for (source, users) in wanted {
            let open = match old.get(&source) {
                Some(s) if s.current() => s.clone(),
                _ => Arc::new(self.open_sourced(&source)),
            };
            for t in &users {
                let Ok(addr) = t.host.trim_matches(['[', ']']).parse::<IpAddr>() else {
                    continue;
                };
                if let Err(e) = open.family(addr) {
                    return Err(format!("device {} (icmp): {e}", t.device));
                }
            }
            next.insert(source, open);
        }
        *self.sourced.lock().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(())
    }

    fn open_sourced(&self, source: &Source) -> Sourced {
        let _rx = self.rx.handle.enter();
        let open = |kind, v4: bool| {
            if source.address.is_some_and(|a| a.is_ipv4() != v4) {
                let theirs = if v4 { "IPv4" } else { "IPv6" };
                return Err(format!("the {source} cannot send {theirs}"));
            }
            setup::open_sourced(kind, source)
        };
        Sourced {
            v4: open(surge_ping::ICMP::V4, true),
            v6: open(surge_ping::ICMP::V6, false),
            ifindex: source.interface.as_deref().and_then(source::interface_index),
            source: source.clone(),
        }
    }

    /// The clients of `source`: opened by [`IcmpProbe::prepare`], or now
    /// (a target that no plan prepared, or an interface that came back
    /// with a new index).
    fn sourced(&self, source: &Source) -> Arc<Sourced> {
        let mut map = self.sourced.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = map.get(source).filter(|s| s.current()) {
            return s.clone();
        }
        let s = Arc::new(self.open_sourced(source));
        map.insert(source.clone(), s.clone());
        s
    }

    async fn run(&self, target: &Target, progress: &Progress) -> Outcome {
        match self.try_run(target, progress).await {
            Ok(outcome) if outcome.reason != Reason::Ok => match target.source.gone() {
                Some(gone) => Outcome {
                    reason: Reason::Unreachable,
                    detail: format!("{gone} ({})", outcome.detail),
                    ..outcome
                },
                None => outcome,
            },
            Ok(outcome) => outcome,
            Err(f) => {
                let (reason, detail) = match target.source.gone() {
                    Some(gone) => (Reason::Unreachable, format!("{gone} ({})", f.detail)),
                    None => (f.reason, f.detail),
                };
                Outcome::fail(reason, detail).with_stats(IcmpStats::default())
            }
        }
    }

    async fn try_run(&self, target: &Target, progress: &Progress) -> Result<Outcome, Failure> {
        let CheckSpec::Icmp(spec) = &target.spec else {
            return Err(error(format!(
                "the ICMP probe was given a {} target",
                target.protocol
            )));
        };
        let finish_at = finish_at(progress.deadline(), target.timeout);

        let ip_family = target.ip_family;
        // Usable: an address the check's source can send to, of a family
        // this probe has a socket for.
        let usable = |a: IpAddr| target.source.fits(a) && self.family(a).is_ok();
        let dest = match dest::classify(&target.host, ip_family)? {
            Some(dest) => dest,
            None => dest::lookup(&target.host, finish_at, ip_family, usable).await?,
        };
        progress.enter(Phase::Connect);
        dest::check_unicast(dest)?;

        let count = u16::try_from(spec.count)
            .ok()
            .filter(|c| *c > 0)
            .ok_or_else(|| {
                error(format!(
                    "echo request count {} is not within 1..=65535",
                    spec.count
                ))
            })?;
        let sourced = (!target.source.is_default()).then(|| self.sourced(&target.source));
        let family = match &sourced {
            None => self.family(dest.addr).map_err(|why| {
                error(format!(
                    "cannot ping {}: IPv6 ICMP is unavailable on this host ({why})",
                    dest.addr
                ))
            })?,
            Some(s) => s
                .family(dest.addr)
                .map_err(|why| error(format!("cannot ping {}: {why}", dest.addr)))?,
        };
        let max = if dest.addr.is_ipv4() {
            MAX_PAYLOAD_V4
        } else {
            MAX_PAYLOAD_V6
        };
        let payload = self
            .payload
            .get(..spec.payload_size)
            .filter(|_| spec.payload_size <= max);
        let payload = payload.ok_or_else(|| {
            error(format!(
                "payload size {} exceeds the ICMP maximum of {max} bytes",
                spec.payload_size
            ))
        })?;

        let len = payload.len();
        let (client, ident, payload) = (family.client.clone(), self.ident, self.payload.clone());
        let first_seq = self.seqs.take(dest.addr, count);
        let spacing = spec.spacing;
        // The exchange runs on the ICMP thread (see `setup::open_all`);
        // cancelling the check cancels it.
        let task = self.rx.handle.spawn(async move {
            let transport = Surge {
                client: &client,
                ident,
                payload: &payload[..len],
            };
            exchange(&transport, dest, first_seq, count, spacing, finish_at).await
        });
        let _cancel = AbortOnDrop(task.abort_handle());
        task.await
            .map_err(|e| error(format!("the ICMP thread lost the check: {e}")))
    }
}

impl Probe for IcmpProbe {
    fn protocol(&self) -> Protocol {
        Protocol::Icmp
    }

    fn check<'a>(&'a self, target: &'a Target, progress: &'a Progress) -> BoxFuture<'a, Outcome> {
        Box::pin(self.run(target, progress))
    }

    fn prepare(&self, targets: &[&Target]) -> Result<(), String> {
        IcmpProbe::prepare(self, targets)
    }
}

impl std::fmt::Debug for IcmpProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IcmpProbe")
            .field("mode", &self.mode())
            .field("ipv6_mode", &self.ipv6_mode())
            .field("ipv6_error", &self.ipv6_error())
            .field("ident", &self.ident.0)
            .finish_non_exhaustive()
    }
}

/// The clients of one non-default source.
struct Sourced {
    source: Source,
    v4: Result<Family, String>,
    v6: Result<Family, String>,
    /// The interface's index when they were opened: a socket stays bound
    /// to that index, so an interface re-created under the same name
    /// needs new ones.
    ifindex: Option<u32>,
}

impl Sourced {
    fn family(&self, addr: IpAddr) -> Result<&Family, &str> {
        match addr {
            IpAddr::V4(_) => self.v4.as_ref().map_err(String::as_str),
            IpAddr::V6(_) => self.v6.as_ref().map_err(String::as_str),
        }
    }

    /// Whether these clients still fit the interface of the same name
    /// (true while it is gone: nothing better can be opened).
    fn current(&self) -> bool {
        match &self.source.interface {
            None => true,
            Some(name) => match source::interface_index(name) {
                None => true,
                Some(i) => Some(i) == self.ifindex,
            },
        }
    }
}

/// Aborts a task when the check that waits for it is dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn error(detail: String) -> Failure {
    Failure {
        reason: Reason::Error,
        detail,
    }
}

/// When the exchange stops waiting: a little before the scheduler's cut-off,
/// so the probe reports loss itself.
fn finish_at(deadline: Instant, timeout: Duration) -> Instant {
    let margin = (timeout / 10).min(Duration::from_millis(50));
    deadline.checked_sub(margin).unwrap_or(deadline)
}

/// A random number (from a randomly keyed hash), no RNG crate needed.
pub(crate) fn random_u16() -> u16 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish() as u16
}

/// Echo requests through a shared surge-ping client.
struct Surge<'a> {
    client: &'a Client,
    ident: PingIdentifier,
    payload: &'a [u8],
}

impl Transport for Surge<'_> {
    async fn echo(&self, dest: Dest, seq: u16, until: Instant) -> Echo {
        let mut pinger = self.client.pinger(dest.addr, self.ident).await;
        pinger
            .scope_id(dest.scope_id)
            .timeout(until.saturating_duration_since(Instant::now()));
        let called = Instant::now();
        match pinger.ping(PingSequence(seq), self.payload).await {
            // surge-ping times a reply from after `send_to` returns, so a
            // reply faster than the send call itself (loopback, a veth) gets
            // 0; then the time around the whole call is the better figure.
            Ok((packet, rtt)) if rtt.is_zero() => classify_packet(&packet, called.elapsed()),
            Ok((packet, rtt)) => classify_packet(&packet, rtt),
            Err(SurgeError::Timeout { .. }) => Echo::Lost,
            Err(SurgeError::IOError(e)) => Echo::SendFailed(e),
            Err(e @ SurgeError::NetworkError) => Echo::Failed {
                sent: true,
                detail: e.to_string(),
            },
            Err(e) => Echo::Failed {
                sent: false,
                detail: e.to_string(),
            },
        }
    }
}

/// surge-ping hands over whatever ICMP message quotes our request: an echo
/// reply, or (on a raw socket) an error sent by a router on the way.
fn classify_packet(packet: &IcmpPacket, rtt: Duration) -> Echo {
    let (from, what) = match packet {
        IcmpPacket::V4(p) => {
            let what = match (p.get_icmp_type().0, p.get_icmp_code().0) {
                (0, _) => return Echo::Reply(rtt),
                (3, 0) => "network unreachable",
                (3, 1) => "host unreachable",
                (3, 9 | 10 | 13) => "administratively prohibited",
                (3, _) => "destination unreachable",
                (11, _) => "time exceeded",
                // A redirect or the like took the reply's place in
                // surge-ping; the request counts as lost.
                _ => return Echo::Lost,
            };
            (IpAddr::V4(p.get_source()), what)
        }
        IcmpPacket::V6(p) => {
            let what = match (p.get_icmpv6_type().0, p.get_icmpv6_code().0) {
                (129, _) => return Echo::Reply(rtt),
                (1, 0) => "no route to destination",
                (1, 1) => "administratively prohibited",
                (1, 3) => "address unreachable",
                (1, 6) => "reject route",
                (1, _) => "destination unreachable",
                (3, _) => "time exceeded",
                _ => return Echo::Lost,
            };
            (IpAddr::V6(p.get_source()), what)
        }
    };
    Echo::IcmpError { from, what }
}

#[cfg(test)]
mod tests {
    use super::exchange::is_unreachable;
    use super::*;

    #[test]
    fn the_check_ends_a_little_before_the_deadline() {
        let now = Instant::now();
        let d = now + Duration::from_secs(1);
        assert_eq!(
            finish_at(d, Duration::from_secs(1)),
            d - Duration::from_millis(50)
        );
        let d = now + Duration::from_millis(200);
        assert_eq!(
            finish_at(d, Duration::from_millis(200)),
            d - Duration::from_millis(20)
        );
        assert_eq!(finish_at(now, Duration::ZERO), now);
    }

    #[test]
    fn unreachable_errors_are_recognised() {
        assert!(is_unreachable(&std::io::Error::from_raw_os_error(101)));
        assert!(is_unreachable(&std::io::Error::from_raw_os_error(113)));
        assert!(!is_unreachable(&std::io::Error::from_raw_os_error(1)));
    }

    #[test]
    fn new_works_outside_a_runtime_and_checks_run_in_one() {
        let probe = match IcmpProbe::new() {
            Ok(p) => p,
            Err(e) if e.is_permission() => return eprintln!("NOTE: skipped, {e}"),
            Err(e) => panic!("{e}"),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let target = Target {
            device: "lo".into(),
            protocol: Protocol::Icmp,
            host: "127.0.0.1".into(),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            spec: CheckSpec::Icmp(Default::default()),
            source: Default::default(),
            ip_family: Default::default(),
        };
        let v = rt.block_on(crate::probe::run_check(&probe, &target));
        assert!(v.up, "{v:?}");
        drop(rt);
        drop(probe);
    }
}
