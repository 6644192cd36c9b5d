// The demo feed, written the way SSE tutorials write a server: plain
// node:http, one long response, an event every so often. Events carry an id
// so a reconnecting client resumes after the last one it saw.
//
// test/browser.test.mjs serves it at /feed next to demo.html. To look at the
// page yourself: `node test/browser/demo-feed.mjs` (after `npm run build`),
// then open http://127.0.0.1:8080/demo.html.
import fs from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

import { serializeEvent, serializeHeartbeat, serializeRetry } from 'ssekit';

export const updates = [
  { type: 'news', data: { headline: 'Parser passes every conformance case' } },
  { type: 'weather', data: { city: 'Lisbon', celsius: 21, sky: 'sunny' } },
  { type: 'stock', data: { symbol: 'SSE', price: 101.25, change: +1.5 } },
  { type: 'news', data: { headline: 'WebAssembly build ships to browsers' } },
  { type: 'weather', data: { city: 'Oslo', celsius: -3, sky: 'snow' } },
  { type: 'stock', data: { symbol: 'SSE', price: 99.75, change: -1.5 } },
];

const INTERVAL_MS = 40;

export function feed(req, res) {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
  });
  res.write(serializeRetry(1000));
  // Resume after the last event the client saw (Last-Event-ID on reconnect).
  let next = Number.parseInt(req.headers['last-event-id'] ?? '-1', 10) + 1 || 0;
  const timer = setInterval(() => {
    if (next < updates.length) {
      const { type, data } = updates[next];
      res.write(serializeEvent({ type, id: String(next), data: JSON.stringify(data) }));
      next += 1;
    } else {
      res.write(serializeHeartbeat());  // keeps proxies from closing an idle stream
    }
  }, INTERVAL_MS);
  req.on('close', () => clearInterval(timer));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const page = new URL('./demo.html', import.meta.url);
  const bundle = new URL('../../dist/ssekit.browser.js', import.meta.url);
  http
    .createServer((req, res) => {
      if (req.url === '/feed') feed(req, res);
      else if (req.url === '/demo.html') res.writeHead(200, { 'Content-Type': 'text/html' }).end(fs.readFileSync(page));
      else if (req.url === '/dist/ssekit.browser.js') res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(fs.readFileSync(bundle));
      else res.writeHead(404).end();
    })
    .listen(8080, '127.0.0.1', () => console.log('http://127.0.0.1:8080/demo.html'));
}
