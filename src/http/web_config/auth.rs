//! Basic authentication for the web config: `basic_auth_users` (user →
//! bcrypt hash) and the check of a request's `Authorization` header.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::Mutex;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

use crate::settings::{custom as de_error, str_then};

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
    pub(super) fn new(hashes: BTreeMap<String, String>) -> Self {
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
fn parse_basic(header: &[u8]) -> Option<(String, Vec<u8>)> {
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

pub(super) struct UserMap(pub(super) BTreeMap<String, String>);

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::web_config::WebConfig;
    use crate::http::web_config::tests::{err, hash, parse_str};

    fn basic(user: &str, password: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            data_encoding::BASE64.encode(format!("{user}:{password}").as_bytes())
        )
        .into_bytes()
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
}
