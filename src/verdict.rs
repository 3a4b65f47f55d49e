//! What a check concludes: up or down, a reason from a fixed set, the phase it
//! stopped in and how long each phase took.
//!
//! The reason and phase names are a public contract: they are metric label
//! values, log fields, alert rules and dashboard filters.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::target::CheckStats;

/// Why a check ended the way it did. `Ok` is the only "up" reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Ok,
    Dns,
    Refused,
    Unreachable,
    Timeout,
    Handshake,
    HostKeyUnknown,
    HostKeyChanged,
    AuthFailed,
    EnableFailed,
    Prompt,
    Closed,
    NoReply,
    Error,
}

impl Reason {
    pub const ALL: [Reason; 14] = [
        Reason::Ok,
        Reason::Dns,
        Reason::Refused,
        Reason::Unreachable,
        Reason::Timeout,
        Reason::Handshake,
        Reason::HostKeyUnknown,
        Reason::HostKeyChanged,
        Reason::AuthFailed,
        Reason::EnableFailed,
        Reason::Prompt,
        Reason::Closed,
        Reason::NoReply,
        Reason::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Ok => "ok",
            Reason::Dns => "dns",
            Reason::Refused => "refused",
            Reason::Unreachable => "unreachable",
            Reason::Timeout => "timeout",
            Reason::Handshake => "handshake",
            Reason::HostKeyUnknown => "host_key_unknown",
            Reason::HostKeyChanged => "host_key_changed",
            Reason::AuthFailed => "auth_failed",
            Reason::EnableFailed => "enable_failed",
            Reason::Prompt => "prompt",
            Reason::Closed => "closed",
            Reason::NoReply => "no_reply",
            Reason::Error => "error",
        }
    }

    pub fn is_up(self) -> bool {
        self == Reason::Ok
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The step of a check. ICMP uses `resolve` then `connect` (the echo exchange);
/// SSH and Telnet walk through all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Resolve,
    Connect,
    Handshake,
    Auth,
    Prompt,
    Enable,
    Command,
}

impl Phase {
    pub const ALL: [Phase; 7] = [
        Phase::Resolve,
        Phase::Connect,
        Phase::Handshake,
        Phase::Auth,
        Phase::Prompt,
        Phase::Enable,
        Phase::Command,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Resolve => "resolve",
            Phase::Connect => "connect",
            Phase::Handshake => "handshake",
            Phase::Auth => "auth",
            Phase::Prompt => "prompt",
            Phase::Enable => "enable",
            Phase::Command => "command",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a probe reports when it finishes on its own (the phase and timings
/// are tracked separately, by [`Progress`], so that a check cut off by its
/// timeout still knows where it was).
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub reason: Reason,
    /// One line for people: "connection refused", "3/3 echo requests lost",
    /// the device's last output on a prompt timeout. Never a secret.
    pub detail: String,
    /// What the check measured beyond up or down (ICMP: echo counts, RTTs).
    pub stats: Option<CheckStats>,
    /// The CLI prompt reached (`R1#`), for SSH and Telnet.
    pub prompt: Option<String>,
}

impl Outcome {
    pub fn ok(detail: impl Into<String>) -> Self {
        Self::new(Reason::Ok, detail)
    }
    pub fn fail(reason: Reason, detail: impl Into<String>) -> Self {
        Self::new(reason, detail)
    }
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Outcome {
            reason,
            detail: detail.into(),
            stats: None,
            prompt: None,
        }
    }
    pub fn with_stats(mut self, stats: impl Into<CheckStats>) -> Self {
        self.stats = Some(stats.into());
        self
    }
    pub fn with_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }
}

/// The full verdict of one check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub up: bool,
    pub reason: Reason,
    /// The phase the check was in when it ended (the last one, on success).
    pub phase: Phase,
    pub detail: String,
    #[serde(serialize_with = "ser_secs")]
    pub duration: Duration,
    /// Time spent in each phase that was entered, in order.
    #[serde(serialize_with = "ser_phases")]
    pub phases: Vec<(Phase, Duration)>,
    /// Serialized under the check's name (`"<check>": {…}`), when present.
    #[serde(flatten)]
    pub stats: Option<CheckStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

/// Tracks the phase a running check is in, and when each phase began.
///
/// A probe calls [`Progress::enter`] as it moves on; the scheduler turns the
/// progress into a [`Verdict`] when the probe returns or when its timeout
/// fires, so a check cut short still reports the phase it stalled in.
#[derive(Debug)]
pub struct Progress {
    started: Instant,
    deadline: Instant,
    state: Mutex<ProgressState>,
}

#[derive(Debug)]
struct ProgressState {
    phase: Phase,
    phase_started: Instant,
    done: Vec<(Phase, Duration)>,
    /// The last thing the device said (cleaned), for timeout verdicts.
    last_output: String,
}

