// EventSource (and a little stream()) edges a mutation run of
// eventsource.cjs found untested: Retry-After (delta-seconds and HTTP-dates,
// RFC 9110 10.2.3 and 5.6.7), the backoff arithmetic, the body excerpt of a
// refused response, MIME type parsing, the attempt hook, cross-origin
// probes, timers and listeners left behind, option checks and constants.
// Everything is observed through the public API: the error event's
// reconnectDelay, SseError fields and what fetch() was asked to send.
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventSource, stream } from '../src/index.mjs';
import { runNodeScript } from './node-script.mjs';
import { sendStream, testFixtures, within } from './eventsource-server.mjs';

const { server, open } = testFixtures();
const index = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/index.cjs');
async function flush() {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}
// With setTimeout mocked (rec.until's own timeout would never fire): lets
// up to 50 turns of the event loop pass until `predicate` holds, then asserts it.
async function settles(predicate, what) {
  for (let i = 0; i < 50 && !predicate(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(predicate(), what);
}

// The error event after one refused answer (503 unless given), with a 1 ms
// floor so that the wait is Retry-After's; `response` is what fetch()
// resolves to (a Response, or a custom fetch's response object).
async function errorAfter(response, options = {}) {
  const source = new EventSource('http://example.test/', {
    retryServerErrors: true,
    reconnectionTime: 1,
    backoff: { minDelay: 1, jitter: 0 },
    fetch: async () => (typeof response === 'function' ? response() : response),
    ...options,
  });
  const event = await new Promise((resolve) => source.addEventListener('error', resolve, { once: true }));
  source.close();
  return event;
}
const refused = (headers, status = 503) => () => new Response('', { status, headers });
const waitAfter = async (headers, options) => (await errorAfter(refused(headers), options)).reconnectDelay;

// The reconnectDelay of the first `n` error events of connections that all
// fail (a network error), setTimeout mocked and ticked through each wait.
async function delays(n, options) {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const fetch = async () => {
      throw new TypeError('connection refused');
    };
    const { source, rec, errors } = open('http://example.test/', { fetch, ...options });
    const out = [];
    for (let i = 1; i <= n; i++) {
      await settles(() => rec.count('error') === i, `error ${i}`);
      out.push(errors[i - 1].reconnectDelay);
      if (i < n) {
        mock.timers.tick(errors[i - 1].reconnectDelay);
        await flush();
      }
    }
    source.close();
    return out;
  } finally {
    mock.timers.reset();
  }
}

const DAY = 24 * 3600 * 1000;

describe('EventSource: Retry-After', () => {
  // A server's clock (Date) and a Retry-After HTTP-date a little later.
  const at = (retryAfter, date = 'Sun, 06 Nov 1994 08:49:37 GMT') => waitAfter({ date, 'retry-after': retryAfter });

  it('delta-seconds are capped at 24 h, exactly', { timeout: 10000 }, async () => {
    assert.equal(await waitAfter({ 'retry-after': '86400' }), DAY);
    assert.equal(await waitAfter({ 'retry-after': '100000' }), DAY);
  });

  it('an HTTP-date is counted from the response\'s Date, seconds included, and capped at 24 h', { timeout: 10000 }, async () => {
    assert.equal(await at('Sun, 06 Nov 1994 08:49:38 GMT'), 1000);
    assert.equal(await at('Sun, 06 Nov 1994 08:50:37 GMT'), 60_000);
    // Another year than the server's Date: the year is read, not assumed.
    assert.equal(await at('Mon, 01 Jan 2001 00:00:10 GMT', 'Mon, 01 Jan 2001 00:00:00 GMT'), 10_000);
    assert.equal(await at('Mon, 01 Jan 2001 00:00:00 GMT', 'Sun, 31 Dec 2000 23:59:50 GMT'), 10_000);
    assert.equal(await at('Mon, 13 Nov 1994 08:49:37 GMT'), DAY);
  });

  it('an HTTP-date with no Date header is counted from now', { timeout: 10000 }, async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.UTC(2026, 0, 1) });
    try {
      assert.equal(await waitAfter({ 'retry-after': 'Thu, 01 Jan 2026 00:00:30 GMT' }), 30_000);
      // A Date header that is not an HTTP-date: now again.
      assert.equal(await waitAfter({ date: 'yesterday', 'retry-after': 'Thu, 01 Jan 2026 00:00:30 GMT' }), 30_000);
    } finally {
      mock.timers.reset();
    }
  });

  it('the hour, minute and second are range-checked (23:59:60, a leap second, is valid)', { timeout: 10000 }, async () => {
    // 60 s after 08:49:37 is 08:50:37: leap second 60 is read as 60 s.
    assert.equal(await at('Sun, 06 Nov 1994 08:49:60 GMT'), 23_000);
    // Out of range: not a date, so no wait beyond the floor (1 ms).
    assert.equal(await at('Sun, 06 Nov 1994 24:00:00 GMT', 'Sat, 05 Nov 1994 23:59:50 GMT'), 1);
    assert.equal(await at('Sun, 06 Nov 1994 08:60:00 GMT'), 1);
  });

  it('the day is checked against the month, with the Gregorian leap years', { timeout: 10000 }, async () => {
    assert.equal(await at('Mon, 31 Jan 2000 00:00:10 GMT', 'Mon, 31 Jan 2000 00:00:00 GMT'), 10_000);
    // 2000 is a leap year (divisible by 400), 2100 and 2023 are not.
    assert.equal(await at('Tue, 29 Feb 2000 00:00:10 GMT', 'Tue, 29 Feb 2000 00:00:00 GMT'), 10_000);
    assert.equal(await at('Mon, 29 Feb 2100 00:00:10 GMT', 'Sun, 28 Feb 2100 23:59:50 GMT'), 1);
    assert.equal(await at('Wed, 29 Feb 2023 00:00:10 GMT', 'Tue, 28 Feb 2023 23:59:50 GMT'), 1);
    // Day 00 is no day.
    assert.equal(await at('Sat, 00 Jan 2000 00:00:10 GMT', 'Thu, 30 Dec 1999 23:59:50 GMT'), 1);
  });

  it('an RFC 850 date\'s two-digit year is within 50 years of now', { timeout: 10000 }, async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.UTC(2026, 0, 1) });
    try {
      // 76 is 2076, 50 years ahead: a future date (capped at 24 h).
      assert.equal(await waitAfter({ 'retry-after': 'Wednesday, 01-Jan-76 00:00:00 GMT' }), DAY);
      // 77 would be 51 years ahead: 1977, long past, so no wait.
      assert.equal(await waitAfter({ 'retry-after': 'Friday, 01-Jan-77 00:00:00 GMT' }), 1);
      assert.equal(await waitAfter({ 'retry-after': 'Thursday, 01-Jan-26 00:00:05 GMT' }), 5000);
    } finally {
      mock.timers.reset();
    }
  });

  it('a custom fetch\'s headers are trimmed as fetch()\'s are (Retry-After and Date)', { timeout: 10000 }, async () => {
    const custom = (entries) => () => ({ status: 503, headers: new Map(entries), body: null });
    assert.equal((await errorAfter(custom([['retry-after', ' 5 ']]))).reconnectDelay, 5000);
    const date = [['retry-after', 'Sun, 06 Nov 1994 08:49:47 GMT'], ['date', ' Sun, 06 Nov 1994 08:49:37 GMT ']];
    assert.equal((await errorAfter(custom(date))).reconnectDelay, 10_000);
  });
});

