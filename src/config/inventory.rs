//! Inventory files: device lists in reachd's own format or scrapli's, named
//! by the main file's `inventory:` or by `--inventory`.

use std::fmt;
use std::path::PathBuf;
use std::rc::Rc;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_yaml::Value;

use super::context::{self, Ctx};
use super::error::{ConfigError, custom, unknown_field_name};
use super::fields::{ProfileRef, RelPath, relative_path};
use super::native::{self, NativeEntry};
use super::resolve::Resolved;
use super::scrapli::{self, ScrapliEntry};
use super::secret_source::io_reason;

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

/// One inventory source: a path, or `{path, format, profile}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Source {
    pub path: PathBuf,
    pub format: Format,
    /// Profile for every entry of the file that names none itself.
    pub profile: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    path: RelPath,
    #[serde(default)]
    format: Format,
    profile: Option<ProfileRef>,
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Source;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an inventory file path or {path, format, profile}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Source, E> {
                Ok(Source {
                    path: relative_path(v).map_err(custom)?,
                    format: Format::Auto,
                    profile: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Source, A::Error> {
                let raw = RawSource::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Source {
                    path: raw.path.0,
                    format: raw.format,
                    profile: raw.profile.map(|p| p.0),
                })
            }
        }
        d.deserialize_any(V)
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

/// Reads one inventory file, with `ctx` describing it (its path, profile,
/// and the shared profiles, defaults and names).
pub(crate) fn load(source: &Source, ctx: Ctx) -> Result<Vec<Resolved>, ConfigError> {
    let file = source.path.clone();
    let text = std::fs::read_to_string(&file).map_err(|e| {
        ConfigError::whole_file(
            &file,
            format!("cannot read inventory file: {}", io_reason(&e)),
        )
    })?;
    ConfigError::check_depth(&file, &text)?;
    let value: Value =
        serde_yaml::from_str(&text).map_err(|e| ConfigError::from_plain_yaml(&file, &e))?;
    let items = match &value {
        Value::Null => {
            return Err(ConfigError::whole_file(
                &file,
                "inventory file is empty (expected a list of devices)",
            ));
        }
        Value::Sequence(items) if items.is_empty() => {
            return Err(ConfigError::whole_file(
                &file,
                "inventory file has no devices (the list is empty)",
            ));
        }
        Value::Sequence(items) => items,
        Value::Mapping(_) => {
            return Err(ConfigError::whole_file(
                &file,
                "expected a list of devices at the top level, found a map \
                 (Nornir-style inventories are not supported yet)",
            ));
        }
        _ => {
            return Err(ConfigError::whole_file(
                &file,
                "expected a list of devices at the top level",
            ));
        }
    };
    let detected = match source.format {
        Format::Auto => detect(items),
        f => Detected {
            format: f,
            forced: true,
            because: None,
        },
    };
    let ctx = Rc::new(Ctx {
        file_profile: source.profile.clone(),
        list_name: "",
        ..ctx
    });
    let parsed = context::scoped(ctx, || {
        let de = serde_yaml::Deserializer::from_str(&text);
        match detected.format {
            Format::Scrapli => serde_path_to_error::deserialize::<_, Vec<ScrapliEntry>>(de)
                .map(|v| v.into_iter().map(|e| e.0).collect::<Vec<_>>()),
            _ => serde_path_to_error::deserialize::<_, Vec<NativeEntry>>(de)
                .map(|v| v.into_iter().map(|e| e.0).collect::<Vec<_>>()),
        }
    });
    parsed.map_err(|e| {
        let mut err = ConfigError::from_yaml(&file, e);
        add_format_hint(&mut err, &detected);
        err
    })
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
        Format::Scrapli if native::KEYS.contains(&key) => Some(format!(
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
