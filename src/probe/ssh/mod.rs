//! The SSH login check: TCP connect → SSH handshake (algorithms, host key
//! policy) → authentication (public key, password, keyboard-interactive) →
//! PTY + shell → the CLI prompt → `enable` → setup (`terminal length 0`) →
//! an optional command and its expected output → clean disconnect.
//!
//! Every wait is bounded by the device's `read_timeout` and by the check's
//! own deadline, so a check ends with a verdict naming the phase and, after
//! login, what the device last said. Passwords and passphrases only ever go
//! to russh; no error, log or detail carries them.

pub mod algorithms;
pub mod known_hosts;
pub mod check;
pub mod settings;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, AuthResult, KeyboardInteractiveAuthResponse};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelStream, MethodKind};
use tokio::net::TcpStream;

use super::session::dialogue::{self, Dialogue, Pattern, Platform};
use super::session::tether::{Tether, Tethered};
use super::session::{Expects, Session, Step, finish};
use super::{BoxFuture, Probe};
use crate::target::{Algorithms, CheckSpec, HostKeyPolicy, Protocol, Target};
use crate::verdict::{Outcome, Phase, Progress, Reason};

use known_hosts::{KnownHosts, Lookup};

/// The SSH probe. One per daemon: it caches algorithm configurations and
/// known_hosts files across checks.
pub struct SshProbe {
    inner: Arc<Inner>,
}

type AlgKey = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

struct Inner {
    /// Where accept-new records keys: `<state_dir>/known_hosts`, or memory.
    tofu: KnownHosts,
    /// Configured known_hosts files, by path.
    files: Mutex<HashMap<PathBuf, Arc<KnownHosts>>>,
    configs: Mutex<HashMap<AlgKey, Arc<client::Config>>>,
    expects: Expects,
}

impl std::fmt::Debug for SshProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshProbe")
            .field("tofu", &self.inner.tofu.path())
            .finish()
    }
}

impl SshProbe {
    /// A probe recording accept-new host keys in `<state_dir>/known_hosts`
    /// (in memory only without a state directory).
    pub fn new(state_dir: Option<&Path>) -> Self {
        let tofu = match state_dir {
            Some(d) => KnownHosts::file(d.join("known_hosts")),
            None => KnownHosts::memory(),
        };
        SshProbe {
            inner: Arc::new(Inner {
                tofu,
                files: Mutex::new(HashMap::new()),
                configs: Mutex::new(HashMap::new()),
                expects: Expects::default(),
            }),
        }
    }

    /// Where accept-new keys go (`None`: memory).
    pub fn tofu_file(&self) -> Option<&Path> {
        self.inner.tofu.path()
    }
}

impl Inner {
    fn config(&self, a: &Algorithms) -> Result<Arc<client::Config>, String> {
        let key: AlgKey = (
            a.kex.clone(),
            a.ciphers.clone(),
            a.macs.clone(),
            a.host_key.clone(),
        );
        let mut map = self.configs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = map.get(&key) {
            return Ok(c.clone());
        }
        let preferred = algorithms::preferred(a)?;
        let config = Arc::new(client::Config {
            client_id: russh::SshId::Standard(std::borrow::Cow::Owned(format!(
                "SSH-2.0-reachd_{}",
                env!("CARGO_PKG_VERSION")
            ))),
            preferred,
            nodelay: true,
            // A check is short: no keepalives, no rekeying worries.
            inactivity_timeout: None,
            // Small windows: a check reads a few kilobytes, and endless
            // output must not pile up in memory.
            window_size: 64 * 1024,
            channel_buffer_size: 16,
            ..Default::default()
        });
        map.insert(key, config.clone());
        Ok(config)
    }

    fn file(&self, path: &Path) -> Arc<KnownHosts> {
        let mut map = self.files.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(path.to_owned())
            .or_insert_with(|| Arc::new(KnownHosts::file(path.to_owned())))
            .clone()
    }
}

impl Probe for SshProbe {
    fn protocol(&self) -> Protocol {
        Protocol::Ssh
    }

    fn lane_threads(&self) -> usize {
        crate::engine::lane::cpu_bound()
    }

    fn check<'a>(&'a self, target: &'a Target, progress: &'a Progress) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let CheckSpec::Ssh(spec) = &target.spec else {
                return Outcome::fail(Reason::Error, "not an ssh target");
            };
            let check = Check {
                inner: &self.inner,
                s: Session {
                    target,
                    spec,
                    progress,
                    expects: &self.inner.expects,
                    eol: "\r",
                    tether: Tether::for_session(spec),
                },
            };
            finish(check.run().await, spec)
        })
    }
}

/// Why the host key was refused (the handler's error).
#[derive(Debug)]
enum HostKeyRefusal {
    Unknown { fingerprint: String, file: String },
    Changed { fingerprint: String, detail: String },
    Io(String),
}

