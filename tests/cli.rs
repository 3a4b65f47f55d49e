//! The command line as a user meets it: exit codes, the JSON contract,
//! error messages. Only loopback addresses and `.invalid` names (which never
//! reach a resolver) are checked.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn reachd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reachd"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run reachd")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let d = std::env::temp_dir().join(format!("reachd-cli-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn file(&self, name: &str, body: &str) -> String {
        let p = self.0.join(name);
        std::fs::File::create(&p)
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        p.to_string_lossy().into_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const LOOPBACK: &str = "
defaults:
  icmp: {count: 2, spacing: 50ms, timeout: 1s}
devices:
  - {name: r1, address: 127.0.0.1, labels: {site: lab}}
  - {name: r2, address: 127.0.0.2}
";

#[test]
fn check_prints_json_lines_with_the_contract_fields_and_exits_0_when_all_up() {
    let d = Dir::new("json");
    let cfg = d.file("c.yaml", LOOPBACK);
    let o = reachd(&["check", "--config", &cfg, "--format", "json"]);
    assert_eq!(code(&o), 0, "stderr: {}", text(&o.stderr));
    let rows: Vec<serde_json::Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(rows.len(), 2);
    for (row, name) in rows.iter().zip(["r1", "r2"]) {
        assert_eq!(row["device"], name);
        assert_eq!(row["protocol"], "icmp");
        assert_eq!(row["up"], true);
        assert_eq!(row["reason"], "ok");
        assert_eq!(row["phase"], "connect");
        assert_eq!(row["icmp"]["sent"], 2);
        assert_eq!(row["icmp"]["received"], 2);
        assert!(row["phases"]["connect"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn check_exits_1_and_says_why_when_something_is_down() {
    let d = Dir::new("down");
    let cfg = d.file(
        "c.yaml",
        &format!("{LOOPBACK}  - {{name: r9, address: r9.lab.invalid}}\n"),
    );
    let o = reachd(&["check", "--config", &cfg]);
    assert_eq!(code(&o), 1);
    let out = text(&o.stdout);
    let r9 = out
        .lines()
        .find(|l| l.starts_with("r9 "))
        .expect("a row for r9");
    assert!(
        r9.contains("DOWN") && r9.contains("dns") && r9.contains("resolve"),
        "{r9}"
    );
    assert!(out.contains("3 checks: 2 up, 1 down"), "{out}");
}

#[test]
fn check_narrows_to_devices_and_refuses_unknown_ones() {
    let d = Dir::new("narrow");
    let cfg = d.file("c.yaml", LOOPBACK);
    let o = reachd(&[
        "check", "--config", &cfg, "--device", "r2", "--format", "json",
    ]);
    assert_eq!(code(&o), 0);
    assert_eq!(text(&o.stdout).lines().count(), 1);
    assert!(text(&o.stdout).contains(r#""device":"r2""#));

    let o = reachd(&["check", "--config", &cfg, "--device", "nope"]);
    assert_eq!(code(&o), 2);
    assert!(text(&o.stderr).contains("no device named `nope`"));
}

#[test]
fn a_scrapli_inventory_alone_is_a_whole_scan() {
    // The seeds' format, pointed at loopback.
    let d = Dir::new("scrapli");
    let inv = d.file(
        "devices_asyncssh.yaml",
        "- host: 127.0.0.1\n  auth_username: cisco\n  auth_password: cisco\n  auth_secondary: cisco\n  \
         auth_strict_key: false\n  timeout_socket: 5\n  timeout_transport: 10\n  platform: cisco_iosxe\n  \
         transport: asyncssh\n",
    );
    let o = reachd(&[
        "check",
        "--inventory",
        &inv,
        "--protocol",
        "icmp",
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains(r#""device":"127.0.0.1","protocol":"icmp""#));
}

#[test]
fn validate_names_file_line_column_and_field_and_exits_2() {
    let d = Dir::new("validate");
    let cfg = d.file(
        "bad.yaml",
        "devices:\n  - name: r1\n    adress: 127.0.0.1\n",
    );
    let o = reachd(&["validate", "--config", &cfg]);
    assert_eq!(code(&o), 2);
    assert_eq!(
        text(&o.stderr).trim(),
        format!("{cfg}:3:5: devices[0].adress: unknown field `adress`, did you mean `address`?")
    );
    let o = reachd(&["run", "--config", &cfg]);
    assert_eq!(code(&o), 2, "run refuses a bad config too");
}

#[test]
fn validate_accepts_the_shipped_examples() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = Command::new(env!("CARGO_BIN_EXE_reachd"))
        .args(["validate", "--config"])
        .arg(root.join("config/reachd.example.yaml"))
        .env("REACHD_LAB_PASSWORD", "x")
        .env("REACHD_LAB_ENABLE", "x")
        .env("REACHD_VTY_PASSWORD", "x")
        .env("REACHD_R2_PASSWORD", "x")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(text(&o.stdout).starts_with("ok: "), "{}", text(&o.stdout));
    // The remote sources' examples name hosts that must not be reached:
    // their settings are checked offline.
    for (example, sources) in [
        (
            "netbox.example.yaml",
            &["netbox netbox-fra1", "netbox netbox-fra1-consoles"][..],
        ),
        ("http_sd.example.yaml", &["http_sd netbox-sd"][..]),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_reachd"))
            .args(["validate", "--offline", "--config"])
            .arg(root.join("config").join(example))
            .env("NETBOX_TOKEN", "x")
            .env("REACHD_IOS_PASSWORD", "x")
            .env("REACHD_IOS_ENABLE", "x")
            .env("REACHD_LAB_PASSWORD", "x")
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{example}: {}", text(&o.stderr));
        let out = text(&o.stdout);
        for s in sources {
            assert!(
                out.contains(&format!("{s}: not read (--offline)")),
                "{example}: {out}"
            );
        }
        assert!(out.contains("ok: 0 devices"), "{example}: {out}");
    }
}

#[test]
fn inventory_prints_resolved_devices_and_never_a_secret() {
    let d = Dir::new("inventory");
    let hosts = d.file(
        "hosts.yaml",
        "r1:\n  hostname: 192.0.2.1\n  groups: [ios]\n  data: {site: fra1, rack: 7}\n\
         sw1:\n  hostname: sw1.example.invalid\n  platform: cisco_ios_telnet\n  port: 2323\n",
    );
    d.file(
        "groups.yaml",
        "ios:\n  platform: cisco_ios\n  connection_options:\n    netmiko:\n      \
         extras: {secret: s3cret-enable-4711}\n",
    );
    d.file(
        "defaults.yaml",
        "username: netops\npassword: s3cret-password-4711\n",
    );
    let o = reachd(&["inventory", "--inventory", &hosts, "--format", "json"]);
    assert_eq!(code(&o), 0, "stderr: {}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(!out.contains("s3cret"), "{out}");
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(rows[0]["name"], "r1");
    assert_eq!(rows[0]["address"], "192.0.2.1");
    assert_eq!(
        rows[0]["labels"],
        serde_json::json!({"platform": "cisco_ios", "rack": "7", "site": "fra1"})
    );
    assert_eq!(
        rows[0]["checks"][0],
        serde_json::json!({"protocol": "icmp"})
    );
    let ssh = &rows[0]["checks"][1];
    assert_eq!(ssh["protocol"], "ssh");
    assert_eq!(ssh["port"], 22);
    assert_eq!(ssh["username"], "netops");
    assert_eq!(ssh["password_set"], true);
    assert_eq!(ssh["enable_password_set"], true);
    let telnet = &rows[1]["checks"][1];
    assert_eq!(rows[1]["address"], "sw1.example.invalid");
    assert_eq!(telnet["protocol"], "telnet");
    assert_eq!(telnet["port"], 2323);
    assert_eq!(telnet["enable_password_set"], false);

    let o = reachd(&["inventory", "--inventory", &hosts]);
    assert_eq!(code(&o), 0, "stderr: {}", text(&o.stderr));
    let table = text(&o.stdout);
    assert!(table.starts_with("DEVICE"), "{table}");
    assert!(
        table.contains("ssh:22(user=netops,password,enable)"),
        "{table}"
    );
    assert!(!table.contains("s3cret"), "{table}");

    let bad = d.file("bad.yaml", "r1:\n  hostnme: 192.0.2.1\n");
    let o = reachd(&["inventory", "--inventory", &bad]);
    assert_eq!(code(&o), 2);
    assert_eq!(
        text(&o.stderr).trim(),
        format!("{bad}:2:3: r1.hostnme: unknown field `hostnme`, did you mean `hostname`?")
    );
    assert_eq!(code(&reachd(&["inventory"])), 2, "no sources: usage error");
}

#[test]
fn inventory_shows_parents_and_ends_quietly_when_its_reader_goes() {
    let d = Dir::new("inventory-pipe");
    let mut list = String::from("- {name: core1, address: 192.0.2.1}\n");
    for i in 0..3000 {
        list.push_str(&format!(
            "- {{name: sw{i}, address: 192.0.2.2, parents: [core1]}}\n"
        ));
    }
    let file = d.file("devices.yaml", &list);
    let o = reachd(&["inventory", "--inventory", &file]);
    let out = text(&o.stdout);
    let line = out
        .lines()
        .find(|l| l.starts_with("sw7 "))
        .unwrap_or_default();
    assert!(line.split_whitespace().any(|w| w == "core1"), "{line}");
    assert!(out.lines().next().unwrap_or_default().contains("PARENTS"));
    // `reachd inventory | head -1`: the pipe closes early.
    let mut child = Command::new(env!("CARGO_BIN_EXE_reachd"))
        .args(["inventory", "--format", "json", "--inventory", &file])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    assert!(first.contains("\"parents\":[]"), "{first}");
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 0, "stderr: {}", text(&o.stderr));
    assert!(!text(&o.stderr).contains("panicked"), "{}", text(&o.stderr));
}

#[test]
fn missing_sources_and_bad_flags_are_usage_errors() {
    assert_eq!(code(&reachd(&["check"])), 2);
    assert_eq!(
        code(&reachd(&["check", "--protocol", "http", "-i", "x"])),
        2
    );
    let help = text(&reachd(&["--help"]).stdout);
    for cmd in ["run", "check", "validate", "inventory", "demo", "trace"] {
        assert!(help.contains(cmd), "{help}");
    }
    let help = text(&reachd(&["check", "--help"]).stdout);
    for flag in [
        "--config",
        "--inventory",
        "--protocol",
        "--device",
        "--format",
    ] {
        assert!(help.contains(flag), "{help}");
    }
}

#[test]
fn shards_split_the_devices_between_instances() {
    let d = Dir::new("shard");
    let mut cfg = String::from("defaults: {icmp: {count: 1, timeout: 1s}}\ndevices:\n");
    for i in 0..40 {
        cfg.push_str(&format!("  - {{name: d{i}, address: 127.0.3.{}}}\n", i + 1));
    }
    let cfg = d.file("c.yaml", &cfg);
    let mut seen = Vec::new();
    for shard in ["1/3", "2/3", "3/3"] {
        let o = reachd(&[
            "check", "--config", &cfg, "--shard", shard, "--format", "json",
        ]);
        assert_eq!(code(&o), 0, "{}", text(&o.stderr));
        for line in text(&o.stdout).lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            seen.push(v["device"].as_str().unwrap().to_string());
        }
    }
    seen.sort();
    let mut all: Vec<String> = (0..40).map(|i| format!("d{i}")).collect();
    all.sort();
    assert_eq!(seen, all, "every device checked by exactly one shard");

    // validate checks every device: it takes no --shard that it would ignore.
    let o = reachd(&["validate", "--config", &cfg, "--shard", "1/3"]);
    assert_eq!(code(&o), 2, "stdout: {}", text(&o.stdout));
    assert!(text(&o.stderr).contains("--shard"), "{}", text(&o.stderr));
    assert!(!text(&reachd(&["validate", "--help"]).stdout).contains("--shard"));
}

/// reachd run under `ulimit -n LIMIT` (soft and hard).
fn reachd_limited(limit: u64, args: &[&str]) -> Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_reachd"));
    cmd.args(args).env_remove("RUST_LOG");
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
    unsafe {
        cmd.pre_exec(move || {
            let r = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().expect("run reachd")
}

#[test]
fn concurrency_beyond_the_open_file_limit_is_refused_by_validate_run_and_check() {
    let d = Dir::new("fdlimit");
    let cfg = d.file(
        "c.yaml",
        "listen: 127.0.0.1:0
defaults:
  ssh: {concurrency: 700}
  telnet: {concurrency: 700}
devices:
  - {name: r1, address: 127.0.0.1, checks: [ssh, telnet], username: u, password: p,
     ssh: {port: 1}, telnet: {port: 1}}
",
    );
    let v = reachd_limited(1024, &["validate", "--config", &cfg]);
    assert_eq!(code(&v), 2, "{}", text(&v.stderr));
    let err = text(&v.stderr);
    assert!(err.contains("needs up to"), "{err}");
    assert!(err.contains("RLIMIT_NOFILE) is 1024"), "{err}");
    assert!(err.contains("LimitNOFILE="), "{err}");

    let r = reachd_limited(1024, &["run", "--config", &cfg, "--log-format", "text"]);
    assert_eq!(code(&r), 1, "{}", text(&r.stderr));
    assert!(text(&r.stderr).contains("RLIMIT_NOFILE) is 1024"));

    // The same file fits a limit that holds it, and a one-shot check of one
    // device needs two sockets, not 1,400.
    // (Never above the hard limit this test runs under.)
    let mut hard = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut hard) },
        0
    );
    let ok = reachd_limited(4096.min(hard.rlim_max), &["validate", "--config", &cfg]);
    assert_eq!(code(&ok), 0, "{}", text(&ok.stderr));
    let c = reachd_limited(256, &["check", "--config", &cfg, "--protocol", "ssh"]);
    assert!(
        !text(&c.stderr).contains("RLIMIT_NOFILE"),
        "{}",
        text(&c.stderr)
    );
}

#[test]
fn a_broken_web_config_is_refused_by_validate_and_run() {
    let d = Dir::new("webcfg");
    let web = d.file("web.yml", "basic_auth_users:\n  ops: not-a-hash\n");
    let cfg = d.file(
        "reachd.yaml",
        &format!("listen: 127.0.0.1:0\nweb_config: web.yml\n{LOOPBACK}"),
    );
    let o = reachd(&["validate", "--config", &cfg]);
    assert_eq!(code(&o), 2);
    let err = text(&o.stderr);
    assert!(
        err.starts_with(&format!(
            "{web}:2:8: basic_auth_users.ops: not a bcrypt hash"
        )),
        "{err}"
    );
    assert!(!err.contains("not-a-hash"), "the value is a secret: {err}");
    // The flag, over a config without `web_config:`.
    let plain = d.file("plain.yaml", &format!("listen: 127.0.0.1:0\n{LOOPBACK}"));
    let o = reachd(&["run", "--config", &plain, "--web.config.file", &web]);
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("not a bcrypt hash"),
        "{}",
        text(&o.stderr)
    );
    let missing = d.0.join("missing.yml");
    let o = reachd(&[
        "run",
        "--config",
        &plain,
        "--web.config.file",
        &missing.to_string_lossy(),
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains("cannot read web config file"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn trace_prints_a_line_per_hop_and_exits_0_when_the_device_answers() {
    let o = reachd(&["trace", "127.0.0.1"]);
    assert_eq!(code(&o), 0, "stderr: {}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        " 1  127.0.0.1\npath reaches the device in 1 hop\n"
    );
    let o = reachd(&["trace", "127.0.0.1", "--max-hops", "4", "--format", "json"]);
    assert_eq!(code(&o), 0, "stderr: {}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(v["dest"], "127.0.0.1");
    assert_eq!(v["hops"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(v["reached"], true);
    assert_eq!(v["answered"], 1);
    assert_eq!(v["summary"], "path reaches the device in 1 hop");
    assert!(
        ["unprivileged", "raw"].contains(&v["mode"].as_str().unwrap_or("")),
        "{v}"
    );
}

#[test]
fn trace_takes_an_address_not_a_name() {
    let o = reachd(&["trace", "r1.lab.invalid"]);
    assert_eq!(code(&o), 2);
    let err = text(&o.stderr);
    assert!(
        err.contains("`r1.lab.invalid` is not an IP address"),
        "{err}"
    );
    assert!(err.contains("resolves no names"), "{err}");
    assert!(o.stdout.is_empty());
    let o = reachd(&["trace", "127.0.0.1", "--max-hops", "0"]);
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
}
