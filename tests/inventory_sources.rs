//! Inventory sources kept fresh by the running daemon, end to end: an HTTP
//! SD endpoint that changes, fails and empties, and an inventory file
//! edited in place, replaced by an atomic rename and deleted. The devices
//! monitored follow each good change and survive each failure; the source
//! metrics say which is which. Loopback only: the SD server is a thread
//! here, and the checks are SSH checks to a closed loopback port.

mod daemon;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use daemon::{daemon, free_port, get, metric, until};

/// What the SD endpoint answers: status and body.
type Answer = Arc<Mutex<(u16, String)>>;

/// A one-thread HTTP server answering every request with `answer`.
fn sd_server(answer: Answer) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = c.read(&mut buf);
            let (status, body) = answer.lock().unwrap().clone();
            let _ = write!(
                c,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// The device names `/api/v1/status` lists, sorted.
fn devices(port: u16) -> Vec<String> {
    let body = get(port, "/api/v1/status");
    let json = body.split("\r\n\r\n").nth(1).unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    let mut names: Vec<String> = v["status"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["device"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.dedup();
    names
}

fn sd(names: &[&str]) -> String {
    let targets: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                r#"{{"targets": ["127.0.0.{}"], "labels": {{"__meta_netbox_name": "{n}", "__meta_netbox_site_slug": "lab"}}}}"#,
                i + 2
            )
        })
        .collect();
    format!("[{}]", targets.join(","))
}

/// A test's directory (removed on drop), its SD server answering
/// `answer` (first r1 and r2), reachd's port and a closed port.
struct Setup {
    dir: std::path::PathBuf,
    answer: Answer,
    sd_port: u16,
    port: u16,
    closed: u16,
}

