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
//! What rustls cannot honour: TLS 1.0 and 1.1 (a `min_version` below TLS12
//! is raised to TLS12 with a warning; a `max_version` below it is an error),
//! the non-ECDHE, CBC, 3DES and RC4 `cipher_suites` (an error naming the
//! suites that work), and `CurveP521` in `curve_preferences` (an error).
//! TLS 1.3 suites are always on, as in Go.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use tokio_rustls::rustls::{self, DistinguishedName, SignatureScheme};

use crate::settings::yaml;
use crate::settings::{ConfigError, custom as de_error, str_then};

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

/// The TLS side: a rustls server configuration and the client SANs allowed.
pub struct Tls {
    pub config: Arc<rustls::ServerConfig>,
    /// Empty: any client (that the client auth type lets in).
    pub allowed_sans: Vec<String>,
}

impl Tls {
    /// Whether the client's certificate (first of `peer`) carries one of
    /// the allowed SANs; always true when no SANs are configured.
    pub fn client_allowed(&self, peer: Option<&[CertificateDer<'static>]>) -> bool {
        if self.allowed_sans.is_empty() {
            return true;
        }
        let Some(cert) = peer.and_then(|p| p.first()) else {
            return false;
        };
        cert_sans(cert)
            .iter()
            .any(|san| self.allowed_sans.iter().any(|a| a == san))
    }
}

/// The SANs of a DER certificate, written as Go's crypto/x509 does (DNS
/// names, e-mail addresses, IP addresses, URIs).
pub fn cert_sans(cert: &[u8]) -> Vec<String> {
    use x509_cert::der::Decode;
    use x509_cert::ext::pkix::SubjectAltName;
    use x509_cert::ext::pkix::name::GeneralName;
    let Ok(cert) = x509_cert::Certificate::from_der(cert) else {
        return Vec::new();
    };
    let Ok(Some((_, san))) = cert.tbs_certificate().get_extension::<SubjectAltName>() else {
        return Vec::new();
    };
    san.0
        .iter()
        .filter_map(|n| match n {
            GeneralName::DnsName(s)
            | GeneralName::Rfc822Name(s)
            | GeneralName::UniformResourceIdentifier(s) => Some(s.to_string()),
            GeneralName::IpAddress(o) => {
                let b = o.as_bytes();
                if let Ok(v4) = <[u8; 4]>::try_from(b) {
                    Some(std::net::Ipv4Addr::from(v4).to_string())
                } else if let Ok(v6) = <[u8; 16]>::try_from(b) {
                    Some(std::net::Ipv6Addr::from(v6).to_string())
                } else {
                    None
                }
            }
            _ => None,
        })
        .collect()
}

/// `basic_auth_users`: user → bcrypt hash, and a cache of recent
/// successful checks.
///
/// The cache is keyed on a keyed digest of the user, the *presented*
/// password and the stored hash, so only the right password hits it (the
/// lesson of CVE-2022-46146, where a cache keyed on the hash let the hash
/// itself in as a password). The digest key is random per process.
#[derive(Default)]
pub struct Users {
    hashes: BTreeMap<String, String>,
    cache: Mutex<HashSet<[u8; 20]>>,
    cache_key: [u8; 32],
}

/// Entries kept before the cache is emptied (a handful of scrapers and
/// browsers need a few).
const CACHE_MAX: usize = 256;

/// A bcrypt hash of nothing anyone would type, checked against for unknown
/// users so that they cost as much time as known ones.
const DUMMY_HASH: &str = "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";

impl fmt::Debug for Users {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: the hashes are secrets.
        f.debug_list().entries(self.hashes.keys()).finish()
    }
}

/// The outcome of an authentication check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// No users configured, or the right user and password.
    Allowed,
    /// No `Authorization` header.
    Missing,
    /// A header that is not `Basic base64(user:password)`.
    Malformed,
    /// Unknown user or wrong password (not told apart to the client).
    Denied,
}

