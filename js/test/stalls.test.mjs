// Servers and fetch() implementations that stall or refuse in ways the
// happy-path tests don't cover: error bodies that never end, reads and
// fetches that ignore the abort signal, options that can never be sent,
// URLs fetch() refuses. Each must end in an `error` (or a rejection) within
// the package's own bounds, never hang. Waits are on events, bounded.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it, mock } from 'node:test';
import { fetch as undiciFetch } from 'undici';
import { EventSource, SseError, stream } from '../src/index.mjs';
import { sendStream, within, testFixtures } from './eventsource-server.mjs';
import './no-unhandled-rejections.mjs';

const { server, open, servers } = testFixtures();

// Lets pending promise callbacks and I/O run (mocked timers don't advance).
async function flush() {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

// With setTimeout mocked: advances it 2 s (the error body's deadline) at a
// time until `done()`, letting I/O run in between. Bounded by the real
// clock: within()'s own setTimeout would be mocked too, and expire after
// five ticks however slowly the machine answers.
async function tickUntil(done, what) {
  const end = performance.now() + 10000;
  while (!done()) {
    if (performance.now() > end) throw new Error(`timed out after 10000 ms waiting for ${what}`);
    mock.timers.tick(2000);
    await flush();
  }
}

// An error response whose body starts and never ends.
const stalledError = (status, type) => (req, res) => {
  res.writeHead(status, { 'Content-Type': type });
  res.write('hello');
};

const streamHeaders = () => new Headers({ 'content-type': 'text/event-stream' });
const never = () => new Promise(() => {});

describe('an error response whose body never ends fails promptly', () => {
  for (const [status, type, reason] of [[500, 'text/plain', 'http_status'], [200, 'text/html', 'wrong_content_type']]) {
    it(`${status} ${type}: error, CLOSED, the body read so far`, async (t) => {
      mock.timers.enable({ apis: ['setTimeout'] });
      t.after(() => mock.timers.reset());
      const s = await server(stalledError(status, type));
      const { source, rec } = open(s.url);
      let error;
      source.onerror = (e) => (error = e.error);
      await tickUntil(() => rec.count('error') > 0, 'the error');
      assert.deepEqual(rec.log, [`error 2 ${reason}`]);
      assert.equal(error.status, status);
      assert.equal(error.body, 'hello');
      assert.equal(s.requests.length, 1);
    });
  }

  it('503 with retryServerErrors and 401 with onAttempt still reconnect', async (t) => {
    mock.timers.enable({ apis: ['setTimeout'] });
    t.after(() => mock.timers.reset());
    for (const [status, options] of [[503, { retryServerErrors: true }], [401, { onAttempt: () => {} }]]) {
      const s = await server((req, res, n) => (n === 1 ? stalledError(status, 'text/plain')(req, res) : sendStream(res, 'data: up\n\n', { end: false })));
      const { source, rec } = open(s.url, { ...options, reconnectionTime: 1 });
      await tickUntil(() => rec.count('message') > 0, 'the second attempt');
      source.close();
      assert.deepEqual(rec.log, ['error 0 http_status', 'open 1', 'message "up" id=""']);
    }
  });

  it('stream(): rejects with the status', async (t) => {
    mock.timers.enable({ apis: ['setTimeout'] });
    t.after(() => mock.timers.reset());
    const s = await server(stalledError(502, 'text/plain'));
    let outcome = null;
    stream(s.url).next().then(
      () => (outcome = 'resolved'),
      (e) => (outcome = e),
    );
    await tickUntil(() => outcome !== null, 'the rejection');
    assert.ok(outcome instanceof SseError);
    assert.equal(outcome.reason, 'http_status');
    assert.equal(outcome.body, 'hello');
  });

  it('close() while the body is read: no event, the response is cancelled', async () => {
    let closed;
    const gone = new Promise((resolve) => (closed = resolve));
    const s = await server((req, res) => {
      res.on('close', closed);
      stalledError(500, 'text/plain')(req, res);
    });
    let answered;
    const response = new Promise((resolve) => (answered = resolve));
    const fetchAndTell = (url, init) => fetch(url, init).then((r) => (answered(), r));
    const { source, rec } = open(s.url, { fetch: fetchAndTell });
    await within(10000, 'the response', () => response);
    source.close();
    await within(10000, 'the server to see the connection closed', () => gone);
    assert.deepEqual(rec.log, []);
  });
});

describe('reads and fetches that ignore the abort signal', () => {
  // Content-Encoding: gzip, then bytes that are not gzip, then the close:
  // Node 20's fetch() (undici 6) never settles the body read, even after an
  // abort (its decoder fails after the response's end, when nothing listens
  // for the failure any more). With `goesOn` the response stays open.
  async function corruptGzipServer({ goesOn = false } = {}) {
    const sockets = new Set();
    const srv = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.once('data', () => {
        const head = 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n';
        if (goesOn) socket.write(`${head}Transfer-Encoding: chunked\r\n\r\n8\r\nnot gzip\r\n`);
        else socket.end(`${head}Connection: close\r\n\r\nnot gzip`);
      });
    });
    await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
    servers.push({ close: () => new Promise((resolve) => (sockets.forEach((s) => s.destroy()), srv.close(resolve))) });
    return `http://127.0.0.1:${srv.address().port}/`;
  }

  it('a corrupt gzip body: idleTimeout still ends the connection', async () => {
    const url = await corruptGzipServer();
    const { source, rec } = open(url, { idleTimeout: 50, reconnectionTime: 60_000 });
    await rec.until(() => rec.count('error') > 0, 'the error');
    source.close();
    assert.equal(rec.log[0], 'open 1');
    // idle_timeout while Node's read hangs; a fetch() that reports the bad
    // body instead gives network_error. Either way it reconnects.
    assert.match(rec.log[1], /^error 0 (idle_timeout|network_error)$/);
  });

  it('a corrupt gzip body: stream() ends on idleTimeout, and return() settles', async () => {
    const url = await corruptGzipServer();
    const iterator = stream(url, { idleTimeout: 50 });
    await assert.rejects(within(10000, 'next()', () => iterator.next()), (e) => e instanceof SseError && /idle_timeout|network_error/.test(e.reason));
    assert.deepEqual(await within(10000, 'return()', () => iterator.return()), { value: undefined, done: true });
  });

  // The README's account of the default options (no idleTimeout).
  it('a corrupt gzip body while the response goes on: network_error, and it reconnects', async () => {
    const url = await corruptGzipServer({ goesOn: true });
    const { source, rec } = open(url, { reconnectionTime: 1 });
    await rec.until(() => rec.count('open') === 2, 'the reconnect');
    source.close();
    assert.deepEqual(rec.log.slice(0, 3), ['open 1', 'error 0 network_error', 'open 1']);
  });

  it('a corrupt gzip body, then the close: a fetch() that reports it (undici 7) gives network_error, and it reconnects', async () => {
    const url = await corruptGzipServer();
    const { source, rec } = open(url, { fetch: undiciFetch, reconnectionTime: 1 });
    await rec.until(() => rec.count('open') === 2, 'the reconnect');
    source.close();
    assert.deepEqual(rec.log.slice(0, 3), ['open 1', 'error 0 network_error', 'open 1']);
  });

  it('a fetch() that never settles: idleTimeout reconnects, close() ends it', async () => {
    let attempts = 0;
    const fetch = () => {
      attempts++;
      return never();
    };
    const { source, rec } = open('http://example.test/', { fetch, idleTimeout: 20, reconnectionTime: 1, backoff: { minDelay: 1 } });
    await rec.until(() => rec.count('error') === 2, 'two timeouts');
    source.close();
    assert.deepEqual(rec.log, ['error 0 idle_timeout', 'error 0 idle_timeout']);
    assert.ok(attempts >= 2);
  });

  it('a body that never yields (and has no return()): idleTimeout reconnects', async () => {
    const body = { [Symbol.asyncIterator]: () => ({ next: never }) };
    const fetch = async () => ({ status: 200, headers: streamHeaders(), body });
    const { source, rec } = open('http://example.test/', { fetch, idleTimeout: 20, reconnectionTime: 60_000 });
    await rec.until(() => rec.count('error') > 0, 'the timeout');
    source.close();
    assert.deepEqual(rec.log, ['open 1', 'error 0 idle_timeout']);
  });

  // A custom fetch that ignores the signal, with a Node stream as the body
  // (as node-fetch gives): an async iterator's return() would wait behind
  // the read that never settles, so the stream is destroyed instead.
  it('a Node stream body that goes quiet is destroyed by close(), idleTimeout and stream() return()', async () => {
    const { Readable } = await import('node:stream');
    const quiet = () => {
      const body = new Readable({ read() {} });
      body.push('data: 1\n\n');
      return body;
    };
    const closed = (body) => within(10000, 'the body destroyed', () => new Promise((resolve) => (body.destroyed ? resolve() : body.once('close', resolve))));
    {
      const body = quiet();
      const { source, rec } = open('http://example.test/', { fetch: async () => ({ status: 200, headers: streamHeaders(), body }) });
      await rec.until(() => rec.count('message') === 1, 'the event');
      source.close();
      await closed(body);
    }
    {
      const bodies = [];
      const fetch = async () => ({ status: 200, headers: streamHeaders(), body: bodies[bodies.push(quiet()) - 1] });
      const { source, rec } = open('http://example.test/', { fetch, idleTimeout: 20, reconnectionTime: 60_000 });
      await rec.until(() => rec.count('error') > 0, 'the timeout');
      await closed(bodies[0]);
      source.close();
    }
    {
      const body = quiet();
      const iterator = stream('http://example.test/', { fetch: async () => ({ status: 200, headers: streamHeaders(), body }) });
      assert.equal((await iterator.next()).value.data, '1');
      const pending = iterator.next();
      await flush();
      assert.deepEqual(await within(10000, 'return()', () => iterator.return()), { value: undefined, done: true });
      await pending;
      await closed(body);
    }
  });

  it('a fetch() that settles after the timeout: its late rejection is handled, its late body cancelled', async () => {
    const late = [];
    const fetch = () => new Promise((resolve, reject) => late.push({ resolve, reject }));
    const { source, rec } = open('http://example.test/', { fetch, idleTimeout: 20, reconnectionTime: 1, backoff: { minDelay: 1 } });
    await rec.until(() => rec.count('error') === 2, 'two timeouts');
    source.close();
    let cancelled = false;
    const body = new ReadableStream({ cancel: () => (cancelled = true) });
    late[0].resolve(new Response(body, { headers: streamHeaders() }));
    late[1].reject(new TypeError('fetch failed'));
    await flush();
    assert.equal(cancelled, true);
  });

  it('stream(): abort() ends next() even when fetch() ignores the signal; return() settles after', async () => {
    const controller = new AbortController();
    let called;
    const fetching = new Promise((resolve) => (called = resolve));
    const fetch = () => (called(), never());
    const iterator = stream('http://example.test/', { fetch, signal: controller.signal });
    const pending = iterator.next();
    await within(10000, 'the fetch() call', () => fetching);
    controller.abort(new Error('user abort'));
    await assert.rejects(within(10000, 'next()', () => pending), { message: 'user abort' });
    assert.deepEqual(await within(10000, 'return()', () => iterator.return()), { value: undefined, done: true });
  });

  it('stream(): return() while next() waits on a body that never yields settles both', async () => {
    const body = { [Symbol.asyncIterator]: () => ({ next: never }) };
    const iterator = stream('http://example.test/', { fetch: async () => ({ status: 200, headers: streamHeaders(), body }) });
    const pending = iterator.next();
    await flush();
    assert.deepEqual(await within(10000, 'return()', () => iterator.return()), { value: undefined, done: true });
    assert.deepEqual(await within(10000, 'next()', () => pending), { value: undefined, done: true });
  });

  it('stream(): idleTimeout ends a fetch() that never settles', async () => {
    const iterator = stream('http://example.test/', { fetch: never, idleTimeout: 20 });
    await assert.rejects(within(10000, 'next()', () => iterator.next()), { reason: 'idle_timeout' });
  });
});

