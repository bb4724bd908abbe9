// Types of ssehub.js, the hub's browser client (served at /ssehub.js).

/** What the hub says when it cannot resume after a Last-Event-ID. */
export interface ResetInfo {
  /** "unknown-id": the hub never had the id; "expired": retention removed events after it. */
  reason: "unknown-id" | "expired" | string;
  /** The id the client asked to resume after. */
  lastEventId: string;
  /** The hub's position: the stream continues live from here. */
  resumeFrom: string;
}

/** What ssehub's POST /events reads from a JSON body. */
export interface SubscribeRequest {
  topic: string | string[];
  lastEventID?: string;
}

/** A POST subscription's body. */
export type SubscribeBody = SubscribeRequest | Record<string, unknown> | string | URLSearchParams | Blob;

export interface HubSourceOptions {
  /** Topic selectors, added to the URL as ?topic=…, or with method "POST" and no body sent as the JSON body {"topic": topics}. */
  topics?: string[];
  /** "GET" (default) or "POST": a POST sends its subscription in the body, for selector lists longer than a URL may be. */
  method?: "GET" | "POST";
  /**
   * The POST body, sent as is at every connection: a plain object (as JSON), a string, URLSearchParams
   * (as a form), a Blob, or a function giving one, asked at every connection. The resume id goes in the
   * Last-Event-ID header, which the hub prefers to a lastEventID in the body.
   */
  body?: SubscribeBody | (() => SubscribeBody | Promise<SubscribeBody>);
  /** A token, or a function giving one (asked at every connection), sent as "Authorization: Bearer …". */
  token?: string | (() => string | Promise<string>);
  /** More request headers. */
  headers?: HeadersInit;
  /** The id to resume after on the first connection (later ones use the stream's own). */
  lastEventId?: string;
  /** Reconnection time in milliseconds until the stream sets one with `retry` (default 3000). */
  retry?: number;
  /** The longest wait between failed attempts, in milliseconds (default 30000). */
  maxRetry?: number;
  /** Send cookies to another origin, as EventSource's option. */
  withCredentials?: boolean;
  /** Called when the hub answers with an `ssehub-reset` event: reload your state. */
  onReset?: (info: ResetInfo, event: MessageEvent<string>) => void;
  /** Called with every event, whatever its type (EventSource hands a type only to its own listeners). */
  onEvent?: (event: MessageEvent<string>) => void;
}

/** An error event of a HubSource: `status` is the HTTP status of a refused attempt, else 0. */
export interface HubSourceErrorEvent extends Event {
  readonly status: number;
}

/** An event stream with EventSource's interface, plus headers, an explicit resume id and backoff. */
export declare class HubSource extends EventTarget {
  static readonly CONNECTING: 0;
  static readonly OPEN: 1;
  static readonly CLOSED: 2;
  constructor(url: string | URL, options?: HubSourceOptions);
  readonly url: string;
  readonly withCredentials: boolean;
  readonly readyState: 0 | 1 | 2;
  /** The last event id, sent as Last-Event-ID when reconnecting. */
  readonly lastEventId: string;
  /** The reconnection time in effect, in milliseconds. */
  readonly retry: number;
  /** The HTTP status of the last refused connection attempt, or 0. */
  readonly status: number;
  onopen: ((this: HubSource, ev: Event) => any) | null;
  onmessage: ((this: HubSource, ev: MessageEvent<string>) => any) | null;
  onerror: ((this: HubSource, ev: HubSourceErrorEvent) => any) | null;
  close(): void;
  addEventListener(type: string, listener: (ev: MessageEvent<string>) => any, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
}

/** One dispatched event as the parser returns it. */
export interface ParsedEvent {
  type: string;
  data: string;
  lastEventId: string;
}

/** The spec's stream parser: feed it bytes, get the events they complete. */
export declare class EventStreamParser {
  constructor(lastEventId?: string);
  lastEventId: string;
  /** The reconnection time the stream last set, in milliseconds, or null. */
  retry: number | null;
  oncomment: ((text: string) => void) | null;
  feed(bytes: Uint8Array): ParsedEvent[];
  /** Ends the stream (an unfinished event is discarded); ready for the next one. */
  end(): void;
}

/** The wait before reconnection attempt n (0: after an open stream ended). */
export declare function backoff(n: number, retry: number, maxRetry: number, random?: () => number): number;
