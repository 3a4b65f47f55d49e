//! Algorithm lists in OpenSSH's syntax (`+a,b` adds to the defaults, `-a`
//! removes, `^a` puts first, a plain list replaces; `*` and `?` match any
//! characters), mapped onto what russh implements.
//!
//! Defaults are modern (what russh prefers, without `ssh-rsa`). The legacy
//! algorithms old devices need are available on request: kex
//! diffie-hellman-group1-sha1, diffie-hellman-group14-sha1,
//! diffie-hellman-group-exchange-sha1, ecdh-sha2-nistp256/384/521; ciphers
//! aes128/192/256-cbc, 3des-cbc; MACs hmac-sha1, hmac-sha1-etm@openssh.com;
//! host key ssh-rsa. Not implemented (by russh): ssh-dss, hmac-md5,
//! arcfour, blowfish-cbc, cast128-cbc, umac-*.

use std::borrow::Cow;

use russh::keys::{Algorithm, EcdsaCurve, HashAlg};
use russh::{Preferred, cipher, kex, mac};

use super::glob;
use crate::target::Algorithms;

fn kex_table() -> Vec<(&'static str, kex::Name)> {
    vec![
        ("mlkem768x25519-sha256", kex::MLKEM768X25519_SHA256),
        ("curve25519-sha256", kex::CURVE25519),
        ("curve25519-sha256@libssh.org", kex::CURVE25519_PRE_RFC_8731),
        ("diffie-hellman-group-exchange-sha256", kex::DH_GEX_SHA256),
        ("diffie-hellman-group18-sha512", kex::DH_G18_SHA512),
        ("diffie-hellman-group17-sha512", kex::DH_G17_SHA512),
        ("diffie-hellman-group16-sha512", kex::DH_G16_SHA512),
        ("diffie-hellman-group15-sha512", kex::DH_G15_SHA512),
        ("diffie-hellman-group14-sha256", kex::DH_G14_SHA256),
        ("ecdh-sha2-nistp256", kex::ECDH_SHA2_NISTP256),
        ("ecdh-sha2-nistp384", kex::ECDH_SHA2_NISTP384),
        ("ecdh-sha2-nistp521", kex::ECDH_SHA2_NISTP521),
        ("diffie-hellman-group-exchange-sha1", kex::DH_GEX_SHA1),
        ("diffie-hellman-group14-sha1", kex::DH_G14_SHA1),
        ("diffie-hellman-group1-sha1", kex::DH_G1_SHA1),
    ]
}
const KEX_DEFAULT: usize = 9;

fn cipher_table() -> Vec<(&'static str, cipher::Name)> {
    vec![
        ("chacha20-poly1305@openssh.com", cipher::CHACHA20_POLY1305),
        ("aes256-gcm@openssh.com", cipher::AES_256_GCM),
        ("aes128-gcm@openssh.com", cipher::AES_128_GCM),
        ("aes256-ctr", cipher::AES_256_CTR),
        ("aes192-ctr", cipher::AES_192_CTR),
        ("aes128-ctr", cipher::AES_128_CTR),
        ("aes256-cbc", cipher::AES_256_CBC),
        ("aes192-cbc", cipher::AES_192_CBC),
        ("aes128-cbc", cipher::AES_128_CBC),
        ("3des-cbc", cipher::TRIPLE_DES_CBC),
    ]
}
const CIPHER_DEFAULT: usize = 6;

fn mac_table() -> Vec<(&'static str, mac::Name)> {
    vec![
        ("hmac-sha2-512-etm@openssh.com", mac::HMAC_SHA512_ETM),
        ("hmac-sha2-256-etm@openssh.com", mac::HMAC_SHA256_ETM),
        ("hmac-sha2-512", mac::HMAC_SHA512),
        ("hmac-sha2-256", mac::HMAC_SHA256),
        ("hmac-sha1-etm@openssh.com", mac::HMAC_SHA1_ETM),
        ("hmac-sha1", mac::HMAC_SHA1),
    ]
}
const MAC_DEFAULT: usize = 4;

fn host_key_table() -> Vec<(&'static str, Algorithm)> {
    vec![
        ("ssh-ed25519", Algorithm::Ed25519),
        (
            "ecdsa-sha2-nistp256",
            Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP256,
            },
        ),
        (
            "ecdsa-sha2-nistp384",
            Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP384,
            },
        ),
        (
            "ecdsa-sha2-nistp521",
            Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP521,
            },
        ),
        (
            "rsa-sha2-512",
            Algorithm::Rsa {
                hash: Some(HashAlg::Sha512),
            },
        ),
        (
            "rsa-sha2-256",
            Algorithm::Rsa {
                hash: Some(HashAlg::Sha256),
            },
        ),
        ("ssh-rsa", Algorithm::Rsa { hash: None }),
    ]
}
const HOST_KEY_DEFAULT: usize = 6;

