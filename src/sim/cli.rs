//! `reachd sim`: serve simulated devices until Ctrl-C.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::{DeviceSpec, Fault};

/// Devices are named PREFIX1..PREFIXN and listen on consecutive loopback
/// addresses from --base (skipping .0 and .255), all on --port.
#[derive(Args, Debug, Clone)]
pub struct SimArgs {
    /// Number of devices.
    #[arg(long, short = 'n', default_value_t = 4)]
    pub devices: u32,
    /// First device's address: loopback (127.0.0.0/8 or ::1), or
    /// 198.18.0.0/15 (the benchmarking range, for network namespaces a
    /// test creates; never a real network's).
    #[arg(long, default_value = "127.0.1.1")]
    pub base: IpAddr,
    /// TCP port every device's SSH listens on (0: a free port each).
    #[arg(long, default_value_t = 2222)]
    pub port: u16,
    /// TCP port every device's Telnet listens on (0: a free port each).
    #[arg(long, default_value_t = 2323)]
    pub telnet_port: u16,
    /// Serve no Telnet (SSH only).
    #[arg(long)]
    pub no_telnet: bool,
    /// Serve no SSH (Telnet only).
    #[arg(long, conflicts_with = "no_telnet")]
    pub no_ssh: bool,
    /// Device name prefix.
    #[arg(long, default_value = "R")]
    pub prefix: String,
    /// Login user name of every device.
    #[arg(long, default_value = "admin")]
    pub username: String,
    /// Login password of every device (a simulator's, not a secret).
    #[arg(long, default_value = "admin")]
    pub password: String,
    /// Enable password of every device.
    #[arg(long, default_value = "cisco")]
    pub enable_password: String,
    /// Make a device misbehave: NAME=FAULT[,FAULT…] (repeatable), e.g.
    /// `R3=wrong-password`, `R4=tarpit`. Faults: wrong-password,
    /// wrong-enable, tarpit (accepts TCP, never speaks), blackhole (drops
    /// every SYN: connects time out), banner-silence (SSH
    /// banner then nothing), garbage (binary noise, then nothing: another
    /// service on the port), disconnect (drops the session right after
    /// login), no-prompt (banner, never a prompt), slow-prompt,
    /// endless-output, legacy-only (group14/group1-sha1, aes-cbc/3des-cbc,
    /// hmac-sha1, ssh-rsa only), changed-host-key (a new key each
    /// connection), kbd-interactive (keyboard-interactive login only),
    /// echo-password (echoes what it is sent, passwords included, then a
    /// notice and no prompt: after the login password over Telnet, after
    /// the enable password over SSH); Telnet only: iac-storm (option negotiation forever, never a word),
    /// password-only (a `Password:` line, no user name). On Telnet,
    /// banner-silence is negotiation then silence and no-prompt is silence
    /// after the password; SSH-only faults do nothing there and vice versa.
    #[arg(long = "fault", value_name = "NAME=FAULT", value_parser = parse_fault)]
    pub faults: Vec<(String, Vec<Fault>)>,
    /// Delay before each prompt of slow-prompt devices.
    #[arg(long, default_value = "2s", value_parser = crate::settings::duration::parse)]
    pub slow_prompt: Duration,
    /// Write a reachd inventory of the devices to FILE (ssh and telnet
    /// checks, the credentials above, host_key: off), for
    /// `reachd check --inventory FILE`.
    #[arg(long, value_name = "FILE")]
    pub inventory_out: Option<PathBuf>,
}

fn parse_fault(s: &str) -> Result<(String, Vec<Fault>), String> {
    let (name, faults) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=FAULT, got `{s}`"))?;
    let faults = faults
        .split(',')
        .map(str::parse)
        .collect::<Result<Vec<Fault>, _>>()?;
    Ok((name.to_owned(), faults))
}

/// The `i`-th (0-based) loopback address from `base`, skipping .0 and .255.
pub fn nth_addr(base: IpAddr, i: u32) -> Option<IpAddr> {
    match base {
        IpAddr::V4(v4) => {
            let mut n = u32::from(v4);
            let mut left = i;
            loop {
                if !matches!(n & 0xff, 0 | 255) {
                    if left == 0 {
                        break;
                    }
                    left -= 1;
                }
                n = n.checked_add(1)?;
            }
            let a = Ipv4Addr::from(n);
            (a.is_loopback() == v4.is_loopback() && bindable_v4(a)).then_some(IpAddr::V4(a))
        }
        IpAddr::V6(v6) => (i == 0 && v6.is_loopback()).then_some(base),
    }
}

/// Addresses the simulator may bind: loopback, or 198.18.0.0/15 (RFC
/// 2544's benchmarking range, which tests use inside their own network
/// namespaces).
fn bindable_v4(a: Ipv4Addr) -> bool {
    let [a0, a1, ..] = a.octets();
    a.is_loopback() || (a0 == 198 && a1 & 0xfe == 18)
}

/// Whether the simulator may bind `ip`: loopback, or 198.18.0.0/15.
pub fn bindable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => bindable_v4(v4),
        IpAddr::V6(v6) => v6.is_loopback(),
    }
}

