// Scenarios from other projects' EventSource test suites, written anew for
// ours: the Web Platform Tests (eventsource/: constructor, status errors,
// redirects, request headers, close(), reconnect, handler attributes,
// cross-origin, credentials, dedicated and shared workers), undici's
// test/eventsource (request headers, redirects, status errors, attributes)
// and the `eventsource` npm package's (custom fetch init, bad bodies).
// Only their facts and vectors are used. In Node against loopback servers;
// in Chromium side by side with the browser's own EventSource, which is the
// reference. Waits are on events, each bounded.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { after, before, describe, it } from 'node:test';
import { EventSource } from '../src/index.mjs';
import { browserSkip, chromiumPath, launchChromium } from './browser/chromium.mjs';
import { sendStream, within, testFixtures } from './eventsource-server.mjs';
import './no-unhandled-rejections.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const { server, open } = testFixtures();
const errorsIn = (log) => log.filter((e) => e.startsWith('error'));

describe('suites, Node: the constructor (WPT eventsource-constructor-*, undici)', () => {
  it('takes a URL object or anything with toString(); withCredentials is converted to a boolean', () => {
    const never = { fetch: () => new Promise(() => {}) };
    const a = new EventSource(new URL('http://127.0.0.1:9/x'), never);
    const b = new EventSource({ toString: () => 'http://127.0.0.1:9/y' }, { ...never, withCredentials: 1 });
    const c = new EventSource('http://127.0.0.1:9/z', null);
    assert.deepEqual([a.url, a.withCredentials, b.url, b.withCredentials, c.withCredentials], ['http://127.0.0.1:9/x', false, 'http://127.0.0.1:9/y', true, false]);
    for (const s of [a, b, c]) s.close();
  });

  it('an invalid URL is a SyntaxError DOMException (no base URL in Node: relative ones too)', () => {
    for (const url of ['http://this is invalid/', 'http:', '', 1, '/relative']) {
      assert.throws(() => new EventSource(url), (e) => e instanceof DOMException && e.name === 'SyntaxError', String(url));
    }
  });

  it('a dictionary argument that is not an object is a TypeError', () => {
    assert.throws(() => new EventSource('http://127.0.0.1:9/', 5), TypeError);
    assert.throws(() => new EventSource('http://127.0.0.1:9/', 'x'), TypeError);
  });

  it('the handler attributes: null at first, non-functions read as null, the last one set is the one called', () => {
    const source = new EventSource('http://127.0.0.1:9/', { fetch: () => new Promise(() => {}) });
    for (const type of ['open', 'message', 'error']) {
      const name = `on${type}`;
      assert.equal(source[name], null);
      assert.equal(Object.prototype.propertyIsEnumerable.call(source, name), false);
      source[name] = 7;
      assert.equal(source[name], null);
      const calls = [];
      source[name] = () => calls.push('first');
      const second = () => calls.push('second');
      source[name] = second;
      assert.equal(source[name], second);
      source.dispatchEvent(new Event(type));
      source[name] = null;
      source.dispatchEvent(new Event(type));
      assert.deepEqual(calls, ['second'], name);
    }
    source.close();
    // undici: every prototype property but the constructor is enumerable.
    const hidden = Object.entries(Object.getOwnPropertyDescriptors(EventSource.prototype)).filter(([k, d]) => k !== 'constructor' && !d.enumerable);
    assert.deepEqual(hidden, []);
  });

  it('a method added to the prototype shows on instances (WPT eventsource-prototype)', () => {
    EventSource.prototype.returnTrue = function () {
      return true;
    };
    try {
      const source = new EventSource('http://127.0.0.1:9/', { fetch: () => new Promise(() => {}) });
      assert.equal(source.returnTrue(), true);
      source.close();
    } finally {
      delete EventSource.prototype.returnTrue;
    }
  });
});