#[derive(Debug)]
enum ClientError {
    Ssh(russh::Error),
    HostKey(HostKeyRefusal),
}

impl From<russh::Error> for ClientError {
    fn from(e: russh::Error) -> Self {
        ClientError::Ssh(e)
    }
}

struct Handler {
    inner: Arc<Inner>,
    policy: HostKeyPolicy,
    known_hosts: Option<PathBuf>,
    host_port: String,
}

impl Handler {
    fn verify(&self, key: &PublicKey) -> Result<(), HostKeyRefusal> {
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        let io = |e: std::io::Error, path: Option<&Path>| {
            HostKeyRefusal::Io(format!(
                "cannot read known_hosts {}: {e}",
                path.map(|p| p.display().to_string()).unwrap_or_default()
            ))
        };
        let changed = |file: Option<&Path>, line: usize, revoked: bool| {
            let file = file
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "memory".into());
            HostKeyRefusal::Changed {
                fingerprint: fingerprint.clone(),
                detail: if revoked {
                    format!("key is marked @revoked in {file}:{line}")
                } else {
                    format!("{file}:{line} has another key for {}", self.host_port)
                },
            }
        };
        let configured = self.known_hosts.as_deref().map(|p| self.inner.file(p));
        match self.policy {
            HostKeyPolicy::Off => Ok(()),
            HostKeyPolicy::Strict => {
                // The configured file, else the one accept-new maintains.
                let kh: &KnownHosts = configured.as_deref().unwrap_or(&self.inner.tofu);
                match kh
                    .lookup(&self.host_port, key)
                    .map_err(|e| io(e, kh.path()))?
                {
                    Lookup::Known => Ok(()),
                    Lookup::Unknown => Err(HostKeyRefusal::Unknown {
                        fingerprint,
                        file: kh
                            .path()
                            .map(|p| p.display().to_string())
                            .unwrap_or_else(|| "(no known_hosts file configured)".into()),
                    }),
                    Lookup::Changed { line, revoked } => Err(changed(kh.path(), line, revoked)),
                }
            }
            HostKeyPolicy::AcceptNew => {
                if let Some(kh) = &configured {
                    match kh
                        .lookup(&self.host_port, key)
                        .map_err(|e| io(e, kh.path()))?
                    {
                        Lookup::Known => return Ok(()),
                        Lookup::Changed { line, revoked } => {
                            return Err(changed(kh.path(), line, revoked));
                        }
                        Lookup::Unknown => {}
                    }
                }
                let tofu = &self.inner.tofu;
                match tofu
                    .learn(&self.host_port, key)
                    .map_err(|e| io(e, tofu.path()))?
                {
                    Lookup::Known | Lookup::Unknown => Ok(()),
                    Lookup::Changed { line, revoked } => Err(changed(tofu.path(), line, revoked)),
                }
            }
        }
    }
}

impl client::Handler for Handler {
    type Error = ClientError;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(c) => PublicKey::from(c.public_key().clone()),
        };
        self.verify(&key).map_err(ClientError::HostKey)?;
        Ok(true)
    }
}

struct Check<'a> {
    inner: &'a Arc<Inner>,
    s: Session<'a>,
}

