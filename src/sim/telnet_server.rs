//! A simulated device's Telnet side: IOS-style negotiation (`WILL ECHO`,
//! `WILL SGA`, `DO TERMINAL-TYPE`, `DO NAWS`), `User Access Verification`,
//! `Username:`/`Password:` (or `Password:` only on a password-only line),
//! then the shared IOS CLI ([`super::ios`]). Fault modes as for SSH, plus an
//! IAC storm (negotiation forever, never a word).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::Fault;
use super::device::{Device, drain, noise};
use super::ios::{Answer, Ios, MOTD, endless_line};

const IAC: u8 = 255;
const SB: u8 = 250;
const SE: u8 = 240;
const NOP: u8 = 241;
const WILL: u8 = 251;
const DO: u8 = 253;
const DONT: u8 = 254;

/// What IOS sends first: WILL ECHO, WILL SGA, DO TERMINAL-TYPE, DO NAWS.
const OPENING: &[u8] = &[IAC, WILL, 1, IAC, WILL, 3, IAC, DO, 24, IAC, DO, 31];
const BANNER: &str = "\r\n\r\nUser Access Verification\r\n\r\n";
/// Idle limit of a connection: the simulator never holds a socket forever.
const IDLE: Duration = Duration::from_secs(120);

/// Telnet input, decoded: commands skipped, lines split on CR LF, CR NUL or LF.
struct Input {
    rd: OwnedReadHalf,
    buf: Vec<u8>,
    pos: usize,
    state: State,
    /// The line being typed.
    line: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Data,
    /// After a CR: a LF or NUL that follows belongs to it.
    Cr,
    Iac,
    /// After WILL/WONT/DO/DONT: the option byte.
    Opt,
    Sb,
    SbIac,
}

