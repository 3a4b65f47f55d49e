//! Log output: human text on a terminal, JSON (one object per line) for
//! journald and Loki otherwise, or forced by configuration.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use serde::{Deserialize, Deserializer};

use crate::settings::str_then;

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Text on a terminal, JSON otherwise (journald, Loki).
    #[default]
    Auto,
    Json,
    Text,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A tracing filter directive: `info`, `debug`, `reachd=debug,warn`.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Auto,
            level: "info".to_owned(),
        }
    }
}

/// A tracing filter: `info`, `debug`, `reachd=debug,warn`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLevel(pub String);

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_then(d, "a log level", |s| {
            if s.trim().is_empty() {
                return Err("must not be empty".to_owned());
            }
            match tracing_subscriber::EnvFilter::builder().parse(s) {
                Ok(_) => Ok(LogLevel(s.to_owned())),
                Err(e) => Err(format!(
                    "invalid log level `{s}`: {e} (use e.g. info, debug, reachd=debug,warn)"
                )),
            }
        })
    }
}

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `level`.
/// Logs go to stderr. Calling it twice is harmless (the first one stays).
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_span_events(FmtSpan::NONE)
        .with_target(false);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
    };
}
