'use strict';
// Loads the core's WebAssembly: two modules, the parser's
// (wasm/bridge_parser.cpp) and the serializer's (wasm/bridge_serializer.cpp),
// built with -sSTANDALONE_WASM: no Emscripten glue, three imports at most,
// provided below. parser.cjs and serializer.cjs each define theirs
// (defineModule), so a bundle carries only the module it imports.
//
// - Each module is compiled once per program: asynchronously by ready()
//   (all of them; browsers: no long task on the main thread), or
//   synchronously on first use where that is cheap and allowed (Node,
//   workers).
// - Every parser gets an instance with its own memory, so one huge event
//   enlarges only that parser's memory, and close() gives it back: WASM
//   memory never shrinks, but an instance nobody references is collected
//   with its memory. Closed parsers' instances that stayed small are kept in
//   a small pool, because instantiating costs more than creating a parser.
// - A Content-Security-Policy without 'wasm-unsafe-eval' is reported as
//   such (SseLoadError), not as a raw CompileError; so is an engine with
//   WebAssembly turned off, which no CSP source can fix.

// A WASM page is 64 KiB. An instance whose memory stayed at or below this
// goes back to the pool; a larger one is dropped (and its memory freed).
const POOL_MEMORY_LIMIT = 1 << 20;
const POOL_SIZE = 8;
// The smallest valid module: compiling it tells whether the page may
// compile WebAssembly at all, without the cost of compiling the core.
const EMPTY_MODULE = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

// A named class expression (see SseError in eventsource.cjs).
const SseLoadError = class SseLoadError extends Error {
  constructor(code, message, cause) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'SseLoadError';
    // 'csp_blocked' (the page's CSP forbids WebAssembly), 'wasm_unavailable'
    // (the engine has none), 'missing_build',
    // 'load_failed' (the file is there but could not be read: EMFILE, EACCES),
    // 'compile_failed', 'out_of_memory'.
    this.code = code;
  }
};

let allowed = null;   // true, or the error that forbade WebAssembly

// One of the package's WebAssembly modules and its instances. `load`
// requires its dist/ file, so that file is bundled with the module that
// defines it, not with this one.
class CoreModule {
  constructor(file, load) {
    this.file = file;  // for messages
    this.load = load;
    this.compiled = null;  // WebAssembly.Module
    this.compiling = null;  // Promise of it, from prepare()
    this.pool = [];
    // The instance made last for a parser (until that parser releases it),
    // and the one parsers share once the engine refuses another memory
    // (weak: the parsers sharing it keep it alive). Not a WeakRef per
    // instance: a WeakRef keeps its target alive until the current job
    // ends, so a loop of big events would hold every dropped instance's
    // memory until it returns.
    this.lastMade = null;
    this.shared = null;
    this.refused = false;  // the engine refused this module's last instance
  }
}

// Every module defined so far: the ones this program imported.
const modules = [];

function defineModule(file, load) {
  const m = new CoreModule(file, load);
  modules.push(m);
  return m;
}

function cspError(cause) {
  return new SseLoadError(
    'csp_blocked',
    // Not "this page's": a worker has a policy too, and other embedders
    // refuse for reasons of their own (the engine's words say which).
    "ssekit: its WebAssembly was refused; in a page or worker, by the Content-Security-Policy: " +
      "add 'wasm-unsafe-eval' to script-src (e.g. script-src 'self' 'wasm-unsafe-eval'). " +
      `The engine said: ${cause?.message ?? String(cause)}`,
    cause,
  );
}

// Node's --jitless and Safari's Lockdown Mode leave no WebAssembly global
// at all: naming a CSP source there sent users after a policy they don't have.
function unavailableError(cause) {
  return new SseLoadError(
    'wasm_unavailable',
    `ssekit: WebAssembly, which ssekit runs on, is turned off in this engine (e.g. Node's --jitless, Safari's Lockdown Mode). The engine said: ${cause?.message ?? String(cause)}`,
    cause,
  );
}