describe('stream(): after return() or throw()', () => {
  for (const how of ['return', 'throw']) {
    it(`${how}(): next() is done at once, queued events are dropped`, async () => {
      const s = await server((req, res) => sendStream(res, 'data: 1\n\ndata: 2\n\ndata: 3\n\n'));
      const iterator = stream(s.url);
      assert.equal((await iterator.next()).value.data, '1');
      await iterator[how](new Error('x')).catch(() => {});
      const after = await Promise.all([iterator.next(), iterator.next()]);
      assert.deepEqual(after, [{ value: undefined, done: true }, { value: undefined, done: true }]);
    });
  }
});

describe('options that can never be sent are refused at once', () => {
  const url = 'http://example.test/';
  const refused = [
    ['lastEventId with LF', { lastEventId: 'a\nb' }],
    ['lastEventId with CR', { lastEventId: 'a\rb' }],
    ['lastEventId with NUL', { lastEventId: 'a\0b' }],
    ['method CONNECT', { method: 'CONNECT' }],
    ['method trace', { method: 'trace' }],
    ['method TRACK', { method: 'TRACK' }],
    ['a body with GET', { body: 'x' }],
    ['a body with HEAD', { method: 'HEAD', body: 'x' }],
  ];
  for (const [name, options] of refused) {
    it(`${name}: the constructor and stream() throw a TypeError`, () => {
      let attempts = 0;
      const fetch = async () => {
        attempts++;
        throw new TypeError('not sent');
      };
      assert.throws(() => new EventSource(url, { ...options, fetch }), TypeError);
      assert.throws(() => stream(url, { ...options, fetch }), TypeError);
      assert.equal(attempts, 0);
    });
  }
});

