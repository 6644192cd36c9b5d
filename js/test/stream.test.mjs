// stream(): one request, its events as an async iterator (the LLM case),
// against loopback node:http servers written as SSE tutorials write them.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { SseError, stream } from '../src/index.mjs';
import { sendStream, startServer, within } from './eventsource-server.mjs';

const servers = [];
after(() => Promise.all(servers.map((s) => s.close())));

async function server(handle) {
  const s = await startServer(handle);
  servers.push(s);
  return s;
}

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

  it('idleTimeout ends a silent stream with idle_timeout', async () => {
    const s = await server((req, res) => sendStream(res, 'data: first\n\n', { end: false }));
    const seen = [];
    await assert.rejects(
      (async () => {
        for await (const ev of stream(s.url, { idleTimeout: 50 })) seen.push(ev.data);
      })(),
      (e) => e.reason === 'idle_timeout',
    );
    assert.deepEqual(seen, ['first']);
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

  it('refuses bad arguments at the call, before any request', () => {
    assert.throws(() => stream('::'), (e) => e.name === 'SyntaxError');
    assert.throws(() => stream('http://example.test/', { signal: 'no' }), TypeError);
    assert.throws(() => stream('http://example.test/', { headers: { 'X-A': 'a\nb' } }), TypeError);
    assert.throws(() => stream('http://example.test/', { maxLineLength: -1 }), RangeError);
    assert.throws(() => stream('http://example.test/', { idleTimeout: 'soon' }), RangeError);
  });
});
