// The benchmarks as correctness runs: tiny sizes, one rep, and what they
// check (every client's event count and data length; the memory figures)
// must hold. They print ratios; nothing here looks at speed. The end-to-end
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

function node(script, args) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.resolve(here, '../bench', script), ...args], { timeout: 300_000 }, (error, stdout, stderr) => {
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
