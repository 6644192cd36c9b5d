// An EventSource whose document goes away: its iframe is removed, or
// navigated to another page. Chromium's own EventSource, side by side in the
// same frame, is the reference: it fires `error` and is CLOSED. ssekit's
// stayed CONNECTING (removed) or OPEN (navigated) for good and never fired
// `error`: a detached realm runs no promise callback or timer, so its
// failure path never ran. A probe of the package in Chromium found it.
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

// /page.html (empty), /frame.html (loads the bundle), /ssekit.browser.js, and
// /stream: one event, then open until the client goes.
function startServer() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/page.html') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end('<!doctype html><title>ssekit</title>');
    } else if (url.pathname === '/frame.html') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end('<!doctype html><script src="/ssekit.browser.js"></script>');
    } else if (url.pathname === '/ssekit.browser.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(fs.readFileSync(bundle));
    } else if (url.pathname === '/stream') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' }).write('data: first\n\n');
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// In the page: a frame with the bundle; both EventSources made with the
// frame's classes, listened to from the page; once both have their first
// message, the frame goes (`how`). Resolves with each one's log when both
// have said `error` (or after 20 s: only a failure waits that long).
const inFrame = (how) => new Promise((resolve, reject) => {
  const f = document.createElement('iframe');
  f.src = '/frame.html';
  f.onload = () => {
    const w = f.contentWindow;
    const logs = { native: [], ours: [] };
    const sources = { native: new w.EventSource('/stream?side=native'), ours: new w.ssekit.EventSource('/stream?side=ours') };
    let messages = 0;
    let errors = 0;
    const t = setTimeout(() => {
      for (const side of ['native', 'ours']) logs[side].push(['still', sources[side].readyState]);
      resolve(logs);
    }, 20_000);
    for (const side of ['native', 'ours']) {
      const es = sources[side];
      es.addEventListener('message', (e) => {
        logs[side].push(['message', e.data]);
        if (++messages !== 2) return;
        if (how === 'remove') f.remove();
        else f.src = '/page.html';
      });
      es.addEventListener('error', () => {
        logs[side].push(['error', es.readyState]);
        if (++errors === 2) {
          clearTimeout(t);
          // Later than the error, nothing changes (checked in the next task).
          setTimeout(() => {
            for (const s of ['native', 'ours']) logs[s].push(['then', sources[s].readyState]);
            resolve(logs);
          }, 0);
        }
      });
    }
  };
  f.onerror = () => reject(new Error('the frame did not load'));
  document.body.append(f);
});

if (browserSkip) {
  it('the detached-document browser tests', { skip: browserSkip }, () => {});
} else {
  describe('browser: an EventSource whose document goes away (Chromium)', () => {
    let browser = null;
    let server = null;
    let page = null;

    before(async () => {
      server = await startServer();
      browser = await launchChromium();
      page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${server.address().port}/page.html`);
    });

    after(async () => {
      await browser?.close();
      await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
    });

    for (const how of ['remove', 'navigate']) {
      it(`its iframe ${how === 'remove' ? 'removed' : 'navigated away'}: error, then CLOSED, as Chromium's`, async () => {
        const logs = await page.evaluate(inFrame, how);
        assert.deepEqual(logs.native, [['message', 'first'], ['error', 2], ['then', 2]], `Chromium's own: ${JSON.stringify(logs.native)}`);
        // Navigated, the frame's fetch fails before its pagehide: ssekit's
        // says that failure first (CONNECTING), as any network error.
        const ours = how === 'navigate' && logs.ours[1]?.[0] === 'error' && logs.ours[1][1] === 0 ? [logs.ours[0], ...logs.ours.slice(2)] : logs.ours;
        assert.deepEqual(ours, logs.native, `ssekit's: ${JSON.stringify(logs.ours)}`);
      });
    }
  });
}
