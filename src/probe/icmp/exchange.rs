//! One check's echo exchange: `count` requests `spacing` apart, all waiting
//! for their reply until one shared end time, then the verdict.
//!
//! The exchange is written against [`Transport`] so that silence, loss,
//! unreachable networks and ICMP errors can be tested with a paused clock;
//! the probe plugs in surge-ping.

use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::join_all;
use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};

use super::dest::Dest;
use super::stats::IcmpStats;
use crate::verdict::{Outcome, Reason};

/// What became of one echo request.
#[derive(Debug)]
pub(crate) enum Echo {
    /// An echo reply, after this round-trip time.
    Reply(Duration),
    /// Sent, no reply in time.
    Lost,
    /// Sent, and an ICMP error about it came back (raw sockets only: the
    /// kernel does not pass errors to unprivileged ICMP sockets).
    IcmpError { from: IpAddr, what: &'static str },
    /// Could not be sent.
    SendFailed(io::Error),
    /// Anything else that went wrong locally; `sent` if it left the host.
    Failed { sent: bool, detail: String },
}

/// Sends one echo request and waits for its answer until `until`.
pub(crate) trait Transport: Sync {
    fn echo(&self, dest: Dest, seq: u16, until: Instant) -> impl Future<Output = Echo> + Send;
}

/// Runs the exchange and turns it into an outcome that always carries the
/// echo statistics. Requests use sequence numbers `first_seq..` (wrapping);
/// a request whose turn comes at or after `finish_at` is not sent, nor is
/// any after a request failed or drew an ICMP error.
pub(crate) async fn exchange<T: Transport>(
    transport: &T,
    dest: Dest,
    first_seq: u16,
    count: u16,
    spacing: Duration,
    finish_at: Instant,
) -> Outcome {
    let start = Instant::now();
    let stop = Notify::new();
    let stopped = AtomicBool::new(false);
    let (stop, stopped) = (&stop, &stopped);

    let pings = (0..count).map(|i| async move {
        if i > 0 {
            let at = spacing
                .checked_mul(u32::from(i))
                .and_then(|d| start.checked_add(d))
                .filter(|at| *at < finish_at)?;
            let notified = stop.notified();
            if stopped.load(Ordering::Acquire) {
                return None;
            }
            tokio::select! {
                _ = sleep_until(at) => {}
                _ = notified => return None,
            }
        }
        let echo = transport
            .echo(dest, first_seq.wrapping_add(i), finish_at)
            .await;
        if matches!(
            echo,
            Echo::IcmpError { .. } | Echo::SendFailed(_) | Echo::Failed { .. }
        ) {
            stopped.store(true, Ordering::Release);
            stop.notify_waiters();
        }
        Some(echo)
    });
    let echoes = join_all(pings).await;
    summarize(dest.addr, echoes.into_iter().flatten())
}

fn summarize(addr: IpAddr, echoes: impl Iterator<Item = Echo>) -> Outcome {
    let mut stats = IcmpStats::default();
    // The first problem seen, by kind; reported if nothing answered.
    let mut icmp_error: Option<(IpAddr, &'static str)> = None;
    let mut unreachable: Option<io::Error> = None;
    let mut error: Option<String> = None;
    for echo in echoes {
        match echo {
            Echo::Reply(rtt) => {
                stats.sent += 1;
                stats.received += 1;
                stats.rtts.push(rtt);
            }
            Echo::Lost => stats.sent += 1,
            Echo::IcmpError { from, what } => {
                stats.sent += 1;
                icmp_error.get_or_insert((from, what));
            }
            Echo::SendFailed(e) => {
                if is_unreachable(&e) {
                    unreachable.get_or_insert(e);
                } else if error.is_none() {
                    error = Some(send_error(addr, &e));
                }
            }
            Echo::Failed { sent, detail } => {
                stats.sent += u32::from(sent);
                error.get_or_insert(detail);
            }
        }
    }

    let mut detail = format!("{}/{} replies", stats.received, stats.sent);
    let reason = if let (Some(min), Some(avg), Some(max)) = (stats.min(), stats.avg(), stats.max())
    {
        let _ = write!(
            detail,
            ", rtt {:.3}/{:.3}/{:.3} ms",
            ms(min),
            ms(avg),
            ms(max)
        );
        Reason::Ok
    } else if let Some((from, what)) = icmp_error {
        let _ = write!(detail, ", {what} from {from}");
        Reason::Unreachable
    } else if let Some(e) = unreachable {
        let what = if e.kind() == io::ErrorKind::NetworkUnreachable {
            "network unreachable: no route to"
        } else {
            "host unreachable:"
        };
        let _ = write!(detail, ", {what} {addr}");
        Reason::Unreachable
    } else if let Some(e) = error {
        detail.push_str(", ");
        detail.push_str(&e);
        Reason::Error
    } else {
        Reason::NoReply
    };
    Outcome::new(reason, detail).with_stats(stats)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub(crate) fn is_unreachable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable
    )
}

fn send_error(addr: IpAddr, e: &io::Error) -> String {
    let hint = match e.raw_os_error() {
        // EPERM: a local firewall rule dropped it.
        Some(1) => " (blocked by a local firewall rule?)",
        // EACCES: a broadcast address without SO_BROADCAST.
        Some(13) => " (a broadcast address?)",
        // EMSGSIZE
        Some(90) => " (payload too large for the path?)",
        _ => "",
    };
    format!("cannot send to {addr}: {e}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Answers each sequence number (relative to the first) as scripted and
    /// records when each request went out.
    struct Fake {
        first_seq: u16,
        script: Vec<Scripted>,
        sent: Mutex<Vec<(u16, Duration)>>,
        start: Instant,
    }

    #[derive(Clone)]
    enum Scripted {
        ReplyAfter(Duration),
        Silent,
        IcmpError(Duration),
        SendErr(i32),
    }

    impl Fake {
        fn new(first_seq: u16, script: Vec<Scripted>) -> Self {
            Fake {
                first_seq,
                script,
                sent: Mutex::new(Vec::new()),
                start: Instant::now(),
            }
        }
        fn sends(&self) -> Vec<(u16, Duration)> {
            self.sent.lock().unwrap().clone()
        }
    }

    impl Transport for Fake {
        async fn echo(&self, _dest: Dest, seq: u16, until: Instant) -> Echo {
            let i = usize::from(seq.wrapping_sub(self.first_seq));
            let step = self.script.get(i).cloned().unwrap_or(Scripted::Silent);
            if let Scripted::SendErr(errno) = step {
                return Echo::SendFailed(io::Error::from_raw_os_error(errno));
            }
            let now = Instant::now();
            self.sent.lock().unwrap().push((seq, now - self.start));
            let answer_at = match step {
                Scripted::ReplyAfter(d) | Scripted::IcmpError(d) => Some(now + d),
                _ => None,
            };
            match answer_at {
                Some(at) if at <= until => {
                    sleep_until(at).await;
                    match step {
                        Scripted::IcmpError(_) => Echo::IcmpError {
                            from: "198.18.0.2".parse().unwrap(),
                            what: "host unreachable",
                        },
                        _ => Echo::Reply(at - now),
                    }
                }
                _ => {
                    sleep_until(until).await;
                    Echo::Lost
                }
            }
        }
    }

    fn dest() -> Dest {
        Dest {
            addr: "198.18.0.2".parse().unwrap(),
            scope_id: 0,
        }
    }

    const MS: Duration = Duration::from_millis(1);
    const SPACING: Duration = Duration::from_millis(200);

    async fn run(fake: &Fake, count: u16, budget: Duration) -> (Outcome, Duration) {
        let start = Instant::now();
        let o = exchange(fake, dest(), fake.first_seq, count, SPACING, start + budget).await;
        (o, start.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_target_ends_at_the_finish_time_with_loss_stats() {
        let fake = Fake::new(7, vec![Scripted::Silent; 3]);
        let (o, took) = run(&fake, 3, Duration::from_millis(950)).await;
        assert_eq!(o.reason, Reason::NoReply);
        assert_eq!(o.detail, "0/3 replies");
        let s = IcmpStats::of(o.stats.as_ref()).unwrap();
        assert_eq!((s.sent, s.received), (3, 0));
        assert!(s.rtts.is_empty());
        assert_eq!(took, Duration::from_millis(950));
        assert_eq!(
            fake.sends(),
            vec![(7, Duration::ZERO), (8, 200 * MS), (9, 400 * MS)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn requests_go_out_spacing_apart_and_all_answers_count() {
        let fake = Fake::new(
            100,
            vec![
                Scripted::ReplyAfter(Duration::from_micros(41)),
                Scripted::ReplyAfter(Duration::from_micros(70)),
                Scripted::ReplyAfter(Duration::from_micros(45)),
            ],
        );
        let (o, took) = run(&fake, 3, Duration::from_secs(1)).await;
        assert_eq!(o.reason, Reason::Ok);
        assert_eq!(o.detail, "3/3 replies, rtt 0.041/0.052/0.070 ms");
        let s = IcmpStats::of(o.stats.as_ref()).unwrap();
        assert_eq!((s.sent, s.received), (3, 3));
        assert_eq!(
            s.rtts,
            [41, 70, 45].map(Duration::from_micros).to_vec(),
            "in request order"
        );
        // Done as soon as the last reply is in (the timer rounds up to the
        // millisecond), not at the deadline.
        assert!(took > 400 * MS && took <= 401 * MS, "{took:?}");
        assert_eq!(fake.sends().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn one_reply_of_three_is_up() {
        let fake = Fake::new(
            0,
            vec![
                Scripted::Silent,
                Scripted::ReplyAfter(2 * MS),
                Scripted::Silent,
            ],
        );
        let (o, _) = run(&fake, 3, Duration::from_secs(1)).await;
        assert_eq!(o.reason, Reason::Ok);
        assert_eq!(o.detail, "1/3 replies, rtt 2.000/2.000/2.000 ms");
        let s = IcmpStats::of(o.stats.as_ref()).unwrap();
        assert_eq!((s.sent, s.received), (3, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn no_route_is_unreachable_at_once_and_stops_sending() {
        let fake = Fake::new(0, vec![Scripted::SendErr(101); 3]);
        let (o, took) = run(&fake, 3, Duration::from_secs(1)).await;
        assert_eq!(o.reason, Reason::Unreachable);
        assert_eq!(
            o.detail,
            "0/0 replies, network unreachable: no route to 198.18.0.2"
        );
        assert_eq!(IcmpStats::of(o.stats.as_ref()).unwrap().sent, 0);
        assert_eq!(took, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn host_unreachable_on_send_is_unreachable() {
        let fake = Fake::new(0, vec![Scripted::SendErr(113)]);
        let (o, _) = run(&fake, 3, Duration::from_secs(1)).await;
        assert_eq!(o.reason, Reason::Unreachable);
        assert!(o.detail.contains("host unreachable"), "{}", o.detail);
    }

    #[tokio::test(start_paused = true)]
    async fn an_icmp_error_is_unreachable_naming_the_router() {
        let fake = Fake::new(0, vec![Scripted::Silent, Scripted::IcmpError(3 * MS)]);
        let (o, took) = run(&fake, 5, Duration::from_secs(2)).await;
        assert_eq!(o.reason, Reason::Unreachable);
        assert_eq!(o.detail, "0/2 replies, host unreachable from 198.18.0.2");
        // The third request is not sent; the first one still gets its full
        // wait, as a reply to it would make the target up.
        assert_eq!(fake.sends().len(), 2);
        assert_eq!(took, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_reply_beats_an_icmp_error() {
        let fake = Fake::new(
            0,
            vec![Scripted::ReplyAfter(900 * MS), Scripted::IcmpError(MS)],
        );
        let (o, _) = run(&fake, 3, Duration::from_secs(2)).await;
        assert_eq!(o.reason, Reason::Ok);
        assert_eq!(IcmpStats::of(o.stats.as_ref()).unwrap().received, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn other_send_errors_are_errors_with_a_hint() {
        let fake = Fake::new(0, vec![Scripted::SendErr(1)]);
        let (o, _) = run(&fake, 3, Duration::from_secs(1)).await;
        assert_eq!(o.reason, Reason::Error);
        assert!(o.detail.contains("firewall"), "{}", o.detail);
        assert!(
            o.detail
                .starts_with("0/0 replies, cannot send to 198.18.0.2")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn requests_that_would_go_out_after_the_finish_are_not_sent() {
        let fake = Fake::new(0, vec![Scripted::Silent; 5]);
        let (o, took) = run(&fake, 5, Duration::from_millis(450)).await;
        assert_eq!(o.detail, "0/3 replies");
        assert_eq!(took, Duration::from_millis(450));
    }

    #[tokio::test(start_paused = true)]
    async fn absurd_spacing_does_not_panic() {
        let fake = Fake::new(0, vec![Scripted::ReplyAfter(MS); 3]);
        let start = Instant::now();
        let o = exchange(
            &fake,
            dest(),
            0,
            3,
            Duration::MAX,
            start + Duration::from_secs(1),
        )
        .await;
        assert_eq!(o.detail, "1/1 replies, rtt 1.000/1.000/1.000 ms");
    }

    #[tokio::test(start_paused = true)]
    async fn a_finish_time_already_past_still_sends_the_first_request() {
        let fake = Fake::new(0, vec![Scripted::Silent; 3]);
        let start = Instant::now();
        let o = exchange(&fake, dest(), 0, 3, SPACING, start).await;
        assert_eq!(o.reason, Reason::NoReply);
        assert_eq!(o.detail, "0/1 replies");
    }

    #[tokio::test(start_paused = true)]
    async fn sequence_numbers_wrap() {
        let fake = Fake::new(65534, vec![Scripted::ReplyAfter(MS); 3]);
        let (o, _) = run(&fake, 3, Duration::from_secs(1)).await;
        assert_eq!(IcmpStats::of(o.stats.as_ref()).unwrap().received, 3);
        let seqs: Vec<u16> = fake.sends().iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, vec![65534, 65535, 0]);
    }

    #[tokio::test(start_paused = true)]
    async fn count_one_and_five() {
        let fake = Fake::new(0, vec![Scripted::ReplyAfter(MS); 5]);
        let (o, _) = run(&fake, 1, Duration::from_secs(2)).await;
        assert_eq!(IcmpStats::of(o.stats.as_ref()).unwrap().sent, 1);
        let fake = Fake::new(0, vec![Scripted::ReplyAfter(MS); 5]);
        let (o, took) = run(&fake, 5, Duration::from_secs(2)).await;
        assert_eq!(o.detail, "5/5 replies, rtt 1.000/1.000/1.000 ms");
        assert_eq!(took, 800 * MS + MS);
    }
}
