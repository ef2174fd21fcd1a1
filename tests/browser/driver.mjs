// A small remote control for one Chromium page, driven by tests/browser/browser.py:
// one JSON command per stdin line, one JSON answer per stdout line
// ({"ok": true, "value": ...} or {"ok": false, "error": "..."}).
// Run: node tests/browser/driver.mjs   (needs `npm ci` at the repo root and /usr/bin/chromium)
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const browser = await chromium.launch({
  executablePath: process.env.PUSHGATE_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
let context = null;
let page = null;
const consoleLog = []; // every console message and page error, for the CSP check
const corrupted = []; // challenges whose signature the "corrupt" route changed
const dialogs = []; // with newPage({acceptDialogs: true}): every dialog, confirms accepted
const held = []; // requests the "hold" route keeps unanswered until "release"
const failed = []; // URLs of requests that failed or that the page aborted

async function newPage(opts = {}) {
  if (context) await context.close();
  failed.length = 0; // a new page starts with no failed requests and nothing held
  held.length = 0;
  context = await browser.newContext({
    serviceWorkers: opts.serviceWorkers || 'block',
    viewport: opts.viewport || { width: 360, height: 740 }, // a small phone
  });
  page = await context.newPage();
  page.on('console', (m) => consoleLog.push({ type: m.type(), text: m.text() }));
  page.on('pageerror', (e) => consoleLog.push({ type: 'pageerror', text: String(e) }));
  page.on('requestfailed', (r) => failed.push(r.url()));
  if (opts.acceptDialogs) {
    page.on('dialog', (d) => {
      dialogs.push({ type: d.type(), message: d.message() });
      return d.type() === 'confirm' ? d.accept() : d.dismiss();
    });
  }
  return true;
}

// Changes one character of each challenge's signature: still base64url, no longer valid.
function corruptBody(text) {
  const body = JSON.parse(text);
  for (const c of body.challenges || []) {
    const i = c.challenge.lastIndexOf('.') + 5;
    const ch = c.challenge[i];
    c.challenge = c.challenge.slice(0, i) + (ch === 'A' ? 'B' : 'A') + c.challenge.slice(i + 1);
    corrupted.push(c.requestId);
  }
  return JSON.stringify(body);
}

const POLLS = /\/device\/challenges\?/;
const dropPoll = (route) => route.abort('connectionrefused');
const holdRoute = (route) => { held.push(route); };

const ops = {
  newPage: (c) => newPage(c),
  goto: async (c) => (await page.goto(c.url, { waitUntil: 'load' }))?.status() ?? null,
  reload: async () => (await page.reload({ waitUntil: 'load' }))?.status() ?? null,
  url: async () => page.url(),
  click: async (c) => { await page.click(c.selector, { timeout: c.timeout ?? 15000 }); return true; },
  fill: async (c) => { await page.fill(c.selector, c.value, { timeout: c.timeout ?? 15000 }); return true; },
  press: async (c) => { await page.press(c.selector, c.key); return true; },
  wait: async (c) => {
    await page.waitForSelector(c.selector, { state: c.state || 'visible', timeout: c.timeout ?? 20000 });
    return true;
  },
  waitText: async (c) => {
    await page.waitForFunction(
      ([sel, want]) => [...document.querySelectorAll(sel)].some((e) => e.textContent.includes(want)),
      [c.selector, c.text], { timeout: c.timeout ?? 20000 });
    return true;
  },
  // every element matching selector (at least one) has exactly this text
  waitAllText: async (c) => {
    await page.waitForFunction(
      ([sel, want]) => {
        const els = [...document.querySelectorAll(sel)];
        return els.length > 0 && els.every((e) => e.textContent === want);
      },
      [c.selector, c.text], { timeout: c.timeout ?? 20000 });
    return true;
  },
  text: async (c) => page.textContent(c.selector, { timeout: c.timeout ?? 5000 }),
  texts: async (c) => page.$$eval(c.selector, (els) => els.map((e) => e.textContent)),
  count: async (c) => page.locator(c.selector).count(),
  enabled: async (c) => page.isEnabled(c.selector, { timeout: c.timeout ?? 5000 }),
  eval: async (c) => page.evaluate(c.expr),
  screenshot: async (c) => { await page.screenshot({ path: c.path, fullPage: true }); return c.path; },
  corrupt: async () => {
    await page.route(POLLS, async (route) => {
      const res = await route.fetch();
      await route.fulfill({ response: res, body: corruptBody(await res.text()) });
    });
    return true;
  },
  corrupted: async () => corrupted.slice(),
  // the page's clock off by c.ms (Date, timers keep running)
  skewClock: async (c) => { await page.clock.install({ time: Date.now() + c.ms }); return true; },
  // the server unreachable for the polls, and back
  offline: async () => { await page.route(POLLS, dropPoll); return true; },
  online: async () => { await page.unroute(POLLS, dropPoll); return true; },
  // requests whose URL matches the regular expression c.re wait until "release"
  hold: async (c) => {
    await page.route(new RegExp(c.re), holdRoute);
    return true;
  },
  release: async (c) => {
    await page.unroute(new RegExp(c.re), holdRoute);
    for (const r of held.splice(0)) await r.continue().catch(() => {}); // aborted ones throw
    return true;
  },
  waitFailed: async (c) => {
    const re = new RegExp(c.re);
    if (!failed.some((u) => re.test(u))) {
      await page.waitForEvent('requestfailed', { predicate: (r) => re.test(r.url()), timeout: c.timeout ?? 20000 });
    }
    return true;
  },
  console: async () => consoleLog.slice(),
  dialogs: async () => dialogs.slice(),
  elementShot: async (c) => { await page.locator(c.selector).screenshot({ path: c.path }); return c.path; },
  close: async () => { await browser.close(); process.exit(0); },
};

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  let reply;
  try {
    const cmd = JSON.parse(line);
    reply = { ok: true, value: (await ops[cmd.op](cmd)) ?? null };
  } catch (e) {
    reply = { ok: false, error: String(e && e.stack ? e.stack : e) };
  }
  process.stdout.write(`${JSON.stringify(reply)}\n`);
}
await browser.close();
