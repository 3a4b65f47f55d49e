//! What the SSH and Telnet checks share: resolving and connecting, bounded
//! waits, reading through the dialogue engine into verdicts, and the CLI
//! part after login (the prompt → `enable` → setup (`terminal length 0`) →
//! an optional command and its expected output), plus secret redaction.
//!
//! Beside it: [`dialogue`], the CLI dialogue engine and platform prompts,
//! and [`tether`], a check's hold on its socket.

pub mod dialogue;
pub mod settings;
pub mod tether;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::target::{SessionSpec, Target};
use crate::verdict::{Outcome, Phase, Progress, Reason, fmt_duration};
use dialogue::{Dialogue, DialogueError, Found, Pattern, Platform};
use tether::{Tether, Tethered};

pub(crate) type Step<T> = Result<T, Outcome>;

/// Compiled `expect` regexes (validated when the config was loaded), shared
/// across checks.
#[derive(Default)]
pub(crate) struct Expects(Mutex<HashMap<String, Arc<regex::Regex>>>);

impl Expects {
    fn get(&self, re: &str) -> Result<Arc<regex::Regex>, regex::Error> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = map.get(re) {
            return Ok(r.clone());
        }
        let compiled = Arc::new(regex::Regex::new(re)?);
        map.insert(re.to_owned(), compiled.clone());
        Ok(compiled)
    }
}

/// How a wait ended when its deadline passed.
#[derive(Clone, Copy)]
pub(crate) struct Wait {
    pub at: Instant,
    /// True when the check's own deadline (not `read_timeout`) bounds it.
    pub overall: bool,
    pub limit: Duration,
}

/// One SSH or Telnet check in progress.
pub(crate) struct Session<'a> {
    pub target: &'a Target,
    pub spec: &'a SessionSpec,
    pub progress: &'a Progress,
    pub expects: &'a Expects,
    /// What ends a line sent to the device (`\r` over SSH, `\r\n` over Telnet).
    pub eol: &'static str,
    /// The check's hold on its connection: cut when the session ends, and
    /// the count of bytes the device sent against the budget.
    pub tether: Tether,
}

