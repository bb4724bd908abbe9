// The task board. It subscribes to the board's changes and to a topic of
// its own, then asks the board's backend for a start event on that topic:
// changes made before the start event arrive before it (and it supersedes
// them), changes made after arrive after it, so no claim is ever missed.
import { $, el, stream, postJSON, flash, fmtTime, randomID } from './common.js';

const client = randomID(20);
let version = -1;

function taskCard(t) {
  const state = t.claimedBy
    ? `Claimed by ${t.claimedBy} at ${fmtTime(t.claimedAt)}`
    : 'Open — scan to claim';
  const claimURL = `/demo/board/claim/${encodeURIComponent(t.id)}`;
  return el('article', { class: t.claimedBy ? 'task claimed' : 'task', data: { task: t.id, claimedBy: t.claimedBy || '' } },
    el('div', {},
      el('div', { class: 'id', text: t.id }),
      el('div', { class: 'title', text: t.title }),
      el('div', { class: 'state', text: state }),
      el('div', { class: 'links' }, el('a', { href: claimURL, target: '_blank', text: 'open the claim page' }))),
    el('img', { src: `/demo/board/tasks/${encodeURIComponent(t.id)}/qr.svg`, alt: `QR code to claim ${t.id}`, width: 92, height: 92 }));
}

function render(st, why) {
  version = st.version;
  const columns = st.columns.map((name) => {
    const tasks = st.tasks.filter((t) => t.column === name);
    const open = tasks.filter((t) => !t.claimedBy).length;
    return el('section', { class: 'column', data: { column: name } },
      el('h2', {}, el('span', { text: name }), el('span', { class: 'tag', text: `${open} open` })),
      ...tasks.map(taskCard));
  });
  $('#board').replaceChildren(...columns);
  $('#board').dataset.version = String(version);
  $('#board-state').textContent = `${why === 'start' ? 'Start event' : 'Board reset'} received (version ${version}); listening for claims.`;
  if (why === 'reset') log('The board was reset.', 'muted-entry');
}

function claimed({ task, version: v }) {
  if (v <= version) return; // already part of the start event
  version = v;
  const old = document.querySelector(`[data-task="${CSS.escape(task.id)}"]`);
  if (!old) return;
  const card = taskCard(task);
  old.replaceWith(card);
  flash(card, 'flash-up');
  const col = card.closest('.column');
  col.querySelector('.tag').textContent = `${col.querySelectorAll('.task:not(.claimed)').length} open`;
  $('#board').dataset.version = String(version);
  log(`${task.claimedBy} claimed ${task.id} “${task.title}” at ${fmtTime(task.claimedAt)}.`, 'claim');
}

function log(text, cls) {
  const list = $('#activity');
  if (list.querySelector('.empty')) list.replaceChildren();
  list.prepend(el('li', { class: cls, text }));
}

async function start() {
  const res = await postJSON('/demo/board/start', { client });
  if (!res.ok) $('#board-state').textContent = `Could not get the board's state: ${res.body.error}`;
}

let started = false;
stream(`/events?topic=board/tasks&topic=board/clients/${client}`, {
  'board-start': (st) => render(st, 'start'),
  'board-reset': (st) => render(st, 'reset'),
  'task-claimed': claimed,
  // The hub could not resume this stream (restarted with a new log): ask
  // for the current state again.
  'ssehub-reset': () => start(),
}, {
  onOpen: () => {
    if (!started) {
      started = true;
      start();
    }
  },
});

$('#reset').addEventListener('click', async () => {
  const res = await postJSON('/demo/board/reset', {});
  if (!res.ok) log(`Reset failed: ${res.body.error}`, 'raised');
});

if (['localhost', '127.0.0.1', '[::1]'].includes(location.hostname)) {
  const hint = $('#lan-hint');
  hint.textContent = `The codes point at ${location.host}, which a phone cannot reach. To claim from a phone, open this board at this computer's address on your network (for example http://192.168.1.20${location.port ? `:${location.port}` : ''}/demo/board) and scan again.`;
  hint.hidden = false;
}
