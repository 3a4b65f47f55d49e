//! Path diagnosis: when a target stops answering, where does the path to
//! it end? A target that goes from up (or unknown) to down with `no_reply`,
//! `unreachable`, or a `timeout` while connecting has the path to its
//! address traced once ([`crate::diagnose::Tracer`]), and the path is kept
//! with its state until it is up again: `path` in `/api/v1/status`, "path
//! ends after …" in its detail, `reachd_path_hops_answered`.
//!
//! Bounded three ways: a device is traced at most once per interval of the
//! target that asked; the tracer's global budget (5 traces a second, bursts
//! of 10) and slots (8 at once) hold a mass outage to a trickle; and a
//! device with `path_trace: false` is never traced.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info};

use crate::diagnose::{Path, TraceError, Tracer};
use crate::result::CheckResult;
use crate::sink::Sinks;
use crate::sink::state::Transition;
use crate::target::TargetKey;
use crate::verdict::{Phase, Reason};

/// A finished trace on its way back to the sinks.
pub type Traced = (TargetKey, Result<Path, TraceError>);

pub struct Diagnoser {
    tracer: Tracer,
    /// When each device was last traced.
    last: HashMap<Arc<str>, Instant>,
    done: mpsc::UnboundedSender<Traced>,
}

/// Whether a verdict says the device (or the path to it) stopped
/// answering, which a trace can locate; not a refusal, a bad password or
/// a slow prompt, which prove the path works.
pub fn says_silent(reason: Reason, phase: Phase) -> bool {
    matches!(reason, Reason::NoReply | Reason::Unreachable)
        || (reason == Reason::Timeout && phase == Phase::Connect)
}

impl Diagnoser {
    /// A diagnoser whose finished traces arrive on the returned receiver.
    pub fn new(tracer: Tracer) -> (Diagnoser, mpsc::UnboundedReceiver<Traced>) {
        let (done, rx) = mpsc::unbounded_channel();
        let d = Diagnoser {
            tracer,
            last: HashMap::new(),
            done,
        };
        (d, rx)
    }

    /// Starts a trace if `r` took its target down in a way a trace can
    /// locate, and its device may be traced now.
    pub fn on_result(&mut self, r: &CheckResult, tr: &Transition, allowed: bool) {
        let v = &r.verdict;
        if v.up || !tr.flipped || !allowed || !says_silent(v.reason, v.phase) {
            return;
        }
        let t = &r.target;
        let now = Instant::now();
        if let Some(at) = self.last.get(&t.device) {
            if now.duration_since(*at) < t.interval {
                return;
            }
        }
        self.last.insert(t.device.clone(), now);
        if self.last.len() > 4096 {
            let oldest = now.checked_sub(std::time::Duration::from_secs(3600));
            self.last.retain(|_, at| oldest.is_none_or(|o| *at > o));
        }
        let (tracer, done, key, host) = (
            self.tracer.clone(),
            self.done.clone(),
            t.key(),
            t.host.clone(),
        );
        tokio::spawn(async move {
            let Some(addr) = address(&host).await else {
                debug!(device = %key.device, host, "no address to trace");
                return;
            };
            let _ = done.send((key, tracer.trace(addr).await));
        });
    }

    /// Keeps a finished trace with its target's state, and logs it.
    pub fn finished(sinks: &Sinks, (key, result): Traced) {
        match result {
            Ok(path) => {
                let summary = path.summary();
                let hops = path.answered();
                if sinks.state.set_path(&key, Arc::new(path)) {
                    info!(device = %key.device, protocol = %key.protocol, hops_answered = hops, "{summary}");
                }
            }
            Err(e) => {
                debug!(device = %key.device, protocol = %key.protocol, error = %e, "no path trace")
            }
        }
    }
}

/// The address a target's host names: itself when literal, else what it
/// resolves to now (the check that failed resolved it a moment ago).
async fn address(host: &str) -> Option<IpAddr> {
    if let Ok(a) = host.parse::<IpAddr>() {
        return Some(a);
    }
    let mut addrs = tokio::net::lookup_host((host, 0)).await.ok()?;
    addrs.next().map(|a| a.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_silence_is_traced() {
        assert!(says_silent(Reason::NoReply, Phase::Connect));
        assert!(says_silent(Reason::Unreachable, Phase::Connect));
        assert!(
            says_silent(Reason::Timeout, Phase::Connect),
            "a connect timeout"
        );
        // The path works: the device answered something.
        assert!(!says_silent(Reason::Timeout, Phase::Prompt));
        assert!(!says_silent(Reason::Refused, Phase::Connect));
        assert!(!says_silent(Reason::AuthFailed, Phase::Auth));
        assert!(!says_silent(Reason::Dns, Phase::Resolve));
        assert!(!says_silent(Reason::Ok, Phase::Connect));
    }
}
