//! `reachd run`: load the configuration, start one scheduler per protocol,
//! feed the sinks, serve HTTP, and react to signals (SIGHUP reloads,
//! SIGTERM/SIGINT stop gracefully).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::config::{self, Plan, Sources};
use crate::engine::Engine;
use crate::http::{self, AppState, ReloadRequest};
use crate::inventory::Store;
use crate::probe::{Probes, factory};
use crate::refresh::Refresher;
use crate::sink::Sinks;

/// How the plan is obtained, again on every reload (on a thread of its
/// own: loading reads files and parses, blocking work).
pub trait PlanSource: Send + Sync + 'static {
    fn load(&self) -> Result<Plan, config::ConfigErrors>;
    /// Where remote sources' snapshots are kept between loads.
    fn store(&self) -> Arc<Store> {
        Arc::default()
    }
}

impl PlanSource for Sources {
    fn load(&self) -> Result<Plan, config::ConfigErrors> {
        config::load(self)
    }
    fn store(&self) -> Arc<Store> {
        self.store.0.clone()
    }
}

/// Command-line settings that win over the configuration file.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    /// Check only this instance's share of the devices.
    pub shard: Option<crate::target::Shard>,
    pub log_format: Option<config::LogFormat>,
    pub log_level: Option<String>,
    /// `--web.config.file`.
    pub web_config: Option<std::path::PathBuf>,
    /// `--web.enable-lifecycle`.
    pub enable_lifecycle: bool,
}

impl Overrides {
    pub fn apply(&self, plan: &mut Plan) {
        if let Some(l) = self.listen {
            plan.listen = l;
        }
        if let Some(f) = self.log_format {
            plan.log.format = f;
        }
        if let Some(l) = &self.log_level {
            plan.log.level = l.clone();
        }
        if let Some(w) = &self.web_config {
            plan.http.web_config = Some(w.clone());
        }
        if self.enable_lifecycle {
            plan.http.enable_lifecycle = true;
        }
        if let Some(shard) = self.shard {
            plan.devices.retain(|d| shard.owns(&d.name));
            plan.targets.retain(|t| shard.owns(&t.device));
        }
    }
}

/// Loads the plan and sets up logging; prints config errors to stderr.
pub fn load_and_init_logging(
    source: &dyn PlanSource,
    overrides: &Overrides,
) -> Result<Plan, ExitCode> {
    match source.load() {
        Ok(mut plan) => {
            overrides.apply(&mut plan);
            crate::logging::init(plan.log.format, &plan.log.level);
            Ok(plan)
        }
        Err(errors) => {
            eprintln!("reachd: the configuration has errors:\n{errors}");
            Err(ExitCode::from(2))
        }
    }
}

/// What `plan` can hold open at once, HTTP connections included.
pub fn fd_need(plan: &Plan) -> crate::fdlimit::Need {
    crate::fdlimit::Need::of(&plan.concurrency, plan.http.limits.fd_budget())
}

fn status_line(plan: &Plan, scheme: &str, listen: SocketAddr) -> String {
    format!(
        "checking {} devices ({} checks), serving {scheme}://{listen}/",
        plan.devices.len(),
        plan.targets.len(),
    )
}

/// `reachd run` (and the monitoring half of `reachd demo`).
pub async fn run(source: Box<dyn PlanSource>, overrides: Overrides) -> ExitCode {
    let plan = match load_and_init_logging(&*source, &overrides) {
        Ok(p) => p,
        Err(code) => return code,
    };
    serve(source, overrides, plan, Probes::default()).await
}

