//! Remote inventory sources — NetBox and Prometheus HTTP service discovery
//! — and what keeps every source fresh in the daemon.
//!
//! A remote source is fetched over HTTP(S) into a [`Snapshot`]: one entry
//! per device in reachd's own device format (the map a file entry is),
//! which the configuration then resolves like any file's entries (profiles,
//! `defaults:`, validation). The [`Store`] keeps the last good snapshot of
//! each source: a source that fails to answer keeps its devices.
//!
//! Files, one job each: `client` (HTTP with bounds and TLS), `netbox` and
//! `http_sd` (one source each: fetch and map). The daemon's refresh tasks,
//! file watching and the sources' metrics are [`crate::refresh`]'s.

pub mod client;
pub mod http_sd;
pub mod netbox;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};

use crate::secret::Secret;

/// Which address of a device to use when it has both: for a NetBox
/// source, which primary IP to map; for a check (`ip_family:` in its
/// block, or beside the blocks), which of a name's addresses to check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpFamily {
    /// NetBox: the source's own primary address, else IPv4, else IPv6.
    /// A check: the first usable address the resolver gives (see the
    /// README, "Address family").
    #[default]
    Auto,
    Ipv4,
    Ipv6,
}

impl crate::settings::Field<IpFamily> for IpFamily {
    fn value(self) -> IpFamily {
        self
    }
}

impl std::fmt::Display for IpFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IpFamily::Auto => "auto",
            IpFamily::Ipv4 => "ipv4",
            IpFamily::Ipv6 => "ipv6",
        })
    }
}

impl IpFamily {
    /// Whether `addr` may be checked: `auto` takes any address.
    pub fn fits(self, addr: std::net::IpAddr) -> bool {
        let addr = addr.to_canonical();
        match self {
            IpFamily::Auto => true,
            IpFamily::Ipv4 => addr.is_ipv4(),
            IpFamily::Ipv6 => addr.is_ipv6(),
        }
    }

    /// "IPv4", "IPv6" (`None` for `auto`): for messages.
    pub fn label(self) -> Option<&'static str> {
        match self {
            IpFamily::Auto => None,
            IpFamily::Ipv4 => Some("IPv4"),
            IpFamily::Ipv6 => Some("IPv6"),
        }
    }

    /// `Err` when the literal address `host` is not of this family (a
    /// config error). `check`: the check's name, for the message.
    pub fn check_literal(self, check: &str, host: &str) -> Result<(), String> {
        let Ok(dest) = host.trim_matches(['[', ']']).parse::<std::net::IpAddr>() else {
            return Ok(());
        };
        if self.fits(dest) {
            return Ok(());
        }
        let theirs = if dest.to_canonical().is_ipv4() {
            "IPv4"
        } else {
            "IPv6"
        };
        Err(format!(
            "{check}.ip_family is {self} but the device's address {dest} is {theirs}"
        ))
    }

    /// `Err` when the source address cannot send to this family.
    pub fn check_source(self, check: &str, source: Option<std::net::IpAddr>) -> Result<(), String> {
        match source {
            Some(a) if !self.fits(a) => Err(format!(
                "{check}.ip_family is {self} but {check}.source_address {a} is {}",
                if a.is_ipv4() { "IPv4" } else { "IPv6" }
            )),
            _ => Ok(()),
        }
    }

    /// "primary IP address", "primary IPv4 address", …: what a device
    /// without one lacks.
    pub fn primary(self) -> &'static str {
        match self {
            IpFamily::Auto => "primary IP address",
            IpFamily::Ipv4 => "primary IPv4 address",
            IpFamily::Ipv6 => "primary IPv6 address",
        }
    }
}

/// What kind of source, and what only that kind has.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// NetBox's device list, with these query parameters.
    Netbox { filter: Vec<(String, String)> },
    /// A Prometheus HTTP SD URL.
    HttpSd,
}

