//! Remote inventory sources in the configuration: `{netbox: {…}}` and
//! `{http_sd: {…}}` under `inventory:` as written, resolved into
//! [`RemoteSource`]s, and their snapshots' entries resolved into devices
//! like a file's (see [`crate::inventory`] for fetching and mapping).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;

use super::entry;
use super::fields::ProfileName;
use super::resolve::{self, File, Resolved, Resolver};
use crate::inventory::{
    self, FilterValues, IpFamily, Kind, Mode, RemoteSource, SourceReport, Store,
};
use crate::secret::source::SecretSource;
use crate::settings::duration::PositiveDur;
use crate::settings::values::{NonEmpty, RelPath};
use crate::settings::yaml::{self, FieldPath};
use crate::settings::{ConfigError, str_then};

/// How often a source is read unless its `refresh:` says otherwise.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
pub const DEFAULT_HTTP_SD_REFRESH: Duration = Duration::from_secs(60);
/// Refreshes more often than this would only load the source.
const MIN_REFRESH: Duration = Duration::from_secs(5);

/// An http(s) URL with a host.
#[derive(Debug)]
pub(crate) struct SourceUrl(pub String);

impl<'de> Deserialize<'de> for SourceUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "an http:// or https:// URL", |s| {
            let u = reqwest::Url::parse(s.trim()).map_err(|e| format!("invalid URL `{s}`: {e}"))?;
            if !matches!(u.scheme(), "http" | "https") {
                return Err(format!("invalid URL `{s}`: use http:// or https://"));
            }
            if u.host_str().is_none_or(str::is_empty) {
                return Err(format!("invalid URL `{s}`: no host"));
            }
            // URLs appear in logs and errors: no secret goes in one.
            if !u.username().is_empty() || u.password().is_some() {
                return Err(
                    "the URL carries a user name or password: put the credential in `token:` \
                     (a URL is shown in logs and errors)"
                        .to_owned(),
                );
            }
            Ok(SourceUrl(s.trim().to_owned()))
        })
    }
}

/// NetBox's usual device filters (`/api/dcim/devices/`). NetBox ignores a
/// filter it does not know, which would monitor every device it has: a key
/// that is none of these but close to one is refused with the one meant.
/// Others (NetBox has hundreds, plus `cf_*` and lookups like `name__ic`)
/// pass as written.
const NETBOX_FILTERS: &[&str] = &[
    "q",
    "id",
    "name",
    "status",
    "site",
    "site_id",
    "site_group",
    "site_group_id",
    "region",
    "region_id",
    "location",
    "location_id",
    "rack_id",
    "role",
    "role_id",
    "tag",
    "tag_id",
    "tenant",
    "tenant_id",
    "tenant_group",
    "tenant_group_id",
    "platform",
    "platform_id",
    "manufacturer",
    "manufacturer_id",
    "device_type",
    "device_type_id",
    "model",
    "serial",
    "asset_tag",
    "has_primary_ip",
    "has_oob_ip",
    "primary_ip4_id",
    "primary_ip6_id",
    "virtual_chassis_id",
    "virtual_chassis_member",
    "cluster_id",
    "config_template_id",
    "contact",
    "contact_role",
    "airflow",
    "face",
    "position",
    "mac_address",
    "console_ports",
    "interfaces",
    "local_context_data",
    "created",
    "last_updated",
    "description",
    "label",
];

/// `Err` with the filter meant, for a key that looks like a typo of one.
fn check_filter(key: &str) -> Result<(), String> {
    let base = key.split("__").next().unwrap_or(key);
    if base.starts_with("cf_") || NETBOX_FILTERS.contains(&base) {
        return Ok(());
    }
    match crate::settings::error::closest(base, NETBOX_FILTERS.iter().copied()) {
        Some(meant) => Err(format!(
            "`{key}` is not a NetBox device filter, did you mean `{meant}`? (NetBox ignores a \
             filter it does not know and would give every device it has)"
        )),
        None => Ok(()),
    }
}

/// A `netbox:` or `http_sd:` block as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRemote {
    url: SourceUrl,
    token: Option<SecretSource>,
    filter: Option<BTreeMap<String, FilterValues>>,
    refresh: Option<PositiveDur>,
    timeout: Option<PositiveDur>,
    profile: Option<ProfileName>,
    name: Option<NonEmpty>,
    ip_family: Option<IpFamily>,
    ca_file: Option<RelPath>,
    tls_insecure_skip_verify: Option<bool>,
}

