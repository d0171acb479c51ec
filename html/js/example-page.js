/*
 * Page plumbing shared by the protocol examples, kept apart so the example
 * scripts hold only what a client needs. Shows the running example's own
 * source (script#example) as the code listing, and gives it:
 *   ExamplePage.game            the ?game= slug (default crash)
 *   ExamplePage.status(text)    connection state line
 *   ExamplePage.round(round)    log a received round object
 * The #rounds element carries data-protocol, data-game, data-count and
 * data-last-round for automated checks, like the dashboard panels.
 */
(function () {
  'use strict';

  const MAX_LINES = 200;
  const game = new URLSearchParams(location.search).get('game') || 'crash';
  const rounds = document.getElementById('rounds');
  const statusLine = document.getElementById('status');

  rounds.dataset.game = game;
  rounds.dataset.count = '0';
  rounds.dataset.lastRound = '';
  document.querySelectorAll('.game-slug').forEach((node) => { node.textContent = game; });
  /* script#example comes after this file, so it exists only once parsed. */
  document.addEventListener('DOMContentLoaded', () => {
    document.getElementById('code').textContent =
      document.getElementById('example').textContent.replace(/^\n+|\s+$/g, '');
  });

  function status(text) {
    statusLine.textContent = text;
  }

  function round(r) {
    const line = new Date().toISOString().slice(11, 23) + '  ' + JSON.stringify(r) + '\n';
    rounds.prepend(document.createTextNode(line));
    while (rounds.childNodes.length > MAX_LINES) rounds.lastChild.remove();
    rounds.dataset.count = String(Number(rounds.dataset.count) + 1);
    rounds.dataset.lastRound = String(r.round_id);
  }

  window.ExamplePage = { game, status, round };
})();