// Under a CSP without 'wasm-unsafe-eval' (or 'unsafe-eval') every compile
// throws; a valid empty module fails for no other reason.
function checkAllowed() {
  if (allowed === null) {
    try {
      new WebAssembly.Module(EMPTY_MODULE);  // eslint-disable-line no-new
      allowed = true;
    } catch (e) {
      allowed = e;
    }
  }
  if (allowed !== true) throw typeof WebAssembly === 'object' ? cspError(allowed) : unavailableError(allowed);
}

// dist/ssekit-{parser,serializer}-wasm.cjs hold each module as text that gzip compresses about
// as well as the binary. Base64 does not: it cuts the module's repeated byte
// runs at three different bit offsets, so gzip finds few of them (4.4 kB more
// in every bundle). Here each byte is one character of WASM_ALPHABET (the
// `singles`, hex: the module's most frequent bytes, most frequent first) or
// two (every other byte value, ascending: first digit past the singles,
// then any digit). The alphabet is printable ASCII without quotes, backslash
// and '<', so no bundler or minifier escapes a character of it.
// scripts/inline-wasm.cjs writes the file and checks this decodes it.
const WASM_ALPHABET = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i))
  .filter((c) => !'"\'`\\<'.includes(c))
  .join('');

function decodeWasm({ size, singles, text }, file = 'the inlined module') {
  const digit = new Uint8Array(128);
  for (let i = 0; i < WASM_ALPHABET.length; ++i) digit[WASM_ALPHABET.charCodeAt(i)] = i;
  // values[code]: the byte a code stands for.
  const values = new Uint8Array(256);
  const n = singles.length / 2;
  const single = new Uint8Array(256);
  for (let i = 0; i < n; ++i) single[(values[i] = parseInt(singles.slice(2 * i, 2 * i + 2), 16))] = 1;
  for (let v = 0, i = n; v < 256; ++v) if (!single[v]) values[i++] = v;
  const base = WASM_ALPHABET.length;
  const bytes = new Uint8Array(size);
  let at = 0;
  for (let i = 0; i < text.length && at < size; ++i) {
    const d = digit[text.charCodeAt(i)];
    bytes[at++] = d < n ? values[d] : values[n + (d - n) * base + digit[text.charCodeAt(++i)]];
  }
  if (at !== size) throw new Error(`${file} is damaged: ${at} of ${size} bytes`);
  return bytes;
}

// Only a file that is not there is a missing build: out of descriptors
// (EMFILE) or a permission said "build it" of a file that was built.
function loadFailed(file, e) {
  if (e !== null && typeof e === 'object' && e.code === 'MODULE_NOT_FOUND')
    return new SseLoadError('missing_build', `ssekit: ${file} is missing; build it with \`npm run build\` in js/`, e);
  return new SseLoadError('load_failed', `ssekit: can't load ${file}: ${e !== null && typeof e === 'object' ? e.message : String(e)}`, e);
}

function binary(m) {
  let inlined;
  try {
    inlined = m.load();
  } catch (e) {
    throw loadFailed(m.file, e);
  }
  return decodeWasm(inlined, m.file);
}

function compileError(e) {
  if (e instanceof SseLoadError) return e;
  return new SseLoadError('compile_failed', `ssekit: the WebAssembly core did not compile: ${e?.message ?? String(e)}`, e);
}

// Compiles one module asynchronously (once). Rejects with SseLoadError.
function prepare(m) {
  if (m.compiling === null && m.compiled !== null) m.compiling = Promise.resolve();
  if (m.compiling === null) {
    m.compiling = (async () => {
      checkAllowed();
      const module = await WebAssembly.compile(binary(m));
      if (m.compiled === null) m.compiled = module;
    })().catch((e) => {
      m.compiling = null;  // a later call tries again
      throw compileError(e);
    });
  }
  return m.compiling;
}

