//! Validated scalar values. Each checks itself while it is deserialized, so
//! its error carries the line and column of the value; [`Field`] turns it
//! into the value a setting holds.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::de::{Field, custom, str_then};
use super::duration::{Dur, Interval, PositiveDur};

/// An unsigned integer within `MIN..=MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounded<const MIN: u64, const MAX: u64>(pub u64);

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const MIN: u64, const MAX: u64>;
        impl<const MIN: u64, const MAX: u64> Visitor<'_> for V<MIN, MAX> {
            type Value = u64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a whole number from {MIN} to {MAX}")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
                if (MIN..=MAX).contains(&v) {
                    Ok(v)
                } else {
                    Err(custom(format!(
                        "{v} is out of range (expected {MIN} to {MAX})"
                    )))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(custom(format!(
                        "{v} is out of range (expected {MIN} to {MAX})"
                    ))),
                }
            }
        }
        d.deserialize_any(V::<MIN, MAX>).map(Bounded)
    }
}

impl<const MIN: u64, const MAX: u64> Field<u16> for Bounded<MIN, MAX> {
    fn value(self) -> u16 {
        u16::try_from(self.0).unwrap_or(u16::MAX)
    }
}

impl<const MIN: u64, const MAX: u64> Field<u32> for Bounded<MIN, MAX> {
    fn value(self) -> u32 {
        u32::try_from(self.0).unwrap_or(u32::MAX)
    }
}

impl<const MIN: u64, const MAX: u64> Field<usize> for Bounded<MIN, MAX> {
    fn value(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

pub type Port = Bounded<1, 65535>;
/// A check's concurrency limit (only `defaults:` sets it).
pub type Concurrency = Bounded<1, 1_000_000>;

impl Field<Duration> for Dur {
    fn value(self) -> Duration {
        self.0
    }
}

impl Field<Duration> for PositiveDur {
    fn value(self) -> Duration {
        self.0
    }
}

impl<const MIN_MS: u64> Field<Duration> for Interval<MIN_MS> {
    fn value(self) -> Duration {
        self.0
    }
}

/// A field that only `defaults:` may set; elsewhere it is an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DefaultsOnly;

impl<'de> Deserialize<'de> for DefaultsOnly {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const MSG: &str =
            "concurrency is a daemon-wide limit per protocol: set it under `defaults:`";
        // Refused inside the visitor, so that the error points at the value.
        struct V;
        impl Visitor<'_> for V {
            type Value = DefaultsOnly;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(MSG)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<DefaultsOnly, E> {
                Err(custom(MSG))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<DefaultsOnly, E> {
                Err(custom(MSG))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<DefaultsOnly, E> {
                Err(custom(MSG))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<DefaultsOnly, E> {
                Err(custom(MSG))
            }
        }
        d.deserialize_any(V)
    }
}

/// A non-empty string, trimmed of nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NonEmpty(pub String);

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "a string", |s| {
            if s.trim().is_empty() {
                return Err("must not be empty".to_owned());
            }
            Ok(NonEmpty(s.to_owned()))
        })
    }
}

impl Field<String> for NonEmpty {
    fn value(self) -> String {
        self.0
    }
}

/// A path, relative to the file that names it (made so by
/// [`Field::rebase`] once that file is known).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelPath(pub PathBuf);

impl<'de> Deserialize<'de> for RelPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "a path", |s| {
            if s.trim().is_empty() {
                return Err("must not be empty".to_owned());
            }
            Ok(RelPath(PathBuf::from(s)))
        })
    }
}

impl Field<PathBuf> for RelPath {
    fn value(self) -> PathBuf {
        self.0
    }
    fn rebase(value: &mut PathBuf, dir: &Path) {
        *value = dir.join(&*value);
    }
}

/// A regex that compiles (kept as text: the probe compiles it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Regex(pub String);

impl<'de> Deserialize<'de> for Regex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "a regular expression", |s| match regex::Regex::new(s) {
            Ok(_) => Ok(Regex(s.to_owned())),
            Err(e) => Err(format!("invalid regex `{s}`: {}", regex_reason(&e))),
        })
    }
}

impl Field<String> for Regex {
    fn value(self) -> String {
        self.0
    }
}

/// The one-line reason of a regex error (its Display is a multi-line
/// diagram ending in `error: …`).
fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map(str::to_owned)
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}
