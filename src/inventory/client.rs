//! The HTTP(S) client of the remote sources: bounded time, bounded size,
//! TLS verified unless the configuration says otherwise, and never a
//! redirect or a `next` link to another host than the one configured.

use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Secret;

/// The largest answer read from a source (a NetBox page of 1,000 devices
/// with config contexts is a few MiB).
pub const MAX_BODY: usize = 64 << 20;

/// How a source is reached.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// The whole request, connect to last byte.
    pub timeout: Duration,
    /// Extra CA certificates (PEM) to trust, beside the system's.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate: for a lab, never the default.
    pub tls_insecure_skip_verify: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout: Duration::from_secs(30),
            ca_file: None,
            tls_insecure_skip_verify: false,
        }
    }
}

/// A client for one source.
pub struct Client {
    http: reqwest::Client,
    auth: Option<String>,
}

impl Client {
    /// `auth`: the `Authorization` header's value, if any.
    pub fn new(settings: &Settings, auth: Option<String>) -> Result<Client, String> {
        let mut b = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("reachd/", env!("CARGO_PKG_VERSION")))
            // Names in a source's URL are resolved by the system, once per
            // request; no proxy from the environment is used unless asked.
            .no_proxy()
            .danger_accept_invalid_certs(settings.tls_insecure_skip_verify);
        if let Some(path) = &settings.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("ca_file {}: not PEM certificates: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("ca_file {}: no certificate in it", path.display()));
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        let http = b.build().map_err(|e| format!("cannot set up HTTP: {e}"))?;
        Ok(Client { http, auth })
    }

    /// GETs `url` and parses its JSON body.
    pub async fn get_json(&self, url: &str) -> Result<serde_json::Value, String> {
        let mut req = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(a) = &self.auth {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        let mut resp = req.send().await.map_err(|e| describe(url, &e))?;
        let status = resp.status();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| describe(url, &e))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(format!(
                    "GET {url}: the answer is larger than {} MiB",
                    MAX_BODY >> 20
                ));
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            let text: String = text.chars().take(200).collect();
            let hint = match status.as_u16() {
                401 | 403 => " (is the token right, and allowed to read?)",
                404 => " (is the URL the API root's host?)",
                301 | 302 | 307 | 308 => " (redirects are not followed: use the final URL)",
                _ => "",
            };
            return Err(format!(
                "GET {url}: HTTP {status}{hint}: {}",
                text.trim().replace('\n', " ")
            ));
        }
        serde_json::from_slice(&body).map_err(|e| format!("GET {url}: not JSON: {e}"))
    }
}

/// One line saying why a request failed, without the chain's noise.
fn describe(url: &str, e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut why = String::new();
    let mut source = e.source();
    while let Some(s) = source {
        why = s.to_string();
        source = s.source();
    }
    let what = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        format!("cannot connect: {why}")
    } else if why.is_empty() {
        e.to_string()
    } else {
        why
    };
    format!("GET {url}: {what}")
}

/// The `Authorization` value for a token: NetBox v2 tokens (`nbt_…`) are
/// bearer tokens, v1 tokens use `Token`.
pub fn token_header(token: &Secret) -> String {
    let t = token.expose().trim();
    if t.starts_with("Bearer ") || t.starts_with("Token ") {
        t.to_owned()
    } else if t.starts_with("nbt_") {
        format!("Bearer {t}")
    } else {
        format!("Token {t}")
    }
}

/// `Err` unless `next` is on the same scheme, host and port as `base`:
/// a page link never takes reachd elsewhere.
pub fn same_origin(base: &reqwest::Url, next: &str) -> Result<reqwest::Url, String> {
    let mut n = reqwest::Url::parse(next).map_err(|e| format!("bad `next` link {next}: {e}"))?;
    // Behind a TLS proxy NetBox may build http:// links: keep the scheme
    // reachd was given (a link's explicit port stays and must match).
    let _ = n.set_scheme(base.scheme());
    if n.host_str() != base.host_str() || n.port_or_known_default() != base.port_or_known_default()
    {
        return Err(format!(
            "`next` link {next} leaves {} (is NetBox's BASE_PATH or proxy set right?)",
            base.origin().ascii_serialization()
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_of_both_versions() {
        let s = |t: &str| token_header(&Secret::new(t.to_owned()));
        assert_eq!(s("0123abcd"), "Token 0123abcd");
        assert_eq!(s("nbt_abc.def"), "Bearer nbt_abc.def");
        assert_eq!(s("Bearer nbt_x.y"), "Bearer nbt_x.y");
        assert_eq!(s(" 0123abcd\n"), "Token 0123abcd");
    }

    #[test]
    fn next_links_stay_on_the_configured_origin() {
        let base = reqwest::Url::parse("https://nb.example.net/api/dcim/devices/").unwrap();
        let ok = same_origin(&base, "http://nb.example.net/api/dcim/devices/?offset=1000").unwrap();
        assert_eq!(ok.scheme(), "https");
        assert!(same_origin(&base, "https://evil.example.org/api/").is_err());
        assert!(same_origin(&base, "https://nb.example.net:8443/api/").is_err());
        assert!(same_origin(&base, "not a url").is_err());
    }
}
