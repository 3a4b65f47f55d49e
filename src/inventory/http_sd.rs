//! Prometheus HTTP service discovery as an inventory source: the JSON list
//! of `{"targets": [...], "labels": {...}}` groups that Prometheus'
//! `http_sd_configs` reads (NetBox's prometheus-sd plugin, Consul
//! gateways, anything that speaks it).
//!
//! Each target becomes a device, by this rule:
//! - name: the label `__meta_netbox_name`, else the target's host;
//! - address: `__meta_netbox_primary_ip` (or `…_ip4` / `…_ip6` per
//!   `ip_family`), else the target's host (a `:port` is dropped: it is the
//!   port Prometheus would scrape, not a device's); a NetBox device without
//!   a primary IP (no usable primary IP label, and its name as the target:
//!   what the plugin sends for one) is skipped, as the netbox source skips
//!   it;
//! - platform: `__meta_netbox_platform_slug`;
//! - labels: every label not starting with `__`, as it is, and `site`,
//!   `role`, `tenant` from `__meta_netbox_site_slug`, `…_role_slug`,
//!   `…_tenant_slug` (or the same names without `_slug`) when the group
//!   does not set them itself, and `tags` from `__meta_netbox_tag_slugs`
//!   (a comma-separated list) as the netbox source writes it
//!   (`,core,monitored,`). Other `__` labels are dropped, as Prometheus
//!   drops them after relabelling.

use serde_json::Value as Json;
use serde_yaml::{Mapping, Value};

use super::client::Client;
use super::{Entry, IpFamily, Skip, Snapshot};

/// Reads the list and maps every target.
pub async fn fetch(url: &str, client: &Client, family: IpFamily) -> Result<Snapshot, String> {
    let body = client.get_json(url).await?;
    parse(&body, family).map_err(|e| format!("GET {url}: {e}"))
}

/// The target list, mapped.
pub fn parse(body: &Json, family: IpFamily) -> Result<Snapshot, String> {
    let groups = body
        .as_array()
        .ok_or("expected a JSON list of {targets, labels} groups")?;
    let mut snapshot = Snapshot::default();
    for (g, group) in groups.iter().enumerate() {
        let targets = group
            .get("targets")
            .and_then(Json::as_array)
            .ok_or_else(|| format!("group {g} has no `targets` list"))?;
        let labels = match group.get("labels") {
            None | Some(Json::Null) => serde_json::Map::new(),
            Some(Json::Object(l)) => l.clone(),
            Some(_) => return Err(format!("group {g}: `labels` is not a map")),
        };
        for t in targets {
            let Some(t) = t.as_str() else {
                return Err(format!("group {g}: a target is not a string"));
            };
            match entry(t, &labels, family) {
                Ok(e) => snapshot.entries.push(e),
                Err(s) => snapshot.skipped.push(s),
            }
        }
    }
    Ok(snapshot)
}

/// `host:port`, `[v6]:port`, `v6`, `host` → the host.
fn host_of(target: &str) -> &str {
    if let Some(rest) = target.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match target.rsplit_once(':') {
        // Two colons or more: a bare IPv6 address.
        Some((h, _)) if !h.contains(':') => h,
        _ => target,
    }
}

fn label<'a>(labels: &'a serde_json::Map<String, Json>, key: &str) -> Option<&'a str> {
    labels
        .get(key)
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty())
}

