// The loopback server behind test/browser.test.mjs: the pages, the browser
// bundles, every parser conformance case as a live text/event-stream, the
// HTTP behaviours an EventSource must get right, and the demo feed.
//
// A page compares two EventSources on the same URL, told apart by a
// `side=...` query parameter, so every request is recorded with its side.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { feed } from './demo-feed.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(here, '../../dist');

const files = {
  '/compare.html': [path.join(here, 'compare.html'), 'text/html; charset=utf-8'],
  '/demo.html': [path.join(here, 'demo.html'), 'text/html; charset=utf-8'],
  '/dist/ssekit.browser.mjs': [path.join(dist, 'ssekit.browser.mjs'), 'text/javascript; charset=utf-8'],
  '/dist/ssekit.browser.js': [path.join(dist, 'ssekit.browser.js'), 'text/javascript; charset=utf-8'],
};

const STREAM_HEADERS = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' };

const write = (res, chunk) => new Promise((resolve) => res.write(chunk, resolve));

// Writes the case's stream as its `parts` split it, each part flushed to
// the socket before the next, then ends the response. An empty part can't
// be sent on its own (a zero-size chunk ends a chunked body), so it is left
// out.
async function sendCase(res, c) {
  res.writeHead(200, STREAM_HEADERS);
  res.flushHeaders();
  for (const part of c.parts) {
    if (part.length > 0 && !res.destroyed) await write(res, part);
  }
  res.end();
}

