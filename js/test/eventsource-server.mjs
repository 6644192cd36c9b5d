// Loopback HTTP servers for the EventSource and stream() tests, written the
// way SSE tutorials write them: plain node:http, writeHead + res.write.
import http from 'node:http';
import { after } from 'node:test';
import { EventSource } from '../src/index.mjs';

// Starts a server on 127.0.0.1 with a free port. `handle(req, res, n)` gets
// the request, its response and a 1-based request count. Every request is
// recorded (method, url, headers, body) in `requests`.
export async function startServer(handle) {
  const requests = [];
  const waiters = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const request = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() };
      requests.push(request);
      for (const w of waiters.splice(0)) w();
      handle(req, res, requests.length);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    base,
    url: `${base}/events`,
    requests,
    // Resolves when at least n requests have arrived.
    async waitForRequests(n, timeoutMs = 30000) {
      await within(timeoutMs, `${n} requests (got ${requests.length})`, async () => {
        while (requests.length < n) await new Promise((resolve) => waiters.push(resolve));
      });
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

// A stream response as tutorials send it.
export function sendStream(res, text, { end = true, headers = {} } = {}) {
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', ...headers });
  if (text) res.write(text);
  if (end) res.end();
}

export async function within(timeoutMs, what, work) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([work(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// Records what an EventSource dispatches, as compact strings, and lets a
// test wait for a condition on the record.
export class Recorder {
  log = [];
  #waiters = [];

  constructor(source, types = []) {
    source.addEventListener('open', () => this.push(`open ${source.readyState}`));
    source.addEventListener('error', (e) => this.push(`error ${source.readyState} ${e.error?.reason}`));
    for (const type of ['message', ...types]) {
      source.addEventListener(type, (e) => this.push(`${e.type} ${JSON.stringify(e.data)} id=${JSON.stringify(e.lastEventId)}`));
    }
  }

  push(entry) {
    this.log.push(entry);
    for (const w of this.#waiters.splice(0)) w();
  }

  async until(predicate, what, timeoutMs = 30000) {
    await within(timeoutMs, `${what}; log so far: ${JSON.stringify(this.log)}`, async () => {
      while (!predicate(this.log)) await new Promise((resolve) => this.#waiters.push(resolve));
    });
  }

  count(prefix) {
    return this.log.filter((e) => e.startsWith(prefix)).length;
  }
}

// One test file's servers and EventSources, all closed after its tests.
// open() records the source's events (Recorder) and its error events.
export function testFixtures() {
  const servers = [];
  const sources = [];
  after(async () => {
    for (const s of sources) s.close();
    await Promise.all(servers.map((s) => s.close()));
  });
  return {
    servers,  // anything else with close() to close after the tests
    sources,
    async server(handle) {
      const s = await startServer(handle);
      servers.push(s);
      return s;
    },
    open(url, options, types) {
      const source = new EventSource(url, options);
      sources.push(source);
      const errors = [];
      source.addEventListener('error', (e) => errors.push(e));
      return { source, rec: new Recorder(source, types), errors };
    },
  };
}
