//! [`Tracer`]: TTL-stepped ICMP echo traces, every TTL of a round sent at
//! once, answers collected until the path is complete or the time is up.
//! See the [module documentation](super) for how and within which bounds.

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

pub use super::path::Path;

use super::limit::Bucket;
use super::packet::{self, Answer};
use super::socket::{OpenError, TraceSocket};
use crate::probe::icmp::setup::SocketMode;
use crate::probe::icmp::{IcmpSetupError, not_unicast, random_u16};

/// The echo requests' payload (after the 8-byte ICMP header).
const PAYLOAD: &[u8] = b"reachd path trace\0\0\0\0\0\0\0";
/// Largest read: an ICMP error quotes at most 576 (IPv4) or 1280 (IPv6)
/// bytes; replies to our requests are small.
const READ_BUFFER: usize = 2048;
/// Attempts to send one request (see `Plan::send_round`).
const SEND_TRIES: usize = 3;
/// Reads per drain of a socket, so that a flood cannot hold the loop.
const MAX_READS: usize = 512;

/// The tracer's bounds.
#[derive(Clone, Debug)]
pub struct TraceOptions {
    /// Highest TTL probed (default 30). 0 counts as 1.
    pub max_hops: u8,
    /// Echo requests per TTL (default 2): rounds of one request per TTL;
    /// a later round re-asks only the TTLs still silent. 0 counts as 1.
    pub probes_per_hop: u8,
    /// Bound on a whole trace, from the call to the result, waiting for a
    /// free slot included (default 3 s).
    pub timeout: Duration,
    /// Traces per second, for all callers together (default 5); a trace
    /// beyond the budget fails at once with [`TraceError::RateLimited`].
    pub rate_per_sec: f64,
    /// Traces that may start at once when the budget is full (default 10).
    pub burst: u32,
    /// Traces running at once (default 8); more wait for a slot.
    pub concurrent: usize,
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions {
            max_hops: 30,
            probes_per_hop: 2,
            timeout: Duration::from_secs(3),
            rate_per_sec: 5.0,
            burst: 10,
            concurrent: 8,
        }
    }
}

/// Why a trace gave no path.
#[derive(Debug)]
pub enum TraceError {
    /// The global trace budget is spent; nothing was sent.
    RateLimited,
    /// Every slot stayed taken for the whole timeout; nothing was sent.
    Busy,
    /// Not an address a path leads to (unspecified, multicast, broadcast).
    NotUnicast(IpAddr),
    /// No ICMP socket of the family may be opened; names the fixes.
    Setup(IcmpSetupError),
    /// The first echo request could not be sent (no route, a local
    /// firewall…).
    Send { dest: IpAddr, error: io::Error },
    /// The socket failed otherwise.
    Io(io::Error),
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::RateLimited => f.write_str("too many traces: the trace budget is spent"),
            TraceError::Busy => f.write_str("too many traces at once: none finished in time"),
            TraceError::NotUnicast(a) => write!(
                f,
                "cannot trace {a}: it is {}; a trace needs a unicast address",
                not_unicast(*a).unwrap_or("not a unicast address")
            ),
            TraceError::Setup(e) => e.fmt(f),
            TraceError::Send { dest, error } => write!(f, "cannot send to {dest}: {error}"),
            TraceError::Io(e) => write!(f, "ICMP socket error: {e}"),
        }
    }
}

impl std::error::Error for TraceError {}

impl From<OpenError> for TraceError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::Setup(e) => TraceError::Setup(e),
            OpenError::Io(e) => TraceError::Io(e),
        }
    }
}

/// Traces paths. Cheap to clone; clones share the budget and the slots.
#[derive(Clone)]
pub struct Tracer {
    inner: Arc<Inner>,
}

struct Inner {
    opts: TraceOptions,
    budget: Bucket,
    slots: Arc<Semaphore>,
    /// The socket kind the last trace of each family used (IPv4, IPv6).
    modes: Mutex<[Option<SocketMode>; 2]>,
}

impl Tracer {
    /// A tracer within `opts`' bounds. Opens nothing: each trace opens its
    /// own socket, and closes it when it ends.
    pub fn new(opts: TraceOptions) -> Tracer {
        Tracer {
            inner: Arc::new(Inner {
                budget: Bucket::new(opts.rate_per_sec, opts.burst),
                slots: Arc::new(Semaphore::new(opts.concurrent.max(1))),
                modes: Mutex::new([None, None]),
                opts,
            }),
        }
    }

