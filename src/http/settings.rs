//! The HTTP server's settings in the main configuration: `http:` (its
//! limits, the lifecycle switch) and `web_config:`.

use std::path::PathBuf;

use serde::Deserialize;

use super::server::Limits;
use crate::settings::Field;
use crate::settings::duration::PositiveDur;
use crate::settings::values::Bounded;

/// The HTTP server's settings (`http:`) and the web config file
/// (`web_config:`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpSettings {
    pub limits: Limits,
    /// `POST /-/reload` is allowed (`--web.enable-lifecycle`).
    pub enable_lifecycle: bool,
    /// The exporter-toolkit web config file (`--web.config.file`).
    pub web_config: Option<PathBuf>,
}

/// `http:`: the HTTP server's limits and the lifecycle switch.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp {
    max_connections: Option<Bounded<1, 65536>>,
    header_timeout: Option<PositiveDur>,
    idle_timeout: Option<PositiveDur>,
    max_body_bytes: Option<Bounded<0, { 64 * 1024 * 1024 }>>,
    enable_lifecycle: Option<bool>,
}

impl HttpSettings {
    /// From the main file's `http:` and `web_config:` (a path already
    /// relative to the main file).
    pub(crate) fn of(raw: Option<RawHttp>, web_config: Option<PathBuf>) -> HttpSettings {
        let mut s = HttpSettings {
            web_config,
            ..Default::default()
        };
        let Some(raw) = raw else {
            return s;
        };
        let l: &mut Limits = &mut s.limits;
        if let Some(n) = raw.max_connections {
            l.max_connections = n.value();
        }
        if let Some(d) = raw.header_timeout {
            l.header_timeout = d.0;
        }
        if let Some(d) = raw.idle_timeout {
            l.idle_timeout = d.0;
        }
        if let Some(n) = raw.max_body_bytes {
            l.max_body_bytes = n.value();
        }
        s.enable_lifecycle = raw.enable_lifecycle.unwrap_or(false);
        s
    }
}
