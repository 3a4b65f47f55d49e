//! One HTTP connection's life: the TLS handshake (or plain TCP), hyper's
//! HTTP/1.1 or HTTP/2 under the header and idle timeouts, and the
//! bookkeeping of what moves on it that decides when it is closed.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info};

use super::{Limits, MAX_HEAD_BYTES, MAX_STREAMS, PRESSURE_GRACE, Pressure};
use crate::http::web_config::WebConfig;

/// Bytes moved and requests handled on one connection.
struct Activity {
    base: Instant,
    last_ms: AtomicU64,
    /// Handlers running.
    in_flight: AtomicUsize,
    /// Response bodies not yet written out.
    writing: AtomicUsize,
    requests: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            base: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            writing: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// When the connection is to be closed if nothing happens before.
    fn deadline(&self, limits: &Limits, pressure: &Pressure) -> Instant {
        let last = self.base + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        let grace = if self.requests.load(Ordering::Relaxed) == 0 {
            limits.header_timeout
        } else {
            limits.idle_timeout
        };
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            // A handler is running: look again later.
            Instant::now() + grace
        } else if self.writing.load(Ordering::Relaxed) > 0 {
            // A response is being written: only a client that stopped
            // reading for `idle_timeout` is cut off, pressure or not.
            last + limits.idle_timeout
        } else if pressure.is_full() {
            last + grace.min(PRESSURE_GRACE)
        } else {
            last + grace
        }
    }

    /// Returns when the connection has been idle past its deadline.
    async fn expired(&self, limits: &Limits, pressure: &Pressure) {
        loop {
            // Listen for a change before reading the pressure, so that a
            // change between the two is not missed.
            let changed = pressure.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let deadline = self.deadline(limits, pressure);
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {
                    if self.in_flight.load(Ordering::Relaxed) == 0
                        && Instant::now() >= self.deadline(limits, pressure)
                    {
                        return;
                    }
                }
                () = &mut changed => {}
            }
        }
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.touch();
        InFlight(self.clone())
    }
}

struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body, counted as being written until it ends or is dropped.
struct Writing {
    inner: axum::body::Body,
    activity: Arc<Activity>,
}

impl Writing {
    fn new(inner: axum::body::Body, activity: Arc<Activity>) -> Self {
        activity.writing.fetch_add(1, Ordering::Relaxed);
        Writing { inner, activity }
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        self.activity.touch();
        self.activity.writing.fetch_sub(1, Ordering::Relaxed);
    }
}

impl hyper::body::Body for Writing {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// An IO stream that records when bytes move.
struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// One connection: TLS if configured, then HTTP/1.1 (or HTTP/2 when TLS
/// negotiated it), under the timeouts.
pub(super) async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    config: Arc<WebConfig>,
    pressure: Arc<Pressure>,
    stop: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = Tracked {
        inner: stream,
        activity: activity.clone(),
    };
    let Some(tls) = &config.tls else {
        drive(io, false, app, limits, activity, pressure, stop).await;
        return;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config.clone());
    let handshake = tokio::time::timeout(limits.header_timeout, acceptor.accept(io));
    let stream = tokio::select! {
        r = handshake => match r {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                debug!(%peer, "TLS handshake timed out");
                return;
            }
        },
        () = activity.expired(&limits, &pressure) => {
            debug!(%peer, "TLS handshake idle while clients wait: closed");
            return;
        }
    };
    let (_, session) = stream.get_ref();
    if !tls.client_allowed(session.peer_certificates()) {
        info!(%peer, "client certificate has none of client_allowed_sans: connection closed");
        return;
    }
    let h2 = config.http2 && session.alpn_protocol() == Some(b"h2".as_slice());
    drive(stream, h2, app, limits, activity, pressure, stop).await;
}

/// The body of a refused request.
fn plain(status: StatusCode, text: &'static str) -> axum::response::Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(axum::body::Body::from(text))
        .unwrap_or_default()
}

async fn drive<I>(
    io: I,
    h2: bool,
    app: Router,
    limits: Limits,
    activity: Arc<Activity>,
    pressure: Arc<Pressure>,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let act = activity.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let guard = act.begin();
        let act = act.clone();
        let mut app = app.clone();
        let max = limits.max_body_bytes;
        async move {
            let _guard = guard;
            let declared = req
                .headers()
                .get(axum::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let resp = if declared.is_some_and(|n| n > max as u64) {
                plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n")
            } else {
                let req = req.map(|b| http_body_util::Limited::new(b, max));
                let resp = tower_service::Service::call(&mut app, req).await;
                resp.unwrap_or_else(|e: Infallible| match e {})
            };
            Ok::<_, Infallible>(resp.map(|b| Writing::new(b, act)))
        }
    });
    let io = TokioIo::new(io);
    macro_rules! run {
        ($conn:expr) => {{
            let conn = $conn;
            tokio::pin!(conn);
            let mut closing = false;
            loop {
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            debug!(error = %e, "HTTP connection ended with an error");
                        }
                        break;
                    }
                    () = activity.expired(&limits, &pressure), if !closing => {
                        debug!("closing an idle HTTP connection");
                        break;
                    }
                    _ = stop.changed(), if !closing => {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
            }
        }};
    }
    if h2 {
        let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        b.timer(TokioTimer::new())
            .max_concurrent_streams(MAX_STREAMS)
            .max_header_list_size(u32::try_from(MAX_HEAD_BYTES).unwrap_or(u32::MAX));
        run!(b.serve_connection(io, service));
    } else {
        let mut b = hyper::server::conn::http1::Builder::new();
        b.timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_buf_size(MAX_HEAD_BYTES)
            .keep_alive(true);
        run!(b.serve_connection(io, service));
    }
}