describe('EventSource: reconnect delay', () => {
  it('the second failure in a row already doubles the wait, and each failure doubles it once', { timeout: 10000 }, async () => {
    assert.deepEqual(await delays(5, { reconnectionTime: 100, backoff: { jitter: 0, minDelay: 1, maxDelay: 1000 } }), [100, 200, 400, 800, 1000]);
  });

  it('minDelay is the floor even of a reconnection time of 0 (retry: 0 can\'t make a storm)', { timeout: 10000 }, async () => {
    assert.deepEqual(await delays(2, { reconnectionTime: 0, backoff: { jitter: 0 } }), [250, 500]);
  });

  it('the default backoff: factor 2, maxDelay 10 s', { timeout: 10000 }, async () => {
    assert.deepEqual(await delays(4, { reconnectionTime: 4000, backoff: { jitter: 0 } }), [4000, 8000, 10_000, 10_000]);
  });

  it('jitter takes off up to its share of the wait, never going below the floor', { timeout: 10000 }, async () => {
    // Math.random() just under 1: the most jitter there is.
    mock.method(Math, 'random', () => 0.999999);
    try {
      // Floor 100: 200 less up to 100 (all of it, random(100) is 100), 400 less up to 200.
      assert.deepEqual(await delays(3, { reconnectionTime: 100, backoff: { minDelay: 1 } }), [100, 100, 200]);
      // jitter 1: 200 less up to 200, but not below the floor.
      assert.deepEqual(await delays(2, { reconnectionTime: 100, backoff: { minDelay: 1, jitter: 1 } }), [100, 100]);
      // backoff: false has no jitter (and no growth).
      assert.deepEqual(await delays(3, { reconnectionTime: 300, backoff: false }), [300, 300, 300]);
    } finally {
      mock.restoreAll();
    }
  });

  it('factor is read to the thousandth, rounded', { timeout: 10000 }, async () => {
    assert.deepEqual(await delays(2, { reconnectionTime: 1000, backoff: { factor: 1.9999, jitter: 0 } }), [1000, 2000]);
  });

  it('reconnectionTime drops fractions and saturates at 2^31-1 ms', { timeout: 10000 }, async () => {
    assert.deepEqual(await delays(1, { reconnectionTime: 100.9, backoff: { minDelay: 1 } }), [100]);
    assert.deepEqual(await delays(1, { reconnectionTime: 2 ** 40 }), [2 ** 31 - 1]);
  });
});

