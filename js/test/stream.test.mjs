// stream(): one request, its events as an async iterator (the LLM case),
// against loopback node:http servers written as SSE tutorials write them.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { after, describe, it, mock } from 'node:test';
import { SseError, stream } from '../src/index.mjs';
import { sendStream, startServer, within } from './eventsource-server.mjs';
import './no-unhandled-rejections.mjs';

const servers = [];
after(() => Promise.all(servers.map((s) => s.close())));

async function server(handle) {
  const s = await startServer(handle);
  servers.push(s);
  return s;
}

// A custom fetch whose body gives `texts`, then stays open until aborted.
const staysOpen = (...texts) => async (url, init) =>
  new Response(
    new ReadableStream({
      start(c) {
        for (const text of texts) c.enqueue(new TextEncoder().encode(text));
        init.signal.addEventListener('abort', () => c.error(init.signal.reason));
      },
    }),
    { headers: { 'content-type': 'text/event-stream' } },
  );

async function collect(iterable, limit = 10_000) {
  const out = [];
  for await (const ev of iterable) {
    out.push(ev);
    if (out.length > limit) throw new Error('too many events');
  }
  return out;
}

// Tokens the way an LLM API streams them: named events with JSON data, one
// write per token, then a final event and the end of the response.
function llmServer(tokens) {
  return server((req, res) => {
    sendStream(res, '', { end: false });
    let i = 0;
    const next = () => {
      if (res.destroyed) return;
      if (i < tokens.length) {
        res.write(`event: token\ndata: ${JSON.stringify({ text: tokens[i++] })}\n\n`);
        setImmediate(next);
      } else {
        res.end('event: done\ndata: [DONE]\n\n');
      }
    };
    next();
  });
}

