// The Last-Event-ID rule for cross-origin requests (README "Cross-origin
// streams and Last-Event-ID"), with the page's origin and fetch()'s
// failures played in Node: a failed request with the header is sent once
// more with it before once without it; a body that may not be sent again
// is never part of that. (browser.test.mjs runs the same against Chromium's
// CORS.) Each case runs in a child process: `location` is global.
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

import { runNodeScript } from './node-script.mjs';

const index = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/index.cjs');

// `fails(n, init)`: whether the n-th request (1-based) fails as fetch()
// fails for CORS and for the network alike (a TypeError); with `cause`, as
// Node's fetch fails (a TypeError with a cause, never for CORS). The run ends at
// the `messages`-th message or at an error; with `reconnect`, only at an
// error that closes the source.
function run(options, fails, { messages = 1, reconnect = false, cause = false } = {}) {
  const script = `
    globalThis.location = { origin: 'http://page.test', href: 'http://page.test/' };
    const { EventSource } = require(${JSON.stringify(index)});
    const calls = [];
    const warnings = [];
    console.warn = (m) => warnings.push(m);
    const fails = ${fails};
    // A browser's fetch() gives no cause; Node's does (undici's words).
    const failure = ${cause} ? new TypeError('fetch failed', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) })
                             : new TypeError('Failed to fetch');
    // init.headers unguarded: a custom fetch is promised a plain object, for the no-cors probe too.
    const fetch = async (url, init) => {
      calls.push(init.method + ' ' + init.mode + ' ' + (init.headers['last-event-id'] ?? '-'));
      if (fails(calls.length, init)) throw failure;
      return new Response('data: ok\\n\\n', { headers: { 'content-type': 'text/event-stream' } });
    };
    const source = new EventSource('http://api.test/s', { fetch, lastEventId: '5', ...${JSON.stringify(options)} });
    new Promise((resolve) => {
      const log = [];
      source.onmessage = (e) => { log.push(e.data); if (log.length === ${messages}) { source.close(); resolve(log); } };
      source.onerror = (e) => {
        if (${reconnect} && source.readyState !== 2) return;
        log.push('error ' + source.readyState + ' ' + e.error?.reason); source.close(); resolve(log);
      };
    }).then((log) => console.log(JSON.stringify({ log, calls, warnings: warnings.length })));`;
  return runNodeScript(script);
}

describe('cross-origin Last-Event-ID', () => {
  it('one failed request with the header (a blip): sent once more with it, no warning', async () => {
    const out = await run({}, '(n) => n === 1');
    assert.deepEqual(out, { log: ['ok'], calls: ['GET cors 5', 'GET cors 5'], warnings: 0 });
  });

  it('failing with the header only (a refused preflight): then without it, one warning', async () => {
    const out = await run({}, "(n, init) => init.headers['last-event-id'] !== undefined");
    assert.deepEqual(out, { log: ['ok'], calls: ['GET cors 5', 'GET cors 5', 'GET cors -'], warnings: 1 });
  });

  it('a POST body that may not be sent again: one request, then the error, not a second POST', async () => {
    const out = await run({ method: 'POST', body: 'charge=1' }, '() => true');
    assert.deepEqual(out.calls, ['POST cors 5']);
    assert.deepEqual(out.log, ['error 2 network_error']);
  });

  it('with replayBody the POST goes as a GET would', async () => {
    const out = await run({ method: 'POST', body: 'x', replayBody: true }, "(n, init) => init.headers['last-event-id'] !== undefined");
    assert.deepEqual(out, { log: ['ok'], calls: ['POST cors 5', 'POST cors 5', 'POST cors -'], warnings: 1 });
  });
});

// Over several reconnects (found untested by a mutation run).
describe('cross-origin Last-Event-ID over reconnects', () => {
  const quick = { reconnectionTime: 1, backoff: { minDelay: 1, jitter: 0 } };
  it('after a refused preflight, reconnects go without the header at once: no more failed requests, one warning', async () => {
    const out = await run(quick, "(n, init) => init.headers['last-event-id'] !== undefined", { messages: 2, reconnect: true });
    assert.deepEqual(out, { log: ['ok', 'ok'], calls: ['GET cors 5', 'GET cors 5', 'GET cors -', 'GET cors -'], warnings: 1 });
  });

  it('no id to send: a CORS refusal is found by the no-cors probe, with no retry for a header that was never there', async () => {
    const out = await run({ ...quick, lastEventId: null }, "(n, init) => init.mode === 'cors'", { reconnect: true });
    assert.deepEqual(out, { log: ['error 2 cors_refused'], calls: ['GET cors -', 'GET no-cors -', 'GET cors -'], warnings: 0 });
  });
});

// With a page's `location` but Node's fetch (jsdom, happy-dom): a failure
// with a cause is the network's, never CORS. Two resets in a row cost the
// header for good and a wrong warning, and one more closed the source as
// cors_refused.
describe("Node's fetch under a page's location", () => {
  const quick = { reconnectionTime: 1, backoff: { minDelay: 1, jitter: 0 } };
  it('failures keep the header and reconnect, with no probe and no warning', async () => {
    const out = await run(quick, '(n) => n <= 3', { reconnect: true, cause: true });
    assert.deepEqual(out, { log: ['ok'], calls: ['GET cors 5', 'GET cors 5', 'GET cors 5', 'GET cors 5'], warnings: 0 });
  });

  it('with no id either: no no-cors probe, no cors_refused', async () => {
    const out = await run({ ...quick, lastEventId: null }, '(n) => n <= 2', { reconnect: true, cause: true });
    assert.deepEqual(out, { log: ['ok'], calls: ['GET cors -', 'GET cors -', 'GET cors -'], warnings: 0 });
  });
});