// A custom fetch's response object with an async-iterable body; `returned`
// resolves when the body is cancelled (its iterator's return()).
function customResponse(status, chunks, { contentType = 'text/plain', hang = true } = {}) {
  let reads = 0;
  let returned;
  let wasCancelled = false;
  const cancelled = new Promise((resolve) => (returned = resolve));
  const body = {
    [Symbol.asyncIterator]() {
      let i = 0;
      return {
        next: () => {
          reads++;
          if (i < chunks.length) return Promise.resolve({ done: false, value: chunks[i++] });
          return hang ? new Promise(() => {}) : Promise.resolve({ done: true });
        },
        return: () => {
          wasCancelled = true;
          returned();
          return Promise.resolve({ done: true });
        },
      };
    },
  };
  const response = { status, headers: new Headers({ 'content-type': contentType }), body };
  return { response, cancelled, reads: () => reads, wasCancelled: () => wasCancelled };
}
const bytes = (...parts) => new Uint8Array(parts.flatMap((p) => (typeof p === 'string' ? [...new TextEncoder().encode(p)] : p)));

describe('EventSource: the body excerpt of a refused response', () => {
  it('is the first 1024 bytes exactly, from one larger chunk', { timeout: 10000 }, async () => {
    const { error } = await errorAfter(new Response('x'.repeat(3000), { status: 404 }));
    assert.equal(error.reason, 'http_status');
    assert.equal(error.body, 'x'.repeat(1024));
  });

  it('stops reading once 1024 bytes came, without waiting for more, and cancels the rest', { timeout: 10000 }, async () => {
    const { response, cancelled, reads } = customResponse(404, [bytes('y'.repeat(1024))]);
    const { error } = await errorAfter(response);
    assert.equal(error.body, 'y'.repeat(1024));
    assert.equal(reads(), 1);
    await within(5000, 'the body cancelled', () => cancelled);
  });

  it('decodes UTF-8 split across chunks, and ends a truncated character as U+FFFD', { timeout: 10000 }, async () => {
    const euro = [0xe2, 0x82, 0xac];
    const { response } = customResponse(404, [bytes('a', euro.slice(0, 1)), bytes(euro.slice(1), 'b', euro.slice(0, 2))], { hang: false });
    const { error } = await errorAfter(response);
    assert.equal(error.body, 'a\u20acb\ufffd');
  });

  it('a body that never ends is given up on after 2 s (ERROR_BODY_TIME), then cancelled', { timeout: 10000 }, async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const { response, wasCancelled } = customResponse(404, [bytes('partial')]);
      const { rec, errors } = open('http://example.test/', { fetch: async () => response });
      await flush();
      mock.timers.tick(1999);
      await flush();
      assert.equal(rec.count('error'), 0, 'failed before 2 s');
      mock.timers.tick(1);
      await settles(() => rec.count('error') === 1, 'the failure at 2 s');
      assert.equal(errors[0].error.body, 'partial');
      await flush();
      assert.equal(wasCancelled(), true, 'the body was not cancelled');
    } finally {
      mock.timers.reset();
    }
  });
});

describe('EventSource: responses', () => {
  it('a 2xx other than 200 fails the connection, even with text/event-stream', { timeout: 10000 }, async () => {
    const { error, reconnectDelay } = await errorAfter(new Response('data: x\n\n', { status: 201, headers: { 'content-type': 'text/event-stream' } }));
    assert.equal(error.reason, 'http_status');
    assert.equal(error.status, 201);
    assert.equal(reconnectDelay, null);
  });

  it('a 204 from a custom fetch has its body cancelled', { timeout: 10000 }, async () => {
    const { response, cancelled } = customResponse(204, [bytes('ignored')]);
    const { error } = await errorAfter(response);
    assert.equal(error.reason, 'no_content');
    await within(5000, 'the body cancelled', () => cancelled);
  });

  it('a response that comes after close() has its body cancelled', { timeout: 10000 }, async () => {
    const { response, cancelled } = customResponse(200, [bytes('data: x\n\n')], { contentType: 'text/event-stream' });
    let answer;
    let called;
    const asked = new Promise((resolve) => (called = resolve));
    const source = new EventSource('http://example.test/', {
      fetch: () => {
        called();
        return new Promise((resolve) => (answer = resolve));
      },
    });
    await asked;
    source.close();
    answer(response);
    await within(5000, 'the body cancelled', () => cancelled);
  });

  it('SseError.url is where a redirect led', { timeout: 10000 }, async () => {
    const target = await server((req, res) => res.writeHead(404).end());
    const start = await server((req, res) => res.writeHead(307, { location: target.url }).end());
    const { rec, errors } = open(start.url);
    await rec.until(() => rec.count('error') === 1, 'the failure');
    assert.equal(errors[0].error.url, target.url);
  });
});

