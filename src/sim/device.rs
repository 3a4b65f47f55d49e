//! One simulated device: the SSH server side and its IOS-like CLI.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{Algorithm, HashAlg, PrivateKey};
use russh::server::{self, Auth, Msg, Session};
use russh::{Channel, ChannelId, MethodKind, MethodSet, Preferred, cipher, kex, mac};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::ios::{Answer, Ios, MOTD, endless_line};
use super::{DeviceSpec, Fault};

/// The legacy-only devices' RSA host key (ssh-rsa needs one; generating
/// RSA keys at start-up is slow). A throwaway key for the simulator only.
const LEGACY_RSA_KEY: &str = include_str!("legacy_rsa_host_key");

pub(super) struct Device {
    pub(super) spec: DeviceSpec,
    /// The password and enable password it really expects.
    pub(super) password: String,
    pub(super) enable: String,
    config: Arc<server::Config>,
}

/// The simulated device `name`'s stable host key (derived from its name, so
/// a restarted simulator keeps its keys).
pub fn host_key_for(name: &str) -> PrivateKey {
    let mut seed = [0u8; 32];
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    for chunk in seed.chunks_mut(8) {
        // splitmix64
        h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes());
    }
    PrivateKey::from(Ed25519Keypair::from_seed(&seed))
}

fn random_host_key() -> PrivateKey {
    let mut seed = [0u8; 32];
    // Unique enough for a simulator: time and a counter.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    seed[..16].copy_from_slice(&t.to_le_bytes());
    seed[16..24].copy_from_slice(&n.to_le_bytes());
    PrivateKey::from(Ed25519Keypair::from_seed(&seed))
}

impl Device {
    pub(super) fn new(spec: DeviceSpec) -> Self {
        let password = if spec.has(Fault::WrongPassword) {
            format!("{}-not", spec.password)
        } else {
            spec.password.clone()
        };
        let enable = if spec.has(Fault::WrongEnable) {
            format!("{}-not", spec.enable_password)
        } else {
            spec.enable_password.clone()
        };
        let config = Arc::new(Self::config(&spec, host_key_for(&spec.name)));
        Device {
            spec,
            password,
            enable,
            config,
        }
    }

    fn config(spec: &DeviceSpec, key: PrivateKey) -> server::Config {
        let mut methods = MethodSet::empty();
        if !spec.has(Fault::KbdInteractive) {
            methods.push(MethodKind::Password);
        }
        methods.push(MethodKind::KeyboardInteractive);
        let mut config = server::Config {
            server_id: russh::SshId::Standard(Cow::Borrowed("SSH-2.0-Cisco-1.25")),
            methods,
            auth_rejection_time: Duration::from_millis(20),
            auth_rejection_time_initial: Some(Duration::ZERO),
            keys: vec![key],
            inactivity_timeout: Some(Duration::from_secs(120)),
            max_auth_attempts: 6,
            nodelay: true,
            ..Default::default()
        };
        if spec.has(Fault::LegacyOnly) {
            if let Ok(rsa) = PrivateKey::from_openssh(LEGACY_RSA_KEY) {
                config.keys = vec![rsa];
            }
            config.preferred = Preferred {
                kex: Cow::Borrowed(&[kex::DH_G14_SHA1, kex::DH_G1_SHA1]),
                key: Cow::Borrowed(&[Algorithm::Rsa { hash: None }]),
                cipher: Cow::Borrowed(&[
                    cipher::AES_128_CBC,
                    cipher::AES_256_CBC,
                    cipher::TRIPLE_DES_CBC,
                ]),
                mac: Cow::Borrowed(&[mac::HMAC_SHA1]),
                ..Preferred::DEFAULT
            };
        }
        config
    }
}

/// Accepts connections for one device until the task is aborted.
pub(super) async fn serve(dev: Arc<Device>, listener: TcpListener) {
    loop {
        let Ok((sock, _peer)) = listener.accept().await else {
            // Out of file descriptors and the like: back off, keep serving.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = sock.set_nodelay(true);
        let dev = dev.clone();
        if dev.spec.telnet {
            tokio::spawn(super::telnet::connection(dev, sock));
        } else {
            tokio::spawn(async move { connection(dev, sock).await });
        }
    }
}

async fn connection(dev: Arc<Device>, mut sock: TcpStream) {
    if dev.spec.has(Fault::Tarpit) {
        drain(&mut sock).await;
        return;
    }
    if dev.spec.has(Fault::BannerSilence) || dev.spec.has(Fault::Garbage) {
        let first = if dev.spec.has(Fault::Garbage) {
            noise()
        } else {
            b"SSH-2.0-Cisco-1.25\r\n".to_vec()
        };
        if sock.write_all(&first).await.is_ok() {
            drain(&mut sock).await;
        }
        return;
    }
    let config = if dev.spec.has(Fault::ChangedHostKey) {
        Arc::new(Device::config(&dev.spec, random_host_key()))
    } else {
        dev.config.clone()
    };
    let handler = Conn {
        dev: dev.clone(),
        line: Vec::new(),
        ios: Ios::new(&dev.spec.name, &dev.enable)
            .echoing_passwords(dev.spec.has(Fault::EchoPassword)),
        skip_lf: false,
    };
    if let Ok(session) = server::run_stream(config, sock, handler).await {
        let _ = session.await;
    }
}

/// What a [`Fault::Garbage`] device says: 1 KiB of the same pseudo-random
/// bytes every time, with no line feed (so no line to read either).
pub(super) fn noise() -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    (0..1024)
        .map(|_| {
            // xorshift32
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            match x.to_le_bytes()[0] {
                b'\n' => b'.',
                b => b,
            }
        })
        .collect()
}

