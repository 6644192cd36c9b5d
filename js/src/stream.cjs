'use strict';
// stream(): one request, its events as an async iterator. A module of its own
// so that a bundle of the EventSource alone leaves it out ("sideEffects":
// false); the connection rules it shares with the EventSource (request plan,
// response checks, retry and backoff, idle timer) are eventsource.cjs's.

const {
  DEFAULT_RECONNECTION_TIME,
  MAX_FAILURES,
  core,
  SseError,
  checkObject,
  checkMilliseconds,
  checkFlag,
  checkBackoff,
  reconnectDelay,
  randomUpTo,
  parseUrl,
  urlRefusal,
  checkLastEventId,
  requestPlan,
  isRefusalStatus,
  reconnectsAfterStatus,
  notRetried,
  retryAfter,
  runAttemptHook,
  checkAttemptHook,
  checkHookTimeout,
  isStreamBody,
  requestUrl,
  sendChecked,
  bodyReader,
  invalidBody,
  cancelBody,
  untilAborted,
  checkResponse,
  originOf,
  abortableDelay,
  follower,
  IdleTimer,
  connectionError,
  limitError,
} = require('./eventsource.cjs').shared;

// The reason as given, null too (as fetch() rejects); undefined only where
// signals have no reason.
function abortError(signal) {
  return signal.reason !== undefined ? signal.reason : new DOMException('This operation was aborted', 'AbortError');
}

// Validates everything before returning, so bad options throw at the call.
function stream(url, init = undefined) {
  const options = checkObject(init, 'the stream() options');
  const signal = options.signal ?? null;
  if (signal !== null && !(signal instanceof AbortSignal)) throw new TypeError('ssekit: signal must be an AbortSignal');
  const parsed = parseUrl(url, 'ssekit stream(): cannot fetch');
  // No prototype: the parser must not find an inherited onComment (see checkObject).
  const limits = { __proto__: null, maxLineLength: options.maxLineLength, maxEventSize: options.maxEventSize };
  // Checks the limits now rather than at the first chunk; and first:
  // without WebAssembly it throws SseLoadError, where Node's Headers
  // (requestPlan), which loads undici, kills the process (node --jitless).
  core().createParser(limits).close();
  // One request only, so any body fetch() takes will do, a stream too.
  const plan = requestPlan(parsed.href, options, Boolean(options.withCredentials), true);
  const idleTimeout = checkMilliseconds(options.idleTimeout, 'idleTimeout', 0);
  const lastEventId = checkLastEventId(options.lastEventId);
  const refusal = urlRefusal(parsed);
  // Sending the request again: only after a refusal (see EventStream#open).
  const retry = {
    hook: checkAttemptHook(options),
    hookTimeout: checkHookTimeout(options),
    retryServerErrors: checkFlag(options.retryServerErrors, 'retryServerErrors'),
    replayBody: checkFlag(options.replayBody, 'replayBody'),
    reconnectionTime: checkMilliseconds(options.reconnectionTime, 'reconnectionTime', DEFAULT_RECONNECTION_TIME),
    backoff: checkBackoff(options.backoff),
  };
  if ((retry.hook !== null || retry.retryServerErrors) && isStreamBody(plan.body)) {
    throw new TypeError('ssekit: with onAttempt or retryServerErrors a request may be sent again; pass a string, bytes or a Blob body, not one that streams (a ReadableStream, a Node stream, an async iterable)');
  }
  return new EventStream(plan, signal, idleTimeout, lastEventId, limits, refusal, retry);
}

// The async iterator stream() returns. One read of the body (one "resume")
// parses a whole chunk; next() then hands out its events from a queue
// without reading again, so many small events in one chunk cost one await
// each, not an async generator's resume each. Errors come after the events
// that came before them; after an error or the end, next() says done.
class EventStream {
  #plan;
  #signal;
  #idleTimeout;
  #lastEventId;
  #limits;
  #refusal;
  #queue = [];
  #at = 0;
  #failed = false;
  #error;             // with #failed: thrown once the queue is empty (an abort reason may be null)
  #finished = false;  // the request is over (cleaned up)
  #reported = false;  // the error or the end was handed out
  #started = false;
  #pending = 0;       // next() calls waiting in #chain
  #chain = Promise.resolve();
  #controller = new AbortController();
  #idle = null;
  #parser = null;
  #reader = null;
  #onAbort = null;
  #wait = untilAborted(this.#controller.signal, cancelBody);
  #retry;

