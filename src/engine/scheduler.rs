//! The scheduler: for one protocol, runs every target once per interval and
//! sends each result down the channel it is given (the engine's one channel
//! to the sinks), waiting when the channel is full.
//!
//! - First runs are spread over the interval by a stable hash of the target
//!   ([`spread_offset`]), so start-up and reloads cause no thundering herd.
//! - At most `concurrency` checks run at once; a check that waits for a slot
//!   shows up as scheduler lag.
//! - A target whose previous check is still queued or running when it is due
//!   again is skipped (and counted), never stacked.
//! - Every check is bounded by its timeout ([`run_check`]).
//! - Reloads keep the schedule of unchanged targets; removed targets stop and a
//!   [`Event::Removed`] follows their last result.
//!
//! It knows nothing about protocols: it runs whatever [`Probe`] it is given.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prometheus::{Histogram, IntCounter, IntGauge};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::probe::{Probe, run_check};
use crate::result::{CheckResult, Event};
use crate::target::{Target, TargetKey, spread_offset};
use crate::verdict::Verdict;

/// The scheduler's own health, exported by the metrics sink.
#[derive(Clone)]
pub struct SchedulerMetrics {
    pub targets: IntGauge,
    pub in_flight: IntGauge,
    pub skipped: IntCounter,
    pub lag: Histogram,
}

impl SchedulerMetrics {
    /// Metrics that go nowhere (tests, one-off runs).
    pub fn detached() -> Self {
        let lag_opts = prometheus::HistogramOpts::new("lag", "lag");
        SchedulerMetrics {
            targets: IntGauge::new("targets", "targets").expect("static metric"),
            in_flight: IntGauge::new("in_flight", "in flight").expect("static metric"),
            skipped: IntCounter::new("skipped", "skipped").expect("static metric"),
            lag: Histogram::with_opts(lag_opts).expect("static metric"),
        }
    }
}

pub struct Options {
    pub concurrency: usize,
    /// How long in-flight checks may run on after shutdown before they are
    /// cancelled.
    pub grace: Duration,
}

/// Controls a running scheduler.
#[derive(Clone)]
pub struct Handle {
    commands: mpsc::UnboundedSender<Command>,
    heartbeat: Arc<Heartbeat>,
}

/// When a scheduler's loop last went round. The loop wakes at least every
/// [`BEAT`], even with nothing due, so a stale heartbeat means it is stuck
/// (or blocked by a stuck consumer): what the systemd watchdog must notice.
#[derive(Debug)]
pub struct Heartbeat {
    epoch: Instant,
    millis: std::sync::atomic::AtomicU64,
}

/// How often an idle scheduler still beats.
pub const BEAT: Duration = Duration::from_secs(1);

