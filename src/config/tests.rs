//! Tests of the whole loader: files in, a plan or errors out. Unhappy paths
//! first. Files are written to a fresh temporary directory per test; the
//! environment is injected, never changed.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::target::{CheckSpec, HostKeyPolicy, IcmpSpec, SessionSpec};

const SECRET: &str = "s3cr3t-Hunter2";

/// A temporary directory of config files, removed on drop.
struct Fx {
    dir: PathBuf,
    env: HashMap<String, OsString>,
}

impl Fx {
    fn new() -> Fx {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "reachd-config-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Fx {
            dir,
            env: HashMap::new(),
        }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    fn env(mut self, name: &str, value: impl Into<OsString>) -> Fx {
        self.env.insert(name.to_owned(), value.into());
        self
    }

    fn load(&self, sources: &Sources) -> Result<Plan, ConfigErrors> {
        let env = self.env.clone();
        load_with_env(sources, move |name: &str| env.get(name).cloned())
    }

    /// Loads `main.yaml` with `text`.
    fn main(&self, text: &str) -> Result<Plan, ConfigErrors> {
        let path = self.write("main.yaml", text);
        self.load(&Sources {
            config: Some(path),
            inventories: vec![],
        })
    }

    fn inventories(&self, files: &[&str]) -> Result<Plan, ConfigErrors> {
        self.load(&Sources {
            config: None,
            inventories: files.iter().map(|f| self.dir.join(f)).collect(),
        })
    }

    /// The errors, one string each, with the directory left out of paths.
    fn errors(&self, r: Result<Plan, ConfigErrors>) -> Vec<String> {
        let errs = match r {
            Ok(plan) => panic!("expected errors, got {plan:#?}"),
            Err(e) => e,
        };
        let prefix = format!("{}/", self.dir.display());
        errs.0
            .iter()
            .map(|e| {
                let s = e.to_string();
                assert!(!s.contains(SECRET), "secret in error: {s}");
                assert!(!format!("{e:?}").contains(SECRET), "secret in error: {e:?}");
                s.replace(&prefix, "")
            })
            .collect()
    }

    fn error(&self, r: Result<Plan, ConfigErrors>) -> String {
        let errs = self.errors(r);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        errs.into_iter().next().unwrap()
    }
}

