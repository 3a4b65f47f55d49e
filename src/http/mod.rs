//! The HTTP endpoints: `/metrics`, the status page `/`, `/api/v1/status`,
//! `/-/healthy`, `/-/ready` and `POST /-/reload`.
//!
//! Every response carries the web config's `http_server_config.headers`.
//! With `basic_auth_users`, every path but `/-/healthy` and `/-/ready`
//! (which reveal nothing but "up") needs the password. `POST /-/reload`
//! answers only with `--web.enable-lifecycle` and never to a browser
//! (see [`cross_site`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{mpsc, oneshot};

use crate::sink::Sinks;
use crate::view;

pub mod server;
pub mod settings;
pub mod single_flight;
pub mod web_config;

/// A reload request from HTTP; answered with the outcome.
pub type ReloadRequest = oneshot::Sender<Result<String, String>>;

#[derive(Clone)]
pub struct AppState {
    pub sinks: Sinks,
    pub ready: Arc<AtomicBool>,
    pub reload: mpsc::Sender<ReloadRequest>,
    /// Single-flight `/metrics` renders.
    pub renderer: Arc<single_flight::Renderer>,
    /// TLS, users and headers in force.
    pub web: server::Live,
    /// `--web.enable-lifecycle`: `POST /-/reload` is allowed.
    pub lifecycle: bool,
    rate: Arc<std::sync::Mutex<Bucket>>,
}

impl AppState {
    pub fn new(
        sinks: Sinks,
        ready: Arc<AtomicBool>,
        reload: mpsc::Sender<ReloadRequest>,
        web: server::Live,
        lifecycle: bool,
    ) -> Self {
        let render_sinks = sinks.clone();
        AppState {
            renderer: Arc::new(single_flight::Renderer::new(move || {
                render_sinks
                    .metrics
                    .render_with(&render_sinks.state, &render_sinks.deps)
            })),
            sinks,
            ready,
            reload,
            web,
            lifecycle,
            rate: Arc::default(),
        }
    }
}

/// `rate_limit`'s token bucket.
#[derive(Default)]
struct Bucket {
    tokens: f64,
    last: Option<tokio::time::Instant>,
}

impl Bucket {
    fn take(&mut self, interval: std::time::Duration, burst: u32) -> bool {
        let now = tokio::time::Instant::now();
        let cap = f64::from(burst);
        self.tokens = match self.last {
            None => cap,
            Some(t) => (self.tokens + now.duration_since(t).as_secs_f64() / interval.as_secs_f64())
                .min(cap),
        };
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Paths anyone may read, with or without a password.
fn is_open(path: &str) -> bool {
    matches!(path, "/-/healthy" | "/-/ready")
}

/// Rate limit, authentication and headers, for every request.
async fn guard(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let web = s.web.get();
    let mut resp = 'resp: {
        if let Some((interval, burst)) = web.rate_limit {
            let ok = s
                .rate
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(interval, burst);
            if !ok {
                break 'resp (StatusCode::TOO_MANY_REQUESTS, "too many requests\n").into_response();
            }
        }
        if !web.users.is_empty() && !is_open(req.uri().path()) {
            let presented = req
                .headers()
                .get(header::AUTHORIZATION)
                .map(|v| v.as_bytes().to_vec());
            let checker = web.clone();
            // bcrypt takes tens of milliseconds: on the blocking pool.
            let outcome =
                tokio::task::spawn_blocking(move || checker.users.check(presented.as_deref()))
                    .await
                    .unwrap_or(web_config::Auth::Denied);
            if outcome != web_config::Auth::Allowed {
                break 'resp unauthorized();
            }
        }
        next.run(req).await
    };
    for (name, value) in &web.headers {
        resp.headers_mut().insert(name.clone(), value.clone());
    }
    resp
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"reachd\", charset=\"UTF-8\"",
        )],
        "Unauthorized\n",
    )
        .into_response()
}

pub fn router(state: AppState) -> Router {
    let guarded = axum::middleware::from_fn_with_state(state.clone(), guard);
    Router::new()
        .route("/", get(status_page))
        .route("/metrics", get(metrics))
        .route("/api/v1/status", get(status_json))
        .route("/-/healthy", get(|| async { "OK\n" }))
        .route("/-/ready", get(ready))
        .route("/-/reload", post(reload))
        .layer(guarded)
        .with_state(state)
}

async fn metrics(State(s): State<AppState>) -> Response {
    // Rendering 100,000 targets takes a second or two: on the HTTP
    // runtime's blocking pool, once for all the scrapes that arrive
    // meanwhile.
    match &*s.renderer.get().await {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            body.clone(),
        )
            .into_response(),
        // A failed scrape, not an empty page that reads as "no targets".
        Err(e) => {
            tracing::error!(error = %e, "rendering the metrics failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "rendering the metrics failed\n",
            )
                .into_response()
        }
    }
}

async fn ready(State(s): State<AppState>) -> Response {
    if s.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response()
    }
}

/// The text of a refused `POST /-/reload` without the lifecycle flag.
pub const LIFECYCLE_DISABLED: &str = "the lifecycle endpoint POST /-/reload is disabled: start \
reachd with --web.enable-lifecycle (or set `http: {enable_lifecycle: true}` in the configuration) \
to allow it; SIGHUP (systemctl reload reachd) always reloads\n";

/// Whether a request looks like a browser's cross-site (or any browser)
/// request: reloads are for tools (curl, scripts), which send none of
/// these. A page elsewhere can make a browser POST here (a form, or
/// `fetch` in `no-cors` mode) but only with an `Origin` header, a
/// `Sec-Fetch-Site` other than `none`, or a form content type
/// (`application/x-www-form-urlencoded`, `multipart/form-data`,
/// `text/plain`); anything else needs a CORS preflight, which reachd never
/// grants.
pub fn cross_site(headers: &HeaderMap) -> bool {
    if headers.contains_key(header::ORIGIN) {
        return true;
    }
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() != b"none")
    {
        return true;
    }
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|t| {
            matches!(
                t.as_str(),
                "application/x-www-form-urlencoded" | "multipart/form-data" | "text/plain"
            )
        })
}

async fn reload(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if !s.lifecycle {
        return (StatusCode::FORBIDDEN, LIFECYCLE_DISABLED).into_response();
    }
    if cross_site(&headers) {
        return (
            StatusCode::FORBIDDEN,
            "POST /-/reload is refused from browsers and forms (an Origin or Sec-Fetch-Site \
             header, or a form content type): send it from a tool, e.g. `curl -X POST`\n",
        )
            .into_response();
    }
    let (tx, rx) = oneshot::channel();
    if s.reload.send(tx).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match rx.await {
        Ok(Ok(msg)) => (StatusCode::OK, format!("{msg}\n")).into_response(),
        Ok(Err(msg)) => (StatusCode::BAD_REQUEST, format!("{msg}\n")).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response(),
    }
}

async fn status_json(State(s): State<AppState>) -> Response {
    axum::Json(view::status::status_document(
        &s.sinks.snapshot(),
        &s.sinks.metrics.sources(),
    ))
    .into_response()
}

async fn status_page(State(s): State<AppState>) -> Html<String> {
    Html(view::status::render_page(
        &s.sinks.snapshot(),
        &s.sinks.metrics.sources(),
        std::time::SystemTime::now(),
    ))
}