describe('EventSource: content types', () => {
  const opens = async (contentType) => {
    const event = await errorAfter(new Response('data: x\n\n', { headers: { 'content-type': contentType } }));
    return event.error.reason === 'end_of_stream' ? true : event.error.reason === 'wrong_content_type' ? false : event.error.reason;
  };
  it('the type and subtype are case-insensitive', { timeout: 10000 }, async () => {
    assert.equal(await opens('Text/Event-Stream'), true);
  });
  it('white space after the subtype, before parameters, is allowed', { timeout: 10000 }, async () => {
    assert.equal(await opens('text/event-stream ; charset=utf-8'), true);
  });
  it('*/* is skipped: the last type other than it counts', { timeout: 10000 }, async () => {
    assert.equal(await opens('text/event-stream, */*'), true);
  });
  it('commas inside quoted strings do not split values, with backslash escapes', { timeout: 10000 }, async () => {
    assert.equal(await opens('text/html; x=",text/event-stream;y="'), false);
    assert.equal(await opens('text/html; x="\\"", text/event-stream'), true);
  });
});

describe('EventSource: the request', () => {
  it('an id with a control character from the stream is not sent in Last-Event-ID', { timeout: 10000 }, async () => {
    const inits = [];
    const fetch = async (url, init) => {
      inits.push(init);
      return new Response(inits.length === 1 ? 'id: a\x01b\ndata: x\n\n' : 'data: y\n\n', { headers: { 'content-type': 'text/event-stream' } });
    };
    const { source, rec } = open('http://example.test/', { fetch, reconnectionTime: 1, backoff: { minDelay: 1 } });
    await rec.until(() => rec.count('message') === 2, 'the second stream');
    source.close();
    assert.equal(rec.log.includes('message "x" id="a\\u0001b"'), true);
    assert.equal(inits[1].headers['last-event-id'], undefined);
  });

  it('a non-ASCII id goes in Last-Event-ID as its UTF-8 bytes, as browsers send it', { timeout: 10000 }, async () => {
    const ids = [];
    const fetch = async (url, init) => {
      ids.push(init.headers['last-event-id']);
      return new Response(ids.length === 1 ? 'id: é€\ndata: x\n\n' : 'data: y\n\n', { headers: { 'content-type': 'text/event-stream' } });
    };
    const { source, rec } = open('http://example.test/', { fetch, reconnectionTime: 1, backoff: { minDelay: 1 } });
    await rec.until(() => rec.count('message') === 2, 'the second stream');
    source.close();
    assert.deepEqual(ids, [undefined, '\xc3\xa9\xe2\x82\xac']);
  });

  it('lastEventIdQuery adds no parameter while there is no id', { timeout: 10000 }, async () => {
    const urls = [];
    const fetch = async (url) => {
      urls.push(url);
      return new Response('data: x\n\n', { headers: { 'content-type': 'text/event-stream' } });
    };
    const { source, rec } = open('http://example.test/s?a=1', { fetch, lastEventIdQuery: 'lastId' });
    await rec.until(() => rec.count('message') === 1, 'the event');
    source.close();
    assert.deepEqual(urls, ['http://example.test/s?a=1']);
  });

  // searchParams.set() would write the whole query again as a form (~ as
  // %7E, a%20b as a+b, flag as flag=), and a signed URL would then fail on
  // every reconnect.
  it('lastEventIdQuery leaves the rest of the query as it was, byte for byte', { timeout: 10000 }, async () => {
    const urls = [];
    const fetch = async (url) => {
      urls.push(url);
      return new Response(urls.length === 1 ? 'id: 7 \u00e9\ndata: x\n\n' : 'data: y\n\n', { headers: { 'content-type': 'text/event-stream' } });
    };
    const query = "sig=ab~c%2Fd*e&flag&q=a%20b&&last=old&t='x'&last";
    const { source, rec } = open(`http://example.test/s?${query}`, { fetch, lastEventIdQuery: 'last', reconnectionTime: 1, backoff: { minDelay: 1 } });
    await rec.until(() => rec.count('message') === 2, 'the second stream');
    source.close();
    assert.deepEqual(urls, [
      "http://example.test/s?sig=ab~c%2Fd*e&flag&q=a%20b&&last=old&t=%27x%27&last",
      'http://example.test/s?sig=ab~c%2Fd*e&flag&q=a%20b&&t=%27x%27&last=7+%C3%A9',
    ]);
  });

  // A probe found it: the parameter ssekit put in stayed in the URL a
  // redirect led to, and a server that reads it replayed from the old id.
  it('lastEventIdQuery: after a redirect that keeps the query, a cleared id leaves no stale parameter', { timeout: 10000 }, async () => {
    let streams = 0;
    const target = await server((req, res) => {
      if (!req.url.startsWith('/s/')) return void res.writeHead(301, { location: req.url.replace('/s', '/s/') }).end();
      sendStream(res, ++streams === 1 ? 'retry: 1\nid: 1\ndata: a\n\nid\ndata: b\n\n' : 'data: c\n\n');
    });
    const start = new URL('/s?k=v', target.url).href;
    const { source, rec } = open(start, { lastEventIdQuery: 'last', lastEventId: '0', reconnectionTime: 1, backoff: { minDelay: 1 } });
    await rec.until(() => rec.count('message') === 4, 'the third stream');
    source.close();
    assert.deepEqual(target.requests.slice(0, 4).map((r) => r.url), ['/s?k=v&last=0', '/s/?k=v&last=0', '/s/?k=v', '/s/?k=v']);
  });

  it('a blob: URL is fetched (fetch() reads blob: URLs)', { timeout: 10000 }, async () => {
    const urls = [];
    const fetch = async (url) => {
      urls.push(url);
      return new Response('data: x\n\n', { headers: { 'content-type': 'text/event-stream' } });
    };
    const { source, rec } = open('blob:http://example.test/0b8f6c9c-1f9a-4a7e-9d51-2f1f0f0c7a11', { fetch });
    await rec.until(() => rec.count('message') === 1, 'the event');
    source.close();
    assert.equal(urls.length, 1);
  });

  it('a URL with only a password (http://:secret@host/) is refused as invalid_url', { timeout: 10000 }, async () => {
    const { rec, errors } = open('http://:secret@example.test/', { fetch: async () => assert.fail('fetched') });
    await rec.until(() => rec.count('error') === 1, 'the failure');
    assert.equal(errors[0].error.reason, 'invalid_url');
  });

  it('after a redirect to another origin, reconnects go without Cookie and Proxy-Authorization too', { timeout: 10000 }, async () => {
    const target = await server((req, res) => sendStream(res, 'data: x\n\n'));
    const start = await server((req, res) => res.writeHead(307, { location: target.url }).end());
    const headers = { cookie: 'session=1', 'proxy-authorization': 'Basic eDp5', 'x-other': 'kept' };
    const { source } = open(start.url, { headers, reconnectionTime: 1, backoff: { minDelay: 1 } });
    await target.waitForRequests(2);
    source.close();
    assert.equal(start.requests[0].headers.cookie, 'session=1');
    const second = target.requests[1].headers;
    assert.deepEqual([second.cookie, second['proxy-authorization'], second['x-other']], [undefined, undefined, 'kept']);
  });

  it('a network error\'s message ends with the innermost cause, however deep', { timeout: 10000 }, async () => {
    const inner = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const fetch = async () => {
      throw new TypeError('fetch failed', { cause: new Error('connection failed', { cause: new Error('socket error', { cause: inner }) }) });
    };
    const { error } = await errorAfter(fetch, { fetch });
    assert.equal(error.reason, 'network_error');
    assert.match(error.message, /\(connect ECONNREFUSED 127\.0\.0\.1:1\)$/);
  });
});

