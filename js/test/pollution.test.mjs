// A page (or a dependency) that sets properties on Object.prototype must not
// change what an EventSource, stream() or a parser created WITHOUT options
// does: WebIDL reads nothing from an absent dictionary, and Chromium's own
// EventSource ignores such properties (a helper's probe: a polluted
// `method` made every EventSource a POST, `headers` added a header,
// `onComment` ran for the stream's comments). Runs in a child process, so the
// pollution stays there.
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import { runNodeScript } from './node-script.mjs';

const index = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/index.cjs');

// Not `idleTimeout` nor `body`: Node's own fetch (undici) reads those from
// its internal objects and fails every request.
const polluted = {
  method: 'POST',
  headers: { 'x-polluted': '1' },
  lastEventId: 'polluted-id',
  withCredentials: true,
  maxEventSize: 1,
  maxLineLength: 1,
  reconnectionTime: 1,
  retryServerErrors: true,
  lastEventIdQuery: 'polluted',
};

// Read by the package from objects of its own: an error's details, how far
// an attempt got, the plan's one-request flag. (`status` also breaks Node's
// fetch() for any response: only where no response comes.)
const pollutedInside = { status: 503, retryAfter: 123456, opened: false, sentOnce: true };

let server;
let base;
const seen = [];

before(async () => {
  server = http.createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, polluted: req.headers['x-polluted'] ?? null, id: req.headers['last-event-id'] ?? null });
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.end(': a comment\nretry: 5000\nid: 1\ndata: a long enough line of data\n\n');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => new Promise((resolve) => server.close(resolve)));

function runPolluted(body, extra = {}) {
  const script = `
    const calls = [];
    const pollution = ${JSON.stringify({ ...polluted, ...extra })};
    for (const [k, v] of Object.entries(pollution)) Object.prototype[k] = v;
    for (const name of ['onAttempt', 'onComment', 'onRetry', 'onEvent', 'fetch']) {
      Object.prototype[name] = function () { calls.push(name); throw new Error('polluted ' + name); };
    }
    const ssekit = require(${JSON.stringify(index)});
    (async () => { ${body} })().then((out) => { console.log(JSON.stringify({ ...out, calls })); process.exit(0); },
      (e) => { console.error(e); process.exit(1); });`;
  return runNodeScript(script);
}

describe('Object.prototype pollution', () => {
  it('an EventSource without options sends a plain GET and reads its events as usual', async () => {
    seen.length = 0;
    const out = await runPolluted(`
      const source = new ssekit.EventSource('${base}/es');
      const event = await new Promise((resolve) => {
        source.onmessage = (e) => resolve({ data: e.data, id: e.lastEventId });
        source.onerror = (e) => resolve({ error: e.error?.reason ?? 'error' });
      });
      source.close();
      return { event, withCredentials: source.withCredentials };`);
    assert.deepEqual(out, { event: { data: 'a long enough line of data', id: '1' }, withCredentials: false, calls: [] });
    assert.deepEqual(seen, [{ method: 'GET', url: '/es', polluted: null, id: null }]);
  });

  it("the package's own objects: a refused connection's error, its reconnect delay, a stream body's refusal", async () => {
    const out = await runPolluted(`
      const blocked = require('node:net').createServer();
      await new Promise((resolve) => blocked.listen(0, '127.0.0.1', resolve));
      const port = blocked.address().port;
      await new Promise((resolve) => blocked.close(resolve));
      // Options with no prototype: given ones read inherited members, as
      // WebIDL's dictionaries do.
      const source = new ssekit.EventSource('http://127.0.0.1:' + port + '/', Object.create(null));
      const error = await new Promise((resolve) => (source.onerror = (e) => resolve({
        reason: e.error.reason, status: e.error.status, headers: e.error.headers, delay: e.reconnectDelay < 60000, state: source.readyState })));
      source.close();
      let streamBody;
      try {
        new ssekit.EventSource('${base}/es', Object.assign(Object.create(null), { method: 'POST', body: new ReadableStream() })).close();
        streamBody = 'taken';
      } catch (e) {
        streamBody = e.name;
      }
      return { error, streamBody };`, pollutedInside);
    assert.deepEqual(out, { error: { reason: 'network_error', status: 0, headers: null, delay: true, state: 0 }, streamBody: 'TypeError', calls: [] });
  });

  it('stream() without options, and a parser without options', async () => {
    seen.length = 0;
    const out = await runPolluted(`
      const events = [];
      for await (const e of ssekit.stream('${base}/stream')) events.push(e.data);
      const p = ssekit.createParser();
      p.feed(': comment\\nretry: 10\\ndata: parsed by a parser with no options\\n\\n');
      p.close();
      return { events };`);
    assert.deepEqual(out, { events: ['a long enough line of data'], calls: [] });
    assert.deepEqual(seen, [{ method: 'GET', url: '/stream', polluted: null, id: null }]);
  });
});
