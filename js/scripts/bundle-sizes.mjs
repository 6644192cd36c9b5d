// Bundle sizes of the package as a browser app's bundler sees it: esbuild,
// platform browser, minified, the package reached by name (node_modules/
// ssekit -> js/), so package.json's exports, "browser" condition and
// "sideEffects" all apply. Prints raw and gzip bytes per import; with
// --json prints them as JSON (test/bundle.test.mjs uses that).
// measure({ exports: false }) reaches the package as a resolver that ignores
// "exports" does (Parcel 2 by default, webpack 4): through the top-level
// "browser", "module" and "main" fields.
//   node scripts/bundle-sizes.mjs
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

import * as esbuild from 'esbuild';

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const imports = {
  'EventSource only': "import { EventSource } from 'ssekit'; globalThis.out = EventSource;",
  'stream() only': "import { stream } from 'ssekit'; globalThis.out = stream;",
  'parser only': "import { createParser } from 'ssekit'; globalThis.out = createParser;",
  'serializer only': "import { serializeEvent } from 'ssekit'; globalThis.out = serializeEvent;",
  everything: "import * as ssekit from 'ssekit'; globalThis.out = ssekit;",
};

// target: the syntax the bundle may use (esbuild lowers what it can, and
// fails on what it can't, as Vite's build does for its build.target).
// keepText: each entry also gets `text`, the bundle itself (with minify:
// false, as written).
export async function measure({ exports = true, target = 'es2022', keepText = false, minify = true } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssekit-bundle-'));
  try {
    fs.mkdirSync(path.join(dir, 'node_modules'));
    const linked = path.join(dir, 'node_modules', 'ssekit');
    if (exports) {
      fs.symlinkSync(pkgDir, linked, 'dir');
    } else {
      fs.mkdirSync(linked);
      for (const sub of ['src', 'dist']) fs.symlinkSync(path.join(pkgDir, sub), path.join(linked, sub), 'dir');
      const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
      delete pkg.exports;
      fs.writeFileSync(path.join(linked, 'package.json'), JSON.stringify(pkg));
    }
    const sizes = {};
    for (const [name, code] of Object.entries(imports)) {
      const result = await esbuild.build({
        stdin: { contents: code, resolveDir: dir, loader: 'js' },
        absWorkingDir: dir,
        bundle: true,
        minify,
        platform: 'browser',
        mainFields: ['browser', 'module', 'main'],  // esbuild's for browsers, said here: they are what exports: false is about
        format: 'esm',
        target,
        write: false,
        logLevel: 'silent',
        metafile: true,
      });
      const text = result.outputFiles[0].contents;
      // The modules that put code into the bundle.
      const [output] = Object.values(result.metafile.outputs);
      const modules = Object.entries(output.inputs)
        .filter(([f, info]) => f !== '<stdin>' && info.bytesInOutput > 0)
        .map(([f]) => path.basename(f))
        .sort();
      sizes[name] = { raw: text.length, gzip: zlib.gzipSync(text, { level: 9 }).length, modules };
      if (keepText) sizes[name].text = Buffer.from(text).toString('utf8');
    }
    return sizes;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const sizes = await measure();
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(sizes));
  } else {
    const kb = (n) => `${(n / 1000).toFixed(1)} kB`.padStart(9);
    console.log(`${'import'.padEnd(18)} ${'raw'.padStart(9)} ${'gzip'.padStart(9)}  modules`);
    for (const [name, s] of Object.entries(sizes)) console.log(`${name.padEnd(18)} ${kb(s.raw)} ${kb(s.gzip)}  ${s.modules.join(' ')}`);
  }
}
