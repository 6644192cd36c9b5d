// Node end to end: ssekit's EventSource and stream() against the
// `eventsource` package and undici's EventSource, over HTTP from the same
// local server in another process (bench/sse-server.mjs), plus the floor:
// fetch() + a streaming TextDecoder over the same bytes, no parsing.
//
//   node bench/eventsource-bench.mjs [options]     (from js/; npm run bench:e2e)
//
//   --workloads llm,feed,big,crlf  which workloads (bench/workloads.cpp)
//   --size BYTES                   bytes per workload (default 8 MiB)
//   --reps N                       timed runs per client and workload (default 7)
//   --warmup N                     untimed runs first (default 2)
//   --bin PATH                     bench-workload (or SSEKIT_BENCH_WORKLOAD); default
//                                  <repo>/build/release/bench/bench-workload
//   --full-gc                      a full collection before each run (see collectGarbage)
//
// Clients run interleaved (the order rotates every rep); each run is one
// connection, from construction to the last event. Every client must see the
// workload's event count (bench-workload --info) and the same total data
// length, so none can skip work. Prints MB/s (medians) and the ratios to
// `eventsource` and to the floor, by wall-clock time and by this process's
// CPU time (process.cpuUsage(): the client's whole work, fetch included,
// the server's not), which a machine shared with other work disturbs far
// less than the wall clock. Profiling: `npm run build:profile` keeps the
// WebAssembly name section, then `node --cpu-prof bench/eventsource-bench.mjs`.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const ssekit = require('../src/index.cjs');
const { EventSource: TheirEventSource } = require('eventsource');
const { EventSource: UndiciEventSource } = require('undici');

// A young-generation collection before every run, so no client pays for
// the garbage of the one before it (the clients run interleaved in one
// heap). Not a full one: with no event object alive, a full collection
// drops the hidden classes (maps) of every client's events and listeners,
// so V8 throws away the optimized code of each EventSource (ours,
// `eventsource`, undici: Node's Event and dispatchEvent) and every timed
// run started cold: that measured re-optimization, not throughput (ours on
// llm: 80 ms of CPU per run instead of 44; the floor, which makes no
// events, 38 instead of 29). --full-gc measures that way.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
const collectGarbage = () => gc(opts.fullGc ? undefined : { type: 'minor' });

// undici prints an ExperimentalWarning for its EventSource; the table is the output.
process.removeAllListeners('warning');

const MiB = 2 ** 20;

