//! `--web.config.file`: TLS, basic authentication and response headers, in
//! the Prometheus exporter-toolkit's web-config format, unchanged, so an
//! operator's file for node_exporter works here too.
//!
//! Parsing checks everything up front and reads every file the config
//! names (certificates, key, client CA): each error names the web config
//! file, line, column and key, as the main configuration's errors do.
//! Secrets (the key, bcrypt hashes) never reach an error, a log line or
//! `Debug`.
//!
//! Basic authentication is in `auth.rs`, TLS in `tls.rs`.

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

use crate::settings::yaml;
use crate::settings::{ConfigError, custom as de_error, str_then};

mod auth;
mod tls;

use auth::UserMap;
pub use auth::{Auth, Users};
pub use tls::Tls;
use tls::{RawTls, build_tls};

/// A web configuration, checked and with its files read.
pub struct WebConfig {
    /// `None`: plain HTTP.
    pub tls: Option<Tls>,
    pub http2: bool,
    /// Added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Empty: no authentication.
    pub users: Users,
    /// Requests per second and burst, if limited.
    pub rate_limit: Option<(Duration, u32)>,
}

impl WebConfig {
    /// The configuration without a file: plain HTTP, no authentication.
    pub fn plain() -> Self {
        WebConfig {
            tls: None,
            http2: false,
            headers: Vec::new(),
            users: Users::default(),
            rate_limit: None,
        }
    }
}

impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("http2", &self.http2)
            .field("headers", &self.headers.len())
            .field("users", &self.users)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

// ---------------------------------------------------------------- parsing

thread_local! {
    /// The directory of the web config file being parsed: relative paths
    /// in it are relative to it, as in exporter-toolkit.
    static BASE: RefCell<PathBuf> = RefCell::new(PathBuf::new());
}

fn resolve(s: &str) -> PathBuf {
    let p = Path::new(s);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        BASE.with(|b| b.borrow().join(p))
    }
}

/// Reads the file `s` names (relative to the web config file's directory);
/// `kind` names it in errors. Shared with `tls.rs`.
fn read(kind: &str, s: &str) -> Result<(PathBuf, Vec<u8>), String> {
    if s.trim().is_empty() {
        return Err(format!("{kind} must not be empty"));
    }
    let path = resolve(s);
    match std::fs::read(&path) {
        Ok(b) => Ok((path, b)),
        Err(e) => Err(format!(
            "cannot read {kind} {}: {}",
            path.display(),
            yaml::io_reason(&e)
        )),
    }
}

/// A header exporter-toolkit lets set, and its value.
struct Headers(Vec<(HeaderName, HeaderValue)>);

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        const KNOWN: [&str; 5] = [
            "Content-Security-Policy",
            "X-Frame-Options",
            "X-Content-Type-Options",
            "X-XSS-Protection",
            "Strict-Transport-Security",
        ];
        impl<'de> Visitor<'de> for V {
            type Value = Vec<(HeaderName, HeaderValue)>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of header names to values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    let Some(known) = KNOWN.iter().find(|k| k.eq_ignore_ascii_case(&name)) else {
                        let hint = crate::settings::error::closest(&name, KNOWN.iter().copied())
                            .map(|b| format!(", did you mean `{b}`?"))
                            .unwrap_or_else(|| format!(" (expected one of {})", KNOWN.join(", ")));
                        return Err(de_error(format!("unknown header `{name}`{hint}")));
                    };
                    let value: String = map.next_value()?;
                    if value.is_empty() {
                        continue; // "Unset if blank."
                    }
                    let lower = value.to_ascii_lowercase();
                    if *known == "X-Frame-Options" && lower != "deny" && lower != "sameorigin" {
                        return Err(de_error(format!(
                            "invalid X-Frame-Options `{value}` (expected deny or sameorigin)"
                        )));
                    }
                    if *known == "X-Content-Type-Options" && lower != "nosniff" {
                        return Err(de_error(format!(
                            "invalid X-Content-Type-Options `{value}` (expected nosniff)"
                        )));
                    }
                    let v = HeaderValue::from_str(&value).map_err(|_| {
                        de_error::<A::Error>(format!("invalid value for header `{known}`"))
                    })?;
                    let n = HeaderName::from_bytes(known.to_ascii_lowercase().as_bytes())
                        .map_err(|_| de_error::<A::Error>(format!("invalid header `{known}`")))?;
                    out.push((n, v));
                }
                Ok(out)
            }
        }
        d.deserialize_map(V).map(Headers)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    http2: Option<bool>,
    headers: Option<Headers>,
}

