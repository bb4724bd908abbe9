// The live figures of the dashboards, public and admin: one "stats" event a
// second from /api/stats, and the cluster's figures when the log is shared.
import { $, el, stream, fmtInt, fmtFixed, fmtBytes } from './common.js';

let prev = null;

function rate(cur, key) {
  if (!prev) return null;
  const secs = (Date.parse(cur.time) - Date.parse(prev.time)) / 1000;
  return secs > 0 ? Math.max(0, (cur[key] - prev[key]) / secs) : null;
}

function set(id, text) {
  $(`#${id}`).textContent = text;
}

function showStats(s) {
  set('f-subscribers', fmtInt(s.subscribers));
  set('f-topics', fmtInt(s.topics));
  set('f-pubrate', fmtFixed(rate(s, 'published')));
  set('f-published', fmtInt(s.published));
  set('f-delrate', fmtFixed(rate(s, 'delivered')));
  set('f-delivered', fmtInt(s.delivered));
  set('f-slow', fmtInt(s.slowDisconnects));
  set('f-events', fmtInt(s.log.events));
  set('f-bytes', fmtBytes(s.log.bytes));
  set('f-window', s.log.events > 0 ? `${s.log.first}–${s.log.last}` : 'empty');
  set('f-epoch', s.log.epoch || '—');
  set('f-goroutines', fmtInt(s.process.goroutines));
  set('f-cpus', fmtInt(s.process.numCPU));
  set('f-heap', fmtBytes(s.process.heapBytes));
  set('f-sys', fmtBytes(s.process.sysBytes));
  showCluster(s.cluster);
  $('#figures').dataset.updated = s.time;
  prev = s;
}

// showCluster fills the cluster panel, shown only when the log is shared.
function showCluster(c) {
  const panel = $('#cluster');
  if (!panel) return;
  panel.hidden = !c;
  if (!c) return;
  set('c-total', fmtInt(c.subscribers));
  set('c-count', fmtInt(c.nodes.length));
  set('c-node', c.node || '—');
  set('c-error', c.error ? `The shared log did not answer: ${c.error}` : '');
  $('#c-nodes').replaceChildren(...c.nodes.map((n) => el('tr', { data: { node: n.name } },
    el('td', { class: 'mono', text: n.name === c.node ? `${n.name} (this node)` : n.name }),
    el('td', { class: 'num', text: fmtInt(n.subscribers) }))));
}

export function watchFigures() {
  return stream('/api/stats', { stats: showStats });
}
