//! Lanes: each protocol's scheduler and checks run on a runtime of their
//! own, so that one protocol's work cannot delay another's timers.
//!
//! An SSH key exchange with a legacy device is milliseconds of big-number
//! arithmetic that holds a worker thread; a device flooding a Telnet check
//! keeps one busy decoding. On one shared runtime both delay every ICMP
//! check queued behind them, and a ping that starts late is measured late.
//! On lanes the kernel shares the CPU between the protocols' threads, and a
//! lane that mostly sleeps (ICMP) is run as soon as its timer fires.
//!
//! A lane lives as long as the process: reloads and restarts of the engine
//! reuse it, and its threads are idle while it has no checks.

use std::sync::{Mutex, OnceLock};

use tokio::runtime::{Handle, Runtime};
use tracing::warn;

use crate::target::Protocol;

static LANES: OnceLock<Mutex<Vec<(Protocol, Runtime)>>> = OnceLock::new();

/// The runtime of `protocol`'s lane, started with `threads` workers the
/// first time it is asked for. If no thread can be started, the checks run
/// on the caller's runtime instead (with a warning): they still run, only
/// not apart. Must be called from within a runtime.
pub fn handle(protocol: Protocol, threads: usize) -> Handle {
    let lanes = LANES.get_or_init(|| Mutex::new(Vec::new()));
    let mut lanes = lanes.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, rt)) = lanes.iter().find(|(p, _)| *p == protocol) {
        return rt.handle().clone();
    }
    let built = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name(format!("reachd-{protocol}"))
        .enable_all()
        .build();
    match built {
        Ok(rt) => {
            let handle = rt.handle().clone();
            lanes.push((protocol, rt));
            handle
        }
        Err(e) => {
            warn!(%protocol, error = %e, "cannot start the protocol's own threads; its checks share the main ones");
            Handle::current()
        }
    }
}

/// Worker threads for a protocol whose checks can be CPU-bound (key
/// exchanges, decoding floods): one per core, at most 4.
pub fn cpu_bound() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lane_is_started_once_and_runs_apart() {
        let a = handle(Protocol::Telnet, 1);
        let b = handle(Protocol::Telnet, 1);
        let name = a
            .spawn(async { std::thread::current().name().map(str::to_owned) })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("reachd-telnet"));
        // The same lane: a task spawned on one handle is seen by the other.
        assert_eq!(
            b.spawn(async { std::thread::current().name().map(str::to_owned) })
                .await
                .unwrap()
                .as_deref(),
            Some("reachd-telnet")
        );
        // A busy lane does not hold the caller's runtime.
        let busy = a.spawn(async { std::thread::sleep(std::time::Duration::from_millis(300)) });
        let t = std::time::Instant::now();
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        assert!(t.elapsed() < std::time::Duration::from_millis(200));
        busy.await.unwrap();
    }
}
