//! Single-flight rendering of `/metrics`.
//!
//! A scrape that arrives while a render is running joins that render instead
//! of starting its own: N concurrent scrapes cost one render's CPU and share
//! one buffer (the body is reference-counted [`Bytes`], written to every
//! client without a copy). A scrape that arrives when no render is running
//! starts a fresh one, so a lone scrape always sees the current state. At
//! most one render runs at a time; at most two buffers are alive at once
//! (the one being written out to slow clients, and the next).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

/// The outcome of one render: the body, or why it failed.
pub type Rendered = Arc<Result<Bytes, String>>;

type RenderFn = Arc<dyn Fn() -> String + Send + Sync>;

pub struct Renderer {
    render: RenderFn,
    running: Mutex<Option<Shared<BoxFuture<'static, Rendered>>>>,
    renders: Arc<AtomicU64>,
    callers: AtomicU64,
}

impl Renderer {
    /// `render` runs on the blocking pool of the runtime that calls
    /// [`Renderer::get`] (the HTTP server's own runtime).
    pub fn new(render: impl Fn() -> String + Send + Sync + 'static) -> Self {
        Renderer {
            render: Arc::new(render),
            running: Mutex::new(None),
            renders: Arc::new(AtomicU64::new(0)),
            callers: AtomicU64::new(0),
        }
    }

    /// The current metrics text: the render in progress if there is one,
    /// else a new render.
    pub async fn get(&self) -> Rendered {
        self.callers.fetch_add(1, Ordering::Relaxed);
        let fut = {
            let mut slot = self.running.lock().unwrap_or_else(|e| e.into_inner());
            match &*slot {
                Some(f) if f.peek().is_none() => f.clone(),
                _ => {
                    let f = self.start();
                    *slot = Some(f.clone());
                    f
                }
            }
        };
        fut.await
    }

    fn start(&self) -> Shared<BoxFuture<'static, Rendered>> {
        let render = self.render.clone();
        let renders = self.renders.clone();
        let task = tokio::task::spawn_blocking(move || {
            renders.fetch_add(1, Ordering::Relaxed);
            Bytes::from(render())
        });
        async move {
            Arc::new(match task.await {
                Ok(body) => Ok(body),
                Err(e) => Err(e.to_string()),
            })
        }
        .boxed()
        .shared()
    }

    /// Renders started so far.
    pub fn renders(&self) -> u64 {
        self.renders.load(Ordering::Relaxed)
    }

    /// Calls of [`Renderer::get`] so far (scrapes that asked for a render).
    pub fn callers(&self) -> u64 {
        self.callers.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn concurrent_callers_share_one_render_and_later_ones_get_a_new_one() {
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let counter = Arc::new(AtomicU64::new(0));
        let c = counter.clone();
        let r = Arc::new(Renderer::new(move || {
            let _ = release_rx.lock().unwrap().recv();
            format!("render {}\n", c.fetch_add(1, Ordering::Relaxed))
        }));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let r = r.clone();
            tasks.push(tokio::spawn(async move { r.get().await }));
        }
        while r.callers() < 20 {
            tokio::task::yield_now().await;
        }
        release_tx.send(()).unwrap();
        for t in tasks {
            let out = t.await.unwrap();
            assert_eq!(out.as_ref().as_ref().unwrap().as_ref(), b"render 0\n");
        }
        assert_eq!(r.renders(), 1);
        // The render is over: the next caller gets a fresh one.
        release_tx.send(()).unwrap();
        let out = r.get().await;
        assert_eq!(out.as_ref().as_ref().unwrap().as_ref(), b"render 1\n");
        assert_eq!(r.renders(), 2);
    }

    #[tokio::test]
    async fn a_panicking_render_is_an_error_not_a_hang() {
        let r = Renderer::new(|| panic!("boom"));
        let out = r.get().await;
        assert!(out.is_err());
        assert_eq!(r.renders(), 1);
    }
}