describe('EventSource: the attempt hook', () => {
  const hookError = async (onAttempt, options = {}) => {
    let fetched = 0;
    const fetch = async () => {
      fetched++;
      return new Response('data: x\n\n', { headers: { 'content-type': 'text/event-stream' } });
    };
    const { error } = await errorAfter(null, { fetch, onAttempt, ...options });
    return [error.reason, fetched];
  };
  it('a request to a data: or user:pass@ URL can\'t be sent: attempt_hook_failed, nothing fetched', { timeout: 10000 }, async () => {
    assert.deepEqual(await hookError((r) => ({ ...r, url: 'data:text/event-stream,data: x%0A%0A' })), ['attempt_hook_failed', 0]);
    assert.deepEqual(await hookError((r) => ({ ...r, url: 'http://user:pass@example.test/' })), ['attempt_hook_failed', 0]);
  });

  // Probe findings: `{ url }` alone had made a POST a GET without its body
  // and headers; a ReadableStream from the hook went out once, then every
  // attempt failed as a network error with nothing sent.
  it('an object it returns keeps what it leaves out; null removes', { timeout: 10000 }, async () => {
    const sent = [];
    const fetch = async (url, init) => {
      sent.push([url, init.method, init.headers.authorization, init.body ?? null]);
      return new Response(sent.length === 1 ? 'retry: 1\ndata: x\n\n' : 'data: y\n\n', { headers: { 'content-type': 'text/event-stream' } });
    };
    const onAttempt = (request, info) => (info.number === 1 ? { url: `${request.url}?v=2` } : { url: request.url, body: null, method: 'GET' });
    const options = { fetch, onAttempt, method: 'POST', body: '{"q":1}', headers: { authorization: 'Bearer t' }, replayBody: true, backoff: { minDelay: 1 } };
    const { source, rec } = open('http://example.test/s', options);
    await rec.until(() => rec.count('message') === 2, 'the second stream');
    source.close();
    assert.deepEqual(sent, [
      ['http://example.test/s?v=2', 'POST', 'Bearer t', '{"q":1}'],
      ['http://example.test/s?v=2', 'GET', 'Bearer t', null],
    ]);
  });

  it('a new body that streams is refused: attempt_hook_failed, nothing fetched', { timeout: 10000 }, async () => {
    const body = () => new ReadableStream({ start: (c) => c.close() });
    const options = { method: 'POST', body: 'x', replayBody: true };
    assert.deepEqual(await hookError((r) => ({ ...r, body: body() }), options), ['attempt_hook_failed', 0]);
    assert.deepEqual(await hookError((r) => void (r.body = body()), options), ['attempt_hook_failed', 0]);
  });

  it('keeps lastEventIdQuery for the requests it changed', { timeout: 10000 }, async () => {
    const urls = [];
    const fetch = async (url) => {
      urls.push(url);
      return new Response(urls.length === 1 ? 'id: 7\ndata: x\n\n' : 'data: y\n\n', { headers: { 'content-type': 'text/event-stream' } });
    };
    const onAttempt = (request) => request.headers.set('x-token', 't');
    const { source, rec } = open('http://example.test/s', { fetch, onAttempt, lastEventIdQuery: 'last', reconnectionTime: 1, backoff: { minDelay: 1 } });
    await rec.until(() => rec.count('message') === 2, 'the second stream');
    source.close();
    assert.deepEqual(urls, ['http://example.test/s', 'http://example.test/s?last=7']);
  });

  it('by default may take 10 s (attemptHookTimeout)', { timeout: 10000 }, async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const { source, rec, errors } = open('http://example.test/', { fetch: async () => assert.fail('fetched'), onAttempt: () => new Promise(() => {}) });
      await flush();
      mock.timers.tick(9999);
      await flush();
      assert.equal(rec.count('error'), 0, 'gave up before 10 s');
      mock.timers.tick(1);
      await settles(() => rec.count('error') === 1, 'the timeout');
      assert.equal(errors[0].error.reason, 'attempt_hook_failed');
      source.close();
    } finally {
      mock.timers.reset();
    }
  });
});

