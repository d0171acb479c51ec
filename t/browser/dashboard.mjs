/*
 * Headless Chromium check of the live dashboard, driven by dashboard.t.
 *
 * The page is loaded exactly as a user would (its key comes from
 * /dashboard-config.js); the checks read only the data attributes that
 * index.html documents for automated tests, plus what the browser itself
 * saw on the wire (the WebSocket handshake, via the DevTools protocol).
 *
 * Output: one JSON object per line on stdout, read by dashboard.t:
 *   {"ok":true|false,"name":"…"}   one test
 *   {"diag":"…"}                   a note for the TAP output
 * Exit status 0 when the script ran to the end (whatever the results),
 * 1 when it could not run at all.
 *
 * Environment:
 *   DS_DASHBOARD_URL  page to open (required)
 *   DS_SCREENSHOT     where to write the PNG (required)
 *   DS_FEED_CMD       JSON array: command that publishes live rounds until
 *                     SIGTERM (optional; without it the live phase is skipped)
 *   DS_GAMES          comma-separated slugs [crash,double,slot,wall-street]
 *   DS_CHROMIUM       browser binary [/usr/bin/chromium]
 *   DS_WAIT_MS        how long each phase may take [45000]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chromium } from 'playwright-core';

const URL_ = process.env.DS_DASHBOARD_URL;
const SCREENSHOT = process.env.DS_SCREENSHOT;
const GAMES = (process.env.DS_GAMES || 'crash,double,slot,wall-street').split(',');
const PROTOCOLS = ['ws', 'sse', 'rest'];
const CHROMIUM = process.env.DS_CHROMIUM || '/usr/bin/chromium';
const WAIT_MS = Number(process.env.DS_WAIT_MS) || 45000;
const FEED_CMD = process.env.DS_FEED_CMD ? JSON.parse(process.env.DS_FEED_CMD) : null;

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const ok = (cond, name) => { emit({ ok: Boolean(cond), name }); return Boolean(cond); };
const diag = (text) => emit({ diag: String(text) });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

if (!URL_ || !SCREENSHOT) {
  console.error('dashboard.mjs: DS_DASHBOARD_URL and DS_SCREENSHOT are required');
  process.exit(1);
}

/* State of every protocol panel, as the page exposes it. */
async function panels(page) {
  return page.$$eval('section.protocol', (nodes) => nodes.map((n) => ({
    protocol: n.dataset.protocol,
    game: n.dataset.game,
    state: n.dataset.state,
    count: Number(n.dataset.count || 0),
    lastRound: n.dataset.lastRound === '' || n.dataset.lastRound == null ? null : Number(n.dataset.lastRound),
    live: n.querySelectorAll('ol.rounds li.live').length,
    detail: (n.querySelector('.detail') || {}).textContent || '',
  })));
}

function panelOf(list, game, protocol) {
  return list.find((p) => p.game === game && p.protocol === protocol);
}

/* Polls until pred(panel) holds for every game x protocol; returns the last snapshot. */
async function waitPanels(page, what, pred) {
  const deadline = Date.now() + WAIT_MS;
  let list = [];
  for (;;) {
    list = await panels(page);
    const missing = [];
    for (const game of GAMES) {
      for (const protocol of PROTOCOLS) {
        const p = panelOf(list, game, protocol);
        if (!p || !pred(p, list)) missing.push(game + '/' + protocol);
      }
    }
    if (missing.length === 0) return { done: true, list };
    if (Date.now() > deadline) {
      diag(what + ': still waiting for ' + missing.join(' '));
      for (const name of missing) {
        const [game, protocol] = name.split('/');
        const p = panelOf(list, game, protocol);
        diag('  ' + name + ': ' + (p ? JSON.stringify(p) : 'no panel'));
      }
      return { done: false, list };
    }
    await sleep(250);
  }
}

// Killed from outside (the test timed out): the feed must not outlive us.
let feedChild = null;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (feedChild) feedChild.kill('SIGKILL');
    process.exit(1);
  });
}

/* The demo feed runs only during the live phase, so its rounds are known to be new. */
function startFeed() {
  const child = spawn(FEED_CMD[0], FEED_CMD.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  feedChild = child;
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr = (stderr + chunk).slice(-4000); });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.on('error', (e) => diag('feed: ' + e.message));
  return {
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const how = await Promise.race([exited, sleep(10000).then(() => null)]);
      if (!how) {
        child.kill('SIGKILL');
        diag('feed did not stop on SIGTERM');
      }
      feedChild = null;
      return { how, stderr };
    },
  };
}

