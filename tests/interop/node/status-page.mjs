// The status page of `reachd demo` in Debian's headless Chromium, driven by
// Playwright: rows, states, sorting, filtering, auto-refresh, the phone
// layout, no secrets, and the page without JavaScript; SW1 and SW2, behind
// R4 (parents: [R4]), in R4's group: collapsed, opened by a click that
// survives the refresh, opened by a filter that finds them.
//
// Usage: node status-page.mjs BASE_URL OUT_DIR
//   BASE_URL  where the demo serves HTTP (http://127.0.0.1:PORT/)
//   OUT_DIR   where the screenshots go (desktop.png, phone.png)
//   SCREENSHOT_TO=path  also save the desktop screenshot there (by hand,
//                       to regenerate docs/status-page.png; never in CI)
//   SCREENSHOT_OPEN_TO=path  and the one with R4's group open there
//                       (docs/status-page-outage.png)
// Prints one `ok <what>` or `FAIL <what>` line per check; exits 1 on a failure.
// Loopback only: the page and its API are all it loads.
import { chromium } from "playwright-core";
import { statSync, copyFileSync } from "node:fs";
import { join } from "node:path";

// The detail column as view/status.rs and view/status.html render it: the prompt reached
// is named first unless the detail already names it; the path traced to a
// down target follows on a line of its own.
const shownDetail = (a) => (a.prompt && !a.detail.includes(a.prompt) ? "prompt " + a.prompt + "; " : "") + a.detail
  + (a.path ? "\npath " + a.path.map((h) => h ?? "*").join(" → ") : "");

const [base, outDir] = process.argv.slice(2);
if (!base || !outDir) {
  console.error("usage: node status-page.mjs BASE_URL OUT_DIR");
  process.exit(2);
}
const api = new URL("api/v1/status", base).href;

let failed = 0;
function want(what, cond, more) {
  console.log((cond ? "ok " : "FAIL ") + what);
  if (!cond) {
    failed++;
    if (more !== undefined) console.log("     got: " + (typeof more === "string" ? more : JSON.stringify(more)));
  }
}
const eq = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// The demo lab: device, protocol, up, reason, phase (null: not checked),
// the device it is behind (null: none).
const LAB = [
  ["R1", "icmp", true, "ok", null, null],
  ["R1", "ssh", true, "ok", null, null],
  ["R1", "telnet", true, "ok", null, null],
  ["R2", "icmp", true, "ok", null, null],
  ["R2", "ssh", true, "ok", null, null],
  ["R2", "telnet", true, "ok", null, null],
  ["R3", "icmp", true, "ok", null, null],
  ["R3", "ssh", false, "auth_failed", "auth", null],
  ["R3", "telnet", false, "auth_failed", "auth", null],
  ["R4", "icmp", false, "no_reply", null, null],
  ["R4", "ssh", false, "timeout", "connect", null],
  ["R4", "telnet", false, "timeout", "connect", null],
  ["SW1", "ssh", false, "timeout", "connect", "R4"],
  ["SW1", "telnet", false, "timeout", "connect", "R4"],
  ["SW2", "ssh", false, "timeout", "connect", "R4"],
  ["SW2", "telnet", false, "timeout", "connect", "R4"],
];
const key = (d, p) => d + "/" + p;
// The rows listed at the top level (not behind a down device), and those
// in R4's group.
const TOP = LAB.filter((l) => l[5] === null);
const BEHIND = LAB.filter((l) => l[5] === "R4").map((l) => key(l[0], l[1]));
const DOWN = TOP.filter((l) => !l[2]).map((l) => key(l[0], l[1]));
const UP = TOP.filter((l) => l[2]).map((l) => key(l[0], l[1]));
// Down first, the root of the outage (R4) first among them, then by device
// (the API's order within a device).
const DEFAULT_ORDER = [...DOWN.filter((k) => k.startsWith("R4/")), ...DOWN.filter((k) => !k.startsWith("R4/")), ...UP];
const GROUP_SUMMARY = "R4 down — 2 devices behind it";

