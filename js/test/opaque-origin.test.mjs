// An EventSource in a context with an opaque origin (a data: URL worker, a
// sandboxed iframe): self.location.origin (and self.origin) is "null", and
// every request it makes is cross-origin (Origin: null), so fetch() needs
// CORS and preflights a Last-Event-ID header. Chromium's own EventSource,
// side by side in the same context, is the reference:
// - a server without CORS headers: Chromium fails the connection (CLOSED,
//   one request); ssekit's must not reconnect for ever;
// - a server with Access-Control-Allow-Origin: * and no preflight handler
//   (the tutorial kind): Chromium reconnects with Last-Event-ID (no
//   preflight for its own request); ssekit's must resume too (the README's
//   "Cross-origin streams and Last-Event-ID" fallback), not fail every
//   reconnect.
//
// Three opaque-origin contexts: a data: worker, a sandboxed srcdoc iframe, and a
// sandboxed iframe loaded from the stream's own server (location.origin looks
// same-origin there; self.origin is "null").
//
// A probe of the package in browser workers found it. Skipped visibly with
// SSEKIT_SKIP_BROWSER=1, like test/browser.test.mjs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import { browserSkip, launchChromium } from './browser/chromium.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const bundle = path.resolve(here, '../dist/ssekit.browser.js');
const skip = browserSkip;

const requests = [];  // {path, run, side, method, lastEventId}

