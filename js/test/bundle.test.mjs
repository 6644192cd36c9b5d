// What a browser app's bundler takes from the package (esbuild, through
// package.json's exports with its "browser" condition and "sideEffects":
// false; scripts/bundle-sizes.mjs): importing the parser or the serializer
// alone leaves the EventSource out, and the EventSource alone stays within
// its budget of 25 kB gzip.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { before, describe, it } from 'node:test';

import { measure } from '../scripts/bundle-sizes.mjs';

let sizes;

describe('bundles', () => {
  before(async () => {
    sizes = await measure();
  });

  it('the parser alone: no EventSource, no serializer', () => {
    assert.deepEqual(sizes['parser only'].modules, ['bridge-abi.cjs', 'index.mjs', 'parser.cjs', 'ssekit-wasm.cjs', 'wasm.cjs']);
  });

  it('the serializer alone: no EventSource, no parser', () => {
    assert.deepEqual(sizes['serializer only'].modules, ['bridge-abi.cjs', 'index.mjs', 'serializer.cjs', 'ssekit-wasm.cjs', 'wasm.cjs']);
  });

  it('the EventSource alone: no serializer, no stream(), at most 25 kB gzip', () => {
    assert.deepEqual(sizes['EventSource only'].modules, ['bridge-abi.cjs', 'eventsource.cjs', 'index.mjs', 'parser.cjs', 'ssekit-wasm.cjs', 'wasm.cjs']);
    assert.ok(sizes['EventSource only'].gzip <= 25_000, `${sizes['EventSource only'].gzip} bytes gzip`);
    assert.ok(sizes['parser only'].gzip < sizes['EventSource only'].gzip);
  });

  it('stream() alone: the EventSource module (the rules they share) and its own', () => {
    assert.deepEqual(sizes['stream() only'].modules, ['bridge-abi.cjs', 'eventsource.cjs', 'index.mjs', 'parser.cjs', 'ssekit-wasm.cjs', 'stream.cjs', 'wasm.cjs']);
  });

  it("browsers get the browser build: the 'browser' condition, and CDNs' default file", () => {
    const pkg = createRequire(import.meta.url)('../package.json');
    assert.equal(pkg.sideEffects, false);
    assert.equal(Object.keys(pkg.exports['.'])[0], 'browser', "'browser' must come before 'import' and 'require'");
    assert.equal(pkg.exports['.'].browser.default, './src/index.mjs');
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
