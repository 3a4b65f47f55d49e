//! Tests of the loader that need code. Files in, a plan or errors out, is
//! tested by the fixtures in `tests/config/` (run by
//! `tests/config_fixtures.rs`); what stays here needs an API call, a file too
//! large to keep in the repository, or a look at `Debug`.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

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
            ..Default::default()
        })
    }

    fn inventories(&self, files: &[&str]) -> Result<Plan, ConfigErrors> {
        self.load(&Sources {
            config: None,
            inventories: files.iter().map(|f| self.dir.join(f)).collect(),
            ..Default::default()
        })
    }

    /// The one error, with the directory left out of its path.
    fn error(&self, r: Result<Plan, ConfigErrors>) -> String {
        let errs = match r {
            Ok(plan) => panic!("expected errors, got {plan:#?}"),
            Err(e) => e,
        };
        assert_eq!(errs.0.len(), 1, "{errs:#?}");
        errs.0[0]
            .to_string()
            .replace(&format!("{}/", self.dir.display()), "")
    }
}

impl Drop for Fx {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// No sources at all: only the API can ask (`reachd validate` refuses it
/// as a usage error before loading).
#[test]
fn no_sources_at_all_is_no_devices() {
    let fx = Fx::new();
    assert_eq!(
        fx.error(fx.load(&Sources::default())),
        "no devices configured (add `devices:` or `inventory:` to the config file, or pass \
         --inventory FILE)"
    );
}

/// A secret file just over 64 KiB (too large a file to keep as a fixture).
#[test]
fn a_secret_file_over_64_kib_is_refused() {
    let fx = Fx::new();
    fx.write("big.pw", &"x".repeat(64 * 1024 + 1));
    let r =
        fx.main("devices:\n  - name: r1\n    address: 192.0.2.1\n    password: {file: big.pw}\n");
    assert_eq!(
        fx.error(r),
        "main.yaml:4:15: devices[0].password: secret file `big.pw` is too large for a secret \
         (over 64 KiB)"
    );
}

#[test]
fn load_reads_the_real_environment() {
    // `load` itself, on a file that needs no environment.
    let plan = load(&Sources {
        config: None,
        inventories: vec![data("devices_asyncssh.yaml")],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(plan.targets.len(), 8);
}

/// The seeds' passwords are plain text in their file: the plan's `Debug`
/// shows none of them (the fixture `valid-seeds-scrapli-inventory-verbatim-1`
/// shows what they resolve to).
#[test]
fn plan_debug_redacts_passwords() {
    let fx = Fx::new();
    let plan = fx
        .load(&Sources {
            config: None,
            inventories: vec![data("devices_asyncssh.yaml")],
            ..Default::default()
        })
        .unwrap();
    let debug = format!("{plan:?}");
    assert!(!debug.contains("ciscoe"));
    assert!(!debug.contains("password: Some(\"cisco"));
    assert!(debug.contains("password: Some(Secret(<redacted>))"));
}

#[test]
fn odd_durations_never_panic() {
    // Odd YAML, as files: the fixtures `*-odd-input-never-panics-*`.
    for text in [
        "５s",
        "1.s",
        ".5s",
        "1e3s",
        "9999999999999999999h",
        "1ms5",
        "1hh",
    ] {
        let _ = crate::settings::duration::parse(text);
    }
}

#[test]
fn plan_and_errors_cross_threads() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Plan>();
    send_sync::<ConfigErrors>();
}

/// 100,000 levels of flow nesting (200 KB; quadratic in the YAML parser:
/// 23.6 s) are refused at once, at the bracket that goes too deep, in the
/// main file and in an inventory. (64 levels are still parsed: the fixture
/// `invalid-deep-nesting-is-refused-before-parsing-1`.)
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
}

/// A NetBox source's snapshot put in a store of `mode`, and the plan
/// loaded through it (nothing is fetched: the snapshot is cached).
fn with_snapshot(
    fx: &Fx,
    store: &Arc<Store>,
    entries: Vec<serde_yaml::Value>,
) -> Result<Plan, ConfigErrors> {
    let main = fx.write(
        "main.yaml",
        "profiles: {lab: {checks: [ssh], username: u, password: p}}\n\
         inventory:\n  - netbox: {url: 'http://127.0.0.1:9', name: nb, profile: lab}\n",
    );
    let offline = Sources {
        config: Some(main.clone()),
        store: Remote(Arc::new(Store::new(crate::inventory::Mode::Offline))),
        ..Default::default()
    };
    let source = fx.load(&offline).unwrap().remote.remove(0);
    let snapshot = crate::inventory::Snapshot {
        entries: entries
            .into_iter()
            .enumerate()
            .map(|(i, value)| crate::inventory::Entry {
                origin: format!("device (id {i})"),
                value,
            })
            .collect(),
        ..Default::default()
    };
    store.put(&source, snapshot);
    fx.load(&Sources {
        config: Some(main),
        store: Remote(store.clone()),
        ..Default::default()
    })
}

fn ssh_port(plan: &Plan, device: &str) -> u16 {
    let t = plan
        .targets
        .iter()
        .find(|t| &*t.device == device && t.protocol == Protocol::Ssh)
        .unwrap();
    match &t.spec {
        crate::target::CheckSpec::Ssh(s) => s.port,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_remote_device_whose_settings_turn_invalid_keeps_its_last_good_ones_in_the_daemon() {
    let fx = Fx::new();
    let entry = |port: &str| {
        serde_yaml::from_str::<serde_yaml::Value>(&format!(
            "{{name: r1, address: 127.0.0.2, ssh: {{port: {port}}}}}"
        ))
        .unwrap()
    };
    let other = serde_yaml::from_str("{name: r2, address: 127.0.0.3}").unwrap();
    let lenient = Arc::new(Store::new(crate::inventory::Mode::Lenient));
    let plan = with_snapshot(&fx, &lenient, vec![entry("2222"), other]).unwrap();
    assert_eq!(ssh_port(&plan, "r1"), 2222);
    assert_eq!(plan.sources[0].devices, 2);

    // At the source, r1's port turns into a word: the daemon keeps 2222.
    let bad = vec![
        entry("twenty"),
        serde_yaml::from_str("{name: r2, address: 127.0.0.3}").unwrap(),
    ];
    let plan = with_snapshot(&fx, &lenient, bad.clone()).unwrap();
    assert_eq!(ssh_port(&plan, "r1"), 2222);
    let report = &plan.sources[0];
    assert_eq!((report.devices, report.stale, report.skipped), (2, 1, 0));
    assert!(
        report.stale_examples[0].contains("netbox nb: device (id 0): ssh.port")
            && report.stale_examples[0].contains("last good settings are kept"),
        "{report:?}"
    );

    // `validate` and `check` say what is wrong, naming the device.
    let strict = Arc::new(Store::default());
    let err = with_snapshot(&fx, &strict, bad).unwrap_err().to_string();
    assert!(
        err.starts_with("netbox nb: device (id 0): ssh.port: "),
        "{err}"
    );

    // A device never seen good is left out, and counted.
    let fresh = Arc::new(Store::new(crate::inventory::Mode::Lenient));
    let plan = with_snapshot(&fx, &fresh, vec![entry("twenty")]).unwrap();
    assert!(plan.devices.is_empty());
    assert_eq!(plan.sources[0].skipped, 1);
}

/// `source_address` / `source_interface`: field by field down the cascade,
/// the shorthand beside the blocks standing for every block of its level.
#[test]
fn source_cascade() {
    let fx = Fx::new();
    let plan = fx
        .main(
            "defaults:\n  source_interface: mgmt0\n  icmp: {source_address: 198.18.5.1}\n\
             profiles:\n  acl:\n    checks: [icmp, ssh, telnet]\n    username: u\n    password: p\n    \
             source_address: 198.18.5.2\n    telnet: {source_address: 198.18.5.3}\n\
             devices:\n  - {name: a, address: 198.18.0.1}\n  \
             - {name: b, address: 198.18.0.2, profile: acl}\n  \
             - {name: c, address: 198.18.0.3, profile: acl, source_interface: vrf-mgmt, \
             ssh: {source_interface: eth1, source_address: 198.18.5.4}}\n",
        )
        .unwrap();
    let src = |d: &str, p: Protocol| {
        let t = plan
            .targets
            .iter()
            .find(|t| &*t.device == d && t.protocol == p)
            .unwrap();
        (
            t.source.address.map(|a| a.to_string()),
            t.source.interface.clone(),
        )
    };
    let s = |a: &str, i: &str| (Some(a.to_owned()), Some(i.to_owned()));
    // defaults: the icmp block's address, the shorthand's interface.
    assert_eq!(src("a", Protocol::Icmp), s("198.18.5.1", "mgmt0"));
    // a profile's shorthand beats defaults: for every check…
    assert_eq!(src("b", Protocol::Icmp), s("198.18.5.2", "mgmt0"));
    assert_eq!(src("b", Protocol::Ssh), s("198.18.5.2", "mgmt0"));
    // …but its own block beats its shorthand.
    assert_eq!(src("b", Protocol::Telnet), s("198.18.5.3", "mgmt0"));
    // a device's shorthand beats the profile; its block beats both.
    assert_eq!(src("c", Protocol::Icmp), s("198.18.5.2", "vrf-mgmt"));
    assert_eq!(src("c", Protocol::Telnet), s("198.18.5.3", "vrf-mgmt"));
    assert_eq!(src("c", Protocol::Ssh), s("198.18.5.4", "eth1"));
    // Without any, the default source.
    let plan = fx
        .main("devices:\n  - {name: a, address: 198.18.0.1}\n")
        .unwrap();
    assert!(plan.targets[0].source.is_default());
}