impl Drop for Fx {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ok(r: Result<Plan, ConfigErrors>) -> Plan {
    match r {
        Ok(p) => {
            assert!(!format!("{p:?}").contains(SECRET), "secret in Debug");
            assert!(!format!("{p:#?}").contains(SECRET), "secret in Debug");
            p
        }
        Err(e) => panic!("expected a plan, got errors:\n{e}"),
    }
}

fn target(plan: &Plan, device: &str, protocol: Protocol) -> Target {
    plan.targets
        .iter()
        .find(|t| &*t.device == device && t.protocol == protocol)
        .map(|t| (**t).clone())
        .unwrap_or_else(|| panic!("no {device}/{protocol} target"))
}

fn session(t: &Target) -> &SessionSpec {
    match &t.spec {
        CheckSpec::Ssh(s) | CheckSpec::Telnet(s) => s,
        CheckSpec::Icmp(_) => panic!("not a session check"),
    }
}

fn icmp(t: &Target) -> &IcmpSpec {
    match &t.spec {
        CheckSpec::Icmp(s) => s,
        _ => panic!("not an icmp check"),
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name)
}

// ---------------------------------------------------------------------------
// Errors: every message verbatim, with its line and column.

#[test]
fn unknown_field_suggests_the_closest() {
    let fx = Fx::new();
    let r = fx.main("devices:\n  - name: r1\n    adress: 192.0.2.1\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:3:5: devices[0].adress: unknown field `adress`, did you mean `address`?"
    );
    let r = fx.main("profile:\n  lab: {}\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:1:1: profile: unknown field `profile`, did you mean `profiles`?"
    );
    let r = fx.main("defaults:\n  ssh:\n    conect_timeout: 5s\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:3:5: defaults.ssh.conect_timeout: unknown field `conect_timeout`, did you mean `connect_timeout`?"
    );
    let r = fx.main("devices:\n  - name: r1\n    address: 192.0.2.1\n    zzz: 1\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:4:5: devices[0].zzz: unknown field `zzz` (expected one of name, address, \
         profile, checks, labels, platform, username, password, secondary, private_key, \
         private_key_passphrase, icmp, ssh, telnet)"
    );
}

#[test]
fn bad_durations() {
    let fx = Fx::new();
    let r = fx
        .main("devices:\n  - name: r1\n    address: 192.0.2.1\n    icmp:\n      timeout: 5 sec\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:5:16: devices[0].icmp.timeout: invalid duration `5 sec` (use e.g. 500ms, 5s, 1m)"
    );
    let r = fx.main("defaults:\n  icmp:\n    interval: 0s\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:3:15: defaults.icmp.interval: must be greater than 0"
    );
    let r = fx.main("shutdown_grace: -1\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:1:17: shutdown_grace: invalid duration `-1` (must be a positive number of \
         seconds or e.g. 500ms, 5s, 1m)"
    );
    let r = fx.main("shutdown_grace: [5]\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:1:17: shutdown_grace: invalid type: list, expected a duration such as \
         500ms, 5s, 1m, or a number of seconds"
    );
}

#[test]
fn numbers_out_of_range() {
    let fx = Fx::new();
    let r = fx.main(
        "devices:\n  - name: r1\n    address: 192.0.2.1\n    username: u\n    password: p\n    \
         checks: [ssh]\n    ssh:\n      port: 70000\n",
    );
    assert_eq!(
        fx.error(r),
        "main.yaml:8:13: devices[0].ssh.port: 70000 is out of range (expected 1 to 65535)"
    );
    let r = fx.main("defaults:\n  ssh: {port: 0}\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:2:15: defaults.ssh.port: 0 is out of range (expected 1 to 65535)"
    );
    let r = fx.main("defaults:\n  icmp:\n    count: 101\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:3:12: defaults.icmp.count: 101 is out of range (expected 1 to 100)"
    );
    let r = fx.main("defaults:\n  telnet:\n    concurrency: 0\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:3:18: defaults.telnet.concurrency: 0 is out of range (expected 1 to 1000000)"
    );
    let r = fx.main("defaults:\n  ssh:\n    port: ssh\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:3:11: defaults.ssh.port: invalid type: string \"ssh\", expected a whole \
         number from 1 to 65535"
    );
}

#[test]
fn concurrency_only_in_defaults() {
    let fx = Fx::new();
    let r = fx.main("profiles:\n  p:\n    icmp:\n      concurrency: 5\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:4:20: profiles.p.icmp.concurrency: concurrency is a daemon-wide limit per \
         protocol: set it under `defaults:`"
    );
}

#[test]
fn bad_checks_and_protocols() {
    let fx = Fx::new();
    let r = fx.main("devices:\n  - name: r1\n    address: 192.0.2.1\n    checks: [icmp, http]\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:4:20: devices[0].checks[1]: unknown protocol `http` (expected icmp, ssh or telnet)"
    );
    let r = fx.main("devices:\n  - name: r1\n    address: 192.0.2.1\n    checks: ssh\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:4:13: devices[0].checks: invalid type: string \"ssh\", expected a list of \
         checks, such as [icmp, ssh]"
    );
    let r = fx.main("devices:\n  - name: r1\n    address: 192.0.2.1\n    checks: [icmp, ping]\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:4:13: devices[0].checks: `icmp` is listed twice"
    );
}

#[test]
fn unknown_profile() {
    let fx = Fx::new();
    let text = "profiles:\n  lab: {}\n  core: {}\ndevices:\n  - name: r1\n    address: 192.0.2.1\n    profile: labb\n";
    assert_eq!(
        fx.error(fx.main(text)),
        "main.yaml:7:14: devices[0].profile: unknown profile `labb`, did you mean `lab`?"
    );
    let text =
        "profiles:\n  lab: {}\ndevices:\n  - name: r1\n    address: 192.0.2.1\n    profile: edge\n";
    assert_eq!(
        fx.error(fx.main(text)),
        "main.yaml:6:14: devices[0].profile: unknown profile `edge` (defined: lab)"
    );
    // Devices may come before profiles in the file.
    let text = "devices:\n  - name: r1\n    address: 192.0.2.1\n    profile: nope\n";
    assert_eq!(
        fx.error(fx.main(text)),
        "main.yaml:4:14: devices[0].profile: unknown profile `nope` (no profiles are defined)"
    );
    let text = "inventory:\n  - {path: x.yaml, profile: lbb}\nprofiles:\n  lab: {}\n";
    assert_eq!(
        fx.error(fx.main(text)),
        "main.yaml:2:29: inventory[0].profile: unknown profile `lbb`, did you mean `lab`?"
    );
}

#[test]
fn duplicate_device_names() {
    let fx = Fx::new();
    let text =
        "devices:\n  - name: r1\n    address: 192.0.2.1\n  - name: r1\n    address: 192.0.2.2\n";
    assert_eq!(
        fx.error(fx.main(text)),
        "main.yaml:4:11: devices[1].name: duplicate device name `r1` (first defined at devices[0])"
    );
    // Across files, and a scrapli entry named by its host.
    fx.write(
        "inv.yaml",
        "- host: 192.0.2.9\n  transport: telnet\n  auth_password: x\n",
    );
    let text = "inventory: [inv.yaml]\ndevices:\n  - name: 192.0.2.9\n    address: 192.0.2.1\n";
    assert_eq!(
        fx.error(fx.main(text)),
        "inv.yaml:1:3: [0]: duplicate device name `192.0.2.9` (first defined at devices[0] in \
         main.yaml); an entry without `name` is named by its `host`"
    );
}

#[test]
fn seeds_ssh_and_telnet_lists_merge_into_one_device_each() {
    // The seeds keep one list per transport for the same hosts: together
    // they describe four devices, each checked over icmp, ssh and telnet.
    let fx = Fx::new();
    let plan = fx
        .load(&Sources {
            config: None,
            inventories: vec![
                data("devices_asyncssh.yaml"),
                data("devices_asynctelnet.yaml"),
            ],
        })
        .unwrap();
    assert_eq!(plan.devices.len(), 4);
    assert_eq!(plan.targets.len(), 12);
    let r1: Vec<_> = plan
        .targets
        .iter()
        .filter(|t| &*t.device == "192.168.100.1")
        .map(|t| (t.protocol, port_of(t)))
        .collect();
    assert_eq!(
        r1,
        vec![
            (Protocol::Icmp, None),
            (Protocol::Ssh, Some(22)),
            (Protocol::Telnet, Some(23))
        ]
    );
}

fn port_of(t: &crate::target::Target) -> Option<u16> {
    match &t.spec {
        crate::target::CheckSpec::Ssh(s) | crate::target::CheckSpec::Telnet(s) => Some(s.port),
        crate::target::CheckSpec::Icmp(_) => None,
    }
}

#[test]
fn the_same_list_twice_is_still_a_duplicate() {
    let fx = Fx::new();
    let errs = fx
        .load(&Sources {
            config: None,
            inventories: vec![data("devices_asyncssh.yaml"), data("devices_asyncssh.yaml")],
        })
        .unwrap_err();
    assert_eq!(
        errs.0[0].to_string(),
        format!(
            "{}:1:3: [0]: duplicate device name `192.168.100.1` (first defined at [0]) \
             (scrapli entries for the same host in different files merge when their \
             transports differ); an entry without `name` is named by its `host`",
            data("devices_asyncssh.yaml").display()
        )
    );
}

#[test]
fn bad_regex_and_expect_without_command() {
    let fx = Fx::new();
    let r = fx.main("defaults:\n  ssh:\n    command: show version\n    expect: \"Cisco (IOS\"\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:4:13: defaults.ssh.expect: invalid regex `Cisco (IOS`: unclosed group"
    );
    let r = fx.main(
        "devices:\n  - name: r1\n    address: 192.0.2.1\n    password: p\n    checks: [telnet]\n    \
         telnet: {expect: IOS}\n",
    );
    assert_eq!(
        fx.error(r),
        "main.yaml:2:5: devices[0]: telnet.expect is set but telnet.command is not (expect \
         matches the command's output)"
    );
}

#[test]
fn credentials_a_login_check_needs() {
    let fx = Fx::new();
    let r = fx.main("devices:\n  - name: r1\n    address: 192.0.2.1\n    checks: [icmp, ssh]\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:2:5: devices[0]: the ssh check needs a username (set `username` on the device \
         or its profile)"
    );
    let r = fx.main(
        "devices:\n  - name: r1\n    address: 192.0.2.1\n    username: u\n    checks: [ssh]\n",
    );
    assert_eq!(
        fx.error(r),
        "main.yaml:2:5: devices[0]: the ssh check needs a password or a private_key (on the \
         device or its profile)"
    );
    let r = fx.main(
        "devices:\n  - name: r1\n    address: 192.0.2.1\n    username: u\n    checks: [telnet]\n",
    );
    assert_eq!(
        fx.error(r),
        "main.yaml:2:5: devices[0]: the telnet check needs a password (set `password` on the \
         device or its profile)"
    );
    // A scrapli entry: named by its position in the file.
    fx.write("s.yaml", "- host: 192.0.2.1\n  transport: asyncssh\n");
    assert_eq!(
        fx.error(fx.inventories(&["s.yaml"])),
        "s.yaml:1:3: [0]: the ssh check needs a username (set `username` on the device or its \
         profile)"
    );
}

#[test]
fn timing_that_cannot_work() {
    let fx = Fx::new();
    let r = fx.main("defaults:\n  ssh:\n    interval: 10s\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:2:3: defaults: ssh timeout (30s) is longer than its interval (10s)"
    );
    let r = fx.main("defaults:\n  icmp:\n    count: 20\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:2:3: defaults: icmp: 20 echo requests 200ms apart do not fit in the 2s \
         timeout (lower count or spacing, or raise timeout)"
    );
    let r = fx.main("devices:\n  - name: r1\n    address: 192.0.2.1\n    icmp: {timeout: 1m}\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:2:5: devices[0]: icmp timeout (1m) is longer than its interval (10s)"
    );
    let r = fx.main("defaults:\n  telnet:\n    timeout: 2m\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:2:3: defaults: telnet timeout (2m) is longer than its interval (1m)"
    );
    // A profile's timing is checked where a device uses it.
    let r = fx.main(
        "profiles:\n  p: {ssh: {interval: 5s}}\ndevices:\n  - name: r1\n    address: 192.0.2.1\n    \
         profile: p\n    checks: [ssh]\n    username: u\n    password: pw\n",
    );
    assert_eq!(
        fx.error(r),
        "main.yaml:4:5: devices[0]: ssh timeout (30s) is longer than its interval (5s)"
    );
}

#[test]
fn bad_labels_names_and_addresses() {
    let fx = Fx::new();
    let dev = |extra: &str| format!("devices:\n  - name: r1\n    address: 192.0.2.1\n{extra}");
    assert_eq!(
        fx.error(fx.main(&dev("    labels: {site: a, 9x: b}\n"))),
        "main.yaml:4:23: devices[0].labels.9x: invalid label name `9x` (must match \
         [a-zA-Z_][a-zA-Z0-9_]*)"
    );
    assert_eq!(
        fx.error(fx.main(&dev("    labels:\n      __name__: x\n"))),
        "main.yaml:5:7: devices[0].labels.__name__: invalid label name `__name__` (names \
         starting with `__` are reserved by Prometheus)"
    );
    assert_eq!(
        fx.error(fx.main(&dev("    labels:\n      device: x\n"))),
        "main.yaml:5:7: devices[0].labels.device: label name `device` is reserved (reachd sets \
         device, protocol, reason and phase itself)"
    );
    assert_eq!(
        fx.error(fx.main("devices:\n  - name: r1\n    address: 192.0.2.1:22\n")),
        "main.yaml:3:14: devices[0].address: invalid address `192.0.2.1:22`: give the port \
         separately (`ssh: {port: …}`, scrapli's `port:`)"
    );
    assert_eq!(
        fx.error(fx.main("devices:\n  - name: \"\"\n    address: 192.0.2.1\n")),
        "main.yaml:2:11: devices[0].name: device name must not be empty"
    );
    assert_eq!(
        fx.error(fx.main("devices:\n  - name: r1\n")),
        "main.yaml:2:5: devices[0]: missing field `address`"
    );
    assert_eq!(
        fx.error(fx.main("devices:\n  - address: 192.0.2.1\n")),
        "main.yaml:2:5: devices[0]: missing field `name`"
    );
}

#[test]
fn bad_top_level_settings() {
    let fx = Fx::new();
    assert_eq!(
        fx.error(fx.main("listen: localhost:9806\n")),
        "main.yaml:1:9: listen: invalid listen address `localhost:9806` (use e.g. \
         127.0.0.1:9806 or [::1]:9806)"
    );
    assert_eq!(
        fx.error(fx.main("log:\n  format: xml\n")),
        "main.yaml:2:11: log.format: invalid value `xml` (expected auto, json, text)"
    );
    assert_eq!(
        fx.error(fx.main("log:\n  format: jsn\n")),
        "main.yaml:2:11: log.format: invalid value `jsn`, did you mean `json`? (expected auto, \
         json, text)"
    );
    let e = fx.error(fx.main("log:\n  level: \"info,[\"\n"));
    assert!(
        e.starts_with("main.yaml:2:10: log.level: invalid log level `info,[`: "),
        "{e}"
    );
    assert_eq!(
        fx.error(fx.main("defaults:\n  ssh:\n    host_key: strct\n")),
        "main.yaml:3:15: defaults.ssh.host_key: invalid value `strct`, did you mean `strict`? \
         (expected strict, accept-new, off)"
    );
    assert_eq!(
        fx.error(fx.main("- name: r1\n")),
        "main.yaml: expected a map of settings at the top level (listen, defaults, profiles, \
         inventory, devices, …)"
    );
}

#[test]
fn yaml_syntax_errors() {
    let fx = Fx::new();
    assert_eq!(
        fx.error(fx.main("devices:\n  - name: r1\n   address: [\n")),
        "main.yaml:3:4: did not find expected '-' indicator, while parsing a block collection \
         at line 2 column 3"
    );
    fx.write("inv.yaml", "- host: a\n\t- host: b\n");
    let e = fx.error(fx.inventories(&["inv.yaml"]));
    assert!(e.starts_with("inv.yaml:2:1: "), "{e}");
}

#[test]
fn empty_and_missing_inventories() {
    let fx = Fx::new();
    fx.write("empty.yaml", "# nothing yet\n");
    fx.write("list.yaml", "[]\n");
    fx.write("map.yaml", "r1:\n  hostname: 192.0.2.1\n");
    assert_eq!(
        fx.errors(fx.inventories(&["empty.yaml", "list.yaml", "map.yaml", "gone.yaml"])),
        [
            "empty.yaml: inventory file is empty (expected a list of devices)",
            "list.yaml: inventory file has no devices (the list is empty)",
            "map.yaml: expected a list of devices at the top level, found a map (Nornir-style \
             inventories are not supported yet)",
            "gone.yaml: cannot read inventory file: no such file",
        ]
    );
    assert_eq!(
        fx.error(fx.main("listen: 127.0.0.1:9806\n")),
        "main.yaml: no devices configured (add `devices:` or `inventory:` to the config file, \
         or pass --inventory FILE)"
    );
    assert_eq!(
        fx.error(fx.load(&Sources::default())),
        "no devices configured (add `devices:` or `inventory:` to the config file, or pass \
         --inventory FILE)"
    );
    assert_eq!(
        fx.error(fx.load(&Sources {
            config: Some(fx.dir.join("nope.yaml")),
            inventories: vec![]
        })),
        "nope.yaml: cannot read config file: no such file"
    );
}

#[test]
fn unreadable_files() {
    let fx = Fx::new();
    std::fs::write(
        fx.dir.join("latin1.yaml"),
        b"- name: r\xe9\n  address: 192.0.2.1\n",
    )
    .unwrap();
    std::fs::create_dir_all(fx.dir.join("dir.yaml")).unwrap();
    assert_eq!(
        fx.errors(fx.inventories(&["latin1.yaml", "dir.yaml"])),
        [
            "latin1.yaml: cannot read inventory file: stream did not contain valid UTF-8",
            "dir.yaml: cannot read inventory file: Is a directory",
        ]
    );
    assert_eq!(
        fx.error(fx.load(&Sources {
            config: Some(fx.dir.join("latin1.yaml")),
            inventories: vec![]
        })),
        "latin1.yaml: cannot read config file: stream did not contain valid UTF-8"
    );
}

#[test]
fn errors_from_several_files_are_all_reported() {
    let fx = Fx::new();
    fx.write("a.yaml", "- host: 192.0.2.1\n  transport: asyncssh\n  auth_username: u\n  auth_password: p\n  timeout_socket: 5 sec\n");
    fx.write(
        "b.yaml",
        "- name: r2\n  address: 192.0.2.2\n  labels: {Role-x: core}\n",
    );
    let text = "inventory:\n  - a.yaml\n  - b.yaml\ndevices:\n  - name: r1\n    adress: x\n";
    assert_eq!(
        fx.errors(fx.main(text)),
        [
            "main.yaml:6:5: devices[0].adress: unknown field `adress`, did you mean `address`?",
            "a.yaml:5:19: [0].timeout_socket: invalid duration `5 sec` (use e.g. 500ms, 5s, 1m)",
            "b.yaml:3:12: [0].labels.Role-x: invalid label name `Role-x` (must match \
             [a-zA-Z_][a-zA-Z0-9_]*)",
        ]
    );
}

#[test]
fn main_file_inventory_and_devices_errors_are_both_reported() {
    // `inventory:` and `devices:` are parsed in passes of their own, so an
    // error in one does not hide an error in the other.
    let fx = Fx::new();
    let text = "profiles:\n  lab: {username: u}\ninventory:\n  - {path: a.yaml, profile: lba}\n\
                devices:\n  - name: r1\n    adress: x\n";
    assert_eq!(
        fx.errors(fx.main(text)),
        [
            "main.yaml:4:29: inventory[0].profile: unknown profile `lba` (defined: lab)",
            "main.yaml:7:5: devices[0].adress: unknown field `adress`, did you mean `address`?",
        ]
    );
}

#[test]
fn blank_paths() {
    let fx = Fx::new();
    let dev = "devices:\n  - name: r1\n    address: 192.0.2.1\n";
    assert_eq!(
        fx.error(fx.main(&format!("inventory:\n  - \"\"\n{dev}"))),
        "main.yaml:2:5: inventory[0]: must not be empty"
    );
    assert_eq!(
        fx.error(fx.main(&format!("inventory:\n  - {{path: \" \"}}\n{dev}"))),
        "main.yaml:2:12: inventory[0].path: must not be empty"
    );
    assert_eq!(
        fx.error(fx.main(&format!("{dev}    private_key: \"\"\n"))),
        "main.yaml:4:18: devices[0].private_key: must not be empty"
    );
    assert_eq!(
        fx.error(fx.main(&format!("{dev}    ssh: {{known_hosts: \"\"}}\n"))),
        "main.yaml:4:24: devices[0].ssh.known_hosts: must not be empty"
    );
}

#[test]
fn scrapli_entry_errors() {
    let fx = Fx::new();
    fx.write("s.yaml", "- host: 192.0.2.1\n  transport: asyncshh\n");
    assert_eq!(
        fx.error(fx.inventories(&["s.yaml"])),
        "s.yaml:2:14: [0].transport: unknown transport `asyncshh`, did you mean `asyncssh`? \
         (expected asyncssh, ssh2, paramiko, system, asynctelnet, telnet)"
    );
    fx.write("s.yaml", "- host: 192.0.2.1\n  auth_usernme: u\n");
    assert_eq!(
        fx.error(fx.inventories(&["s.yaml"])),
        "s.yaml:2:3: [0].auth_usernme: unknown field `auth_usernme`, did you mean `auth_username`?"
    );
    // Mixed formats: the first entry decides.
    fx.write(
        "s.yaml",
        "- host: 192.0.2.1\n  checks: [icmp]\n- name: r2\n  address: 192.0.2.2\n",
    );
    assert_eq!(
        fx.error(fx.inventories(&["s.yaml"])),
        "s.yaml:4:3: [1].address: unknown field `address`: `address` is a reachd inventory key, \
         but this file is read as scrapli-style (because its first entry has `host`); one file \
         holds one format"
    );
    fx.write(
        "n.yaml",
        "- name: r1\n  address: 192.0.2.1\n- host: 192.0.2.2\n",
    );
    assert_eq!(
        fx.error(fx.inventories(&["n.yaml"])),
        "n.yaml:3:3: [1].host: unknown field `host`: `host` is a scrapli inventory key, but this \
         file is read as reachd's own format (because its first entry has no scrapli key); one \
         file holds one format"
    );
    fx.write("s.yaml", "- auth_username: u\n");
    assert_eq!(
        fx.error(fx.inventories(&["s.yaml"])),
        "s.yaml:1:3: [0]: missing field `host`"
    );
}

#[test]
fn wrong_types_at_the_top() {
    let fx = Fx::new();
    assert_eq!(
        fx.error(fx.main("devices:\n  r1:\n    address: 192.0.2.1\n")),
        "main.yaml:2:3: devices: invalid type: map, expected a list"
    );
    assert_eq!(
        fx.error(fx.main("profiles: [lab]\n")),
        "main.yaml:1:11: profiles: invalid type: list, expected a map"
    );
    assert_eq!(
        fx.error(fx.main("defaults: 5\n")),
        "main.yaml:1:11: defaults: invalid type: integer `5`, expected a map of per-protocol defaults (icmp, \
         ssh, telnet)"
    );
    assert_eq!(
        fx.error(fx.main("devices:\n  - r1\n")),
        "main.yaml:2:5: devices[0]: invalid type: string \"r1\", expected a device (a map with \
         name and address)"
    );
    assert_eq!(
        fx.error(fx.main("inventory: devices.yaml\n")),
        "main.yaml:1:12: inventory: invalid type: string \"devices.yaml\", expected a list"
    );
    assert_eq!(
        fx.error(
            fx.main("devices:\n  - name: r1\n    address: 192.0.2.1\n    ssh: {enable: maybe}\n")
        ),
        "main.yaml:4:19: devices[0].ssh.enable: invalid type: string \"maybe\", expected a boolean"
    );
}

#[test]
fn wrong_types_of_blocks() {
    let fx = Fx::new();
    assert_eq!(
        fx.error(fx.main("profiles:\n  lab: admin\n")),
        "main.yaml:2:8: profiles.lab: invalid type: string \"admin\", expected a profile (a map \
         of settings)"
    );
    assert_eq!(
        fx.error(fx.main("devices:\n  - name: r1\n    address: 192.0.2.1\n    icmp: 5\n")),
        "main.yaml:4:11: devices[0].icmp: invalid type: integer `5`, expected a map of icmp \
         settings"
    );
    assert_eq!(
        fx.error(fx.main("log: debug\n")),
        "main.yaml:1:6: log: invalid type: string \"debug\", expected a map with format and level"
    );
}

#[test]
fn scrapli_keys_in_main_devices_get_a_hint() {
    let fx = Fx::new();
    assert_eq!(
        fx.error(fx.main("devices:\n  - host: 192.0.2.1\n    auth_username: u\n")),
        "main.yaml:2:5: devices[0].host: unknown field `host`: `host` is a scrapli inventory \
         key; `devices:` takes reachd's format (name, address, …), a scrapli-style list goes in \
         its own file named under `inventory:`"
    );
}

// ---------------------------------------------------------------------------
// Secrets.

#[test]
fn missing_secrets_are_errors_at_their_line() {
    let fx = Fx::new();
    let dev =
        |pw: &str| format!("devices:\n  - name: r1\n    address: 192.0.2.1\n    password: {pw}\n");
    assert_eq!(
        fx.error(fx.main(&dev("{env: NOPE}"))),
        "main.yaml:4:15: devices[0].password: environment variable `NOPE` is not set"
    );
    assert_eq!(
        fx.error(fx.main(&dev("{file: pw.txt}"))),
        "main.yaml:4:15: devices[0].password: cannot read secret file `pw.txt`: no such file"
    );
    assert_eq!(
        fx.error(fx.main(&dev("{credential: lab}"))),
        "main.yaml:4:15: devices[0].password: credential `lab` needs $CREDENTIALS_DIRECTORY, \
         which systemd sets for LoadCredential=; it is not set"
    );
    assert_eq!(
        fx.error(fx.main(&dev("{credential: ../etc/shadow}"))),
        "main.yaml:4:15: devices[0].password: invalid credential name `../etc/shadow` (a file \
         name in $CREDENTIALS_DIRECTORY)"
    );
    assert_eq!(
        fx.error(fx.main(&dev("{envv: X}"))),
        "main.yaml:4:15: devices[0].password: unknown secret source, did you mean `env`?"
    );
    assert_eq!(
        fx.error(fx.main(&dev("{env: A, file: b}"))),
        "main.yaml:4:15: devices[0].password: a secret source has exactly one key: {env: …}, \
         {file: …}, {credential: …}"
    );
    fx.write("empty.pw", "\n");
    assert_eq!(
        fx.error(fx.main(&dev("{file: empty.pw}"))),
        "main.yaml:4:15: devices[0].password: secret file `empty.pw` is empty"
    );
}

#[test]
fn secrets_that_cannot_be_used() {
    use std::os::unix::ffi::OsStringExt;
    let fx = Fx::new()
        .env("EMPTY", "")
        .env("LATIN1", OsString::from_vec(vec![b'p', 0xe9]));
    let dir = fx.dir.clone();
    let fx = fx.env("CREDENTIALS_DIRECTORY", dir.join("creds"));
    let dev =
        |pw: &str| format!("devices:\n  - name: r1\n    address: 192.0.2.1\n    password: {pw}\n");
    assert_eq!(
        fx.error(fx.main(&dev("{env: EMPTY}"))),
        "main.yaml:4:15: devices[0].password: environment variable `EMPTY` is empty"
    );
    assert_eq!(
        fx.error(fx.main(&dev("{env: LATIN1}"))),
        "main.yaml:4:15: devices[0].password: environment variable `LATIN1` is not valid UTF-8"
    );
    std::fs::create_dir_all(dir.join("pw.d")).unwrap();
    assert_eq!(
        fx.error(fx.main(&dev("{file: pw.d}"))),
        "main.yaml:4:15: devices[0].password: cannot read secret file `pw.d`: not a file"
    );
    fx.write("big.pw", &"x".repeat(64 * 1024 + 1));
    assert_eq!(
        fx.error(fx.main(&dev("{file: big.pw}"))),
        "main.yaml:4:15: devices[0].password: secret file `big.pw` is too large for a secret \
         (over 64 KiB)"
    );
    std::fs::write(dir.join("latin1.pw"), [b'p', 0xe9, b'\n']).unwrap();
    assert_eq!(
        fx.error(fx.main(&dev("{file: latin1.pw}"))),
        "main.yaml:4:15: devices[0].password: secret file `latin1.pw` is not valid UTF-8"
    );
    assert_eq!(
        fx.error(fx.main(&dev("{credential: lab}"))),
        "main.yaml:4:15: devices[0].password: cannot read credential `lab` (creds/lab): no such \
         file"
    );
    let key = "devices:\n  - name: r1\n    address: 192.0.2.1\n    private_key: pw.d\n";
    assert_eq!(
        fx.error(fx.main(key)),
        "main.yaml:4:18: devices[0].private_key: cannot use private key file `pw.d`: not a file"
    );
}

#[test]
fn secrets_never_appear_in_errors() {
    // A numeric password is refused without being quoted.
    let fx = Fx::new();
    let r = fx.main("devices:\n  - name: r1\n    address: 192.0.2.1\n    password: 123456789\n");
    let e = fx.error(r);
    assert_eq!(
        e,
        "main.yaml:4:15: devices[0].password: a secret must be a string (quote numbers, e.g. \
         \"1234\") or one of {env: VAR}, {file: PATH}, {credential: NAME}"
    );
    assert!(!e.contains("123456789"));
    // Errors elsewhere in a file full of secrets, of every kind.
    let fx = Fx::new()
        .env("PW", SECRET)
        .env("CREDENTIALS_DIRECTORY", "/nonexistent");
    fx.write("pw.txt", &format!("{SECRET}\n"));
    let text = format!(
        "profiles:\n  p:\n    username: u\n    password: {SECRET}\n    secondary: {{env: PW}}\n    \
         private_key_passphrase: {{file: pw.txt}}\ndevices:\n  - name: r1\n    address: 192.0.2.1\n    \
         profile: p\n    password: {{env: PW}}\n    checks: [ssh]\n    ssh: {{expect: x}}\n"
    );
    // `errors()` asserts that no error string or Debug contains SECRET.
    let errs = fx.errors(fx.main(&text));
    assert_eq!(
        errs,
        [
            "main.yaml:8:5: devices[0]: ssh.expect is set but ssh.command is not (expect matches \
          the command's output)"
        ]
    );
    let text = format!("devices:\n  - name: r1\n    address: 192.0.2.1\n    passwrd: {SECRET}\n");
    let e = fx.error(fx.main(&text));
    assert_eq!(
        e,
        "main.yaml:4:5: devices[0].passwrd: unknown field `passwrd`, did you mean `password`?"
    );
    let text =
        format!("devices:\n  - name: r1\n    address: 192.0.2.1\n    password: [{SECRET}]\n");
    let e = fx.error(fx.main(&text));
    assert!(
        e.starts_with("main.yaml:4:15: devices[0].password: a secret must be a string"),
        "{e}"
    );
}

#[test]
fn no_error_ever_shows_a_secret() {
    let fx = Fx::new().env("PW", SECRET);
    fx.write("pw.txt", &format!("{SECRET}\n"));
    let base = format!(
        "profiles:\n  p:\n    username: u\n    password: {SECRET}\n    secondary: {{env: PW}}\n    \
         private_key_passphrase: {{file: pw.txt}}\n    checks: [ssh]\n"
    );
    let broken = [
        format!(
            "{base}devices:\n  - {{name: r1, address: 192.0.2.1, profile: p, password: {SECRET}, ssh: {{port: 0}}}}\n"
        ),
        format!(
            "{base}devices:\n  - {{name: r1, address: 192.0.2.1, profile: p, secondary: {{env: PW, file: x}}}}\n"
        ),
        format!(
            "{base}devices:\n  - {{name: r1, address: 192.0.2.1, profile: p, secondary: {{value: {SECRET}}}}}\n"
        ),
        format!(
            "{base}devices:\n  - {{name: r1, address: 192.0.2.1, profile: p, password: 12345{}}}\n",
            6789
        ),
        format!(
            "{base}devices:\n  - {{name: r1, address: 192.0.2.1, profile: p, password: true}}\n"
        ),
        format!(
            "{base}devices:\n  - {{name: r1, address: 192.0.2.1, profile: p, password: {{{SECRET}: x}}}}\n"
        ),
        format!(
            "{base}devices:\n  - {{name: r1, address: 192.0.2.1, profile: p, checks: [telnet], username: {SECRET}x}}\n  - {{name: r1, address: 192.0.2.2}}\n"
        ),
        format!("{base}  q: {{password: {SECRET}, ssh: {{concurrency: 1}}}}\ndevices: []\n"),
        format!(
            "{base}devices: [{{name: r1, address: 192.0.2.1, profile: p, checks: [ssh], ssh: {{expect: x}}}}]\n"
        ),
    ];
    for text in &broken {
        // `errors()` fails if an error's Display or Debug holds SECRET.
        let errs = fx.errors(fx.main(text));
        assert_eq!(errs.len(), 1, "{errs:?}");
    }
    // `password: {hunter2}` is a map keyed by the password: not quoted.
    let e = fx.error(fx.main(&broken[5]));
    assert!(
        e.ends_with(
            "devices[0].password: unknown secret source (a secret source has exactly one key: \
             {env: …}, {file: …}, {credential: …})"
        ),
        "{e}"
    );
}

#[test]
fn load_reads_the_real_environment() {
    // `load` itself, on a file that needs no environment.
    let plan = load(&Sources {
        config: None,
        inventories: vec![data("devices_asyncssh.yaml")],
    })
    .unwrap();
    assert_eq!(plan.targets.len(), 8);
}

#[test]
fn secret_files_lose_every_trailing_newline() {
    let fx = Fx::new();
    fx.write("pw", "s3cret\r\n\n");
    let text = "devices:\n  - name: r1\n    address: 192.0.2.1\n    checks: [telnet]\n    \
                password: {file: pw}\n";
    let plan = ok(fx.main(text));
    let t = target(&plan, "r1", Protocol::Telnet);
    assert_eq!(session(&t).password.as_ref().unwrap().expose(), "s3cret");
}

#[test]
fn secret_sources_resolve() {
    let fx = Fx::new();
    let creds = fx.dir.join("creds");
    fx.write("creds/enable", &format!("{SECRET}-enable\r\n"));
    fx.write("secrets/pass.txt", &format!("{SECRET}-file\n"));
    fx.write("keys/id_ed25519", "not really a key\n");
    let fx = fx
        .env("R_PW", format!("{SECRET}-env"))
        .env("CREDENTIALS_DIRECTORY", creds.clone());
    let text = format!(
        "profiles:\n  p:\n    username: admin\n    password: {{env: R_PW}}\n    secondary: {{credential: enable}}\n    \
         checks: [ssh, telnet]\n\
         devices:\n\
         \x20 - name: inline\n    address: 192.0.2.1\n    profile: p\n    password: {SECRET}-inline\n\
         \x20 - name: env\n    address: 192.0.2.2\n    profile: p\n\
         \x20 - name: file\n    address: 192.0.2.3\n    profile: p\n    password: {{file: secrets/pass.txt}}\n    \
         private_key: keys/id_ed25519\n    private_key_passphrase: {{file: secrets/pass.txt}}\n"
    );
    let plan = ok(fx.main(&text));
    let pw = |d: &str| {
        session(&target(&plan, d, Protocol::Ssh))
            .password
            .as_ref()
            .unwrap()
            .expose()
            .to_owned()
    };
    assert_eq!(pw("inline"), format!("{SECRET}-inline"));
    assert_eq!(pw("env"), format!("{SECRET}-env"));
    assert_eq!(pw("file"), format!("{SECRET}-file"));
    let s = target(&plan, "file", Protocol::Ssh);
    let s = session(&s);
    assert_eq!(
        s.secondary.as_ref().unwrap().expose(),
        format!("{SECRET}-enable")
    );
    assert!(s.enable, "a secondary password turns enable on");
    assert_eq!(
        s.private_key.as_deref(),
        Some(fx.dir.join("keys/id_ed25519").as_path())
    );
    assert_eq!(
        s.private_key_passphrase.as_ref().unwrap().expose(),
        format!("{SECRET}-file")
    );
    // Telnet gets no key.
    let t = target(&plan, "file", Protocol::Telnet);
    assert_eq!(session(&t).private_key, None);
    // Missing key file: an error at its line.
    let text = "devices:\n  - name: r1\n    address: 192.0.2.1\n    private_key: keys/nope\n";
    assert_eq!(
        fx.error(fx.main(text)),
        "main.yaml:4:18: devices[0].private_key: cannot use private key file `keys/nope`: no \
         such file"
    );
}

// ---------------------------------------------------------------------------
// scrapli inventories.

#[test]
fn seeds_scrapli_inventory_verbatim() {
    let fx = Fx::new();
    let plan = ok(fx.load(&Sources {
        config: None,
        inventories: vec![data("devices_asyncssh.yaml")],
    }));
    let names: Vec<&str> = plan.devices.iter().map(|d| &*d.name).collect();
    assert_eq!(
        names,
        [
            "192.168.100.1",
            "192.168.100.2",
            "192.168.100.3",
            "192.168.100.11"
        ]
    );
    assert_eq!(plan.targets.len(), 8);
    for d in &plan.devices {
        assert_eq!(d.host, *d.name);
        assert_eq!(
            d.labels,
            BTreeMap::from([("platform".to_owned(), "cisco_iosxe".to_owned())])
        );
        let protos: Vec<Protocol> = plan
            .targets
            .iter()
            .filter(|t| t.device == d.name)
            .map(|t| t.protocol)
            .collect();
        assert_eq!(protos, [Protocol::Icmp, Protocol::Ssh]);
    }
    let ping = target(&plan, "192.168.100.1", Protocol::Icmp);
    assert_eq!((ping.interval, ping.timeout), (secs(10), secs(2)));
    assert_eq!(*icmp(&ping), IcmpSpec::default());
    let ssh = target(&plan, "192.168.100.3", Protocol::Ssh);
    assert_eq!(ssh.host, "192.168.100.3");
    assert_eq!((ssh.interval, ssh.timeout), (secs(60), secs(30)));
    let s = session(&ssh);
    assert_eq!(s.port, 22);
    assert_eq!(s.username.as_deref(), Some("cisco"));
    assert_eq!(s.password.as_ref().map(|p| p.expose()), Some("ciscoe"));
    assert_eq!(s.secondary.as_ref().map(|p| p.expose()), Some("cisco"));
    assert!(s.enable);
    assert_eq!(s.host_key, HostKeyPolicy::Off);
    assert_eq!(s.connect_timeout, secs(5));
    assert_eq!(s.read_timeout, secs(10));
    assert_eq!(s.platform.as_deref(), Some("cisco_iosxe"));
    assert_eq!(s.command, None);
    assert_eq!(s.known_hosts, None);
    // Debug of the plan shows no password (`ok` checks the secret marker;
    // here the seeds' own passwords).
    let debug = format!("{plan:?}");
    assert!(!debug.contains("ciscoe"));
    assert!(!debug.contains("password: Some(\"cisco"));
    assert!(debug.contains("password: Some(Secret(<redacted>))"));
}

#[test]
fn seeds_telnet_sibling() {
    let fx = Fx::new();
    let plan = ok(fx.load(&Sources {
        config: None,
        inventories: vec![data("devices_asynctelnet.yaml")],
    }));
    assert_eq!(plan.devices.len(), 4);
    assert_eq!(plan.targets.len(), 8);
    let t = target(&plan, "192.168.100.11", Protocol::Telnet);
    let s = session(&t);
    assert_eq!(s.port, 23);
    assert_eq!(s.username.as_deref(), Some("cisco"));
    assert!(s.enable);
    assert_eq!(s.connect_timeout, secs(5));
    assert!(matches!(t.spec, CheckSpec::Telnet(_)));
}

#[test]
fn scrapli_mapping_in_full() {
    let fx = Fx::new();
    fx.write("kh", "");
    fx.write(
        "inv.yaml",
        "- host: r1.example.net\n  name: r1\n  port: 2222\n  auth_username: u\n  auth_password: p\n  \
         auth_strict_key: true\n  ssh_known_hosts_file: kh\n  timeout_socket: 0.5\n  \
         timeout_transport: 2s\n  transport: ssh2\n  labels: {site: x}\n  \
         platform: arista_eos\n  timeout_ops: 30\n  transport_options: {asyncssh: {encryption_algs: [aes128-cbc]}}\n  \
         comms_prompt_pattern: '^\\S+#$'\n  on_open: null\n  privilege_levels: {}\n  variant: x\n\
         - host: 192.0.2.2\n  auth_password: p\n  transport: telnet\n\
         - host: 192.0.2.3\n  auth_username: u\n  auth_password: p\n\
         - host: 192.0.2.4\n  checks: [icmp]\n  auth_bypass: true\n",
    );
    let plan = ok(fx.inventories(&["inv.yaml"]));
    let names: Vec<&str> = plan.devices.iter().map(|d| &*d.name).collect();
    assert_eq!(names, ["r1", "192.0.2.2", "192.0.2.3", "192.0.2.4"]);
    assert_eq!(plan.devices[0].host, "r1.example.net");
    assert_eq!(
        plan.devices[0].labels,
        BTreeMap::from([
            // The platform is the `platform` label (a `platform` label of
            // its own is refused: issue 9).
            ("platform".to_owned(), "arista_eos".to_owned()),
            ("site".to_owned(), "x".to_owned())
        ])
    );
    let t = target(&plan, "r1", Protocol::Ssh);
    let s = session(&t);
    assert_eq!(s.port, 2222);
    assert_eq!(s.host_key, HostKeyPolicy::Strict);
    assert_eq!(s.known_hosts.as_deref(), Some(fx.dir.join("kh").as_path()));
    assert_eq!(s.connect_timeout, ms(500));
    assert_eq!(s.read_timeout, secs(2));
    assert!(!s.enable, "no secondary, no enable");
    assert_eq!(s.platform.as_deref(), Some("arista_eos"));
    // Telnet without a user name (line password) and the default port.
    let t = target(&plan, "192.0.2.2", Protocol::Telnet);
    assert_eq!(session(&t).port, 23);
    assert_eq!(session(&t).username, None);
    // No transport: scrapli's default, `system`, is ssh; default host key policy.
    let t = target(&plan, "192.0.2.3", Protocol::Ssh);
    assert_eq!(session(&t).host_key, HostKeyPolicy::AcceptNew);
    // Own `checks:` replace icmp + transport.
    let protos: Vec<Protocol> = plan
        .targets
        .iter()
        .filter(|t| &*t.device == "192.0.2.4")
        .map(|t| t.protocol)
        .collect();
    assert_eq!(protos, [Protocol::Icmp]);
    assert_eq!(plan.targets.len(), 2 + 2 + 2 + 1);
}

#[test]
fn scrapli_files_as_python_writes_them() {
    // scrapli's defaults are empty strings; PyYAML booleans are YAML 1.1.
    let fx = Fx::new();
    fx.write(
        "inv.yaml",
        "- host: 192.0.2.1\n  auth_username: u\n  auth_password: p\n  auth_secondary: \"\"\n  \
         auth_private_key: \"\"\n  auth_private_key_passphrase: \"\"\n  ssh_known_hosts_file: \"\"\n  \
         platform: \"\"\n  auth_strict_key: no\n  ssh_config_file: False\n\
         - host: 192.0.2.2\n  auth_username: u\n  auth_password: p\n  auth_strict_key: True\n\
         - host: 192.0.2.3\n  auth_username: \"\"\n  auth_password: p\n  transport: asynctelnet\n",
    );
    let plan = ok(fx.inventories(&["inv.yaml"]));
    let t = target(&plan, "192.0.2.1", Protocol::Ssh);
    let s = session(&t);
    assert_eq!(s.secondary, None);
    assert!(!s.enable);
    assert_eq!(s.private_key, None);
    assert_eq!(s.private_key_passphrase, None);
    assert_eq!(s.known_hosts, None);
    assert_eq!(s.platform, None);
    assert_eq!(s.host_key, HostKeyPolicy::Off);
    assert!(plan.devices[0].labels.is_empty());
    let t = target(&plan, "192.0.2.2", Protocol::Ssh);
    assert_eq!(session(&t).host_key, HostKeyPolicy::Strict);
    let t = target(&plan, "192.0.2.3", Protocol::Telnet);
    assert_eq!(session(&t).username, None);
    fx.write("bad.yaml", "- host: 192.0.2.1\n  auth_strict_key: maybe\n");
    assert_eq!(
        fx.error(fx.inventories(&["bad.yaml"])),
        "bad.yaml:2:20: [0].auth_strict_key: invalid value `maybe` (expected true or false)"
    );
}

#[test]
fn a_device_without_checks_stays_in_the_inventory() {
    let fx = Fx::new();
    let plan = ok(fx.main("devices:\n  - {name: spare, address: 192.0.2.1, checks: []}\n  - {name: r1, address: 192.0.2.2}\n"));
    assert_eq!(plan.devices.len(), 2);
    assert_eq!(plan.targets.len(), 1);
}

#[test]
fn format_detection_and_override() {
    let fx = Fx::new();
    // A reachd list, auto-detected.
    fx.write("native.yaml", "- name: r1\n  address: 192.0.2.1\n");
    // A scrapli entry first with only ignored/scrapli keys.
    fx.write(
        "scrapli.yaml",
        "- host: 192.0.2.2\n  auth_username: u\n  auth_password: p\n",
    );
    let plan = ok(fx.inventories(&["native.yaml", "scrapli.yaml"]));
    assert_eq!(plan.targets.len(), 3);
    // Forced formats.
    let text = "inventory:\n  - {path: native.yaml, format: scrapli}\n";
    assert_eq!(
        fx.error(fx.main(text)),
        "native.yaml:2:3: [0].address: unknown field `address`: `address` is a reachd inventory \
         key, but this file is read as scrapli-style (as its `format:` says); one file holds \
         one format"
    );
    let text = "inventory:\n  - {path: scrapli.yaml, format: reachd}\n";
    assert_eq!(
        fx.error(fx.main(text)),
        "scrapli.yaml:1:3: [0].host: unknown field `host`: `host` is a scrapli inventory key, \
         but this file is read as reachd's own format (as its `format:` says); one file holds \
         one format"
    );
    let text = "inventory:\n  - {path: native.yaml, format: nornir}\n";
    assert_eq!(
        fx.error(fx.main(text)),
        "main.yaml:2:33: inventory[0].format: invalid value `nornir` (expected auto, reachd, \
         scrapli)"
    );
}

// ---------------------------------------------------------------------------
// Cascade, paths, settings.

#[test]
fn cascade_builtin_defaults_profile_device() {
    let fx = Fx::new();
    let text = "defaults:\n  ssh:\n    interval: 2m\n    timeout: 40s\n    port: 2200\n    read_timeout: 7s\n    \
                concurrency: 7\n  icmp:\n    count: 5\n\
                profiles:\n  p:\n    username: pu\n    password: pp\n    platform: ios\n    checks: [icmp, ssh]\n    \
                labels: {site: s1, role: r}\n    ssh:\n      timeout: 35s\n      port: 2201\n      \
                ciphers: \"+aes128-cbc\"\n\
                devices:\n  - name: d\n    address: 192.0.2.1\n    profile: p\n    username: du\n    \
                labels: {role: edge}\n    ssh:\n      port: 2202\n      command: show clock\n      expect: \"\\\\d+:\\\\d+\"\n\
                \x20 - name: plain\n    address: 192.0.2.2\n";
    let plan = ok(fx.main(text));
    let t = target(&plan, "d", Protocol::Ssh);
    assert_eq!(t.interval, secs(120), "from defaults");
    assert_eq!(t.timeout, secs(35), "from the profile");
    let s = session(&t);
    assert_eq!(s.port, 2202, "from the device");
    assert_eq!(s.read_timeout, secs(7), "from defaults");
    assert_eq!(s.connect_timeout, secs(5), "built in");
    assert_eq!(s.username.as_deref(), Some("du"), "device over profile");
    assert_eq!(s.password.as_ref().map(|p| p.expose()), Some("pp"));
    assert_eq!(s.algorithms.ciphers.as_deref(), Some("+aes128-cbc"));
    assert_eq!(s.command.as_deref(), Some("show clock"));
    assert_eq!(s.expect.as_deref(), Some("\\d+:\\d+"));
    assert_eq!(s.host_key, HostKeyPolicy::AcceptNew);
    assert!(!s.enable);
    let p = target(&plan, "d", Protocol::Icmp);
    assert_eq!(icmp(&p).count, 5);
    assert_eq!(
        plan.devices[0].labels,
        BTreeMap::from([
            ("platform".to_owned(), "ios".to_owned()),
            ("role".to_owned(), "edge".to_owned()),
            ("site".to_owned(), "s1".to_owned()),
        ])
    );
    // No profile, no checks: ping only, defaults applied.
    let protos: Vec<Protocol> = plan
        .targets
        .iter()
        .filter(|t| &*t.device == "plain")
        .map(|t| t.protocol)
        .collect();
    assert_eq!(protos, [Protocol::Icmp]);
    assert_eq!(icmp(&target(&plan, "plain", Protocol::Icmp)).count, 5);
    assert_eq!(
        plan.concurrency,
        BTreeMap::from([
            (Protocol::Icmp, 10_000),
            (Protocol::Ssh, 7),
            (Protocol::Telnet, 100)
        ])
    );
}

#[test]
fn inventory_profile_and_relative_paths() {
    let fx = Fx::new();
    fx.write("conf/inv/pw", "filepw\n");
    fx.write("conf/inv/kh", "");
    fx.write(
        "conf/inv/devs.yaml",
        "- name: a\n  address: 192.0.2.1\n  password: {file: pw}\n  ssh: {known_hosts: kh}\n\
         - name: b\n  address: 192.0.2.2\n  profile: other\n",
    );
    fx.write(
        "conf/main.yaml",
        "state_dir: state\nprofiles:\n  p: {username: u, password: pp, checks: [icmp, ssh]}\n  other: {checks: [icmp]}\n\
         inventory:\n  - {path: inv/devs.yaml, profile: p}\n",
    );
    let plan = ok(fx.load(&Sources {
        config: Some(fx.dir.join("conf/main.yaml")),
        inventories: vec![],
    }));
    assert_eq!(plan.state_dir, Some(fx.dir.join("conf/state")));
    let a = target(&plan, "a", Protocol::Ssh);
    let s = session(&a);
    assert_eq!(s.username.as_deref(), Some("u"), "the source's profile");
    assert_eq!(s.password.as_ref().map(|p| p.expose()), Some("filepw"));
    assert_eq!(
        s.known_hosts.as_deref(),
        Some(fx.dir.join("conf/inv/kh").as_path())
    );
    // An entry's own profile wins over the source's.
    assert_eq!(plan.targets.iter().filter(|t| &*t.device == "b").count(), 1);
}

#[test]
fn settings_and_their_defaults() {
    let fx = Fx::new().env("STATE_DIRECTORY", "/var/lib/reachd:/var/lib/other");
    let plan = ok(fx.main("devices:\n  - name: r1\n    address: 192.0.2.1\n"));
    assert_eq!(plan.listen, DEFAULT_LISTEN);
    assert_eq!(plan.listen.to_string(), "127.0.0.1:9806");
    assert_eq!(plan.log, LogSettings::default());
    assert_eq!(plan.log.level, "info");
    assert_eq!(plan.shutdown_grace, secs(5));
    assert_eq!(plan.state_dir, Some(PathBuf::from("/var/lib/reachd")));
    assert_eq!(
        plan.concurrency,
        BTreeMap::from([
            (Protocol::Icmp, 10_000),
            (Protocol::Ssh, 100),
            (Protocol::Telnet, 100)
        ])
    );
    let plan = ok(fx.main(
        "listen: \"[::1]:9100\"\nlog: {format: json, level: \"reachd=debug,warn\"}\nshutdown_grace: 1.5\n\
         state_dir: /srv/reachd\ndevices:\n  - name: r1\n    address: 192.0.2.1\n",
    ));
    assert_eq!(plan.listen.to_string(), "[::1]:9100");
    assert_eq!(plan.log.format, LogFormat::Json);
    assert_eq!(plan.log.level, "reachd=debug,warn");
    assert_eq!(plan.shutdown_grace, ms(1500));
    assert_eq!(plan.state_dir, Some(PathBuf::from("/srv/reachd")));
    // No config at all: built-in settings.
    fx.write("inv.yaml", "- name: r1\n  address: 192.0.2.1\n");
    let fx2 = Fx::new();
    fx2.write("inv.yaml", "- name: r1\n  address: 192.0.2.1\n");
    let plan = ok(fx2.inventories(&["inv.yaml"]));
    assert_eq!(plan.state_dir, None);
    assert_eq!(plan.listen, DEFAULT_LISTEN);
}

#[test]
fn host_key_values_and_yaml_off() {
    let fx = Fx::new();
    let text = "profiles:\n  p: {username: u, password: p, checks: [ssh]}\ndevices:\n\
                \x20 - {name: a, address: 192.0.2.1, profile: p, ssh: {host_key: off}}\n\
                \x20 - {name: b, address: 192.0.2.2, profile: p, ssh: {host_key: strict}}\n\
                \x20 - {name: c, address: 192.0.2.3, profile: p, ssh: {host_key: accept-new, enable: true}}\n";
    let plan = ok(fx.main(text));
    let hk = |d: &str| session(&target(&plan, d, Protocol::Ssh)).host_key;
    assert_eq!(hk("a"), HostKeyPolicy::Off);
    assert_eq!(hk("b"), HostKeyPolicy::Strict);
    assert_eq!(hk("c"), HostKeyPolicy::AcceptNew);
    assert!(session(&target(&plan, "c", Protocol::Ssh)).enable);
}

#[test]
fn example_configs_load() {
    let fx = Fx::new()
        .env("REACHD_LAB_PASSWORD", "x")
        .env("REACHD_LAB_ENABLE", "y")
        .env("REACHD_VTY_PASSWORD", "z")
        .env("REACHD_R2_PASSWORD", "w");
    let plan = ok(fx.load(&Sources {
        config: Some(example("reachd.example.yaml")),
        inventories: vec![],
    }));
    let names: Vec<&str> = plan.devices.iter().map(|d| &*d.name).collect();
    assert_eq!(
        names,
        [
            "core1.fra1",
            "sw1.fra1",
            "upstream-gw",
            "192.0.2.1",
            "r2.lab",
            "192.0.2.11"
        ]
    );
    let core = target(&plan, "core1.fra1", Protocol::Telnet);
    assert_eq!(session(&core).port, 2323);
    assert_eq!(core.timeout, secs(20));
    assert_eq!(
        session(&target(&plan, "core1.fra1", Protocol::Ssh)).host_key,
        HostKeyPolicy::Off
    );
    assert_eq!(plan.targets.len(), 3 + 2 + 1 + 2 + 2 + 2);

    let plan = ok(fx.load(&Sources {
        config: None,
        inventories: vec![example("devices.scrapli.yaml")],
    }));
    assert_eq!(plan.devices.len(), 3);
    assert_eq!(plan.targets.len(), 6);
    // Without the environment it names, the example fails at that line.
    let bare = Fx::new();
    let e = bare
        .load(&Sources {
            config: None,
            inventories: vec![example("devices.scrapli.yaml")],
        })
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with(
            "devices.scrapli.yaml:55:18: [1].auth_password: environment variable \
             `REACHD_R2_PASSWORD` is not set"
        ),
        "{e}"
    );
}