    /// Traces the path to `dest`. `Err(TraceError::RateLimited)` without
    /// sending anything when the global budget is spent;
    /// `Err(TraceError::Setup)` if no ICMP socket may be opened (naming
    /// the privilege fixes). Ends within the options' `timeout`; dropping
    /// the future early leaves the trace's thread to end at that bound.
    pub async fn trace(&self, dest: IpAddr) -> Result<Path, TraceError> {
        let deadline = Instant::now() + self.inner.opts.timeout;
        if !self.inner.budget.take() {
            return Err(TraceError::RateLimited);
        }
        if not_unicast(dest).is_some() {
            return Err(TraceError::NotUnicast(dest));
        }
        let slot = self.inner.slots.clone().acquire_owned();
        let permit = match tokio::time::timeout_at(deadline.into(), slot).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) | Err(_) => return Err(TraceError::Busy),
        };
        let inner = self.inner.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            inner.run(dest, deadline)
        });
        task.await.map_err(|e| {
            TraceError::Io(io::Error::other(format!("the trace thread failed: {e}")))
        })?
    }

    /// The socket kind the last trace to an address of `dest`'s family
    /// used: `"unprivileged"` (an ICMP datagram socket, allowed by
    /// `net.ipv4.ping_group_range`) or `"raw"` (CAP_NET_RAW); `None`
    /// before the first.
    pub fn mode(&self, dest: IpAddr) -> Option<&'static str> {
        let modes = self.inner.modes.lock().unwrap_or_else(|p| p.into_inner());
        modes[usize::from(dest.is_ipv6())].map(SocketMode::as_str)
    }
}

impl fmt::Debug for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracer")
            .field("opts", &self.inner.opts)
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// One trace, on a blocking thread: its own socket, closed on return.
    fn run(&self, dest: IpAddr, deadline: Instant) -> Result<Path, TraceError> {
        let sock = TraceSocket::open(dest.is_ipv6())?;
        {
            let mut modes = self.modes.lock().unwrap_or_else(|p| p.into_inner());
            modes[usize::from(dest.is_ipv6())] = Some(sock.mode);
        }
        let plan = Plan {
            dest,
            hops: self.opts.max_hops.max(1),
            rounds: self.opts.probes_per_hop.max(1),
            ident: next_ident(),
            base: random_u16(),
            spacing: (self.opts.timeout / (2 * u32::from(self.opts.probes_per_hop.max(1))))
                .min(Duration::from_millis(500)),
        };
        plan.probe(&sock, deadline)
    }
}

/// One trace's numbers. Request `round` for TTL `t` has sequence number
/// `base + round * 256 + (t - 1)` (wrapping), so an answer's sequence
/// names its TTL.
struct Plan {
    dest: IpAddr,
    hops: u8,
    rounds: u8,
    /// The identifier of every request (a raw socket's filter; an
    /// unprivileged socket's kernel replaces it with its own).
    ident: u16,
    base: u16,
    /// Between rounds.
    spacing: Duration,
}

/// What has come back so far.
struct Answers {
    by_ttl: Vec<Option<IpAddr>>,
    /// Lowest TTL index the destination answered at.
    reached: Option<usize>,
    /// Lowest TTL index a hop said unreachable at.
    unreachable: Option<usize>,
}

impl Answers {
    /// Where the path ends, if known: the first echo reply or unreachable.
    fn end(&self) -> Option<usize> {
        match (self.reached, self.unreachable) {
            (Some(r), Some(u)) => Some(r.min(u)),
            (r, u) => r.or(u),
        }
    }

    /// Nothing more to learn: the end is known and every hop before it
    /// answered.
    fn complete(&self) -> bool {
        self.end()
            .is_some_and(|e| self.by_ttl.iter().take(e).all(Option::is_some))
    }

    /// Whether TTL index `i` is still worth asking.
    fn wanted(&self, i: usize) -> bool {
        self.by_ttl.get(i).is_some_and(Option::is_none) && self.end().is_none_or(|e| i <= e)
    }
}

impl Plan {
    fn seq(&self, round: u8, ttl: u8) -> u16 {
        self.base
            .wrapping_add(u16::from(round) << 8)
            .wrapping_add(u16::from(ttl - 1))
    }

