//! YAML files in, typed values out, errors with file, line, column and
//! field path.
//!
//! Every file is read once, its nesting checked in one linear pass
//! (`depth.rs`) before the parser sees it, then loaded untyped (syntax errors
//! and duplicate keys anywhere, which a typed parse would let overwrite each
//! other) and parsed typed. Errors raised while parsing carry serde_norway's
//! location of the offending node and serde_path_to_error's field path; an
//! error found after parsing (a secret that cannot be read, an unknown
//! profile) names its field path, and [`locate`] finds that node's line and
//! column in the text.

use std::fmt;
use std::path::Path;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_yaml::Value;

use super::de::{MARK, custom};
use super::error::{ConfigError, closest};

/// A file's text, read and checked for nesting.
pub(crate) fn read(file: &Path, what: &str) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        ConfigError::whole_file(file, format!("cannot read {what}: {}", io_reason(&e)))
    })?;
    super::depth::check(&text).map_err(|(line, column)| ConfigError {
        line: Some(line),
        column: Some(column),
        ..ConfigError::whole_file(
            file,
            format!(
                "nesting deeper than {} levels (reachd's files need a handful)",
                super::depth::MAX_DEPTH
            ),
        )
    })?;
    Ok(text)
}

/// `text` loaded untyped: syntax and duplicate keys checked.
pub(crate) fn load(file: &Path, text: &str) -> Result<Value, ConfigError> {
    serde_yaml::from_str(text).map_err(|e| from_plain_yaml(file, &e))
}

/// `text` parsed as a `T`. `hidden` are keys left out of an "expected one
/// of" list (accepted, but not worth suggesting).
pub(crate) fn parse<T: DeserializeOwned>(
    file: &Path,
    text: &str,
    hidden: &[&str],
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text))
        .map_err(|e| from_yaml(file, e, hidden))
}

/// An untyped value parsed as a `T` (entries of remote sources): errors
/// name the field path; there is no text to locate them in.
pub(crate) fn parse_value<T: DeserializeOwned>(
    file: &Path,
    value: Value,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| from_yaml(file, e, &[]))
}

/// One step of a field path: a map key or a list index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A field path, displayed as serde_path_to_error does (`devices[2].name`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldPath(pub Vec<Seg>);

impl FieldPath {
    pub fn key(&self, k: &str) -> FieldPath {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_owned()));
        p
    }
    pub fn index(&self, i: usize) -> FieldPath {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Seg::Index(n) => write!(f, "[{n}]")?,
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
            }
        }
        Ok(())
    }
}

/// An error about the node at `path` of `text`, found after parsing: at
/// that node's line and column.
pub(crate) fn locate(file: &Path, text: &str, path: &FieldPath, message: String) -> ConfigError {
    let found = Find(&path.0).deserialize(serde_yaml::Deserializer::from_str(text));
    let location = found.err().and_then(|e| e.location());
    ConfigError {
        line: location.as_ref().map(|l| l.line()),
        column: location.as_ref().map(|l| l.column()),
        field: (!path.0.is_empty()).then(|| path.to_string()),
        ..ConfigError::whole_file(file, message)
    }
}

/// Walks to the node at a path and fails there, so that the parser's
/// error carries the node's location.
struct Find<'a>(&'a [Seg]);

impl<'de> DeserializeSeed<'de> for Find<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Find<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any node")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((Seg::Key(k), rest)) = self.0.split_first() else {
            return self.scalar();
        };
        while let Some(key) = map.next_key::<String>()? {
            if key == *k {
                return map.next_value_seed(Find(rest));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((Seg::Index(i), rest)) = self.0.split_first() else {
            return self.scalar();
        };
        for _ in 0..*i {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        seq.next_element_seed(Find(rest)).map(|_| ())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar()
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }
}

impl Find<'_> {
    /// Fails when the path ends here.
    fn scalar<E: de::Error>(&self) -> Result<(), E> {
        if self.0.is_empty() {
            Err(custom("found"))
        } else {
            Ok(())
        }
    }
}

/// A deserialization error, with its location and field path.
fn from_yaml(
    file: &Path,
    err: serde_path_to_error::Error<serde_yaml::Error>,
    hidden: &[&str],
) -> ConfigError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    let location = inner.location();
    let message = extract_message(&inner.to_string(), location.as_ref());
    let unknown = unknown_field_name(&message).map(str::to_owned);
    let message = rewrite_message(message, hidden);
    let field = match (path.as_str(), unknown) {
        (".", _) => None,
        // The path of an unknown key may end in `?`: name the key.
        (p, Some(key)) if p.ends_with('?') => {
            let parent = p.trim_end_matches('?').trim_end_matches('.');
            Some(if parent.is_empty() {
                key
            } else {
                format!("{parent}.{key}")
            })
        }
        (p, _) => Some(p.to_owned()),
    };
    ConfigError {
        file: file.to_path_buf(),
        line: location.as_ref().map(|l| l.line()),
        column: location.as_ref().map(|l| l.column()),
        field,
        message,
    }
}

