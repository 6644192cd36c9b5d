// ssekit's parser against eventsource-parser (the most used JS SSE parser)
// on the same bytes, in one Node run.
//
//   node bench/parser-bench.mjs [options]            (from js/; `npm run bench`)
//
//   --workloads llm,feed,big,crlf  which workloads (bench/workloads.cpp)
//   --size BYTES                   bytes per workload (default 16 MiB)
//   --chunk BYTES|event            chunk size, like network reads (default 64 KiB);
//                                  event: one chunk per event (an LLM token per read)
//   --reps N                       timed runs per parser and workload (default 15)
//   --warmup N                     untimed runs first, for the JIT (default 3)
//   --min-ratio llm=1.5,feed=2     exit 1 if ours/theirs (MB/s) is below a floor
//   --flatten                      also make every data string flat (see `flatten`)
//   --bin PATH                     the bench-workload binary (or SSEKIT_BENCH_WORKLOAD);
//                                  default <repo>/build/release/bench/bench-workload:
//                                  cmake --preset release && cmake --build --preset release
//
// Both parsers get the same Uint8Array chunks. eventsource-parser takes
// strings, so its chunks go through a streaming TextDecoder first, inside its
// timing: that is part of its real job, as turning bytes into strings is part
// of ours. Both callbacks read every event's data string (count and total
// length), and the totals must match each other and bench-workload --info, so
// neither side can skip work. The parsers alternate (which one goes first
// changes every rep) and the median of each is compared; best is shown too.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { createParser as createTheirs } from 'eventsource-parser';

const require = createRequire(import.meta.url);
const { createParser: createOurs } = require('../src/index.cjs');

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MiB = 1024 * 1024;

function fail(message) {
  console.error(`parser-bench: ${message}`);
  process.exit(2);
}

function positiveInt(text, what) {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) fail(`${what} must be a positive integer, got '${text}'`);
  return n;
}

function parseArgs(argv) {
  const opts = {
    workloads: ['llm', 'feed', 'big', 'crlf'],
    size: 16 * MiB,
    chunk: 64 * 1024,
    reps: 15,
    warmup: 3,
    flatten: false,
    minRatio: new Map(),
    bin: process.env.SSEKIT_BENCH_WORKLOAD || resolve(root, 'build/release/bench/bench-workload'),
  };
  for (let i = 0; i < argv.length; ++i) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = () => (inline !== undefined ? inline : i + 1 < argv.length ? argv[++i] : fail(`${flag} needs a value`));
    switch (flag) {
      case '--workloads': opts.workloads = value().split(',').filter(Boolean); break;
      case '--size': opts.size = positiveInt(value(), '--size'); break;
      case '--chunk': { const v = value(); opts.chunk = v === 'event' ? v : positiveInt(v, '--chunk'); break; }
      case '--reps': opts.reps = positiveInt(value(), '--reps'); break;
      case '--warmup': opts.warmup = Number(value()); if (!Number.isInteger(opts.warmup) || opts.warmup < 0) fail('--warmup must be a non-negative integer'); break;
      case '--bin': opts.bin = resolve(value()); break;
      case '--flatten': opts.flatten = true; break;
      case '--min-ratio':
        for (const item of value().split(',').filter(Boolean)) {
          const [name, floor] = item.split('=');
          const x = Number(floor);
          if (!name || !(x > 0)) fail(`--min-ratio takes name=number,..., got '${item}'`);
          opts.minRatio.set(name, x);
        }
        break;
      case '--help': case '-h':
        console.log('usage: node bench/parser-bench.mjs [--workloads a,b] [--size BYTES] [--chunk BYTES|event] [--reps N] [--warmup N] [--flatten] [--min-ratio name=x,...] [--bin PATH]');
        process.exit(0);
        break;
      default: fail(`unknown option '${argv[i]}' (see --help)`);
    }
  }
  for (const name of opts.minRatio.keys()) {
    if (!opts.workloads.includes(name)) fail(`--min-ratio names '${name}', which is not among the workloads`);
  }
  return opts;
}

function runBin(bin, args, maxBuffer) {
  const r = spawnSync(bin, args, { maxBuffer, encoding: 'buffer' });
  if (r.error) fail(`${bin}: ${r.error.message}`);
  if (r.status !== 0) fail(`${bin} ${args.join(' ')} exited with ${r.status}: ${r.stderr.toString().trim()}`);
  return r.stdout;
}

// [from, to) of each event: cut after every line end that ends an empty
// line (LF, CRLF or CR), so each chunk ends with its event's dispatch.
function eventSpans(bytes) {
  const spans = [];
  let from = 0;
  let lineStart = 0;
  for (let i = 0; i < bytes.length; ++i) {
    const b = bytes[i];
    if (b !== 0x0a && b !== 0x0d) continue;
    const empty = i === lineStart;
    if (b === 0x0d && bytes[i + 1] === 0x0a) ++i;
    lineStart = i + 1;
    if (empty) {
      spans.push([from, i + 1]);
      from = i + 1;
    }
  }
  if (from < bytes.length) spans.push([from, bytes.length]);
  return spans;
}

