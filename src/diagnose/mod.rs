//! Diagnosis beyond up or down: where on the way to a device the path
//! ends ([`Tracer`]; `reachd trace` is [`crate::trace_cmd`]).
//!
//! # How a trace works
//!
//! Like mtr, not like classic traceroute: a round sends one ICMP echo
//! request per TTL, 1 to `max_hops`, all at once, each with its TTL (IPv6:
//! hop limit) set per packet in a control message (`IP_TTL`,
//! `IPV6_HOPLIMIT`). The router where a request's TTL runs out answers
//! "time exceeded"; the device answers the echo; a router without a way on
//! answers "destination unreachable". The request's sequence number
//! (`base + round·256 + TTL−1`) says which TTL an answer is about. So a
//! trace takes one round trip when every hop answers, and at most its
//! `timeout` when some stay silent, never one timeout per hop.
//!
//! The path ends at the lowest TTL the device answered at (reached), or the
//! lowest one a router said unreachable at (not reached: that router
//! answered and is the last hop). The trace stops as soon as that end is
//! known and every hop before it has answered; otherwise at its `timeout`.
//! Later rounds (`probes_per_hop` in all, spread over the first half of
//! the timeout, at most 500 ms apart) re-ask only the TTLs still silent up
//! to the end, which covers a lost packet and routers' ICMP rate limits.
//!
//! # Unprivileged and raw
//!
//! Each trace opens its own socket of the destination's family, the way the
//! ICMP probe does (`probe::icmp::setup::open_socket`): an unprivileged
//! ICMP datagram ("ping") socket if `net.ipv4.ping_group_range` admits the
//! process's group (it covers IPv6 too), else a raw socket (CAP_NET_RAW);
//! if neither, the error names both fixes. The socket is closed when the
//! trace ends, so traces never share one and never see each other's
//! answers.
//!
//! * Unprivileged: the kernel picks the echo identifier and hands the
//!   socket only the echo replies to its own requests. ICMP errors about
//!   them arrive only with `IP_RECVERR`/`IPV6_RECVERR` on, on the socket's
//!   error queue (`recvmsg(MSG_ERRQUEUE)`): the quoted request's ICMP header
//!   as data (its sequence number), and a `sock_extended_err` with origin
//!   `SO_EE_ORIGIN_ICMP`/`ICMP6`, the ICMP type, and the router's address
//!   (`SO_EE_OFFENDER`).
//! * Raw: the socket gets a copy of every ICMP packet reaching the host, so
//!   a kernel filter (`ICMP_FILTER`/`ICMP6_FILTER`) lets through only echo
//!   replies, time exceeded and destination unreachable, and an answer is
//!   ours only if it (an echo reply) or the request it quotes (an error)
//!   carries this trace's identifier (different for each trace of the
//!   process) and involves the destination.
//!
//! # Bounds
//!
//! [`TraceOptions`]: at most `max_hops` (30) TTLs and `probes_per_hop`
//! (2) requests each, so at most 60 packets a trace; each trace ends
//! within `timeout` (3 s) of the call, waiting for a slot included; at
//! most `concurrent` (8) traces run at once (each on a blocking thread,
//! with one socket); and all callers of one [`Tracer`] share a token
//! bucket of `rate_per_sec` (5) traces a second with bursts of `burst`
//! (10): past it, a trace fails at once, sending nothing. No name is
//! resolved.

mod limit;
mod packet;
mod path;
mod socket;
pub mod trace;

pub use trace::{Path, TraceError, TraceOptions, Tracer};
