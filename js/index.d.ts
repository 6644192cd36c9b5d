// Types for ssekit (CommonJS and, through index.d.mts, ESM).
// Only names that both the DOM library and @types/node declare (Event,
// EventTarget, Headers, Response, RequestInit, ReadableStream, URL,
// AbortSignal): a Node project without "dom" in its lib type-checks too.

/** A request body, as fetch() takes it. */
type RequestBody = RequestInit['body'];
/** Headers, as `new Headers()` takes them. */
type HeadersInput = ConstructorParameters<typeof Headers>[0];
type ListenerObject = Parameters<EventTarget['addEventListener']>[1];
type ListenerOptions = Parameters<EventTarget['addEventListener']>[2];
type RemoveListenerOptions = Parameters<EventTarget['removeEventListener']>[2];

/** One dispatched event. A fresh object per event: keep it if you like. */
export interface SseEvent {
  /** The `event:` field, or "message" when the stream gave none. */
  type: string;
  /** The `data:` lines joined by "\n", without a trailing "\n". */
  data: string;
  /** The last event id in force when the event was dispatched. */
  lastEventId: string;
}

export interface ParserOptions {
  /** A complete event. */
  onEvent?: (event: SseEvent) => void;
  /** A comment line: everything after the leading ":" (no space stripped). Servers send these as heartbeats. */
  onComment?: (text: string) => void;
  /** A valid `retry:` field in milliseconds (exact up to 2^53; larger values are rounded). */
  onRetry?: (milliseconds: number) => void;
  /** Longest accepted line in bytes, line end excluded. Default 32 MiB; Infinity, or any value above 536,870,888 (2^29-24, V8's longest string), means 536,870,888. */
  maxLineLength?: number;
  /** Largest accepted event in bytes: its data (data lines joined by LF), type and id, as received. Default 32 MiB; Infinity, or any value above 536,870,888 (2^29-24, V8's longest string), means 536,870,888. */
  maxEventSize?: number;
}

export interface Parser {
  /**
   * Parses the next chunk (a string is UTF-8 encoded first); chunks may be split anywhere.
   * Callbacks run inside feed(), in stream order. Throws SseParseError after delivering
   * what came before the error; the error is sticky: every later feed() and finish()
   * throws it again until reset(). A callback must not call feed(), finish() or reset()
   * of the same parser (that throws an Error with `code` 'called_from_callback'); close() is allowed and stops delivery.
   * A callback that throws: feed() rethrows it, the rest of the chunk is not delivered, lastEventId is the id of the
   * last event delivered, and feed() and finish() throw an Error with `code` 'feed_interrupted' until reset().
   */
  feed(chunk: Chunk): void;
  /** End of stream: drops an unterminated event. Throws the sticky error, if any. */
  finish(): void;
  /**
   * Feeds every chunk of `source`, then calls finish(). Rejects with the parse error (and cancels the source).
   * Stops early, without finish(), when the parser is closed (from a callback or from outside): a read that
   * is waiting is abandoned, and the source cancelled (a Node stream destroyed). One at a time: another call
   * meanwhile rejects with code 'already_started'.
   */
  readFrom(source: ChunkSource): Promise<void>;
  /** Prepares for a new stream (a reconnect): clears all stream state and the error, keeps the options and lastEventId. */
  reset(): void;
  /** Gives the parser's WebAssembly memory back (each parser has its own instance). Any later use except close() throws. */
  close(): void;
  /** Bytes of WebAssembly memory the parser holds: 0 before its instance exists and after close(). */
  readonly memoryBytes: number;
  /**
   * The last event id: the value of the last `id:` field that was followed by a dispatch.
   * Setting it (e.g. to the id a client resumes from) gives later events that id until the stream sends `id:`;
   * it also replaces an `id:` of an event not yet dispatched (the latest id wins).
   * Not from inside the parser's callbacks (it throws there, as feed() does): they run after the whole chunk was read.
   * An id with CR, LF or NUL, which the format can't carry, throws a TypeError with `code` 'invalid_event_id'.
   */
  lastEventId: string;
  /** True after close(). */
  readonly closed: boolean;
}