impl Users {
    fn new(hashes: BTreeMap<String, String>) -> Self {
        let mut cache_key = [0u8; 32];
        let rng = ring::rand::SystemRandom::new();
        if ring::rand::SecureRandom::fill(&rng, &mut cache_key).is_err() {
            // Without randomness, no cache (every request is checked).
            return Users {
                hashes,
                cache: Mutex::new(HashSet::new()),
                cache_key: [0; 32],
            };
        }
        Users {
            hashes,
            cache: Mutex::new(HashSet::new()),
            cache_key,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether `header` (the request's `Authorization`) lets the request in.
    /// Runs bcrypt: call it off the async workers.
    pub fn check(&self, header: Option<&[u8]>) -> Auth {
        if self.hashes.is_empty() {
            return Auth::Allowed;
        }
        let Some(header) = header else {
            return Auth::Missing;
        };
        let Some((user, password)) = parse_basic(header) else {
            return Auth::Malformed;
        };
        let (hash, known) = match self.hashes.get(&user) {
            Some(h) => (h.as_str(), true),
            None => (DUMMY_HASH, false),
        };
        let digest = self.digest(&user, &password, hash);
        let cacheable = self.cache_key != [0; 32];
        if known && cacheable {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if cache.contains(&digest) {
                return Auth::Allowed;
            }
        }
        // bcrypt compares its output in constant time.
        let ok = bcrypt::verify(&password, hash).unwrap_or(false);
        if ok && known {
            if cacheable {
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
                cache.insert(digest);
            }
            Auth::Allowed
        } else {
            Auth::Denied
        }
    }

    fn digest(&self, user: &str, password: &[u8], hash: &str) -> [u8; 20] {
        use hmac::{KeyInit, Mac};
        let mut mac = match hmac::Hmac::<sha1::Sha1>::new_from_slice(&self.cache_key) {
            Ok(m) => m,
            Err(_) => return [0; 20],
        };
        for part in [user.as_bytes(), password, hash.as_bytes()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        let mut out = [0u8; 20];
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }
}

/// `Basic base64(user:password)` → (user, password). The scheme is
/// case-insensitive; the password may contain colons.
pub fn parse_basic(header: &[u8]) -> Option<(String, Vec<u8>)> {
    let text = std::str::from_utf8(header).ok()?.trim();
    let (scheme, rest) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = data_encoding::BASE64.decode(rest.trim().as_bytes()).ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
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

fn certs_from_pem(
    kind: &str,
    what: &str,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    match certs {
        Ok(c) if !c.is_empty() => Ok(c),
        Ok(_) => Err(format!("{kind} {what}: no PEM certificate in it")),
        Err(e) => Err(format!("{kind} {what}: not a PEM certificate ({e})")),
    }
}

/// Certificates, from a file.
struct CertFile(Vec<CertificateDer<'static>>);

impl<'de> Deserialize<'de> for CertFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "a certificate file", |s| {
            let (path, bytes) = read("certificate file", s)?;
            certs_from_pem("certificate file", &path.display().to_string(), &bytes).map(CertFile)
        })
    }
}

/// Certificates, inline PEM.
struct CertPem(Vec<CertificateDer<'static>>);

impl<'de> Deserialize<'de> for CertPem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "PEM certificates", |s| {
            certs_from_pem("inline", "certificate", s.as_bytes()).map(CertPem)
        })
    }
}

/// A private key. Its bytes never reach an error or `Debug`.
struct Key(PrivateKeyDer<'static>);

fn key_from_pem(what: &str, pem: &[u8]) -> Result<Key, String> {
    PrivateKeyDer::from_pem_slice(pem)
        .map(Key)
        .map_err(|_| format!("{what}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in it"))
}

struct KeyFile(Key);

impl<'de> Deserialize<'de> for KeyFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "a key file", |s| {
            let (path, bytes) = read("key file", s)?;
            key_from_pem(&format!("key file {}", path.display()), &bytes).map(KeyFile)
        })
    }
}

struct KeyPem(Key);

