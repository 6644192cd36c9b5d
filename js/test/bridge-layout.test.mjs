// The parser module's layout, read straight from its header (the flat C ABI
// of wasm/bridge_parser.cpp, as js/src/parser.cjs reads it), for what the
// delivered events cannot show: which text a string went to, where the
// other text is cut (cut_finder, whose WASM SIMD path the native
// tests/bridge_encoder_test.cpp does not run), and which strings went to
// JS through ssekit_take. A wrong choice in any of these still delivers the
// right events, only slower or with more memory.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';

const require = createRequire(import.meta.url);
const wasm = require('../src/wasm.cjs');
// The generated values go by position (a bundle carries no names); the
// generator names each in a comment.
const read = (file) => fs.readFileSync(new URL(file, import.meta.url), 'utf8');
const generatedNames = [...read('../dist/bridge-abi.cjs').matchAll(/^ {4}\d+, {2}\/\/ (\w+)$/gm)].map((m) => m[1]);
const abi = Object.fromEntries(generatedNames.map((name, i) => [name, wasm.abi()[0][i]]));
const PARSER = wasm.defineModule('dist/ssekit-parser-wasm.cjs', () => require('../dist/ssekit-parser-wasm.cjs'));
const utf8 = new TextEncoder();
const MiB = 2 ** 20;

// A parser of its own instance, without limits; feed() returns the call's
// header words that matter here, the cuts, and how many strings were taken.
function rawParser() {
  const core = wasm.acquire(PARSER);
  const x = core.exports;
  const handle = x.ssekit_parser_create(0xffffffff, 0xffffffff);
  const h = x.ssekit_parser_header(handle) >>> 2;
  return {
    feed(bytes) {
      core.taken.length = 0;
      const [ptr, len] = wasm.stage(core, bytes);
      const status = x.ssekit_parser_feed(handle, ptr, len);
      const u32 = core.words();
      const cuts = Array.from(u32.subarray(u32[h + abi.HEADER_CUTS_PTR] >>> 2, (u32[h + abi.HEADER_CUTS_PTR] >>> 2) + u32[h + abi.HEADER_CUTS_COUNT]));
      const records = Array.from(u32.subarray(u32[h + abi.HEADER_RECORDS] >>> 2, (u32[h + abi.HEADER_RECORDS] >>> 2) + u32[h + abi.HEADER_WORDS]));
      const taken = core.taken.length;
      core.taken.length = 0;
      return { status, asciiLen: u32[h + abi.HEADER_ASCII_LEN], wideLen: u32[h + abi.HEADER_WIDE_LEN], cuts, records, taken };
    },
    close() {
      x.ssekit_parser_free(handle);
      wasm.release(core);
    },
  };
}

// cut_finder's rule, byte by byte: a cut where a run of 256 or more ASCII
// bytes that follows a byte >= 0x80 in the current piece is itself followed by one.
function expectedCuts(text) {
  const cuts = [];
  let runStart = -1;  // -1: not in a run
  let slow = false;
  for (let i = 0; i < text.length; ++i) {
    if (text[i] >= 0x80) {
      if (slow && runStart >= 0 && i - runStart >= 256) cuts.push(runStart);
      slow = true;
      runStart = -1;
    } else if (runStart < 0) {
      runStart = i;
    }
  }
  return cuts;
}

// Deterministic (a fixed linear congruential generator).
function random(seed) {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

describe('bridge layout (the parser module\'s header)', () => {
  it('parser.cjs takes the generated values in their order, each by its name', () => {
    assert.equal(generatedNames.length, wasm.abi()[0].length);
    assert.ok(generatedNames.includes('HEADER_CUTS_PTR') && generatedNames.includes('DEFAULT_MAX_EVENT_SIZE'), generatedNames.join());
    const list = /const \[\[([\s\S]*?)\]\] = wasm\.abi\(\);/.exec(read('../src/parser.cjs'));
    assert.ok(list !== null, "parser.cjs's list of the values");
    const taken = list[1].replace(/\/\/.*$/gm, '').split(',').map((name) => name.trim()).filter((name) => name !== '');
    assert.deepEqual(taken, generatedNames);
  });

  it('ASCII strings go to the ASCII text, others to the other text, at every length and alignment', () => {
    const p = rawParser();
    try {
      for (let n = 1; n <= 70; ++n) {
        for (const at of [0, n >> 1, n - 1]) {
          const ascii = 'a'.repeat(n);
          let r = p.feed(`data: ${ascii}\n\n`);
          assert.deepEqual([r.asciiLen, r.wideLen], [n, 0], `${n} ASCII bytes`);
          const wide = utf8.encode(ascii.slice(0, at) + 'é' + ascii.slice(at + 1));
          r = p.feed(Uint8Array.from([...utf8.encode('data: '), ...wide, 10, 10]));
          assert.deepEqual([r.asciiLen, r.wideLen], [0, wide.length], `é at ${at} of ${n}`);
        }
      }
    } finally {
      p.close();
    }
  });

  it('cuts the other text where cut_finder\'s rule says, at every alignment', () => {
    const p = rawParser();
    const next = random(12345);
    const pieces = ['é', '😀', '日', 'ü'];
    try {
      for (let round = 0; round < 300; ++round) {
        // Non-ASCII characters with ASCII runs of 250 to 262 bytes (around
        // the 256 that makes a cut), or short ones, between them.
        let data = pieces[next(4)];
        const parts = 2 + next(6);
        for (let k = 0; k < parts; ++k) {
          const run = next(3) === 0 ? next(40) : 250 + next(13);
          data += 'b'.repeat(run) + pieces[next(4)];
        }
        data += 'c'.repeat(next(20));
        const text = utf8.encode(data);
        const r = p.feed(`data: ${data}\n\n`);
        assert.equal(r.wideLen, text.length);
        assert.deepEqual(r.cuts, expectedCuts(text), `round ${round}`);
      }
    } finally {
      p.close();
    }
  });

  it('strings of 1 MiB or more, and only those, are taken (data, a long type, an id)', () => {
    const p = rawParser();
    try {
      for (const [field, prefix] of [['data', 'data: '], ['type', 'event: '], ['id', 'id: ']]) {
        for (const size of [MiB - 1, MiB]) {
          const r = p.feed(`${prefix}${'z'.repeat(size)}\n${field === 'data' ? '' : 'data: x\n'}\n`);
          assert.equal(r.status, 0);
          assert.equal(r.taken, size >= MiB ? 1 : 0, `${field} of ${size} bytes`);
          assert.equal(r.asciiLen, (size >= MiB ? 0 : size) + (field === 'data' ? 0 : 1), `${field} of ${size} bytes`);
        }
      }
    } finally {
      p.close();
    }
  });
});
