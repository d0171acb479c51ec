/*
 * Live dashboard: the four reference games, each over WebSocket, SSE and REST
 * polling side by side. Latency = arrival time - round.timestamp (the commit
 * time in PostgreSQL), so it includes the whole pipeline and any clock skew
 * between this browser and the database.
 */
(function () {
  'use strict';

  const GAMES = [
    { slug: 'crash', name: 'Crash', type: 'multiplier' },
    { slug: 'double', name: 'Double', type: 'color' },
    { slug: 'slot', name: 'Slot Machine', type: 'slots' },
    { slug: 'wall-street', name: 'Wall Street', type: 'trending' },
  ];
  const PROTOCOLS = [
    { id: 'ws', label: 'WebSocket', subscribe: DataStream.subscribeWs },
    { id: 'sse', label: 'SSE', subscribe: DataStream.subscribeSse },
    { id: 'rest', label: 'REST poll', subscribe: DataStream.pollRest },
  ];
  const ROUNDS_SHOWN = 6;
  const LATENCY_WINDOW = 50;

  const subscriptions = [];

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  function formatMs(ms) {
    return ms >= 10000 ? (ms / 1000).toFixed(0) + ' s' : Math.round(ms) + ' ms';
  }

  function formatValue(value) {
    if (value == null) return '–';
    return typeof value === 'object' ? JSON.stringify(value) : String(value);
  }

  function median(values) {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  }

  /* One protocol column of one game card; owns its DOM and statistics. */
  function protocolPanel(game, protocol, onValue) {
    const panel = el('section', 'protocol');
    Object.assign(panel.dataset, {
      protocol: protocol.id, game: game.slug, state: 'connecting', count: '0', lastRound: '',
    });
    const head = el('header', 'protocol-head');
    const state = el('span', 'state', 'connecting');
    head.append(el('h3', null, protocol.label), state);
    const detail = el('p', 'detail');
    const stats = el('dl', 'stats');
    const p50 = el('dd', null, '–');
    const max = el('dd', null, '–');
    stats.append(el('dt', null, 'p50'), p50, el('dt', null, 'max'), max);
    const list = el('ol', 'rounds');
    list.append(el('li', 'empty', 'waiting for rounds…'));
    panel.append(head, detail, stats, list);

    const latencies = [];
    let count = 0;

    function onState(name, text) {
      if (panel.dataset.state !== name) {
        panel.dataset.state = name;
        state.textContent = name;
      }
      if (detail.textContent !== text) detail.textContent = text;
    }

    function onRound(round, { initial }) {
      const latency = Date.now() - round.timestamp;
      if (!initial) {
        latencies.push(latency);
        if (latencies.length > LATENCY_WINDOW) latencies.shift();
        p50.textContent = formatMs(median(latencies));
        max.textContent = formatMs(Math.max(...latencies));
      }
      const value = DataStream.headlineValue(round);
      const item = el('li', initial ? 'initial' : 'live');
      item.append(
        el('span', 'round-id', '#' + round.round_id),
        el('span', 'round-value', formatValue(value)),
        el('span', 'latency', initial ? 'replay' : formatMs(latency)),
      );
      item.title = initial
        ? 'Delivered on (re)connect, not live: excluded from p50/max'
        : 'finished_at ' + round.finished_at;
      list.querySelector('.empty')?.remove();
      list.prepend(item);
      while (list.children.length > ROUNDS_SHOWN) list.lastChild.remove();
      count += 1;
      panel.dataset.count = String(count);
      panel.dataset.lastRound = String(round.round_id);
      onValue(round, value);
    }

    return { panel, onState, onRound };
  }

  function gameCard(game) {
    const card = el('article', 'game');
    card.dataset.game = game.slug;
    const head = el('header', 'game-head');
    const title = el('div', 'game-title');
    title.append(el('h2', null, game.name), el('span', 'game-type', game.slug + ' · ' + game.type));
    const latest = el('div', 'latest');
    const latestValue = el('span', 'latest-value', '–');
    const latestRound = el('span', 'latest-round', 'no round yet');
    latest.append(latestValue, latestRound);
    head.append(title, latest);
    const columns = el('div', 'protocols');
    card.append(head, columns);

    let newest = -Infinity;
    function onValue(round, value) {
      if (round.round_id < newest) return;
      newest = round.round_id;
      latestValue.textContent = formatValue(value);
      latestRound.textContent = 'round #' + round.round_id;
    }

    const panels = PROTOCOLS.map((protocol) => {
      const p = protocolPanel(game, protocol, onValue);
      columns.append(p.panel);
      return { protocol, ...p };
    });
    return { card, panels };
  }

  function showKeyStatus(source) {
    const status = document.getElementById('key-status');
    status.textContent = {
      config: 'Using the key from dashboard-config.js.',
      browser: 'Using the key saved in this browser.',
      none: 'No key: works only where authentication is off.',
    }[source];
    /* A deployment-provided key wins, so there is nothing to type. */
    document.getElementById('key-form').hidden = source === 'config';
    document.getElementById('api-key').value = source === 'browser' ? DataStream.storedApiKey().key : '';
  }

  function start(cards) {
    subscriptions.splice(0).forEach((s) => s.close());
    const { key, source } = DataStream.storedApiKey();
    showKeyStatus(source);
    for (const { game, panels } of cards) {
      for (const p of panels) {
        subscriptions.push(p.protocol.subscribe({
          slug: game.slug, apiKey: key, onRound: p.onRound, onState: p.onState,
        }));
      }
    }
  }

  function main() {
    const grid = document.getElementById('games');
    const cards = GAMES.map((game) => {
      const c = gameCard(game);
      grid.append(c.card);
      return { game, panels: c.panels };
    });
    document.getElementById('key-form').addEventListener('submit', (event) => {
      event.preventDefault();
      DataStream.saveApiKey(document.getElementById('api-key').value.trim());
      start(cards);
    });
    start(cards);
  }

  main();
})();