describe('suites, Node: responses (WPT request-status-error, request-redirect; undici)', () => {
  for (const status of [204, 205, 210, 299, 404, 410, 503]) {
    it(`${status}: one error, CLOSED, no open, no message, no second request`, async () => {
      const s = await server((req, res) => {
        res.writeHead(status, 'TEST', { 'Content-Type': 'text/event-stream' });
        res.end(status === 204 || status === 205 ? undefined : 'data: data\n\n');
      });
      const { source, rec } = open(s.url);
      await rec.until((log) => log.length > 0, 'the error');
      assert.deepEqual(rec.log, [`error 2 ${status === 204 ? 'no_content' : 'http_status'}`]);
      assert.equal(source.readyState, EventSource.CLOSED);
      assert.equal(s.requests.length, 1);
    });
  }

  for (const status of [301, 302, 303, 307, 308]) {
    it(`a ${status} redirect is followed: open, the event, url stays the one given`, async () => {
      const s = await server((req, res) => {
        if (req.url === '/redirect') res.writeHead(status, { Location: '/target' }).end();
        else sendStream(res, 'data: data\n\n', { end: false });
      });
      const { source, rec } = open(`${s.base}/redirect`);
      await rec.until((log) => log.length >= 2, 'the event');
      assert.deepEqual(rec.log, ['open 1', 'message "data" id=""']);
      assert.equal(source.url, `${s.base}/redirect`);
    });
  }

  it('a redirect without Location, and a redirect to a 204: CLOSED, url stays', async () => {
    const s = await server((req, res) => {
      if (req.url === '/no-location') res.writeHead(301).end();
      else if (req.url === '/to-204') res.writeHead(302, { Location: '/204' }).end();
      else res.writeHead(204).end();
    });
    for (const [route, reason] of [['/no-location', 'http_status'], ['/to-204', 'no_content']]) {
      const { source, rec } = open(`${s.base}${route}`);
      await rec.until((log) => log.length > 0, route);
      assert.deepEqual(rec.log, [`error 2 ${reason}`]);
      assert.equal(source.url, `${s.base}${route}`);
    }
  });

  it('a redirect to another origin: the origin of events is the final one, Authorization is not carried there', async () => {
    const target = await server((req, res) => sendStream(res, `data: ${req.headers.authorization ?? 'none'}\n\n`, { end: false }));
    const origin = target.base.replace('127.0.0.1', 'localhost');
    const s = await server((req, res) => res.writeHead(307, { Location: `${origin}/events` }).end());
    const { source, rec } = open(s.url, { headers: { Authorization: 'Bearer foo' } });
    const origins = [];
    source.addEventListener('message', (e) => origins.push(e.origin));
    await rec.until((log) => log.length >= 2, 'the event');
    assert.deepEqual(rec.log, ['open 1', 'message "none" id=""']);
    assert.deepEqual(origins, [origin]);
    assert.equal(s.requests[0].headers.authorization, 'Bearer foo');
  });

  it('a POST redirected to another origin (307): the origin of events is the final one, as for GET', async () => {
    const target = await server((req, res) => sendStream(res, 'data: x\n\n', { end: false }));
    const origin = target.base.replace('127.0.0.1', 'localhost');
    const s = await server((req, res) => res.writeHead(307, { Location: `${origin}/events` }).end());
    const { source, rec } = open(s.url, { method: 'POST', body: 'q' });
    const origins = [];
    source.addEventListener('message', (e) => origins.push(e.origin));
    await rec.until((log) => log.length >= 2, 'the event');
    source.close();
    assert.deepEqual(origins, [origin]);
    assert.equal(target.requests[0].method, 'POST');
  });
});

