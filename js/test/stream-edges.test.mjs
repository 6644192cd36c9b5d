// stream()'s edges a mutation run found untested: return() with events
// queued, several next() calls when the stream fails, the backoff and
// Retry-After between refusals, replayBody, the origin after a redirect,
// the abort listener's removal, return() while the response is awaited,
// a ReadableStream body that can't be sent again.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { after, describe, it, mock } from 'node:test';
import { stream } from '../src/index.mjs';
import { sendStream, startServer, within } from './eventsource-server.mjs';

const servers = [];
after(() => Promise.all(servers.map((s) => s.close())));
async function server(handle) {
  const s = await startServer(handle);
  servers.push(s);
  return s;
}
async function collect(iterable) {
  const out = [];
  for await (const ev of iterable) out.push(ev);
  return out;
}
async function flush() {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}
const events = (text) => async () => new Response(text, { headers: { 'content-type': 'text/event-stream' } });

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