#[test]
fn targets_are_in_device_order_then_protocol_order() {
    let fx = Fx::new();
    let text = "profiles:\n  p: {username: u, password: p}\ndevices:\n\
                \x20 - {name: z, address: 192.0.2.1, profile: p, checks: [telnet, ssh, icmp]}\n\
                \x20 - {name: a, address: 192.0.2.2}\n";
    let plan = ok(fx.main(text));
    let keys: Vec<String> = plan.targets.iter().map(|t| t.key().to_string()).collect();
    assert_eq!(keys, ["z/icmp", "z/ssh", "z/telnet", "a/icmp"]);
}

#[test]
fn duplicate_yaml_keys() {
    let fx = Fx::new();
    let r = fx.main("devices:\n  - name: r1\n    address: 192.0.2.1\n    labels: {a: 1, a: 2}\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:4:13: devices[0].labels: duplicate entry with key \"a\""
    );
    assert_eq!(
        fx.error(fx.main("devices: []\ndevices: []\n")),
        "main.yaml:1:1: duplicate entry with key \"devices\""
    );
    fx.write("i.yaml", "- name: r1\n  address: 192.0.2.1\n  name: r2\n");
    assert_eq!(
        fx.error(fx.inventories(&["i.yaml"])),
        "i.yaml:1:3: [0]: duplicate entry with key \"name\""
    );
}

