// createParser()'s edges a mutation run found untested: limits above
// 2^32-1, error offsets past 4 GiB, views with an offset, U+D800 at a
// chunk's end, readFrom()'s lock and close() from a callback, memoryBytes
// after close().
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Readable } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
import { createParser } from '../src/index.mjs';

describe('parser: edges', () => {
  // eventsource-parser 1.x took a function, 3.x takes onError and
  // maxBufferSize: each was accepted and did nothing (events dropped, the
  // limit left at 32 MiB).
  it('an option createParser() does not know, or a function for its options, is a TypeError naming it', () => {
    assert.throws(() => createParser(() => {}), { name: 'TypeError', message: /takes an options object/ });
    assert.throws(() => createParser({ onEvent() {}, maxBufferSize: 16 }), { name: 'TypeError', message: /no option 'maxBufferSize': maxLineLength and maxEventSize/ });
    assert.throws(() => createParser({ onError() {} }), { name: 'TypeError', message: /no option 'onError': feed\(\) and finish\(\) throw/ });
    assert.throws(() => createParser({ onevent() {} }), { name: 'TypeError', message: /no option 'onevent' \(its options: onEvent, onComment, onRetry, maxLineLength, maxEventSize\)/ });
    // Every option it knows, undefined ones too, and keys it inherits (a class's methods) are fine.
    const events = [];
    class Handlers { onComment() {} }
    const handlers = Object.assign(new Handlers(), { onEvent: (ev) => events.push(ev.data), onRetry: undefined, maxLineLength: 64, maxEventSize: null });
    const p = createParser(handlers);
    p.feed('data: kept\n\n');
    assert.deepEqual(events, ['kept']);
    p.close();
  });

  it('a limit above 2^32-1 is clamped, not wrapped: 2^32 + 4 still allows a 5-byte line', () => {
    const events = [];
    const p = createParser({ maxLineLength: 2 ** 32 + 4, maxEventSize: 2 ** 32 + 4, onEvent: (ev) => events.push(ev.data) });
    p.feed('data: hello\n\n');
    assert.deepEqual(events, ['hello']);
    p.close();
  });

  // The error offset is a 64-bit stream offset: JS joins the header's two
  // 32-bit halves (ERROR_LOW, ERROR_HIGH). 4 GiB of ignored 1 KiB lines
  // (a field name without a colon) before a line over the limit.
  it('an error past 4 GiB of stream reports its offset with both 32-bit halves', () => {
    const p = createParser({ maxLineLength: 1024 });
    const chunk = new Uint8Array(64 * 2 ** 20).fill(0x78);
    for (let i = 1023; i < chunk.length; i += 1024) chunk[i] = 0x0a;
    for (let i = 0; i < 65; ++i) p.feed(chunk);
    assert.throws(() => p.feed(`data: ${'y'.repeat(1100)}\n`), { code: 'line_too_long', offset: 65 * 2 ** 26 });
    p.close();
  });

  // V8's longest string is 2^29-24 UTF-16 units (536,870,888), and a value
  // of n bytes decodes to at most n units: the limits are capped there, so
  // a longer value is event_too_large (line_too_long) like any other, not a
  // RangeError halfway through a feed() that left the next events' type and
  // id wrong.
  const LONGEST = 2 ** 29 - 24;
  const feedX = (p, n) => {
    const block = new Uint8Array(2 ** 24).fill(0x78);
    for (; n >= block.length; n -= block.length) p.feed(block);
    p.feed(block.subarray(0, n));
  };

  // A line is capped there too (field name included), so data this long
  // comes in two lines.
  it('Infinity caps data, type and id at the longest string: one byte more is event_too_large', () => {
    const events = [];
    const p = createParser({ maxLineLength: Infinity, maxEventSize: Infinity, onEvent: (ev) => events.push(ev) });
    p.feed('data: ');
    feedX(p, LONGEST - 6);
    assert.throws(() => p.feed('\ndata: xxxxxx\n\nevent: foo\nid: 7\ndata: x\n\n'), { name: 'SseParseError', code: 'event_too_large' });
    p.reset();
    p.feed('event: foo\nid: 7\ndata: y\n\n');
    assert.deepEqual(events, [{ type: 'foo', data: 'y', lastEventId: '7' }]);
    p.close();
  });

  it('a limit above the longest string is capped too, and data of the longest string arrives whole', () => {
    const lengths = [];
    const p = createParser({ maxLineLength: 2 ** 31, maxEventSize: 2 ** 31, onEvent: (ev) => lengths.push(ev.data.length) });
    p.feed('data: ');
    feedX(p, LONGEST - 6);
    p.feed('\ndata: xxxxx\n\n');
    assert.deepEqual(lengths, [LONGEST]);
    p.feed('data: ');
    assert.throws(() => feedX(p, LONGEST - 5), { name: 'SseParseError', code: 'line_too_long' });
    p.close();
  });

  it('Infinity caps a line at the longest string: a comment that long arrives, one byte more is line_too_long', () => {
    const comments = [];
    const p = createParser({ maxLineLength: Infinity, maxEventSize: Infinity, onComment: (c) => comments.push(c) });
    p.feed(':');
    feedX(p, LONGEST - 1);
    p.feed('\n:');
    assert.equal(comments.pop().length, LONGEST - 1);
    feedX(p, LONGEST - 1);
    assert.throws(() => p.feed('x\n:ok\n'), { name: 'SseParseError', code: 'line_too_long' });
    p.reset();
    p.feed(':ok\n');
    assert.deepEqual(comments, ['ok']);
    p.close();
  });

  it('an ArrayBufferView with an offset is read from its offset and length only', () => {
    const events = [];
    const p = createParser({ onEvent: (ev) => events.push(ev.data) });
    const bytes = new TextEncoder().encode('xxdata: a\n\nyy');
    p.feed(new DataView(bytes.buffer, 2, 9));
    assert.deepEqual(events, ['a']);
    p.close();
  });

  it('a string chunk that ends with U+D800 is held for the low surrogate of the next chunk', () => {
    const events = [];
    const p = createParser({ onEvent: (ev) => events.push(ev.data) });
    p.feed('data: \uD800');
    p.feed('\uDC00\n\n');
    assert.deepEqual(events, ['\u{10000}']);
    p.close();
  });

  it('readFrom() releases the lock of a ReadableStream it read to the end', async () => {
    const source = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode('data: x\n\n'));
        c.close();
      },
    });
    const events = [];
    await createParser({ onEvent: (ev) => events.push(ev.data) }).readFrom(source);
    assert.deepEqual(events, ['x']);
    assert.equal(source.locked, false);
  });

  it('close() from a callback ends readFrom() quietly, for an async iterable and for one chunk', async () => {
    async function* chunks() {
      yield 'data: 1\n\n';
      yield 'data: 2\n\n';
    }
    for (const source of [chunks(), 'data: 1\n\n']) {
      const events = [];
      const p = createParser({
        onEvent: (ev) => {
          events.push(ev.data);
          p.close();
        },
      });
      await p.readFrom(source);
      assert.deepEqual(events, ['1']);
      assert.equal(p.closed, true);
    }
  });

  // close() from outside a callback (a timer, an abort handler) while
  // readFrom() waits on a quiet source: readFrom() resolves, and the source
  // is let go (cancelled, destroyed, returned), as after a close() from a
  // callback; a source that keeps sending is not fed into the closed parser.
  it('close() while readFrom() waits ends it quietly and lets the source go, whatever the source', { timeout: 10000 }, async () => {
    const first = new TextEncoder().encode('data: 1\n\n');
    const kinds = {
      'a quiet ReadableStream': () => {
        const seen = { released: false };
        return { seen, source: new ReadableStream({ start: (c) => c.enqueue(first), cancel: () => void (seen.released = true) }) };
      },
      'a ReadableStream that keeps sending': () => {
        const seen = { released: false };
        return { seen, source: new ReadableStream({ pull: (c) => c.enqueue(first), cancel: () => void (seen.released = true) }, { highWaterMark: 0 }) };
      },
      'a quiet Node stream': () => {
        const seen = { released: false };
        const source = new Readable({ read() {} });
        source.push(first);
        source.on('close', () => (seen.released = true));
        return { seen, source };
      },
      'a quiet async iterator': () => {
        const seen = { released: false };
        let calls = 0;
        const iterator = {
          next: () => (calls++ === 0 ? Promise.resolve({ done: false, value: first }) : new Promise(() => {})),
          return: () => {
            seen.released = true;
            return Promise.resolve({ done: true });
          },
        };
        return { seen, source: { [Symbol.asyncIterator]: () => iterator } };
      },
    };
    for (const [kind, make] of Object.entries(kinds)) {
      const { seen, source } = make();
      const events = [];
      const p = createParser({
        onEvent: (ev) => {
          events.push(ev.data);
          // After the callback, before the next read settles (a source that
          // always has a chunk ready never lets a timer run).
          if (events.length === 1) queueMicrotask(() => p.close());
        },
      });
      await p.readFrom(source);  // resolves: neither hangs nor rejects
      assert.equal(p.closed, true, kind);
      assert.equal(events[0], '1', kind);
      // The source is let go at close(), or soon after (a Node stream's
      // 'close' comes on a later tick).
      for (let i = 0; i < 20 && !seen.released; ++i) await new Promise((resolve) => setImmediate(resolve));
      assert.equal(seen.released, true, `${kind}: not released`);
    }
  });

  // A long source holds nothing per chunk: racing each read against one
  // promise that lives as long as the source (close()'s) piled a reaction
  // per chunk on it, about 100 bytes each.
  it('readFrom() keeps no memory per chunk of a long source', { timeout: 60000 }, async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc');
    const heap = () => (gc(), process.memoryUsage().heapUsed);
    let start = 0;
    let grown = 0;
    async function* chunks() {
      for (let i = 0; i < 300_000; ++i) {
        if (i === 10_000) start = heap();
        if (i === 290_000) grown = heap() - start;
        yield ':\n';
      }
    }
    let comments = 0;
    await createParser({ onComment: () => ++comments }).readFrom(chunks());
    assert.equal(comments, 300_000);
    assert.ok(grown < 4 * 2 ** 20, `the heap grew ${grown} bytes over 280,000 chunks`);
  });

  // Other fetch implementations' Responses (undici's own, node-fetch's, another realm's)
  // are not this realm's Response class: read by their shape, as stream() and the EventSource do.
  it('readFrom() takes a Response of another fetch implementation', async () => {
    const { Response: OtherResponse } = await import('undici');
    const response = new OtherResponse('data: other\n\n');
    assert.equal(response instanceof Response, false);
    const events = [];
    await createParser({ onEvent: (ev) => events.push(ev.data) }).readFrom(response);
    assert.deepEqual(events, ['other']);
  });

  it('memoryBytes is 0 once closed, as documented', () => {
    const p = createParser();
    p.feed('data: x\n\n');
    p.close();
    assert.equal(p.memoryBytes, 0);
  });

  // A chunk over 256 KiB goes to the core in pieces (parser.cjs FEED_PIECE).
  // Whatever the cut, one feed() of a whole recording must give what the
  // same bytes give in small chunks: lines, CRLF pairs and UTF-8 characters
  // across the pieces' ends, an error's offset, a close() from a callback.
  describe('one feed() of a chunk larger than a piece', () => {
    const utf8 = new TextEncoder();
    // 1.5 MiB: events of every size from 1 to 1,500 bytes, CRLF and CR line
    // ends, two- and four-byte characters, ids and types, comments.
    const recording = () => {
      let text = '\ufeff';
      for (let i = 0; text.length < 1.5 * 2 ** 20; ++i) {
        const eol = ['\n', '\r\n', '\r'][i % 3];
        text += `: c${i}${eol}id: ${i}${eol}event: t${i % 7}${eol}data: ${'é😀x'.repeat(i % 500)}${eol}data: ${i}${eol}${eol}`;
      }
      return text;
    };
    const parse = (chunks, options = {}) => {
      const seen = [];
      const p = createParser({ ...options, onEvent: (e) => seen.push(e), onComment: (c) => seen.push(c) });
      for (const c of chunks) p.feed(c);
      p.finish();
      p.close();
      return seen;
    };
    const inSmallChunks = (bytes, n) => Array.from({ length: Math.ceil(bytes.length / n) }, (_, i) => bytes.subarray(i * n, (i + 1) * n));

    it('gives the events and comments small chunks give, as bytes and as a string', () => {
      const text = recording();
      const bytes = utf8.encode(text);
      const expected = parse(inSmallChunks(bytes, 4093));
      assert.ok(expected.length > 2000);
      assert.deepEqual(parse([bytes]), expected);
      assert.deepEqual(parse([text]), expected);
      // A piece's end inside a CRLF pair and inside a character, at every
      // offset near the first cut.
      for (let shift = 1; shift <= 4; ++shift) assert.deepEqual(parse([bytes.subarray(0, shift), bytes.subarray(shift)]), expected);
    });

    it('an error in a later piece has the offset small chunks give, after the same events', () => {
      const bytes = utf8.encode(`${recording()}data: ${'z'.repeat(5000)}\n\n`);
      const run = (chunks) => {
        const ids = [];
        const p = createParser({ maxLineLength: 4096, onEvent: (e) => ids.push(e.lastEventId) });
        let offset = -1;
        try {
          for (const c of chunks) p.feed(c);
        } catch (e) {
          assert.equal(e.code, 'line_too_long');
          offset = e.offset;
        } finally {
          p.close();
        }
        return { ids, offset };
      };
      const whole = run([bytes]);
      assert.ok(whole.offset > 1.5 * 2 ** 20, `offset ${whole.offset}`);
      assert.deepEqual(whole, run(inSmallChunks(bytes, 4093)));
    });

    it('a callback that closes the parser stops it: no later piece is read', () => {
      const bytes = utf8.encode('data: x\n\n'.repeat(2 ** 17));  // 1.1 MiB
      let events = 0;
      const p = createParser({
        onEvent: () => {
          if (++events === 3) p.close();
        },
      });
      p.feed(bytes);
      assert.equal(events, 3);
      assert.equal(p.closed, true);
    });

    it('reads the bytes the array holds whatever its length property says, and stops', () => {
      const bytes = utf8.encode('data: y\n\n'.repeat(2 ** 16));  // 576 KiB
      Object.defineProperty(bytes, 'length', { value: 2 ** 50 });
      let events = 0;
      const p = createParser({ onEvent: () => ++events });
      p.feed(bytes);
      p.close();
      assert.equal(events, 2 ** 16);
    });
  });
});

