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
// browsers use 3 seconds. The `reconnectionTime` option changes it (the
// C++ client's reconnection_time).
const DEFAULT_RECONNECTION_TIME = 3000;
// setTimeout() fires at once for delays above 2^31-1 ms.
const MAX_TIMER_DELAY = 2 ** 31 - 1;
// An error response's body is read up to this many bytes for SseError.body,
// for at most this long: a body that never ends (or trickles) must not
// delay the failure; the C++ client's error_body_limit and error_body_timeout.
const ERROR_BODY_LIMIT = 1024;
const ERROR_BODY_TIME = 2000;
// Failures in a row: after `factor` growth hits maxDelay, more changes nothing.
const MAX_FAILURES = 1_000_000;
// Backoff after failures in a row. maxDelay bounds the wait after an outage
// (browsers: the reconnection time, 3 s); minDelay is the floor of every
// reconnect, as the C++ client's backoff.min_delay (250 ms): a server that
// sends `retry: 0` and an event and then closes, every time, gets at most 4
// requests a second (a floor only once failures repeat would let it storm,
// since each event resets the failures).
const DEFAULT_BACKOFF = Object.freeze({ factor: 2, maxDelay: 10_000, minDelay: 250, jitter: 0.5 });
// How long an attempt hook (onAttempt) may take, as the C++ client's
// attempt_hook_timeout.
const DEFAULT_ATTEMPT_HOOK_TIMEOUT = 10_000;
// The longest Retry-After honoured, as the C++ client's max_reconnection_time.
const MAX_RETRY_AFTER = 24 * 3600 * 1000;

// The parser (createParser, SseParseError, prepare); parser.cjs does not
// require this file, so a bundle of the EventSource has no serializer.
const core = () => require('./parser.cjs');

// A named class expression, as every class the package exports: a
// bundler renames the binding (esbuild: SseError2) but not the class's own
// name, which `.name`, V8's messages ("Class constructor X cannot be
// invoked without 'new'") and private-member errors use.
const SseError = class SseError extends Error {
  constructor(reason, message, given = undefined) {
    // Own properties only: nothing inherited from Object.prototype.
    const details = { __proto__: null, ...given };
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'SseError';
    // Why: 'network_error', 'http_status', 'no_content' (204),
    // 'wrong_content_type', 'limit_exceeded', 'idle_timeout', 'end_of_stream',
    // 'invalid_response' (a custom fetch() gave no usable response or body),
    // 'attempt_hook_failed' (onAttempt threw, refused or did not answer),
    // 'invalid_url' (user:pass@ or a scheme fetch() refuses; see urlRefusal()),
    // 'cors_refused' (browsers: another origin answered without allowing
    // this one to read the stream; see sendChecked()),
    // 'redirect_refused' (Node: a redirect to a scheme fetch() does not follow),
    // 'out_of_memory' (no WebAssembly memory for the parser).
    this.reason = reason;
    // The response, when there was one: status, headers, and for
    // 'http_status' and 'wrong_content_type' the first KiB of the body.
    this.status = details.status ?? 0;
    this.headers = details.headers ?? null;
    this.body = details.body ?? '';
    this.url = details.url ?? '';
  }
};

// --- Options shared by EventSource and stream()

function checkObject(value, what) {
  // Absent: as WebIDL's empty dictionary, nothing inherited is read (a page
  // that set Object.prototype.method made every EventSource a POST).
  if (value === undefined || value === null) return Object.create(null);
  // WebIDL dictionaries: a function is an object too (the browser's takes one).
  if (typeof value !== 'object' && typeof value !== 'function') throw new TypeError(`ssekit: ${what} must be an object`);
  return value;
}

// Only on the error path: the EventSource loads the core lazily.
const describe = (value) => require('./wasm.cjs').describe(value);
const numberError = (value, message) => require('./wasm.cjs').numberError(value, message);

// A duration option, as an integer number of milliseconds: fractions are
// dropped and it saturates at what setTimeout() can wait.
// Options of ssekit's own that are flags: a boolean or nothing (withCredentials
// is the standard's, converted as WebIDL does).
function checkFlag(value, name) {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw new TypeError(`ssekit: ${name} must be true or false, got ${describe(value)}`);
  return value;
}

function checkMilliseconds(value, name, fallback) {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !(value >= 0) || value === Infinity) {
    throw numberError(value, `ssekit: ${name} must be a non-negative number of milliseconds, got ${describe(value)}`);
  }
  // Fractions go, but a positive one below 1 is 1: 0 is "never" for idleTimeout.
  return Math.min(value > 0 && value < 1 ? 1 : Math.floor(value), MAX_TIMER_DELAY);
}

// A number from 0 to `max` as an integer count of thousandths, so the
// backoff arithmetic below is integer arithmetic.
function thousandths(value, name, min, max) {
  if (typeof value !== 'number' || !(value >= min && value <= max)) {
    throw numberError(value, `ssekit: ${name} must be a number from ${min} to ${max}, got ${describe(value)}`);
  }
  return Math.round(value * 1000);
}

function checkBackoff(value) {
  const backoff = {
    factor: DEFAULT_BACKOFF.factor * 1000,
    jitter: DEFAULT_BACKOFF.jitter * 1000,
    maxDelay: DEFAULT_BACKOFF.maxDelay,
    minDelay: DEFAULT_BACKOFF.minDelay,
  };
  if (value === undefined) return backoff;
  // No growth and no jitter; the floor stays (a server can't storm).
  if (value === false) return { ...backoff, factor: 1000, jitter: 0 };
  const given = checkObject(value, 'backoff');
  if (given.factor != null) backoff.factor = thousandths(given.factor, 'backoff.factor', 1, 100);
  if (given.jitter != null) backoff.jitter = thousandths(given.jitter, 'backoff.jitter', 0, 1);
  backoff.maxDelay = checkMilliseconds(given.maxDelay, 'backoff.maxDelay', backoff.maxDelay);
  backoff.minDelay = checkMilliseconds(given.minDelay, 'backoff.minDelay', backoff.minDelay);
  if (backoff.minDelay < 1) throw new RangeError('ssekit: backoff.minDelay must be at least 1 ms');
  return backoff;
}

// The wait before reconnect attempt number `failures` (connections in a row
// that ended without an event), in integer milliseconds; `random(n)` is an
// integer in [0, n]. Every reconnect waits at least floor = max(reconnection
// time, minDelay): the first one after a stream with events waits exactly
// that. After failures in a row the wait grows by `factor` up to
// max(maxDelay, floor) and loses up to `jitter` of it at random, never
// going below the floor: a server's long retry: is honoured, and `retry: 0`
// can't make a storm. The C++ client's reconnect_delay() is the same rule.
function reconnectDelay(reconnectionTime, failures, backoff, random) {
  const floor = Math.max(reconnectionTime, backoff.minDelay);
  if (failures <= 1) return floor;
  const cap = Math.max(backoff.maxDelay, floor);
  let wait = floor;
  // Each step is exact: wait <= 2^31 and factor <= 100,000 stay below 2^53.
  // Rounded up, as the C++ client: every step grows at least 1 ms, so the
  // loop ends at the cap within some 15,000 steps (factor 1.001), where a
  // step rounded down to no growth ran `failures` times (up to a million).
  for (let i = 1; i < failures && wait < cap && backoff.factor > 1000; i++) {
    wait = Math.min(Math.ceil((wait * backoff.factor) / 1000), cap);
  }
  const jitter = Math.floor((wait * backoff.jitter) / 1000);
  return Math.max(wait - random(jitter), floor);
}

