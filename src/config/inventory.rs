//! Inventory sources as written (`inventory:` items: files, NetBox, HTTP
//! SD), and inventory files: device lists in reachd's own format or
//! scrapli's, or a Nornir SimpleInventory (`nornir`), named by the main
//! file's `inventory:` or by `--inventory`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_yaml::Value;

use super::entry::{self, DEVICE_KEYS};
use super::fields::ProfileName;
use super::remote::RawRemote;
use super::resolve::{self, File, Resolved, Resolver};
use super::{nornir, scrapli};
use crate::inventory::RemoteSource;
use crate::settings::values::RelPath;
use crate::settings::yaml::{self, FieldPath, unknown_field_name};
use crate::settings::{ConfigError, custom};

/// The format of an inventory file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Format {
    /// scrapli-style if the first entry has a scrapli key (`host`,
    /// `auth_username`, `transport`, …), else reachd's own; a Nornir hosts
    /// file if the top level is a map of host names to maps.
    #[default]
    Auto,
    Reachd,
    Scrapli,
    /// A Nornir SimpleInventory hosts file (with its groups and defaults).
    Nornir,
}

/// One inventory source: a path, or `{path, format, profile, groups,
/// defaults}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Source {
    pub path: PathBuf,
    pub format: Format,
    /// Profile for every entry of the file that names none itself.
    pub profile: Option<String>,
    /// Nornir only: the groups file (default: `groups.yaml` or `.yml`
    /// beside the hosts file, if there is one).
    pub groups: Option<PathBuf>,
    /// Nornir only: the defaults file (default: `defaults.yaml` or `.yml`
    /// beside the hosts file, if there is one).
    pub defaults: Option<PathBuf>,
}

impl Source {
    /// The files the source reads, which the daemon watches: the file and,
    /// when it is or may be a Nornir hosts file, its groups and defaults
    /// files, named or beside it (whether they exist yet or not).
    pub fn watched(&self) -> Vec<PathBuf> {
        let mut files = vec![self.path.clone()];
        if matches!(self.format, Format::Nornir | Format::Auto) {
            let dir = self.path.parent().unwrap_or(Path::new(""));
            for (named, stem) in [(&self.groups, "groups"), (&self.defaults, "defaults")] {
                match named {
                    Some(p) => files.push(p.clone()),
                    None => files.extend(["yaml", "yml"].map(|e| dir.join(format!("{stem}.{e}")))),
                }
            }
        }
        files
    }

    /// A file named by `--inventory`: format detected, no profile.
    pub fn file(path: PathBuf) -> Source {
        Source {
            path,
            format: Format::Auto,
            profile: None,
            groups: None,
            defaults: None,
        }
    }
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
    groups: Option<RelPath>,
    defaults: Option<RelPath>,
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
                    "an inventory file path, {path, format, profile, groups, defaults}, \
                     {netbox: {…}} or {http_sd: {…}}",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Spec, E> {
                if v.trim().is_empty() {
                    return Err(custom("must not be empty"));
                }
                Ok(Spec::File(Source::file(PathBuf::from(v))))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Spec, A::Error> {
                let raw = RawSource::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let format = raw.format.unwrap_or_default();
                if matches!(format, Format::Reachd | Format::Scrapli)
                    && (raw.groups.is_some() || raw.defaults.is_some())
                {
                    return Err(custom(
                        "`groups` and `defaults` are Nornir files: only for `format: nornir` \
                         (or `auto`)",
                    ));
                }
                let file_keys = raw.path.is_some()
                    || raw.format.is_some()
                    || raw.profile.is_some()
                    || raw.groups.is_some()
                    || raw.defaults.is_some();
                match (raw.path, raw.netbox, raw.http_sd) {
                    (Some(path), None, None) => Ok(Spec::File(Source {
                        path: path.0,
                        format,
                        profile: raw.profile.map(|p| p.0),
                        groups: raw.groups.map(|p| p.0),
                        defaults: raw.defaults.map(|p| p.0),
                    })),
                    (None, Some(n), None) if !file_keys => Ok(Spec::Netbox(n)),
                    (None, None, Some(h)) if !file_keys => Ok(Spec::HttpSd(h)),
                    (None, None, None) => Err(custom(
                        "an inventory source needs `path:`, `netbox:` or `http_sd:`",
                    )),
                    _ => Err(custom(
                        "one source per item: `path:` (with `format:`, `profile:`, `groups:`, \
                         `defaults:`), `netbox:` or `http_sd:` (each with its own `profile:` \
                         inside)",
                    )),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl Source {
    /// The source with its paths relative to `dir`, the main file's.
    pub fn rebase(mut self, dir: &Path) -> Source {
        self.path = dir.join(&self.path);
        self.groups = self.groups.map(|p| dir.join(p));
        self.defaults = self.defaults.map(|p| dir.join(p));
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
    let file = File {
        path,
        text: &text,
        dir: None,
        kept: Default::default(),
    };
    let profile = source.profile.as_deref();
    let nornir = |r: &mut Resolver| {
        let (groups, defaults) = (source.groups.as_deref(), source.defaults.as_deref());
        nornir::load(r, &file, groups, defaults, profile)
    };
    let items = match (&value, source.format) {
        (Value::Null, Format::Nornir) => {
            return whole("inventory file is empty (expected a Nornir map of hosts)");
        }
        (Value::Null, _) => {
            return whole("inventory file is empty (expected a list of devices)");
        }
        (Value::Mapping(_), Format::Nornir) => return nornir(r),
        (Value::Mapping(_), Format::Auto) => match nornir::detect(&value) {
            Ok(()) => return nornir(r),
            Err(why) => {
                return whole(&format!(
                    "expected a list of devices, or a Nornir hosts file (a map of host names to \
                     hosts), at the top level; found a map, but {why}"
                ));
            }
        },
        (_, Format::Nornir) => {
            return whole(
                "expected a Nornir hosts file (a map of host names to hosts) at the top level, \
                 as its `format: nornir` says",
            );
        }
        (Value::Sequence(items), _) if items.is_empty() => {
            return whole("inventory file has no devices (the list is empty)");
        }
        (Value::Sequence(items), _) => items,
        (Value::Mapping(_), _) => {
            return whole(
                "expected a list of devices at the top level, found a map (a Nornir hosts \
                 file needs `format: nornir` or `auto`)",
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