/// Runs the daemon on an already loaded plan. `opened` holds probes the
/// caller has already opened (the demo's ICMP probe); the others the plan
/// needs are opened here.
pub async fn serve(
    source: Box<dyn PlanSource>,
    overrides: Overrides,
    plan: Plan,
    opened: Probes,
) -> ExitCode {
    match crate::fdlimit::ensure(fd_need(&plan)) {
        Ok(limit) => {
            if let Some(from) = limit.raised_from {
                info!(
                    from,
                    to = limit.soft,
                    "raised the open-file limit (RLIMIT_NOFILE)"
                );
            }
        }
        Err(e) => {
            error!("{e}");
            return ExitCode::from(1);
        }
    }
    let probes = match factory::complete_probes(&plan, opened) {
        Ok(p) => p,
        Err(e) => {
            // Logging is set up and writes to stderr: say it once.
            error!("{e}");
            return ExitCode::from(1);
        }
    };
    let web = match &plan.http.web_config {
        Some(file) => match http::web_config::load(file) {
            Ok(w) => w,
            Err(e) => {
                error!("the web config file has errors: {e}");
                return ExitCode::from(2);
            }
        },
        None => http::web_config::WebConfig::plain(),
    };
    let scheme = if web.tls.is_some() { "https" } else { "http" };
    let listener = match tokio::net::TcpListener::bind(plan.listen)
        .await
        .and_then(|l| l.into_std())
    {
        Ok(l) => l,
        Err(e) => {
            error!("cannot listen on {}: {e}", plan.listen);
            return ExitCode::from(1);
        }
    };
    let listen = listener.local_addr().unwrap_or(plan.listen);

    let sinks = Sinks::new();
    let (mut engine, consumer) = Engine::start(&plan, probes, sinks.clone());
    let ready = Arc::new(AtomicBool::new(false));
    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(4);
    // Inventory sources that changed ask for reloads here.
    let (changed_tx, mut changed_rx) = mpsc::channel::<String>(16);
    let mut refresher = Refresher::start(source.store(), sinks.metrics.clone(), changed_tx, &plan);
    // HTTP runs on its own thread and runtime: nothing a client does can
    // take the checks' workers.
    let live = http::server::Live::new(web);
    let server_metrics =
        http::server::ServerMetrics::register(sinks.metrics.registry(), &plan.http.limits);
    let app = http::router(AppState::new(
        sinks,
        ready.clone(),
        reload_tx,
        live.clone(),
        plan.http.enable_lifecycle,
    ));
    let server = match http::server::HttpServer::start(
        listener,
        app,
        plan.http.limits,
        http::server::WebSource {
            live,
            file: plan.http.web_config.clone(),
        },
        server_metrics,
    ) {
        Ok(s) => s,
        Err(e) => {
            error!("cannot start the HTTP server: {e}");
            return ExitCode::from(1);
        }
    };

    let (mut hup, mut term, mut int) = match (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(h), Ok(t), Ok(i)) => (h, t, i),
        _ => {
            eprintln!("reachd: cannot install signal handlers");
            return ExitCode::from(1);
        }
    };
    ready.store(true, Ordering::Relaxed);
    let watchdog = crate::notify::spawn_watchdog(engine.heartbeats());
    crate::memory::spawn_trimmer();
    crate::notify::ready(&status_line(&plan, scheme, listen));
    info!(
        listen = %listen,
        devices = plan.devices.len(),
        targets = plan.targets.len(),
        max_connections = plan.http.limits.max_connections,
        "reachd {} running: metrics at {scheme}://{listen}/metrics, status at {scheme}://{listen}/",
        env!("CARGO_PKG_VERSION")
    );

    let source: Arc<dyn PlanSource> = Arc::from(source);
    loop {
        tokio::select! {
            _ = hup.recv() => {
                // Files are read now; remote sources are asked to refresh
                // and reload again when they changed.
                refresher.refresh_now();
                let stop = stop_signal(&mut term, &mut int);
                if reload(&source, &overrides, &mut engine, &plan, &mut refresher, stop).await.is_none() {
                    break;
                }
            }
            Some(why) = changed_rx.recv() => {
                // Changes that came together are read by one reload.
                let mut reasons = vec![why];
                while let Ok(more) = changed_rx.try_recv() {
                    reasons.push(more);
                }
                info!(reason = %reasons.join("; "), "reloading: the inventory changed");
                let stop = stop_signal(&mut term, &mut int);
                if reload(&source, &overrides, &mut engine, &plan, &mut refresher, stop).await.is_none() {
                    break;
                }
            }
            Some(reply) = reload_rx.recv() => {
                refresher.refresh_now();
                let stop = stop_signal(&mut term, &mut int);
                match reload(&source, &overrides, &mut engine, &plan, &mut refresher, stop).await {
                    Some(outcome) => { let _ = reply.send(outcome); }
                    None => {
                        let _ = reply.send(Err("reachd is stopping: reload abandoned".to_owned()));
                        break;
                    }
                }
            }
            _ = term.recv() => { info!("SIGTERM: stopping"); break; }
            _ = int.recv() => { info!("SIGINT: stopping"); break; }
        }
    }

    ready.store(false, Ordering::Relaxed);
    crate::notify::stopping();
    if let Some(w) = watchdog {
        w.abort();
    }
    let grace = plan.shutdown_grace;
    engine.shutdown();
    // A second signal while draining stops at once.
    tokio::select! {
        _ = consumer => info!("all checks ended; bye"),
        _ = term.recv() => warn!("second signal: not waiting for running checks"),
        _ = int.recv() => warn!("second signal: not waiting for running checks"),
        () = tokio::time::sleep(grace + std::time::Duration::from_secs(1)) => {
            warn!("checks did not end within the grace period");
        }
    }
    server.stop(std::time::Duration::from_secs(2)).await;
    ExitCode::SUCCESS
}

/// SIGTERM or SIGINT, said; what ends a reload that is still loading.
async fn stop_signal(
    term: &mut tokio::signal::unix::Signal,
    int: &mut tokio::signal::unix::Signal,
) {
    tokio::select! {
        _ = term.recv() => info!("SIGTERM during a reload: stopping"),
        _ = int.recv() => info!("SIGINT during a reload: stopping"),
    }
}

