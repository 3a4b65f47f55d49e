//! Dependencies in the running daemon: 1,000 children behind one parent,
//! all failing before the parent's first scheduled check, cause one
//! re-check of the parent, not 1,000; every child is then behind it, in
//! the API and in `reachd_parent_down`. Loopback only: every check is a
//! Telnet check to a closed loopback port (`refused` at once).

mod daemon;

use std::time::Duration;

use daemon::{daemon, free_port, get, metric, until};

const CHILDREN: usize = 1000;

#[test]
fn a_thousand_children_behind_one_parent_cause_one_recheck() {
    let dir = std::env::temp_dir().join(format!("reachd-parents-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (port, closed) = (free_port(), free_port());
    // The parent's own schedule is hourly: its first run falls late in the
    // hour (a stable offset), so the children, every 2 s, fail first and
    // ask for it.
    let mut cfg = format!(
        "listen: 127.0.0.1:{port}\n\
         defaults:\n  telnet: {{port: {closed}, interval: 2s, timeout: 1s, connect_timeout: 500ms}}\n\
         profiles:\n  child: {{checks: [telnet], password: x, parents: [core1]}}\n\
         devices:\n  - {{name: core1, address: 127.0.0.1, checks: [telnet], password: x, telnet: {{interval: 1h}}}}\n"
    );
    for i in 0..CHILDREN {
        cfg.push_str(&format!(
            "  - {{name: sw{i}, address: 127.0.0.1, profile: child}}\n"
        ));
    }
    let file = dir.join("reachd.yaml");
    std::fs::write(&file, cfg).unwrap();
    let _d = daemon(&file);

    let status = || -> Vec<serde_json::Value> {
        let body = get(port, "/api/v1/status");
        let json: serde_json::Value =
            serde_json::from_str(body.split("\r\n\r\n").nth(1).unwrap_or("")).unwrap_or_default();
        json["status"].as_array().cloned().unwrap_or_default()
    };
    until(
        "every child checked and behind core1",
        Duration::from_secs(60),
        || status().iter().filter(|r| r["behind"] == "core1").count() == CHILDREN,
    );
    let parent_down = get(port, "/metrics")
        .lines()
        .filter(|l| l.starts_with("reachd_parent_down{") && l.ends_with(" 1"))
        .count();
    assert_eq!(parent_down, CHILDREN);
    assert_eq!(
        metric(port, "reachd_parent_rechecks_total"),
        Some(1.0),
        "one re-check of core1 for {CHILDREN} children"
    );
    let rows = status();
    let children: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| r["device"].as_str().is_some_and(|d| d.starts_with("sw")))
        .collect();
    assert_eq!(children.len(), CHILDREN);
    for r in &children {
        assert_eq!(r["behind"], "core1", "{r}");
        assert_eq!(r["reason"], "refused", "its own verdict stays as measured");
    }
    let core = rows.iter().find(|r| r["device"] == "core1").unwrap();
    assert_eq!(core["up"], false);
    assert_eq!(core["behind"], serde_json::Value::Null);
    // More rounds of the children ask nothing more: core1 is known down.
    until(
        "another round of every child",
        Duration::from_secs(30),
        || metric(port, "reachd_checks_total{device=\"sw999\"").is_some_and(|n| n >= 3.0),
    );
    assert_eq!(metric(port, "reachd_parent_rechecks_total"), Some(1.0));
    let _ = std::fs::remove_dir_all(&dir);
}
