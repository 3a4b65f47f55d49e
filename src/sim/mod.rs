//! Simulated Cisco-like devices over SSH and Telnet, healthy and faulty, for
//! `reachd demo`, the tests and the benchmarks (`reachd sim`).
//!
//! One process serves many devices, each on its own loopback address and
//! port. A device speaks IOS-style: `Username`/password login (or
//! keyboard-interactive only), `R1>`, `enable` + password → `R1#`,
//! `terminal length 0`, `show version`, `exit`. Fault modes make it
//! misbehave the ways real devices do (see [`Fault`]).
//!
//! The simulator only ever binds loopback addresses: [`start`] refuses any
//! other.

pub mod cli;
mod device;
mod ios;
mod ssh_server;
mod telnet_server;

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use device::Device;
pub use device::{fingerprint_for, host_key_for};

/// How a simulated device misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The device's login password differs from the advertised one.
    WrongPassword,
    /// The device's enable password differs from the advertised one.
    WrongEnable,
    /// Accepts TCP, never says anything.
    Tarpit,
    /// Never completes a TCP handshake, like a device that is down or behind
    /// a dropping firewall: connection attempts time out. (Its listen queue
    /// is kept full, so the kernel drops every SYN.)
    Blackhole,
    /// Sends its SSH version banner, then nothing.
    BannerSilence,
    /// Accepts TCP, sends a burst of binary noise (no protocol, no line
    /// end), then nothing: some other service on the port.
    Garbage,
    /// Logs in, starts the shell, says a few words and drops the connection.
    DisconnectMidLogin,
    /// Logs in, prints a banner, never shows a prompt.
    NoPrompt,
    /// Waits (`slow_prompt`) before each prompt.
    SlowPrompt,
    /// After login, prints output forever, never a prompt.
    EndlessOutput,
    /// Only legacy algorithms: diffie-hellman-group14/group1-sha1,
    /// aes128/256-cbc and 3des-cbc, hmac-sha1, ssh-rsa.
    LegacyOnly,
    /// A new host key on every connection.
    ChangedHostKey,
    /// Offers only keyboard-interactive authentication (like many IOS boxes).
    KbdInteractive,
    /// Telnet: negotiates options forever, never says a word.
    IacStorm,
    /// Telnet: a password-only line (`line vty` `password`, no user name).
    PasswordOnly,
    /// Echoes everything it is sent, passwords included (local echo left
    /// on), then after the password (the login password over Telnet, the
    /// enable password over SSH) prints [`ECHO_NOTICE`] and never a
    /// prompt: the check ends `prompt` with the echoed password near the
    /// start of the device's last output.
    EchoPassword,
}

/// What an [`Fault::EchoPassword`] device prints after the echoed password
/// (then nothing): one line of 187 characters, so that the last 200
/// characters of the output (` | ` and 10 characters before it) start
/// inside an echoed password of more than 10 characters.
pub const ECHO_NOTICE: &str = "\r\n%LINE-4-LOCAL_ECHO: local echo is on for this line, so everything typed here, passwords included, is shown on the terminal; the session is held for an operator, and no prompt will follow.\r\n";

impl Fault {
    pub const ALL: [Fault; 16] = [
        Fault::WrongPassword,
        Fault::WrongEnable,
        Fault::Tarpit,
        Fault::Blackhole,
        Fault::BannerSilence,
        Fault::Garbage,
        Fault::DisconnectMidLogin,
        Fault::NoPrompt,
        Fault::SlowPrompt,
        Fault::EndlessOutput,
        Fault::LegacyOnly,
        Fault::ChangedHostKey,
        Fault::KbdInteractive,
        Fault::IacStorm,
        Fault::PasswordOnly,
        Fault::EchoPassword,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Fault::WrongPassword => "wrong-password",
            Fault::WrongEnable => "wrong-enable",
            Fault::Tarpit => "tarpit",
            Fault::Blackhole => "blackhole",
            Fault::BannerSilence => "banner-silence",
            Fault::Garbage => "garbage",
            Fault::DisconnectMidLogin => "disconnect",
            Fault::NoPrompt => "no-prompt",
            Fault::SlowPrompt => "slow-prompt",
            Fault::EndlessOutput => "endless-output",
            Fault::LegacyOnly => "legacy-only",
            Fault::ChangedHostKey => "changed-host-key",
            Fault::KbdInteractive => "kbd-interactive",
            Fault::IacStorm => "iac-storm",
            Fault::PasswordOnly => "password-only",
            Fault::EchoPassword => "echo-password",
        }
    }
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Fault::ALL
            .iter()
            .copied()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Fault::ALL.iter().map(|f| f.as_str()).collect();
                format!("unknown fault `{s}` (one of: {})", names.join(", "))
            })
    }
}

