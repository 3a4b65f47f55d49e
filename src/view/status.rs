//! The status page (`/`) and the `/api/v1/status` document: every device ×
//! protocol with state, reason, since when, the last check's duration (or
//! what its check shows instead: ICMP's RTT) and the last output. The page's table is rendered here (so it reads without
//! JavaScript, refreshing itself every 10 s); the page's script then sorts,
//! filters and refreshes it from `/api/v1/status` every 5 s without losing
//! the reader's filter. Targets behind a down device (`behind`) are not
//! listed among the others: their root's rows are followed by a group,
//! "core1 down — 214 devices behind it", a `<details>` collapsed by default
//! (the script keeps the ones the reader opened open across refreshes, and
//! opens those in which a text filter finds a target).

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
/// the detail does not already name it, and the path traced to a down
/// target on a line of its own (`path 198.18.1.2 → *`).
fn detail(r: &TargetStatus) -> String {
    let mut d = match &r.prompt {
        Some(p) if !r.detail.contains(p.as_str()) => format!("prompt {p}; {}", r.detail),
        _ => r.detail.clone(),
    };
    if let Some(p) = &r.path {
        let hops: Vec<String> = p
            .hops
            .iter()
            .map(|h| h.map_or_else(|| "*".to_owned(), |a| a.to_string()))
            .collect();
        d.push_str("\npath ");
        d.push_str(&hops.join(" → "));
    }
    d
}

/// The devices other devices are behind: each root's name and how many
/// devices are behind it, in the rows' order.
fn roots(rows: &[TargetStatus]) -> Vec<(&str, usize)> {
    let mut roots: Vec<(&str, Vec<&str>)> = Vec::new();
    for r in rows {
        let Some(b) = r.behind.as_deref() else {
            continue;
        };
        let i = match roots.iter().position(|(n, _)| *n == b) {
            Some(i) => i,
            None => {
                roots.push((b, Vec::new()));
                roots.len() - 1
            }
        };
        if !roots[i].1.contains(&&*r.device) {
            roots[i].1.push(&r.device);
        }
    }
    roots.into_iter().map(|(n, d)| (n, d.len())).collect()
}

/// "R4 down — 2 devices behind it" (the script says the same).
fn group_summary(root: &str, devices: usize) -> String {
    let s = if devices == 1 { "" } else { "s" };
    format!(
        "<span class=down>{} down</span> — {devices} device{s} behind it",
        esc(root)
    )
}

/// The header's counters: checks up and down (down on their own and
/// behind a down device, when any is behind), then per protocol, in the
/// rows' order (the script renders the same).
fn summary(rows: &[TargetStatus]) -> String {
    let up = rows.iter().filter(|r| r.up).count();
    let down = rows.len() - up;
    let behind = rows.iter().filter(|r| r.behind.is_some()).count();
    let mut out = format!(
        "<span class=pill>{} checks: <span class=up>{up} up</span>, <span class=down>{down} down</span>",
        rows.len()
    );
    out.push_str("</span>");
    if behind > 0 {
        let _ = write!(
            out,
            "<span class=pill>down: {} on their own, {behind} behind a down device</span>",
            down - behind
        );
    }
    let mut per: Vec<(String, usize, usize)> = Vec::new();
    for r in rows {
        let p = r.protocol.to_string();
        let i = match per.iter().position(|(q, _, _)| *q == p) {
            Some(i) => i,
            None => {
                per.push((p, 0, 0));
                per.len() - 1
            }
        };
        if r.up {
            per[i].1 += 1;
        } else {
            per[i].2 += 1;
        }
    }
    for (p, u, d) in per {
        let _ = write!(out, "<span class=pill>{p}: {u} up, {d} down</span>");
    }
    out
}