#[test]
fn yaml_merge_keys_are_refused_plainly() {
    let fx = Fx::new();
    let r = fx.main("defaults: &d {icmp: {count: 2}}\nprofiles:\n  p: {<<: *d}\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:3:7: profiles.p.<<: YAML merge keys (`<<`) are not supported: put shared \
         settings in a profile"
    );
}

#[test]
fn odd_input_never_panics() {
    let fx = Fx::new();
    let odd = [
        "\u{feff}devices: []\n",
        "devices:\n  - &a {name: r1, address: 192.0.2.1}\n  - *a\n",
        "devices:\n  - {name: r1, address: 192.0.2.1, icmp: {timeout: \"５s\"}}\n",
        "devices:\n  - {name: r1, address: 192.0.2.1, icmp: {timeout: 1e400}}\n",
        "devices:\n  - {name: r1, address: 192.0.2.1, icmp: {timeout: .nan}}\n",
        "devices:\n  - {name: \"r\\u0001\", address: 192.0.2.1}\n",
        "devices:\n  - {name: r1, address: \"é.example\"}\n",
        "devices:\n  - {name: r1, address: 192.0.2.1, labels: {é: x}}\n",
        "devices:\n  - {name: r1, address: 192.0.2.1, checks: [[icmp]]}\n",
        "devices:\n  - !custom {name: r1, address: 192.0.2.1}\n",
        "listen: !!binary aGVsbG8=\n",
        "--- \n...\n",
        "a: 1\n---\nb: 2\n",
        &"[".repeat(200),
        "\t",
        "devices:\n  - name: r1\n    address: 192.0.2.1\n    ssh: {kex: [\"+a\", \"b\"]}\n",
    ];
    for text in odd {
        let _ = fx.main(text);
    }
    for text in [
        "５s",
        "1.s",
        ".5s",
        "1e3s",
        "9999999999999999999h",
        "1ms5",
        "1hh",
    ] {
        let _ = duration::parse(text);
    }
}

