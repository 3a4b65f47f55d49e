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
use crate::sink::state::{TargetState, Transition};
use crate::target::TargetKey;
use crate::verdict::{Phase, Reason};

/// A finished trace on its way back to the sinks: the target that asked,
/// the host traced, and the path.
pub type Traced = (TargetKey, String, Result<Path, TraceError>);

/// A device and the host one of its checks reaches it at.
type Traceable = (Arc<str>, String);

pub struct Diagnoser {
    tracer: Tracer,
    /// When each device's host was last traced, and the path found (once
    /// the trace has ended with one).
    last: HashMap<Traceable, (Instant, Option<Arc<Path>>)>,
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
    /// locate, and its device may be traced now. Within the interval of an
    /// earlier trace of the same device and host, returns that trace's path
    /// instead (another check of the device going down in the same outage).
    pub fn on_result(
        &mut self,
        r: &CheckResult,
        tr: &Transition,
        allowed: bool,
    ) -> Option<Arc<Path>> {
        let v = &r.verdict;
        if v.up || !tr.flipped || !allowed || !says_silent(v.reason, v.phase) {
            return None;
        }
        let t = &r.target;
        let now = Instant::now();
        let traced = (t.device.clone(), t.host.clone());
        if let Some((at, path)) = self.last.get(&traced) {
            if now.duration_since(*at) < t.interval {
                return path.clone();
            }
        }
        self.last.insert(traced, (now, None));
        if self.last.len() > 4096 {
            let oldest = now.checked_sub(std::time::Duration::from_secs(3600));
            self.last
                .retain(|_, (at, _)| oldest.is_none_or(|o| *at > o));
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
            let _ = done.send((key, host, tracer.trace(addr).await));
        });
        None
    }

    /// Keeps a finished trace with the state of every target of the device
    /// that checks the host traced and is down for a reason a trace
    /// locates (the one that asked, and its siblings that went down in the
    /// same outage), and logs it once.
    pub fn finished(&mut self, sinks: &Sinks, keys: &[TargetKey], (key, host, result): Traced) {
        let path = match result {
            Ok(path) => Arc::new(path),
            Err(e) => {
                debug!(device = %key.device, protocol = %key.protocol, error = %e, "no path trace");
                return;
            }
        };
        if let Some((_, kept)) = self.last.get_mut(&(key.device.clone(), host.clone())) {
            *kept = Some(path.clone());
        }
        let fits = |s: &TargetState| s.target.host == host && says_silent(s.reason, s.phase);
        let mut kept = false;
        for k in keys {
            kept |= sinks.state.set_path(k, path.clone(), fits);
        }
        if kept {
            info!(device = %key.device, protocol = %key.protocol, host, hops_answered = path.answered(), "{}", path.summary());
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
    use crate::diagnose::TraceOptions;
    use crate::sink::state::tests::result_at;
    use crate::target::Protocol;
    use std::time::{Duration, SystemTime};

    fn down(protocol: Protocol, reason: Reason) -> CheckResult {
        result_at("r1", protocol, reason, SystemTime::now())
    }

    /// Loopback only: the one trace goes to 127.0.0.1.
    #[tokio::test]
    async fn one_trace_per_device_and_host_serves_its_checks_that_go_down() {
        let sinks = Sinks::new();
        let (mut d, mut rx) = Diagnoser::new(Tracer::new(TraceOptions::default()));
        let icmp = down(Protocol::Icmp, Reason::NoReply);
        let tr = sinks.checked(&icmp);
        assert_eq!(d.on_result(&icmp, &tr, false), None, "path_trace: false");
        assert_eq!(d.on_result(&icmp, &tr, true), None, "traced, not known yet");
        let traced = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("the trace ends within its timeout")
            .expect("a trace");
        let keys = [icmp.target.key()];
        d.finished(&sinks, &keys, traced);
        let row = sinks.snapshot().remove(0);
        assert_eq!(row.path.as_deref().map(|p| p.reached), Some(true));
        assert!(
            row.detail.ends_with("; path reaches the device in 1 hop"),
            "{}",
            row.detail
        );
        // Another check of the device going down within the interval gets
        // the same path, and nothing is traced again.
        let ssh = down(Protocol::Ssh, Reason::Timeout);
        let tr = sinks.checked(&ssh);
        assert!(d.on_result(&ssh, &tr, true).is_some());
        assert!(rx.try_recv().is_err());
        // A refusal proves the path: nothing to trace or to show.
        let telnet = down(Protocol::Telnet, Reason::Refused);
        let tr = sinks.checked(&telnet);
        assert_eq!(d.on_result(&telnet, &tr, true), None);
    }

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
