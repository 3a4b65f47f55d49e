//! From a target's `host` to the address to ping.
//!
//! Literal addresses (`192.0.2.1`, `2001:db8::1`, `[2001:db8::1]`,
//! `fe80::1%eth0`) never reach the resolver. Names reserved by RFC 6761 are
//! answered here too: `localhost` (and `*.localhost`) is 127.0.0.1, and
//! anything under `.invalid` fails at once without a query. Other names go to
//! the system resolver (getaddrinfo, through tokio).
//!
//! `ip_family` ([`IpFamily`]): `ipv4` / `ipv6` keep only that family's
//! addresses (`localhost` is then 127.0.0.1 / ::1); `auto` takes the first
//! address the probe can ping, in the resolver's order, else the first.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::inventory::IpFamily;

use tokio::time::Instant;

use crate::verdict::{Reason, fmt_duration};

/// Where to send echo requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dest {
    pub addr: IpAddr,
    /// IPv6 zone (interface index) of a link-local address, else 0.
    pub scope_id: u32,
}

impl Dest {
    fn ip(addr: IpAddr) -> Self {
        Dest {
            addr: addr.to_canonical(),
            scope_id: 0,
        }
    }
}

/// Why a host can't be pinged, before any packet is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    pub reason: Reason,
    pub detail: String,
}

impl Failure {
    fn dns(detail: String) -> Self {
        Failure {
            reason: Reason::Dns,
            detail,
        }
    }
    fn error(detail: String) -> Self {
        Failure {
            reason: Reason::Error,
            detail,
        }
    }
}

/// Answers what can be answered without the resolver: `Ok(Some)` for a
/// literal address or a localhost name, `Ok(None)` for a name to resolve.
/// A literal address not of `family` is an error (the configuration
/// refuses it before it gets here).
pub(crate) fn classify(host: &str, family: IpFamily) -> Result<Option<Dest>, Failure> {
    let dest = classify_any(host, family)?;
    match dest {
        Some(d) if !family.fits(d.addr) => Err(Failure::error(format!(
            "{} is not an {} address (ip_family: {family})",
            d.addr,
            family.label().unwrap_or("IP")
        ))),
        _ => Ok(dest),
    }
}