impl Session<'_> {
    /// The deadline of one wait: `limit` from now, but ending a little
    /// before the check's deadline so the verdict can say more than
    /// "timeout".
    pub fn wait(&self, limit: Duration) -> Wait {
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

    pub fn timeout(&self, w: Wait, what: &str) -> Outcome {
        let phase = self.progress.phase();
        Outcome::fail(
            Reason::Timeout,
            format!(
                "no answer within {} in phase {phase} ({what})",
                fmt_duration(w.limit)
            ),
        )
    }

    pub async fn resolve(&self) -> Step<SocketAddr> {
        self.progress.enter(Phase::Resolve);
        let host = self.target.host.as_str();
        let port = self.spec.port;
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        let w = self.wait(self.spec.connect_timeout);
        match tokio::time::timeout_at(w.at, tokio::net::lookup_host((host, port))).await {
            Err(_) => Err(self.timeout(w, "resolving the host name")),
            Ok(Err(e)) if crate::fdlimit::exhausted(&e) => Err(Outcome::fail(
                Reason::Error,
                format!(
                    "reachd is out of file descriptors, not resolving {host} ({e}); see the log"
                ),
            )),
            Ok(Err(e)) => Err(Outcome::fail(
                Reason::Dns,
                format!("cannot resolve {host}: {e}"),
            )),
            Ok(Ok(addrs)) => pick(host, addrs, &self.target.source, self.target.ip_family)
                .map_err(|why| Outcome::fail(Reason::Dns, why)),
        }
    }

    /// Connects, tethered to this session: the stream stops working when
    /// the session ends, and past the byte budget.
    pub async fn connect(&self, addr: SocketAddr) -> Step<Tethered<TcpStream>> {
        self.progress.enter(Phase::Connect);
        let w = self.wait(self.spec.connect_timeout);
        let source = &self.target.source;
        let connecting = async {
            if source.is_default() {
                return TcpStream::connect(addr).await;
            }
            let socket = if addr.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                tokio::net::TcpSocket::new_v6()?
            };
            if let Some(name) = &source.interface {
                socket.bind_device(Some(name.as_bytes()))?;
            }
            if let Some(a) = source.address {
                socket.bind(SocketAddr::new(a, 0))?;
            }
            socket.connect(addr).await
        };
        match tokio::time::timeout_at(w.at, connecting).await {
            Err(_) => Err(self.timeout(w, &format!("TCP connect to {addr}"))),
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                Ok(self.tether.attach(s))
            }
            Ok(Err(e)) => Err(match source.gone() {
                Some(gone) => Outcome::fail(
                    Reason::Unreachable,
                    format!("{gone} (connecting to {addr}: {e})"),
                ),
                None if !source.is_default() => {
                    let mut o = connect_error(addr, &e);
                    o.detail = format!("{} (from {source})", o.detail);
                    o
                }
                None => connect_error(addr, &e),
            }),
        }
    }

    /// Sends `line` and the session's end of line.
    pub async fn send<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        d: &mut Dialogue<S>,
        line: &str,
    ) -> Step<()> {
        d.send_line(line, self.eol).await.map_err(|e| self.io(e, d))
    }

    pub fn io<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        e: std::io::Error,
        d: &Dialogue<S>,
    ) -> Outcome {
        if let Some(o) = self.over_budget(&d.last_output(), "a prompt") {
            return o;
        }
        let last = shown_output(&d.last_output(), self.spec);
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

    /// Reads until a `wanted` pattern within `read_timeout`; a timeout is
    /// `prompt` (or `timeout` when the check's own deadline is the bound),
    /// a failure pattern `auth_failed`, the end of the stream `closed`.
    pub async fn read<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        d: &mut Dialogue<S>,
        wanted: &[&Pattern],
        failures: &[&Pattern],
        what: &str,
    ) -> Step<Found> {
        let w = self.wait(self.spec.read_timeout);
        let r = d.read_until(wanted, failures, w.at).await;
        self.progress
            .set_last_output(&shown_output(&d.last_output(), self.spec));
        r.map_err(|e| self.read_error(e, w, what))
    }

    /// The verdict of a device that sent more than the check's byte budget
    /// (endless output), if it did.
    fn over_budget(&self, last_output: &str, what: &str) -> Option<Outcome> {
        if !self.tether.over_budget() {
            return None;
        }
        let last_output = shown_output(last_output, self.spec);
        let mut detail = format!(
            "the device sent more than {} KiB without {what} (endless output?)",
            self.tether.budget() / 1024
        );
        if !last_output.is_empty() {
            detail.push_str("; last output: ");
            detail.push_str(&last_output);
        }
        Some(Outcome::fail(Reason::Prompt, detail))
    }

    pub fn read_error(&self, e: DialogueError, w: Wait, what: &str) -> Outcome {
        // A failure message is what it says, whatever came before it.
        if !matches!(e, DialogueError::Failure { .. })
            && let Some(o) = self.over_budget(e.last_output(), what)
        {
            return o;
        }
        let phase = self.progress.phase();
        let with_last = |s: String, last: &str| {
            let last = shown_output(last, self.spec);
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
                        format!(
                            "no {} within {}",
                            without_article(what),
                            fmt_duration(w.limit)
                        ),
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
    }

    /// The CLI part after the first prompt (`first`, found by the caller):
    /// enable, setup, command. Ends in the phase it stopped in.
    pub async fn cli<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        d: &mut Dialogue<S>,
        first: Found,
    ) -> Step<Outcome> {
        let plat = Platform::get(self.spec.platform.as_deref());
        let fails = dialogue::auth_failures();
        let password_prompt = dialogue::password_prompt();
        let prompts = [&plat.privileged_prompt, &plat.user_prompt];
        let privileged = first.index == 0;
        let mut prompt = first.matched;

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
                self.send(d, secret.expose()).await?;
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
                    .expects
                    .get(expect)
                    .map_err(|e| Outcome::fail(Reason::Error, format!("expect regex: {e}")))?;
                if !re.is_match(output) {
                    return Err(Outcome::fail(
                        Reason::Error,
                        format!(
                            "the output of `{cmd}` does not match /{expect}/; it ends: {}",
                            shown_output(&dialogue::clean(output.as_bytes()), self.spec)
                        ),
                    ));
                }
            }
        }
        Ok(Outcome::ok(format!("logged in, prompt {prompt}")).with_prompt(prompt))
    }
}

/// The verdict of a check's steps, whichever way they ended, with the
/// spec's secrets redacted from its detail (a device that echoes a password
/// must not put it in a verdict).
pub(crate) fn finish(step: Step<Outcome>, spec: &SessionSpec) -> Outcome {
    let mut outcome = match step {
        Ok(o) | Err(o) => o,
    };
    outcome.detail = redact(&outcome.detail, spec);
    outcome
}

/// How many characters of a device's output a verdict shows.
pub(crate) const SHOWN_OUTPUT: usize = 200;

/// Device output as a verdict shows it: the spec's secrets redacted from
/// the whole text first, then its last [`SHOWN_OUTPUT`] characters, so a
/// secret that straddles the cut never shows the part after the cut.
pub(crate) fn shown_output(raw: &str, spec: &SessionSpec) -> String {
    tail(&redact(raw, spec), SHOWN_OUTPUT)
}