#[test]
fn plan_and_errors_cross_threads() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Plan>();
    send_sync::<ConfigErrors>();
}

/// Digits and dots that are no IPv4 address are refused, never sent to the
/// resolver as a host name: in the main file's devices, native inventories
/// and scrapli inventories.
#[test]
fn digits_and_dots_must_be_an_ipv4_address() {
    let fx = Fx::new();
    for bad in [
        "999.1.1.1",
        "127.0.1.300",
        "10.0.0",
        "1.2.3.4.5",
        "12345",
        "1.2.3.4.",
    ] {
        assert_eq!(
            fx.error(fx.main(&format!("devices:\n  - name: r1\n    address: {bad}\n"))),
            format!(
                "main.yaml:3:14: devices[0].address: invalid address `{bad}`: only digits and \
                 dots, but not an IPv4 address (four numbers from 0 to 255)"
            ),
            "{bad}"
        );
    }
    // Zero-padded octets (octal to inet_aton) get a hint.
    assert_eq!(
        fx.error(fx.main("devices:\n  - name: r1\n    address: 010.020.030.040\n")),
        "main.yaml:3:14: devices[0].address: invalid address `010.020.030.040`: only digits \
         and dots, but not an IPv4 address (four numbers from 0 to 255, without leading zeros)"
    );
    fx.write("native.yaml", "- name: r1\n  address: 127.0.1.300\n");
    assert_eq!(
        fx.error(fx.inventories(&["native.yaml"])),
        "native.yaml:2:12: [0].address: invalid address `127.0.1.300`: only digits and dots, \
         but not an IPv4 address (four numbers from 0 to 255)"
    );
    fx.write(
        "scrapli.yaml",
        "- host: 999.1.1.1\n  auth_username: u\n  auth_password: p\n",
    );
    assert_eq!(
        fx.error(fx.inventories(&["scrapli.yaml"])),
        "scrapli.yaml:1:9: [0].host: invalid address `999.1.1.1`: only digits and dots, \
         but not an IPv4 address (four numbers from 0 to 255)"
    );
    // Real addresses and names with digits still pass.
    for good in [
        "127.0.1.254",
        "0.0.0.0",
        "10.1.2.3",
        "r1.10",
        "1.2.3.4a",
        "2001:db8::1",
    ] {
        ok(fx.main(&format!("devices:\n  - name: r1\n    address: {good}\n")));
    }
}

