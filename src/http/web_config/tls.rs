//! TLS for the web config: the `tls_server_config` keys turned into a
//! rustls server configuration, and the client SANs check.
//!
//! What rustls cannot honour: TLS 1.0 and 1.1 (a `min_version` below TLS12
//! is raised to TLS12 with a warning; a `max_version` below it is an error),
//! the non-ECDHE, CBC, 3DES and RC4 `cipher_suites` (an error naming the
//! suites that work), and `CurveP521` in `curve_preferences` (an error).
//! TLS 1.3 suites are always on, as in Go.

use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use serde::Deserialize;
use serde::de::Deserializer;
use tokio_rustls::rustls::{self, DistinguishedName, SignatureScheme};

use super::read;
use crate::settings::str_then;

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
fn cert_sans(cert: &[u8]) -> Vec<String> {
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
enum ClientAuth {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
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

type Field = &'static str;

pub(super) fn build_tls(t: RawTls, http2: bool) -> Result<Option<Tls>, (Field, String)> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::web_config::tests::{data, err, parse_str};

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
}
