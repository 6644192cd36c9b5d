// Type-checks test/types/ against index.d.ts / index.d.mts with
// `tsc --noEmit`, with TypeScript 7 (typescript) and 5 (typescript5): both
// are devDependencies; a compiler that is not installed is skipped.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';

const root = fileURLToPath(new URL('..', import.meta.url));
const compilers = {
  'TypeScript 7': fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)),
  'TypeScript 5': fileURLToPath(new URL('../node_modules/typescript5/bin/tsc', import.meta.url)),
};

function tsc(compiler, args, cwd) {
  const r = spawnSync(process.execPath, [compiler, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
}

// test/types: with the DOM library (TypeScript's default); test/types/node:
// lib es2022 and @types/node, no DOM, as a Node project is set up.
for (const [name, compiler] of Object.entries(compilers)) {
  for (const project of ['test/types', 'test/types/node']) {
    it(`the declarations type-check with ${name} (tsc --noEmit -p ${project})`, { skip: !fs.existsSync(compiler) && `${name} not installed` }, () => {
      tsc(compiler, ['--noEmit', '-p', project], root);
    });
  }
}

// moduleResolution node10 (TypeScript 5 and older; 7 removed it) ignores
// "exports": the subpaths find their types through "typesVersions". The
// package is reached as node_modules/ssekit, as an installed one is.
it('the subpaths have types under moduleResolution node10 (TypeScript 5)', { skip: !fs.existsSync(compilers['TypeScript 5']) && 'TypeScript 5 not installed' }, (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssekit-node10-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(root, path.join(dir, 'node_modules', 'ssekit'), 'dir');
  fs.writeFileSync(path.join(dir, 'use.ts'), [
    "import { createParser, EventSource } from 'ssekit/browser';",
    "import { serializeEvent } from 'ssekit/dist/ssekit.browser.mjs';",
    "import { stream } from 'ssekit';",
    'const p = createParser({ onEvent: (e) => void e.data.length });',
    'p.close();',
    "const s: string = serializeEvent({ data: 'x' });",
    'void s, EventSource, stream;',
    '',
  ].join('\n'));
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { module: 'commonjs', moduleResolution: 'node10', target: 'es2022', lib: ['es2022', 'dom'], strict: true, noEmit: true, types: [] },
    files: ['use.ts'],
  }));
  tsc(compilers['TypeScript 5'], ['-p', '.'], dir);
});
