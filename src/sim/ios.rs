//! The simulated IOS-like CLI after login, independent of the transport:
//! the SSH and Telnet devices feed it lines and send what it answers.

/// What the CLI answers to a line.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Answer {
    /// Text, then the prompt (delayed on slow-prompt devices).
    Prompted(String),
    /// Text with no prompt after it (`Password: `).
    Text(&'static str),
    /// Text, then the session ends.
    Close(&'static str),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Mode {
    User,
    EnablePassword,
    Privileged,
    /// After an echoed password ([`super::Fault::EchoPassword`]): held, no
    /// answer to anything.
    Held,
}

pub(super) struct Ios {
    host: String,
    enable: String,
    pub mode: Mode,
    enable_tries: u8,
    /// Echoes passwords too, and holds the session after the enable
    /// password ([`super::Fault::EchoPassword`]).
    echo_passwords: bool,
}

pub(super) const SHOW_VERSION: &str = "Cisco IOS XE Software, Version 17.09.04a\r\n\
Cisco IOS Software [Cupertino], Virtual XE Software (X86_64_LINUX_IOSD-UNIVERSALK9-M), Version 17.9.4a, RELEASE SOFTWARE (fc3)\r\n\
Technical Support: http://www.cisco.com/techsupport\r\n\
Copyright (c) 1986-2023 by Cisco Systems, Inc.\r\n\
\r\n\
ROM: IOS-XE ROMMON\r\n\
\r\n\
{host} uptime is 3 weeks, 2 days, 4 hours, 12 minutes\r\n\
Uptime for this control processor is 3 weeks, 2 days, 4 hours, 14 minutes\r\n\
System returned to ROM by reload\r\n\
System image file is \"bootflash:packages.conf\"\r\n\
\r\n\
cisco C8000V (VXE) processor (revision VXE) with 2028465K/3075K bytes of memory.\r\n\
Processor board ID 9ABCDEF0123\r\n\
Router operating mode: Autonomous\r\n\
4 Gigabit Ethernet interfaces\r\n\
32768K bytes of non-volatile configuration memory.\r\n\
\r\n\
Configuration register is 0x2102\r\n\
\r\n";

pub(super) const MOTD: &str = "\r\n\
*************************************************\r\n\
*  Authorized access only. reachd simulator.    *\r\n\
*************************************************\r\n";

/// One line of endless output (`show interfaces` that never ends).
pub(super) fn endless_line(n: u64) -> String {
    format!(
        "GigabitEthernet0/{n} is up, line protocol is up \r\n  Hardware is iGbE, address is 5254.0012.3456\r\n"
    )
}

impl Ios {
    pub fn new(host: &str, enable: &str) -> Self {
        Ios {
            host: host.to_owned(),
            enable: enable.to_owned(),
            mode: Mode::User,
            enable_tries: 0,
            echo_passwords: false,
        }
    }

    /// A CLI that echoes passwords ([`super::Fault::EchoPassword`]).
    pub fn echoing_passwords(mut self, on: bool) -> Self {
        self.echo_passwords = on;
        self
    }

    pub fn prompt(&self) -> String {
        match self.mode {
            Mode::Privileged => format!("{}#", self.host),
            _ => format!("{}>", self.host),
        }
    }

    /// Whether typed characters are echoed (not while a password is typed).
    pub fn echoes(&self) -> bool {
        self.echo_passwords || self.mode != Mode::EnablePassword
    }

    pub fn line(&mut self, line: &str) -> Answer {
        let line = line.trim();
        if self.mode == Mode::Held {
            return Answer::Text("");
        }
        if self.mode == Mode::EnablePassword {
            if line == self.enable && self.echo_passwords {
                self.mode = Mode::Held;
                return Answer::Text(super::ECHO_NOTICE);
            }
            if line == self.enable {
                self.mode = Mode::Privileged;
                self.enable_tries = 0;
                return Answer::Prompted("\r\n".into());
            }
            self.enable_tries += 1;
            if self.enable_tries < 3 {
                return Answer::Text("\r\nPassword: ");
            }
            self.mode = Mode::User;
            self.enable_tries = 0;
            return Answer::Prompted("\r\n% Bad secrets\r\n\r\n".into());
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let cmd = words.first().copied().unwrap_or("");
        let arg = words.get(1).copied().unwrap_or("");
        match (cmd, arg) {
            ("", _) => Answer::Prompted("\r\n".into()),
            ("en" | "ena" | "enab" | "enabl" | "enable", _) => {
                if self.mode == Mode::Privileged {
                    Answer::Prompted("\r\n".into())
                } else {
                    self.mode = Mode::EnablePassword;
                    Answer::Text("\r\nPassword: ")
                }
            }
            ("disable", _) => {
                self.mode = Mode::User;
                Answer::Prompted("\r\n".into())
            }
            ("term" | "terminal", _) => Answer::Prompted("\r\n".into()),
            ("sh" | "sho" | "show", a) if "version".starts_with(a) && !a.is_empty() => {
                Answer::Prompted(format!(
                    "\r\n{}",
                    SHOW_VERSION.replace("{host}", &self.host)
                ))
            }
            ("sh" | "sho" | "show", a) if "clock".starts_with(a) && !a.is_empty() => {
                Answer::Prompted("\r\n*12:00:00.000 UTC Mon Jan 1 2024\r\n".into())
            }
            ("exit" | "logout" | "quit", _) => Answer::Close("\r\n"),
            _ => Answer::Prompted(
                "\r\n          ^\r\n% Invalid input detected at '^' marker.\r\n\r\n".into(),
            ),
        }
    }
}
