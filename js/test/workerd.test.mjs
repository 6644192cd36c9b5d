// The package in Cloudflare's Workers runtime (workerd, the devDependency's
// binary), bundled as wrangler bundles a Worker (esbuild, conditions
// workerd, worker, browser): the EventSource, stream(), the parser and the
// serializers used at request time, where workerd compiles no WebAssembly;
// each handler attribute called once per event; a non-ASCII Last-Event-ID
// sent as its UTF-8 bytes once, by the user's fetch() when given, with the
// request's other headers; the handler attributes null at first and for a
// non-callable, and bad options refused with the package's own TypeErrors.
// A Node server on loopback is the upstream;
// workerd listens on a Unix socket in a temporary directory.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import * as esbuild from 'esbuild';
import workerd from 'workerd';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.resolve(here, '..');
const ID = 'é✓-2';

// The upstream: /es answers its first request with an id and an event, the
// second with the Last-Event-ID it got (as UTF-8), the third with 204 (the
// EventSource's end); /stream with one event.
let upstream;
const requests = [];
function startUpstream() {
  upstream = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const idBytes = req.headers['last-event-id'];
    const id = idBytes === undefined ? null : Buffer.from(idBytes, 'latin1').toString('utf8');
    requests.push({ path: url.pathname, id });
    const n = requests.filter((r) => r.path === url.pathname).length;
    if (url.pathname === '/echo') {
      // What the request carried: the Last-Event-ID's bytes, and the other headers.
      const seen = { id: idBytes === undefined ? null : Buffer.from(idBytes, 'latin1').toString('hex'), xa: req.headers['x-a'] ?? null, accept: req.headers.accept ?? null };
      res.writeHead(200, { 'Content-Type': 'text/event-stream' }).end(`data: ${JSON.stringify(seen)}\n\n`);
    } else if (url.pathname === '/stream') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' }).end('id: s\ndata: from stream()\n\n');
    } else if (n === 1) {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' }).end(`retry: 20\nid: ${ID}\ndata: one\n\n`);
    } else if (n === 2) {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' }).end(`data: resumed from ${id}\n\n`);
    } else {
      res.writeHead(204).end();
    }
  });
  return new Promise((resolve) => upstream.listen(0, '127.0.0.1', resolve));
}

const worker = `
import { EventSource, stream, createParser, serializeEvent } from 'ssekit';

function run(url) {
  return new Promise((resolve) => {
    const log = [];
    const source = new EventSource(url);
    source.onopen = () => log.push('open');
    source.onmessage = (e) => log.push(e.data + ' | ' + e.lastEventId);
    source.addEventListener('message', (e) => log.push('listener ' + e.data));
    source.onerror = (e) => {
      log.push('error ' + source.readyState + ' ' + e.error?.reason);
      if (source.readyState === EventSource.CLOSED) resolve(log);
    };
    setTimeout(() => { source.close(); log.push('timed out'); resolve(log); }, 20000);
  });
}

export default {
  async fetch(request) {
    const upstream = new URL(request.url).searchParams.get('upstream');
    const out = {};
    try {
      out.eventSource = await run(upstream + '/es');
      out.stream = [];
      for await (const e of stream(upstream + '/stream')) out.stream.push(e.data + ' | ' + e.lastEventId);
      const parsed = [];
      const parser = createParser({ onEvent: (e) => parsed.push(e.data) });
      parser.feed(serializeEvent({ data: 'a\\nb', id: '${ID}' }));
      parser.close();
      out.parsed = parsed;
      // The class as WebIDL has it, and options read as given (a getter
      // of a private field runs on its own object).
      let noArguments;
      try { new EventSource(); } catch (e) { noArguments = e.name + ': ' + e.message; }
      const options = new (class { #h = { 'x-a': 'b' }; get headers() { return this.#h; } })();
      new EventSource(upstream + '/es', options).close();
      out.shape = { name: EventSource.name, length: EventSource.length, noArguments, closed: EventSource.CLOSED };
      // The handler attributes as the standard has them: null at first, and
      // null when set to what is neither a function nor an object.
      const source = new EventSource(upstream + '/es');
      const initial = source.onopen;
      source.onmessage = 5;
      out.attributes = { initial, set5: source.onmessage };
      source.close();
      // Options the Workers entry passes on: the user's fetch() is the one
      // called, a bad fetch or options object is refused as everywhere.
      const thrown = (f) => { try { f(); return 'no error'; } catch (e) { return e.name + ': ' + e.message; } };
      out.refused = {
        fetch5: thrown(() => new EventSource(upstream + '/es', { fetch: 5 })),
        options5: thrown(() => new EventSource(upstream + '/es', 5)),
        streamFetch5: thrown(() => stream(upstream + '/es', { fetch: 5 })),
        streamOptions5: thrown(() => stream(upstream + '/es', 5)),
      };
      // stream() with a non-ASCII lastEventId, other headers and the user's
      // fetch(): the id's UTF-8 bytes once, the other headers kept.
      const fetched = [];
      const userFetch = (url, init) => { fetched.push(init.headers['last-event-id']); return fetch(url, init); };
      out.echo = [];
      for await (const e of stream(upstream + '/echo', { lastEventId: '${ID}', headers: { 'x-a': 'b' }, fetch: userFetch })) out.echo.push(JSON.parse(e.data));
      out.fetched = fetched;
    } catch (e) {
      out.error = e.name + ' ' + e.code + ': ' + e.message;
    }
    return Response.json(out);
  },
};
`;

