//! The tracer's ICMP bytes: echo requests out, and what comes back turned
//! into an [`Answer`] about one of our requests, or nothing.
//!
//! Everything here is a pure function of bytes so that it can be tested on
//! crafted packets; the sockets are in [`super::socket`]. What a socket
//! hands over differs by kind:
//!
//! * raw IPv4: the whole packet, outer IPv4 header first;
//! * raw IPv6: the ICMPv6 message only (the source comes with `recvfrom`);
//! * unprivileged ("ping") socket, both families: an echo reply's ICMP
//!   message as data; an ICMP error about one of its requests on the error
//!   queue, as the quoted request's ICMP header (the data) and a
//!   `sock_extended_err` naming the error's type, code and sender (a
//!   control message).
//!
//! An error is ours only if the request it quotes went to our destination,
//! with our identifier (raw) or from our own socket (unprivileged, where
//! the kernel picks the identifier and delivers only the socket's own).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `SO_EE_ORIGIN_ICMP` and `SO_EE_ORIGIN_ICMP6` (linux/errqueue.h).
const ORIGIN_ICMP: u8 = 2;
const ORIGIN_ICMP6: u8 = 3;

/// What an ICMP message says about one of our echo requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The destination answered the request with this sequence number.
    Reply { seq: u16 },
    /// A hop on the way sent an error about the request: time exceeded, or
    /// (if `unreachable`) destination unreachable.
    Hop {
        seq: u16,
        from: IpAddr,
        unreachable: bool,
    },
}

