//! The Telnet login check: TCP connect → option negotiation (phase
//! `handshake`, until the device says its first words) → login prompt
//! (`Username:`, `login:`, or straight `Password:` on a password-only line)
//! → user name → password (phase `auth`, until the device shows a CLI prompt
//! or refuses) → then, shared with SSH, the prompt → `enable` → setup
//! (`terminal length 0`) → an optional command → `exit`.
//!
//! A login prompt seen twice, or `% Authentication failed`, `Login
//! incorrect`, `% Bad passwords`, is `auth_failed`; silence after the
//! password is `prompt` with what the device last said. Secrets are sent
//! only to the device and redacted from every detail.
//!
//! The Telnet protocol itself (codec, option negotiation, [`TelnetStream`])
//! is in [`protocol`].

pub mod protocol;
pub mod check;
pub mod settings;

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::session::dialogue::{self, Dialogue, DialogueError, Pattern, Platform};
use super::session::tether::{Tether, Tethered};
use super::session::{Expects, Session, Step, finish, shown_output};
use super::{BoxFuture, Probe};
use crate::target::{CheckSpec, Protocol, Target};
use crate::verdict::{Outcome, Phase, Progress, Reason, fmt_duration};
use protocol::{NegotiationConfig, TelnetStream};

/// The Telnet probe. One per daemon.
#[derive(Default)]
pub struct TelnetProbe {
    expects: Arc<Expects>,
}

impl std::fmt::Debug for TelnetProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelnetProbe").finish()
    }
}

impl TelnetProbe {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Probe for TelnetProbe {
    fn protocol(&self) -> Protocol {
        Protocol::Telnet
    }

    fn lane_threads(&self) -> usize {
        crate::engine::lane::cpu_bound()
    }

    fn check<'a>(&'a self, target: &'a Target, progress: &'a Progress) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let CheckSpec::Telnet(spec) = &target.spec else {
                return Outcome::fail(Reason::Error, "not a telnet target");
            };
            let s = Session {
                target,
                spec,
                progress,
                expects: &self.expects,
                eol: "\r\n",
                tether: Tether::for_session(spec),
            };
            finish(run(&s).await, spec)
        })
    }
}

type Telnet = Dialogue<TelnetStream<Tethered<TcpStream>>>;

/// Window size reported through NAWS: wide, and tall enough that nothing
/// pages before `terminal length 0`.
const WINDOW: (u16, u16) = (200, 512);

async fn run(s: &Session<'_>) -> Step<Outcome> {
    let addr = s.resolve().await?;
    let tcp = s.connect(addr).await?;
    s.progress.enter(Phase::Handshake);
    let stream = TelnetStream::with_config(
        tcp,
        NegotiationConfig {
            window_size: Some(WINDOW),
            ..NegotiationConfig::default()
        },
    );
    let mut d = Dialogue::new(stream);
    let outcome = session(s, &mut d).await;
    // Clean close: say goodbye once logged in, don't wait long for the device.
    if outcome.is_ok() {
        let _ = tokio::time::timeout(Duration::from_millis(200), async {
            let _ = d.send(b"exit\r\n").await;
            let _ = d.get_mut().shutdown().await;
        })
        .await;
    }
    outcome
}

async fn session(s: &Session<'_>, d: &mut Telnet) -> Step<Outcome> {
    handshake(s, d).await?;
    let first = login(s, d).await?;
    s.progress.enter(Phase::Prompt);
    s.cli(d, first).await
}

/// Negotiation: until the device says its first words (its banner or login
/// prompt), answering its options on the way.
async fn handshake(s: &Session<'_>, d: &mut Telnet) -> Step<()> {
    let w = s.wait(s.spec.read_timeout);
    match d.wait_for_output(w.at).await {
        Ok(()) => Ok(()),
        Err(_) if s.tether.over_budget() && d.get_mut().peer_negotiated() => Err(Outcome::fail(
            Reason::Handshake,
            format!(
                "the device negotiated Telnet options endlessly (more than {} KiB) and sent no text",
                s.tether.budget() / 1024
            ),
        )),
        Err(DialogueError::Timeout { .. }) => {
            let what = if d.get_mut().peer_negotiated() {
                "the device negotiated Telnet options but sent no text"
            } else {
                "the device accepted the connection but said nothing"
            };
            Err(Outcome::fail(
                Reason::Timeout,
                format!(
                    "no answer within {} in phase handshake ({what})",
                    fmt_duration(w.limit)
                ),
            ))
        }
        Err(e) => Err(s.read_error(e, w, "the login prompt")),
    }
}