/// A remote source, resolved from the configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteSource {
    /// Unique among the sources: the `source` label of its metrics.
    pub name: String,
    pub kind: Kind,
    pub url: String,
    pub token: Option<Secret>,
    pub refresh: Duration,
    /// For entries that name no profile.
    pub profile: Option<String>,
    pub ip_family: IpFamily,
    pub http: client::Settings,
}

impl RemoteSource {
    /// `netbox` or `http_sd`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Netbox { .. } => "netbox",
            Kind::HttpSd => "http_sd",
        }
    }

    /// Fetches the source once.
    pub async fn fetch(&self) -> Result<Snapshot, String> {
        let client =
            client::Client::new(&self.http, self.token.as_ref().map(client::token_header))?;
        match &self.kind {
            Kind::Netbox { filter } => netbox::fetch(self, &client, filter).await,
            Kind::HttpSd => http_sd::fetch(&self.url, &client, self.ip_family).await,
        }
    }

    /// [`RemoteSource::fetch`] from blocking code, runtime or not: on a
    /// thread of its own with a runtime of its own.
    pub fn fetch_blocking(&self) -> Result<Snapshot, String> {
        let source = self.clone();
        std::thread::Builder::new()
            .name("reachd-fetch".to_owned())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start a runtime: {e}"))?;
                rt.block_on(source.fetch())
            })
            .map_err(|e| format!("cannot start a thread: {e}"))?
            .join()
            .unwrap_or_else(|_| Err("fetching failed unexpectedly (a bug: please report)".into()))
    }
}

/// One device from a remote source, in reachd's device format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Names it in errors and logs: `device "r1" (id 7)`.
    pub origin: String,
    pub value: Value,
}

/// A device the source has but reachd does not check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Skip {
    pub reason: String,
    /// Its reachd settings are wrong (an error for `validate`), rather than
    /// missing what a check needs (a name, an address).
    pub invalid: bool,
    /// The device's name, when it has one: an invalid device keeps its
    /// last good settings in the daemon.
    pub device: Option<String>,
}

impl Skip {
    pub fn quiet(reason: String) -> Skip {
        Skip {
            reason,
            invalid: false,
            device: None,
        }
    }
    pub fn invalid(device: &str, origin: String, why: &str) -> Skip {
        Skip {
            reason: format!("{origin}: {why}"),
            invalid: true,
            device: Some(device.to_owned()),
        }
    }
}

/// What one fetch of a source gave.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub entries: Vec<Entry>,
    pub skipped: Vec<Skip>,
    /// What looks wrong with the list without making it wrong.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// Lays `mapped` labels under the entry's own `labels:` (its own win). An
/// entry whose `labels` is not a map keeps it, for the parser to refuse.
pub(crate) fn overlay_labels(entry: &mut Mapping, mapped: Mapping) {
    if mapped.is_empty() {
        return;
    }
    match entry.get_mut("labels") {
        None | Some(Value::Null) => {
            entry.insert("labels".into(), Value::Mapping(mapped));
        }
        Some(Value::Mapping(own)) => {
            let mut all = mapped;
            for (k, v) in std::mem::take(own) {
                all.insert(k, v);
            }
            *own = all;
        }
        Some(_) => {}
    }
}

/// The last good snapshot of each remote source, shared by the daemon's
/// refresh tasks and the configuration loader.
#[derive(Default)]
pub struct Store {
    cache: Mutex<HashMap<String, (RemoteSource, Arc<Snapshot>)>>,
    /// Per source, each device's last entry that resolved: what a device
    /// whose settings became invalid at the source is checked with.
    good: Mutex<HashMap<String, HashMap<String, Value>>>,
    /// Where each source's last good snapshot is saved (the daemon's state
    /// directory), so that a restart while a source is down still checks
    /// its devices.
    saved: Mutex<Option<PathBuf>>,
    pub mode: Mode,
}

