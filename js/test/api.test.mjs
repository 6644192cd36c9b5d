// The JS API around the core: inputs, errors, lifetime, many parsers, the
// serializer's argument checks and round trips. The format's rules are
// tested by conformance.test.mjs.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';

import { createParser, serializeComment, serializeEvent, serializeHeartbeat, serializeRetry, SseParseError, SseSerializeError } from 'ssekit';

const utf8 = new TextEncoder();

// Parses `chunks` (then finish()) and returns everything delivered.
function collect(chunks, options = {}) {
  const out = [];
  const p = createParser({
    ...options,
    onEvent: (ev) => out.push(ev),
    onComment: (comment) => out.push({ comment }),
    onRetry: (retry) => out.push({ retry }),
  });
  for (const c of chunks) p.feed(c);
  p.finish();
  p.close();
  return out;
}

describe('input', () => {
  const text = '\ufeffid: 1\nevent: é\ndata: 日本\r\ndata: 😀\r\r:hi\nretry: 7\n\n';
  const bytes = utf8.encode(text);
  const expected = [
    { type: 'é', data: '日本\n😀', lastEventId: '1' },
    { comment: 'hi' },
    { retry: 7 },
  ];

  it('takes strings and bytes alike', () => {
    assert.deepEqual(collect([text]), expected);
    assert.deepEqual(collect([bytes]), expected);
    assert.deepEqual(collect([Buffer.from(text)]), expected);
    assert.deepEqual(collect([bytes.buffer.slice(0)]), expected);
    assert.deepEqual(collect([new DataView(bytes.buffer, 0, bytes.length)]), expected);
    // Multi-byte characters and the BOM split across chunks.
    assert.deepEqual(collect(Array.from(bytes, (b) => new Uint8Array([b]))), expected);
    // Mixed.
    assert.deepEqual(collect([text.slice(0, 10), bytes.subarray(utf8.encode(text.slice(0, 10)).length)]), expected);
  });

  it('reads the bytes a Uint8Array holds, whatever its length property says', () => {
    // An own `length` (or a subclass's getter) that lies sized the copy into
    // WebAssembly memory: too small, the bytes overwrote the parser's state;
    // too large, stale memory (another parser's input) was parsed.
    const fill = new Uint8Array(1 << 16).fill(0x41);
    Object.defineProperty(fill, 'length', { value: 0 });
    assert.deepEqual(collect(['id: 1\nevent: pending\ndata: half', fill, '\n\n']), [
      { type: 'pending', data: `half${'A'.repeat(1 << 16)}`, lastEventId: '1' },
    ]);
    const earlier = createParser({ onEvent() {} });
    earlier.feed('data: secret of another parser\n\n');
    earlier.close();
    const short = utf8.encode('data:');
    Object.defineProperty(short, 'length', { value: 28 });
    class Liar extends Uint8Array {
      get length() {
        return 3;
      }
    }
    assert.deepEqual(collect([short, new Liar(utf8.encode(' x\n\n'))]), [{ type: 'message', data: 'x', lastEventId: '' }]);
  });

  it('rejects other chunk types', () => {
    const p = createParser();
    for (const bad of [undefined, null, 42, {}, [1, 2]]) assert.throws(() => p.feed(bad), TypeError);
    p.close();
  });

  it('encodes a lone surrogate in a string as U+FFFD, and repairs invalid bytes like TextDecoder', () => {
    assert.deepEqual(collect(['data: a\ud800b\n\n']), [{ type: 'message', data: 'a\ufffdb', lastEventId: '' }]);
    assert.deepEqual(collect([new Uint8Array([0x64, 0x61, 0x74, 0x61, 0x3a, 0xc3, 0x28, 0xff, 0x0a, 0x0a])]), [
      { type: 'message', data: '\ufffd(\ufffd', lastEventId: '' },
    ]);
  });

  it('keeps a U+FEFF that is not the first thing in the stream', () => {
    assert.deepEqual(collect(['\ufeff\ufeffdata: \ufeffx\n\n']), []);  // the second BOM is part of a field name
    assert.deepEqual(collect(['data: \ufeffx\n\n']), [{ type: 'message', data: '\ufeffx', lastEventId: '' }]);
  });

  // The bridge hands strings over in shared, bulk-decoded texts (ASCII and
  // other, the latter cut into pieces at long ASCII runs) and caches event
  // types: every field must still be exactly TextDecoder's view of its bytes.
  it('gives each field what TextDecoder makes of its bytes, with many fields per chunk', () => {
    let seed = 7;
    const random = (n) => {  // xorshift32
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const pieces = [
      [0xc3, 0xa9], [0xe6, 0x97, 0xa5], [0xf0, 0x9f, 0x98, 0x80], [0xef, 0xbb, 0xbf],  // é 日 😀 U+FEFF
      [0xff], [0xc3], [0xe6, 0x97], [0xed, 0xa0, 0x80], [0xf0, 0x9f], [0x80, 0x80],  // invalid
    ];
    const value = (maxRun) => {
      const out = [];
      for (let n = random(4); n >= 0; --n) {
        for (let run = random(maxRun); run > 0; --run) out.push(0x61 + random(26));
        if (random(2)) out.push(...pieces[random(pieces.length)]);
      }
      if (out[0] === 0x20) out.unshift(0x61);
      return out;
    };
    const types = Array.from({ length: 11 }, () => value(6));  // more than the bridge's type slots
    const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
    const bytes = [];
    const expected = [];
    let id = '';
    const line = (...parts) => bytes.push(...parts.flat(), 0x0a);
    const ascii = (s) => Array.from(s, (c) => c.charCodeAt(0));
    for (let e = 0; e < 120; ++e) {
      if (random(4) === 0) {
        const text = value(40);
        line(ascii(':'), text);
        expected.push({ comment: decoder.decode(new Uint8Array(text)) });
      }
      if (random(3) === 0) {
        const v = value(20);
        line(ascii('id: '), v);
        id = decoder.decode(new Uint8Array(v));
      }
      const type = random(3) === 0 ? [] : types[random(types.length)];
      if (type.length) line(ascii('event: '), type);
      const data = [];
      for (let n = 1 + random(3), first = true; n > 0; --n, first = false) {
        const v = value(random(5) === 0 ? 700 : 60);
        line(ascii('data: '), v);
        if (!first) data.push(0x0a);
        data.push(...v);
      }
      line();
      const decodedType = decoder.decode(new Uint8Array(type));
      expected.push({ type: decodedType === '' ? 'message' : decodedType, data: decoder.decode(new Uint8Array(data)), lastEventId: id });
    }
    const stream = new Uint8Array(bytes);
    for (const size of [1, 5, 97, 4096, stream.length]) {
      const chunks = [];
      for (let i = 0; i < stream.length; i += size) chunks.push(stream.subarray(i, i + size));
      assert.deepEqual(collect(chunks), expected, `chunks of ${size}`);
    }
  });

  // Strings of more than 128 KiB cost V8 a mapping of their own, so the
  // texts a call produced are decoded in pieces of at most 64 KiB (cut at
  // character boundaries) and a longer string is a rope of pieces.
  it('decodes long texts in pieces of at most 64 KiB, each field still exactly TextDecoder\'s', () => {
    const PIECE = 1 << 16;
    const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
    const emoji = [0xf0, 0x9f, 0x98, 0x80];
    const e9 = [0xc3, 0xa9];
    const bytes = [];
    const expected = [];
    const put = (more) => {
      for (const b of more) bytes.push(b);
    };
    const event = (dataBytes, id) => {
      put(utf8.encode(`id: ${id}\ndata: `));
      put(dataBytes);
      put([0x0a, 0x0a]);
      expected.push({ type: 'message', data: decoder.decode(new Uint8Array(dataBytes)), lastEventId: id });
    };
    const letters = (n) => Array.from({ length: n }, (_, i) => 0x61 + (i % 26));
    // Many small events: an ASCII text and a non-ASCII one, each > 2 pieces.
    for (let i = 0; i < 1500; ++i) event(letters(100 + (i % 50)), `a${i}`);
    for (let i = 0; i < 1500; ++i) event([...letters(i % 90), ...(i % 3 ? e9 : emoji), ...letters(60)], `w${i}`);
    // Long values: ASCII, and non-ASCII with a character across the 64 KiB
    // mark of its text at every alignment.
    event(letters(3 * PIECE + 17), 'long');
    for (let shift = 0; shift < 4; ++shift) {
      const v = letters(PIECE - 3 + shift);
      for (let i = 0; i < 2 * PIECE / 4; ++i) v.push(...emoji);
      v.push(...e9);
      event(v, `emoji${shift}`);
    }
    const stream = new Uint8Array(bytes);
    const original = TextDecoder.prototype.decode;
    let longest = 0;
    TextDecoder.prototype.decode = function decode(input, options) {
      longest = Math.max(longest, input?.byteLength ?? 0);
      return original.call(this, input, options);
    };
    try {
      for (const size of [stream.length, 100003, PIECE]) {
        const chunks = [];
        for (let i = 0; i < stream.length; i += size) chunks.push(stream.subarray(i, i + size));
        assert.deepEqual(collect(chunks), expected, `chunks of ${size}`);
      }
    } finally {
      TextDecoder.prototype.decode = original;
    }
    assert.ok(longest <= PIECE, `one decode() took ${longest} bytes`);
  });

  it('parses a multi-megabyte event, whole and in chunks', () => {
    const data = 'x'.repeat(6 * 1024 * 1024 - 3) + 'é';
    const stream = utf8.encode(`id: big\ndata: ${data}\n\ndata: after\n\n`);
    const expected = [
      { type: 'message', data, lastEventId: 'big' },
      { type: 'message', data: 'after', lastEventId: 'big' },
    ];
    assert.deepEqual(collect([stream]), expected);
    const chunks = [];
    for (let i = 0; i < stream.length; i += 65521) chunks.push(stream.subarray(i, i + 65521));
    assert.deepEqual(collect(chunks), expected);
    // A long string takes the encode-then-copy path.
    assert.deepEqual(collect([`id: big\ndata: ${data}\n\ndata: after\n\n`]), expected);
  });

  it('enforces maxLineLength and maxEventSize, and accepts Infinity', () => {
    assert.throws(() => collect(['data: 12345\n'], { maxLineLength: 10 }), { name: 'SseParseError', code: 'line_too_long', offset: 0 });
    assert.throws(() => collect(['data: 1\ndata: 2\n'], { maxEventSize: 2 }), { code: 'event_too_large', offset: 8 });
    // The messages name the options as JS spells them (the core's say max_line_length).
    assert.throws(() => collect(['data: 12345\n'], { maxLineLength: 10 }), { message: "a line is longer than the parser's maxLineLength (line_too_long at byte 0)" });
    assert.throws(() => collect(['data: 1\ndata: 2\n'], { maxEventSize: 2 }), { message: /larger than the parser's maxEventSize \(event_too_large at byte 8\)$/ });
    assert.equal(collect([`data: ${'y'.repeat(1000)}\n\n`], { maxLineLength: Infinity, maxEventSize: Infinity })[0].data.length, 1000);
  });

  it('checks options', () => {
    assert.throws(() => createParser({ maxLineLength: -1 }), RangeError);
    assert.throws(() => createParser({ maxEventSize: 1.5 }), RangeError);
    assert.throws(() => createParser({ maxEventSize: '10' }), { name: 'TypeError', message: /got the string "10"$/ });
    // An object without toString is named, not a TypeError from the message itself.
    assert.throws(() => createParser({ maxLineLength: Object.create(null) }), { name: 'TypeError', message: /got an object$/ });
    assert.throws(() => createParser({ maxLineLength: true }), { name: 'TypeError', message: /^ssekit: maxLineLength must be/ });
    assert.throws(() => createParser({ maxLineLength: NaN }), RangeError);
    assert.throws(() => createParser({ onEvent: 'no' }), TypeError);
    assert.throws(() => createParser(1), TypeError);
    createParser(null).close();  // as the EventSource's options: null is none
    createParser({ maxLineLength: 2 ** 40 }).close();  // clamped to what 32-bit WebAssembly can hold
  });

  it('delivers retry values beyond 2^53 as the nearest number', () => {
    assert.deepEqual(collect(['retry: 99999999999999999999999\n']), [{ retry: 2 ** 64 }]);
    assert.deepEqual(collect(['retry: 9007199254740993\n']), [{ retry: 9007199254740992 }]);
  });
});

describe('errors', () => {
  it('delivers what came before the error, then throws an SseParseError', () => {
    const events = [];
    const p = createParser({ maxLineLength: 8, onEvent: (ev) => events.push(ev.data) });
    let error;
    try {
      p.feed('data: a\n\ndata: too long\n\n');
    } catch (e) {
      error = e;
    }
    assert.deepEqual(events, ['a']);
    assert.ok(error instanceof SseParseError);
    assert.ok(error instanceof Error);
    assert.equal(error.name, 'SseParseError');
    assert.equal(error.code, 'line_too_long');
    assert.equal(error.offset, 9);
    assert.match(error.message, /line_too_long at byte 9/);
    p.close();
  });

  it('is sticky: feed() and finish() throw it again until reset()', () => {
    const events = [];
    const p = createParser({ maxLineLength: 8, onEvent: (ev) => events.push(ev.data) });
    assert.throws(() => p.feed('data: too long\n'), { code: 'line_too_long', offset: 0 });
    assert.throws(() => p.feed('data: b\n\n'), { code: 'line_too_long', offset: 0 });
    assert.throws(() => p.feed(''), { code: 'line_too_long', offset: 0 });
    assert.throws(() => p.finish(), { code: 'line_too_long', offset: 0 });
    assert.deepEqual(events, []);
    p.reset();
    p.feed('data: b\n\n');
    p.finish();
    assert.deepEqual(events, ['b']);
    p.close();
  });

  it('reports feed() after finish()', () => {
    const p = createParser();
    p.feed('data: a\n\n');
    p.finish();
    assert.throws(() => p.feed('data: b\n\n'), { code: 'feed_after_finish', offset: 9 });
    p.reset();
    p.feed('data: b\n\n');
    p.close();
  });

  it('lets a callback exception through; the parser stays usable after reset()', () => {
    const events = [];
    const p = createParser({
      onEvent: (ev) => {
        if (ev.data === 'boom') throw new Error('callback failed');
        events.push(ev.data);
      },
    });
    assert.throws(() => p.feed('data: a\n\ndata: boom\n\n'), /callback failed/);
    p.reset();
    p.feed('data: c\n\n');
    assert.deepEqual(events, ['a', 'c']);
    p.close();
  });
});

describe('lifetime', () => {
  it('reset() keeps lastEventId and the options', () => {
    const events = [];
    const p = createParser({ maxLineLength: 20, onEvent: (ev) => events.push(ev) });
    p.feed('id: 42\ndata: a\n\nid: 43\ndata: unfinished');
    assert.equal(p.lastEventId, '42');
    p.reset();
    assert.equal(p.lastEventId, '42');
    p.feed('data: b\n\n');
    assert.deepEqual(events.at(-1), { type: 'message', data: 'b', lastEventId: '42' });
    assert.throws(() => p.feed('data: this line is too long\n'), { code: 'line_too_long' });
    p.close();
  });

  it('lastEventId changes on a dispatch without an event, and can be emptied', () => {
    const p = createParser();
    p.feed('id: 1\n\n');
    assert.equal(p.lastEventId, '1');
    p.feed('id\n\n');
    assert.equal(p.lastEventId, '');
    p.close();
  });

  it('setting lastEventId: events carry it until an id field, and it survives reset()', () => {
    const events = [];
    const p = createParser({ onEvent: (ev) => events.push(ev.lastEventId) });
    p.lastEventId = 'résumé-7';
    assert.equal(p.lastEventId, 'résumé-7');
    p.feed('data: a\n\n');
    p.reset();
    p.feed('data: b\n\nid: 8\ndata: c\n\n');
    p.lastEventId = '';
    p.feed('data: d\n\n');
    assert.deepEqual(events, ['résumé-7', 'résumé-7', '8', '']);
    assert.throws(() => {
      p.lastEventId = 8;
    }, TypeError);
    p.close();
    assert.throws(() => {
      p.lastEventId = 'x';
    }, /closed parser/);
  });

  it('throws a clear error on use after close()', () => {
    const p = createParser();
    p.feed('data: a\n\n');
    p.close();
    assert.equal(p.closed, true);
    assert.throws(() => p.feed('data: b\n\n'), /ssekit: feed\(\) on a closed parser/);
    assert.throws(() => p.finish(), /closed parser/);
    assert.throws(() => p.reset(), /closed parser/);
    assert.throws(() => p.lastEventId, /closed parser/);
    p.close();  // a second close() does nothing
  });

  it('close() from a callback stops delivery', () => {
    const events = [];
    const p = createParser({
      onEvent: (ev) => {
        events.push(ev.data);
        if (ev.data === 'b') p.close();
      },
    });
    p.feed('data: a\n\ndata: b\n\ndata: c\n\n');
    assert.deepEqual(events, ['a', 'b']);
    assert.equal(p.closed, true);
    // The chunk's parse error goes with the rest of it.
    const q = createParser({ maxLineLength: 10, onEvent: () => q.close() });
    q.feed(`data: a\n\ndata: ${'x'.repeat(100)}\n\n`);
    assert.equal(q.closed, true);
  });

  it('refuses feed(), finish(), reset() and setting lastEventId from its own callbacks, but other parsers may be fed', () => {
    const inner = [];
    const other = createParser({ onEvent: (ev) => inner.push(ev.data) });
    const errors = [];
    const p = createParser({
      onEvent: (ev) => {
        const setId = () => {
          p.lastEventId = 'X';
        };
        for (const call of [() => p.feed('x'), () => p.finish(), () => p.reset(), setId]) {
          try {
            call();
          } catch (e) {
            errors.push(e.message);
            assert.equal(e.code, 'called_from_callback');  // the core's name
          }
        }
        other.feed(`data: ${ev.data}!\n\n`);
      },
    });
    p.feed('data: a\n\nid: 2\ndata: b\n\n');
    assert.equal(errors.length, 8);
    for (const m of errors) assert.match(m, /called from inside one of this parser's callbacks/);
    assert.deepEqual(inner, ['a!', 'b!']);
    // Set there, the id landed after the chunk's later id: field (the core
    // reads the whole chunk before the callbacks run): 'X', not '2'.
    assert.equal(p.lastEventId, '2');
    p.close();
    other.close();
  });

  // A probe: the chunk's later events were never delivered, yet lastEventId
  // was the chunk's last id ('3') and the next feed() went on; a client that
  // resumed from it skipped event 3 for good. As the C++ parser: the id
  // where the callback threw, and feed_interrupted until reset().
  it('after a callback throws: lastEventId is where it threw, and feed()/finish() refuse until reset()', async () => {
    const seen = [];
    const p = createParser({
      onEvent: (ev) => {
        seen.push(`${ev.data}/${ev.lastEventId}`);
        if (ev.data === 'b') throw new Error('boom');
      },
    });
    assert.throws(() => p.feed('id: 1\ndata: a\n\nid: 2\ndata: b\n\nid: 3\ndata: c\n\n'), /boom/);
    assert.deepEqual(seen, ['a/1', 'b/2']);
    assert.equal(p.lastEventId, '2');
    for (const call of [() => p.feed('data: d\n\n'), () => p.finish()]) {
      assert.throws(call, (e) => e.code === 'feed_interrupted' && /reset\(\)/.test(e.message));
    }
    await assert.rejects(p.readFrom('data: d\n\n'), (e) => e.code === 'feed_interrupted');
    p.reset();
    p.feed('data: d\n\n');
    assert.deepEqual(seen, ['a/1', 'b/2', 'd/2']);
    p.close();
    // A comment's or retry's callback: the id of the last event delivered
    // before it (or the one set), never one past what was delivered.
    for (const [field, input] of [['onComment', ': x\n'], ['onRetry', 'retry: 5\n']]) {
      const q = createParser({ onEvent: () => {}, [field]: () => { throw new Error(field); } });
      q.lastEventId = '7';
      q.feed('id: 8\ndata: e\n\n');
      assert.throws(() => q.feed(`id: 9\n${input}data: f\n\n`), new RegExp(field));
      assert.equal(q.lastEventId, '8', field);
      const r = createParser({ [field]: () => { throw new Error(field); } });
      r.lastEventId = '7';
      assert.throws(() => r.feed(`id: 9\n${input}\n`), new RegExp(field));
      assert.equal(r.lastEventId, '7', field);
      q.close();
      r.close();
    }
  });

  it('runs many parsers at once, each with its own state, across memory growth', () => {
    const n = 500;
    const seen = Array.from({ length: n }, () => []);
    const parsers = seen.map((list) => createParser({ onEvent: (ev) => list.push(`${ev.lastEventId}:${ev.data}`) }));
    for (let round = 0; round < 3; round++) {
      parsers.forEach((p, i) => p.feed(`id: ${i}-${round}\ndata: ${i}`));
      // A chunk that grows WebAssembly memory while every parser holds state.
      if (round === 1) parsers[0].feed(`\n\n: ${'z'.repeat(8 * 1024 * 1024)}\n`);
      parsers.forEach((p, i) => p.feed(`\ndata: ${round}\n\n`.slice(i === 0 && round === 1 ? 2 : 0)));
    }
    seen.forEach((list, i) => {
      if (i === 0) return;
      assert.deepEqual(list, [0, 1, 2].map((r) => `${i}-${r}:${i}\n${r}`));
    });
    parsers.forEach((p, i) => assert.equal(p.lastEventId, `${i}-2`));
    parsers.forEach((p) => p.close());
  });
});

describe('readFrom(): any source of chunks', () => {
  const text = 'id: 1\ndata: a\r\n\r\nevent: e\ndata: é\n\ndata: unterminated';
  const bytes = utf8.encode(text);
  const expected = [
    { type: 'message', data: 'a', lastEventId: '1' },
    { type: 'e', data: 'é', lastEventId: '1' },
  ];
  // Splits inside the CRLF and inside the two-byte é.
  const pieces = () => [bytes.subarray(0, 16), bytes.subarray(16, 33), bytes.subarray(33)];
  const webStream = () =>
    new ReadableStream({
      start(c) {
        for (const p of pieces()) c.enqueue(p);
        c.close();
      },
    });
  const sources = {
    'a fetch Response': () => new Response(webStream()),
    'a ReadableStream': webStream,
    'a Node stream of bytes': () => Readable.from(pieces().map((p) => Buffer.from(p))),
    'a Node stream of strings': () => Readable.from([text.slice(0, 10), text.slice(10)], { objectMode: true }),
    'an async generator': () =>
      (async function* () {
        yield* pieces();
      })(),
    'an array of chunks': pieces,
    'one string': () => text,
    'one Uint8Array': () => bytes,
  };
  for (const [name, source] of Object.entries(sources)) {
    it(`reads ${name}, then finishes`, async () => {
      const events = [];
      const p = createParser({ onEvent: (ev) => events.push(ev) });
      await p.readFrom(source());
      assert.deepEqual(events, expected);
      assert.throws(() => p.feed('data: x\n\n'), (e) => e.code === 'feed_after_finish');
      p.close();
    });
  }

  it('rejects with the parse error and cancels the stream', async () => {
    let cancelled = false;
    const source = new ReadableStream({
      pull(c) {
        c.enqueue(utf8.encode('data: ok\n\ndata: too long\n'));
      },
      cancel() {
        cancelled = true;
      },
    });
    const events = [];
    const p = createParser({ maxLineLength: 8, onEvent: (ev) => events.push(ev.data) });
    await assert.rejects(p.readFrom(source), (e) => e instanceof SseParseError && e.code === 'line_too_long');
    assert.deepEqual(events, ['ok']);
    assert.equal(cancelled, true);
    p.close();
  });

  it('stops reading when a callback closes the parser', async () => {
    let pulls = 0;
    const source = new ReadableStream({
      pull(c) {
        pulls++;
        c.enqueue(utf8.encode('data: x\n\n'));
      },
    });
    const p = createParser({ onEvent: () => p.close() });
    await p.readFrom(source);
    assert.equal(p.closed, true);
    assert.ok(pulls <= 3, `${pulls} pulls`);
  });

  // A probe found two at once interleaving both streams' events.
  it('reads one source at a time: a second readFrom() meanwhile is refused (already_started), the first goes on', async () => {
    const events = [];
    const p = createParser({ onEvent: (e) => events.push(e.data) });
    let release;
    const gate = new Promise((resolve) => (release = resolve));
    const first = p.readFrom((async function* () {
      yield utf8.encode('data: a0\n\n');
      await gate;
      yield utf8.encode('data: a1\n\n');
    })());
    await assert.rejects(p.readFrom((async function* () { yield utf8.encode('data: b0\n\n'); })()), (e) => e.code === 'already_started');
    release();
    await first;
    assert.deepEqual(events, ['a0', 'a1']);
    p.reset();
    await p.readFrom('data: c\n\n');
    assert.deepEqual(events, ['a0', 'a1', 'c']);
  });

  it('refuses what is not a source', async () => {
    const p = createParser();
    await assert.rejects(p.readFrom(42), TypeError);
    await assert.rejects(p.readFrom({}), TypeError);
    p.close();
    await assert.rejects(p.readFrom('data: x\n\n'), /closed parser/);
  });
});

describe('serializer', () => {
  it('writes events, comments, retries and heartbeats', () => {
    assert.equal(serializeEvent({ data: 'a' }), 'data: a\n\n');
    assert.equal(serializeEvent({ data: ' x\r\ny\rz', type: 'tick', id: '7', retry: 3000 }), 'retry: 3000\nid: 7\nevent: tick\ndata:  x\ndata: y\ndata: z\n\n');
    assert.equal(serializeEvent({ data: '', id: '' }), 'id:\ndata:\n\n');
    assert.equal(serializeComment(' keep-alive'), ': keep-alive\n');
    assert.equal(serializeRetry(1000), 'retry: 1000\n');
    assert.equal(serializeRetry(18446744073709551615n), 'retry: 18446744073709551615\n');
    assert.equal(serializeHeartbeat(), ':\n');
    assert.equal(serializeHeartbeat(), ':\n');
  });

  it('refuses what the format cannot carry, with the core error code', () => {
    assert.throws(() => serializeEvent({ data: 'a', type: 'a\nb' }), (e) => e instanceof SseSerializeError && e.code === 'invalid_event_type' && /invalid_event_type/.test(e.message));
    assert.throws(() => serializeEvent({ data: 'a', id: 'a\0b' }), { name: 'SseSerializeError', code: 'invalid_event_id' });
    assert.throws(() => serializeEvent({ data: 'a', id: 'a\rb' }), { code: 'invalid_event_id' });
    assert.throws(() => serializeComment('a\r\nb'), { code: 'invalid_comment' });
  });

  it('checks argument types', () => {
    assert.throws(() => serializeEvent(), TypeError);
    assert.throws(() => serializeEvent({}), { name: 'TypeError', message: 'ssekit: data must be a string, got undefined' });
    assert.throws(() => serializeRetry(undefined), { name: 'TypeError', message: /, got undefined$/ });
    assert.throws(() => serializeEvent({ data: 1 }), { name: 'TypeError', message: 'ssekit: data must be a string, got number 1' });
    assert.throws(() => serializeEvent({ data: 'a', event: 'tick' }), { name: 'TypeError', message: /as `type`, not `event`/ });
    assert.throws(() => serializeEvent({ data: 'a', retry: '5' }), { name: 'TypeError', message: /got the string "5"$/ });
    assert.throws(() => serializeEvent({ data: 'a', retry: 2 ** 64 }), { name: 'RangeError', message: /rounded: pass a bigint/ });
    assert.throws(() => serializeEvent({ data: 'a', type: null }), TypeError);
    assert.throws(() => serializeEvent({ data: 'a', retry: -1 }), RangeError);
    assert.throws(() => serializeEvent({ data: 'a', retry: 1.5 }), TypeError);
    assert.throws(() => serializeRetry(2n ** 64n), RangeError);
    assert.throws(() => serializeRetry('5'), TypeError);
    assert.throws(() => serializeComment(undefined), TypeError);
  });

  // Cases mutation testing showed missing: each pins one check.
  it('names what is wrong with each argument, null included', () => {
    for (const bad of [null, 'x', 5, undefined]) {
      assert.throws(() => serializeEvent(bad), { name: 'TypeError', message: /takes an object/ }, String(bad));
    }
    // `event` present at all, even empty, is the mistake.
    assert.throws(() => serializeEvent({ data: 'a', event: '' }), { name: 'TypeError', message: /as `type`, not `event`/ });
    // null is no missing value: an id or retry of null is refused, not dropped.
    assert.throws(() => serializeEvent({ data: 'a', id: null }), { name: 'TypeError', message: /id must be a string, got null$/ });
    assert.throws(() => serializeEvent({ data: 'a', retry: null }), { name: 'TypeError', message: /retry must be .*got null$/ });
    for (const bad of [new Uint8Array([97]), 5, null]) {
      assert.throws(() => serializeComment(bad), { name: 'TypeError', message: /the comment must be a string/ });
    }
    // Only a number already rounded is said to be.
    assert.throws(() => serializeRetry(-1), (e) => e instanceof RangeError && !/rounded/.test(e.message));
    assert.throws(() => serializeRetry(2n ** 64n), (e) => e instanceof RangeError && !/rounded/.test(e.message));
    // A function's source is not shown.
    assert.throws(() => serializeEvent({ data() { /* secret */ } }), (e) => e instanceof TypeError && /got a function$/.test(e.message) && !/secret/.test(e.message));
  });

  it('writes retries of every size: both 32-bit halves', () => {
    assert.equal(serializeRetry(2n ** 32n), 'retry: 4294967296\n');
    assert.equal(serializeRetry(2n ** 32n - 1n), 'retry: 4294967295\n');
    assert.equal(serializeRetry(2 ** 40 + 3), 'retry: 1099511627779\n');
    assert.ok(serializeEvent({ data: 'a', retry: 2 ** 40 }).startsWith('retry: 1099511627776\n'));
    assert.equal(serializeRetry(Number.MAX_SAFE_INTEGER), 'retry: 9007199254740991\n');
  });

  // A relay: for await (const e of stream(url)) res.write(serializeEvent(e)).
  it('takes an event as the parser gives it: its lastEventId is the id (when there is no id)', () => {
    const received = collect(['id: 1\ndata: a\n\nevent: t\ndata: b\n\n']);
    const relayed = collect(received.map((e) => serializeEvent(e)));
    assert.deepEqual(relayed, received);
    // The upstream resets its id: so does the reader behind the relay.
    const reset = collect(['id: 5\ndata: a\n\nid:\ndata: b\n\n']);
    assert.deepEqual(reset.map((e) => e.lastEventId), ['5', '']);
    assert.deepEqual(collect(reset.map((e) => serializeEvent(e))), reset);
    // '' is the id in force too: an upstream's reset goes on (a probe's relay kept the old id).
    assert.equal(serializeEvent({ data: 'x', lastEventId: '' }), 'id:\ndata: x\n\n');
    assert.equal(serializeEvent({ data: 'x', lastEventId: '', id: '' }), 'id:\ndata: x\n\n');
    assert.equal(serializeEvent({ data: 'x', id: 'a', lastEventId: 'b' }), 'id: a\ndata: x\n\n');
    assert.throws(() => serializeEvent({ data: 'x', lastEventId: 5 }), { name: 'TypeError', message: /lastEventId must be a string/ });
    assert.throws(() => serializeEvent({ data: 'x', lastEventId: 'a\nb' }), { code: 'invalid_event_id' });
  });

  // Short ASCII strings are copied by a loop, others by encodeInto, large
  // ones encoded first (serializer.cjs place() and stageEvent()): each
  // string of an event may take another path.
  it('writes each string as its UTF-8, whichever way it is staged', () => {
    const expected = (ev) =>
      `${ev.id === undefined ? '' : ev.id === '' ? 'id:\n' : `id: ${ev.id.toWellFormed()}\n`}${ev.type ? `event: ${ev.type.toWellFormed()}\n` : ''}` +
      ev.data.split('\n').map((line) => (line === '' ? 'data:\n' : `data: ${line.toWellFormed()}\n`)).join('') + '\n';
    const strings = ['x'.repeat(31), 'x'.repeat(32), 'x'.repeat(33), 'é', 'aé', 'éa', 'x'.repeat(31) + 'é', 'x'.repeat(32) + 'é',
      'a\ud800', '\udc00b', '😀', 'a😀b', 'k'.repeat(70000), 'k'.repeat(69999) + 'é', ''];
    let n = 0;
    for (const data of strings) {
      for (const type of strings) {
        if (type.length > 1000 && data.length > 1000) continue;
        for (const id of [undefined, ...strings.filter((s) => s.length < 1000)]) {
          const ev = { data, type, id };
          assert.equal(serializeEvent(ev), expected(ev), JSON.stringify(ev).slice(0, 200));
          ++n;
        }
      }
    }
    assert.ok(n > 2000);
    // The memory grows under small events' views of it (a 6 MB event), and
    // they are remade: the next small event is still written right.
    assert.equal(serializeEvent({ data: 'small', id: '1' }), 'id: 1\ndata: small\n\n');
    assert.equal(serializeEvent({ data: 'é'.repeat(3 * 1024 * 1024) }).length, 3 * 1024 * 1024 + 8);
    assert.equal(serializeEvent({ data: 'small', id: '2', type: 't' }), 'id: 2\nevent: t\ndata: small\n\n');
  });

  it('round-trips through the parser, also for long and non-ASCII values', () => {
    const cases = [
      { data: 'plain' },
      { data: ' leading space', type: ' t', id: ' i' },
      { data: 'a\r\nb\rc\nd\n', type: 'é', id: '日本' },
      { data: '\ufeff😀', id: '' },
      // Encoded in place (under 64K each), three bytes for every character.
      { data: '日'.repeat(3000), type: '本'.repeat(3000), id: '語'.repeat(3000) },
      { data: '日'.repeat(21000), type: '本'.repeat(21000), id: '語'.repeat(21000) },
      { data: 'é'.repeat(70000), type: 'x'.repeat(70000), id: 'ü'.repeat(70000), retry: 5 },
    ];
    for (const ev of cases) {
      const got = collect([serializeEvent(ev)]);
      const expected = [];
      if (ev.retry !== undefined) expected.push({ retry: ev.retry });
      expected.push({ type: ev.type || 'message', data: ev.data.replace(/\r\n?/g, '\n'), lastEventId: ev.id ?? '' });
      assert.deepEqual(got, expected);
    }
  });
});
