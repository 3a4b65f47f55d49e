//! The HTTP endpoints: `/metrics`, the status page `/`, `/api/v1/status`,
//! `/-/healthy`, `/-/ready` and `POST /-/reload`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{mpsc, oneshot};

use crate::sink::Sinks;

pub mod page;

/// Concurrent HTTP connections at most (the HTTP share of the fd budget).
pub const MAX_CONNECTIONS: usize = 128;

/// A reload request from HTTP; answered with the outcome.
pub type ReloadRequest = oneshot::Sender<Result<String, String>>;

#[derive(Clone)]
pub struct AppState {
    pub sinks: Sinks,
    pub ready: Arc<AtomicBool>,
    pub reload: mpsc::Sender<ReloadRequest>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/metrics", get(metrics))
        .route("/api/v1/status", get(status_json))
        .route("/-/healthy", get(|| async { "OK\n" }))
        .route("/-/ready", get(ready))
        .route("/-/reload", post(reload))
        .with_state(state)
}

async fn metrics(State(s): State<AppState>) -> Response {
    // Rendering 100,000 targets takes a second or two: not on a worker
    // that the scheduler and the sinks need.
    let sinks = s.sinks.clone();
    match tokio::task::spawn_blocking(move || sinks.metrics.render(&sinks.state)).await {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            body,
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

async fn reload(State(s): State<AppState>) -> Response {
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
    axum::Json(page::status_document(&s.sinks.state.snapshot())).into_response()
}

async fn status_page(State(s): State<AppState>) -> Html<String> {
    Html(page::render_page(
        &s.sinks.state.snapshot(),
        std::time::SystemTime::now(),
    ))
}