/** A chunk of the stream: bytes, or text (UTF-8 encoded by feed()). */
export type Chunk = Uint8Array | ArrayBufferView | ArrayBuffer | string;
/** Anything readFrom() reads: a fetch Response, a ReadableStream, a Node stream, an (async) iterable of chunks, or one chunk. */
export type ChunkSource = Response | ReadableStream<Chunk> | AsyncIterable<Chunk> | Iterable<Chunk> | Chunk;

/**
 * A parser. In Node and workers it is ready at once. On a browser's main thread call
 * `await ready()` first: otherwise the first feed() compiles the WebAssembly synchronously.
 * Throws SseLoadError when the page's CSP forbids WebAssembly or the engine has none,
 * and a TypeError for an option it does not know (e.g. eventsource-parser's onError).
 */
export function createParser(options?: ParserOptions | null): Parser;

/** Compiles the WebAssembly (the parser's and the serializer's modules, those imported) asynchronously, once; later calls resolve at once. Rejects with SseLoadError. */
export function ready(): Promise<void>;

export type SseLoadErrorCode = 'csp_blocked' | 'wasm_unavailable' | 'missing_build' | 'load_failed' | 'compile_failed' | 'out_of_memory';

/** The WebAssembly could not be loaded; 'csp_blocked': the page's Content-Security-Policy lacks 'wasm-unsafe-eval'; 'wasm_unavailable': the engine has WebAssembly turned off. */
export class SseLoadError extends Error {
  /** Made by the package; exported for `instanceof`. */
  private constructor();
  readonly name: 'SseLoadError';
  readonly code: SseLoadErrorCode;
}

export type SseParseErrorCode = 'line_too_long' | 'event_too_large' | 'feed_after_finish';
export type SseSerializeErrorCode = 'invalid_event_type' | 'invalid_event_id' | 'invalid_comment';

export class SseParseError extends Error {
  /** Made by the parser; exported for `instanceof`. */
  private constructor();
  readonly name: 'SseParseError';
  /** The core's error name. */
  readonly code: SseParseErrorCode;
  /** Bytes from the start of the stream (a BOM included) to the start of the offending line. */
  readonly offset: number;
}

export class SseSerializeError extends Error {
  /** Made by the serializers; exported for `instanceof`. */
  private constructor();
  readonly name: 'SseSerializeError';
  /** The core's error name. */
  readonly code: SseSerializeErrorCode;
}

export interface OutgoingEvent {
  /** Always written; CR, LF and CRLF inside split it over several `data:` lines. */
  data: string;
  /** Omitted (or undefined) or "": no `event:` line. Must not contain CR or LF. */
  type?: string | undefined;
  /** Omitted (or undefined): no `id:` line. "" resets the reader's last event id. Must not contain CR, LF or NUL. */
  id?: string | undefined;
  /**
   * An event as `stream()` and the parsers give it (`serializeEvent(e)` in a relay): its id,
   * written when `id` is omitted, "" too (`id:` alone, so a reset upstream resets the reader's id).
   */
  lastEventId?: string | undefined;
  /** Milliseconds, 0 to 2^64-1: a `retry:` line before the event. */
  retry?: number | bigint | undefined;
}

/** One complete event, ending with an empty line. Throws SseSerializeError for a type or id that cannot be written. */
export function serializeEvent(event: OutgoingEvent): string;
/** `:text` and a line end. Throws SseSerializeError (invalid_comment) if `text` contains CR or LF. */
export function serializeComment(text: string): string;
/** `retry: N` and a line end. */
export function serializeRetry(milliseconds: number | bigint): string;
/** An empty comment line, the usual keep-alive. */
export function serializeHeartbeat(): string;

// --- EventSource and stream(): HTTP on fetch(), parsing by the core.

