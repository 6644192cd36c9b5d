// ssekit's serializeEvent() against the least a JS program can do to write
// the same events: a template literal that splits the data on LF, in one
// Node run (a relay calls serializeEvent once per event it forwards).
//
//   node bench/serializer-bench.mjs [--events N] [--reps N]     (from js/)
//
// The baseline knows nothing of CR, of invalid type or id values, nor of
// lone surrogates; ours goes through the core (every rule, in WebAssembly),
// so the ratio shows what the checks and the trip into WebAssembly cost on
// small events. Before timing, every event's output is compared with the
// baseline's (the sets hold no CR and no lone surrogate, so they must be
// equal), and the timed runs add up the output lengths, which must match,
// so neither side can skip work. The two alternate; medians are compared.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { serializeEvent } = require('../src/index.cjs');

function fail(message) {
  console.error(`serializer-bench: ${message}`);
  process.exit(2);
}

const opts = { events: 200_000, reps: 9 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const name = argv[i].replace(/^--/, '');
  if (!Object.hasOwn(opts, name)) fail(`unknown option ${argv[i]}`);
  const n = Number(argv[i + 1]);
  if (!Number.isInteger(n) || n <= 0) fail(`--${name} takes a positive integer, got '${argv[i + 1]}'`);
  opts[name] = n;
}

// Event sets like the workloads of bench/workloads.cpp: LLM tokens, a feed
// with types and ids, multi-line data, and non-ASCII text.
const sets = {
  llm: (i) => ({ data: `{"choices":[{"delta":{"content":"tok${i % 1000}"}}]}` }),
  feed: (i) => ({ type: 'update', id: String(100000 + i), data: JSON.stringify({ seq: i, price: (i * 7919) % 100000, symbol: 'ABC', note: 'x'.repeat(120) }) }),
  multiline: (i) => ({ data: Array.from({ length: 20 }, (_, k) => `line ${k} of event ${i}: ${'y'.repeat(40)}`).join('\n') }),
  unicode: (i) => ({ id: `é${i}`, data: `{"text":"naïve café ✓ ${i} 日本語 😀"}` }),
};

function baseline(e) {
  let out = '';
  if (e.id !== undefined) out += e.id === '' ? 'id:\n' : `id: ${e.id}\n`;
  if (e.type !== undefined && e.type !== '') out += `event: ${e.type}\n`;
  for (const line of e.data.split('\n')) out += line === '' ? 'data:\n' : `data: ${line}\n`;
  return out + '\n';
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

function time(fn, events) {
  const start = process.hrtime.bigint();
  let total = 0;
  for (let i = 0; i < events.length; ++i) total += fn(events[i]).length;
  return { ns: Number(process.hrtime.bigint() - start) / events.length, total };
}

console.log(`# ${opts.events} events per run, median of ${opts.reps} alternating runs; ratio = ssekit ns / template literal ns`);
console.log(`${'set'.padEnd(10)} ${'ssekit ns'.padStart(10)} ${'literal ns'.padStart(11)} ${'ratio'.padStart(6)}`);
for (const [name, make] of Object.entries(sets)) {
  const events = Array.from({ length: opts.events }, (_, i) => make(i));
  for (const e of events.slice(0, 2000)) {
    const ours = serializeEvent(e);
    if (ours !== baseline(e)) fail(`${name}: the outputs differ for ${JSON.stringify(e)}: ${JSON.stringify(ours)}`);
  }
  const ours = [];
  const theirs = [];
  for (let r = 0; r < opts.reps + 2; ++r) {
    const [a, b] = r % 2 === 0 ? [time(serializeEvent, events), time(baseline, events)] : [null, time(baseline, events)];
    const o = a ?? time(serializeEvent, events);
    if (o.total !== b.total) fail(`${name}: ssekit wrote ${o.total} characters, the baseline ${b.total}`);
    if (r >= 2) {  // two warm-up rounds for the JIT
      ours.push(o.ns);
      theirs.push(b.ns);
    }
  }
  const [o, t] = [median(ours), median(theirs)];
  console.log(`${name.padEnd(10)} ${o.toFixed(0).padStart(10)} ${t.toFixed(0).padStart(11)} ${(o / t).toFixed(2).padStart(6)}`);
}