let readied = null;  // ready()'s promise
let readiedFor = 0;  // how many modules it covers

// Compiles every module the program imported (the parser's, the
// serializer's) asynchronously, once; createParser() and the serializers
// never compile after it has resolved. Call it before the first
// createParser() on a browser's main thread. Rejects with SseLoadError.
function ready() {
  // The same promise every time (the README says so), also after a
  // synchronous compile; a new one only if it failed, or if a module was
  // defined after it (not through the package's entry points, which load
  // them all first).
  if (readied === null || readiedFor !== modules.length) {
    readiedFor = modules.length;
    const promise = Promise.all(modules.map(prepare)).then(
      () => {},
      (e) => {
        if (readied === promise) readied = null;  // a later call tries again
        throw e;
      },
    );
    readied = promise;
  }
  return readied;
}

// On a browser's main thread a synchronous compile is a long task, so a
// parser there waits for its module (see Parser in parser.cjs).
const onMainThread = typeof window === 'object' && typeof document === 'object';

function isCompiled(m) {
  return m.compiled !== null;
}

function compileSync(m) {
  if (m.compiled !== null) return m.compiled;
  checkAllowed();
  try {
    m.compiled = new WebAssembly.Module(binary(m));
  } catch (e) {
    throw compileError(e);
  }
  return m.compiled;
}

// One instance of a module (CoreModule): its exports, memory and views of it.
class Core {
  constructor(owner) {
    const imports = {
      env: {
        // Growing detaches the old views; they are remade when next read.
        emscripten_notify_memory_growth: () => {
          this.u8 = null;
          this.u32 = null;
        },
        // Big data, types and ids, decoded during the call (TAKEN_* in
        // wasm/bridge_encoder.hpp); the parser's module only.
        ssekit_take: (ptr, len) => {
          this.taken.push(decodeText(this.heap(), null, ptr, len, 0, 0));
          return this.taken.length - 1;
        },
      },
      wasi_snapshot_preview1: {
        // abort(): allocation failure with exceptions off. The instance is
        // unusable afterwards; Parser drops it.
        proc_exit: (code) => {
          this.broken = true;
          throw new SseLoadError('out_of_memory', `ssekit: the WebAssembly core aborted (exit ${code}): out of memory`);
        },
      },
    };
    const instance = new WebAssembly.Instance(owner.compiled, imports);
    this.owner = owner;
    this.exports = instance.exports;
    this.memory = instance.exports.memory;
    this.u8 = null;
    this.u32 = null;
    this.broken = false;
    this.taken = [];  // strings ssekit_take decoded during the current call
    this.exports._initialize();
  }
  // A view of a memory that grew is detached, and a detached view's length
  // is 0 (the memory never is): a check with no call into the engine, where
  // reading memory.buffer is one (15 ns, four times per serializeEvent()).
  heap() {
    if (this.u8 === null || this.u8.length === 0) this.u8 = new Uint8Array(this.memory.buffer);
    return this.u8;
  }
  words() {
    if (this.u32 === null || this.u32.length === 0) this.u32 = new Uint32Array(this.memory.buffer);
    return this.u32;
  }
  get bytes() {
    return this.heap().length;
  }
}

// Private instances made, and collected (their memory freed with them).
let made = 0;
let collected = 0;
const collections = new FinalizationRegistry(() => {
  ++collected;
});
// How many private instances were alive when the engine last refused a
// memory. V8 refuses only after full collections and retries: 3-4 s each
// time in Node 20 (past about 12,900 live memories), a stall of the whole
// event loop per new parser if every one asked. So once refused, parsers
// share while the live count is within a margin of that one (16, or an
// eighth where the engine has room for few), and make their own again once
// collections have made room. Other code may have held the memories at the
// refusal (a page's own), so 30 s after it one new parser asks again, and
// a yes forgets the refusal.
// Chromium's V8 sandbox leaves room for about 125 memories per renderer
// process, shared with the page's other code: outside Node, parsers keep
// to 32 of their own (28 and the margin) and share beyond.
const CAPACITY = globalThis.process?.versions?.node ? Infinity : 32;
let capacity = CAPACITY;
let refusedAt = 0;
const hasRoom = () => made - collected < capacity - Math.min(16, capacity >> 3);