describe('stream()', () => {
  it('POSTs with headers and body, yields every event in order, ends when the server ends', async () => {
    const tokens = ['Hel', 'lo', ', ', 'wor', 'ld', ' ✓'];
    const s = await llmServer(tokens);
    const events = await collect(
      stream(s.url, { method: 'POST', headers: { Authorization: 'Bearer k', 'Content-Type': 'application/json' }, body: '{"prompt":"hi"}' }),
    );
    assert.equal(events.map((e) => (e.type === 'token' ? JSON.parse(e.data).text : '')).join(''), tokens.join(''));
    assert.deepEqual(events.at(-1), { type: 'done', data: '[DONE]', lastEventId: '', origin: s.base });
    const r = s.requests[0];
    assert.deepEqual([r.method, r.body, r.headers.authorization, r.headers.accept], ['POST', '{"prompt":"hi"}', 'Bearer k', 'text/event-stream']);
    assert.equal(s.requests.length, 1, 'stream() must not reconnect');
  });

  it('a server dripping one byte per write', async () => {
    const text = 'id: 1\nevent: a\ndata: x\r\ndata: é\r\rdata: last\n\n';
    const bytes = Buffer.from(text);
    const s = await server((req, res) => {
      sendStream(res, '', { end: false });
      let i = 0;
      const next = () => {
        if (i < bytes.length) {
          res.write(bytes.subarray(i, ++i));
          setImmediate(next);
        } else {
          res.end();
        }
      };
      next();
    });
    const events = await collect(stream(s.url));
    assert.deepEqual(
      events.map((e) => [e.type, e.data, e.lastEventId]),
      [
        ['a', 'x\né', '1'],
        ['message', 'last', '1'],
      ],
    );
  });

  it('an AbortSignal cancels it mid-stream: the loop throws the abort reason and the connection closes', async () => {
    let closed;
    const connectionClosed = new Promise((resolve) => {
      closed = resolve;
    });
    const s = await server((req, res) => {
      sendStream(res, 'data: 1\n\n', { end: false });
      res.on('close', closed);
    });
    const controller = new AbortController();
    const seen = [];
    await assert.rejects(
      (async () => {
        for await (const ev of stream(s.url, { signal: controller.signal })) {
          seen.push(ev.data);
          controller.abort();
        }
      })(),
      (e) => e.name === 'AbortError',
    );
    assert.deepEqual(seen, ['1']);
    await within(5000, 'the server to see the connection close', () => connectionClosed);
  });

  it('abort while waiting for the response', async () => {
    const s = await server(() => {});
    const controller = new AbortController();
    const iterator = stream(s.url, { signal: controller.signal });
    const pending = iterator.next();
    await s.waitForRequests(1);
    controller.abort(new Error('user gave up'));
    await assert.rejects(pending, /user gave up/);
  });

  // As fetch() rejects with the reason as given, null and 0 included.
  it('abort(reason) ends the loop with that reason, whatever it is', async () => {
    for (const reason of [null, 0, '', false]) {
      const s = await server(() => {});
      const controller = new AbortController();
      const pending = stream(s.url, { signal: controller.signal }).next();
      await s.waitForRequests(1);
      controller.abort(reason);
      await assert.rejects(pending, (e) => Object.is(e, reason));
      await assert.rejects(stream(s.url, { signal: AbortSignal.abort(reason) }).next(), (e) => Object.is(e, reason));
    }
  });

  it('an already aborted signal: nothing is sent', async () => {
    const s = await server((req, res) => sendStream(res, 'data: x\n\n'));
    const iterator = stream(s.url, { signal: AbortSignal.abort() });
    await assert.rejects(iterator.next(), (e) => e.name === 'AbortError');
    assert.equal(s.requests.length, 0);
  });

  it('breaking out of the loop closes the connection', async () => {
    let closed;
    const connectionClosed = new Promise((resolve) => {
      closed = resolve;
    });
    const s = await server((req, res) => {
      sendStream(res, 'data: 1\n\ndata: 2\n\n', { end: false });
      res.on('close', closed);
    });
    for await (const ev of stream(s.url)) {
      assert.equal(ev.data, '1');
      break;
    }
    await within(5000, 'the server to see the connection close', () => connectionClosed);
  });

  it('a non-200 answer throws an SseError with status, headers and the start of the body', async () => {
    const s = await server((req, res) => res.writeHead(429, { 'Retry-After': '7', 'Content-Type': 'application/json' }).end('{"error":"slow down"}'));
    await assert.rejects(collect(stream(s.url, { method: 'POST', body: 'x' })), (e) => {
      assert.ok(e instanceof SseError);
      assert.equal(e.reason, 'http_status');
      assert.equal(e.status, 429);
      assert.equal(e.headers.get('retry-after'), '7');
      assert.equal(e.body, '{"error":"slow down"}');
      assert.equal(e.url, s.url);
      return true;
    });
  });

  it('a wrong content type and 204 throw', async () => {
    const s = await server((req, res, n) => (n === 1 ? res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}') : res.writeHead(204).end()));
    await assert.rejects(collect(stream(s.url)), (e) => e.reason === 'wrong_content_type' && e.body === '{}');
    await assert.rejects(collect(stream(s.url)), (e) => e.reason === 'no_content' && e.status === 204);
  });

  it('a refused connection throws network_error', async () => {
    const s = await server(() => {});
    const url = s.url;
    await s.close();
    servers.splice(servers.indexOf(s), 1);
    await assert.rejects(collect(stream(url)), (e) => e instanceof SseError && e.reason === 'network_error' && e.cause !== undefined);
  });

  it('an over-limit line: the events before it, then limit_exceeded', async () => {
    const s = await server((req, res) => sendStream(res, `data: ok\n\ndata: ${'y'.repeat(300)}\n\n`, { end: false }));
    const seen = [];
    await assert.rejects(
      (async () => {
        for await (const ev of stream(s.url, { maxLineLength: 100 })) seen.push(ev.data);
      })(),
      (e) => e.reason === 'limit_exceeded' && e.cause.code === 'line_too_long',
    );
    assert.deepEqual(seen, ['ok']);
  });

  it('idleTimeout ends a silent stream with idle_timeout', async (t) => {
    mock.timers.enable({ apis: ['setTimeout'] });
    t.after(() => mock.timers.reset());
    // One event, then silence on a body that stays open.
    const iterator = stream('http://example.test/', { fetch: staysOpen('data: first\n\n'), idleTimeout: 50 });
    assert.deepEqual((await iterator.next()).value.data, 'first');
    let outcome = null;
    const pending = iterator.next().then(
      (r) => (outcome = r),
      (e) => (outcome = e),
    );
    await flush();  // the read waits: the idle timeout counts from here
    mock.timers.tick(49);
    await flush();
    assert.equal(outcome, null, 'ended before the idle timeout');
    mock.timers.tick(1);
    await pending;
    assert.ok(outcome instanceof SseError && outcome.reason === 'idle_timeout', String(outcome));
  });

  it("idleTimeout counts only while a read waits: a slow loop body is not the server's silence", async (t) => {
    mock.timers.enable({ apis: ['setTimeout'] });
    t.after(() => mock.timers.reset());
    const iterator = stream('http://example.test/', { fetch: staysOpen('data: first\n\n', 'data: second\n\n'), idleTimeout: 50 });
    assert.equal((await iterator.next()).value.data, 'first');
    // The loop's body takes a second over "first".
    mock.timers.tick(1000);
    await flush();
    assert.equal((await iterator.next()).value.data, 'second');
    await iterator.return();
  });

  it('is an async iterator as async generators are: it inherits %AsyncIteratorPrototype%, and disposing it closes it', async () => {
    const asyncIteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf((async function* () {}).prototype));
    let cancelled = false;
    const body = new ReadableStream({ start: (c) => c.enqueue(new TextEncoder().encode('data: first\n\n')), cancel: () => void (cancelled = true) });
    const iterator = stream('http://example.test/', { fetch: async () => new Response(body, { headers: { 'content-type': 'text/event-stream' } }) });
    assert.ok(asyncIteratorPrototype.isPrototypeOf(iterator));
    assert.equal((await iterator.next()).value.data, 'first');
    // `await using` calls [Symbol.asyncDispose] (Node 20 has the symbol, not the syntax).
    const dispose = iterator[Symbol.asyncDispose];
    assert.equal(typeof dispose, 'function');
    assert.equal(await dispose.call(iterator), undefined);
    assert.ok(cancelled, 'the body was cancelled');
    assert.deepEqual(await iterator.next(), { value: undefined, done: true });
  });

  it('abort() drops the events still queued: the next next() rejects with its reason', async () => {
    let text = '';
    for (let i = 0; i < 100; i++) text += `data: ${i}\n\n`;
    const fetch = async () => new Response(text, { headers: { 'content-type': 'text/event-stream' } });
    const controller = new AbortController();
    const iterator = stream('http://example.test/', { fetch, signal: controller.signal });
    assert.equal((await iterator.next()).value.data, '0');
    controller.abort();
    await assert.rejects(iterator.next(), (e) => e.name === 'AbortError');
    assert.deepEqual(await iterator.next(), { value: undefined, done: true });
  });

  it('return() while the response is checked: the body is cancelled, nothing is left open', async () => {
    let cancelled = false;
    let iterator;
    const body = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode('data: x\n\n'));
      },
      cancel() {
        cancelled = true;
      },
    });
    // A custom fetch that ignores the signal; the loop is left while its
    // response's headers are read.
    const headers = {
      get(name) {
        if (name.toLowerCase() === 'content-type') iterator.return();
        return name.toLowerCase() === 'content-type' ? 'text/event-stream' : null;
      },
    };
    iterator = stream('http://example.test/', { fetch: async () => ({ status: 200, headers, url: '', body }) });
    assert.deepEqual(await iterator.next(), { value: undefined, done: true });
    await flush();
    assert.ok(cancelled, 'the body was not cancelled');
  });

  it('with retryServerErrors, a 503 whose body never ends is retried, not ended by idleTimeout', async () => {
    let calls = 0;
    const fetch = async (url, init) => {
      calls++;
      if (calls === 1) {
        // The report reads the refused body for at most 2 s (its own deadline).
        const never = new ReadableStream({
          start(c) {
            init.signal.addEventListener('abort', () => c.error(init.signal.reason));
          },
        });
        return new Response(never, { status: 503, headers: { 'retry-after': '0' } });
      }
      return new Response('data: after the 503\n\n', { headers: { 'content-type': 'text/event-stream' } });
    };
    const events = await collect(stream('http://example.test/', { fetch, idleTimeout: 50, retryServerErrors: true, reconnectionTime: 1, backoff: { minDelay: 1, jitter: 0 } }));
    assert.deepEqual(events.map((e) => e.data), ['after the 503']);
    assert.equal(calls, 2);
  });

  it('a hook that gives a user:pass@ URL, or a locked body: the documented reasons, not network_error', async () => {
    await assert.rejects(
      stream('http://example.test/', { fetch: async () => assert.fail('sent'), onAttempt: (r) => ({ ...r, url: 'http://u:p@example.test/' }) }).next(),
      (e) => e instanceof SseError && e.reason === 'attempt_hook_failed' && /user:pass@/.test(e.message),
    );
    const locked = new ReadableStream();
    locked.getReader();
    await assert.rejects(
      stream('http://example.test/', { fetch: async () => ({ status: 200, headers: new Headers({ 'content-type': 'text/event-stream' }), url: '', body: locked }) }).next(),
      (e) => e instanceof SseError && e.reason === 'invalid_response' && /locked/.test(e.message),
    );
  });

  it('lastEventId is sent and carried', async () => {
    const s = await server((req, res) => sendStream(res, 'data: x\n\n'));
    const events = await collect(stream(s.url, { lastEventId: '41' }));
    assert.equal(s.requests[0].headers['last-event-id'], '41');
    assert.equal(events[0].lastEventId, '41');
  });

  it('takes a ReadableStream body (sent once)', async () => {
    const s = await server((req, res) => sendStream(res, 'data: got it\n\n'));
    const body = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode('streamed '));
        c.enqueue(new TextEncoder().encode('body'));
        c.close();
      },
    });
    const events = await collect(stream(s.url, { method: 'POST', body }));
    assert.equal(events[0].data, 'got it');
    assert.equal(s.requests[0].body, 'streamed body');
  });

  it('reads Node stream and async iterable bodies from a custom fetch', async () => {
    const { Readable } = await import('node:stream');
    const response = (body) => async () => ({ status: 200, headers: new Headers({ 'content-type': 'text/event-stream' }), url: '', body });
    const fromNode = await collect(stream('http://example.test/', { fetch: response(Readable.from([Buffer.from('data: a\n\nda'), Buffer.from('ta: b\n\n')])) }));
    assert.deepEqual(fromNode.map((e) => e.data), ['a', 'b']);
    async function* chunks() {
      yield 'data: c\n\n';
      yield new TextEncoder().encode('data: d\n\n');
    }
    const fromIterable = await collect(stream('http://example.test/', { fetch: response(chunks()) }));
    assert.deepEqual(fromIterable.map((e) => e.data), ['c', 'd']);
  });

  it('a custom fetch with an unusable body or response rejects with SseError (invalid_response)', async () => {
    const headers = new Headers({ 'content-type': 'text/event-stream' });
    for (const response of [
      { status: 200, headers, body: 'data: x\n\n' },
      { status: 200, headers },
      { status: 200, headers, body: null },
      { status: 200, headers, body: (async function* () { yield 42; })() },
      // A reader whose read() resolves to no object (was a network_error).
      { status: 200, headers, body: { getReader: () => ({ read: async () => undefined, cancel: async () => {}, releaseLock() {} }) } },
      // An iterator that throws at once (was a network_error).
      { status: 200, headers, body: { [Symbol.asyncIterator]() { throw new Error('iter'); } } },
      // A body getter or headers.get() that throws (were network_error).
      { status: 200, headers, get body() { throw new Error('body getter'); } },
      { status: 200, headers: { get() { throw new Error('get'); } }, body: null },
      undefined,
      'a string',
    ]) {
      await assert.rejects(collect(stream('http://example.test/', { fetch: async () => response })), (e) => {
        assert.ok(e instanceof SseError, `${String(e)} for ${typeof response === 'object' ? Object.keys(response).join() : response}`);
        assert.equal(e.reason, 'invalid_response');
        return true;
      });
    }
  });

  it('a URL with user:pass@ rejects at once with invalid_url, nothing sent', async () => {
    let attempts = 0;
    const fetch = async () => {
      attempts++;
      throw new TypeError('Request cannot be constructed from a URL that includes credentials');
    };
    await assert.rejects(collect(stream('http://u:p@example.test/', { fetch })), (e) => e instanceof SseError && e.reason === 'invalid_url');
    assert.equal(attempts, 0);
  });

  it('sends a non-ASCII lastEventId as its UTF-8 bytes', async () => {
    const s = await server((req, res) => sendStream(res, 'data: x\n\n'));
    const events = await collect(stream(s.url, { lastEventId: 'é😀' }));
    assert.equal(Buffer.from(s.requests[0].headers['last-event-id'], 'latin1').toString('utf8'), 'é😀');
    assert.equal(events[0].lastEventId, 'é😀');
  });

  it('hands out the events of one chunk without another read: one await per event', async () => {
    let reads = 0;
    const text = Array.from({ length: 50 }, (_, i) => `data: ${i}\n\n`).join('');
    const body = {
      [Symbol.asyncIterator]() {
        return {
          next: async () => (reads++ === 0 ? { done: false, value: text } : { done: true, value: undefined }),
          return: async () => ({ done: true, value: undefined }),
        };
      },
    };
    const fetch = async () => ({ status: 200, headers: new Headers({ 'content-type': 'text/event-stream' }), url: '', body });
    const iterator = stream('http://example.test/', { fetch });
    assert.equal((await iterator.next()).value.data, '0');
    // Every further event of the chunk is ready after a single microtask
    // turn: no resume of a generator (which takes two) per event.
    for (let i = 1; i < 50; i++) {
      let result = null;
      iterator.next().then((r) => (result = r));
      await null;
      assert.equal(result?.value.data, String(i), `event ${i} was not ready after one microtask turn`);
    }
    assert.equal(reads, 1);
    assert.equal((await iterator.next()).done, true);
  });

  it('next() calls made without waiting get the events in order', async () => {
    const s = await server((req, res) => sendStream(res, 'data: 1\n\ndata: 2\n\ndata: 3\n\n'));
    const iterator = stream(s.url);
    const results = await Promise.all([iterator.next(), iterator.next(), iterator.next(), iterator.next(), iterator.next()]);
    assert.deepEqual(results.map((r) => (r.done ? 'done' : r.value.data)), ['1', '2', '3', 'done', 'done']);
  });

  it('refuses bad arguments at the call, before any request', () => {
    assert.throws(() => stream('::'), (e) => e.name === 'SyntaxError');
    assert.throws(() => stream('http://example.test/', { signal: 'no' }), TypeError);
    assert.throws(() => stream('http://example.test/', { headers: { 'X-A': 'a\nb' } }), TypeError);
    assert.throws(() => stream('http://example.test/', { maxLineLength: -1 }), RangeError);
    assert.throws(() => stream('http://example.test/', { idleTimeout: 'soon' }), TypeError);
  });
});

