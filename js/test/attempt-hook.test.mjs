// The attempt hook (onAttempt) and the rules for sending a request again
// (refused attempts, replayBody, Retry-After), for EventSource and stream(),
// against loopback node:http servers. The same rules and names as the C++
// client (tests/native/client_retry_test.cpp). Waits are on events,
// bounded by timeouts, never fixed sleeps.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import { EventSource, SseError, stream } from '../src/index.mjs';
import { sendStream, testFixtures } from './eventsource-server.mjs';
import './no-unhandled-rejections.mjs';

const { server, open } = testFixtures();

// Quick reconnects for tests: the 250 ms floor lowered, no jitter.
const quick = { reconnectionTime: 5, backoff: { minDelay: 1, jitter: 0 } };

// Tokens expire every `perToken` events: a request with the current token
// gets the next events after its Last-Event-ID, then the token expires and
// the response ends; any other token gets 401. issue() is the token service.
function expiringTokens(perToken) {
  let generation = 1;
  const issue = () => `t${generation}`;
  const handle = (req, res) => {
    if (req.headers.authorization !== `Bearer ${issue()}`) {
      res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"error":"token"}');
      return;
    }
    const from = Number(req.headers['last-event-id'] ?? 0);
    let text = '';
    for (let i = from + 1; i <= from + perToken; i++) text += `id: ${i}\ndata: ${i}\n\n`;
    generation++;
    sendStream(res, text);
  };
  return { issue, handle };
}

const messages = (rec) => rec.log.filter((e) => e.startsWith('message'));
const numbered = (n) => Array.from({ length: n }, (_, i) => `message "${i + 1}" id="${i + 1}"`);