// A body of chunks to come (a ReadableStream, a Node stream, an async
// generator) is sent once: stream() sends it (fetch() needs duplex: 'half'
// for it, which stream() adds); the EventSource, which would send it again
// on reconnect, refuses it at once.
describe('request bodies that stream', () => {
  const bodies = {
    'a ReadableStream': () => new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode('up')), c.close()) }),
    'a Node stream': async () => (await import('node:stream')).Readable.from([Buffer.from('u'), Buffer.from('p')]),
    'an async generator': () =>
      (async function* chunks() {
        yield new TextEncoder().encode('u');
        yield new TextEncoder().encode('p');
      })(),
  };
  for (const [name, make] of Object.entries(bodies)) {
    it(`${name}: stream() sends it; the EventSource constructor throws a TypeError`, { timeout: 10000 }, async () => {
      const s = await server((req, res, n) => sendStream(res, `data: ${s.requests[n - 1].body}\n\n`));
      const seen = [];
      for await (const ev of stream(s.url, { method: 'POST', body: await make() })) seen.push(ev.data);
      assert.deepEqual(seen, ['up']);
      const body = await make();
      assert.throws(() => new EventSource(s.url, { method: 'POST', body }), { name: 'TypeError', message: /cannot be sent again on reconnect/ });
      assert.equal(s.requests.length, 1);
    });
  }
});

