//! Configuration fixtures: files in `tests/config/`, the expected output
//! beside them, as blackbox_exporter's `config/testdata/` does. Adding a case
//! is adding two files.
//!
//! A case is either
//! - a file pair: `valid-NAME.yaml` + `valid-NAME.out`, or
//!   `invalid-NAME.yaml` + `invalid-NAME.err`; the `.yaml` is the main
//!   config file (`--config`); or
//! - a directory `valid-NAME/` or `invalid-NAME/` holding `main.yaml` and
//!   whatever else it needs (inventories, secret files), an `expected` file,
//!   and optionally:
//!   - `args`: the `reachd validate` arguments, `--config FILE` and
//!     `--inventory FILE`, paths relative to the case directory (default:
//!     `--config main.yaml`);
//!   - `env`: the environment, `NAME=value` lines (the value is raw bytes;
//!     `${CASE_DIR}` stands for the case directory's absolute path). Nothing
//!     else of the process's environment is seen;
//!   - `secrets.list`: strings, one a line, that must never show.
//!
//! Each case is loaded through the public loader
//! (`reachd::config::load_with_env`) and its output compared with the
//! expected file:
//! - `invalid-*`: the errors exactly as `reachd validate` prints them, paths
//!   relative to the case directory;
//! - `valid-*`: the `ok: …` line `reachd validate` prints, then the plan:
//!   the daemon's settings, then each device and its checks with every
//!   effective setting (rendered here, in [`render_plan`], the one place that
//!   knows the plan's types); paths in the case directory show as
//!   `<case>/…`.
//!
//! Then each case is run through the built binary, `reachd validate ARGS` in
//! the case directory with only the case's environment: it must exit 2 and
//! print the expected errors, or exit 0 and print the expected `ok:` line.
//!
//! Every case also checks that no secret (each value of its `env` but
//! `CREDENTIALS_DIRECTORY` and `STATE_DIRECTORY`, and each line of its
//! `secrets.list`) appears in the errors or the plan, as displayed or as `Debug`.
//! Passwords in the rendered plan show with each secret replaced by
//! `<secret N>` (N counts env values, then `secrets.list` lines, from 1).
//!
//! `REACHD_BLESS=1 cargo test --test config_fixtures` writes the actual
//! output as the expected file (then read the diff before committing).
//! Without it the runner fails on no cases at all, on a case without its
//! expected file, on a stray file, and on any difference.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use reachd::config::{ConfigErrors, Plan, Sources, load_with_env};
use reachd::target::{CheckSpec, IpFamily, SessionSpec};

/// Variables that hold paths, not secrets.
const NOT_SECRET: [&str; 2] = ["CREDENTIALS_DIRECTORY", "STATE_DIRECTORY"];

struct Case {
    name: String,
    /// Paths in the output are relative to this.
    dir: PathBuf,
    /// `reachd validate` arguments, relative to `dir`.
    args: Vec<String>,
    expected: PathBuf,
    valid: bool,
    env: Vec<(String, OsString)>,
    secrets: Vec<Vec<u8>>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config")
}

fn kind(name: &str) -> Option<bool> {
    if name.starts_with("valid-") {
        Some(true)
    } else if name.starts_with("invalid-") {
        Some(false)
    } else {
        None
    }
}