// /page.html, /ssekit.browser.js, and two streams that end after one event
// (retry: 100): /nocors (no CORS headers) and /star (Access-Control-Allow-Origin: *,
// OPTIONS answered 405). A later request of a run and side gets an event naming its Last-Event-ID.
function startServer() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const entry = { path: url.pathname, run: url.searchParams.get('run'), side: url.searchParams.get('side'), method: req.method, lastEventId: req.headers['last-event-id'] ?? null };
    if (url.pathname === '/frame.html') {
      // Loaded in <iframe sandbox="allow-scripts">: location.origin is this server's, self.origin "null".
      const which = url.searchParams.get('which');
      const target = url.searchParams.get('url');
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' })
        .end(`<!doctype html><script src="/ssekit.browser.js"></script><script>${recorder(which, target, '((m) => parent.postMessage({ ...m, locationOrigin: location.origin }, "*"))')}</script>`);
    } else if (url.pathname === '/varorigin.html') {
      // A page's classic script declares `var origin`, naming the stream's
      // origin: it replaces self.origin ([Replaceable]).
      const which = url.searchParams.get('which');
      const target = url.searchParams.get('url');
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' })
        .end(`<!doctype html><script>var origin = ${JSON.stringify(new URL(target).origin)};</script><script src="/ssekit.browser.js"></script>` +
          `<script>${recorder(which, target, '((m) => parent.postMessage(m, "*"))')}</script>`);
    } else if (url.pathname === '/page.html') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end('<!doctype html><title>ssekit</title>');
    } else if (url.pathname === '/ssekit.browser.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript', 'Access-Control-Allow-Origin': '*' }).end(fs.readFileSync(bundle));
    } else if (url.pathname === '/nocors' || url.pathname === '/star') {
      requests.push(entry);
      const headers = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' };
      if (url.pathname === '/star') headers['Access-Control-Allow-Origin'] = '*';
      if (req.method === 'OPTIONS') {
        res.writeHead(405, headers).end();
        return;
      }
      const n = requests.filter((r) => r.path === entry.path && r.run === entry.run && r.side === entry.side && r.method === 'GET').length;
      res.writeHead(200, headers).end(n === 1 ? 'retry: 100\nid: 42\ndata: first\n\n' : `data: again, Last-Event-ID ${entry.lastEventId ?? '(none)'}\n\n`);
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// Script run in the opaque-origin context (after the bundle): records
// `which` EventSource on `url` until it is CLOSED or has two messages (or
// 20 s pass: only a failure waits that long), posts the log.
const recorder = (which, url, post) => `
(() => {
  const C = ${JSON.stringify(which)} === 'native' ? self.EventSource : self.ssekit.EventSource;
  const log = [];
  const es = new C(${JSON.stringify(url)});
  let n = 0;
  const end = () => { clearTimeout(t); es.close(); ${post}({ origin: String(self.origin), log }); };
  const t = setTimeout(() => { log.push(['still', es.readyState]); end(); }, 20000);
  es.onopen = () => log.push(['open']);
  es.onmessage = (e) => { log.push(['message', e.data, e.lastEventId]); if (++n === 2) end(); };
  es.onerror = () => { log.push(['error', es.readyState]); if (es.readyState === 2) end(); };
})();`;

let browser = null;
let server = null;
let origin = '';
let page = null;
let run = 0;

function inDataWorker(which, url) {
  const source = `importScripts(${JSON.stringify(`${origin}/ssekit.browser.js`)});\n${recorder(which, url, 'postMessage')}`;
  return page.evaluate((src) => new Promise((resolve, reject) => {
    const w = new Worker(`data:text/javascript,${encodeURIComponent(src)}`);
    const t = setTimeout(() => { w.terminate(); reject(new Error('no answer from the worker in 40 s')); }, 40_000);
    w.onmessage = (e) => { clearTimeout(t); w.terminate(); resolve(e.data); };
    w.onerror = (e) => { clearTimeout(t); w.terminate(); reject(new Error(`worker error: ${e.message}`)); };
  }), source);
}

function inSandboxedFrame(which, url, sameServer = false, page_ = sameServer ? 'frame.html' : null, sandbox = 'allow-scripts') {
  const html = `<script src="${origin}/ssekit.browser.js"></script><script>${recorder(which, url, '((m) => parent.postMessage(m, "*"))')}</script>`;
  const src = page_ ? `/${page_}?which=${which}&url=${encodeURIComponent(url)}` : null;
  return page.evaluate(([srcdoc, src, sandbox]) => new Promise((resolve, reject) => {
    const f = document.createElement('iframe');
    if (sandbox) f.sandbox = sandbox;
    if (src) f.src = src;
    else f.srcdoc = srcdoc;
    const t = setTimeout(() => { f.remove(); reject(new Error('no answer from the frame in 40 s')); }, 40_000);
    const on = (e) => {
      if (e.source !== f.contentWindow) return;
      clearTimeout(t);
      removeEventListener('message', on);
      f.remove();
      resolve(e.data);
    };
    addEventListener('message', on);
    document.body.append(f);
  }), [html, src, sandbox]);
}

const gets = (p, r, side) => requests.filter((q) => q.path === p && q.run === r && q.side === side && q.method === 'GET');

if (skip) {
  it('the opaque-origin browser tests', { skip }, () => {});
} else {
  describe('browser: EventSource in an opaque-origin context (Chromium)', () => {
    before(async () => {
      server = await startServer();
      origin = `http://127.0.0.1:${server.address().port}`;
      browser = await launchChromium();
      page = await browser.newPage();
      await page.goto(`${origin}/page.html`);
    });

    after(async () => {
      await browser?.close();
      await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
    });

    const contexts = [
      ['a data: URL worker', inDataWorker],
      ['a sandboxed srcdoc iframe', inSandboxedFrame],
      // location.origin is the server's own here (self.origin is "null"): the stream's URL looks same-origin.
      ['a sandboxed iframe loaded from the same server', (which, url) => inSandboxedFrame(which, url, true)],
      // Not opaque: the page at 127.0.0.1 declares `var origin = 'http://localhost:PORT'`
      // and streams from there, another origin; ssekit took self.origin's new value.
      ["a page whose var origin names the stream's origin", (which, url) =>
        inSandboxedFrame(which, url.replace('127.0.0.1', 'localhost'), true, 'varorigin.html', '')],
    ];
    for (const [where, runIn] of contexts) {
      it(`${where}: a stream without CORS headers fails the connection, as Chromium's`, async () => {
        const r = `nocors-${++run}`;
        const native = await runIn('native', `${origin}/nocors?run=${r}&side=native`);
        const ours = await runIn('ours', `${origin}/nocors?run=${r}&side=ours`);
        if (!where.includes('var origin')) assert.equal(native.origin, 'null');
        assert.deepEqual(native.log, [['error', 2]], 'Chromium: one error, CLOSED');
        assert.deepEqual(ours.log, native.log, `ssekit's EventSource (self.origin ${ours.origin}, location.origin ${ours.locationOrigin ?? 'n/a'}): ${JSON.stringify(ours.log)} (${gets('/nocors', r, 'ours').length} requests)`);
      });

      it(`${where}: ACAO * and no preflight: the reconnect resumes, as Chromium's`, async () => {
        const r = `star-${++run}`;
        const native = await runIn('native', `${origin}/star?run=${r}&side=native`);
        assert.deepEqual(native.log.filter((e) => e[0] === 'message'),
          [['message', 'first', '42'], ['message', 'again, Last-Event-ID 42', '42']], 'Chromium resumes with Last-Event-ID');
        const ours = await runIn('ours', `${origin}/star?run=${r}&side=ours`);
        const messages = ours.log.filter((e) => e[0] === 'message');
        assert.equal(messages.length, 2,
          `ssekit's EventSource did not resume: ${JSON.stringify(ours.log)}; GETs: ${JSON.stringify(gets('/star', r, 'ours').map((q) => q.lastEventId))}, ` +
          `OPTIONS: ${requests.filter((q) => q.path === '/star' && q.run === r && q.side === 'ours' && q.method === 'OPTIONS').length}`);
        assert.equal(messages[1][2], '42');
      });
    }
  });
}
