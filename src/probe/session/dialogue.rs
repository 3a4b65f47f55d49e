//! The CLI dialogue engine, shared by the SSH and Telnet checks.
//!
//! Over any async byte stream: read until one of several patterns matches
//! (regexes on a rolling, size-capped buffer: prompts have no newline), with
//! a deadline; send lines; detect failure patterns (`% Authentication
//! failed`, a second login prompt…). Incoming text is cleaned as it arrives
//! (ANSI escape sequences, carriage returns, backspaces and other control
//! characters removed), so patterns see what a person would see, and every
//! error carries the tail of what the device last said.
//!
//! Memory is bounded whatever the device sends: the match buffer never grows
//! beyond its cap (the oldest text is dropped), the tail kept for errors is
//! small and fixed.

use std::fmt;
use std::io;
use std::sync::OnceLock;

use regex::bytes::Regex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// Default cap of the match buffer.
pub const DEFAULT_CAP: usize = 16 * 1024;
/// How much of the latest output errors carry (before cleaning to one line).
const TAIL: usize = 512;
/// How much text before a read's new bytes the patterns look at again: a
/// match may start before the read that completes it. Prompts and failure
/// messages are far shorter.
const OVERLAP: usize = 1024;
/// Longest escape sequence kept pending across reads before it is dropped.
const MAX_ESCAPE: usize = 64;

/// A compiled pattern. Matched against cleaned bytes (no `\r`, no ANSI
/// escapes), so `\s*$` with `(?m)` or `\s*\z` anchors work on prompts.
#[derive(Clone)]
pub struct Pattern {
    re: Regex,
}

impl Pattern {
    pub fn new(re: &str) -> Result<Self, regex::Error> {
        Ok(Pattern {
            re: Regex::new(re)?,
        })
    }
    pub fn as_str(&self) -> &str {
        self.re.as_str()
    }
    pub fn is_match(&self, text: &str) -> bool {
        self.re.is_match(text.as_bytes())
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.re.as_str())
    }
}

/// What [`Dialogue::read_until`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Index into the `wanted` patterns of the one that matched.
    pub index: usize,
    /// The matched text (for a prompt pattern: the prompt, trimmed).
    pub matched: String,
    /// The cleaned text received before the match (since the previous match).
    pub before: String,
}

/// Why a read ended without a wanted pattern.
#[derive(Debug)]
pub enum DialogueError {
    /// The deadline passed.
    Timeout { last_output: String },
    /// The peer closed the stream.
    Closed { last_output: String },
    /// A failure pattern matched: `index` into the `failures` given.
    Failure {
        index: usize,
        matched: String,
        last_output: String,
    },
    /// Reading or writing failed.
    Io {
        error: io::Error,
        last_output: String,
    },
}

impl DialogueError {
    pub fn last_output(&self) -> &str {
        match self {
            DialogueError::Timeout { last_output }
            | DialogueError::Closed { last_output }
            | DialogueError::Failure { last_output, .. }
            | DialogueError::Io { last_output, .. } => last_output,
        }
    }
}

impl fmt::Display for DialogueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, last) = match self {
            DialogueError::Timeout { last_output } => ("timed out".to_owned(), last_output),
            DialogueError::Closed { last_output } => ("connection closed".to_owned(), last_output),
            DialogueError::Failure {
                matched,
                last_output,
                ..
            } => (format!("device said `{matched}`"), last_output),
            DialogueError::Io { error, last_output } => {
                (format!("I/O error: {error}"), last_output)
            }
        };
        f.write_str(&what)?;
        if !last.is_empty() {
            write!(f, "; last output: {last}")?;
        }
        Ok(())
    }
}

