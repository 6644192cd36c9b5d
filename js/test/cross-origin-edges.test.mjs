// The cross-origin Last-Event-ID fallback (cross-origin-id.test.mjs) over
// several reconnects: after a refused preflight the header is left out at
// once and the console warns once; with no id, no retry for a header that
// was never there. Found untested by a mutation run.
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { runNodeScript } from './node-script.mjs';

const index = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/index.cjs');

function runTo(messages, options, fails) {
  const script = `
    globalThis.location = { origin: 'http://page.test', href: 'http://page.test/' };
    const { EventSource } = require(${JSON.stringify(index)});
    const calls = [];
    const warnings = [];
    console.warn = (m) => warnings.push(m);
    const fails = ${fails};
    const fetch = async (url, init) => {
      calls.push(init.method + ' ' + init.mode + ' ' + ((init.headers ?? {})['last-event-id'] ?? '-'));
      if (fails(calls.length, init)) throw new TypeError('Failed to fetch');
      return new Response('data: ok\\n\\n', { headers: { 'content-type': 'text/event-stream' } });
    };
    const source = new EventSource('http://api.test/s', { fetch, lastEventId: '5', reconnectionTime: 1, backoff: { minDelay: 1, jitter: 0 }, ...${JSON.stringify(options)} });
    new Promise((resolve) => {
      const log = [];
      source.onmessage = (e) => { log.push(e.data); if (log.length === ${messages}) { source.close(); resolve(log); } };
      source.onerror = (e) => { if (source.readyState === 2) { log.push('error ' + e.error?.reason); resolve(log); } };
    }).then((log) => console.log(JSON.stringify({ log, calls, warnings: warnings.length })));`;
  return runNodeScript(script);
}

describe('EventSource: cross-origin Last-Event-ID over reconnects', () => {
  it('after a refused preflight, reconnects go without the header at once: no more failed requests, one warning', async () => {
    const out = await runTo(2, {}, "(n, init) => (init.headers ?? {})['last-event-id'] !== undefined");
    assert.deepEqual(out, { log: ['ok', 'ok'], calls: ['GET cors 5', 'GET cors 5', 'GET cors -', 'GET cors -'], warnings: 1 });
  });

  it('no id to send: a CORS refusal is found by the no-cors probe, with no retry for a header that was never there', async () => {
    const out = await runTo(1, { lastEventId: null }, "(n, init) => init.mode === 'cors'");
    assert.deepEqual(out, { log: ['error cors_refused'], calls: ['GET cors -', 'GET no-cors -', 'GET cors -'], warnings: 0 });
  });
});
