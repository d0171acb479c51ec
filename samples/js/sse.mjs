#!/usr/bin/env node
/*
 * Data Stream Server-Sent Events client for Node.js 20, without dependencies.
 *
 *   DATASTREAM_API_KEY=sk_live_… node sse.mjs [crash | type/multiplier]
 *
 * Prints every round object on stdout, one JSON line each; connection events
 * go to stderr. Environment:
 *   DATASTREAM_API_KEY  server-side key (required)
 *   DATASTREAM_URL      backend base URL [http://localhost:3000]
 *
 * Node has no EventSource, but an event stream is plain text over a long
 * HTTP response, so fetch() and a small parser do the same job — and, unlike
 * EventSource, fetch can send the key in a header instead of the URL, where
 * it would end up in proxy and access logs.
 */

const BASE = new URL(process.env.DATASTREAM_URL || 'http://localhost:3000');
const API_KEY = process.env.DATASTREAM_API_KEY;
const CHANNEL = process.argv[2] || 'crash';
const BACKOFF_MAX_MS = 15000;
// The server sends a heartbeat comment every 15 s; a longer silence means
// the connection is dead even if TCP has not noticed yet.
const IDLE_TIMEOUT_MS = 45000;
const MAX_EVENT = 1 << 20;

if (!API_KEY) {
  console.error('set DATASTREAM_API_KEY (an sk_live_… key; pk_ keys are for browsers)');
  process.exit(2);
}

const log = (msg) => console.error(new Date().toISOString() + ' ' + msg);

// What survives a reconnect: the id to resume after, and the server's
// suggested retry delay (the SSE `retry:` field), as EventSource keeps them.
let lastEventId = '';
let retryMs = 1000;

class FatalError extends Error {}

/*
 * Parses the event stream (WHATWG HTML, "event stream interpretation").
 * Returns when the response ends; throws when it stalls.
 */
async function readEvents(body, onEvent, abort) {
  const decoder = new TextDecoder();
  let pending = '';
  let data = [];
  let dataLen = 0;
  let event = '';
  let id = null;
  let idle;
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(() => abort.abort(new Error('no data for ' + IDLE_TIMEOUT_MS / 1000 + ' s')), IDLE_TIMEOUT_MS);
  };
  arm();
  try {
    for await (const chunk of body) {
      arm();
      pending += decoder.decode(chunk, { stream: true });
      let nl;
      while ((nl = pending.search(/\r\n|\r|\n/)) >= 0) {
        // A lone \r at the end may be half of \r\n: wait for the next chunk.
        if (pending[nl] === '\r' && nl === pending.length - 1) break;
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + (pending.startsWith('\r\n', nl) ? 2 : 1));

        if (line === '') {
          // A blank line dispatches the event; only then is its id committed,
          // so a stream cut mid-event resumes before that event, not after.
          if (id !== null) lastEventId = id;
          if (data.length) onEvent({ event: event || 'message', data: data.join('\n') });
          id = null;
          data = [];
          dataLen = 0;
          event = '';
          continue;
        }
        if (line.startsWith(':')) continue; // heartbeat comment
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'data') {
          dataLen += value.length;
          if (dataLen > MAX_EVENT) throw new Error('event too large');
          data.push(value);
        } else if (field === 'event') {
          event = value;
        } else if (field === 'id' && !value.includes('\0')) {
          id = value;
        } else if (field === 'retry' && /^\d+$/.test(value)) {
          retryMs = Number(value);
        }
      }
      if (pending.length > MAX_EVENT) throw new Error('line too long');
    }
  } finally {
    clearTimeout(idle);
  }
}

async function connect(abort) {
  const headers = { Accept: 'text/event-stream', 'X-API-Key': API_KEY };
  // Resuming: the server replays what was published after this id, so a
  // short outage loses nothing (as long as the server still buffers it).
  if (lastEventId) headers['Last-Event-ID'] = lastEventId;
  const res = await fetch(new URL('/sse/' + CHANNEL, BASE), { headers, signal: abort.signal });
  if (res.status !== 200) {
    const text = (await res.text().catch(() => '')).slice(0, 300);
    // 401/403 (key), 404 (no such game): retrying cannot fix these.
    const Err = [401, 403, 404].includes(res.status) ? FatalError : Error;
    throw new Err('HTTP ' + res.status + ' ' + text);
  }
  if (!/^text\/event-stream/.test(res.headers.get('content-type') || '')) {
    throw new FatalError('not an event stream: ' + res.headers.get('content-type'));
  }
  log('connected to /sse/' + CHANNEL + (lastEventId ? ' (resuming after ' + lastEventId + ')' : ''));
  return res.body;
}

let stopping = false;
let current = null;
let wake = null;
const stop = () => {
  stopping = true;
  if (current) current.abort(new Error('stopped'));
  if (wake) wake();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

let attempt = 0;
while (!stopping) {
  current = new AbortController();
  try {
    const body = await connect(current);
    attempt = 0;
    await readEvents(body, (ev) => process.stdout.write(ev.data + '\n'), current);
    log('stream ended');
  } catch (e) {
    if (stopping) break;
    if (e instanceof FatalError) {
      log(e.message);
      process.exit(1);
    }
    const why = current.signal.aborted ? current.signal.reason : e;
    log('disconnected: ' + ((why && why.message) || why));
  }
  if (stopping) break;
  // Like EventSource: the server's retry delay, doubled per failed attempt
  // (capped), with jitter so clients cut off together do not return together.
  const ceiling = Math.min(BACKOFF_MAX_MS, retryMs * 2 ** attempt++);
  const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  log('reconnecting in ' + (delay / 1000).toFixed(1) + ' s');
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, delay);
    wake = () => { clearTimeout(timer); resolve(); };
  });
  wake = null;
}
process.exit(0);