impl<'de> Deserialize<'de> for KeyPem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "a PEM private key", |s| {
            key_from_pem("inline key", s.as_bytes()).map(KeyPem)
        })
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum ClientAuth {
    #[default]
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
enum TlsVersion {
    TLS10,
    TLS11,
    TLS12,
    TLS13,
}

/// A Go cipher suite name rustls implements.
struct Suite(rustls::SupportedCipherSuite);

/// Go's names of the TLS 1.2 suites rustls (with ring) implements.
fn suite_by_go_name(name: &str) -> Option<rustls::SupportedCipherSuite> {
    use rustls::crypto::ring::cipher_suite as cs;
    Some(match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => {
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => {
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        _ => return None,
    })
}

const SUPPORTED_SUITES: &str = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, \
     TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, \
     TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, \
     TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256";

impl<'de> Deserialize<'de> for Suite {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "a cipher suite name", |s| match suite_by_go_name(s) {
            Some(suite) => Ok(Suite(suite)),
            None if s.starts_with("TLS_AES_") || s.starts_with("TLS_CHACHA20_") => Err(format!(
                "`{s}` is a TLS 1.3 suite: those are always on and cannot be listed (as in Go)"
            )),
            None if s.starts_with("TLS_") => Err(format!(
                "cipher suite `{s}` cannot be honoured: rustls implements only the ECDHE AEAD \
                 suites ({SUPPORTED_SUITES})"
            )),
            None => Err(format!(
                "unknown cipher suite `{s}` (expected one of {SUPPORTED_SUITES})"
            )),
        })
    }
}

struct Curve(&'static dyn rustls::crypto::SupportedKxGroup);

impl<'de> Deserialize<'de> for Curve {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use rustls::crypto::ring::kx_group;
        str_then(d, "a curve name", |s| match s {
            "X25519" => Ok(Curve(kx_group::X25519)),
            "CurveP256" => Ok(Curve(kx_group::SECP256R1)),
            "CurveP384" => Ok(Curve(kx_group::SECP384R1)),
            "CurveP521" => Err(
                "curve `CurveP521` cannot be honoured: rustls implements X25519, CurveP256 and \
                 CurveP384"
                    .to_owned(),
            ),
            _ => Err(format!(
                "unknown curve `{s}` (expected X25519, CurveP256 or CurveP384)"
            )),
        })
    }
}

/// A bcrypt hash, checked for shape and cost. Never printed.
struct Hash(String);

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "a bcrypt hash", |s| {
            match s.parse::<bcrypt::HashParts>() {
                Ok(_) if s.len() == 60 && s.starts_with("$2") => Ok(Hash(s.to_owned())),
                _ => Err("not a bcrypt hash (expected `$2y$10$…`, 60 characters, as \
                          `htpasswd -nBC 10 \"\" | tr -d ':\\n'` prints)"
                    .to_owned()),
            }
        })
    }
}