/// A YAML error found before typed parsing (syntax, duplicate keys).
pub(crate) fn from_plain_yaml(file: &Path, err: &serde_yaml::Error) -> ConfigError {
    let location = err.location();
    let display = err.to_string();
    let message = extract_message(&display, location.as_ref());
    // Here serde_norway's own path prefix is the only field path known.
    let field = display
        .find(&format!(": {message}"))
        .map(|i| display[..i].to_owned())
        .map(|p| match p.strip_prefix('.') {
            Some(rest) if rest.starts_with('[') => rest.to_owned(),
            _ => p,
        })
        .filter(|p| !p.is_empty() && p != ".");
    ConfigError {
        file: file.to_path_buf(),
        line: location.as_ref().map(|l| l.line()),
        column: location.as_ref().map(|l| l.column()),
        field,
        message: rewrite_message(message, &[]),
    }
}

/// Messages serde and serde_norway raise themselves; what comes before one of
/// these (after a `: `) is serde_norway's own path prefix.
const SERDE_PHRASES: [&str; 10] = [
    "duplicate entry with key ",
    "invalid type: ",
    "invalid value: ",
    "invalid length ",
    "unknown variant ",
    "unknown field ",
    "missing field ",
    "duplicate field ",
    "recursion limit exceeded",
    "repetition limit exceeded",
];

/// The bare message of a serde_norway error: without its location suffix
/// and without its path prefix.
fn extract_message(display: &str, location: Option<&serde_yaml::Location>) -> String {
    let mut text = display.to_owned();
    if let Some(loc) = location {
        let at = format!(" at line {} column {}", loc.line(), loc.column());
        if let Some(i) = text.find(&at) {
            text.replace_range(i..i + at.len(), "");
        }
    }
    if let Some((_, msg)) = text.split_once(MARK) {
        return msg.to_owned();
    }
    for phrase in SERDE_PHRASES {
        if text.starts_with(phrase) {
            return text;
        }
        if let Some(i) = text.find(&format!(": {phrase}")) {
            return text[i + 2..].to_owned();
        }
    }
    text
}

/// The key an "unknown field `key`…" message names.
pub(crate) fn unknown_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(&rest[..rest.find('`')?])
}

/// Backticked names in serde's "expected one of `a`, `b`" lists.
fn backticked(list: &str) -> Vec<&str> {
    list.split('`').skip(1).step_by(2).collect()
}

/// Makes serde's messages friendlier: suggestions for misspelt keys and
/// values instead of a list of every name.
fn rewrite_message(message: String, hidden: &[&str]) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let Some((name, expected)) = rest.split_once('`') else {
            return message;
        };
        if name == "<<" {
            return "YAML merge keys (`<<`) are not supported: put shared settings in a profile"
                .to_owned();
        }
        let known = backticked(expected);
        return match closest(name, known.iter().copied()) {
            Some(best) => format!("unknown field `{name}`, did you mean `{best}`?"),
            None if known.is_empty() => format!("unknown field `{name}`"),
            None => {
                let shown: Vec<&str> = known
                    .iter()
                    .copied()
                    .filter(|k| !hidden.contains(k))
                    .collect();
                format!(
                    "unknown field `{name}` (expected one of {})",
                    shown.join(", ")
                )
            }
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let Some((value, expected)) = rest.split_once('`') else {
            return message;
        };
        let known = backticked(expected);
        let expected = known.join(", ");
        return match closest(value, known.iter().copied()) {
            Some(best) => {
                format!("invalid value `{value}`, did you mean `{best}`? (expected {expected})")
            }
            None => format!("invalid value `{value}` (expected {expected})"),
        };
    }
    if message.starts_with("invalid type: ") {
        // YAML people say list, not sequence.
        return message
            .replacen("invalid type: sequence", "invalid type: list", 1)
            .replace("expected a sequence", "expected a list");
    }
    message
}

/// An io error's reason, without the "(os error 2)" noise.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_owned(),
                None => s,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_are_rewritten() {
        assert_eq!(
            rewrite_message(
                "unknown field `adress`, expected one of `name`, `address`".to_owned(),
                &[]
            ),
            "unknown field `adress`, did you mean `address`?"
        );
        assert_eq!(
            rewrite_message(
                "unknown field `zzz`, expected `name` or `address`".to_owned(),
                &[]
            ),
            "unknown field `zzz` (expected one of name, address)"
        );
        assert_eq!(
            rewrite_message(
                "unknown variant `strct`, expected one of `strict`, `accept-new`, `off`".to_owned(),
                &[]
            ),
            "invalid value `strct`, did you mean `strict`? (expected strict, accept-new, off)"
        );
    }

    #[test]
    fn messages_lose_norway_path_and_location() {
        assert_eq!(
            extract_message(
                "devices[0].port: invalid type: string \"abc\", expected u16 at line 4 column 11",
                None
            ),
            "invalid type: string \"abc\", expected u16 at line 4 column 11"
        );
        assert_eq!(
            extract_message(&format!("devices[0]: {MARK}bad: thing"), None),
            "bad: thing"
        );
    }

    #[test]
    fn nodes_are_located_by_path() {
        let text = "a:\n  - x: 1\n  - {y: [1, 2], z: {env: V}}\n";
        let at = |p: FieldPath| {
            let e = locate(Path::new("f"), text, &p, "m".into());
            (e.line.unwrap(), e.column.unwrap(), e.field.unwrap())
        };
        let a = FieldPath::default().key("a");
        assert_eq!(at(a.index(0)), (2, 5, "a[0]".into()));
        assert_eq!(at(a.index(1).key("z")), (3, 20, "a[1].z".into()));
        assert_eq!(
            at(a.index(1).key("y").index(1)),
            (3, 13, "a[1].y[1]".into())
        );
    }
}
