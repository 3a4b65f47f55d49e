//! `reachd trace ADDRESS`: one path trace, printed hop by hop.

use std::net::IpAddr;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use crate::diagnose::{Path, TraceOptions, Tracer};
use crate::round::Format;

/// Arguments of `reachd trace`.
#[derive(Args, Debug, Clone)]
pub struct TraceArgs {
    /// The device's IP address (a literal address: no name is resolved).
    #[arg(value_name = "ADDRESS")]
    pub address: String,
    /// Highest TTL (hop) probed.
    #[arg(long, value_name = "N", default_value_t = 30,
          value_parser = clap::value_parser!(u8).range(1..))]
    pub max_hops: u8,
    /// Output format (json: one object).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// The JSON output: the path, with what it was traced to and how.
#[derive(Serialize)]
struct Output<'a> {
    dest: IpAddr,
    mode: Option<&'static str>,
    #[serde(flatten)]
    path: &'a Path,
    answered: usize,
    summary: String,
}

/// Traces the path to the address; exit 0 if the device answered, 1 if not,
/// 2 if the address is not one or nothing could be sent.
pub async fn run(args: TraceArgs) -> ExitCode {
    let Ok(dest) = args.address.parse::<IpAddr>() else {
        eprintln!(
            "reachd trace: `{}` is not an IP address (give a literal IPv4 or IPv6 address: \
             reachd trace resolves no names)",
            args.address
        );
        return ExitCode::from(2);
    };
    let tracer = Tracer::new(TraceOptions {
        max_hops: args.max_hops,
        ..TraceOptions::default()
    });
    let path = match tracer.trace(dest).await {
        Ok(path) => path,
        Err(e) => {
            eprintln!("reachd trace: {e}");
            return ExitCode::from(2);
        }
    };
    let mode = tracer.mode(dest);
    match args.format {
        Format::Table => {
            eprintln!(
                "trace to {dest}, {} hops max, {} ICMP socket",
                args.max_hops,
                mode.unwrap_or("unknown")
            );
            print!("{}", table(&path));
        }
        Format::Json => {
            let out = Output {
                dest,
                mode,
                path: &path,
                answered: path.answered(),
                summary: path.summary(),
            };
            match serde_json::to_string(&out) {
                Ok(json) => println!("{json}"),
                Err(e) => {
                    eprintln!("reachd trace: cannot write JSON: {e}");
                    return ExitCode::from(2);
                }
            }
        }
    }
    if path.reached {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `1  198.18.1.2` per hop (`*` for silence), then the summary.
fn table(path: &Path) -> String {
    let mut out = String::new();
    for (i, hop) in path.hops.iter().enumerate() {
        let addr = hop.map_or_else(|| "*".to_string(), |a| a.to_string());
        out.push_str(&format!("{:>2}  {addr}\n", i + 1));
    }
    out.push_str(&path.summary());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_hop_then_the_summary() {
        let path = Path::from_answers(
            vec![Some("198.18.1.2".parse().unwrap()), None, None],
            None,
            false,
        );
        assert_eq!(
            table(&path),
            " 1  198.18.1.2\n 2  *\npath ends after 198.18.1.2 (hop 1 of ≥2)\n"
        );
    }
}