// The live instance of module m that parsers share once the engine refuses
// another memory.
function fallback(m) {
  const core = m.shared?.deref();
  if (core !== undefined && !core.broken) return core;
  return m.lastMade !== null && !m.lastMade.broken ? m.lastMade : undefined;
}

// An instance of module m for one parser (or for the serializers: forParser
// false), from the pool, or new, or the shared one when the engine has no
// room for another memory (V8 reserves address space per memory: about
// 13,000 per process). The serializers' module has no parsers' instance to
// share: past that limit its instance is asked for once, and after a
// refusal not again until collections have made room (each refusal stalls
// V8 for seconds); meanwhile the serializers throw SseLoadError.
function acquire(m, forParser = true) {
  compileSync(m);
  const pooled = m.pool.pop();
  // Made last for the parsers' fallback too: it is the one to share.
  if (pooled !== undefined) return forParser ? (m.lastMade = pooled) : pooled;
  let refusal;
  // With nothing to share, asking again is the only way on for a parser.
  const late = refusedAt !== 0 && Date.now() - refusedAt > 30_000;
  if (late || hasRoom() || (fallback(m) === undefined && (forParser || !m.refused))) {
    try {
      const core = new Core(m);
      if (late) [capacity, refusedAt] = [CAPACITY, 0];
      ++made;
      collections.register(core, null);
      if (forParser) m.lastMade = core;
      m.refused = false;
      return core;
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      capacity = made - collected;
      refusedAt = Date.now();
      m.refused = true;
      refusal = e;
    }
  }
  const core = fallback(m);
  if (core === undefined) throw new SseLoadError('out_of_memory', 'ssekit: no memory for another WebAssembly instance', refusal);
  core.shared = true;
  m.shared = new WeakRef(core);
  return core;
}

// After the core freed the parser: a small instance is kept for reuse.
function release(core) {
  const m = core.owner;
  if (core === m.lastMade) m.lastMade = null;
  if (core.shared === true || core.broken) return;
  if (core.bytes <= POOL_MEMORY_LIMIT && m.pool.length < POOL_SIZE) m.pool.push(core);
}

// --- Helpers for parser.cjs and serializer.cjs.

const encoder = new TextEncoder();
// ignoreBOM: a U+FEFF inside a field is data (only the stream's first BOM is
// dropped, by the core), so TextDecoder must not eat it. The core repairs
// invalid UTF-8 in parsed text with TextDecoder's rules before it gets here.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
// Longer strings are encoded to an exact-size array first instead of
// reserving 3 bytes per UTF-16 unit in WASM memory.
const ENCODE_IN_PLACE_LIMIT = 1 << 16;

function decodeAt(heap, ptr, len) {
  return len === 0 ? '' : decoder.decode(heap.subarray(ptr, ptr + len));
}

// V8 puts a string of more than 128 KiB in its own mapping (large-object
// space): making one costs fresh pages and a later unmap, which measured
// 40x slower per byte than decoding 64 KiB pieces (Node 20, a 140 KB ASCII
// text: 60 MB/s against 2.3 GB/s). So texts are decoded in pieces of at
// most this many bytes, and a longer string is a rope of pieces (nothing is
// copied until someone reads its characters). A piece with one character
// above U+00FF is stored two bytes a character: 64 KiB of mostly ASCII then
// took 128 KiB and a header, just over the limit (the big workload's Node
// floor ratio: 0.68 -> 1.0). So a piece is 1 KiB short of 64 KiB.
const DECODE_PIECE = (1 << 16) - 1024;