let dir;
let child;
let stderr = '';

async function startWorkerd() {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssekit-workerd-'));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(pkg, path.join(dir, 'node_modules', 'ssekit'));
  fs.writeFileSync(path.join(dir, 'worker.mjs'), worker);
  // What wrangler does: esbuild with the Workers conditions.
  await esbuild.build({
    entryPoints: [path.join(dir, 'worker.mjs')],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    conditions: ['workerd', 'worker', 'browser'],
    outfile: path.join(dir, 'bundle.mjs'),
    logLevel: 'silent',
  });
  const socket = path.join(dir, 'workerd.sock');
  fs.writeFileSync(
    path.join(dir, 'config.capnp'),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "loopback", network = (allow = ["local"])),
  ],
  sockets = [ (name = "http", address = "unix:${socket}", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [ (name = "worker", esModule = embed "bundle.mjs") ],
  compatibilityDate = "${workerd.compatibilityDate}",
  globalOutbound = "loopback",
);
`,
  );
  child = spawn(workerd.default, ['serve', path.join(dir, 'config.capnp')], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  // Ready once the socket answers; a bounded wait, not a sleep per test.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const code = await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 100, 'running'))]);
    if (code !== 'running') throw new Error(`workerd exited (${code}): ${stderr}`);
    if (fs.existsSync(socket)) return socket;
    if (Date.now() > deadline) throw new Error(`workerd did not listen within 60 s: ${stderr}`);
  }
}

function get(socket, requestPath) {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: socket, path: requestPath, headers: { host: 'worker' }, timeout: 60_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer from workerd within 60 s')));
    req.on('error', reject);
  });
}

// Skipped visibly with SSEKIT_SKIP_WORKERD=1 where workerd's binary can't
// run (it is built for glibc on x86-64 and arm64, macOS and Windows).
const skip = process.env.SSEKIT_SKIP_WORKERD === '1' ? 'SSEKIT_SKIP_WORKERD=1: the workerd test is skipped' : false;

describe('Cloudflare Workers (workerd)', { skip }, () => {
  let socket;
  before(async () => {
    await startUpstream();
    socket = await startWorkerd();
  });

  after(async () => {
    child?.kill();
    await new Promise((resolve) => upstream.close(resolve));
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('at request time: events, one call per handler, the UTF-8 id resumed once-encoded, stream(), parser and serializer', async () => {
    const { port } = upstream.address();
    const { status, body } = await get(socket, `/?upstream=${encodeURIComponent(`http://127.0.0.1:${port}`)}`);
    assert.equal(status, 200, `${body}\n${stderr}`);
    const out = JSON.parse(body);
    assert.deepEqual(out, {
      eventSource: [
        'open',
        `one | ${ID}`,
        'listener one',
        'error 0 end_of_stream',
        'open',
        `resumed from ${ID} | ${ID}`,
        `listener resumed from ${ID}`,
        'error 0 end_of_stream',
        'error 2 no_content',
      ],
      stream: ['from stream() | s'],
      parsed: ['a\nb'],
      shape: { name: 'EventSource', length: 1, noArguments: "TypeError: Failed to construct 'EventSource': 1 argument required, but only 0 present.", closed: 2 },
      attributes: { initial: null, set5: null },
      refused: {
        fetch5: 'TypeError: ssekit: the `fetch` option must be a function, got number 5',
        options5: 'TypeError: ssekit: the EventSource options must be an object',
        streamFetch5: 'TypeError: ssekit: the `fetch` option must be a function, got number 5',
        streamOptions5: 'TypeError: ssekit: the stream() options must be an object',
      },
      // The id's UTF-8 bytes, sent once-encoded (not C3 83 C2 A9 ...).
      echo: [{ id: Buffer.from(ID, 'utf8').toString('hex'), xa: 'b', accept: 'text/event-stream' }],
      fetched: [ID],
    });
    assert.deepEqual(requests.filter((r) => r.path === '/es').map((r) => r.id), [null, ID, ID]);
  });
});
