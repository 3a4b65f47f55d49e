//! Configuration and inventory loading: files in, a [`Plan`] out.
//!
//! The main file (see `config/reachd.example.yaml` for every key) holds the
//! daemon's settings, per-protocol `defaults:`, credential/group `profiles:`,
//! `inventory:` sources and `devices:`. Inventory files are device lists in
//! reachd's own format or scrapli's (`config/devices.scrapli.yaml`).
//! Settings cascade field by field: built-in defaults → `defaults:` →
//! profile → device.
//!
//! Everything is checked at load time — types, ranges, durations, label
//! names, regexes, profile names, duplicate device names, and every secret is
//! read — and each error names its file, line, column and field. Nothing here
//! resolves a host name or touches the network.
//!
//! Files, one job each:
//! - `main_file`: the main file, in passes;
//! - `inventory`: inventory sources and files, format detection;
//! - `native`, `scrapli`: the two device entry formats;
//! - `resolve`: per-protocol blocks, profiles, defaults and the cascade;
//! - `fields`, `duration`, `secret_source`: validated values;
//! - `context`: what a node needs to know while it is parsed;
//! - `depth`: a linear look at a file's nesting before it is parsed;
//! - `error`: errors with their location.

mod context;
mod depth;
mod duration;
mod error;
mod fields;
mod inventory;
mod main_file;
mod native;
mod resolve;
mod scrapli;
mod secret_source;

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

pub(crate) use duration::parse as parse_duration;
pub use error::{ConfigError, ConfigErrors};
pub(crate) use error::{closest, custom as de_error};
pub(crate) use fields::str_then;
pub(crate) use secret_source::io_reason;

use crate::target::{Device, Protocol, Target};
use context::{Ctx, EnvLookup};

/// What to load: a main config file, inventory files, or both.
///
/// `config: None` means built-in defaults plus the inventories (what
/// `reachd check --inventory devices.yaml` does).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sources {
    pub config: Option<PathBuf>,
    pub inventories: Vec<PathBuf>,
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Text on a terminal, JSON otherwise (journald, Loki).
    #[default]
    Auto,
    Json,
    Text,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A tracing filter directive: `info`, `debug`, `reachd=debug,warn`.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Auto,
            level: "info".to_owned(),
        }
    }
}

/// The default listen address: loopback only.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9806);

/// The default grace period for in-flight checks on shutdown.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The HTTP server's settings (`http:`) and the web config file
/// (`web_config:`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpSettings {
    pub limits: crate::http::server::Limits,
    /// `POST /-/reload` is allowed (`--web.enable-lifecycle`).
    pub enable_lifecycle: bool,
    /// The exporter-toolkit web config file (`--web.config.file`).
    pub web_config: Option<PathBuf>,
}

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
}

/// Loads and checks the configuration. Errors from several files are all
/// reported (each file stops at its first error).
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
    load_with(sources, Rc::new(env))
}

fn load_with(sources: &Sources, env: EnvLookup) -> Result<Plan, ConfigErrors> {
    let names = Rc::default();
    let main_file::MainFile {
        listen,
        log,
        shutdown_grace,
        http,
        state_dir,
        defaults,
        profiles,
        devices: mut resolved,
        mut inventory,
        mut errors,
    } = match &sources.config {
        Some(file) => {
            let ctx = Ctx {
                names: Rc::clone(&names),
                ..Ctx::new(file, env.clone())
            };
            main_file::load(file, ctx).map_err(|e| ConfigErrors(vec![e]))?
        }
        None => main_file::MainFile::default(),
    };
    inventory.extend(sources.inventories.iter().map(|p| inventory::Source {
        path: p.clone(),
        format: inventory::Format::Auto,
        profile: None,
    }));
    for source in &inventory {
        let ctx = Ctx {
            profiles: Rc::clone(&profiles),
            defaults: Rc::clone(&defaults),
            names: Rc::clone(&names),
            ..Ctx::new(&source.path, env.clone())
        };
        match inventory::load(source, ctx) {
            Ok(devices) => resolved.extend(devices),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    if resolved.is_empty() {
        let file = sources.config.clone().unwrap_or_default();
        return Err(ConfigErrors(vec![ConfigError::whole_file(
            &file,
            "no devices configured (add `devices:` or `inventory:` to the config file, \
             or pass --inventory FILE)",
        )]));
    }
    let state_dir = state_dir.or_else(|| {
        let dirs = env("STATE_DIRECTORY")?;
        // systemd joins several StateDirectory= paths with `:`.
        let first = dirs.to_str()?.split(':').next()?.to_owned();
        (!first.is_empty()).then(|| PathBuf::from(first))
    });

    let mut devices: Vec<Device> = Vec::with_capacity(resolved.len());
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
                per_device.push(r.targets);
            }
        }
    }
    let targets = per_device.into_iter().flatten().map(Arc::new).collect();
    Ok(Plan {
        listen: listen.unwrap_or(DEFAULT_LISTEN),
        log,
        concurrency: defaults.concurrency_limits(),
        shutdown_grace: shutdown_grace.unwrap_or(DEFAULT_SHUTDOWN_GRACE),
        http,
        state_dir,
        devices,
        targets,
        icmp_broadcast: false,
    })
}

#[cfg(test)]
mod tests;