/// An ICMP echo request (type 8, or 128 for IPv6). The IPv4 checksum is
/// filled in; the kernel fills in the ICMPv6 one (it covers a pseudo
/// header the socket owns) and, on an unprivileged socket, replaces the
/// identifier and recomputes the checksum.
pub(crate) fn echo_request(v6: bool, ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + payload.len());
    p.extend_from_slice(&[if v6 { 128 } else { 8 }, 0, 0, 0]);
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(payload);
    if !v6 {
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

/// The Internet checksum (RFC 1071).
pub(crate) fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in bytes.chunks(2) {
        let word = match chunk {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => 0,
        };
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// An echo request's identifier and sequence, if `icmp` starts with one of
/// type `request_type`.
fn quoted_echo(icmp: &[u8], request_type: u8) -> Option<(u16, u16)> {
    (*icmp.first()? == request_type).then_some(())?;
    Some((be16(icmp, 4)?, be16(icmp, 6)?))
}

/// A packet read from a raw IPv4 ICMP socket (outer IPv4 header included).
pub(crate) fn parse_raw_v4(packet: &[u8], ident: u16, dest: Ipv4Addr) -> Option<Answer> {
    let ihl = usize::from(*packet.first()? & 0x0f) * 4;
    if *packet.first()? >> 4 != 4 || ihl < 20 || *packet.get(9)? != 1 {
        return None;
    }
    let src = Ipv4Addr::from(<[u8; 4]>::try_from(packet.get(12..16)?).ok()?);
    let icmp = packet.get(ihl..)?;
    match *icmp.first()? {
        0 => {
            let (id, seq) = quoted_echo(icmp, 0)?;
            (src == dest && id == ident).then_some(Answer::Reply { seq })
        }
        t @ (3 | 11) => {
            let inner = icmp.get(8..)?;
            let inner_ihl = usize::from(*inner.first()? & 0x0f) * 4;
            if *inner.first()? >> 4 != 4 || inner_ihl < 20 || *inner.get(9)? != 1 {
                return None;
            }
            let inner_dst = Ipv4Addr::from(<[u8; 4]>::try_from(inner.get(16..20)?).ok()?);
            let (id, seq) = quoted_echo(inner.get(inner_ihl..)?, 8)?;
            (inner_dst == dest && id == ident).then_some(Answer::Hop {
                seq,
                from: IpAddr::V4(src),
                unreachable: t == 3,
            })
        }
        _ => None,
    }
}

/// An ICMPv6 message read from a raw IPv6 socket, sent by `src`.
pub(crate) fn parse_raw_v6(
    icmp: &[u8],
    src: Ipv6Addr,
    ident: u16,
    dest: Ipv6Addr,
) -> Option<Answer> {
    match *icmp.first()? {
        129 => {
            let (id, seq) = quoted_echo(icmp, 129)?;
            (src == dest && id == ident).then_some(Answer::Reply { seq })
        }
        t @ (1 | 3) => {
            // The quoted request's IPv6 header: no extension headers (we
            // send none), next header ICMPv6.
            let inner = icmp.get(8..)?;
            if *inner.first()? >> 4 != 6 || *inner.get(6)? != 58 {
                return None;
            }
            let inner_dst = Ipv6Addr::from(<[u8; 16]>::try_from(inner.get(24..40)?).ok()?);
            let (id, seq) = quoted_echo(inner.get(40..)?, 128)?;
            (inner_dst == dest && id == ident).then_some(Answer::Hop {
                seq,
                from: IpAddr::V6(src),
                unreachable: t == 1,
            })
        }
        _ => None,
    }
}

/// An echo reply read (as data) from an unprivileged socket, sent by `src`.
/// The socket only gets replies to its own requests, so the identifier
/// (the kernel's) is not checked.
pub(crate) fn parse_dgram_reply(icmp: &[u8], src: IpAddr, dest: IpAddr) -> Option<Answer> {
    let reply_type = if dest.is_ipv6() { 129 } else { 0 };
    let (_, seq) = quoted_echo(icmp, reply_type)?;
    (src == dest).then_some(Answer::Reply { seq })
}

/// An entry of an unprivileged socket's error queue: `quoted` is its data
/// (the request's ICMP header), `ext` the `IP_RECVERR`/`IPV6_RECVERR`
/// control message (a `sock_extended_err` and, after it, the sender's
/// address, `SO_EE_OFFENDER`).
pub(crate) fn parse_errqueue(quoted: &[u8], ext: &[u8], v6: bool) -> Option<Answer> {
    let (origin, ty) = (*ext.get(4)?, *ext.get(5)?);
    let (request_type, unreachable) = match (v6, origin, ty) {
        (false, ORIGIN_ICMP, 11) => (8, false),
        (false, ORIGIN_ICMP, 3) => (8, true),
        (true, ORIGIN_ICMP6, 3) => (128, false),
        (true, ORIGIN_ICMP6, 1) => (128, true),
        _ => return None,
    };
    let (_, seq) = quoted_echo(quoted, request_type)?;
    let from = offender(ext.get(16..)?)?;
    Some(Answer::Hop {
        seq,
        from,
        unreachable,
    })
}

/// The `sockaddr_in` or `sockaddr_in6` after a `sock_extended_err`.
fn offender(sa: &[u8]) -> Option<IpAddr> {
    let family = i32::from(u16::from_ne_bytes([*sa.first()?, *sa.get(1)?]));
    if family == libc::AF_INET {
        let a: [u8; 4] = sa.get(4..8)?.try_into().ok()?;
        Some(IpAddr::V4(Ipv4Addr::from(a)))
    } else if family == libc::AF_INET6 {
        let a: [u8; 16] = sa.get(8..24)?.try_into().ok()?;
        Some(IpAddr::V6(Ipv6Addr::from(a)))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEST: Ipv4Addr = Ipv4Addr::new(198, 18, 3, 2);
    const HOP: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 2);

    fn ipv4_header(proto: u8, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
        h.extend_from_slice(&src.octets());
        h.extend_from_slice(&dst.octets());
        h
    }

    fn v4_error(ty: u8, ident: u16, seq: u16, inner_dst: Ipv4Addr) -> Vec<u8> {
        let mut p = ipv4_header(1, HOP, Ipv4Addr::new(198, 18, 1, 1));
        p.extend_from_slice(&[ty, 0, 0, 0, 0, 0, 0, 0]);
        p.extend(ipv4_header(1, Ipv4Addr::new(198, 18, 1, 1), inner_dst));
        p.extend(echo_request(false, ident, seq, &[]));
        p
    }

    #[test]
    fn an_echo_request_has_a_valid_checksum() {
        let p = echo_request(false, 0x1234, 7, b"reachd trace");
        assert_eq!(&p[..2], &[8, 0]);
        assert_eq!(be16(&p, 4), Some(0x1234));
        assert_eq!(be16(&p, 6), Some(7));
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to 0");
        let p6 = echo_request(true, 1, 2, b"odd");
        assert_eq!((p6[0], &p6[2..4]), (128, &[0u8, 0][..]));
    }

    #[test]
    fn time_exceeded_quoting_our_request_is_a_hop() {
        let p = v4_error(11, 0xbeef, 42, DEST);
        assert_eq!(
            parse_raw_v4(&p, 0xbeef, DEST),
            Some(Answer::Hop {
                seq: 42,
                from: IpAddr::V4(HOP),
                unreachable: false
            })
        );
        let p = v4_error(3, 0xbeef, 43, DEST);
        assert!(matches!(
            parse_raw_v4(&p, 0xbeef, DEST),
            Some(Answer::Hop {
                seq: 43,
                unreachable: true,
                ..
            })
        ));
    }

    #[test]
    fn other_pingers_errors_and_replies_are_not_ours() {
        // another identifier, another destination, a redirect, truncated
        assert_eq!(
            parse_raw_v4(&v4_error(11, 0xbeee, 42, DEST), 0xbeef, DEST),
            None
        );
        assert_eq!(
            parse_raw_v4(&v4_error(11, 0xbeef, 42, HOP), 0xbeef, DEST),
            None
        );
        assert_eq!(
            parse_raw_v4(&v4_error(5, 0xbeef, 42, DEST), 0xbeef, DEST),
            None
        );
        let p = v4_error(11, 0xbeef, 42, DEST);
        for len in 0..p.len() {
            assert_eq!(parse_raw_v4(&p[..len], 0xbeef, DEST), None, "{len}");
        }
        let mut reply = ipv4_header(1, DEST, HOP);
        reply.extend_from_slice(&[0, 0, 0, 0, 0xbe, 0xef, 0, 9]);
        assert_eq!(
            parse_raw_v4(&reply, 0xbeef, DEST),
            Some(Answer::Reply { seq: 9 })
        );
        assert_eq!(parse_raw_v4(&reply, 0xbeee, DEST), None);
        assert_eq!(parse_raw_v4(&reply, 0xbeef, HOP), None, "from elsewhere");
    }

    #[test]
    fn icmpv6_errors_and_replies() {
        let dest: Ipv6Addr = "2001:2:0:3::2".parse().unwrap();
        let hop: Ipv6Addr = "2001:2:0:2::2".parse().unwrap();
        let mut inner = vec![0x60, 0, 0, 0, 0, 8, 58, 1];
        inner.extend_from_slice(&hop.octets());
        inner.extend_from_slice(&dest.octets());
        inner.extend(echo_request(true, 77, 300, &[]));
        let mut te = vec![3, 0, 0, 0, 0, 0, 0, 0];
        te.extend_from_slice(&inner);
        assert_eq!(
            parse_raw_v6(&te, hop, 77, dest),
            Some(Answer::Hop {
                seq: 300,
                from: IpAddr::V6(hop),
                unreachable: false
            })
        );
        assert_eq!(parse_raw_v6(&te, hop, 78, dest), None);
        te[0] = 1;
        assert!(matches!(
            parse_raw_v6(&te, hop, 77, dest),
            Some(Answer::Hop {
                unreachable: true,
                ..
            })
        ));
        let reply = [129, 0, 0, 0, 0, 77, 1, 44];
        assert_eq!(
            parse_raw_v6(&reply, dest, 77, dest),
            Some(Answer::Reply { seq: 300 })
        );
        assert_eq!(parse_raw_v6(&reply, hop, 77, dest), None);
    }

    /// A `sock_extended_err` as the kernel writes it, with the offender.
    fn ext_err(origin: u8, ty: u8, offender: IpAddr) -> Vec<u8> {
        let mut e = 113u32.to_ne_bytes().to_vec(); // ee_errno EHOSTUNREACH
        e.extend_from_slice(&[origin, ty, 0, 0]);
        e.extend_from_slice(&[0; 8]); // ee_info, ee_data
        match offender {
            IpAddr::V4(a) => {
                e.extend_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
                e.extend_from_slice(&[0, 0]);
                e.extend_from_slice(&a.octets());
                e.extend_from_slice(&[0; 8]);
            }
            IpAddr::V6(a) => {
                e.extend_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
                e.extend_from_slice(&[0; 6]);
                e.extend_from_slice(&a.octets());
                e.extend_from_slice(&[0; 4]);
            }
        }
        e
    }

    #[test]
    fn error_queue_entries_name_the_hop_and_the_request() {
        let quoted = echo_request(false, 5, 513, &[1, 2, 3]);
        let ext = ext_err(ORIGIN_ICMP, 11, IpAddr::V4(HOP));
        assert_eq!(
            parse_errqueue(&quoted, &ext, false),
            Some(Answer::Hop {
                seq: 513,
                from: IpAddr::V4(HOP),
                unreachable: false
            })
        );
        let ext = ext_err(ORIGIN_ICMP, 3, IpAddr::V4(HOP));
        assert!(matches!(
            parse_errqueue(&quoted, &ext, false),
            Some(Answer::Hop {
                unreachable: true,
                ..
            })
        ));
        // a local error (origin 1), a truncated one
        assert_eq!(
            parse_errqueue(&quoted, &ext_err(1, 0, IpAddr::V4(HOP)), false),
            None
        );
        assert_eq!(parse_errqueue(&quoted, &ext[..18], false), None);

        let hop6: Ipv6Addr = "2001:2:0:1::2".parse().unwrap();
        let quoted6 = echo_request(true, 5, 2, &[]);
        let ext6 = ext_err(ORIGIN_ICMP6, 3, IpAddr::V6(hop6));
        assert_eq!(
            parse_errqueue(&quoted6, &ext6, true),
            Some(Answer::Hop {
                seq: 2,
                from: IpAddr::V6(hop6),
                unreachable: false
            })
        );
        // an ICMPv4 origin on an IPv6 socket is not ours
        assert_eq!(parse_errqueue(&quoted6, &ext, true), None);
    }

    #[test]
    fn replies_on_a_ping_socket_come_from_the_destination() {
        let d = IpAddr::V4(DEST);
        let reply = [0, 0, 0, 0, 0, 1, 0, 5];
        assert_eq!(
            parse_dgram_reply(&reply, d, d),
            Some(Answer::Reply { seq: 5 })
        );
        assert_eq!(parse_dgram_reply(&reply, IpAddr::V4(HOP), d), None);
        assert_eq!(parse_dgram_reply(&[8, 0, 0, 0, 0, 1, 0, 5], d, d), None);
    }
}