/// Reads and discards until the peer goes away (at most 10 minutes).
pub(super) async fn drain<R: AsyncRead + Unpin>(mut rd: R) {
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(600), async {
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

struct Conn {
    dev: Arc<Device>,
    line: Vec<u8>,
    ios: Ios,
    skip_lf: bool,
}

impl Conn {
    /// Sends `text` then the prompt, after the slow-prompt delay if any.
    fn reply(&self, channel: ChannelId, text: String, session: &mut Session) {
        let out = format!("{text}{}", self.ios.prompt());
        if self.dev.spec.has(Fault::SlowPrompt) {
            let handle = session.handle();
            let delay = self.dev.spec.slow_prompt;
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = handle.data(channel, out.into_bytes()).await;
            });
        } else {
            let _ = session.data(channel, out.into_bytes());
        }
    }

    fn line(&mut self, channel: ChannelId, session: &mut Session) -> Result<(), russh::Error> {
        let raw = std::mem::take(&mut self.line);
        match self.ios.line(&String::from_utf8_lossy(&raw)) {
            Answer::Prompted(text) => self.reply(channel, text, session),
            Answer::Text(text) => {
                let _ = session.data(channel, text.as_bytes().to_vec());
            }
            Answer::Close(text) => {
                let _ = session.data(channel, text.as_bytes().to_vec());
                let _ = session.eof(channel);
                let _ = session.close(channel);
            }
        }
        Ok(())
    }
}

impl server::Handler for Conn {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(Auth::reject())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        if self.dev.spec.has(Fault::KbdInteractive) {
            return Ok(Auth::UnsupportedMethod);
        }
        if user == self.dev.spec.username && password == self.dev.password {
            Ok(Auth::Accept)
        } else {
            Ok(Auth::reject())
        }
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        match response {
            None => Ok(Auth::Partial {
                name: Cow::Borrowed(""),
                instructions: Cow::Borrowed(""),
                prompts: Cow::Owned(vec![(Cow::Borrowed("Password: "), false)]),
            }),
            Some(mut r) => {
                let ok = user == self.dev.spec.username
                    && r.next()
                        .is_some_and(|b| b.as_ref() == self.dev.password.as_bytes());
                Ok(if ok { Auth::Accept } else { Auth::reject() })
            }
        }
    }

    async fn channel_open_session(
        &mut self,
        _channel: Channel<Msg>,
        reply: server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        let spec = &self.dev.spec;
        if spec.has(Fault::DisconnectMidLogin) {
            session.data(channel, MOTD.as_bytes().to_vec())?;
            session.disconnect(russh::Disconnect::ByApplication, "session reset", "en")?;
        } else if spec.has(Fault::NoPrompt) {
            session.data(channel, MOTD.as_bytes().to_vec())?;
        } else if spec.has(Fault::EndlessOutput) {
            let handle = session.handle();
            tokio::spawn(async move {
                let mut n: u64 = 0;
                loop {
                    n += 1;
                    let line = endless_line(n);
                    if handle.data(channel, line.into_bytes()).await.is_err() {
                        break;
                    }
                    if n % 64 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            });
        } else {
            self.reply(channel, format!("{MOTD}\r\n"), session);
        }
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.dev.spec.has(Fault::NoPrompt) || self.dev.spec.has(Fault::EndlessOutput) {
            return Ok(());
        }
        let mut echo = Vec::new();
        for &b in data {
            match b {
                b'\r' | b'\n' => {
                    if b == b'\n' && self.skip_lf {
                        self.skip_lf = false;
                        continue;
                    }
                    self.skip_lf = b == b'\r';
                    if !echo.is_empty() {
                        session.data(channel, std::mem::take(&mut echo))?;
                    }
                    self.line(channel, session)?;
                }
                0x08 | 0x7f => {
                    self.skip_lf = false;
                    if self.line.pop().is_some() && self.ios.echoes() {
                        echo.extend_from_slice(b"\x08 \x08");
                    }
                }
                0x03 => {
                    self.skip_lf = false;
                    self.line.clear();
                }
                _ => {
                    self.skip_lf = false;
                    if self.line.len() < 4096 {
                        self.line.push(b);
                        if self.ios.echoes() {
                            echo.push(b);
                        }
                    }
                }
            }
        }
        if !echo.is_empty() {
            session.data(channel, echo)?;
        }
        Ok(())
    }
}

/// The SHA-256 fingerprint of the device `name`'s host key, as OpenSSH
/// prints it.
pub fn fingerprint_for(name: &str) -> String {
    host_key_for(name)
        .public_key()
        .fingerprint(HashAlg::Sha256)
        .to_string()
}
