// The package as users get it: `npm pack` (without the prepack build, which
// `npm test` has already run), the tarball installed offline into a
// temporary project, then `require`, `import` and a browser bundler (esbuild,
// through package.json's "browser" field) used there by name.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import vm from 'node:vm';
import { after, before, describe, it } from 'node:test';

import * as esbuild from 'esbuild';

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const built = ['dist/ssekit-parser-wasm.cjs', 'dist/ssekit-serializer-wasm.cjs', 'dist/bridge-abi.cjs', 'dist/ssekit.browser.mjs', 'dist/ssekit.browser.js'];

// Child npm and node runs must not inherit `npm test`'s own package
// context (npm_package_*, npm_config_local_prefix, ...); the cache and
// user config stay.
const env = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) => !k.toLowerCase().startsWith('npm_') || ['npm_config_cache', 'npm_config_userconfig', 'npm_config_globalconfig'].includes(k.toLowerCase()),
  ),
);
env.npm_config_update_notifier = 'false';

function run(cmd, args, cwd) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, env, timeout: 120_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

let tmp;
let packed;   // npm pack --json's entry for the tarball
let project;  // the consumer project, ssekit installed

before(async () => {
  for (const f of built) assert.ok(fs.existsSync(path.join(pkgDir, f)), `${f} is missing: npm run build first`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ssekit-pack-'));
  [packed] = JSON.parse(await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], pkgDir));
  project = path.join(tmp, 'project');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', path.join(tmp, packed.filename)], project);
});

