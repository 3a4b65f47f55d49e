//! Configuration errors: where (file, line, column, field path) and what.
//!
//! Errors raised while deserializing carry serde_norway's location of the
//! offending node and serde_path_to_error's field path. Messages are one line
//! and never contain a secret: secret values are never formatted into them
//! (see `secret_source`), and YAML values are quoted only for non-secret
//! fields.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; `None` when the problem is not at a known place in the file.
    pub line: Option<usize>,
    /// 1-based.
    pub column: Option<usize>,
    /// Path of the field, like `devices[2].ssh.port`.
    pub field: Option<String>,
    pub message: String,
}

impl ConfigError {
    /// A problem with a file as a whole (unreadable, empty, …).
    pub(crate) fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: None,
            column: None,
            field: None,
            message: message.into(),
        }
    }

    /// `text` (the file's) nests too deep to hand to the YAML parser.
    pub(crate) fn check_depth(file: &Path, text: &str) -> Result<(), Self> {
        super::depth::check(text).map_err(|(line, column)| ConfigError {
            file: file.to_path_buf(),
            line: Some(line),
            column: Some(column),
            field: None,
            message: format!(
                "nesting deeper than {} levels (reachd's files need a handful)",
                super::depth::MAX_DEPTH
            ),
        })
    }

    /// A deserialization error, with its location and field path.
    pub(crate) fn from_yaml(
        file: &Path,
        err: serde_path_to_error::Error<serde_yaml::Error>,
    ) -> Self {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let location = inner.location();
        let message = extract_message(&inner.to_string(), location.as_ref());
        let unknown = unknown_field_name(&message).map(str::to_owned);
        let message = rewrite_message(message);
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
    pub(crate) fn from_plain_yaml(file: &Path, err: &serde_yaml::Error) -> Self {
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
            message: rewrite_message(message),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display().to_string();
        if !file.is_empty() {
            f.write_str(&file)?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
                if let Some(column) = self.column {
                    write!(f, ":{column}")?;
                }
            }
            f.write_str(": ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found, across files; `Display` prints one per line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Marks the start of a message raised by this module, so that it can be
/// told apart from the path serde_norway prefixes to it.
const MARK: char = '\u{1f}';

/// A deserialization error with `msg` as its whole message.
pub(crate) fn custom<E: serde::de::Error>(msg: impl fmt::Display) -> E {
    E::custom(format_args!("{MARK}{msg}"))
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
fn rewrite_message(message: String) -> String {
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
                    .filter(|k| !super::scrapli::IGNORED_KEYS.contains(k))
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

/// The candidate closest to `name` by edit distance, if close enough to be
/// a likely typo.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    let limit = (name.chars().count() / 3).clamp(1, 3);
    candidates
        .map(|c| (edit_distance(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, by characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_with_and_without_location() {
        let e = ConfigError {
            file: "path/to/file.yaml".into(),
            line: Some(12),
            column: Some(5),
            field: Some("devices[2].timeout".into()),
            message: "invalid duration `5 sec` (use e.g. 500ms, 5s, 1m)".into(),
        };
        assert_eq!(
            e.to_string(),
            "path/to/file.yaml:12:5: devices[2].timeout: invalid duration `5 sec` (use e.g. 500ms, 5s, 1m)"
        );
        let w = ConfigError::whole_file(Path::new("inv.yaml"), "cannot read file: denied");
        assert_eq!(w.to_string(), "inv.yaml: cannot read file: denied");
        let all = ConfigErrors(vec![e, w]);
        assert_eq!(all.to_string().lines().count(), 2);
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("adress", "address"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(
            closest("adress", ["name", "address", "labels"].into_iter()),
            Some("address")
        );
        assert_eq!(closest("zzz", ["name", "address"].into_iter()), None);
        assert_eq!(closest("Address", ["address"].into_iter()), Some("address"));
    }

    #[test]
    fn serde_messages_are_rewritten() {
        assert_eq!(
            rewrite_message("unknown field `adress`, expected one of `name`, `address`".to_owned()),
            "unknown field `adress`, did you mean `address`?"
        );
        assert_eq!(
            rewrite_message("unknown field `zzz`, expected `name` or `address`".to_owned()),
            "unknown field `zzz` (expected one of name, address)"
        );
        assert_eq!(
            rewrite_message(
                "unknown variant `strct`, expected one of `strict`, `accept-new`, `off`".to_owned()
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
}