describe('EventSource: the attempt hook (onAttempt)', () => {
  it('refreshes an expired token (async, a Promise) and the stream goes on with Last-Event-ID', async () => {
    const tokens = expiringTokens(3);
    const s = await server(tokens.handle);
    const infos = [];
    const { source, rec, errors } = open(s.url, {
      ...quick,
      headers: { authorization: 'Bearer t1' },
      onAttempt: async (request, info) => {
        infos.push(info);
        if (info.previousStatus === 401) {
          await new Promise((resolve) => setImmediate(resolve)); // a token service
          request.headers.set('authorization', `Bearer ${tokens.issue()}`);
        }
      },
    });
    await rec.until(() => messages(rec).length === 9, 'nine events');
    source.close();
    assert.deepEqual(messages(rec), numbered(9));
    const unauthorized = errors.filter((e) => e.error.status === 401);
    assert.equal(unauthorized.length, 2);
    for (const e of unauthorized) {
      assert.equal(e.error.reason, 'http_status');
      assert.equal(typeof e.reconnectDelay, 'number', 'a 401 with a hook reconnects');
    }
    assert.deepEqual(infos.slice(0, 3).map((i) => [i.kind, i.number, i.previousReason, i.previousStatus]), [
      ['first', 1, null, 0],
      ['reconnect', 2, 'end_of_stream', 0],
      ['reconnect', 3, 'http_status', 401],
    ]);
    assert.equal(infos[2].failures, 1, 'the 401 counts for the backoff');
    assert.equal(s.requests[2].headers.authorization, 'Bearer t2');
    assert.equal(s.requests[2].headers['last-event-id'], '3');
  });

  it('a rejected, throwing, late or invalid hook is an error event and a backoff, never an unhandled rejection', async () => {
    const s = await server((req, res) => sendStream(res, 'data: in\n\n', { end: false }));
    const infos = [];
    const { source, rec, errors } = open(s.url, {
      ...quick,
      attemptHookTimeout: 50,
      onAttempt: (request, info) => {
        infos.push(info);
        switch (info.number) {
          case 1: return Promise.reject(new Error('token service down'));
          case 2: throw new Error('no token');
          case 3: return new Promise(() => {}); // never answers
          case 4:
            // A late rejection, after the timeout, is caught too.
            return new Promise((resolve, reject) => setTimeout(() => reject(new Error('late')), 100));
          case 5: return { ...request, url: 'ftp://example.test/' };
          default: return undefined;
        }
      },
    });
    await rec.until(() => messages(rec).length === 1, 'the stream after five failed hooks');
    source.close();
    assert.deepEqual(errors.map((e) => e.error.reason), Array(5).fill('attempt_hook_failed'));
    assert.match(errors[0].error.message, /token service down/);
    assert.match(errors[1].error.message, /no token/);
    assert.match(errors[2].error.message, /did not answer within 50 ms/);
    assert.match(errors[4].error.message, /can't be sent/);
    for (const e of errors) assert.equal(typeof e.reconnectDelay, 'number');
    assert.deepEqual(infos.map((i) => i.failures), [0, 1, 2, 3, 4, 5]);
    assert.ok(errors[4].reconnectDelay > errors[0].reconnectDelay, 'the wait grows');
    assert.equal(s.requests.length, 1, 'nothing was sent for a failed hook');
    // Let the late rejection happen while the test still runs.
    await new Promise((resolve) => setTimeout(resolve, 120));
  });

  it('may change the URL, method and body; the change stays for reconnects', async () => {
    const s = await server((req, res) => sendStream(res, `retry: 5\ndata: ${req.url} ${req.method} ${req.headers['x-n']}\n\n`));
    let n = 0;
    const { source, rec } = open(`${s.base}/old`, {
      ...quick,
      replayBody: true,
      onAttempt: (request, info) => {
        n++;
        if (info.kind === 'first') return { url: `${s.base}/new`, method: 'PUT', headers: { 'x-n': String(n) }, body: 'b' };
        request.headers.set('x-n', String(n));
        return undefined;
      },
    });
    await rec.until(() => messages(rec).length === 2, 'two streams');
    source.close();
    assert.deepEqual(messages(rec), ['message "/new PUT 1" id=""', 'message "/new PUT 2" id=""']);
    assert.equal(s.requests[1].body, 'b');
    assert.throws(() => new EventSource(s.url, { onAttempt: 'yes' }), TypeError);
    assert.throws(() => new EventSource(s.url, { onAttempt: () => {}, attemptHookTimeout: 0 }), RangeError);
  });
});

describe('EventSource: sending a request again', () => {
  it('a 429 then a 200 on a POST: the body goes twice and the events arrive (no replayBody needed)', async () => {
    const s = await server((req, res, n) => {
      if (n === 1) res.writeHead(429, { 'Retry-After': '0' }).end();
      else sendStream(res, 'data: Hel\n\ndata: lo\n\n', { end: false });
    });
    const { source, rec, errors } = open(s.url, { ...quick, method: 'POST', body: '{"prompt":"hi"}', retryServerErrors: true });
    await rec.until(() => messages(rec).length === 2, 'two events');
    source.close();
    assert.deepEqual(s.requests.map((r) => r.body), ['{"prompt":"hi"}', '{"prompt":"hi"}']);
    assert.equal(errors[0].error.status, 429);
    assert.equal(typeof errors[0].reconnectDelay, 'number');
  });

  it('a 502 with Retry-After as an HTTP-date waits until that date (from the server\'s Date)', async () => {
    const s = await server((req, res, n) => {
      if (n === 1) res.writeHead(502, { Date: 'Sun, 06 Nov 1994 08:49:37 GMT', 'Retry-After': 'Sun, 06 Nov 1994 08:49:38 GMT' }).end();
      else sendStream(res, 'data: ok\n\n', { end: false });
    });
    const { source, rec, errors } = open(s.url, { ...quick, method: 'POST', body: 'p', retryServerErrors: true });
    await rec.until(() => messages(rec).length === 1, 'the stream after the 502');
    source.close();
    assert.equal(errors[0].error.status, 502);
    assert.equal(errors[0].reconnectDelay, 1000);
    assert.equal(s.requests[1].body, 'p');
  });

  it('a 500 on a POST is not sent again without replayBody; a 500 on a GET is', async () => {
    const s = await server((req, res, n) => {
      if (n % 2 === 1) res.writeHead(500).end();
      else sendStream(res, 'data: ok\n\n', { end: false });
    });
    const post = open(s.url, { ...quick, method: 'POST', body: 'p', retryServerErrors: true });
    await post.rec.until(() => post.rec.count('error') === 1, 'the 500');
    assert.equal(post.source.readyState, EventSource.CLOSED);
    assert.match(post.errors[0].error.message, /set replayBody/);
    const get = open(s.url, { ...quick, retryServerErrors: true });
    await get.rec.until(() => messages(get.rec).length === 1, 'the GET after a 500');
    get.source.close();
  });

  it('a 503 without retryServerErrors closes, and the message names the option; a 404 does not', async () => {
    const s = await server((req, res, n) => res.writeHead(n === 1 ? 503 : 404).end());
    const busy = open(s.url, quick);
    await busy.rec.until(() => busy.rec.count('error') === 1, 'the 503');
    assert.equal(busy.source.readyState, EventSource.CLOSED);
    assert.equal(busy.errors[0].error.status, 503);
    assert.match(busy.errors[0].error.message, /^the server answered 503 Service Unavailable; not retried: set retryServerErrors to reconnect after it$/);
    const missing = open(s.url, quick);
    await missing.rec.until(() => missing.rec.count('error') === 1, 'the 404');
    assert.equal(missing.errors[0].error.message, 'the server answered 404 Not Found');
  });

  it('a POST that delivered events and then dropped is replayed only with replayBody', async () => {
    const s = await server((req, res) => {
      sendStream(res, `id: ${req.headers['last-event-id'] ?? 0}\ndata: part\n\n`, { end: false });
      setImmediate(() => res.socket.destroy());
    });
    const once = open(s.url, { ...quick, method: 'POST', body: 'p' });
    await once.rec.until(() => once.rec.count('error') === 1, 'the drop');
    assert.deepEqual(once.rec.log, ['open 1', 'message "part" id="0"', 'error 2 network_error']);
    assert.match(once.errors[0].error.message, /set replayBody/);
    assert.equal(s.requests.length, 1);
    const again = open(s.url, { ...quick, method: 'POST', body: 'p', replayBody: true });
    await again.rec.until(() => messages(again.rec).length === 2, 'the replayed POST');
    again.source.close();
    assert.equal(s.requests[2].body, 'p');
    assert.equal(s.requests[2].headers['last-event-id'], '0');
  });

  it('a POST whose connection was refused goes again; one whose fate is unknown does not', async () => {
    const refusedThenOk = (cause) => {
      let attempts = 0;
      return {
        fetch: async () => {
          if (++attempts === 1) throw new TypeError('fetch failed', { cause });
          return new Response('data: ok\n\n', { headers: { 'content-type': 'text/event-stream' } });
        },
      };
    };
    const refused = open('http://example.test/', { ...quick, method: 'POST', body: 'p', fetch: refusedThenOk(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).fetch });
    await refused.rec.until(() => messages(refused.rec).length === 1, 'the POST after a refused connection');
    refused.source.close();
    const unknown = open('http://example.test/', { ...quick, method: 'POST', body: 'p', fetch: refusedThenOk(new Error('socket hang up')).fetch });
    await unknown.rec.until(() => unknown.rec.count('error') === 1, 'the failed POST');
    assert.equal(unknown.source.readyState, EventSource.CLOSED);
  });
});

describe('stream(): the attempt hook and refusals', () => {
  it('a 429 then a 200 on a POST with retryServerErrors: the body goes twice, the events arrive', async () => {
    const s = await server((req, res, n) => {
      if (n === 1) res.writeHead(429, { 'Retry-After': '0' }).end();
      else sendStream(res, 'data: Hel\n\ndata: lo\n\n');
    });
    const infos = [];
    const events = [];
    for await (const ev of stream(s.url, {
      ...quick,
      method: 'POST',
      body: 'prompt',
      retryServerErrors: true,
      onAttempt: (request, info) => {
        infos.push([info.kind, info.previousStatus]);
        request.headers.set('authorization', `Bearer ${info.number}`);
      },
    })) {
      events.push(ev.data);
    }
    assert.deepEqual(events, ['Hel', 'lo']);
    assert.deepEqual(s.requests.map((r) => [r.body, r.headers.authorization]), [['prompt', 'Bearer 1'], ['prompt', 'Bearer 2']]);
    assert.deepEqual(infos, [['first', 0], ['reconnect', 429]]);
  });

  it('hours of 503s: listeners do not pile up on the signal a request is sent with, a few per refusal', async () => {
    const refusals = 40;
    const s = await server((req, res, n) => {
      if (n <= refusals) res.writeHead(503, { 'Retry-After': '0' }).end('down for maintenance');
      else sendStream(res, 'data: up\n\n');
    });
    const signals = [];
    const fetch = (url, init) => {
      signals.push(init.signal);
      return globalThis.fetch(url, init);
    };
    const events = [];
    // No growth: forty refusals in forty milliseconds.
    const flat = { reconnectionTime: 1, backoff: { factor: 1, minDelay: 1, jitter: 0 } };
    for await (const ev of stream(s.url, { ...flat, retryServerErrors: true, fetch })) {
      events.push(ev.data);
      // While the answer streams: its request's signal holds fetch()'s and
      // the stream's own listeners, not those of the 40 refused requests.
      assert.ok(getEventListeners(signals.at(-1), 'abort').length < 8, `${getEventListeners(signals.at(-1), 'abort').length} listeners`);
    }
    assert.deepEqual(events, ['up']);
    assert.equal(signals.length, refusals + 1);
  });

  it('without retryServerErrors a 503 throws; a 500 on a POST throws even with it; a rejected hook throws', async () => {
    const s = await server((req, res, n) => res.writeHead(n === 1 ? 503 : 500).end());
    await assert.rejects(stream(s.url).next(), (e) => e instanceof SseError && e.status === 503 && e.message.endsWith('; not retried: set retryServerErrors to reconnect after it'));
    await assert.rejects(stream(s.url, { method: 'POST', body: 'p', retryServerErrors: true }).next(), (e) => e.status === 500);
    await assert.rejects(
      stream(s.url, { onAttempt: () => Promise.reject(new Error('no token')) }).next(),
      (e) => e instanceof SseError && e.reason === 'attempt_hook_failed' && /no token/.test(e.message),
    );
    assert.equal(s.requests.length, 2);
  });

  it('a hook that never answers: close() and abort() clear its timer (Node can exit), EventSource and stream() alike', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    let called;
    const hookCalled = new Promise((resolve) => {
      called = resolve;
    });
    const hook = () => {
      called();
      return new Promise(() => {});
    };
    const source = new EventSource('http://127.0.0.1:9/', { onAttempt: hook, attemptHookTimeout: 600_000 });
    await hookCalled;
    assert.equal(timers(), before + 1, 'the hook timeout runs');
    source.close();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(timers(), before, 'close() left the hook timeout running');

    const controller = new AbortController();
    const pulled = stream('http://127.0.0.1:9/', { onAttempt: hook, attemptHookTimeout: 600_000, signal: controller.signal }).next();
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort();
    await assert.rejects(pulled, (e) => e.name === 'AbortError');
    assert.equal(timers(), before, 'abort() left the hook timeout running');
  });
});