/// Loads the plan on a thread of its own: reading and parsing the files is
/// blocking work that must hold neither a runtime worker nor the main loop
/// (a file on a hung mount, a huge inventory). `None` when `stop` comes
/// first: the thread is left to finish on its own and its plan is dropped
/// (exiting the process ends it).
async fn load_unless_stopped(
    source: &Arc<dyn PlanSource>,
    stop: impl std::future::Future<Output = ()>,
) -> Option<Result<Plan, config::ConfigErrors>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let src = source.clone();
    let spawned = std::thread::Builder::new()
        .name("reachd-reload".to_owned())
        .spawn(move || {
            let _ = tx.send(src.load());
        });
    if let Err(e) = spawned {
        warn!("cannot start a thread to load the configuration ({e}): loading in place");
        return Some(source.load());
    }
    tokio::select! {
        loaded = rx => match loaded {
            Ok(loaded) => Some(loaded),
            // The thread panicked: say so as a failed reload.
            Err(_) => Some(Err(config::ConfigErrors(vec![config::ConfigError {
                file: Default::default(),
                line: None,
                column: None,
                field: None,
                message: "loading the configuration failed unexpectedly (a bug: please report)"
                    .to_owned(),
            }]))),
        },
        () = stop => None,
    }
}

/// A reload; `None` when `stop` came while the configuration was loading
/// (the running configuration is left as it is).
async fn reload(
    source: &Arc<dyn PlanSource>,
    overrides: &Overrides,
    engine: &mut Engine,
    serving: &Plan,
    refresher: &mut Refresher,
    stop: impl std::future::Future<Output = ()>,
) -> Option<Result<String, String>> {
    let metrics = engine.sinks().metrics.clone();
    crate::notify::reloading();
    let loaded = load_unless_stopped(source, stop).await?;
    let outcome = match loaded {
        Ok(mut plan) => {
            overrides.apply(&mut plan);
            if plan.listen != serving.listen {
                warn!(configured = %plan.listen, serving = %serving.listen, "a listen address change takes effect at the next restart");
            }
            if plan.http != serving.http {
                warn!(
                    "a change of `http:` or `web_config:` takes effect at the next restart (the web config file's contents are re-read when it changes)"
                );
            }
            if let Err(e) = crate::fdlimit::ensure(fd_need(&plan)) {
                warn!("this configuration would not start at the next restart: {e}");
            }
            // The sources the checks name must be usable here (an
            // interface, an address of this host, the privilege to bind).
            if let Err(e) = engine.prepare(&plan) {
                metrics.reload(false, SystemTime::now());
                let msg = format!("reload failed, the previous configuration keeps running:\n{e}");
                error!(errors = %e, "reload failed, the previous configuration keeps running");
                crate::notify::ready("reload failed: running the previous configuration");
                return Some(Err(msg));
            }
            let c = engine.apply(&plan).await;
            refresher.update(&plan);
            metrics.reload(true, SystemTime::now());
            let msg = format!(
                "configuration reloaded: {} devices, {} checks ({} added, {} removed, {} changed, {} unchanged)",
                plan.devices.len(),
                plan.targets.len(),
                c.added,
                c.removed,
                c.changed,
                c.unchanged
            );
            info!(
                devices = plan.devices.len(),
                targets = plan.targets.len(),
                added = c.added,
                removed = c.removed,
                changed = c.changed,
                unchanged = c.unchanged,
                "configuration reloaded"
            );
            Ok(msg)
        }
        Err(errors) => {
            refresher.failed(&errors);
            metrics.reload(false, SystemTime::now());
            let msg = format!("reload failed, the previous configuration keeps running:\n{errors}");
            error!(errors = %errors, "reload failed, the previous configuration keeps running");
            Err(msg)
        }
    };
    // Ready again either way: a refused reload leaves the old configuration
    // serving.
    match &outcome {
        Ok(msg) => crate::notify::ready(msg),
        Err(_) => crate::notify::ready("reload failed: running the previous configuration"),
    }
    Some(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A source whose load blocks until released.
    struct Stuck(std::sync::Mutex<std::sync::mpsc::Receiver<()>>);

    impl PlanSource for Stuck {
        fn load(&self) -> Result<Plan, config::ConfigErrors> {
            let _ = self.0.lock().unwrap().recv();
            Err(config::ConfigErrors(vec![]))
        }
    }

    #[tokio::test]
    async fn a_stop_signal_ends_a_reload_that_is_still_loading() {
        let (release, rx) = std::sync::mpsc::channel();
        let source: Arc<dyn PlanSource> = Arc::new(Stuck(std::sync::Mutex::new(rx)));
        let stopped = tokio::time::timeout(
            Duration::from_secs(30),
            load_unless_stopped(&source, async {}),
        )
        .await
        .expect("the stop ends the wait, not the load");
        assert!(stopped.is_none());
        let _ = release.send(());
        // Without a stop, the load's result comes back.
        let (release, rx) = std::sync::mpsc::channel();
        let source: Arc<dyn PlanSource> = Arc::new(Stuck(std::sync::Mutex::new(rx)));
        release.send(()).unwrap();
        let loaded = load_unless_stopped(&source, std::future::pending()).await;
        assert!(matches!(loaded, Some(Err(_))));
    }
}
