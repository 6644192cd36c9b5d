'use strict';
// EventSource (WHATWG HTML, "Server-sent events") and stream(), on fetch()
// response streams. Every byte goes through the core's parser (createParser
// in index.cjs); this file only does HTTP, timers and event dispatch.
//
// Steps follow the standard's wording: "announce the connection" (OPEN,
// `open`), "reestablish the connection" (CONNECTING, `error`, wait, fetch
// again with Last-Event-ID) and "fail the connection" (CLOSED, `error`).

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 2;
// The standard leaves the initial reconnection time to the user agent;
// browsers use 3 seconds.
const DEFAULT_RECONNECTION_TIME = 3000;
// setTimeout() fires at once for delays above 2^31-1 ms.
const MAX_TIMER_DELAY = 2 ** 31 - 1;
// An error response's body is read up to this many bytes for SseError.body.
const ERROR_BODY_LIMIT = 1024;
const DEFAULT_BACKOFF = Object.freeze({ factor: 2, maxDelay: 30_000, jitter: 0.5 });

// The parser (createParser, SseParseError, ready); parser.cjs does not
// require this file, so a bundle of the EventSource has no serializer.
const core = () => require('./parser.cjs');

class SseError extends Error {
  constructor(reason, message, details = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'SseError';
    // Why: 'network_error', 'http_status', 'no_content' (204),
    // 'wrong_content_type', 'limit_exceeded', 'idle_timeout', 'end_of_stream'.
    this.reason = reason;
    // The response, when there was one: status, headers, and for
    // 'http_status' and 'wrong_content_type' the first KiB of the body.
    this.status = details.status ?? 0;
    this.headers = details.headers ?? null;
    this.body = details.body ?? '';
    this.url = details.url ?? '';
  }
}

// --- Options shared by EventSource and stream()

function checkObject(value, what) {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object') throw new TypeError(`ssekit: ${what} must be an object`);
  return value;
}

function checkMilliseconds(value, name, fallback) {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0) || value === Infinity) {
    throw new RangeError(`ssekit: ${name} must be a non-negative number of milliseconds, got ${String(value)}`);
  }
  return value;
}

function checkBackoff(value) {
  if (value === undefined) return DEFAULT_BACKOFF;
  if (value === false) return null;
  const given = checkObject(value, 'backoff');
  const backoff = { ...DEFAULT_BACKOFF };
  if (given.factor !== undefined) {
    if (typeof given.factor !== 'number' || !(given.factor >= 1) || given.factor === Infinity) {
      throw new RangeError(`ssekit: backoff.factor must be a number >= 1, got ${String(given.factor)}`);
    }
    backoff.factor = given.factor;
  }
  backoff.maxDelay = checkMilliseconds(given.maxDelay, 'backoff.maxDelay', backoff.maxDelay);
  if (given.jitter !== undefined) {
    if (typeof given.jitter !== 'number' || !(given.jitter >= 0 && given.jitter <= 1)) {
      throw new RangeError(`ssekit: backoff.jitter must be a number from 0 to 1, got ${String(given.jitter)}`);
    }
    backoff.jitter = given.jitter;
  }
  return backoff;
}

// The request every connection of one EventSource or stream() sends;
// validated once, up front, so a bad header throws from the constructor.
function requestPlan(url, options, withCredentials, { sentOnce = false } = {}) {
  const fetchFunction = options.fetch === undefined ? globalThis.fetch : options.fetch;
  if (typeof fetchFunction !== 'function') {
    throw new TypeError('ssekit: no fetch() here; pass one as the `fetch` option');
  }
  const method = options.method === undefined ? 'GET' : String(options.method);
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(method)) throw new TypeError(`ssekit: invalid method ${JSON.stringify(method)}`);
  // Headers refuses names and values with CR, LF or NUL, before anything is sent.
  const headers = new Headers(options.headers);
  headers.set('accept', 'text/event-stream');
  const body = options.body === undefined || options.body === null ? null : options.body;
  if (!sentOnce && isReadableStream(body)) {
    throw new TypeError('ssekit: a ReadableStream body cannot be sent again on reconnect; pass a string, bytes or a Blob');
  }
  return { url, fetchFunction, method, headers, body, withCredentials };
}

