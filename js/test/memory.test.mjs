// WebAssembly memory: a huge event enlarges only its own parser's memory, by
// at most about 3x the event, and close() gives it back. Everything here is
// measured in bytes (parser.memoryBytes, and the engine's external memory
// after a full garbage collection), never in time.
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, it } from 'node:test';

import { createParser, serializeEvent } from '../src/index.mjs';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
v8.setFlagsFromString('--no-expose-gc');

const MiB = 2 ** 20;
const EVENT = 30 * MiB;
const encoder = new TextEncoder();

// WASM memory lives outside the JS heap: process.memoryUsage().external.
async function external() {
  for (let i = 0; i < 3; ++i) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().external;
}

// One event of `size` bytes of data in 64 KiB chunks: one line, or 1 KiB lines.
function* bigEvent(size, lines) {
  if (lines) {
    const chunk = encoder.encode(`data: ${'y'.repeat(1017)}\n`.repeat(64));
    for (let sent = 0; sent < size; sent += 64 * 1024) yield chunk;
    yield encoder.encode('\n');
  } else {
    const chunk = new Uint8Array(64 * 1024).fill(0x78);
    yield encoder.encode('data: ');
    for (let sent = 0; sent < size; sent += chunk.length) yield chunk;
    yield encoder.encode('\n\n');
  }
}

// Feeds the event; returns the largest memoryBytes seen and the events.
function feedBig(parser, events, size, lines) {
  let peak = 0;
  for (const chunk of bigEvent(size, lines)) {
    parser.feed(chunk);
    peak = Math.max(peak, parser.memoryBytes);
  }
  return peak;
}