/// A dialogue with a device over `stream`.
pub struct Dialogue<S> {
    stream: S,
    /// Cleaned text not yet consumed by a match, at most `cap` bytes.
    buf: Vec<u8>,
    cap: usize,
    /// The latest cleaned text, consumed or not, at most `TAIL` bytes.
    tail: Vec<u8>,
    cleaner: Cleaner,
    read_buf: Box<[u8]>,
    /// Total bytes received (raw), for diagnostics and tests.
    received: u64,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Dialogue<S> {
    pub fn new(stream: S) -> Self {
        Self::with_cap(stream, DEFAULT_CAP)
    }

    /// A dialogue whose match buffer keeps at most `cap` bytes (min 256).
    pub fn with_cap(stream: S, cap: usize) -> Self {
        let cap = cap.max(256);
        Dialogue {
            stream,
            buf: Vec::with_capacity(1024.min(cap)),
            cap,
            tail: Vec::with_capacity(TAIL),
            cleaner: Cleaner::default(),
            read_buf: vec![0u8; 4096].into_boxed_slice(),
            received: 0,
        }
    }

    /// Sends `line` and `eol`, in one write: over SSH a carriage return
    /// (what a terminal's Enter key sends; Cisco, Juniper, Huawei and Unix
    /// ptys all take it), over Telnet `\r\n` (RFC 854's end of line).
    pub async fn send_line(&mut self, line: &str, eol: &str) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + eol.len());
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(eol.as_bytes());
        self.send(&bytes).await
    }

    /// Sends raw bytes.
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Reads until a `wanted` pattern matches (checked after the `failures`,
    /// which win if both match), the deadline passes or the stream ends.
    /// Consumes the buffer up to the end of the match.
    pub async fn read_until(
        &mut self,
        wanted: &[&Pattern],
        failures: &[&Pattern],
        deadline: Instant,
    ) -> Result<Found, DialogueError> {
        // The whole buffer once (these patterns have not seen it), then
        // only what each read adds, plus enough of what came before for a
        // match that straddles two reads: a device streaming output costs
        // the patterns a pass over each byte, not over the whole buffer
        // at every read.
        let mut from = 0;
        loop {
            if let Some(r) = self.scan(wanted, failures, from) {
                return r;
            }
            let added = self.read_more(deadline).await?;
            from = self.buf.len().saturating_sub(added + OVERLAP);
        }
    }

    /// Waits until the device has sent some (cleaned, non-empty) text, the
    /// deadline passes or the stream ends; consumes nothing.
    pub async fn wait_for_output(&mut self, deadline: Instant) -> Result<(), DialogueError> {
        while self.buf.is_empty() {
            self.read_more(deadline).await?;
        }
        Ok(())
    }

    /// One read from the stream into the buffers; returns how many bytes
    /// of cleaned text it added to the match buffer.
    async fn read_more(&mut self, deadline: Instant) -> Result<usize, DialogueError> {
        let read = tokio::time::timeout_at(deadline, self.stream.read(&mut self.read_buf)).await;
        match read {
            Err(_) => Err(DialogueError::Timeout {
                last_output: self.last_output(),
            }),
            Ok(Ok(0)) => Err(DialogueError::Closed {
                last_output: self.last_output(),
            }),
            Ok(Ok(n)) => {
                self.received += n as u64;
                let chunk = &self.read_buf[..n];
                let before = self.buf.len();
                let low = self.cleaner.clean_into(chunk, &mut self.buf);
                // Backspaces may have erased text of earlier reads: from the
                // tail too.
                let erased = before - low;
                self.tail.truncate(self.tail.len().saturating_sub(erased));
                push_capped(&mut self.tail, &self.buf[low..], TAIL);
                let added = self.buf.len() - low;
                if self.buf.len() > self.cap {
                    let excess = self.buf.len() - self.cap;
                    self.buf.drain(..excess);
                }
                Ok(added.min(self.buf.len()))
            }
            Ok(Err(e)) => {
                let closed = matches!(
                    e.kind(),
                    io::ErrorKind::UnexpectedEof
                        | io::ErrorKind::BrokenPipe
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionAborted
                );
                let last_output = self.last_output();
                Err(if closed {
                    DialogueError::Closed { last_output }
                } else {
                    DialogueError::Io {
                        error: e,
                        last_output,
                    }
                })
            }
        }
    }

    /// Looks for the patterns in the buffer from `from` on (anchors and
    /// `^` still see the text before it).
    fn scan(
        &mut self,
        wanted: &[&Pattern],
        failures: &[&Pattern],
        from: usize,
    ) -> Option<Result<Found, DialogueError>> {
        for (index, p) in failures.iter().enumerate() {
            if let Some(m) = p.re.find_at(&self.buf, from) {
                let matched = one_line(&self.buf[m.start()..m.end()]);
                let end = m.end();
                self.buf.drain(..end);
                return Some(Err(DialogueError::Failure {
                    index,
                    matched,
                    last_output: self.last_output(),
                }));
            }
        }
        for (index, p) in wanted.iter().enumerate() {
            if let Some(m) = p.re.find_at(&self.buf, from) {
                let matched = one_line(&self.buf[m.start()..m.end()]);
                let before = String::from_utf8_lossy(&self.buf[..m.start()]).into_owned();
                let end = m.end();
                self.buf.drain(..end);
                return Some(Ok(Found {
                    index,
                    matched,
                    before,
                }));
            }
        }
        None
    }

    /// The latest output, cleaned, on one line: the whole kept tail (at
    /// most `TAIL` bytes, starting with `…` when older output was dropped).
    /// Not shortened for display here: a caller redacts secrets first and
    /// shortens after, so a secret cut in two never shows half of itself.
    pub fn last_output(&self) -> String {
        if self.tail.len() >= TAIL {
            // Cut at a byte: not in the middle of a character (a secret
            // with non-ASCII letters must still be recognised to redact).
            let start = self
                .tail
                .iter()
                .position(|b| b & 0xC0 != 0x80)
                .unwrap_or(self.tail.len());
            format!("…{}", one_line(&self.tail[start..]))
        } else {
            one_line(&self.tail)
        }
    }

    /// Bytes currently held in the match buffer (≤ the cap).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Raw bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }
}

