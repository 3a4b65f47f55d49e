//! OpenSSH known_hosts files: lookup (plain, `[host]:port`, comma lists,
//! `*`/`?` patterns, `!` negation, hashed `|1|` entries, `@revoked`), and the
//! reachd-owned trust-on-first-use file that `accept-new` appends to.
//!
//! A file is parsed once and re-read only when its size or modification
//! time changes; keys reachd records itself go into the cache directly, so
//! a sweep of 100k new devices does not re-read the file 100k times.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use data_encoding::BASE64;
use hmac::{KeyInit, Mac};
use russh::keys::{Algorithm, PublicKey};

use super::glob;

/// What a known_hosts file says about a host's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    Known,
    /// No key recorded for this host (of this key's type).
    Unknown,
    /// Another key of the same type is recorded, or this one is revoked.
    Changed {
        line: usize,
        revoked: bool,
    },
}

/// `host` or `[host]:port`, as OpenSSH writes it.
pub fn host_port(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

#[derive(Debug)]
struct Entry {
    key: PublicKey,
    line: usize,
    revoked: bool,
}

#[derive(Debug, Default)]
struct Parsed {
    /// Entries whose host list is plain names, by name.
    plain: HashMap<String, Vec<usize>>,
    /// Entries with patterns or hashed names: (host field, entry index).
    other: Vec<(String, usize)>,
    entries: Vec<Entry>,
}

impl Parsed {
    #[cfg(test)]
    fn parse(text: &str) -> Parsed {
        Parsed::parse_bytes(text.as_bytes()).0
    }

    /// Parses a file's bytes line by line; a line that is not UTF-8 is
    /// skipped (its 1-based number returned), the others still count.
    fn parse_bytes(bytes: &[u8]) -> (Parsed, Vec<usize>) {
        let mut p = Parsed::default();
        let mut bad = Vec::new();
        let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
            let Ok(line) = std::str::from_utf8(line) else {
                bad.push(i + 1);
                continue;
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let mut first = fields.next().unwrap_or("");
            let mut revoked = false;
            if first.starts_with('@') {
                match first {
                    "@revoked" => revoked = true,
                    // Certificate authorities are not host keys.
                    _ => continue,
                }
                first = fields.next().unwrap_or("");
            }
            let (Some(alg), Some(b64)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Ok(key) = PublicKey::from_openssh(&format!("{alg} {b64}")) else {
                continue;
            };
            p.add(first, key, i + 1, revoked);
        }
        (p, bad)
    }

    fn add(&mut self, hosts: &str, key: PublicKey, line: usize, revoked: bool) {
        let idx = self.entries.len();
        self.entries.push(Entry { key, line, revoked });
        if hosts.contains(['*', '?', '!', '|']) {
            self.other.push((hosts.to_owned(), idx));
        } else {
            for h in hosts.split(',') {
                self.plain.entry(h.to_owned()).or_default().push(idx);
            }
        }
    }

    fn lookup(&self, host_port: &str, key: &PublicKey) -> Lookup {
        let mut matching: Vec<&Entry> = Vec::new();
        if let Some(v) = self.plain.get(host_port) {
            matching.extend(v.iter().map(|i| &self.entries[*i]));
        }
        for (pattern, i) in &self.other {
            if hosts_match(pattern, host_port) {
                matching.push(&self.entries[*i]);
            }
        }
        if let Some(e) = matching.iter().find(|e| e.revoked && e.key == *key) {
            return Lookup::Changed {
                line: e.line,
                revoked: true,
            };
        }
        if matching.iter().any(|e| !e.revoked && e.key == *key) {
            return Lookup::Known;
        }
        let same_type =
            |a: &Algorithm, b: &Algorithm| a == b || (a.clone().is_rsa() && b.clone().is_rsa());
        match matching
            .iter()
            .find(|e| !e.revoked && same_type(&e.key.algorithm(), &key.algorithm()))
        {
            Some(e) => Lookup::Changed {
                line: e.line,
                revoked: false,
            },
            None => Lookup::Unknown,
        }
    }
}

fn hashed_match(entry: &str, host: &str) -> bool {
    // |1|base64(salt)|base64(hmac-sha1(salt, host))
    let mut parts = entry.split('|').skip(2);
    let (Some(salt), Some(hash)) = (parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (
        BASE64.decode(salt.as_bytes()),
        BASE64.decode(hash.as_bytes()),
    ) else {
        return false;
    };
    let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(host.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

fn hosts_match(hosts: &str, host_port: &str) -> bool {
    let mut hit = false;
    for h in hosts.split(',') {
        if let Some(neg) = h.strip_prefix('!') {
            if glob(neg, host_port, true) {
                return false;
            }
        } else if h.starts_with("|1|") {
            hit |= hashed_match(h, host_port);
        } else {
            hit |= glob(h, host_port, true);
        }
    }
    hit
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        len: m.len(),
        modified: m.modified().ok(),
    })
}

/// A known_hosts file (or, without a path, an in-memory list).
#[derive(Debug)]
pub struct KnownHosts {
    path: Option<PathBuf>,
    cache: Mutex<(Option<Stamp>, Arc<Parsed>)>,
    /// Keys recorded in memory only (no file) or not yet visible in the file.
    memory: Mutex<Parsed>,
    /// Whether lines that are not UTF-8 were reported already (once).
    warned: std::sync::atomic::AtomicBool,
}

impl KnownHosts {
    pub fn file(path: PathBuf) -> Self {
        KnownHosts {
            path: Some(path),
            cache: Mutex::new((None, Arc::new(Parsed::default()))),
            memory: Mutex::new(Parsed::default()),
            warned: Default::default(),
        }
    }

    pub fn memory() -> Self {
        KnownHosts {
            path: None,
            cache: Mutex::new((None, Arc::new(Parsed::default()))),
            memory: Mutex::new(Parsed::default()),
            warned: Default::default(),
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn parsed(&self) -> std::io::Result<Arc<Parsed>> {
        let Some(path) = &self.path else {
            return Ok(Arc::new(Parsed::default()));
        };
        let now = stamp(path);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.0.is_some() && cache.0 == now {
            return Ok(cache.1.clone());
        }
        let parsed = Arc::new(self.read(path)?);
        *cache = (now, parsed.clone());
        Ok(parsed)
    }

    /// Reads and parses the file (missing: empty); lines that are not
    /// UTF-8 are skipped, and said once per file (never their content).
    fn read(&self, path: &Path) -> std::io::Result<Parsed> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let (parsed, bad) = Parsed::parse_bytes(&bytes);
        if !bad.is_empty() && !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
            let shown: Vec<String> = bad.iter().take(10).map(usize::to_string).collect();
            tracing::warn!(
                path = %path.display(),
                "known_hosts: skipping {} line(s) that are not UTF-8 (line {}{}); the other lines are used, and the file is only ever appended to",
                bad.len(),
                shown.join(", "),
                if bad.len() > 10 { ", …" } else { "" },
            );
        }
        Ok(parsed)
    }

    pub fn lookup(&self, host_port: &str, key: &PublicKey) -> std::io::Result<Lookup> {
        let parsed = self.parsed()?;
        let from_file = parsed.lookup(host_port, key);
        if from_file != Lookup::Unknown {
            return Ok(from_file);
        }
        let mem = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        Ok(mem.lookup(host_port, key))
    }

    /// Trust on first use: record `key` for `host_port` unless a key is
    /// already known (then say what the file says).
    pub fn learn(&self, host_port: &str, key: &PublicKey) -> std::io::Result<Lookup> {
        static WRITE: Mutex<()> = Mutex::new(());
        let _guard = WRITE.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.lookup(host_port, key)?;
        if now != Lookup::Unknown {
            return Ok(now);
        }
        if let Some(path) = &self.path {
            if let Some(dir) = path.parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir)?;
            }
            let line = format!(
                "{host_port} {}\n",
                key.to_openssh()
                    .map_err(|e| std::io::Error::other(e.to_string()))?
            );
            let before = stamp(path);
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(path)?;
            // A last line without its line feed stays whole: ours starts
            // on a line of its own.
            let line = if ends_mid_line(&mut f)? {
                format!("\n{line}")
            } else {
                line
            };
            f.write_all(line.as_bytes())?;
            drop(f);
            // If nobody else touched the file, the cache is still the file
            // plus this line: add it there instead of re-reading.
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if cache.0.is_some() && cache.0 == before {
                if let Some(p) = Arc::get_mut(&mut cache.1) {
                    let n = p.entries.len();
                    p.add(host_port, key.clone(), n + 1, false);
                    cache.0 = stamp(path);
                    return Ok(Lookup::Unknown);
                }
                let fresh = self.read(path)?;
                *cache = (stamp(path), Arc::new(fresh));
                return Ok(Lookup::Unknown);
            }
            return Ok(Lookup::Unknown);
        }
        let mut mem = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        let n = mem.entries.len();
        mem.add(host_port, key.clone(), n + 1, false);
        Ok(Lookup::Unknown)
    }
}

/// Whether the file's last byte is not a line feed (an empty file: no).
fn ends_mid_line(f: &mut std::fs::File) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    if f.metadata()?.len() == 0 {
        return Ok(false);
    }
    f.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    f.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::host_key_for;

    #[test]
    fn lookups() {
        let k1 = host_key_for("R1").public_key().clone();
        let k2 = host_key_for("R2").public_key().clone();
        let text = format!(
            "# comment\n[127.0.0.1]:2222 {}\n10.0.0.*,!10.0.0.9 {}\n@cert-authority * {}\n",
            k1.to_openssh().unwrap(),
            k2.to_openssh().unwrap(),
            k2.to_openssh().unwrap(),
        );
        let p = Parsed::parse(&text);
        assert_eq!(p.lookup("[127.0.0.1]:2222", &k1), Lookup::Known);
        assert_eq!(
            p.lookup("[127.0.0.1]:2222", &k2),
            Lookup::Changed {
                line: 2,
                revoked: false
            }
        );
        assert_eq!(p.lookup("127.0.0.1", &k1), Lookup::Unknown);
        assert_eq!(p.lookup("10.0.0.5", &k2), Lookup::Known);
        assert_eq!(p.lookup("10.0.0.9", &k2), Lookup::Unknown);
    }

    #[test]
    fn hashed_entries() {
        // ssh-keygen -H style: |1|salt|hmac-sha1(salt, "[127.0.0.1]:2222")
        let salt = [7u8; 20];
        let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(&salt).unwrap();
        mac.update(b"[127.0.0.1]:2222");
        let hash = mac.finalize().into_bytes();
        let k1 = host_key_for("R1").public_key().clone();
        let text = format!(
            "|1|{}|{} {}\n",
            BASE64.encode(&salt),
            BASE64.encode(&hash),
            k1.to_openssh().unwrap()
        );
        let p = Parsed::parse(&text);
        assert_eq!(p.lookup("[127.0.0.1]:2222", &k1), Lookup::Known);
        assert_eq!(p.lookup("[127.0.0.1]:2223", &k1), Lookup::Unknown);
    }

    #[test]
    fn learn_records_once_and_detects_change() {
        let dir = std::env::temp_dir().join(format!("reachd-kh-{}", std::process::id()));
        let path = dir.join("sub/known_hosts");
        let kh = KnownHosts::file(path.clone());
        let k1 = host_key_for("R1").public_key().clone();
        let k2 = host_key_for("R2").public_key().clone();
        assert_eq!(kh.learn("[127.0.0.1]:2222", &k1).unwrap(), Lookup::Unknown);
        assert_eq!(kh.learn("[127.0.0.1]:2222", &k1).unwrap(), Lookup::Known);
        assert!(matches!(
            kh.lookup("[127.0.0.1]:2222", &k2).unwrap(),
            Lookup::Changed { .. }
        ));
        // A fresh reader of the file agrees.
        let again = KnownHosts::file(path.clone());
        assert_eq!(
            again.lookup("[127.0.0.1]:2222", &k1).unwrap(),
            Lookup::Known
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        let _ = std::fs::remove_dir_all(dir);

        let mem = KnownHosts::memory();
        assert_eq!(mem.learn("h", &k1).unwrap(), Lookup::Unknown);
        assert_eq!(mem.lookup("h", &k1).unwrap(), Lookup::Known);
    }

    /// A line that is not UTF-8 (here between two good ones, and once more
    /// at the end without a line feed) costs only itself: known hosts are
    /// still known, new ones are learned, and every byte of the file stays.
    #[test]
    fn a_line_that_is_not_utf8_loses_nothing() {
        let dir = std::env::temp_dir().join(format!("reachd-kh-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("known_hosts");
        let k1 = host_key_for("R1").public_key().clone();
        let k2 = host_key_for("R2").public_key().clone();
        let k3 = host_key_for("R3").public_key().clone();
        let mut original = Vec::new();
        original.extend_from_slice(
            format!("[127.0.0.1]:2222 {}\n", k1.to_openssh().unwrap()).as_bytes(),
        );
        original.extend_from_slice(b"[127.0.0.9]:22 ssh-ed25519 AAAA\xff\xfe\xc3( junk\n");
        original.extend_from_slice(
            format!("[127.0.0.2]:2222 {}\n", k2.to_openssh().unwrap()).as_bytes(),
        );
        original.extend_from_slice(b"\xff tail without a line feed");
        std::fs::write(&path, &original).unwrap();

        let kh = KnownHosts::file(path.clone());
        assert_eq!(kh.learn("[127.0.0.1]:2222", &k1).unwrap(), Lookup::Known);
        assert_eq!(kh.learn("[127.0.0.2]:2222", &k2).unwrap(), Lookup::Known);
        assert!(matches!(
            kh.learn("[127.0.0.1]:2222", &k2).unwrap(),
            Lookup::Changed { line: 1, .. }
        ));
        assert_eq!(kh.learn("[127.0.0.3]:2222", &k3).unwrap(), Lookup::Unknown);
        assert_eq!(kh.learn("[127.0.0.3]:2222", &k3).unwrap(), Lookup::Known);

        // A fresh reader of the file knows all three.
        let again = KnownHosts::file(path.clone());
        for (h, k) in [
            ("[127.0.0.1]:2222", &k1),
            ("[127.0.0.2]:2222", &k2),
            ("[127.0.0.3]:2222", &k3),
        ] {
            assert_eq!(again.lookup(h, k).unwrap(), Lookup::Known, "{h}");
        }
        // The original bytes are untouched; the new key is a line of its own.
        let now = std::fs::read(&path).unwrap();
        assert!(now.starts_with(&original));
        let added = format!("\n[127.0.0.3]:2222 {}\n", k3.to_openssh().unwrap());
        assert_eq!(&now[original.len()..], added.as_bytes());
        let _ = std::fs::remove_dir_all(dir);
    }
}