/// User labels that `reachd_device_info` sets itself are refused, wherever
/// they are written: `address` (it vanished) and `platform` (it overrode the
/// device's platform).
#[test]
fn labels_that_device_info_sets_itself_are_refused() {
    let fx = Fx::new();
    let dev = |extra: &str| format!("devices:\n  - name: r1\n    address: 192.0.2.1\n{extra}");
    assert_eq!(
        fx.error(fx.main(&dev("    labels: {site: a, address: x}\n"))),
        "main.yaml:4:23: devices[0].labels.address: label name `address` is reserved \
         (reachd_device_info carries the device's address as `address`)"
    );
    assert_eq!(
        fx.error(fx.main(&dev(
            "    platform: cisco_iosxe\n    labels: {platform: junos}\n"
        ))),
        "main.yaml:5:14: devices[0].labels.platform: label name `platform` is reserved \
         (set `platform:` on the device or its profile: reachd_device_info carries it as \
         `platform`)"
    );
    assert_eq!(
        fx.error(fx.main("profiles:\n  p: {labels: {platform: x}}\n")),
        "main.yaml:2:16: profiles.p.labels.platform: label name `platform` is reserved \
         (set `platform:` on the device or its profile: reachd_device_info carries it as \
         `platform`)"
    );
    fx.write(
        "scrapli.yaml",
        "- host: 192.0.2.1\n  auth_username: u\n  auth_password: p\n  labels: {address: x}\n",
    );
    assert_eq!(
        fx.error(fx.inventories(&["scrapli.yaml"])),
        "scrapli.yaml:4:12: [0].labels.address: label name `address` is reserved \
         (reachd_device_info carries the device's address as `address`)"
    );
}