/// Every case under `tests/config/`, sorted; stray files are errors.
fn discover(problems: &mut Vec<String>) -> Vec<Case> {
    let root = root();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    let mut cases = Vec::new();
    for path in entries {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(valid) = kind(&file) else {
            if file != "README.md" {
                problems.push(format!("{file}: not a case (valid-* or invalid-*)"));
            }
            continue;
        };
        if path.is_dir() {
            let args = match std::fs::read_to_string(path.join("args")) {
                Ok(text) => text.split_whitespace().map(str::to_owned).collect(),
                Err(_) => vec!["--config".to_owned(), "main.yaml".to_owned()],
            };
            let mut env = Vec::new();
            if let Ok(bytes) = std::fs::read(path.join("env")) {
                let dir = path.as_os_str().as_bytes();
                for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    let eq = line.iter().position(|b| *b == b'=').unwrap_or_else(|| {
                        panic!("{file}/env: `{}` is not NAME=value", line.escape_ascii())
                    });
                    let value = replace(&line[eq + 1..], b"${CASE_DIR}", dir);
                    let name = String::from_utf8(line[..eq].to_vec()).unwrap();
                    env.push((name, OsString::from_vec(value)));
                }
            }
            let mut secrets: Vec<Vec<u8>> = env
                .iter()
                .filter(|(n, v)| !NOT_SECRET.contains(&n.as_str()) && !v.is_empty())
                .map(|(_, v)| v.as_bytes().to_vec())
                .collect();
            if let Ok(text) = std::fs::read_to_string(path.join("secrets.list")) {
                secrets.extend(
                    text.lines()
                        .filter(|l| !l.is_empty())
                        .map(|l| l.as_bytes().to_vec()),
                );
            }
            cases.push(Case {
                name: file,
                dir: path.clone(),
                args,
                expected: path.join("expected"),
                valid,
                env,
                secrets,
            });
        } else if let Some(stem) = file.strip_suffix(".yaml") {
            let ext = if valid { "out" } else { "err" };
            cases.push(Case {
                name: file.clone(),
                dir: root.clone(),
                args: vec!["--config".to_owned(), file.clone()],
                expected: root.join(format!("{stem}.{ext}")),
                valid,
                env: Vec::new(),
                secrets: Vec::new(),
            });
        } else {
            let input = Path::new(&file).with_extension("yaml");
            let pair = match path.extension().and_then(|e| e.to_str()) {
                Some("out") => valid,
                Some("err") => !valid,
                _ => false,
            };
            if !pair || !root.join(&input).is_file() {
                problems.push(format!(
                    "{file}: not an expected file beside its case (valid-X.out or invalid-X.err \
                     beside X's .yaml)"
                ));
            }
        }
    }
    cases
}

fn replace(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

fn sources(case: &Case) -> Sources {
    let mut sources = Sources::default();
    let mut args = case.args.iter();
    while let Some(flag) = args.next() {
        let path = case.dir.join(args.next().expect("a path after each flag"));
        match flag.as_str() {
            "--config" | "-c" => sources.config = Some(path),
            "--inventory" | "-i" => sources.inventories.push(path),
            other => panic!("{}: unknown argument `{other}` in args", case.name),
        }
    }
    sources
}

/// What the case outputs, with the case directory left out of paths.
fn run(case: &Case) -> Result<String, String> {
    let env = case.env.clone();
    let result = load_with_env(&sources(case), move |name: &str| {
        env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    });
    let prefix = format!("{}/", case.dir.display());
    let strip = |s: String| s.replace(&prefix, "");
    let (text, debug) = match &result {
        Ok(plan) => (
            render_plan(plan, &case.dir, &case.secrets),
            format!("{plan:?}\n{plan:#?}"),
        ),
        Err(errors) => (strip(format!("{errors}\n")), format!("{errors:?}")),
    };
    for (i, secret) in case.secrets.iter().enumerate() {
        let secret = String::from_utf8_lossy(secret);
        let error_text = result.as_ref().err().map(ConfigErrors::to_string);
        for (what, s) in [
            ("the output", Some(&text)),
            ("the errors", error_text.as_ref()),
            ("Debug", Some(&debug)),
        ] {
            if s.is_some_and(|s| s.contains(&*secret)) {
                return Err(format!("secret {} shows in {what}:\n{text}", i + 1));
            }
        }
    }
    match (&result, case.valid) {
        (Ok(_), true) | (Err(_), false) => Ok(text),
        (Ok(_), false) => Err(format!("an invalid-* case loaded:\n{text}")),
        (Err(_), true) => Err(format!("a valid-* case failed:\n{text}")),
    }
}

/// `reachd validate` on the case: its exit status and what it prints.
fn run_binary(case: &Case, expected: &str) -> Result<(), String> {
    let out = Command::new(env!("CARGO_BIN_EXE_reachd"))
        .arg("validate")
        .args(&case.args)
        .current_dir(&case.dir)
        .env_clear()
        .envs(case.env.iter().map(|(n, v)| (n, v)))
        .output()
        .expect("run reachd");
    // Paths the environment gives absolute (`${CASE_DIR}`) print absolute.
    let prefix = format!("{}/", case.dir.display());
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).replace(&prefix, ""),
        String::from_utf8_lossy(&out.stderr).replace(&prefix, ""),
    );
    let (want_code, want, got) = if case.valid {
        let ok_line = expected.lines().next().unwrap_or_default();
        (0, format!("{ok_line}\n"), &stdout)
    } else {
        (2, expected.to_owned(), &stderr)
    };
    if out.status.code() != Some(want_code) || *got != want {
        return Err(format!(
            "reachd validate {} exited {:?} (want {want_code})\n{}",
            case.args.join(" "),
            out.status.code(),
            diff(&want, &format!("{stdout}{stderr}"))
        ));
    }
    Ok(())
}

