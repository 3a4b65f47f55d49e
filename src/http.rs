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
use crate::sink::state::TargetStatus;
use crate::verdict::fmt_duration;

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
    let body = tokio::task::spawn_blocking(move || sinks.metrics.render(&sinks.state))
        .await
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
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
    let rows = s.sinks.state.snapshot();
    let up = rows.iter().filter(|r| r.up).count();
    axum::Json(serde_json::json!({
        "targets": rows.len(),
        "up": up,
        "down": rows.len() - up,
        "status": rows,
    }))
    .into_response()
}

async fn status_page(State(s): State<AppState>) -> Html<String> {
    Html(render_page(
        &s.sinks.state.snapshot(),
        std::time::SystemTime::now(),
    ))
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The status page: down targets first, then the rest; refreshes itself.
pub fn render_page(rows: &[TargetStatus], now: std::time::SystemTime) -> String {
    let mut rows: Vec<&TargetStatus> = rows.iter().collect();
    rows.sort_by_key(|r| r.up);
    let down = rows.iter().filter(|r| !r.up).count();
    let mut html = String::with_capacity(4096 + rows.len() * 300);
    html.push_str(concat!(
        "<!doctype html><html><head><meta charset=utf-8>",
        "<meta name=viewport content=\"width=device-width, initial-scale=1\">",
        "<meta http-equiv=refresh content=10><title>reachd</title><style>",
        "body{font:14px system-ui,sans-serif;margin:1em;color:#222}",
        "table{border-collapse:collapse;width:100%}",
        "th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #ddd;vertical-align:top}",
        "th{background:#f4f4f4}.up{color:#176f2c;font-weight:600}",
        ".down{color:#b00020;font-weight:600}td.detail{color:#555;font-size:12px;word-break:break-all}",
        "</style></head><body>"
    ));
    html.push_str(&format!(
        "<h1>reachd</h1><p>{} targets: <span class=up>{} up</span>, <span class=down>{} down</span>. \
         <a href=metrics>metrics</a> · <a href=api/v1/status>JSON</a></p>",
        rows.len(),
        rows.len() - down,
        down
    ));
    html.push_str("<table><tr><th>device</th><th>protocol</th><th>state</th><th>reason</th><th>phase</th><th>since</th><th>last</th><th>detail</th></tr>");
    for r in rows {
        let since = now
            .duration_since(r.since)
            .map(|d| fmt_duration(std::time::Duration::from_secs(d.as_secs())))
            .unwrap_or_default();
        let last = match r.rtt {
            Some(rtt) => format!("rtt {:.3} ms", rtt * 1000.0),
            None => format!("{:.3} s", r.duration),
        };
        let (class, state) = if r.up { ("up", "UP") } else { ("down", "DOWN") };
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class={class}>{state}</td><td>{}</td><td>{}</td>\
             <td>{since}</td><td>{last}</td><td class=detail>{}</td></tr>",
            esc(&r.device),
            r.protocol,
            r.reason,
            r.phase,
            esc(&r.detail),
        ));
    }
    html.push_str("</table></body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::state::StateStore;
    use crate::sink::state::tests::result;
    use crate::verdict::Reason;

    #[test]
    fn page_lists_down_first_and_escapes() {
        let s = StateStore::default();
        s.record(&result("<r1>", Reason::Ok, 100));
        s.record(&result("r2", Reason::NoReply, 100));
        let html = render_page(
            &s.snapshot(),
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(160),
        );
        assert!(html.contains("&lt;r1&gt;"));
        assert!(!html.contains("<r1>"));
        let r2 = html.find(">r2<").unwrap();
        let r1 = html.find("&lt;r1&gt;").unwrap();
        assert!(r2 < r1, "down targets first");
        assert!(html.contains("<td>1m</td>"));
        assert!(html.contains("1 up</span>, <span class=down>1 down"));
    }
}