/** Why a connection failed or ended. */
export type SseErrorReason =
  | 'network_error'
  | 'http_status'
  | 'no_content'
  | 'wrong_content_type'
  | 'limit_exceeded'
  | 'idle_timeout'
  | 'end_of_stream'
  /** A custom fetch() gave no response, or a body that is not a ReadableStream, a Node stream or an async iterable of bytes. */
  | 'invalid_response'
  /** The URL has user:pass@, or a scheme fetch() can't fetch (not http:, https:, data: or blob:): the connection fails at once. */
  | 'invalid_url'
  /** Browsers: another origin answered but does not allow this one to read the stream (CORS); the connection fails, as the browser's does. */
  | 'cors_refused'
  /** Node: a redirect to a scheme fetch() does not follow (ftp:, javascript:, ...); the connection fails, as Chromium's does. (In browsers fetch() does not say why, and it stays a network_error.) */
  | 'redirect_refused'
  /** The onAttempt hook threw, rejected, gave a request that can't be sent, or took longer than attemptHookTimeout: nothing was sent; EventSource backs off and tries again. */
  | 'attempt_hook_failed'
  /** The parser got no WebAssembly memory (the engine's are used up: about 125 per Chromium renderer process, with the page's other code), or its memory ran out on an event within the limits: the connection fails. */
  | 'out_of_memory';

export class SseError extends Error {
  /** Made by the package; public so that tests and custom fetches can make one (`details.cause` becomes `cause`). */
  constructor(reason: SseErrorReason, message: string, details?: { status?: number; headers?: Headers | null; body?: string; url?: string; cause?: unknown });
  readonly name: 'SseError';
  readonly reason: SseErrorReason;
  /** The response's status; 0 when there was no response. */
  readonly status: number;
  /** The response's headers; null when there was no response. With a custom fetch, whatever headers object its response had (only get() is certain). */
  readonly headers: Headers | null;
  /** For http_status and wrong_content_type: the first KiB of the body. */
  readonly body: string;
  /** The URL that was requested. */
  readonly url: string;
}

/** What the next attempt sends; the onAttempt hook may change it (kept for later attempts). */
export interface AttemptRequest {
  url: string;
  method: string;
  headers: Headers;
  body: RequestBody;
}

/** Which attempt the onAttempt hook runs before (the C++ client's attempt_info). */
export interface AttemptInfo {
  readonly kind: 'first' | 'reconnect';
  /** 1 for the first attempt. */
  readonly number: number;
  /** Attempts in a row that ended without an event. */
  readonly failures: number;
  /** How the previous attempt ended: its SseError reason (null before any) and HTTP status (0 without one); 401 is the cue to refresh a token. */
  readonly previousReason: SseErrorReason | null;
  readonly previousStatus: number;
}

/** What a custom fetch may give instead of a Response (e.g. node-fetch's, or a hand-made one). */
export interface ResponseLike {
  readonly status: number;
  readonly statusText?: string;
  readonly headers: { get(name: string): string | null };
  /** A Node stream is an AsyncIterable of Buffers (Uint8Arrays). */
  readonly body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | string> | null;
  /** Where redirects led, if any. */
  readonly url?: string;
}

/**
 * What a custom fetch is given: a plain object, only these fields. Typed by
 * what ssekit sends, not as the DOM's RequestInit, so that a fetch with its
 * own init type (undici's, node-fetch's) fits as it is.
 */
export interface SseFetchInit {
  method: string;
  /** Lower-case names; `{ ...init.headers }` copies them. */
  headers: Record<string, string>;
  /** The `body` option as given (a string, bytes, a Blob, FormData, a stream...); absent or null without one. */
  body?: any;
  signal: AbortSignal;
  cache: 'no-store';
  credentials: 'include' | 'same-origin';
  /** 'no-cors' only for the check whether a cross-origin server answers at all (README, cross-origin streams). */
  mode: 'cors' | 'no-cors';
  redirect: 'follow';
  /** With a body that streams, which Node's fetch requires. */
  duplex?: 'half';
}

