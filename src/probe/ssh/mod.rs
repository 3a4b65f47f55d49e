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

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, AuthResult, KeyboardInteractiveAuthResponse};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelStream, MethodKind};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{BoxFuture, Probe};
use crate::dialogue::{self, Dialogue, DialogueError, Pattern, Platform};
use crate::target::{Algorithms, CheckSpec, HostKeyPolicy, Protocol, SessionSpec, Target};
use crate::verdict::{Outcome, Phase, Progress, Reason, fmt_duration};

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
    /// Compiled `expect` regexes (validated when the config was loaded).
    expects: Mutex<HashMap<String, Arc<regex::Regex>>>,
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
                expects: Mutex::new(HashMap::new()),
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

    fn expect(&self, re: &str) -> Result<Arc<regex::Regex>, regex::Error> {
        let mut map = self.expects.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = map.get(re) {
            return Ok(r.clone());
        }
        let compiled = Arc::new(regex::Regex::new(re)?);
        map.insert(re.to_owned(), compiled.clone());
        Ok(compiled)
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

    fn check<'a>(&'a self, target: &'a Target, progress: &'a Progress) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let CheckSpec::Ssh(spec) = &target.spec else {
                return Outcome::fail(Reason::Error, "not an ssh target");
            };
            let check = Check {
                inner: &self.inner,
                target,
                spec,
                progress,
            };
            let mut outcome = match check.run().await {
                Ok(o) | Err(o) => o,
            };
            // A device that echoes a password must not put it in a verdict.
            outcome.detail = redact(&outcome.detail, spec);
            outcome
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
    target: &'a Target,
    spec: &'a SessionSpec,
    progress: &'a Progress,
}

type Step<T> = Result<T, Outcome>;

/// How a wait ended when its deadline passed.
#[derive(Clone, Copy)]
struct Wait {
    at: Instant,
    /// True when the check's own deadline (not `read_timeout`) bounds it.
    overall: bool,
    limit: Duration,
}

