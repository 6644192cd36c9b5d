// Type-checks test/types/ against index.d.ts / index.d.mts with
// `tsc --noEmit` (typescript is a devDependency; skipped when not installed).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));

// test/types: with the DOM library (TypeScript's default); test/types/node:
// lib es2022 and @types/node, no DOM, as a Node project is set up.
for (const project of ['test/types', 'test/types/node']) {
  it(`the declarations type-check (tsc --noEmit -p ${project})`, { skip: !existsSync(tsc) && 'typescript not installed' }, () => {
    const r = spawnSync(process.execPath, [tsc, '--noEmit', '-p', project], { cwd: root, encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });
}