/// The login dialogue; returns the first CLI prompt (index 0: privileged).
async fn login(s: &Session<'_>, d: &mut Telnet) -> Step<dialogue::Found> {
    s.progress.enter(Phase::Auth);
    let plat = Platform::get(s.spec.platform.as_deref());
    let fails = dialogue::auth_failures();
    let login = dialogue::login_prompt();
    let password = dialogue::password_prompt();
    let prompts = [&plat.privileged_prompt, &plat.user_prompt];
    let failures: Vec<&Pattern> = fails.iter().collect();

    // Username:, login:, Password: or (no login at all) a prompt.
    let found = s
        .read(
            d,
            &[login, password, prompts[0], prompts[1]],
            &failures,
            "the login prompt",
        )
        .await?;
    match found.index {
        0 => {
            let Some(user) = &s.spec.username else {
                return Err(Outcome::fail(
                    Reason::AuthFailed,
                    format!(
                        "the device asks for a user name (`{}`) and none is configured",
                        found.matched
                    ),
                ));
            };
            s.send(d, user).await?;
            let mut failures = failures.clone();
            failures.push(login);
            let found = s
                .read(
                    d,
                    &[password, prompts[0], prompts[1]],
                    &failures,
                    "the password prompt",
                )
                .await
                .map_err(|o| login_refused(o, "the user name"))?;
            if found.index > 0 {
                // No password asked: logged in.
                return Ok(dialogue::Found {
                    index: found.index - 1,
                    ..found
                });
            }
        }
        1 => {}
        i => {
            return Ok(dialogue::Found {
                index: i - 2,
                ..found
            });
        }
    }
    let Some(secret) = &s.spec.password else {
        return Err(Outcome::fail(
            Reason::AuthFailed,
            "the device asks for a password and none is configured",
        ));
    };
    s.send(d, secret.expose()).await?;
    let mut failures = failures;
    failures.push(login);
    failures.push(password);
    let w = s.wait(s.spec.read_timeout);
    let r = d.read_until(&prompts, &failures, w.at).await;
    s.progress
        .set_last_output(&shown_output(&d.last_output(), s.spec));
    match r {
        Ok(found) => Ok(found),
        Err(e @ DialogueError::Timeout { .. }) if !w.overall => {
            // Neither refused nor a prompt: we were waiting for the prompt.
            s.progress.enter(Phase::Prompt);
            Err(s.read_error(e, w, "the CLI prompt after the password"))
        }
        Err(e) if s.tether.over_budget() => {
            // Talking endlessly, neither refusing nor prompting: the same.
            s.progress.enter(Phase::Prompt);
            Err(s.read_error(e, w, "the CLI prompt after the password"))
        }
        Err(e) => Err(login_refused(
            s.read_error(e, w, "the CLI prompt after the password"),
            "the login",
        )),
    }
}

/// A login or password prompt seen again means the login was refused.
fn login_refused(o: Outcome, what: &str) -> Outcome {
    if o.reason == Reason::AuthFailed {
        let said = o.detail.trim_start_matches("the device said ");
        // The matched text, between backticks: a prompt ends with a colon.
        let matched = said.split('`').nth(1).unwrap_or("");
        let again = matched.trim_end().ends_with(':');
        if again {
            let last = o
                .detail
                .split_once("; last output: ")
                .map(|(_, l)| l)
                .unwrap_or("");
            return Outcome::fail(
                Reason::AuthFailed,
                format!("{what} was refused: the device asked again; last output: {last}"),
            );
        }
        return Outcome::fail(Reason::AuthFailed, format!("{what} was refused: {said}"));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_what_the_device_said() {
        let said = |m: &str| {
            Outcome::fail(
                Reason::AuthFailed,
                format!("the device said `{m}`; last output: x | {m}"),
            )
        };
        let o = login_refused(said("Login incorrect"), "the login");
        assert_eq!(
            o.detail,
            "the login was refused: `Login incorrect`; last output: x | Login incorrect"
        );
        for prompt in ["Username:", "lab login:", "Password:"] {
            let o = login_refused(said(prompt), "the login");
            assert_eq!(o.reason, Reason::AuthFailed);
            assert!(o.detail.contains("asked again"), "{}", o.detail);
        }
        let closed = Outcome::fail(Reason::Closed, "gone");
        assert_eq!(login_refused(closed.clone(), "the login"), closed);
    }
}