fn entry(
    target: &str,
    labels: &serde_json::Map<String, Json>,
    family: IpFamily,
) -> Result<Entry, Skip> {
    let host = host_of(target.trim());
    if host.is_empty() {
        return Err(Skip::quiet(format!("target `{target}` has no host")));
    }
    let name = label(labels, "__meta_netbox_name").unwrap_or(host);
    let origin = format!("target \"{target}\"");
    let ip = |k| label(labels, k);
    let address = match family {
        IpFamily::Ipv4 => ip("__meta_netbox_primary_ip4"),
        IpFamily::Ipv6 => ip("__meta_netbox_primary_ip6"),
        IpFamily::Auto => ip("__meta_netbox_primary_ip")
            .or_else(|| ip("__meta_netbox_primary_ip4"))
            .or_else(|| ip("__meta_netbox_primary_ip6")),
    };
    let address = match address {
        Some(a) => a,
        // A NetBox device without a primary IP: the plugin sends empty
        // primary IP labels, or (newer versions) none and its name as the
        // target.
        None if labels
            .keys()
            .any(|k| k.starts_with("__meta_netbox_primary_ip"))
            || label(labels, "__meta_netbox_name") == Some(host) =>
        {
            return Err(Skip::quiet(format!(
                "NetBox device \"{name}\" has no {}",
                family.primary()
            )));
        }
        None => host,
    };
    let mut m = Mapping::new();
    m.insert("name".into(), name.into());
    m.insert("address".into(), address.into());
    if let Some(p) = label(labels, "__meta_netbox_platform_slug") {
        m.insert("platform".into(), p.into());
    }
    let mut out = Mapping::new();
    for (k, v) in labels {
        if k.starts_with("__") {
            continue;
        }
        let v = match v {
            Json::String(s) => s.clone(),
            Json::Null => continue,
            other => other.to_string(),
        };
        out.insert(k.as_str().into(), v.into());
    }
    for l in ["site", "role", "tenant"] {
        if out.contains_key(l) {
            continue;
        }
        let found = label(labels, &format!("__meta_netbox_{l}_slug"))
            .or_else(|| label(labels, &format!("__meta_netbox_{l}")));
        if let Some(v) = found {
            out.insert(l.into(), v.into());
        }
    }
    if let Some(tags) = label(labels, "__meta_netbox_tag_slugs") {
        if !out.contains_key("tags") {
            let mut t: Vec<&str> = tags
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .collect();
            t.sort_unstable();
            if !t.is_empty() {
                out.insert("tags".into(), format!(",{},", t.join(",")).into());
            }
        }
    }
    if !out.is_empty() {
        m.insert("labels".into(), Value::Mapping(out));
    }
    Ok(Entry {
        origin,
        value: Value::Mapping(m),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn yaml(s: &Snapshot, i: usize) -> String {
        serde_yaml::to_string(&s.entries[i].value).unwrap()
    }

    #[test]
    fn the_netbox_plugin_shape_maps_by_the_rule() {
        let body = json!([
            {"targets": ["198.18.0.5"], "labels": {
                "__meta_netbox_name": "r1", "__meta_netbox_primary_ip": "198.18.0.5",
                "__meta_netbox_primary_ip6": "2001:db8::5",
                "__meta_netbox_platform_slug": "cisco_iosxe", "__meta_netbox_site_slug": "fra1",
                "__meta_netbox_role": "Router", "team": "noc",
                "__meta_netbox_tag_slugs": "monitored,core"}},
            {"targets": ["sw1.example.net:9100", "[2001:db8::7]:22", "2001:db8::8"], "labels": null}
        ]);
        let s = parse(&body, IpFamily::Auto).unwrap();
        assert_eq!(s.entries.len(), 4);
        let r1 = yaml(&s, 0);
        for want in [
            "name: r1",
            "address: 198.18.0.5",
            "platform: cisco_iosxe",
            "site: fra1",
            "role: Router",
            "team: noc",
            "tags: ',core,monitored,'",
        ] {
            assert!(r1.contains(want), "{want} missing in\n{r1}");
        }
        assert!(!r1.contains("__meta"), "{r1}");
        assert!(yaml(&s, 1).contains("name: sw1.example.net"));
        assert!(yaml(&s, 2).contains("address: 2001:db8::7"));
        assert!(yaml(&s, 3).contains("name: 2001:db8::8"));
        // A NetBox device without a primary IP: its name is no address.
        let noip = json!([{"targets": ["sw9"], "labels": {"__meta_netbox_name": "sw9", "__meta_netbox_primary_ip": ""}}]);
        let s = parse(&noip, IpFamily::Auto).unwrap();
        assert!(s.entries.is_empty());
        assert_eq!(
            s.skipped[0].reason,
            "NetBox device \"sw9\" has no primary IP address"
        );
        let v6 = parse(&body, IpFamily::Ipv6).unwrap();
        assert!(yaml(&v6, 0).contains("address: 2001:db8::5"));
    }

    #[test]
    fn empty_and_malformed_lists() {
        assert!(
            parse(&json!([]), IpFamily::Auto)
                .unwrap()
                .entries
                .is_empty()
        );
        assert!(parse(&json!({"targets": []}), IpFamily::Auto).is_err());
        assert!(parse(&json!([{"labels": {}}]), IpFamily::Auto).is_err());
        assert!(parse(&json!([{"targets": [1]}]), IpFamily::Auto).is_err());
    }
}
