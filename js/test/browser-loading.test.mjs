// Loading the package in a real browser (Debian's Chromium, headless, via
// playwright-core): the WebAssembly is compiled asynchronously (no
// synchronous compile of the core on the main thread), a page whose CSP
// lacks 'wasm-unsafe-eval' gets an SseLoadError naming the fix, and a huge
// event's memory comes back after close(). Compiles are counted by wrapping
// WebAssembly's functions before the page's scripts run; nothing is timed.
//
// Skipped visibly with SSEKIT_SKIP_BROWSER=1, like test/browser.test.mjs.
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

const policies = {
  strict: "script-src 'self'",
  wasm: "script-src 'self' 'wasm-unsafe-eval'",
};

// /page.html?csp=strict|wasm, the classic-script bundle, and /stream: three
// events, then the response ends (the test closes the EventSource first).
function startServer() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/page.html') {
      const headers = { 'Content-Type': 'text/html; charset=utf-8' };
      const csp = policies[url.searchParams.get('csp')];
      if (csp !== undefined) headers['Content-Security-Policy'] = csp;
      res.writeHead(200, headers).end('<!doctype html><title>ssekit</title><script src="/ssekit.browser.js"></script>');
    } else if (url.pathname === '/ssekit.browser.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(fs.readFileSync(bundle));
    } else if (url.pathname === '/stream') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      res.end('id: 1\ndata: one\n\ndata: two\n\ndata: three\n\n');
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// Runs before the page's scripts: counts compiles of more than the 8-byte
// probe module.
function spyOnCompiles() {
  const counts = { sync: 0, async: 0 };
  const Module = WebAssembly.Module;
  const wrapped = function (bytes) {
    if (bytes.byteLength > 8) counts.sync++;
    return new Module(bytes);
  };
  wrapped.prototype = Module.prototype;
  wrapped.imports = Module.imports;
  wrapped.exports = Module.exports;
  wrapped.customSections = Module.customSections;
  WebAssembly.Module = wrapped;
  const compile = WebAssembly.compile;
  WebAssembly.compile = (bytes) => {
    counts.async++;
    return compile(bytes);
  };
  window.compileCounts = counts;
}

let browser = null;
let server = null;
let origin = '';

async function openPage(csp, { withoutWasm = false } = {}) {
  const page = await browser.newPage();
  // Safari's Lockdown Mode (and V8's --jitless) leave no WebAssembly global.
  if (withoutWasm) await page.addInitScript(() => delete globalThis.WebAssembly);
  else await page.addInitScript(spyOnCompiles);
  await page.goto(`${origin}/page.html${csp ? `?csp=${csp}` : ''}`);
  await page.waitForFunction(() => typeof window.ssekit === 'object', null, { timeout: 15_000 });
  return page;
}

// Resolves with the first three events' data, or the error's reason.
const readThree = (url) =>
  new Promise((resolve) => {
    const seen = [];
    const source = new window.ssekit.EventSource(url);
    source.onmessage = (e) => {
      seen.push(e.data);
      if (seen.length === 3) {
        source.close();
        resolve(seen);
      }
    };
    source.onerror = (e) => {
      if (seen.length === 0) {
        source.close();
        resolve(`error: ${e.error?.message ?? '?'}`);
      }
    };
  });

function errorOf(what) {
  try {
    if (what === 'EventSource') new window.ssekit.EventSource('/stream');
    else if (what === 'createParser') window.ssekit.createParser({});
    else window.ssekit.serializeEvent({ data: 'x' });
    return 'no error';
  } catch (e) {
    return { name: e.name, code: e.code, isLoadError: e instanceof window.ssekit.SseLoadError, message: e.message };
  }
}

