//! Opening the shared ICMP sockets: unprivileged first, raw second, and one
//! plain message when neither is allowed.

use std::fmt;
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
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

/// The clients of both families, with the thread that receives for them.
pub(crate) struct Sockets {
    pub v4: Result<Family, (io::Error, io::Error)>,
    pub v6: Result<Family, (io::Error, io::Error)>,
    pub rx: RxThread,
}

/// Opens both families' clients on a thread of their own, where every
/// echo exchange also runs.
///
/// surge-ping reads every reply in one task per client. Inside the
/// daemon's runtime that task waits its turn behind all the checks it has
/// just woken, so under a burst replies queue in the socket (inflating
/// RTTs) until its buffer overflows. On its own thread, with a runtime of
/// its own, it reads as fast as replies come. Sending from the same thread
/// matters as much: a socket's lock taken by sends on the daemon's worker
/// threads while this one receives cost more CPU, in lock contention and
/// context switches, than the pings themselves (profiled at 100k targets).
pub(crate) fn open_all() -> io::Result<Sockets> {
    let (opened_tx, opened_rx) = std::sync::mpsc::sync_channel(1);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("reachd-icmp-rx".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = opened_tx.send(Err(e));
                    return;
                }
            };
            let handle = rt.handle().clone();
            rt.block_on(async move {
                let opened = (open(ICMP::V4), open(ICMP::V6), handle);
                let _ = opened_tx.send(Ok(opened));
                // Serve until the probe goes away.
                let _ = stopped.await;
            });
        })?;
    let (v4, v6, handle) = opened_rx
        .recv()
        .map_err(|_| io::Error::other("the ICMP receive thread died while starting"))??;
    Ok(Sockets {
        v4,
        v6,
        rx: RxThread {
            handle,
            _stop: stop,
            _thread: thread,
        },
    })
}

/// Stops the receive thread when dropped (the thread is not joined: it
/// ends on its own once its runtime has shut down).
pub(crate) struct RxThread {
    /// Where echo exchanges run.
    pub handle: tokio::runtime::Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
    _thread: std::thread::JoinHandle<()>,
}

/// One address family's shared client.
pub(crate) struct Family {
    pub client: Client,
    pub mode: SocketMode,
}

/// Opens the family's socket, unprivileged first, then raw. On failure,
/// returns the error of each attempt. Runs inside the receive thread's
/// runtime, where surge-ping spawns its receive task.
fn open(kind: ICMP) -> Result<Family, (io::Error, io::Error)> {
    // surge-ping tries the hinted type (by default DGRAM), then the other
    // one. (It uses socket2 0.6 and this crate 0.5: types are compared as
    // the C values.)
    let config = Config::builder().kind(kind).build();
    match Client::new(&config) {
        Ok(client) => Ok(family(client, kind)),
        Err(e) => {
            // Redo both attempts to tell the two failures apart.
            match open_socket(kind) {
                Err(both) => Err(both),
                Ok(_) => {
                    let copy = || io::Error::new(e.kind(), e.to_string());
                    Err((copy(), copy()))
                }
            }
        }
    }
}

/// Opens the family's socket for a check source (`source_address`,
/// `source_interface`), unprivileged first, then raw: bound to the
/// address, and to the interface with `SO_BINDTODEVICE`. Both work on
/// unprivileged ICMP sockets as on raw ones. Runs inside the receive
/// thread's runtime (enter its handle), where surge-ping spawns its
/// receive task.
pub(crate) fn open_sourced(kind: ICMP, source: &crate::probe::source::Source) -> Result<Family, String> {
    // The hint is surge-ping's default: DGRAM (unprivileged) first.
    let config = {
        let mut b = Config::builder().kind(kind);
        if let Some(a) = source.address {
            b = b.bind(std::net::SocketAddr::new(a, 0));
        }
        if let Some(i) = &source.interface {
            b = b.interface(i);
        }
        b.build()
    };
    match Client::new(&config) {
        Ok(client) => Ok(family(client, kind)),
        Err(e) => Err(format!("cannot open an ICMP socket for the {source}: {e}")),
    }
}

/// An opened client as a family: its socket kind read back, its socket
/// tuned.
fn family(client: Client, kind: ICMP) -> Family {
    let mode = if i32::from(client.get_socket().get_type()) == i32::from(Type::DGRAM) {
        SocketMode::Unprivileged
    } else {
        SocketMode::Raw
    };
    tune(&client, kind, mode);
    Family { client, mode }
}

/// Opens a plain ICMP socket of the family, the way the shared clients are
/// opened: an unprivileged ("ping") socket first, a raw one second. On
/// failure, returns the error of each attempt (unprivileged, raw). The
/// path tracer (`crate::diagnose`) opens its own sockets with this.
pub(crate) fn open_socket(kind: ICMP) -> Result<(Socket, SocketMode), (io::Error, io::Error)> {
    let (domain, proto) = match kind {
        ICMP::V4 => (Domain::IPV4, Protocol::ICMPV4),
        ICMP::V6 => (Domain::IPV6, Protocol::ICMPV6),
    };
    let dgram = match Socket::new(domain, Type::DGRAM, Some(proto)) {
        Ok(s) => return Ok((s, SocketMode::Unprivileged)),
        Err(e) => e,
    };
    match Socket::new(domain, Type::from(SOCK_RAW), Some(proto)) {
        Ok(s) => Ok((s, SocketMode::Raw)),
        Err(raw) => Err((dgram, raw)),
    }
}

/// Lets the socket send to broadcast addresses (`SO_BROADCAST`); see
/// [`super::IcmpProbe::with_broadcast`].
pub(crate) fn allow_broadcast(client: &Client) -> io::Result<()> {
    let fd = client.get_socket().get_native_sock();
    // SAFETY: as in `tune`.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    SockRef::from(&borrowed).set_broadcast(true)
}

