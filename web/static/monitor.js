// The monitoring wall: a sample every second, alarms when a figure
// crosses a threshold. Thresholds are the server's; this page sets them
// with POST /demo/monitor/thresholds and hears every change as an event.
import { $, el, stream, postJSON, getJSON, fmtInt, fmtFixed, fmtBytes, fmtTime } from './common.js';

const names = { cpu: 'Host CPU', memory: 'Host memory', goroutines: 'Goroutines', connections: 'Open connections', eventsPerSec: 'Events / s' };
const raised = new Set();
let thresholds = {};

function set(id, text) { $(`#${id}`).textContent = text; }

function bar(id, pct) {
  // A CSSOM change, allowed by the page's content security policy.
  $(`#${id}`).style.width = `${Math.min(100, Math.max(0, pct || 0))}%`;
}

function sample(s) {
  set('m-cpu', s.cpu === null ? '—' : `${fmtFixed(s.cpu)} %`);
  bar('b-cpu', s.cpu);
  set('m-ncpu', fmtInt(s.numCPU));
  set('m-memory', s.memory === null ? '—' : `${fmtFixed(s.memory)} %`);
  bar('b-memory', s.memory);
  set('m-memsub', s.memTotal ? `${fmtBytes(s.memUsed)} of ${fmtBytes(s.memTotal)}` : 'not available here');
  set('m-goroutines', fmtInt(s.goroutines));
  set('m-heap', fmtBytes(s.heapBytes));
  set('m-rss', s.rss ? fmtBytes(s.rss) : '—');
  set('m-connections', fmtInt(s.connections));
  set('m-eventsPerSec', fmtFixed(s.eventsPerSec));
  const figs = $('#figures');
  figs.dataset.samples = String(Number(figs.dataset.samples || 0) + 1);
}

function showThresholds(t) {
  thresholds = t;
  const rules = Object.entries(t).map(([k, v]) => `${names[k]} above ${v}`);
  $('#t-list').textContent = rules.length ? `Alarms when: ${rules.join(' · ')}.` : 'No thresholds set.';
  for (const fig of document.querySelectorAll('.figure[data-metric]')) {
    const m = fig.dataset.metric;
    fig.title = m in t ? `Alarm above ${t[m]}` : '';
  }
}

function alarm(a) {
  const list = $('#alarms');
  if (list.querySelector('.muted')) list.replaceChildren();
  const text = a.state === 'raised'
    ? `${fmtTime(a.time)} — ${names[a.metric]} is ${a.value}, above ${a.threshold}`
    : `${fmtTime(a.time)} — ${names[a.metric]} is back at or below ${a.threshold}`;
  list.prepend(el('li', { class: a.state, data: { metric: a.metric }, text }));
  if (a.state === 'raised') raised.add(a.metric); else raised.delete(a.metric);
  for (const fig of document.querySelectorAll('.figure[data-metric]')) {
    fig.classList.toggle('alarm', raised.has(fig.dataset.metric));
  }
}

async function change(value) {
  const metric = $('#metric').value;
  const res = await postJSON('/demo/monitor/thresholds', { [metric]: value });
  const out = $('#t-result');
  out.className = `result ${res.ok ? 'ok' : 'err'}`;
  out.textContent = res.ok ? (value === null ? `${names[metric]}: threshold cleared.` : `${names[metric]}: alarm above ${value}.`) : res.body.error;
}

$('#thresholds').addEventListener('submit', (e) => {
  e.preventDefault();
  change(Number($('#value').value));
});
$('#clear').addEventListener('click', () => change(null));
$('#metric').addEventListener('change', () => {
  const v = thresholds[$('#metric').value];
  $('#value').value = v === undefined ? '' : v;
});

getJSON('/demo/monitor/thresholds').then((r) => showThresholds(r.thresholds));
stream('/events?topic=monitor/host&topic=monitor/alarms', { sample, alarm, thresholds: showThresholds });
