//! The status page (`/`) and the `/api/v1/status` document: every device ×
//! protocol with state, reason, since when, the last check's duration (or
//! what its check shows instead: ICMP's RTT) and the last output. The page's table is rendered here (so it reads without
//! JavaScript, refreshing itself every 10 s); the page's script then sorts,
//! filters and refreshes it from `/api/v1/status` every 5 s without losing
//! the reader's filter.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::sink::registry::SourceHealth;
use crate::sink::state::TargetStatus;
use crate::verdict::fmt_duration;

const TEMPLATE: &str = include_str!("status.html");

/// The `/api/v1/status` document (the page embeds the same): the
/// targets, and the inventory sources' health.
pub fn status_document(rows: &[TargetStatus], sources: &[SourceHealth]) -> serde_json::Value {
    let up = rows.iter().filter(|r| r.up).count();
    serde_json::json!({
        "targets": rows.len(),
        "up": up,
        "down": rows.len() - up,
        "status": rows,
        "sources": sources,
    })
}

/// What the page says of a source that cannot be read (its script says
/// the same).
fn source_down(h: &SourceHealth, now: SystemTime) -> String {
    let head = format!(
        "Inventory source {} ({}) cannot be read: {}.",
        h.name,
        h.kind,
        h.error.as_deref().unwrap_or_default()
    );
    match h.last_success {
        None => format!("{head} It has given no devices since reachd started; reachd retries it."),
        Some(t) => {
            let now = crate::sink::state::unix_seconds(now);
            let s = (now - t).max(0.0) as u64;
            let ago = match s {
                0..120 => format!("{s}s"),
                120..7200 => format!("{}m", s / 60),
                _ => format!("{}h", s / 3600),
            };
            format!("{head} Its last good devices are still checked (last read {ago} ago).")
        }
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `v` as JSON safe inside a `<script>` element: `<`, `>` and `&` (so
/// neither `</script>` nor `<!--<script>` can end or swallow the element)
/// and U+2028/U+2029 (line ends to older JavaScript) as `\uXXXX` escapes.
/// They only ever occur inside JSON strings, where the escape means the
/// same character.
fn script_json(v: &serde_json::Value) -> String {
    let json = v.to_string();
    let mut out = String::with_capacity(json.len() + json.len() / 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// The detail column: the verdict's detail, after the prompt reached when
/// the detail does not already name it.
fn detail(r: &TargetStatus) -> String {
    match &r.prompt {
        Some(p) if !r.detail.contains(p.as_str()) => format!("prompt {p}; {}", r.detail),
        _ => r.detail.clone(),
    }
}

/// The page: sources that cannot be read, then the targets, down first.
pub fn render_page(rows: &[TargetStatus], sources: &[SourceHealth], now: SystemTime) -> String {
    let mut sorted: Vec<&TargetStatus> = rows.iter().collect();
    sorted.sort_by_key(|r| r.up);
    let mut html_rows = String::with_capacity(rows.len() * 300);
    for r in sorted {
        let since = now
            .duration_since(r.since)
            .map(|d| fmt_duration(Duration::from_secs(d.as_secs())))
            .unwrap_or_default();
        let last = match &r.last {
            Some(last) => last.clone(),
            None => fmt_duration(Duration::from_secs_f64(r.duration)),
        };
        let (class, state) = if r.up { ("up", "UP") } else { ("down", "DOWN") };
        let device = esc(&r.device);
        let _ = write!(
            html_rows,
            "<tr data-device=\"{device}\" data-protocol=\"{}\"{}><td>{device}</td><td>{}</td>\
             <td class={class}>{state}</td><td>{}</td>\
             <td class=opt>{}</td><td class=num>{since}</td><td class=num>{last}</td>\
             <td class=opt>{}</td><td class=detail>{}</td></tr>",
            r.protocol,
            if r.up { "" } else { " class=is-down" },
            r.protocol,
            r.reason,
            r.phase,
            esc(&r.host),
            esc(&detail(r)),
        );
    }
    let mut banners = String::new();
    for h in sources.iter().filter(|h| !h.up) {
        let _ = write!(
            banners,
            "<p class=source-down>{}</p>",
            esc(&source_down(h, now))
        );
    }
    let data = script_json(&status_document(rows, sources));
    TEMPLATE
        .replacen("<!--SOURCES-->", &banners, 1)
        .replacen("<!--ROWS-->", &html_rows, 1)
        .replacen("<!--DATA-->", &data, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::state::StateStore;
    use crate::sink::state::tests::result;
    use crate::verdict::Reason;

    #[test]
    fn lists_down_first_and_escapes_everything() {
        let s = StateStore::default();
        s.record(&result("<r1>", Reason::Ok, 100));
        s.record(&result("r2", Reason::NoReply, 100));
        let html = render_page(
            &s.snapshot(),
            &[],
            std::time::UNIX_EPOCH + Duration::from_secs(160),
        );
        assert!(html.contains("<td>&lt;r1&gt;</td>"));
        assert!(!html.contains("<td><r1></td>"));
        // The rows carry what the script's rows carry, escaped in attributes too.
        assert!(html.contains("<tr data-device=\"&lt;r1&gt;\" data-protocol=\"icmp\"><td>"));
        assert!(html.contains("<tr data-device=\"r2\" data-protocol=\"icmp\" class=is-down>"));
        let r2 = html.find("<td>r2</td>").unwrap();
        let r1 = html.find("<td>&lt;r1&gt;</td>").unwrap();
        assert!(r2 < r1, "down targets first");
        assert!(html.contains("<td class=num>1m</td>"));
        assert!(!html.contains("<!--ROWS-->") && !html.contains("<!--DATA-->"));
        // No /favicon.ico request (a 404 and a console error on every load).
        assert!(html.contains("<link rel=\"icon\" href=\"data:,\">"));
    }

    #[test]
    fn a_source_that_cannot_be_read_is_said_above_the_table() {
        let down = SourceHealth {
            name: "<nb>".into(),
            kind: "netbox",
            up: false,
            devices: 3,
            skipped: 0,
            last_success: Some(100.0),
            error: Some("GET https://nb/api/dcim/devices/: timed out".into()),
        };
        let up = SourceHealth {
            name: "sd".into(),
            kind: "http_sd",
            up: true,
            ..down.clone()
        };
        let html = render_page(
            &[],
            &[down, up],
            std::time::UNIX_EPOCH + Duration::from_secs(400),
        );
        assert!(
            html.contains(
                "<p class=source-down>Inventory source &lt;nb&gt; (netbox) cannot be read: GET \
             https://nb/api/dcim/devices/: timed out. Its last good devices are still checked \
             (last read 5m ago).</p>"
            ),
            "{html}"
        );
        assert!(!html.contains("Inventory source sd"));
        assert!(!html.contains("<!--SOURCES-->"));
    }

    #[test]
    fn the_prompt_is_named_once() {
        let s = StateStore::default();
        s.record(&result("r1", Reason::Ok, 1));
        let mut row = s.snapshot().remove(0);
        row.prompt = Some("R1#".into());
        row.detail = "logged in, prompt R1#".into();
        assert_eq!(detail(&row), "logged in, prompt R1#");
        row.detail = "enable refused".into();
        assert_eq!(detail(&row), "prompt R1#; enable refused");
    }

    #[test]
    fn embedded_json_cannot_close_its_script() {
        let s = StateStore::default();
        s.record(&result("</script><script>alert(1)</script>", Reason::Ok, 1));
        let html = render_page(&s.snapshot(), &[], std::time::UNIX_EPOCH);
        let data = html
            .split("<script id=\"initial\" type=\"application/json\">")
            .nth(1)
            .unwrap();
        let data = data.split("</script>").next().unwrap();
        let v: serde_json::Value = serde_json::from_str(data).expect("the embedded JSON parses");
        assert_eq!(
            v["status"][0]["device"],
            "</script><script>alert(1)</script>"
        );
    }

    /// A device name or output with `<!--<script>` (which would put the
    /// HTML parser in the "double escaped" state and swallow the page's
    /// script), `&`, `>` or a JavaScript line separator: the embedded JSON
    /// carries none of them raw, and parses back to the same document.
    #[test]
    fn embedded_json_escapes_html_and_line_separators() {
        let s = StateStore::default();
        let name = "<!--<script>a&b>c\u{2028}d\u{2029}e";
        s.record(&result(name, Reason::Ok, 1));
        let mut rows = s.snapshot();
        rows[0].detail = "last output: <!--<script> R1# & \u{2028}\u{2029} -->".into();
        let html = render_page(&rows, &[], std::time::UNIX_EPOCH);
        let data = html
            .split("<script id=\"initial\" type=\"application/json\">")
            .nth(1)
            .unwrap()
            .split("</script>")
            .next()
            .unwrap();
        for raw in ['<', '>', '&', '\u{2028}', '\u{2029}'] {
            assert!(!data.contains(raw), "raw {raw:?} in embedded JSON: {data}");
        }
        let v: serde_json::Value = serde_json::from_str(data).expect("the embedded JSON parses");
        assert_eq!(v, status_document(&rows, &[]));
        assert_eq!(v["status"][0]["device"], name);
        // The page's own script follows, intact.
        assert!(html.contains("setInterval(refresh, 5000);"));
    }
}
