// EventSource against loopback node:http servers written as SSE tutorials
// write them. Servers send `retry:` with short times so reconnects are quick;
// waits are on events, bounded by timeouts, never fixed sleeps.
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { EventSource, SseError, stream, createParser } from '../src/index.mjs';
import { sendStream, within, testFixtures } from './eventsource-server.mjs';
import './no-unhandled-rejections.mjs';
import { runNodeScript } from './node-script.mjs';

const { server, open, sources } = testFixtures();

const errorsIn = (log) => log.filter((e) => e.startsWith('error'));

describe('EventSource: the browser surface', () => {
  it('has the constants on the class and on instances, read-only', async () => {
    const s = await server((req, res) => sendStream(res, '', { end: false }));
    assert.deepEqual([EventSource.CONNECTING, EventSource.OPEN, EventSource.CLOSED], [0, 1, 2]);
    const { source } = open(s.url);
    assert.deepEqual([source.CONNECTING, source.OPEN, source.CLOSED], [0, 1, 2]);
    assert.throws(() => {
      'use strict';
      source.OPEN = 5;
    }, TypeError);
    assert.equal(source.readyState, EventSource.CONNECTING);
    assert.equal(source.url, s.url);
    assert.equal(source.withCredentials, false);
    assert.equal(Object.prototype.toString.call(source), '[object EventSource]');
    assert.ok(source instanceof EventTarget);
    source.close();
    assert.equal(source.readyState, EventSource.CLOSED);
  });

  it('needs a URL argument, like the browser\'s (TypeError, not the URL "undefined")', () => {
    assert.throws(() => new EventSource(), TypeError);
    assert.equal(EventSource.length, 1);
  });

  it('resolves the URL and refuses an invalid one with a SyntaxError', () => {
    assert.throws(() => new EventSource('http://[bad'), (e) => e.name === 'SyntaxError');
    assert.throws(() => new EventSource('not a url'), (e) => e.name === 'SyntaxError');
    const source = new EventSource('http://127.0.0.1:9/a/../b?x=1', { fetch: () => new Promise(() => {}) });
    assert.equal(source.url, 'http://127.0.0.1:9/b?x=1');
    source.close();
  });

  it('opens, delivers messages and named events with ids and origin, in order', async () => {
    const s = await server((req, res) =>
      sendStream(res, 'retry: 20\n\ndata: one\n\nid: 7\nevent: news\ndata: two\ndata: lines\n\n: comment\ndata: three\n\n', { end: false }),
    );
    const { source, rec } = open(s.url, undefined, ['news']);
    const origins = [];
    source.addEventListener('message', (e) => origins.push(e.origin));
    await rec.until((log) => log.length === 4, 'four entries');
    assert.deepEqual(rec.log, ['open 1', 'message "one" id=""', 'news "two\\nlines" id="7"', 'message "three" id="7"']);
    assert.deepEqual(origins, [s.base, s.base]);
    assert.equal(s.requests[0].headers.accept, 'text/event-stream');
    assert.equal(s.requests[0].headers['cache-control'], 'no-cache');
    assert.equal(s.requests[0].headers['last-event-id'], undefined);
    assert.equal(s.requests[0].method, 'GET');
  });

  it('events are MessageEvents; onmessage runs in registration order with listeners', async () => {
    const s = await server((req, res) => sendStream(res, 'data: x\n\n', { end: false }));
    const source = new EventSource(s.url);
    sources.push(source);
    const order = [];
    source.addEventListener('message', () => order.push('listener 1'));
    source.onmessage = (e) => {
      order.push(`onmessage ${e.constructor.name} ${e.data} ${this === undefined}`);
    };
    source.addEventListener('message', () => order.push('listener 2'));
    await within(5000, 'the message', async () => {
      while (order.length < 3) await new Promise((r) => setTimeout(r, 5));
    });
    assert.deepEqual(order, ['listener 1', 'onmessage MessageEvent x true', 'listener 2']);
    assert.equal(typeof source.onmessage, 'function');
    source.onmessage = null;
    assert.equal(source.onmessage, null);
    source.onopen = 'not a function';
    assert.equal(source.onopen, null);
  });

  it("dispatches through EventTarget's own dispatchEvent: a subclass's override does not see the events (as with the browser's)", async () => {
    const s = await server((req, res) => sendStream(res, 'data: x\n\n', { end: false }));
    const seen = [];
    class Spy extends EventSource {
      dispatchEvent(e) {
        seen.push(e.type);
        return super.dispatchEvent(e);
      }
    }
    const source = new Spy(s.url);
    const got = await new Promise((resolve) => {
      source.onmessage = (e) => resolve(e.data);
    });
    source.close();
    assert.equal(got, 'x');
    assert.deepEqual(seen, []);
  });

  it("message events: ports is one frozen empty array per event, as the browser's; source is null; constructor is MessageEvent", async () => {
    const s = await server((req, res) => sendStream(res, 'data: a\n\ndata: b\n\n', { end: false }));
    const source = new EventSource(s.url);
    sources.push(source);
    const events = [];
    source.onmessage = (e) => events.push(e);
    await within(5000, 'two messages', async () => {
      while (events.length < 2) await new Promise((r) => setTimeout(r, 5));
    });
    const [a, b] = events;
    assert.ok(a instanceof MessageEvent);
    assert.equal(a.ports, a.ports);
    assert.notEqual(a.ports, b.ports);
    assert.ok(Object.isFrozen(a.ports) && Array.isArray(a.ports) && a.ports.length === 0);
    assert.equal(b.source, null);
    // The platform's class, so a copy made from it is a whole MessageEvent.
    assert.equal(a.constructor, MessageEvent);
    const copy = new b.constructor(b.type, b);
    assert.deepEqual([copy.data, copy.origin, copy.lastEventId], [b.data, b.origin, b.lastEventId]);
  });

  it('close() stops delivery at once, even in the middle of a chunk', async () => {
    const s = await server((req, res) => sendStream(res, 'data: 1\n\ndata: 2\n\ndata: 3\n\n', { end: false }));
    const { source, rec } = open(s.url);
    let closedAfter = null;
    source.onmessage = (e) => {
      source.close();
      closedAfter = e.data;
    };
    await rec.until((log) => log.includes('message "1" id=""'), 'the first message');
    // Give a second chunk a chance: the server gets another write.
    await new Promise((r) => setImmediate(r));
    assert.equal(closedAfter, '1');
    assert.equal(rec.count('message'), 1);
    assert.equal(rec.count('error'), 0);
    assert.equal(source.readyState, EventSource.CLOSED);
  });
});

