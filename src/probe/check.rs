//! A check, as the configuration sees it: its settings and how they
//! become a probe's spec. Each check implements [`Check`] in its own
//! folder (`probe/<name>/settings.rs`); the list in `probe/mod.rs` names
//! them all.

use crate::probe::session::settings::Login;
use crate::settings::Layer;
use crate::target::CheckSpec;

/// A check, as the configuration sees it: its settings and how they become
/// a probe's spec.
pub trait Check {
    /// One level of the check's settings cascade (made by
    /// [`crate::settings!`]).
    type Layer: Layer;

    /// Whether the resolved settings make sense on their own; checked for
    /// `defaults:` and for every device.
    fn validate(settings: &<Self::Layer as Layer>::Settings) -> Result<(), String>;

    /// The spec a probe runs with: the settings and the device's login.
    fn spec(
        settings: &<Self::Layer as Layer>::Settings,
        login: &Login,
    ) -> Result<CheckSpec, String>;
}