describe('network errors say why', () => {
  it('the message names the innermost cause; the cause is kept', async () => {
    const cause = Object.assign(new Error('getaddrinfo ENOTFOUND feed.invalid'), { code: 'ENOTFOUND' });
    const failure = new TypeError('fetch failed', { cause });
    const { source, rec } = open('http://feed.invalid/', { fetch: async () => Promise.reject(failure), reconnectionTime: 60_000 });
    let error;
    source.onerror = (e) => (error = e.error);
    await rec.until(() => rec.count('error') > 0, 'the error');
    source.close();
    assert.equal(error.reason, 'network_error');
    assert.equal(error.message, 'network error: fetch failed (getaddrinfo ENOTFOUND feed.invalid)');
    assert.equal(error.cause, failure);
  });

  // Chromium fails a body read that the connection cut with a TypeError
  // whose whole message is "network error": said once, not "network error:
  // network error".
  it("a browser's bare 'network error' is not said twice", async () => {
    const body = new ReadableStream({ start: (c) => c.enqueue(new TextEncoder().encode('data: a\n\n')), pull: (c) => c.error(new TypeError('network error')) });
    const fetch = async () => new Response(body, { headers: { 'content-type': 'text/event-stream' } });
    const { source, rec } = open('http://feed.test/', { fetch, reconnectionTime: 60_000 });
    let error;
    source.onerror = (e) => (error = e.error);
    await rec.until(() => rec.count('error') > 0, 'the error');
    source.close();
    assert.equal(error.reason, 'network_error');
    assert.equal(error.message, 'network error');
  });

  // It reconnected for ever, blocked every time (probe-js 7): now futile, as
  // a scheme fetch() refuses.
  it("a port fetch() blocks (bad port): named, CLOSED, no reconnect, a POST as a GET", async () => {
    for (const options of [{}, { method: 'POST', body: 'q' }]) {
      const { source, rec } = open('http://127.0.0.1:9/', { ...options, reconnectionTime: 1, backoff: { minDelay: 1 } });
      const errors = [];
      source.addEventListener('error', (e) => errors.push(e.error));
      await rec.until(() => rec.count('error') === 1, 'the error');
      source.close();
      assert.deepEqual(rec.log, ['error 2 invalid_url']);
      assert.match(errors[0].message, /bad port/);
    }
  });
});