function loadWorkload(opts, name) {
  const bytes = runBin(opts.bin, [name, String(opts.size)], opts.size + 16 * MiB);
  const info = JSON.parse(runBin(opts.bin, ['--info', name, String(opts.size)], MiB).toString());
  if (info.bytes !== bytes.length) fail(`${name}: got ${bytes.length} bytes, --info says ${info.bytes}`);
  // Separate buffers, as network reads are.
  const chunks = [];
  if (opts.chunk === 'event') {
    for (const [from, to] of eventSpans(bytes)) chunks.push(new Uint8Array(bytes.subarray(from, to)));
  } else {
    for (let at = 0; at < bytes.length; at += opts.chunk) chunks.push(new Uint8Array(bytes.subarray(at, at + opts.chunk)));
  }
  return { name, bytes: bytes.length, events: info.events, chunks };
}

// --flatten: a rope (a string joined from pieces, which both parsers make
// for multi-line data) is copied into one string when a consumer first reads
// its characters; indexOf() does that, so that cost is counted too.
let flatten = false;

// Each run returns [milliseconds, events, total data length in UTF-16 units].
function runOurs(chunks) {
  let events = 0;
  let length = 0;
  const start = performance.now();
  const parser = createOurs({
    onEvent(ev) {
      ++events;
      length += ev.data.length;
      if (flatten) ev.data.indexOf('\0');
    },
  });
  for (const chunk of chunks) parser.feed(chunk);
  parser.finish();
  parser.close();
  return [performance.now() - start, events, length];
}

function runTheirs(chunks) {
  let events = 0;
  let length = 0;
  const start = performance.now();
  const decoder = new TextDecoder();
  const parser = createTheirs({
    onEvent(ev) {
      ++events;
      length += ev.data.length;
      if (flatten) ev.data.indexOf('\0');
    },
  });
  for (const chunk of chunks) parser.feed(decoder.decode(chunk, { stream: true }));
  parser.feed(decoder.decode());
  return [performance.now() - start, events, length];
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function measure(w, reps, warmup) {
  const runners = [['ssekit', runOurs], ['eventsource-parser', runTheirs]];
  const times = new Map(runners.map(([name]) => [name, []]));
  // The first `warmup` reps let the JIT settle; they are checked, not timed.
  for (let rep = 0; rep < warmup + reps; ++rep) {
    const order = rep % 2 ? [runners[1], runners[0]] : runners;
    const seen = [];
    for (const [name, run] of order) {
      const [ms, events, length] = run(w.chunks);
      seen.push({ name, events, length });
      if (rep >= warmup) times.get(name).push(ms);
    }
    const [a, b] = seen;
    if (a.events !== b.events || a.length !== b.length || a.events !== w.events) {
      fail(`${w.name}: the parsers disagree: ${a.name} ${a.events} events / ${a.length} chars, ` +
        `${b.name} ${b.events} events / ${b.length} chars, bench-workload says ${w.events} events`);
    }
  }
  return Object.fromEntries([...times].map(([name, ms]) => [name, { median: median(ms), best: Math.min(...ms) }]));
}

const opts = parseArgs(process.argv.slice(2));
flatten = opts.flatten;
if (!existsSync(opts.bin)) {
  fail(`no bench-workload binary at ${opts.bin}\n` +
    '  build it: cmake --preset release && cmake --build --preset release (in the repo root)\n' +
    '  or pass --bin PATH / set SSEKIT_BENCH_WORKLOAD');
}

const mbps = (bytes, ms) => bytes / 1e6 / (ms / 1000);  // MB = 10^6 bytes, as in bench/
const fmt = (x, digits = 1) => x.toFixed(digits).padStart(8);
console.log(`# node ${process.version}; chunks of ${opts.chunk === 'event' ? 'one event' : `${opts.chunk} B`}; ${opts.reps} reps; MB/s (MB = 10^6 B) and events/s: ` +
  `median (best); ratio = ssekit / eventsource-parser, of the medians${flatten ? '; --flatten' : ''}`);
console.log(`${'workload'.padEnd(8)} ${'MiB'.padStart(5)} ${'events'.padStart(8)}  ` +
  `${'ssekit MB/s'.padStart(18)} ${'ev/s'.padStart(10)}  ${'e-p MB/s'.padStart(18)} ${'ev/s'.padStart(10)}  ${'ratio'.padStart(6)}`);
let below = 0;
for (const name of opts.workloads) {
  const w = loadWorkload(opts, name);
  const r = measure(w, opts.reps, opts.warmup);
  const ours = r.ssekit;
  const theirs = r['eventsource-parser'];
  const ratio = theirs.median / ours.median;
  const floor = opts.minRatio.get(name);
  const flag = floor !== undefined && ratio < floor ? `  BELOW ${floor}` : '';
  if (flag) ++below;
  const col = (t) => `${fmt(mbps(w.bytes, t.median))} (${fmt(mbps(w.bytes, t.best)).trim().padStart(7)}) ${fmt(w.events / (t.median / 1000), 0).padStart(10)}`;
  console.log(`${name.padEnd(8)} ${(w.bytes / MiB).toFixed(1).padStart(5)} ${String(w.events).padStart(8)}  ` +
    `${col(ours)}  ${col(theirs)}  ${ratio.toFixed(2).padStart(5)}x${flag}`);
}
if (below > 0) {
  console.error(`parser-bench: ${below} workload(s) below the --min-ratio floor`);
  process.exit(1);
}