/// The lines that differ, `-` expected and `+` actual, with the line number.
fn diff(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    let head = e.iter().zip(&a).take_while(|(x, y)| x == y).count();
    let tail = e[head..]
        .iter()
        .rev()
        .zip(a[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let mut out = format!("first difference at line {}:\n", head + 1);
    for l in &e[head..e.len() - tail] {
        let _ = writeln!(out, "- {l}");
    }
    for l in &a[head..a.len() - tail] {
        let _ = writeln!(out, "+ {l}");
    }
    if expected.ends_with('\n') != actual.ends_with('\n') {
        out.push_str("(the final newline differs)\n");
    }
    out
}

#[test]
fn config_fixtures() {
    let bless = std::env::var_os("REACHD_BLESS").is_some_and(|v| v == "1");
    let mut problems = Vec::new();
    let cases = discover(&mut problems);
    assert!(!cases.is_empty(), "no cases in {}", root().display());
    for case in &cases {
        let actual = match run(case) {
            Ok(text) => text,
            Err(e) => {
                problems.push(format!("{}: {e}", case.name));
                continue;
            }
        };
        if bless {
            std::fs::write(&case.expected, &actual).unwrap();
        }
        let expected = match std::fs::read_to_string(&case.expected) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!(
                    "{}: no expected file {} ({e}); REACHD_BLESS=1 writes it",
                    case.name,
                    case.expected.display()
                ));
                continue;
            }
        };
        if actual != expected {
            problems.push(format!(
                "{}: differs from {}\n{}",
                case.name,
                case.expected.display(),
                diff(&expected, &actual)
            ));
            continue;
        }
        if let Err(e) = run_binary(case, &expected) {
            problems.push(format!("{}: {e}", case.name));
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} cases:\n\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n\n")
    );
}

/// A secret-bearing value: quoted, each known secret in it replaced.
fn secret_text(value: &str, secrets: &[Vec<u8>]) -> String {
    let mut shown = format!("{value:?}");
    for (i, s) in secrets.iter().enumerate() {
        let s = format!("{:?}", String::from_utf8_lossy(s));
        let s = s.trim_matches('"');
        if !s.is_empty() {
            shown = shown.replace(s, &format!("<secret {}>", i + 1));
        }
    }
    shown
}

fn opt<T: std::fmt::Debug>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:?}"))
}