function isReadableStream(body) {
  return typeof ReadableStream !== 'undefined' && body instanceof ReadableStream;
}

// Starts one request. The response's status and type are checked by checkResponse().
function send(plan, url, lastEventId, signal) {
  const headers = new Headers(plan.headers);
  if (lastEventId !== '') headers.set('last-event-id', lastEventId);
  // Called as a plain function: browsers' fetch throws "Illegal
  // invocation" when `this` is not the global object.
  const { fetchFunction } = plan;
  return fetchFunction(url, {
    method: plan.method,
    headers,
    body: plan.body,
    signal,
    // no-store: fetch adds Cache-Control: no-cache (and Pragma), as the
    // standard asks, without making the request "non-simple" for CORS.
    cache: 'no-store',
    credentials: plan.withCredentials ? 'include' : 'same-origin',
    mode: 'cors',
    redirect: 'follow',
    // Node's fetch() requires this to send a stream.
    ...(isReadableStream(plan.body) ? { duplex: 'half' } : {}),
  });
}

function isEventStream(contentType) {
  if (contentType === null) return false;
  // The MIME type's essence; parameters (charset=...) are allowed.
  const essence = contentType.split(';', 1)[0].trim().toLowerCase();
  return essence === 'text/event-stream';
}

// Reads up to ERROR_BODY_LIMIT bytes of a body for an error report, then
// cancels the rest.
async function bodyExcerpt(response) {
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const parts = [];
  let size = 0;
  try {
    while (size < ERROR_BODY_LIMIT) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      size += value.length;
    }
  } catch {
    // The excerpt is best effort: the status already says what went wrong.
  } finally {
    reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(Math.min(size, ERROR_BODY_LIMIT));
  let at = 0;
  for (const part of parts) {
    const n = Math.min(part.length, bytes.length - at);
    bytes.set(part.subarray(0, n), at);
    at += n;
  }
  return new TextDecoder().decode(bytes);
}

// Null when the response opens the stream (200 and text/event-stream), else
// the SseError that fails the connection.
async function checkResponse(response, url) {
  const details = { status: response.status, headers: response.headers, url: response.url || url };
  if (response.status === 204) {
    response.body?.cancel().catch(() => {});
    return new SseError('no_content', 'the server answered 204 No Content: the stream is over', details);
  }
  if (response.status !== 200) {
    details.body = await bodyExcerpt(response);
    return new SseError('http_status', `the server answered ${response.status} ${response.statusText}`.trimEnd(), details);
  }
  const contentType = response.headers.get('content-type');
  if (!isEventStream(contentType)) {
    details.body = await bodyExcerpt(response);
    const got = contentType === null ? 'no content type' : `content type ${contentType}`;
    return new SseError('wrong_content_type', `the response is not text/event-stream (${got})`, details);
  }
  return null;
}

function originOf(url) {
  try {
    return new URL(url).origin;
  } catch {
    return 'null';
  }
}

