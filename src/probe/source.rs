//! Where a check's packets leave from: `source_address` (bind before
//! connect / send) and `source_interface` (`SO_BINDTODEVICE`, which is also
//! how Linux puts a socket in a VRF: name the VRF's master device). Every
//! check has both settings (see [`crate::settings!`]); the default source
//! is the routing table's choice, as before.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Deserializer};
use socket2::{Domain, Socket, Type};

use crate::settings::{Field, str_then};

/// A check's source: unset fields are the kernel's choice.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    pub address: Option<IpAddr>,
    pub interface: Option<String>,
}

impl Source {
    /// Whether nothing is set (the routing table chooses, as before).
    pub fn is_default(&self) -> bool {
        self.address.is_none() && self.interface.is_none()
    }

    /// Whether the source can send to `dest`'s family (an address of the
    /// other family cannot).
    pub fn fits(&self, dest: IpAddr) -> bool {
        self.address.is_none_or(|a| a.is_ipv4() == dest.is_ipv4())
    }

    /// `Err` when the source address and the literal address `host` are
    /// of different families. `check`: the check's name, for the message.
    pub fn check_family(&self, check: &str, host: &str) -> Result<(), String> {
        let (Some(src), Ok(dest)) = (
            self.address,
            host.trim_matches(['[', ']']).parse::<IpAddr>(),
        ) else {
            return Ok(());
        };
        if self.fits(dest) {
            return Ok(());
        }
        Err(format!(
            "{check}.source_address {src} is {} but the device's address {dest} is {}",
            family_name(src),
            family_name(dest)
        ))
    }

    /// Whether this host can use the source: the address is one of its
    /// own (a bind test), the interface exists, and binding to it is
    /// allowed. The message says what is wrong, without the device.
    pub fn check_host(&self) -> Result<(), String> {
        if let Some(name) = &self.interface {
            if interface_index(name).is_none() {
                return Err(format!(
                    "source_interface {name} does not exist on this host"
                ));
            }
        }
        let domain = match self.address {
            Some(IpAddr::V6(_)) => Domain::IPV6,
            _ => Domain::IPV4,
        };
        let socket = Socket::new(domain, Type::DGRAM, None)
            .map_err(|e| format!("cannot open a socket to test the source: {e}"))?;
        if let Some(name) = &self.interface {
            bind_device(&socket, name).map_err(|e| {
                if e.kind() == io::ErrorKind::PermissionDenied {
                    format!(
                        "source_interface {name}: binding a socket to an interface \
                         (SO_BINDTODEVICE) is not allowed for reachd ({e}); give it CAP_NET_RAW"
                    )
                } else {
                    format!("source_interface {name}: cannot bind a socket to it: {e}")
                }
            })?;
        }
        if let Some(addr) = self.address {
            socket.bind(&SocketAddr::new(addr, 0).into()).map_err(|e| {
                if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) {
                    format!("source_address {addr} is not an address of this host")
                } else {
                    format!("source_address {addr}: cannot bind to it: {e}")
                }
            })?;
        }
        Ok(())
    }

    /// At run time: "source interface mgmt0 is gone" when the interface
    /// no longer exists, to explain a failure.
    pub fn gone(&self) -> Option<String> {
        let name = self.interface.as_ref()?;
        interface_index(name)
            .is_none()
            .then(|| format!("source interface {name} is gone"))
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.address, &self.interface) {
            (None, None) => f.write_str("the default source"),
            (Some(a), None) => write!(f, "source address {a}"),
            (None, Some(i)) => write!(f, "source interface {i}"),
            (Some(a), Some(i)) => write!(f, "source address {a} on interface {i}"),
        }
    }
}

fn family_name(a: IpAddr) -> &'static str {
    if a.is_ipv4() { "IPv4" } else { "IPv6" }
}

/// `SO_BINDTODEVICE` (socket2 0.5 has it only with its `all` feature).
fn bind_device(socket: &Socket, name: &str) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the name's bytes outlive the call, and the length says how
    // many the kernel may read.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The interface's index, `None` if there is no such interface.
pub fn interface_index(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the call's duration.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// `source_address`: an IP address, written literally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceAddress(pub IpAddr);

impl<'de> Deserialize<'de> for SourceAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "an IP address", |s| {
            let a: IpAddr = s.trim().parse().map_err(|_| {
                format!("`{s}` is not an IP address (source_address is this host's address to send from)")
            })?;
            if a.is_unspecified() || a.is_multicast() {
                return Err(format!(
                    "`{s}` cannot be a source address (it must be a unicast address of this host)"
                ));
            }
            Ok(SourceAddress(a))
        })
    }
}

impl Field<IpAddr> for SourceAddress {
    fn value(self) -> IpAddr {
        self.0
    }
}

/// `source_interface`: a Linux interface name (at most 15 bytes, no `/`
/// or whitespace), or a VRF master device's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceName(pub String);

impl<'de> Deserialize<'de> for InterfaceName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "an interface name", |s| {
            check_interface_name(s)?;
            Ok(InterfaceName(s.to_owned()))
        })
    }
}

impl Field<String> for InterfaceName {
    fn value(self) -> String {
        self.0
    }
}

fn check_interface_name(s: &str) -> Result<(), String> {
    let bad = s.is_empty()
        || s.len() > 15
        || s == "."
        || s == ".."
        || s.bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b.is_ascii_control());
    if bad {
        return Err(format!(
            "`{s}` is not an interface name (1 to 15 characters, no `/`, `:` or spaces, e.g. mgmt0 or vrf-mgmt)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names() {
        for ok in ["mgmt0", "vrf-mgmt", "eth0.100", "a"] {
            assert_eq!(check_interface_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "a/b", "a b", "sixteen-chars-xx", "..", "eth0:1"] {
            assert!(check_interface_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn family_mismatch_is_named() {
        let s = Source {
            address: Some("198.18.5.1".parse().unwrap()),
            interface: None,
        };
        assert_eq!(s.check_family("icmp", "198.18.0.2"), Ok(()));
        assert_eq!(s.check_family("icmp", "router.example"), Ok(()));
        assert_eq!(
            s.check_family("icmp", "2001:2::1").unwrap_err(),
            "icmp.source_address 198.18.5.1 is IPv4 but the device's address 2001:2::1 is IPv6"
        );
    }

    #[test]
    fn host_checks() {
        let lo = Source {
            address: Some("127.0.0.1".parse().unwrap()),
            interface: Some("lo".into()),
        };
        // Binding to a device may need a privilege the test lacks.
        if let Err(e) = lo.check_host() {
            assert!(e.contains("SO_BINDTODEVICE"), "{e}");
        }
        let missing = Source {
            address: None,
            interface: Some("nosuchif0".into()),
        };
        assert_eq!(
            missing.check_host().unwrap_err(),
            "source_interface nosuchif0 does not exist on this host"
        );
        assert_eq!(
            missing.gone().as_deref(),
            Some("source interface nosuchif0 is gone")
        );
        let foreign = Source {
            address: Some("198.18.254.254".parse().unwrap()),
            interface: None,
        };
        assert_eq!(
            foreign.check_host().unwrap_err(),
            "source_address 198.18.254.254 is not an address of this host"
        );
        assert!(Source::default().check_host().is_ok());
    }
}