describe('WebAssembly memory', () => {
  for (const lines of [false, true]) {
    it(`a 30 MiB event (${lines ? '1 KiB lines' : 'one line'}) peaks under 3x its size and close() gives the memory back`, async () => {
      const before = await external();
      const events = [];
      const p = createParser({ maxEventSize: Infinity, maxLineLength: Infinity, onEvent: (e) => events.push(e.data.length) });
      const peak = feedBig(p, events, EVENT, lines);
      assert.equal(events.length, 1);
      assert.ok(events[0] >= 0.95 * EVENT, `event of ${events[0]} bytes`);
      assert.ok(peak <= 3 * EVENT + MiB, `peak ${(peak / MiB).toFixed(1)} MiB of WebAssembly memory for a 30 MiB event`);
      assert.ok(p.memoryBytes >= EVENT, 'the parser reports the memory it holds');
      events.length = 0;
      p.close();
      assert.equal(p.memoryBytes, 0);
      const after = await external();
      assert.ok(after - before < 4 * MiB, `${((after - before) / MiB).toFixed(1)} MiB still held after close()`);
    });
  }

  it("one parser's big event does not enlarge another parser", () => {
    const small = createParser({});
    small.feed('data: x\n\n');
    const big = createParser({ maxEventSize: Infinity, maxLineLength: Infinity });
    feedBig(big, [], 8 * MiB, false);
    assert.ok(small.memoryBytes <= MiB, `${small.memoryBytes} bytes`);
    assert.ok(big.memoryBytes >= 8 * MiB);
    big.close();
    small.close();
  });

  // A chunk was staged whole in WebAssembly memory, and the events it
  // completed were written beside it: one feed() of a 64 MiB recording held
  // 130 MiB until close(). Chunks now go to the core in pieces.
  for (const kind of ['Uint8Array', 'string']) {
    it(`one feed() of 64 MiB of small events (a ${kind}) leaves a few MiB, not the chunk`, () => {
      const event = 'id: 7\ndata: {"token":"abc"}\n\n';
      const text = event.repeat(Math.ceil((64 * MiB) / event.length));
      let events = 0;
      let last = null;
      const p = createParser({
        onEvent: (e) => {
          ++events;
          last = e;
        },
      });
      p.feed(kind === 'string' ? text : encoder.encode(text));
      assert.equal(events, text.length / event.length);
      assert.deepEqual(last, { type: 'message', data: '{"token":"abc"}', lastEventId: '7' });
      assert.ok(p.memoryBytes <= 4 * MiB, `${(p.memoryBytes / MiB).toFixed(1)} MiB of WebAssembly memory after one 64 MiB chunk`);
      p.close();
    });
  }

  it('events with long types, each different, do not ratchet up (the type cache keeps short types only)', () => {
    const p = createParser({ maxLineLength: Infinity, onEvent: () => {} });
    const sizes = [];
    for (let i = 0; i < 10; ++i) {
      p.feed(`event: ${String.fromCharCode(97 + i)}${'x'.repeat(MiB)}\ndata: a\n\n`);
      sizes.push(p.memoryBytes);
    }
    p.close();
    // Eight slots each kept their 1 MiB type: +1 MiB per new one, up to 8.
    assert.equal(sizes.at(-1), sizes[1], `memory after each event: ${sizes.map((s) => (s / MiB).toFixed(1)).join(', ')} MiB`);
  });

  it('the JS side keeps no long type either (8 different 4 MiB types)', () => {
    const heapUsed = () => {
      gc();
      return process.memoryUsage().heapUsed;
    };
    let events = 0;
    const p = createParser({ maxLineLength: Infinity, maxEventSize: Infinity, onEvent: () => ++events });
    const before = heapUsed();
    // Eight different 4 MiB types, one per slot of the type cache.
    for (let i = 0; i < 8; ++i) p.feed(`event: ${String.fromCharCode(97 + i)}${'x'.repeat(4 * MiB)}\ndata: a\n\n`);
    p.feed('event: short\ndata: a\n\nevent: short\ndata: b\n\n');
    const grown = heapUsed() - before;
    assert.equal(events, 10);
    // Each slot held its 4 MiB type for the parser's life: 32 MiB.
    assert.ok(grown < 4 * MiB, `the open parser holds ${(grown / MiB).toFixed(1)} MiB more of JS heap`);
    p.close();
  });

  // A long type or id went through the texts (a copy), and an id had a
  // second copy kept to compare the next event's with (and in one chunk a
  // third, by the core): 8 MiB left 33 MiB (type) and 25 MiB (id) in 64 KiB
  // chunks, 32 and 40 MiB in one chunk. Now they go to JS without a copy,
  // as data does.
  for (const field of ['event', 'id']) {
    for (const chunked of [true, false]) {
      it(`an 8 MiB ${field === 'event' ? 'event type' : 'id'} (${chunked ? '64 KiB chunks' : 'one chunk'}) costs no more memory than data`, () => {
        const size = 8 * MiB;
        const seen = [];
        const p = createParser({ maxEventSize: Infinity, maxLineLength: Infinity, onEvent: (e) => seen.push(`${e.type.length} ${e.data} ${e.lastEventId.length}`) });
        let peak = 0;
        const value = new Uint8Array(size).fill(0x78);
        if (chunked) {
          p.feed(`${field}: `);
          for (let at = 0; at < size; at += 64 * 1024) {
            p.feed(value.subarray(at, at + 64 * 1024));
            peak = Math.max(peak, p.memoryBytes);
          }
          p.feed('\ndata: a\n\n');
        } else {
          const head = encoder.encode(`${field}: `);
          const tail = encoder.encode('\ndata: a\n\n');
          const chunk = new Uint8Array(head.length + size + tail.length);
          chunk.set(head);
          chunk.set(value, head.length);
          chunk.set(tail, head.length + size);
          p.feed(chunk);
        }
        peak = Math.max(peak, p.memoryBytes);
        p.feed('data: b\n\n');
        const long = field === 'event' ? [`${size} a 0`, '7 b 0'] : [`7 a ${size}`, `7 b ${size}`];
        assert.deepEqual(seen, long);
        // feed() hands the core a chunk 256 KiB at a time, so a field in
        // one chunk costs about what it does in 64 KiB chunks (9.1-9.7 MiB:
        // the core's own copy of it); 2x is the bound.
        assert.ok(peak <= 2 * size + MiB, `${(peak / MiB).toFixed(1)} MiB of WebAssembly memory for an 8 MiB ${field}`);
        p.close();
      });
    }
  }

  it('a long-lived stream of big events does not ratchet up', () => {
    const p = createParser({ maxEventSize: Infinity, maxLineLength: Infinity });
    const sizes = [];
    for (let i = 0; i < 6; ++i) {
      feedBig(p, [], 8 * MiB, i % 2 === 1);
      p.feed('data: small\n\n');
      sizes.push(p.memoryBytes);
    }
    p.close();
    // Memory only grows for a larger need; the same need again reuses it.
    assert.equal(sizes.at(-1), sizes[1], `memory after each event: ${sizes.map((s) => (s / MiB).toFixed(1)).join(', ')} MiB`);
    // 3x the event, plus the instance's first MiB.
    assert.ok(sizes.at(-1) <= 3 * 8 * MiB + MiB, `${sizes.at(-1)} bytes`);
  });

  // WebAssembly memory can't shrink: without this a long-lived EventSource
  // held its largest event's memory across every later reconnect (a
  // helper's probe: 16 MiB after 29 reconnects of 5-byte events).
  it('reset() (a reconnect) gives back the memory a big event took, and keeps the id', async () => {
    const ids = [];
    const p = createParser({ maxEventSize: Infinity, maxLineLength: Infinity, onEvent: (e) => ids.push(e.lastEventId) });
    p.feed('id: 7\n');
    feedBig(p, [], 8 * MiB, false);
    assert.ok(p.memoryBytes > 8 * MiB, `${p.memoryBytes} bytes`);
    const held = await external();
    p.reset();
    assert.equal(p.lastEventId, '7');
    const after = await external();
    assert.ok(held - after >= 8 * MiB, `${((held - after) / MiB).toFixed(1)} MiB given back`);
    p.feed('data: small\n\n');
    assert.ok(p.memoryBytes <= MiB, `${p.memoryBytes} bytes after the reset`);
    p.reset();
    p.feed('data: again\n\n');
    assert.deepEqual(ids, ['7', '7', '7']);
    p.close();
  });

  it('many short-lived parsers do not accumulate memory', async () => {
    const before = await external();
    for (let i = 0; i < 200; ++i) {
      const p = createParser({});
      p.feed('data: hello\n\n');
      p.close();
    }
    const after = await external();
    assert.ok(after - before < 4 * MiB, `${((after - before) / MiB).toFixed(1)} MiB more after 200 parsers`);
  });

  // The serializers' large instance goes a second after its last use
  // (serializer.cjs): waited for, up to 30 s.
  async function heldAbove(before) {
    let held = (await external()) - before;
    for (let i = 0; i < 300 && held >= 4 * MiB; ++i) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      held = (await external()) - before;
    }
    return held;
  }

  it('a big serialized event does not keep its memory', async () => {
    serializeEvent({ data: 'warm' });
    const before = await external();
    const text = serializeEvent({ data: 'z'.repeat(16 * MiB) });
    assert.equal(text.length, 16 * MiB + 8);
    const held = await heldAbove(before);
    assert.ok(held < 4 * MiB, `${(held / MiB).toFixed(1)} MiB still held`);
  });

  it('a big event the serializer refuses does not keep its memory either', async () => {
    serializeEvent({ data: 'warm' });
    const before = await external();
    assert.throws(() => serializeEvent({ data: 'z'.repeat(16 * MiB), type: 'a\nb' }), { code: 'invalid_event_type' });
    const held = await heldAbove(before);
    assert.ok(held < 4 * MiB, `${(held / MiB).toFixed(1)} MiB still held`);
  });

  it('big events parsed in one synchronous loop do not hold each closed parser\'s memory until it returns', () => {
    // A WeakRef per instance would keep every dropped one alive until the
    // job ends (ECMAScript's kept objects); gc() runs inside the loop.
    const data = 'data: ' + 'q'.repeat(8 * MiB) + '\n\n';
    gc();
    const before = process.memoryUsage().external;
    let most = 0;
    for (let i = 0; i < 6; ++i) {
      let seen = 0;
      const p = createParser({ onEvent: (e) => (seen = e.data.length) });
      p.feed(data);
      assert.equal(seen, 8 * MiB);
      p.close();
      gc();
      most = Math.max(most, process.memoryUsage().external - before);
    }
    assert.ok(most < 32 * MiB, `${(most / MiB).toFixed(0)} MiB held inside the loop`);
  });

  // A string of more than 128 KiB is a large object in V8 (its own mapping,
  // made and unmapped: many times slower per byte). Event data is decoded in
  // pieces below that, also when one character above U+00FF makes a piece
  // take two bytes a character. The event's bytes are built without a big
  // JS string, so nothing else lands in that space meanwhile.
  for (const size of [200 * 1024, 3 * MiB]) {
    it(`the decoded data of a ${size / 1024} KiB event (one character above U+00FF, then ASCII) is no large object`, () => {
      const head = encoder.encode('data: \u20ac');
      const bytes = new Uint8Array(head.length + size + 2).fill(0x61);
      bytes.set(head);
      bytes.set([10, 10], bytes.length - 2);
      const largeObjects = () =>
        v8.getHeapSpaceStatistics().reduce((sum, s) => (s.space_name.endsWith('large_object_space') && !s.space_name.startsWith('code') ? sum + s.space_used_size : sum), 0);
      const kept = [];
      const p = createParser({ onEvent: (e) => kept.push(e.data) });
      gc();
      const before = largeObjects();
      for (let at = 0; at < bytes.length; at += 64 * 1024) p.feed(bytes.subarray(at, at + 64 * 1024));
      gc();
      const grown = largeObjects() - before;
      assert.equal(kept.length, 1);
      assert.equal(kept[0].length, 1 + size);
      assert.equal(kept[0].slice(0, 2), '\u20aca');
      assert.equal(grown, 0, `${grown} bytes of large objects for the event's data`);
      p.close();
    });
  }
});
