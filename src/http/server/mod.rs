//! The HTTP server: a bounded accept loop on hyper, on its own runtime.
//!
//! - **Its own thread and runtime.** The server runs on a current-thread
//!   tokio runtime in a dedicated OS thread (`reachd-http`, plus at most
//!   [`BLOCKING_THREADS`] for rendering and bcrypt), so nothing a client
//!   does can occupy the workers that run the checks.
//! - **A connection cap** ([`Limits::max_connections`], default
//!   [`DEFAULT_MAX_CONNECTIONS`]): a connection is accepted only when a slot
//!   is free; beyond the cap clients wait in the kernel's listen backlog,
//!   holding no fd of reachd's; while they wait, connections idle for
//!   [`PRESSURE_GRACE`] with no request running make way.
//!   [`Limits::fd_budget`] is the most fds the server holds open.
//! - **Timeouts.** A request head (and a TLS handshake) must arrive
//!   complete within `header_timeout` (default 5 s) of the server starting
//!   to wait for it, so slowloris clients and idle HTTP/1 keep-alive
//!   connections are closed; a connection on which nothing moves for
//!   `idle_timeout` (default 30 s) while no request is being handled (idle
//!   HTTP/2, a client that stopped reading) is closed too.
//! - **Bodies**: a request body over `max_body_bytes` (default 64 KiB) is
//!   refused with 413 (no endpoint takes a body; this bounds what one
//!   could cost).
//! - **Accept errors** (out of fds, out of memory) are logged once a minute
//!   with a count, and the loop backs off; it never spins and never dies.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::web_config::{self, WebConfig};

mod connection;

use connection::connection;

pub const DEFAULT_MAX_CONNECTIONS: usize = 128;
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// Blocking threads of the HTTP runtime (metrics rendering, bcrypt).
pub const BLOCKING_THREADS: usize = 2;
/// How often the web config file and the files it names are looked at.
pub const WEB_CONFIG_POLL: Duration = Duration::from_secs(3);
/// The most bytes of a request head and hyper's read buffer.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// HTTP/2 streams per connection.
const MAX_STREAMS: u32 = 16;
/// While the connection cap is reached and clients wait, a connection on
/// which nothing moved for this long with no request running is closed
/// (instead of after `header_timeout` or `idle_timeout`), so that idle
/// connections cannot keep the clients behind them out for long.
pub const PRESSURE_GRACE: Duration = Duration::from_millis(500);

/// Whether clients are waiting for a free slot; connections look again at
/// their deadlines when this changes.
#[derive(Default)]
struct Pressure {
    full: std::sync::atomic::AtomicBool,
    changed: tokio::sync::Notify,
}

impl Pressure {
    fn set(&self, full: bool) {
        if self.full.swap(full, Ordering::Relaxed) != full {
            self.changed.notify_waiters();
        }
    }

    fn is_full(&self) -> bool {
        self.full.load(Ordering::Relaxed)
    }
}

/// The HTTP server's limits (`http:` in the main configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl Limits {
    /// The most file descriptors the HTTP server holds open: one per
    /// connection, the listener, and a few for reading the web config
    /// and its certificates.
    pub fn fd_budget(&self) -> usize {
        fd_budget(self.max_connections)
    }
}

/// [`Limits::fd_budget`] for a connection cap.
pub const fn fd_budget(max_connections: usize) -> usize {
    max_connections + 1 + 4
}

/// The web configuration in force, swapped whole when the file changes.
#[derive(Clone)]
pub struct Live(Arc<RwLock<Arc<WebConfig>>>);

impl Live {
    pub fn new(config: WebConfig) -> Self {
        Live(Arc::new(RwLock::new(Arc::new(config))))
    }

    pub fn get(&self) -> Arc<WebConfig> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set(&self, config: WebConfig) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
    }
}

/// The server's own metrics.
#[derive(Clone)]
pub struct ServerMetrics {
    pub open: prometheus::IntGauge,
    /// Accepts that failed for want of a resource (EMFILE, ENFILE, …).
    pub accept_errors: prometheus::IntCounter,
    pub web_config_ok: prometheus::IntGauge,
    pub web_config_time: prometheus::Gauge,
}

