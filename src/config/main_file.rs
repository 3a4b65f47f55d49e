//! The main configuration file.
//!
//! It is read once, loaded untyped (syntax errors and duplicate keys
//! anywhere; the top level must be a map), parsed once into plain structs,
//! then resolved: `defaults:` and `profiles:` first, so that the
//! `inventory:` sources and the `devices:` can name them, whatever order
//! the keys come in.
//!
//! An error in the settings (everything but `inventory:` and `devices:`)
//! ends the load: nothing after it can be checked without profiles. Errors
//! in `inventory:` and in `devices:` are independent and both reported
//! (each section stops at its first): when one of these fails to parse, the
//! file is parsed again without it, to check the rest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_yaml::Value;

use super::entry::{Defaults, Device, Profile};
use super::fields::Listen;
use super::inventory::{Input, Spec};
use super::remote;
use super::resolve::{self, File, Resolved, Resolver};
use super::scrapli;
use crate::http::settings::{HttpSettings, RawHttp};
use crate::logging::{LogFormat, LogLevel, LogSettings};
use crate::settings::ConfigError;
use crate::settings::duration::Dur;
use crate::settings::values::RelPath;
use crate::settings::yaml::{self, FieldPath, unknown_field_name};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map with format and level")]
struct RawLog {
    format: Option<LogFormat>,
    level: Option<LogLevel>,
}

/// The file as written. `I` and `D` are what `inventory:` and `devices:`
/// are parsed as: their lists, or nothing when they failed to parse.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw<I, D> {
    listen: Option<Listen>,
    http: Option<RawHttp>,
    web_config: Option<RelPath>,
    log: Option<RawLog>,
    shutdown_grace: Option<Dur>,
    state_dir: Option<RelPath>,
    defaults: Option<Defaults>,
    profiles: Option<BTreeMap<String, Profile>>,
    inventory: Option<I>,
    devices: Option<D>,
}

/// What the main file says (all unset when there is none).
#[derive(Default)]
pub(crate) struct MainFile {
    pub listen: Option<std::net::SocketAddr>,
    pub log: LogSettings,
    pub shutdown_grace: Option<Duration>,
    pub http: HttpSettings,
    pub state_dir: Option<PathBuf>,
    pub inventory: Vec<Input>,
    pub devices: Vec<Resolved>,
    /// Errors in `inventory:` and `devices:`.
    pub errors: Vec<ConfigError>,
}

impl<I, D> Raw<I, D> {
    /// The same settings, with `inventory:` and `devices:` converted.
    fn with<J, E>(
        self,
        i: impl FnOnce(I) -> Option<J>,
        d: impl FnOnce(D) -> Option<E>,
    ) -> Raw<J, E> {
        Raw {
            listen: self.listen,
            http: self.http,
            web_config: self.web_config,
            log: self.log,
            shutdown_grace: self.shutdown_grace,
            state_dir: self.state_dir,
            defaults: self.defaults,
            profiles: self.profiles,
            inventory: self.inventory.and_then(i),
            devices: self.devices.and_then(d),
        }
    }
}

type Parsed = Raw<Vec<Spec>, Vec<Device>>;

/// The file parsed, `inventory:` and/or `devices:` left out.
fn parse_without(
    file: &Path,
    text: &str,
    inventory: bool,
    devices: bool,
) -> Result<Parsed, ConfigError> {
    fn none<T, U>(_: T) -> Option<U> {
        None
    }
    match (inventory, devices) {
        (false, false) => yaml::parse::<Parsed>(file, text, &[]),
        (false, true) => {
            yaml::parse::<Raw<Vec<Spec>, IgnoredAny>>(file, text, &[]).map(|r| r.with(Some, none))
        }
        (true, false) => {
            yaml::parse::<Raw<IgnoredAny, Vec<Device>>>(file, text, &[]).map(|r| r.with(none, Some))
        }
        (true, true) => {
            yaml::parse::<Raw<IgnoredAny, IgnoredAny>>(file, text, &[]).map(|r| r.with(none, none))
        }
    }
}

/// Whether `e` is about section `s` of the file.
fn in_section(e: &ConfigError, s: &str) -> bool {
    e.field.as_deref().is_some_and(|f| {
        f.strip_prefix(s)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['[', '.']))
    })
}

