// The status page behind TLS and basic_auth (--web.config.file) in Debian's
// headless Chromium, driven by Playwright: without credentials the page is a
// 401 asking for a password; with a wrong password, a 401; with the right
// one the page loads, its script refreshes from /api/v1/status (which needs
// the password too) and shows the device.
//
// Usage: node web-auth.mjs BASE_URL USER PASSWORD DEVICE
//   BASE_URL  https://127.0.0.1:PORT/ (a throwaway CA: certificate errors
//             are ignored here; curl checks the chain in web_security.sh)
// Prints one `ok <what>` or `FAIL <what>` line per check; exits 1 on a failure.
// Loopback only.
import { chromium } from "playwright-core";

const [base, user, password, device] = process.argv.slice(2);
if (!base || !user || !password || !device) {
  console.error("usage: node web-auth.mjs BASE_URL USER PASSWORD DEVICE");
  process.exit(2);
}

let failed = 0;
function want(what, cond, more) {
  console.log((cond ? "ok " : "FAIL ") + what);
  if (!cond) {
    failed++;
    if (more !== undefined) console.log("     got: " + (typeof more === "string" ? more : JSON.stringify(more)));
  }
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  // Headless Chromium answers a Basic challenge it has no credentials for
  // by failing the navigation (net::ERR_INVALID_AUTH_CREDENTIALS): the
  // response it got is read from the network events.
  async function refused(what, credentials) {
    const ctx = await browser.newContext({ ignoreHTTPSErrors: true, ...(credentials ? { httpCredentials: credentials } : {}) });
    const page = await ctx.newPage();
    const seen = [];
    page.on("response", async (r) => {
      if (r.url() === base) seen.push({ status: r.status(), challenge: (await r.allHeaders())["www-authenticate"] || "" });
    });
    let navigated = null;
    try {
      navigated = await page.goto(base);
    } catch (e) {
      navigated = null;
      if (!/ERR_INVALID_AUTH_CREDENTIALS/.test(String(e))) console.log("     navigation error: " + e);
    }
    await page.waitForTimeout(200);
    want(`${what}: the server answers 401`, seen.length > 0 && seen.every((r) => r.status === 401), seen);
    want(`${what}: the 401 asks for Basic credentials`, seen.length > 0 && /^Basic realm=/.test(seen[0].challenge), seen);
    const text = navigated ? await page.textContent("body") : "";
    want(`${what}: the page is not shown`, (navigated === null || navigated.status() === 401) && !text.includes(device),
      navigated ? navigated.status() + " " + text : "navigation refused");
    await ctx.close();
  }
  await refused("without credentials", null);
  await refused("wrong password", { username: user, password: password + "-wrong" });
  // The right password: the page, and its script's refresh through the API.
  {
    const ctx = await browser.newContext({
      ignoreHTTPSErrors: true,
      httpCredentials: { username: user, password },
    });
    const page = await ctx.newPage();
    const apiStatuses = [];
    page.on("response", (r) => {
      if (r.url().includes("/api/v1/status")) apiStatuses.push(r.status());
    });
    const resp = await page.goto(base);
    want("with credentials: 200", resp && resp.status() === 200, resp && resp.status());
    const headers = resp ? await resp.allHeaders() : {};
    want("with credentials: the web config's headers are sent",
      headers["x-frame-options"] === "deny" && headers["x-content-type-options"] === "nosniff", headers);
    await page.waitForSelector("#rows > tr", { timeout: 10000 });
    const rows = await page.$$eval("#rows > tr", (trs) => trs.map((tr) => tr.children[0].textContent));
    want(`with credentials: the page lists ${device}`, rows.includes(device), rows);
    // The script refreshes every 5 s from the API, which needs the password too.
    try {
      await page.waitForResponse((r) => r.url().includes("/api/v1/status"), { timeout: 15000 });
    } catch {
      // Counted below.
    }
    want("with credentials: the page's script reads /api/v1/status (200)",
      apiStatuses.length > 0 && apiStatuses.every((s) => s === 200), apiStatuses);
    await ctx.close();
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