impl Input {
    /// The next line, echoing typed characters to `wr` if `echo`; `None`
    /// when the client goes away or stays idle too long.
    async fn line(&mut self, wr: &mut OwnedWriteHalf, echo: bool) -> Option<String> {
        loop {
            let mut echoed = Vec::new();
            while self.pos < self.buf.len() {
                let b = self.buf[self.pos];
                self.pos += 1;
                let done = match self.state {
                    State::Data | State::Cr => {
                        let after_cr = self.state == State::Cr;
                        self.state = State::Data;
                        match b {
                            IAC => {
                                self.state = State::Iac;
                                false
                            }
                            b'\n' | 0 if after_cr => false,
                            b'\r' | b'\n' => {
                                if b == b'\r' {
                                    self.state = State::Cr;
                                }
                                true
                            }
                            0x08 | 0x7f => {
                                if self.line.pop().is_some() && echo {
                                    echoed.extend_from_slice(b"\x08 \x08");
                                }
                                false
                            }
                            0 => false,
                            _ => {
                                if self.line.len() < 4096 {
                                    self.line.push(b);
                                    if echo {
                                        echoed.push(b);
                                    }
                                }
                                false
                            }
                        }
                    }
                    State::Iac => {
                        self.state = match b {
                            IAC => {
                                self.line.push(b);
                                State::Data
                            }
                            251..=254 => State::Opt,
                            SB => State::Sb,
                            _ => State::Data,
                        };
                        false
                    }
                    State::Opt => {
                        self.state = State::Data;
                        false
                    }
                    State::Sb => {
                        if b == IAC {
                            self.state = State::SbIac;
                        }
                        false
                    }
                    State::SbIac => {
                        self.state = if b == SE { State::Data } else { State::Sb };
                        false
                    }
                };
                if done {
                    if !echoed.is_empty() && wr.write_all(&echoed).await.is_err() {
                        return None;
                    }
                    let line = std::mem::take(&mut self.line);
                    return Some(String::from_utf8_lossy(&line).into_owned());
                }
            }
            if !echoed.is_empty() && wr.write_all(&echoed).await.is_err() {
                return None;
            }
            self.buf.clear();
            self.pos = 0;
            let mut chunk = [0u8; 1024];
            let n = match tokio::time::timeout(IDLE, self.rd.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => n,
                _ => return None,
            };
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

pub(super) async fn connection(dev: Arc<Device>, mut sock: TcpStream) {
    let spec = &dev.spec;
    if spec.has(Fault::Tarpit) {
        drain(sock).await;
        return;
    }
    if spec.has(Fault::Garbage) {
        if sock.write_all(&noise()).await.is_ok() {
            drain(sock).await;
        }
        return;
    }
    let (rd, mut wr) = sock.into_split();
    if spec.has(Fault::IacStorm) {
        // Negotiation forever, never a word; read (and drop) the answers.
        // 3.5 KiB every 20 ms at most (≤ 175 KiB/s, a chatty terminal
        // server, not a flood): a check's byte budget (256 KiB) takes well
        // over a second to fill.
        let reader = tokio::spawn(drain(rd));
        let mut storm = Vec::with_capacity(4096);
        let mut opt: u8 = 0;
        let _ = tokio::time::timeout(Duration::from_secs(600), async {
            loop {
                storm.clear();
                for _ in 0..256 {
                    storm.extend_from_slice(&[IAC, NOP, IAC, DO, opt, IAC, DONT, opt]);
                    storm.extend_from_slice(&[IAC, SB, 24, 1, IAC, SE]);
                    opt = opt.wrapping_add(1);
                }
                if wr.write_all(&storm).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        reader.abort();
        return;
    }
    if wr.write_all(OPENING).await.is_err() {
        return;
    }
    if spec.has(Fault::BannerSilence) {
        drain(rd).await;
        return;
    }
    let mut input = Input {
        rd,
        buf: Vec::new(),
        pos: 0,
        state: State::Data,
        line: Vec::new(),
    };
    if login(&dev, &mut input, &mut wr).await.is_none() {
        return;
    }
    cli(&dev, &mut input, &mut wr).await;
}

/// The login dialogue; `Some` once logged in.
async fn login(dev: &Device, input: &mut Input, wr: &mut OwnedWriteHalf) -> Option<()> {
    let password_only = dev.spec.has(Fault::PasswordOnly);
    let first = if password_only {
        "Password: "
    } else {
        "Username: "
    };
    wr.write_all(format!("{BANNER}{first}").as_bytes())
        .await
        .ok()?;
    for attempt in 1..=3 {
        let user_ok = if password_only {
            true
        } else {
            let user = input.line(wr, true).await?;
            wr.write_all(b"\r\nPassword: ").await.ok()?;
            user.trim() == dev.spec.username
        };
        let echo = dev.spec.has(Fault::EchoPassword);
        let password = input.line(wr, echo).await?;
        if user_ok && password == dev.password {
            if echo {
                // Held: the notice, then no prompt ever.
                wr.write_all(super::ECHO_NOTICE.as_bytes()).await.ok()?;
                while input.line(wr, true).await.is_some() {}
                return None;
            }
            return Some(());
        }
        let again = match (password_only, attempt) {
            (true, 3) => "\r\n% Bad passwords\r\n\r\n",
            (true, _) => "\r\nPassword: ",
            (false, 3) => "\r\n% Authentication failed\r\n\r\n",
            (false, _) => "\r\n% Authentication failed\r\n\r\nUsername: ",
        };
        wr.write_all(again.as_bytes()).await.ok()?;
    }
    None
}

/// After login: the faults that strike here, else the IOS CLI.
async fn cli(dev: &Device, input: &mut Input, wr: &mut OwnedWriteHalf) {
    let spec = &dev.spec;
    if spec.has(Fault::DisconnectMidLogin) {
        let _ = wr.write_all(MOTD.as_bytes()).await;
        return;
    }
    if spec.has(Fault::NoPrompt) {
        if wr.write_all(MOTD.as_bytes()).await.is_ok() {
            while input.line(wr, false).await.is_some() {}
        }
        return;
    }
    if spec.has(Fault::EndlessOutput) {
        let _ = tokio::time::timeout(Duration::from_secs(600), async {
            let mut n: u64 = 0;
            let mut chunk = String::new();
            loop {
                chunk.clear();
                for _ in 0..32 {
                    n += 1;
                    chunk.push_str(&endless_line(n));
                }
                if wr.write_all(chunk.as_bytes()).await.is_err() {
                    break;
                }
            }
        })
        .await;
        return;
    }
    let mut ios =
        Ios::new(&spec.name, &dev.enable).echoing_passwords(spec.has(Fault::EchoPassword));
    if prompted(dev, wr, &ios, &format!("{MOTD}\r\n"))
        .await
        .is_none()
    {
        return;
    }
    loop {
        let Some(line) = input.line(wr, ios.echoes()).await else {
            return;
        };
        let ok = match ios.line(&line) {
            Answer::Prompted(text) => prompted(dev, wr, &ios, &text).await,
            Answer::Text(text) => wr.write_all(text.as_bytes()).await.ok(),
            Answer::Close(text) => {
                let _ = wr.write_all(text.as_bytes()).await;
                let _ = wr.shutdown().await;
                return;
            }
        };
        if ok.is_none() {
            return;
        }
    }
}

/// Sends `text` and the prompt (after the slow-prompt delay, if any).
async fn prompted(dev: &Device, wr: &mut OwnedWriteHalf, ios: &Ios, text: &str) -> Option<()> {
    if dev.spec.has(Fault::SlowPrompt) {
        wr.write_all(text.as_bytes()).await.ok()?;
        tokio::time::sleep(dev.spec.slow_prompt).await;
        wr.write_all(ios.prompt().as_bytes()).await.ok()
    } else {
        wr.write_all(format!("{text}{}", ios.prompt()).as_bytes())
            .await
            .ok()
    }
}