struct UserMap(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for UserMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BTreeMap<String, String>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of user names to bcrypt hashes")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(user) = map.next_key::<String>()? {
                    if user.is_empty() || user.contains(':') {
                        return Err(de_error(format!(
                            "invalid user name `{user}` (must be non-empty, without `:`)"
                        )));
                    }
                    let Hash(h) = map.next_value()?;
                    out.insert(user, h);
                }
                Ok(out)
            }
        }
        d.deserialize_map(V).map(UserMap)
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
struct RawTls {
    cert: Option<CertPem>,
    key: Option<KeyPem>,
    client_ca: Option<CertPem>,
    cert_file: Option<CertFile>,
    key_file: Option<KeyFile>,
    client_auth_type: Option<ClientAuth>,
    client_ca_file: Option<CertFile>,
    client_allowed_sans: Option<Vec<String>>,
    min_version: Option<TlsVersion>,
    max_version: Option<TlsVersion>,
    cipher_suites: Option<Vec<Suite>>,
    prefer_server_cipher_suites: Option<bool>,
    curve_preferences: Option<Vec<Curve>>,
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

type Field = &'static str;

fn build_tls(t: RawTls, http2: bool) -> Result<Option<Tls>, (Field, String)> {
    const F: Field = "tls_server_config";
    let certs = match (t.cert, t.cert_file) {
        (Some(_), Some(_)) => {
            return Err((F, "give cert or cert_file, not both".to_owned()));
        }
        (Some(CertPem(c)), None) | (None, Some(CertFile(c))) => Some(c),
        (None, None) => None,
    };
    let key = match (t.key, t.key_file) {
        (Some(_), Some(_)) => return Err((F, "give key or key_file, not both".to_owned())),
        (Some(KeyPem(k)), None) | (None, Some(KeyFile(k))) => Some(k),
        (None, None) => None,
    };
    let client_ca = match (t.client_ca, t.client_ca_file) {
        (Some(_), Some(_)) => {
            return Err((F, "give client_ca or client_ca_file, not both".to_owned()));
        }
        (Some(CertPem(c)), None) | (None, Some(CertFile(c))) => Some(c),
        (None, None) => None,
    };
    let (certs, Key(key)) = match (certs, key) {
        (None, None) => {
            // As in exporter-toolkit: no certificate, no TLS.
            return Ok(None);
        }
        (Some(_), None) => return Err((F, "cert_file is given but key_file is missing".into())),
        (None, Some(_)) => return Err((F, "key_file is given but cert_file is missing".into())),
        (Some(c), Some(k)) => (c, k),
    };
    let client_auth = t.client_auth_type.unwrap_or_default();
    let verifying = matches!(
        client_auth,
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
    );
    if verifying && client_ca.is_none() {
        return Err((
            F,
            format!("client_auth_type {client_auth:?} needs client_ca_file"),
        ));
    }
    if !verifying && client_ca.is_some() {
        return Err((
            F,
            "client_ca_file is given but client_auth_type does not verify client certificates \
             (use RequireAndVerifyClientCert)"
                .into(),
        ));
    }
    let allowed_sans = t.client_allowed_sans.unwrap_or_default();
    if !allowed_sans.is_empty()
        && !matches!(
            client_auth,
            ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
        )
    {
        return Err((
            F,
            "client_allowed_sans needs client_auth_type RequireAnyClientCert or \
             RequireAndVerifyClientCert"
                .into(),
        ));
    }
    let min = t.min_version.unwrap_or(TlsVersion::TLS12);
    let max = t.max_version.unwrap_or(TlsVersion::TLS13);
    if min > max {
        return Err((F, "min_version is above max_version".into()));
    }
    if max < TlsVersion::TLS12 {
        return Err((
            F,
            "max_version below TLS12 cannot be honoured: rustls implements TLS 1.2 and 1.3 only"
                .into(),
        ));
    }
    if min < TlsVersion::TLS12 {
        tracing::warn!(
            "web config: min_version {min:?} cannot be honoured, TLS 1.2 is the lowest rustls \
             speaks"
        );
    }
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if min <= TlsVersion::TLS12 {
        versions.push(&rustls::version::TLS12);
    }
    if max >= TlsVersion::TLS13 {
        versions.push(&rustls::version::TLS13);
    }

    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(suites) = t.cipher_suites.filter(|s| !s.is_empty()) {
        let tls13: Vec<_> = provider
            .cipher_suites
            .iter()
            .copied()
            .filter(|s| s.version() == &rustls::version::TLS13)
            .collect();
        provider.cipher_suites = tls13;
        provider
            .cipher_suites
            .extend(suites.into_iter().map(|s| s.0));
    }
    if let Some(curves) = t.curve_preferences.filter(|c| !c.is_empty()) {
        provider.kx_groups = curves.into_iter().map(|c| c.0).collect();
    }
    let provider = Arc::new(provider);

    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| (F, format!("no usable TLS version and cipher suite: {e}")))?;
    let builder = match client_auth {
        ClientAuth::NoClientCert => builder.with_no_client_auth(),
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => builder
            .with_client_cert_verifier(Arc::new(AnyClientCert {
                mandatory: client_auth == ClientAuth::RequireAnyClientCert,
                algorithms: provider.signature_verification_algorithms,
            })),
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            let mut roots = rustls::RootCertStore::empty();
            for c in client_ca.unwrap_or_default() {
                roots.add(c).map_err(|e| {
                    (
                        "tls_server_config.client_ca_file",
                        format!("unusable CA certificate: {e}"),
                    )
                })?;
            }
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            );
            let v = if client_auth == ClientAuth::VerifyClientCertIfGiven {
                v.allow_unauthenticated()
            } else {
                v
            };
            let v = v.build().map_err(|e| {
                (
                    "tls_server_config.client_ca_file",
                    format!("unusable client CA: {e}"),
                )
            })?;
            builder.with_client_cert_verifier(v)
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        (
            "tls_server_config.key_file",
            format!("the certificate and key do not make a usable pair: {e}"),
        )
    })?;
    config.ignore_client_order = t.prefer_server_cipher_suites.unwrap_or(true);
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Some(Tls {
        config: Arc::new(config),
        allowed_sans,
    }))
}

