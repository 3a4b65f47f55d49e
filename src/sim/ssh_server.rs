//! A simulated device's SSH side: russh's server with the device's host key
//! and algorithms, password and keyboard-interactive login, a PTY and shell
//! running the shared IOS CLI ([`super::ios`]). Fault modes as in [`Fault`].

use std::borrow::Cow;
use std::sync::Arc;

use russh::server::{self, Auth, Msg, Session};
use russh::{Channel, ChannelId};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::Fault;
use super::device::{Device, drain, noise, random_host_key};
use super::ios::{Answer, Ios, MOTD, endless_line};

pub(super) async fn connection(dev: Arc<Device>, mut sock: TcpStream) {
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