impl Heartbeat {
    fn new() -> Self {
        Heartbeat {
            epoch: Instant::now(),
            millis: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn beat(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.millis.store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// Time since the last beat.
    pub fn age(&self) -> Duration {
        let last = Duration::from_millis(self.millis.load(std::sync::atomic::Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last)
    }
}

enum Command {
    Update(Vec<Arc<Target>>, oneshot::Sender<()>),
    /// Run these targets now, out of schedule (their schedule stays).
    RunNow(Vec<TargetKey>),
    Shutdown,
}

impl Handle {
    /// Replaces the target set. Returns once the scheduler has applied it.
    pub async fn update(&self, targets: Vec<Arc<Target>>) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Update(targets, tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Runs these targets now, besides their schedule; one already queued
    /// or running is not started again (its result comes soon anyway).
    pub fn run_now(&self, keys: Vec<TargetKey>) {
        let _ = self.commands.send(Command::RunNow(keys));
    }

    /// Stops scheduling; in-flight checks get the grace period, then the
    /// stream ends.
    pub fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown);
    }

    pub fn heartbeat(&self) -> Arc<Heartbeat> {
        self.heartbeat.clone()
    }
}

/// Starts a scheduler for `targets` (all of one protocol) on `probe`, on
/// the current runtime, sending its results to `out`.
pub fn spawn(
    probe: Arc<dyn Probe>,
    targets: Vec<Arc<Target>>,
    opts: Options,
    metrics: SchedulerMetrics,
    out: mpsc::Sender<Event>,
) -> Handle {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let heartbeat = Arc::new(Heartbeat::new());
    let mut sched = Scheduler {
        heartbeat: heartbeat.clone(),
        probe,
        epoch: Instant::now(),
        slots: Vec::new(),
        index: HashMap::new(),
        free: Vec::new(),
        heap: BinaryHeap::new(),
        permits: Arc::new(Semaphore::new(opts.concurrency.max(1))),
        tasks: JoinSet::new(),
        done_tx,
        out,
        metrics,
        grace: opts.grace,
    };
    let removed = sched.apply(targets);
    debug_assert!(removed.is_empty());
    tokio::spawn(sched.run(cmd_rx, done_rx));
    Handle {
        commands: cmd_tx,
        heartbeat,
    }
}

struct Slot {
    target: Arc<Target>,
    /// Bumped whenever the slot changes hands, so late results of a removed
    /// target are recognised and dropped.
    owner: u32,
    /// Bumped whenever the slot's schedule changes, so stale heap entries are
    /// recognised and dropped.
    schedule: u32,
    live: bool,
    busy: bool,
    /// The running check was asked for out of schedule (a re-check): a
    /// scheduled run falling due meanwhile is not a skip, the re-check
    /// stands in for it.
    rechecking: bool,
}

struct Done {
    slot: u32,
    owner: u32,
    verdict: Verdict,
    lag: Duration,
    finished_at: SystemTime,
}

struct Scheduler {
    heartbeat: Arc<Heartbeat>,
    probe: Arc<dyn Probe>,
    /// Schedules are aligned to this instant: target `t` is due at
    /// `epoch + offset(t) + k·interval`.
    epoch: Instant,
    slots: Vec<Slot>,
    index: HashMap<TargetKey, u32>,
    free: Vec<u32>,
    heap: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    permits: Arc<Semaphore>,
    tasks: JoinSet<()>,
    done_tx: mpsc::UnboundedSender<Done>,
    out: mpsc::Sender<Event>,
    metrics: SchedulerMetrics,
    grace: Duration,
}

impl Scheduler {
    /// The first due time of `target` strictly after `now`.
    fn next_due(&self, target: &Target, now: Instant) -> Instant {
        let interval = target.interval.max(Duration::from_millis(1));
        let first = self.epoch + spread_offset(&target.key(), interval);
        if first > now {
            return first;
        }
        let behind = (now - first).as_nanos() / interval.as_nanos();
        let k = u32::try_from(behind + 1).unwrap_or(u32::MAX);
        first + interval * k
    }

    /// Applies a new target set; returns the keys that went away.
    fn apply(&mut self, targets: Vec<Arc<Target>>) -> Vec<TargetKey> {
        let now = Instant::now();
        let mut keep: HashMap<TargetKey, Arc<Target>> = HashMap::with_capacity(targets.len());
        for t in targets {
            keep.insert(t.key(), t);
        }
        let mut removed = Vec::new();
        self.index.retain(|key, &mut slot| {
            if keep.contains_key(key) {
                return true;
            }
            let s = &mut self.slots[slot as usize];
            s.live = false;
            s.busy = false;
            s.rechecking = false;
            s.owner = s.owner.wrapping_add(1);
            s.schedule = s.schedule.wrapping_add(1);
            self.free.push(slot);
            removed.push(key.clone());
            false
        });
        for (key, target) in keep {
            if let Some(&slot) = self.index.get(&key) {
                let s = &mut self.slots[slot as usize];
                if s.target == target {
                    continue; // unchanged: same schedule, same state
                }
                let reschedule = s.target.interval != target.interval;
                s.target = target;
                if reschedule {
                    // The old heap entry goes stale with the schedule number.
                    s.schedule = s.schedule.wrapping_add(1);
                    let schedule = s.schedule;
                    let due = self.next_due(&self.slots[slot as usize].target, now);
                    self.heap.push(Reverse((due, slot, schedule)));
                }
                continue;
            }
            let due = self.next_due(&target, now);
            let slot = match self.free.pop() {
                Some(slot) => {
                    let s = &mut self.slots[slot as usize];
                    s.target = target;
                    s.live = true;
                    s.busy = false;
                    s.rechecking = false;
                    slot
                }
                None => {
                    self.slots.push(Slot {
                        target,
                        owner: 0,
                        schedule: 0,
                        live: true,
                        busy: false,
                        rechecking: false,
                    });
                    u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 targets")
                }
            };
            let schedule = self.slots[slot as usize].schedule;
            self.heap.push(Reverse((due, slot, schedule)));
            self.index.insert(key, slot);
        }
        self.metrics.targets.set(self.index.len() as i64);
        removed.sort();
        removed
    }

    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut done: mpsc::UnboundedReceiver<Done>,
    ) {
        let mut beat = tokio::time::interval(BEAT);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.heartbeat.beat();
            let next = self.heap.peek().map(|Reverse((due, _, _))| *due);
            tokio::select! {
                biased;
                cmd = commands.recv() => match cmd {
                    Some(Command::Update(targets, ack)) => {
                        for key in self.apply(targets) {
                            if self.out.send(Event::Removed(key)).await.is_err() {
                                return;
                            }
                        }
                        let _ = ack.send(());
                    }
                    Some(Command::RunNow(keys)) => self.run_now(&keys),
                    Some(Command::Shutdown) | None => break,
                },
                Some(d) = done.recv() => {
                    if !self.finish(d).await {
                        return;
                    }
                }
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => {}
                () = sleep_until_opt(next) => self.dispatch_due(),
                _ = beat.tick() => {}
            }
        }
        self.drain(done).await;
    }

    /// Starts every target that is due now.
    fn dispatch_due(&mut self) {
        let now = Instant::now();
        while let Some(&Reverse((due, slot, schedule))) = self.heap.peek() {
            if due > now {
                break;
            }
            self.heap.pop();
            let s = &self.slots[slot as usize];
            if !s.live || s.schedule != schedule {
                continue; // removed or rescheduled since
            }
            let target = s.target.clone();
            let interval = target.interval.max(Duration::from_millis(1));
            let mut next = due + interval;
            if next <= now {
                // Fell behind by more than an interval: the missed rounds are
                // skips, and the schedule keeps its phase.
                let missed = self.next_due(&target, now);
                let n = ((missed - next).as_nanos() / interval.as_nanos()) as u64 + 1;
                self.metrics.skipped.inc_by(n);
                next = missed;
            }
            self.heap.push(Reverse((next, slot, schedule)));
            if s.busy {
                if !s.rechecking {
                    self.metrics.skipped.inc();
                }
                continue;
            }
            let owner = s.owner;
            self.slots[slot as usize].busy = true;
            self.start(slot, owner, target, due);
        }
    }

    /// Starts `keys` now unless queued or running already.
    fn run_now(&mut self, keys: &[TargetKey]) {
        let now = Instant::now();
        for key in keys {
            let Some(&slot) = self.index.get(key) else {
                continue;
            };
            let s = &self.slots[slot as usize];
            if !s.live || s.busy {
                continue;
            }
            let (owner, target) = (s.owner, s.target.clone());
            let s = &mut self.slots[slot as usize];
            s.busy = true;
            s.rechecking = true;
            self.start(slot, owner, target, now);
        }
    }

    fn start(&mut self, slot: u32, owner: u32, target: Arc<Target>, due: Instant) {
        let probe = self.probe.clone();
        let permits = self.permits.clone();
        let done = self.done_tx.clone();
        let metrics = self.metrics.clone();
        self.tasks.spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return; // semaphore closed: shutting down
            };
            let lag = Instant::now().saturating_duration_since(due);
            metrics.lag.observe(lag.as_secs_f64());
            let in_flight = InFlight::enter(&metrics.in_flight);
            let verdict = run_check(&*probe, &target).await;
            drop(in_flight);
            let _ = done.send(Done {
                slot,
                owner,
                verdict,
                lag,
                finished_at: SystemTime::now(),
            });
        });
    }

    /// Records a finished check; false if the consumer is gone.
    async fn finish(&mut self, d: Done) -> bool {
        let s = &mut self.slots[d.slot as usize];
        if !s.live || s.owner != d.owner {
            return true; // the target was removed or replaced meanwhile
        }
        s.busy = false;
        s.rechecking = false;
        let result = CheckResult {
            target: s.target.clone(),
            verdict: d.verdict,
            finished_at: d.finished_at,
            lag: d.lag,
        };
        self.out.send(Event::Checked(result)).await.is_ok()
    }

    /// After shutdown: no new checks; running ones may finish within the
    /// grace period, then the rest are cancelled.
    async fn drain(mut self, mut done: mpsc::UnboundedReceiver<Done>) {
        self.permits.close();
        let deadline = Instant::now() + self.grace;
        loop {
            tokio::select! {
                Some(d) = done.recv() => {
                    if !self.finish(d).await {
                        break;
                    }
                }
                joined = self.tasks.join_next() => {
                    if joined.is_none() {
                        // Every task ended; forward what they sent last.
                        while let Ok(d) = done.try_recv() {
                            if !self.finish(d).await {
                                break;
                            }
                        }
                        break;
                    }
                }
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        let cancelled = self.tasks.len();
        self.tasks.shutdown().await;
        if cancelled > 0 {
            tracing::info!(
                cancelled,
                "grace period over, cancelled the checks still running"
            );
        }
    }
}

/// Counts a running check; uncounts it however it ends, cancellation included.
struct InFlight<'a>(&'a IntGauge);

