//! systemd integration (`Type=notify`): READY once the configuration is
//! loaded and the listener bound, RELOADING/READY around reloads, STOPPING,
//! STATUS lines, and the watchdog.
//!
//! The watchdog is petted only while every scheduler's loop is going round
//! (see [`Heartbeat`]): a stuck scheduler, or a stuck consumer blocking it,
//! stops the petting and systemd restarts the service. Outside systemd
//! (no `NOTIFY_SOCKET`) all of this does nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sd_notify::NotifyState;

use crate::engine::scheduler::{BEAT, Heartbeat};

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn reloading() {
    let mut states = vec![NotifyState::Reloading];
    if let Ok(now) = NotifyState::monotonic_usec_now() {
        states.push(now);
    }
    send(&states);
}

pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// The schedulers whose heartbeats the watchdog watches.
pub type Heartbeats = Arc<Mutex<Vec<(String, Arc<Heartbeat>)>>>;

/// How stale a heartbeat may be before the watchdog stops being petted.
pub fn stale_after(watchdog: Duration) -> Duration {
    (watchdog / 2).max(BEAT * 3)
}

/// The name of a scheduler whose heartbeat is older than `limit`, if any.
pub fn stuck(beats: &Heartbeats, limit: Duration) -> Option<String> {
    beats
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(_, h)| h.age() > limit)
        .map(|(name, _)| name.clone())
}

/// Pets the watchdog every half period while the schedulers are alive, if
/// systemd asked for a watchdog (`WatchdogSec=`, seen as `WATCHDOG_USEC`).
pub fn spawn_watchdog(beats: Heartbeats) -> Option<tokio::task::JoinHandle<()>> {
    let period = sd_notify::watchdog_enabled()?;
    let limit = stale_after(period);
    tracing::info!(
        period_ms = period.as_millis() as u64,
        "systemd watchdog enabled"
    );
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval((period / 2).max(Duration::from_millis(50)));
        let mut complained = false;
        loop {
            tick.tick().await;
            match stuck(&beats, limit) {
                None => {
                    complained = false;
                    send(&[NotifyState::Watchdog]);
                }
                Some(name) if !complained => {
                    complained = true;
                    tracing::error!(
                        scheduler = %name,
                        "the {name} scheduler has not moved for {}s: no longer petting the watchdog",
                        limit.as_secs()
                    );
                }
                Some(_) => {}
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_watchdogs_still_allow_an_idle_beat() {
        assert_eq!(stale_after(Duration::from_secs(1)), BEAT * 3);
        assert_eq!(
            stale_after(Duration::from_secs(60)),
            Duration::from_secs(30)
        );
    }
}