impl ServerMetrics {
    /// Creates the metrics and registers them with `registry`.
    pub fn register(registry: &prometheus::Registry, limits: &Limits) -> Self {
        let open =
            prometheus::IntGauge::new("reachd_http_connections", "HTTP connections open now.");
        let max = prometheus::IntGauge::new(
            "reachd_http_max_connections",
            "The cap on open HTTP connections (http.max_connections).",
        );
        let ok = prometheus::IntGauge::new(
            "reachd_web_config_last_reload_successful",
            "1 if the last load of the web config file (--web.config.file) succeeded.",
        );
        let time = prometheus::Gauge::new(
            "reachd_web_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful load of the web config file.",
        );
        let errors = prometheus::IntCounter::new(
            "reachd_http_accept_errors_total",
            "HTTP connections that could not be accepted for want of file descriptors or memory.",
        );
        let (open, max, ok, time, errors) = match (open, max, ok, time, errors) {
            (Ok(a), Ok(b), Ok(c), Ok(d), Ok(e)) => (a, b, c, d, e),
            _ => unreachable!("static metric definitions"),
        };
        max.set(i64::try_from(limits.max_connections).unwrap_or(i64::MAX));
        ok.set(1);
        for c in [
            Box::new(open.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(max),
            Box::new(ok.clone()),
            Box::new(time.clone()),
            Box::new(errors.clone()),
        ] {
            // Registered once per registry; a second server on the same
            // registry (tests) keeps the first's series.
            let _ = registry.register(c);
        }
        ServerMetrics {
            open,
            accept_errors: errors,
            web_config_ok: ok,
            web_config_time: time,
        }
    }
}

/// Where the web config comes from, to watch it.
pub struct WebSource {
    pub live: Live,
    /// `None`: no file, plain HTTP, nothing to watch.
    pub file: Option<std::path::PathBuf>,
}

/// The HTTP server, running on its own thread.
pub struct HttpServer {
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub local_addr: SocketAddr,
}

impl HttpServer {
    /// Starts serving `app` on `listener` in a new thread with its own
    /// runtime.
    pub fn start(
        listener: std::net::TcpListener,
        app: Router,
        limits: Limits,
        web: WebSource,
        metrics: ServerMetrics,
    ) -> std::io::Result<HttpServer> {
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .max_blocking_threads(BLOCKING_THREADS)
            .thread_name("reachd-http")
            .build()?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("reachd-http".into())
            .spawn(move || {
                rt.block_on(async move {
                    let listener = match TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            error!("HTTP server: cannot use the listener: {e}");
                            return;
                        }
                    };
                    if let Some(file) = web.file.clone() {
                        tokio::spawn(watch_web_config(
                            file,
                            web.live.clone(),
                            metrics.clone(),
                            stop_rx.clone(),
                        ));
                    }
                    serve(listener, app, limits, web.live, metrics, stop_rx).await;
                });
            })?;
        Ok(HttpServer {
            stop: stop_tx,
            thread: Some(thread),
            local_addr,
        })
    }

    /// Stops accepting, lets running requests end (at most `wait`), and
    /// ends the thread.
    pub async fn stop(mut self, wait: Duration) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let joined = tokio::task::spawn_blocking(move || t.join());
            let _ = tokio::time::timeout(wait + Duration::from_secs(1), joined).await;
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Re-reads the web config when it or a file it names changes. A broken
/// file keeps the last good configuration, says so once in the log and
/// sets `reachd_web_config_last_reload_successful` to 0.
async fn watch_web_config(
    file: std::path::PathBuf,
    live: Live,
    metrics: ServerMetrics,
    mut stop: watch::Receiver<bool>,
) {
    let f = file.clone();
    let mut seen = tokio::task::spawn_blocking(move || web_config::fingerprint(&f))
        .await
        .unwrap_or_default();
    metrics
        .web_config_time
        .set(crate::sink::state::unix_seconds(
            std::time::SystemTime::now(),
        ));
    loop {
        tokio::select! {
            () = tokio::time::sleep(WEB_CONFIG_POLL) => {}
            _ = stop.changed() => return,
        }
        let f = file.clone();
        let Ok(print) = tokio::task::spawn_blocking(move || web_config::fingerprint(&f)).await
        else {
            continue;
        };
        if print == seen {
            continue;
        }
        seen = print;
        let f = file.clone();
        let Ok(loaded) = tokio::task::spawn_blocking(move || web_config::load(&f)).await else {
            continue;
        };
        match loaded {
            Ok(config) => {
                live.set(config);
                metrics.web_config_ok.set(1);
                metrics
                    .web_config_time
                    .set(crate::sink::state::unix_seconds(
                        std::time::SystemTime::now(),
                    ));
                info!(file = %file.display(), "web config reloaded");
            }
            Err(e) => {
                metrics.web_config_ok.set(0);
                error!(error = %e, "web config reload failed, the previous one stays in force");
            }
        }
    }
}