/// `RequestClientCert` and `RequireAnyClientCert`: a certificate is asked
/// for (and required) but not checked against a CA, as in Go; only its
/// handshake signature is.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::server::danger::ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
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

    fn data(name: &str) -> String {
        format!("{}/tests/data/web/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    fn hash(password: &str) -> String {
        bcrypt::hash(password, 4).unwrap()
    }

    fn parse_str(text: &str) -> Result<WebConfig, ConfigError> {
        parse(Path::new("/etc/reachd/web.yml"), text)
    }

    fn err(text: &str) -> String {
        match parse_str(text) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => e.to_string(),
        }
    }

    fn basic(user: &str, password: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            data_encoding::BASE64.encode(format!("{user}:{password}").as_bytes())
        )
        .into_bytes()
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
    fn bad_bcrypt_is_an_error_without_the_value() {
        let e = err("basic_auth_users:\n  alice: plaintext-password\n");
        assert!(
            e.starts_with("/etc/reachd/web.yml:2:10: basic_auth_users.alice: not a bcrypt hash"),
            "{e}"
        );
        assert!(!e.contains("plaintext-password"), "{e}");
        let truncated = &hash("pw")[..40];
        let e = err(&format!("basic_auth_users:\n  alice: \"{truncated}\"\n"));
        assert!(e.contains("not a bcrypt hash"), "{e}");
        assert!(!e.contains(truncated), "{e}");
        let e = err(&format!(
            "basic_auth_users:\n  \"a:b\": \"{}\"\n",
            hash("x")
        ));
        assert!(e.contains("invalid user name"), "{e}");
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
    fn what_rustls_cannot_honour_is_an_error_that_says_so() {
        let base = format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            data("server.pem"),
            data("server.key")
        );
        let e = err(&format!(
            "{base}  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n"
        ));
        assert!(
            e.contains("cannot be honoured: rustls implements only the ECDHE AEAD"),
            "{e}"
        );
        let e = err(&format!(
            "{base}  cipher_suites: [TLS_AES_128_GCM_SHA256]\n"
        ));
        assert!(e.contains("TLS 1.3 suite"), "{e}");
        let e = err(&format!("{base}  curve_preferences: [CurveP521]\n"));
        assert!(e.contains("CurveP521` cannot be honoured"), "{e}");
        let e = err(&format!(
            "{base}  min_version: TLS10\n  max_version: TLS11\n"
        ));
        assert!(e.contains("max_version below TLS12"), "{e}");
        let e = err(&format!(
            "{base}  min_version: TLS13\n  max_version: TLS12\n"
        ));
        assert!(e.contains("min_version is above max_version"), "{e}");
        let e = err(&format!("{base}  min_version: SSL3\n"));
        assert!(e.contains("invalid value `SSL3`"), "{e}");
        // TLS10 as a minimum is taken (as TLS12).
        assert!(parse_str(&format!("{base}  min_version: TLS10\n")).is_ok());
    }

    #[test]
    fn inconsistent_client_auth_is_an_error() {
        let base = format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            data("server.pem"),
            data("server.key")
        );
        let e = err(&format!(
            "{base}  client_auth_type: RequireAndVerifyClientCert\n"
        ));
        assert!(e.contains("needs client_ca_file"), "{e}");
        let e = err(&format!("{base}  client_ca_file: {}\n", data("ca.pem")));
        assert!(e.contains("client_auth_type does not verify"), "{e}");
        let e = err(&format!(
            "{base}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: {}\n  client_allowed_sans: [x]\n",
            data("ca.pem")
        ));
        assert!(e.contains("client_allowed_sans needs"), "{e}");
        let e = err(&format!("{base}  client_auth_type: Sometimes\n"));
        assert!(e.contains("invalid value `Sometimes`"), "{e}");
        let e = err(&format!(
            "tls_server_config:\n  key_file: {}\n",
            data("server.key")
        ));
        assert!(e.contains("cert_file is missing"), "{e}");
        let e = err(&format!(
            "tls_server_config:\n  cert_file: {}\n",
            data("server.pem")
        ));
        assert!(e.contains("key_file is missing"), "{e}");
        // RequireAnyClientCert with SANs, no CA: allowed.
        assert!(
            parse_str(&format!(
                "{base}  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: [x]\n"
            ))
            .is_ok()
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
    fn the_auth_decision() {
        let c = parse_str(&format!(
            "basic_auth_users:\n  alice: \"{}\"\n  bob: \"{}\"\n",
            hash("right:pass"),
            hash("bobs")
        ))
        .unwrap();
        let u = &c.users;
        assert_eq!(u.check(Some(&basic("alice", "right:pass"))), Auth::Allowed);
        // Again, from the cache.
        assert_eq!(u.check(Some(&basic("alice", "right:pass"))), Auth::Allowed);
        assert_eq!(u.check(Some(&basic("bob", "bobs"))), Auth::Allowed);
        assert_eq!(u.check(Some(&basic("alice", "wrong"))), Auth::Denied);
        assert_eq!(u.check(Some(&basic("alice", "bobs"))), Auth::Denied);
        assert_eq!(u.check(Some(&basic("alice", ""))), Auth::Denied);
        assert_eq!(u.check(Some(&basic("carol", "right:pass"))), Auth::Denied);
        assert_eq!(u.check(None), Auth::Missing);
        assert_eq!(u.check(Some(b"Bearer abc")), Auth::Malformed);
        assert_eq!(u.check(Some(b"Basic !!!")), Auth::Malformed);
        assert_eq!(u.check(Some(b"Basic")), Auth::Malformed);
        let no_colon = format!("Basic {}", data_encoding::BASE64.encode(b"alice"));
        assert_eq!(u.check(Some(no_colon.as_bytes())), Auth::Malformed);
        assert_eq!(u.check(Some(&[0xff, 0xfe])), Auth::Malformed);
        // The scheme is case-insensitive.
        let lower = String::from_utf8(basic("alice", "right:pass"))
            .unwrap()
            .replacen("Basic", "basic", 1);
        assert_eq!(u.check(Some(lower.as_bytes())), Auth::Allowed);
        // No users: everyone.
        assert_eq!(WebConfig::plain().users.check(None), Auth::Allowed);
    }

    #[test]
    fn the_stored_hash_is_not_a_password() {
        // CVE-2022-46146: a cache keyed on the hash let the hash in.
        let h = hash("secret");
        let c = parse_str(&format!("basic_auth_users:\n  alice: \"{h}\"\n")).unwrap();
        assert_eq!(
            c.users.check(Some(&basic("alice", "secret"))),
            Auth::Allowed
        );
        assert_eq!(c.users.check(Some(&basic("alice", &h))), Auth::Denied);
        assert_eq!(
            c.users.check(Some(&basic("alice", "secret"))),
            Auth::Allowed
        );
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
    fn client_sans_are_read_like_go() {
        let pem = std::fs::read(data("client.pem")).unwrap();
        let der = CertificateDer::pem_slice_iter(&pem)
            .next()
            .unwrap()
            .unwrap();
        let sans = cert_sans(&der);
        assert_eq!(
            sans,
            [
                "scraper.example",
                "ops@example.net",
                "spiffe://example/prometheus"
            ]
        );
        let pem = std::fs::read(data("server.pem")).unwrap();
        let der = CertificateDer::pem_slice_iter(&pem)
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(cert_sans(&der), ["localhost", "127.0.0.1"]);
        let tls = Tls {
            config: parse_str(&format!(
                "tls_server_config: {{cert_file: {}, key_file: {}}}\n",
                data("server.pem"),
                data("server.key")
            ))
            .unwrap()
            .tls
            .unwrap()
            .config,
            allowed_sans: vec!["ops@example.net".into()],
        };
        assert!(!tls.client_allowed(Some(&[der.clone().into_owned()])));
        let client = CertificateDer::pem_slice_iter(&std::fs::read(data("client.pem")).unwrap())
            .next()
            .unwrap()
            .unwrap();
        assert!(tls.client_allowed(Some(&[client])));
        assert!(!tls.client_allowed(None));
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