describe('EventSource: option checks', () => {
  const fetch = () => new Promise(() => {});
  const throws = (options, type) => assert.throws(() => new EventSource('http://example.test/', { fetch, ...options }), type, JSON.stringify(options));
  it('refuses what could never work, naming the option', { timeout: 10000 }, () => {
    throws({ backoff: { minDelay: 0 } }, RangeError);
    throws({ attemptHookTimeout: 0 }, RangeError);
    throws({ replayBody: 'yes' }, TypeError);
    throws({ retryServerErrors: 1 }, TypeError);
    throws({ method: 'TRACK' }, TypeError);
    throws({ method: 'HEAD', body: 'x' }, TypeError);
    throws({ lastEventIdQuery: '' }, TypeError);
    throws({ lastEventId: 'a\nb' }, TypeError);
  });
  it('accepts the ends of each range', { timeout: 10000 }, () => {
    for (const options of [{ reconnectionTime: 0 }, { backoff: { factor: 1, jitter: 0 } }, { backoff: { factor: 100, jitter: 1 } }, { attemptHookTimeout: 1 }]) {
      new EventSource('http://example.test/', { fetch, ...options }).close();
    }
  });
});

// Probe findings: each was accepted, then sent as something else or
// refused by fetch() on every attempt, reconnecting for ever.
describe('EventSource and stream(): what fetch() could never send is refused up front', () => {
  const fetch = () => new Promise(() => {});
  const refused = (options) => {
    assert.throws(() => new EventSource('http://example.test/', { fetch, ...options }), TypeError, 'EventSource');
    assert.throws(() => stream('http://example.test/', { fetch, ...options }), TypeError, 'stream()');
  };
  const taken = (options) => {
    new EventSource('http://example.test/', { fetch, ...options }).close();
    stream('http://example.test/', { fetch, ...options }).return();
  };
  it('a body fetch() would send as its String()', { timeout: 10000 }, () => {
    for (const body of [{ prompt: 'hi' }, Object.create(null), [1, 2], 5, true, 5n]) refused({ method: 'POST', body });
    for (const body of ['x', new Uint8Array(1), new ArrayBuffer(1), new DataView(new ArrayBuffer(1)), new Blob(['x']), new FormData(), new URLSearchParams('a=1')]) {
      taken({ method: 'POST', body });
    }
    // An async iterable written as an object literal is a stream body (stream() sends it).
    stream('http://example.test/', { fetch, method: 'POST', body: { async *[Symbol.asyncIterator]() {} } }).return();
  });
  it('HEAD, whose answer has no body', { timeout: 10000 }, () => {
    refused({ method: 'HEAD' });
    refused({ method: 'head' });
  });
  it("the headers Node's fetch() refuses", { timeout: 10000 }, () => {
    for (const headers of [{ 'Transfer-Encoding': 'chunked' }, { upgrade: 'h2c' }, { 'keep-alive': 'timeout=5' }, { expect: '100-continue' }, { connection: 'upgrade' }]) refused({ headers });
    taken({ headers: { connection: 'keep-alive' } });
    taken({ headers: { Connection: 'Close' } });
  });
  it('a port fetch() blocks: invalid_url, CLOSED, no reconnect', { timeout: 10000 }, async () => {
    const { rec, errors } = open('http://127.0.0.1:6000/', { reconnectionTime: 1, backoff: { minDelay: 1 } });
    await rec.until(() => rec.count('error') === 1, 'the failure');
    await flush();
    assert.deepEqual(rec.log, ['error 2 invalid_url']);
    assert.match(errors[0].error.message, /bad port/);
    await assert.rejects(stream('http://127.0.0.1:6000/').next(), (e) => e.reason === 'invalid_url');
  });
  it("stream()'s invalid URL is not called an EventSource's", { timeout: 10000 }, () => {
    assert.throws(() => stream('http://[bad'), (e) => e.name === 'SyntaxError' && /^ssekit stream\(\): cannot fetch 'http:\/\/\[bad'/.test(e.message));
    assert.throws(() => new EventSource('http://[bad'), (e) => e.name === 'SyntaxError' && /Cannot open an EventSource to/.test(e.message));
  });
  it('an idleTimeout below 1 ms is 1 ms, not 0 (never)', { timeout: 10000 }, async () => {
    const silent = async () => new Response(new ReadableStream({}), { headers: { 'content-type': 'text/event-stream' } });
    const { source, rec, errors } = open('http://example.test/', { fetch: silent, idleTimeout: 0.5 });
    await rec.until(() => rec.count('error') === 1, 'the idle timeout');
    source.close();
    assert.equal(errors[0].error.reason, 'idle_timeout');
  });
});