/// Resolves a block at `at` of `file`: secrets read, profile known, paths
/// rebased. `netbox` says which kind the block is.
pub(crate) fn source(
    r: &Resolver,
    file: &File,
    at: &FieldPath,
    raw: RawRemote,
    netbox: bool,
) -> Result<RemoteSource, ConfigError> {
    let kind = if netbox {
        let filter = raw.filter.unwrap_or_default();
        for key in filter.keys() {
            check_filter(key).map_err(|e| file.error(&at.key("filter").key(key), e))?;
        }
        Kind::Netbox {
            filter: inventory::query(filter),
        }
    } else {
        if raw.filter.is_some() {
            return Err(file.error(
                &at.key("filter"),
                "`filter` is for netbox sources (an http_sd URL carries its own query)".into(),
            ));
        }
        Kind::HttpSd
    };
    if let Some(p) = &raw.profile {
        r.known_profile(&p.0)
            .map_err(|e| file.error(&at.key("profile"), e))?;
    }
    let refresh = raw.refresh.map(|d| d.0).unwrap_or(if netbox {
        DEFAULT_REFRESH
    } else {
        DEFAULT_HTTP_SD_REFRESH
    });
    if refresh < MIN_REFRESH {
        return Err(file.error(
            &at.key("refresh"),
            format!("refresh must be at least {}s", MIN_REFRESH.as_secs()),
        ));
    }
    let token = r.secret(file, &at.key("token"), raw.token, true)?;
    let http = inventory::client::Settings {
        timeout: raw
            .timeout
            .map_or(inventory::client::Settings::default().timeout, |d| d.0),
        ca_file: raw.ca_file.map(|p| file.dir().join(p.0)),
        tls_insecure_skip_verify: raw.tls_insecure_skip_verify.unwrap_or(false),
    };
    if let Some(ca) = &http.ca_file {
        if let Err(e) = std::fs::metadata(ca) {
            return Err(file.error(
                &at.key("ca_file"),
                format!("cannot read {}: {}", ca.display(), yaml::io_reason(&e)),
            ));
        }
    }
    Ok(RemoteSource {
        name: raw.name.map_or_else(|| raw.url.0.clone(), |n| n.0),
        kind,
        url: raw.url.0,
        token,
        refresh,
        profile: raw.profile.map(|p| p.0),
        ip_family: raw.ip_family.unwrap_or_default(),
        http,
    })
}

/// The devices of a remote source: its snapshot (the store's last good
/// one, else fetched now) resolved like a file's entries. In a lenient
/// store a source that cannot be fetched, and an entry that does not
/// resolve, are reported and left out; otherwise they are errors.
pub(crate) fn load(
    source: &RemoteSource,
    store: &Store,
    dir: &Path,
    r: &mut Resolver,
) -> (Vec<Resolved>, SourceReport, Vec<ConfigError>) {
    let mut report = SourceReport {
        name: source.name.clone(),
        kind: source.kind_name(),
        ..SourceReport::default()
    };
    let label = format!("{} {}", source.kind_name(), source.name);
    if store.mode == Mode::Offline {
        return (vec![], report, vec![]);
    }
    let lenient = store.mode == Mode::Lenient;
    let (snapshot, error) = store.get_or_fetch(source);
    if let Some(e) = &error {
        report.error = Some(e.clone());
        if !lenient {
            let errors = vec![ConfigError::whole_file(Path::new(&label), e.clone())];
            return (vec![], report, errors);
        }
    }
    let Some(snapshot) = snapshot else {
        return (vec![], report, vec![]);
    };
    let mut errors = Vec::new();
    report.warnings = snapshot.warnings.clone();
    let skip = |report: &mut SourceReport, why: String| {
        report.skipped += 1;
        if report.skipped_examples.len() < 5 {
            report.skipped_examples.push(why);
        }
    };
    let resolve = |r: &mut Resolver, origin: &str, value: Value| {
        let path = PathBuf::from(format!("{label}: {origin}"));
        let file = File {
            path: &path,
            text: "",
            dir: Some(dir),
            kept: Default::default(),
        };
        let d = yaml::parse_value::<entry::Device>(&path, value)?;
        let name = d.name.clone();
        let taken = r.claimed(&name);
        let at = FieldPath::default();
        resolve::native(r, &file, &at, d, source.profile.as_deref()).inspect_err(|_| {
            if !taken {
                r.release(&name);
            }
        })
    };
    // In the daemon a device whose settings turned invalid at the source
    // keeps its last good ones (and is reported).
    let mut devices = Vec::with_capacity(snapshot.entries.len());
    let mut good = HashMap::new();
    let last_good = |r: &mut Resolver, device: Option<&str>| {
        let d = device.filter(|_| lenient)?;
        let v = store.good(&source.name, d)?;
        let origin = format!("device \"{d}\" (last good settings)");
        let resolved = resolve(r, &origin, v.clone()).ok()?;
        Some((d.to_owned(), v, resolved))
    };
    let kept = " (its last good settings are kept)";
    for s in &snapshot.skipped {
        if s.invalid && !lenient {
            errors.push(ConfigError::whole_file(Path::new(&label), s.reason.clone()));
        }
        match last_good(r, s.device.as_deref()) {
            Some((d, v, resolved)) => {
                good.insert(d, v);
                devices.push(resolved);
                report.stale += 1;
                if report.stale_examples.len() < 5 {
                    report.stale_examples.push(format!("{}{kept}", s.reason));
                }
            }
            None => skip(&mut report, s.reason.clone()),
        }
    }
    for e in &snapshot.entries {
        let name = e.value.get("name").and_then(Value::as_str);
        match resolve(r, &e.origin, e.value.clone()) {
            Ok(d) => {
                if let Some(n) = name {
                    good.insert(n.to_owned(), e.value.clone());
                }
                devices.push(d);
            }
            Err(err) => {
                if !lenient {
                    errors.push(err.clone());
                }
                match last_good(r, name) {
                    Some((d, v, resolved)) => {
                        good.insert(d, v);
                        devices.push(resolved);
                        report.stale += 1;
                        if report.stale_examples.len() < 5 {
                            report.stale_examples.push(format!("{err}{kept}"));
                        }
                    }
                    None => skip(&mut report, err.to_string()),
                }
            }
        }
    }
    if lenient {
        store.set_good(&source.name, good);
    }
    report.devices = devices.len();
    (devices, report, errors)
}