    /// The TTL index a sequence number was sent with, if it is one of ours.
    fn ttl_index(&self, seq: u16) -> Option<usize> {
        let off = seq.wrapping_sub(self.base);
        let (round, ttl) = ((off >> 8) as u8, (off & 0xff) as u8);
        (round < self.rounds && ttl < self.hops).then_some(usize::from(ttl))
    }

    fn probe(&self, sock: &TraceSocket, deadline: Instant) -> Result<Path, TraceError> {
        let mut answers = Answers {
            by_ttl: vec![None; usize::from(self.hops)],
            reached: None,
            unreachable: None,
        };
        let start = Instant::now();
        let mut buf = vec![0u8; READ_BUFFER];
        let mut round = 0u8;
        loop {
            if answers.complete() {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let next_round = start + self.spacing * u32::from(round);
            if round < self.rounds && now >= next_round {
                self.send_round(sock, round, &answers)?;
                round += 1;
                continue;
            }
            let until = if round < self.rounds {
                next_round.min(deadline)
            } else {
                deadline
            };
            sock.wait(until.saturating_duration_since(now))
                .map_err(TraceError::Io)?;
            self.drain(sock, &mut buf, false, &mut answers);
            if sock.mode == SocketMode::Unprivileged {
                self.drain(sock, &mut buf, true, &mut answers);
            }
        }
        let end = answers.end();
        let reached = answers.reached.is_some() && answers.reached == end;
        Ok(Path::from_answers(answers.by_ttl, end, reached))
    }

    /// Sends one request to every TTL still wanted. A failure to send the
    /// trace's very first request is the trace's error (nothing else
    /// would get through either); later failures leave that TTL silent.
    fn send_round(
        &self,
        sock: &TraceSocket,
        round: u8,
        answers: &Answers,
    ) -> Result<(), TraceError> {
        for ttl in 1..=self.hops {
            if !answers.wanted(usize::from(ttl - 1)) {
                continue;
            }
            let request = packet::echo_request(sock.v6, self.ident, self.seq(round, ttl), PAYLOAD);
            // An unprivileged socket with IP_RECVERR also keeps the last
            // ICMP error as the socket's pending error, which the next send
            // returns (and clears) instead of sending: an answer to TTL 1
            // arriving while TTL 5 is sent would lose TTL 5. So a failed
            // send is tried again, a few times (a real failure, such as no
            // route, fails each time).
            let mut sent = sock.send(self.dest, ttl, &request);
            for _ in 0..SEND_TRIES - 1 {
                if sent.is_ok() {
                    break;
                }
                sent = sock.send(self.dest, ttl, &request);
            }
            if let Err(error) = sent {
                if round == 0 && ttl == 1 {
                    return Err(TraceError::Send {
                        dest: self.dest,
                        error,
                    });
                }
            }
        }
        Ok(())
    }

    /// Reads everything waiting (data, or the error queue) and records
    /// what is ours. A read error ends the pass: an unprivileged socket
    /// reports an ICMP error once more as the error of the next plain read.
    fn drain(&self, sock: &TraceSocket, buf: &mut [u8], errqueue: bool, answers: &mut Answers) {
        for _ in 0..MAX_READS {
            let got = match sock.recv(buf, errqueue) {
                Ok(Some(got)) => got,
                Ok(None) | Err(_) => return,
            };
            let bytes = &buf[..got.len];
            let answer = match (errqueue, sock.mode, self.dest, got.from) {
                (true, _, _, _) => got
                    .ext
                    .as_deref()
                    .and_then(|ext| packet::parse_errqueue(bytes, ext, sock.v6)),
                (false, SocketMode::Unprivileged, dest, Some(from)) => {
                    packet::parse_dgram_reply(bytes, from, dest)
                }
                (false, SocketMode::Raw, IpAddr::V4(dest), _) => {
                    packet::parse_raw_v4(bytes, self.ident, dest)
                }
                (false, SocketMode::Raw, IpAddr::V6(dest), Some(IpAddr::V6(from))) => {
                    packet::parse_raw_v6(bytes, from, self.ident, dest)
                }
                _ => None,
            };
            if let Some(answer) = answer {
                self.record(answer, answers);
            }
        }
    }

    fn record(&self, answer: Answer, answers: &mut Answers) {
        let (seq, from, reply, unreachable) = match answer {
            Answer::Reply { seq } => (seq, self.dest, true, false),
            Answer::Hop {
                seq,
                from,
                unreachable,
            } => (seq, from, false, unreachable),
        };
        let Some(i) = self.ttl_index(seq) else {
            return;
        };
        if let Some(slot) = answers.by_ttl.get_mut(i) {
            if reply {
                *slot = Some(from);
            } else {
                slot.get_or_insert(from);
            }
        }
        let lowest = |cur: Option<usize>| Some(cur.map_or(i, |c| c.min(i)));
        if reply {
            answers.reached = lowest(answers.reached);
        }
        if unreachable {
            answers.unreachable = lowest(answers.unreachable);
        }
    }
}

/// A different identifier for each trace of the process (from a random
/// start), so that concurrent traces over raw sockets, which each see
/// every ICMP packet, never take each other's answers.
fn next_ident() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    static START: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    START
        .get_or_init(random_u16)
        .wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(hops: u8, rounds: u8, base: u16) -> Plan {
        Plan {
            dest: "198.18.3.2".parse().unwrap(),
            hops,
            rounds,
            ident: 1,
            base,
            spacing: Duration::from_millis(100),
        }
    }

