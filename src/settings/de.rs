//! Deserializing helpers every value type uses, and [`Field`]: how a
//! parsed value becomes a setting's value.

use std::fmt;
use std::path::Path;

use serde::de::{self, Deserializer, Visitor};

/// Marks the start of a message raised by reachd's own checks, so that it
/// can be told apart from the path serde_norway prefixes to it.
pub(crate) const MARK: char = '\u{1f}';

/// A deserialization error with `msg` as its whole message.
pub fn custom<E: de::Error>(msg: impl fmt::Display) -> E {
    E::custom(format_args!("{MARK}{msg}"))
}

/// Deserializes a string and checks or converts it with `f` inside the
/// visitor, so that `f`'s error carries the string's own line and column.
pub fn str_then<'de, D, T, F>(d: D, expecting: &'static str, f: F) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    F: FnOnce(&str) -> Result<T, String>,
{
    struct V<F> {
        expecting: &'static str,
        f: F,
    }
    impl<T, F: FnOnce(&str) -> Result<T, String>> Visitor<'_> for V<F> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            (self.f)(v).map_err(custom)
        }
    }
    d.deserialize_str(V { expecting, f })
}

/// How a setting's parsed value (`Self`, validated as it is parsed)
/// becomes its resolved value `T`.
pub trait Field<T>: Sized {
    fn value(self) -> T;
    /// Makes a relative path relative to `dir`, the directory of the file
    /// that set it (only paths do anything).
    fn rebase(_value: &mut T, _dir: &Path) {}
}

/// An optional setting (`command`, `known_hosts`): unset by default.
impl<T, P: Field<T>> Field<Option<T>> for P {
    fn value(self) -> Option<T> {
        Some(self.value())
    }
    fn rebase(value: &mut Option<T>, dir: &Path) {
        if let Some(v) = value {
            P::rebase(v, dir);
        }
    }
}

impl Field<bool> for bool {
    fn value(self) -> bool {
        self
    }
}
