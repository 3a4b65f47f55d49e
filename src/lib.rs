//! reachd: continuous ICMP, SSH and Telnet reachability checks of network
//! devices, exported as Prometheus metrics and structured logs.
//!
//! Data flows one way: [`config`] resolves files into [`target::Target`]s, the
//! [`scheduler`] runs them through [`probe`]s as one stream of results per
//! protocol, [`sink`]s (the state store, logs) consume the results, and
//! [`view`]s render the store for [`http`] (metrics, status page, JSON API).

pub mod cause;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod diagnose;
pub mod engine;
pub mod exposition;
pub mod fdlimit;
pub mod http;
pub mod inventory;
pub mod inventory_cmd;
pub mod logging;
pub mod memory;
pub mod notify;
pub mod probe;
pub mod refresh;
pub mod result;
pub mod round;
pub mod secret;
pub mod settings;
pub mod sim;
pub mod sink;
pub mod target;
pub mod topology;
pub mod trace_cmd;
pub mod verdict;
pub mod view;