fn tune(client: &Client, kind: ICMP, mode: SocketMode) {
    let fd = client.get_socket().get_native_sock();
    // SAFETY: `fd` is the client's socket, open for as long as `client`,
    // which outlives this borrow.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    // Best effort: a smaller buffer only means drops under bursts.
    let _ = SockRef::from(&borrowed).set_recv_buffer_size(RECV_BUFFER);
    if mode == SocketMode::Raw {
        // Best effort too: without it, more packets to read and discard.
        let _ = set_icmp_filter(fd, kind);
    }
}

/// A raw ICMP socket gets a copy of every ICMP packet reaching the host:
/// pings of this host, other programs' replies, and on loopback each of our
/// own echo requests, which would double the receive work. Only echo
/// replies and the errors that quote a request (destination unreachable,
/// time exceeded) are let through. (An unprivileged socket only ever gets
/// replies to its own requests.)
pub(crate) fn set_icmp_filter(fd: RawFd, kind: ICMP) -> io::Result<()> {
    // linux/icmp.h and linux/icmpv6.h: a set bit blocks that ICMP type.
    const ICMP_FILTER: libc::c_int = 1;
    const ICMPV6_FILTER: libc::c_int = 1;
    let (level, name, blocked): (libc::c_int, libc::c_int, [u32; 8]) = match kind {
        ICMP::V4 => {
            // echo reply 0, destination unreachable 3, time exceeded 11
            let pass = 1 << 0 | 1 << 3 | 1 << 11;
            (libc::SOL_RAW, ICMP_FILTER, [!pass, 0, 0, 0, 0, 0, 0, 0])
        }
        ICMP::V6 => {
            // destination unreachable 1, time exceeded 3; echo reply 129
            let mut blocked = [u32::MAX; 8];
            blocked[0] = !(1 << 1 | 1 << 3);
            blocked[129 / 32] = !(1 << (129 % 32));
            (libc::IPPROTO_ICMPV6, ICMPV6_FILTER, blocked)
        }
    };
    // The IPv4 filter is one 32-bit word, the IPv6 one eight.
    let len = if kind == ICMP::V4 { 4 } else { 32 };
    // SAFETY: `blocked` outlives the call and holds at least `len` bytes.
    let rc = unsafe { libc::setsockopt(fd, level, name, blocked.as_ptr().cast(), len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Why the ICMP probe cannot run at all.
#[derive(Debug)]
pub struct IcmpSetupError {
    kind: SetupErrorKind,
}

#[derive(Debug)]
enum SetupErrorKind {
    Thread(io::Error),
    Broadcast(io::Error),
    Open {
        /// "IPv4" or "IPv6".
        family: &'static str,
        /// What cannot be done without the socket.
        consequence: &'static str,
        unprivileged: io::Error,
        raw: io::Error,
        group: Option<u32>,
        range: Option<String>,
        exe: Option<PathBuf>,
    },
}

impl IcmpSetupError {
    pub(crate) fn thread(e: io::Error) -> Self {
        IcmpSetupError {
            kind: SetupErrorKind::Thread(e),
        }
    }

    pub(crate) fn broadcast(e: io::Error) -> Self {
        IcmpSetupError {
            kind: SetupErrorKind::Broadcast(e),
        }
    }

    pub(crate) fn ipv4(unprivileged: io::Error, raw: io::Error) -> Self {
        Self::open("IPv4", "so no ICMP check can run", unprivileged, raw)
    }

    /// Neither an unprivileged nor a raw socket of `family` ("IPv4" or
    /// "IPv6") could be opened, so `consequence` ("so no ICMP check can
    /// run").
    pub(crate) fn open(
        family: &'static str,
        consequence: &'static str,
        unprivileged: io::Error,
        raw: io::Error,
    ) -> Self {
        IcmpSetupError {
            kind: SetupErrorKind::Open {
                family,
                consequence,
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
            SetupErrorKind::Thread(_) | SetupErrorKind::Broadcast(_) => false,
            SetupErrorKind::Open {
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
        let (family, consequence, unprivileged, raw, group, range, exe) = match &self.kind {
            SetupErrorKind::Thread(e) => {
                return write!(f, "cannot start the ICMP receive thread: {e}");
            }
            SetupErrorKind::Broadcast(e) => {
                return write!(
                    f,
                    "cannot allow IPv4 ICMP to broadcast addresses (SO_BROADCAST): {e}"
                );
            }
            SetupErrorKind::Open {
                family,
                consequence,
                unprivileged,
                raw,
                group,
                range,
                exe,
            } => (family, consequence, unprivileged, raw, group, range, exe),
        };
        if !self.is_permission() {
            return write!(
                f,
                "cannot open an {family} ICMP socket: unprivileged ICMP socket: {unprivileged}; \
                 raw socket: {raw}"
            );
        }
        write!(f, "cannot open an {family} ICMP socket, {consequence}: ")?;
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
    fn a_broadcast_failure_is_not_an_open_failure() {
        let e = IcmpSetupError::broadcast(io::Error::from_raw_os_error(1));
        let msg = e.to_string();
        assert!(msg.contains("SO_BROADCAST"), "{msg}");
        assert!(!msg.contains("cannot open"), "{msg}");
        assert!(!e.is_permission());
    }

    #[test]
    fn a_thread_failure_is_said_plainly() {
        let e = IcmpSetupError::thread(io::Error::from_raw_os_error(11));
        assert!(e.to_string().contains("receive thread"), "{e}");
        assert!(!e.is_permission());
    }
}
