/*
 * A browser as a Data Stream client, for t/e2e/106-done-criterion.t: headless
 * Chromium opens a page of one backend instance and subscribes to one game
 * twice, the way a web page would:
 *   - EventSource on /sse/<game>?api_key=<pk>: resumes by itself after a
 *     dropped stream (Last-Event-ID); if the browser gives up (readyState
 *     CLOSED, e.g. a 503 while the instance starts) the page opens a new one
 *     with ?last_event_id=<last id>;
 *   - WebSocket on /ws/<game> with a fresh token as subprotocol: on close it
 *     reconnects with a new token and fills the gap from
 *     /api/history/<game>?limit=100 (rounds newer than the last one it saw),
 *     holding live frames back until the gap is filled, dropping repeats.
 *
 * Protocol with the test (stdin/stdout, one JSON object per line):
 *   out {"ready":true}                  both subscriptions are open
 *   out {"diag":"…"}                    a note for the TAP output
 *   in  {"until":<round_id>}            stop once both have that round
 *   out {"result":{"sse":[…],"ws":[…],"log":[…]}}   every round object received, in order
 * Exit status 0 when it ran to the end, 1 when it could not run.
 *
 * Environment: DS_PAGE_URL (page of the instance, required), DS_API_KEY (pk_
 * key allowed for that origin, required), DS_GAME [crash], DS_CHROMIUM
 * [/usr/bin/chromium], DS_WAIT_MS [60000].
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const PAGE_URL = process.env.DS_PAGE_URL;
const API_KEY = process.env.DS_API_KEY;
const GAME = process.env.DS_GAME || 'crash';
const CHROMIUM = process.env.DS_CHROMIUM || '/usr/bin/chromium';
const WAIT_MS = Number(process.env.DS_WAIT_MS) || 60000;

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

if (!PAGE_URL || !API_KEY) {
  console.error('streams.mjs: DS_PAGE_URL and DS_API_KEY are required');
  process.exit(1);
}

/* Runs inside the page. */
function client({ key, game }) {
  const state = { sse: [], ws: [], log: [], sseOpen: false, wsOpen: false };
  window.__ds = state;
  const log = (m) => state.log.push(new Date().toISOString().slice(11, 23) + ' ' + m);
  const idOf = (json) => JSON.parse(json).round_id;

  // ---- SSE
  let lastEventId = null;
  const openSse = (resumeFrom) => {
    const url = '/sse/' + game + '?api_key=' + encodeURIComponent(key)
      + (resumeFrom ? '&last_event_id=' + encodeURIComponent(resumeFrom) : '');
    const es = new EventSource(url);
    es.onopen = () => { state.sseOpen = true; log('sse open'); };
    es.addEventListener('message', (e) => {
      if (!/^\{"round_id":/.test(e.data)) return;   // not a round
      state.sse.push(e.data);
      if (e.lastEventId) lastEventId = e.lastEventId;
    });
    es.onerror = () => {
      log('sse error, readyState ' + es.readyState);
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up: start again from the last id we have.
        setTimeout(() => openSse(lastEventId), 500);
      }
    };
  };
  openSse(null);

  // ---- WebSocket with REST gap-fill
  const seen = new Set();
  let lastRound = null;
  const deliver = (json) => {
    const id = idOf(json);
    if (seen.has(id)) return;
    seen.add(id);
    state.ws.push(json);
    lastRound = lastRound === null ? id : Math.max(lastRound, id);
  };
  const token = async () => {
    const r = await fetch('/api/auth/token', { method: 'POST', headers: { 'X-API-Key': key } });
    if (r.status !== 200) throw new Error('token: ' + r.status);
    return (await r.json()).token;
  };
  const connectWs = async (gapFrom) => {
    let tok;
    try {
      tok = await token();
    } catch (e) {
      log('ws ' + e.message + ', retrying');
      setTimeout(() => connectWs(gapFrom), 500);
      return;
    }
    const ws = new WebSocket('ws://' + location.host + '/ws/' + game, [tok]);
    let filling = gapFrom !== null;
    const held = [];
    ws.onopen = async () => {
      state.wsOpen = true;
      log('ws open, protocol ' + (ws.protocol === tok ? 'echoed' : 'NOT echoed'));
      if (!filling) return;
      // The channel may go live on this instance some ms after the handshake
      // (docs/streaming.md): read the history a moment later, frames held.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      try {
        const r = await fetch('/api/history/' + game + '?limit=100', { headers: { 'X-API-Key': key } });
        if (r.status !== 200) throw new Error('history: ' + r.status);
        const items = await r.text();
        // Same bytes as the frames: split the array between objects.
        const list = items.replace(/^\[|\]$/g, '').split(/(?<=\}),(?=\{"round_id":)/).filter((s) => s);
        const gap = list.filter((j) => idOf(j) > gapFrom).reverse();
        log('ws gap-fill: ' + gap.length + ' rounds after ' + gapFrom);
        gap.forEach(deliver);
      } catch (e) {
        log('ws ' + e.message);
      }
      filling = false;
      held.splice(0).forEach(deliver);
    };
    ws.onmessage = (e) => {
      if (!/^\{"round_id":/.test(e.data)) return;   // not a round
      if (filling) held.push(e.data); else deliver(e.data);
    };
    ws.onclose = (e) => {
      log('ws closed ' + e.code + ' ' + e.reason);
      setTimeout(() => connectWs(lastRound), 300);
    };
  };
  connectWs(null);
}

async function main() {
  const userDataDir = mkdtempSync(join(tmpdir(), 'datastream-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = context.pages()[0] || (await context.newPage());
    page.on('pageerror', (err) => emit({ diag: 'pageerror: ' + err.message }));
    await page.goto(PAGE_URL, { waitUntil: 'load', timeout: WAIT_MS });
    await page.evaluate(client, { key: API_KEY, game: GAME });
    await page.waitForFunction(() => window.__ds.sseOpen && window.__ds.wsOpen, null, { timeout: WAIT_MS });
    emit({ ready: true });

    const lines = createInterface({ input: process.stdin });
    for await (const line of lines) {
      const cmd = JSON.parse(line);
      if (cmd.until === undefined) continue;
      const has = (list, id) => list.some((j) => JSON.parse(j).round_id === id);
      const deadline = Date.now() + WAIT_MS;
      let st;
      for (;;) {
        st = await page.evaluate(() => ({ sse: window.__ds.sse, ws: window.__ds.ws, log: window.__ds.log }));
        if ((has(st.sse, cmd.until) && has(st.ws, cmd.until)) || Date.now() > deadline) break;
        await sleep(200);
      }
      emit({ result: st });
      break;
    }
  } finally {
    if (context) await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (e) => {
  console.error('streams.mjs: ' + (e && e.stack || e));
  process.exit(1);
});