describe('EventSource: reconnection', () => {
  it('reconnects when the stream ends, sending Last-Event-ID, with no event lost', async () => {
    const s = await server((req, res, n) => sendStream(res, `retry: 10\nid: ${n}\ndata: event ${n}\n\n`));
    const { source, rec } = open(s.url);
    await rec.until((log) => rec.count('message') === 3, 'three messages');
    source.close();
    assert.deepEqual(rec.log.slice(0, 6), ['open 1', 'message "event 1" id="1"', 'error 0 end_of_stream', 'open 1', 'message "event 2" id="2"', 'error 0 end_of_stream']);
    assert.deepEqual(
      s.requests.slice(0, 3).map((r) => r.headers['last-event-id']),
      [undefined, '1', '2'],
    );
  });

  it('sends the id committed by a blank line even when that event had no data', async () => {
    const s = await server((req, res, n) => sendStream(res, n === 1 ? 'retry: 10\nid: empty-event\n\nid: not-dispatched\n' : '', { end: n === 1 }));
    const { rec } = open(s.url);
    await s.waitForRequests(2);
    assert.equal(s.requests[1].headers['last-event-id'], 'empty-event');
    assert.equal(rec.count('message'), 0);
  });

  it('an empty id field clears Last-Event-ID for the next request', async () => {
    const s = await server((req, res, n) => sendStream(res, n === 1 ? 'retry: 10\nid: a\ndata: x\n\n' : n === 2 ? 'id\ndata: y\n\n' : '', { end: n < 3 }));
    const { rec } = open(s.url);
    await s.waitForRequests(3);
    assert.deepEqual(
      s.requests.slice(0, 3).map((r) => r.headers['last-event-id']),
      [undefined, 'a', undefined],
    );
    assert.ok(rec.log.includes('message "y" id=""'));
  });

  it("honours the server's retry: value for the wait", { timeout: 10000 }, async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      let served = 0;
      const fetch = async () => {
        served++;
        return new Response(served === 1 ? 'retry: 1234\ndata: x\n\n' : 'data: y\n\n', { headers: { 'content-type': 'text/event-stream' } });
      };
      const { source, rec } = open('http://example.test/', { fetch });
      await rec.until((log) => rec.count('error') === 1, 'the end of the first stream');
      mock.timers.tick(1233);
      await flush();
      assert.equal(served, 1, 'reconnected before the retry time');
      mock.timers.tick(1);
      await rec.until(() => rec.count('message') === 2, 'the second stream');
      assert.equal(served, 2);
      source.close();
    } finally {
      mock.timers.reset();
    }
  });

  it('waits 3000 ms by default', { timeout: 10000 }, async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      let served = 0;
      const fetch = async () => {
        served++;
        return new Response('data: x\n\n', { headers: { 'content-type': 'text/event-stream' } });
      };
      const { source, rec } = open('http://example.test/', { fetch });
      await rec.until(() => rec.count('error') === 1, 'the end of the first stream');
      mock.timers.tick(2999);
      await flush();
      assert.equal(served, 1);
      mock.timers.tick(1);
      await rec.until(() => rec.count('open') === 2, 'the second connection');
      source.close();
    } finally {
      mock.timers.reset();
    }
  });

  it('backs off exponentially, with jitter and a cap, while connections keep failing; an event resets it', { timeout: 10000 }, async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    mock.method(Math, 'random', () => 0.5);
    try {
      let attempts = 0;
      let healthyAttempt = 0;
      const fetch = async () => {
        attempts++;
        if (attempts === healthyAttempt) return new Response('data: ok\n\n', { headers: { 'content-type': 'text/event-stream' } });
        throw new TypeError('connection refused');
      };
      const { source, rec } = open('http://example.test/', { fetch, backoff: { factor: 2, maxDelay: 10000, jitter: 0.5 } });
      // Checks that attempt n+1 starts exactly `ms` after the error of attempt n.
      const reconnectsAfter = async (ms) => {
        await flush();  // the first attempt starts after the constructor's task
        const n = attempts;
        await rec.until(() => rec.count('error') === n, `the error of attempt ${n}`);
        mock.timers.tick(ms - 1);
        await flush();
        assert.equal(attempts, n, `attempt ${n + 1} started before ${ms} ms`);
        mock.timers.tick(1);
        await flush();
        assert.equal(attempts, n + 1, `attempt ${n + 1} did not start after ${ms} ms`);
      };
      await reconnectsAfter(3000); // first failure: the reconnection time
      await reconnectsAfter(6000 * 0.75); // doubled, minus jitter (0.5 * random 0.5)
      await reconnectsAfter(10000 * 0.75); // 12000 capped at maxDelay
      healthyAttempt = attempts + 1;
      await reconnectsAfter(10000 * 0.75);
      await rec.until(() => rec.count('message') === 1, 'the healthy stream');
      await reconnectsAfter(3000); // a stream with an event resets the backoff
      assert.deepEqual(errorsIn(rec.log).slice(0, 5), [
        'error 0 network_error',
        'error 0 network_error',
        'error 0 network_error',
        'error 0 network_error',
        'error 0 end_of_stream',
      ]);
      source.close();
    } finally {
      mock.timers.reset();
      mock.restoreAll();
    }
  });

  // A proxy or load balancer that cuts idle streams (squid's read_timeout,
  // nginx's proxy_read_timeout) pushed a quiet, healthy stream towards
  // maxDelay between connections (a probe with real proxies): a stream that
  // lived longer than the next wait is no failure, as in the C++ client.
  it('a stream that lived longer than the next wait and was cut is no failure: the wait stays the reconnection time', { timeout: 20000 }, async () => {
    const s = await server((req, res) => {
      sendStream(res, '', { end: false });
      res.flushHeaders();  // the head now, not with the end
      setTimeout(() => res.end(), 300);
    });
    const { source } = open(s.url, { reconnectionTime: 5, backoff: { minDelay: 1 } });  // 5, 10, 20, 40 ms if each were a failure
    const delays = [];
    await within(15000, 'four reconnects', () => new Promise((resolve) => {
      source.addEventListener('error', (e) => {
        delays.push([e.error.reason, e.reconnectDelay]);
        if (delays.length === 4) resolve();
      });
    }));
    source.close();
    assert.deepEqual(delays, Array(4).fill(['end_of_stream', 5]));
  });

  // 1 s, then 2 s: a busy machine that stalls the client between the head
  // and the end for less than 2 s does not make the stream count as lived.
  it('a stream that ends at once still backs off', { timeout: 20000 }, async () => {
    const s = await server((req, res) => sendStream(res, ''));
    const { source } = open(s.url, { reconnectionTime: 1000, backoff: { jitter: 0, minDelay: 1 } });
    const delays = [];
    await within(15000, 'two reconnects', () => new Promise((resolve) => {
      source.addEventListener('error', (e) => {
        delays.push(e.reconnectDelay);
        if (delays.length === 2) resolve();
      });
    }));
    source.close();
    assert.deepEqual(delays, [1000, 2000]);
  });

  it('backoff: false keeps the plain reconnection time after failures', { timeout: 10000 }, async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      let attempts = 0;
      const fetch = async () => {
        attempts++;
        throw new TypeError('connection refused');
      };
      const { source, rec } = open('http://example.test/', { fetch, backoff: false });
      for (let i = 1; i <= 4; i++) {
        await rec.until(() => rec.count('error') === i, `failure ${i}`);
        mock.timers.tick(3000);
        await flush();
        assert.equal(attempts, i + 1);
      }
      source.close();
    } finally {
      mock.timers.reset();
    }
  });

  it('reconnects after a network error (the server drops the connection mid-stream)', async () => {
    const s = await server((req, res, n) => {
      if (n === 1) {
        sendStream(res, 'retry: 10\nid: 1\ndata: before\n\n', { end: false });
        setImmediate(() => res.socket.destroy());
      } else {
        sendStream(res, 'data: after\n\n', { end: false });
      }
    });
    const { rec } = open(s.url);
    await rec.until(() => rec.log.includes('message "after" id="1"'), 'the message after the drop');
    assert.deepEqual(errorsIn(rec.log), ['error 0 network_error']);
    assert.equal(s.requests[1].headers['last-event-id'], '1');
  });

  it('100 forced drops: every event arrives exactly once, in order', async () => {
    const total = 300;
    const s = await server((req, res) => {
      const from = Number(req.headers['last-event-id'] ?? 0) + 1;
      let text = 'retry: 1\n';
      for (let i = from; i < from + 3 && i <= total; i++) text += `id: ${i}\ndata: ${i}\n\n`;
      // Half the drops end the response, half destroy the socket.
      if (from % 2) {
        sendStream(res, text);
      } else {
        sendStream(res, text, { end: false });
        setImmediate(() => res.socket.destroy());
      }
    });
    // The 250 ms floor of every reconnect, lowered so 100 reconnects are quick.
    const { source, rec } = open(s.url, { backoff: { factor: 1, jitter: 0, minDelay: 1 } });
    await rec.until(() => rec.count('message') === total, `${total} messages`, 20000);
    source.close();
    const data = rec.log.filter((e) => e.startsWith('message')).map((e) => JSON.parse(e.split(' ')[1]));
    assert.deepEqual(data, Array.from({ length: total }, (_, i) => String(i + 1)));
    assert.ok(s.requests.length >= 100, `only ${s.requests.length} connections`);
  });

  it('close() during the wait before a reconnect: no request, no event', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const s = await server((req, res) => sendStream(res, 'retry: 50\ndata: x\n\n'));
      const { source, rec } = open(s.url);
      source.onerror = () => source.close();
      await rec.until(() => rec.count('error') === 1, 'the end of the stream');
      assert.equal(source.readyState, EventSource.CLOSED);
      // Far past the reconnection time: a timer left behind would reconnect.
      mock.timers.tick(60_000);
      await flush();
      assert.equal(s.requests.length, 1);
      assert.equal(rec.log.length, 3);
    } finally {
      mock.timers.reset();
    }
  });

  it('close() in the task that made it: no request at all, as the browser\'s (which starts it in a later task)', async () => {
    const urls = [];
    let called;
    const fetch = (url) => {
      urls.push(String(url));
      called();
      return new Promise(() => {});
    };
    const fetched = () => new Promise((resolve) => (called = resolve));
    let wait = fetched();
    const first = new EventSource('http://127.0.0.1:9/first', { fetch });
    first.close();
    // Later in the same task, after awaits (microtasks): still nothing sent.
    const second = new EventSource('http://127.0.0.1:9/second', { fetch });
    await null;
    await Promise.resolve();
    assert.deepEqual(urls, []);
    second.close();
    // Not closed: the request goes once the constructor's task is over. The
    // starts keep their order, so the earlier ones would have gone first.
    const third = new EventSource('http://127.0.0.1:9/third', { fetch });
    assert.deepEqual(urls, []);
    await wait;
    assert.deepEqual(urls, ['http://127.0.0.1:9/third']);
    third.close();
    // The same from a later task (a timer's): the earlier start is not lost.
    wait = fetched();
    await new Promise((resolve) => setTimeout(resolve, 0));
    const fourth = new EventSource('http://127.0.0.1:9/fourth', { fetch });
    await wait;
    assert.deepEqual(urls, ['http://127.0.0.1:9/third', 'http://127.0.0.1:9/fourth']);
    fourth.close();
  });

  it('a script that only makes an EventSource runs until it is done, and exits once it is closed', async () => {
    // No socket or timer of the script's own keeps Node running: the start
    // in a later task must, and must not after close().
    const out = await runNodeScript(`
      const { EventSource } = require(${JSON.stringify(new URL('../src/index.cjs', import.meta.url).pathname)});
      const fetch = async () => new Response('data: one\\n\\n', { headers: { 'content-type': 'text/event-stream' } });
      const source = new EventSource('http://example.test/', { fetch });
      source.onmessage = (e) => {
        source.close();
        process.stdout.write(JSON.stringify({ data: e.data }));
      };
    `, { timeout: 20_000 });
    assert.deepEqual(out, { data: 'one' });
  });

  it('close() while connecting: no event at all', async () => {
    let respond;
    const s = await server((req, res) => {
      respond = () => sendStream(res, 'data: late\n\n');
    });
    let answered;
    const fetched = new Promise((resolve) => {
      answered = resolve;
    });
    const fetch = (url, init) => globalThis.fetch(url, init).finally(answered);
    const { source, rec } = open(s.url, { fetch });
    await s.waitForRequests(1);
    source.close();
    respond();
    // The response (or the abort) has reached the EventSource.
    await fetched;
    await flush();
    assert.deepEqual(rec.log, []);
    assert.equal(source.readyState, EventSource.CLOSED);
  });
});

