//! The Telnet check in the list of checks: its settings and the device's
//! login resolved into a spec, and its probe started.

use std::sync::Arc;

use super::TelnetProbe;
use super::settings::{TelnetLayer, TelnetSettings};
use crate::probe::check::{BoxProbe, Check, ProbeEnv};
use crate::probe::session::settings::{Login, SessionSpec, dialogue_of, session_spec};
use crate::settings::check_timing;
/// The Telnet login check.
pub struct Telnet;

impl Check for Telnet {
    type Layer = TelnetLayer;
    type Spec = SessionSpec;

    fn validate(s: &TelnetSettings) -> Result<(), String> {
        check_timing("telnet", s)
    }

    fn spec(s: &TelnetSettings, login: &Login) -> Result<SessionSpec, String> {
        if login.password.is_none() {
            return Err(
                "the telnet check needs a password (set `password` on the device or its profile)"
                    .to_owned(),
            );
        }
        session_spec("telnet", login, dialogue_of!(s))
    }

    fn probe(_: &ProbeEnv) -> Result<BoxProbe, String> {
        Ok(Arc::new(TelnetProbe::new()))
    }
}