function fail(message) {
  console.error(`eventsource-bench: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const opts = {
    workloads: ['llm', 'feed', 'big', 'crlf'],
    size: 8 * MiB,
    reps: 7,
    warmup: 2,
    bin: process.env.SSEKIT_BENCH_WORKLOAD || resolve(here, '../../build/release/bench/bench-workload'),
    fullGc: false,
  };
  for (let i = 0; i < argv.length; ++i) {
    const value = argv[i + 1];
    const count = (v) => {
      if (!/^\d+$/.test(v ?? '')) fail(`${argv[i]} takes a number`);
      return Number(v);
    };
    switch (argv[i]) {
      case '--workloads': opts.workloads = (value ?? '').split(','); ++i; break;
      case '--size': opts.size = count(value); ++i; break;
      case '--reps': opts.reps = Math.max(1, count(value)); ++i; break;
      case '--warmup': opts.warmup = count(value); ++i; break;
      case '--bin': opts.bin = value; ++i; break;
      case '--full-gc': opts.fullGc = true; break;
      default: fail(`unknown option ${argv[i]}`);
    }
  }
  return opts;
}

// Resolves with {events, length} once `expected` events arrived; rejects
// when the stream fails or ends first. `make` builds the EventSource.
function viaEventSource(make, url, w) {
  return new Promise((resolve, reject) => {
    let events = 0;
    let length = 0;
    const source = make(url);
    const onEvent = (e) => {
      ++events;
      length += e.data.length;
      if (events === w.events) {
        source.close();
        resolve({ events, length });
      }
    };
    for (const type of w.types) source.addEventListener(type, onEvent);
    source.onerror = () => {
      source.close();
      reject(new Error(`error after ${events} of ${w.events} events`));
    };
  });
}

async function viaStream(url) {
  let events = 0;
  let length = 0;
  for await (const e of ssekit.stream(url)) {
    ++events;
    length += e.data.length;
  }
  return { events, length };
}

// The floor: the same bytes through fetch() and a streaming TextDecoder.
async function viaFetch(url) {
  const response = await fetch(url);
  const decoder = new TextDecoder();
  let length = 0;
  for await (const chunk of response.body) length += decoder.decode(chunk, { stream: true }).length;
  length += decoder.decode().length;
  return { events: null, length };
}

const clients = [
  ['ssekit EventSource', (url, w) => viaEventSource((u) => new ssekit.EventSource(u), url, w)],
  ['ssekit stream()', (url) => viaStream(url)],
  ['eventsource', (url, w) => viaEventSource((u) => new TheirEventSource(u), url, w)],
  ['undici EventSource', (url, w) => viaEventSource((u) => new UndiciEventSource(u), url, w)],
  ['fetch+TextDecoder', (url) => viaFetch(url)],
];

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function startServer(opts) {
  const child = spawn(process.execPath, [resolve(here, 'sse-server.mjs'), opts.bin, String(opts.size), opts.workloads.join(',')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise((resolvePort, reject) => {
    child.once('exit', (code) => reject(new Error(`the server exited with ${code}`)));
    child.stdout.once('data', (d) => resolvePort(Number(String(d).trim())));
  });
  return { child, origin: `http://127.0.0.1:${port}` };
}

const opts = parseArgs(process.argv.slice(2));
if (!existsSync(opts.bin)) {
  fail(`no bench-workload binary at ${opts.bin}\n  build it: cmake --preset release && cmake --build --preset release --target bench-workload`);
}
const workloads = opts.workloads.map((name) => {
  const info = JSON.parse(spawnSync(opts.bin, ['--info', name, String(opts.size)], { encoding: 'utf8' }).stdout);
  const body = spawnSync(opts.bin, [name, String(opts.size)], { maxBuffer: opts.size + 16 * MiB, encoding: 'latin1' }).stdout;
  // The event types the stream uses, so every EventSource listens to all.
  const types = new Set(['message']);
  for (const m of body.matchAll(/^event: ?([^\r\n]*)/gm)) types.add(m[1] === '' ? 'message' : m[1]);
  return { name, bytes: info.bytes, events: info.events, types: [...types] };
});

const server = await startServer(opts);
const mbps = (bytes, ms) => bytes / 1e6 / (ms / 1000);
console.log(`# node ${process.version}; ${opts.reps} reps (+${opts.warmup} warm-up), interleaved, ${opts.fullGc ? 'full' : 'young-generation'} GC before each; MB/s (MB = 10^6 B), medians; ` +
  `eventsource ${require('eventsource/package.json').version}, undici ${require('undici/package.json').version}`);
console.log('# wall: MB/s by wall-clock time; cpu: MB per second of this process\'s CPU time');
console.log(`${'workload'.padEnd(13)} ${'events'.padStart(7)}  ${clients.map(([n]) => n.padStart(19)).join('')}   ours/eventsource (ES, stream)  ours/floor (ES, stream)  stream/ES`);
try {
  for (const w of workloads) {
    const url = `${server.origin}/${w.name}`;
    const times = new Map(clients.map(([n]) => [n, []]));
    const cpuTimes = new Map(clients.map(([n]) => [n, []]));
    for (let rep = 0; rep < opts.warmup + opts.reps; ++rep) {
      const order = clients.map((_, i) => clients[(i + rep) % clients.length]);
      const lengths = new Map();
      for (const [name, run] of order) {
        collectGarbage();
        const start = performance.now();
        const cpuStart = process.cpuUsage();
        let result;
        try {
          result = await run(url, w);
        } catch (e) {
          fail(`${w.name}: ${name}: ${e.message}`);
        }
        const ms = performance.now() - start;
        const cpu = process.cpuUsage(cpuStart);
        if (rep >= opts.warmup) cpuTimes.get(name).push((cpu.user + cpu.system) / 1000);
        if (result.events !== null && result.events !== w.events) fail(`${w.name}: ${name} saw ${result.events} events, bench-workload says ${w.events}`);
        if (result.events !== null) lengths.set(name, result.length);
        if (rep >= opts.warmup) times.get(name).push(ms);
      }
      if (new Set(lengths.values()).size !== 1) fail(`${w.name}: the clients disagree on the data: ${JSON.stringify([...lengths])}`);
    }
    for (const [label, measured] of [['wall', times], ['cpu', cpuTimes]]) {
      const m = Object.fromEntries([...measured].map(([n, t]) => [n, median(t)]));
      const ratio = (a, b) => (m[b] / m[a]).toFixed(2);
      console.log(`${`${w.name} ${label}`.padEnd(13)} ${String(w.events).padStart(7)}  ${clients.map(([n]) => mbps(w.bytes, m[n]).toFixed(1).padStart(19)).join('')}` +
        `   ${ratio('ssekit EventSource', 'eventsource')}x, ${ratio('ssekit stream()', 'eventsource')}x`.padEnd(31) +
        `${ratio('ssekit EventSource', 'fetch+TextDecoder')}x, ${ratio('ssekit stream()', 'fetch+TextDecoder')}x` +
        `${`   ${ratio('ssekit stream()', 'ssekit EventSource')}x`}`);
    }
  }
} finally {
  server.child.stdin.end();
}