impl Check<'_> {
    async fn run(&self) -> Step<Outcome> {
        let addr = self.s.resolve().await?;
        let stream = self.s.connect(addr).await?;
        let mut handle = self.handshake(stream).await?;
        self.authenticate(&mut handle).await?;
        let outcome = self.session(&handle).await;
        // Clean disconnect: tell the device, don't wait long for it.
        let _ = tokio::time::timeout(
            Duration::from_millis(200),
            handle.disconnect(russh::Disconnect::ByApplication, "", "en"),
        )
        .await;
        outcome
    }

    async fn handshake(&self, stream: Tethered<TcpStream>) -> Step<client::Handle<Handler>> {
        self.s.progress.enter(Phase::Handshake);
        let config = self
            .inner
            .config(&self.s.spec.algorithms)
            .map_err(|e| Outcome::fail(Reason::Error, format!("algorithm settings: {e}")))?;
        let handler = Handler {
            inner: self.inner.clone(),
            policy: self.s.spec.host_key,
            known_hosts: self.s.spec.known_hosts.clone(),
            host_port: known_hosts::host_port(&self.s.target.host, self.s.spec.port),
        };
        let w = self.s.wait(self.s.spec.read_timeout);
        match tokio::time::timeout_at(w.at, client::connect_stream(config, stream, handler)).await {
            Err(_) => Err(self.s.timeout(w, "SSH handshake")),
            Ok(Ok(h)) => Ok(h),
            Ok(Err(ClientError::HostKey(r))) => Err(match r {
                HostKeyRefusal::Unknown { fingerprint, file } => Outcome::fail(
                    Reason::HostKeyUnknown,
                    format!("host key {fingerprint} is not in {file}"),
                ),
                HostKeyRefusal::Changed {
                    fingerprint,
                    detail,
                } => Outcome::fail(
                    Reason::HostKeyChanged,
                    format!("host key changed: the device shows {fingerprint}; {detail}"),
                ),
                HostKeyRefusal::Io(e) => Outcome::fail(Reason::Error, e),
            }),
            Ok(Err(ClientError::Ssh(e))) => Err(handshake_error(e)),
        }
    }

    async fn authenticate(&self, handle: &mut client::Handle<Handler>) -> Step<()> {
        self.s.progress.enter(Phase::Auth);
        let w = self.s.wait(self.s.spec.read_timeout);
        match tokio::time::timeout_at(w.at, self.try_auth(handle)).await {
            Err(_) => Err(self.s.timeout(w, "authentication")),
            Ok(r) => r,
        }
    }

    async fn try_auth(&self, handle: &mut client::Handle<Handler>) -> Step<()> {
        let user = self.s.spec.username.clone().unwrap_or_default();
        let mut tried: Vec<&str> = Vec::new();
        let lost = |e: russh::Error, tried: &[&str]| {
            let what = ssh_error(&e);
            if tried.is_empty() {
                Outcome::fail(Reason::Closed, format!("during authentication: {what}"))
            } else {
                Outcome::fail(
                    Reason::AuthFailed,
                    format!(
                        "authentication failed ({}), then the device closed the connection: {what}",
                        tried.join(", ")
                    ),
                )
            }
        };
        let mut offered: Option<Vec<MethodKind>> = None;
        if let Some(path) = &self.s.spec.private_key {
            let pass = self
                .s
                .spec
                .private_key_passphrase
                .as_ref()
                .map(|s| s.expose());
            let key = russh::keys::load_secret_key(path, pass).map_err(|e| {
                Outcome::fail(
                    Reason::Error,
                    format!("cannot load private key {}: {e}", path.display()),
                )
            })?;
            let hash = handle
                .best_supported_rsa_hash()
                .await
                .map_err(|e| lost(e, &tried))?
                .flatten();
            let r = handle
                .authenticate_publickey(
                    user.clone(),
                    PrivateKeyWithHashAlg::new(Arc::new(key), hash),
                )
                .await
                .map_err(|e| lost(e, &tried))?;
            tried.push("publickey");
            match r {
                AuthResult::Success => return Ok(()),
                AuthResult::Failure {
                    remaining_methods, ..
                } => offered = Some(remaining_methods.to_vec()),
            }
        }
        if let Some(password) = &self.s.spec.password {
            let offers = |m: MethodKind, o: &Option<Vec<MethodKind>>| {
                o.as_ref().is_none_or(|v| v.contains(&m))
            };
            if offers(MethodKind::Password, &offered) {
                let r = handle
                    .authenticate_password(user.clone(), password.expose())
                    .await
                    .map_err(|e| lost(e, &tried))?;
                tried.push("password");
                match r {
                    AuthResult::Success => return Ok(()),
                    AuthResult::Failure {
                        remaining_methods, ..
                    } => offered = Some(remaining_methods.to_vec()),
                }
            }
            if offers(MethodKind::KeyboardInteractive, &offered) {
                tried.push("keyboard-interactive");
                let mut r = handle
                    .authenticate_keyboard_interactive_start(user.clone(), None)
                    .await
                    .map_err(|e| lost(e, &tried))?;
                for _ in 0..8 {
                    match r {
                        KeyboardInteractiveAuthResponse::Success => return Ok(()),
                        KeyboardInteractiveAuthResponse::Failure { .. } => break,
                        KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                            let answers = prompts
                                .iter()
                                .map(|p| {
                                    let q = p.prompt.to_ascii_lowercase();
                                    if p.echo && (q.contains("user") || q.contains("login")) {
                                        user.clone()
                                    } else {
                                        password.expose().to_owned()
                                    }
                                })
                                .collect();
                            r = handle
                                .authenticate_keyboard_interactive_respond(answers)
                                .await
                                .map_err(|e| lost(e, &tried))?;
                        }
                    }
                }
            }
        }
        let methods = if tried.is_empty() {
            "no usable method: the device offers none of reachd's credentials' methods".to_owned()
        } else {
            format!("tried {}", tried.join(", "))
        };
        Err(Outcome::fail(
            Reason::AuthFailed,
            format!("authentication failed for user {user:?} ({methods})"),
        ))
    }

    async fn session(&self, handle: &client::Handle<Handler>) -> Step<Outcome> {
        self.s.progress.enter(Phase::Prompt);
        let w = self.s.wait(self.s.spec.read_timeout);
        let open = async {
            let ch = handle.channel_open_session().await?;
            ch.request_pty(false, "vt100", 200, 24, 0, 0, &[]).await?;
            ch.request_shell(false).await?;
            Ok::<_, russh::Error>(ch)
        };
        let channel = match tokio::time::timeout_at(w.at, open).await {
            Err(_) => return Err(self.s.timeout(w, "opening the shell")),
            Ok(Err(e)) => {
                return Err(Outcome::fail(
                    Reason::Closed,
                    format!("cannot open a shell: {}", ssh_error(&e)),
                ));
            }
            Ok(Ok(ch)) => ch,
        };
        let mut d = Dialogue::new(channel.into_stream());
        self.dialogue(&mut d).await
    }

    /// The CLI part: the first prompt, then what SSH and Telnet share.
    async fn dialogue(&self, d: &mut Dialogue<ChannelStream<client::Msg>>) -> Step<Outcome> {
        let plat = Platform::get(self.s.spec.platform.as_deref());
        let mut failures: Vec<&Pattern> = dialogue::auth_failures().iter().collect();
        failures.push(dialogue::login_prompt());
        let found = self
            .s
            .read(
                d,
                &[&plat.privileged_prompt, &plat.user_prompt],
                &failures,
                "the CLI prompt",
            )
            .await?;
        // No `exit`: the SSH disconnect that follows ends the session.
        self.s.cli(d, found).await
    }
}