async function main() {
  const userDataDir = mkdtempSync(join(tmpdir(), 'datastream-chromium-'));
  let context;
  let feed = null;
  try {
    // A persistent context is how Playwright takes a user data dir; a fresh
    // one per run means no saved key, cache or service worker leaks in.
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 1000 },
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    });
    const page = context.pages()[0] || (await context.newPage());

    const consoleErrors = [];
    const pageErrors = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push(msg.text());
    });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    // Refused requests, by status and path: the page itself shows EventSource
    // failures only as "refused", without the server's reason.
    const refused = new Map();
    page.on('response', async (res) => {
      if (res.status() < 400) return;
      const u = new URL(res.url());
      const what = res.status() + ' ' + res.request().method() + ' ' + u.pathname;
      if (refused.has(what)) return;
      refused.set(what, '');
      refused.set(what, (await res.text().catch(() => '')).slice(0, 200));
    });

    // What the browser sent and got in each WebSocket handshake. The page's
    // sockets live in a closure, so the wire is the only place to see this.
    const handshakes = new Map();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    cdp.on('Network.webSocketCreated', (e) => {
      handshakes.set(e.requestId, { url: e.url });
    });
    cdp.on('Network.webSocketWillSendHandshakeRequest', (e) => {
      const h = handshakes.get(e.requestId) || {};
      h.requested = header(e.request.headers, 'Sec-WebSocket-Protocol');
      handshakes.set(e.requestId, h);
    });
    cdp.on('Network.webSocketHandshakeResponseReceived', (e) => {
      const h = handshakes.get(e.requestId) || {};
      h.status = e.response.status;
      h.echoed = header(e.response.headers, 'Sec-WebSocket-Protocol');
      handshakes.set(e.requestId, h);
    });

    const res = await page.goto(URL_, { waitUntil: 'load', timeout: WAIT_MS });
    ok(res && res.status() === 200, 'dashboard page answers 200');
    const keyStatus = await page.textContent('#key-status');
    ok(/dashboard-config\.js/.test(keyStatus || ''), 'dashboard uses the key from dashboard-config.js')
      || diag('key status: ' + keyStatus);
    // A key from the deployment leaves nothing to type: the key form is hidden.
    ok(!(await page.isVisible('#key-form')), 'key form hidden when dashboard-config.js provides the key');
    ok((await page.$$('article.game')).length === GAMES.length, GAMES.length + ' game cards');

    // Phase 1: every subscriber is up, and REST shows the rounds published
    // before the page opened.
    let r = await waitPanels(page, 'subscribers open',
      (p) => p.state === 'open' && (p.protocol !== 'rest' || (p.count >= 1 && p.lastRound !== null)));
    ok(r.done, 'every game is open over ws, sse and rest, and REST shows its latest round');
    const before = new Map(r.list.map((p) => [p.game + '/' + p.protocol, p.lastRound ?? 0]));
    // The contract promises the newest round on connect "where nchan allows"
    // (the SSE `initial` event): reported, not required.
    const noInitial = r.list.filter((p) => p.protocol !== 'rest' && p.count === 0).map((p) => p.game + '/' + p.protocol);
    emit({ ok: noInitial.length === 0, name: 'ws and sse deliver the newest round on connect',
      todo: 'nchan_subscriber_first_message newest sends nothing until the next round' });
    if (noInitial.length) diag('no round on connect: ' + noInitial.join(' '));

    // Phase 2: live rounds, published while the page is open.
    if (FEED_CMD) {
      feed = startFeed();
      r = await waitPanels(page, 'live rounds', (p) =>
        p.state === 'open'
        && p.lastRound > before.get(p.game + '/' + p.protocol)
        && (p.protocol === 'rest' || p.live >= 1));
      ok(r.done, 'every game receives live rounds over ws, sse and rest');
      const { how, stderr } = await feed.stop();
      feed = null;
      if (!how || how.signal !== 'SIGTERM' && how.code !== 0) diag('feed: ' + JSON.stringify(how) + ' ' + stderr);

      // Phase 3: once the feed is quiet, all three protocols agree on the newest round.
      r = await waitPanels(page, 'protocols agree', (p, list) => {
        const ids = PROTOCOLS.map((proto) => (panelOf(list, p.game, proto) || {}).lastRound);
        return ids.every((id) => id !== null && id === ids[0]);
      });
      ok(r.done, 'ws, sse and rest agree on the newest round of every game');
      if (r.done) {
        diag('newest rounds: ' + GAMES.map((g) => g + '=' + panelOf(r.list, g, 'ws').lastRound).join(' '));
      }
    }

    const shakes = [...handshakes.values()].filter((h) => /\/ws\//.test(h.url || ''));
    ok(shakes.length >= GAMES.length, 'a WebSocket handshake per game (' + shakes.length + ')');
    const good = shakes.filter((h) => h.status === 101 && /^tok_/.test(h.requested || '') && h.echoed === h.requested);
    ok(shakes.length > 0 && good.length === shakes.length,
      'every WebSocket handshake sent a tok_ subprotocol and got it echoed with 101')
      || shakes.filter((h) => !good.includes(h)).forEach((h) => diag('handshake: ' + JSON.stringify(h)));

    const wsErrors = consoleErrors.filter((t) => /websocket|handshake|subprotocol/i.test(t));
    ok(wsErrors.length === 0, 'no console errors about the WebSocket handshake')
      || wsErrors.forEach((t) => diag('console: ' + t));
    ok(pageErrors.length === 0, 'no uncaught script errors') || pageErrors.forEach((t) => diag('pageerror: ' + t));
    const otherErrors = consoleErrors.filter((t) => !wsErrors.includes(t));
    if (otherErrors.length) diag(otherErrors.length + ' other console errors, first: ' + otherErrors[0]);
    for (const [what, body] of refused) diag('refused: ' + what + ' ' + body);

    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    diag('screenshot: ' + SCREENSHOT);
  } finally {
    if (feed) await feed.stop();
    if (context) await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
}

function header(headers, name) {
  const key = Object.keys(headers || {}).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : headers[key];
}

main().then(() => process.exit(0), (e) => {
  console.error('dashboard.mjs: ' + (e && e.stack || e));
  process.exit(1);
});