/** Options of every request, for EventSource and stream(). */
export interface RequestOptions {
  /** Sent with every request; `Accept: text/event-stream` and `Last-Event-ID` are set by ssekit. */
  headers?: HeadersInput;
  /** Default GET. CONNECT, TRACE and TRACK (which fetch() never sends) throw a TypeError, as does a body with GET or HEAD. */
  method?: string;
  body?: RequestBody;
  /** Default globalThis.fetch. `init.headers` is a plain object (lower-case names), which `{ ...init.headers }` copies. May give a Response or any object with `status`, `headers.get()` and a body that is a ReadableStream, a Node stream or an async iterable of bytes or strings. */
  fetch?: (url: string, init: SseFetchInit) => Promise<Response | ResponseLike>;
  /** Also send the last event id in this URL query parameter (UTF-8, percent-encoded): for cross-origin servers that can't answer the preflight Last-Event-ID needs. */
  lastEventIdQuery?: string;
  /** Cookies and credentials for cross-origin requests (fetch's credentials: 'include'). */
  withCredentials?: boolean;
  /** The id to resume from: sent as Last-Event-ID on the first request, carried by events until the stream sets one. A control character other than tab (it goes in a header) throws a TypeError. */
  lastEventId?: string;
  /** Milliseconds without a byte (comments count) after which the connection is treated as dead. Default 0: never. It counts only while a read waits: not while the listeners (EventSource) or the loop's body (stream()) run. */
  idleTimeout?: number;
  /** Parser limits, as in createParser(); exceeding one fails with reason limit_exceeded. */
  maxLineLength?: number;
  maxEventSize?: number;
  /** Runs before every attempt: change `request` in place or return an object of its shape (members left undefined keep their values; `body: null` removes the body); may be async. With it a 401 reconnects instead of failing. */
  onAttempt?: (request: AttemptRequest, info: AttemptInfo) => void | Partial<AttemptRequest> | Promise<void | Partial<AttemptRequest>>;
  /** How long onAttempt may take, in ms. Default 10000. */
  attemptHookTimeout?: number;
  /** 429 and 5xx answers reconnect (waiting at least Retry-After) instead of failing. Default false. */
  retryServerErrors?: boolean;
  /** The reconnection time until the server sends retry:, in ms. Default 3000, as browsers. */
  reconnectionTime?: number;
  /** Backoff after failures in a row; false: no growth and no jitter (the floor stays). */
  backoff?: BackoffOptions | false;
  /** Send a request with a body again after a stream opened (or after a request left unanswered). Default false: only after a refusal (connection refused, 429, 502, 503, 504; 401 with onAttempt), since replaying may repeat the request's effect. */
  replayBody?: boolean;
}

/** The wait before a reconnect: floor = max(reconnection time, minDelay) every time; after failures in a row floor × factor^(failures-1), at most max(maxDelay, floor), minus up to `jitter` of it at random, never below the floor. Integer milliseconds. */
export interface BackoffOptions {
  /** 1 to 100, default 2. */
  factor?: number;
  /** Default 10000 ms (never below the server's retry: value). */
  maxDelay?: number;
  /** The least wait before any reconnect (at least 1), so retry: 0 can't make a reconnect storm; the C++ client's backoff.min_delay. Default 250 ms. */
  minDelay?: number;
  /** Fraction 0..1, default 0.5. */
  jitter?: number;
}

export interface EventSourceOptions extends RequestOptions {}

/**
 * The `error` event ssekit dispatches; `error` says why. A server's own
 * `event: error` reaches the same listeners as an SseMessageEvent, whose
 * `error` is undefined: test `e.error` (EventSourceEventMap['error'] is both).
 */
export interface SseErrorEvent extends Event {
  readonly error: SseError;
  /** Milliseconds until the next attempt; null when the connection is closed. */
  readonly reconnectDelay: number | null;
}

