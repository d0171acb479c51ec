/*
 * Data Stream browser client: one subscriber per protocol (WebSocket, SSE,
 * REST polling), each reconnecting on its own, all reporting rounds the same
 * way. Used by the dashboard; the per-protocol example pages show the same
 * calls without this wrapper.
 *
 *   const sub = DataStream.subscribeWs({slug, apiKey, onRound, onState});
 *   sub.close();
 *
 * onRound(round, {initial})  initial: replayed on (re)connect, not live
 * onState(state, detail)     state: connecting | open | retrying | error | closed
 */
(function (global) {
  'use strict';

  const KEY_STORAGE = 'datastream.apiKey';
  const BACKOFF_FIRST_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const POLL_INTERVAL_MS = 1000;

  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  /* Key from the deployment (dashboard-config.js), else what the user saved. */
  function storedApiKey() {
    const cfg = global.DATASTREAM_CONFIG;
    if (cfg && cfg.apiKey) return { key: cfg.apiKey, source: 'config' };
    const saved = global.localStorage ? global.localStorage.getItem(KEY_STORAGE) : null;
    return saved ? { key: saved, source: 'browser' } : { key: '', source: 'none' };
  }

  function saveApiKey(key) {
    if (key) global.localStorage.setItem(KEY_STORAGE, key);
    else global.localStorage.removeItem(KEY_STORAGE);
  }

  /* The headline result, by the same rule as /api/latest's "value". */
  function headlineValue(round) {
    if ('value' in round) return round.value;
    let extras;
    try {
      extras = typeof round.extras === 'string' ? JSON.parse(round.extras) : round.extras;
    } catch (e) {
      return null;
    }
    if (!extras || typeof extras !== 'object') return null;
    if (round.game_type === 'multiplier' && extras.point != null) return extras.point;
    if (extras.result != null) return extras.result;
    if (extras.color != null) return extras.color;
    return null;
  }

  /* Exponential with jitter, so reconnecting tabs do not arrive in step. */
  function backoffMs(attempt) {
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt);
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  async function errorOf(res) {
    let message = res.statusText || 'HTTP ' + res.status;
    try {
      const body = await res.json();
      if (body && body.error) message = body.error;
    } catch (e) {
      /* not JSON: keep the status text */
    }
    return new HttpError(res.status, res.status + ' ' + message);
  }

  function isAuthError(e) {
    return e.status === 401 || e.status === 403;
  }

  function authHeaders(apiKey) {
    return apiKey ? { 'X-API-Key': apiKey } : {};
  }

  async function fetchToken(apiKey) {
    const res = await fetch('/api/auth/token', { method: 'POST', headers: authHeaders(apiKey) });
    if (!res.ok) throw await errorOf(res);
    return (await res.json()).token;
  }

  function wsUrl(path) {
    return (global.location.protocol === 'https:' ? 'wss://' : 'ws://') + global.location.host + path;
  }

  function parseRound(text) {
    try {
      return JSON.parse(text);
    } catch (e) {
      return null;
    }
  }

  /* Shared retry bookkeeping: one pending timer, attempt count reset on success. */
  function retrier(connect, onState) {
    let attempt = 0;
    let timer = null;
    let closed = false;
    return {
      get closed() { return closed; },
      succeeded() { attempt = 0; },
      /* state 'error' marks what retrying alone will not fix (a refused key). */
      retry(detail, state = 'retrying') {
        if (closed) return;
        const delay = backoffMs(attempt++);
        onState(state, (detail ? detail + '; ' : '') + 'retry in ' + (delay / 1000).toFixed(1) + ' s');
        timer = setTimeout(connect, delay);
      },
      /* Next run after a fixed delay (poll interval, rate-limit reset). */
      later(delay) {
        if (!closed) timer = setTimeout(connect, delay);
      },
      close() {
        closed = true;
        clearTimeout(timer);
        onState('closed', '');
      },
    };
  }

  /* WebSocket: a fresh short-lived token per connection, sent as the subprotocol. */
  function subscribeWs({ slug, apiKey, onRound, onState }) {
    let socket = null;
    const r = retrier(connect, onState);

    async function connect() {
      onState('connecting', '');
      let protocols = [];
      if (apiKey) {
        try {
          protocols = [await fetchToken(apiKey)];
        } catch (e) {
          r.retry(e.message, isAuthError(e) ? 'error' : 'retrying');
          return;
        }
      }
      if (r.closed) return;
      let first = true;
      socket = new WebSocket(wsUrl('/ws/' + encodeURIComponent(slug)), protocols);
      socket.onopen = () => {
        r.succeeded();
        onState('open', '');
      };
      socket.onmessage = (event) => {
        const round = parseRound(event.data);
        if (round) onRound(round, { initial: first });
        first = false;
      };
      socket.onclose = (event) => {
        socket = null;
        r.retry('closed (' + event.code + ')');
      };
    }

    connect();
    return {
      close() {
        r.close();
        if (socket) {
          socket.onclose = null;
          socket.close();
        }
      },
    };
  }

  /*
   * SSE: EventSource reconnects by itself after a dropped stream and sends
   * Last-Event-ID, so nothing is missed. It gives up only when the server
   * refuses (e.g. 401); then a new EventSource resumes with ?last_event_id=.
   */
  function subscribeSse({ slug, apiKey, onRound, onState }) {
    let source = null;
    let lastEventId = '';
    const r = retrier(connect, onState);

    function deliver(event, initial) {
      if (event.lastEventId) lastEventId = event.lastEventId;
      const round = parseRound(event.data);
      if (round) onRound(round, { initial });
    }

    function connect() {
      onState('connecting', '');
      const params = new URLSearchParams();
      if (apiKey) params.set('api_key', apiKey);
      if (lastEventId) params.set('last_event_id', lastEventId);
      const query = params.toString();
      source = new EventSource('/sse/' + encodeURIComponent(slug) + (query ? '?' + query : ''));
      source.onopen = () => {
        r.succeeded();
        onState('open', '');
      };
      source.addEventListener('initial', (event) => deliver(event, true));
      source.onmessage = (event) => deliver(event, false);
      source.onerror = () => {
        if (source.readyState === EventSource.CLOSED) {
          source = null;
          r.retry('refused');
        } else {
          onState('retrying', 'browser is reconnecting');
        }
      };
    }

    connect();
    return {
      close() {
        r.close();
        if (source) source.close();
      },
    };
  }

  /* REST: GET /api/latest every second; reports a round when it changes. */
  function pollRest({ slug, apiKey, onRound, onState }) {
    let seen = null;
    const r = retrier(tick, onState);

    async function latest() {
      const res = await fetch('/api/latest/' + encodeURIComponent(slug), {
        headers: authHeaders(apiKey),
        cache: 'no-store',
      });
      if (!res.ok) {
        const err = await errorOf(res);
        err.resetSeconds = Number(res.headers.get('X-Ratelimit-Reset')) || 0;
        throw err;
      }
      return res.json();
    }

    async function tick() {
      let round;
      try {
        round = await latest();
      } catch (e) {
        if (e.status === 429 && e.resetSeconds > 0) {
          onState('retrying', e.message + '; paused ' + e.resetSeconds + ' s');
          r.later(e.resetSeconds * 1000);
        } else {
          r.retry(e.message || 'network error', isAuthError(e) ? 'error' : 'retrying');
        }
        return;
      }
      if (r.closed) return;
      r.succeeded();
      onState('open', '');
      const version = round.round_id + ':' + round.timestamp;
      if (version !== seen) {
        onRound(round, { initial: seen === null });
        seen = version;
      }
      r.later(POLL_INTERVAL_MS);
    }

    tick();
    return { close: () => r.close() };
  }

  global.DataStream = {
    storedApiKey,
    saveApiKey,
    headlineValue,
    subscribeWs,
    subscribeSse,
    pollRest,
  };
})(window);
