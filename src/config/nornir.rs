//! Nornir SimpleInventory files (`hosts.yaml`, `groups.yaml`,
//! `defaults.yaml`) → reachd device entries.
//!
//! ```yaml
//! # hosts.yaml                      # groups.yaml
//! r1:                               core:
//!   hostname: 192.0.2.1               groups: [lab]
//!   groups: [core]                    platform: cisco_iosxe
//!   data: {site: fra1}                data: {role: core}
//! ```
//!
//! Precedence is Nornir 3's own (`nornir/core/inventory.py`):
//! - `hostname`, `port`, `username`, `password`, `platform`: the host's,
//!   else the first of its groups that sets it, in Nornir's
//!   `extended_groups()` order (each group, then depth-first its own parent
//!   groups, no group twice), else `defaults`. A `null` value is unset and
//!   falls through, as in Nornir.
//! - `data`: key by key the same way, whole values (no deep merge); a key
//!   set to `null` stops the search (Nornir returns the `None`).
//! - `connection_options`: per connection name and field (`port`,
//!   `username`, `password`, `extras`, whole) as Nornir's
//!   `_get_connection_options_recursively`: the host's, then each direct
//!   group in order, recursively (each group's chain ends with `defaults`).
//!
//! Mapping onto reachd:
//! - the host's name is the device name; `hostname` its address (when no
//!   level sets it, the host's name is the address; Nornir itself would
//!   leave it unset);
//! - `username`, `password`, `platform` are the login's; when `username`,
//!   `password` or `port` is unset on every level, the `netmiko`, then the
//!   `scrapli` connection options' value is used (napalm's are not: its
//!   drivers may talk an API on another port). Connection options'
//!   `hostname` and `platform` are not used;
//! - `port` is the ssh check's port, or the telnet check's when the platform
//!   ends in `_telnet` (netmiko's convention);
//! - the enable password (`secondary`) is the first of
//!   `connection_options.netmiko.extras.secret`,
//!   `connection_options.scrapli.extras.auth_secondary`,
//!   `connection_options.napalm.extras.optional_args.secret` (each resolved
//!   as Nornir resolves `extras`; an empty string is none);
//! - `data`: each scalar (string, number, boolean) whose key is a valid,
//!   unreserved label name is a label; other keys and values are skipped.
//!   The key `reachd` is a block in reachd's device format without `name`
//!   (`address`, `profile`, `checks`, `labels`, `ssh: {port}`, …), whose
//!   settings win over the Nornir attributes;
//! - checks: the `reachd` block's, else its profile's, else icmp plus ssh
//!   (telnet for a `_telnet` platform);
//! - the source's `profile:` applies to hosts whose block names none.
//!
//! Keys are checked (with a suggestion for a misspelt one), as are group
//! names and group cycles, which Nornir would fail on at run time. Only the
//! `netmiko`, `scrapli` and `napalm` connection options are read; other
//! connection names are accepted and skipped.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde_yaml::Value;

use super::entry::Block;
use super::fields::{
    Address, MAX_LABEL_BYTES, PlatformName, check_address, check_device_name, check_label_name,
};
use super::resolve::{File, Layer, Resolved, Resolver};
use crate::probe::Login;
use crate::secret::Secret;
use crate::secret::source::SecretSource;
use crate::settings::values::{NonEmpty, Port};
use crate::settings::yaml::{self, FieldPath};
use crate::settings::{ConfigError, Field};
use crate::target::Protocol;

/// Whether a parsed hosts file looks like a Nornir one: a map of host names
/// to maps (or nulls). `Err` says why not.
pub(crate) fn detect(value: &Value) -> Result<(), String> {
    let Value::Mapping(m) = value else {
        return Err("not a map".to_owned());
    };
    for key in ["devices", "inventory", "profiles", "defaults", "listen"] {
        if m.get(key)
            .is_some_and(|v| !v.is_mapping() || key == "defaults")
            && m.len() > 1
        {
            return Err(format!(
                "it has `{key}`, as a main config file does (pass that with --config)"
            ));
        }
    }
    for (k, v) in m {
        if !(v.is_mapping() || v.is_null()) {
            let name = k.as_str().map_or_else(|| format!("{k:?}"), str::to_owned);
            return Err(format!(
                "the value of `{name}` is {}, not a host (a map)",
                kind(v)
            ));
        }
    }
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a map",
        Value::Tagged(_) => "a tagged value",
    }
}