// The rendered table: one object per row, from its cells (either the
// server's rows or the script's, which carry the same nine cells), and the
// data they were rendered from, read at the same moment: the script's own
// (it refreshes every 5 s, and RTTs change) or, without JavaScript, the data
// the server embedded with its rows.
function readRows() {
  const held = typeof state !== "undefined" && state.data;
  const data = held || JSON.parse(document.getElementById("initial").textContent);
  const rows = [...document.querySelectorAll("#rows tr[data-device]")].map((tr) => {
    const c = [...tr.children].map((td) => td.textContent);
    const group = tr.closest("tr.group");
    return {
      behind: group ? group.dataset.root : null, top: tr.parentElement.id === "rows",
      device: c[0], protocol: c[1], state: c[2], reason: c[3], phase: c[4],
      since: c[5], last: c[6], host: c[7], detail: c[8], cells: c.length,
      isDown: tr.classList.contains("is-down"),
      stateClass: tr.children[2] ? tr.children[2].className : "",
    };
  });
  return { rows, status: data.status, fromScript: Boolean(held) };
}

// The string `cisco` (the enable secret) anywhere but in the platform
// label cisco_iosxe; the string `admin` (user name and password) anywhere.
function secretsIn(text) {
  const found = [];
  const cisco = text.replaceAll("cisco_iosxe", "").match(/cisco/gi);
  if (cisco) found.push(cisco.length + "× cisco");
  const admin = text.match(/admin/gi);
  if (admin) found.push(admin.length + "× admin");
  return found;
}

