//! The path tracer against real sockets, on loopback only.
//!
//! Runs as root (raw socket) or where unprivileged ICMP is allowed
//! (`net.ipv4.ping_group_range`); `tests/interop/trace.sh` traces real
//! multi-hop paths inside network namespaces of its own.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use reachd::diagnose::{TraceError, TraceOptions, Tracer};

fn lo4() -> IpAddr {
    "127.0.0.1".parse().unwrap()
}

fn has_ipv6_loopback() -> bool {
    UdpSocket::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, 0))).is_ok()
}

/// Held by every test, so that no other test's trace is running while one
/// counts sockets.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Open ICMP sockets (ping or raw) of the process: descriptors whose
/// `SO_PROTOCOL` is ICMP or ICMPv6. Not all descriptors: the other tests'
/// runtimes open and close their own (epoll, eventfd, the signal driver's
/// socket pair) at any time.
fn open_sockets() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&fd| {
            let mut proto: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: reads one int into `proto`; a descriptor that is not
            // (or no longer) a socket only makes the call fail.
            let rc = unsafe {
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_PROTOCOL,
                    (&mut proto as *mut libc::c_int).cast(),
                    &mut len,
                )
            };
            rc == 0 && (proto == libc::IPPROTO_ICMP || proto == libc::IPPROTO_ICMPV6)
        })
        .count()
}

/// Many traces allowed, so that only the test that means to hits the limit.
fn unlimited() -> TraceOptions {
    TraceOptions {
        rate_per_sec: 1e6,
        burst: 1_000_000,
        ..TraceOptions::default()
    }
}

#[tokio::test]
async fn loopback_is_reached_in_one_hop() {
    let _serial = SERIAL.lock().await;
    let tracer = Tracer::new(unlimited());
    let started = Instant::now();
    let path = match tracer.trace(lo4()).await {
        Ok(p) => p,
        Err(e) => panic!("ICMP unavailable here: {e}"),
    };
    eprintln!(
        "mode: {:?}, {:?} in {:?}",
        tracer.mode(lo4()),
        path,
        started.elapsed()
    );
    assert!(path.reached, "{path:?}");
    assert_eq!(path.hops, vec![Some(lo4())]);
    assert_eq!(path.answered(), 1);
    assert_eq!(path.summary(), "path reaches the device in 1 hop");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a complete path ends before the timeout: {:?}",
        started.elapsed()
    );
    assert!(matches!(tracer.mode(lo4()), Some("unprivileged" | "raw")));
}

#[tokio::test]
async fn ipv6_loopback_is_reached_in_one_hop() {
    let _serial = SERIAL.lock().await;
    if !has_ipv6_loopback() {
        return eprintln!("NOTE: ::1 is not configured here; skipped");
    }
    let lo6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let path = Tracer::new(unlimited())
        .trace(lo6)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(path.reached, "{path:?}");
    assert_eq!(path.hops, vec![Some(lo6)]);
}

#[tokio::test]
async fn past_the_budget_a_trace_fails_at_once() {
    let _serial = SERIAL.lock().await;
    let tracer = Tracer::new(TraceOptions {
        rate_per_sec: 0.001,
        burst: 2,
        ..TraceOptions::default()
    });
    for _ in 0..2 {
        tracer.trace(lo4()).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let started = Instant::now();
    let shared = tracer.clone();
    match shared.trace(lo4()).await {
        Err(TraceError::RateLimited) => {}
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_millis(50));
}

#[tokio::test]
async fn not_unicast_is_refused() {
    let _serial = SERIAL.lock().await;
    let tracer = Tracer::new(unlimited());
    for a in ["0.0.0.0", "224.0.0.1", "255.255.255.255", "::", "ff02::1"] {
        let a: IpAddr = a.parse().unwrap();
        assert!(
            matches!(tracer.trace(a).await, Err(TraceError::NotUnicast(_))),
            "{a}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_traces_leave_no_socket_behind() {
    let _serial = SERIAL.lock().await;
    let tracer = Tracer::new(unlimited());
    // Warm up whatever the runtime opens once (blocking threads, …).
    tracer.trace(lo4()).await.unwrap_or_else(|e| panic!("{e}"));
    let before = open_sockets();
    {
        // The count sees an ICMP socket (ping, else raw) while it is open.
        use socket2::{Domain, Protocol, Socket, Type};
        let icmp = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4))
            .or_else(|_| {
                Socket::new(
                    Domain::IPV4,
                    Type::from(libc::SOCK_RAW),
                    Some(Protocol::ICMPV4),
                )
            })
            .unwrap_or_else(|e| panic!("no ICMP socket: {e}"));
        assert_eq!(open_sockets(), before + 1);
        drop(icmp);
    }
    let mut tasks = Vec::new();
    for i in 0..100 {
        let t = tracer.clone();
        let dest: IpAddr = if i % 2 == 0 && has_ipv6_loopback() {
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        } else {
            // Other loopback addresses: every trace its own destination.
            format!("127.0.{}.{}", i / 200, 1 + i % 200)
                .parse()
                .unwrap()
        };
        tasks.push(tokio::spawn(async move { (dest, t.trace(dest).await) }));
    }
    for task in tasks {
        let (dest, result) = task.await.unwrap();
        let path = result.unwrap_or_else(|e| panic!("{dest}: {e}"));
        assert!(path.reached, "{dest}: {path:?}");
        assert_eq!(path.hops, vec![Some(dest)], "{dest}");
    }
    assert_eq!(
        open_sockets(),
        before,
        "open sockets before and after 100 traces"
    );
}
