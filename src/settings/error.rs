//! Errors in settings files: where (file, line, column, field path) and
//! what, and the "did you mean" of a misspelt name. Nothing here knows a
//! file format: `yaml.rs` turns the YAML parser's errors into these.
//! Messages are one line and never contain a secret.

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
}
