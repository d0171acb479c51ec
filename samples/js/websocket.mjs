#!/usr/bin/env node
/*
 * Data Stream WebSocket client for Node.js 20, without dependencies.
 *
 *   DATASTREAM_API_KEY=sk_live_… node websocket.mjs [crash | type/multiplier]
 *
 * Prints every round object on stdout, one JSON line each (pipe it to jq);
 * connection events go to stderr. Environment:
 *   DATASTREAM_API_KEY  key that mints tokens (required)
 *   DATASTREAM_URL      backend base URL [http://localhost:3000]
 *
 * Node 20 has no global WebSocket, so the few parts of RFC 6455 a subscriber
 * needs are written out below: the upgrade handshake, reading server frames,
 * answering pings and closes. A browser or the `ws` package does the same.
 */
import { request } from 'node:http';
import { request as requestTls } from 'node:https';
import { createHash, randomBytes } from 'node:crypto';

const BASE = new URL(process.env.DATASTREAM_URL || 'http://localhost:3000');
const API_KEY = process.env.DATASTREAM_API_KEY;
const CHANNEL = process.argv[2] || 'crash';
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15000;
const MAX_MESSAGE = 1 << 20;
// The server pings every 20 s; silence for much longer means a dead path
// (a NAT or load balancer dropped us without a FIN).
const IDLE_TIMEOUT_MS = 60000;

if (!API_KEY) {
  console.error('set DATASTREAM_API_KEY (an sk_live_… key; pk_ keys are for browsers)');
  process.exit(2);
}

const log = (msg) => console.error(new Date().toISOString() + ' ' + msg);

class FatalError extends Error {}

/*
 * A token lives 30 s and is checked only at the handshake, so each connection
 * asks for a fresh one: a reconnect after a long outage must not reuse an old one.
 */
async function fetchToken() {
  const res = await fetch(new URL('/api/auth/token', BASE), {
    method: 'POST',
    headers: { 'X-API-Key': API_KEY },
  });
  const body = await res.json().catch(() => ({}));
  if (res.status === 401 || res.status === 403) {
    // Retrying will not make a revoked or mistyped key valid.
    throw new FatalError('token refused: ' + res.status + ' ' + (body.error || ''));
  }
  if (!res.ok || typeof body.token !== 'string') {
    throw new Error('token request failed: ' + res.status + ' ' + (body.error || ''));
  }
  return body.token;
}

/* Resolves with the upgraded socket once the server accepted our token as subprotocol. */
function handshake(token) {
  const key = randomBytes(16).toString('base64');
  const tls = BASE.protocol === 'https:';
  const req = (tls ? requestTls : request)({
    host: BASE.hostname,
    port: BASE.port || (tls ? 443 : 80),
    path: '/ws/' + CHANNEL,
    headers: {
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': key,
      'Sec-WebSocket-Protocol': token,
    },
  });
  return new Promise((resolve, reject) => {
    req.setTimeout(10000, () => req.destroy(new Error('handshake timed out')));
    req.on('error', reject);
    req.on('response', (res) => {
      // Anything but 101 is a normal HTTP answer: 401/403/404 carry a JSON error.
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body = (body + c).slice(0, 500); });
      res.on('end', () => {
        const err = new (res.statusCode === 404 ? FatalError : Error)('upgrade refused: ' + res.statusCode + ' ' + body);
        reject(err);
      });
    });
    req.on('upgrade', (res, socket, head) => {
      const expected = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      if (res.headers['sec-websocket-accept'] !== expected) {
        socket.destroy();
        return reject(new Error('bad Sec-WebSocket-Accept'));
      }
      // Browsers drop a connection whose answer does not echo the subprotocol;
      // checking it here keeps this client as strict as they are.
      if (res.headers['sec-websocket-protocol'] !== token) {
        socket.destroy();
        return reject(new Error('server did not echo the token subprotocol'));
      }
      resolve({ socket, head });
    });
    req.end();
  });
}

/*
 * Client frames must be masked (RFC 6455 5.3), even control frames. This
 * client only sends control frames (pong, close), whose payload is at most
 * 125 bytes, so the short length form is all it needs.
 */
