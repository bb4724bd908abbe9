// The dashboard: live figures from /api/stats, a tail of recent events,
// and a publish form.
import { $, el, postJSON, flash, fmtTime } from './common.js';
import { watchFigures } from './figures.js';
import { HubSource } from '/ssehub.js';

// The figures are figures.js's; the page has none when they are served on
// the admin listener, and then no stream for the header's pill to report.
if ($('#figures')) watchFigures();
else $('#conn').hidden = true;

// --- Tail of recent events ----------------------------------------------

// The tail reads through the hub's client, /ssehub.js, rather than
// EventSource: it hands over every event whatever its type, and sends a
// subscriber token in the Authorization header, so private events show too.
const maxRows = 100;
let tail = null;
let paused = false;
let skipped = 0;

function addRow(ev) {
  if (paused) {
    skipped++;
    $('#pause').textContent = `Resume (${skipped} skipped)`;
    return;
  }
  const li = el('li', {},
    el('div', { class: 'meta' },
      el('span', { text: fmtTime(Date.now()) }),
      el('span', { class: 'tag', text: ev.type }),
      el('span', { text: ev.lastEventId ? `id ${ev.lastEventId}` : '' })),
    el('div', { class: 'data', text: ev.data }));
  const list = $('#tail');
  list.prepend(li);
  flash(li, 'flash-new');
  while (list.children.length > maxRows) list.lastChild.remove();
}

const subTokenKey = 'ssehub.dashboard.subscriber-token';
$('#s-token').value = sessionStorage.getItem(subTokenKey) || '';

function watch() {
  if (tail) tail.close();
  const selector = $('#selector').value.trim() || '*';
  const token = $('#s-token').value.trim();
  sessionStorage.setItem(subTokenKey, token);
  const src = new HubSource('/events', { topics: [selector], token, onEvent: addRow });
  tail = src;
  const state = $('#tail-state');
  const what = token ? ', private events included' : '';
  state.replaceChildren('Connecting to ', el('code', { text: selector }), '…');
  src.onopen = () => state.replaceChildren('Watching ', el('code', { text: selector }),
    ` (every event type${what}); newest first, at most ${maxRows}.`);
  src.onerror = (e) => {
    if (src.readyState === HubSource.CLOSED) {
      state.replaceChildren(`The hub refused the stream (${e.status}): check the selector and the token.`);
    } else {
      state.replaceChildren('Reconnecting to ', el('code', { text: selector }), '…');
    }
  };
}

$('#filter').addEventListener('submit', (e) => {
  e.preventDefault();
  watch();
});
$('#pause').addEventListener('click', () => {
  paused = !paused;
  skipped = 0;
  $('#pause').textContent = paused ? 'Resume' : 'Pause';
});
watch();

// --- Publish form -------------------------------------------------------

const tokenKey = 'ssehub.dashboard.token';
$('#p-token').value = sessionStorage.getItem(tokenKey) || '';

$('#publish').addEventListener('submit', async (e) => {
  e.preventDefault();
  const out = $('#p-result');
  const token = $('#p-token').value.trim();
  const type = $('#p-type').value.trim();
  const body = { topic: $('#p-topic').value.trim(), data: $('#p-data').value };
  if (type) body.type = type;
  sessionStorage.setItem(tokenKey, token);
  out.className = 'result';
  out.textContent = 'Publishing…';
  try {
    const res = await postJSON('/publish', body, token ? { Authorization: `Bearer ${token}` } : {});
    out.className = `result ${res.ok ? 'ok' : 'err'}`;
    out.textContent = res.ok ? `Published with id ${res.body.id}` : `${res.status}: ${res.body.error}`;
  } catch (err) {
    out.className = 'result err';
    out.textContent = `Network error: ${err.message}`;
  }
});

$('#origin').textContent = location.origin;