struct Interval(Duration);

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "a duration", |s| {
            crate::settings::duration::parse(s).map(Interval)
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRate {
    interval: Option<Interval>,
    burst: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWeb {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    basic_auth_users: Option<UserMap>,
    rate_limit: Option<RawRate>,
}

/// Reads and checks the web config file `file`.
pub fn load(file: &Path) -> Result<WebConfig, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        ConfigError::whole_file(
            file,
            format!("cannot read web config file: {}", yaml::io_reason(&e)),
        )
    })?;
    parse(file, &text)
}

/// Parses `text` as the web config file `file` (relative paths in it are
/// relative to `file`'s directory).
pub fn parse(file: &Path, text: &str) -> Result<WebConfig, ConfigError> {
    // Syntax and duplicate keys first.
    let text = match yaml::load(file, text)? {
        serde_yaml::Value::Null => "{}",
        serde_yaml::Value::Mapping(_) => text,
        _ => {
            return Err(ConfigError::whole_file(
                file,
                "expected a map (tls_server_config, http_server_config, basic_auth_users, \
                 rate_limit) at the top level",
            ));
        }
    };
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let previous = BASE.with(|b| std::mem::replace(&mut *b.borrow_mut(), base));
    let raw: Result<RawWeb, _> = yaml::parse(file, text, &[]);
    BASE.with(|b| *b.borrow_mut() = previous);
    let raw = raw?;
    let err = |field: &str, message: String| ConfigError {
        field: Some(field.to_owned()),
        ..ConfigError::whole_file(file, message)
    };

    let http = raw.http_server_config;
    let http2 = http.as_ref().and_then(|h| h.http2).unwrap_or(true);
    let headers = http
        .and_then(|h| h.headers)
        .map(|h| h.0)
        .unwrap_or_default();
    let users = Users::new(raw.basic_auth_users.map(|u| u.0).unwrap_or_default());
    let rate_limit = match raw.rate_limit {
        Some(RawRate {
            interval: Some(Interval(i)),
            burst,
        }) if !i.is_zero() => Some((i, burst.unwrap_or(1).max(1))),
        _ => None,
    };
    let tls = match raw.tls_server_config {
        None => None,
        Some(t) => build_tls(t, http2).map_err(|(field, m)| err(field, m))?,
    };
    Ok(WebConfig {
        tls,
        http2,
        headers,
        users,
        rate_limit,
    })
}

