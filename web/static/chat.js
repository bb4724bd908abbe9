// Chat rooms. Each room is the topic chat/ROOM. The page stores, per room
// and per tab (sessionStorage survives a reload, and two tabs do not mix),
// the messages it showed and the id of the last one, and resumes the stream
// from that id after a reload: the hub replays what was missed.
import { $, el, stream, postJSON, getJSON, fmtTime } from './common.js';

const keep = 100; // messages stored per room
const storeKey = (room) => `ssehub.chat.${room}`;
let es = null;
let room = '';
let state = { lastId: '', messages: [] };
let joinedAt = ''; // server time when we joined: older messages were missed
let missed = 0;

function load(r) {
  try {
    const s = JSON.parse(sessionStorage.getItem(storeKey(r)));
    if (s && Array.isArray(s.messages)) return s;
  } catch { /* start afresh */ }
  return { lastId: '', messages: [] };
}

function save() {
  state.messages = state.messages.slice(-keep);
  sessionStorage.setItem(storeKey(room), JSON.stringify(state));
}

function show(m, cls = '') {
  const list = $('#messages');
  list.append(el('li', { class: cls, data: { id: m.id } },
    el('span', { class: 'who', text: m.name }), el('span', { text: m.text }),
    el('span', { class: 'when', text: fmtTime(m.time) })));
  list.scrollTop = list.scrollHeight;
}

function divider(text) {
  $('#messages').append(el('li', { class: 'divider', text }));
}

function receive(m, ev) {
  if (state.messages.some((x) => x.id === ev.lastEventId)) return;
  const msg = { id: ev.lastEventId, name: m.name, text: m.text, time: m.time };
  const wasMissed = Date.parse(m.time) < Date.parse(joinedAt);
  if (wasMissed && missed++ === 0) divider('While you were away');
  show(msg, wasMissed ? 'missed' : '');
  state.messages.push(msg);
  state.lastId = ev.lastEventId;
  save();
  $('#chat-meta').textContent = `In ${room} · last id ${state.lastId}${missed ? ` · ${missed} caught up from the log` : ''}`;
}

async function join(r) {
  if (es) es.close();
  room = r;
  missed = 0;
  state = load(room);
  $('#messages').replaceChildren();
  for (const m of state.messages) show(m);
  const pos = await getJSON('/demo/position');
  joinedAt = pos.time;
  if (!state.lastId) {
    // First visit: start from the hub's current position and remember it,
    // so even a reload before the first message misses nothing.
    state.lastId = pos.lastEventId;
    save();
  }
  $('#chat-meta').textContent = `In ${room} · resuming after ${state.lastId}`;
  es = stream(`/events?topic=${encodeURIComponent(`chat/${room}`)}&lastEventID=${encodeURIComponent(state.lastId)}`, {
    message: receive,
    'ssehub-reset': (_, ev) => {
      divider('The hub could not replay what was missed here (its log was reset)');
      state.lastId = ev.lastEventId;
      save();
    },
  });
  history.replaceState(null, '', `?room=${encodeURIComponent(room)}`);
}

$('#join').addEventListener('submit', (e) => {
  e.preventDefault();
  localStorage.setItem('ssehub.chat.name', $('#name').value.trim());
  join($('#room').value.trim());
});

$('#send').addEventListener('submit', async (e) => {
  e.preventDefault();
  const name = $('#name').value.trim();
  localStorage.setItem('ssehub.chat.name', name);
  const out = $('#send-result');
  const res = await postJSON(`/demo/chat/rooms/${encodeURIComponent(room)}/messages`, { name, text: $('#text').value });
  out.className = `result ${res.ok ? '' : 'err'}`;
  out.textContent = res.ok ? '' : res.body.error;
  if (res.ok) $('#text').value = '';
});

$('#name').value = localStorage.getItem('ssehub.chat.name') || `guest-${Math.floor(Math.random() * 1000)}`;
$('#room').value = new URLSearchParams(location.search).get('room') || 'lobby';
join($('#room').value);