/// Logs a recurring problem at most once per period, with a count.
struct Throttled {
    period: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttled {
    fn new(period: Duration) -> Self {
        Throttled {
            period,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)`: log now, `n` occurrences were not logged since.
    fn tick(&mut self) -> Option<u64> {
        let now = Instant::now();
        match self.last {
            Some(t) if now.duration_since(t) < self.period => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// Accept errors that mean "out of a resource": back off and retry.
fn is_resource_error(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// The accept loop; returns once `stop` is set and the connections have
/// ended (or after a short grace).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    web: Live,
    metrics: ServerMetrics,
    mut stop: watch::Receiver<bool>,
) {
    let max = limits.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(max));
    let pressure = Arc::new(Pressure::default());
    let mut throttle = Throttled::new(Duration::from_secs(60));
    let mut full = Throttled::new(Duration::from_secs(60));
    loop {
        if *stop.borrow() {
            break;
        }
        // A slot first: beyond the cap, clients wait in the backlog.
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => {
                pressure.set(false);
                p
            }
            Err(_) => {
                pressure.set(true);
                if let Some(n) = full.tick() {
                    warn!(
                        max_connections = max,
                        times_since_last_log = n,
                        "HTTP connection cap reached: new connections wait until one closes"
                    );
                }
                tokio::select! {
                    p = slots.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                    _ = stop.changed() => break,
                }
            }
        };
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) if is_resource_error(&e) => {
                metrics.accept_errors.inc();
                if let Some(n) = throttle.tick() {
                    error!(
                        error = %e,
                        times_since_last_log = n,
                        "HTTP server cannot accept connections (out of file descriptors or \
                         memory); retrying"
                    );
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            Err(e) => {
                debug!(error = %e, "accept failed");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let config = web.get();
        let stop = stop.clone();
        let open = metrics.open.clone();
        let pressure = pressure.clone();
        tokio::spawn(async move {
            open.inc();
            connection(stream, peer, app, limits, config, pressure, stop).await;
            open.dec();
            drop(permit);
        });
    }
    // Let running requests end: every slot back means every connection
    // is closed.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(2), slots.acquire_many(all)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{AppState, ReloadRequest, router, single_flight::Renderer};
    use crate::sink::Sinks;
    use std::sync::atomic::AtomicBool;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::mpsc;

    /// A hang guard, not a speed assertion.
    const GUARD: Duration = Duration::from_secs(20);

    fn state(web: WebConfig, lifecycle: bool) -> AppState {
        let (tx, mut rx) = mpsc::channel::<ReloadRequest>(4);
        tokio::spawn(async move {
            while let Some(reply) = rx.recv().await {
                let _ = reply.send(Ok("configuration reloaded".into()));
            }
        });
        AppState::new(
            Sinks::new(),
            Arc::new(AtomicBool::new(true)),
            tx,
            Live::new(web),
            lifecycle,
        )
    }

    struct Running {
        addr: SocketAddr,
        stop: watch::Sender<bool>,
        metrics: ServerMetrics,
    }

    async fn start(state: AppState, limits: Limits) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stop_rx) = watch::channel(false);
        let metrics = ServerMetrics::register(&prometheus::Registry::new(), &limits);
        let web = state.web.clone();
        tokio::spawn(serve(
            listener,
            router(state),
            limits,
            web,
            metrics.clone(),
            stop_rx,
        ));
        Running {
            addr,
            stop,
            metrics,
        }
    }

    /// Sends `request` and reads until the server closes the connection.
    async fn exchange(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    fn get(path: &str) -> String {
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    }

    /// Whether the server closed `s` (EOF or reset) without answering.
    async fn closed_by_server(s: &mut TcpStream) -> bool {
        closed_within(s, GUARD).await
    }

    /// Whether the server closes `s` within `wait`.
    async fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
        let mut buf = [0u8; 64];
        matches!(
            tokio::time::timeout(wait, s.read(&mut buf)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn over_the_cap_clients_wait_and_are_served_once_a_slot_frees() {
        let limits = Limits {
            max_connections: 3,
            header_timeout: Duration::from_secs(600),
            idle_timeout: Duration::from_secs(600),
            ..Limits::default()
        };
        // Three busy connections: scrapes waiting on a render held back.
        let mut st = state(WebConfig::plain(), false);
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = std::sync::Mutex::new(release_rx);
        st.renderer = Arc::new(Renderer::new(move || {
            let _ = release_rx.lock().unwrap().recv();
            "reachd_test 1\n".to_owned()
        }));
        let renderer = st.renderer.clone();
        let srv = start(st, limits).await;
        let mut busy = Vec::new();
        for _ in 0..3 {
            let addr = srv.addr;
            busy.push(tokio::spawn(async move {
                exchange(addr, &get("/metrics")).await
            }));
        }
        tokio::time::timeout(GUARD, async {
            while renderer.callers() < 3 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("three scrapes arrive");
        // The fourth client connects (the kernel's backlog) but is not
        // served while the cap is full of busy connections...
        let mut fourth = TcpStream::connect(srv.addr).await.unwrap();
        fourth
            .write_all(get("/-/healthy").as_bytes())
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        assert!(
            tokio::time::timeout(Duration::from_millis(1500), fourth.read(&mut buf))
                .await
                .is_err(),
            "a client beyond the cap was served"
        );
        assert_eq!(srv.metrics.open.get(), 3);
        // ...and is once they are done.
        release_tx.send(()).unwrap();
        for b in busy {
            assert!(b.await.unwrap().starts_with("HTTP/1.1 200"));
        }
        let mut out = Vec::new();
        tokio::time::timeout(GUARD, fourth.read_to_end(&mut out))
            .await
            .unwrap()
            .unwrap();
        let out = String::from_utf8_lossy(&out);
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert!(out.ends_with("OK\n"), "{out}");
        let _ = srv.stop.send(true);
    }

    /// `n` connections that never send anything.
    async fn connect_idle(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
        let mut idle = Vec::with_capacity(n);
        for _ in 0..n {
            idle.push(TcpStream::connect(addr).await.unwrap());
        }
        idle
    }

    /// `GET /-/healthy` answers 200 within [`GUARD`], or `why` fails.
    async fn healthy_within_guard(addr: SocketAddr, why: &str) {
        let out = tokio::time::timeout(GUARD, exchange(addr, &get("/-/healthy")))
            .await
            .expect(why);
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_the_cap_idle_connections_make_way_for_waiting_clients() {
        // Long timeouts: only the pressure rule can free the slots.
        let limits = Limits {
            max_connections: 3,
            header_timeout: Duration::from_secs(600),
            idle_timeout: Duration::from_secs(600),
            ..Limits::default()
        };
        let srv = start(state(WebConfig::plain(), false), limits).await;
        let mut idle = connect_idle(srv.addr, 3).await;
        while srv.metrics.open.get() < 3 {
            tokio::task::yield_now().await;
        }
        healthy_within_guard(srv.addr, "served once idle connections make way").await;
        // Only as many idle connections as clients wait make way: once
        // the waiting client has a slot, the others may stay.
        let mut closed = 0;
        for s in &mut idle {
            if closed_within(s, Duration::from_millis(200)).await {
                closed += 1;
            }
        }
        assert!(closed >= 1, "no idle connection made way");
        assert!(srv.metrics.open.get() <= 3);
        let _ = srv.stop.send(true);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_connections_beyond_the_cap_are_closed_and_healthy_answers() {
        let limits = Limits {
            max_connections: 4,
            header_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_millis(300),
            ..Limits::default()
        };
        let srv = start(state(WebConfig::plain(), false), limits).await;
        // Twice the cap of connections that never send anything.
        let mut idle = connect_idle(srv.addr, 8).await;
        healthy_within_guard(
            srv.addr,
            "/-/healthy answers once idle connections are closed",
        )
        .await;
        // Every idle connection was closed by the server.
        for s in &mut idle {
            assert!(closed_by_server(s).await);
        }
        // A keep-alive connection left idle after a request is closed too.
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        s.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 1024];
        let n = s.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        assert!(closed_by_server(&mut s).await);
        let _ = srv.stop.send(true);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slowloris_client_is_closed_by_the_header_timeout() {
        let limits = Limits {
            header_timeout: Duration::from_millis(500),
            idle_timeout: Duration::from_secs(600),
            ..Limits::default()
        };
        let srv = start(state(WebConfig::plain(), false), limits).await;
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        // One header line every 100 ms, for up to 60 s: the server must
        // hang up long before the head is complete.
        let mut closed = false;
        for i in 0..600 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if s.write_all(format!("X-Drip-{i}: x\r\n").as_bytes())
                .await
                .is_err()
            {
                closed = true;
                break;
            }
            let mut buf = [0u8; 256];
            match tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    closed = true;
                    break;
                }
                Ok(Ok(n)) => {
                    // hyper may answer 408 before closing.
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    assert!(!text.starts_with("HTTP/1.1 200"), "{text}");
                }
                Err(_) => {}
            }
        }
        assert!(closed, "the slowloris connection stayed open");
        let _ = srv.stop.send(true);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_scrapes_share_one_render() {
        const N: usize = 40;
        let mut st = state(WebConfig::plain(), false);
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = std::sync::Mutex::new(release_rx);
        st.renderer = Arc::new(Renderer::new(move || {
            let _ = release_rx.lock().unwrap().recv();
            "reachd_test 1\n".to_owned()
        }));
        let renderer = st.renderer.clone();
        let srv = start(st, Limits::default()).await;
        let mut tasks = Vec::new();
        for _ in 0..N {
            let addr = srv.addr;
            tasks.push(tokio::spawn(async move {
                exchange(addr, &get("/metrics")).await
            }));
        }
        // Every scrape is waiting on the one render...
        tokio::time::timeout(GUARD, async {
            while renderer.callers() < N as u64 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("all scrapes arrive");
        release_tx.send(()).unwrap();
        for t in tasks {
            let out = t.await.unwrap();
            assert!(out.starts_with("HTTP/1.1 200"), "{out}");
            assert!(out.ends_with("reachd_test 1\n"), "{out}");
        }
        // ...which ran once.
        assert_eq!(renderer.renders(), 1);
        let _ = srv.stop.send(true);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_render_is_a_500() {
        let mut st = state(WebConfig::plain(), false);
        st.renderer = Arc::new(Renderer::new(|| panic!("render failed on purpose")));
        let srv = start(st, Limits::default()).await;
        let out = exchange(srv.addr, &get("/metrics")).await;
        assert!(out.starts_with("HTTP/1.1 500"), "{out}");
        let _ = srv.stop.send(true);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_body_over_the_limit_is_refused() {
        let limits = Limits {
            max_body_bytes: 1024,
            ..Limits::default()
        };
        let srv = start(state(WebConfig::plain(), true), limits).await;
        let big = "x".repeat(4096);
        let out = exchange(
            srv.addr,
            &format!(
                "POST /-/reload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
                 Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n{big}",
                big.len()
            ),
        )
        .await;
        assert!(out.starts_with("HTTP/1.1 413"), "{out}");
        // Within the limit, the same request is served.
        let out = exchange(
            srv.addr,
            "POST /-/reload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: 2\r\n\r\nok",
        )
        .await;
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        let _ = srv.stop.send(true);
    }

    fn web(text: &str) -> WebConfig {
        web_config::parse(std::path::Path::new("/tmp/web.yml"), text).unwrap()
    }

    fn auth_header(user: &str, password: &str) -> String {
        let b64 = data_encoding::BASE64.encode(format!("{user}:{password}").as_bytes());
        format!("Authorization: Basic {b64}\r\n")
    }

    fn get_as(path: &str, auth: &str) -> String {
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn auth_guards_all_but_healthy_and_ready_and_headers_are_sent() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let w = web(&format!(
            "basic_auth_users: {{alice: \"{hash}\"}}\n\
             http_server_config: {{headers: {{X-Frame-Options: deny}}}}\n"
        ));
        let srv = start(state(w, true), Limits::default()).await;
        for path in ["/-/healthy", "/-/ready"] {
            let out = exchange(srv.addr, &get(path)).await;
            assert!(out.starts_with("HTTP/1.1 200"), "{path}: {out}");
        }
        for path in ["/metrics", "/", "/api/v1/status", "/nonexistent"] {
            let out = exchange(srv.addr, &get(path)).await;
            assert!(out.starts_with("HTTP/1.1 401"), "{path}: {out}");
            assert!(
                out.contains("www-authenticate: Basic realm=\"reachd\""),
                "{out}"
            );
            assert!(out.contains("x-frame-options: deny"), "{out}");
            let out = exchange(srv.addr, &get_as(path, &auth_header("alice", "nope"))).await;
            assert!(out.starts_with("HTTP/1.1 401"), "{path}: {out}");
            let out = exchange(srv.addr, &get_as(path, &auth_header("alice", "pw"))).await;
            assert!(!out.starts_with("HTTP/1.1 401"), "{path}: {out}");
            assert!(out.contains("x-frame-options: deny"), "{out}");
        }
        let out = exchange(
            srv.addr,
            "POST /-/reload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
        assert!(
            out.starts_with("HTTP/1.1 401"),
            "reload needs the password too: {out}"
        );
        let _ = srv.stop.send(true);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reload_needs_the_lifecycle_flag_and_is_refused_cross_site() {
        let post = |extra: &str| {
            format!(
                "POST /-/reload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}Content-Length: 0\r\n\r\n"
            )
        };
        let off = start(state(WebConfig::plain(), false), Limits::default()).await;
        let out = exchange(off.addr, &post("")).await;
        assert!(out.starts_with("HTTP/1.1 403"), "{out}");
        assert!(out.contains("--web.enable-lifecycle"), "{out}");
        let on = start(state(WebConfig::plain(), true), Limits::default()).await;
        let out = exchange(on.addr, &post("")).await;
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert!(out.contains("configuration reloaded"), "{out}");
        for extra in [
            "Origin: https://evil.example\r\n",
            "Origin: null\r\n",
            "Sec-Fetch-Site: cross-site\r\n",
            "Content-Type: application/x-www-form-urlencoded\r\n",
            "Content-Type: multipart/form-data; boundary=x\r\n",
            "Content-Type: Text/Plain;charset=UTF-8\r\n",
        ] {
            let out = exchange(on.addr, &post(extra)).await;
            assert!(out.starts_with("HTTP/1.1 403"), "{extra}: {out}");
        }
        // A tool's own content type, or Sec-Fetch-Site: none (typed by the
        // user), is fine.
        for extra in [
            "Content-Type: application/json\r\n",
            "Sec-Fetch-Site: none\r\n",
        ] {
            let out = exchange(on.addr, &post(extra)).await;
            assert!(out.starts_with("HTTP/1.1 200"), "{extra}: {out}");
        }
        let _ = off.stop.send(true);
        let _ = on.stop.send(true);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rate_limit_answers_429_beyond_the_burst() {
        let srv = start(
            state(web("rate_limit: {interval: 1h, burst: 2}\n"), false),
            Limits::default(),
        )
        .await;
        for _ in 0..2 {
            let out = exchange(srv.addr, &get("/-/healthy")).await;
            assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        }
        let out = exchange(srv.addr, &get("/-/healthy")).await;
        assert!(out.starts_with("HTTP/1.1 429"), "{out}");
        let _ = srv.stop.send(true);
    }

    #[test]
    fn throttled_logs_once_per_period_with_a_count() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let mut t = Throttled::new(Duration::from_secs(60));
            assert_eq!(t.tick(), Some(0));
            assert_eq!(t.tick(), None);
            assert_eq!(t.tick(), None);
            tokio::time::advance(Duration::from_secs(61)).await;
            assert_eq!(t.tick(), Some(2));
        });
    }

    #[test]
    fn the_fd_budget_covers_the_cap() {
        assert!(Limits::default().fd_budget() > DEFAULT_MAX_CONNECTIONS);
        assert_eq!(
            fd_budget(10),
            Limits {
                max_connections: 10,
                ..Limits::default()
            }
            .fd_budget()
        );
    }
}
