//! Telnet (RFC 854) for the Telnet login check: a byte-level codec on
//! [`tokio_util::codec`], a loop-proof option negotiation policy, and
//! [`TelnetStream`], an `AsyncRead + AsyncWrite` adapter that hides the
//! protocol so the dialogue engine sees a plain byte stream.
//!
//! - [`TelnetCodec`] turns wire bytes into [`Event`]s (raw data chunks, never
//!   lines: prompts have no newline) and encodes [`Event`]s back onto the wire.
//!   It keeps no more than one subnegotiation (capped) and one pending data
//!   chunk in memory, whatever the peer sends.
//! - [`Negotiator`] answers the peer's option requests (see its docs for the
//!   policy).
//! - [`TelnetStream`] ties both to a transport (a `TcpStream` in production).
//!
//! ```no_run
//! use reachd::probe::telnet::protocol::TelnetStream;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # async fn login() -> std::io::Result<()> {
//! let tcp = tokio::net::TcpStream::connect("127.0.0.1:2323").await?;
//! let mut telnet = TelnetStream::new(tcp);
//! let mut buf = [0u8; 1024];
//! let n = telnet.read(&mut buf).await?; // "…Username: ", negotiation answered
//! telnet.write_all(b"admin\r\n").await?; // escaped, CR LF kept
//! telnet.flush().await?;
//! if !telnet.peer_negotiated() {
//!     // no IAC seen so far: perhaps not a Telnet server at all
//! }
//! # let _ = n;
//! # Ok(())
//! # }
//! ```

mod codec;
mod negotiation;
mod stream;

pub use codec::{DEFAULT_MAX_SUBNEGOTIATION, Event, TelnetCodec};
pub use negotiation::{NegotiationConfig, Negotiator};
pub use stream::TelnetStream;

/// Telnet command bytes (RFC 854, RFC 855).
pub mod cmd {
    /// End of subnegotiation parameters.
    pub const SE: u8 = 240;
    /// No operation.
    pub const NOP: u8 = 241;
    /// Data mark (the data stream part of a Synch).
    pub const DM: u8 = 242;
    /// Break.
    pub const BRK: u8 = 243;
    /// Interrupt process.
    pub const IP: u8 = 244;
    /// Abort output.
    pub const AO: u8 = 245;
    /// Are you there.
    pub const AYT: u8 = 246;
    /// Erase character.
    pub const EC: u8 = 247;
    /// Erase line.
    pub const EL: u8 = 248;
    /// Go ahead.
    pub const GA: u8 = 249;
    /// Start of subnegotiation.
    pub const SB: u8 = 250;
    /// Sender wants to enable an option on its side.
    pub const WILL: u8 = 251;
    /// Sender refuses or disables an option on its side.
    pub const WONT: u8 = 252;
    /// Sender asks the receiver to enable an option.
    pub const DO: u8 = 253;
    /// Sender asks the receiver to disable an option (or refuses it).
    pub const DONT: u8 = 254;
    /// Interpret as command.
    pub const IAC: u8 = 255;
}

/// A Telnet option code. Any byte is a valid code; the associated constants
/// name the ones reachd cares about.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Opt(pub u8);

impl Opt {
    /// RFC 856.
    pub const BINARY: Opt = Opt(0);
    /// RFC 857.
    pub const ECHO: Opt = Opt(1);
    /// RFC 858, suppress go-ahead.
    pub const SGA: Opt = Opt(3);
    /// RFC 859.
    pub const STATUS: Opt = Opt(5);
    /// RFC 860.
    pub const TIMING_MARK: Opt = Opt(6);
    /// RFC 1091.
    pub const TERMINAL_TYPE: Opt = Opt(24);
    /// RFC 1073, negotiate about window size.
    pub const NAWS: Opt = Opt(31);
    /// RFC 1079.
    pub const TERMINAL_SPEED: Opt = Opt(32);
    /// RFC 1372.
    pub const LFLOW: Opt = Opt(33);
    /// RFC 1184.
    pub const LINEMODE: Opt = Opt(34);
    /// RFC 1096.
    pub const XDISPLOC: Opt = Opt(35);
    /// RFC 1408.
    pub const OLD_ENVIRON: Opt = Opt(36);
    /// RFC 2941.
    pub const AUTHENTICATION: Opt = Opt(37);
    /// RFC 2946.
    pub const ENCRYPT: Opt = Opt(38);
    /// RFC 1572.
    pub const NEW_ENVIRON: Opt = Opt(39);

    /// The option's conventional name, if it is one of the named constants.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "BINARY",
            1 => "ECHO",
            3 => "SGA",
            5 => "STATUS",
            6 => "TIMING-MARK",
            24 => "TERMINAL-TYPE",
            31 => "NAWS",
            32 => "TERMINAL-SPEED",
            33 => "LFLOW",
            34 => "LINEMODE",
            35 => "XDISPLOC",
            36 => "OLD-ENVIRON",
            37 => "AUTHENTICATION",
            38 => "ENCRYPT",
            39 => "NEW-ENVIRON",
            _ => return None,
        })
    }
}

impl std::fmt::Debug for Opt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name}"),
            None => write!(f, "Opt({})", self.0),
        }
    }
}

impl std::fmt::Display for Opt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}
