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

// The n-th update of the endless feed: the six above in turn, prices and
// temperatures moving a little, each stamped with the server's time.
export function update(n) {
  const { type, data } = updates[n % updates.length];
  const round = Math.floor(n / updates.length);
  const moved = { ...data };
  if (type === 'stock') moved.price = Math.round((data.price + ((round * 37) % 11) - 5) * 100) / 100;
  if (type === 'weather') moved.celsius = data.celsius + ((round * 3) % 5) - 2;
  return { type, data: moved };
}

// GET /feed: an update every `interval` ms (default 1000), for ever. With
// ?drop=N the server ends the response after N updates, so the page shows a
// reconnect (and resumes from Last-Event-ID); ?retry=MS sets the
// reconnection time (default 1000).
export function feed(req, res) {
  const query = new URL(req.url, 'http://x').searchParams;
  const number = (name, fallback, max) => {
    const v = query.get(name);
    return v !== null && /^\d{1,7}$/.test(v) ? Math.min(Number(v), max) : fallback;
  };
  const interval = Math.max(number('interval', 1000, 60_000), 10);
  const drop = number('drop', 0, 1_000_000);
  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
  });
  res.write(serializeRetry(number('retry', 1000, 60_000)));
  // Resume after the last event the client saw (Last-Event-ID on reconnect).
  const last = Number.parseInt(req.headers['last-event-id'] ?? '-1', 10);
  let next = Number.isSafeInteger(last) && last >= -1 ? last + 1 : 0;
  let sent = 0;
  const send = () => {
    const { type, data } = update(next);
    res.write(serializeEvent({ type, id: String(next), data: JSON.stringify({ ...data, time: new Date().toISOString() }) }));
    next += 1;
    sent += 1;
    if (drop > 0 && sent >= drop) {
      clearInterval(timer);
      clearInterval(beat);
      res.end();
    }
  };
  const timer = setInterval(send, interval);
  // A heartbeat now and then keeps proxies from closing a quiet stream.
  const beat = setInterval(() => res.write(serializeHeartbeat()), 15_000);
  req.on('close', () => {
    clearInterval(timer);
    clearInterval(beat);
  });
  send();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const page = new URL('./demo.html', import.meta.url);
  const bundle = new URL('../../dist/ssekit.browser.js', import.meta.url);
  http
    .createServer((req, res) => {
      const route = new URL(req.url, 'http://x').pathname;
      if (route === '/feed') feed(req, res);
      else if (route === '/demo.html') res.writeHead(200, { 'Content-Type': 'text/html' }).end(fs.readFileSync(page));
      else if (route === '/dist/ssekit.browser.js') res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(fs.readFileSync(bundle));
      else res.writeHead(404).end();
    })
    .listen(8080, '127.0.0.1', () => console.log('http://127.0.0.1:8080/demo.html'));
}