/// One row of the table (or of a group's table).
fn row_html(out: &mut String, r: &TargetStatus, now: SystemTime) {
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
        out,
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

/// The page: sources that cannot be read, then the targets, down first and
/// the roots of outages before them. The targets behind a down device are
/// not listed among the others: each root's rows are followed by a group,
/// collapsed, "R4 down — 2 devices behind it", that opens on their rows.
pub fn render_page(rows: &[TargetStatus], sources: &[SourceHealth], now: SystemTime) -> String {
    let roots = roots(rows);
    let is_root = |d: &str| roots.iter().any(|(n, _)| *n == d);
    // Down first, the roots first among them, then by device (and the
    // API's order within a device): the script's default order.
    let order = |r: &&TargetStatus| (r.up, !is_root(&r.device), r.device.clone());
    let mut own: Vec<&TargetStatus> = rows.iter().filter(|r| r.behind.is_none()).collect();
    own.sort_by_key(order);
    let mut html_rows = String::with_capacity(rows.len() * 300);
    let mut placed = vec![false; roots.len()];
    let group = |out: &mut String, (root, devices): (&str, usize)| {
        let mut children: Vec<&TargetStatus> = rows
            .iter()
            .filter(|r| r.behind.as_deref() == Some(root))
            .collect();
        children.sort_by_key(order);
        let _ = write!(
            out,
            "<tr class=group data-root=\"{0}\"><td colspan=9><details data-root=\"{0}\">\
             <summary>{1}</summary><table class=behind><tbody>",
            esc(root),
            group_summary(root, devices)
        );
        for c in children {
            row_html(out, c, now);
        }
        out.push_str("</tbody></table></details></td></tr>");
    };
    // A root none of whose rows are listed (it is not checked itself):
    // its group first.
    for (i, &(root, devices)) in roots.iter().enumerate() {
        if !own.iter().any(|r| &*r.device == root) {
            group(&mut html_rows, (root, devices));
            placed[i] = true;
        }
    }
    for (k, r) in own.iter().enumerate() {
        row_html(&mut html_rows, r, now);
        let last_of_device = own.get(k + 1).is_none_or(|n| n.device != r.device);
        match roots.iter().position(|(n, _)| *n == &*r.device) {
            Some(i) if last_of_device && !placed[i] => {
                group(&mut html_rows, roots[i]);
                placed[i] = true;
            }
            _ => {}
        }
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
        .replacen("<!--SUMMARY-->", &summary(rows), 1)
        .replacen("<!--SOURCES-->", &banners, 1)
        .replacen("<!--ROWS-->", &html_rows, 1)
        .replacen("<!--DATA-->", &data, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page's embedded JSON data.
    fn embedded(html: &str) -> &str {
        html.split("<script id=\"initial\" type=\"application/json\">")
            .nth(1)
            .unwrap()
            .split("</script>")
            .next()
            .unwrap()
    }
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
    fn the_path_of_a_down_target_is_on_its_own_line() {
        let s = StateStore::default();
        s.record(&result("r1", Reason::NoReply, 1));
        let mut row = s.snapshot().remove(0);
        row.detail = "0/3 replies".into();
        row.path = Some(std::sync::Arc::new(crate::diagnose::Path {
            hops: vec![Some("198.18.1.2".parse().unwrap()), None],
            reached: false,
            finished_at: SystemTime::UNIX_EPOCH,
        }));
        assert_eq!(detail(&row), "0/3 replies\npath 198.18.1.2 → *");
        row.path = None;
        assert_eq!(detail(&row), "0/3 replies");
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
        let data = embedded(&html);
        for raw in ['<', '>', '&', '\u{2028}', '\u{2029}'] {
            assert!(!data.contains(raw), "raw {raw:?} in embedded JSON: {data}");
        }
        let v: serde_json::Value = serde_json::from_str(data).expect("the embedded JSON parses");
        assert_eq!(v, status_document(&rows, &[]));
        assert_eq!(v["status"][0]["device"], name);
        // The page's own script follows, intact.
        assert!(html.contains("setInterval(refresh, 5000);"));
    }

    /// A lab with an outage: core1 down, sw1 and sw2 (two targets) behind
    /// it, r3 down on its own, r1 up.
    fn outage(root: &str, child: &str) -> Vec<TargetStatus> {
        let s = StateStore::default();
        s.record(&result("r1", Reason::Ok, 100));
        s.record(&result(root, Reason::NoReply, 100));
        s.record(&result(child, Reason::NoReply, 100));
        s.record(&result("sw2", Reason::NoReply, 100));
        s.record(&result("r3", Reason::AuthFailed, 100));
        let mut rows = s.snapshot();
        let mut ssh = rows.iter().find(|r| &*r.device == "sw2").unwrap().clone();
        ssh.protocol = crate::target::Protocol::Ssh;
        ssh.reason = Reason::Timeout;
        rows.push(ssh);
        for r in rows.iter_mut() {
            if &*r.device == child || &*r.device == "sw2" {
                r.behind = Some(root.into());
            }
        }
        rows
    }

    #[test]
    fn targets_behind_a_down_device_are_one_collapsed_group_after_their_root() {
        let rows = outage("core1", "sw1");
        let html = render_page(&rows, &[], std::time::UNIX_EPOCH + Duration::from_secs(160));
        let group = "<tr class=group data-root=\"core1\"><td colspan=9><details data-root=\"core1\">\
                     <summary><span class=down>core1 down</span> — 2 devices behind it</summary>\
                     <table class=behind><tbody>";
        assert!(html.contains(group), "{html}");
        // Collapsed by default: the page opens nothing.
        assert!(!html.contains("<details open"));
        assert_eq!(html.matches("<details").count(), 1);
        // Roots first, then the group, then the targets down on their own,
        // then the up ones.
        let at = |s: &str| html.find(s).unwrap_or_else(|| panic!("{s} not in {html}"));
        let core1 = at("<td>core1</td>");
        let g = at(group);
        let r3 = at("<td>r3</td>");
        let r1 = at("<td>r1</td>");
        assert!(core1 < g && g < r3 && r3 < r1, "{html}");
        // The targets behind it are in the group only, each once, with
        // the cells of any row.
        let inside = &html[g..html.find("</details>").unwrap()];
        assert_eq!(inside.matches("<tr data-device=").count(), 3, "{inside}");
        assert!(inside.contains(
            "<tr data-device=\"sw1\" data-protocol=\"icmp\" class=is-down><td>sw1</td><td>icmp</td>\
             <td class=down>DOWN</td><td>no_reply</td>"
        ));
        assert!(inside.contains("<tr data-device=\"sw2\" data-protocol=\"ssh\" class=is-down>"));
        assert_eq!(html.matches("<td>sw2</td>").count(), 2);
        assert_eq!(html.matches("<td>sw1</td>").count(), 1);
        // The counters: down on their own and behind.
        assert!(html.contains(
            "<span class=pill>6 checks: <span class=up>1 up</span>, <span class=down>5 down</span></span>\
             <span class=pill>down: 2 on their own, 3 behind a down device</span>"
        ));
        assert!(html.contains(
            "<span class=pill>icmp: 1 up, 4 down</span><span class=pill>ssh: 0 up, 1 down</span>"
        ));
        assert!(!html.contains("<!--SUMMARY-->"));
    }

    #[test]
    fn one_device_behind_is_said_in_the_singular() {
        let mut rows = outage("core1", "sw1");
        rows.retain(|r| &*r.device != "sw2");
        let html = render_page(&rows, &[], std::time::UNIX_EPOCH);
        assert!(html.contains(
            "<summary><span class=down>core1 down</span> — 1 device behind it</summary>"
        ));
    }

    #[test]
    fn roots_and_targets_behind_them_are_escaped() {
        let rows = outage("<core&1>", "<sw1 \"x\">");
        let html = render_page(&rows, &[], std::time::UNIX_EPOCH);
        assert!(html.contains(
            "<tr class=group data-root=\"&lt;core&amp;1&gt;\"><td colspan=9><details data-root=\"&lt;core&amp;1&gt;\">\
             <summary><span class=down>&lt;core&amp;1&gt; down</span> — 2 devices behind it</summary>"
        ), "{html}");
        assert!(html.contains("<tr data-device=\"&lt;sw1 &quot;x&quot;&gt;\" data-protocol=\"icmp\" class=is-down><td>&lt;sw1 &quot;x&quot;&gt;</td>"));
        for raw in ["<core&1>", "<sw1 \"x\">", "<core", "<sw1"] {
            assert!(!html.contains(raw), "raw {raw} in {html}");
        }
        // The embedded data carries behind, and parses back.
        let data = embedded(&html);
        let v: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(v, status_document(&rows, &[]));
        assert!(
            v["status"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["behind"] == "<core&1>")
        );
    }

    #[test]
    fn a_target_whose_root_is_up_again_is_listed_flat() {
        // core1 answers again: nothing is behind it any more.
        let mut rows = outage("core1", "sw1");
        for r in rows.iter_mut() {
            r.behind = None;
            if &*r.device == "core1" {
                r.up = true;
                r.reason = Reason::Ok;
            }
        }
        let html = render_page(&rows, &[], std::time::UNIX_EPOCH);
        assert!(!html.contains("<details") && !html.contains("class=group"));
        assert!(!html.contains("behind a down device</span>"));
        // sw1, sw2 and r3 down, by device; core1 and r1 up.
        let at = |s: &str| html.find(s).unwrap();
        let order = [
            "<td>r3</td>",
            "<td>sw1</td>",
            "<td>sw2</td>",
            "<td>core1</td>",
            "<td>r1</td>",
        ];
        assert!(order.windows(2).all(|w| at(w[0]) < at(w[1])), "{html}");
        assert!(
            html.contains(
                "<tr data-device=\"sw1\" data-protocol=\"icmp\" class=is-down><td>sw1</td>"
            )
        );
    }

    #[test]
    fn a_root_with_no_row_has_its_group_first() {
        let mut rows = outage("core1", "sw1");
        rows.retain(|r| &*r.device != "core1");
        let html = render_page(&rows, &[], std::time::UNIX_EPOCH);
        let g = html.find("<tr class=group data-root=\"core1\">").unwrap();
        assert!(g < html.find("<td>r3</td>").unwrap());
        assert!(html.contains("— 2 devices behind it"));
    }
}