/// `text` with the spec's secrets (of 4 characters or more: shorter ones
/// would blank out ordinary words) replaced by `<redacted>`; so is a piece
/// of one (3 characters or more) at a cut edge of the text: its end after a
/// leading `…` (older output dropped), its beginning at the very end (the
/// device was still sending it).
pub(crate) fn redact(text: &str, spec: &SessionSpec) -> String {
    const MARK: &str = "<redacted>";
    const PIECE: usize = 3;
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
        if s.chars().count() < 4 {
            continue;
        }
        if out.contains(s) {
            out = out.replace(s, MARK);
        }
        // A leading piece: the longest proper suffix of the secret that
        // starts the text after its `…`.
        if let Some(rest) = out.strip_prefix('…') {
            let piece = s
                .char_indices()
                .skip(1)
                .map(|(i, _)| &s[i..])
                .find(|suffix| suffix.chars().count() >= PIECE && rest.starts_with(suffix));
            if let Some(piece) = piece {
                out = format!("…{MARK}{}", &rest[piece.len()..]);
            }
        }
        // A trailing piece: the longest proper prefix of the secret that
        // ends the text.
        let piece = s
            .char_indices()
            .rev()
            .filter(|&(i, _)| i > 0)
            .map(|(i, _)| &s[..i])
            .find(|prefix| prefix.chars().count() >= PIECE && out.ends_with(prefix));
        if let Some(piece) = piece {
            out.truncate(out.len() - piece.len());
            out.push_str(MARK);
        }
    }
    out
}

