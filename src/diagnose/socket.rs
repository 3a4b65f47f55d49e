//! One trace's ICMP socket: opened as the ICMP probe opens its own
//! (unprivileged first, raw second), sends with a TTL per packet, and reads
//! replies and (unprivileged) the error queue without blocking.
//!
//! Blocking waits are `poll(2)` with a timeout: the tracer runs on a
//! blocking thread (see [`super::trace`]), so no read here ever waits
//! longer than it is told to.

use std::io;
use std::mem::{MaybeUninit, size_of, zeroed};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use socket2::{SockAddr, Socket};
use surge_ping::ICMP;

use crate::probe::icmp::IcmpSetupError;
use crate::probe::icmp::setup::{self, SocketMode};

/// Requested receive buffer of a trace's socket.
const RECV_BUFFER: usize = 1 << 20;

/// What one read returned.
pub(crate) struct Received {
    pub len: usize,
    /// Who sent it (for the error queue: the original destination).
    pub from: Option<IpAddr>,
    /// The `IP_RECVERR`/`IPV6_RECVERR` control message, if any.
    pub ext: Option<Vec<u8>>,
}

pub(crate) struct TraceSocket {
    sock: Socket,
    pub mode: SocketMode,
    pub v6: bool,
}

impl TraceSocket {
    /// Opens a non-blocking ICMP socket for `v6` or IPv4. A raw socket
    /// filters out every ICMP type but the echo reply, time exceeded and
    /// destination unreachable; an unprivileged one has its ICMP errors
    /// queued (`IP_RECVERR`/`IPV6_RECVERR`), without which the kernel
    /// would not pass them on.
    pub(crate) fn open(v6: bool) -> Result<TraceSocket, OpenError> {
        let kind = if v6 { ICMP::V6 } else { ICMP::V4 };
        let family = if v6 { "IPv6" } else { "IPv4" };
        let (sock, mode) = setup::open_socket(kind).map_err(|(d, r)| {
            OpenError::Setup(IcmpSetupError::open(
                family,
                "so no path can be traced",
                d,
                r,
            ))
        })?;
        sock.set_nonblocking(true).map_err(OpenError::Io)?;
        // Best effort (the kernel caps it at net.core.rmem_max): a raw
        // socket gets every trace's answers, a round's come at once.
        let _ = sock.set_recv_buffer_size(RECV_BUFFER);
        let fd = sock.as_raw_fd();
        match mode {
            SocketMode::Raw => setup::set_icmp_filter(fd, kind).map_err(OpenError::Io)?,
            SocketMode::Unprivileged => {
                let (level, name) = if v6 {
                    (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
                } else {
                    (libc::IPPROTO_IP, libc::IP_RECVERR)
                };
                set_int(fd, level, name, 1).map_err(OpenError::Io)?;
            }
        }
        Ok(TraceSocket { sock, mode, v6 })
    }

    /// Sends `packet` to `dest` with this TTL (IPv6: hop limit), given as a
    /// control message so that one socket sends every TTL at once.
    pub(crate) fn send(&self, dest: IpAddr, ttl: u8, packet: &[u8]) -> io::Result<()> {
        let addr = SockAddr::from(SocketAddr::new(dest, 0));
        let (level, kind) = if self.v6 {
            (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT)
        } else {
            (libc::IPPROTO_IP, libc::IP_TTL)
        };
        let value = libc::c_int::from(ttl);
        // u64s, for the alignment a cmsghdr needs.
        let mut control = [0u64; 4];
        let mut iov = libc::iovec {
            iov_base: packet.as_ptr() as *mut libc::c_void,
            iov_len: packet.len(),
        };
        // SAFETY: every pointer in `msg` points into a local that outlives
        // the call; the control buffer (32 bytes) holds CMSG_SPACE(4) = 24.
        let rc = unsafe {
            let space = libc::CMSG_SPACE(size_of::<libc::c_int>() as u32) as usize;
            let mut msg: libc::msghdr = zeroed();
            msg.msg_name = addr.as_ptr() as *mut libc::c_void;
            msg.msg_namelen = addr.len();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = space;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = level;
            (*cmsg).cmsg_type = kind;
            (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<libc::c_int>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), value);
            libc::sendmsg(self.sock.as_raw_fd(), &msg, 0)
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Waits until something may be read (data or, with `POLLERR`, the
    /// error queue), at most `timeout`.
    pub(crate) fn wait(&self, timeout: Duration) -> io::Result<()> {
        let mut pfd = libc::pollfd {
            fd: self.sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // Round up, so that a wait of 0.4 ms is not a busy loop.
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Reads one packet, or the next error queue entry (`errqueue`);
    /// `Ok(None)` when there is none.
    pub(crate) fn recv(&self, buf: &mut [u8], errqueue: bool) -> io::Result<Option<Received>> {
        recv(self.sock.as_raw_fd(), buf, errqueue, self.v6)
    }
}

/// Why a trace's socket could not be opened.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// Neither kind of socket is allowed (the message names the fixes).
    Setup(IcmpSetupError),
    /// The socket opened but could not be set up.
    Io(io::Error),
}

fn set_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` outlives the call, and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn recv(fd: RawFd, buf: &mut [u8], errqueue: bool, v6: bool) -> io::Result<Option<Received>> {
    let mut name = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut control = [0u64; 64];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as in `TraceSocket::send`; `msghdr` is plain data.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = name.as_mut_ptr().cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 64]>();
    let flags = libc::MSG_DONTWAIT | if errqueue { libc::MSG_ERRQUEUE } else { 0 };
    // SAFETY: every pointer in `msg` points into a local or `buf`.
    let n = unsafe { libc::recvmsg(fd, &mut msg, flags) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock => Ok(None),
            _ => Err(e),
        };
    }
    let len = (n as usize).min(buf.len());
    // SAFETY: the kernel wrote `msg_namelen` bytes of a socket address.
    let from = unsafe { SockAddr::new(name.assume_init(), msg.msg_namelen) }
        .as_socket()
        .map(|a| a.ip());
    let (level, kind) = if v6 {
        (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
    } else {
        (libc::IPPROTO_IP, libc::IP_RECVERR)
    };
    let mut ext = None;
    // SAFETY: walking the control messages the kernel wrote, within
    // `msg_controllen`, with the libc macros.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == level && (*cmsg).cmsg_type == kind {
                let header = libc::CMSG_LEN(0) as usize;
                let data_len = (*cmsg).cmsg_len.saturating_sub(header);
                let data = std::slice::from_raw_parts(libc::CMSG_DATA(cmsg), data_len);
                ext = Some(data.to_vec());
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok(Some(Received { len, from, ext }))
}
