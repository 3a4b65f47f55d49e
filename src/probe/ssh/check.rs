//! The SSH check in the list of checks: its settings and the device's
//! login resolved into a spec, and its probe started.

use std::sync::Arc;

use super::SshProbe;
use super::settings::{SshLayer, SshSettings};
use crate::probe::check::{BoxProbe, Check, ProbeEnv};
use crate::probe::session::settings::{Algorithms, Login, SessionSpec, dialogue_of, session_spec};
use crate::settings::check_timing;
/// The SSH login check.
pub struct Ssh;

impl Check for Ssh {
    type Layer = SshLayer;
    type Spec = SessionSpec;

    fn validate(s: &SshSettings) -> Result<(), String> {
        check_timing("ssh", s)
    }

    fn spec(s: &SshSettings, login: &Login) -> Result<SessionSpec, String> {
        if login.username.is_none() {
            return Err(
                "the ssh check needs a username (set `username` on the device or its profile)"
                    .to_owned(),
            );
        }
        if login.password.is_none() && login.private_key.is_none() {
            return Err(
                "the ssh check needs a password or a private_key (on the device or its profile)"
                    .to_owned(),
            );
        }
        let mut spec = session_spec("ssh", login, dialogue_of!(s))?;
        spec.private_key = login.private_key.clone();
        spec.private_key_passphrase = login.private_key_passphrase.clone();
        spec.host_key = s.host_key;
        spec.known_hosts = s.known_hosts.clone();
        spec.algorithms = Algorithms {
            kex: s.kex.clone(),
            ciphers: s.ciphers.clone(),
            macs: s.macs.clone(),
            host_key: s.host_key_algorithms.clone(),
        };
        Ok(spec)
    }

    fn probe(env: &ProbeEnv) -> Result<BoxProbe, String> {
        let ssh = SshProbe::new(env.state_dir);
        match ssh.tofu_file() {
            Some(f) => {
                tracing::info!(known_hosts = %f.display(), "SSH accept-new host keys are recorded here")
            }
            None => tracing::info!("no state_dir: SSH accept-new host keys are kept in memory only"),
        }
        Ok(Arc::new(ssh))
    }
}