function frame(opcode, payload = Buffer.alloc(0)) {
  const mask = randomBytes(4);
  const body = Buffer.from(payload.subarray(0, 125));
  const head = Buffer.from([0x80 | opcode, 0x80 | body.length]);
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
  return Buffer.concat([head, mask, body]);
}

/* Reads frames until the connection ends; resolves with a reason string. */
function receive({ socket, head }, onMessage) {
  return new Promise((resolve) => {
    let buf = head && head.length ? Buffer.from(head) : Buffer.alloc(0);
    let parts = [];
    let partsLen = 0;
    let done = false;
    const finish = (why, lastFrame) => {
      if (done) return;
      done = true;
      // end() flushes a final close frame before the FIN; destroy() would drop it.
      if (lastFrame) socket.end(lastFrame);
      else socket.destroy();
      resolve(why);
    };

    const parse = () => {
      for (;;) {
        if (buf.length < 2) return;
        const fin = (buf[0] & 0x80) !== 0;
        const opcode = buf[0] & 0x0f;
        const masked = (buf[1] & 0x80) !== 0;
        let len = buf[1] & 0x7f;
        let off = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          const big = buf.readBigUInt64BE(2);
          if (big > BigInt(MAX_MESSAGE)) return finish('frame too large');
          len = Number(big);
          off = 10;
        }
        if (masked) return finish('server sent a masked frame');
        if (len > MAX_MESSAGE) return finish('frame too large');
        if (buf.length < off + len) return;
        const payload = buf.subarray(off, off + len);
        buf = buf.subarray(off + len);

        if (opcode === 0x8) {
          const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
          // Answer the close so the server can release the connection cleanly.
          return finish('closed by server (' + code + ')', frame(0x8, payload.subarray(0, 2)));
        }
        if (opcode === 0x9) { socket.write(frame(0xa, payload)); continue; }
        if (opcode === 0xa) continue;
        if (opcode === 0x1 || opcode === 0x0) {
          parts.push(Buffer.from(payload));
          partsLen += payload.length;
          if (partsLen > MAX_MESSAGE) return finish('message too large');
          if (fin) {
            onMessage(Buffer.concat(parts).toString('utf8'));
            parts = [];
            partsLen = 0;
          }
          continue;
        }
        // Binary or reserved opcodes are not part of this protocol.
        return finish('unexpected opcode ' + opcode);
      }
    };

    socket.setTimeout(IDLE_TIMEOUT_MS, () => finish('idle for ' + IDLE_TIMEOUT_MS / 1000 + ' s'));
    socket.on('data', (chunk) => {
      if (done) return; // after our close frame: nothing more is ours to deliver
      buf = Buffer.concat([buf, chunk]);
      parse();
    });
    socket.on('end', () => finish('connection ended'));
    socket.on('error', (e) => finish(e.message));
    socket.on('close', () => finish('connection closed'));
    // 1000 = normal closure: tells the server this was on purpose.
    closeCurrent = () => finish('stopped', frame(0x8, Buffer.from([0x03, 0xe8])));
    parse();
  });
}

/* Exponential with jitter, so many clients dropped together do not return together. */
const backoff = (attempt) => {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt);
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
};

let stopping = false;
let closeCurrent = null;
const stop = () => {
  stopping = true;
  if (closeCurrent) closeCurrent();
  else process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

let attempt = 0;
while (!stopping) {
  try {
    const token = await fetchToken();
    const conn = await handshake(token);
    log('connected to /ws/' + CHANNEL);
    attempt = 0;
    const why = await receive(conn, (text) => process.stdout.write(text + '\n'));
    closeCurrent = null;
    log('disconnected: ' + why);
  } catch (e) {
    if (e instanceof FatalError) {
      log(e.message);
      process.exit(1);
    }
    log('connect failed: ' + e.message);
  }
  if (stopping) break;
  const delay = backoff(attempt++);
  log('reconnecting in ' + (delay / 1000).toFixed(1) + ' s');
  await new Promise((resolve) => setTimeout(resolve, delay));
}
// Give a final close frame time to leave before the process ends.
setTimeout(() => process.exit(0), 200);
