//! Configuration and inventory loading: files in, a [`Plan`] out.
//!
//! The main file (see `config/reachd.example.yaml` for every key) holds the
//! daemon's settings, per-check `defaults:`, credential/group `profiles:`,
//! `inventory:` sources and `devices:`. Inventory files are device lists in
//! reachd's own format or scrapli's (`config/devices.scrapli.yaml`), or
//! Nornir SimpleInventory files (`config/nornir/`).
//!
//! Each file is parsed once into plain structs, then resolved by plain
//! functions: settings cascade field by field, built-in defaults →
//! `defaults:` → profile → device. A check's block (`icmp:`, `ssh:`, …) is
//! declared by the check itself (`probe/<name>/settings.rs`) and found
//! through the list of checks ([`crate::probe::Layers`]).
//!
//! Everything is checked at load time — types, ranges, durations, label
//! names, regexes, profile names, duplicate device names, and every secret is
//! read — and each error names its file, line, column and field. Nothing here
//! resolves a host name or touches the network.
//!
//! Files, one job each:
//! - `main_file`: the main file;
//! - `inventory`: inventory sources and files, format detection;
//! - `entry`, `scrapli`: the two device entry formats (and profiles,
//!   `defaults:`);
//! - `nornir`: Nornir's hosts, groups and defaults files → device entries;
//! - `resolve`: the cascade, device names, targets;
//! - `parents`: `parents:` checked across every device (names, cycles);
//! - `fields`: validated values of devices and profiles (secrets:
//!   [`crate::secret::source`]).
//!
//! Value types, errors and the YAML reader shared with the web config and
//! the checks' settings are in [`crate::settings`].

mod entry;
mod fields;
mod inventory;
mod main_file;
mod nornir;
mod parents;
mod remote;
mod resolve;
mod scrapli;

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use crate::http::settings::HttpSettings;
pub use crate::logging::{LogFormat, LogSettings};
pub use crate::settings::{ConfigError, ConfigErrors};

use crate::inventory::{RemoteSource, SourceReport, Store};
use crate::target::{Device, Protocol, Target};
use inventory::Input;
use resolve::Resolver;

/// What to load: a main config file, inventory files, or both.
///
/// `config: None` means built-in defaults plus the inventories (what
/// `reachd check --inventory devices.yaml` does).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sources {
    pub config: Option<PathBuf>,
    pub inventories: Vec<PathBuf>,
    /// Remote sources' last good snapshots (fetched on first use).
    pub store: Remote,
}

/// The shared [`Store`] of remote snapshots; equal when the same store.
#[derive(Clone, Debug, Default)]
pub struct Remote(pub Arc<Store>);

impl PartialEq for Remote {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for Remote {}

/// The default listen address: loopback only.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9806);

/// The default grace period for in-flight checks on shutdown.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Everything the daemon needs, resolved and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub listen: SocketAddr,
    pub log: LogSettings,
    /// Concurrency limit per protocol; every protocol is present.
    pub concurrency: BTreeMap<Protocol, usize>,
    pub shutdown_grace: Duration,
    pub http: HttpSettings,
    /// Where accept-new host keys are recorded (default:
    /// `$STATE_DIRECTORY`, systemd's `StateDirectory=`).
    pub state_dir: Option<PathBuf>,
    /// Devices in inventory order: the main file's `devices:`, then each
    /// `inventory:` source, then each `--inventory` file. Names are unique.
    pub devices: Vec<Device>,
    /// One per device × enabled check, in device order, then icmp, ssh,
    /// telnet.
    pub targets: Vec<Arc<Target>>,
    /// ICMP checks may ping broadcast addresses. Never set by a
    /// configuration; only `reachd demo` sets it, for its silent loopback
    /// target (see [`crate::probe::icmp::IcmpProbe::with_broadcast`]).
    pub icmp_broadcast: bool,
    /// How each inventory source fared, in `inventory:` order.
    pub sources: Vec<SourceReport>,
    /// The remote sources, which the daemon refreshes.
    pub remote: Vec<RemoteSource>,
    /// Inventory files, which the daemon watches for changes.
    pub watch: Vec<PathBuf>,
}

/// Loads and checks the configuration. Errors from several files are all
/// reported (each file stops at its first error). Remote sources are read
/// through `sources.store`: its last good snapshots, else fetched now.
pub fn load(sources: &Sources) -> Result<Plan, ConfigErrors> {
    load_with_env(sources, |name: &str| std::env::var_os(name))
}