/// A host or a group, as written.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a Nornir host or group (a map of hostname, port, username, password, \
                 platform, groups, data, connection_options)"
)]
struct Element {
    hostname: Option<Address>,
    port: Option<Port>,
    username: Option<NonEmpty>,
    password: Option<SecretSource>,
    platform: Option<PlatformName>,
    groups: Option<Vec<String>>,
    data: Option<Data>,
    connection_options: Option<Connections>,
}

/// `defaults.yaml`, as written.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "Nornir defaults (a map of hostname, port, username, password, platform, \
                 data, connection_options)"
)]
struct DefaultsEntry {
    hostname: Option<Address>,
    port: Option<Port>,
    username: Option<NonEmpty>,
    password: Option<SecretSource>,
    platform: Option<PlatformName>,
    data: Option<Data>,
    connection_options: Option<Connections>,
}

impl From<DefaultsEntry> for Element {
    fn from(d: DefaultsEntry) -> Element {
        Element {
            hostname: d.hostname,
            port: d.port,
            username: d.username,
            password: d.password,
            platform: d.platform,
            groups: None,
            data: d.data,
            connection_options: d.connection_options,
        }
    }
}

/// A hosts or groups file: names to elements, in file order.
struct Elements(Vec<(String, Option<Element>)>);

impl<'de> Deserialize<'de> for Elements {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Elements;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of names to Nornir hosts or groups")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Elements, E> {
                Ok(Elements(Vec::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Elements, A::Error> {
                let mut out = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    let element = map.next_value::<Option<Element>>()?;
                    out.push((name, element));
                }
                Ok(Elements(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// One `data` value.
enum Datum {
    /// A scalar, as a label value would show it; `None` for `null`.
    Scalar(Option<String>),
    /// A list or a map.
    Other,
    /// The `reachd:` block (`None`: `reachd: null`).
    Reachd(Option<Box<Block>>),
}

/// `data`, in file order.
struct Data(Vec<(String, Datum)>);

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Data;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of data keys to values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Data, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let datum = if key == "reachd" {
                        Datum::Reachd(map.next_value::<Option<Block>>()?.map(Box::new))
                    } else {
                        match map.next_value::<Value>()? {
                            Value::Null => Datum::Scalar(None),
                            Value::Bool(b) => Datum::Scalar(Some(b.to_string())),
                            Value::Number(n) => Datum::Scalar(Some(n.to_string())),
                            Value::String(s) => Datum::Scalar(Some(s)),
                            _ => Datum::Other,
                        }
                    };
                    out.push((key, datum));
                }
                Ok(Data(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The connection names whose options reachd reads, in the order they are
/// consulted for the enable password.
const CONNECTIONS: [&str; 3] = ["netmiko", "scrapli", "napalm"];

/// One connection's options; `E` picks the enable password from `extras`.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "Nornir connection options (a map of hostname, port, username, password, \
                 platform, extras)"
)]
struct ConnectionEntry<E> {
    #[allow(dead_code)]
    hostname: Option<IgnoredAny>,
    port: Option<Port>,
    username: Option<NonEmpty>,
    password: Option<SecretSource>,
    #[allow(dead_code)]
    platform: Option<IgnoredAny>,
    extras: Option<E>,
}

trait Extras {
    fn secondary(self) -> Option<SecretSource>;
}

#[derive(Deserialize)]
struct NetmikoExtras {
    secret: Option<SecretSource>,
}
impl Extras for NetmikoExtras {
    fn secondary(self) -> Option<SecretSource> {
        self.secret
    }
}

#[derive(Deserialize)]
struct ScrapliExtras {
    auth_secondary: Option<SecretSource>,
}
impl Extras for ScrapliExtras {
    fn secondary(self) -> Option<SecretSource> {
        self.auth_secondary
    }
}

#[derive(Deserialize)]
struct NapalmExtras {
    optional_args: Option<NapalmArgs>,
}
#[derive(Deserialize)]
struct NapalmArgs {
    secret: Option<SecretSource>,
}
impl Extras for NapalmExtras {
    fn secondary(self) -> Option<SecretSource> {
        self.optional_args.and_then(|a| a.secret)
    }
}

/// One connection's options, as reachd uses them.
#[derive(Default)]
struct Connection {
    port: Option<u16>,
    username: Option<String>,
    password: Option<SecretSource>,
    /// `Some` when `extras` is set (Nornir takes it whole): its enable
    /// password, if any.
    extras: Option<Option<SecretSource>>,
}

impl<E: Extras> From<ConnectionEntry<E>> for Connection {
    fn from(c: ConnectionEntry<E>) -> Connection {
        Connection {
            port: c.port.map(Field::value),
            username: c.username.map(|u| u.0),
            password: c.password,
            extras: c.extras.map(Extras::secondary),
        }
    }
}

/// `connection_options`: netmiko's, scrapli's, napalm's.
struct Connections([Connection; 3]);

impl<'de> Deserialize<'de> for Connections {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Connections;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of connection names (netmiko, scrapli, napalm, …) to options")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Connections, A::Error> {
                let mut out: [Connection; 3] = Default::default();
                while let Some(name) = map.next_key::<String>()? {
                    let c: Option<Connection> = match name.as_str() {
                        "netmiko" => map
                            .next_value::<Option<ConnectionEntry<NetmikoExtras>>>()?
                            .map(Into::into),
                        "scrapli" => map
                            .next_value::<Option<ConnectionEntry<ScrapliExtras>>>()?
                            .map(Into::into),
                        "napalm" => map
                            .next_value::<Option<ConnectionEntry<NapalmExtras>>>()?
                            .map(Into::into),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            None
                        }
                    };
                    if let (Some(c), Some(i)) = (c, CONNECTIONS.iter().position(|n| *n == name)) {
                        out[i] = c;
                    }
                }
                Ok(Connections(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A connection's options, secrets read.
#[derive(Default)]
struct Conn {
    port: Option<u16>,
    username: Option<String>,
    password: Option<Secret>,
    extras: Option<Option<Secret>>,
}

/// A `data` value, resolved.
enum DataItem {
    Scalar(Option<String>),
    Other,
    Reachd(Option<Box<ReachdBlock>>),
}

/// A `reachd:` block, its secrets read and profile checked.
struct ReachdBlock {
    address: Option<String>,
    profile: Option<String>,
    layer: Layer,
}

/// A host, a group or the defaults, secrets read.
#[derive(Default)]
struct Level {
    hostname: Option<String>,
    port: Option<u16>,
    username: Option<String>,
    password: Option<Secret>,
    platform: Option<String>,
    /// Parent groups, as indices into the groups, once checked.
    groups: Vec<usize>,
    data: Vec<(String, DataItem)>,
    conns: [Conn; 3],
}

/// Reads an element at `at` of `file`: its secrets, its `reachd:` block.
fn level(r: &Resolver, file: &File, at: &FieldPath, e: Element) -> Result<Level, ConfigError> {
    let password = r.secret(file, &at.key("password"), e.password, false)?;
    let mut data = Vec::new();
    let data_at = at.key("data");
    for (key, datum) in e.data.map(|d| d.0).unwrap_or_default() {
        data.push(match datum {
            Datum::Scalar(s) => (key, DataItem::Scalar(s)),
            Datum::Other => (key, DataItem::Other),
            Datum::Reachd(None) => (key, DataItem::Reachd(None)),
            Datum::Reachd(Some(b)) => {
                let at = data_at.key("reachd");
                if let Some(p) = &b.profile {
                    r.known_profile(p)
                        .map_err(|err| file.error(&at.key("profile"), err))?;
                }
                let layer = r.layer(file, &at, b.settings)?;
                let block = ReachdBlock {
                    address: b.address,
                    profile: b.profile,
                    layer,
                };
                (key, DataItem::Reachd(Some(Box::new(block))))
            }
        });
    }
    let mut conns: [Conn; 3] = Default::default();
    let conns_at = at.key("connection_options");
    let written = e.connection_options.map(|c| c.0).unwrap_or_default();
    for ((i, c), name) in written.into_iter().enumerate().zip(CONNECTIONS) {
        let at = conns_at.key(name);
        conns[i] = Conn {
            port: c.port,
            username: c.username,
            password: r.secret(file, &at.key("password"), c.password, false)?,
            extras: match c.extras {
                None => None,
                Some(s) => {
                    let key = ["secret", "auth_secondary", "optional_args"][i];
                    Some(r.secret(file, &at.key("extras").key(key), s, true)?)
                }
            },
        };
    }
    Ok(Level {
        hostname: e.hostname.map(|h| h.0),
        port: e.port.map(Field::value),
        username: e.username.map(|u| u.0),
        password,
        platform: e.platform.map(|p| p.0),
        groups: Vec::new(),
        data,
        conns,
    })
}

/// A file read and parsed as `T`.
fn parse_file<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
) -> Result<(String, T), ConfigError> {
    let text = yaml::read(path, what)?;
    yaml::load(path, &text)?;
    let parsed = yaml::parse(path, &text, &[])?;
    Ok((text, parsed))
}

/// `name.yaml` or `name.yml` beside `hosts`, if either exists.
fn beside(hosts: &Path, name: &str) -> Option<PathBuf> {
    let dir = hosts.parent().unwrap_or(Path::new(""));
    ["yaml", "yml"]
        .iter()
        .map(|ext| dir.join(format!("{name}.{ext}")))
        .find(|p| p.is_file())
}

/// `Err` naming the closest known group.
fn unknown_group(name: &str, known: &HashMap<&str, usize>, groups_file: Option<&Path>) -> String {
    let Some(file) = groups_file else {
        return format!(
            "unknown group `{name}` (there is no groups file: name one with `groups:` in the \
             inventory source, or put groups.yaml beside the hosts file)"
        );
    };
    match crate::settings::error::closest(name, known.keys().copied()) {
        Some(best) => format!("unknown group `{name}`, did you mean `{best}`?"),
        None if known.is_empty() => {
            format!(
                "unknown group `{name}` ({} defines no groups)",
                file.display()
            )
        }
        None => {
            let mut names: Vec<&str> = known.keys().copied().collect();
            names.sort_unstable();
            format!("unknown group `{name}` (defined: {})", names.join(", "))
        }
    }
}

/// Reads a Nornir inventory: `hosts` (its text already read), its groups
/// and defaults files (named, or found beside it), and resolves each host.
pub(crate) fn load(
    r: &mut Resolver,
    hosts: &File,
    groups_path: Option<&Path>,
    defaults_path: Option<&Path>,
    file_profile: Option<&str>,
) -> Result<Vec<Resolved>, ConfigError> {
    let host_entries: Elements = yaml::parse(hosts.path, hosts.text, &[])?;
    if host_entries.0.is_empty() {
        return Err(ConfigError::whole_file(
            hosts.path,
            "inventory file has no hosts (the map is empty)",
        ));
    }

    // defaults.yaml
    let defaults_path = defaults_path
        .map(Path::to_path_buf)
        .or_else(|| beside(hosts.path, "defaults"));
    let defaults = match &defaults_path {
        Some(path) => {
            let (text, d): (String, Option<DefaultsEntry>) =
                parse_file(path, "Nornir defaults file")?;
            let file = File {
                path,
                text: &text,
                dir: None,
                kept: Default::default(),
            };
            match d {
                Some(d) => level(r, &file, &FieldPath::default(), d.into())?,
                None => Level::default(),
            }
        }
        None => Level::default(),
    };

    // groups.yaml
    let groups_path = groups_path
        .map(Path::to_path_buf)
        .or_else(|| beside(hosts.path, "groups"));
    let mut groups: Vec<Level> = Vec::new();
    let mut group_names: Vec<String> = Vec::new();
    if let Some(path) = &groups_path {
        let (text, entries): (String, Elements) = parse_file(path, "Nornir groups file")?;
        let file = File {
            path,
            text: &text,
            dir: None,
            kept: Default::default(),
        };
        let mut parents: Vec<Vec<String>> = Vec::new();
        for (name, e) in entries.0 {
            let at = FieldPath::default().key(&name);
            let e = e.unwrap_or_else(empty_element);
            parents.push(e.groups.clone().unwrap_or_default());
            groups.push(level(r, &file, &at, e)?);
            group_names.push(name);
        }
        let index: HashMap<&str, usize> = group_names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        for (g, names) in parents.iter().enumerate() {
            for (j, parent) in names.iter().enumerate() {
                let at = FieldPath::default()
                    .key(&group_names[g])
                    .key("groups")
                    .index(j);
                let &p = index
                    .get(parent.as_str())
                    .ok_or_else(|| file.error(&at, unknown_group(parent, &index, Some(path))))?;
                groups[g].groups.push(p);
            }
        }
        check_cycles(&groups, &group_names, &file)?;
    }
    let index: HashMap<&str, usize> = group_names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();

    let mut out = Vec::with_capacity(host_entries.0.len());
    for (name, e) in host_entries.0 {
        let at = FieldPath::default().key(&name);
        let e = e.unwrap_or_else(empty_element);
        let names = e.groups.clone().unwrap_or_default();
        let mut host = level(r, hosts, &at, e)?;
        for (j, g) in names.iter().enumerate() {
            let &i = index.get(g.as_str()).ok_or_else(|| {
                hosts.error(
                    &at.key("groups").index(j),
                    unknown_group(g, &index, groups_path.as_deref()),
                )
            })?;
            host.groups.push(i);
        }
        let inv = Inventory {
            groups: &groups,
            defaults: &defaults,
        };
        out.push(inv.resolve(r, hosts, &at, name, &host, file_profile)?);
    }
    Ok(out)
}

fn empty_element() -> Element {
    Element {
        hostname: None,
        port: None,
        username: None,
        password: None,
        platform: None,
        groups: None,
        data: None,
        connection_options: None,
    }
}

/// `Err` at the first `groups` entry that closes a cycle.
fn check_cycles(groups: &[Level], names: &[String], file: &File) -> Result<(), ConfigError> {
    // 0: unvisited, 1: on the path, 2: done.
    fn visit(
        g: usize,
        groups: &[Level],
        state: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<(usize, usize, Vec<usize>)> {
        state[g] = 1;
        path.push(g);
        for (j, &p) in groups[g].groups.iter().enumerate() {
            match state[p] {
                1 => {
                    let start = path.iter().position(|&x| x == p).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(p);
                    return Some((g, j, cycle));
                }
                0 => {
                    if let Some(found) = visit(p, groups, state, path) {
                        return Some(found);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state[g] = 2;
        None
    }
    let mut state = vec![0u8; groups.len()];
    for g in 0..groups.len() {
        if state[g] == 0 {
            if let Some((at, j, cycle)) = visit(g, groups, &mut state, &mut Vec::new()) {
                let shown: Vec<&str> = cycle.iter().map(|&i| names[i].as_str()).collect();
                return Err(file.error(
                    &FieldPath::default().key(&names[at]).key("groups").index(j),
                    format!("group cycle: {}", shown.join(" → ")),
                ));
            }
        }
    }
    Ok(())
}

/// The groups and defaults a host's values come from.
struct Inventory<'a> {
    groups: &'a [Level],
    defaults: &'a Level,
}

impl Inventory<'_> {
    /// Nornir's `extended_groups()`: each group, then its own extended
    /// groups, none twice.
    fn extended(&self, el: &Level, out: &mut Vec<usize>) {
        for &g in &el.groups {
            if !out.contains(&g) {
                out.push(g);
            }
            let mut sub = Vec::new();
            self.extended(&self.groups[g], &mut sub);
            for s in sub {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
    }

    /// Nornir's `_get_connection_options_recursively`, for one field.
    fn conn<T>(&self, el: &Level, c: usize, f: &impl Fn(&Conn) -> Option<T>) -> Option<T> {
        f(&el.conns[c])
            .or_else(|| {
                el.groups
                    .iter()
                    .find_map(|&g| self.conn(&self.groups[g], c, f))
            })
            .or_else(|| f(&self.defaults.conns[c]))
    }

    fn resolve(
        &self,
        r: &mut Resolver,
        hosts: &File,
        at: &FieldPath,
        name: String,
        host: &Level,
        file_profile: Option<&str>,
    ) -> Result<Resolved, ConfigError> {
        check_device_name(&name).map_err(|e| hosts.error(at, e))?;
        r.claim(hosts.path, at, &name, None)
            .map_err(|e| hosts.error(at, e))?;
        let mut ext = Vec::new();
        self.extended(host, &mut ext);
        let chain: Vec<&Level> = std::iter::once(host)
            .chain(ext.iter().map(|&g| &self.groups[g]))
            .chain(std::iter::once(self.defaults))
            .collect();
        fn first<T: Clone>(chain: &[&Level], f: impl Fn(&Level) -> Option<&T>) -> Option<T> {
            chain.iter().find_map(|l| f(l)).cloned()
        }
        // netmiko's, then scrapli's value when no level sets the attribute.
        let hostname = first(&chain, |l| l.hostname.as_ref());
        let platform = first(&chain, |l| l.platform.as_ref());
        let port = first(&chain, |l| l.port.as_ref())
            .or_else(|| (0..2).find_map(|c| self.conn(host, c, &|x: &Conn| x.port)));
        let username = first(&chain, |l| l.username.as_ref())
            .or_else(|| (0..2).find_map(|c| self.conn(host, c, &|x: &Conn| x.username.clone())));
        let password = first(&chain, |l| l.password.as_ref())
            .or_else(|| (0..2).find_map(|c| self.conn(host, c, &|x: &Conn| x.password.clone())));
        let secondary =
            (0..3).find_map(|c| self.conn(host, c, &|x: &Conn| x.extras.clone()).flatten());

        // data, key by key.
        let mut seen: HashSet<&str> = HashSet::new();
        let mut labels = BTreeMap::new();
        let mut block: Option<&ReachdBlock> = None;
        for level in &chain {
            for (key, value) in &level.data {
                if !seen.insert(key.as_str()) {
                    continue;
                }
                match value {
                    DataItem::Scalar(Some(v))
                        if check_label_name(key).is_ok() && v.len() <= MAX_LABEL_BYTES =>
                    {
                        labels.insert(key.clone(), v.clone());
                    }
                    DataItem::Reachd(b) => block = b.as_deref(),
                    _ => {}
                }
            }
        }

        let empty = Layer::default();
        let reachd = block.map_or(&empty, |b| &b.layer);
        let platform = reachd.login.platform.clone().or(platform);
        let telnet = platform.as_deref().is_some_and(|p| p.ends_with("_telnet"));
        let login_check = if telnet {
            Protocol::Telnet
        } else {
            Protocol::Ssh
        };
        let mut nornir = Layer {
            login: Login {
                username,
                password,
                secondary,
                private_key: None,
                private_key_passphrase: None,
                platform,
            },
            checks: None,
            labels,
            parents: None,
            path_trace: None,
            blocks: Default::default(),
        };
        if telnet {
            nornir.blocks.telnet.port = port;
        } else {
            nornir.blocks.ssh.port = port;
        }
        let mut layer = reachd.over(&nornir);
        let profile = block.and_then(|b| b.profile.as_deref()).or(file_profile);
        let profile_checks = profile
            .and_then(|p| r.profiles.get(p))
            .is_some_and(|p| p.checks.is_some());
        if layer.checks.is_none() && !profile_checks {
            layer.checks = Some(vec![Protocol::Icmp, login_check]);
        }
        let address = match block.and_then(|b| b.address.clone()).or(hostname) {
            Some(a) => a,
            None => {
                check_address(&name).map_err(|e| {
                    hosts.error(
                        at,
                        format!(
                            "no `hostname` (on the host, its groups or the defaults), and the \
                             host's name is not an address: {e}"
                        ),
                    )
                })?;
                name.clone()
            }
        };
        r.device(name, address, profile, layer).map_err(|e| {
            let e = e.replace(
                "on the device or its profile",
                "on the Nornir host, a group or the defaults, or in its `reachd:` block or \
                 profile",
            );
            hosts.error(at, e)
        })
    }
}
