// Loading the WebAssembly: where the package compiles it synchronously and
// where it must not, and the error under a CSP that forbids WebAssembly.
// Each case runs in a fresh Node process, so the module is not compiled yet;
// compiles are counted by wrapping WebAssembly's functions, not timed.
// (test/browser-loading.test.mjs checks the same in Chromium.)
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

import { runNodeScript } from './node-script.mjs';

const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src');
const index = path.join(src, 'index.cjs');
const require = createRequire(import.meta.url);

// Counts compiles of more than the 8-byte probe module.
const spy = `
  const counts = { sync: 0, async: 0 };
  if (typeof WebAssembly === 'object') {
    const Module = WebAssembly.Module;
    WebAssembly.Module = function (bytes) { if (bytes.byteLength > 8) counts.sync++; return new Module(bytes); };
    WebAssembly.Module.imports = Module.imports; WebAssembly.Module.exports = Module.exports;
    const compile = WebAssembly.compile;
    WebAssembly.compile = (bytes) => { counts.async++; return compile(bytes); };
  }
`;

function runScript(body, { mainThread = false, nodeArgs = [], timeout = 60_000, entry = index, prelude = '' } = {}) {
  const script = `
    ${prelude}
    ${mainThread ? 'globalThis.window = globalThis; globalThis.document = {};' : ''}
    ${spy}
    const ssekit = require(${JSON.stringify(entry)});
    (async () => { ${body} })().then((out) => console.log(JSON.stringify(out)), (e) => { console.error(e); process.exit(1); });`;
  return runNodeScript(script, { nodeArgs, timeout });
}