fn push_capped(v: &mut Vec<u8>, more: &[u8], cap: usize) {
    if more.len() >= cap {
        v.clear();
        v.extend_from_slice(&more[more.len() - cap..]);
        return;
    }
    if v.len() + more.len() > cap {
        let excess = v.len() + more.len() - cap;
        v.drain(..excess);
    }
    v.extend_from_slice(more);
}

/// Cleaned bytes as one trimmed line: lines trimmed, empty ones dropped,
/// joined with ` | `.
pub fn one_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let parts: Vec<&str> = text
        .split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    parts.join(" | ")
}

/// Cleans a string completely (for text that did not come through a
/// [`Dialogue`]): escapes, control characters, one line.
pub fn clean(text: &[u8]) -> String {
    let mut out = Vec::with_capacity(text.len());
    Cleaner::default().clean_into(text, &mut out);
    one_line(&out)
}

/// Incremental terminal-output cleaner: strips ANSI/VT100 escape sequences
/// (CSI, OSC, two-byte ESC sequences), `\r`, NUL and other C0 controls but
/// `\n` and `\t`; applies backspaces. An escape sequence split across reads
/// is completed on the next one.
#[derive(Default)]
struct Cleaner {
    pending: Vec<u8>,
}

impl Cleaner {
    /// Cleans `chunk` onto `out`; returns the shortest `out` was on the
    /// way (backspaces erase what was there before).
    fn clean_into(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> usize {
        let mut low = out.len();
        let owned;
        let input: &[u8] = if self.pending.is_empty() {
            chunk
        } else {
            let mut v = std::mem::take(&mut self.pending);
            v.extend_from_slice(chunk);
            owned = v;
            &owned
        };
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match b {
                0x1b => match escape_len(&input[i..]) {
                    Some(n) => i += n,
                    None => {
                        let rest = &input[i..];
                        if rest.len() <= MAX_ESCAPE {
                            self.pending.extend_from_slice(rest);
                        }
                        return low;
                    }
                },
                b'\n' | b'\t' => {
                    out.push(b);
                    i += 1;
                }
                0x08 | 0x7f => {
                    // Backspace erases the previous character (not a newline).
                    if out.last().is_some_and(|c| *c != b'\n') {
                        out.pop();
                        low = low.min(out.len());
                    }
                    i += 1;
                }
                0..=0x1f => i += 1,
                _ => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        low
    }
}

/// Length of the escape sequence at the start of `s` (which starts with
/// ESC), or `None` if it is incomplete.
fn escape_len(s: &[u8]) -> Option<usize> {
    let next = *s.get(1)?;
    match next {
        b'[' => {
            // CSI: parameters and intermediates, then a final byte 0x40..=0x7e.
            for (j, c) in s.iter().enumerate().skip(2) {
                if (0x40..=0x7e).contains(c) {
                    return Some(j + 1);
                }
                if j > MAX_ESCAPE {
                    return Some(j);
                }
            }
            None
        }
        b']' => {
            // OSC: until BEL or ESC \.
            let mut j = 2;
            while j < s.len() {
                if s[j] == 0x07 {
                    return Some(j + 1);
                }
                if s[j] == 0x1b && s.get(j + 1) == Some(&b'\\') {
                    return Some(j + 2);
                }
                if j > MAX_ESCAPE {
                    return Some(j);
                }
                j += 1;
            }
            None
        }
        b'(' | b')' | b'#' => s.get(2).map(|_| 3),
        _ => Some(2),
    }
}

// ---------------------------------------------------------------------------
// Platforms: prompts and setup commands.

/// How a platform's CLI looks: its prompts and the commands that make the
/// session scriptable (no paging).
#[derive(Clone, Debug)]
pub struct Platform {
    pub name: &'static str,
    /// The unprivileged prompt (`R1>`).
    pub user_prompt: Pattern,
    /// The privileged prompt (`R1#`).
    pub privileged_prompt: Pattern,
    /// Commands sent once the prompt is reached (`terminal length 0`).
    pub setup: &'static [&'static str],
    /// Whether `enable` means anything on this platform.
    pub has_enable: bool,
}

/// A hostname-like prompt body: IOS `R1`, `R1(config)`, IOS-XR
/// `RP/0/RSP0/CPU0:R1`, NX-OS `switch`, EOS `leaf1`, Junos `user@host`.
const HOST: &str = r"[A-Za-z0-9_.\-@/:()~\[\]]{1,80}";

fn pat(s: &str) -> Pattern {
    // Only called with the built-in patterns below, which the unit tests compile.
    Pattern::new(s).unwrap_or_else(|e| panic!("built-in pattern {s:?}: {e}"))
}

impl Platform {
    /// The platform named `name` (scrapli's names: `cisco_iosxe`,
    /// `cisco_iosxr`, `cisco_nxos`, `arista_eos`, `juniper_junos`,
    /// `huawei_vrp`; and `linux`); anything else (or none) gets a generic
    /// platform that accepts every prompt style above and sends
    /// `terminal length 0`.
    pub fn get(name: Option<&str>) -> &'static Platform {
        static CACHE: [OnceLock<Platform>; 5] = [const { OnceLock::new() }; 5];
        const NAMES: [&str; 5] = ["cisco_iosxe", "juniper_junos", "huawei_vrp", "linux", ""];
        let name = name.unwrap_or("").to_ascii_lowercase();
        let canonical = match name.as_str() {
            "cisco_iosxe" | "cisco_ios" | "cisco_xe" | "ios" | "cisco_iosxr" | "cisco_xr"
            | "cisco_nxos" | "nxos" | "arista_eos" | "eos" => 0,
            "juniper_junos" | "junos" | "juniper" => 1,
            "huawei_vrp" | "huawei" | "vrp" => 2,
            "linux" | "unix" | "shell" => 3,
            _ => 4,
        };
        CACHE[canonical].get_or_init(|| Platform::build(NAMES[canonical]))
    }

