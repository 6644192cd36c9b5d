// Replays the shared conformance data through the package, like the C++
// runner (tests/conformance_test.cpp): every parser case whole, byte by byte,
// byte by byte with an empty chunk before the first and after every byte, at
// every split point into two chunks, in the data file's parts, at 50
// reproducible random multi-way splits, and (when the stream is valid UTF-8)
// fed as strings. Events, comments, retries, lastEventId and the error must
// match every time, and the error must be thrown again by every later call.
// Every serializer case checks the exact bytes or the error, then parses the
// bytes back.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';

import { createParser, serializeComment, serializeEvent, serializeHeartbeat, serializeRetry, SseParseError, SseSerializeError } from 'ssekit';

const { load } = createRequire(import.meta.url)('./conformance.cjs');
const suite = load();

// A wrong path or a lost file must not pass quietly (same floors as C++).
const MIN_PARSER_CASES = 200;
const MIN_SERIALIZER_CASES = 50;
const RANDOM_SPLITS = 50;

const fatal = new TextDecoder('utf-8', { ignoreBOM: true, fatal: true });
const utf8 = new TextEncoder();

function run(c, chunks) {
  const records = [];
  const parser = createParser({
    ...c.options,
    onEvent: (ev) => records.push({ type: ev.type, data: ev.data, lastEventId: ev.lastEventId }),
    onComment: (comment) => records.push({ comment }),
    onRetry: (retry) => records.push({ retry }),
  });
  let error = null;
  let sticky = '';
  const call = (what, fn) => {
    try {
      fn();
    } catch (e) {
      if (!(e instanceof SseParseError)) throw e;
      const got = { code: e.code, offset: e.offset };
      if (error === null) error = got;
      else if ((got.code !== error.code || got.offset !== error.offset) && !sticky) sticky = `${what} threw ${got.code}@${got.offset} after ${error.code}@${error.offset}`;
      return;
    }
    if (error !== null && !sticky) sticky = `${what} did not throw after ${error.code}@${error.offset}`;
  };
  chunks.forEach((chunk, i) => call(`feed() of chunk ${i}`, () => parser.feed(chunk)));
  call('finish()', () => parser.finish());
  const lastEventId = parser.lastEventId;
  parser.close();
  return { records, lastEventId, error, sticky };
}

function chunksAt(stream, cuts) {
  const chunks = [];
  let from = 0;
  for (const cut of cuts) {
    chunks.push(stream.subarray(from, cut));
    from = cut;
  }
  chunks.push(stream.subarray(from));
  return chunks;
}

// Reproducible per case: FNV-1a of the name seeds mulberry32.
function rng(name) {
  let h = 0x811c9dc5;
  for (const b of utf8.encode(name)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return () => {
    h = (h + 0x6d2b79f5) >>> 0;
    let t = h;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function splits(c) {
  const s = c.stream;
  const out = [['whole stream in one chunk', [s]]];
  const bytes = Array.from(s, (_, i) => s.subarray(i, i + 1));
  out.push(['byte by byte', bytes]);
  const empty = new Uint8Array(0);
  out.push(['byte by byte, an empty chunk before the first and after every byte', [empty, ...bytes.flatMap((b) => [b, empty])]]);
  for (let cut = 1; cut < s.length; cut++) out.push([`two chunks, cut at ${cut}`, chunksAt(s, [cut])]);
  if (c.parts.length > 1) out.push(['the parts as written in the data file', c.parts]);
  const random = rng(c.name);
  for (let k = 0; k < RANDOM_SPLITS; k++) {
    const n = 1 + Math.floor(random() * Math.min(s.length + 1, 24));
    const cuts = Array.from({ length: n }, () => Math.floor(random() * (s.length + 1))).sort((a, b) => a - b);
    out.push([`random split #${k}, cuts at [${cuts.join(', ')}]`, chunksAt(s, cuts)]);
  }
  // Strings: only where the bytes are valid UTF-8 (a string can't carry anything else).
  const asText = (bytes) => {
    try {
      return fatal.decode(bytes);
    } catch {
      return null;
    }
  };
  const whole = asText(s);
  if (whole !== null) out.push(['whole stream as one string', [whole]]);
  const partTexts = c.parts.map(asText);
  if (c.parts.length > 1 && partTexts.every((t) => t !== null)) out.push(['the parts as strings', partTexts]);
  return out;
}

describe('conformance data', () => {
  it('loads, with enough cases', () => {
    assert.ok(suite.files.length > 0, `no *.json in ${suite.dir}`);
    assert.ok(suite.parserCases.length >= MIN_PARSER_CASES, `${suite.parserCases.length} parser cases in ${suite.dir}`);
    assert.ok(suite.serializerCases.length >= MIN_SERIALIZER_CASES, `${suite.serializerCases.length} serializer cases`);
  });
});

describe('parser conformance', () => {
  for (const c of suite.parserCases) {
    it(c.name, () => {
      const expected = { records: c.expect, lastEventId: c.lastEventId, error: c.error, sticky: '' };
      let failures = 0;
      let first = null;
      const all = splits(c);
      for (const [split, chunks] of all) {
        const got = run(c, chunks);
        try {
          assert.deepStrictEqual(got, expected);
        } catch (e) {
          failures++;
          first ??= `case "${c.name}" (${c.file}, ${c.source}), split: ${split}\n${e.message}`;
        }
      }
      if (failures) assert.fail(`${failures} of ${all.length} splits failed; the first:\n${first}`);
    });
  }
});

function serialize(c) {
  switch (c.what) {
    case 'event':
      return serializeEvent(c.event);
    case 'comment':
      return serializeComment(c.comment);
    case 'heartbeat':
      return serializeHeartbeat();
    case 'retry':
      return serializeRetry(c.retry);
  }
  throw new Error(`unknown input ${c.what}`);
}

describe('serializer conformance', () => {
  for (const c of suite.serializerCases) {
    it(c.name, () => {
      if (c.error !== undefined) {
        assert.throws(() => serialize(c), (e) => e instanceof SseSerializeError && e.code === c.error);
        return;
      }
      const out = serialize(c);
      assert.equal(typeof out, 'string');
      assert.deepStrictEqual(Buffer.from(utf8.encode(out)), Buffer.from(c.bytes));
      // Read the bytes back, whole and byte by byte.
      const back = { options: {} };
      const bytes = Array.from(c.bytes, (_, i) => c.bytes.subarray(i, i + 1));
      for (const chunks of [[c.bytes], bytes, [out]]) {
        const got = run(back, chunks);
        assert.deepStrictEqual(got.records, c.expect);
        assert.equal(got.error, null);
      }
    });
  }
});