// A random integer from 0 to n.
function randomUpTo(n) {
  return n <= 0 ? 0 : Math.min(Math.floor(Math.random() * (n + 1)), n);
}

// Header values are ByteStrings to fetch(): a string the package builds goes
// as its UTF-8 bytes, one char per byte, as browsers send Last-Event-ID.
function utf8ByteString(value) {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(value)) return value;
  const bytes = new TextEncoder().encode(value);
  let out = '';
  for (let i = 0; i < bytes.length; i += 8192) out += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
  return out;
}

// Parses the URL the way the browser's constructor does: a string (a
// Symbol is a TypeError, as WebIDL's), relative to the document's base URL.
function parseUrl(url, what) {
  const text = `${url}`;
  try {
    return new URL(text, globalThis.document?.baseURI ?? globalThis.location?.href);
  } catch {
    throw new DOMException(`${what} '${text}'. The URL is invalid.`, 'SyntaxError');
  }
}

// A URL that fetch() fails on every attempt (a TypeError, like a network
// error) fails the connection at once, saying why; the standard lets a user
// agent fail it when reconnecting is futile. Null for a URL that can work.
function urlRefusal(url) {
  if (url.username !== '' || url.password !== '') {
    return new SseError(
      'invalid_url',
      `the URL ${url.origin} has user:pass@, which fetch() refuses; send credentials in the headers option (Authorization)`,
      { url: url.href },
    );
  }
  // fetch() reads data: and blob: URLs too; any other scheme is a network error.
  if (!['http:', 'https:', 'data:', 'blob:'].includes(url.protocol)) {
    return new SseError('invalid_url', `fetch() refuses the URL scheme ${url.protocol}; use http: or https:`, { url: url.href });
  }
  return null;
}

// A header value holds no control character but tab (RFC 9110 5.5); Node's
// fetch throws on one. An id from the stream that has one is not sent (as
// the C++ client), so reconnects still work; the option is refused at once.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\0-\x08\n-\x1f\x7f]/;
function checkLastEventId(value) {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new TypeError('ssekit: lastEventId must be a string');
  if (CONTROL.test(value)) throw new TypeError('ssekit: lastEventId must not contain control characters (it goes in a header)');
  return value;
}

// The EventSource's first id: the lastEventId option, else a Last-Event-ID
// in the headers option, which then leaves the headers: from there on the
// header is the stream's last event ID (a reconnect after the server
// cleared the id sends none, not the option's value again). The header's
// value is taken as the id itself (a non-ASCII id goes in lastEventId).
function initialLastEventId(option, headers) {
  const header = headers.get('last-event-id');
  headers.delete('last-event-id');
  return checkLastEventId(option ?? header ?? undefined);
}

// The request every connection of one EventSource or stream() sends;
// validated once, up front, so a bad header throws from the constructor.
// An HTTP token (RFC 9110 5.6.2): methods, MIME types and subtypes.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

// sentOnce: the request goes once (stream()), so a stream body will do.
function requestPlan(url, options, withCredentials, sentOnce = false) {
  const fetchOption = options.fetch;
  const fetchFunction = fetchOption ?? globalThis.fetch;
  if (typeof fetchFunction !== 'function') {
    throw new TypeError(fetchOption === undefined || fetchOption === null ? 'ssekit: no fetch() here; pass one as the `fetch` option'
                                                                         : `ssekit: the \`fetch\` option must be a function, got ${describe(fetchOption)}`);
  }
  const method = options.method ?? 'GET';
  if (typeof method !== 'string') throw new TypeError(`ssekit: method must be a string, got ${describe(method)}`);
  if (!TOKEN.test(method)) throw new TypeError(`ssekit: invalid method ${JSON.stringify(method)}`);
  // fetch() refuses these on every attempt (forbidden methods).
  if (/^(?:CONNECT|TRACE|TRACK)$/i.test(method)) throw new TypeError(`ssekit: fetch() never sends the method ${method}`);
  if (/^HEAD$/i.test(method)) throw new TypeError('ssekit: the answer to a HEAD has no body, so no stream; pass GET or POST');
  // Headers refuses names and values with CR, LF or NUL, before anything is
  // sent; its message does not name the option.
  let headers;
  try {
    headers = new Headers(options.headers ?? undefined);
  } catch (e) {
    throw new TypeError(`ssekit: headers: ${e.message}`, { cause: e });
  }
  // Node's fetch() refuses these on every attempt (a browser's drops them).
  for (const [name, value] of headers) {
    if (/^(?:transfer-encoding|upgrade|keep-alive|expect)$/.test(name) || (name === 'connection' && !/^(?:close|keep-alive)$/i.test(value))) {
      throw new TypeError(`ssekit: fetch() does not send the header ${name}: ${value}`);
    }
  }
  headers.set('accept', 'text/event-stream');
  const body = options.body ?? null;
  // fetch() would send anything else as its String(): a forgotten
  // JSON.stringify() went out as "[object Object]".
  if (body !== null && typeof body !== 'string' && (typeof body !== 'object' || Array.isArray(body) || ([null, Object.prototype].includes(Object.getPrototypeOf(body)) && !isStreamBody(body)))) {
    throw new TypeError(`ssekit: body must be a string, bytes, a Blob, FormData, URLSearchParams or a stream, got ${describe(body)}`);
  }
  if (body !== null && /^(?:GET|HEAD)$/i.test(method)) throw new TypeError(`ssekit: fetch() sends no body with ${method}; pass a method such as POST`);
  if (!sentOnce && isStreamBody(body)) {
    throw new TypeError('ssekit: a body that streams (a ReadableStream, a Node stream, an async iterable) cannot be sent again on reconnect; pass a string, bytes or a Blob');
  }
  const lastEventIdQuery = options.lastEventIdQuery ?? null;
  if (lastEventIdQuery !== null && (typeof lastEventIdQuery !== 'string' || lastEventIdQuery === '')) {
    throw new TypeError('ssekit: lastEventIdQuery must be the name of a URL query parameter');
  }
  return { url, fetchFunction, method, headers, body, withCredentials, lastEventIdQuery };
}

// --- Sending a request again, and the attempt hook (the C++ client's rules,
// native/client/http_rules.hpp, with the same names).

// Statuses that say "not now" before the server acted on the request.
function isRefusalStatus(status, hasHook) {
  return status === 429 || status === 502 || status === 503 || status === 504 || (status === 401 && hasHook);
}

// Statuses the client reconnects after instead of failing the connection.
function reconnectsAfterStatus(status, retryServerErrors, hasHook) {
  if (status === 401) return hasHook;
  return retryServerErrors && (status >= 500 || status === 429);
}

// A server error (5xx, 429) ends the connection for good unless
// retryServerErrors: the message names the option (few who meet a 503 know
// it). The C++ client's message does the same.
function notRetried(error, retryServerErrors) {
  if (error.reason === 'http_status' && !retryServerErrors && reconnectsAfterStatus(error.status, true, false)) {
    error.message += '; not retried: set retryServerErrors to reconnect after it';
  }
  return error;
}