/// What a load does with remote sources.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// A source that cannot be fetched, or an entry that does not resolve,
    /// is an error (`validate`, `check`).
    #[default]
    Strict,
    /// Such a source or entry is reported and left out (the daemon, which
    /// keeps a source's last good devices and retries).
    Lenient,
    /// Sources are checked as written but not fetched (`validate
    /// --offline`, the unit's `ExecStartPre`).
    Offline,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Store {
    pub fn new(mode: Mode) -> Store {
        Store {
            mode,
            ..Store::default()
        }
    }

    /// The last good snapshot of exactly this source, if any.
    pub fn cached(&self, source: &RemoteSource) -> Option<Arc<Snapshot>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(&source.name)
            .filter(|(s, _)| s == source)
            .map(|(_, snap)| snap.clone())
    }

    /// The cached snapshot, else one fetched now (and kept), else (in the
    /// daemon) the one saved by an earlier run: the snapshot, if any, and
    /// why the source could not be read, if it could not.
    pub fn get_or_fetch(&self, source: &RemoteSource) -> (Option<Arc<Snapshot>>, Option<String>) {
        if let Some(s) = self.cached(source) {
            return (Some(s), None);
        }
        match source.fetch_blocking() {
            Ok(fetched) => {
                self.put(source, fetched);
                (self.cached(source), None)
            }
            Err(e) if self.mode == Mode::Lenient => match self.load_saved(source) {
                Some((snapshot, at)) => {
                    let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                    let snapshot = Arc::new(snapshot);
                    cache.insert(source.name.clone(), (source.clone(), snapshot.clone()));
                    (
                        Some(snapshot),
                        Some(format!(
                            "{e} (checking the devices it gave {at}, saved in the state directory)"
                        )),
                    )
                }
                None => (None, Some(e)),
            },
            Err(e) => (None, Some(e)),
        }
    }

    /// Saves each source's good snapshots in `dir` (created if missing).
    pub fn save_in(&self, dir: Option<PathBuf>) {
        *self.saved.lock().unwrap_or_else(|e| e.into_inner()) = dir.map(|d| d.join("inventory"));
    }

    fn saved_path(&self, source: &RemoteSource) -> Option<PathBuf> {
        let dir = self
            .saved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        let safe: String = source
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(100)
            .collect();
        Some(dir.join(format!("{}-{safe}.json", source.kind_name())))
    }

    /// What identifies the list a source gives (not its token).
    fn fingerprint(source: &RemoteSource) -> String {
        format!(
            "{} {} {:?} {:?}",
            source.kind_name(),
            source.url,
            source.kind,
            source.ip_family
        )
    }

    fn save(&self, source: &RemoteSource, snapshot: &Snapshot) {
        let Some(path) = self.saved_path(source) else {
            return;
        };
        let saved = Saved {
            fingerprint: Self::fingerprint(source),
            saved_at: crate::sink::state::unix_seconds(std::time::SystemTime::now()),
            snapshot: snapshot.clone(),
        };
        let result = (|| -> std::io::Result<()> {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let dir = path.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir)?;
            let tmp = path.with_extension("json.tmp");
            // Config contexts may hold passwords: readable by reachd only.
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&serde_json::to_vec(&saved).map_err(std::io::Error::other)?)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = result {
            tracing::warn!(source = %source.name, path = %path.display(), error = %e, "cannot save the inventory source's devices for a restart while it is down");
        }
    }

    /// The snapshot an earlier run saved for exactly this list, and when.
    fn load_saved(&self, source: &RemoteSource) -> Option<(Snapshot, String)> {
        let path = self.saved_path(source)?;
        let bytes = std::fs::read(&path).ok()?;
        let saved: Saved = serde_json::from_slice(&bytes).ok()?;
        if saved.fingerprint != Self::fingerprint(source) {
            return None;
        }
        let now = crate::sink::state::unix_seconds(std::time::SystemTime::now());
        let age = (now - saved.saved_at).max(0.0) as u64;
        let at = match age {
            0..120 => format!("{age}s ago"),
            120..7200 => format!("{}m ago", age / 60),
            _ => format!("{}h ago", age / 3600),
        };
        Some((saved.snapshot, at))
    }

    /// Keeps `snapshot` as the source's last good one; `true` when it
    /// differs from the one kept before.
    pub fn put(&self, source: &RemoteSource, snapshot: Snapshot) -> bool {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let changed = cache
            .get(&source.name)
            .is_none_or(|(s, old)| s != source || **old != snapshot);
        if changed {
            self.save(source, &snapshot);
            cache.insert(source.name.clone(), (source.clone(), Arc::new(snapshot)));
        }
        changed
    }

    /// Forgets sources no longer configured.
    pub fn retain(&self, names: &[&str]) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.retain(|n, _| names.contains(&n.as_str()));
        let mut good = self.good.lock().unwrap_or_else(|e| e.into_inner());
        good.retain(|n, _| names.contains(&n.as_str()));
    }

    /// Remembers the entries of `source` that resolved (and only those).
    pub fn set_good(&self, source: &str, entries: HashMap<String, Value>) {
        let mut good = self.good.lock().unwrap_or_else(|e| e.into_inner());
        good.insert(source.to_owned(), entries);
    }

    /// The last entry of `device` at `source` that resolved.
    pub fn good(&self, source: &str, device: &str) -> Option<Value> {
        let good = self.good.lock().unwrap_or_else(|e| e.into_inner());
        good.get(source)?.get(device).cloned()
    }
}

