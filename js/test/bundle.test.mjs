// What a browser app's bundler takes from the package (esbuild, through
// package.json's exports with its "browser" condition and "sideEffects"
// (none but the Workers entry); scripts/bundle-sizes.mjs): importing the parser or the serializer
// alone leaves the EventSource out, each carries only its own WebAssembly
// module (dist/ssekit-parser-wasm.cjs, dist/ssekit-serializer-wasm.cjs), and
// the EventSource alone stays within its budget of 25 kB gzip.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { before, describe, it } from 'node:test';

import { measure } from '../scripts/bundle-sizes.mjs';

const require = createRequire(import.meta.url);

let sizes;

describe('bundles', () => {
  before(async () => {
    sizes = await measure();
  });

  it('the parser alone: no EventSource, no serializer, not its WebAssembly', () => {
    assert.deepEqual(sizes['parser only'].modules, ['bridge-abi.cjs', 'create-parser.cjs', 'index.mjs', 'parser.cjs', 'ssekit-parser-wasm.cjs', 'wasm.cjs']);
  });

  it("the serializer alone: no EventSource, no parser, not the parser's WebAssembly", () => {
    assert.deepEqual(sizes['serializer only'].modules, ['bridge-abi.cjs', 'index.mjs', 'serializer.cjs', 'ssekit-serializer-wasm.cjs', 'wasm.cjs']);
    assert.ok(sizes['serializer only'].gzip < sizes['parser only'].gzip / 2, `${sizes['serializer only'].gzip} bytes gzip`);
  });

  it("the EventSource alone: no serializer (nor its WebAssembly), no stream(), at most 25 kB gzip", () => {
    assert.deepEqual(sizes['EventSource only'].modules, ['bridge-abi.cjs', 'eventsource.cjs', 'index.mjs', 'parser.cjs', 'ssekit-parser-wasm.cjs', 'wasm.cjs']);
    assert.ok(sizes['EventSource only'].gzip <= 25_000, `${sizes['EventSource only'].gzip} bytes gzip`);
    assert.ok(sizes['parser only'].gzip < sizes['EventSource only'].gzip);
  });

  it('stream() alone: the EventSource module (the rules they share) and its own', () => {
    assert.deepEqual(sizes['stream() only'].modules, ['bridge-abi.cjs', 'eventsource.cjs', 'index.mjs', 'parser.cjs', 'ssekit-parser-wasm.cjs', 'stream.cjs', 'wasm.cjs']);
  });

  it("everything: both WebAssembly modules", () => {
    assert.deepEqual(sizes.everything.modules, [
      'bridge-abi.cjs', 'create-parser.cjs', 'eventsource.cjs', 'index.mjs', 'parser.cjs', 'serializer.cjs', 'ssekit-parser-wasm.cjs', 'ssekit-serializer-wasm.cjs', 'stream.cjs', 'wasm.cjs',
    ]);
  });

  it("each WebAssembly module has only its own part's code: the parser's no serializer, the serializer's no parser", () => {
    const { decodeWasm } = require('../src/wasm.cjs');
    const exportsOf = (file) => WebAssembly.Module.exports(new WebAssembly.Module(decodeWasm(require(file), file))).map((e) => e.name);
    const parser = exportsOf('../dist/ssekit-parser-wasm.cjs');
    const serializer = exportsOf('../dist/ssekit-serializer-wasm.cjs');
    assert.ok(parser.includes('ssekit_parser_feed'), parser.join(' '));
    assert.deepEqual(parser.filter((name) => /serialize|output/.test(name)), []);
    assert.ok(serializer.includes('ssekit_serialize_event'), serializer.join(' '));
    assert.deepEqual(serializer.filter((name) => /parser/.test(name)), []);
    // The serializer's module is small: the parser's code (the scan, the
    // encoder, the UTF-8 repair) is not linked into it.
    const bytes = (file) => require(file).size;
    assert.ok(bytes('../dist/ssekit-serializer-wasm.cjs') < bytes('../dist/ssekit-parser-wasm.cjs') / 2);
  });

  it('a bundler that ignores "exports" (Parcel 2 by default, webpack 4) gets the ES entry and only what is imported', async () => {
    const legacy = await measure({ exports: false });
    for (const name of Object.keys(sizes)) assert.deepEqual(legacy[name].modules, sizes[name].modules, name);
    assert.ok(legacy['EventSource only'].gzip <= 25_000, `${legacy['EventSource only'].gzip} bytes gzip`);
  });

  it('every import bundles for ES2019 too (Vite\'s build.target: es2019 refused the serializer\'s BigInt literals)', async () => {
    const old = await measure({ target: 'es2019', keepText: true, minify: false });
    for (const name of Object.keys(sizes)) {
      assert.deepEqual(old[name].modules, sizes[name].modules, name);
      // This esbuild lowers a literal (1n) to BigInt("1") for such a target
      // (unminified); older ones (Vite 5's 0.21) refuse it. The package has
      // none to lower.
      assert.doesNotMatch(old[name].text, /BigInt\("/, name);
    }
  });

  it("browsers get the browser build: the 'browser' condition, and CDNs' default file", () => {
    const pkg = require('../package.json');
    // Only the Workers entry does something at import (test/workerd.test.mjs).
    assert.deepEqual(pkg.sideEffects, ['./src/workerd.mjs']);
    // The first condition a bundler sets wins: wrangler sets both 'workerd'
    // and 'browser', browser bundlers 'browser' and 'import' or 'require'.
    assert.deepEqual(Object.keys(pkg.exports['.']), ['workerd', 'browser', 'import', 'require']);
    assert.equal(pkg.exports['.'].browser.default.default, './src/index.mjs');
    assert.equal(pkg.exports['.'].browser.require.default, './src/index.cjs');
    // <script src="https://unpkg.com/ssekit"> (or jsDelivr) loads the classic-script bundle.
    for (const field of ['unpkg', 'jsdelivr']) {
      assert.equal(pkg[field], './dist/ssekit.browser.js', field);
    }
    assert.ok(pkg.files.includes('dist/ssekit.browser.js'));
  });

  it('classes keep their names in the one-scope bundle (dist/ssekit.browser.mjs), not SseError2', async () => {
    const bundle = await import('../dist/ssekit.browser.mjs');
    for (const name of ['EventSource', 'SseError', 'SseLoadError', 'SseParseError', 'SseSerializeError']) {
      assert.equal(bundle[name].name, name);
      // V8's own messages use the class's name, not the binding's.
      assert.throws(() => bundle[name](), new RegExp(`^TypeError: Class constructor ${name} cannot be invoked without 'new'$`));
    }
  });
});