fn classify_any(host: &str, family: IpFamily) -> Result<Option<Dest>, Failure> {
    if host.is_empty() {
        return Err(Failure::dns("empty host name".into()));
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(addr) = bare.parse::<IpAddr>() {
        return Ok(Some(Dest::ip(addr)));
    }
    if let Some((addr, zone)) = bare.split_once('%') {
        if let Ok(IpAddr::V6(addr)) = addr.parse::<IpAddr>() {
            let scope_id = zone_index(zone).ok_or_else(|| {
                Failure::error(format!("unknown interface `{zone}` in address `{host}`"))
            })?;
            return Ok(Some(Dest {
                addr: IpAddr::V6(addr),
                scope_id,
            }));
        }
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    let last_label = name.rsplit('.').next().unwrap_or(name);
    if last_label.eq_ignore_ascii_case("invalid") {
        return Err(Failure::dns(format!(
            "cannot resolve `{host}`: names under .invalid never resolve (RFC 6761)"
        )));
    }
    if last_label.eq_ignore_ascii_case("localhost") {
        return Ok(Some(Dest::ip(match family {
            IpFamily::Ipv6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpFamily::Auto | IpFamily::Ipv4 => IpAddr::V4(Ipv4Addr::LOCALHOST),
        })));
    }
    Ok(None)
}

/// Interface index of an IPv6 zone: a number, or an interface name.
fn zone_index(zone: &str) -> Option<u32> {
    if let Ok(n) = zone.parse::<u32>() {
        return Some(n);
    }
    let valid = !zone.is_empty()
        && zone.len() < 16
        && zone
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
        && zone != "."
        && zone != "..";
    if !valid {
        return None;
    }
    let text = std::fs::read_to_string(format!("/sys/class/net/{zone}/ifindex")).ok()?;
    text.trim().parse().ok().filter(|n| *n > 0)
}

/// Resolves `name` with the system resolver, giving up at `until`, and
/// picks an address with [`pick`].
pub(crate) async fn lookup(
    name: &str,
    until: Instant,
    family: IpFamily,
    usable: impl Fn(IpAddr) -> bool,
) -> Result<Dest, Failure> {
    let started = Instant::now();
    match tokio::time::timeout_at(until, tokio::net::lookup_host((name, 0))).await {
        Err(_) => Err(Failure::dns(format!(
            "no answer from the resolver for `{name}` within {}",
            fmt_duration(until.saturating_duration_since(started))
        ))),
        Ok(Err(e)) => Err(Failure::dns(format!("cannot resolve `{name}`: {e}"))),
        Ok(Ok(addrs)) => pick(name, addrs.map(|sa| sa.ip()), family, usable),
    }
}

/// Of `name`'s addresses (in the resolver's order), those of `family`;
/// of them, the first for which `usable` holds (the probe can ping it),
/// or the first if none does. None of `family`: a `dns` failure saying so.
pub(crate) fn pick(
    name: &str,
    addrs: impl Iterator<Item = IpAddr>,
    family: IpFamily,
    usable: impl Fn(IpAddr) -> bool,
) -> Result<Dest, Failure> {
    let mut first = None;
    let mut others = 0;
    for addr in addrs {
        if !family.fits(addr) {
            others += 1;
            continue;
        }
        if usable(addr) {
            return Ok(Dest::ip(addr));
        }
        first.get_or_insert(addr);
    }
    first.map(Dest::ip).ok_or_else(|| {
        Failure::dns(match family.label() {
            Some(fam) if others > 0 => format!(
                "`{name}` has no {fam} address (ip_family: {family}; it has {others} of the other family)"
            ),
            Some(fam) => format!("`{name}` has no {fam} address (ip_family: {family})"),
            None => format!("`{name}` has no address"),
        })
    })
}

/// Echo replies to these would come from other addresses, or not at all.
pub(crate) fn check_unicast(dest: Dest) -> Result<(), Failure> {
    match not_unicast(dest.addr) {
        Some(what) => Err(Failure::error(format!(
            "{} is {what}; ICMP checks need a unicast address",
            dest.addr
        ))),
        None => Ok(()),
    }
}

/// What `addr` is if it is not a unicast address ("a multicast
/// address"…), which no echo request should go to.
pub(crate) fn not_unicast(addr: IpAddr) -> Option<&'static str> {
    let (unspecified, multicast, broadcast) = match addr {
        IpAddr::V4(a) => (a.is_unspecified(), a.is_multicast(), a.is_broadcast()),
        IpAddr::V6(a) => (a.is_unspecified(), a.is_multicast(), false),
    };
    if unspecified {
        Some("the unspecified address")
    } else if multicast {
        Some("a multicast address")
    } else if broadcast {
        Some("the broadcast address")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn lit(host: &str) -> Dest {
        match classify(host, IpFamily::Auto) {
            Ok(Some(d)) => d,
            other => panic!("{host}: {other:?}"),
        }
    }

    #[test]
    fn literal_addresses_skip_the_resolver() {
        assert_eq!(lit("127.0.0.1").addr, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(lit("::1").addr, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(lit("[::1]").addr, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(
            lit("::ffff:10.1.2.3").addr,
            "10.1.2.3".parse::<IpAddr>().unwrap()
        );
        let z = lit("fe80::1%1");
        assert_eq!(z.addr, "fe80::1".parse::<IpAddr>().unwrap());
        assert_eq!(z.scope_id, 1);
        assert_eq!(lit("fe80::1%lo").scope_id, 1);
    }

    #[test]
    fn a_bad_zone_is_an_error_not_a_lookup() {
        let f = classify("fe80::1%nosuchif0", IpFamily::Auto).unwrap_err();
        assert_eq!(f.reason, Reason::Error);
        assert!(f.detail.contains("nosuchif0"), "{}", f.detail);
        assert_eq!(
            classify("fe80::1%../../x", IpFamily::Auto).unwrap_err().reason,
            Reason::Error
        );
    }

    #[test]
    fn invalid_names_fail_without_a_query() {
        for host in ["x.invalid", "X.INVALID", "a.b.invalid.", "invalid"] {
            let f = classify(host, IpFamily::Auto).unwrap_err();
            assert_eq!(f.reason, Reason::Dns, "{host}");
            assert!(f.detail.contains(host), "{}", f.detail);
        }
        // Only the last label counts.
        assert_eq!(classify("invalid.example", IpFamily::Auto), Ok(None));
        assert_eq!(classify("notinvalid", IpFamily::Auto), Ok(None));
        assert_eq!(classify("", IpFamily::Auto).unwrap_err().reason, Reason::Dns);
    }

    #[test]
    fn localhost_is_loopback_without_a_query() {
        for host in ["localhost", "LocalHost.", "r1.localhost"] {
            assert_eq!(lit(host).addr, IpAddr::V4(Ipv4Addr::LOCALHOST), "{host}");
        }
        assert_eq!(classify("localhost.example", IpFamily::Auto), Ok(None));
    }

    #[test]
    fn ip_family_restricts_localhost_and_literals() {
        let v6 = classify("localhost", IpFamily::Ipv6).unwrap().unwrap();
        assert_eq!(v6.addr, IpAddr::V6(Ipv6Addr::LOCALHOST));
        let v4 = classify("r1.localhost", IpFamily::Ipv4).unwrap().unwrap();
        assert_eq!(v4.addr, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(
            classify("::1", IpFamily::Ipv6).unwrap().unwrap().addr,
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        );
        let f = classify("127.0.0.1", IpFamily::Ipv6).unwrap_err();
        assert_eq!(f.reason, Reason::Error);
        assert_eq!(f.detail, "127.0.0.1 is not an IPv6 address (ip_family: ipv6)");
        // A mapped address is IPv4.
        assert!(classify("::ffff:10.1.2.3", IpFamily::Ipv4).is_ok());
        assert_eq!(classify("r1.example", IpFamily::Ipv6), Ok(None));
    }

    #[test]
    fn resolved_addresses_are_filtered_by_family() {
        let a4: IpAddr = "198.18.0.2".parse().unwrap();
        let b4: IpAddr = "198.18.0.3".parse().unwrap();
        let a6: IpAddr = "2001:2::2".parse().unwrap();
        let all = || [a4, a6, b4].into_iter();
        let any = |_: IpAddr| true;
        // auto: the first usable, in the resolver's order.
        assert_eq!(pick("r1", all(), IpFamily::Auto, any).unwrap().addr, a4);
        assert_eq!(
            pick("r1", all(), IpFamily::Auto, |a: IpAddr| a.is_ipv6()).unwrap().addr,
            a6
        );
        // auto, nothing usable: the first all the same.
        assert_eq!(pick("r1", all(), IpFamily::Auto, |_| false).unwrap().addr, a4);
        assert_eq!(pick("r1", all(), IpFamily::Ipv6, any).unwrap().addr, a6);
        assert_eq!(pick("r1", all(), IpFamily::Ipv4, any).unwrap().addr, a4);
        // ipv4: the first usable IPv4 address, never an IPv6 one.
        assert_eq!(
            pick("r1", all(), IpFamily::Ipv4, |a: IpAddr| a == b4).unwrap().addr,
            b4
        );
        let f = pick("r1", [a4, b4].into_iter(), IpFamily::Ipv6, any).unwrap_err();
        assert_eq!(f.reason, Reason::Dns);
        assert_eq!(
            f.detail,
            "`r1` has no IPv6 address (ip_family: ipv6; it has 2 of the other family)"
        );
        let f = pick("r1", std::iter::empty(), IpFamily::Ipv4, any).unwrap_err();
        assert_eq!(f.detail, "`r1` has no IPv4 address (ip_family: ipv4)");
        let f = pick("r1", std::iter::empty(), IpFamily::Auto, any).unwrap_err();
        assert_eq!(f.detail, "`r1` has no address");
    }

    #[test]
    fn only_unicast_addresses_are_pinged() {
        for bad in ["0.0.0.0", "224.0.0.1", "255.255.255.255", "::", "ff02::1"] {
            let f = check_unicast(lit(bad)).unwrap_err();
            assert_eq!(f.reason, Reason::Error, "{bad}");
        }
        for good in ["127.0.0.1", "10.0.0.255", "::1", "2001:db8::1"] {
            assert_eq!(check_unicast(lit(good)), Ok(()), "{good}");
        }
    }
}