impl Setup {
    fn new(tag: &str) -> Setup {
        let dir = std::env::temp_dir().join(format!("reachd-inv-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let answer: Answer = Arc::new(Mutex::new((200, sd(&["r1", "r2"]))));
        let sd_port = sd_server(answer.clone());
        Setup {
            dir,
            answer,
            sd_port,
            port: free_port(),
            closed: free_port(),
        }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn sources_change_fail_and_come_back_without_losing_a_device() {
    let setup = Setup::new("run");
    let (dir, answer) = (&setup.dir, &setup.answer);
    let (sd_port, port, closed) = (setup.sd_port, setup.port, setup.closed);
    let devices_file = dir.join("devices.yaml");
    std::fs::write(&devices_file, "- {name: f1, address: 127.0.0.20}\n").unwrap();
    std::fs::write(
        dir.join("reachd.yaml"),
        format!(
            "listen: 127.0.0.1:{port}\n\
             defaults: {{ssh: {{port: {closed}, interval: 1s, timeout: 500ms}}}}\n\
             profiles: {{lab: {{checks: [ssh], username: u, password: p}}}}\n\
             inventory:\n\
             \x20 - http_sd: {{url: 'http://127.0.0.1:{sd_port}/sd', name: sd, refresh: 5s, profile: lab}}\n\
             \x20 - {{path: devices.yaml, profile: lab}}\n"
        ),
    )
    .unwrap();
    let _d = daemon(&dir.join("reachd.yaml"));
    let up = r#"reachd_inventory_source_up{kind="http_sd",source="sd"}"#;
    let file_up = format!(
        r#"reachd_inventory_source_up{{kind="file",source="{}"}}"#,
        devices_file.display()
    );
    until("the first devices", Duration::from_secs(10), || {
        devices(port) == ["f1", "r1", "r2"]
    });
    assert_eq!(metric(port, up), Some(1.0));
    assert_eq!(
        metric(
            port,
            r#"reachd_inventory_source_devices{kind="http_sd",source="sd"}"#
        ),
        Some(2.0)
    );
    assert!(
        metric(
            port,
            r#"reachd_inventory_source_last_success_timestamp_seconds{kind="http_sd""#
        )
        .is_some_and(|t| t > 1.7e9)
    );

    // A change at the source is applied at its next refresh.
    *answer.lock().unwrap() = (200, sd(&["r1", "r3"]));
    until("r2 replaced by r3", Duration::from_secs(15), || {
        devices(port) == ["f1", "r1", "r3"]
    });

    // The source fails: its devices stay, its metric drops.
    *answer.lock().unwrap() = (500, "oops".into());
    until("the source down", Duration::from_secs(15), || {
        metric(port, up) == Some(0.0)
    });
    assert_eq!(devices(port), ["f1", "r1", "r3"]);
    // Not JSON at all: the same.
    *answer.lock().unwrap() = (200, "<html>".into());
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(metric(port, up), Some(0.0));
    assert_eq!(devices(port), ["f1", "r1", "r3"]);

    // Back, with an empty list: a good answer, so its devices go.
    *answer.lock().unwrap() = (200, "[]".into());
    until("the source up and empty", Duration::from_secs(15), || {
        metric(port, up) == Some(1.0) && devices(port) == ["f1"]
    });

    // The file: edited in place, then replaced by a rename.
    std::fs::write(
        &devices_file,
        "- {name: f1, address: 127.0.0.20}\n- {name: f2, address: 127.0.0.21}\n",
    )
    .unwrap();
    until("f2 added in place", Duration::from_secs(10), || {
        devices(port) == ["f1", "f2"]
    });
    let tmp = dir.join(".devices.yaml.tmp");
    std::fs::write(&tmp, "- {name: f3, address: 127.0.0.22}\n").unwrap();
    std::fs::rename(&tmp, &devices_file).unwrap();
    until("f3 by rename", Duration::from_secs(10), || {
        devices(port) == ["f3"]
    });
    assert_eq!(metric(port, &file_up), Some(1.0));

    // Deleted, then broken: the last good list stays, the file is down.
    std::fs::remove_file(&devices_file).unwrap();
    until("the file down", Duration::from_secs(10), || {
        metric(port, &file_up) == Some(0.0)
    });
    assert_eq!(devices(port), ["f3"]);
    std::fs::write(&devices_file, "- {name: f4, adress: 127.0.0.23}\n").unwrap();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(devices(port), ["f3"]);
    assert_eq!(metric(port, &file_up), Some(0.0));
    std::fs::write(&devices_file, "- {name: f4, address: 127.0.0.23}\n").unwrap();
    until("the file back", Duration::from_secs(10), || {
        devices(port) == ["f4"] && metric(port, &file_up) == Some(1.0)
    });
}

#[test]
fn validate_reads_every_source_and_names_the_one_that_fails() {
    let setup = Setup::new("validate");
    let (sd_port, closed) = (setup.sd_port, setup.closed);
    let cfg = setup.dir.join("reachd.yaml");
    // One good source, one that cannot be reached.
    let two = format!(
        "inventory:\n\
         \x20 - http_sd: {{url: 'http://127.0.0.1:{sd_port}/sd', name: good}}\n\
         \x20 - http_sd: {{url: 'http://127.0.0.1:{closed}/sd', name: down, timeout: 2s}}\n"
    );
    std::fs::write(&cfg, &two).unwrap();
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_reachd"))
            .arg("validate")
            .args(extra)
            .arg("--config")
            .arg(&cfg)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = run(&[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("http_sd down: GET http://127.0.0.1:") && err.contains("cannot connect"),
        "{err}"
    );
    assert!(!err.contains("good"), "{err}");
    // A source that accepts and then says nothing: timed out, named.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    std::fs::write(
        &cfg,
        format!(
            "inventory:\n  - netbox: {{url: 'http://127.0.0.1:{silent_port}', name: mute, timeout: 1s}}\n"
        ),
    )
    .unwrap();
    let t0 = Instant::now();
    let (code, _, err) = run(&[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.starts_with("netbox mute: GET http://127.0.0.1:") && err.contains("timed out"),
        "{err}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "bounded by its timeout"
    );
    drop(silent);
    std::fs::write(&cfg, &two).unwrap();
    // Offline, nothing is read and the settings are fine.
    let (code, out, err) = run(&["--offline"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("http_sd down: not read (--offline)"), "{out}");
    // With the second source gone, the first one's devices are counted.
    std::fs::write(
        &cfg,
        format!("inventory:\n  - http_sd: {{url: 'http://127.0.0.1:{sd_port}/sd', name: good}}\n"),
    )
    .unwrap();
    let (code, out, err) = run(&[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("http_sd good: 2 devices"), "{out}");
    assert!(out.contains("ok: 2 devices, 2 checks (icmp 2)"), "{out}");
}

#[test]
fn a_restart_while_the_source_is_down_checks_the_devices_it_gave_before() {
    let setup = Setup::new("restart");
    let (dir, answer) = (&setup.dir, &setup.answer);
    let (sd_port, port, closed) = (setup.sd_port, setup.port, setup.closed);
    let cfg = dir.join("reachd.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listen: 127.0.0.1:{port}\n\
             state_dir: state\n\
             defaults: {{ssh: {{port: {closed}, interval: 1s, timeout: 500ms}}}}\n\
             profiles: {{lab: {{checks: [ssh], username: u, password: p}}}}\n\
             inventory:\n\
             \x20 - http_sd: {{url: 'http://127.0.0.1:{sd_port}/sd', name: sd, refresh: 5s, profile: lab}}\n"
        ),
    )
    .unwrap();
    let start = || daemon(&cfg);
    let up = r#"reachd_inventory_source_up{kind="http_sd",source="sd"}"#;
    {
        let _d = start();
        until("the first devices", Duration::from_secs(10), || {
            devices(port) == ["r1", "r2"]
        });
    }
    let saved = dir.join("state/inventory/http_sd-sd.json");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&saved).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the saved list is reachd's alone");

    // Down at startup: the saved list is checked, and the source is down.
    *answer.lock().unwrap() = (503, "maintenance".into());
    let _d = start();
    until("the saved devices", Duration::from_secs(10), || {
        devices(port) == ["r1", "r2"]
    });
    assert_eq!(metric(port, up), Some(0.0));
    // Back, changed: applied.
    *answer.lock().unwrap() = (200, sd(&["r3"]));
    until("the source back", Duration::from_secs(40), || {
        devices(port) == ["r3"] && metric(port, up) == Some(1.0)
    });
}