function abortError(signal) {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

// Aborts `controller` with an idle_timeout SseError when touch() was not
// called for `timeout` ms (0: never).
class IdleTimer {
  #timeout;
  #controller;
  #timer = null;
  #url;

  constructor(timeout, controller, url) {
    this.#timeout = timeout;
    this.#controller = controller;
    this.#url = url;
    this.touch();
  }

  touch() {
    if (this.#timeout === 0) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      const message = `nothing arrived for ${this.#timeout} ms`;
      this.#controller.abort(new SseError('idle_timeout', message, { url: this.#url }));
    }, Math.min(this.#timeout, MAX_TIMER_DELAY));
  }

  stop() {
    clearTimeout(this.#timer);
    this.#timer = null;
  }
}

// The error that ended a fetch or a body read: the abort's reason when we
// aborted (an idle timeout), else a network error.
function connectionError(e, controller, url) {
  if (controller.signal.aborted && controller.signal.reason instanceof SseError) return controller.signal.reason;
  if (e instanceof SseError) return e;
  return new SseError('network_error', `network error: ${e?.message ?? String(e)}`, { cause: e, url });
}

function limitError(e, url) {
  return new SseError('limit_exceeded', `the stream broke a parser limit: ${e.message}`, { cause: e, url });
}

const MessageEventClass =
  typeof MessageEvent === 'function'
    ? MessageEvent
    : class MessageEvent extends Event {
        #init;
        constructor(type, init = {}) {
          super(type);
          this.#init = init;
        }
        get data() {
          return this.#init.data ?? null;
        }
        get origin() {
          return this.#init.origin ?? '';
        }
        get lastEventId() {
          return this.#init.lastEventId ?? '';
        }
      };

// An `error` event; `error` says why (an SseError).
function errorEvent(error) {
  const event = new Event('error');
  Object.defineProperty(event, 'error', { value: error, enumerable: true });
  return event;
}

const HANDLER_TYPES = ['open', 'message', 'error'];

class EventSource extends EventTarget {
  #url;
  #withCredentials;
  #readyState = CONNECTING;
  #plan;
  #idleTimeout;
  #backoff;
  #mayReconnect;
  #parser;
  #origin = '';
  // Where reconnects go: after a redirect, the URL that answered, as
  // browsers do (the request keeps its current URL); `url` stays.
  #requestUrl;
  #reconnectionTime = DEFAULT_RECONNECTION_TIME;
  #failures = 0;       // connections in a row that ended without an event
  #gotEvent = false;   // the current connection delivered an event
  #controller = null;  // aborts the current connection
  #timer = null;       // the wait before reconnecting
  #handlers = { open: null, message: null, error: null };
  #handlerListeners = { open: null, message: null, error: null };

  constructor(url, init = undefined) {
    super();
    // As WebIDL's required argument: new EventSource() must not resolve "undefined".
    if (arguments.length === 0) throw new TypeError("ssekit: EventSource needs a URL: new EventSource(url, options)");
    const options = checkObject(init, 'the EventSource options');
    let parsed;
    try {
      parsed = new URL(String(url), globalThis.location?.href);
    } catch {
      throw new DOMException(`ssekit: the URL '${String(url)}' is invalid`, 'SyntaxError');
    }
    this.#url = parsed.href;
    this.#withCredentials = Boolean(options.withCredentials);
    this.#plan = requestPlan(this.#url, options, this.#withCredentials);
    this.#requestUrl = this.#url;
    this.#idleTimeout = checkMilliseconds(options.idleTimeout, 'idleTimeout', 0);
    this.#backoff = checkBackoff(options.backoff);
    // A request with a body is sent again on reconnect only when asked:
    // replaying a POST may repeat its effect (or its bill).
    this.#mayReconnect = this.#plan.body === null || options.replayBody === true;
    this.#parser = core().createParser({
      maxLineLength: options.maxLineLength,
      maxEventSize: options.maxEventSize,
      onEvent: (event) => this.#dispatchMessage(event),
      onRetry: (ms) => {
        this.#reconnectionTime = Math.min(ms, MAX_TIMER_DELAY);
      },
    });
    if (options.lastEventId !== undefined) {
      if (typeof options.lastEventId !== 'string') throw new TypeError('ssekit: lastEventId must be a string');
      this.#parser.lastEventId = options.lastEventId;
    }
    this.#connect();
  }

  get url() {
    return this.#url;
  }
  get withCredentials() {
    return this.#withCredentials;
  }
  get readyState() {
    return this.#readyState;
  }

  get onopen() {
    return this.#handlers.open;
  }
  set onopen(handler) {
    this.#setHandler('open', handler);
  }
  get onmessage() {
    return this.#handlers.message;
  }
  set onmessage(handler) {
    this.#setHandler('message', handler);
  }
  get onerror() {
    return this.#handlers.error;
  }
  set onerror(handler) {
    this.#setHandler('error', handler);
  }

  close() {
    if (this.#readyState === CLOSED && this.#controller === null) return;
    this.#readyState = CLOSED;
    this.#stopConnection();
    this.#parser.close();
  }

  // Like a browser's event handler attribute: one listener, added when the
  // handler is first set, removed when it is set to null.
  #setHandler(type, handler) {
    const value = typeof handler === 'function' || (handler !== null && typeof handler === 'object') ? handler : null;
    this.#handlers[type] = value;
    if (value === null && this.#handlerListeners[type] !== null) {
      this.removeEventListener(type, this.#handlerListeners[type]);
      this.#handlerListeners[type] = null;
    } else if (value !== null && this.#handlerListeners[type] === null) {
      const listener = (event) => {
        const current = this.#handlers[type];
        if (typeof current === 'function') current.call(this, event);
      };
      this.#handlerListeners[type] = listener;
      this.addEventListener(type, listener);
    }
  }

  #stopConnection() {
    clearTimeout(this.#timer);
    this.#timer = null;
    const controller = this.#controller;
    this.#controller = null;
    controller?.abort();
  }

  async #connect() {
    const controller = new AbortController();
    this.#controller = controller;
    this.#gotEvent = false;
    const idle = new IdleTimer(this.#idleTimeout, controller, this.#url);
    const current = () => this.#controller === controller;
    let response;
    try {
      response = await send(this.#plan, this.#requestUrl, this.#parser.lastEventId, controller.signal);
    } catch (e) {
      idle.stop();
      if (current()) this.#reestablish(connectionError(e, controller, this.#url));
      return;
    }
    if (!current()) {
      idle.stop();
      response.body?.cancel().catch(() => {});
      return;
    }
    idle.touch();
    let failure;
    try {
      failure = await checkResponse(response, this.#url);
    } catch (e) {
      failure = connectionError(e, controller, this.#url);
    }
    if (!current()) {
      idle.stop();
      return;
    }
    if (failure !== null) {
      idle.stop();
      this.#fail(failure);
      return;
    }
    if (response.url) this.#requestUrl = response.url;
    this.#origin = originOf(this.#requestUrl);
    this.#readyState = OPEN;
    this.dispatchEvent(new Event('open'));
    if (!current() || response.body === null) {
      idle.stop();
      if (current()) this.#reestablish(new SseError('end_of_stream', 'the response has no body', { url: this.#url }));
      return;
    }
    const reader = response.body.getReader();
    let ending;
    try {
      // The WebAssembly is compiled asynchronously (browsers); no-op once done.
      await core().ready();
      for (;;) {
        const { done, value } = await reader.read();
        if (!current()) break;
        if (done) {
          ending = new SseError('end_of_stream', 'the server ended the stream', { url: this.#url });
          break;
        }
        idle.touch();
        try {
          this.#parser.feed(value);
        } catch (e) {
          if (!current()) break;
          if (e instanceof core().SseParseError) {
            idle.stop();
            this.#fail(limitError(e, this.#url));
            return;
          }
          throw e;
        }
      }
    } catch (e) {
      if (current()) ending = connectionError(e, controller, this.#url);
    } finally {
      idle.stop();
      reader.cancel().catch(() => {});
    }
    if (current()) this.#reestablish(ending);
  }

  #dispatchMessage(event) {
    if (this.#readyState === CLOSED) return;
    this.#gotEvent = true;
    const init = { data: event.data, origin: this.#origin, lastEventId: event.lastEventId };
    this.dispatchEvent(new MessageEventClass(event.type, init));
  }

  // "Fail the connection": CLOSED, then `error`; no reconnect.
  #fail(error) {
    this.#readyState = CLOSED;
    this.#stopConnection();
    this.#parser.close();
    this.dispatchEvent(errorEvent(error));
  }

  // "Reestablish the connection": CONNECTING and `error`, then after the
  // reconnection time (longer after failures in a row) a new request.
  #reestablish(error) {
    if (!this.#mayReconnect) {
      this.#fail(error);
      return;
    }
    this.#stopConnection();
    this.#failures = this.#gotEvent ? 0 : this.#failures + 1;
    this.#readyState = CONNECTING;
    this.#parser.reset();
    this.dispatchEvent(errorEvent(error));
    if (this.#readyState !== CONNECTING || this.#timer !== null || this.#controller !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#readyState === CONNECTING) this.#connect();
    }, this.#reconnectDelay());
  }

  #reconnectDelay() {
    const base = this.#reconnectionTime;
    const backoff = this.#backoff;
    // The first reconnect after a stream that delivered events waits exactly
    // the reconnection time, as browsers do; failures in a row back off.
    if (backoff === null || this.#failures <= 1) return base;
    const grown = Math.min(base * backoff.factor ** (this.#failures - 1), Math.max(backoff.maxDelay, base));
    return Math.min(grown * (1 - backoff.jitter * Math.random()), MAX_TIMER_DELAY);
  }
}

// The constants are read-only data properties on the class and on every
// instance (through the prototype), as in browsers.
for (const [name, value] of [['CONNECTING', CONNECTING], ['OPEN', OPEN], ['CLOSED', CLOSED]]) {
  const constant = { value, enumerable: true, writable: false, configurable: false };
  Object.defineProperty(EventSource, name, constant);
  Object.defineProperty(EventSource.prototype, name, constant);
}
for (const name of ['url', 'withCredentials', 'readyState', 'onopen', 'onmessage', 'onerror']) {
  Object.defineProperty(EventSource.prototype, name, { enumerable: true });
}
Object.defineProperty(EventSource.prototype, Symbol.toStringTag, { value: 'EventSource', configurable: true });

// --- stream(): one request, its events as an async iterator.

// Validates everything before returning, so bad options throw at the call.
function stream(url, init = undefined) {
  const options = checkObject(init, 'the stream() options');
  const signal = options.signal ?? null;
  if (signal !== null && !(signal instanceof AbortSignal)) throw new TypeError('ssekit: signal must be an AbortSignal');
  let target;
  try {
    target = new URL(String(url), globalThis.location?.href).href;
  } catch {
    throw new DOMException(`ssekit: the URL '${String(url)}' is invalid`, 'SyntaxError');
  }
  // One request only, so any body fetch() takes will do, a stream too.
  const plan = requestPlan(target, options, Boolean(options.withCredentials), { sentOnce: true });
  const idleTimeout = checkMilliseconds(options.idleTimeout, 'idleTimeout', 0);
  const lastEventId = options.lastEventId === undefined ? '' : options.lastEventId;
  if (typeof lastEventId !== 'string') throw new TypeError('ssekit: lastEventId must be a string');
  const limits = { maxLineLength: options.maxLineLength, maxEventSize: options.maxEventSize };
  // Checks the limits now rather than at the first chunk.
  core().createParser(limits).close();
  return streamEvents(plan, signal, idleTimeout, lastEventId, limits);
}

async function* streamEvents(plan, signal, idleTimeout, lastEventId, limits) {
  signal?.throwIfAborted();
  const target = plan.url;
  const controller = new AbortController();
  const onAbort = () => controller.abort(abortError(signal));
  signal?.addEventListener('abort', onAbort, { once: true });
  const idle = new IdleTimer(idleTimeout, controller, target);
  const queue = [];
  let parser = null;
  let reader = null;
  const failure = (e) => (signal?.aborted ? abortError(signal) : connectionError(e, controller, target));
  try {
    let response;
    try {
      response = await send(plan, target, lastEventId, controller.signal);
      idle.touch();
      const refusal = await checkResponse(response, target);
      if (refusal !== null) throw refusal;
    } catch (e) {
      throw failure(e);
    }
    const origin = originOf(response.url || target);
    // The WebAssembly is compiled asynchronously (browsers); no-op once done.
    await core().ready();
    parser = core().createParser({
      ...limits,
      onEvent: (event) => queue.push({ type: event.type, data: event.data, lastEventId: event.lastEventId, origin }),
    });
    if (lastEventId !== '') parser.lastEventId = lastEventId;
    if (response.body === null) return;
    reader = response.body.getReader();
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (e) {
        throw failure(e);
      }
      if (chunk.done) break;
      idle.touch();
      let limitExceeded = null;
      try {
        parser.feed(chunk.value);
      } catch (e) {
        if (!(e instanceof core().SseParseError)) throw e;
        limitExceeded = limitError(e, target);
      }
      // What came before a parse error is delivered first.
      for (let i = 0; i < queue.length; i++) yield queue[i];
      queue.length = 0;
      if (limitExceeded !== null) throw limitExceeded;
    }
  } finally {
    idle.stop();
    signal?.removeEventListener('abort', onAbort);
    parser?.close();
    if (reader !== null) reader.cancel().catch(() => {});
    if (!controller.signal.aborted) controller.abort();
  }
}

module.exports = { EventSource, stream, SseError };
