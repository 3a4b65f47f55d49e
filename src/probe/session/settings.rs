//! What the SSH and Telnet checks' settings share: a device's login (from
//! its entry or profile), and the probe spec both build from it.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// A device's credentials and platform: set on the device or its profile,
/// not in a check's block, and used by the login checks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Login {
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// The `enable` password (scrapli's `auth_secondary`).
    pub secondary: Option<Secret>,
    pub private_key: Option<PathBuf>,
    pub private_key_passphrase: Option<Secret>,
    /// Platform name (scrapli's: cisco_iosxe, arista_eos, juniper_junos, …).
    pub platform: Option<String>,
}

/// The settings of the dialogue after login, common to both checks.
pub struct Dialogue<'a> {
    pub port: u16,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub enable: Option<bool>,
    pub command: &'a Option<String>,
    pub expect: &'a Option<String>,
}

/// The [`Dialogue`] of a login check's settings (`$s`: any settings block
/// with the dialogue's fields, as both login checks' blocks have).
macro_rules! dialogue_of {
    ($s:expr) => {
        $crate::probe::session::settings::Dialogue {
            port: $s.port,
            connect_timeout: $s.connect_timeout,
            read_timeout: $s.read_timeout,
            enable: $s.enable,
            command: &$s.command,
            expect: &$s.expect,
        }
    };
}
pub(crate) use dialogue_of;

/// The spec of a login check named `check`; SSH adds its keys, host key
/// policy and algorithms.
pub fn session_spec(check: &str, login: &Login, d: Dialogue<'_>) -> Result<SessionSpec, String> {
    if d.expect.is_some() && d.command.is_none() {
        return Err(format!(
            "{check}.expect is set but {check}.command is not (expect matches the command's output)"
        ));
    }
    Ok(SessionSpec {
        port: d.port,
        username: login.username.clone(),
        password: login.password.clone(),
        secondary: login.secondary.clone(),
        private_key: None,
        private_key_passphrase: None,
        host_key: HostKeyPolicy::Off,
        known_hosts: None,
        platform: login.platform.clone(),
        connect_timeout: d.connect_timeout,
        read_timeout: d.read_timeout,
        enable: d.enable.unwrap_or(login.secondary.is_some()),
        command: d.command.clone(),
        expect: d.expect.clone(),
        algorithms: Algorithms::default(),
    })
}

/// How to log in over SSH or Telnet.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionSpec {
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// The `enable` password (scrapli's `auth_secondary`).
    pub secondary: Option<Secret>,
    pub private_key: Option<std::path::PathBuf>,
    pub private_key_passphrase: Option<Secret>,
    pub host_key: HostKeyPolicy,
    pub known_hosts: Option<std::path::PathBuf>,
    /// Platform name (scrapli's: cisco_iosxe, arista_eos, juniper_junos, …).
    pub platform: Option<String>,
    /// Connect (TCP) timeout, scrapli's `timeout_socket`.
    pub connect_timeout: Duration,
    /// Timeout of each wait for the device, scrapli's `timeout_transport`.
    pub read_timeout: Duration,
    /// Whether to go to privileged mode with `enable`.
    pub enable: bool,
    /// A command to run after login, and a regex its output must match.
    pub command: Option<String>,
    pub expect: Option<String>,
    /// OpenSSH-style algorithm list edits (`+aes128-cbc,-chacha20-poly1305@openssh.com`).
    pub algorithms: Algorithms,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Algorithms {
    pub kex: Option<String>,
    pub ciphers: Option<String>,
    pub macs: Option<String>,
    pub host_key: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyPolicy {
    /// Only keys in the known_hosts file are accepted.
    Strict,
    /// Trust on first use: record an unknown key, refuse a changed one.
    #[default]
    AcceptNew,
    /// Any key.
    Off,
}