describe('URLs fetch() refuses for their scheme', () => {
  for (const url of ['ftp://127.0.0.1/', 'file:///etc/hostname', 'ws://127.0.0.1:1/', 'javascript:1', 'about:blank']) {
    it(`${url}: CLOSED in the next task, one invalid_url error, nothing sent`, async (t) => {
      mock.timers.enable({ apis: ['setTimeout'] });
      t.after(() => mock.timers.reset());
      let attempts = 0;
      const fetch = async () => {
        attempts++;
        throw new TypeError('fetch failed');
      };
      const { source, rec } = open(url, { fetch });
      assert.equal(source.readyState, EventSource.CONNECTING);  // as Chromium's, until the error's task
      await rec.until((log) => log.length === 1, 'the error');
      mock.timers.tick(600_000);
      await flush();
      assert.deepEqual(rec.log, ['error 2 invalid_url']);
      await assert.rejects(stream(url, { fetch }).next(), { reason: 'invalid_url' });
      assert.equal(attempts, 0);
    });
  }

  it('close() before the failure: no error, CLOSED', async (t) => {
    mock.timers.enable({ apis: ['setTimeout'] });
    t.after(() => mock.timers.reset());
    const { source, rec } = open('ftp://127.0.0.1/', { fetch: async () => { throw new TypeError('fetch failed'); } });
    source.close();
    assert.equal(source.readyState, EventSource.CLOSED);
    // One made after it, left open, fails in a later task than the first
    // would have.
    const later = open('ftp://127.0.0.1/', { fetch: async () => { throw new TypeError('fetch failed'); } });
    await later.rec.until((log) => log.length === 1, 'the later one\'s error');
    mock.timers.tick(10);
    await flush();
    assert.deepEqual(rec.log, []);
  });

  it('data: URLs still work (fetch() reads them)', async () => {
    const { source, rec } = open('data:text/event-stream,data:%20d%0A%0A');
    await rec.until(() => rec.count('message') > 0, 'the message');
    source.close();
    assert.equal(rec.log[1], 'message "d" id=""');
  });
});