describe('suites, Node: what fetch() would refuse or leak (undici eventsource-reconnect; eventsource npm)', () => {
  it('an id with a control character is not sent as Last-Event-ID, and the reconnects go on (undici)', async () => {
    const s = await server((req, res, n) => sendStream(res, n === 1 ? 'id: \x01poison\nretry: 0\n\n' : `data: ${req.headers['last-event-id'] ?? 'none'}\n\n`));
    const { source, rec } = open(s.url);
    await rec.until((log) => log.some((e) => e.startsWith('message')), 'a message from the reconnect');
    source.close();
    assert.equal(rec.log.find((e) => e.startsWith('message')), 'message "none" id="\\u0001poison"');
    assert.equal(s.requests[1].headers['last-event-id'], undefined);
    assert.throws(() => new EventSource(s.url, { lastEventId: 'a\x7f' }), /control characters/);
  });

  it('credentials that fetch() dropped on a redirect to another origin are not sent there on reconnect (eventsource npm)', async () => {
    const target = await server((req, res) => sendStream(res, `retry: 1\ndata: ${req.headers.authorization ?? 'none'} ${req.headers.cookie ?? 'none'}\n\n`));
    const s = await server((req, res) => res.writeHead(307, { Location: `${target.base.replace('127.0.0.1', 'localhost')}/t` }).end());
    const { source, rec } = open(s.url, { headers: { Authorization: 'Bearer foo', Cookie: 'a=b' } });
    await rec.until((log) => log.filter((e) => e.startsWith('message')).length >= 2, 'two messages');
    source.close();
    assert.deepEqual(rec.log.filter((e) => e.startsWith('message')).slice(0, 2), ['message "none none" id=""', 'message "none none" id=""']);
    assert.equal(target.requests.length, 2, 'the reconnect went straight to the redirect target');
  });

  it('a fetch option that adds Authorization itself: a redirect to another origin is followed again on reconnect, so fetch() drops it each time (eventsource npm)', async () => {
    const target = await server((req, res) => sendStream(res, `retry: 1\ndata: ${req.headers.authorization ?? 'none'}\n\n`));
    const s = await server((req, res) => res.writeHead(307, { Location: `${target.base.replace('127.0.0.1', 'localhost')}/t` }).end());
    const { source, rec } = open(s.url, { fetch: (url, init) => fetch(url, { ...init, headers: { ...init.headers, authorization: 'Bearer foo' } }) });
    await rec.until((log) => log.filter((e) => e.startsWith('message')).length >= 2, 'two messages');
    source.close();
    assert.deepEqual(rec.log.filter((e) => e.startsWith('message')).slice(0, 2), ['message "none" id=""', 'message "none" id=""']);
    assert.equal(s.requests.length, 2, 'the reconnect went through the redirect');
    assert.equal(s.requests[1].headers.authorization, 'Bearer foo');
  });

  it('a custom fetch that spreads init.headers keeps Accept and Last-Event-ID (eventsource npm)', async () => {
    const s = await server((req, res, n) =>
      sendStream(res, n === 1 ? 'id: 7\nretry: 1\ndata: first\n\n' : `data: ${req.headers.accept} ${req.headers['last-event-id'] ?? 'none'} ${req.headers.authorization}\n\n`),
    );
    const { source, rec } = open(s.url, { fetch: (url, init) => fetch(url, { ...init, headers: { ...init.headers, authorization: 'Bearer foo' } }) });
    await rec.until((log) => log.filter((e) => e.startsWith('message')).length >= 2, 'two messages');
    source.close();
    assert.equal(rec.log.filter((e) => e.startsWith('message'))[1], 'message "text/event-stream 7 Bearer foo" id="7"');
  });
});

describe('suites, Node: requests (WPT request-accept, request-cache-control; undici eventsource-connect)', () => {
  it('sends Accept, Cache-Control and Pragma, mode cors, keep-alive; Last-Event-ID only on the reconnect', async () => {
    const s = await server((req, res) => sendStream(res, 'retry: 1\nid: 1\ndata: x\n\n'));
    const { source, rec } = open(s.url);
    await rec.until((log) => log.filter((e) => e.startsWith('open')).length >= 2, 'the reconnect');
    source.close();
    const [first, second] = s.requests.map((r) => r.headers);
    for (const h of [first, second]) {
      assert.equal(h.accept, 'text/event-stream');
      assert.equal(h['cache-control'], 'no-cache');
      assert.equal(h.pragma, 'no-cache');
      assert.equal(h['sec-fetch-mode'], 'cors');
      assert.equal(h.connection, 'keep-alive');
    }
    assert.equal(first['last-event-id'], undefined);
    assert.equal(second['last-event-id'], '1');
  });

  it('a custom fetch gets no-store, cors, follow, and credentials from withCredentials (eventsource npm)', async () => {
    const s = await server((req, res) => sendStream(res, 'data: x\n\n', { end: false }));
    for (const [withCredentials, credentials] of [[undefined, 'same-origin'], [false, 'same-origin'], [true, 'include']]) {
      const inits = [];
      const { source, rec } = open(s.url, {
        withCredentials,
        fetch: (url, init) => {
          inits.push(init);
          return fetch(url, init);
        },
      });
      await rec.until((log) => log.length >= 2, 'the event');
      source.close();
      assert.equal(inits.length, 1);
      assert.deepEqual([inits[0].cache, inits[0].mode, inits[0].redirect, inits[0].credentials], ['no-store', 'cors', 'follow', credentials]);
    }
  });
});