    fn build(name: &str) -> Platform {
        match name {
            "cisco_iosxe" | "cisco_ios" | "cisco_xe" | "ios" | "cisco_iosxr" | "cisco_xr"
            | "cisco_nxos" | "nxos" | "arista_eos" | "eos" => Platform {
                name: "cisco",
                user_prompt: pat(&format!(r"(?m)^{HOST}>\s*\z")),
                privileged_prompt: pat(&format!(r"(?m)^{HOST}#\s*\z")),
                setup: &["terminal length 0"],
                has_enable: true,
            },
            "juniper_junos" | "junos" | "juniper" => Platform {
                name: "juniper_junos",
                user_prompt: pat(&format!(r"(?m)^(\{{\w+(:\w+)?\}}\n)?{HOST}>\s*\z")),
                privileged_prompt: pat(&format!(r"(?m)^(\{{\w+(:\w+)?\}}\n)?{HOST}#\s*\z")),
                setup: &["set cli screen-length 0"],
                has_enable: false,
            },
            "huawei_vrp" | "huawei" | "vrp" => Platform {
                name: "huawei_vrp",
                user_prompt: pat(r"(?m)^<[^<>\n]{1,80}>\s*\z"),
                privileged_prompt: pat(r"(?m)^\[~?\*?[^\[\]\n]{1,80}\]\s*\z"),
                setup: &["screen-length 0 temporary"],
                has_enable: false,
            },
            "linux" | "unix" | "shell" => Platform {
                name: "linux",
                user_prompt: pat(r"(?m)^[^\n]{0,120}[$%>]\s*\z"),
                privileged_prompt: pat(r"(?m)^[^\n]{0,120}#\s*\z"),
                setup: &[],
                has_enable: false,
            },
            _ => Platform {
                name: "generic",
                user_prompt: pat(&format!(r"(?m)^({HOST}>|<[^<>\n]{{1,80}}>)\s*\z")),
                privileged_prompt: pat(&format!(r"(?m)^({HOST}#|\[~?\*?[^\[\]\n]{{1,80}}\])\s*\z")),
                setup: &["terminal length 0"],
                has_enable: true,
            },
        }
    }
}