/// The plan, one setting per `key=value`: what `reachd validate` says, then
/// the daemon's settings, then each device and its checks.
/// Paths in the case directory show as `<case>/…`: the loader made them
/// absolute, relative to the file that named them.
fn render_plan(plan: &Plan, dir: &Path, secrets: &[Vec<u8>]) -> String {
    let path = |p: Option<&Path>| match p {
        None => "-".to_owned(),
        Some(p) => match p.strip_prefix(dir) {
            Ok(rel) => format!("<case>/{}", rel.display()),
            Err(_) => p.display().to_string(),
        },
    };
    let mut counts = std::collections::BTreeMap::new();
    for t in &plan.targets {
        *counts.entry(t.protocol.as_str()).or_insert(0usize) += 1;
    }
    let per: Vec<String> = counts.iter().map(|(p, n)| format!("{p} {n}")).collect();
    let mut o = format!(
        "ok: {} devices, {} checks ({})\n",
        plan.devices.len(),
        plan.targets.len(),
        per.join(", ")
    );
    let _ = writeln!(o, "listen={}", plan.listen);
    let _ = writeln!(
        o,
        "log format={:?} level={:?}",
        plan.log.format, plan.log.level
    );
    let _ = writeln!(o, "shutdown_grace={:?}", plan.shutdown_grace);
    let _ = writeln!(o, "state_dir={}", path(plan.state_dir.as_deref()));
    let h = &plan.http;
    let _ = writeln!(
        o,
        "http max_connections={} header_timeout={:?} idle_timeout={:?} max_body_bytes={} \
         enable_lifecycle={} web_config={}",
        h.limits.max_connections,
        h.limits.header_timeout,
        h.limits.idle_timeout,
        h.limits.max_body_bytes,
        h.enable_lifecycle,
        path(h.web_config.as_deref()),
    );
    let conc: Vec<String> = plan
        .concurrency
        .iter()
        .map(|(p, n)| format!("{}={n}", p.as_str()))
        .collect();
    let _ = writeln!(o, "concurrency {}", conc.join(" "));
    for d in &plan.devices {
        let labels: Vec<String> = d.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        let parents = if d.parents.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = d.parents.iter().map(|p| &**p).collect();
            format!(" parents=[{}]", names.join(", "))
        };
        let parents = if d.path_trace {
            parents
        } else {
            format!("{parents} path_trace=off")
        };
        let _ = writeln!(
            o,
            "device {:?} host={:?} labels={{{}}}{parents}",
            &*d.name,
            d.host,
            labels.join(", ")
        );
        for t in plan.targets.iter().filter(|t| t.device == d.name) {
            let host = if t.host == d.host {
                String::new()
            } else {
                format!(" host={:?}", t.host)
            };
            // The source only when set, so other cases read as before.
            let source = if t.source.is_default() {
                String::new()
            } else {
                format!(
                    " source_address={} source_interface={}",
                    t.source.address.map_or("-".to_owned(), |a| a.to_string()),
                    t.source.interface.as_deref().unwrap_or("-")
                )
            };
            // The address family only when not `auto`, likewise.
            let family = match t.ip_family {
                IpFamily::Auto => String::new(),
                f => format!(" ip_family={f}"),
            };
            let _ = write!(
                o,
                "  {} interval={:?} timeout={:?}{host}{source}{family}",
                t.protocol.as_str(),
                t.interval,
                t.timeout
            );
            match &t.spec {
                CheckSpec::Icmp(s) => {
                    let _ = writeln!(
                        o,
                        " count={} spacing={:?} payload_size={}",
                        s.count, s.spacing, s.payload_size
                    );
                }
                CheckSpec::Ssh(s) | CheckSpec::Telnet(s) => {
                    o.push('\n');
                    render_session(&mut o, s, &path, secrets);
                }
                // A check added since: its spec as Debug, until it gets an arm.
                #[allow(unreachable_patterns)]
                other => {
                    let _ = writeln!(o, " {other:?}");
                }
            }
        }
    }
    // Targets are grouped under their device above; this keeps their order.
    let keys: Vec<String> = plan.targets.iter().map(|t| t.key().to_string()).collect();
    let _ = writeln!(o, "targets {}", keys.join(" "));
    o
}

fn render_session(
    o: &mut String,
    s: &SessionSpec,
    path: &dyn Fn(Option<&Path>) -> String,
    secrets: &[Vec<u8>],
) {
    let secret = |v: Option<&reachd::secret::Secret>| {
        v.map_or("-".to_owned(), |v| secret_text(v.expose(), secrets))
    };
    let _ = writeln!(
        o,
        "    port={} username={} password={} secondary={} enable={} platform={}",
        s.port,
        opt(s.username.as_deref()),
        secret(s.password.as_ref()),
        secret(s.secondary.as_ref()),
        s.enable,
        opt(s.platform.as_deref()),
    );
    let _ = writeln!(
        o,
        "    private_key={} private_key_passphrase={} host_key={:?} known_hosts={}",
        path(s.private_key.as_deref()),
        secret(s.private_key_passphrase.as_ref()),
        s.host_key,
        path(s.known_hosts.as_deref()),
    );
    let a = &s.algorithms;
    let _ = writeln!(
        o,
        "    connect_timeout={:?} read_timeout={:?} command={} expect={} kex={} ciphers={} \
         macs={} host_key_algorithms={}",
        s.connect_timeout,
        s.read_timeout,
        opt(s.command.as_deref()),
        opt(s.expect.as_deref()),
        opt(a.kex.as_deref()),
        opt(a.ciphers.as_deref()),
        opt(a.macs.as_deref()),
        opt(a.host_key.as_deref()),
    );
}
