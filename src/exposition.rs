//! Small pieces of the Prometheus text exposition format, shared by the
//! metrics view and the checks that write their own series: label
//! escaping, numbers, a family's HELP and TYPE lines.

use std::fmt::Write as _;

/// A metric family: its name, type and help.
pub type Family = (&'static str, &'static str, &'static str);

/// Escapes a label value for the text format.
pub fn esc(v: &str) -> std::borrow::Cow<'_, str> {
    if !v.contains(['\\', '"', '\n']) {
        return v.into();
    }
    v.replace('\\', r"\\")
        .replace('"', r#"\""#)
        .replace('\n', r"\n")
        .into()
}

/// A family's HELP and TYPE lines.
pub fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Prometheus-style float: integers without a fraction, `+Inf`.
pub fn num(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}
