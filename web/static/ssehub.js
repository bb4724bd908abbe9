// ssehub.js: an event stream client for what EventSource cannot do. It sends
// an Authorization header (a token need not sit in a cookie or a URL), a POST
// subscription with a body (selector lists longer than a URL may be), starts
// from an explicit resume id, reconnects with exponential backoff and jitter
// while honouring the stream's `retry` as EventSource does, sends
// Last-Event-ID on every reconnection, and hands the hub's `ssehub-reset`
// event to a callback. No dependencies; served by the hub at /ssehub.js.
//
//   import { HubSource } from "/ssehub.js";
//   const src = new HubSource("/events", { topics: ["chat/lobby"], token, onReset: reload });
//   src.addEventListener("chat-message", (e) => show(e.data, e.lastEventId));
//   new HubSource("/events", { method: "POST", topics: manyRooms }); // selectors in a JSON body
//
// Types: /ssehub.d.ts.

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 2;

// The longest delay setTimeout keeps: a larger one would fire at once.
const MAX_DELAY = 2 ** 31 - 1;

// EventStreamParser interprets a text/event-stream as the WHATWG HTML
// standard says (and as package sse of ssehub does): UTF-8 with one leading
// BOM skipped and invalid bytes replaced; lines ending at LF, CRLF or a lone
// CR, even split across chunks; one optional space after the colon; "id"
// with a NUL ignored; "retry" of ASCII digits only; dispatch at a blank line,
// where the last event id is set even when nothing is dispatched; nothing
// dispatched for an unfinished event when the stream ends.
export class EventStreamParser {
  #decoder = new TextDecoder("utf-8");
  #pending = ""; // an unfinished line
  #skipLF = false; // the last line ended with CR: a LF right after it belongs to it
  #data = "";
  #type = "";
  #id = "";

  // The last event id, as of the latest blank line.
  lastEventId = "";
  // The reconnection time in milliseconds the stream last set, or null.
  retry = null;
  // Called with the text of each comment line, if set.
  oncomment = null;

  constructor(lastEventId = "") {
    this.lastEventId = this.#id = lastEventId;
  }

  // feed takes the next bytes (a Uint8Array) of the stream and returns the
  // events they complete: {type, data, lastEventId}.
  feed(bytes) {
    return this.#lines(this.#decoder.decode(bytes, { stream: true }));
  }

  // end finishes the stream: an unfinished line or event is discarded. The
  // parser is then ready for the next stream, as a client is when it
  // reconnects: that stream may start with a BOM, and the last event id and
  // the reconnection time are kept.
  end() {
    this.#decoder.decode(); // flush and forget
    this.#decoder = new TextDecoder("utf-8");
    this.#pending = this.#data = this.#type = "";
    this.#skipLF = false;
    this.#id = this.lastEventId;
  }

  #lines(text) {
    const out = [];
    let s = text;
    let i = 0;
    if (this.#skipLF && s.length > 0) {
      this.#skipLF = false;
      if (s[0] === "\n") i = 1;
    }
    if (this.#pending !== "") {
      s = this.#pending + s.slice(i);
      i = 0;
      this.#pending = "";
    }
    const eol = /[\r\n]/g;
    for (;;) {
      eol.lastIndex = i;
      const m = eol.exec(s);
      if (m === null) {
        this.#pending = s.slice(i);
        return out;
      }
      const j = m.index;
      const line = s.slice(i, j);
      i = j + 1;
      if (s[j] === "\r") {
        if (i === s.length) this.#skipLF = true;
        else if (s[i] === "\n") i++;
      }
      this.#line(line, out);
    }
  }

  #line(line, out) {
    if (line === "") {
      this.#dispatch(out);
      return;
    }
    if (line[0] === ":") {
      if (this.oncomment) this.oncomment(line[1] === " " ? line.slice(2) : line.slice(1));
      return;
    }
    let name = line;
    let value = "";
    const colon = line.indexOf(":");
    if (colon >= 0) {
      name = line.slice(0, colon);
      value = line.slice(colon + (line[colon + 1] === " " ? 2 : 1));
    }
    switch (name) {
      case "event":
        this.#type = value;
        break;
      case "data":
        this.#data += value + "\n";
        break;
      case "id":
        if (!value.includes("\0")) this.#id = value;
        break;
      case "retry":
        if (/^[0-9]+$/.test(value)) this.retry = Math.min(Number(value), MAX_DELAY);
        break;
    }
  }

  #dispatch(out) {
    this.lastEventId = this.#id;
    if (this.#data === "") {
      this.#type = "";
      return;
    }
    out.push({ type: this.#type || "message", data: this.#data.slice(0, -1), lastEventId: this.lastEventId });
    this.#data = this.#type = "";
  }
}