describe('suites, Node: the life of a connection (WPT eventsource-close, -reconnect, -readyState; undici; eventsource npm)', () => {
  it('opened, reconnected, then 204: messages in order; errors CONNECTING, CONNECTING, CLOSED', async () => {
    const s = await server((req, res, n) => {
      if (n === 1) sendStream(res, 'retry: 2\ndata: opened\n\n');
      else if (n === 2) sendStream(res, 'data: reconnected\n\n');
      else res.writeHead(204).end();
    });
    const { source, rec } = open(s.url);
    assert.equal(source.readyState, EventSource.CONNECTING);
    await rec.until((log) => errorsIn(log).length === 3, 'three errors');
    assert.deepEqual(rec.log, [
      'open 1',
      'message "opened" id=""',
      'error 0 end_of_stream',
      'open 1',
      'message "reconnected" id=""',
      'error 0 end_of_stream',
      'error 2 no_content',
    ]);
    assert.equal(s.requests.length, 3);
  });

  it('a stream with only a retry: field dispatches no message and reconnects within a second (undici)', async () => {
    const s = await server((req, res) => sendStream(res, 'retry: 100\n\n'));
    const started = Date.now();
    const { source, rec } = open(s.url);
    await rec.until((log) => log.filter((e) => e.startsWith('open')).length >= 2, 'the reconnect');
    source.close();
    assert.ok(Date.now() - started < 1000, `reconnected after ${Date.now() - started} ms`);
    assert.equal(rec.count('message'), 0);
  });

  it('close() in onopen: CLOSED at once, no message from the chunk already sent, no error', async () => {
    const s = await server((req, res) => (req.url === '/ping' ? res.end('pong') : sendStream(res, 'data: one\n\n', { end: false })));
    const { source, rec } = open(s.url);
    source.onopen = () => source.close();
    await rec.until((log) => log.length > 0, 'the open event');
    // One round trip to the same server: anything dispatched late has had its turn.
    await within(5000, 'the ping', () => fetch(`${s.base}/ping`).then((r) => r.text()));
    assert.deepEqual(rec.log, ['open 1']);
    assert.equal(source.readyState, EventSource.CLOSED);
  });

  it('a custom fetch whose body is a string, or missing: error, CLOSED (eventsource npm)', async () => {
    const headers = new Headers({ 'content-type': 'text/event-stream' });
    for (const response of [{ status: 200, headers, body: 'not a stream' }, { status: 200, headers }]) {
      const { source, rec } = open('http://127.0.0.1:9/', { fetch: async () => response });
      await rec.until((log) => log.length > 0, 'the error');
      assert.deepEqual(rec.log, ['error 2 invalid_response']);
      assert.equal(source.readyState, EventSource.CLOSED);
    }
  });
});

describe('suites, Node: worker_threads (WPT dedicated-worker/)', () => {
  for (const [kind, load] of [
    ['ES module', `const { EventSource } = await import(${JSON.stringify(new URL('../src/index.mjs', import.meta.url).href)});`],
    ['CommonJS', `const { EventSource } = require(${JSON.stringify(path.join(here, '../src/index.cjs'))});`],
  ]) {
    it(`EventSource (${kind}) works in a Worker and lets it exit`, async () => {
      const s = await server((req, res) => sendStream(res, 'id: 3\ndata: in a worker\n\n', { end: false }));
      const code = `const { parentPort, workerData } = require('node:worker_threads');
        (async () => {
          ${load}
          const source = new EventSource(workerData);
          source.onmessage = (e) => { parentPort.postMessage([e.data, e.lastEventId, e.origin, e instanceof MessageEvent]); source.close(); };
          source.onerror = (e) => { parentPort.postMessage(['error', source.readyState, e.error && e.error.reason]); source.close(); };
        })().catch((e) => parentPort.postMessage(['threw', String(e)]));`;
      const worker = new Worker(code, { eval: true, workerData: s.url });
      try {
        const exited = new Promise((resolve) => worker.once('exit', resolve));
        const message = await within(10_000, 'the worker\'s message', () => new Promise((resolve, reject) => {
          worker.once('message', resolve);
          worker.once('error', reject);
        }));
        assert.deepEqual(message, ['in a worker', '3', s.base, true]);
        // Nothing left running after close(): the worker ends by itself.
        assert.equal(await within(10_000, 'the worker to exit', () => exited), 0);
      } finally {
        await worker.terminate();
      }
    });
  }
});