describe('EventSource: responses that fail the connection', () => {
  const failing = [
    ['404', (res) => res.writeHead(404, { 'Content-Type': 'text/plain' }).end('no such stream'), 'http_status', 404],
    ['500', (res) => res.writeHead(500).end('oops'), 'http_status', 500],
    ['204', (res) => res.writeHead(204).end(), 'no_content', 204],
    ['text/plain', (res) => res.writeHead(200, { 'Content-Type': 'text/plain' }).end('data: x\n\n'), 'wrong_content_type', 200],
    ['no content type', (res) => res.writeHead(200).end('data: x\n\n'), 'wrong_content_type', 200],
    ['text/event-streams', (res) => res.writeHead(200, { 'Content-Type': 'text/event-streams' }).end('data: x\n\n'), 'wrong_content_type', 200],
  ];
  for (const [name, respond, reason, status] of failing) {
    it(`${name}: error, CLOSED, no reconnect`, async (t) => {
      mock.timers.enable({ apis: ['setTimeout'] });
      t.after(() => mock.timers.reset());
      const s = await server((req, res) => respond(res));
      const { source, rec } = open(s.url);
      let error;
      source.onerror = (e) => {
        error = e.error;
      };
      await rec.until(() => rec.count('error') === 1, 'the error');
      assert.deepEqual(rec.log, [`error 2 ${reason}`]);
      assert.ok(error instanceof SseError);
      assert.equal(source.readyState, EventSource.CLOSED);
      assert.equal(error.reason, reason);
      assert.equal(error.status, status);
      assert.ok(error.headers instanceof Headers);
      if (name === '404') assert.equal(error.body, 'no such stream');
      // No timer left to reconnect, however long one waits.
      mock.timers.tick(600_000);
      await flush();
      assert.equal(s.requests.length, 1);
    });
  }

  it('accepts a content type with parameters and any case', async () => {
    const s = await server((req, res) => res.writeHead(200, { 'Content-Type': 'Text/Event-Stream ; charset=utf-8' }).end('data: x\n\n'));
    const { source, rec } = open(s.url);
    await rec.until(() => rec.count('message') === 1, 'the message');
    source.close();
  });

  // Fetch's "extract a MIME type": the last valid value of the combined
  // header counts, as for Chromium's EventSource.
  for (const [name, value, opens] of [
    ['two Content-Type headers, the stream last', ['text/html', 'text/event-stream'], true],
    ['a list, the stream last', 'text/plain, text/event-stream;charset=utf-8', true],
    ['a list, */* ignored', 'text/event-stream, */*', true],
    ['a list, the stream first', 'text/event-stream, text/html', false],
    ['a comma inside a quoted parameter', 'text/event-stream; x="a,b"', true],
    ['white space around the slash', 'text / event-stream', false],
    ['white space after the slash', 'text/ event-stream', false],
    ['white space around the whole', ' text/event-stream ', true],
  ]) {
    it(`content type: ${name}`, async () => {
      const s = await server((req, res) => {
        res.setHeader('Content-Type', value);
        res.writeHead(200).end('data: x\n\n');
      });
      const { source, rec } = open(s.url);
      await rec.until((log) => log.length >= (opens ? 2 : 1), 'the first entries');
      source.close();
      assert.deepEqual(rec.log.slice(0, 2), opens ? ['open 1', 'message "x" id=""'] : ['error 2 wrong_content_type']);
    });
  }

  it('the error body is cut at 1 KiB', async () => {
    const s = await server((req, res) => res.writeHead(503).end('x'.repeat(100_000)));
    const { source } = open(s.url);
    const error = await new Promise((resolve) => {
      source.onerror = (e) => resolve(e.error);
    });
    assert.equal(error.body.length, 1024);
    assert.equal(error.status, 503);
  });

  it('an event over maxEventSize fails the connection (limit_exceeded), after the events before it', async () => {
    const s = await server((req, res) => sendStream(res, `data: small\n\ndata: ${'x'.repeat(5000)}\n\ndata: never\n\n`, { end: false }));
    const { source, rec } = open(s.url, { maxEventSize: 1000 });
    let error;
    source.addEventListener('error', (e) => {
      error = e.error;
    });
    await rec.until(() => rec.count('error') === 1, 'the error');
    assert.deepEqual(rec.log, ['open 1', 'message "small" id=""', 'error 2 limit_exceeded']);
    assert.equal(error.cause.code, 'event_too_large');
    assert.equal(s.requests.length, 1);
  });
});

