//! Command-line interface: parses arguments and hands over.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use std::sync::Arc;

use crate::config::{self, LogFormat, Sources};
use crate::daemon::{self, Overrides};
use crate::inventory::{Mode, Store};
use crate::round::{self, Filter, Format};
use crate::target::Protocol;

/// Continuous reachability checks of network devices: ICMP ping, SSH login
/// and Telnet login, exported as Prometheus metrics and structured logs.
#[derive(Parser, Debug)]
#[command(name = "reachd", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon: check every device on schedule, serve /metrics and
    /// the status page (what systemd starts). SIGHUP reloads, SIGTERM stops.
    Run {
        #[command(flatten)]
        sources: SourceArgs,
        #[command(flatten)]
        shard: ShardArg,
        /// Address to serve HTTP on (default from the config, else 127.0.0.1:9806).
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        #[command(flatten)]
        web: WebArgs,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Check every device once, print a table (or JSON lines), exit 1 if
    /// anything is down.
    Check {
        #[command(flatten)]
        sources: SourceArgs,
        #[command(flatten)]
        shard: ShardArg,
        /// Only this protocol (icmp, ssh, telnet); repeatable.
        #[arg(long = "protocol", short = 'p', value_name = "P", value_parser = parse_protocol)]
        protocols: Vec<Protocol>,
        /// Only this device (by name); repeatable.
        #[arg(long = "device", short = 'd', value_name = "NAME")]
        devices: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Parse and validate the configuration and every inventory it names;
    /// print each error with file, line, column and field; exit 2 on error.
    Validate {
        #[command(flatten)]
        sources: SourceArgs,
        /// Check remote sources' settings (NetBox, HTTP SD) without reading
        /// them: what the unit's ExecStartPre does, so that a source that is
        /// down never stops the service from starting.
        #[arg(long)]
        offline: bool,
    },
    /// Print the devices every inventory source yields, resolved: name,
    /// address, labels, and each check with its port, username and whether a
    /// password and an enable password are set (never a secret). Resolves
    /// no device name and sends nothing but the requests to the remote
    /// sources configured (NetBox, HTTP SD); exit 2 on a configuration
    /// error.
    Inventory {
        #[command(flatten)]
        sources: SourceArgs,
        /// Output format (json: one object per device and line).
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Serve simulated Cisco-like SSH and Telnet devices on loopback (healthy and
    /// faulty) until Ctrl-C: for demos, tests and benchmarks.
    ///
    /// Example: `reachd sim -n 1000 --base 127.0.1.1 --port 2222 --fault
    /// R3=wrong-password --fault R4=tarpit --inventory-out sim.yaml`, then
    /// `reachd check --inventory sim.yaml`.
    Sim(crate::sim::cli::SimArgs),
    /// Trace the path to a device: which routers answer at each hop (ICMP
    /// echo requests with increasing TTL, all sent at once, like mtr).
    /// Prints one line per hop and where the path ends; exit 0 if the
    /// device answered, 1 if not, 2 on error. Takes a literal IP address
    /// (no name is resolved); needs unprivileged ICMP
    /// (net.ipv4.ping_group_range) or CAP_NET_RAW, as ICMP checks do.
    ///
    /// Example: `reachd trace 192.0.2.1 --max-hops 16 --format json`.
    Trace(crate::trace_cmd::TraceArgs),
    /// Start a small simulated lab on loopback and monitor it: no
    /// configuration, no root needed for the lab itself.
    Demo {
        /// Address to serve HTTP on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9806")]
        listen: SocketAddr,
        #[command(flatten)]
        log: LogArgs,
    },
}

#[derive(Args, Debug, Clone)]
pub struct SourceArgs {
    /// The main configuration file (YAML): settings, profiles, devices and
    /// `inventory:` sources, each one of: a file (reachd's format,
    /// scrapli's, or Nornir's `{path: hosts.yaml, format: nornir}`);
    /// NetBox (`{netbox: {url: https://netbox.example.net, token: {env:
    /// NETBOX_TOKEN}, filter: {site: fra1, tag: monitored}, refresh: 5m}}`);
    /// Prometheus HTTP SD (`{http_sd: {url: https://…, refresh: 60s}}`).
    /// Remote sources are re-read every `refresh` and files when they
    /// change; a source that fails keeps its last good devices. See
    /// config/reachd.example.yaml, netbox.example.yaml, http_sd.example.yaml.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A device list, in reachd's own or scrapli's format (the seeds'
    /// devices.yaml), or a Nornir hosts.yaml (with groups.yaml and
    /// defaults.yaml beside it); repeatable. Works with or without --config.
    #[arg(long = "inventory", short = 'i', value_name = "FILE")]
    pub inventories: Vec<PathBuf>,
}

/// `run` and `check` only: `validate` checks every device.
#[derive(Args, Debug, Clone, Default)]
pub struct ShardArg {
    /// Check only share I of N of the devices (split by a stable hash of
    /// the device name), so N instances each take their own part.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::target::Shard>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct WebArgs {
    /// A web config file in the Prometheus exporters' format (TLS, client
    /// certificates, basic_auth_users with bcrypt hashes, headers); re-read
    /// when it or a certificate changes. Config equivalent: `web_config:`.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config: Option<PathBuf>,
    /// Allow `POST /-/reload` (off by default, as in Prometheus). Config
    /// equivalent: `http: {enable_lifecycle: true}`.
    #[arg(long = "web.enable-lifecycle")]
    pub enable_lifecycle: bool,
}

#[derive(Args, Debug, Clone, Default)]
pub struct LogArgs {
    /// Log format: text on a terminal and JSON otherwise (auto), or forced.
    #[arg(long, value_name = "FORMAT", value_parser = parse_log_format)]
    pub log_format: Option<LogFormat>,
    /// Log level or filter (error, warn, info, debug, trace, or a
    /// tracing filter like `reachd=debug`). RUST_LOG wins over it.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

fn parse_protocol(s: &str) -> Result<Protocol, String> {
    s.parse()
}

fn parse_log_format(s: &str) -> Result<LogFormat, String> {
    match s {
        "auto" => Ok(LogFormat::Auto),
        "json" => Ok(LogFormat::Json),
        "text" => Ok(LogFormat::Text),
        _ => Err(format!(
            "unknown log format `{s}` (expected auto, json or text)"
        )),
    }
}

impl SourceArgs {
    /// The files to load, and the command-line settings that win over them.
    fn resolve(
        &self,
        shard: &ShardArg,
        log: &LogArgs,
        listen: Option<SocketAddr>,
    ) -> Result<(Sources, Overrides), ExitCode> {
        let overrides = Overrides {
            shard: shard.shard,
            ..log.overrides(listen)
        };
        Ok((self.sources()?, overrides))
    }

    fn sources(&self) -> Result<Sources, ExitCode> {
        if self.config.is_none() && self.inventories.is_empty() {
            eprintln!("reachd: give --config FILE or --inventory FILE (see --help)");
            return Err(ExitCode::from(2));
        }
        Ok(Sources {
            config: self.config.clone(),
            inventories: self.inventories.clone(),
            store: Default::default(),
        })
    }
}

impl LogArgs {
    fn overrides(&self, listen: Option<SocketAddr>) -> Overrides {
        Overrides {
            listen,
            shard: None,
            log_format: self.log_format,
            log_level: self.log_level.clone(),
            web_config: None,
            enable_lifecycle: false,
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("reachd")
        .build()
        .unwrap_or_else(|e| {
            eprintln!("reachd: cannot start the async runtime: {e}");
            std::process::exit(1)
        })
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            sources,
            shard,
            listen,
            web,
            log,
        } => {
            let (sources, mut overrides) = match sources.resolve(&shard, &log, listen) {
                Ok(x) => x,
                Err(code) => return code,
            };
            overrides.web_config = web.web_config;
            overrides.enable_lifecycle = web.enable_lifecycle;
            let sources = Sources {
                store: config::Remote(Arc::new(Store::new(Mode::Lenient))),
                ..sources
            };
            runtime().block_on(daemon::run(Box::new(sources), overrides))
        }
        Command::Check {
            sources,
            shard,
            protocols,
            devices,
            format,
            log,
        } => {
            let (sources, mut overrides) = match sources.resolve(&shard, &log, None) {
                Ok(x) => x,
                Err(code) => return code,
            };
            // Keep stderr quiet unless asked: the table is the output.
            overrides.log_level.get_or_insert_with(|| "warn".into());
            let plan = match daemon::load_and_init_logging(&sources, &overrides) {
                Ok(p) => p,
                Err(code) => return code,
            };
            let filter = Filter { protocols, devices };
            runtime().block_on(round::run(plan, filter, format))
        }
        Command::Validate { sources, offline } => {
            let mut sources = match sources.sources() {
                Ok(s) => s,
                Err(code) => return code,
            };
            if offline {
                sources.store = config::Remote(Arc::new(Store::new(Mode::Offline)));
            }
            match config::load(&sources) {
                Ok(plan) => {
                    // What the service will get: ExecStartPre runs under the
                    // unit's LimitNOFILE= too.
                    if let Err(e) = crate::fdlimit::ensure(daemon::fd_need(&plan)) {
                        eprintln!("reachd: {e}");
                        return ExitCode::from(2);
                    }
                    if let Some(file) = &plan.http.web_config {
                        if let Err(e) = crate::http::web_config::load(file) {
                            eprintln!("{e}");
                            return ExitCode::from(2);
                        }
                    }
                    let mut counts = std::collections::BTreeMap::new();
                    for t in &plan.targets {
                        *counts.entry(t.protocol.as_str()).or_insert(0usize) += 1;
                    }
                    let per: Vec<String> = counts.iter().map(|(p, n)| format!("{p} {n}")).collect();
                    for s in plan.sources.iter().filter(|s| s.kind != "file") {
                        if offline {
                            println!("{} {}: not read (--offline)", s.kind, s.name);
                            continue;
                        }
                        let skipped = match s.skipped {
                            0 => String::new(),
                            n => format!(", {n} not checked: {}", s.skipped_examples.join("; ")),
                        };
                        println!("{} {}: {} devices{skipped}", s.kind, s.name, s.devices);
                        for w in &s.warnings {
                            println!("{} {}: warning: {w}", s.kind, s.name);
                        }
                    }
                    println!(
                        "ok: {} devices, {} checks ({})",
                        plan.devices.len(),
                        plan.targets.len(),
                        per.join(", ")
                    );
                    ExitCode::SUCCESS
                }
                Err(errors) => {
                    eprintln!("{errors}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Inventory { sources, format } => match sources.sources() {
            Ok(sources) => crate::inventory_cmd::run(&sources, format),
            Err(code) => code,
        },
        Command::Sim(args) => runtime().block_on(crate::sim::cli::run(args)),
        Command::Trace(args) => runtime().block_on(crate::trace_cmd::run(args)),
        Command::Demo { listen, log } => {
            runtime().block_on(crate::demo::run(log.overrides(Some(listen))))
        }
    }
}