/// Intervals: at least 100ms for icmp, 1s for ssh and telnet, wherever an
/// interval is written; just at the limit passes, just under fails.
#[test]
fn intervals_have_a_floor() {
    let fx = Fx::new();
    let msg = "is shorter than the minimum (icmp: 100ms, ssh and telnet: 1s)";
    assert_eq!(
        fx.error(fx.main("defaults:\n  icmp:\n    interval: 0.000001\n")),
        format!("main.yaml:3:15: defaults.icmp.interval: interval 1µs {msg}")
    );
    assert_eq!(
        fx.error(fx.main("defaults:\n  icmp: {interval: 99ms, timeout: 99ms, count: 1}\n")),
        format!("main.yaml:2:20: defaults.icmp.interval: interval 99ms {msg}")
    );
    let p = ok(fx.main(
        "defaults:\n  icmp: {interval: 100ms, timeout: 100ms, count: 1}\n\
         devices:\n  - {name: r1, address: 192.0.2.1}\n",
    ));
    assert_eq!(target(&p, "r1", Protocol::Icmp).interval, ms(100));

    let dev = |proto: &str, interval: &str| {
        format!(
            "devices:\n  - name: r1\n    address: 192.0.2.1\n    checks: [{proto}]\n    \
             username: u\n    password: pw\n    {proto}: {{interval: {interval}, timeout: 500ms}}\n"
        )
    };
    for proto in ["ssh", "telnet"] {
        assert_eq!(
            fx.error(fx.main(&dev(proto, "999ms"))),
            format!(
                "main.yaml:7:{}: devices[0].{proto}.interval: interval 999ms {msg}",
                18 + proto.len()
            ),
            "{proto}"
        );
        let p = ok(fx.main(&dev(proto, "1s")));
        assert_eq!(target(&p, "r1", proto.parse().unwrap()).interval, secs(1));
    }
    assert_eq!(
        fx.error(fx.main("profiles:\n  p: {ssh: {interval: 0.5}}\n")),
        format!("main.yaml:2:23: profiles.p.ssh.interval: interval 500ms {msg}")
    );
}