describe('EventSource: redirects', () => {
  it('follows a redirect; url stays, origin is the final one', async () => {
    const target = await server((req, res) => sendStream(res, 'data: moved\n\n', { end: false }));
    const s = await server((req, res) => res.writeHead(307, { Location: target.url }).end());
    const { source, rec } = open(s.url);
    let origin;
    source.onmessage = (e) => {
      origin = e.origin;
    };
    await rec.until(() => rec.count('message') === 1, 'the message');
    assert.equal(source.url, s.url);
    assert.equal(origin, target.base);
    assert.equal(target.requests[0].headers.accept, 'text/event-stream');
  });

  it('reconnects to the URL the redirect led to, as browsers do', async () => {
    const target = await server((req, res, n) => sendStream(res, `retry: 10\nid: ${n}\ndata: ${n}\n\n`));
    const s = await server((req, res) => res.writeHead(302, { Location: target.url }).end());
    const { source, rec } = open(s.url);
    await rec.until(() => rec.count('message') === 2, 'two messages');
    source.close();
    assert.equal(s.requests.length, 1);
    assert.equal(target.requests[1].headers['last-event-id'], '1');
    assert.equal(source.url, s.url);
  });

  it('a POST redirected by 303 (fetch made it a GET) reconnects through the redirect, not as a POST to where it led', async () => {
    const target = await server((req, res) => (req.method === 'GET' ? sendStream(res, 'retry: 10\ndata: answer\n\n') : res.writeHead(405).end()));
    const s = await server((req, res) => res.writeHead(303, { Location: target.url }).end());
    const { source, rec } = open(s.url, { method: 'POST', body: 'prompt', replayBody: true });
    await rec.until(() => rec.count('message') === 2, 'two answers');
    source.close();
    assert.deepEqual(s.requests.slice(0, 2).map((r) => [r.method, r.body]), [['POST', 'prompt'], ['POST', 'prompt']]);
    assert.deepEqual(target.requests.slice(0, 2).map((r) => [r.method, r.body]), [['GET', ''], ['GET', '']]);
  });

  it('a redirect to ftp: or javascript: fails the connection (redirect_refused), as Chromium\'s: one request, no reconnect', async (t) => {
    for (const location of ['ftp://127.0.0.1/x', 'javascript:alert(1)']) {
      mock.timers.enable({ apis: ['setTimeout'] });
      t.after(() => mock.timers.reset());
      const s = await server((req, res) => res.writeHead(302, { Location: location }).end());
      const { source, rec } = open(s.url);
      let error;
      source.onerror = (e) => {
        error = e.error;
      };
      await rec.until(() => rec.count('error') === 1, 'the error');
      assert.deepEqual(rec.log, ['error 2 redirect_refused'], location);
      assert.match(error.message, /not http\(s\)/);
      mock.timers.tick(600_000);
      await flush();
      assert.equal(s.requests.length, 1, location);
      mock.timers.reset();
    }
  });

  it('a redirect to a failing response fails the connection', async () => {
    const target = await server((req, res) => res.writeHead(404).end());
    const s = await server((req, res) => res.writeHead(302, { Location: target.url }).end());
    const { rec } = open(s.url);
    await rec.until(() => rec.count('error') === 1, 'the error');
    assert.deepEqual(rec.log, ['error 2 http_status']);
  });
});