if (skip) {
  it('the browser loading tests', { skip }, () => {});
} else {
  describe('browser: loading the WebAssembly (Chromium)', () => {
    before(async () => {
      server = await startServer();
      origin = `http://127.0.0.1:${server.address().port}`;
      // --expose-gc: window.gc(), so the memory test need not wait for a collection.
      browser = await launchChromium(['--js-flags=--expose-gc']);
    });

    after(async () => {
      await browser?.close();
      await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
    });

    it('new EventSource() compiles the core asynchronously: no synchronous compile on the main thread', async () => {
      const page = await openPage(null);
      assert.deepEqual(await page.evaluate(() => ({ ...window.compileCounts })), { sync: 0, async: 0 }, 'nothing compiles at load');
      const events = await page.evaluate(readThree, `${origin}/stream`);
      assert.deepEqual(events, ['one', 'two', 'three']);
      // The EventSource compiled the parser's module only.
      assert.deepEqual(await page.evaluate(() => ({ ...window.compileCounts })), { sync: 0, async: 1 });
      // After ready() (which compiles the serializer's module too),
      // createParser() and the serializers use the compiled modules.
      const parsed = await page.evaluate(async () => {
        await window.ssekit.ready();
        const seen = [];
        const p = window.ssekit.createParser({ onEvent: (e) => seen.push(e.data) });
        p.feed(window.ssekit.serializeEvent({ data: 'four' }));
        p.close();
        return seen;
      });
      assert.deepEqual(parsed, ['four']);
      assert.deepEqual(await page.evaluate(() => ({ ...window.compileCounts })), { sync: 0, async: 2 });
      await page.close();
    });

    it("a CSP without 'wasm-unsafe-eval': the constructor, createParser() and the serializers throw SseLoadError naming the fix", async () => {
      const page = await openPage('strict');
      for (const what of ['EventSource', 'createParser', 'serializeEvent']) {
        const e = await page.evaluate(errorOf, what);
        assert.equal(typeof e, 'object', `${what}: ${e}`);
        assert.equal(e.name, 'SseLoadError', what);
        assert.equal(e.code, 'csp_blocked', what);
        assert.equal(e.isLoadError, true, what);
        assert.match(e.message, /'wasm-unsafe-eval'/, what);
        assert.match(e.message, /script-src/, what);
      }
      await page.close();
    });

    it('an engine without WebAssembly: SseLoadError wasm_unavailable (no CSP to fix), and the README\'s fallback to the browser\'s EventSource streams', async () => {
      const page = await openPage(null, { withoutWasm: true });
      for (const what of ['EventSource', 'createParser', 'serializeEvent']) {
        const e = await page.evaluate(errorOf, what);
        assert.equal(typeof e, 'object', `${what}: ${e}`);
        assert.equal(e.name, 'SseLoadError', what);
        assert.equal(e.code, 'wasm_unavailable', what);
        assert.equal(e.isLoadError, true, what);
        assert.match(e.message, /WebAssembly, which ssekit runs on, is turned off in this engine/, what);
        assert.doesNotMatch(e.message, /Content-Security-Policy|wasm-unsafe-eval/, what);
      }
      // The fallback the README shows: ready() rejects, the page uses the
      // browser's own class.
      const out = await page.evaluate(async (url) => {
        const EventSource = await window.ssekit.ready().then(
          () => window.ssekit.EventSource,
          (e) => (e.code === 'wasm_unavailable' || e.code === 'csp_blocked' ? globalThis.EventSource : Promise.reject(e)),
        );
        return new Promise((resolve) => {
          const seen = [];
          const source = new EventSource(url);
          source.onmessage = (e) => {
            seen.push(e.data);
            if (seen.length === 3) {
              source.close();
              resolve({ native: EventSource === globalThis.EventSource, seen });
            }
          };
          source.onerror = () => resolve({ error: true, seen });
        });
      }, `${origin}/stream`);
      assert.deepEqual(out, { native: true, seen: ['one', 'two', 'three'] });
      await page.close();
    });

    it("the same page with 'wasm-unsafe-eval' streams", async () => {
      const page = await openPage('wasm');
      assert.deepEqual(await page.evaluate(readThree, `${origin}/stream`), ['one', 'two', 'three']);
      await page.close();
    });

    it("a 30 MiB event: the parser's memory peaks under 3x and close() gives it back to the system", async () => {
      const page = await openPage(null);
      // The renderers' resident memory (the PIDs from DevTools), in bytes.
      const cdp = await browser.newBrowserCDPSession();
      const { processInfo } = await cdp.send('SystemInfo.getProcessInfo');
      const renderers = processInfo.filter((p) => p.type === 'renderer').map((p) => p.id);
      assert.ok(renderers.length > 0);
      const rss = () =>
        renderers.reduce((sum, pid) => sum + Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024, 0);
      const out = await page.evaluate(async () => {
        await window.ssekit.ready();
        const MiB = 2 ** 20;
        let size = 0;
        const p = window.ssekit.createParser({ maxEventSize: Infinity, maxLineLength: Infinity, onEvent: (e) => (size = e.data.length) });
        const chunk = new Uint8Array(64 * 1024).fill(0x78);
        let peak = 0;
        p.feed('data: ');
        for (let sent = 0; sent < 30 * MiB; sent += chunk.length) {
          p.feed(chunk);
          peak = Math.max(peak, p.memoryBytes);
        }
        p.feed('\n\n');
        window.bigParser = p;
        window.gc();
        return { size, peak, held: p.memoryBytes };
      });
      const held = rss();
      const after = await page.evaluate(() => {
        window.bigParser.close();
        const closed = window.bigParser.memoryBytes;
        window.bigParser = null;
        window.gc();
        const next = window.ssekit.createParser({});
        next.feed('data: x\n\n');
        const fresh = next.memoryBytes;
        next.close();
        return { closed, fresh };
      });
      // V8 frees a collected memory's pages on a background thread: read the
      // resident size again (after another collection) until most of it is
      // back. That thread needs a core, so each look leaves it 20 ms (200
      // back-to-back round trips ran out once while a build shared the
      // machine); at most 60 s in all, a bound on the wait, not a measure.
      let released = held - rss();
      for (const end = Date.now() + 60_000; released < 0.75 * out.held && Date.now() < end; ) {
        await page.evaluate(() => window.gc());
        await new Promise((resolve) => setTimeout(resolve, 20));
        released = held - rss();
      }
      await cdp.detach();
      assert.equal(out.size, 30 * 2 ** 20);
      assert.ok(out.peak <= 3 * out.size + 2 ** 20, `peak ${out.peak}`);
      assert.equal(after.closed, 0);
      // The next parser does not inherit the big instance.
      assert.ok(after.fresh <= 2 ** 20, `a new parser holds ${after.fresh} bytes`);
      // Most of what the parser held left the renderer's resident memory.
      assert.ok(released >= 0.75 * out.held, `held ${out.held} bytes of WebAssembly memory; the renderer gave back ${released}`);
      await page.close();
    });
  });
}
