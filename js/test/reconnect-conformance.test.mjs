// The shared reconnect cases (tests/conformance/reconnect/*.json, format in
// tests/conformance/README.md) replayed over loopback HTTP with ssekit's
// EventSource: the Last-Event-ID bytes of every request, and the events.
// tests/native/reconnect_conformance_test.cpp replays the same data with
// the C++ client.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { EventSource } from '../src/index.mjs';
import { within } from './eventsource-server.mjs';
import './no-unhandled-rejections.mjs';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../tests/conformance/reconnect');

// A byte string: a JSON string (its UTF-8) or {"hex": "..."}.
function bytes(v, what) {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (v !== null && typeof v === 'object' && Object.keys(v).join() === 'hex' && /^([0-9a-f]{2}\s*)*$/i.test(v.hex)) {
    return Buffer.from(v.hex.replace(/\s+/g, ''), 'hex');
  }
  throw new Error(`${what}: not a byte string: ${JSON.stringify(v)}`);
}

function keys(o, allowed, what) {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new Error(`${what}: unknown key "${k}"`);
}

// Strict, like the other loaders: a misspelt key is an error.
function load() {
  const cases = [];
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const doc = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    keys(doc, ['description', 'cases'], file);
    for (const c of doc.cases) {
      const what = `${file}: ${c.name}`;
      keys(c, ['name', 'source', 'lastEventId', 'connections', 'expect'], what);
      assert.ok(Array.isArray(c.connections) && c.connections.length > 0, `${what}: connections`);
      cases.push({
        name: c.name,
        lastEventId: c.lastEventId === undefined ? '' : bytes(c.lastEventId, what).toString('utf8'),
        connections: c.connections.map((k, i) => {
          keys(k, ['lastEventId', 'stream'], `${what} connection ${i}`);
          return {
            lastEventId: k.lastEventId === null ? null : bytes(k.lastEventId, what),
            parts: (Array.isArray(k.stream) ? k.stream : [k.stream]).map((p) => bytes(p, what)),
          };
        }),
        expect: c.expect.map((e) => {
          keys(e, ['type', 'data', 'lastEventId'], `${what} expect`);
          return { type: e.type, data: bytes(e.data, what).toString('utf8'), lastEventId: bytes(e.lastEventId, what).toString('utf8') };
        }),
      });
    }
  }
  return cases;
}

const cases = load();
const servers = [];
after(() => Promise.all(servers.map((s) => new Promise((resolve) => (s.closeAllConnections(), s.close(resolve))))));

describe('reconnect conformance over HTTP (EventSource)', () => {
  it('found the shared cases', () => assert.ok(cases.length >= 8, `${cases.length} cases in ${dir}`));

  for (const c of cases) {
    it(c.name, async () => {
      // The raw bytes of each request's Last-Event-ID (node:http decodes
      // header values as latin1, one char per byte).
      const sent = [];
      const server = http.createServer(async (req, res) => {
        const n = sent.length;
        const raw = req.headers['last-event-id'];
        sent.push(raw === undefined ? null : Buffer.from(raw, 'latin1'));
        const connection = c.connections[n];
        if (connection === undefined) {
          res.writeHead(204).end();
          return;
        }
        res.writeHead(200, { 'Content-Type': 'text/event-stream' });
        for (const part of connection.parts) await new Promise((resolve) => res.write(part, resolve));
        if (n < c.connections.length - 1) res.end();
      });
      servers.push(server);
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      const types = [...new Set(c.expect.map((e) => e.type))];
      const events = [];
      let wake = () => {};
      const source = new EventSource(`http://127.0.0.1:${server.address().port}/`, {
        reconnectionTime: 1,
        // No growth, no jitter, and the 250 ms floor lowered: quick reconnects.
        backoff: { factor: 1, jitter: 0, minDelay: 1 },
        ...(c.lastEventId === '' ? {} : { lastEventId: c.lastEventId }),
      });
      for (const type of types) {
        source.addEventListener(type, (e) => {
          events.push({ type: e.type, data: e.data, lastEventId: e.lastEventId });
          wake();
        });
      }
      source.addEventListener('error', () => wake());
      try {
        await within(10_000, `${c.connections.length} requests and ${c.expect.length} events (got ${JSON.stringify(events)})`, async () => {
          while (events.length < c.expect.length || sent.length < c.connections.length) {
            await new Promise((resolve) => {
              wake = resolve;
              setImmediate(resolve);
            });
          }
        });
      } finally {
        source.close();
      }
      assert.deepEqual(events, c.expect);
      assert.deepEqual(
        sent.slice(0, c.connections.length).map((b) => (b === null ? null : b.toString('hex'))),
        c.connections.map((k) => (k.lastEventId === null ? null : k.lastEventId.toString('hex'))),
      );
    });
  }
});