/**
 * A `message` event, or one of another type the stream names: a MessageEvent
 * (`instanceof MessageEvent` holds at run time) whose data is a string. Declared
 * here, not as MessageEvent<string>, because @types/node's MessageEvent is not
 * generic; a handler typed `(e: MessageEvent) => ...` still fits.
 */
export interface SseMessageEvent extends Event {
  readonly data: string;
  readonly origin: string;
  readonly lastEventId: string;
  readonly source: null;
  readonly ports: ReadonlyArray<never>;
  initMessageEvent(type: string, bubbles?: boolean, cancelable?: boolean, data?: any, origin?: string, lastEventId?: string, source?: unknown, ports?: Iterable<unknown>): void;
  /** Never set: lets an `error` listener tell a server's `event: error` from ssekit's SseErrorEvent by `e.error`. */
  readonly error?: undefined;
  readonly reconnectDelay?: undefined;
}

export interface EventSourceEventMap {
  open: Event;
  message: SseMessageEvent;
  /** ssekit's SseErrorEvent, or a server's `event: error` (an SseMessageEvent; its `error` is undefined). */
  error: SseErrorEvent | SseMessageEvent;
}

/** The browser's EventSource, plus the options it lacks. */
export class EventSource extends EventTarget {
  constructor(url: string | URL, options?: EventSourceOptions);
  static readonly CONNECTING: 0;
  static readonly OPEN: 1;
  static readonly CLOSED: 2;
  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSED: 2;
  readonly url: string;
  readonly withCredentials: boolean;
  /** CONNECTING, OPEN or CLOSED (typed number, as the platform's, so ssekit's EventSource fits where the platform's is expected). */
  readonly readyState: number;
  // Set with ssekit's event types; read back as `any` (the handler or
  // null), which the platform's EventSource type takes whichever library
  // declares it: the DOM's handlers are nullable, @types/node's are not.
  get onopen(): any;
  set onopen(handler: ((this: EventSource, event: Event) => unknown) | null);
  get onmessage(): any;
  set onmessage(handler: ((this: EventSource, event: SseMessageEvent) => unknown) | null);
  get onerror(): any;
  set onerror(handler: ((this: EventSource, event: SseErrorEvent | SseMessageEvent) => unknown) | null);
  close(): void;
  addEventListener<K extends keyof EventSourceEventMap>(
    type: K,
    listener: (this: EventSource, event: EventSourceEventMap[K]) => unknown,
    options?: ListenerOptions,
  ): void;
  addEventListener(type: string, listener: (this: EventSource, event: SseMessageEvent) => unknown, options?: ListenerOptions): void;
  addEventListener(type: string, listener: ListenerObject, options?: ListenerOptions): void;
  removeEventListener<K extends keyof EventSourceEventMap>(
    type: K,
    listener: (this: EventSource, event: EventSourceEventMap[K]) => unknown,
    options?: RemoveListenerOptions,
  ): void;
  removeEventListener(type: string, listener: (this: EventSource, event: SseMessageEvent) => unknown, options?: RemoveListenerOptions): void;
  removeEventListener(type: string, listener: ListenerObject, options?: RemoveListenerOptions): void;
}

export interface StreamOptions extends RequestOptions {
  /** Aborting it ends the iteration with the abort reason and closes the connection. */
  signal?: AbortSignal;
}

/** An event from stream(): the parser's event plus the origin of the response. */
export interface StreamEvent extends SseEvent {
  origin: string;
}

/**
 * One request, its events as an async iterator; ends when the server ends the response, never reconnects once a stream opened
 * (a refused attempt goes again with retryServerErrors or onAttempt).
 * Throws SseError for a failed request or response, and the abort reason when `signal` aborts.
 * Options are checked at the call.
 */
export function stream(url: string | URL, options?: StreamOptions): AsyncGenerator<StreamEvent, void, undefined>;
