//! `reachd run`: load the configuration, start one scheduler per protocol,
//! feed the sinks, serve HTTP, and react to signals (SIGHUP reloads,
//! SIGTERM/SIGINT stop gracefully).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use futures::StreamExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::config::{self, Plan, Sources};
use crate::http::{self, AppState, ReloadRequest};
use crate::probe::Probes;
use crate::result::Event;
use crate::scheduler::{self, Handle};
use crate::sink::Sinks;
use crate::target::{Protocol, Target, TargetKey};

/// How the plan is obtained, again on every reload (on a thread of its
/// own: loading reads files and parses, blocking work).
pub trait PlanSource: Send + Sync + 'static {
    fn load(&self) -> Result<Plan, config::ConfigErrors>;
}

impl PlanSource for Sources {
    fn load(&self) -> Result<Plan, config::ConfigErrors> {
        config::load(self)
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

/// The probe for `protocol`; an error says what to fix.
fn build_probe(protocol: Protocol, plan: &Plan) -> Result<Arc<dyn crate::probe::Probe>, String> {
    use crate::probe::icmp::IcmpProbe;
    Ok(match protocol {
        Protocol::Icmp => {
            let icmp = if plan.icmp_broadcast {
                IcmpProbe::with_broadcast()
            } else {
                IcmpProbe::new()
            };
            let icmp = icmp.map_err(|e| e.to_string())?;
            info!(mode = icmp.mode(), "ICMP sockets open");
            Arc::new(icmp)
        }
        Protocol::Ssh => {
            let ssh = crate::probe::ssh::SshProbe::new(plan.state_dir.as_deref());
            match ssh.tofu_file() {
                Some(f) => {
                    info!(known_hosts = %f.display(), "SSH accept-new host keys are recorded here")
                }
                None => info!("no state_dir: SSH accept-new host keys are kept in memory only"),
            }
            Arc::new(ssh)
        }
        Protocol::Telnet => Arc::new(crate::probe::telnet::TelnetProbe::new()),
    })
}

/// The protocols `plan` has targets for.
fn protocols(plan: &Plan) -> Vec<Protocol> {
    Protocol::ALL
        .into_iter()
        .filter(|p| plan.targets.iter().any(|t| t.protocol == *p))
        .collect()
}

/// The probes `plan` needs; an error says what to fix.
pub fn build_probes(plan: &Plan) -> Result<Probes, String> {
    complete_probes(plan, Probes::default())
}

/// `probes`, plus those `plan` needs and `probes` lacks.
fn complete_probes(plan: &Plan, mut probes: Probes) -> Result<Probes, String> {
    for p in protocols(plan) {
        if probes.get(p).is_none() {
            probes.insert(build_probe(p, plan)?);
        }
    }
    Ok(probes)
}

/// Splits targets by protocol, dropping (with a warning) those whose probe
/// could not be started.
fn by_protocol(targets: &[Arc<Target>], probes: &Probes) -> BTreeMap<Protocol, Vec<Arc<Target>>> {
    let mut map: BTreeMap<Protocol, Vec<Arc<Target>>> = BTreeMap::new();
    for t in targets {
        map.entry(t.protocol).or_default().push(t.clone());
    }
    map.retain(|p, ts| {
        if probes.get(*p).is_some() {
            return true;
        }
        warn!(protocol = %p, targets = ts.len(), "the {p} probe could not start (see above): these targets are not checked");
        false
    });
    map
}

/// The running schedulers, one per protocol, all feeding one event channel.
pub struct Engine {
    probes: Probes,
    sinks: Sinks,
    handles: BTreeMap<Protocol, Handle>,
    events: mpsc::Sender<Event>,
    grace: std::time::Duration,
    concurrency: BTreeMap<Protocol, usize>,
    /// The targets now scheduled, to tell what a reload changes.
    current: HashMap<TargetKey, Arc<Target>>,
    heartbeats: crate::notify::Heartbeats,
}

/// What a reload changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub unchanged: usize,
}

impl Changes {
    fn between(
        old: &HashMap<TargetKey, Arc<Target>>,
        new: &HashMap<TargetKey, Arc<Target>>,
    ) -> Self {
        let mut c = Changes::default();
        for (k, t) in new {
            match old.get(k) {
                None => c.added += 1,
                Some(o) if o == t => c.unchanged += 1,
                Some(_) => c.changed += 1,
            }
        }
        c.removed = old.keys().filter(|k| !new.contains_key(*k)).count();
        c
    }
}

impl Engine {
    /// Starts the schedulers for `plan` and the task that feeds the sinks.
    /// The returned join handle ends when every scheduler has drained.
    pub fn start(
        plan: &Plan,
        probes: Probes,
        sinks: Sinks,
    ) -> (Engine, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<Event>(4096);
        let consumer_sinks = sinks.clone();
        let consumer = tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                consumer_sinks.handle(&ev);
            }
        });
        let mut engine = Engine {
            probes,
            sinks,
            handles: BTreeMap::new(),
            events: tx,
            grace: plan.shutdown_grace,
            concurrency: plan.concurrency.clone(),
            current: keyed(&plan.targets),
            heartbeats: Default::default(),
        };
        engine.sinks.metrics.set_devices(&plan.devices);
        engine.sinks.metrics.reload(true, SystemTime::now());
        for (protocol, targets) in by_protocol(&plan.targets, &engine.probes) {
            engine.spawn(protocol, targets);
        }
        (engine, consumer)
    }

    fn spawn(&mut self, protocol: Protocol, targets: Vec<Arc<Target>>) {
        let Some(probe) = self.probes.get(protocol).cloned() else {
            return;
        };
        let opts = scheduler::Options {
            concurrency: self.concurrency.get(&protocol).copied().unwrap_or(100),
            grace: self.grace,
            buffer: 1024,
        };
        info!(protocol = %protocol, targets = targets.len(), concurrency = opts.concurrency, "scheduling");
        let metrics = self.sinks.metrics.scheduler(protocol);
        // The scheduler and its checks run on the protocol's own lane.
        let lane = crate::lane::handle(protocol, probe.lane_threads());
        let (handle, mut stream) = {
            let _on_lane = lane.enter();
            scheduler::spawn(probe, targets, opts, metrics)
        };
        self.heartbeats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((protocol.to_string(), handle.heartbeat()));
        let tx = self.events.clone();
        tokio::spawn(async move {
            while let Some(ev) = stream.next().await {
                if tx.send(ev).await.is_err() {
                    break;
                }
            }
        });
        self.handles.insert(protocol, handle);
    }

    /// Applies a new plan: new targets start, removed ones stop and lose
    /// their series, unchanged ones keep their state and schedule.
    pub async fn apply(&mut self, plan: &Plan) -> Changes {
        // A reload may bring the first targets of a protocol.
        for p in protocols(plan) {
            if self.probes.get(p).is_none() {
                match build_probe(p, plan) {
                    Ok(probe) => self.probes.insert(probe),
                    Err(e) => error!(protocol = %p, "{e}"),
                }
            }
        }
        let new = keyed(&plan.targets);
        let changes = Changes::between(&self.current, &new);
        self.current = new;
        self.sinks.metrics.set_devices(&plan.devices);
        let mut wanted = by_protocol(&plan.targets, &self.probes);
        for (protocol, handle) in &self.handles {
            handle
                .update(wanted.remove(protocol).unwrap_or_default())
                .await;
        }
        if plan.concurrency != self.concurrency {
            warn!("a concurrency change takes effect at the next restart");
        }
        if plan.shutdown_grace != self.grace {
            warn!("a shutdown_grace change takes effect at the next restart");
        }
        for (protocol, targets) in wanted {
            self.spawn(protocol, targets);
        }
        changes
    }

    /// The schedulers' heartbeats, for the systemd watchdog.
    pub fn heartbeats(&self) -> crate::notify::Heartbeats {
        self.heartbeats.clone()
    }

    /// Stops scheduling; in-flight checks get the grace period.
    pub fn shutdown(self) {
        for h in self.handles.values() {
            h.shutdown();
        }
        // Dropping `self.events` lets the consumer end once every
        // scheduler's stream has drained.
    }
}