/// `what` (a noun phrase such as "the CLI prompt") without its leading
/// article, for "no CLI prompt within 3s".
fn without_article(what: &str) -> &str {
    ["the ", "a ", "an "]
        .iter()
        .find_map(|a| what.strip_prefix(a))
        .unwrap_or(what)
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

pub(crate) fn tail(s: &str, n: usize) -> String {
    let count = s.chars().count();
    if count <= n {
        s.to_owned()
    } else {
        format!("…{}", s.chars().skip(count - n).collect::<String>())
    }
}

pub(crate) fn connect_error(addr: SocketAddr, e: &std::io::Error) -> Outcome {
    use std::io::ErrorKind as K;
    if crate::fdlimit::exhausted(e) {
        return Outcome::fail(
            Reason::Error,
            format!(
                "reachd is out of file descriptors, not connecting to {addr} ({e}); see the log"
            ),
        );
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::target::{Algorithms, HostKeyPolicy};

    #[test]
    fn running_out_of_descriptors_is_said_as_reachd_s_own_error() {
        let addr: SocketAddr = "127.0.0.1:22".parse().expect("addr");
        let o = connect_error(addr, &std::io::Error::from_raw_os_error(libc::EMFILE));
        assert_eq!(o.reason, Reason::Error);
        assert!(
            o.detail
                .starts_with("reachd is out of file descriptors, not connecting to 127.0.0.1:22"),
            "{}",
            o.detail
        );
        let o = connect_error(addr, &std::io::Error::from_raw_os_error(libc::ECONNREFUSED));
        assert_eq!(o.reason, Reason::Refused);
    }

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

/// Of `host`'s resolved addresses (in the resolver's order), the first of
/// the check's `ip_family` that its source can send to; else why none is.
fn pick(
    host: &str,
    addrs: impl Iterator<Item = SocketAddr>,
    source: &crate::target::Source,
    family: crate::target::IpFamily,
) -> Result<SocketAddr, String> {
    let mut any = false;
    let mut of_family = false;
    for a in addrs {
        any = true;
        if !family.fits(a.ip()) {
            continue;
        }
        of_family = true;
        if source.fits(a.ip()) {
            return Ok(a);
        }
    }
    Err(match family.label() {
        Some(fam) if !of_family => {
            let other = if any {
                "; it has only the other family's"
            } else {
                ""
            };
            format!("{host} has no {fam} address (ip_family: {family}{other})")
        }
        _ if any && source.address.is_some() => {
            format!("{host} has no address of the family of the {source}")
        }
        _ => format!("{host} has no address"),
    })
}

#[cfg(test)]
mod pick_tests {
    use super::*;
    use crate::target::{IpFamily, Source};

    fn addrs() -> impl Iterator<Item = SocketAddr> {
        ["198.18.0.2:22", "[2001:2::2]:22", "198.18.0.3:22"]
            .into_iter()
            .map(|a| a.parse().unwrap())
    }

    #[test]
    fn ip_family_filters_resolved_addresses() {
        let none = Source::default();
        let at = |f| pick("r1", addrs(), &none, f).map(|a| a.to_string());
        assert_eq!(at(IpFamily::Auto).unwrap(), "198.18.0.2:22");
        assert_eq!(at(IpFamily::Ipv4).unwrap(), "198.18.0.2:22");
        assert_eq!(at(IpFamily::Ipv6).unwrap(), "[2001:2::2]:22");
        let v4only = || addrs().filter(|a| a.is_ipv4());
        assert_eq!(
            pick("r1", v4only(), &none, IpFamily::Ipv6).unwrap_err(),
            "r1 has no IPv6 address (ip_family: ipv6; it has only the other family's)"
        );
        assert_eq!(
            pick("r1", std::iter::empty(), &none, IpFamily::Ipv4).unwrap_err(),
            "r1 has no IPv4 address (ip_family: ipv4)"
        );
        let v6src = Source {
            address: Some("2001:2::9".parse().unwrap()),
            interface: None,
        };
        assert_eq!(
            pick("r1", addrs(), &v6src, IpFamily::Auto)
                .unwrap()
                .to_string(),
            "[2001:2::2]:22"
        );
        assert_eq!(
            pick("r1", v4only(), &v6src, IpFamily::Auto).unwrap_err(),
            "r1 has no address of the family of the source address 2001:2::9"
        );
    }
}

#[cfg(test)]
mod wording_tests {
    use super::*;
    use crate::secret::Secret;
    use crate::target::{Algorithms, CheckSpec, HostKeyPolicy, Protocol};

    fn spec() -> SessionSpec {
        SessionSpec {
            port: 22,
            username: Some("admin".into()),
            password: Some(Secret::new("hunter2")),
            secondary: None,
            private_key: None,
            private_key_passphrase: None,
            host_key: HostKeyPolicy::Off,
            known_hosts: None,
            platform: None,
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(3),
            enable: true,
            command: None,
            expect: None,
            algorithms: Algorithms::default(),
        }
    }

    /// A secret that straddles the 200-character cut, or that the text
    /// ends in the middle of, shows no piece of itself.
    #[test]
    fn shown_output_redacts_before_cutting() {
        let mut spec = spec();
        spec.password = Some(Secret::new("CNRY-ECHOTRUNC-cc22dd"));
        let after = "x".repeat(190);
        let raw = format!("Password: CNRY-ECHOTRUNC-cc22dd | {after}");
        let shown = shown_output(&raw, &spec);
        assert_eq!(shown, format!("…dacted> | {after}"));
        // Older output dropped by the dialogue, mid-secret.
        assert_eq!(redact("…TRUNC-cc22dd | R1>", &spec), "…<redacted> | R1>");
        // The device still sending it.
        assert_eq!(redact("Password: CNRY-ECHO", &spec), "Password: <redacted>");
        // Short overlaps at an edge are left alone.
        assert_eq!(redact("…dd R1>", &spec), "…dd R1>");
        assert_eq!(redact("R1>CN", &spec), "R1>CN");
    }

    /// Every `what` the SSH and Telnet checks pass to `read`/`read_error`
    /// gives a detail that reads as English: "no CLI prompt within 3s",
    /// never "no the CLI prompt within 3s".
    #[test]
    fn prompt_timeout_details_read_correctly() {
        let spec = spec();
        let target = Target {
            device: "R1".into(),
            protocol: Protocol::Ssh,
            host: "127.0.0.1".into(),
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            spec: CheckSpec::Ssh(spec.clone()),
            source: Default::default(),
            ip_family: Default::default(),
        };
        let progress = Progress::start(Phase::Prompt, Duration::from_secs(10));
        let expects = Expects::default();
        let s = Session {
            target: &target,
            spec: &spec,
            progress: &progress,
            expects: &expects,
            eol: "\r",
            tether: Tether::default(),
        };
        let w = Wait {
            at: Instant::now(),
            overall: false,
            limit: Duration::from_secs(3),
        };
        let cases = [
            ("the CLI prompt", "no CLI prompt within 3s"),
            ("the answer to enable", "no answer to enable within 3s"),
            ("the privileged prompt", "no privileged prompt within 3s"),
            (
                "the prompt after `terminal length 0`",
                "no prompt after `terminal length 0` within 3s",
            ),
            ("the login prompt", "no login prompt within 3s"),
            ("the password prompt", "no password prompt within 3s"),
            (
                "the CLI prompt after the password",
                "no CLI prompt after the password within 3s",
            ),
        ];
        for (what, want) in cases {
            let o = s.read_error(
                DialogueError::Timeout {
                    last_output: String::new(),
                },
                w,
                what,
            );
            assert_eq!(o.reason, Reason::Prompt);
            assert_eq!(o.detail, want, "for {what:?}");
        }
    }
}