/// [`load`], with the environment (secrets' `{env: …}`,
/// `$CREDENTIALS_DIRECTORY`, `$STATE_DIRECTORY`) looked up through `env`
/// instead of the process's: what the fixtures in `tests/config/` run.
pub fn load_with_env(
    sources: &Sources,
    env: impl Fn(&str) -> Option<std::ffi::OsString> + 'static,
) -> Result<Plan, ConfigErrors> {
    load_with(sources, Box::new(env))
}

fn load_with(
    sources: &Sources,
    env: Box<crate::secret::source::Env>,
) -> Result<Plan, ConfigErrors> {
    let mut r = Resolver::new(env);
    let main_file::MainFile {
        listen,
        log,
        shutdown_grace,
        http,
        state_dir,
        devices: mut resolved,
        mut inventory,
        mut errors,
    } = match &sources.config {
        Some(file) => main_file::load(file, &mut r).map_err(|e| ConfigErrors(vec![e]))?,
        None => main_file::MainFile::default(),
    };
    inventory.extend(
        sources
            .inventories
            .iter()
            .map(|p| Input::File(inventory::Source::file(p.clone()))),
    );
    let dir = sources
        .config
        .as_deref()
        .and_then(std::path::Path::parent)
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let state_dir = state_dir.or_else(|| {
        let dirs = (r.env)("STATE_DIRECTORY")?;
        // systemd joins several StateDirectory= paths with `:`.
        let first = dirs.to_str()?.split(':').next()?.to_owned();
        (!first.is_empty()).then(|| PathBuf::from(first))
    });
    if sources.store.0.mode == crate::inventory::Mode::Lenient {
        sources.store.0.save_in(state_dir.clone());
    }
    let (mut reports, mut remote, mut watch) = (Vec::new(), Vec::new(), Vec::new());
    for input in &inventory {
        match input {
            Input::File(source) => {
                watch.extend(source.watched());
                let mut report = SourceReport {
                    name: source.path.display().to_string(),
                    kind: "file",
                    ..SourceReport::default()
                };
                match inventory::load(source, &mut r) {
                    Ok(devices) => {
                        report.devices = devices.len();
                        resolved.extend(devices);
                    }
                    Err(e) => {
                        report.error = Some(e.to_string());
                        errors.push(e);
                    }
                }
                reports.push(report);
            }
            Input::Remote(source) => {
                let (devices, report, errs) = remote::load(source, &sources.store.0, &dir, &mut r);
                resolved.extend(devices);
                reports.push(report);
                errors.extend(errs);
                remote.push(source.clone());
            }
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    // A remote source may have no devices yet (or be down at startup):
    // the daemon starts and waits for them.
    if resolved.is_empty() && remote.is_empty() {
        let file = sources.config.clone().unwrap_or_default();
        return Err(ConfigErrors(vec![ConfigError::whole_file(
            &file,
            "no devices configured (add `devices:` or `inventory:` to the config file, \
             or pass --inventory FILE)",
        )]));
    }

    let mut devices: Vec<Device> = Vec::with_capacity(resolved.len());
    let mut parents_at = Vec::with_capacity(resolved.len());
    let mut per_device: Vec<Vec<Target>> = Vec::with_capacity(resolved.len());
    let mut index: HashMap<Arc<str>, usize> = HashMap::with_capacity(resolved.len());
    for r in resolved {
        match index.get(&r.device.name) {
            // Only scrapli entries named by the same host in different files
            // with different transports get here (the name claim refuses
            // every other duplicate): the device gains the other file's
            // checks. Each entry brings an icmp check; the first one stays.
            Some(&i) => {
                for t in r.targets {
                    if !per_device[i].iter().any(|x| x.protocol == t.protocol) {
                        per_device[i].push(t);
                    }
                }
                per_device[i].sort_by_key(|t| t.protocol);
            }
            None => {
                index.insert(r.device.name.clone(), devices.len());
                devices.push(r.device);
                parents_at.push(r.parents_at);
                per_device.push(r.targets);
            }
        }
    }
    let errors = parents::check(&devices, &parents_at, &r);
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    let targets = per_device.into_iter().flatten().map(Arc::new).collect();
    Ok(Plan {
        listen: listen.unwrap_or(DEFAULT_LISTEN),
        log,
        concurrency: r.defaults.concurrency(),
        shutdown_grace: shutdown_grace.unwrap_or(DEFAULT_SHUTDOWN_GRACE),
        http,
        state_dir,
        devices,
        targets,
        icmp_broadcast: false,
        sources: reports,
        remote,
        watch,
    })
}

#[cfg(test)]
mod tests;
