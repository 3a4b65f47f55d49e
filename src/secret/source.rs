//! Where a password comes from: inline, `{env: VAR}`, `{file: PATH}` or
//! `{credential: NAME}` (systemd `LoadCredential=`, read from
//! `$CREDENTIALS_DIRECTORY/NAME`); and where a private key file is. Their
//! form is checked while the file is parsed; they are read when the file's
//! devices are resolved, and a missing variable, file or credential is an
//! error at its line.
//!
//! No message here ever contains a secret's text: a value of the wrong type
//! is described by its type only, never quoted.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::Secret;
use crate::settings::custom;
use crate::settings::error::closest;
use crate::settings::yaml::io_reason;

/// Secret files larger than this are a mistake (a key file named instead of
/// a password file, say).
const MAX_SECRET_FILE: u64 = 64 * 1024;

const SOURCES: [&str; 3] = ["env", "file", "credential"];

/// Looks up an environment variable (injectable, for tests).
pub type Env = dyn Fn(&str) -> Option<OsString>;

/// Where a secret comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum SecretSource {
    Inline(Secret),
    Env(String),
    File(String),
    Credential(String),
}

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SecretVisitor)
    }
}

struct SecretVisitor;

const WRONG_TYPE: &str = "a secret must be a string (quote numbers, e.g. \"1234\") or one of \
                          {env: VAR}, {file: PATH}, {credential: NAME}";

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = SecretSource;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or one of {env: VAR}, {file: PATH}, {credential: NAME}")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretSource, E> {
        Ok(SecretSource::Inline(Secret::new(v)))
    }

    // Every other scalar: refused without quoting the value, which may be
    // the secret itself.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<SecretSource, E> {
        Err(custom(WRONG_TYPE))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<SecretSource, E> {
        Err(custom(WRONG_TYPE))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<SecretSource, E> {
        Err(custom(WRONG_TYPE))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<SecretSource, E> {
        Err(custom(WRONG_TYPE))
    }
    fn visit_unit<E: de::Error>(self) -> Result<SecretSource, E> {
        Err(custom(WRONG_TYPE))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<SecretSource, A::Error> {
        Err(custom(WRONG_TYPE))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretSource, A::Error> {
        Ok(match one_entry(&mut map, &SOURCES, "secret")? {
            ("env", arg) => SecretSource::Env(arg),
            ("file", arg) => SecretSource::File(arg),
            (_, arg) => SecretSource::Credential(arg),
        })
    }
}

/// Reads a one-key map `{kind: arg}` whose key is one of `kinds`.
fn one_entry<'de, A: MapAccess<'de>>(
    map: &mut A,
    kinds: &[&'static str],
    what: &str,
) -> Result<(&'static str, String), A::Error> {
    let usage = || {
        let forms: Vec<String> = kinds.iter().map(|k| format!("{{{k}: …}}")).collect();
        format!("a {what} source has exactly one key: {}", forms.join(", "))
    };
    let Some(key) = map.next_key::<String>()? else {
        return Err(custom(usage()));
    };
    let Some(kind) = kinds.iter().copied().find(|k| *k == key) else {
        // The key is not quoted: `password: {hunter2}` is a map whose key
        // is the password.
        let msg = match closest(&key, kinds.iter().copied()) {
            Some(best) => format!("unknown {what} source, did you mean `{best}`?"),
            None => format!("unknown {what} source ({})", usage()),
        };
        return Err(custom(msg));
    };
    let arg: String = map.next_value()?;
    if map.next_key::<String>()?.is_some() {
        return Err(custom(usage()));
    }
    if arg.trim().is_empty() {
        return Err(custom(format!("`{kind}` must not be empty")));
    }
    Ok((kind, arg))
}

impl SecretSource {
    /// The secret, read. `dir` is the directory of the file naming it.
    pub fn read(&self, dir: &Path, env: &Env) -> Result<Secret, String> {
        match self {
            SecretSource::Inline(s) => Ok(s.clone()),
            SecretSource::Env(arg) => {
                let value =
                    env(arg).ok_or_else(|| format!("environment variable `{arg}` is not set"))?;
                let value = value
                    .into_string()
                    .map_err(|_| format!("environment variable `{arg}` is not valid UTF-8"))?;
                if value.is_empty() {
                    return Err(format!("environment variable `{arg}` is empty"));
                }
                Ok(Secret::new(value))
            }
            SecretSource::File(arg) => {
                let path = dir.join(arg);
                read_secret_file(&path, &format!("secret file `{}`", path.display()))
            }
            SecretSource::Credential(arg) => {
                let path = credential_path(env, arg)?;
                read_secret_file(&path, &format!("credential `{arg}` ({})", path.display()))
            }
        }
    }
}

/// `$CREDENTIALS_DIRECTORY/NAME`, with NAME checked to stay inside it.
fn credential_path(env: &Env, name: &str) -> Result<PathBuf, String> {
    if name.contains('/') || name == "." || name == ".." {
        return Err(format!(
            "invalid credential name `{name}` (a file name in $CREDENTIALS_DIRECTORY)"
        ));
    }
    let dir = env("CREDENTIALS_DIRECTORY").ok_or_else(|| {
        format!(
            "credential `{name}` needs $CREDENTIALS_DIRECTORY, which systemd sets for \
             LoadCredential=; it is not set"
        )
    })?;
    Ok(Path::new(&dir).join(name))
}

fn read_secret_file(path: &Path, what: &str) -> Result<Secret, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {what}: {}", io_reason(&e)))?;
    if !meta.is_file() {
        return Err(format!("cannot read {what}: not a file"));
    }
    if meta.len() > MAX_SECRET_FILE {
        return Err(format!("{what} is too large for a secret (over 64 KiB)"));
    }
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read {what}: {}", io_reason(&e)))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{what} is not valid UTF-8"))?;
    let trimmed = text.trim_end_matches(['\n', '\r']);
    if trimmed.is_empty() {
        return Err(format!("{what} is empty"));
    }
    Ok(Secret::new(trimmed))
}

/// A private key file: a path (relative to the file naming it) or
/// `{file: PATH}`, `{credential: NAME}`. Checked to exist; not read.
#[derive(Clone, Debug, PartialEq)]
pub enum KeySource {
    File(String),
    Credential(String),
}

impl<'de> Deserialize<'de> for KeySource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeySource;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key file path or {credential: NAME}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeySource, E> {
                if v.trim().is_empty() {
                    return Err(custom("must not be empty"));
                }
                Ok(KeySource::File(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeySource, A::Error> {
                Ok(
                    match one_entry(&mut map, &["file", "credential"], "key file")? {
                        ("file", arg) => KeySource::File(arg),
                        (_, arg) => KeySource::Credential(arg),
                    },
                )
            }
        }
        d.deserialize_any(V)
    }
}

impl KeySource {
    /// The key file's path, checked to be a file.
    pub fn path(&self, dir: &Path, env: &Env) -> Result<PathBuf, String> {
        let (path, what) = match self {
            KeySource::File(p) => {
                let p = dir.join(p);
                let what = format!("private key file `{}`", p.display());
                (p, what)
            }
            KeySource::Credential(arg) => {
                let p = credential_path(env, arg)?;
                let what = format!("credential `{arg}` ({})", p.display());
                (p, what)
            }
        };
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(path),
            Ok(_) => Err(format!("cannot use {what}: not a file")),
            Err(e) => Err(format!("cannot use {what}: {}", io_reason(&e))),
        }
    }
}