describe('EventSource: options the browser lacks', () => {
  it('sends headers, method and body; refuses CR/LF in headers before sending', async () => {
    const s = await server((req, res) => sendStream(res, 'data: ok\n\n', { end: false }));
    const { rec } = open(s.url, { method: 'POST', headers: { Authorization: 'Bearer t', 'Content-Type': 'application/json' }, body: '{"q":1}' });
    await rec.until(() => rec.count('message') === 1, 'the message');
    const r = s.requests[0];
    assert.equal(r.method, 'POST');
    assert.equal(r.headers.authorization, 'Bearer t');
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.body, '{"q":1}');
    assert.throws(() => new EventSource(s.url, { headers: { 'X-A': 'a\r\nX-B: b' } }), TypeError);
    assert.throws(() => new EventSource(s.url, { headers: { 'X\nA': 'a' } }), TypeError);
    assert.throws(() => new EventSource(s.url, { method: 'GET X' }), TypeError);
    // A fetch option that is not a function is named as such (it read "no fetch() here").
    assert.throws(() => new EventSource(s.url, { fetch: 42 }), { name: 'TypeError', message: 'ssekit: the `fetch` option must be a function, got number 42' });
    assert.equal(s.requests.length, 1);
  });

  it('an option that is null takes its default; flags must be booleans', async () => {
    const s = await server((req, res) => sendStream(res, 'data: ok\n\n', { end: false }));
    const nulls = {
      withCredentials: null, fetch: null, method: null, headers: null, body: null, lastEventIdQuery: null,
      idleTimeout: null, reconnectionTime: null, backoff: null, replayBody: null, retryServerErrors: null,
      onAttempt: null, attemptHookTimeout: null, lastEventId: null, maxLineLength: null, maxEventSize: null,
    };
    // It sent the method "null" and threw fetch's own TypeError for the headers.
    const { rec } = open(s.url, nulls);
    await rec.until(() => rec.count('message') === 1, 'the message');
    assert.equal(s.requests[0].method, 'GET');
    assert.equal(s.requests[0].headers['last-event-id'], undefined);
    const events = [];
    for await (const e of stream(s.url, { ...nulls, signal: null })) {
      events.push(e.data);
      break;
    }
    assert.deepEqual(events, ['ok']);
    assert.equal(s.requests[1].method, 'GET');
    new EventSource(s.url, { backoff: { factor: null, jitter: null, minDelay: null, maxDelay: null } }).close();
    const parsed = [];
    const parser = createParser({ maxLineLength: null, maxEventSize: null, onEvent: (e) => parsed.push(e.data), onRetry: null });
    parser.feed('data: a\n\n');
    assert.deepEqual(parsed, ['a']);
    createParser(null).close();
    // A flag given as a string was silently false.
    for (const name of ['replayBody', 'retryServerErrors']) {
      assert.throws(() => new EventSource(s.url, { [name]: 'yes' }), { name: 'TypeError', message: `ssekit: ${name} must be true or false, got the string "yes"` });
      assert.throws(() => stream(s.url, { [name]: 1 }), { name: 'TypeError', message: `ssekit: ${name} must be true or false, got number 1` });
    }
    assert.throws(() => createParser('x'), { name: 'TypeError' });
  });

  it('a request with a body is not replayed by default: the end of the stream closes it', async (t) => {
    mock.timers.enable({ apis: ['setTimeout'] });
    t.after(() => mock.timers.reset());
    const s = await server((req, res) => sendStream(res, 'retry: 10\ndata: answer\n\n'));
    const { source, rec } = open(s.url, { method: 'POST', body: 'prompt' });
    await rec.until(() => rec.count('error') === 1, 'the end');
    assert.deepEqual(rec.log, ['open 1', 'message "answer" id=""', 'error 2 end_of_stream']);
    assert.equal(source.readyState, EventSource.CLOSED);
    mock.timers.tick(600_000);
    await flush();
    assert.equal(s.requests.length, 1);
  });

  it('replayBody: true sends the body again on reconnect', async () => {
    const s = await server((req, res) => sendStream(res, 'retry: 10\ndata: answer\n\n'));
    const { source, rec } = open(s.url, { method: 'POST', body: 'prompt', replayBody: true });
    await rec.until(() => rec.count('message') === 2, 'two answers');
    source.close();
    assert.deepEqual(s.requests.slice(0, 2).map((r) => [r.method, r.body]), [['POST', 'prompt'], ['POST', 'prompt']]);
  });

  it('lastEventId: sent on the first request and carried by events until the stream sets one', async () => {
    const s = await server((req, res) => sendStream(res, 'data: a\n\nid: 2\ndata: b\n\n', { end: false }));
    const { rec } = open(s.url, { lastEventId: 'resume-1' });
    await rec.until(() => rec.count('message') === 2, 'two messages');
    assert.equal(s.requests[0].headers['last-event-id'], 'resume-1');
    assert.deepEqual(rec.log.slice(1), ['message "a" id="resume-1"', 'message "b" id="2"']);
  });

  it('a Last-Event-ID in the headers option is the first id: sent, then replaced or cleared by the stream', async () => {
    const s = await server((req, res, n) => sendStream(res, n === 1 ? 'retry: 10\ndata: a\n\n' : n === 2 ? 'id: 5\ndata: b\n\n' : n === 3 ? 'id\ndata: c\n\n' : '', { end: n < 4 }));
    const { source, rec } = open(s.url, { headers: { 'Last-Event-ID': 'from-option' } });
    await s.waitForRequests(4);
    source.close();
    assert.deepEqual(
      s.requests.slice(0, 4).map((r) => r.headers['last-event-id']),
      ['from-option', 'from-option', '5', undefined],
    );
    assert.ok(rec.log.includes('message "a" id="from-option"'), rec.log.join('; '));
    // The lastEventId option wins over the header.
    const both = open(s.url, { headers: { 'Last-Event-ID': 'header' }, lastEventId: 'option' });
    await s.waitForRequests(5);
    both.source.close();
    assert.equal(s.requests[4].headers['last-event-id'], 'option');
  });

  it('idleTimeout: a silent connection is dropped and reconnected; comments count as traffic', async () => {
    const s = await server((req, res, n) => {
      if (n === 1) {
        // Comments keep it alive for a while, then silence.
        sendStream(res, 'retry: 10\n', { end: false });
        // 600 ms of comments, longer than the idle timeout; margins wide
        // enough that a busy machine's pauses are not silence.
        let beats = 0;
        const beat = setInterval(() => {
          if (++beats === 12) clearInterval(beat);
          else res.write(':\n');
        }, 50);
        res.on('close', () => clearInterval(beat));
      } else {
        sendStream(res, 'data: second\n\n', { end: false });
      }
    });
    const { rec } = open(s.url, { idleTimeout: 400 });
    await rec.until(() => rec.count('message') === 1, 'the second connection');
    assert.deepEqual(rec.log, ['open 1', 'error 0 idle_timeout', 'open 1', 'message "second" id=""']);
  });


  it('idleTimeout: a listener that takes longer than it is not silence from a server that keeps sending', async () => {
    // Each chunk comes in a later turn of the event loop (setImmediate), as a
    // socket's would: after the timers that came due meanwhile.
    const encoder = new TextEncoder();
    let chunks = 0;
    let requests = 0;
    let cancelled = false;
    const fetch = async () => {
      requests++;
      const body = new ReadableStream(
        {
          pull: (controller) =>
            new Promise((resolve) =>
              setImmediate(() => {
                if (!cancelled) controller.enqueue(encoder.encode(`data: ${++chunks}\n\n`));
                resolve();
              }),
            ),
          cancel: () => {
            cancelled = true;
          },
        },
        { highWaterMark: 0 },
      );
      return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
    };
    const { source, rec } = open('http://example.test/', { fetch, idleTimeout: 1000 });
    let blocked = false;
    source.addEventListener('message', () => {
      if (blocked) return;
      blocked = true;
      const end = performance.now() + 1100;  // longer than the idle timeout
      while (performance.now() < end);
    });
    await rec.until(() => rec.count('message') >= 5, 'five messages');
    source.close();
    // Touched before the listeners ran, the timer came due during them and
    // fired before the next chunk was read: idle_timeout, and a reconnect.
    assert.deepEqual(errorsIn(rec.log), []);
    assert.equal(requests, 1);
  });

  it('idleTimeout also covers a server that never answers', async () => {
    let attempts = 0;
    const fetch = (url, init) => {
      attempts++;
      return new Promise((_, reject) => init.signal.addEventListener('abort', () => reject(init.signal.reason)));
    };
    const { source, rec } = open('http://example.test/', { fetch, idleTimeout: 30 });
    await rec.until(() => rec.count('error') === 1, 'the timeout');
    source.close();
    assert.deepEqual(rec.log, ['error 0 idle_timeout']);
    assert.equal(attempts, 1);
  });

  it('a custom fetch gets the URL and the request init, its headers a plain object (lower-case names)', async () => {
    const seen = [];
    const fetch = async (url, init) => {
      seen.push([url, init.method, init.headers.accept, init.headers['x-token']]);
      return new Response('data: via custom fetch\n\n', { headers: { 'content-type': 'text/event-stream' } });
    };
    const { source, rec } = open('http://example.test/s', { fetch, headers: [['X-Token', 'abc']] });
    await rec.until(() => rec.count('message') === 1, 'the message');
    source.close();
    assert.deepEqual(seen, [['http://example.test/s', 'GET', 'text/event-stream', 'abc']]);
  });

  it('calls fetch as a plain function (browsers refuse another this)', async () => {
    const fetch = function (url) {
      if (this !== undefined && this !== globalThis) throw new TypeError('Illegal invocation');
      return Promise.resolve(new Response('data: unbound\n\n', { headers: { 'content-type': 'text/event-stream' } }));
    };
    const { source, rec } = open('http://example.test/', { fetch });
    await rec.until(() => rec.count('message') === 1, 'the message');
    source.close();
  });

  it('refuses bad options', () => {
    const url = 'http://example.test/';
    assert.throws(() => new EventSource(url, { fetch: 5 }), TypeError);
    assert.throws(() => new EventSource(url, { idleTimeout: -1 }), RangeError);
    assert.throws(() => new EventSource(url, { backoff: { factor: 0.5 } }), RangeError);
    assert.throws(() => new EventSource(url, { backoff: { jitter: 2 } }), RangeError);
    assert.throws(() => new EventSource(url, { maxEventSize: -3 }), RangeError);
    assert.throws(() => new EventSource(url, { lastEventId: 5 }), TypeError);
    assert.throws(() => new EventSource(url, { body: new ReadableStream() }), TypeError);
    assert.throws(() => new EventSource(url, 'options'), TypeError);
  });
});