impl Progress {
    /// A check starting now, in `first` phase, that must end within `timeout`.
    pub fn start(first: Phase, timeout: Duration) -> Self {
        let now = Instant::now();
        Progress {
            started: now,
            deadline: now + timeout,
            state: Mutex::new(ProgressState {
                phase: first,
                phase_started: now,
                done: Vec::with_capacity(4),
                last_output: String::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProgressState> {
        // A poisoned lock only means a probe panicked mid-update; the data is
        // still a plain record of phases, so keep using it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Move to `phase`, closing the timing of the previous one.
    pub fn enter(&self, phase: Phase) {
        let now = Instant::now();
        let mut s = self.lock();
        if s.phase == phase {
            return;
        }
        let spent = now - s.phase_started;
        let prev = s.phase;
        s.done.push((prev, spent));
        s.phase = phase;
        s.phase_started = now;
    }

    /// When the check will be cut off. Probes that can say more than
    /// "timeout" (ICMP loss, the last output) should finish a little before.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn phase(&self) -> Phase {
        self.lock().phase
    }

    /// Remember what the device last said, shown if the check times out.
    pub fn set_last_output(&self, text: &str) {
        let mut s = self.lock();
        s.last_output.clear();
        s.last_output.push_str(text);
    }

    /// The verdict for a probe that returned `outcome`.
    pub fn finish(&self, outcome: Outcome) -> Verdict {
        let now = Instant::now();
        let s = self.lock();
        let mut phases = s.done.clone();
        phases.push((s.phase, now - s.phase_started));
        Verdict {
            up: outcome.reason.is_up(),
            reason: outcome.reason,
            phase: s.phase,
            detail: outcome.detail,
            duration: now - self.started,
            phases,
            stats: outcome.stats,
            prompt: outcome.prompt,
        }
    }

    /// The verdict for a check its timeout cut off.
    pub fn timed_out(&self, timeout: Duration) -> Verdict {
        let (phase, last) = {
            let s = self.lock();
            (s.phase, s.last_output.clone())
        };
        let mut detail = format!(
            "no answer within {} in phase {phase}",
            fmt_duration(timeout)
        );
        if !last.is_empty() {
            detail.push_str("; last output: ");
            detail.push_str(&last);
        }
        self.finish(Outcome::fail(Reason::Timeout, detail))
    }
}

/// `1.5s`, `250ms`, `2m`: short and exact enough for people.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms >= 60_000 && ms % 60_000 == 0 {
        format!("{}m", ms / 60_000)
    } else if ms >= 1000 {
        let s = d.as_secs_f64();
        if ms % 1000 == 0 {
            format!("{s:.0}s")
        } else {
            format!("{}s", format!("{s:.3}").trim_end_matches('0'))
        }
    } else if ms > 0 {
        format!("{ms}ms")
    } else {
        format!("{}µs", d.as_micros())
    }
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn ser_phases<S: serde::Serializer>(v: &[(Phase, Duration)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(v.iter().map(|(p, d)| (p.as_str(), d.as_secs_f64())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn progress_times_each_phase() {
        let p = Progress::start(Phase::Resolve, Duration::from_secs(1));
        tokio::time::advance(Duration::from_millis(5)).await;
        p.enter(Phase::Connect);
        tokio::time::advance(Duration::from_millis(20)).await;
        let v = p.finish(Outcome::ok("fine"));
        assert!(v.up);
        assert_eq!(v.phase, Phase::Connect);
        assert_eq!(
            v.phases,
            vec![
                (Phase::Resolve, Duration::from_millis(5)),
                (Phase::Connect, Duration::from_millis(20))
            ]
        );
        assert_eq!(v.duration, Duration::from_millis(25));
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_verdict_names_phase_and_last_output() {
        let p = Progress::start(Phase::Connect, Duration::from_secs(3));
        p.enter(Phase::Prompt);
        p.set_last_output("Router>");
        tokio::time::advance(Duration::from_secs(3)).await;
        let v = p.timed_out(Duration::from_secs(3));
        assert!(!v.up);
        assert_eq!(v.reason, Reason::Timeout);
        assert_eq!(v.phase, Phase::Prompt);
        assert_eq!(
            v.detail,
            "no answer within 3s in phase prompt; last output: Router>"
        );
    }

    #[test]
    fn reason_names_are_the_public_contract() {
        let names: Vec<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names.join(","),
            "ok,dns,refused,unreachable,timeout,handshake,host_key_unknown,\
             host_key_changed,auth_failed,enable_failed,prompt,closed,no_reply,error"
        );
        for r in Reason::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        for p in Phase::ALL {
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
    }

    #[test]
    fn durations_print_short() {
        assert_eq!(fmt_duration(Duration::from_secs(3)), "3s");
        assert_eq!(fmt_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(fmt_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(fmt_duration(Duration::from_secs(120)), "2m");
        assert_eq!(fmt_duration(Duration::from_micros(40)), "40µs");
    }
}