impl<'a> InFlight<'a> {
    fn enter(gauge: &'a IntGauge) -> Self {
        gauge.inc();
        InFlight(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

async fn sleep_until_opt(when: Option<Instant>) {
    match when {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::BoxFuture;
    use crate::target::{CheckSpec, IcmpSpec, Protocol};
    use crate::verdict::{Outcome, Phase, Progress, Reason};
    use futures::{Stream, StreamExt};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Takes as long as the number in the device name after `slow` says (in
    /// seconds), or forever for `hang`; records when each check started and
    /// how many ran at once.
    #[derive(Default)]
    struct Fake {
        running: AtomicUsize,
        max_running: AtomicUsize,
        starts: Mutex<Vec<(String, Duration)>>,
        epoch: Mutex<Option<Instant>>,
    }

    impl Probe for Fake {
        fn protocol(&self) -> Protocol {
            Protocol::Icmp
        }
        fn check<'a>(&'a self, t: &'a Target, p: &'a Progress) -> BoxFuture<'a, Outcome> {
            Box::pin(async move {
                let epoch = self.epoch.lock().unwrap().expect("epoch set");
                self.starts
                    .lock()
                    .unwrap()
                    .push((t.device.to_string(), Instant::now() - epoch));
                let n = self.running.fetch_add(1, Ordering::SeqCst) + 1;
                self.max_running.fetch_max(n, Ordering::SeqCst);
                p.enter(Phase::Connect);
                let _guard = Dec(&self.running);
                if t.device.starts_with("hang") {
                    std::future::pending::<()>().await;
                }
                if let Some(secs) = t.device.strip_prefix("slow") {
                    let secs: u64 = secs.split('-').next().unwrap().parse().unwrap();
                    tokio::time::sleep(Duration::from_secs(secs)).await;
                }
                Outcome::ok("fine")
            })
        }
    }

    struct Dec<'a>(&'a AtomicUsize);
    impl Drop for Dec<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn target(name: &str, interval: u64, timeout: u64) -> Arc<Target> {
        Arc::new(Target {
            device: name.into(),
            protocol: Protocol::Icmp,
            host: "127.0.0.1".into(),
            interval: Duration::from_secs(interval),
            timeout: Duration::from_secs(timeout),
            spec: CheckSpec::Icmp(IcmpSpec::default()),
            source: Default::default(),
            ip_family: Default::default(),
        })
    }

    fn opts(concurrency: usize) -> Options {
        Options {
            concurrency,
            grace: Duration::from_secs(5),
        }
    }

    /// A scheduler sending into a channel of `buffer` results, and that
    /// channel as a stream.
    fn spawn_streamed(
        probe: Arc<dyn Probe>,
        targets: Vec<Arc<Target>>,
        opts: Options,
        metrics: SchedulerMetrics,
        buffer: usize,
    ) -> (Handle, impl Stream<Item = Event> + Unpin) {
        let (tx, mut rx) = mpsc::channel(buffer);
        let h = spawn(probe, targets, opts, metrics, tx);
        (h, futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
    }

    fn start(
        fake: &Arc<Fake>,
        targets: Vec<Arc<Target>>,
        concurrency: usize,
    ) -> (
        Handle,
        impl Stream<Item = Event> + Unpin,
        SchedulerMetrics,
        Instant,
    ) {
        let epoch = Instant::now();
        *fake.epoch.lock().unwrap() = Some(epoch);
        let m = SchedulerMetrics::detached();
        let (h, s) = spawn_streamed(fake.clone(), targets, opts(concurrency), m.clone(), 1024);
        (h, s, m, epoch)
    }

    /// Collects events until `until` on the paused clock.
    async fn collect(
        stream: &mut (impl Stream<Item = Event> + Unpin),
        until: Instant,
    ) -> Vec<(Duration, Event)> {
        let mut out = Vec::new();
        loop {
            tokio::select! {
                ev = stream.next() => match ev {
                    Some(ev) => out.push((until.elapsed(), ev)),
                    None => break,
                },
                () = tokio::time::sleep_until(until) => break,
            }
        }
        out
    }

    /// Returns once the one target's check is running.
    async fn until_running(fake: &Fake) {
        while fake.running.load(Ordering::SeqCst) != 1 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn checked(events: &[(Duration, Event)]) -> Vec<&CheckResult> {
        events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Checked(r) => Some(r),
                Event::Removed(_) => None,
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn first_runs_are_spread_over_the_interval_then_periodic() {
        let fake = Arc::new(Fake::default());
        let targets: Vec<_> = (0..200).map(|i| target(&format!("r{i}"), 10, 2)).collect();
        let (_h, mut s, _m, epoch) = start(&fake, targets, 1000);
        let events = collect(&mut s, epoch + Duration::from_secs(30)).await;
        assert_eq!(checked(&events).len(), 600, "each target once per interval");

        let starts = fake.starts.lock().unwrap().clone();
        let mut per_second = [0u32; 10];
        for (name, at) in starts
            .iter()
            .filter(|(_, at)| *at < Duration::from_secs(10))
        {
            per_second[at.as_secs() as usize] += 1;
            // The same offset in every later interval.
            let again: Vec<_> = starts
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, a)| *a)
                .collect();
            assert_eq!(
                again,
                vec![
                    *at,
                    *at + Duration::from_secs(10),
                    *at + Duration::from_secs(20)
                ]
            );
        }
        assert_eq!(per_second.iter().sum::<u32>(), 200);
        assert!(
            per_second.iter().all(|&n| (8..=35).contains(&n)),
            "herd: {per_second:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_check_still_running_when_due_is_skipped_not_stacked() {
        let fake = Arc::new(Fake::default());
        // Interval 10s, each check takes 25s (timeout 30s).
        let (_h, mut s, m, epoch) = start(&fake, vec![target("slow25", 10, 30)], 10);
        let events = collect(&mut s, epoch + Duration::from_secs(65)).await;
        let starts = fake.starts.lock().unwrap().clone();
        assert!(starts.len() >= 2);
        for w in starts.windows(2) {
            // Due every 10s, but the next start waits for the 25s check.
            assert_eq!(
                w[1].1 - w[0].1,
                Duration::from_secs(30),
                "never two at once"
            );
        }
        assert_eq!(fake.max_running.load(Ordering::SeqCst), 1);
        assert!(checked(&events).len() >= 2);
        // Due at +10 and +20 while the first ran, +40 and +50 while the second did.
        assert!(m.skipped.get() >= 3, "skipped {}", m.skipped.get());
    }

    #[tokio::test(start_paused = true)]
    async fn a_recheck_runs_now_keeps_the_schedule_and_is_no_skip() {
        let fake = Arc::new(Fake::default());
        // Interval 60s, each check takes 5s: first run somewhere in the minute.
        let t = target("slow5", 60, 10);
        let key = t.key();
        let (h, mut s, m, epoch) = start(&fake, vec![t], 10);
        collect(&mut s, epoch + Duration::from_secs(61)).await;
        let first = fake.starts.lock().unwrap().clone();
        assert_eq!(first.len(), 1);
        // Asked again 2s before its next run: it starts now, and the
        // scheduled run falling due while it runs is no skip.
        let next = first[0].1 + Duration::from_secs(60);
        tokio::time::sleep_until(epoch + next - Duration::from_secs(2)).await;
        h.run_now(vec![key.clone()]);
        h.run_now(vec![key]); // asked twice: still one check at once
        let events = collect(&mut s, epoch + next + Duration::from_secs(66)).await;
        let starts = fake.starts.lock().unwrap().clone();
        assert_eq!(
            starts[1].1,
            next - Duration::from_secs(2),
            "the re-check ran at once"
        );
        assert_eq!(fake.max_running.load(Ordering::SeqCst), 1);
        assert_eq!(m.skipped.get(), 0, "the re-check stood in for the due run");
        assert_eq!(
            starts[2].1,
            next + Duration::from_secs(60),
            "the schedule kept its phase"
        );
        assert_eq!(checked(&events).len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_is_bounded_and_waiting_shows_as_lag() {
        let fake = Arc::new(Fake::default());
        // 20 checks of 10s each, due within one minute: more than 3 overlap.
        // 20 checks of 15s each per minute need 5 slots, not 3.
        let targets: Vec<_> = (0..20)
            .map(|i| target(&format!("slow15-{i}"), 60, 20))
            .collect();
        let (_h, mut s, m, epoch) = start(&fake, targets, 3);
        let events = collect(&mut s, epoch + Duration::from_secs(200)).await;
        assert!(checked(&events).len() >= 30);
        assert_eq!(fake.max_running.load(Ordering::SeqCst), 3);
        assert!(m.in_flight.get() <= 3);
        assert!(m.skipped.get() > 0, "queued targets due again were skipped");
        assert!(checked(&events).iter().all(|r| r.verdict.up));
        assert!(m.lag.get_sample_count() >= 30);
        assert!(m.lag.get_sample_sum() > 0.0, "queued checks started late");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_probe_ends_in_timeout_and_frees_its_slot() {
        let fake = Arc::new(Fake::default());
        let (_h, mut s, m, epoch) = start(&fake, vec![target("hang", 10, 3)], 1);
        let events = collect(&mut s, epoch + Duration::from_secs(25)).await;
        let results = checked(&events);
        assert_eq!(
            results.len(),
            2,
            "checked again after the timeout freed the slot"
        );
        for r in results {
            assert_eq!(r.verdict.reason, Reason::Timeout);
            assert_eq!(r.verdict.phase, Phase::Connect);
            assert_eq!(r.verdict.duration, Duration::from_secs(3));
        }
        assert_eq!(m.skipped.get(), 0);
        assert_eq!(m.in_flight.get(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn reload_keeps_unchanged_schedules_and_removes_the_gone() {
        let fake = Arc::new(Fake::default());
        let (a, b, c) = (target("a", 10, 2), target("b", 10, 2), target("c", 10, 2));
        let (h, mut s, m, epoch) = start(&fake, vec![a.clone(), b.clone()], 10);
        collect(&mut s, epoch + Duration::from_secs(15)).await;
        assert_eq!(m.targets.get(), 2);

        h.update(vec![a.clone(), c.clone()]).await;
        assert_eq!(m.targets.get(), 2);
        let events = collect(&mut s, epoch + Duration::from_secs(45)).await;
        let removed: Vec<_> = events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Removed(k) => Some(k.to_string()),
                Event::Checked(_) => None,
            })
            .collect();
        assert_eq!(removed, vec!["b/icmp"]);
        let names: Vec<_> = checked(&events)
            .iter()
            .map(|r| r.target.device.to_string())
            .collect();
        assert!(
            !names.contains(&"b".to_string()),
            "no result of a removed target: {names:?}"
        );
        assert_eq!(names.iter().filter(|n| *n == "c").count(), 3);

        // a kept its offset: all its starts are one interval apart.
        let starts = fake.starts.lock().unwrap().clone();
        let a_at: Vec<_> = starts
            .iter()
            .filter(|(n, _)| n == "a")
            .map(|(_, t)| *t)
            .collect();
        assert!(a_at.len() >= 4);
        for w in a_at.windows(2) {
            assert_eq!(w[1] - w[0], Duration::from_secs(10));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_removed_targets_late_result_is_dropped() {
        let fake = Arc::new(Fake::default());
        let (h, mut s, _m, epoch) = start(&fake, vec![target("slow5", 10, 8)], 10);
        // Wait until its check is running, then remove it.
        until_running(&fake).await;
        h.update(vec![]).await;
        let events = collect(&mut s, epoch + Duration::from_secs(30)).await;
        assert_eq!(events.len(), 1);
        assert!(matches!(&events[0].1, Event::Removed(k) if k.to_string() == "slow5/icmp"));
    }

    #[tokio::test(start_paused = true)]
    async fn changed_settings_apply_without_losing_the_slot() {
        let fake = Arc::new(Fake::default());
        let (h, mut s, _m, epoch) = start(&fake, vec![target("a", 10, 2)], 10);
        collect(&mut s, epoch + Duration::from_secs(11)).await;
        h.update(vec![target("a", 5, 1)]).await;
        let events = collect(&mut s, epoch + Duration::from_secs(31)).await;
        let r = checked(&events);
        assert!(
            (4..=5).contains(&r.len()),
            "{} results at a 5s interval",
            r.len()
        );
        assert!(
            r.iter()
                .all(|r| r.target.interval == Duration::from_secs(5))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_scheduler_keeps_beating() {
        let fake = Arc::new(Fake::default());
        let (h, mut s, _m, epoch) = start(&fake, vec![target("a", 3600, 2)], 10);
        collect(&mut s, epoch + Duration::from_secs(30)).await;
        assert!(h.heartbeat().age() <= BEAT, "age {:?}", h.heartbeat().age());
    }

    #[tokio::test(start_paused = true)]
    async fn a_blocked_scheduler_stops_beating() {
        // Nobody reads the results: once the buffer is full the loop blocks,
        // and the heartbeat goes stale.
        let fake = Arc::new(Fake::default());
        *fake.epoch.lock().unwrap() = Some(Instant::now());
        let targets: Vec<_> = (0..10).map(|i| target(&format!("r{i}"), 1, 1)).collect();
        let opts = Options {
            concurrency: 10,
            grace: Duration::from_secs(1),
        };
        let (h, _stream) =
            spawn_streamed(fake.clone(), targets, opts, SchedulerMetrics::detached(), 1);
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(
            h.heartbeat().age() >= Duration::from_secs(20),
            "age {:?}",
            h.heartbeat().age()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_lets_running_checks_finish_within_grace() {
        let fake = Arc::new(Fake::default());
        let (h, mut s, m, _epoch) = start(&fake, vec![target("slow3", 100, 10)], 10);
        until_running(&fake).await;
        h.shutdown();
        let ev = s.next().await.expect("the running check's result");
        assert!(matches!(ev, Event::Checked(ref r) if r.verdict.up));
        assert!(s.next().await.is_none(), "stream ends after the drain");
        assert_eq!(m.in_flight.get(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_cancels_checks_that_outlive_the_grace() {
        let fake = Arc::new(Fake::default());
        let (h, mut s, m, _epoch) = start(&fake, vec![target("hang", 100, 60)], 10);
        until_running(&fake).await;
        let t0 = Instant::now();
        h.shutdown();
        assert!(s.next().await.is_none());
        assert_eq!(
            Instant::now() - t0,
            Duration::from_secs(5),
            "the grace period"
        );
        assert_eq!(m.in_flight.get(), 0);
        assert_eq!(
            fake.running.load(Ordering::SeqCst),
            0,
            "the probe future was dropped"
        );
    }
}