describe('EventSource: reconnection time and backoff', () => {
  // Fails every connection attempt, but answers the first with `first` (a
  // stream text) when given; `attempts` counts them.
  const failing = (first = null) => {
    const state = { attempts: 0 };
    state.fetch = async () => {
      state.attempts++;
      if (state.attempts === 1 && first !== null) return new Response(first, { headers: { 'content-type': 'text/event-stream' } });
      throw new TypeError('connection refused');
    };
    return state;
  };
  // Checks that attempt n+1 starts exactly `ms` after the error of attempt n.
  const reconnectsAfter = async (state, rec, ms) => {
    await flush();  // the first attempt starts after the constructor's task
    const n = state.attempts;
    await rec.until(() => rec.count('error') === n, `the error of attempt ${n}`);
    mock.timers.tick(ms - 1);
    await flush();
    assert.equal(state.attempts, n, `attempt ${n + 1} started before ${ms} ms`);
    mock.timers.tick(1);
    await flush();
    assert.equal(state.attempts, n + 1, `attempt ${n + 1} did not start after ${ms} ms`);
  };

  it('reconnectionTime sets the initial reconnection time (until the server sends retry:)', { timeout: 10000 }, async (t) => {
    mock.timers.enable({ apis: ['setTimeout'] });
    t.after(() => mock.timers.reset());
    const state = failing();
    const { source, rec } = open('http://example.test/', { fetch: state.fetch, reconnectionTime: 250, backoff: false });
    const delays = [];
    source.addEventListener('error', (e) => delays.push(e.reconnectDelay));
    await reconnectsAfter(state, rec, 250);
    await reconnectsAfter(state, rec, 250);
    source.close();
    // Each error event says how long until the next attempt.
    assert.deepEqual(delays, [250, 250, 250]);
    assert.throws(() => new EventSource('http://example.test/', { reconnectionTime: -1 }), RangeError);
    // A wrong type is a TypeError, a number out of range a RangeError, as
    // the README says; each names the option.
    assert.throws(() => new EventSource('http://example.test/', { reconnectionTime: 'soon' }), { name: 'TypeError', message: /^ssekit: reconnectionTime .*got the string "soon"$/ });
    assert.throws(() => new EventSource('http://example.test/', { reconnectionTime: Object.create(null) }), { name: 'TypeError', message: /got an object$/ });
    assert.throws(() => new EventSource('http://example.test/', { backoff: { jitter: Symbol('j') } }), { name: 'TypeError', message: /^ssekit: backoff.jitter .*got symbol Symbol\(j\)$/ });
    assert.throws(() => new EventSource('http://example.test/', { idleTimeout: NaN }), { name: 'RangeError', message: /^ssekit: idleTimeout / });
    assert.throws(() => new EventSource('http://example.test/', { attemptHookTimeout: 'x', onAttempt: () => {} }), { name: 'TypeError', message: /^ssekit: attemptHookTimeout / });
    assert.throws(() => new EventSource('http://example.test/', { maxEventSize: '1' }), { name: 'TypeError', message: /^ssekit: maxEventSize / });
    assert.throws(() => new EventSource('http://example.test/', { method: 5 }), { name: 'TypeError', message: /^ssekit: method must be a string, got number 5$/ });
    assert.throws(() => new EventSource('http://example.test/', { headers: 5 }), { name: 'TypeError', message: /^ssekit: headers: / });
    assert.throws(() => new EventSource('http://example.test/', { headers: { 'a b': 'c' } }), { name: 'TypeError', message: /^ssekit: headers: / });
  });

  // The C++ client's reconnect_delay() has the same cases
  // (ClientBackoff.GrowsCapsAndJittersInIntegers in http_rules_test.cpp).
  it('each backoff step rounds up, as the C++ client: 251 ms x 1.5 is 377, then 566', { timeout: 10000 }, async (t) => {
    mock.timers.enable({ apis: ['setTimeout'] });
    t.after(() => mock.timers.reset());
    const state = failing();
    const { source, rec } = open('http://example.test/', { fetch: state.fetch, reconnectionTime: 251, backoff: { factor: 1.5, jitter: 0, minDelay: 1 } });
    const delays = [];
    source.addEventListener('error', (e) => delays.push(e.reconnectDelay));
    await reconnectsAfter(state, rec, 251);
    await reconnectsAfter(state, rec, 377);
    await rec.until(() => delays.length === 3, 'the third error');
    source.close();
    assert.deepEqual(delays, [251, 377, 566]);
    // A factor just above 1 still grows, 1 ms a step (rounded down it
    // never did, and each delay took a loop of `failures` steps).
    const slow = failing();
    const s = open('http://example.test/', { fetch: slow.fetch, reconnectionTime: 250, backoff: { factor: 1.001, jitter: 0, minDelay: 1 } });
    const slowDelays = [];
    s.source.addEventListener('error', (e) => slowDelays.push(e.reconnectDelay));
    await reconnectsAfter(slow, s.rec, 250);
    await reconnectsAfter(slow, s.rec, 251);
    await s.rec.until(() => slowDelays.length === 3, 'the third error');
    s.source.close();
    assert.deepEqual(slowDelays, [250, 251, 252]);
    // Up to x100, as the C++ client's factor_percent (100..10000).
    new EventSource('http://example.test/', { fetch: slow.fetch, backoff: { factor: 100 } }).close();
    assert.throws(() => new EventSource('http://example.test/', { backoff: { factor: 100.001 } }), RangeError);
  });

  it('by default the wait after an outage stays within 10 s, whatever the jitter', { timeout: 20000 }, async (t) => {
    mock.timers.enable({ apis: ['setTimeout'] });
    t.after(() => mock.timers.reset());
    // random() near 1: the largest jitter; near 0: none.
    for (const random of [0, 0.999999]) {
      const restore = mock.method(Math, 'random', () => random);
      const state = failing();
      const { source, rec } = open('http://example.test/', { fetch: state.fetch });
      const waits = random === 0 ? [3000, 6000, 10000, 10000, 10000] : [3000, 3000, 5000, 5000, 5000];
      for (const ms of waits) await reconnectsAfter(state, rec, ms);
      source.close();
      restore.mock.restore();
    }
  });

  it('retry: 0 never storms: every reconnect waits at least backoff.minDelay (250 ms, as the C++ client)', { timeout: 10000 }, async (t) => {
    mock.timers.enable({ apis: ['setTimeout'] });
    t.after(() => mock.timers.reset());
    const restore = mock.method(Math, 'random', () => 0.999999);
    t.after(() => restore.mock.restore());
    // The first answer sets retry: 0 and ends without an event; then the
    // server is down.
    const state = failing('retry: 0\n\n');
    const { source, rec } = open('http://example.test/', { fetch: state.fetch });
    await reconnectsAfter(state, rec, 250); // the floor, not the server's 0
    await reconnectsAfter(state, rec, 250); // 500 less all the jitter, not below the floor
    await reconnectsAfter(state, rec, 500); // 1000 less all the jitter
    source.close();
    // A server that sends an event and retry: 0 and closes, every time:
    // each event resets the failures, and still every reconnect waits the floor.
    let attempts = 0;
    const eventful = {
      fetch: async () => {
        attempts++;
        return new Response('retry: 0\ndata: x\n\n', { headers: { 'content-type': 'text/event-stream' } });
      },
      get attempts() {
        return attempts;
      },
    };
    const second = open('http://example.test/', { fetch: eventful.fetch });
    for (let i = 0; i < 3; i++) await reconnectsAfter(eventful, second.rec, 250);
    second.source.close();
    assert.throws(() => new EventSource('http://example.test/', { backoff: { minDelay: 0 } }), RangeError);
    // With no backoff at all, retry: 0 is the server's choice, as in browsers.
    assert.throws(() => new EventSource('http://example.test/', { backoff: { minDelay: -5 } }), RangeError);
  });

  it('huge retry: values and many failures stay within what setTimeout can wait', { timeout: 10000 }, async (t) => {
    mock.timers.enable({ apis: ['setTimeout'] });
    t.after(() => mock.timers.reset());
    const restore = mock.method(Math, 'random', () => 0);
    t.after(() => restore.mock.restore());
    const state = failing('retry: 99999999999999999999\n\n');
    const { source, rec } = open('http://example.test/', { fetch: state.fetch, backoff: { factor: 100, maxDelay: 2 ** 40 } });
    for (let i = 0; i < 3; i++) await reconnectsAfter(state, rec, 2 ** 31 - 1);
    source.close();
  });
});

