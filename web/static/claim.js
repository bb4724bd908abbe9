// The mobile claim page: shows one task and claims it for the name given.
import { $, stream, postJSON, getJSON, fmtTime } from './common.js';

const id = decodeURIComponent(location.pathname.split('/').pop());
const nameKey = 'ssehub.board.name';

function show(t) {
  $('#task-id').textContent = t.id;
  $('#task-title').textContent = t.title;
  const state = $('#task-state');
  if (t.claimedBy) {
    state.textContent = `Claimed by ${t.claimedBy} at ${fmtTime(t.claimedAt)}.`;
    state.className = 'small up';
  } else {
    state.textContent = `Open, in ${t.column}.`;
    state.className = 'small muted';
  }
  $('#claim-button').disabled = Boolean(t.claimedBy);
}

async function load() {
  try {
    show(await getJSON(`/demo/board/tasks/${encodeURIComponent(id)}`));
  } catch {
    $('#task-title').textContent = `There is no task ${id}.`;
    $('#claim-button').disabled = true;
  }
}

$('#by').value = localStorage.getItem(nameKey) || '';
$('#claim').addEventListener('submit', async (e) => {
  e.preventDefault();
  const by = $('#by').value.trim();
  localStorage.setItem(nameKey, by);
  const out = $('#result');
  const res = await postJSON(`/demo/board/tasks/${encodeURIComponent(id)}/claim`, { by });
  out.className = `result ${res.ok ? 'ok' : 'err'}`;
  if (res.ok) {
    out.textContent = 'Claimed. The board shows it now.';
    show(res.body.task);
  } else {
    out.textContent = res.status === 409 ? `Too late: ${res.body.error}.` : res.body.error;
    if (res.body.task) show(res.body.task);
  }
});

// Follow the board too, so the page shows a claim made by someone else.
stream('/events?topic=board/tasks', {
  'task-claimed': ({ task }) => { if (task.id === id) show(task); },
  'board-reset': () => load(),
});
load();
