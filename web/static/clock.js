// The clock: plain "message" events, as the first seed's endpoint sends.
import { $, el, stream, flash } from './common.js';

const es = stream('/events?topic=demo/clock', {
  message: (text, ev) => {
    $('#now').textContent = text;
    flash($('#now'), 'flash-new');
    $('#last-id').textContent = ev.lastEventId;
    const list = $('#ticks');
    list.prepend(el('li', {}, el('div', { class: 'data', text }), el('div', { class: 'meta', text: `id ${ev.lastEventId}` })));
    while (list.children.length > 20) list.lastChild.remove();
  },
}, { json: false });

// readyState: 0 connecting or reconnecting, 1 open, 2 closed for good.
const showState = () => { $('#ready').textContent = String(es.readyState); };
es.addEventListener('open', showState);
es.addEventListener('error', showState);
showState();