// --- Chromium: ours and the browser's side by side.

const skip = browserSkip || (!fs.existsSync(chromiumPath) && `${chromiumPath} is missing`);

describe('suites, Chromium: ours as the browser\'s own', { skip }, () => {
  let browser = null;
  let page = null;
  let main = null;
  let other = null;
  let run = 0;
  const pageErrors = [];
  const bundle = path.join(here, '../dist');
  const SSE = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store' };

  // The page's recorder and the workers' one: each side records its own
  // EventSource until CLOSED, `errors` errors or `messages` messages.
  const recorder = `
    function record(C, url, opts, resolve) {
      let source;
      try { source = new C(url, opts.init); } catch (e) { return resolve({ threw: e.name }); }
      const log = [];
      let errors = 0, messages = 0;
      const done = (why) => { clearTimeout(timer); source.close(); log.push(why); resolve({ log, url: source.url }); };
      const timer = setTimeout(() => done('timeout'), opts.timeoutMs || 5000);
      source.onopen = () => log.push('open ' + source.readyState);
      source.onmessage = (e) => { log.push('message ' + e.data + ' id=' + e.lastEventId + ' origin=' + e.origin); if (++messages >= (opts.messages || Infinity)) done('enough messages'); };
      source.onerror = (e) => { log.push('error ' + source.readyState + ('data' in e ? ' with data' : '')); if (source.readyState === 2) done('closed'); else if (++errors >= (opts.errors || 1)) done('enough errors'); };
    }`;
  const workerScript = (kind) => `
    ${kind === 'module' ? "import * as ssekit from '/dist/ssekit.browser.mjs';" : "importScripts('/dist/ssekit.browser.js');"}
    ${recorder}
    const sides = { native: self.EventSource, ssekit: ssekit.EventSource };
    const go = (m, reply) => record(sides[m.data.side], m.data.url, m.data.opts || {}, reply);
    ${kind === 'shared' ? 'self.onconnect = (c) => { const port = c.ports[0]; port.onmessage = (m) => go(m, (r) => port.postMessage(r)); };' : 'self.onmessage = (m) => go(m, (r) => self.postMessage(r));'}`;

  // Routes on both origins. `side` and `run` parameters tell the requests apart.
  function handle(req, res) {
    const url = new URL(req.url, 'http://x');
    const q = (k) => url.searchParams.get(k);
    const origin = req.headers.origin;
    if (q('acao') !== null) res.setHeader('Access-Control-Allow-Origin', q('acao') === 'echo' ? origin ?? '' : q('acao'));
    if (q('acac') !== null) res.setHeader('Access-Control-Allow-Credentials', q('acac'));
    if (req.method === 'OPTIONS') {
      // A preflight (Last-Event-ID from fetch()) is allowed with ?preflight=ok.
      if (q('preflight') === 'ok') res.writeHead(204, { 'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] ?? '' }).end();
      else res.writeHead(405).end();
      return;
    }
    const js = { 'Content-Type': 'text/javascript' };
    switch (url.pathname) {
      case '/page.html':
        return res.writeHead(200, { 'Content-Type': 'text/html' }).end(
          `<!doctype html><meta charset=utf-8><script type=module>import * as ssekit from '/dist/ssekit.browser.mjs'; ${recorder}; window.record = record; window.ssekit = ssekit; window.ready = true;</script>`,
        );
      case '/sub/based.html':
        return res.writeHead(200, { 'Content-Type': 'text/html' }).end(
          `<!doctype html><base href="/elsewhere/deeper/"><script type=module>import * as ssekit from '/dist/ssekit.browser.mjs'; window.ssekit = ssekit; window.ready = true;</script>`,
        );
      case '/dist/ssekit.browser.mjs':
      case '/dist/ssekit.browser.js':
        return res.writeHead(200, js).end(fs.readFileSync(path.join(bundle, url.pathname.slice('/dist/'.length))));
      case '/w/module.js':
      case '/w/classic.js':
      case '/w/shared.js':
        return res.writeHead(200, js).end(workerScript(url.pathname.slice(3, -3)));
      case '/w/relative':
      case '/stream':
        return res.writeHead(200, SSE).end(`id: 1\ndata: ${url.pathname}\n\n`);
      case '/status':
        return res.writeHead(Number(q('code')), 'TEST', SSE).end(['204', '205'].includes(q('code')) ? undefined : 'data: data\n\n');
      case '/redirect': {
        const to = new URL(q('to'), `http://${req.headers.host}`);
        for (const k of ['side', 'run']) to.searchParams.set(k, q(k));
        return res.writeHead(Number(q('status')), { Location: to.href }).end();
      }
      case '/loop':
        return res.writeHead(301, { Location: req.url }).end();
      case '/cookie': {
        // WPT request-credentials: the first answer sets a cookie; is it
        // sent with the reconnect (which carries Last-Event-ID: 1)?
        const name = `c${q('run')}${q('side')}`;
        const has = (req.headers.cookie ?? '').includes(`${name}=1`);
        const first = req.headers['last-event-id'] === undefined;
        res.writeHead(200, { ...SSE, 'Set-Cookie': first ? `${name}=1; Path=/` : `${name}=; Path=/; Max-Age=0` });
        return res.end(first ? `id: 1\nretry: 50\ndata: first ${has ? 'COOKIE' : 'NO_COOKIE'}\n\n` : `id: 2\ndata: second ${has ? 'COOKIE' : 'NO_COOKIE'}\n\n`);
      }
      default:
        return res.writeHead(404).end();
    }
  }

  before(async () => {
    main = await server(handle);
    other = await server(handle);
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${main.base}/page.html`);
    await page.waitForFunction(() => window.ready === true, null, { timeout: 15_000 });
  });

  after(async () => {
    await browser?.close();
  });

  // Both EventSources on the same URL (with side and run parameters) in the page.
  async function both(route, params = {}, opts = {}, base = main.base) {
    const u = new URL(route, base);
    u.searchParams.set('run', String(++run));
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, String(v));
    const result = await within(15_000, `recording ${u.href}`, () =>
      page.evaluate(
        ([url, opts]) =>
          Promise.all(
            ['native', 'ssekit'].map((side) => {
              const target = new URL(url);
              target.searchParams.set('side', side);
              const C = side === 'native' ? window.EventSource : window.ssekit.EventSource;
              return new Promise((resolve) => window.record(C, target.href, opts, resolve)).then((r) => ({ ...r, url: r.url?.replace(/side=[a-z]+/, 'side=*') }));
            }),
          ),
        [u.href, opts],
      ),
    );
    const [native, ours] = result;
    assert.deepEqual(ours, native, `${u.pathname}: ours differs from Chromium's`);
    return native;
  }

  it('relative URLs resolve against the document\'s base URL (<base href>); a Symbol URL is a TypeError; a function is a dictionary', async () => {
    const based = await browser.newPage();
    try {
      await based.goto(`${main.base}/sub/based.html`);
      await based.waitForFunction(() => window.ready === true, null, { timeout: 15_000 });
      const [native, ours] = await based.evaluate(() =>
        [window.EventSource, window.ssekit.EventSource].map((C) => {
          const url = (u) => {
            const es = new C(u);
            es.close();
            return es.url;
          };
          const outcome = (f) => {
            try {
              const es = f();
              es.close();
              return `ok ${es.withCredentials}`;
            } catch (e) {
              return e.name;
            }
          };
          return [url('rel'), url(''), outcome(() => new C(Symbol('s'))), outcome(() => new C('/x', Object.assign(() => {}, { withCredentials: true })))];
        }),
      );
      assert.deepEqual(ours, native);
      assert.deepEqual(native.slice(2), ['TypeError', 'ok true']);
      assert.ok(native[0].endsWith('/elsewhere/deeper/rel'), native[0]);
    } finally {
      await based.close();
    }
  });

  it('status codes other than 200 fail the connection, as the browser\'s (WPT request-status-error)', async () => {
    const codes = [204, 205, 210, 299, 404, 410, 503];
    const results = await Promise.all(codes.map((code) => both('/status', { code })));
    codes.forEach((code, i) => assert.deepEqual(results[i].log, ['error 2', 'closed'], String(code)));
  });

  it('redirects 301, 303 and 308 are followed; a redirect loop is a network error and reconnects, in both', async () => {
    for (const status of [301, 303, 308]) {
      const { log } = await both('/redirect', { status, to: '/stream' }, { messages: 1 });
      assert.deepEqual(log, ['open 1', `message /stream id=1 origin=${main.base}`, 'enough messages'], String(status));
    }
    assert.deepEqual((await both('/loop')).log, ['error 0', 'enough errors']);
  });

  it('cross-origin (another port): CORS refusals fail the connection; withCredentials needs Allow-Credentials (WPT eventsource-cross-origin)', async () => {
    for (const params of [{ acao: 'http://example.org' }, { acao: '' }, {}]) {
      assert.deepEqual((await both('/stream', params, {}, other.base)).log, ['error 2', 'closed'], JSON.stringify(params));
    }
    for (const [params, expected] of [
      [{ acao: '*' }, ['error 2', 'closed']],
      [{ acao: 'echo' }, ['error 2', 'closed']],
      [{ acao: 'echo', acac: 'true' }, ['open 1', `message /stream id=1 origin=${other.base}`, 'enough messages']],
    ]) {
      const { log } = await both('/stream', params, { init: { withCredentials: true }, messages: 1 }, other.base);
      assert.deepEqual(log, expected, JSON.stringify(params));
    }
  });

  it('withCredentials decides whether a cookie goes with a cross-origin reconnect (WPT request-credentials, the preflight answered)', async () => {
    const cases = [[{ withCredentials: true }, 'COOKIE'], [{ withCredentials: false }, 'NO_COOKIE'], [{}, 'NO_COOKIE']];
    const results = await Promise.all(cases.map(([init]) => both('/cookie', { acao: 'echo', acac: 'true', preflight: 'ok' }, { init, messages: 2, errors: 3 }, other.base)));
    cases.forEach(([init, second], i) => {
      const expected = ['open 1', `message first NO_COOKIE id=1 origin=${other.base}`, 'error 0', 'open 1', `message second ${second} id=2 origin=${other.base}`, 'enough messages'];
      assert.deepEqual(results[i].log, expected, JSON.stringify(init));
    });
  });

  for (const kind of ['module', 'classic', 'shared']) {
    it(`in a ${kind} worker: relative URLs resolve against the worker, cross-origin works, other schemes fail (WPT ${kind === 'shared' ? 'shared' : 'dedicated'}-worker/)`, async () => {
      const urls = ['relative', `${other.base}/stream?acao=*`, 'ftp://example.not/', 'about:blank', "javascript:alert('FAIL')"];
      await Promise.all(urls.map(async (url) => {
        const [native, ours] = await within(15_000, `${kind} worker, ${url}`, () =>
          page.evaluate(
            ([kind, url]) =>
              Promise.all(
                ['native', 'ssekit'].map(
                  (side) =>
                    new Promise((resolve) => {
                      const opts = { errors: 1 };
                      if (kind === 'shared') {
                        const worker = new SharedWorker('/w/shared.js', { name: `${side} ${url}` });
                        worker.port.onmessage = (m) => resolve(m.data);
                        worker.onerror = () => resolve('the worker failed');
                        worker.port.postMessage({ side, url, opts });
                      } else {
                        const worker = new Worker(`/w/${kind}.js`, kind === 'module' ? { type: 'module' } : {});
                        worker.onmessage = (m) => {
                          resolve(m.data);
                          worker.terminate();
                        };
                        worker.onerror = () => resolve('the worker failed');
                        worker.postMessage({ side, url, opts });
                      }
                    }),
                ),
              ),
            [kind, url],
          ),
        );
        assert.deepEqual(ours, native, `${kind} worker, ${url}`);
        if (url === 'relative') assert.deepEqual(native.log, ['open 1', `message /w/relative id=1 origin=${main.base}`, 'error 0', 'enough errors']);
        else if (!url.startsWith('http')) assert.deepEqual(native.log, ['error 2', 'closed']);
      }));
    });
  }

  it('no errors on the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