/// What identifies the web config as loaded: its text and every file it
/// names, so that a rewritten certificate is noticed.
pub fn fingerprint(file: &Path) -> Vec<u8> {
    #[derive(Deserialize, Default)]
    struct Files {
        tls_server_config: Option<FileNames>,
    }
    #[derive(Deserialize, Default)]
    struct FileNames {
        cert_file: Option<String>,
        key_file: Option<String>,
        client_ca_file: Option<String>,
    }
    use sha1::Digest;
    let mut h = sha1::Sha1::new();
    let text = std::fs::read(file).unwrap_or_default();
    h.update((text.len() as u64).to_be_bytes());
    h.update(&text);
    let names: Files = serde_yaml::from_slice(&text).unwrap_or_default();
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    for name in names
        .tls_server_config
        .map(|t| [t.cert_file, t.key_file, t.client_ca_file])
        .into_iter()
        .flatten()
        .flatten()
    {
        let bytes = std::fs::read(base.join(name)).unwrap_or_default();
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(&bytes);
    }
    h.finalize().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn data(name: &str) -> String {
        format!("{}/tests/data/web/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    pub(super) fn hash(password: &str) -> String {
        bcrypt::hash(password, 4).unwrap()
    }

    pub(super) fn parse_str(text: &str) -> Result<WebConfig, ConfigError> {
        parse(Path::new("/etc/reachd/web.yml"), text)
    }

    pub(super) fn err(text: &str) -> String {
        match parse_str(text) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_key_is_read() {
        let h = hash("pw");
        let text = format!(
            "tls_server_config:
  cert_file: {cert}
  key_file: {key}
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: {ca}
  client_allowed_sans: [scraper.example]
  min_version: TLS12
  max_version: TLS13
  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305]
  prefer_server_cipher_suites: false
  curve_preferences: [X25519, CurveP256]
http_server_config:
  http2: false
  headers:
    Content-Security-Policy: \"default-src 'self'\"
    X-Frame-Options: deny
    X-Content-Type-Options: nosniff
    X-XSS-Protection: \"1; mode=block\"
    Strict-Transport-Security: max-age=31536000
basic_auth_users:
  alice: {h}
  bob: {h}
rate_limit:
  interval: 100ms
  burst: 5
",
            cert = data("server.pem"),
            key = data("server.key"),
            ca = data("ca.pem"),
        );
        let c = parse_str(&text).unwrap();
        let tls = c.tls.as_ref().unwrap();
        assert_eq!(tls.allowed_sans, ["scraper.example"]);
        assert!(!tls.config.ignore_client_order);
        assert_eq!(tls.config.alpn_protocols, [b"http/1.1".to_vec()]);
        let suites: Vec<_> = tls
            .config
            .crypto_provider()
            .cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert!(suites.contains(&"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".to_owned()));
        assert!(suites.contains(&"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256".to_owned()));
        assert!(!suites.contains(&"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384".to_owned()));
        assert!(suites.iter().any(|s| s.starts_with("TLS13_")));
        assert_eq!(tls.config.crypto_provider().kx_groups.len(), 2);
        assert!(!c.http2);
        assert_eq!(c.headers.len(), 5);
        assert!(
            c.headers
                .iter()
                .any(|(n, v)| n == "x-frame-options" && v == "deny")
        );
        assert_eq!(c.users.len(), 2);
        assert_eq!(c.rate_limit, Some((Duration::from_millis(100), 5)));
    }

    #[test]
    fn inline_pem_and_defaults() {
        let text = format!(
            "tls_server_config:\n  cert: |\n{}  key: |\n{}  client_auth_type: VerifyClientCertIfGiven\n  client_ca: |\n{}",
            indent(&data("server.pem")),
            indent(&data("server.key")),
            indent(&data("ca.pem")),
        );
        let c = parse_str(&text).unwrap();
        let tls = c.tls.unwrap();
        assert!(
            tls.config.ignore_client_order,
            "prefer_server_cipher_suites defaults to true"
        );
        assert_eq!(
            tls.config.alpn_protocols[0],
            b"h2".to_vec(),
            "http2 defaults to true"
        );
        assert!(c.http2);
        assert!(c.users.is_empty());
    }

    fn indent(file: &str) -> String {
        std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect()
    }

    #[test]
    fn empty_file_or_no_certificate_is_plain_http() {
        assert!(parse_str("").unwrap().tls.is_none());
        assert!(parse_str("# nothing\n").unwrap().tls.is_none());
        let c = parse_str("tls_server_config: {min_version: TLS13}\n").unwrap();
        assert!(c.tls.is_none());
    }

    #[test]
    fn relative_paths_are_relative_to_the_web_config_file() {
        let dir = std::env::temp_dir().join(format!("reachd-webcfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["server.pem", "server.key"] {
            std::fs::copy(data(f), dir.join(f)).unwrap();
        }
        let file = dir.join("web.yml");
        std::fs::write(
            &file,
            "tls_server_config: {cert_file: server.pem, key_file: server.key}\n",
        )
        .unwrap();
        assert!(load(&file).unwrap().tls.is_some());
        let before = fingerprint(&file);
        std::fs::copy(data("client.pem"), dir.join("server.pem")).unwrap();
        assert_ne!(
            fingerprint(&file),
            before,
            "a rewritten certificate is noticed"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unknown_keys_are_errors_with_line_and_column() {
        assert_eq!(
            err("tls_server_config:\n  min_version: TLS12\n  clent_auth_type: NoClientCert\n"),
            "/etc/reachd/web.yml:3:3: tls_server_config.clent_auth_type: unknown field \
             `clent_auth_type`, did you mean `client_auth_type`?"
        );
        let e = err("basic_auth_users: {}\nhttp_server_config:\n  http3: true\n");
        assert!(
            e.starts_with("/etc/reachd/web.yml:3:3: http_server_config.http3: unknown field"),
            "{e}"
        );
        let e = err("basic_auth_user: {}\n");
        assert!(e.contains("did you mean `basic_auth_users`?"), "{e}");
        let e = err("http_server_config:\n  headers:\n    X-Powered-By: me\n");
        assert!(e.starts_with("/etc/reachd/web.yml:3:"), "{e}");
        assert!(e.contains("unknown header `X-Powered-By`"), "{e}");
        let e = err("a: 1\na: 2\n");
        assert!(e.contains("duplicate"), "{e}");
    }

    #[test]
    fn missing_and_unusable_files_are_errors() {
        let e = err("tls_server_config:\n  cert_file: /nonexistent/cert.pem\n  key_file: x\n");
        assert!(e.starts_with("/etc/reachd/web.yml:2:14: tls_server_config.cert_file: cannot read certificate file /nonexistent/cert.pem"), "{e}");
        let e = err(&format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            data("server.pem"),
            data("server.pem")
        ));
        assert!(
            e.contains("tls_server_config.key_file") && e.contains("no PEM private key"),
            "{e}"
        );
        let e = err(&format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            data("server.key"),
            data("server.key")
        ));
        assert!(e.contains("no PEM certificate"), "{e}");
        assert!(!e.contains("PRIVATE KEY"), "{e}");
        // A key that is not the certificate's.
        let e = err(&format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            data("server.pem"),
            data("client.key")
        ));
        assert!(e.contains("do not make a usable pair"), "{e}");
        let e = err("missing: [\n");
        assert!(e.starts_with("/etc/reachd/web.yml:"), "{e}");
        let e = load(Path::new("/nonexistent/web.yml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/nonexistent/web.yml: cannot read web config file"),
            "{e}"
        );
    }

    #[test]
    fn headers_are_checked() {
        let e = err("http_server_config: {headers: {X-Frame-Options: allow}}\n");
        assert!(e.contains("expected deny or sameorigin"), "{e}");
        let e = err("http_server_config: {headers: {X-Content-Type-Options: sniff}}\n");
        assert!(e.contains("expected nosniff"), "{e}");
        let c = parse_str("http_server_config: {headers: {X-Frame-Options: \"\"}}\n").unwrap();
        assert!(c.headers.is_empty(), "blank means unset");
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let h = hash("secret");
        let c = parse_str(&format!(
            "tls_server_config: {{cert_file: {}, key_file: {}}}\nbasic_auth_users:\n  alice: \"{h}\"\n",
            data("server.pem"),
            data("server.key")
        ))
        .unwrap();
        let d = format!("{c:?}");
        assert!(d.contains("alice"), "{d}");
        assert!(!d.contains(&h[7..]), "{d}");
        assert!(!d.contains("PRIVATE"), "{d}");
    }

    #[test]
    fn the_shipped_example_is_inert_and_every_commented_key_parses() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/web-config.example.yml");
        let c = load(&example).unwrap();
        assert!(c.tls.is_none() && c.users.is_empty() && c.headers.is_empty());
        // Uncommented, with real files and a real hash, it is a valid config.
        let key_line = regex::Regex::new(r"^# ( *)([A-Za-z_-]+:.*)$").unwrap();
        let text = std::fs::read_to_string(&example).unwrap();
        let on: String = text
            .lines()
            .map(|l| match key_line.captures(l) {
                Some(c) => format!("{}{}\n", &c[1], &c[2]),
                None => format!("{l}\n"),
            })
            .collect();
        let on = on.replace(
            "$2y$10$replace.this.with.the.hash.htpasswd.prints.for.you...",
            &hash("pw"),
        );
        let dir = std::env::temp_dir().join(format!("reachd-webex-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (from, to) in [
            ("server.pem", "reachd.crt"),
            ("server.key", "reachd.key"),
            ("ca.pem", "clients-ca.crt"),
        ] {
            std::fs::copy(data(from), dir.join(to)).unwrap();
        }
        let file = dir.join("web-config.yml");
        std::fs::write(&file, &on).unwrap();
        let c = load(&file).unwrap_or_else(|e| panic!("{e}\n{on}"));
        let tls = c.tls.as_ref().unwrap();
        assert_eq!(tls.allowed_sans, ["prometheus.example.net"]);
        assert_eq!(c.headers.len(), 3);
        assert_eq!(c.users.len(), 1);
        assert_eq!(c.rate_limit, Some((Duration::from_millis(100), 20)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