describe('loading the WebAssembly', () => {
  it('Node: a build file that exists but cannot be read is load_failed with the reason, not missing_build; a later try works', async () => {
    const out = await runScript(`
      const Module = require('node:module');
      const load = Module._load;
      let refuse = 'EMFILE';
      Module._load = function (request, ...rest) {
        if (refuse !== null && /ssekit-parser-wasm/.test(request)) {
          const e = refuse === 'EMFILE' ? new Error("EMFILE: too many open files, open 'x'") : new Error("Cannot find module 'x'");
          e.code = refuse === 'EMFILE' ? 'EMFILE' : 'MODULE_NOT_FOUND';
          throw e;
        }
        return load.call(this, request, ...rest);
      };
      const attempt = () => { try { ssekit.createParser(); return 'created'; } catch (e) { return [e.name, e.code, e.message, e.cause && e.cause.code]; } };
      const emfile = attempt();
      refuse = 'MODULE_NOT_FOUND';
      const missing = attempt();
      refuse = null;
      return { emfile, missing, later: attempt() };`);
    assert.equal(out.emfile[0], 'SseLoadError');
    assert.equal(out.emfile[1], 'load_failed');
    assert.match(out.emfile[2], /can't load dist\/ssekit-parser-wasm\.cjs: EMFILE/);
    assert.equal(out.emfile[3], 'EMFILE');
    assert.deepEqual(out.missing.slice(0, 2), ['SseLoadError', 'missing_build']);
    assert.match(out.missing[2], /is missing; build it/);
    assert.equal(out.later, 'created');
  });

  it('Node: createParser() and the serializers compile their modules synchronously on first use, once each', async () => {
    const out = await runScript(`
      const events = [];
      const p = ssekit.createParser({ onEvent: (e) => events.push(e.data) });
      p.feed('data: a\\n\\n');
      ssekit.createParser({}).close();
      const afterParsers = { ...counts };
      ssekit.serializeEvent({ data: 'b' });
      ssekit.serializeComment('c');
      await ssekit.ready();
      return { events, afterParsers, counts };`);
    // The parser's module, then the serializer's; ready() has nothing left to compile.
    assert.deepEqual(out, { events: ['a'], afterParsers: { sync: 1, async: 0 }, counts: { sync: 2, async: 0 } });
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
      const written = ssekit.serializeEvent({ data: 'c' });
      return { beforeReady, events, written, counts };`,
      { mainThread: true },
    );
    // The parser started the asynchronous compile of its own module;
    // ready() compiled the serializer's too.
    assert.deepEqual(out, { beforeReady: { sync: 0, async: 1, id: 'resume' }, events: ['a resume'], written: 'data: c\n\n', counts: { sync: 0, async: 2 } });
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

  it('an engine without WebAssembly (--jitless): SseLoadError wasm_unavailable, not a CSP to fix', async () => {
    // Node's --jitless, like Safari's Lockdown Mode, leaves no WebAssembly
    // global; the message used to name a Content-Security-Policy source.
    for (const nodeArgs of [['--jitless'], ['--no-expose-wasm']]) {
      const out = await runScript(
        `
        const seen = [];
        // The EventSource and stream() too: they throw before touching
        // Headers, which loads Node's fetch, which needs WebAssembly
        // itself and crashed the process without it (an unhandled
        // rejection in Node's undici).
        const calls = [
          () => ssekit.createParser({}),
          () => ssekit.serializeRetry(1),
          () => new ssekit.EventSource('http://127.0.0.1:1/'),
          () => ssekit.stream('http://127.0.0.1:1/'),
        ];
        for (const f of calls) {
          try { f(); seen.push('no error'); } catch (e) { seen.push({ name: e.name, code: e.code, cls: e instanceof ssekit.SseLoadError, cause: e.cause?.name, message: e.message }); }
        }
        const rejected = await ssekit.ready().then(() => 'resolved', (e) => e.code);
        return { wasm: typeof WebAssembly, seen, rejected };`,
        { nodeArgs },
      );
      assert.equal(out.wasm, 'undefined', nodeArgs[0]);
      assert.equal(out.rejected, 'wasm_unavailable', nodeArgs[0]);
      assert.equal(out.seen.length, 4);
      for (const e of out.seen) {
        assert.equal(e.name, 'SseLoadError', nodeArgs[0]);
        assert.equal(e.code, 'wasm_unavailable', nodeArgs[0]);
        assert.equal(e.cls, true);
        assert.equal(e.cause, 'ReferenceError');
        assert.match(e.message, /WebAssembly, which ssekit runs on, is turned off in this engine/);
        assert.doesNotMatch(e.message, /Content-Security-Policy|wasm-unsafe-eval/);
      }
    }
  });

  it('ready() gives the same promise every time, before and after compiling, and after a synchronous compile', async () => {
    const out = await runScript(`
      const first = ssekit.ready();
      const same = first === ssekit.ready();
      await first;
      const after = first === ssekit.ready();
      return { same, after };`);
    assert.deepEqual(out, { same: true, after: true });
    const sync = await runScript(`
      ssekit.createParser().feed('data: x\\n\\n');
      const first = ssekit.ready();
      const same = first === ssekit.ready();
      await first;
      ssekit.serializeHeartbeat();
      return { same, after: first === ssekit.ready(), compiles: counts };`);
    // The parser's module synchronously; ready() compiles only the serializer's, which is then used.
    assert.deepEqual(sync, { same: true, after: true, compiles: { sync: 1, async: 1 } });
  });

  it('a run of big serialized events reuses one instance (dropping it after each made every one pay for a new instance), with pauses between them too, and its drop timer holds no process open', async () => {
    const out = await runScript(`
      const Instance = WebAssembly.Instance;
      let made = 0;
      WebAssembly.Instance = function (module, imports) {
        ++made;
        return new Instance(module, imports);
      };
      const data = 'x'.repeat(1 << 20);
      let length = 0;
      for (let i = 0; i < 10; ++i) length += ssekit.serializeEvent({ data }).length;
      const timers = [];
      for (let i = 0; i < 5; ++i) {
        ssekit.serializeEvent({ data });
        timers.push(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length);
        await new Promise((r) => setImmediate(r));
        await new Promise((r) => setImmediate(r));
      }
      return { made, length, timers };`);
    assert.deepEqual(out, { made: 1, length: 10 * ((1 << 20) + 8), timers: [0, 0, 0, 0, 0] });
  });

  it('a serializer core that aborted (out of memory) is let go at once, not kept until the next call', async () => {
    // The core's abort (proc_exit) is simulated, in the staging of the input
    // and in the call; a WeakRef sees whether the aborted instance is held.
    const out = await runScript(`
      const Instance = WebAssembly.Instance;
      let failIn = '';
      const refs = [];
      WebAssembly.Instance = function (module, imports) {
        const real = new Instance(module, imports);
        const exports = { ...real.exports };
        for (const name of ['ssekit_input', 'ssekit_serialize_event']) {
          exports[name] = (...a) => {
            if (failIn === name) { failIn = ''; imports.wasi_snapshot_preview1.proc_exit(1); }
            return real.exports[name](...a);
          };
        }
        refs.push(new WeakRef(exports));  // what the package holds of an instance
        return { exports };
      };
      const settle = async () => { for (let i = 0; i < 3; ++i) { await new Promise((r) => setTimeout(r, 10)); globalThis.gc(); } };
      const results = [];
      for (const name of ['ssekit_serialize_event', 'ssekit_input']) {
        ssekit.serializeEvent({ data: 'warm' });
        failIn = name;
        let error = null;
        try { ssekit.serializeEvent({ data: 'x' }); } catch (e) { error = [e.name, e.code, 'cause' in e]; }
        await settle();
        results.push({ error, held: refs.filter((r) => r.deref() !== undefined).length, after: ssekit.serializeEvent({ data: 'after' }) });
      }
      return { results, made: refs.length };`, { nodeArgs: ['--expose-gc'] });
    const each = { error: ['SseLoadError', 'out_of_memory', false], held: 0, after: 'data: after\n\n' };
    assert.deepEqual(out, { results: [each, { ...each, held: 0 }], made: 3 });
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
    // c does not ask again: the refusal is remembered (the next test).
    assert.deepEqual(out, { seen: ['b:two:', 'a:one:1', 'c:three:', 'c:four:'], shared: true, instances: 2 });
  });

  it('a refused memory is asked for again only once collections have made room', async () => {
    // An engine with room for 40 live memories. V8 pays full collections
    // and retries (3-4 s) for every refusal, so asking per parser would
    // stall the process per new parser past its limit.
    const out = await runScript(`
      const Instance = WebAssembly.Instance;
      let asked = 0, refused = 0, live = 0;
      const freed = new FinalizationRegistry(() => --live);
      WebAssembly.Instance = function (module, imports) {
        ++asked;
        if (live >= 40) {
          ++refused;
          throw new RangeError('WebAssembly.Instance(): Out of memory: Cannot allocate Wasm memory for new instance');
        }
        const instance = new Instance(module, imports);
        ++live;
        freed.register(instance, null);
        return instance;
      };
      let parsers = [];
      const open = (n) => {
        for (let i = 0; i < n; ++i) {
          const p = ssekit.createParser({ onEvent() {} });
          p.feed('data: x\\n\\n');
          parsers.push(p);
        }
      };
      open(100);
      // The serializers' module has no parsers' instance to share: its
      // instance is asked for once, and the refusal is an SseLoadError, not a
      // raw RangeError; a second call does not ask again.
      const write = () => { try { return ssekit.serializeEvent({ data: 'y' }); } catch (e) { return e.name + ' ' + e.code; } };
      const written = [write(), write()];
      const full = { asked, refused, live, written };
      // Closing them frees nothing until the collector runs; 8 stay pooled.
      for (const p of parsers) p.close();
      parsers = [];
      for (let round = 0; round < 200 && live > 8; ++round) {
        gc();
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const collected = { live };
      asked = 0;
      open(30);
      // Room again: the serializers get their instance.
      const later = write();
      return { full, collected, again: { asked, refused, live, later } };`, { nodeArgs: ['--expose-gc'] });
    const refusedWrite = 'SseLoadError out_of_memory';
    assert.deepEqual(out.full, { asked: 42, refused: 2, live: 40, written: [refusedWrite, refusedWrite] });
    assert.equal(out.collected.live, 8, 'the test could not get the instances collected');
    // 8 from the pool, 22 new, and the serializers' one: below the remembered 40 less the margin (5).
    assert.deepEqual(out.again, { asked: 23, refused: 2, live: 31, later: 'data: y\n\n' });
  });

  it("past V8's own limit on memories, one refusal is paid, not one per parser", async (t) => {
    // About 12,900 live memories in Node 20 on x86-64 (each reserves its
    // address space); a machine with more address space may have room for
    // all of them, and then there is nothing to check.
    const out = await runScript(`
      const Instance = WebAssembly.Instance;
      let refused = 0, made = 0;
      WebAssembly.Instance = function (module, imports) {
        try {
          const instance = new Instance(module, imports);
          ++made;
          return instance;
        } catch (e) {
          ++refused;
          throw e;
        }
      };
      const parsers = [];
      const events = [];
      for (let i = 0; i < 20000 && (refused === 0 || parsers.length < made + 300); ++i) {
        const p = ssekit.createParser({ onEvent: (e) => events.push(e.data) });
        p.feed('data: ' + i + '\\n\\n');
        parsers.push(p);
      }
      const last = events.length === parsers.length && events[events.length - 1] === String(parsers.length - 1);
      return { refused, made, parsers: parsers.length, last };`, { timeout: 240_000 });
    if (out.refused === 0) {
      t.skip(`the engine had room for ${out.made} memories`);
      return;
    }
    // Before: every parser past the limit asked again, 3-4 s each (300 of them: the timeout).
    assert.equal(out.refused, 1, JSON.stringify(out));
    assert.equal(out.parsers, out.made + 300);
    assert.ok(out.last, 'every parser parsed its own event');
  });

  it('a damaged inlined module is an error naming the file and how many of its bytes it held', () => {
    const { decodeWasm } = require('../src/wasm.cjs');
    assert.throws(() => decodeWasm({ size: 10, singles: '', text: 'a' }, 'f'), { name: 'Error', message: 'f is damaged: 1 of 10 bytes' });
  });

  it('ready() resolves with nothing; after it failed (EMFILE), a later ready() is a new promise that compiles', async () => {
    const out = await runScript(`
      const Module = require('node:module');
      const load = Module._load;
      let refuse = true;
      Module._load = function (request, ...rest) {
        if (refuse && /ssekit-parser-wasm/.test(request)) {
          const e = new Error("EMFILE: too many open files, open 'x'");
          e.code = 'EMFILE';
          throw e;
        }
        return load.call(this, request, ...rest);
      };
      const first = ssekit.ready();
      const failed = await first.then(() => 'resolved', (e) => [e.name, e.code]);
      refuse = false;
      const second = ssekit.ready();
      const value = await second;
      return { failed, renewed: second !== first, value: value === undefined ? 'undefined' : JSON.stringify(value), same: second === ssekit.ready(), counts };`);
    assert.deepEqual(out, { failed: ['SseLoadError', 'load_failed'], renewed: true, value: 'undefined', same: true, counts: { sync: 0, async: 2 } });
  });

  it("ready() covers a module defined after it resolved: a browser's main thread then compiles nothing synchronously", async () => {
    // The parser alone first, the serializer imported later (a lazy import).
    const out = await runScript(
      `
      await ssekit.ready();
      const serializer = require(${JSON.stringify(path.join(src, 'serializer.cjs'))});
      await ssekit.ready();
      const written = serializer.serializeEvent({ data: 'x' });
      return { written, counts };`,
      { mainThread: true, entry: path.join(src, 'parser.cjs') },
    );
    assert.deepEqual(out, { written: 'data: x\n\n', counts: { sync: 0, async: 2 } });
  });

  it('an instance the engine fails to make for another reason than memory (a LinkError) is that error, not a shared instance', async () => {
    const out = await runScript(`
      const Instance = WebAssembly.Instance;
      let made = 0;
      WebAssembly.Instance = function (module, imports) {
        if (++made > 1) throw new WebAssembly.LinkError('x');
        return new Instance(module, imports);
      };
      const events = [];
      const a = ssekit.createParser({ onEvent: (e) => events.push(e.data) });
      a.feed('data: a\\n\\n');
      let error = 'no error';
      try {
        const b = ssekit.createParser({ onEvent: (e) => events.push(e.data) });
        b.feed('data: b\\n\\n');
      } catch (e) {
        error = [e.name, e.message, e instanceof WebAssembly.LinkError];
      }
      return { events, error };`);
    assert.deepEqual(out, { events: ['a'], error: ['LinkError', 'x', true] });
  });

  it('an instance that aborted (out of memory) is neither pooled nor shared, nor is an instance parsers share pooled', async () => {
    // The core's abort in feed() is simulated (proc_exit), and so is the
    // engine's refusal of another memory.
    const run = (body) => runScript(`
      const Instance = WebAssembly.Instance;
      let refuse = false, failNext = false;
      WebAssembly.Instance = function (module, imports) {
        if (refuse) throw new RangeError('WebAssembly.Instance(): Out of memory: Cannot allocate Wasm memory for new instance');
        const real = new Instance(module, imports);
        const exports = { ...real.exports };
        exports.ssekit_parser_feed = (...a) => {
          if (failNext) { failNext = false; imports.wasi_snapshot_preview1.proc_exit(1); }
          return real.exports.ssekit_parser_feed(...a);
        };
        return { exports };
      };
      const seen = [];
      const parser = (name) => ssekit.createParser({ onEvent: (e) => seen.push(name + ':' + e.data) });
      const attempt = (f) => { try { f(); return 'ok'; } catch (e) { return e.code + ': ' + e.message; } };
      const abort = (p) => { failNext = true; return attempt(() => p.feed('data: y\\n\\n')); };
      ${body}`);
    const aborted = 'out_of_memory: ssekit: the WebAssembly core aborted (exit 1): out of memory';
    const noMemory = 'out_of_memory: ssekit: no memory for another WebAssembly instance';
    // Closed, the aborted instance is not pooled: the next parser gets a new one.
    const pooled = await run(`
      const a = parser('a');
      a.feed('data: warm\\n\\n');
      const error = abort(a);
      a.close();
      const b = parser('b');
      return { error, next: attempt(() => b.feed('data: x\\n\\n')), seen };`);
    assert.deepEqual(pooled, { error: aborted, next: 'ok', seen: ['a:warm', 'b:x'] });
    // The engine refuses another memory: the parser made last, aborted, is
    // not shared.
    const lastMade = await run(`
      const a = parser('a');
      const error = abort(a);
      refuse = true;
      return { error, next: attempt(() => parser('b').feed('data: x\\n\\n')), seen };`);
    assert.deepEqual(lastMade, { error: aborted, next: noMemory, seen: [] });
    // Nor is the shared instance once it aborted; and when the parser it was
    // made for closes, the parsers sharing it keep it out of the pool.
    const shared = await run(`
      const a = parser('a');
      refuse = true;
      const b = parser('b');
      b.feed('data: shared\\n\\n');
      a.close();
      const error = abort(b);
      return { error, next: attempt(() => parser('c').feed('data: x\\n\\n')), seen };`);
    assert.deepEqual(shared, { error: aborted, next: noMemory, seen: ['b:shared'] });
  });

  it('after a refusal, a parser that took a pooled instance is shared; 30 s later one parser asks again and a yes forgets the refusal (probe-browser2 F3)', async () => {
    // Another program's memories fill the engine (simulated refusal), then
    // are freed: the package's count of its own live instances at the
    // refusal (one here) said nothing about the room it has.
    const out = await runScript(`
      const Instance = WebAssembly.Instance;
      let refuse = false, asked = 0;
      WebAssembly.Instance = function (module, imports) {
        ++asked;
        if (refuse) throw new RangeError('WebAssembly.Instance(): Out of memory: Cannot allocate Wasm memory for new instance');
        return new Instance(module, imports);
      };
      const realNow = Date.now;
      let later = 0;
      Date.now = () => realNow() + later;
      const attempt = (p) => { try { p.feed('data: x\\n\\n'); return 'ok'; } catch (e) { return e.code; } };
      const a = ssekit.createParser({});
      attempt(a);
      a.close();  // pooled
      refuse = true;
      const held = [];
      const open = (n) => { const r = []; for (let i = 0; i < n; ++i) { const p = ssekit.createParser({}); r.push(attempt(p)); held.push(p); } return r; };
      // The first takes the pooled instance, the rest share it.
      const whileFull = open(3);
      refuse = false;
      asked = 0;
      const soon = open(3);
      const askedSoon = asked;
      later = 31_000;
      const late = open(3);
      const askedLate = asked - askedSoon;
      return { whileFull, soon, askedSoon, late, askedLate };`);
    assert.deepEqual(out, { whileFull: ['ok', 'ok', 'ok'], soon: ['ok', 'ok', 'ok'], askedSoon: 0, late: ['ok', 'ok', 'ok'], askedLate: 3 });
  });

  it('outside Node, parsers make at most 28 instances of their own and share beyond: Chromium has room for about 125 memories per renderer process (probe-browser2 F1)', async () => {
    const count = (prelude) => runScript(`
      const Instance = WebAssembly.Instance;
      let made = 0;
      WebAssembly.Instance = function (module, imports) { ++made; return new Instance(module, imports); };
      const events = [];
      const parsers = [];
      for (let i = 0; i < 40; ++i) {
        const p = ssekit.createParser({ onEvent: (e) => events.push(e.data) });
        p.feed('data: ' + i + '\\n\\n');
        parsers.push(p);
      }
      return { made, events: events.length };`, { prelude });
    assert.deepEqual(await count(''), { made: 40, events: 40 });
    assert.deepEqual(await count("Object.defineProperty(process, 'versions', { value: { ...process.versions, node: undefined } });"), { made: 28, events: 40 });
  });

  it('an EventSource whose parser gets no WebAssembly memory fails with out_of_memory, not as an invalid response (probe-browser2 F2)', async () => {
    // A page whose other code holds every memory the engine allows; on a
    // main thread the parser is made at the first chunk. The chunk was
    // bytes: "invalid_response: ... a chunk that is not bytes" blamed the server.
    const out = await runScript(`
      WebAssembly.Instance = function () { throw new RangeError('WebAssembly.Instance(): Out of memory: Cannot allocate Wasm memory for new instance'); };
      const es = new ssekit.EventSource('http://127.0.0.1:9/', {
        fetch: async () => new Response('data: x\\n\\n', { headers: { 'content-type': 'text/event-stream' } }),
      });
      return await new Promise((resolve) => {
        es.onerror = (e) => resolve([e.error.name, e.error.reason, e.error.message, e.error.cause.name, es.readyState]);
      });`, { mainThread: true });
    assert.deepEqual(out, ['SseError', 'out_of_memory', 'ssekit: no memory for another WebAssembly instance', 'SseLoadError', 2]);
  });

  it("the serializers' refusal is forgotten once they get an instance: after an abort they ask again while the engine has room", async () => {
    // The engine's refusal and the serializer core's abort (proc_exit) are
    // simulated. After the refusal the package counts the engine's room as
    // the live instances then (10 parsers), less a margin; here the engine
    // has room again all along.
    const out = await runScript(`
      const Instance = WebAssembly.Instance;
      let refuse = false, failNext = false, asked = 0, live = 0;
      const freed = new FinalizationRegistry(() => --live);
      WebAssembly.Instance = function (module, imports) {
        ++asked;
        if (refuse) throw new RangeError('WebAssembly.Instance(): Out of memory: Cannot allocate Wasm memory for new instance');
        const real = new Instance(module, imports);
        ++live;
        freed.register(real, null);
        const exports = { ...real.exports };
        if (exports.ssekit_serialize_event) {
          exports.ssekit_serialize_event = (...a) => {
            if (failNext) { failNext = false; imports.wasi_snapshot_preview1.proc_exit(1); }
            return real.exports.ssekit_serialize_event(...a);
          };
        }
        return { exports };
      };
      const write = (data) => { try { return ssekit.serializeEvent({ data }); } catch (e) { return e.code + ': ' + e.message; } };
      let parsers = [];
      const open = (n) => { for (let i = 0; i < n; ++i) { const p = ssekit.createParser({}); p.feed('data: x\\n\\n'); parsers.push(p); } };
      open(10);
      refuse = true;
      const refused = write('a');
      refuse = false;
      const notAskedAgain = write('b');
      // Unclosed parsers' instances are collected with them (the last one
      // made stays held), which makes room.
      parsers = [];
      for (let round = 0; round < 200 && live > 1; ++round) {
        gc();
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const collected = live;
      const room = write('c');
      // No room by the package's count again (past 10 live), and the
      // serializers' instance aborts: they ask for another one.
      open(20);
      failNext = true;
      const aborted = write('d');
      asked = 0;
      const again = write('e');
      return { refused, notAskedAgain, collected, room, aborted, again, asked };`, { nodeArgs: ['--expose-gc'] });
    const noMemory = 'out_of_memory: ssekit: no memory for another WebAssembly instance';
    assert.equal(out.collected, 1, 'the test could not get the instances collected');
    assert.deepEqual(out, {
      refused: noMemory,
      notAskedAgain: noMemory,
      collected: 1,
      room: 'data: c\n\n',
      aborted: 'out_of_memory: ssekit: the WebAssembly core aborted (exit 1): out of memory',
      again: 'data: e\n\n',
      asked: 1,
    });
  });
});
