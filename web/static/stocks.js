// The stock ticker: a snapshot of every quote, then a stream of updates
// from exactly the snapshot's position, so no update falls between them.
import { $, el, stream, getJSON, flash, fmtInt } from './common.js';

const rows = new Map(); // symbol → {tr, cells, quote}
let updates = 0;

const money = (n) => n.toFixed(2);
const signed = (n, d = 2) => `${n > 0 ? '+' : ''}${n.toFixed(d)}`;

function row(q) {
  const cells = {};
  const td = (key, cls = 'num') => (cells[key] = el('td', { class: cls }));
  const tr = el('tr', { data: { symbol: q.symbol } },
    el('td', {}, el('strong', { text: q.symbol })), el('td', { class: 'muted', text: q.name }),
    td('price'), td('change'), td('pct'), td('low'), td('high'), td('volume'));
  const r = { tr, cells, quote: q };
  fill(r, q);
  return r;
}

function fill(r, q) {
  const c = r.cells;
  c.price.textContent = money(q.price);
  c.change.textContent = signed(q.change);
  c.pct.textContent = `${signed(q.changePct)}%`;
  for (const cell of [c.change, c.pct]) cell.className = `num ${q.change > 0 ? 'up' : q.change < 0 ? 'down' : ''}`;
  c.low.textContent = money(q.low);
  c.high.textContent = money(q.high);
  c.volume.textContent = fmtInt(q.volume);
  r.quote = q;
}

function update(kind) {
  return (q) => {
    const r = rows.get(q.symbol);
    if (!r) return;
    const before = r.quote;
    fill(r, q);
    if (kind === 'quote' && q.price !== before.price) flash(r.cells.price, q.price > before.price ? 'flash-up' : 'flash-down');
    if (kind === 'volume') flash(r.cells.volume, 'flash-new');
    if (kind === 'range') flash(q.high > before.high ? r.cells.high : r.cells.low, q.high > before.high ? 'flash-up' : 'flash-down');
    updates++;
    $('#quotes').dataset.updates = String(updates);
    $('#stocks-meta').textContent = `${rows.size} symbols · ${fmtInt(updates)} updates received · last ${kind} for ${q.symbol}`;
  };
}

async function refresh() {
  const snap = await getJSON('/demo/stocks/quotes');
  for (const q of snap.quotes) if (rows.has(q.symbol)) fill(rows.get(q.symbol), q);
}

async function main() {
  const snap = await getJSON('/demo/stocks/quotes');
  for (const q of snap.quotes) rows.set(q.symbol, row(q));
  $('#quotes tbody').replaceChildren(...[...rows.values()].map((r) => r.tr));
  $('#stocks-meta').textContent = `${rows.size} symbols · waiting for updates…`;
  const from = encodeURIComponent(snap.lastEventId);
  stream(`/events?topic=${encodeURIComponent('stocks/{symbol}')}&lastEventID=${from}`, {
    quote: update('quote'),
    volume: update('volume'),
    range: update('range'),
    // The hub cannot replay from the snapshot's position (its log was
    // reset): take a fresh snapshot; the stream goes on live.
    'ssehub-reset': refresh,
  });
}

main();