// Network errors that happened before the request could leave (Node's
// fetch says why in `cause.code`; a browser's TypeError says nothing, so
// there a failed fetch counts as possibly sent).
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);
// `error` and its causes, a few deep.
function causeChain(error) {
  const chain = [];
  for (let e = error; e !== null && typeof e === 'object' && chain.length < 5; e = e.cause) chain.push(e);
  return chain;
}
// An HTTP/2 stream reset with REFUSED_STREAM was "closed prior to any
// processing" (RFC 9113 8.7); node:http2 names the code only in its
// message. (A "bad port" is never sent either: it fails the connection,
// connectionError().)
const neverSent = (error) =>
  causeChain(error).some((e) => NOT_SENT_CODES.has(e.code) || /_REFUSED_STREAM$/.test(e.message));

// Node's fetch() rejects with "fetch failed" whatever went wrong; the reason
// is in the cause chain (bad port, redirect count exceeded, ENOTFOUND, a
// malformed response). Its innermost message and code, for SseError.message.
function innermostReason(error) {
  const chain = causeChain(error);
  const { code = '', message = '' } = chain.length > 1 ? chain.pop() : {};
  return String(message.includes?.(code) ? message : message === '' ? code : `${code}: ${message}`);
}

// An HTTP-date (RFC 9110 5.6.7) in ms since the epoch, or null: IMF-fixdate
// and the obsolete rfc850-date and asctime-date, range-checked as the C++
// parse_http_date(). Not Date.parse(): it reads asctime as local time and
// accepts many other shapes.
// A month name starts with the only capital letter of its three, so a match
// of one (the patterns take [A-Z][a-z]{2}) is at a multiple of 3.
const MONTHS = 'JanFebMarAprMayJunJulAugSepOctNovDec';
const HTTP_DATES = [
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d) ([A-Z][a-z]{2}) (\d{4}) (\d\d):(\d\d):(\d\d) GMT$/,
  /^(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, (\d\d)-([A-Z][a-z]{2})-(\d\d) (\d\d):(\d\d):(\d\d) GMT$/,
];
const ASCTIME = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) (\d\d| \d) (\d\d):(\d\d):(\d\d) (\d{4})$/;
function parseHttpDate(text, nowMs) {
  let day, month, year, h, m, sec;
  let match = HTTP_DATES[0].exec(text);
  if (match !== null) [, day, month, year, h, m, sec] = match;
  else if ((match = HTTP_DATES[1].exec(text)) !== null) {
    [, day, month, year, h, m, sec] = match;
    // A two-digit year more than 50 years ahead is the century before.
    const nowYear = new Date(nowMs).getUTCFullYear();
    year = nowYear - (nowYear % 100) + Number(year);
    if (year > nowYear + 50) year -= 100;
  } else if ((match = ASCTIME.exec(text)) !== null) [, month, day, h, m, sec, year] = match;
  else return null;
  const mon = MONTHS.indexOf(month) / 3;
  [day, year, h, m, sec] = [day, year, h, m, sec].map(Number);
  if (mon < 0 || h > 23 || m > 59 || sec > 60) return null;
  // setUTCFullYear: Date.UTC maps years 0..99 to 1900..1999. A day the
  // month lacks (0, 30 February) rolls over into another day of the month.
  const date = new Date(Date.UTC(2000, 0, 1, h, m, 0));
  date.setUTCFullYear(year, mon, day);
  return date.getUTCDate() === day ? date.getTime() + sec * 1000 : null;
}

// Retry-After as a wait in ms (the C++ retry_after()): delta-seconds, or an
// HTTP-date less the response's Date (both the server's clock) or less now;
// past dates are 0; at most 24 h. null when absent or malformed.
function retryAfter(headers, nowMs = Date.now()) {
  const value = headers?.get?.('retry-after');
  if (typeof value !== 'string') return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, MAX_RETRY_AFTER);
  const at = parseHttpDate(text, nowMs);
  if (at === null) return null;
  const date = headers.get('date');
  const serverNow = typeof date === 'string' ? parseHttpDate(date.trim(), nowMs) : null;
  return Math.min(Math.max(at - (serverNow ?? nowMs), 0), MAX_RETRY_AFTER);
}

// The plan without the headers a redirect to another origin drops
// (Authorization by fetch; Cookie and Proxy-Authorization too by undici).
function withoutCredentials(plan) {
  const headers = new Headers(plan.headers);
  for (const name of ['authorization', 'cookie', 'proxy-authorization']) headers.delete(name);
  return { ...plan, headers };
}

// The hook's view of the next request: changes to it are sent, and kept for
// later attempts (a refreshed token goes out on every reconnect after).
function attemptRequest(plan, url) {
  return { url, method: plan.method, headers: new Headers(plan.headers), body: plan.body };
}

// Runs the attempt hook within `timeout` ms; resolves to the plan and URL
// to send, rejects with an attempt_hook_failed SseError, or with the abort
// reason once `signal` aborts (close(), abort()): its timer goes at once
// then, so a hook that never answers does not keep Node running. A hook
// that rejects late (after the timeout or the abort) is caught here: never
// unhandled.
async function runAttemptHook(hook, timeout, plan, url, info, signal) {
  const request = attemptRequest(plan, url);
  let timer = null;
  let onAbort = null;
  const answer = Promise.resolve().then(() => hook(request, info));
  const late = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new SseError('attempt_hook_failed', `the attempt hook did not answer within ${timeout} ms`, { url })), timeout);
    onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  let result;
  try {
    result = await Promise.race([answer, late]);
  } catch (e) {
    if (e instanceof SseError || signal.aborted) throw e;
    throw new SseError('attempt_hook_failed', `the attempt hook failed: ${e?.message ?? String(e)}`, { cause: e, url });
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    answer.catch(() => {});
  }
  // What a returned object leaves undefined keeps its value: `{ url }`
  // alone must not make a POST a GET without its body and headers.
  const given = result !== null && typeof result === 'object' ? result : request;
  const [href, method, headers, body] = ['url', 'method', 'headers', 'body'].map((k) => (given[k] === undefined ? request[k] : given[k]));
  try {
    const next = new URL(String(href));
    if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new TypeError(`not an http(s) URL: ${next.href}`);
    const refusal = urlRefusal(next);
    if (refusal !== null) throw refusal;
    const options = { fetch: plan.fetchFunction, method, headers, body, lastEventIdQuery: plan.lastEventIdQuery ?? undefined };
    // A new body that streams is refused: the next attempt would find it read.
    return { plan: requestPlan(next.href, options, plan.withCredentials, body === plan.body), url: next.href };
  } catch (e) {
    throw new SseError('attempt_hook_failed', `the attempt hook's request can't be sent: ${e?.message ?? String(e)}`, { cause: e, url });
  }
}

function checkAttemptHook(options) {
  const hook = options.onAttempt;
  if (hook !== undefined && hook !== null && typeof hook !== 'function') throw new TypeError('ssekit: onAttempt must be a function');
  return typeof hook === 'function' ? hook : null;
}