/// A snapshot as saved in the state directory.
#[derive(Serialize, Deserialize)]
struct Saved {
    fingerprint: String,
    saved_at: f64,
    snapshot: Snapshot,
}

/// How each source fared in a load: what the daemon's metrics and logs say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceReport {
    /// The `source` label: the file's path, or the remote source's name.
    pub name: String,
    /// `file`, `netbox` or `http_sd`.
    pub kind: &'static str,
    /// Devices it gave.
    pub devices: usize,
    /// Devices it has that are not checked, and why (at most a few kept).
    pub skipped: usize,
    pub skipped_examples: Vec<String>,
    /// Devices whose settings became invalid at the source, checked with
    /// their last good ones (the daemon only), and why.
    pub stale: usize,
    pub stale_examples: Vec<String>,
    /// Why it could not be read (its devices are then its last good ones,
    /// or none at startup).
    pub error: Option<String>,
    /// What looks wrong with what it gave (a filter that keeps everything).
    pub warnings: Vec<String>,
}

/// `filter:` values: a scalar or a list of them, each one query parameter.
#[derive(Debug)]
pub(crate) struct FilterValues(pub Vec<String>);

impl<'de> Deserialize<'de> for FilterValues {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum One {
            S(String),
            I(i64),
            B(bool),
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum V {
            One(One),
            Many(Vec<One>),
        }
        let text = |o: One| match o {
            One::S(s) => s,
            One::I(i) => i.to_string(),
            One::B(b) => b.to_string(),
        };
        match V::deserialize(d).map_err(|_| {
            crate::settings::custom::<D::Error>(
                "expected a value or a list of values (NetBox query parameters)",
            )
        })? {
            V::One(o) => Ok(FilterValues(vec![text(o)])),
            V::Many(m) if m.is_empty() => Err(crate::settings::custom(
                "an empty list filters nothing in: leave the key out",
            )),
            V::Many(m) => Ok(FilterValues(m.into_iter().map(text).collect())),
        }
    }
}

/// `filter:` as query parameters, in the order written.
pub(crate) fn query(filter: BTreeMap<String, FilterValues>) -> Vec<(String, String)> {
    filter
        .into_iter()
        .flat_map(|(k, vs)| vs.0.into_iter().map(move |v| (k.clone(), v)))
        .collect()
}