fn keyed(targets: &[Arc<Target>]) -> HashMap<TargetKey, Arc<Target>> {
    targets.iter().map(|t| (t.key(), t.clone())).collect()
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
    let probes = match complete_probes(&plan, opened) {
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
                let stop = stop_signal(&mut term, &mut int);
                if reload(&source, &overrides, &mut engine, &plan, stop).await.is_none() {
                    break;
                }
            }
            Some(reply) = reload_rx.recv() => {
                let stop = stop_signal(&mut term, &mut int);
                match reload(&source, &overrides, &mut engine, &plan, stop).await {
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
    stop: impl std::future::Future<Output = ()>,
) -> Option<Result<String, String>> {
    let metrics = engine.sinks.metrics.clone();
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
            let c = engine.apply(&plan).await;
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
    use crate::verdict::Reason;
    use std::time::Duration;

    fn plan(dir: &std::path::Path, name: &str, checks: &str, port: u16) -> Plan {
        let file = dir.join(name);
        std::fs::write(
            &file,
            format!(
                "devices:\n  - name: r1\n    address: 127.0.0.1\n    checks: {checks}\n    \
                 password: x\n    telnet: {{port: {port}, interval: 1s, timeout: 1s, \
                 connect_timeout: 500ms, read_timeout: 500ms}}\n"
            ),
        )
        .unwrap();
        config::load(&Sources {
            config: Some(file),
            inventories: vec![],
        })
        .unwrap()
    }

    #[tokio::test]
    async fn a_reload_can_bring_the_first_targets_of_a_protocol() {
        let dir = std::env::temp_dir().join(format!("reachd-engine-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A loopback port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let before = plan(&dir, "a.yaml", "[]", port);
        assert!(before.targets.is_empty());
        let sinks = Sinks::new();
        let probes = build_probes(&before).unwrap();
        let (mut engine, _consumer) = Engine::start(&before, probes, sinks.clone());

        // The reload brings the first telnet target: its probe must start.
        let after = plan(&dir, "b.yaml", "[telnet]", port);
        let changes = engine.apply(&after).await;
        assert_eq!(changes.added, 1);
        let row = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(row) = sinks.state.snapshot().into_iter().next() {
                    return row;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the new telnet target is checked");
        assert_eq!(row.protocol, Protocol::Telnet);
        assert_eq!(row.reason, Reason::Refused);
        engine.shutdown();
        let _ = std::fs::remove_dir_all(&dir);
    }

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