function checkHookTimeout(options) {
  const timeout = checkMilliseconds(options.attemptHookTimeout, 'attemptHookTimeout', DEFAULT_ATTEMPT_HOOK_TIMEOUT);
  if (timeout < 1) throw new RangeError('ssekit: attemptHookTimeout must be at least 1 ms');
  return timeout;
}

// A body of chunks still to come (a ReadableStream, a Node stream, an async
// generator): it can be sent once only, and fetch() needs duplex: 'half'.
function isStreamBody(body) {
  return typeof body?.getReader === 'function' || typeof body?.[Symbol.asyncIterator] === 'function';
}

// The URL of one request: with `lastEventIdQuery`, the id rides in the
// query too (replacing a parameter of that name), where any server can read
// it, as polyfills for old browsers do it. A null id takes the parameter
// out.
function requestUrl(plan, url, lastEventId) {
  const name = plan.lastEventIdQuery;
  if (name === null || lastEventId === '') return url;
  const u = new URL(url);
  // The query edited as text: searchParams would write all of it again as
  // a form (~ as %7E, %20 as +), and a signed URL would stop matching.
  const pairs = u.search === '' ? [] : u.search.slice(1).split('&');
  u.search = [...pairs.filter((pair) => new URLSearchParams(pair).keys().next().value !== name), ...(lastEventId === null ? [] : [new URLSearchParams([[name, lastEventId]])])].join('&');
  return u.href;
}

// The origin of the page or worker. self.origin, but a page's `var origin`
// replaces that ([Replaceable]): location's, unless either is "null". In a
// sandboxed iframe self.origin is "null" where location names its server;
// in an about:srcdoc frame location's is "null", self.origin its parent's.
function ownOrigin() {
  const own = globalThis.origin;
  const here = globalThis.location?.origin;
  return own === 'null' || here === 'null' ? own ?? here : here;
}

// A request to another origin than the page's: fetch() preflights it when
// it has a header that isn't CORS-safelisted, such as Last-Event-ID. Every
// URL is another origin to an opaque ("null") one.
function isCrossOrigin(url) {
  const here = ownOrigin();
  return here != null && (here === 'null' || originOf(url) !== here);
}

// A browser's fetch() says nothing of why it failed: a TypeError without
// a cause, CORS refusal and network failure alike. Node's (undici, which
// enforces no CORS) gives the cause (ECONNRESET...): then it is never CORS,
// even with a page's `location` about (jsdom, happy-dom).
const mayBeCors = (e) => e instanceof TypeError && e.cause === undefined;

// fetch() rejects with the same TypeError ("Failed to fetch") whether the
// server is unreachable or answered without letting this origin read it
// (CORS): JS is told nothing more. So after a cross-origin TypeError, one
// `no-cors` request goes to the same URL (its response dropped at once): it
// needs no permission, so it gets an (opaque) response exactly when the
// server answers. True: the server is up.
async function serverAnswers(plan, url, error, signal) {
  if (signal.aborted || !mayBeCors(error) || !isCrossOrigin(url)) return false;
  const probe = follower(signal);
  try {
    const { fetchFunction } = plan;
    await fetchFunction(url, {
      method: 'GET',
      headers: {},  // a custom fetch is promised a plain object
      mode: 'no-cors',
      cache: 'no-store',
      credentials: plan.withCredentials ? 'include' : 'same-origin',
      redirect: 'follow',
      signal: probe.signal,
    });
    return !signal.aborted;
  } catch {
    return false;
  } finally {
    probe.unfollow();
    probe.abort();
  }
}

// send(), where a cross-origin TypeError from a server that answers the
// probe above becomes a 'cors_refused' SseError: the same request is sent
// once more first, so a passing network failure is not taken for CORS; if
// that fails too, the server is up and refuses this origin. The browser's
// EventSource fails the connection on a CORS failure (reconnecting is
// futile), and so does ours; a network error still reconnects.
async function sendChecked(plan, url, lastEventId, signal) {
  try {
    return await send(plan, url, lastEventId, signal);
  } catch (e) {
    if (!(await serverAnswers(plan, url, e, signal))) throw e;
  }
  try {
    return await send(plan, url, lastEventId, signal);
  } catch (e) {
    if (signal.aborted || !mayBeCors(e)) throw e;
    throw new SseError(
      'cors_refused',
      `${originOf(url)} answered, but does not let ${ownOrigin()} read its stream (no matching Access-Control-Allow-Origin, ` +
        `or a failed CORS preflight): the connection is closed, as the browser's`,
      { cause: e, url },
    );
  }
}

// Starts one request. The response's status and type are checked by
// checkResponse(). `lastEventId` goes in the Last-Event-ID header ('' : none).
async function send(plan, url, lastEventId, signal) {
  const headers = new Headers(plan.headers);
  if (lastEventId !== '' && !CONTROL.test(lastEventId)) headers.set('last-event-id', utf8ByteString(lastEventId));
  // Called as a plain function: browsers' fetch throws "Illegal
  // invocation" when `this` is not the global object.
  const { fetchFunction } = plan;
  return fetchFunction(url, {
    method: plan.method,
    // A plain object: a custom fetch may spread it ({...init.headers}),
    // which loses every entry of a Headers.
    headers: Object.fromEntries(headers),
    body: plan.body,
    signal,
    // no-store: fetch adds Cache-Control: no-cache (and Pragma), as the
    // standard asks, without making the request "non-simple" for CORS.
    cache: 'no-store',
    credentials: plan.withCredentials ? 'include' : 'same-origin',
    mode: 'cors',
    redirect: 'follow',
    // Node's fetch() requires this to send a stream.
    ...(isStreamBody(plan.body) ? { duplex: 'half' } : {}),
  });
}