  constructor(plan, signal, idleTimeout, lastEventId, limits, refusal, retry) {
    this.#retry = retry;
    this.#plan = plan;
    this.#signal = signal;
    this.#idleTimeout = idleTimeout;
    this.#lastEventId = lastEventId;
    this.#limits = limits;
    this.#refusal = refusal;
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  next() {
    // Once the end, an error or return() was handed out, done at once (as
    // an async generator), however many events were still queued.
    if (this.#reported) return Promise.resolve({ value: undefined, done: true });
    if (this.#pending === 0 && this.#at < this.#queue.length) return Promise.resolve({ value: this.#take(), done: false });
    this.#pending++;
    const result = this.#chain.then(() => this.#pull());
    this.#chain = result.then(
      () => this.#pending--,
      () => this.#pending--,
    );
    return result;
  }

  // Leaving a for-await loop early: closes the connection at once.
  return(value) {
    this.#finish();
    this.#reported = true;
    return this.#chain.then(() => {
      this.#drop();
      return { value, done: true };
    });
  }

  throw(error) {
    this.#finish();
    this.#reported = true;
    return this.#chain.then(() => {
      this.#drop();
      return Promise.reject(error);
    });
  }

  // The events left queued after return() or throw(): next() hands out none.
  #drop() {
    this.#queue.length = 0;
    this.#at = 0;
  }

  #take() {
    const value = this.#queue[this.#at];
    this.#queue[this.#at++] = undefined;
    if (this.#at === this.#queue.length) {
      this.#queue.length = 0;
      this.#at = 0;
    }
    return value;
  }

  async #pull() {
    for (;;) {
      if (this.#at < this.#queue.length) return { value: this.#take(), done: false };
      if (this.#finished || this.#failed) {
        this.#finish();
        if (this.#failed && !this.#reported) {
          this.#reported = true;
          throw this.#error;
        }
        this.#reported = true;
        return { value: undefined, done: true };
      }
      try {
        if (!this.#started) await this.#open();
        else await this.#readChunk();
      } catch (e) {
        this.#error = this.#failure(e);
        this.#failed = true;
      }
    }
  }

  #failure(e) {
    if (this.#signal?.aborted) return abortError(this.#signal);
    if (e instanceof SseError) return e;
    return connectionError(e, this.#controller, this.#plan.url);
  }

  async #open() {
    this.#started = true;
    this.#signal?.throwIfAborted();
    if (this.#refusal !== null) throw this.#refusal;
    const controller = this.#controller;
    if (this.#signal !== null) {
      // The events still queued go too: abort() ends the loop now.
      this.#onAbort = () => {
        this.#drop();
        controller.abort(abortError(this.#signal));
      };
      this.#signal.addEventListener('abort', this.#onAbort, { once: true });
    }
    const id = this.#lastEventId;
    // One stream; the request goes again only after a refusal that came
    // before the server acted on it (the EventSource's rule): a 429 or 5xx
    // with retryServerErrors, a 401 with onAttempt, each waiting the
    // backoff or Retry-After. A request with a body is sent again only for
    // a refusal status (429, 502, 503, 504; 401 with the hook) unless replayBody.
    let response;
    for (let attempt = 1, failures = 0, previous = { reason: null, status: 0 }; ; attempt++) {
      // The attempt's own signal, following the stream's: fetch() and the
      // refusal's excerpt hang listeners on it, which went on the stream's
      // signal and piled up, a few per refusal, over hours of 503s.
      const attemptController = follower(controller.signal);
      let plan = this.#plan;
      let url = plan.url;
      if (this.#retry.hook !== null) {
        const info = { kind: attempt === 1 ? 'first' : 'reconnect', number: attempt, failures, previousReason: previous.reason, previousStatus: previous.status };
        ({ plan, url } = await this.#wait(runAttemptHook(this.#retry.hook, this.#retry.hookTimeout, plan, url, info, attemptController.signal)));
        this.#plan = plan;
        if (controller.signal.aborted) throw controller.signal.reason;
      }
      this.#idle?.stop();
      this.#idle = new IdleTimer(this.#idleTimeout, controller, url);
      response = await this.#wait(sendChecked(plan, requestUrl(plan, url, id), id, attemptController.signal));
      // Not while a refused response's body is read for the report (it has
      // its own deadline): a 503 that is retried must not end as idle_timeout.
      this.#idle.stop();
      const refusal = await checkResponse(response, url, attemptController.signal);
      if (refusal === null) break;  // the stream's abort goes on reaching this response's body
      const hasHook = this.#retry.hook !== null;
      const again = refusal.reason === 'http_status' && reconnectsAfterStatus(refusal.status, this.#retry.retryServerErrors, hasHook) &&
        (plan.body === null || this.#retry.replayBody || isRefusalStatus(refusal.status, hasHook));
      if (!again) throw notRetried(refusal, this.#retry.retryServerErrors);
      this.#idle.stop();
      failures = Math.min(failures + 1, MAX_FAILURES);
      previous = { reason: refusal.reason, status: refusal.status };
      const wait = Math.max(reconnectDelay(this.#retry.reconnectionTime, failures, this.#retry.backoff, randomUpTo), retryAfter(response.headers) ?? 0);
      attemptController.unfollow();
      await abortableDelay(wait, controller.signal);
    }
    // The parser's WebAssembly is compiled asynchronously (browsers); no-op once done.
    await core().prepare();
    // return() (or throw()) came while the response was checked: it has
    // cleaned up already, so what it could not see is released here.
    if (this.#finished) {
      cancelBody(response);
      return;
    }
    this.#reader = bodyReader(response, this.#plan.url);
    if (this.#reader === null) throw invalidBody(response.body, this.#plan.url);
    const origin = originOf(response.url || this.#plan.url);
    const queue = this.#queue;
    this.#parser = core().createParser({
      __proto__: null,
      ...this.#limits,
      [core().COLLECT_EVENT]: (type, data, lastEventId) => queue.push({ type, data, lastEventId, origin }),
    });
    if (id !== '') this.#parser.lastEventId = id;
  }

  // The idle timeout runs only while a read waits: the time the consumer
  // takes over its events is not silence from the server.
  async #readChunk() {
    this.#idle.touch();
    let chunk;
    try {
      chunk = await this.#wait(this.#reader.read());
    } finally {
      this.#idle.stop();
    }
    const { done, value } = chunk ?? {};  // no object: not bytes, invalid_response below
    if (this.#finished) return;
    if (done) {
      this.#finish();
      return;
    }
    try {
      this.#parser.feed(value);
    } catch (e) {
      // What came before a parse error is delivered first (it is queued).
      if (e instanceof core().SseParseError) throw limitError(e, this.#plan.url);
      throw new SseError('invalid_response', `the response body gave a chunk that is not bytes: ${e.message}`, { cause: e, url: this.#plan.url });
    }
  }

  #finish() {
    if (this.#finished) return;
    this.#finished = true;
    this.#idle?.stop();
    if (this.#onAbort !== null) this.#signal.removeEventListener('abort', this.#onAbort);
    this.#parser?.close();
    this.#reader?.cancel().catch(() => {});
    if (!this.#controller.signal.aborted) this.#controller.abort();
  }
}

// The object stream() returns inherits from the platform's
// %AsyncIteratorPrototype%, as an async generator does: where engines give
// it [Symbol.asyncDispose] (explicit resource management: `await using`)
// or async iterator helpers, they work on it too. Where the symbol exists
// but the prototype lacks the method (Node 20), it is defined here.
const asyncIteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf((async function* () {}).prototype));
Object.setPrototypeOf(EventStream.prototype, asyncIteratorPrototype);
if (typeof Symbol.asyncDispose === 'symbol' && !(Symbol.asyncDispose in asyncIteratorPrototype)) {
  Object.defineProperty(EventStream.prototype, Symbol.asyncDispose, {
    value: function dispose() {
      return this.return(undefined).then(() => undefined);
    },
    writable: true,
    configurable: true,
  });
}

module.exports = { stream };
