//! NetBox as an inventory source: `/api/dcim/devices/`, filtered by the
//! source's `filter:` (NetBox's own query parameters), every page.
//!
//! A device becomes an entry in reachd's format: `name` → name; the primary
//! IP (per `ip_family`, prefix length stripped) → address; `platform.slug`
//! → platform; `site.slug`, `role.slug`, `tenant.slug` → labels `site`,
//! `role`, `tenant`; tags → one label `tags` holding the tag slugs sorted
//! and joined with commas, with a comma at each end (`,core,edge,`:
//! Prometheus' own way, so `tags=~".*,core,.*"` matches one). The device's
//! config context key `reachd` is a device entry of its own (`checks`,
//! `profile`, `ssh: {port}`, `labels`, `address`, …: everything but
//! `name`), laid over what is mapped.
//!
//! Devices without a name, or without a primary IP and no `address` in
//! their `reachd` block, are skipped and counted.

use serde_json::Value as Json;
use serde_yaml::{Mapping, Value};

use super::client::{Client, same_origin};
use super::{Entry, IpFamily, RemoteSource, Skip, Snapshot};

/// What one page asks for: large pages, few requests.
const PAGE: usize = 1000;
/// A bound on pages, whatever the `next` links say.
const MAX_PAGES: usize = 10_000;

/// The device list's URL with the source's filter.
pub fn devices_url(
    source: &RemoteSource,
    filter: &[(String, String)],
) -> Result<reqwest::Url, String> {
    let base = source.url.trim_end_matches('/');
    let mut url = reqwest::Url::parse(&format!("{base}/api/dcim/devices/"))
        .map_err(|e| format!("bad url {base}: {e}"))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("limit", &PAGE.to_string());
        for (k, v) in filter {
            q.append_pair(k, v);
        }
    }
    Ok(url)
}

/// Reads every page and maps the devices.
pub async fn fetch(
    source: &RemoteSource,
    client: &Client,
    filter: &[(String, String)],
) -> Result<Snapshot, String> {
    let first = devices_url(source, filter)?;
    let mut next = Some(first.clone());
    let mut snapshot = Snapshot::default();
    let mut pages = 0;
    let mut expected = None;
    let mut seen = 0usize;
    while let Some(url) = next.take() {
        pages += 1;
        if pages > MAX_PAGES {
            return Err(format!("more than {MAX_PAGES} pages: stopped"));
        }
        let page = client.get_json(url.as_str()).await?;
        let results = page
            .get("results")
            .and_then(Json::as_array)
            .ok_or_else(|| format!("GET {url}: no `results` list (is this NetBox's API?)"))?;
        if expected.is_none() {
            expected = page.get("count").and_then(Json::as_u64);
        }
        seen += results.len();
        for d in results {
            match entry(d, source.ip_family) {
                Ok(e) => snapshot.entries.push(e),
                Err(s) => snapshot.skipped.push(s),
            }
        }
        next = match page.get("next") {
            Some(Json::String(n)) => Some(same_origin(&first, n)?),
            _ => None,
        };
    }
    // A list that changed between pages is not a list to trust.
    if let Some(count) = expected {
        if count as usize != seen {
            return Err(format!(
                "NetBox said {count} devices but its pages held {seen} (did the list change while reading? retrying at the next refresh)"
            ));
        }
        // NetBox ignores filters it does not know: a filter that keeps every
        // device may be one of those.
        if !filter.is_empty() && count > 1 {
            let mut all = devices_url(source, &[])?;
            all.query_pairs_mut().clear().append_pair("limit", "1");
            let total = client.get_json(all.as_str()).await?;
            if total.get("count").and_then(Json::as_u64) == Some(count) {
                let keys: Vec<&str> = filter.iter().map(|(k, _)| k.as_str()).collect();
                snapshot.warnings.push(format!(
                    "the filter ({}) keeps every device NetBox has ({count}): NetBox ignores a filter it does not know; is each one a device filter of this NetBox?",
                    keys.join(", ")
                ));
            }
        }
    }
    Ok(snapshot)
}