// One MIME type's essence (lower case "type/subtype"), or ''.
// MIME Sniffing's "parse a MIME type": white space around the whole and
// after the subtype only ("text / event-stream" is no type; Chromium and
// the C++ client refuse it).
function mimeEssence(value) {
  const trimmed = value.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '');
  const slash = trimmed.indexOf('/');
  if (slash < 0) return '';
  const type = trimmed.slice(0, slash);
  const subtype = trimmed.slice(slash + 1).split(';', 1)[0].replace(/[\t\n\r ]+$/, '');
  return TOKEN.test(type) && TOKEN.test(subtype) ? `${type}/${subtype}`.toLowerCase() : '';
}
// A header value's comma-separated values, commas inside quoted strings
// kept (the C++ split_values()).
function splitValues(combined) {
  const out = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < combined.length; i++) {
    const c = combined[i];
    if (quoted && c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (c === ',' && !quoted) {
      out.push(combined.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(combined.slice(start).trim());
  return out;
}
// Fetch's "extract a MIME type" (the C++ extract_mime_essence()): the
// header's values (several Content-Type headers come combined, ", "-joined)
// split at commas outside quotes; the last one that parses, other than
// */*, counts. Parameters (charset=...) are allowed. So
// `text/html, text/event-stream` is a stream, as for Chromium's EventSource.
function isEventStream(contentType) {
  if (typeof contentType !== 'string') return false;
  let essence = '';
  for (const value of splitValues(contentType)) {
    const e = mimeEssence(value);
    if (e !== '' && e !== '*/*') essence = e;
  }
  return essence === 'text/event-stream';
}

// A reader over a response body: a WHATWG ReadableStream (fetch), or, from
// a custom fetch (node-fetch and the like), a Node stream or any async
// iterable (parser.cjs chunkReader). null for anything else.
function bodyReader(response, url = '') {
  // What a custom fetch's response throws here (a body getter, a locked
  // stream, an iterator that fails at once) is the response's fault,
  // reported as such.
  try {
    const body = response.body;
    return body === null || typeof body !== 'object' ? null : core().chunkReader(body);
  } catch (e) {
    throw new SseError('invalid_response', `the response body can't be read (locked, already read, or it threw: ${e?.message})`, { cause: e, url });
  }
}

function invalidBody(body, url) {
  const what = body === undefined || body === null ? 'no body' : `a body of type ${body?.constructor?.name ?? typeof body}`;
  return new SseError('invalid_response', `the response has ${what}; a body must be a ReadableStream, a Node stream or an async iterable of bytes`, { url });
}

// Reads up to ERROR_BODY_LIMIT bytes of a body for an error report, for at
// most ERROR_BODY_TIME ms and not past an abort of `signal`, then cancels
// the rest.
async function bodyExcerpt(response, signal) {
  let reader = null;
  try {
    reader = bodyReader(response);
  } catch {
    // Best effort, as below: a 503 stays a 503.
  }
  if (reader === null) return '';
  const decoder = new TextDecoder();
  let text = '';
  let size = 0;
  // Ends at the deadline or at the connection's abort.
  const deadline = follower(signal);
  const timer = setTimeout(() => deadline.abort(), ERROR_BODY_TIME);
  const wait = untilAborted(deadline.signal);
  try {
    while (size < ERROR_BODY_LIMIT) {
      const { done, value } = await wait(reader.read());
      if (done || !(value instanceof Uint8Array)) break;
      text += decoder.decode(value.subarray(0, ERROR_BODY_LIMIT - size), { stream: true });
      size += value.length;
    }
  } catch {
    // The excerpt is best effort: the status already says what went wrong.
  } finally {
    clearTimeout(timer);
    deadline.unfollow();
    reader.cancel().catch(() => {});
  }
  return text + decoder.decode();
}

function cancelBody(response) {
  try {
    bodyReader(response)?.cancel().catch(() => {});
  } catch {
    // A body already locked is being read, and cancelled by its reader.
  }
}

// wait(promise) settles as `promise` does, or rejects with the abort's
// reason once `signal` aborts, whichever comes first. A fetch() or a read
// that ignores the signal (a custom fetch; undici's read of a corrupt gzip
// body never settles, even after an abort) must not hold the connection
// past an idle timeout, close() or return(). The promise left behind gets
// a handler (never an unhandled rejection); onLate(value) gets what it
// resolves to after that, to release it.
function untilAborted(signal, onLate = null) {
  let abandon = null;
  signal.addEventListener('abort', () => abandon?.(signal.reason), { once: true });
  return (promise) =>
    new Promise((resolve, reject) => {
      abandon = reject;
      Promise.resolve(promise).then((value) => {
        // Settled after the abort: abandoned, so released (resolve is a no-op).
        if (signal.aborted) onLate?.(value);
        resolve(value);
      }, reject);
      if (signal.aborted) reject(signal.reason);
    });
}

// Null when the response opens the stream (200 and text/event-stream), else
// the SseError that fails the connection. `signal` stops reading the body
// excerpt of a refused response. A custom fetch's response that throws
// while it is checked (a getter, headers.get()) is invalid_response, not
// taken for a network error.
async function checkResponse(response, url, signal) {
  try {
    if (response === null || typeof response !== 'object' || !Number.isInteger(response.status) || typeof response.headers?.get !== 'function') {
      return new SseError('invalid_response', 'fetch() did not give a Response (an object with status and headers)', { url });
    }
    const details = { status: response.status, headers: response.headers, url: response.url || url };
    if (response.status === 204) {
      cancelBody(response);
      return new SseError('no_content', 'the server answered 204 No Content: the stream is over', details);
    }
    if (response.status !== 200) {
      details.body = await bodyExcerpt(response, signal);
      return new SseError('http_status', `the server answered ${response.status} ${response.statusText ?? ''}`.trimEnd(), details);
    }
    const contentType = response.headers.get('content-type');
    if (!isEventStream(contentType)) {
      details.body = await bodyExcerpt(response, signal);
      const got = contentType === null ? 'no content type' : `content type ${contentType}`;
      return new SseError('wrong_content_type', `the response is not text/event-stream (${got})`, details);
    }
    return null;
  } catch (e) {
    return new SseError('invalid_response', `the response can't be read: ${e?.message ?? String(e)}`, { cause: e, url });
  }
}

function originOf(url) {
  try {
    return new URL(url).origin;
  } catch {
    return 'null';
  }
}

// Resolves after `ms`, or rejects with the abort's reason.
function abortableDelay(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

// An AbortController that aborts when `signal` does, with its reason, until
// unfollow(): what a short-lived request (and fetch()'s listeners on it)
// hangs on, so nothing piles up on a signal that lives for many requests.
function follower(signal) {
  const controller = new AbortController();
  const follow = () => controller.abort(signal.reason);
  if (signal.aborted) follow();
  else signal.addEventListener('abort', follow, { once: true });
  controller.unfollow = () => signal.removeEventListener('abort', follow);
  return controller;
}

// Runs `fn` in a task of its own after the current one, as the browser's
// EventSource starts its fetch: close() anywhere in the constructor's task,
// after an `await` too, sends nothing. A MessageChannel, not setTimeout(0):
// not throttled in background tabs, and the fake timers of Jest, Vitest and
// node:test leave it alone. The port is closed once used: open, it would
// keep Node or Deno running. Without MessageChannel (Jest's jsdom), a
// microtask, which still sends nothing on close() right after new.
function afterTask(fn) {
  if (typeof MessageChannel !== 'function') return queueMicrotask(fn);
  const { port1, port2 } = new MessageChannel();
  port1.onmessage = () => {
    port1.close();
    fn();
  };
  port2.postMessage(0);
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
  const why = innermostReason(e);
  // A port fetch() blocks (the Fetch standard's "bad port"; undici's
  // words) is blocked on every attempt: futile to retry, as a scheme it
  // refuses. A browser's TypeError does not say, so there it reconnects.
  if (why === 'bad port') return new SseError('invalid_url', 'fetch() blocks this port for good (a "bad port" in the Fetch standard)', { cause: e, url });
  // Node's fetch refuses a redirect to ftp:, javascript:, ... with this
  // cause (undici's text; a browser's TypeError says nothing, and there
  // such a redirect stays a network error). Trying again is futile, as
  // Chromium's EventSource knows: the connection fails.
  if (/scheme must be a HTTP\(S\) scheme/.test(why)) {
    return new SseError('redirect_refused', `a redirect to a URL that is not http(s) (${why})`, { cause: e, url });
  }
  // Chromium's body read fails with the words "network error" alone.
  const text = e?.message ?? String(e);
  return new SseError('network_error', `${/^network error/i.test(text) ? '' : 'network error: '}${text}${why === '' ? '' : ` (${why})`}`, { cause: e, url });
}

function limitError(e, url) {
  return new SseError('limit_exceeded', `the stream broke a parser limit: ${e.message}`, { cause: e, url });
}

// Message events. Building a MessageEvent costs most of the time of a
// small event in browsers (`new MessageEvent(type, init)` converts the init
// dictionary; even `super(type)` of a MessageEvent subclass is 3x the cost
// of a plain Event). Ours are built by the Event constructor, with
// MessageEvent.prototype put under their prototype once: `instanceof
// MessageEvent` holds, toString says MessageEvent, and every MessageEvent
// attribute is an own getter here (data, origin, lastEventId, source: null,
// ports: empty), so none of the browser's getters, which would refuse an
// object that isn't a native MessageEvent, is ever reached.
let dispatching = null;  // the message event the EventSource is dispatching
class SseMessageEvent extends Event {
  #data;
  #origin;
  #lastEventId;
  #ports = null;  // made when first read: few handlers look
  constructor(type, data, origin, lastEventId) {
    super(type);
    this.#data = data;
    this.#origin = origin;
    this.#lastEventId = lastEventId;
  }
  get data() {
    return this.#data;
  }
  get origin() {
    return this.#origin;
  }
  get lastEventId() {
    return this.#lastEventId;
  }
  get source() {
    return null;
  }
  // As the browser's: the same frozen empty array on every read of one
  // event ([SameObject]), another one for each event.
  get ports() {
    if (this.#ports === null) this.#ports = Object.freeze([]);
    return this.#ports;
  }
  // The legacy initializer, for code that still calls it. As the DOM's:
  // nothing changes while the event is being dispatched (eventPhase is
  // NONE only outside a dispatch; Node 20's EventTarget says NONE to every
  // listener after the first, hence `dispatching`). `source` stays null
  // (ours never have one).
  initMessageEvent(type, bubbles = false, cancelable = false, data = null, origin = '', lastEventId = '', source = null, ports = []) {
    if (this.eventPhase || this === dispatching) return;  // not NONE (0), or ours in dispatch
    this.initEvent(type, bubbles, cancelable);
    this.#data = data;
    this.#origin = String(origin);
    this.#lastEventId = String(lastEventId);
    this.#ports = Object.freeze(Array.from(ports));
  }
}
Object.defineProperty(SseMessageEvent, 'name', { value: 'MessageEvent' });
if (typeof MessageEvent === 'function') {
  Object.setPrototypeOf(SseMessageEvent.prototype, MessageEvent.prototype);
  // e.constructor is the browser's class, as for its own events: code that
  // copies an event with `new e.constructor(e.type, e)` gets a MessageEvent
  // with the same data, origin and lastEventId.
  Object.defineProperty(SseMessageEvent.prototype, 'constructor', { value: MessageEvent, writable: true, configurable: true });
  // Attributes MessageEvent has beyond the five (e.g. Chromium's
  // userActivation): their value for an event from a server.
  for (const key of Reflect.ownKeys(MessageEvent.prototype)) {
    const d = Object.getOwnPropertyDescriptor(MessageEvent.prototype, key);
    if (d.get !== undefined && !Object.hasOwn(SseMessageEvent.prototype, key)) {
      Object.defineProperty(SseMessageEvent.prototype, key, { get: () => null, enumerable: d.enumerable, configurable: true });
    }
  }
}
for (const name of ['data', 'origin', 'lastEventId', 'source', 'ports', 'initMessageEvent']) {
  Object.defineProperty(SseMessageEvent.prototype, name, { enumerable: true });
}

// An `error` event; `error` says why (an SseError), `reconnectDelay` how
// many milliseconds until the next attempt (null: none, the connection is
// closed).
function errorEvent(error, reconnectDelay = null) {
  return Object.defineProperties(new Event('error'), {
    error: { value: error, enumerable: true },
    reconnectDelay: { value: reconnectDelay, enumerable: true },
  });
}

// Events go through EventTarget's own dispatchEvent, as the browser's
// EventSource fires them: a subclass's dispatchEvent does not see them, as
// it does not see Chromium's.
const dispatch = EventTarget.prototype.dispatchEvent;

// A named class expression (see SseError above).
const EventSource = class EventSource extends EventTarget {
  #url;
  #withCredentials;
  #readyState = CONNECTING;
  #plan;
  #idleTimeout;
  #backoff;
  #parser;
  #origin = '';
  // Where reconnects go: after a redirect, the URL that answered, as
  // browsers do (the request keeps its current URL); `url` stays.
  #requestUrl;
  #reconnectionTime;
  #failures = 0;       // connections in a row that ended without an event
  // When the current connection opened (performance.now()); Infinity before,
  // -Infinity once it delivered an event: #reestablish's "no failure".
  #openedAt = Infinity;
  #controller = null;  // aborts the current connection
  #timer = null;       // the wait before reconnecting
  // False once a cross-origin server refused Last-Event-ID (its preflight
  // failed, see #request()); reconnects then go without the header.
  #idHeader = true;
  #replayBody;
  #retryServerErrors;
  #onAttempt;          // the attempt hook, or null
  #attemptHookTimeout;
  #attempts = 0;       // attempts made, for the hook's info.number
  #previous = { reason: null, status: 0 };  // how the last attempt ended
  #handlers = { open: null, message: null, error: null };
  #handlerListeners = { open: null, message: null, error: null };
  #pagehideWatch = null;  // AbortController of the document's pagehide listener (windows only)

  constructor(url, init = undefined) {
    super();
    // As WebIDL's required argument: new EventSource() must not resolve "undefined".
    if (arguments.length === 0) {
      throw new TypeError("Failed to construct 'EventSource': 1 argument required, but only 0 present.");
    }
    const options = checkObject(init, 'the EventSource options');
    const parsed = parseUrl(url, "Failed to construct 'EventSource': Cannot open an EventSource to");
    this.#url = parsed.href;
    this.#withCredentials = Boolean(options.withCredentials);
    // The parser first: without WebAssembly it throws SseLoadError, where
    // Node's Headers (below), which loads undici, kills the process with an
    // unhandled rejection (its llhttp needs WebAssembly: node --jitless).
    this.#parser = core().createParser({
      __proto__: null,  // no inherited onComment (see checkObject)
      maxLineLength: options.maxLineLength,
      maxEventSize: options.maxEventSize,
      [core().ON_EVENT_FIELDS]: (type, data, lastEventId) => this.#dispatchMessage(type, data, lastEventId),
      onRetry: (ms) => {
        this.#reconnectionTime = Math.min(ms, MAX_TIMER_DELAY);
      },
    });
    this.#plan = requestPlan(this.#url, options, this.#withCredentials);
    this.#requestUrl = this.#url;
    this.#idleTimeout = checkMilliseconds(options.idleTimeout, 'idleTimeout', 0);
    this.#reconnectionTime = checkMilliseconds(options.reconnectionTime, 'reconnectionTime', DEFAULT_RECONNECTION_TIME);
    this.#backoff = checkBackoff(options.backoff);
    // A request with a body is sent again only when asked (replaying a
    // POST may repeat its effect, or its bill), or after a refusal that came
    // before the server acted on it (see #mayReconnect()).
    this.#replayBody = checkFlag(options.replayBody, 'replayBody');
    this.#retryServerErrors = checkFlag(options.retryServerErrors, 'retryServerErrors');
    this.#onAttempt = checkAttemptHook(options);
    this.#attemptHookTimeout = checkHookTimeout(options);
    const lastEventId = initialLastEventId(options.lastEventId, this.#plan.headers);
    if (lastEventId !== '') this.#parser.lastEventId = lastEventId;
    const refusal = urlRefusal(parsed);
    if (refusal !== null) {
      // Fails at once, in a task as a browser's failure would (listeners
      // added right after the constructor see the error): CONNECTING until
      // then, as Chromium's (close() before it: no error).
      afterTask(() => {
        if (this.#readyState !== CLOSED) this.#fail(refusal);
      });
      return;
    }
    this.#watchDocument();
    // The request starts after the constructor's task, as the browser's
    // does: `new EventSource(u)` then close() in the same task sends nothing
    // (React's StrictMode mounts, unmounts and mounts again in one go).
    afterTask(() => {
      if (this.#readyState !== CLOSED) this.#start();
    });
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
    this.#unwatchDocument();
    if (this.#readyState === CLOSED && this.#controller === null && this.#timer === null) return;
    this.#readyState = CLOSED;
    this.#stopConnection();
    this.#parser.close();
  }

  // A document that goes away (its iframe removed or navigated, its page
  // closed) fails the connection, as the browser's own EventSource does:
  // once it is detached its realm runs no promise callback or timer, so the
  // stream stayed OPEN (or CONNECTING) for good and never said `error`.
  // Not for a page kept in the back/forward cache (persisted). A probe of
  // the package in Chromium found it.
  #watchDocument() {
    // Short: the EventSource's bundle has a size budget (test/bundle.test.mjs).
    if (!globalThis.document || !globalThis.addEventListener) return;
    this.#pagehideWatch = new AbortController();
    addEventListener('pagehide', (event) => {
      if (!event.persisted && this.#readyState !== CLOSED) this.#fail(new SseError('network_error', 'ssekit: the document went away', { url: this.#url }));
    }, { signal: this.#pagehideWatch.signal });
  }
  #unwatchDocument() {
    this.#pagehideWatch?.abort();
    this.#pagehideWatch = null;
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

  // Runs one connection. Nothing it does may reject unhandled: an error
  // that escapes #connect() (a bug, or a throwing custom fetch body) fails
  // the connection with that error.
  #start() {
    this.#connect().catch((e) => {
      if (this.#readyState !== CLOSED) this.#fail(e instanceof SseError ? e : new SseError('invalid_response', `ssekit: ${e?.message ?? String(e)}`, { cause: e, url: this.#url }));
    });
  }

  // Sends the request with the current Last-Event-ID. A cross-origin server
  // that answers no CORS preflight (a tutorial server with only
  // Access-Control-Allow-Origin) makes fetch() reject when the header is
  // there, where the browser's EventSource sends it without a preflight.
  // Then the same request goes once more with it (a refused preflight fails
  // every time, a network blip seldom twice: one must not cost the header
  // for good), then without it; if that one gets an answer, the header was
  // the trouble: later requests leave it out, and the console says so once
  // (the id can still go in the URL, see `lastEventIdQuery`). Never a retry
  // loop: two extra requests, once. Not with a body that may not be sent
  // again (see #mayReconnect()): after a blip it may have reached the server.
  async #request(signal) {
    const id = this.#parser.lastEventId;
    const url = requestUrl(this.#plan, this.#requestUrl, id);
    const withHeader = this.#idHeader && id !== '';
    const refused = (e) => withHeader && !signal.aborted && mayBeCors(e) && isCrossOrigin(url) && (this.#plan.body === null || this.#replayBody);
    try {
      return await (withHeader ? send : sendChecked)(this.#plan, url, withHeader ? id : '', signal);
    } catch (e) {
      if (!refused(e)) throw e;
      try {
        return await send(this.#plan, url, id, signal);
      } catch (again) {
        if (!refused(again)) throw again;
      }
      const response = await sendChecked(this.#plan, url, '', signal);
      this.#idHeader = false;
      const where = originOf(url);
      const resumed = this.#plan.lastEventIdQuery === null
        ? 'so the server cannot resume: let its preflight allow it (Access-Control-Allow-Headers: Last-Event-ID), or use the lastEventIdQuery option.'
        : `and the id goes in the URL's "${this.#plan.lastEventIdQuery}" parameter only.`;
      console.warn(`ssekit EventSource: ${where} does not allow the Last-Event-ID header (its CORS preflight failed); reconnects to ${this.#url} go without it, ${resumed}`);
      return response;
    }
  }

  async #connect() {
    const controller = new AbortController();
    this.#controller = controller;
    this.#openedAt = Infinity;
    const current = () => this.#controller === controller;
    this.#attempts++;
    if (this.#onAttempt !== null) {
      const info = {
        kind: this.#attempts === 1 ? 'first' : 'reconnect',
        number: this.#attempts,
        failures: this.#failures,
        previousReason: this.#previous.reason,
        previousStatus: this.#previous.status,
      };
      try {
        const next = await runAttemptHook(this.#onAttempt, this.#attemptHookTimeout, this.#plan, this.#requestUrl, info, controller.signal);
        if (!current()) return;
        this.#plan = next.plan;
        this.#requestUrl = next.url;
      } catch (e) {
        if (current()) this.#reestablish(e, { sent: false });
        return;
      }
    }
    const idle = new IdleTimer(this.#idleTimeout, controller, this.#url);
    // Every wait below ends with the controller's abort (idle timeout, close()).
    const wait = untilAborted(controller.signal, cancelBody);
    let response;
    try {
      response = await wait(this.#request(controller.signal));
    } catch (e) {
      idle.stop();
      if (!current()) return;
      const error = connectionError(e, controller, this.#url);
      // A CORS refusal, a redirect out of http(s) or a port fetch() blocks
      // fails the connection; a network error reconnects.
      if (/^(?:cors_refused|redirect_refused|invalid_url)$/.test(error.reason)) this.#fail(error);
      else this.#reestablish(error, { sent: !neverSent(e) });
      return;
    }
    if (!current()) {
      idle.stop();
      if (response !== null && typeof response === 'object') cancelBody(response);
      return;
    }
    // Not while a refused response's body is read for the report: that has
    // its own deadline, and a 503's reconnect must not become an idle_timeout.
    idle.stop();
    let failure;
    try {
      failure = await checkResponse(response, this.#url, controller.signal);
    } catch (e) {
      failure = connectionError(e, controller, this.#url);
    }
    idle.touch();
    if (!current()) {
      idle.stop();
      return;
    }
    let reader = null;
    if (failure === null) {
      try {
        reader = bodyReader(response, this.#url);
      } catch (e) {
        failure = e;
      }
    }
    if (failure === null && reader === null) failure = invalidBody(response.body, this.#url);
    if (failure !== null) {
      idle.stop();
      if (failure.reason === 'http_status' && reconnectsAfterStatus(failure.status, this.#retryServerErrors, this.#onAttempt !== null)) {
        this.#reestablish(failure, { sent: true, status: failure.status, retryAfter: retryAfter(response.headers) });
      } else {
        this.#fail(notRetried(failure, this.#retryServerErrors));
      }
      return;
    }
    if (response.url && response.redirected !== false && /^(?:GET|HEAD)$/i.test(this.#plan.method)) {
      // Reconnects go straight to where a redirect led, as Chromium's. Any
      // other method (a POST, with its body) goes through the redirect again:
      // fetch() may have made it a GET (303; 301/302 after POST) and
      // response.url does not say, so resending the body there would send
      // what the server never asked for. fetch() dropped the credentials
      // when it left the origin; so must they. A `fetch` option may add
      // credentials of its own (an Authorization wrapper, as the
      // eventsource package documents), which only fetch()'s redirect
      // drops: then reconnects to another origin go through it again.
      const crossed = originOf(response.url) !== originOf(this.#requestUrl);
      if (!crossed || this.#plan.fetchFunction === globalThis.fetch) {
        if (crossed) this.#plan = withoutCredentials(this.#plan);
        // Without the id parameter this request carried (a redirect that
        // keeps the query kept it): each reconnect puts in the id then in
        // force, or none once the stream cleared it, as the header does.
        const name = this.#plan.lastEventIdQuery;
        this.#requestUrl = name === null || new URL(this.#requestUrl).searchParams.has(name) ? response.url : requestUrl(this.#plan, response.url, null);
      }
    }
    // The origin of the URL that answered, whatever the method.
    this.#origin = originOf(response.url || this.#requestUrl);
    this.#readyState = OPEN;
    this.#openedAt = performance.now();
    const progress = { sent: true, opened: true };
    dispatch.call(this, new Event('open'));
    let ending = null;
    try {
      // The parser's WebAssembly is compiled asynchronously (browsers); no-op once done.
      await core().prepare();
      while (current()) {
        // Counts from here, while the read waits: the time the listeners
        // took over the last chunk is not the server's silence (touched
        // before them, a timer due when they returned fired before the
        // bytes that came meanwhile were read).
        idle.touch();
        // A custom body's read() that gives no object: `value` is then
        // not bytes, which fails the connection as invalid_response below.
        const { done, value } = (await wait(reader.read())) ?? {};
        if (!current()) break;
        if (done) {
          ending = new SseError('end_of_stream', 'the server ended the stream', { url: this.#url });
          break;
        }
        try {
          this.#parser.feed(value);
        } catch (e) {
          if (!current()) break;
          idle.stop();
          if (e instanceof core().SseParseError) this.#fail(limitError(e, this.#url));
          // No WebAssembly instance for the parser (the engine's memories
          // are used up): the chunk was fine.
          else if (e instanceof core().SseLoadError) this.#fail(new SseError(e.code, e.message, { cause: e, url: this.#url }));
          else this.#fail(new SseError('invalid_response', `the response body gave a chunk that is not bytes: ${e.message}`, { cause: e, url: this.#url }));
          return;
        }
      }
    } catch (e) {
      if (current()) ending = connectionError(e, controller, this.#url);
    } finally {
      idle.stop();
      reader.cancel().catch(() => {});
    }
    if (current() && ending !== null) this.#reestablish(ending, progress);
  }

  #dispatchMessage(type, data, lastEventId) {
    if (this.#readyState === CLOSED) return;
    this.#openedAt = -Infinity;
    dispatch.call(this, (dispatching = new SseMessageEvent(type, data, this.#origin, lastEventId)));
    dispatching = null;
  }

  // "Fail the connection": CLOSED, then `error`; no reconnect.
  #fail(error) {
    this.#unwatchDocument();
    this.#readyState = CLOSED;
    this.#stopConnection();
    this.#parser.close();
    dispatch.call(this, errorEvent(error));
  }

  // Whether the request may go again after this attempt (the C++
  // may_send_again()): without a body always; with one, with replayBody, or
  // when the attempt was refused before the server acted on it (nothing
  // sent, or a refusal status). A stream that opened, or a request sent
  // and left unanswered, is not replayed.
  #mayReconnect(progress) {
    if (this.#plan.body === null || this.#replayBody) return true;
    if (progress.opened) return false;
    if (progress.status !== undefined) return isRefusalStatus(progress.status, this.#onAttempt !== null);
    return !progress.sent;
  }

  // "Reestablish the connection": CONNECTING and `error`, then after the
  // reconnection time (longer after failures in a row) a new request.
  // `progress`: how far the attempt got ({ sent, opened, status }), for
  // the rule on sending a body again; `retryAfter`: the server's wait (ms).
  #reestablish(error, given = { sent: true, opened: true }) {
    const progress = { __proto__: null, ...given };  // nothing inherited
    if (!this.#mayReconnect(progress)) {
      error.message += `; the request (with a body) ${progress.opened ? 'is not sent again after its stream opened' : 'was sent and not refused, so it is not sent again'}: set replayBody to resend it`;
      this.#fail(error);
      return;
    }
    this.#stopConnection();
    // No failure either: a stream that stayed open as long as the wait
    // another failure would bring (no jitter), even without an event. A
    // proxy that cuts idle streams pushed a quiet, healthy one towards
    // maxDelay between connections (the C++ client's rule too).
    this.#failures =
      performance.now() - this.#openedAt >= reconnectDelay(this.#reconnectionTime, this.#failures + 1, this.#backoff, () => 0)
        ? 0
        : Math.min(this.#failures + 1, MAX_FAILURES);
    this.#previous = { reason: error.reason, status: error.status };
    this.#readyState = CONNECTING;
    this.#parser.reset();
    const delay = Math.max(reconnectDelay(this.#reconnectionTime, this.#failures, this.#backoff, randomUpTo), progress.retryAfter ?? 0);
    dispatch.call(this, errorEvent(error, delay));
    if (this.#readyState !== CONNECTING || this.#timer !== null || this.#controller !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#readyState === CONNECTING) this.#start();
    }, delay);
  }
};

// WebIDL's shape, as the browser's class has it: operations enumerable,
// attributes enumerable accessors, the constants read-only data properties
// on the class and the prototype, and the toString tag.
for (const [name, value] of [['CONNECTING', CONNECTING], ['OPEN', OPEN], ['CLOSED', CLOSED]]) {
  // New properties: not writable, not configurable unless said.
  const constant = { value, enumerable: true };
  Object.defineProperty(EventSource, name, constant);
  Object.defineProperty(EventSource.prototype, name, constant);
}
for (const name of ['close', 'url', 'withCredentials', 'readyState', 'onopen', 'onmessage', 'onerror']) {
  Object.defineProperty(EventSource.prototype, name, { enumerable: true });
}
Object.defineProperty(EventSource.prototype, Symbol.toStringTag, { value: 'EventSource', configurable: true });

module.exports = { EventSource, SseError };
// For stream.cjs (not part of the package's API): the rules both share.
module.exports.shared = {
  DEFAULT_RECONNECTION_TIME,
  MAX_FAILURES,
  core,
  SseError,
  checkObject,
  checkMilliseconds,
  checkFlag,
  checkBackoff,
  reconnectDelay,
  notRetried,
  randomUpTo,
  parseUrl,
  urlRefusal,
  checkLastEventId,
  requestPlan,
  isRefusalStatus,
  reconnectsAfterStatus,
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
};
