// Memory for one huge event, in Node and in Chromium: the peak while it is
// parsed, what is held after it, and after close() plus a full garbage
// collection. Bytes, not time.
//
//   node bench/memory-bench.mjs [--size MiB] [--pkg DIR] [--no-browser]  (npm run bench:memory)
//
// Node: process.memoryUsage().external (WebAssembly memory lives there) and
// the parser's memoryBytes. Chromium (headless, Debian's): the resident
// memory of its renderer processes (/proc/PID/status VmRSS, the PIDs from
// DevTools' SystemInfo.getProcessInfo), sampled every few ms during the run
// for the peak, after window.gc() for the rest
// (performance.measureUserAgentSpecificMemory() leaves WebAssembly memory
// out, so it cannot show this). --pkg measures
// another build of the package (e.g. an older checkout's js/), for before and
// after figures; a build without memoryBytes shows "-" there.
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : args[i + 1];
};
const pkg = path.resolve(option('--pkg', path.resolve(here, '..')));
const sizeMiB = Number(option('--size', '30'));
const MiB = 2 ** 20;
const size = sizeMiB * MiB;
const mib = (n) => (n === undefined || n === null ? '-' : (n / MiB).toFixed(1));

// The workload, as a function so the page runs the same code: one event of
// `size` bytes, one line or 1 KiB lines, in 64 KiB chunks; `rounds` events
// on one parser (a long-lived stream), then close().
function workload(ssekit, size, lines, rounds, sample) {
  const encoder = new TextEncoder();
  const chunk = lines ? encoder.encode(`data: ${'y'.repeat(1017)}\n`.repeat(64)) : new Uint8Array(64 * 1024).fill(0x78);
  let got = 0;
  const p = ssekit.createParser({ maxEventSize: Infinity, maxLineLength: Infinity, onEvent: (e) => (got = e.data.length) });
  let peakParser = 0;
  const held = [];
  for (let r = 0; r < rounds; ++r) {
    if (!lines) p.feed('data: ');
    for (let sent = 0; sent < size; sent += 64 * 1024) {
      p.feed(chunk);
      if (p.memoryBytes !== undefined) peakParser = Math.max(peakParser, p.memoryBytes);
      sample();
    }
    p.feed(lines ? '\n' : '\n\n');
    held.push(p.memoryBytes);
  }
  return { got, peakParser: p.memoryBytes === undefined ? null : peakParser, held, close: () => p.close() };
}

async function node() {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  const settle = async () => {
    for (let i = 0; i < 3; ++i) {
      gc();
      await new Promise((resolve) => setImmediate(resolve));
    }
    return process.memoryUsage().external;
  };
  const ssekit = require(path.join(pkg, 'src/index.cjs'));
  const rows = [];
  for (const lines of [false, true]) {
    const base = await settle();
    let peak = 0;
    const run = workload(ssekit, size, lines, 3, () => (peak = Math.max(peak, process.memoryUsage().external)));
    const before = await settle();
    run.close();
    const after = await settle();
    rows.push({ shape: lines ? '1 KiB lines' : 'one line', got: run.got, peak: peak - base, held: before - base, after: after - base, parserPeak: run.peakParser, parserHeld: run.held });
  }
  return rows;
}

async function chromium() {
  const { chromium: launcher } = await import('playwright-core');
  const bundle = fs.readFileSync(path.join(pkg, 'dist/ssekit.browser.js'));
  const server = http.createServer((req, res) => {
    if (req.url === '/ssekit.js') res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(bundle);
    else res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><script src="/ssekit.js"></script>');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const browser = await launcher.launch({
    executablePath: process.env.SSEKIT_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
      '--js-flags=--expose-gc'],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    await page.waitForFunction(() => typeof window.ssekit === 'object');
    const cdp = await browser.newBrowserCDPSession();
    const { processInfo } = await cdp.send('SystemInfo.getProcessInfo');
    const renderers = processInfo.filter((p) => p.type === 'renderer').map((p) => p.id);
    const rss = () =>
      renderers.reduce((sum, pid) => {
        const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
        return sum + Number(m[1]) * 1024;
      }, 0);
    const rows = [];
    for (const lines of [false, true]) {
      await page.evaluate(async () => {
        if (window.ssekit.ready) await window.ssekit.ready();
        window.gc();
      });
      const base = rss();
      let peak = base;
      const sampler = setInterval(() => (peak = Math.max(peak, rss())), 5);
      const run = await page.evaluate(([source, size, lines]) => {
        const work = new Function(`return (${source})`)();
        window.run = work(window.ssekit, size, lines, 3, () => {});
        window.gc();
        return { got: window.run.got, parserPeak: window.run.peakParser, parserHeld: window.run.held };
      }, [workload.toString(), size, lines]);
      clearInterval(sampler);
      const held = rss();
      await page.evaluate(() => {
        window.run.close();
        window.run = null;
        window.gc();
      });
      const after = rss();
      rows.push({ shape: lines ? '1 KiB lines' : 'one line', ...run, peak: Math.max(peak, held) - base, held: held - base, after: after - base });
    }
    return rows;
  } finally {
    await browser.close();
    server.close();
  }
}

function print(where, rows) {
  console.log(`${where}: three ${sizeMiB} MiB events on one parser, then close(); MiB above the start`);
  console.log(`  ${'event'.padEnd(12)} ${'peak'.padStart(7)} ${'held'.padStart(7)} ${'closed'.padStart(7)}   parser: ${'peak'.padStart(6)}  after each event`);
  for (const r of rows) {
    if (r.got < 0.95 * size) throw new Error(`${where} ${r.shape}: got an event of ${r.got} bytes`);
    const each = r.parserHeld.map((n) => mib(n)).join(', ');
    console.log(`  ${r.shape.padEnd(12)} ${mib(r.peak).padStart(7)} ${mib(r.held).padStart(7)} ${mib(r.after).padStart(7)}   ${mib(r.parserPeak).padStart(14)}  ${each}`);
  }
}

console.log(`# ${pkg}`);
print('node', await node());
if (!args.includes('--no-browser')) print('chromium', await chromium());