/// Applies an OpenSSH-style list edit to the defaults (the first `default`
/// entries of `table`). Names are returned in order.
pub fn edit(
    kind: &str,
    table: &[(&'static str, ())],
    default: usize,
    spec: Option<&str>,
) -> Result<Vec<&'static str>, String> {
    let defaults: Vec<&'static str> = table.iter().take(default).map(|(n, _)| *n).collect();
    let Some(spec) = spec.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(defaults);
    };
    let (op, body) = match spec.as_bytes()[0] {
        b'+' | b'-' | b'^' => (spec.as_bytes()[0], &spec[1..]),
        _ => (b'=', spec),
    };
    let items: Vec<&str> = body
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let resolve = |item: &str| -> Result<Vec<&'static str>, String> {
        let found: Vec<&'static str> = table
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| glob(item, n, false))
            .collect();
        if found.is_empty() {
            let all: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "{kind} algorithm `{item}` is not supported by reachd (supported: {})",
                all.join(", ")
            ));
        }
        Ok(found)
    };
    let mut out = defaults;
    match op {
        b'-' => {
            out.retain(|n| !items.iter().any(|i| glob(i, n, false)));
        }
        b'+' => {
            for i in &items {
                for n in resolve(i)? {
                    if !out.contains(&n) {
                        out.push(n);
                    }
                }
            }
        }
        b'^' => {
            let mut front = Vec::new();
            for i in &items {
                for n in resolve(i)? {
                    if !front.contains(&n) {
                        front.push(n);
                    }
                }
            }
            out.retain(|n| !front.contains(n));
            front.extend(out);
            out = front;
        }
        _ => {
            out = Vec::new();
            for i in &items {
                for n in resolve(i)? {
                    if !out.contains(&n) {
                        out.push(n);
                    }
                }
            }
        }
    }
    if out.is_empty() {
        return Err(format!("the {kind} algorithm list `{spec}` leaves nothing"));
    }
    Ok(out)
}

fn apply<T: Clone>(
    kind: &str,
    table: Vec<(&'static str, T)>,
    default: usize,
    spec: Option<&str>,
) -> Result<Vec<T>, String> {
    let names: Vec<(&'static str, ())> = table.iter().map(|(n, _)| (*n, ())).collect();
    let chosen = edit(kind, &names, default, spec)?;
    Ok(chosen
        .iter()
        .filter_map(|c| table.iter().find(|(n, _)| n == c).map(|(_, v)| v.clone()))
        .collect())
}

/// russh's preferences for `a`, or an error naming what is not supported.
pub fn preferred(a: &Algorithms) -> Result<Preferred, String> {
    let mut kex = apply("kex", kex_table(), KEX_DEFAULT, a.kex.as_deref())?;
    // Protocol extensions, always offered: ext-info and strict kex
    // (the Terrapin counter-measure).
    kex.push(kex::EXTENSION_SUPPORT_AS_CLIENT);
    kex.push(kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT);
    Ok(Preferred {
        kex: Cow::Owned(kex),
        key: Cow::Owned(apply(
            "host key",
            host_key_table(),
            HOST_KEY_DEFAULT,
            a.host_key.as_deref(),
        )?),
        cipher: Cow::Owned(apply(
            "cipher",
            cipher_table(),
            CIPHER_DEFAULT,
            a.ciphers.as_deref(),
        )?),
        mac: Cow::Owned(apply("mac", mac_table(), MAC_DEFAULT, a.macs.as_deref())?),
        ..Preferred::DEFAULT
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(kind: &str, spec: Option<&str>) -> Result<Vec<&'static str>, String> {
        let t: Vec<(&'static str, ())> = match kind {
            "cipher" => cipher_table().iter().map(|(n, _)| (*n, ())).collect(),
            _ => kex_table().iter().map(|(n, _)| (*n, ())).collect(),
        };
        let d = if kind == "cipher" {
            CIPHER_DEFAULT
        } else {
            KEX_DEFAULT
        };
        edit(kind, &t, d, spec)
    }

    #[test]
    fn openssh_list_syntax() {
        let d = names("cipher", None).unwrap();
        assert_eq!(d[0], "chacha20-poly1305@openssh.com");
        assert!(!d.contains(&"aes128-cbc"));
        let plus = names("cipher", Some("+aes128-cbc,aes256-cbc")).unwrap();
        assert_eq!(&plus[plus.len() - 2..], &["aes128-cbc", "aes256-cbc"]);
        let minus = names("cipher", Some("-chacha20*,aes256-gcm@openssh.com")).unwrap();
        assert_eq!(minus[0], "aes128-gcm@openssh.com");
        let caret = names("cipher", Some("^3des-cbc")).unwrap();
        assert_eq!(caret[0], "3des-cbc");
        assert_eq!(caret.len(), d.len() + 1);
        assert_eq!(names("cipher", Some("aes128-cbc")).unwrap(), ["aes128-cbc"]);
        assert_eq!(
            names("cipher", Some("+aes*-cbc")).unwrap()[d.len()..],
            ["aes256-cbc", "aes192-cbc", "aes128-cbc"]
        );
        let e = names("cipher", Some("+arcfour")).unwrap_err();
        assert!(e.contains("`arcfour` is not supported"), "{e}");
        assert!(names("cipher", Some("-*")).is_err());
        // Removing what is not there is fine.
        assert_eq!(names("cipher", Some("-arcfour")).unwrap(), d);
        let kex = names(
            "kex",
            Some("+diffie-hellman-group14-sha1,diffie-hellman-group1-sha1"),
        )
        .unwrap();
        assert!(kex.ends_with(&["diffie-hellman-group14-sha1", "diffie-hellman-group1-sha1"]));
    }

    #[test]
    fn modern_defaults_exclude_legacy() {
        let p = preferred(&Algorithms::default()).unwrap();
        assert!(!p.key.contains(&Algorithm::Rsa { hash: None }));
        assert!(!p.mac.contains(&mac::HMAC_SHA1));
        assert!(!p.kex.contains(&kex::DH_G14_SHA1));
        let legacy = preferred(&Algorithms {
            kex: Some("+diffie-hellman-group14-sha1".into()),
            ciphers: Some("+aes128-cbc".into()),
            macs: Some("+hmac-sha1".into()),
            host_key: Some("+ssh-rsa".into()),
        })
        .unwrap();
        assert!(legacy.key.contains(&Algorithm::Rsa { hash: None }));
        assert!(legacy.cipher.contains(&cipher::AES_128_CBC));
        assert!(legacy.kex.contains(&kex::DH_G14_SHA1));
        assert!(
            legacy
                .kex
                .contains(&kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT)
        );
    }
}