// Starts the main server and a second one on another port (another origin,
// for cross-origin redirects). `cases` are conformance.cjs parser cases,
// served at /case/<index>.
export async function startServers(cases) {
  const requests = [];  // {server, path, side, run, method, headers, closed: Promise}
  const acks = new Map();  // 'run side' -> resolves ack()'s promise

  // Resolves when the page acknowledges a message of this run and side.
  const ack = ({ run, side }) => new Promise((resolve) => acks.set(`${run} ${side}`, resolve));

  function note(name, req, res) {
    const url = new URL(req.url, 'http://x');
    const entry = {
      server: name,
      path: url.pathname,
      side: url.searchParams.get('side'),
      run: url.searchParams.get('run'),
      method: req.method,
      headers: req.headers,
      closed: new Promise((resolve) => res.on('close', resolve)),
    };
    requests.push(entry);
    return { url, entry };
  }

  async function handle(name, req, res) {
    const { url, entry } = note(name, req, res);
    const side = entry.side;
    const route = url.pathname;
    // The second origin lets the first one read its streams (CORS), as an
    // SSE server usually does: Access-Control-Allow-Origin and no more.
    // With ?preflight=answer it also answers a preflight for Last-Event-ID.
    // With ?cors=none it doesn't.
    if (name === 'other' && req.headers.origin && url.searchParams.get('cors') !== 'none') {
      res.setHeader('Access-Control-Allow-Origin', req.headers.origin);
    }
    if (req.method === 'OPTIONS') {
      if (name === 'other' && url.searchParams.get('preflight') === 'answer') {
        res.writeHead(204, { 'Access-Control-Allow-Headers': 'Last-Event-ID', 'Access-Control-Allow-Methods': 'GET' }).end();
      } else {
        res.writeHead(405).end();
      }
      return;
    }
    // This request's number among the GETs of the same test run (`run`
    // parameter), server, path and side: 1 for the first connection.
    const connection = () =>
      requests.filter((r) => r.method === 'GET' && r.server === name && r.path === route && r.side === side && r.run === entry.run).length;
    if (files[route]) {
      const [file, type] = files[route];
      res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-store' }).end(fs.readFileSync(file));
      return;
    }
    const caseMatch = /^\/case\/(\d+)$/.exec(route);
    if (caseMatch && cases[Number(caseMatch[1])]) {
      await sendCase(res, cases[Number(caseMatch[1])]);
      return;
    }
    switch (route) {
      case '/ack':
        acks.get(`${entry.run} ${side}`)?.();
        res.writeHead(204).end();
        return;
      case '/ping':
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('pong');
        return;
      case '/http/204':
        res.writeHead(204).end();
        return;
      case '/http/404':
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('no such stream');
        return;
      case '/http/500':
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end('oops');
        return;
      case '/http/text-plain':
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('data: not a stream\n\n');
        return;
      case '/http/no-content-type':
        res.writeHead(200).end('data: not a stream\n\n');
        return;
      case '/http/content-type-params':
        res.writeHead(200, { 'Content-Type': 'Text/Event-Stream; charset=utf-8' }).end('data: params are fine\n\n');
        return;
      case '/http/redirect': {
        // ?to=<url> (the side and run parameters are passed on).
        const to = new URL(url.searchParams.get('to'));
        for (const key of ['side', 'run']) if (url.searchParams.has(key)) to.searchParams.set(key, url.searchParams.get(key));
        res.writeHead(Number(url.searchParams.get('status') ?? 302), { Location: to.href }).end();
        return;
      }
      case '/http/stream':
        res.writeHead(200, STREAM_HEADERS);
        res.end('id: 1\ndata: from the stream\n\nevent: named\ndata: second\n\n');
        return;
      case '/http/reset-first':
        // The first request of a run and side fails before any answer (a
        // passing network failure); later ones get an event. Not by closing
        // the socket: Chromium resends a request whose reused connection
        // closes. Two Content-Lengths that disagree fail it for good.
        if (requests.filter((r) => r.path === route && r.side === side && r.run === entry.run).length === 1) {
          req.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n');
          return;
        }
        res.writeHead(200, STREAM_HEADERS);
        res.end('id: 1\ndata: from the stream\n\n');
        return;
      case '/http/retry': {
        // Each side's first request sets a short retry and an id, then
        // ends; later requests answer with an event naming the id they were
        // sent, so the reconnect shows in the events as well.
        const n = connection();
        // ?flaky=1: the first request that carries Last-Event-ID fails once
        // (as /http/reset-first), a network blip, not a refused preflight.
        if (url.searchParams.get('flaky') === '1' && req.headers['last-event-id'] !== undefined &&
            requests.filter((r) => r.method === 'GET' && r.path === route && r.side === side && r.run === entry.run && r.headers['last-event-id'] !== undefined).length === 1) {
          req.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n');
          return;
        }
        res.writeHead(200, STREAM_HEADERS);
        // ?id=... sets the id the first stream sends; a lastEventId query
        // parameter (ssekit's lastEventIdQuery option) shows in the event.
        const query = url.searchParams.get('lastEventId');
        if (n === 1) res.end(`retry: 50\nid: ${url.searchParams.get('id') ?? '42'}\ndata: first\n\n`);
        else res.end(`data: reconnect ${n} with Last-Event-ID ${req.headers['last-event-id'] ?? '(none)'}${query === null ? '' : ` and ?lastEventId=${query}`}\n\n`);
        return;
      }
      case '/http/retry-then-404': {
        if (connection() === 1) res.writeHead(200, STREAM_HEADERS).end('retry: 50\nid: 7\ndata: once\n\n');
        else res.writeHead(404).end();
        return;
      }
      case '/http/drop':
        // The first connection breaks off in the middle of the body (a
        // network error, not an end); the next one ends normally.
        res.writeHead(200, STREAM_HEADERS);
        if (connection() === 1) {
          // Drops only once the page has the event (it asks /ack): bytes
          // right before a network error may never reach a fetch() reader.
          const acked = ack(entry);
          await write(res, 'retry: 50\nid: 5\ndata: before the drop\n\ndata: never dispatched');
          let timer;
          await Promise.race([acked, new Promise((resolve) => (timer = setTimeout(resolve, 5000)))]);
          clearTimeout(timer);
          res.destroy();
        } else {
          res.end(`data: after the drop, Last-Event-ID ${req.headers['last-event-id'] ?? '(none)'}\n\n`);
        }
        return;
      case '/http/held-open':
        // Three events in one write, then the response stays open until
        // the client goes away (a page closes it from onmessage).
        res.writeHead(200, STREAM_HEADERS);
        res.write('data: one\n\ndata: two\n\nevent: named\ndata: three\n\n');
        return;
      case '/feed':
        feed(req, res);
        return;
      case '/favicon.ico':
        res.writeHead(204).end();
        return;
      default:
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`no route ${route}`);
    }
  }

  const listen = async (name) => {
    const server = http.createServer((req, res) => {
      handle(name, req, res).catch((e) => {
        console.error(`test server: ${req.url}: ${e.stack}`);
        res.destroy();
      });
    });
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    return { server, origin: `http://127.0.0.1:${server.address().port}` };
  };
  const main = await listen('main');
  const other = await listen('other');

  return {
    origin: main.origin,
    otherOrigin: other.origin,
    // The second server under another host name: 127.0.0.1 and localhost
    // are two origins to the browser.
    localhostOrigin: other.origin.replace('127.0.0.1', 'localhost'),
    requests,
    // The recorded requests for a path and run (and side), in arrival order.
    requestsFor(pathname, run, side) {
      return requests.filter((r) => r.path === pathname && r.run === run && (side === undefined || r.side === side));
    },
    async close() {
      for (const { server } of [main, other]) server.closeAllConnections();
      await Promise.all([main, other].map(({ server }) => new Promise((resolve) => server.close(resolve))));
    },
  };
}
