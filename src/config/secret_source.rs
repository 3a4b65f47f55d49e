//! Where a password comes from: inline, `{env: VAR}`, `{file: PATH}` or
//! `{credential: NAME}` (systemd `LoadCredential=`, read from
//! `$CREDENTIALS_DIRECTORY/NAME`). Resolved while the file is parsed, so a
//! missing variable, file or credential is an error at its line.
//!
//! No message here ever contains a secret's text: a value of the wrong type
//! is described by its type only, never quoted.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::context::{self, Ctx};
use super::error::{closest, custom};
use super::fields::relative_path;
use crate::secret::Secret;

/// Secret files larger than this are a mistake (a key file named instead of
/// a password file, say).
const MAX_SECRET_FILE: u64 = 64 * 1024;

const SOURCES: [&str; 3] = ["env", "file", "credential"];

/// A resolved secret.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SecretValue(pub Secret);

impl<'de> Deserialize<'de> for SecretValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SecretVisitor).map(SecretValue)
    }
}

struct SecretVisitor;

const WRONG_TYPE: &str = "a secret must be a string (quote numbers, e.g. \"1234\") or one of \
                          {env: VAR}, {file: PATH}, {credential: NAME}";

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or one of {env: VAR}, {file: PATH}, {credential: NAME}")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
        Ok(Secret::new(v))
    }

    // Every other scalar: refused without quoting the value, which may be
    // the secret itself.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Secret, E> {
        Err(custom(WRONG_TYPE))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Secret, E> {
        Err(custom(WRONG_TYPE))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Secret, E> {
        Err(custom(WRONG_TYPE))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Secret, E> {
        Err(custom(WRONG_TYPE))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Secret, E> {
        Err(custom(WRONG_TYPE))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
        Err(custom(WRONG_TYPE))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Secret, A::Error> {
        let (kind, arg) = one_entry(&mut map, &SOURCES, "secret")?;
        let ctx = context::current().map_err(custom)?;
        resolve(&ctx, kind, &arg).map_err(custom)
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

fn resolve(ctx: &Ctx, kind: &str, arg: &str) -> Result<Secret, String> {
    match kind {
        "env" => {
            let value = ctx
                .env_var(arg)
                .ok_or_else(|| format!("environment variable `{arg}` is not set"))?;
            let value = value
                .into_string()
                .map_err(|_| format!("environment variable `{arg}` is not valid UTF-8"))?;
            if value.is_empty() {
                return Err(format!("environment variable `{arg}` is empty"));
            }
            Ok(Secret::new(value))
        }
        "file" => {
            let path = ctx.relative(arg);
            read_secret_file(&path, &format!("secret file `{}`", path.display()))
        }
        _ => {
            let path = credential_path(ctx, arg)?;
            read_secret_file(&path, &format!("credential `{arg}` ({})", path.display()))
        }
    }
}

/// `$CREDENTIALS_DIRECTORY/NAME`, with NAME checked to stay inside it.
fn credential_path(ctx: &Ctx, name: &str) -> Result<PathBuf, String> {
    if name.contains('/') || name == "." || name == ".." {
        return Err(format!(
            "invalid credential name `{name}` (a file name in $CREDENTIALS_DIRECTORY)"
        ));
    }
    let dir = ctx.env_var("CREDENTIALS_DIRECTORY").ok_or_else(|| {
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

/// A private key file: a path (relative to the file naming it) or
/// `{credential: NAME}`. Checked to exist; not read.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct KeyPath(pub PathBuf);

impl<'de> Deserialize<'de> for KeyPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PathBuf;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key file path or {credential: NAME}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PathBuf, E> {
                let path = relative_path(v).map_err(custom)?;
                check_key_file(&path, &format!("private key file `{}`", path.display()))
                    .map_err(custom)?;
                Ok(path)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PathBuf, A::Error> {
                let (kind, arg) = one_entry(&mut map, &["file", "credential"], "key file")?;
                let ctx = context::current().map_err(custom)?;
                let (path, what) = if kind == "file" {
                    let p = ctx.relative(&arg);
                    let what = format!("private key file `{}`", p.display());
                    (p, what)
                } else {
                    let p = credential_path(&ctx, &arg).map_err(custom)?;
                    let what = format!("credential `{arg}` ({})", p.display());
                    (p, what)
                };
                check_key_file(&path, &what).map_err(custom)?;
                Ok(path)
            }
        }
        d.deserialize_any(V).map(KeyPath)
    }
}

fn check_key_file(path: &Path, what: &str) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(format!("cannot use {what}: not a file")),
        Err(e) => Err(format!("cannot use {what}: {}", io_reason(&e))),
    }
}
