//! Hands freed memory back to the system now and then.
//!
//! glibc's allocator keeps what a thread frees in that thread's arena for
//! reuse; with a runtime per protocol (see [`crate::lane`]) and bursts of
//! work (a burst of scrapes, a reload, a wave of failing checks whose last
//! output is kept) the arenas' free pages add up to tens of MiB that the
//! process holds but does not use, and RSS climbs for minutes before it
//! settles. `malloc_trim` returns every arena's free pages at once; done
//! once a [`PERIOD`] off the runtimes, it costs a few milliseconds of one
//! thread.

use std::time::Duration;

/// How often free memory is handed back.
pub const PERIOD: Duration = Duration::from_secs(30);

/// Starts trimming every [`PERIOD`] (a no-op where the allocator is not
/// glibc's). The task ends with the runtime.
pub fn spawn_trimmer() {
    if !cfg!(target_env = "gnu") {
        return;
    }
    tokio::spawn(async {
        let mut every = tokio::time::interval(PERIOD);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            every.tick().await;
            let _ = tokio::task::spawn_blocking(trim).await;
        }
    });
}

/// Returns the allocator's free pages to the system; whether any were.
pub fn trim() -> bool {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: malloc_trim only walks the allocator's own state, under
        // its own locks; it has no preconditions.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(target_env = "gnu"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[test]
    fn freed_memory_goes_back_to_the_system() {
        if !cfg!(target_env = "gnu") {
            return;
        }
        // Many small blocks from another thread (its own arena), touched,
        // then freed except the last one, which pins the top of the heap
        // so that free() alone cannot shrink it.
        let before = std::thread::spawn(|| {
            let mut blocks: Vec<Vec<u8>> = (0..20_000).map(|_| vec![1u8; 2048]).collect();
            let keep = blocks.pop();
            drop(blocks);
            let held = rss_kib();
            assert!(trim(), "nothing was handed back");
            let after = rss_kib();
            drop(keep);
            (held, after)
        })
        .join()
        .unwrap();
        let (held, after) = before;
        assert!(
            held.saturating_sub(after) > 20_000,
            "RSS {held} KiB before the trim, {after} KiB after"
        );
    }
}