fn slug(d: &Json, key: &str) -> Option<String> {
    d.get(key)?
        .get("slug")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// `198.18.0.5/24` → `198.18.0.5`.
fn ip_of(d: &Json, key: &str) -> Option<String> {
    let a = d.get(key)?.get("address")?.as_str()?;
    Some(a.split('/').next().unwrap_or(a).to_owned())
}

/// Maps one device.
pub fn entry(d: &Json, family: IpFamily) -> Result<Entry, Skip> {
    let id = d.get("id").and_then(Json::as_u64).unwrap_or_default();
    let Some(name) = d
        .get("name")
        .and_then(Json::as_str)
        .filter(|n| !n.is_empty())
    else {
        return Err(Skip::quiet(format!("device id {id} has no name")));
    };
    let origin = format!("device \"{name}\" (id {id})");
    let mut m = match d.get("config_context").and_then(|c| c.get("reachd")) {
        None | Some(Json::Null) => Mapping::new(),
        Some(Json::Object(_)) => {
            let block = &d["config_context"]["reachd"];
            match serde_yaml::to_value(block) {
                Ok(Value::Mapping(m)) => m,
                _ => {
                    return Err(Skip::invalid(
                        name,
                        origin,
                        "config context `reachd` is not a map",
                    ));
                }
            }
        }
        Some(_) => {
            return Err(Skip::invalid(
                name,
                origin,
                "config context `reachd` must be a map of device settings",
            ));
        }
    };
    if m.contains_key("name") {
        return Err(Skip::invalid(
            name,
            origin,
            "config context `reachd` sets `name`: the device's NetBox name is its name",
        ));
    }
    m.insert("name".into(), name.into());
    if !m.contains_key("address") {
        let ip = match family {
            IpFamily::Ipv4 => ip_of(d, "primary_ip4"),
            IpFamily::Ipv6 => ip_of(d, "primary_ip6"),
            IpFamily::Auto => ip_of(d, "primary_ip")
                .or_else(|| ip_of(d, "primary_ip4"))
                .or_else(|| ip_of(d, "primary_ip6")),
        };
        let Some(ip) = ip else {
            return Err(Skip::quiet(format!("{origin} has no {}", family.primary())));
        };
        m.insert("address".into(), ip.into());
    }
    if !m.contains_key("platform") {
        if let Some(p) = slug(d, "platform") {
            m.insert("platform".into(), p.into());
        }
    }
    let mut labels = Mapping::new();
    for (label, key) in [
        ("site", "site"),
        ("role", "role"),
        // NetBox before 3.6 names the role `device_role`.
        ("role", "device_role"),
        ("tenant", "tenant"),
    ] {
        if !labels.contains_key(label) {
            if let Some(s) = slug(d, key) {
                labels.insert(label.into(), s.into());
            }
        }
    }
    let mut tags: Vec<&str> = d
        .get("tags")
        .and_then(Json::as_array)
        .map(|t| {
            t.iter()
                .filter_map(|t| t.get("slug").and_then(Json::as_str))
                .collect()
        })
        .unwrap_or_default();
    if !tags.is_empty() {
        tags.sort_unstable();
        labels.insert("tags".into(), format!(",{},", tags.join(",")).into());
    }
    super::overlay_labels(&mut m, labels);
    Ok(Entry {
        origin,
        value: Value::Mapping(m),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn device() -> Json {
        json!({
            "id": 7, "name": "r1",
            "primary_ip": {"address": "198.18.0.5/24"},
            "primary_ip4": {"address": "198.18.0.5/24"},
            "primary_ip6": {"address": "2001:db8::5/64"},
            "platform": {"slug": "cisco_iosxe"},
            "site": {"slug": "fra1"}, "role": {"slug": "router"}, "tenant": null,
            "tags": [{"slug": "monitored"}, {"slug": "core"}],
            "config_context": {"reachd": {"ssh": {"port": 2222}, "labels": {"site": "fra1-b"}}}
        })
    }

    fn yaml(e: &Entry) -> String {
        serde_yaml::to_string(&e.value).unwrap()
    }

    #[test]
    fn a_device_maps_to_an_entry_its_context_winning() {
        let e = entry(&device(), IpFamily::Auto).unwrap();
        assert_eq!(e.origin, "device \"r1\" (id 7)");
        let y = yaml(&e);
        for want in [
            "name: r1",
            "address: 198.18.0.5",
            "platform: cisco_iosxe",
            "port: 2222",
            "site: fra1-b",
            "role: router",
            "tags: ',core,monitored,'",
        ] {
            assert!(y.contains(want), "{want} missing in\n{y}");
        }
        assert!(!y.contains("tenant"), "{y}");
    }

    #[test]
    fn the_family_picks_the_address() {
        let e = entry(&device(), IpFamily::Ipv6).unwrap();
        assert!(yaml(&e).contains("address: 2001:db8::5"));
        let mut d = device();
        d["primary_ip4"] = Json::Null;
        let s = entry(&d, IpFamily::Ipv4).unwrap_err();
        assert!(!s.invalid);
        assert!(s.reason.contains("no primary IPv4 address"), "{}", s.reason);
    }

    #[test]
    fn skipped_and_invalid_devices_say_why() {
        let mut d = device();
        d["name"] = Json::Null;
        assert!(
            entry(&d, IpFamily::Auto)
                .unwrap_err()
                .reason
                .contains("id 7 has no name")
        );
        let mut d = device();
        d["primary_ip"] = Json::Null;
        d["primary_ip4"] = Json::Null;
        d["primary_ip6"] = Json::Null;
        let s = entry(&d, IpFamily::Auto).unwrap_err();
        assert!(!s.invalid && s.reason.contains("no primary IP address"));
        // An address in the context stands in for the primary IP.
        d["config_context"]["reachd"]["address"] = json!("127.0.0.9");
        assert!(yaml(&entry(&d, IpFamily::Auto).unwrap()).contains("address: 127.0.0.9"));
        let mut d = device();
        d["config_context"]["reachd"] = json!([1, 2]);
        assert!(entry(&d, IpFamily::Auto).unwrap_err().invalid);
        let mut d = device();
        d["config_context"]["reachd"]["name"] = json!("other");
        assert!(entry(&d, IpFamily::Auto).unwrap_err().invalid);
    }
}
