// The benchmarks as correctness runs: tiny sizes, one rep, and what they
// check (every client's event count and data length; the memory figures;
// both EventSources' event counts in Chromium) must hold. They print ratios; nothing here looks at speed. The end-to-end
// one needs bench-workload from a release build of ../bench (skipped, with
// the reason shown, without it).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';

const here = path.dirname(fileURLToPath(import.meta.url));
const bin = process.env.SSEKIT_BENCH_WORKLOAD || path.resolve(here, '../../build/release/bench/bench-workload');

function node(script, args, flags = []) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...flags, path.resolve(here, '../bench', script), ...args], { timeout: 300_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${script} ${args.join(' ')}: ${error.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

it('bench/eventsource-bench.mjs: every client gets every event of every workload', { skip: !existsSync(bin) && `no ${bin} (cmake --build --preset release --target bench-workload)` }, async () => {
  const out = await node('eventsource-bench.mjs', ['--bin', bin, '--size', '65536', '--reps', '1', '--warmup', '0']);
  for (const w of ['llm', 'feed', 'big', 'crlf']) {
    for (const by of ['wall', 'cpu']) assert.match(out, new RegExp(`^${w} ${by} +\\d+ .*x, .*x .*x$`, 'm'), out);
  }
});

it('bench/memory-bench.mjs (Node): runs, and memory is back after close()', async () => {
  const out = await node('memory-bench.mjs', ['--size', '4', '--no-browser']);
  const rows = out.split('\n').filter((l) => /^ {2}(one line|1 KiB lines) /.test(l));
  assert.equal(rows.length, 2, out);
  for (const row of rows) {
    const [, , , closed] = row.trim().split(/ {2,}/);
    assert.ok(Number(closed) < 1, `${row}\n${out}`);
  }
});

const chromium = process.env.SSEKIT_CHROMIUM || '/usr/bin/chromium';
const noBrowser = process.env.SSEKIT_SKIP_BROWSER === '1' ? 'SSEKIT_SKIP_BROWSER=1' : !existsSync(chromium) && `no ${chromium}`;
it("test/browser/event-speed.mjs: ours and Chromium's EventSource each get every event; the per-event costs print", { skip: noBrowser }, async () => {
  const out = await node('../test/browser/event-speed.mjs', ['3000', '1', '--parts'], ['--experimental-websocket']);
  assert.match(out, /^ssekit \/ Chromium's EventSource on 3,000 small events: \d+\.\d\dx events\/s, \d+\.\d\dx events\/CPU-s/m, out);
  for (const part of ['new Event(type)', 'new MessageEvent(type, init)', 'new Event + dispatchEvent, one listener']) {
    assert.match(out, new RegExp(`^ +\\d+ ns  ${part.replace(/[()+]/g, '\\$&')}$`, 'm'), out);
  }
});
