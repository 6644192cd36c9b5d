// `npm pack` of a copy of js/ without the rest of the repository (no ../core,
// ../wasm): the prepack step must fail at once with a message that says
// what to do, not with a cmake error half-way through a build.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, it } from 'node:test';

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ssekit-pack-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

// Child npm runs must not inherit `npm test`'s package context.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_') || k.toLowerCase() === 'npm_config_cache'));
env.npm_config_update_notifier = 'false';

const run = (cmd, args, cwd) =>
  new Promise((resolve) => {
    execFile(cmd, args, { cwd, env, timeout: 120_000 }, (error, stdout, stderr) => resolve({ code: error ? error.code ?? 1 : 0, stdout, stderr }));
  });

it('npm pack out of place fails with a clear message, before any build', async () => {
  const copy = path.join(tmp, 'js');
  fs.mkdirSync(copy);
  for (const entry of ['package.json', 'scripts', 'src', 'index.d.ts', 'index.d.mts', 'README.md']) {
    fs.cpSync(path.join(pkgDir, entry), path.join(copy, entry), { recursive: true });
  }
  const { code, stderr } = await run('npm', ['pack', '--pack-destination', tmp], copy);
  assert.notEqual(code, 0, 'npm pack succeeded out of place');
  assert.match(stderr, /npm pack must run in js\/ of an ssekit repository checkout/);
  assert.match(stderr, /npm ci && npm run build/);
  assert.doesNotMatch(stderr, /CMake|cmake --preset/);
  assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.endsWith('.tgz')), []);
});
