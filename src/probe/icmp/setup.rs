//! Opening the shared ICMP sockets: unprivileged first, raw second, and one
//! plain message when neither is allowed.

use std::fmt;
use std::io;
use std::os::fd::BorrowedFd;
use std::path::PathBuf;

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use surge_ping::{Client, Config, ICMP};

/// How the probe talks ICMP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SocketMode {
    /// An ICMP datagram ("ping") socket, allowed by `net.ipv4.ping_group_range`.
    Unprivileged,
    /// A raw socket, allowed by CAP_NET_RAW.
    Raw,
}

impl SocketMode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SocketMode::Unprivileged => "unprivileged",
            SocketMode::Raw => "raw",
        }
    }
}

/// Requested receive buffer of each socket. Replies to a burst of checks
/// arrive together, and the default (~200 KiB, a few hundred packets) drops
/// them; the kernel caps this at `net.core.rmem_max`.
const RECV_BUFFER: usize = 8 << 20;

/// `SOCK_RAW` (socket2 0.5 only names it with its `all` feature).
const SOCK_RAW: i32 = 3;

/// One address family's shared client.
pub(crate) struct Family {
    pub client: Client,
    pub mode: SocketMode,
}

/// Opens the family's socket, unprivileged first, then raw. On failure,
/// returns the error of each attempt.
pub(crate) fn open(kind: ICMP) -> Result<Family, (io::Error, io::Error)> {
    // surge-ping tries the hinted type (by default DGRAM), then the other
    // one. (It uses socket2 0.6 and this crate 0.5: types are compared as
    // the C values.)
    let config = Config::builder().kind(kind).build();
    match Client::new(&config) {
        Ok(client) => {
            let mode = if i32::from(client.get_socket().get_type()) == i32::from(Type::DGRAM) {
                SocketMode::Unprivileged
            } else {
                SocketMode::Raw
            };
            tune(&client);
            Ok(Family { client, mode })
        }
        Err(e) => {
            // Redo both attempts to tell the two failures apart.
            let (domain, proto) = match kind {
                ICMP::V4 => (Domain::IPV4, Protocol::ICMPV4),
                ICMP::V6 => (Domain::IPV6, Protocol::ICMPV6),
            };
            let dgram = Socket::new(domain, Type::DGRAM, Some(proto)).err();
            let raw = Socket::new(domain, Type::from(SOCK_RAW), Some(proto)).err();
            match (dgram, raw) {
                (Some(d), Some(r)) => Err((d, r)),
                (d, r) => {
                    let copy = || io::Error::new(e.kind(), e.to_string());
                    Err((d.unwrap_or_else(copy), r.unwrap_or_else(copy)))
                }
            }
        }
    }
}

fn tune(client: &Client) {
    let fd = client.get_socket().get_native_sock();
    // SAFETY: `fd` is the client's socket, open for as long as `client`,
    // which outlives this borrow.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let sock = SockRef::from(&fd);
    // Best effort: a smaller buffer only means drops under bursts.
    let _ = sock.set_recv_buffer_size(RECV_BUFFER);
}

/// Why the ICMP probe cannot run at all.
#[derive(Debug)]
pub struct IcmpSetupError {
    kind: SetupErrorKind,
}

#[derive(Debug)]
enum SetupErrorKind {
    NoRuntime,
    Ipv4 {
        unprivileged: io::Error,
        raw: io::Error,
        group: Option<u32>,
        range: Option<String>,
        exe: Option<PathBuf>,
    },
}

impl IcmpSetupError {
    pub(crate) fn no_runtime() -> Self {
        IcmpSetupError {
            kind: SetupErrorKind::NoRuntime,
        }
    }

    pub(crate) fn ipv4(unprivileged: io::Error, raw: io::Error) -> Self {
        IcmpSetupError {
            kind: SetupErrorKind::Ipv4 {
                unprivileged,
                raw,
                group: effective_gid(),
                range: std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range")
                    .ok()
                    .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")),
                exe: std::env::current_exe().ok(),
            },
        }
    }

    /// Whether the cause is missing permission (and so the fixes apply).
    pub fn is_permission(&self) -> bool {
        match &self.kind {
            SetupErrorKind::NoRuntime => false,
            SetupErrorKind::Ipv4 {
                unprivileged, raw, ..
            } => {
                unprivileged.kind() == io::ErrorKind::PermissionDenied
                    || raw.kind() == io::ErrorKind::PermissionDenied
            }
        }
    }
}

impl fmt::Display for IcmpSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SetupErrorKind::Ipv4 {
            unprivileged,
            raw,
            group,
            range,
            exe,
        } = &self.kind
        else {
            return f.write_str("the ICMP probe must be created inside a tokio runtime");
        };
        if !self.is_permission() {
            return write!(
                f,
                "cannot open an IPv4 ICMP socket: unprivileged ICMP socket: {unprivileged}; \
                 raw socket: {raw}"
            );
        }
        f.write_str("cannot open an IPv4 ICMP socket, so no ICMP check can run: ")?;
        f.write_str("unprivileged ICMP is not allowed")?;
        if let Some(g) = group {
            write!(f, " for group {g}")?;
        }
        if let Some(r) = range {
            write!(f, " (net.ipv4.ping_group_range is \"{r}\")")?;
        }
        write!(
            f,
            " [{unprivileged}], and raw ICMP sockets need CAP_NET_RAW [{raw}]. Fix either: \
             allow unprivileged ICMP with `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"` \
             (to keep it, put it in /etc/sysctl.d/), or give reachd CAP_NET_RAW: `setcap \
             cap_net_raw+ep {}`, or `AmbientCapabilities=CAP_NET_RAW` in its systemd unit",
            exe.as_deref()
                .map_or("/usr/bin/reachd".into(), |p| p.display().to_string())
        )
    }
}

impl std::error::Error for IcmpSetupError {}

/// The effective group id, which with the supplementary groups is what
/// `ping_group_range` is checked against.
fn effective_gid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Gid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied() -> IcmpSetupError {
        IcmpSetupError::ipv4(
            io::Error::from_raw_os_error(13),
            io::Error::from_raw_os_error(1),
        )
    }

    #[test]
    fn the_setup_error_names_both_fixes() {
        let e = denied();
        assert!(e.is_permission());
        let msg = e.to_string();
        for needle in [
            "cannot open an IPv4 ICMP socket",
            "sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"",
            "setcap cap_net_raw+ep ",
            "AmbientCapabilities=CAP_NET_RAW",
            "Permission denied",
            "Operation not permitted",
            "net.ipv4.ping_group_range is \"",
        ] {
            assert!(msg.contains(needle), "missing {needle:?} in: {msg}");
        }
        assert!(!msg.contains('\n'), "one line: {msg}");
    }

    #[test]
    fn other_causes_do_not_suggest_permission_fixes() {
        let e = IcmpSetupError::ipv4(
            io::Error::from_raw_os_error(24),
            io::Error::from_raw_os_error(24),
        );
        assert!(!e.is_permission());
        let msg = e.to_string();
        assert!(msg.contains("open files"), "{msg}");
        assert!(!msg.contains("setcap"), "{msg}");
    }

    #[test]
    fn no_runtime_is_said_plainly() {
        assert!(
            IcmpSetupError::no_runtime()
                .to_string()
                .contains("tokio runtime")
        );
    }
}
