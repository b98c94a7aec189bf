// Drives Debian's chromium through the Lookout live page (run by tests/integration/test_browser.py).
//
//   node live_page.mjs --url http://127.0.0.1:PORT --user NAME --password PW --out shot.png
//
// Opens the page (sign-in is on: nothing shows before it), signs in with the user name and
// password through the sign-in form, waits for values, sees a value change between two polls,
// acknowledges a firing alert, sees it acknowledged, follows the live log tail until lines
// arrive, searches the logs and sees highlighted matches, and saves a screenshot. Fails (exit 1)
// on any page error, console error or request to another origin, and on any HTTP error after
// the sign-in (before it, the page's reads answer 401: that is how it learns to ask). Prints one
// JSON line on success.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";
const { values: opts } = parseArgs({
  options: {
    url: { type: "string" },
    user: { type: "string" },
    password: { type: "string" },
    out: { type: "string" },
    timeout: { type: "string", default: "60" },
  },
});
for (const name of ["url", "user", "password", "out"]) {
  if (!opts[name]) {
    console.error(`live_page.mjs: --${name} is required`);
    process.exit(2);
  }
}
const base = opts.url.replace(/\/$/, "");
const timeout = Number(opts.timeout) * 1000;
const log = (text) => console.error(`[live_page] ${text}`);

const profile = mkdtempSync(join(tmpdir(), "lookout-chromium-"));
const problems = [];
let signedIn = false;
// Before the sign-in the page's reads answer 401 (and Chromium logs each as a console error).
const expected = (text) => !signedIn && /\b401\b/.test(text);
const problem = (text) => {
  if (!expected(text)) problems.push(text);
};
let context;
let page;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 900 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(timeout);
  page.on("request", (req) => {
    const url = req.url();
    if (!url.startsWith(base + "/") && !url.startsWith("data:")) {
      problems.push(`request to another origin: ${url}`);
    }
  });
  page.on("response", (res) => {
    if (res.status() >= 400) problem(`HTTP ${res.status()} for ${res.url()}`);
  });
  page.on("console", (msg) => {
    if (msg.type() === "error") problem(`console error: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));

  log(`open ${base}/`);
  await page.goto(base + "/");

  log(`sign in as ${opts.user} with the sign-in form`);
  await page.fill("#login-user", opts.user);
  await page.fill("#login-password", opts.password);
  await page.click("#login-submit");
  await page.locator("#signed-in").waitFor({ state: "visible" });
  await page.locator("#roles").filter({ hasText: "operator" }).waitFor({ state: "visible" });
  const who = await page.locator("#who").textContent();
  // Requests still in flight from before the sign-in may answer 401 after it: let them land.
  await page.waitForFunction(() => Boolean(document.body.dataset.updated));
  signedIn = true;

  log("wait for values");
  const cpu = page.locator('[data-host] [data-metric="cpu"] .value');
  await page.waitForFunction(
    () =>
      [...document.querySelectorAll('[data-host] [data-metric="cpu"] .value')].some((e) =>
        /\d/.test(e.textContent),
      ),
  );
  const snapshot = () =>
    page.evaluate(() => ({
      updated: document.body.dataset.updated,
      values: [...document.querySelectorAll("[data-host] .metric .value")].map((e) => e.textContent),
    }));
  const before = await snapshot();
  log(`first values: ${before.values.slice(0, 6).join(" | ")}`);

  log("wait for a value to change between two polls");
  await page.waitForFunction(
    (first) => {
      const now = [...document.querySelectorAll("[data-host] .metric .value")].map((e) => e.textContent);
      return document.body.dataset.updated !== first.updated && now.join("|") !== first.values.join("|");
    },
    before,
  );
  const after = await snapshot();
  log(`later values: ${after.values.slice(0, 6).join(" | ")}`);
  const cpuText = await cpu.first().textContent();

  log("ack a firing alert");
  const ackButton = page.locator('tr.alert[data-status="firing"] button.ack:not([disabled])').first();
  await ackButton.waitFor({ state: "visible" });
  const fingerprint = await ackButton
    .locator("xpath=ancestor::tr[1]")
    .getAttribute("data-fingerprint");
  await ackButton.click();

  log(`wait until alert ${fingerprint} shows as acknowledged`);
  await page
    .locator(`tr.alert[data-fingerprint="${fingerprint}"] .ack-state`)
    .filter({ hasText: opts.user })
    .waitFor({ state: "visible" });
  const messageText = await page.locator("#action-msg").textContent();

  log("logs: follow the live tail until new lines arrive");
  await page.check("#log-follow");
  await page.locator("#logs tr.live").first().waitFor({ state: "visible" });
  const followed = await page.locator("#logs tr.live").count();
  await page.uncheck("#log-follow");

  log("logs: search GET lines, see the matches highlighted");
  await page.fill("#log-q", "GET");
  await page.click("#log-search");
  await page.locator("#logs tbody tr:not(.live) td.msg mark").first().waitFor({ state: "visible" });
  const found = await page.locator("#logs tbody tr").count();
  const mark = await page.locator("#logs td.msg mark").first().textContent();

  await page.screenshot({ path: opts.out, fullPage: true });
  log(`screenshot ${opts.out}`);
  if (problems.length) throw new Error(problems.join("\n"));
  console.log(
    JSON.stringify({
      who,
      fingerprint,
      before: before.values,
      after: after.values,
      cpu: cpuText,
      message: messageText,
      followed,
      found,
      mark,
      screenshot: opts.out,
    }),
  );
} catch (err) {
  console.error(`live_page.mjs failed: ${err.message}`);
  if (problems.length) console.error(problems.join("\n"));
  if (page) {
    const failed = opts.out.replace(/\.png$/, "") + "-failed.png";
    await page.screenshot({ path: failed, fullPage: true }).catch(() => {});
    console.error(`screenshot of the failure: ${failed}`);
  }
  process.exitCode = 1;
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
