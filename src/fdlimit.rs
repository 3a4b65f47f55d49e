//! The open-file budget: what the configured concurrency can hold open,
//! checked against `RLIMIT_NOFILE` before any check runs.
//!
//! Each SSH or Telnet check in flight holds one socket; ICMP checks share a
//! few sockets; the HTTP server holds at most its connection cap; the rest
//! (listeners, ICMP sockets, the runtime's epoll and event fds, logs,
//! known_hosts, stdio) fits in a fixed margin. When the budget does not fit
//! under the soft limit, reachd raises it toward the hard limit (up to 2^20),
//! and refuses to start if it still does not fit, naming the numbers and the
//! fixes. Running
//! out of descriptors anyway (another program's sockets in the same
//! namespace, a lowered limit) is said in one log line a minute, not a
//! stream, and checks recover by themselves when descriptors free up.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::target::Protocol;

/// Descriptors beyond the checks' and HTTP's own.
pub const MARGIN: u64 = 64;

/// What a configuration needs open at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Need {
    /// Sockets of SSH and Telnet checks in flight.
    pub checks: u64,
    /// HTTP connections (the server's cap; 0 for `reachd check`).
    pub http: u64,
}

impl Need {
    /// The need of `concurrency` (per protocol) with `http` connections.
    pub fn of(concurrency: &BTreeMap<Protocol, usize>, http: usize) -> Need {
        let checks = concurrency
            .iter()
            .map(|(p, n)| p.sockets_per_check() * *n as u64)
            .sum();
        Need {
            checks,
            http: http as u64,
        }
    }

    pub fn total(&self) -> u64 {
        self.checks + self.http + MARGIN
    }
}

/// The limit after [`ensure`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub soft: u64,
    pub hard: u64,
    /// The soft limit before it was raised, if it was.
    pub raised_from: Option<u64>,
}

fn get() -> std::io::Result<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((r.rlim_cur, r.rlim_max))
}

fn set(soft: u64, hard: u64) -> std::io::Result<()> {
    let r = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads the struct we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// No reason to go higher: a million sockets is beyond any fleet here.
const CEILING: u64 = 1 << 20;

/// Raises the soft `RLIMIT_NOFILE` toward the hard limit when `need` does
/// not fit under it, then checks that it fits. The error names the numbers
/// and what to change.
pub fn ensure(need: Need) -> Result<Limit, String> {
    let (soft, hard) = get().map_err(|e| format!("cannot read RLIMIT_NOFILE: {e}"))?;
    let mut limit = Limit {
        soft,
        hard,
        raised_from: None,
    };
    if soft < need.total() && soft < hard {
        let to = hard.min(CEILING.max(need.total()));
        if set(to, hard).is_ok() {
            limit.soft = to;
            limit.raised_from = Some(soft);
        }
    }
    check(need, limit)
}

/// Whether `need` fits under `limit`.
pub fn check(need: Need, limit: Limit) -> Result<Limit, String> {
    if need.total() <= limit.soft {
        return Ok(limit);
    }
    Err(format!(
        "the configured concurrency needs up to {} open files ({} SSH/Telnet checks in flight + {} HTTP connections + {MARGIN} for the rest) but the open-file limit (RLIMIT_NOFILE) is {} (hard limit {}): raise it (`LimitNOFILE=` in the systemd unit, `ulimit -n` in a shell) or lower `concurrency` under defaults.ssh / defaults.telnet",
        need.total(),
        need.checks,
        need.http,
        limit.soft,
        limit.hard,
    ))
}

/// True if `e` says the process (EMFILE) or the system (ENFILE) is out of
/// file descriptors. Logs that once a minute at most, with what to do.
pub fn exhausted(e: &std::io::Error) -> bool {
    let out = matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
    if out {
        static LAST: Mutex<Option<Instant>> = Mutex::new(None);
        let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
            *last = Some(Instant::now());
            let limit = get().map(|(s, _)| s.to_string()).unwrap_or_default();
            tracing::error!(
                error = %e,
                limit = %limit,
                "out of file descriptors: checks that need a socket fail until some are freed (said once a minute); raise LimitNOFILE= or lower concurrency"
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conc(ssh: usize, telnet: usize) -> BTreeMap<Protocol, usize> {
        [
            (Protocol::Icmp, 10_000),
            (Protocol::Ssh, ssh),
            (Protocol::Telnet, telnet),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn icmp_needs_no_socket_per_check() {
        let n = Need::of(&conc(100, 50), 128);
        assert_eq!(n.checks, 150);
        assert_eq!(n.total(), 150 + 128 + MARGIN);
    }

    #[test]
    fn the_issue_case_does_not_fit_under_1024() {
        // ssh and telnet concurrency 700 each under `ulimit -n 1024`.
        let need = Need::of(&conc(700, 700), 128);
        let limit = Limit {
            soft: 1024,
            hard: 1024,
            raised_from: None,
        };
        let e = check(need, limit).unwrap_err();
        assert!(e.contains("needs up to 1592 open files"), "{e}");
        assert!(e.contains("1400 SSH/Telnet checks"), "{e}");
        assert!(e.contains("limit (RLIMIT_NOFILE) is 1024"), "{e}");
        assert!(e.contains("LimitNOFILE="), "{e}");
        let fits = Need::of(&conc(100, 100), 128);
        assert_eq!(check(fits, limit), Ok(limit));
    }

    #[test]
    fn ensure_raises_the_soft_limit_toward_the_hard_one() {
        // In a child process: the limit is process-wide.
        if std::env::var_os("REACHD_FDLIMIT_CHILD").is_none() {
            let me = std::env::current_exe().expect("test binary");
            let out = std::process::Command::new(me)
                .args([
                    "--exact",
                    "fdlimit::tests::ensure_raises_the_soft_limit_toward_the_hard_one",
                    "--nocapture",
                ])
                .env("REACHD_FDLIMIT_CHILD", "1")
                .output()
                .expect("child test runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            );
            return;
        }
        let (_, hard) = get().expect("getrlimit");
        let low = 256.min(hard);
        set(low, hard).expect("lower the soft limit");
        let need = Need::of(&conc(150, 150), 0);
        let r = ensure(need);
        if hard >= need.total() {
            let l = r.expect("fits after raising");
            assert_eq!(l.raised_from, Some(low));
            assert!(l.soft >= need.total());
            assert_eq!(get().expect("getrlimit").0, l.soft);
        } else {
            assert!(r.is_err());
        }
    }

    #[test]
    fn only_emfile_and_enfile_are_exhaustion() {
        assert!(exhausted(&std::io::Error::from_raw_os_error(libc::EMFILE)));
        assert!(exhausted(&std::io::Error::from_raw_os_error(libc::ENFILE)));
        assert!(!exhausted(&std::io::Error::from_raw_os_error(
            libc::ECONNREFUSED
        )));
    }
}