// Lets pending promise callbacks and I/O run (mocked timers don't advance).
async function flush() {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

// A custom fetch whose body is `text`, whole.
const events = (text) => async () => new Response(text, { headers: { 'content-type': 'text/event-stream' } });

// Edges a mutation run found untested.
describe('stream(): edges', () => {
  it('return() with events still queued: a next() right after it says done, not a queued event', async () => {
    const iterator = stream('http://example.test/', { fetch: events('data: 1\n\ndata: 2\n\ndata: 3\n\n') });
    assert.equal((await iterator.next()).value.data, '1');
    const returned = iterator.return('r');
    assert.deepEqual(await iterator.next(), { value: undefined, done: true });
    assert.deepEqual(await returned, { value: 'r', done: true });
  });

  it('next() calls waiting when the stream fails: the first rejects with the error, the others say done', async () => {
    const iterator = stream('http://example.test/', { fetch: async () => new Response('nope', { status: 500 }) });
    const [first, second] = await Promise.allSettled([iterator.next(), iterator.next()]);
    assert.equal(first.status, 'rejected');
    assert.equal(first.reason.status, 500);
    assert.deepEqual(second, { status: 'fulfilled', value: { value: undefined, done: true } });
  });

  it('a refused request is sent again after the backoff, which grows, and not before Retry-After', { timeout: 10000 }, async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      let served = 0;
      const fetch = async () => {
        served++;
        if (served === 1) return new Response('busy', { status: 503 });
        if (served === 2) return new Response('busy', { status: 503 });
        if (served === 3) return new Response('busy', { status: 503, headers: { 'retry-after': '5' } });
        return new Response('data: up\n\n', { headers: { 'content-type': 'text/event-stream' } });
      };
      const iterator = stream('http://example.test/', { fetch, retryServerErrors: true, reconnectionTime: 100, backoff: { factor: 2, jitter: 0, minDelay: 1 } });
      const first = iterator.next();
      const sentAfter = async (ms, n) => {
        await flush();
        assert.equal(served, n - 1, `request ${n} went before ${ms} ms`);
        mock.timers.tick(ms - 1);
        await flush();
        assert.equal(served, n - 1, `request ${n} went before ${ms} ms`);
        mock.timers.tick(1);
        await flush();
        assert.equal(served, n, `request ${n} did not go after ${ms} ms`);
      };
      await sentAfter(100, 2); // the first refusal: the reconnection time
      await sentAfter(200, 3); // the second in a row: doubled
      await sentAfter(5000, 4); // Retry-After: 5 is longer than the backoff (400)
      assert.equal((await first).value.data, 'up');
    } finally {
      mock.timers.reset();
    }
  });

  it('with replayBody, a POST refused with a 500 is sent again', async () => {
    let served = 0;
    const fetch = async () => (++served === 1 ? new Response('', { status: 500 }) : new Response('data: ok\n\n', { headers: { 'content-type': 'text/event-stream' } }));
    const out = await collect(stream('http://example.test/', { fetch, method: 'POST', body: 'p', retryServerErrors: true, replayBody: true, reconnectionTime: 1, backoff: { minDelay: 1, jitter: 0 } }));
    assert.deepEqual(out.map((e) => e.data), ['ok']);
    assert.equal(served, 2);
  });

  it('after a redirect, events carry the origin of the URL that answered', async () => {
    const target = await server((req, res) => sendStream(res, 'data: x\n\n'));
    const start = await server((req, res) => res.writeHead(302, { location: target.url }).end());
    const [ev] = await collect(stream(start.url));
    assert.equal(ev.origin, target.base);
  });

  it('the abort listener on the signal is removed when the stream ends', async () => {
    const controller = new AbortController();
    for await (const ev of stream('http://example.test/', { fetch: events('data: 1\n\n'), signal: controller.signal })) {
      assert.equal(ev.data, '1');
      assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
    }
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
  });

  it('return() while the response is awaited aborts the fetch; the waiting next() says done', async () => {
    let aborted = false;
    const fetch = (url, init) =>
      new Promise((resolve, reject) =>
        init.signal.addEventListener('abort', () => {
          aborted = true;
          reject(init.signal.reason);
        }),
      );
    const iterator = stream('http://example.test/', { fetch });
    const pending = iterator.next();
    await flush();
    await within(5000, 'return() and the waiting next()', async () => {
      assert.deepEqual(await iterator.return(), { value: undefined, done: true });
      assert.deepEqual(await pending, { value: undefined, done: true });
    });
    assert.ok(aborted, 'the fetch was aborted');
  });

  it('a ReadableStream body with retryServerErrors or onAttempt is refused at the call', () => {
    const fetch = events('');
    for (const extra of [{ retryServerErrors: true }, { onAttempt: () => {} }]) {
      assert.throws(() => stream('http://example.test/', { fetch, method: 'POST', body: new ReadableStream(), ...extra }), { name: 'TypeError', message: /ReadableStream/ });
    }
  });

  it("many refusals in a row leave no abort listeners behind on the stream's own signal (no leak warning)", async () => {
    const warnings = [];
    const onWarning = (w) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      let served = 0;
      const fetch = async () => (++served <= 20 ? new Response('', { status: 503 }) : new Response('data: up\n\n', { headers: { 'content-type': 'text/event-stream' } }));
      const out = await collect(stream('http://example.test/', { fetch, retryServerErrors: true, reconnectionTime: 1, backoff: { factor: 1, minDelay: 1, jitter: 0 } }));
      assert.deepEqual(out.map((e) => e.data), ['up']);
      await flush();  // warnings are emitted on a later tick
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(warnings.filter((m) => /memory leak/i.test(m)), []);
  });
});