describe('EventSource: the Last-Event-ID header option', () => {
  it('the lastEventId option wins over a Last-Event-ID header, which is not sent again once the stream cleared the id', { timeout: 10000 }, async () => {
    const ids = [];
    const fetch = async (url, init) => {
      ids.push(init.headers['last-event-id']);
      return new Response(ids.length === 1 ? 'id\ndata: x\n\n' : 'data: y\n\n', { headers: { 'content-type': 'text/event-stream' } });
    };
    const { source, rec } = open('http://example.test/', { fetch, lastEventId: 'opt', headers: { 'Last-Event-ID': 'hdr' }, reconnectionTime: 1, backoff: { minDelay: 1 } });
    await rec.until(() => rec.count('message') === 2, 'the second stream');
    source.close();
    assert.deepEqual(ids, ['opt', undefined]);
  });
});

// Timers left behind keep Node running after close(): each case runs in a
// child process and counts its pending timeouts once everything is over.
describe('EventSource and stream(): no timer left behind', () => {
  const timersAfter = (code) => runNodeScript(`
    const { EventSource, stream } = require(${JSON.stringify(index)});
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const settle = async () => { for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r)); };
    (async () => { ${code} })().then((out) => console.log(JSON.stringify(out)));`);

  it('an attempt hook that answered leaves no attemptHookTimeout timer', { timeout: 10000 }, async () => {
    const out = await timersAfter(`
      const fetch = async () => new Response('data: x\\n\\n', { headers: { 'content-type': 'text/event-stream' } });
      const source = new EventSource('http://example.test/', { fetch, onAttempt: () => {}, attemptHookTimeout: 600000 });
      await new Promise((resolve) => (source.onmessage = resolve));
      source.close();
      await settle();
      return timers();`);
    assert.equal(out, 0);
  });

  it("a refused response's body excerpt leaves no 2 s timer", { timeout: 10000 }, async () => {
    const out = await timersAfter(`
      const source = new EventSource('http://example.test/', { fetch: async () => new Response('nope', { status: 404 }) });
      await new Promise((resolve) => (source.onerror = resolve));
      await settle();
      return timers();`);
    assert.equal(out, 0);
  });

  it('stream() aborted during its wait after a refusal leaves no timer', { timeout: 10000 }, async () => {
    const out = await timersAfter(`
      const controller = new AbortController();
      const fetch = async () => new Response('', { status: 503, headers: { 'retry-after': '600' } });
      const done = stream('http://example.test/', { fetch, retryServerErrors: true, signal: controller.signal }).next().catch((e) => e.name);
      while (timers() === 0) await new Promise((r) => setImmediate(r));
      controller.abort();
      const name = await done;
      await settle();
      return [name, timers()];`);
    assert.deepEqual(out, ['AbortError', 0]);
  });
});

