//! `reachd inventory`: the devices every source yields, resolved — name,
//! address, labels, and each check with its port, username, platform and
//! whether a password and an enable password are set. Never a secret: only
//! whether one is set. Nothing is resolved or sent.

use std::io::Write;
use std::process::ExitCode;

use serde::Serialize;

use crate::config::{self, Plan, Sources};
use crate::round::Format;
use crate::target::{CheckSpec, SessionSpec};

/// One check of a device, as printed.
#[derive(Serialize)]
struct CheckRow<'a> {
    protocol: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_set: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enable_password_set: Option<bool>,
}

/// One device, as printed.
#[derive(Serialize)]
struct DeviceRow<'a> {
    name: &'a str,
    address: &'a str,
    labels: &'a std::collections::BTreeMap<String, String>,
    /// The devices it depends on (`parents:`).
    parents: Vec<&'a str>,
    checks: Vec<CheckRow<'a>>,
}

fn rows(plan: &Plan) -> Vec<DeviceRow<'_>> {
    plan.devices
        .iter()
        .map(|d| DeviceRow {
            name: &d.name,
            address: &d.host,
            labels: &d.labels,
            parents: d.parents.iter().map(|p| &**p).collect(),
            checks: plan
                .targets
                .iter()
                .filter(|t| t.device == d.name)
                .map(|t| {
                    let login: Option<(u16, &SessionSpec)> = match &t.spec {
                        CheckSpec::Icmp(_) => None,
                        CheckSpec::Ssh(s) | CheckSpec::Telnet(s) => Some((s.port, s)),
                    };
                    CheckRow {
                        protocol: t.protocol.as_str(),
                        port: login.map(|(p, _)| p),
                        username: login.and_then(|(_, s)| s.username.as_deref()),
                        platform: login.and_then(|(_, s)| s.platform.as_deref()),
                        password_set: login.map(|(_, s)| s.password.is_some()),
                        enable_password_set: login.map(|(_, s)| s.secondary.is_some()),
                    }
                })
                .collect(),
        })
        .collect()
}

fn check_text(c: &CheckRow) -> String {
    let Some(port) = c.port else {
        return c.protocol.to_owned();
    };
    let mut parts = vec![format!("user={}", c.username.unwrap_or("-"))];
    if c.password_set == Some(true) {
        parts.push("password".to_owned());
    }
    if c.enable_password_set == Some(true) {
        parts.push("enable".to_owned());
    }
    format!("{}:{port}({})", c.protocol, parts.join(","))
}

/// Prints the plan's devices; 2 on a configuration error.
pub fn run(sources: &Sources, format: Format) -> ExitCode {
    let plan = match config::load(sources) {
        Ok(plan) => plan,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(2);
        }
    };
    let rows = rows(&plan);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match print(&rows, format, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        // `reachd inventory | head`: the reader has what it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reachd: cannot write the inventory: {e}");
            ExitCode::from(1)
        }
    }
}

fn print(rows: &[DeviceRow], format: Format, out: &mut dyn Write) -> std::io::Result<()> {
    match format {
        Format::Json => {
            for row in rows {
                serde_json::to_writer(&mut *out, row)?;
                writeln!(out)?;
            }
        }
        Format::Table => {
            let table: Vec<[String; 5]> = rows
                .iter()
                .map(|r| {
                    let labels: Vec<String> =
                        r.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let checks: Vec<String> = r.checks.iter().map(check_text).collect();
                    let parents = if r.parents.is_empty() {
                        "-".to_owned()
                    } else {
                        r.parents.join(",")
                    };
                    [
                        r.name.to_owned(),
                        r.address.to_owned(),
                        checks.join(" "),
                        parents,
                        labels.join(","),
                    ]
                })
                .collect();
            let head = ["DEVICE", "ADDRESS", "CHECKS", "PARENTS", "LABELS"].map(str::to_owned);
            let mut width = [0usize; 4];
            for row in std::iter::once(&head).chain(&table) {
                for (w, cell) in width.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            for row in std::iter::once(&head).chain(&table) {
                let line = format!(
                    "{:w0$}  {:w1$}  {:w2$}  {:w3$}  {}",
                    row[0],
                    row[1],
                    row[2],
                    row[3],
                    row[4],
                    w0 = width[0],
                    w1 = width[1],
                    w2 = width[2],
                    w3 = width[3]
                );
                writeln!(out, "{}", line.trim_end())?;
            }
        }
    }
    Ok(())
}
