//! What the SSH and Telnet checks' settings share: a device's login (from
//! its entry or profile), and the probe spec both build from it.

use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Secret;
use crate::target::{Algorithms, HostKeyPolicy, SessionSpec};

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