describe('EventSource: ids and URLs fetch() would refuse', () => {
  it('sends a non-ASCII Last-Event-ID as its UTF-8 bytes and keeps reconnecting', async () => {
    const ids = ['é', '€ 日本', '😀'];
    const s = await server((req, res, n) => sendStream(res, n <= ids.length ? `retry: 1\nid: ${ids[n - 1]}\ndata: ${n}\n\n` : 'data: last\n\n', { end: n <= ids.length }));
    const { source, rec } = open(s.url);
    await rec.until(() => rec.count('message') === ids.length + 1, 'every connection');
    source.close();
    const sent = s.requests.slice(0, ids.length + 1).map((r) => (r.headers['last-event-id'] === undefined ? null : Buffer.from(r.headers['last-event-id'], 'latin1').toString('utf8')));
    assert.deepEqual(sent, [null, ...ids]);
    assert.deepEqual(errorsIn(rec.log), ids.map(() => 'error 0 end_of_stream'));
  });

  it('a URL with user:pass@ fails at once: CLOSED, one error naming the problem, no request', async (t) => {
    mock.timers.enable({ apis: ['setTimeout'] });
    t.after(() => mock.timers.reset());
    let attempts = 0;
    const fetch = async () => {
      attempts++;
      throw new TypeError('Request cannot be constructed from a URL that includes credentials');
    };
    const { source, rec } = open('http://user:secret@example.test/events', { fetch });
    assert.equal(source.readyState, EventSource.CONNECTING);  // as Chromium's, until the error's task
    let error;
    source.onerror = (e) => {
      error = e.error;
    };
    mock.timers.tick(0);
    await flush();
    mock.timers.tick(600_000);
    await flush();
    assert.deepEqual(rec.log, ['error 2 invalid_url']);
    assert.equal(attempts, 0);
    assert.ok(error instanceof SseError);
    assert.match(error.message, /user:pass@/);
    assert.ok(!error.message.includes('secret'), 'the message must not repeat the password');
  });
});

