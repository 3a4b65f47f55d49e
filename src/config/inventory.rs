//! Inventory sources as written (`inventory:` items: files, NetBox, HTTP
//! SD), and inventory files: device lists in reachd's own format or
//! scrapli's, named by the main file's `inventory:` or by `--inventory`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_yaml::Value;

use super::entry::{self, DEVICE_KEYS};
use super::fields::ProfileName;
use super::remote::RawRemote;
use super::resolve::{self, File, Resolved, Resolver};
use super::scrapli;
use crate::inventory::RemoteSource;
use crate::settings::values::RelPath;
use crate::settings::yaml::{self, FieldPath, unknown_field_name};
use crate::settings::{ConfigError, custom};

/// The format of an inventory file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Format {
    /// scrapli-style if the first entry has a scrapli key (`host`,
    /// `auth_username`, `transport`, …), else reachd's own.
    #[default]
    Auto,
    Reachd,
    Scrapli,
}

/// One inventory file: a path, or `{path, format, profile}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Source {
    pub path: PathBuf,
    pub format: Format,
    /// Profile for every entry of the file that names none itself.
    pub profile: Option<String>,
}

/// One `inventory:` item as written: a file, or a remote source's block.
#[derive(Debug)]
pub(crate) enum Spec {
    File(Source),
    Netbox(RawRemote),
    HttpSd(RawRemote),
}

/// One `inventory:` item, resolved.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Input {
    File(Source),
    Remote(RemoteSource),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    path: Option<RelPath>,
    format: Option<Format>,
    profile: Option<ProfileName>,
    netbox: Option<RawRemote>,
    http_sd: Option<RawRemote>,
}

/// An item as written: a file's path is relative to the main file until
/// [`Source::rebase`].
impl<'de> Deserialize<'de> for Spec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Spec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an inventory file path, {path, format, profile}, {netbox: {…}} or \
                     {http_sd: {…}}",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Spec, E> {
                if v.trim().is_empty() {
                    return Err(custom("must not be empty"));
                }
                Ok(Spec::File(Source {
                    path: PathBuf::from(v),
                    format: Format::Auto,
                    profile: None,
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Spec, A::Error> {
                let raw = RawSource::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let file_keys = raw.path.is_some() || raw.format.is_some() || raw.profile.is_some();
                match (raw.path, raw.netbox, raw.http_sd) {
                    (Some(path), None, None) => Ok(Spec::File(Source {
                        path: path.0,
                        format: raw.format.unwrap_or_default(),
                        profile: raw.profile.map(|p| p.0),
                    })),
                    (None, Some(n), None) if !file_keys => Ok(Spec::Netbox(n)),
                    (None, None, Some(h)) if !file_keys => Ok(Spec::HttpSd(h)),
                    (None, None, None) => Err(custom(
                        "an inventory source needs `path:`, `netbox:` or `http_sd:`",
                    )),
                    _ => Err(custom(
                        "one source per item: `path:` (with `format:`, `profile:`), `netbox:` \
                         or `http_sd:` (each with its own `profile:` inside)",
                    )),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl Source {
    /// The source with its path relative to `dir`, the main file's.
    pub fn rebase(mut self, dir: &Path) -> Source {
        self.path = dir.join(&self.path);
        self
    }
}

/// Why a file was read in the format it was.
struct Detected {
    format: Format,
    /// Set by the source's `format:` rather than detected.
    forced: bool,
    /// The key of the first entry that decided it (auto-detection only).
    because: Option<String>,
}

/// Decides the format of a parsed file from its first entry's keys.
fn detect(items: &[Value]) -> Detected {
    let because = items
        .iter()
        .find_map(Value::as_mapping)
        .and_then(|m| {
            m.keys()
                .filter_map(Value::as_str)
                .find(|k| scrapli::is_key(k))
        })
        .map(str::to_owned);
    Detected {
        format: if because.is_some() {
            Format::Scrapli
        } else {
            Format::Reachd
        },
        forced: false,
        because,
    }
}

/// Reads one inventory file and resolves its devices.
pub(crate) fn load(source: &Source, r: &mut Resolver) -> Result<Vec<Resolved>, ConfigError> {
    let path = source.path.as_path();
    let text = yaml::read(path, "inventory file")?;
    let value = yaml::load(path, &text)?;
    let whole = |m: &str| Err(ConfigError::whole_file(path, m));
    let items = match &value {
        Value::Null => return whole("inventory file is empty (expected a list of devices)"),
        Value::Sequence(items) if items.is_empty() => {
            return whole("inventory file has no devices (the list is empty)");
        }
        Value::Sequence(items) => items,
        Value::Mapping(_) => {
            return whole(
                "expected a list of devices at the top level, found a map \
                 (Nornir-style inventories are not supported yet)",
            );
        }
        _ => return whole("expected a list of devices at the top level"),
    };
    let detected = match source.format {
        Format::Auto => detect(items),
        f => Detected {
            format: f,
            forced: true,
            because: None,
        },
    };
    let hint = |mut err: ConfigError| {
        add_format_hint(&mut err, &detected);
        err
    };
    let file = File {
        path,
        text: &text,
        dir: None,
    };
    let profile = source.profile.as_deref();
    let at = |i| FieldPath::default().index(i);
    if detected.format == Format::Scrapli {
        let entries: Vec<scrapli::Entry> =
            yaml::parse(path, &text, &scrapli::IGNORED_KEYS).map_err(hint)?;
        entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| scrapli::resolve(r, &file, &at(i), e, profile))
            .collect()
    } else {
        let entries: Vec<entry::Device> = yaml::parse(path, &text, &[]).map_err(hint)?;
        entries
            .into_iter()
            .enumerate()
            .map(|(i, d)| resolve::native(r, &file, &at(i), d, profile))
            .collect()
    }
}

/// An unknown key that the other format knows means the file mixes formats
/// or was read in the wrong one: say so.
fn add_format_hint(err: &mut ConfigError, detected: &Detected) {
    let Some(key) = unknown_field_name(&err.message) else {
        return;
    };
    let how = match &detected.because {
        _ if detected.forced => "as its `format:` says".to_owned(),
        Some(k) => format!("because its first entry has `{k}`"),
        None => "because its first entry has no scrapli key".to_owned(),
    };
    let hint = match detected.format {
        Format::Scrapli if DEVICE_KEYS.contains(&key) => Some(format!(
            "`{key}` is a reachd inventory key, but this file is read as scrapli-style ({how}); \
             one file holds one format"
        )),
        Format::Reachd | Format::Auto if scrapli::is_key(key) => Some(format!(
            "`{key}` is a scrapli inventory key, but this file is read as reachd's own format \
                 ({how}); one file holds one format"
        )),
        _ => None,
    };
    if let Some(hint) = hint {
        err.message = format!("unknown field `{key}`: {hint}");
    }
}
