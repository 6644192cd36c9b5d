// Type-checks test/types/*.ts against index.d.ts / index.d.mts with
// `tsc --noEmit` (typescript is a devDependency; skipped when not installed).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));

it('the declarations type-check (tsc --noEmit)', { skip: !existsSync(tsc) && 'typescript not installed' }, () => {
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '-p', 'test/types'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});