impl Check<'_> {
    /// The deadline of one wait: `read_timeout` from now, but ending a
    /// little before the check's deadline so the verdict can say more
    /// than "timeout".
    fn wait(&self, limit: Duration) -> Wait {
        let now = Instant::now();
        let hard = self.progress.deadline();
        let left = hard.saturating_duration_since(now);
        let margin = (left / 20).clamp(Duration::from_millis(5), Duration::from_millis(100));
        let overall_at = hard.checked_sub(margin).unwrap_or(now).max(now);
        let mine = now + limit;
        if mine < overall_at {
            Wait {
                at: mine,
                overall: false,
                limit,
            }
        } else {
            Wait {
                at: overall_at,
                overall: true,
                limit: self.target.timeout,
            }
        }
    }

    fn timeout(&self, w: Wait, what: &str) -> Outcome {
        let phase = self.progress.phase();
        Outcome::fail(
            Reason::Timeout,
            format!(
                "no answer within {} in phase {phase} ({what})",
                fmt_duration(w.limit)
            ),
        )
    }

    async fn run(&self) -> Step<Outcome> {
        let addr = self.resolve().await?;
        let stream = self.connect(addr).await?;
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

    async fn resolve(&self) -> Step<SocketAddr> {
        self.progress.enter(Phase::Resolve);
        let host = self.target.host.as_str();
        let port = self.spec.port;
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        let w = self.wait(self.spec.connect_timeout);
        match tokio::time::timeout_at(w.at, tokio::net::lookup_host((host, port))).await {
            Err(_) => Err(self.timeout(w, "resolving the host name")),
            Ok(Err(e)) => Err(Outcome::fail(
                Reason::Dns,
                format!("cannot resolve {host}: {e}"),
            )),
            Ok(Ok(mut addrs)) => addrs
                .next()
                .ok_or_else(|| Outcome::fail(Reason::Dns, format!("{host} has no address"))),
        }
    }

    async fn connect(&self, addr: SocketAddr) -> Step<TcpStream> {
        self.progress.enter(Phase::Connect);
        let w = self.wait(self.spec.connect_timeout);
        match tokio::time::timeout_at(w.at, TcpStream::connect(addr)).await {
            Err(_) => Err(self.timeout(w, &format!("TCP connect to {addr}"))),
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                Ok(s)
            }
            Ok(Err(e)) => Err(connect_error(addr, &e)),
        }
    }

    async fn handshake(&self, stream: TcpStream) -> Step<client::Handle<Handler>> {
        self.progress.enter(Phase::Handshake);
        let config = self
            .inner
            .config(&self.spec.algorithms)
            .map_err(|e| Outcome::fail(Reason::Error, format!("algorithm settings: {e}")))?;
        let handler = Handler {
            inner: self.inner.clone(),
            policy: self.spec.host_key,
            known_hosts: self.spec.known_hosts.clone(),
            host_port: known_hosts::host_port(&self.target.host, self.spec.port),
        };
        let w = self.wait(self.spec.read_timeout);
        match tokio::time::timeout_at(w.at, client::connect_stream(config, stream, handler)).await {
            Err(_) => Err(self.timeout(w, "SSH handshake")),
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
        self.progress.enter(Phase::Auth);
        let w = self.wait(self.spec.read_timeout);
        match tokio::time::timeout_at(w.at, self.try_auth(handle)).await {
            Err(_) => Err(self.timeout(w, "authentication")),
            Ok(r) => r,
        }
    }

    async fn try_auth(&self, handle: &mut client::Handle<Handler>) -> Step<()> {
        let user = self.spec.username.clone().unwrap_or_default();
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
        if let Some(path) = &self.spec.private_key {
            let pass = self
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
        if let Some(password) = &self.spec.password {
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
        self.progress.enter(Phase::Prompt);
        let w = self.wait(self.spec.read_timeout);
        let open = async {
            let ch = handle.channel_open_session().await?;
            ch.request_pty(false, "vt100", 200, 24, 0, 0, &[]).await?;
            ch.request_shell(false).await?;
            Ok::<_, russh::Error>(ch)
        };
        let channel = match tokio::time::timeout_at(w.at, open).await {
            Err(_) => return Err(self.timeout(w, "opening the shell")),
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

    /// The CLI part: prompt, enable, setup, command.
    async fn dialogue(&self, d: &mut Dialogue<ChannelStream<client::Msg>>) -> Step<Outcome> {
        let plat = Platform::get(self.spec.platform.as_deref());
        let fails = dialogue::auth_failures();
        let login = dialogue::login_prompt();
        let password_prompt = dialogue::password_prompt();
        let prompts = [&plat.privileged_prompt, &plat.user_prompt];

        // The first prompt.
        let mut failures: Vec<&Pattern> = fails.iter().collect();
        failures.push(login);
        let found = self.read(d, &prompts, &failures, "the CLI prompt").await?;
        let privileged = found.index == 0;
        let mut prompt = found.matched;

        // enable
        if self.spec.enable && plat.has_enable && !privileged {
            self.progress.enter(Phase::Enable);
            self.send(d, "enable").await?;
            let mut failures: Vec<&Pattern> = fails.iter().collect();
            failures.push(&plat.user_prompt);
            let found = self
                .read(
                    d,
                    &[&plat.privileged_prompt, password_prompt],
                    &failures,
                    "the answer to enable",
                )
                .await
                .map_err(|o| enable_refused(o, "enable"))?;
            if found.index == 1 {
                let Some(secret) = &self.spec.secondary else {
                    return Err(Outcome::fail(
                        Reason::EnableFailed,
                        "enable asks for a password and no secondary (enable) password is configured",
                    ));
                };
                d.send_line(secret.expose())
                    .await
                    .map_err(|e| self.io(e, d))?;
                let mut failures: Vec<&Pattern> = fails.iter().collect();
                failures.push(password_prompt);
                failures.push(&plat.user_prompt);
                let found = self
                    .read(
                        d,
                        &[&plat.privileged_prompt],
                        &failures,
                        "the privileged prompt",
                    )
                    .await
                    .map_err(|o| enable_refused(o, "the enable password"))?;
                prompt = found.matched;
            } else {
                prompt = found.matched;
            }
        }

        // Setup: no paging.
        for cmd in plat.setup {
            self.send(d, cmd).await?;
            let found = self
                .read(d, &prompts, &[], &format!("the prompt after `{cmd}`"))
                .await?;
            prompt = found.matched;
        }

        // The command and its expected output.
        if let Some(cmd) = &self.spec.command {
            self.progress.enter(Phase::Command);
            self.send(d, cmd).await?;
            let found = self
                .read(d, &prompts, &[], &format!("the prompt after `{cmd}`"))
                .await?;
            prompt = found.matched;
            // The first line is the echo of the command.
            let output = found
                .before
                .split_once('\n')
                .map(|(_, rest)| rest)
                .unwrap_or("");
            if let Some(expect) = &self.spec.expect {
                let re = self
                    .inner
                    .expect(expect)
                    .map_err(|e| Outcome::fail(Reason::Error, format!("expect regex: {e}")))?;
                if !re.is_match(output) {
                    return Err(Outcome::fail(
                        Reason::Error,
                        format!(
                            "the output of `{cmd}` does not match /{expect}/; it ends: {}",
                            tail(&dialogue::clean(output.as_bytes()), 200)
                        ),
                    ));
                }
            }
        }
        // No `exit`: the SSH disconnect that follows ends the session.
        Ok(Outcome::ok(format!("logged in, prompt {prompt}")).with_prompt(prompt))
    }

    async fn send(&self, d: &mut Dialogue<ChannelStream<client::Msg>>, line: &str) -> Step<()> {
        d.send_line(line).await.map_err(|e| self.io(e, d))
    }

    fn io(&self, e: std::io::Error, d: &Dialogue<ChannelStream<client::Msg>>) -> Outcome {
        let last = d.last_output();
        let mut detail = format!(
            "the connection closed in phase {} ({e})",
            self.progress.phase()
        );
        if !last.is_empty() {
            detail.push_str("; last output: ");
            detail.push_str(&last);
        }
        Outcome::fail(Reason::Closed, detail)
    }

    async fn read(
        &self,
        d: &mut Dialogue<ChannelStream<client::Msg>>,
        wanted: &[&Pattern],
        failures: &[&Pattern],
        what: &str,
    ) -> Step<dialogue::Found> {
        let w = self.wait(self.spec.read_timeout);
        let r = d.read_until(wanted, failures, w.at).await;
        self.progress
            .set_last_output(&redact(&d.last_output(), self.spec));
        r.map_err(|e| {
            let phase = self.progress.phase();
            let with_last = |s: String, last: &str| {
                if last.is_empty() {
                    s
                } else {
                    format!("{s}; last output: {last}")
                }
            };
            match e {
                DialogueError::Timeout { last_output } => {
                    let (reason, s) = if w.overall {
                        (
                            Reason::Timeout,
                            format!(
                                "no answer within {} in phase {phase} (waiting for {what})",
                                fmt_duration(w.limit)
                            ),
                        )
                    } else {
                        (
                            Reason::Prompt,
                            format!("no {what} within {}", fmt_duration(w.limit)),
                        )
                    };
                    Outcome::fail(reason, with_last(s, &last_output))
                }
                DialogueError::Closed { last_output } => Outcome::fail(
                    Reason::Closed,
                    with_last(
                        format!("the device closed the connection in phase {phase}"),
                        &last_output,
                    ),
                ),
                DialogueError::Failure {
                    matched,
                    last_output,
                    ..
                } => Outcome::fail(
                    Reason::AuthFailed,
                    with_last(format!("the device said `{matched}`"), &last_output),
                ),
                DialogueError::Io { error, last_output } => Outcome::fail(
                    Reason::Closed,
                    with_last(
                        format!("connection lost in phase {phase}: {error}"),
                        &last_output,
                    ),
                ),
            }
        })
    }
}

/// `text` with the spec's secrets (of 4 characters or more: shorter ones
/// would blank out ordinary words) replaced by `<redacted>`.
fn redact(text: &str, spec: &SessionSpec) -> String {
    let mut out = text.to_owned();
    for secret in [
        &spec.password,
        &spec.secondary,
        &spec.private_key_passphrase,
    ]
    .into_iter()
    .flatten()
    {
        let s = secret.expose();
        if s.chars().count() >= 4 && out.contains(s) {
            out = out.replace(s, "<redacted>");
        }
    }
    out
}

/// A refusal during enable is `enable_failed`, not `auth_failed`.
fn enable_refused(o: Outcome, what: &str) -> Outcome {
    if o.reason == Reason::AuthFailed && o.detail.starts_with("the device said `Password") {
        let last = o
            .detail
            .split_once("; last output: ")
            .map(|(_, l)| l)
            .unwrap_or("");
        Outcome::fail(
            Reason::EnableFailed,
            format!(
                "{what} was refused: the device asked for the password again; last output: {last}"
            ),
        )
    } else if o.reason == Reason::AuthFailed {
        Outcome::fail(
            Reason::EnableFailed,
            format!(
                "{what} was refused: {}",
                o.detail.trim_start_matches("the device said ")
            ),
        )
    } else {
        o
    }
}

fn tail(s: &str, n: usize) -> String {
    let count = s.chars().count();
    if count <= n {
        s.to_owned()
    } else {
        format!("…{}", s.chars().skip(count - n).collect::<String>())
    }
}

fn connect_error(addr: SocketAddr, e: &std::io::Error) -> Outcome {
    use std::io::ErrorKind as K;
    let reason = match e.kind() {
        K::ConnectionRefused => Reason::Refused,
        K::HostUnreachable | K::NetworkUnreachable => Reason::Unreachable,
        _ => match e.raw_os_error() {
            Some(libc::EHOSTUNREACH | libc::ENETUNREACH) => Reason::Unreachable,
            Some(libc::ECONNREFUSED) => Reason::Refused,
            _ => Reason::Error,
        },
    };
    let what = match reason {
        Reason::Refused => "connection refused".to_owned(),
        Reason::Unreachable => format!("unreachable: {e}"),
        _ => format!("cannot connect: {e}"),
    };
    Outcome::fail(reason, format!("{what} ({addr})"))
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
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn echoed_secrets_are_redacted() {
        let spec = SessionSpec {
            port: 22,
            username: Some("admin".into()),
            password: Some(Secret::new("hunter2")),
            secondary: Some(Secret::new("s3cr3t-enable")),
            private_key: None,
            private_key_passphrase: Some(Secret::new("abc")),
            host_key: HostKeyPolicy::Off,
            known_hosts: None,
            platform: None,
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(1),
            enable: true,
            command: None,
            expect: None,
            algorithms: Algorithms::default(),
        };
        assert_eq!(
            redact("R1>enable | Password: s3cr3t-enable | hunter2 abc", &spec),
            "R1>enable | Password: <redacted> | <redacted> abc"
        );
    }
}