// Checks the rows against the lab; `ctx` names the view in the messages.
function checkRows(rows, ctx, status) {
  want(`${ctx}: 16 rows, one per device × protocol`, rows.length === 16 &&
    new Set(rows.map((r) => key(r.device, r.protocol))).size === 16, rows.length);
  want(`${ctx}: every row has 9 cells`, rows.every((r) => r.cells === 9), rows.map((r) => r.cells));
  for (const [dev, proto, up, reason, phase, behind] of LAB) {
    const r = rows.find((x) => x.device === dev && x.protocol === proto);
    const apiRow = status.find((x) => x.device === dev && x.protocol === proto);
    const good = r && r.state === (up ? "UP" : "DOWN") && r.stateClass === (up ? "up" : "down") &&
      r.isDown === !up && r.reason === reason && (phase === null || r.phase === phase) &&
      apiRow && r.phase === apiRow.phase && r.host === apiRow.host &&
      r.behind === behind && apiRow.behind === behind && r.top === (behind === null);
    want(`${ctx}: ${dev} ${proto} is ${up ? "UP" : "DOWN"} ${reason}${phase ? " in phase " + phase : ""}` +
      (behind ? `, in ${behind}'s group` : ", at the top level"), good, r);
  }
  const top = rows.filter((r) => r.top).map((r) => key(r.device, r.protocol));
  want(`${ctx}: down rows first, the root first (${DEFAULT_ORDER.join(" ")})`, eq(top, DEFAULT_ORDER), top);
  want(`${ctx}: R4's group has SW1's and SW2's rows (${BEHIND.join(" ")})`,
    eq(rows.filter((r) => !r.top).map((r) => key(r.device, r.protocol)), BEHIND), rows.filter((r) => !r.top));
  // Since when: an age like 12s, 3m 4s, 1h 2m, 1d 2h.
  const age = /^(\d+(\.\d+)?(µs|ms|s|m|h|d)( \d+(\.\d+)?(ms|s|m|h))?)$/;
  want(`${ctx}: every row shows since when (an age)`, rows.every((r) => age.test(r.since.trim())), rows.map((r) => r.since));
  // Last: the ICMP RTT of an answered ping, else how long the check took.
  const ok = rows.every((r) => {
    const a = status.find((x) => x.device === r.device && x.protocol === r.protocol);
    if (!a) return false;
    if (a.rtt != null) return r.last === "rtt " + (a.rtt * 1000).toFixed(3) + " ms";
    return /^\d+(\.\d+)? ?(µs|us|ms|s)$/.test(r.last.trim());
  });
  want(`${ctx}: every row shows its last RTT (answered pings) or duration`, ok, rows.map((r) => r.last));
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  // ------------------------------------------------------------ the API
  const doc = await (await fetch(api)).json();
  const status = doc.status;
  want("API: 16 targets, 7 up, 9 down", doc.targets === 16 && doc.up === 7 && doc.down === 9 && status.length === 16,
    { targets: doc.targets, up: doc.up, down: doc.down });
  for (const [dev, proto, up, reason, phase, behind] of LAB) {
    const a = status.find((x) => x.device === dev && x.protocol === proto);
    want(`API: ${dev} ${proto} up=${up} reason ${reason}${phase ? " phase " + phase : ""} behind ${behind}`,
      a && a.up === up && a.reason === reason && (phase === null || a.phase === phase) && a.behind === behind, a);
  }
  const r3t = status.find((x) => x.device === "R3" && x.protocol === "telnet");
  want("API: R3's Telnet failure shows the last output", r3t && r3t.detail.includes("last output:"), r3t && r3t.detail);
  const r4i = status.find((x) => x.device === "R4" && x.protocol === "icmp");
  want("API: R4 is pinged at 127.255.255.255", r4i && r4i.host === "127.255.255.255", r4i && r4i.host);

  // ------------------------------------------------------------ desktop, with JavaScript
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("response", (r) => { if (r.status() >= 400) errors.push(r.status() + " " + r.url()); });
  await page.goto(base, { waitUntil: "load" });
  // The script has run when it set aria-sort and the summary.
  await page.waitForFunction(() => document.querySelector("th[aria-sort]") && document.getElementById("summary").textContent, null, { timeout: 15000 });
  const seen = await page.evaluate(readRows);
  const rows = seen.rows;
  want("page: the script rendered the rows from its data", seen.fromScript);
  checkRows(rows, "page", seen.status);
  want("page: rows carry data-device and data-protocol, the group data-root",
    await page.evaluate(() => [...document.querySelectorAll("#rows tr")].every((tr) =>
      tr.classList.contains("group") ? tr.dataset.root === "R4" : tr.dataset.device && tr.dataset.protocol)));
  const r3tRow = rows.find((r) => r.device === "R3" && r.protocol === "telnet");
  want("page: R3's Telnet row shows the last output", r3tRow && r3tRow.detail.includes("last output:"), r3tRow && r3tRow.detail);
  want("page: the R1 SSH row shows its prompt", rows.some((r) => r.device === "R1" && r.protocol === "ssh" && r.detail.includes("prompt R1#")));

  // The DOM agrees with the embedded data and the API.
  const embedded = await page.evaluate(() => JSON.parse(document.getElementById("initial").textContent));
  want("page: the embedded data has the 16 checks the API has",
    eq(embedded.status.map((r) => [r.device, r.protocol, r.up, r.reason]).sort(), status.map((r) => [r.device, r.protocol, r.up, r.reason]).sort()));
  want("page: every row's detail (and prompt) is the one in the page's data",
    rows.every((r) => {
      const a = seen.status.find((x) => x.device === r.device && x.protocol === r.protocol);
      return a && r.detail === shownDetail(a);
    }), rows.map((r) => [r.device, r.protocol, r.detail]));
  // State, reason, phase and address do not change in the lab; details and
  // RTTs do, so those are compared with the data the page held above.
  const fresh = (await (await fetch(api)).json()).status;
  want("page: every row's state, reason, phase and address agree with a fresh /api/v1/status",
    fresh.length === rows.length && rows.every((r) => {
      const a = fresh.find((x) => x.device === r.device && x.protocol === r.protocol);
      return a && r.state === (a.up ? "UP" : "DOWN") && r.reason === a.reason && r.phase === a.phase && r.host === a.host;
    }), rows.map((r) => [r.device, r.protocol, r.state, r.reason, r.phase, r.host]));

  // Summary.
  const summary = await page.locator("#summary .pill").allTextContents();
  const SUMMARY = ["16 checks: 7 up, 9 down", "down: 5 on their own, 4 behind a down device", "icmp: 3 up, 1 down", "ssh: 2 up, 4 down", "telnet: 2 up, 4 down"];
  want("page: summary 16 checks: 7 up, 9 down; down: 5 on their own, 4 behind; per protocol", eq(summary, SUMMARY), summary);
  want("page: summary counts are coloured", (await page.locator("#summary .up").first().textContent()) === "7 up" &&
    (await page.locator("#summary .down").first().textContent()) === "9 down");

  // ------------------------------------------------------------ the group behind R4
  const grp = () => page.evaluate(() => {
    const g = document.querySelectorAll("#rows > tr.group");
    const d = g[0] && g[0].querySelector("details");
    const prev = g[0] && g[0].previousElementSibling;
    return {
      groups: g.length, root: g[0] && g[0].dataset.root, open: Boolean(d && d.open),
      summary: d && d.querySelector("summary").textContent,
      after: prev ? prev.dataset.device + "/" + prev.dataset.protocol : null,
      childrenShown: [...document.querySelectorAll("tr.group tr[data-device]")].filter((tr) => tr.checkVisibility()).length,
      old: Boolean(g[0] && g[0].dataset.old),
    };
  });
  let gs = await grp();
  want(`group: one, R4's, right after R4's last row, saying "${GROUP_SUMMARY}"`,
    gs.groups === 1 && gs.root === "R4" && gs.after === "R4/telnet" && gs.summary === GROUP_SUMMARY, gs);
  want("group: collapsed by default, SW1's and SW2's rows not shown", !gs.open && gs.childrenShown === 0, gs);
  want("page: the default sort is the state column, ascending",
    (await page.getAttribute('th[data-key="up"]', "aria-sort")) === "ascending");

  const shot = join(outDir, "desktop.png");
  await page.screenshot({ path: shot, fullPage: true });
  want("desktop screenshot written", statSync(shot).size > 0);
  if (process.env.SCREENSHOT_TO) copyFileSync(shot, process.env.SCREENSHOT_TO);

  await page.click("#rows tr.group summary");
  gs = await grp();
  want("group: a click opens it, SW1's and SW2's 4 rows shown", gs.open && gs.childrenShown === 4, gs);
  if (process.env.SCREENSHOT_OPEN_TO) await page.screenshot({ path: process.env.SCREENSHOT_OPEN_TO, fullPage: true });
  await page.evaluate(() => { document.querySelector("#rows > tr.group").dataset.old = "1"; });
  let rebuilt = true;
  try {
    await page.waitForFunction(() => { const g = document.querySelector("#rows > tr.group"); return g && !g.dataset.old; }, null, { timeout: 8000 });
  } catch (e) { rebuilt = false; }
  gs = await grp();
  want("group: after the page's refresh (the group rebuilt) it is still open", rebuilt && gs.open && gs.childrenShown === 4, gs);
  await page.click("#rows tr.group summary");
  gs = await grp();
  want("group: a second click closes it", !gs.open && gs.childrenShown === 0, gs);

  // ------------------------------------------------------------ sorting
  const order = () => page.evaluate(() => [...document.querySelectorAll("#rows > tr[data-device]")].map((tr) => tr.children[0].textContent + "/" + tr.children[1].textContent));
  // The rows shown in groups (open ones), and whether each group is open.
  const kids = () => page.evaluate(() => [...document.querySelectorAll("tr.group tr[data-device]")].filter((tr) => tr.checkVisibility()).map((tr) => tr.dataset.device + "/" + tr.dataset.protocol));
  const groupsOpen = () => page.evaluate(() => [...document.querySelectorAll("#rows > tr.group details")].map((d) => d.open));
  const sorts = () => page.evaluate(() => Object.fromEntries([...document.querySelectorAll("th[data-key]")].map((th) => [th.dataset.key, th.getAttribute("aria-sort")])));
  const onlySorted = (s, k, dir) => Object.entries(s).every(([kk, v]) => v === (kk === k ? dir : "none"));
  await page.click('th[data-key="device"]');
  let o = await order();
  want("sort: one click on device sorts ascending (R1 … R4)", eq(o.map((x) => x.split("/")[0]), ["R1", "R1", "R1", "R2", "R2", "R2", "R3", "R3", "R3", "R4", "R4", "R4"]), o);
  want("sort: aria-sort=ascending on device, none elsewhere", onlySorted(await sorts(), "device", "ascending"), await sorts());
  await page.click('th[data-key="device"]');
  o = await order();
  want("sort: a second click sorts by device descending (R4 … R1)", eq(o.map((x) => x.split("/")[0]), ["R4", "R4", "R4", "R3", "R3", "R3", "R2", "R2", "R2", "R1", "R1", "R1"]), o);
  want("sort: aria-sort=descending on device, none elsewhere", onlySorted(await sorts(), "device", "descending"), await sorts());
  await page.click('th[data-key="reason"]');
  o = await order();
  const reasonOf = (k) => LAB.find((l) => key(l[0], l[1]) === k)[3];
  const reasons = o.map(reasonOf);
  want("sort: by reason ascending (auth_failed, no_reply, ok, timeout)", eq(reasons, [...reasons].sort()) && reasons[0] === "auth_failed" && reasons[11] === "timeout", reasons);
  await page.click('th[data-key="last"]');
  // The values it sorts by, from the data the page holds (its own `state`).
  const lastSorted = await page.evaluate(() => [...document.querySelectorAll("#rows > tr[data-device]")].map((tr) => {
    const r = state.data.status.find((x) => x.device === tr.dataset.device && x.protocol === tr.dataset.protocol);
    return r.rtt != null ? r.rtt : r.duration;
  }));
  o = await order();
  want("sort: by last ascending (RTT or duration), R4's 2 s timeouts at the end",
    lastSorted.every((v, i) => i === 0 || lastSorted[i - 1] <= v) && eq(o.slice(-3).map((x) => x.split("/")[0]), ["R4", "R4", "R4"]), [o, lastSorted]);
  await page.click('th[data-key="up"]');
  want("sort: back to the state column, down first again", eq(await order(), DEFAULT_ORDER), await order());

  // ------------------------------------------------------------ filtering
  const visible = order;
  await page.click('button[data-state="down"]');
  o = await visible();
  want("filter: Down shows exactly the 5 down rows and R4's group (collapsed)", eq([...o].sort(), [...DOWN].sort()) &&
    eq(await groupsOpen(), [false]), [o, await groupsOpen()]);
  want("filter: Down is pressed, All and Up are not", eq(await page.evaluate(() => [...document.querySelectorAll("button[data-state]")].map((b) => b.getAttribute("aria-pressed"))), ["false", "true", "false"]));
  await page.click('button[data-state="up"]');
  o = await visible();
  want("filter: Up shows exactly the 7 up rows, no group", eq([...o].sort(), [...UP].sort()) && (await groupsOpen()).length === 0, o);
  await page.click('button[data-state="all"]');
  want("filter: All shows the 12 top rows and the group again", (await visible()).length === 12 && (await groupsOpen()).length === 1);
  const protos = await page.evaluate(() => [...document.getElementById("protocol").options].map((x) => x.value));
  want("filter: the protocol select offers icmp, ssh and telnet", eq([...protos].sort(), ["", "icmp", "ssh", "telnet"]), protos);
  await page.selectOption("#protocol", "telnet");
  o = await visible();
  want("filter: protocol telnet shows the 4 Telnet rows", o.length === 4 && o.every((x) => x.endsWith("/telnet")), o);
  await page.click('button[data-state="down"]');
  o = await visible();
  want("filter: telnet and Down shows R4 and R3 Telnet", eq(o, ["R4/telnet", "R3/telnet"]), o);
  await page.click("#rows tr.group summary");
  want("filter: telnet and Down, R4's group opened, shows SW1's and SW2's Telnet", eq(await kids(), ["SW1/telnet", "SW2/telnet"]), await kids());
  await page.click("#rows tr.group summary");
  await page.click('button[data-state="all"]');
  await page.selectOption("#protocol", "");
  await page.fill("#q", "auth_failed");
  o = await visible();
  want("filter: text auth_failed shows R3 SSH and Telnet, no group", eq(o, ["R3/ssh", "R3/telnet"]) && (await groupsOpen()).length === 0, o);
  await page.fill("#q", "sw2");
  o = await visible();
  want("filter: text sw2 (a device behind R4) opens R4's group on SW2's 2 rows, alone",
    o.length === 0 && eq(await groupsOpen(), [true]) && eq(await kids(), ["SW2/ssh", "SW2/telnet"]), [o, await groupsOpen(), await kids()]);
  await page.fill("#q", "");
  want("filter: without the text R4's group is collapsed again (it was not opened by hand)", eq(await groupsOpen(), [false]), await groupsOpen());
  await page.fill("#q", "R4");
  o = await visible();
  want("filter: text R4 shows R4's 3 rows and, open, the 4 behind it", eq(o, ["R4/icmp", "R4/ssh", "R4/telnet"]) &&
    eq(await kids(), BEHIND), [o, await kids()]);
  await page.fill("#q", "127.0.0.2");
  o = await visible();
  want("filter: text matches the address (127.0.0.2 → R2's 3 rows)", eq(o, ["R2/icmp", "R2/ssh", "R2/telnet"]), o);
  await page.fill("#q", "no such thing");
  want("filter: text that matches nothing shows no rows, no group", (await visible()).length === 0 && (await groupsOpen()).length === 0);

  // ------------------------------------------------------------ auto-refresh
  // A filter (Down, text "timeout"), then the page's own fetch of the API:
  // the rows are rebuilt from the new data and the filter still holds.
  await page.fill("#q", "timeout");
  await page.click('button[data-state="down"]');
  want("refresh: before it, Down + timeout shows R4 SSH and Telnet", eq(await visible(), ["R4/ssh", "R4/telnet"]), await visible());
  want("refresh: before it, the 4 timeouts behind R4 shown in its group", eq(await kids(), BEHIND), await kids());
  await page.evaluate(() => { for (const tr of document.querySelectorAll("#rows > tr")) tr.dataset.old = "1"; });
  const t0 = Date.now();
  let res = null;
  try {
    res = await page.waitForResponse((r) => r.url() === api && r.request().method() === "GET", { timeout: 8000 });
  } catch (e) { /* res stays null */ }
  want("refresh: the page fetches /api/v1/status by itself within 8 s", res !== null && res.status() === 200, res ? res.status() : "no request");
  if (res) {
    const body = await res.json();
    want("refresh: the response is the status document (16 targets)", body.targets === 16);
    let rebuilt = true;
    try {
      await page.waitForFunction(() => document.querySelectorAll("#rows > tr").length > 0 && !document.querySelector("#rows > tr[data-old]"), null, { timeout: 5000 });
    } catch (e) { rebuilt = false; }
    want(`refresh: the rows were rebuilt from it (${Date.now() - t0} ms after the filter)`, rebuilt);
  }
  want("refresh: the filter survives (still R4 SSH and Telnet, and the 4 behind it)", eq(await visible(), ["R4/ssh", "R4/telnet"]) &&
    eq(await kids(), BEHIND), [await visible(), await kids()]);
  want("refresh: the text box and the Down button keep their state",
    (await page.inputValue("#q")) === "timeout" && (await page.getAttribute('button[data-state="down"]', "aria-pressed")) === "true");
  want("refresh: the stale banner is hidden", !(await page.isVisible("#stale")));
  want("page: no script errors, no failed requests", errors.length === 0, errors);
  // When reachd stops answering, the page says so and keeps the last rows.
  await page.route(api, (route) => route.abort());
  let stale = true;
  try { await page.waitForSelector("#stale", { state: "visible", timeout: 12000 }); } catch (e) { stale = false; }
  want("refresh: when the API fails, the stale banner shows and the rows stay", stale && eq(await visible(), ["R4/ssh", "R4/telnet"]), await visible());
  await page.unroute(api);

  // ------------------------------------------------------------ no secrets
  const raw = await (await fetch(base)).text();
  const apiRaw = await (await fetch(api)).text();
  const dom = await page.content();
  for (const [what, text] of [["the page HTML", raw], ["the rendered DOM", dom], ["/api/v1/status", apiRaw]]) {
    const s = secretsIn(text);
    want(`no secrets: neither the enable secret cisco (but for the label cisco_iosxe) nor admin in ${what}`, s.length === 0, s.join(", "));
  }
  want("no secrets: R3's failures show the user name as <redacted>",
    status.filter((r) => r.device === "R3" && r.protocol !== "icmp").every((r) => r.detail.includes("<redacted>")));
  await ctx.close();

  // ------------------------------------------------------------ phone
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const pp = await phone.newPage();
  await pp.goto(base, { waitUntil: "load" });
  await pp.waitForFunction(() => document.querySelector("th[aria-sort]"), null, { timeout: 15000 });
  await pp.click("#rows tr.group summary");
  const lay = await pp.evaluate(() => {
    const cs = (el) => getComputedStyle(el);
    const tr = document.querySelector("#rows > tr");
    const wrap = document.querySelector(".wrap");
    const rows = [...document.querySelectorAll("#rows tr")];
    return {
      scrollWidth: document.scrollingElement.scrollWidth,
      wrapOverflow: wrap.scrollWidth - wrap.clientWidth,
      thead: cs(document.querySelector("thead")).display,
      tr: cs(tr).display,
      detail: cs(tr.querySelector("td.detail")).display,
      opt: cs(tr.querySelector("td.opt")).display,
      widest: Math.max(...rows.map((r) => r.getBoundingClientRect().right)),
      rows: rows.filter((r) => r.dataset.device).length,
      groupOpen: document.querySelector("#rows tr.group details").open,
      fontSize: parseFloat(cs(tr.children[0]).fontSize),
      sinceLabel: getComputedStyle(tr.children[5], "::before").content,
      lastLabel: getComputedStyle(tr.children[6], "::before").content,
    };
  });
  want("phone: 16 rows (R4's group opened)", lay.rows === 16 && lay.groupOpen, lay);
  want("phone: rows become cards (display block, header row hidden)", lay.tr === "block" && lay.thead === "none" && lay.detail === "block", lay);
  want("phone: phase and address columns hidden", lay.opt === "none", lay.opt);
  want("phone: no horizontal scroll (page, table and the open group fit 390 px)", lay.scrollWidth <= 390 && lay.wrapOverflow <= 0 && lay.widest <= 390, lay);
  want("phone: text at least 12 px", lay.fontSize >= 12, lay.fontSize);
  want("phone: without the header, since and last are labelled (for …, last …)",
    lay.sinceLabel === '"for "' && lay.lastLabel === '"last "', [lay.sinceLabel, lay.lastLabel]);
  const phoneShot = join(outDir, "phone.png");
  await pp.screenshot({ path: phoneShot, fullPage: true });
  want("phone screenshot written and non-empty", statSync(phoneShot).size > 1000, statSync(phoneShot).size);
  await phone.close();

  // ------------------------------------------------------------ no JavaScript
  const nojs = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 800 } });
  const np = await nojs.newPage();
  await np.goto(base, { waitUntil: "load" });
  const nseen = await np.evaluate(readRows);
  want("no JavaScript: the rows are the server's (no script ran)", !nseen.fromScript);
  const nsummary = await np.locator("#summary .pill").allTextContents();
  want("no JavaScript: the server's counters are the script's", eq(nsummary, SUMMARY), nsummary);
  const ng = await np.evaluate(() => {
    const d = document.querySelector("#rows > tr.group details");
    return { open: d && d.open, summary: d && d.querySelector("summary").textContent,
      shown: [...document.querySelectorAll("tr.group tr[data-device]")].filter((tr) => tr.checkVisibility()).length };
  });
  want(`no JavaScript: R4's group, collapsed, "${GROUP_SUMMARY}"`, ng.open === false && ng.summary === GROUP_SUMMARY && ng.shown === 0, ng);
  await np.click("#rows tr.group summary");
  want("no JavaScript: a click opens it (details), SW1's and SW2's 4 rows shown",
    await np.evaluate(() => [...document.querySelectorAll("tr.group tr[data-device]")].filter((tr) => tr.checkVisibility()).length === 4));
  checkRows(nseen.rows, "no JavaScript", nseen.status);
  want("no JavaScript: every row's detail is the one in the embedded data",
    nseen.rows.every((r) => {
      const a = nseen.status.find((x) => x.device === r.device && x.protocol === r.protocol);
      return a && r.detail === shownDetail(a);
    }), nseen.rows.map((r) => r.detail));
  want("no JavaScript: the page refreshes itself (noscript meta refresh)",
    await np.evaluate(() => /http-equiv="refresh"/i.test(document.head.innerHTML)));
  want("no JavaScript: no template markers left",
    !(await np.content()).includes("<!--ROWS-->") && !(await np.content()).includes("<!--DATA-->"));
  await nojs.close();
} catch (e) {
  want("the browser checks ran to the end", false, String(e && e.stack || e));
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