/// The devices `args` describe.
pub fn specs(args: &SimArgs) -> Result<Vec<DeviceSpec>, String> {
    if !bindable(args.base) {
        return Err(format!(
            "--base {} is not a loopback address: the simulator only binds 127.0.0.0/8 or ::1 \
             (or 198.18.0.0/15, the benchmarking range, in a test's network namespace)",
            args.base
        ));
    }
    let mut out = Vec::with_capacity(args.devices as usize);
    for i in 0..args.devices {
        let ip = nth_addr(args.base, i).ok_or_else(|| {
            format!(
                "{} devices do not fit in loopback from {} (IPv6 has one loopback address; use --port 0 and one device, or IPv4)",
                args.devices, args.base
            )
        })?;
        let name = format!("{}{}", args.prefix, i + 1);
        let mut spec = DeviceSpec::healthy(&name, SocketAddr::new(ip, args.port));
        spec.username.clone_from(&args.username);
        spec.password.clone_from(&args.password);
        spec.enable_password.clone_from(&args.enable_password);
        spec.slow_prompt = args.slow_prompt;
        if !args.no_telnet {
            let mut t = spec.clone().over_telnet();
            t.addr.set_port(args.telnet_port);
            out.push(t);
        }
        if !args.no_ssh {
            out.push(spec);
        }
    }
    for (name, faults) in &args.faults {
        let mut found = false;
        for dev in out.iter_mut().filter(|d| &d.name == name) {
            dev.faults.extend(faults.iter().copied());
            found = true;
        }
        if !found {
            return Err(format!(
                "--fault names `{name}`, which is not one of the devices"
            ));
        }
    }
    Ok(out)
}

/// A reachd inventory (YAML) of running devices: one entry per device,
/// with an ssh and/or a telnet check.
pub fn inventory(args: &SimArgs, devices: &[super::Running]) -> String {
    let mut s = String::from("# reachd sim devices (written by `reachd sim --inventory-out`)\n");
    let mut names: Vec<&str> = Vec::new();
    for d in devices {
        if !names.contains(&d.name.as_str()) {
            names.push(&d.name);
        }
    }
    for name in names {
        let ssh = devices.iter().find(|d| d.name == name && !d.telnet);
        let telnet = devices.iter().find(|d| d.name == name && d.telnet);
        let Some(ip) = ssh.or(telnet).map(|d| d.addr.ip()) else {
            continue;
        };
        let checks: Vec<&str> = [ssh.map(|_| "ssh"), telnet.map(|_| "telnet")]
            .into_iter()
            .flatten()
            .collect();
        let _ = write!(
            s,
            "- name: {name}\n  address: \"{ip}\"\n  checks: [{}]\n  platform: cisco_iosxe\n  username: {:?}\n  password: {:?}\n  secondary: {:?}\n",
            checks.join(", "),
            args.username,
            args.password,
            args.enable_password,
        );
        if let Some(d) = ssh {
            let _ = writeln!(s, "  ssh: {{port: {}, host_key: \"off\"}}", d.addr.port());
        }
        if let Some(d) = telnet {
            let _ = writeln!(s, "  telnet: {{port: {}}}", d.addr.port());
        }
    }
    s
}

pub async fn run(args: SimArgs) -> ExitCode {
    let specs = match specs(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("reachd sim: {e}");
            return ExitCode::from(2);
        }
    };
    let sim = match super::start(specs.clone()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("reachd sim: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(path) = &args.inventory_out
        && let Err(e) = std::fs::write(path, inventory(&args, &sim.devices))
    {
        eprintln!("reachd sim: cannot write {}: {e}", path.display());
        return ExitCode::from(1);
    }
    let n = specs
        .iter()
        .map(|d| d.name.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    for (d, spec) in sim.devices.iter().zip(&specs).take(20) {
        let faults: Vec<_> = spec.faults.iter().map(|f| f.as_str()).collect();
        let faults = if faults.is_empty() {
            "healthy".to_owned()
        } else {
            faults.join(",")
        };
        let proto = if d.telnet { "telnet" } else { "ssh" };
        println!("{:<8} {proto:<6} {:<22} {faults}", d.name, d.addr);
    }
    if sim.devices.len() > 20 {
        println!("… and {} more listeners", sim.devices.len() - 20);
    }
    println!(
        "reachd sim: {n} devices up (user {:?}, password {:?}, enable {:?}); Ctrl-C stops",
        args.username, args.password, args.enable_password
    );
    let _ = tokio::signal::ctrl_c().await;
    let mut sim = sim;
    sim.stop();
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_skip_network_and_broadcast_octets() {
        let base: IpAddr = "127.0.1.254".parse().unwrap();
        assert_eq!(nth_addr(base, 0), Some("127.0.1.254".parse().unwrap()));
        assert_eq!(nth_addr(base, 1), Some("127.0.2.1".parse().unwrap()));
        assert_eq!(nth_addr("127.255.255.254".parse().unwrap(), 1), None);
        assert_eq!(
            nth_addr("::1".parse().unwrap(), 0),
            Some("::1".parse().unwrap())
        );
        assert_eq!(nth_addr("::1".parse().unwrap(), 1), None);
    }

    #[test]
    fn binds_loopback_and_the_benchmarking_range_only() {
        for ok in ["127.0.1.1", "::1", "198.18.0.1", "198.19.255.254"] {
            assert!(bindable(ok.parse().unwrap()), "{ok}");
        }
        for bad in ["198.20.0.1", "198.17.255.254", "192.0.2.1", "2001:2::1"] {
            assert!(!bindable(bad.parse().unwrap()), "{bad}");
        }
        // Consecutive addresses stay in the range they start in.
        assert_eq!(
            nth_addr("198.18.21.2".parse().unwrap(), 1),
            Some("198.18.21.3".parse().unwrap())
        );
        assert_eq!(nth_addr("198.19.255.254".parse().unwrap(), 1), None);
    }

    #[test]
    fn faults_parse() {
        assert_eq!(
            parse_fault("R3=wrong-password,kbd-interactive").unwrap(),
            (
                "R3".to_owned(),
                vec![Fault::WrongPassword, Fault::KbdInteractive]
            )
        );
        assert!(parse_fault("R3=bogus").is_err());
        assert!(parse_fault("R3").is_err());
        assert_eq!(
            crate::settings::duration::parse("250ms").unwrap(),
            Duration::from_millis(250)
        );
    }
}