/// Patterns that mean a login or `enable` was refused, wherever they appear.
pub const AUTH_FAILURES: &[&str] = &[
    r"(?i)%\s*authentication failed",
    r"(?i)%\s*bad secrets",
    r"(?i)%\s*access denied",
    r"(?i)login incorrect",
    r"(?i)%\s*bad passwords",
];

/// A password prompt at the end of the output (`Password:`).
pub const PASSWORD_PROMPT: &str = r"(?i)(password|passcode|secret)\s*:\s*\z";

/// A login (user name) prompt at the end of the output; seen twice, the
/// login failed.
pub const LOGIN_PROMPT: &str = r"(?i)(user\s*name|login)\s*:\s*\z";

/// [`AUTH_FAILURES`], compiled once.
pub fn auth_failures() -> &'static [Pattern] {
    static P: OnceLock<Vec<Pattern>> = OnceLock::new();
    P.get_or_init(|| AUTH_FAILURES.iter().map(|s| pat(s)).collect())
}

/// [`PASSWORD_PROMPT`], compiled once.
pub fn password_prompt() -> &'static Pattern {
    static P: OnceLock<Pattern> = OnceLock::new();
    P.get_or_init(|| pat(PASSWORD_PROMPT))
}

/// [`LOGIN_PROMPT`], compiled once.
pub fn login_prompt() -> &'static Pattern {
    static P: OnceLock<Pattern> = OnceLock::new();
    P.get_or_init(|| pat(LOGIN_PROMPT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncWriteExt, duplex};

    fn p(s: &str) -> Pattern {
        Pattern::new(s).unwrap()
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(3600)
    }

    #[tokio::test]
    async fn prompt_split_across_reads() {
        let (client, mut dev) = duplex(64);
        let mut d = Dialogue::new(client);
        let plat = Platform::get(Some("cisco_iosxe"));
        let task = tokio::spawn(async move {
            dev.write_all(b"\r\n\r\nR").await.unwrap();
            tokio::task::yield_now().await;
            dev.write_all(b"1").await.unwrap();
            tokio::task::yield_now().await;
            dev.write_all(b">").await.unwrap();
            dev
        });
        let f = d
            .read_until(&[&plat.privileged_prompt, &plat.user_prompt], &[], far())
            .await
            .unwrap();
        assert_eq!(f.index, 1);
        assert_eq!(f.matched, "R1>");
        task.await.unwrap();
    }

    #[tokio::test]
    async fn prompt_needs_to_be_at_the_end() {
        let (client, mut dev) = duplex(1024);
        let mut d = Dialogue::new(client);
        let plat = Platform::get(Some("cisco_iosxe"));
        dev.write_all(b"R1>show x\r\noutput\r\n").await.unwrap();
        let deadline = Instant::now() + Duration::from_millis(50);
        let e = d
            .read_until(&[&plat.user_prompt], &[], deadline)
            .await
            .unwrap_err();
        assert!(matches!(e, DialogueError::Timeout { .. }), "{e}");
        assert_eq!(e.last_output(), "R1>show x | output");
        dev.write_all(b"R1>").await.unwrap();
        let f = d
            .read_until(&[&plat.user_prompt], &[], far())
            .await
            .unwrap();
        assert_eq!(f.matched, "R1>");
        assert_eq!(f.before, "R1>show x\noutput\n");
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_returns_timeout_with_last_output() {
        let (client, mut dev) = duplex(1024);
        let mut d = Dialogue::new(client);
        dev.write_all(b"\x1b[1;32mWelcome\x1b[0m to \x07the lab\r\n")
            .await
            .unwrap();
        let start = Instant::now();
        let e = d
            .read_until(&[&p("never")], &[], start + Duration::from_secs(3))
            .await
            .unwrap_err();
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        match e {
            DialogueError::Timeout { last_output } => {
                assert_eq!(last_output, "Welcome to the lab")
            }
            other => panic!("{other}"),
        }
        drop(dev);
    }

    #[tokio::test]
    async fn closed_stream_is_closed() {
        let (client, mut dev) = duplex(1024);
        let mut d = Dialogue::new(client);
        dev.write_all(b"bye\n").await.unwrap();
        drop(dev);
        let e = d.read_until(&[&p("x")], &[], far()).await.unwrap_err();
        assert!(matches!(e, DialogueError::Closed { .. }));
        assert_eq!(e.last_output(), "bye");
    }

    #[tokio::test]
    async fn failure_patterns_win_and_name_the_match() {
        let (client, mut dev) = duplex(1024);
        let mut d = Dialogue::new(client);
        let fails = auth_failures();
        let login = p(LOGIN_PROMPT);
        let mut failures: Vec<&Pattern> = fails.iter().collect();
        failures.push(&login);
        dev.write_all(b"\r\n% Authentication failed\r\n\r\nUsername: ")
            .await
            .unwrap();
        let pw = p(PASSWORD_PROMPT);
        let e = d.read_until(&[&pw], &failures, far()).await.unwrap_err();
        match e {
            DialogueError::Failure { index, matched, .. } => {
                assert_eq!(index, 0);
                assert_eq!(matched, "% Authentication failed");
            }
            other => panic!("{other}"),
        }
        // The second login prompt is still there, and is a failure too.
        let e = d.read_until(&[&pw], &failures, far()).await.unwrap_err();
        assert!(matches!(e, DialogueError::Failure { index, .. } if index == fails.len()));
    }

    #[tokio::test]
    async fn bad_secrets_and_access_denied() {
        for text in [
            &b"Password: \r\n% Bad secrets\r\n\r\nR1>"[..],
            b"% Access denied\r\n",
        ] {
            let (client, mut dev) = duplex(1024);
            let mut d = Dialogue::new(client);
            dev.write_all(text).await.unwrap();
            let fails = auth_failures();
            let failures: Vec<&Pattern> = fails.iter().collect();
            let e = d
                .read_until(&[&p("R1#")], &failures, far())
                .await
                .unwrap_err();
            assert!(matches!(e, DialogueError::Failure { .. }), "{e}");
        }
    }

    #[tokio::test]
    async fn endless_output_stays_within_the_cap() {
        let (client, mut dev) = duplex(8192);
        let mut d = Dialogue::with_cap(client, 4096);
        let writer = tokio::spawn(async move {
            let line = b"Gi0/1 is up, line protocol is up \x1b[K\r\n".repeat(20);
            for _ in 0..2000 {
                if dev.write_all(&line).await.is_err() {
                    break;
                }
            }
            drop(dev);
        });
        let e = d.read_until(&[&p("R1#")], &[], far()).await.unwrap_err();
        assert!(matches!(e, DialogueError::Closed { .. }));
        assert!(d.received() > 1_000_000);
        assert!(d.buffered() <= 4096);
        assert!(d.buf.capacity() <= 2 * 4096 + 8192, "{}", d.buf.capacity());
        assert!(e.last_output().len() < 600);
        assert!(e.last_output().ends_with("line protocol is up"));
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn a_match_straddling_reads_is_found_after_much_text() {
        // More text than the cap first, then a failure message split over
        // two writes: the scan of the second read must see the first half.
        let (client, mut dev) = duplex(256);
        let mut d = Dialogue::new(client);
        let fails = auth_failures();
        let task = tokio::spawn(async move {
            for _ in 0..(DEFAULT_CAP / 64 + 8) {
                dev.write_all(&[b'.'; 63]).await.unwrap();
                dev.write_all(b"\n").await.unwrap();
            }
            dev.write_all(b"% Authenti").await.unwrap();
            tokio::task::yield_now().await;
            dev.write_all(b"cation failed\r\n").await.unwrap();
            dev
        });
        let plat = Platform::get(Some("cisco_iosxe"));
        let failures: Vec<&Pattern> = fails.iter().collect();
        let soon = Instant::now() + Duration::from_secs(10);
        let e = d
            .read_until(&[&plat.user_prompt], &failures, soon)
            .await
            .unwrap_err();
        match e {
            DialogueError::Failure { matched, .. } => {
                assert_eq!(matched, "% Authentication failed")
            }
            other => panic!("{other}"),
        }
        task.await.unwrap();
    }

    #[tokio::test]
    async fn backspaces_alone_in_a_read_erase_earlier_text() {
        // A device erasing what it said in an earlier write (a spinner,
        // line editing): no panic, the erased text is gone from the match
        // buffer and from the tail.
        let (client, mut dev) = duplex(256);
        let mut d = Dialogue::new(client);
        let task = tokio::spawn(async move {
            dev.write_all(b"R1>abc").await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            dev.write_all(b"\x08\x08").await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            dev.write_all(b"\nR1#").await.unwrap();
            dev
        });
        let plat = Platform::get(Some("cisco_iosxe"));
        let soon = Instant::now() + Duration::from_secs(10);
        let f = d
            .read_until(&[&plat.privileged_prompt], &[], soon)
            .await
            .unwrap();
        assert_eq!(f.matched, "R1#");
        assert_eq!(f.before, "R1>a\n");
        assert_eq!(d.last_output(), "R1>a | R1#");
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_cut_tail_starts_at_a_whole_character() {
        let (client, mut dev) = duplex(4096);
        let mut d = Dialogue::new(client);
        // "Zürich" is 7 bytes; 514 in all: the tail (the last 512) starts
        // at the second byte of 'ü'.
        let mut text = "Zürich".as_bytes().to_vec();
        text.extend(std::iter::repeat_n(b'x', TAIL - 5));
        dev.write_all(&text).await.unwrap();
        let soon = Instant::now() + Duration::from_millis(100);
        let e = d.read_until(&[&p("never")], &[], soon).await.unwrap_err();
        let last = e.last_output();
        assert!(last.starts_with("…rich"), "{last}");
        assert!(!last.contains('\u{FFFD}'), "{last}");
    }

    #[tokio::test]
    async fn escape_split_across_reads_and_backspaces() {
        let mut c = Cleaner::default();
        let mut out = Vec::new();
        c.clean_into(b"ab\x1b[", &mut out);
        c.clean_into(b"1;3", &mut out);
        c.clean_into(
            b"1mcd\r\n --More-- \x08\x08\x08\x08\x08\x08\x08\x08\x08\x08ef\x00",
            &mut out,
        );
        assert_eq!(String::from_utf8(out).unwrap(), "abcd\nef");
        assert_eq!(clean(b"\x1b]0;title\x07R1#\x1b(B"), "R1#");
    }

    #[tokio::test]
    async fn send_line_ends_with_carriage_return() {
        let (client, mut dev) = duplex(64);
        let mut d = Dialogue::new(client);
        d.send_line("enable", "\r").await.unwrap();
        let mut buf = [0u8; 7];
        tokio::io::AsyncReadExt::read_exact(&mut dev, &mut buf)
            .await
            .unwrap();
        assert_eq!(&buf, b"enable\r");
    }

    #[test]
    fn platform_prompts() {
        let cases: &[(Option<&str>, &str, bool, bool)] = &[
            (Some("cisco_iosxe"), "\r\nR1>", true, false),
            (Some("cisco_iosxe"), "\r\nR1#", false, true),
            (Some("cisco_iosxe"), "R1(config-if)#", false, true),
            (Some("cisco_iosxr"), "RP/0/RSP0/CPU0:xr9k#", false, true),
            (Some("cisco_nxos"), "switch# ", false, true),
            (Some("arista_eos"), "leaf-1.dc1>", true, false),
            (Some("juniper_junos"), "admin@mx1> ", true, false),
            (
                Some("juniper_junos"),
                "{master:0}\nadmin@ex1> ",
                true,
                false,
            ),
            (Some("juniper_junos"), "admin@mx1# ", false, true),
            (Some("huawei_vrp"), "<HUAWEI>", true, false),
            (Some("huawei_vrp"), "[~HUAWEI]", false, true),
            (Some("linux"), "user@host:~$ ", true, false),
            (Some("linux"), "root@host:~# ", false, true),
            (None, "R1>", true, false),
            (None, "R1#", false, true),
            (None, "<HUAWEI>", true, false),
            (None, "[~HUAWEI]", false, true),
            (None, "Password: ", false, false),
            (
                Some("cisco_iosxe"),
                "R1#show run\nhostname R1\n",
                false,
                false,
            ),
        ];
        for (plat, text, user, privileged) in cases {
            let pl = Platform::get(*plat);
            let cleaned = {
                let mut v = Vec::new();
                Cleaner::default().clean_into(text.as_bytes(), &mut v);
                String::from_utf8(v).unwrap()
            };
            assert_eq!(
                pl.user_prompt.is_match(&cleaned),
                *user,
                "{plat:?} user {text:?}"
            );
            assert_eq!(
                pl.privileged_prompt.is_match(&cleaned),
                *privileged,
                "{plat:?} privileged {text:?}"
            );
        }
        for s in AUTH_FAILURES
            .iter()
            .chain([PASSWORD_PROMPT, LOGIN_PROMPT].iter())
        {
            Pattern::new(s).unwrap();
        }
    }
}