/// One simulated device.
#[derive(Clone, Debug)]
pub struct DeviceSpec {
    /// The hostname, shown in the prompt (`R1>`).
    pub name: String,
    /// Where it listens: a loopback address; port 0 picks a free one.
    pub addr: SocketAddr,
    pub username: String,
    /// The password the device is said to have; [`Fault::WrongPassword`]
    /// makes it expect another.
    pub password: String,
    /// The enable password; [`Fault::WrongEnable`] makes it expect another.
    pub enable_password: String,
    pub faults: Vec<Fault>,
    /// Delay before each prompt with [`Fault::SlowPrompt`].
    pub slow_prompt: Duration,
    /// Speaks Telnet instead of SSH.
    pub telnet: bool,
}

impl DeviceSpec {
    /// A healthy device `name` at `addr` with the lab's credentials
    /// (`admin`/`admin`, enable `cisco`).
    pub fn healthy(name: &str, addr: SocketAddr) -> Self {
        DeviceSpec {
            name: name.to_owned(),
            addr,
            username: "admin".to_owned(),
            password: "admin".to_owned(),
            enable_password: "cisco".to_owned(),
            faults: Vec::new(),
            slow_prompt: Duration::from_secs(2),
            telnet: false,
        }
    }

    /// The same device speaking Telnet.
    pub fn over_telnet(mut self) -> Self {
        self.telnet = true;
        self
    }

    pub fn has(&self, f: Fault) -> bool {
        self.faults.contains(&f)
    }
}

/// A running device.
#[derive(Clone, Debug)]
pub struct Running {
    pub name: String,
    /// The address it actually listens on.
    pub addr: SocketAddr,
    /// Whether it speaks Telnet (else SSH).
    pub telnet: bool,
}

/// Running simulated devices; dropping it stops them all.
pub struct Sim {
    pub devices: Vec<Running>,
    tasks: JoinSet<()>,
}

impl Sim {
    /// The SSH address of device `name`.
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.devices
            .iter()
            .find(|d| d.name == name && !d.telnet)
            .map(|d| d.addr)
    }

    /// Stops every device (also done on drop).
    pub fn stop(&mut self) {
        self.tasks.abort_all();
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

/// Starts the devices. Fails if an address is not loopback (or in
/// 198.18.0.0/15, the benchmarking range tests use in their own network
/// namespaces) or cannot be bound; nothing is left running then.
pub async fn start(devices: Vec<DeviceSpec>) -> std::io::Result<Sim> {
    let mut tasks = JoinSet::new();
    let mut running = Vec::with_capacity(devices.len());
    for spec in devices {
        if !cli::bindable(spec.addr.ip()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "the simulator only binds loopback addresses (or 198.18.0.0/15 in a test's network namespace), not {}",
                    spec.addr.ip()
                ),
            ));
        }
        let blackhole = spec.has(Fault::Blackhole);
        let listener = bind(spec.addr, if blackhole { 0 } else { 1024 }).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", spec.addr))
        })?;
        let addr = listener.local_addr()?;
        running.push(Running {
            name: spec.name.clone(),
            addr,
            telnet: spec.telnet,
        });
        if blackhole {
            // A backlog of 0 holds one connection: this one, never accepted.
            // The queue stays full, and Linux drops SYNs to a full queue.
            let plug = tokio::net::TcpStream::connect(addr).await?;
            tasks.spawn(async move {
                let _held = (listener, plug);
                std::future::pending::<()>().await
            });
            continue;
        }
        let dev = Arc::new(Device::new(spec));
        tasks.spawn(serve(dev, listener));
    }
    Ok(Sim {
        devices: running,
        tasks,
    })
}

/// Accepts connections for one device until the task is aborted.
async fn serve(dev: Arc<Device>, listener: TcpListener) {
    loop {
        let Ok((sock, _peer)) = listener.accept().await else {
            // Out of file descriptors and the like: back off, keep serving.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = sock.set_nodelay(true);
        let dev = dev.clone();
        if dev.spec.telnet {
            tokio::spawn(telnet_server::connection(dev, sock));
        } else {
            tokio::spawn(ssh_server::connection(dev, sock));
        }
    }
}

fn bind(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}