    #[test]
    fn sequence_numbers_name_their_ttl_and_wrap() {
        let p = plan(30, 2, 65_500);
        for round in 0..2 {
            for ttl in 1..=30 {
                assert_eq!(p.ttl_index(p.seq(round, ttl)), Some(usize::from(ttl - 1)));
            }
        }
        assert_eq!(p.ttl_index(p.seq(2, 1)), None, "a third round is not ours");
        assert_eq!(p.ttl_index(65_500u16.wrapping_add(30)), None, "ttl 31");
        assert_eq!(p.ttl_index(65_499), None);
    }

    #[test]
    fn the_lowest_reply_ends_the_path_once_the_hops_before_it_answered() {
        let p = plan(30, 2, 0);
        let mut a = Answers {
            by_ttl: vec![None; 30],
            reached: None,
            unreachable: None,
        };
        let hop = |ttl: u8, from: &str| Answer::Hop {
            seq: p.seq(0, ttl),
            from: from.parse().unwrap(),
            unreachable: false,
        };
        p.record(Answer::Reply { seq: p.seq(0, 5) }, &mut a);
        p.record(Answer::Reply { seq: p.seq(1, 3) }, &mut a);
        assert_eq!(a.end(), Some(2));
        assert!(!a.complete());
        assert!(a.wanted(0) && a.wanted(1) && !a.wanted(2) && !a.wanted(3));
        p.record(hop(1, "198.18.1.2"), &mut a);
        p.record(hop(2, "198.18.2.2"), &mut a);
        assert!(a.complete());
        // an answer from elsewhere (another trace's sequence) is ignored
        p.record(Answer::Reply { seq: p.seq(3, 1) }, &mut a);
        assert_eq!(a.reached, Some(2));
    }

    #[test]
    fn the_defaults() {
        let o = TraceOptions::default();
        assert_eq!(
            (o.max_hops, o.probes_per_hop, o.burst, o.concurrent),
            (30, 2, 10, 8)
        );
        assert_eq!(o.timeout, Duration::from_secs(3));
        assert_eq!(o.rate_per_sec, 5.0);
    }

    #[test]
    fn a_tracer_is_shared_between_tasks() {
        fn send_sync<T: Send + Sync + Clone>() {}
        send_sync::<Tracer>();
    }

    #[test]
    fn errors_say_what_to_do() {
        let e = TraceError::NotUnicast("224.0.0.1".parse().unwrap());
        assert_eq!(
            e.to_string(),
            "cannot trace 224.0.0.1: it is a multicast address; a trace needs a unicast address"
        );
        let denied = TraceError::Setup(IcmpSetupError::open(
            "IPv6",
            "so no path can be traced",
            io::Error::from_raw_os_error(13),
            io::Error::from_raw_os_error(1),
        ));
        let msg = denied.to_string();
        assert!(
            msg.starts_with("cannot open an IPv6 ICMP socket, so no path can be traced"),
            "{msg}"
        );
        assert!(
            msg.contains("ping_group_range") && msg.contains("setcap cap_net_raw+ep"),
            "{msg}"
        );
    }

    #[test]
    fn identifiers_differ_between_traces() {
        assert_ne!(next_ident(), next_ident());
    }
}