/// Device names, label names, label values and platforms (which all end up
/// as metric label values): at most 256 bytes.
#[test]
fn names_and_labels_have_a_length_limit() {
    let fx = Fx::new();
    let at = "a".repeat(256);
    let over = "a".repeat(257);
    // Multi-byte characters count in bytes: 128 × 2 bytes is the limit.
    let at_wide = "é".repeat(128);
    let over_wide = format!("{at_wide}x");
    let dev = |name: &str, extra: &str| {
        format!("devices:\n  - name: \"{name}\"\n    address: 192.0.2.1\n{extra}")
    };
    for name in [&at, &at_wide] {
        let p = ok(fx.main(&dev(name, "")));
        assert_eq!(&*p.devices[0].name, name.as_str());
    }
    for name in [&over, &over_wide] {
        assert_eq!(
            fx.error(fx.main(&dev(name, ""))),
            "main.yaml:2:11: devices[0].name: device name is 257 bytes long (at most 256)"
        );
    }
    // scrapli's `name` too.
    fx.write(
        "s.yaml",
        &format!("- host: 192.0.2.1\n  name: {over}\n  checks: [icmp]\n"),
    );
    assert_eq!(
        fx.error(fx.inventories(&["s.yaml"])),
        "s.yaml:2:9: [0].name: device name is 257 bytes long (at most 256)"
    );

    let p = ok(fx.main(&dev("r1", &format!("    labels: {{{at}: {at}}}\n"))));
    assert_eq!(p.devices[0].labels.get(&at), Some(&at));
    assert_eq!(
        fx.error(fx.main(&dev("r1", &format!("    labels: {{{over}: x}}\n")))),
        format!(
            "main.yaml:4:14: devices[0].labels.{over}: label name is 257 bytes long (at most 256)"
        )
    );
    assert_eq!(
        fx.error(fx.main(&dev("r1", &format!("    labels: {{site: {over}}}\n")))),
        "main.yaml:4:20: devices[0].labels.site: label value is 257 bytes long (at most 256)"
    );
    assert_eq!(
        fx.error(fx.main(&dev(
            "r1",
            &format!("    labels: {{site: \"{over_wide}\"}}\n")
        ))),
        "main.yaml:4:20: devices[0].labels.site: label value is 257 bytes long (at most 256)"
    );

    let p = ok(fx.main(&dev("r1", &format!("    platform: {at}\n"))));
    assert_eq!(p.devices[0].labels.get("platform"), Some(&at));
    assert_eq!(
        fx.error(fx.main(&dev("r1", &format!("    platform: {over}\n")))),
        "main.yaml:4:15: devices[0].platform: platform is 257 bytes long (at most 256; it is \
         the `platform` label of reachd_device_info)"
    );
    fx.write(
        "p.yaml",
        &format!("- host: 192.0.2.1\n  platform: {over}\n  checks: [icmp]\n"),
    );
    assert_eq!(
        fx.error(fx.inventories(&["p.yaml"])),
        "p.yaml:2:13: [0].platform: platform is 257 bytes long (at most 256; it is \
         the `platform` label of reachd_device_info)"
    );
}

/// 100,000 levels of flow nesting (200 KB; quadratic in the YAML parser:
/// 23.6 s) are refused at once, at the bracket that goes too deep, in the
/// main file and in an inventory.
#[test]
fn deep_nesting_is_refused_before_parsing() {
    let fx = Fx::new();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        fx.error(fx.main(&format!("devices: {deep}\n"))),
        "main.yaml:1:74: nesting deeper than 64 levels (reachd's files need a handful)"
    );
    fx.write(
        "inv.yaml",
        &format!("- {{name: r1, address: 192.0.2.1, labels: {deep}}}\n"),
    );
    assert_eq!(
        fx.error(fx.inventories(&["inv.yaml"])),
        "inv.yaml:1:105: nesting deeper than 64 levels (reachd's files need a handful)"
    );
    // 64 levels are still parsed (and refused for what they are).
    let r = fx.main(&format!("devices: {}{}\n", "[".repeat(64), "]".repeat(64)));
    assert!(!fx.error(r).contains("nesting"));
}

#[test]
fn http_settings_and_web_config() {
    let fx = Fx::new();
    let dev = "devices:\n  - name: r1\n    address: 192.0.2.1\n";
    let plan = ok(fx.main(dev));
    assert_eq!(plan.http, HttpSettings::default());
    assert_eq!(plan.http.limits.max_connections, 128);
    assert_eq!(plan.http.limits.header_timeout, secs(5));
    assert_eq!(plan.http.limits.idle_timeout, secs(30));
    assert_eq!(plan.http.limits.max_body_bytes, 65536);
    assert!(!plan.http.enable_lifecycle);
    assert_eq!(plan.http.web_config, None);

    let plan = ok(fx.main(&format!(
        "http:\n  max_connections: 16\n  header_timeout: 2s\n  idle_timeout: 1m\n  \
         max_body_bytes: 1024\n  enable_lifecycle: true\nweb_config: web.yml\n{dev}"
    )));
    let l = plan.http.limits;
    assert_eq!(l.max_connections, 16);
    assert_eq!(l.header_timeout, secs(2));
    assert_eq!(l.idle_timeout, secs(60));
    assert_eq!(l.max_body_bytes, 1024);
    assert!(plan.http.enable_lifecycle);
    // Relative to the main file, like every path in it.
    let web = plan.http.web_config.unwrap();
    assert!(
        web.is_absolute() && web.ends_with("web.yml"),
        "{}",
        web.display()
    );

    let r = fx.main(&format!("http:\n  max_conections: 5\n{dev}"));
    assert_eq!(
        fx.error(r),
        "main.yaml:2:3: http.max_conections: unknown field `max_conections`, did you mean \
         `max_connections`?"
    );
    let r = fx.main(&format!("http:\n  max_connections: 0\n{dev}"));
    assert_eq!(
        fx.error(r),
        "main.yaml:2:20: http.max_connections: 0 is out of range (expected 1 to 65536)"
    );
    let r = fx.main(&format!("http:\n  header_timeout: 0s\n{dev}"));
    assert_eq!(
        fx.error(r),
        "main.yaml:2:19: http.header_timeout: must be greater than 0"
    );
    let r = fx.main(&format!("web_config: \"\"\n{dev}"));
    assert!(
        fx.error(r)
            .starts_with("main.yaml:1:13: web_config: must not be empty")
    );
}
