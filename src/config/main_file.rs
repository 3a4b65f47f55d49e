//! The main configuration file.
//!
//! It is read from disk once and parsed four times over the same text. First
//! untyped, as a YAML value: syntax errors and duplicate keys anywhere (a
//! typed pass would let a repeated label key overwrite the first), and the
//! top level must be a map. Then in three typed passes, so that what a node
//! needs is known before the node is parsed, whatever order the keys come
//! in:
//! 1. everything but `inventory:` and `devices:` (settings, `defaults:`,
//!    `profiles:`), rejecting unknown top-level keys;
//! 2. `inventory:`, whose sources may name a profile;
//! 3. `devices:`, resolved against the profiles and defaults.
//!
//! The typed passes parse the text, not the value: only the text's
//! deserializer knows the line and column of each node for the errors.
//! Each pass stops at its first error. Pass 1 failing ends the load (nothing
//! after it can be checked without profiles); passes 2 and 3 are
//! independent and both report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_yaml::Value;

use super::context::{self, Ctx};
use super::duration::{Dur, PositiveDur};
use super::error::{ConfigError, unknown_field_name};
use super::fields::{Bounded, Listen, LogLevel, RelPath};
use super::inventory::Source;
use super::native::NativeEntry;
use super::resolve::{Defaults, Layer, Profile, Resolved};
use super::scrapli;
use super::secret_source::io_reason;
use super::{LogFormat, LogSettings};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map with format and level")]
struct RawLog {
    format: Option<LogFormat>,
    level: Option<LogLevel>,
}

/// `http:`: the HTTP server's limits and the lifecycle switch.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    max_connections: Option<Bounded<1, 65536>>,
    header_timeout: Option<PositiveDur>,
    idle_timeout: Option<PositiveDur>,
    max_body_bytes: Option<Bounded<0, { 64 * 1024 * 1024 }>>,
    enable_lifecycle: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    listen: Option<Listen>,
    http: Option<RawHttp>,
    web_config: Option<RelPath>,
    log: Option<RawLog>,
    shutdown_grace: Option<Dur>,
    state_dir: Option<RelPath>,
    defaults: Option<Defaults>,
    profiles: Option<BTreeMap<String, Profile>>,
    #[allow(dead_code)]
    inventory: Option<IgnoredAny>,
    #[allow(dead_code)]
    devices: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct InventoryPass {
    inventory: Option<Vec<Source>>,
}

#[derive(Deserialize)]
struct DevicesPass {
    devices: Option<Vec<NativeEntry>>,
}

/// What the main file says (all unset when there is none).
#[derive(Default)]
pub(crate) struct MainFile {
    pub listen: Option<std::net::SocketAddr>,
    pub log: LogSettings,
    pub shutdown_grace: Option<Duration>,
    pub http: super::HttpSettings,
    pub state_dir: Option<PathBuf>,
    pub defaults: Rc<Defaults>,
    pub profiles: Rc<BTreeMap<String, Rc<Layer>>>,
    pub inventory: Vec<Source>,
    pub devices: Vec<Resolved>,
    /// Errors of passes 2 and 3.
    pub errors: Vec<ConfigError>,
}

fn parse<T: serde::de::DeserializeOwned>(
    file: &Path,
    text: &str,
    ctx: Rc<Ctx>,
) -> Result<T, ConfigError> {
    context::scoped(ctx, || {
        serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text))
            .map_err(|e| ConfigError::from_yaml(file, e))
    })
}

/// Reads the main file. `Err` when nothing further can be checked.
pub(crate) fn load(file: &Path, ctx: Ctx) -> Result<MainFile, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        ConfigError::whole_file(file, format!("cannot read config file: {}", io_reason(&e)))
    })?;
    ConfigError::check_depth(file, &text)?;
    let value: Value =
        serde_yaml::from_str(&text).map_err(|e| ConfigError::from_plain_yaml(file, &e))?;
    let text = match value {
        // Empty, or only comments: all defaults.
        Value::Null => "{}".to_owned(),
        Value::Mapping(_) => text,
        _ => {
            return Err(ConfigError::whole_file(
                file,
                "expected a map of settings at the top level (listen, defaults, profiles, \
                 inventory, devices, …)",
            ));
        }
    };

    // Profiles and defaults are unknown yet: empty while they are parsed.
    let settings: Settings = parse(file, &text, Rc::new(ctx.clone()))?;
    let profiles: BTreeMap<String, Rc<Layer>> = settings
        .profiles
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, Rc::new(v.0)))
        .collect();
    let log = settings
        .log
        .map_or_else(LogSettings::default, |l| LogSettings {
            format: l.format.unwrap_or_default(),
            level: l
                .level
                .map_or_else(|| LogSettings::default().level, |l| l.0),
        });
    let ctx = Rc::new(Ctx {
        profiles: Rc::new(profiles),
        defaults: Rc::new(settings.defaults.unwrap_or_default()),
        ..ctx
    });

    let mut errors = Vec::new();
    let inventory = match parse::<InventoryPass>(file, &text, ctx.clone()) {
        Ok(p) => p.inventory.unwrap_or_default(),
        Err(e) => {
            errors.push(e);
            Vec::new()
        }
    };
    let devices = match parse::<DevicesPass>(file, &text, ctx.clone()) {
        Ok(p) => p
            .devices
            .unwrap_or_default()
            .into_iter()
            .map(|d| d.0)
            .collect(),
        Err(mut e) => {
            scrapli_hint(&mut e);
            errors.push(e);
            Vec::new()
        }
    };
    Ok(MainFile {
        listen: settings.listen.map(|l| l.0),
        log,
        shutdown_grace: settings.shutdown_grace.map(|d| d.0),
        http: http_settings(settings.http, settings.web_config),
        state_dir: settings.state_dir.map(|p| p.0),
        defaults: ctx.defaults.clone(),
        profiles: ctx.profiles.clone(),
        inventory,
        devices,
        errors,
    })
}

fn http_settings(raw: Option<RawHttp>, web_config: Option<RelPath>) -> super::HttpSettings {
    let mut s = super::HttpSettings {
        web_config: web_config.map(|p| p.0),
        ..Default::default()
    };
    let Some(raw) = raw else {
        return s;
    };
    let l = &mut s.limits;
    if let Some(n) = raw.max_connections {
        l.max_connections = usize::try_from(n.0).unwrap_or(usize::MAX);
    }
    if let Some(d) = raw.header_timeout {
        l.header_timeout = d.0;
    }
    if let Some(d) = raw.idle_timeout {
        l.idle_timeout = d.0;
    }
    if let Some(n) = raw.max_body_bytes {
        l.max_body_bytes = usize::try_from(n.0).unwrap_or(usize::MAX);
    }
    s.enable_lifecycle = raw.enable_lifecycle.unwrap_or(false);
    s
}

/// `devices:` is reachd's own format; a scrapli key there means a scrapli
/// list was pasted in: say where it goes.
fn scrapli_hint(err: &mut ConfigError) {
    let Some(key) = unknown_field_name(&err.message) else {
        return;
    };
    // Only for keys of an entry itself (`devices[3].host`), not of its blocks.
    let top_level = err
        .field
        .as_deref()
        .is_some_and(|f| f.matches('.').count() == 1);
    if top_level && scrapli::is_key(key) {
        err.message = format!(
            "unknown field `{key}`: `{key}` is a scrapli inventory key; `devices:` takes \
             reachd's format (name, address, …), a scrapli-style list goes in its own file \
             named under `inventory:`"
        );
    }
}