// backoff returns how long to wait before reconnection attempt n: n = 0
// after a stream that was open ended (the reconnection time, exactly, as
// EventSource waits), and for the n-th failed attempt in a row the
// reconnection time doubled n times, capped, times a random factor in
// [1, 1.5) so that clients cut off together do not come back together.
export function backoff(n, retry, maxRetry, random = Math.random) {
  if (n === 0) return Math.min(retry, MAX_DELAY);
  const base = Math.min(retry * 2 ** n, maxRetry);
  return Math.min(Math.round(base * (1 + random() / 2)), MAX_DELAY);
}

// HubSource is an event stream with the interface of EventSource
// (readyState, url, lastEventId, onopen, onmessage, onerror,
// addEventListener per event type, close) and more. Options:
//   topics       selectors added to the URL as ?topic=…, or with method POST
//                and no body, sent as the JSON body {"topic": topics}
//   method       "GET" (default) or "POST"
//   body         the POST body: a plain object (sent as JSON), a string,
//                URLSearchParams (sent as a form), a Blob, or a function
//                returning one (or a promise of one), asked again at every
//                connection. The body is sent as is on every connection: the
//                resume id goes in the Last-Event-ID header, which the hub
//                prefers to a lastEventID in the body.
//   token        a token, or a function returning one (or a promise of one),
//                asked again at every connection, sent as "Authorization: Bearer …"
//   headers      more request headers
//   lastEventId  the id to resume after on the first connection
//   retry        the reconnection time (ms) until the stream sets one (default 3000)
//   maxRetry     the longest wait between failed attempts (ms, default 30000)
//   withCredentials  send cookies to another origin (as EventSource's option)
//   onReset      called with ({reason, lastEventId, resumeFrom}, event) when
//                the hub answers that it cannot resume: reload your state
//   onEvent      called with every event, whatever its type (EventSource
//                hands a type only to listeners registered for it)
// A 200 answer that is not text/event-stream, or a 4xx other than 408 and
// 429, closes the source, as EventSource does; network errors, 408, 429
// and 5xx are retried (no sooner than a Retry-After). (Chromium itself
// retries a 408 on a reused connection before the page sees it.)
export class HubSource extends EventTarget {
  static CONNECTING = CONNECTING;
  static OPEN = OPEN;
  static CLOSED = CLOSED;

  readyState = CONNECTING;
  onopen = null;
  onmessage = null;
  onerror = null;
  // The status of the last refused connection attempt, or 0.
  status = 0;

  #opts;
  #origin;
  #parser;
  #abort = null;
  #wake = null;

  constructor(url, options = {}) {
    super();
    const u = new URL(url, globalThis.location ? globalThis.location.href : undefined);
    const method = (options.method || "GET").toUpperCase();
    if (method === "GET") for (const t of options.topics || []) u.searchParams.append("topic", t);
    this.url = u.href;
    this.#origin = u.origin;
    this.withCredentials = !!options.withCredentials;
    this.#opts = { retry: 3000, maxRetry: 30000, ...options, method };
    this.#parser = new EventStreamParser(options.lastEventId || "");
    this.#run();
  }

  get lastEventId() {
    return this.#parser.lastEventId;
  }

  // The reconnection time in effect: the stream's last retry, else the option.
  get retry() {
    return this.#parser.retry ?? this.#opts.retry;
  }