// A text longer than one piece: its pieces, decoded one by one, and where
// each starts (UTF-16 units).
class Pieces {
  constructor(heap, u32, ptr, len, cuts, count) {
    this.texts = [];
    this.starts = [];
    this.length = 0;
    for (let at = ptr, end = ptr + len, c = cuts; at < end; ) {
      const next = c < cuts + count ? ptr + u32[c++] : end;
      while (at < next) {
        let cut = next;
        // At most DECODE_PIECE bytes, not ending inside a character.
        if (cut - at > DECODE_PIECE) for (cut = at + DECODE_PIECE; (heap[cut] & 0xc0) === 0x80; ) --cut;
        const text = decoder.decode(heap.subarray(at, cut));
        this.texts.push(text);
        this.starts.push(this.length);
        this.length += text.length;
        at = cut;
      }
    }
  }
  slice(start, length) {
    const { texts, starts } = this;
    let i = 0;
    while (starts[i + 1] <= start) ++i;  // a text has few pieces
    // A string that spans pieces is a rope of them.
    let out = '';
    for (let end = start + length; ; start = starts[++i]) {
      const from = starts[i];
      if (end <= from + texts[i].length) return out + texts[i].substring(start - from, end - from);
      out += texts[i].substring(start - from);
    }
  }
}

// Decodes the text at [ptr, ptr + len) (valid UTF-8), cut at the `count`
// byte offsets from u32[cuts] on (ascending) and into pieces of at most
// DECODE_PIECE bytes: a string, or Pieces when that takes more than one.
function decodeText(heap, u32, ptr, len, cuts, count) {
  return count === 0 && len <= DECODE_PIECE ? decodeAt(heap, ptr, len) : new Pieces(heap, u32, ptr, len, cuts, count);
}

// The bridge's constants and the core's error table, generated from
// wasm/bridge_abi.hpp and core/src/error.cpp by the build.
function abi() {
  try {
    return require('../dist/bridge-abi.cjs');
  } catch (e) {
    throw loadFailed('dist/bridge-abi.cjs', e);
  }
}

function errorInfo(code) {
  const [name, message] = abi()[1][code] ?? ['unknown', `unknown ssekit error ${code}`];
  return { name, message };
}

// A Uint8Array's real length: `length` can be an own property or a
// subclass's getter that lies, and set() copies the real one.
const realLength = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'length').get;

// Copies `bytes` (a string is UTF-8 encoded) into the instance's input
// region. Returns [address, length]; valid until the next call into it.
function stage(core, bytes) {
  if (typeof bytes === 'string') {
    if (bytes.length > ENCODE_IN_PLACE_LIMIT) return stage(core, encoder.encode(bytes));
    const capacity = bytes.length * 3;
    const ptr = core.exports.ssekit_input(capacity);
    const { written } = encoder.encodeInto(bytes, core.heap().subarray(ptr, ptr + capacity));
    return [ptr, written];
  }
  const n = realLength.call(bytes);
  const ptr = core.exports.ssekit_input(n);
  core.heap().set(bytes, ptr);
  return [ptr, n];
}

// What a wrong argument was, for messages (never an object's own toString).
function describe(value) {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'function') return 'a function';
  return `${typeof value} ${String(value)}`;
}

// For an option that is a number: a wrong type is a TypeError, a number
// out of range a RangeError (Node's own convention).
function numberError(value, message) {
  return typeof value === 'number' ? new RangeError(message) : new TypeError(message);
}

function requireString(value, what) {
  if (typeof value !== 'string') throw new TypeError(`ssekit: ${what} must be a string, got ${describe(value)}`);
  return value;
}

module.exports = { realLength, ready, prepare, defineModule, isCompiled, decodeWasm, WASM_ALPHABET, onMainThread, checkAllowed, acquire, release, Core, SseLoadError, POOL_MEMORY_LIMIT,
  abi, encoder, decoder, decodeAt, decodeText, errorInfo, stage, describe, numberError, requireString, ENCODE_IN_PLACE_LIMIT,
};
