//! The tracer's global budget: a token bucket of traces.

use std::sync::Mutex;
use std::time::Instant;

/// `burst` traces at once, refilled at `rate` per second.
pub(crate) struct Bucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    /// A full bucket. A rate that is not a positive number never refills.
    pub(crate) fn new(rate: f64, burst: u32) -> Bucket {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            0.0
        };
        let burst = f64::from(burst);
        Bucket {
            rate,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Takes one trace's token, if there is one.
    pub(crate) fn take(&self) -> bool {
        self.take_at(Instant::now())
    }

    fn take_at(&self, now: Instant) -> bool {
        // A poisoned lock only means a panic elsewhere mid-update of two
        // numbers; they are still usable.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = &mut *state;
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * self.rate).min(self.burst);
        *last = now.max(*last);
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_the_rate() {
        let b = Bucket::new(5.0, 10);
        let t0 = Instant::now();
        assert!((0..10).all(|_| b.take_at(t0)));
        assert!(!b.take_at(t0));
        assert!(!b.take_at(t0 + Duration::from_millis(100)));
        assert!(b.take_at(t0 + Duration::from_millis(200)));
        assert!(!b.take_at(t0 + Duration::from_millis(200)));
        // refills up to the burst only
        let later = t0 + Duration::from_secs(100);
        assert!((0..10).all(|_| b.take_at(later)));
        assert!(!b.take_at(later));
    }

    #[test]
    fn no_rate_means_the_burst_only() {
        let b = Bucket::new(f64::NAN, 1);
        let t0 = Instant::now();
        assert!(b.take_at(t0));
        assert!(!b.take_at(t0 + Duration::from_secs(1000)));
    }
}