  close() {
    this.readyState = CLOSED;
    if (this.#abort) this.#abort.abort();
    if (this.#wake) this.#wake();
  }

  async #run() {
    let failures = 0;
    while (this.readyState !== CLOSED) {
      const result = await this.#connect();
      if (this.readyState === CLOSED) return;
      if (result.fatal) {
        this.readyState = CLOSED;
        this.#emit(Object.assign(new Event("error"), { status: result.status }));
        return;
      }
      failures = result.opened ? 0 : failures + 1;
      this.readyState = CONNECTING;
      this.#emit(Object.assign(new Event("error"), { status: result.status || 0 }));
      if (this.readyState === CLOSED) return;
      const delay = Math.max(backoff(failures, this.retry, this.#opts.maxRetry), result.retryAfter || 0);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = null;
    }
  }

  // connect makes one connection and reads it to its end. It reports
  // whether the stream opened, and for a refused one its status, whether
  // that is final, and the Retry-After delay.
  async #connect() {
    const abort = (this.#abort = new AbortController());
    let opened = false;
    try {
      const headers = new Headers(this.#opts.headers || {});
      headers.set("Accept", "text/event-stream");
      let token = this.#opts.token;
      if (typeof token === "function") token = await token();
      if (token) headers.set("Authorization", "Bearer " + token);
      if (this.lastEventId) headers.set("Last-Event-ID", this.lastEventId);
      const body = await this.#body(headers);
      if (this.readyState === CLOSED) return {};
      const res = await fetch(this.url, {
        method: this.#opts.method,
        body,
        headers,
        cache: "no-store",
        credentials: this.withCredentials ? "include" : "same-origin",
        signal: abort.signal,
      });
      const type = (res.headers.get("Content-Type") || "").split(";")[0].trim().toLowerCase();
      if (res.status !== 200 || type !== "text/event-stream") {
        res.body?.cancel().catch(() => {});
        this.status = res.status;
        const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
        const after = Number(res.headers.get("Retry-After"));
        return { status: res.status, fatal: !retryable, retryAfter: after > 0 ? Math.min(after * 1000, MAX_DELAY) : 0 };
      }
      this.status = 0;
      this.readyState = OPEN;
      opened = true;
      this.#emit(new Event("open"));
      const reader = res.body.getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const ev of this.#parser.feed(value)) this.#dispatch(ev);
        if (this.readyState === CLOSED) {
          reader.cancel().catch(() => {});
          break;
        }
      }
    } catch {
      // A network error or close(): the loop decides what follows.
    } finally {
      this.#parser.end();
      this.#abort = null;
    }
    return { opened };
  }

  // body returns what this connection sends as its body (none for GET),
  // setting the JSON Content-Type for a plain object.
  async #body(headers) {
    const { method, topics } = this.#opts;
    if (method === "GET" || method === "HEAD") return undefined;
    let body = this.#opts.body;
    if (typeof body === "function") body = await body();
    if (body === undefined || body === null) body = { topic: topics || [] };
    const proto = typeof body === "object" ? Object.getPrototypeOf(body) : undefined;
    if (proto !== Object.prototype && proto !== null) return body;
    if (!headers.has("Content-Type")) headers.set("Content-Type", "application/json");
    return JSON.stringify(body);
  }

  #dispatch(ev) {
    const me = new MessageEvent(ev.type, { data: ev.data, lastEventId: ev.lastEventId, origin: this.#origin });
    if (ev.type === "ssehub-reset" && this.#opts.onReset) {
      let info = null;
      try {
        info = JSON.parse(ev.data);
      } catch {
        info = { reason: "unknown", lastEventId: "", resumeFrom: ev.lastEventId };
      }
      call(this.#opts.onReset, this, info, me);
    }
    if (this.#opts.onEvent) call(this.#opts.onEvent, this, me);
    this.#emit(me);
  }

  #emit(ev) {
    const handler = this["on" + ev.type];
    if ((ev.type === "open" || ev.type === "message" || ev.type === "error") && typeof handler === "function") {
      call(handler, this, ev);
    }
    this.dispatchEvent(ev);
  }
}

// call runs a callback of the page. An exception in it is reported as
// an uncaught one, as dispatchEvent does for listeners, and does not
// reach the stream: a failing handler must not make the source reconnect.
function call(fn, self, ...args) {
  try {
    fn.apply(self, args);
  } catch (err) {
    if (typeof globalThis.reportError === "function") globalThis.reportError(err);
    else setTimeout(() => { throw err; });
  }
}
