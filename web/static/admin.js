// The admin dashboard, served on the admin listener only: the live
// figures, and the admin API's views (topics, subscribers, the log) with
// its actions (disconnect, trim). The admin token is kept in this tab's
// sessionStorage and sent in the Authorization header, never in a URL,
// where it would end up in history and logs.
import { $, el, fmtInt, fmtBytes, fmtTime } from './common.js';
import { watchFigures } from './figures.js';

const tokenKey = 'ssehub.admin.token';
const refreshEvery = 2000;
let timer = null;

watchFigures();

// call sends an admin request and resolves to {status, body}; body is the
// parsed JSON answer, or null for 204.
async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(tokenKey)}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = { error: text.trim() || res.statusText }; }
  return { status: res.status, body: parsed };
}

function state(text, cls = '') {
  const out = $('#a-state');
  out.className = `result ${cls}`;
  out.textContent = text;
}

// refused explains an answer that is not the data, and forgets a token
// the hub does not take, so a reload asks again.
function refused(res) {
  $('#admin-panels').hidden = true;
  const why = res.body && res.body.error ? res.body.error : `status ${res.status}`;
  if (res.status === 401) {
    sessionStorage.removeItem(tokenKey);
    state(`The hub refused this admin token (401: ${why}). Enter the token of --admin-token-file.`, 'err');
  } else {
    state(`The admin API answered ${res.status}: ${why}`, 'err');
  }
}

async function load() {
  clearTimeout(timer);
  if (!sessionStorage.getItem(tokenKey)) {
    $('#admin-panels').hidden = true;
    state('Enter the admin token to see topics, subscribers and the log.');
    return;
  }
  let answers;
  try {
    // One request first: a refused token is then refused once, not thrice.
    const first = await call('GET', '/api/admin/topics');
    if (first.status !== 200) {
      refused(first);
      return;
    }
    answers = [first, ...await Promise.all(['subscribers', 'log'].map((p) => call('GET', `/api/admin/${p}`)))];
  } catch (err) {
    state(`Network error: ${err.message}`, 'err');
    timer = setTimeout(load, refreshEvery);
    return;
  }
  const bad = answers.find((r) => r.status !== 200);
  if (bad) {
    refused(bad);
    return;
  }
  const [topics, subs, log] = answers.map((r) => r.body);
  showTopics(topics.topics);
  showSubscribers(subs.subscribers);
  showLog(log);
  $('#admin-panels').hidden = false;
  state(`Refreshed at ${fmtTime(Date.now())}, every ${refreshEvery / 1000} s.`, 'ok');
  timer = setTimeout(load, refreshEvery);
}

function showTopics(topics) {
  $('#a-topics').replaceChildren(...topics.map((t) => el('tr', {},
    el('td', { class: 'mono', text: t.topic }),
    el('td', { class: 'num', text: fmtInt(t.subscribers) }))));
}

function showSubscribers(subs) {
  $('#a-subscribers').replaceChildren(...subs.map((s) => el('tr', { data: { id: String(s.id) } },
    el('td', { class: 'mono', text: String(s.id) }),
    el('td', { text: s.door || '' }),
    el('td', { class: 'mono', text: s.remote || '' }),
    el('td', { class: 'mono', text: (s.topics || []).join(' ') }),
    el('td', { text: fmtTime(Date.parse(s.since)) }),
    el('td', { class: 'mono', text: s.lastEventId || '' }),
    el('td', { class: 'num', text: fmtInt(s.queued) }),
    el('td', {}, el('button', { type: 'button', class: 'secondary', data: { disconnect: String(s.id) }, text: 'Disconnect' })))));
}

function showLog(log) {
  const rows = [['Events', fmtInt(log.events)], ['Bytes', fmtBytes(log.bytes)], ['First id', log.firstId || '—'],
    ['Last id', log.lastId || '—'], ['Epoch', log.epoch || '—'], ['Trimming', log.trimming ? 'supported' : 'not supported by this log']];
  $('#a-log').replaceChildren(...rows.map(([k, v]) => el('tr', {}, el('th', { text: k }), el('td', { class: 'mono', text: v }))));
}

function result(id, text, ok) {
  const out = $(id);
  out.className = `result ${ok ? 'ok' : 'err'}`;
  out.textContent = text;
}

$('#a-subscribers').addEventListener('click', async (e) => {
  const id = e.target.dataset && e.target.dataset.disconnect;
  if (!id) return;
  e.target.disabled = true;
  const res = await call('DELETE', `/api/admin/subscribers/${id}`);
  if (res.status === 204) result('#a-sub-result', `Disconnected subscriber ${id}; its client resumes from its last id.`, true);
  else result('#a-sub-result', `Subscriber ${id}: ${res.status} ${res.body ? res.body.error : ''}`, false);
  load();
});

// Trimming removes history for good, so the button asks for a second click.
let armed = null;
$('#a-trim').addEventListener('submit', async (e) => {
  e.preventDefault();
  const button = $('#a-trim-button');
  if (!armed) {
    button.textContent = 'Confirm trim';
    armed = setTimeout(() => { armed = null; button.textContent = 'Trim…'; }, 5000);
    return;
  }
  clearTimeout(armed);
  armed = null;
  button.textContent = 'Trim…';
  const value = $('#a-trim-value').value.trim();
  const body = $('#a-trim-mode').value === 'keep' ? { keep: Number(value) } : { through: value };
  const res = await call('POST', '/api/admin/log/trim', body);
  if (res.status === 200) result('#a-trim-result', `Removed ${fmtInt(res.body.removed)} events.`, true);
  else result('#a-trim-result', `${res.status}: ${res.body ? res.body.error : ''}`, false);
  load();
});

$('#admin-login').addEventListener('submit', (e) => {
  e.preventDefault();
  const token = $('#a-token').value.trim();
  $('#a-token').value = '';
  if (token) sessionStorage.setItem(tokenKey, token);
  else sessionStorage.removeItem(tokenKey);
  load();
});

$('#a-forget').addEventListener('click', () => {
  sessionStorage.removeItem(tokenKey);
  load();
});

load();