// As the core's set_last_event_id (errc::invalid_event_id) and the
// serializer: an id the format can't carry is refused, before or after the
// parser has its instance, and the id in force stays (a helper's probe: it
// was taken, and a relay's serializeEvent() failed on it later).
describe('parser: lastEventId', () => {
  for (const attached of [false, true]) {
    it(`refuses CR, LF and NUL${attached ? ' once the parser has fed' : ' before the first feed()'}`, () => {
      const ids = [];
      const p = createParser({ onEvent: (e) => ids.push(e.lastEventId) });
      if (attached) p.feed(': attach\n');
      p.lastEventId = 'ok';
      for (const bad of ['a\nb', 'a\rb', 'a\0b', '\n\n']) {
        assert.throws(() => { p.lastEventId = bad; }, { name: 'TypeError', code: 'invalid_event_id', message: /must not contain CR, LF or NUL/ });
      }
      assert.equal(p.lastEventId, 'ok');
      p.feed('data: x\n\n');
      assert.deepEqual(ids, ['ok']);
      p.close();
    });
  }
});

// A probe's findings on what feed() is given.
describe('parser: feed() input', () => {
  it('a detached buffer (transferred away) is an empty chunk, as WebIDL reads one, not V8\'s own error', () => {
    const events = [];
    const p = createParser({ onEvent: (e) => events.push(e.data) });
    const detach = (buffer) => structuredClone(buffer, { transfer: [buffer] });
    const u8 = new Uint8Array(16);
    const big = new Uint8Array(300_000);
    const view = new DataView(new ArrayBuffer(8));
    const ab = new ArrayBuffer(8);
    for (const b of [u8.buffer, big.buffer, view.buffer, ab]) detach(b);
    for (const chunk of [u8, big, view, ab]) p.feed(chunk);
    p.feed('data: x\n\n');
    assert.deepEqual(events, ['x']);
    p.close();
  });

  it('a chunk of the wrong type is refused with what it was', () => {
    const p = createParser({});
    assert.throws(() => p.feed(5), { name: 'TypeError', message: /takes a Uint8Array .* or a string, got number 5$/ });
    assert.throws(() => p.feed(null), { name: 'TypeError', message: /got null$/ });
    p.close();
  });
});