/// Reads the main file. `Err` when nothing further can be checked.
pub(crate) fn load(path: &Path, r: &mut Resolver) -> Result<MainFile, ConfigError> {
    let text = yaml::read(path, "config file")?;
    let text = match yaml::load(path, &text)? {
        // Empty, or only comments: all defaults.
        Value::Null => "{}".to_owned(),
        Value::Mapping(_) => text,
        _ => {
            return Err(ConfigError::whole_file(
                path,
                "expected a map of settings at the top level (listen, defaults, profiles, \
                 inventory, devices, …)",
            ));
        }
    };
    // Sections that fail to parse are left out, their errors kept.
    let (mut inventory_error, mut devices_error) = (None, None);
    let raw = loop {
        match parse_without(
            path,
            &text,
            inventory_error.is_some(),
            devices_error.is_some(),
        ) {
            Ok(raw) => break raw,
            Err(e) if inventory_error.is_none() && in_section(&e, "inventory") => {
                inventory_error = Some(e);
            }
            Err(mut e) if devices_error.is_none() && in_section(&e, "devices") => {
                scrapli_hint(&mut e);
                devices_error = Some(e);
            }
            Err(e) => return Err(e),
        }
    };
    let file = File {
        path,
        text: &text,
        dir: None,
        kept: Default::default(),
    };
    let dir = file.dir();
    let root = FieldPath::default();

    // Settings: `defaults:` and `profiles:`, which devices resolve against.
    if let Some(Defaults(mut defaults)) = raw.defaults {
        // The defaults alone must already make sense.
        defaults
            .validate()
            .map_err(|e| file.error(&root.key("defaults"), e))?;
        defaults.rebase(&dir);
        r.defaults = defaults;
    }
    for (name, Profile(settings)) in raw.profiles.unwrap_or_default() {
        let layer = r.layer(&file, &root.key("profiles").key(&name), settings)?;
        r.profiles.insert(name, layer);
    }

    let mut inventory = Vec::new();
    if inventory_error.is_none() {
        let mut names: Vec<String> = Vec::new();
        for (i, spec) in raw.inventory.unwrap_or_default().into_iter().enumerate() {
            let at = root.key("inventory").index(i);
            let input = match spec {
                Spec::File(source) => match &source.profile {
                    Some(p) => r
                        .known_profile(p)
                        .map(|()| Input::File(source.rebase(&dir)))
                        .map_err(|e| file.error(&at.key("profile"), e)),
                    None => Ok(Input::File(source.rebase(&dir))),
                },
                Spec::Netbox(raw) => {
                    remote::source(r, &file, &at.key("netbox"), raw, true).map(Input::Remote)
                }
                Spec::HttpSd(raw) => {
                    remote::source(r, &file, &at.key("http_sd"), raw, false).map(Input::Remote)
                }
            };
            let input = input.and_then(|input| match &input {
                Input::Remote(s) if names.contains(&s.name) => Err(file.error(
                    &at,
                    format!(
                        "a second source named `{}`: give each remote source its own `name:` \
                         (the `source` label of its metrics)",
                        s.name
                    ),
                )),
                Input::Remote(s) => {
                    names.push(s.name.clone());
                    Ok(input)
                }
                Input::File(_) => Ok(input),
            });
            match input {
                Ok(input) => inventory.push(input),
                Err(e) => {
                    inventory_error = Some(e);
                    inventory.clear();
                    break;
                }
            }
        }
    }
    let mut devices = Vec::new();
    if devices_error.is_none() {
        for (i, d) in raw.devices.unwrap_or_default().into_iter().enumerate() {
            let at = root.key("devices").index(i);
            match resolve::native(r, &file, &at, d, None) {
                Ok(d) => devices.push(d),
                Err(e) => {
                    devices_error = Some(e);
                    devices.clear();
                    break;
                }
            }
        }
    }
    let log = raw.log.map_or_else(LogSettings::default, |l| LogSettings {
        format: l.format.unwrap_or_default(),
        level: l
            .level
            .map_or_else(|| LogSettings::default().level, |l| l.0),
    });
    Ok(MainFile {
        listen: raw.listen.map(|l| l.0),
        log,
        shutdown_grace: raw.shutdown_grace.map(|d| d.0),
        http: HttpSettings::of(raw.http, raw.web_config.map(|p| dir.join(p.0))),
        state_dir: raw.state_dir.map(|p| dir.join(p.0)),
        inventory,
        devices,
        errors: [inventory_error, devices_error]
            .into_iter()
            .flatten()
            .collect(),
    })
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
