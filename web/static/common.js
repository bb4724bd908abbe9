// Helpers shared by every page. No framework: a few DOM and EventSource
// helpers, and number formatting.

export const $ = (sel, root = document) => root.querySelector(sel);

// el builds an element. props: {class, text, title, data: {k: v}, ...attrs}.
// Text always goes through textContent, so event data is never parsed as HTML.
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k === 'data') Object.assign(node.dataset, v);
    else node.setAttribute(k, v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

// stream opens an EventSource on url and keeps the header's connection pill
// (#conn) up to date. handlers maps event types to functions of
// (data, event); data is parsed as JSON when json is true.
export function stream(url, handlers, { json = true, onOpen } = {}) {
  const es = new EventSource(url);
  setConn('connecting', 'connecting…');
  es.onopen = () => {
    setConn('live', 'live');
    if (onOpen) onOpen(es);
  };
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) setConn('closed', 'disconnected');
    else setConn('connecting', 'reconnecting…');
  };
  for (const [type, fn] of Object.entries(handlers)) {
    es.addEventListener(type, (ev) => fn(json ? JSON.parse(ev.data) : ev.data, ev));
  }
  return es;
}

function setConn(state, text) {
  const pill = $('#conn');
  if (!pill) return;
  pill.dataset.state = state;
  pill.textContent = text;
}

// postJSON posts body as JSON and resolves to {ok, status, body}, where
// body is the parsed answer (or {error: text} when it is not JSON).
export async function postJSON(url, body, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let parsed;
  try { parsed = JSON.parse(text); } catch { parsed = { error: text.trim() || res.statusText }; }
  return { ok: res.ok, status: res.status, body: parsed };
}

export async function getJSON(url) {
  const res = await fetch(url, { headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return res.json();
}

// flash replays a CSS animation class on node.
export function flash(node, cls) {
  node.classList.remove('flash-up', 'flash-down', 'flash-new');
  void node.offsetWidth; // restart the animation
  node.classList.add(cls);
}

const nf = new Intl.NumberFormat();
export const fmtInt = (n) => (n === null || n === undefined ? '—' : nf.format(Math.round(n)));
export const fmtFixed = (n, d = 1) => (n === null || n === undefined ? '—' : n.toFixed(d));

export function fmtBytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export const fmtTime = (t) => new Date(t).toLocaleTimeString();

// randomID returns a random identifier of letters and digits.
export function randomID(n = 16) {
  const bytes = crypto.getRandomValues(new Uint8Array(n));
  return Array.from(bytes, (b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('');
}
