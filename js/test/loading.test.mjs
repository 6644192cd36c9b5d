// Loading the WebAssembly: where the package compiles it synchronously and
// where it must not, and the error under a CSP that forbids WebAssembly.
// Each case runs in a fresh Node process, so the module is not compiled yet;
// compiles are counted by wrapping WebAssembly's functions, not timed.
// (test/browser-loading.test.mjs checks the same in Chromium.)
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const index = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/index.cjs');

// Counts compiles of more than the 8-byte probe module.
const spy = `
  const counts = { sync: 0, async: 0 };
  const Module = WebAssembly.Module;
  WebAssembly.Module = function (bytes) { if (bytes.byteLength > 8) counts.sync++; return new Module(bytes); };
  WebAssembly.Module.imports = Module.imports; WebAssembly.Module.exports = Module.exports;
  const compile = WebAssembly.compile;
  WebAssembly.compile = (bytes) => { counts.async++; return compile(bytes); };
`;

function runScript(body, { mainThread = false } = {}) {
  const script = `
    ${mainThread ? 'globalThis.window = globalThis; globalThis.document = {};' : ''}
    ${spy}
    const ssekit = require(${JSON.stringify(index)});
    (async () => { ${body} })().then((out) => console.log(JSON.stringify(out)), (e) => { console.error(e); process.exit(1); });`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script], { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

describe('loading the WebAssembly', () => {
  it('Node: createParser() compiles synchronously on first use, once', async () => {
    const out = await runScript(`
      const events = [];
      const p = ssekit.createParser({ onEvent: (e) => events.push(e.data) });
      p.feed('data: a\\n\\n');
      ssekit.createParser({}).close();
      ssekit.serializeEvent({ data: 'b' });
      await ssekit.ready();
      return { events, counts };`);
    assert.deepEqual(out, { events: ['a'], counts: { sync: 1, async: 0 } });
  });

  it("a browser's main thread: nothing compiles synchronously when ready() is awaited first", async () => {
    const out = await runScript(
      `
      const events = [];
      const p = ssekit.createParser({ onEvent: (e) => events.push(e.data + ' ' + e.lastEventId) });
      p.lastEventId = 'resume';  // before the instance exists
      const beforeReady = { ...counts, id: p.lastEventId };
      await ssekit.ready();
      p.feed('data: a\\n\\n');
      const again = ssekit.createParser({});
      again.feed('data: b\\n\\n');
      again.close();
      p.close();
      return { beforeReady, events, counts };`,
      { mainThread: true },
    );
    // The parser started the asynchronous compile itself.
    assert.deepEqual(out, { beforeReady: { sync: 0, async: 1, id: 'resume' }, events: ['a resume'], counts: { sync: 0, async: 1 } });
  });

  it("a browser's main thread: feed() before ready() still works (it compiles synchronously)", async () => {
    const out = await runScript(
      `
      const events = [];
      const p = ssekit.createParser({ onEvent: (e) => events.push(e.data) });
      p.feed('data: a\\n\\n');
      return { events, sync: counts.sync };`,
      { mainThread: true },
    );
    assert.deepEqual(out, { events: ['a'], sync: 1 });
  });

  it("a CSP without 'wasm-unsafe-eval': createParser() and the EventSource throw SseLoadError naming the fix", async () => {
    // What browsers do under such a policy: every compile throws.
    const out = await runScript(`
      WebAssembly.Module = function () { throw new WebAssembly.CompileError("WebAssembly.Module(): Refused to compile or instantiate WebAssembly module because 'unsafe-eval' is not an allowed source of script"); };
      const seen = [];
      for (const f of [() => ssekit.createParser({}), () => new ssekit.EventSource('http://127.0.0.1:1/'), () => ssekit.serializeRetry(1)]) {
        try { f(); seen.push('no error'); } catch (e) { seen.push({ name: e.name, code: e.code, cls: e instanceof ssekit.SseLoadError, cause: e.cause instanceof WebAssembly.CompileError, message: e.message }); }
      }
      const rejected = await ssekit.ready().then(() => 'resolved', (e) => e.code);
      return { seen, rejected };`);
    assert.equal(out.rejected, 'csp_blocked');
    assert.equal(out.seen.length, 3);
    for (const e of out.seen) {
      assert.equal(e.name, 'SseLoadError');
      assert.equal(e.code, 'csp_blocked');
      assert.equal(e.cls, true);
      assert.equal(e.cause, true);
      assert.match(e.message, /Content-Security-Policy/);
      assert.match(e.message, /'wasm-unsafe-eval'/);
      assert.match(e.message, /script-src/);
    }
  });

  it('when the engine refuses another WebAssembly memory, parsers share one instance and still parse apart', async () => {
    // V8 throws a RangeError once its address space for memories is used up
    // (about 13,000 in a process); simulated after the first instance.
    const out = await runScript(`
      const Instance = WebAssembly.Instance;
      let made = 0;
      WebAssembly.Instance = function (module, imports) {
        if (++made > 1) throw new RangeError('WebAssembly.Instance(): Out of memory: Cannot allocate Wasm memory for new instance');
        return new Instance(module, imports);
      };
      const seen = [];
      const parsers = ['a', 'b', 'c'].map((name) => ssekit.createParser({ onEvent: (e) => seen.push(name + ':' + e.data + ':' + e.lastEventId) }));
      parsers[0].feed('id: 1\\ndata: one');
      parsers[1].feed('data: two\\n\\n');
      parsers[0].feed('\\n\\n');
      parsers[1].close();
      parsers[2].feed('data: three\\n\\n');
      const shared = parsers[0].memoryBytes === parsers[2].memoryBytes && parsers[0].memoryBytes > 0;
      parsers[0].close();
      parsers[2].feed('data: four\\n\\n');
      parsers[2].close();
      return { seen, shared, instances: made };`);
    assert.deepEqual(out, { seen: ['b:two:', 'a:one:1', 'c:three:', 'c:four:'], shared: true, instances: 3 });
  });
});