after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('the tarball holds the sources, the built files and the types, no tests or scripts', () => {
    const files = packed.files.map((f) => f.path).sort();
    for (const f of ['package.json', 'README.md', 'index.d.ts', 'index.d.mts', 'src/index.cjs', 'src/index.mjs', 'src/eventsource.cjs', ...built]) {
      assert.ok(files.includes(f), `${f} is not in the tarball: ${files.join(', ')}`);
    }
    const unwanted = files.filter((f) => /^(test|scripts|node_modules|bench)\//.test(f) || f.endsWith('.tgz'));
    assert.deepEqual(unwanted, []);
    assert.equal(packed.name, 'ssekit');
  });

  it('require("ssekit") works in the installed project', async () => {
    const script = `
      const ssekit = require('ssekit');
      const events = [];
      const parser = ssekit.createParser({ onEvent: (e) => events.push(e) });
      parser.feed('id: 1\\ndata: hel');
      parser.feed('lo\\n\\n' + ssekit.serializeEvent({ type: 'tick', data: 'a\\nb', id: '2' }));
      parser.close();
      console.log(JSON.stringify({
        resolved: require.resolve('ssekit'),
        events,
        eventSource: typeof ssekit.EventSource,
        open: ssekit.EventSource.OPEN,
        stream: typeof ssekit.stream,
        version: require('ssekit/package.json').version,
        script: require.resolve('ssekit/dist/ssekit.browser.js'),
      }));`;
    const out = JSON.parse(await run(process.execPath, ['-e', script], project));
    assert.equal(out.resolved, path.join(fs.realpathSync(project), 'node_modules/ssekit/src/index.cjs'));
    assert.deepEqual(out.events, [
      { type: 'message', data: 'hello', lastEventId: '1' },
      { type: 'tick', data: 'a\nb', lastEventId: '2' },
    ]);
    assert.equal(out.eventSource, 'function');
    assert.equal(out.open, 1);
    assert.equal(out.stream, 'function');
    assert.equal(out.version, packed.version);
    // What a server resolves to send the classic-script bundle to pages.
    assert.equal(out.script, path.join(fs.realpathSync(project), 'node_modules/ssekit/dist/ssekit.browser.js'));
  });

  // Jest's jsdom environment resolves require() with the "browser"
  // condition; when that condition led only to the ES entry, Jest failed
  // on its `export` (a helper's probe). Node's -C does the same resolution.
  it('require("ssekit") under the browser condition (Jest with jsdom) gets the CommonJS entry', async () => {
    const script = `
      const ssekit = require('ssekit');
      const p = ssekit.createParser({});
      p.close();
      console.log(JSON.stringify({ resolved: require.resolve('ssekit'), eventSource: typeof ssekit.EventSource }));`;
    const out = JSON.parse(await run(process.execPath, ['-C', 'browser', '-e', script], project));
    assert.deepEqual(out, { resolved: path.join(fs.realpathSync(project), 'node_modules/ssekit/src/index.cjs'), eventSource: 'function' });
    const esm = await run(process.execPath, ['-C', 'browser', '--input-type=module', '-e', "console.log(import.meta.resolve('ssekit'))"], project);
    assert.equal(esm.trim(), new URL(`file://${fs.realpathSync(project)}/node_modules/ssekit/src/index.mjs`).href);
  });

  it('import from "ssekit" works in the installed project, sharing the CommonJS instance', async () => {
    const script = `
      import { createParser, serializeRetry, EventSource, SseParseError } from 'ssekit';
      import { createRequire } from 'node:module';
      const cjs = createRequire(import.meta.url)('ssekit');
      const p = createParser({ maxLineLength: 4 });
      let code = null;
      try { p.feed('data: too long\\n'); } catch (e) { code = e instanceof SseParseError && e.code; }
      p.close();
      console.log(JSON.stringify({
        code,
        retry: serializeRetry(1500),
        same: EventSource === cjs.EventSource && SseParseError === cjs.SseParseError,
        resolved: import.meta.resolve('ssekit'),
        browser: import.meta.resolve('ssekit/browser'),
      }));`;
    const out = JSON.parse(await run(process.execPath, ['--input-type=module', '-e', script], project));
    assert.deepEqual(out, {
      code: 'line_too_long',
      retry: 'retry: 1500\n',
      same: true,
      resolved: new URL(`file://${fs.realpathSync(project)}/node_modules/ssekit/src/index.mjs`).href,
      browser: new URL(`file://${fs.realpathSync(project)}/node_modules/ssekit/dist/ssekit.browser.mjs`).href,
    });
  });

  it('a browser bundler takes the package as it is: fs and path become empty modules', async () => {
    fs.writeFileSync(
      path.join(project, 'app.mjs'),
      "import { createParser, serializeEvent, EventSource } from 'ssekit';\n" +
        'const seen = [];\n' +
        'const p = createParser({ onEvent: (e) => seen.push(e.data) });\n' +
        "p.feed(serializeEvent({ data: 'bundled' }));\n" +
        'p.close();\n' +
        'globalThis.result = { seen, eventSource: typeof EventSource };\n',
    );
    const result = await esbuild.build({
      absWorkingDir: project,
      entryPoints: ['app.mjs'],
      bundle: true,
      platform: 'browser',
      format: 'iife',
      write: false,
      logLevel: 'silent',
    });
    assert.deepEqual(result.errors, []);
    const code = result.outputFiles[0].text;
    assert.doesNotMatch(code, /require\("(fs|path)"\)/);
    // A context with web APIs only: no process, require or module.
    const context = vm.createContext({ TextEncoder, TextDecoder, EventTarget, Event, URL, Headers, AbortController, DOMException, setTimeout, clearTimeout, atob });
    vm.runInContext(code, context, { timeout: 10_000 });
    assert.deepEqual(JSON.parse(JSON.stringify(context.result)), { seen: ['bundled'], eventSource: 'function' });
  });

  it('the prebuilt browser bundles load where there is no Node', async () => {
    const dir = path.join(project, 'node_modules/ssekit/dist');
    const context = vm.createContext({ TextEncoder, TextDecoder, EventTarget, Event, URL, Headers, atob });
    vm.runInContext(fs.readFileSync(path.join(dir, 'ssekit.browser.js'), 'utf8'), context);
    vm.runInContext("globalThis.out = ssekit.serializeEvent({ data: 'x', id: '9' })", context);
    assert.equal(context.out, 'id: 9\ndata: x\n\n');
    // The ES module bundle imports nothing, so Node can load it as a page would.
    const esm = await import(pathToFileURL(path.join(dir, 'ssekit.browser.mjs')).href);
    assert.equal(esm.serializeEvent({ data: 'x', id: '9' }), 'id: 9\ndata: x\n\n');
    assert.equal(esm.EventSource.name, 'EventSource');
  });
});