/// OpenSSH pattern matching: `*` is any run of characters, `?` any one.
/// `fold_case` ignores ASCII case (host names do, algorithm names don't).
/// Linear backtracking to the last `*`, so no pattern takes long to match.
fn glob(pattern: &str, name: &str, fold_case: bool) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let same = |a: u8, b: u8| a == b || (fold_case && a.eq_ignore_ascii_case(&b));
    let (mut i, mut j) = (0, 0);
    // After the last `*` seen: where the pattern resumes, and how much of
    // the name that `*` has taken so far.
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        match p.get(i) {
            Some(b'*') => {
                star = Some((i + 1, j));
                i += 1;
            }
            Some(&c) if c == b'?' || same(c, n[j]) => {
                i += 1;
                j += 1;
            }
            _ => match star {
                Some((resume, taken)) => {
                    star = Some((resume, taken + 1));
                    i = resume;
                    j = taken + 1;
                }
                None => return false,
            },
        }
    }
    p[i..].iter().all(|&c| c == b'*')
}

fn ssh_error(e: &russh::Error) -> String {
    match e {
        russh::Error::Disconnect | russh::Error::HUP => {
            "the device closed the connection".to_owned()
        }
        russh::Error::IO(io) => format!("I/O error: {io}"),
        other => other.to_string(),
    }
}

fn handshake_error(e: russh::Error) -> Outcome {
    let detail = match &e {
        russh::Error::NoCommonAlgo { kind, ours, theirs } => {
            let kind = match format!("{kind:?}").as_str() {
                "Kex" => "key exchange",
                "Key" => "host key",
                "Cipher" => "cipher",
                "Compression" => "compression",
                "Mac" => "MAC",
                _ => "algorithm",
            };
            format!(
                "no common {kind} algorithm: reachd offers [{}], the device offers [{}]",
                ours.join(","),
                theirs.join(",")
            )
        }
        russh::Error::Version => "the peer is not an SSH server (bad version line)".to_owned(),
        russh::Error::Disconnect | russh::Error::HUP => {
            "the device closed the connection during the SSH handshake".to_owned()
        }
        russh::Error::IO(io) => format!("the SSH handshake failed: {io}"),
        other => format!("the SSH handshake failed: {other}"),
    };
    Outcome::fail(Reason::Handshake, detail)
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn glob_matches_like_openssh() {
        for (p, n) in [
            ("*", ""),
            ("*", "r1.lab"),
            ("r?.lab", "r1.lab"),
            ("*.lab", "r1.lab"),
            ("r*b", "r1.lab"),
            ("aes*-ctr", "aes128-ctr"),
            ("*a*a*b", "aaaab"),
            ("[10.0.0.1]:22*", "[10.0.0.1]:2222"),
        ] {
            assert!(glob(p, n, false), "{p} !~ {n}");
        }
        for (p, n) in [
            ("", "x"),
            ("r?.lab", "r10.lab"),
            ("*.lab", "r1.labs"),
            ("aes*-ctr", "aes128-cbc"),
            ("*a*a*b", "aaaa"),
        ] {
            assert!(!glob(p, n, false), "{p} ~ {n}");
        }
        assert!(glob("R1.LAB", "r1.lab", true));
        assert!(!glob("AES128-CTR", "aes128-ctr", false));
    }

    #[test]
    fn glob_is_not_exponential() {
        let pattern = format!("{}b", "*a".repeat(30));
        let name = "a".repeat(200);
        let start = std::time::Instant::now();
        assert!(!glob(&pattern, &name, true));
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }
}