describe('stream(): many refusals', () => {
  it('leave no abort listeners piling up (no MaxListenersExceededWarning)', { timeout: 10000 }, async () => {
    const warnings = [];
    const onWarning = (w) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      let n = 0;
      const fetch = async () => (++n <= 15 ? new Response('', { status: 503 }) : new Response('data: ok\n\n', { headers: { 'content-type': 'text/event-stream' } }));
      const out = [];
      for await (const ev of stream('http://example.test/', { fetch, retryServerErrors: true, reconnectionTime: 1, backoff: { factor: 1, minDelay: 1, jitter: 0 } })) out.push(ev.data);
      await flush();
      assert.deepEqual(out, ['ok']);
      assert.deepEqual(warnings, []);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

// Cross-origin cases run in a child process: `location` is global.
describe('EventSource: cross-origin checks', () => {
  // Every URL is another origin to an opaque one (a file: page, a sandboxed
  // iframe, a data: worker): a failed fetch is checked for CORS there too.
  // It was taken for no cross-origin at all, so a server without CORS was
  // retried for ever, and one that fails preflights was never resumed (a
  // probe in Chromium's workers; test/opaque-origin.test.mjs there).
  it("a page whose origin is 'null' (file:) probes with no-cors after a failed fetch: every URL is cross-origin to it", { timeout: 10000 }, async () => {
    const out = await runNodeScript(`
      globalThis.location = { origin: 'null', href: 'file:///page.html' };
      const { EventSource } = require(${JSON.stringify(index)});
      const calls = [];
      const fetch = async (url, init) => {
        calls.push(init.mode);
        if (calls.length === 1) throw new TypeError('Failed to fetch');
        return new Response('data: ok\\n\\n', { headers: { 'content-type': 'text/event-stream' } });
      };
      const source = new EventSource('http://api.test/s', { fetch, reconnectionTime: 1, backoff: { minDelay: 1 } });
      source.onmessage = () => { source.close(); console.log(JSON.stringify(calls)); };`);
    assert.deepEqual(out, ['cors', 'no-cors', 'cors']);
  });

  it("self.origin 'null' wins over location.origin (a sandboxed iframe from the stream's own server)", { timeout: 10000 }, async () => {
    const out = await runNodeScript(`
      globalThis.location = { origin: 'http://api.test', href: 'http://api.test/frame.html' };
      globalThis.origin = 'null';
      const { EventSource } = require(${JSON.stringify(index)});
      const calls = [];
      const fetch = async (url, init) => {
        calls.push(init.mode);
        if (init.mode === 'no-cors') return new Response(null);
        throw new TypeError('Failed to fetch');
      };
      const source = new EventSource('http://api.test/s', { fetch });
      source.onerror = (e) => { console.log(JSON.stringify([calls, e.error.reason, source.readyState])); source.close(); };`);
    assert.deepEqual(out, [['cors', 'no-cors', 'cors'], 'cors_refused', 2]);
  });

  // self.origin is [Replaceable]: a page's `var origin = '<an API's origin>'`
  // replaced it, and that stream was taken for same-origin (no probe, no
  // Last-Event-ID fallback: a reconnect loop where Chromium's gives up). An
  // about:srcdoc frame is the other way round: location's origin is "null",
  // self.origin its parent's.
  for (const [where, globals, want] of [
    ["a page's var origin", "globalThis.location = { origin: 'http://page.test', href: 'http://page.test/' }; globalThis.origin = 'http://api.test';", ['cors', 'no-cors', 'cors']],
    ['an about:srcdoc frame', "globalThis.location = { origin: 'null', href: 'about:srcdoc' }; globalThis.origin = 'http://api.test';", ['cors']],
  ]) {
    it(`the page's origin in ${where}`, { timeout: 10000 }, async () => {
      const out = await runNodeScript(`
        ${globals}
        const { EventSource } = require(${JSON.stringify(index)});
        const calls = [];
        const fetch = async (url, init) => {
          calls.push(init.mode);
          if (init.mode === 'no-cors') return new Response(null);
          throw new TypeError('Failed to fetch');
        };
        const source = new EventSource('http://api.test/s', { fetch, reconnectionTime: 1, backoff: { minDelay: 1 } });
        source.onerror = () => { console.log(JSON.stringify(calls)); source.close(); };`);
      assert.deepEqual(out, want);
    });
  }

  it('close() during the no-cors probe: no request after it, and the probe is aborted', { timeout: 10000 }, async () => {
    const out = await runNodeScript(`
      globalThis.location = { origin: 'http://page.test', href: 'http://page.test/' };
      const { EventSource } = require(${JSON.stringify(index)});
      const calls = [];
      let probeSignal;
      const fetch = async (url, init) => {
        calls.push(init.mode);
        if (init.mode === 'no-cors') {
          probeSignal = init.signal;
          source.close();
          return new Response(null, { status: 200 });
        }
        throw new TypeError('Failed to fetch');
      };
      const source = new EventSource('http://api.test/s', { fetch });
      const errors = [];
      source.onerror = (e) => errors.push(e.error?.reason);
      (async () => {
        while (calls.length < 2) await new Promise((r) => setImmediate(r));
        for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
        console.log(JSON.stringify({ calls, errors, probeAborted: probeSignal.aborted }));
      })();`);
    assert.deepEqual(out, { calls: ['cors', 'no-cors'], errors: [], probeAborted: true });
  });

  it('the no-cors probe is aborted once it answered (its response is dropped)', { timeout: 10000 }, async () => {
    const out = await runNodeScript(`
      globalThis.location = { origin: 'http://page.test', href: 'http://page.test/' };
      const { EventSource } = require(${JSON.stringify(index)});
      let probeSignal;
      const fetch = async (url, init) => {
        if (init.mode === 'no-cors') {
          probeSignal = init.signal;
          return new Response(null, { status: 200 });
        }
        throw new TypeError('Failed to fetch');
      };
      const source = new EventSource('http://api.test/s', { fetch });
      source.onerror = (e) => console.log(JSON.stringify({ reason: e.error?.reason, probeAborted: probeSignal.aborted }));`);
    assert.deepEqual(out, { reason: 'cors_refused', probeAborted: true });
  });
});