describe('EventSource: custom fetch() bodies', () => {
  const streamHeaders = () => new Headers({ 'content-type': 'text/event-stream' });

  it('reads a Node stream body (node-fetch) and an async iterable body', async () => {
    const { Readable } = await import('node:stream');
    const bodies = [
      () => Readable.from([Buffer.from('data: node '), Buffer.from('stream\n\n')]),
      () =>
        (async function* () {
          yield new TextEncoder().encode('data: async ');
          yield 'iterable\n\n';
        })(),
    ];
    for (const make of bodies) {
      let served = 0;
      const fetch = async () => ({ status: served++ === 0 ? 200 : 204, statusText: '', headers: streamHeaders(), url: '', body: make() });
      const { source, rec } = open('http://example.test/', { fetch, reconnectionTime: 1 });
      await rec.until(() => rec.count('error 2') === 1, 'the 204 after the first stream');
      source.close();
      assert.equal(rec.log[1], `message ${JSON.stringify(make === bodies[0] ? 'node stream' : 'async iterable')} id=""`);
    }
  });

  for (const [name, body] of [
    ['a string', 'data: x\n\n'],
    ['no body', undefined],
    ['a null body', null],
    ['a number', 42],
  ]) {
    it(`a body that is ${name}: error (invalid_response), CLOSED, no reconnect, no unhandled rejection`, async (t) => {
      mock.timers.enable({ apis: ['setTimeout'] });
      t.after(() => mock.timers.reset());
      let attempts = 0;
      const fetch = async () => {
        attempts++;
        return { status: 200, statusText: 'OK', headers: streamHeaders(), body };
      };
      const { rec } = open('http://example.test/', { fetch });
      await rec.until(() => rec.count('error') === 1, 'the error');
      mock.timers.tick(600_000);
      await flush();
      assert.deepEqual(rec.log, ['error 2 invalid_response']);
      assert.equal(attempts, 1);
    });
  }

  it('a body whose iterator or reader throws at once: error (invalid_response, an SseError), CLOSED', async () => {
    const throwing = [
      { [Symbol.asyncIterator]() { throw new Error('iter'); } },
      { getReader() { throw new TypeError('locked'); } },
    ];
    for (const body of throwing) {
      const fetch = async () => ({ status: 200, statusText: 'OK', headers: streamHeaders(), body });
      const { rec, errors } = open('http://example.test/', { fetch });
      await rec.until(() => rec.count('error') === 1, 'the error');
      assert.deepEqual(rec.log, ['error 2 invalid_response']);
      assert.ok(errors[0].error instanceof SseError, String(errors[0].error));
      assert.match(errors[0].error.message, /can't be read/);
    }
  });

  // A probe's finding: a body getter that threw gave the error event the raw
  // Error (no reason), and a headers.get() that threw closed the connection
  // as a network_error, a reason that elsewhere reconnects.
  it('a response whose body getter or headers.get() throws: error (invalid_response, an SseError), CLOSED', async () => {
    const throwing = [
      () => ({ status: 200, statusText: 'OK', headers: streamHeaders(), get body() { throw new Error('body getter'); } }),
      () => ({ status: 200, statusText: 'OK', headers: { get() { throw new Error('get'); } }, body: null }),
    ];
    for (const make of throwing) {
      let attempts = 0;
      const fetch = async () => {
        attempts++;
        return make();
      };
      const { rec, errors } = open('http://example.test/', { fetch, reconnectionTime: 1 });
      await rec.until(() => rec.count('error') === 1, 'the error');
      await flush();
      assert.deepEqual(rec.log, ['error 2 invalid_response']);
      assert.ok(errors[0].error instanceof SseError, String(errors[0].error));
      assert.match(errors[0].error.message, /can't be read.*(body getter|get)/);
      assert.equal(errors[0].reconnectDelay, null);
      assert.equal(attempts, 1);
    }
  });

  it('a 503 whose body throws at once is still a 503: reconnected with retryServerErrors', async () => {
    let attempts = 0;
    const fetch = async () => {
      attempts++;
      if (attempts === 1) return { status: 503, statusText: 'Busy', headers: new Headers(), body: { [Symbol.asyncIterator]() { throw new Error('iter'); } } };
      return { status: 204, statusText: '', headers: new Headers(), body: null };
    };
    const { rec } = open('http://example.test/', { fetch, retryServerErrors: true, reconnectionTime: 1, backoff: false });
    await rec.until(() => rec.count('error') === 2, 'the 503, then the 204');
    assert.deepEqual(rec.log, ['error 0 http_status', 'error 2 no_content']);
    assert.equal(attempts, 2);
  });

  it('a fetch() that resolves to something other than a response fails the connection', async () => {
    for (const response of [undefined, 'ok', { status: 'x' }]) {
      const { rec } = open('http://example.test/', { fetch: async () => response });
      await rec.until(() => rec.count('error') === 1, 'the error');
      assert.deepEqual(rec.log, ['error 2 invalid_response']);
    }
  });

  it('a body that yields something other than bytes fails the connection', async () => {
    const fetch = async () => ({ status: 200, headers: streamHeaders(), body: [{ not: 'bytes' }].values() });
    // A sync iterator is not a body.
    const { rec } = open('http://example.test/', { fetch });
    await rec.until(() => rec.count('error') === 1, 'the error');
    assert.deepEqual(rec.log, ['error 2 invalid_response']);
    const fetch2 = async () => ({
      status: 200,
      headers: streamHeaders(),
      body: (async function* () {
        yield { not: 'bytes' };
      })(),
    });
    const second = open('http://example.test/', { fetch: fetch2 });
    await second.rec.until(() => second.rec.count('error') === 1, 'the error');
    assert.deepEqual(second.rec.log, ['open 1', 'error 2 invalid_response']);
  });

  // A probe's finding: undefined or null from read() was V8's destructuring
  // TypeError, a network_error that reconnected for ever.
  it('a body reader whose read() resolves to no object fails the connection', async () => {
    for (const result of [undefined, null]) {
      const body = { getReader: () => ({ read: async () => result, cancel: async () => {}, releaseLock() {} }) };
      const { rec, errors } = open('http://example.test/', { fetch: async () => ({ status: 200, headers: streamHeaders(), body }) });
      await rec.until(() => rec.count('error') === 1, 'the error');
      assert.deepEqual(rec.log, ['open 1', 'error 2 invalid_response'], String(result));
      assert.match(errors[0].error.message, /not bytes/);
    }
  });
});

// Lets pending promise callbacks and I/O run (mocked timers don't advance).
async function flush() {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}
