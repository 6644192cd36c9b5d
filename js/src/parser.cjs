'use strict';
// createParser(): the C++ core's parser, compiled to WebAssembly
// (wasm/bridge_parser.cpp is the other side of every call here; its module
// is dist/ssekit-parser-wasm.cjs, which wasm.cjs loads).
//
// Rules that keep this correct:
// - One WASM call per chunk. Everything it produced (events, comments,
//   retries, the error) is decoded into JS values right after the call,
//   before any user callback runs, so callbacks may use other parsers freely.
// - No view into WASM memory outlives a call: memory can grow (detaching old
//   views), and the record buffer and input region are reused.
// - Each parser has its own instance (wasm.cjs), taken when first needed:
//   at once where compiling is cheap, else (a browser's main thread before
//   ready()) at the first call that needs the core.

const wasm = require('./wasm.cjs');
const { decodeAt, decodeText, errorInfo, stage, requireString, ready, SseLoadError, realLength } = wasm;

// The parser's module. Required here, not in wasm.cjs, so that only a
// bundle with the parser carries it.
const PARSER = wasm.defineModule('dist/ssekit-parser-wasm.cjs', () => require('../dist/ssekit-parser-wasm.cjs'));
// The parser's module compiled asynchronously (the EventSource and stream()
// await it on a browser's main thread; ready() compiles every module).
const prepare = () => wasm.prepare(PARSER);

// The record layout and header offsets (wasm/bridge_encoder.hpp), generated
// from wasm/bridge_abi.hpp at build time, by position (dist/bridge-abi.cjs
// names each in a comment; test/bridge-layout.test.mjs checks this order).
const [[
  RECORD_EVENT,
  RECORD_COMMENT,
  RECORD_RETRY,
  RECORD_KIND_MASK,
  EVENT_WORDS,
  COMMENT_WORDS,
  RETRY_WORDS,
  TYPE_MESSAGE,
  ID_SAME,
  TYPE_CACHED,
  TYPE_STORE,
  WIDE_TYPE,  // also a comment's text
  WIDE_DATA,
  WIDE_ID,
  TAKEN_TYPE,  // the type is core.taken[start]
  TAKEN_DATA,  // the data, likewise
  TAKEN_ID,  // the id, likewise
  TYPE_SLOT_SHIFT,
  TYPE_SLOTS,
  HEADER_STATUS,
  HEADER_RECORDS,
  HEADER_WORDS,
  HEADER_ERROR_LOW,
  HEADER_ERROR_HIGH,
  HEADER_STRING_PTR,
  HEADER_STRING_LEN,
  HEADER_ASCII_PTR,
  HEADER_ASCII_LEN,
  HEADER_WIDE_PTR,
  HEADER_WIDE_LEN,
  HEADER_CUTS_PTR,
  HEADER_CUTS_COUNT,
  DEFAULT_MAX_LINE_LENGTH,
  DEFAULT_MAX_EVENT_SIZE,
]] = wasm.abi();

const TWO_32 = 2 ** 32;
// A chunk goes to the core in pieces of at most this many bytes. Staged
// whole, a chunk and the events it completes (written beside it) took
// about twice its size of WebAssembly memory, kept until close(): one
// feed() of a 64 MiB recording held 235 MiB. A piece leaves the instance
// within the pool's limit (wasm.cjs POOL_MEMORY_LIMIT).
const FEED_PIECE = 256 * 1024;
const LONGEST_STRING = 2 ** 29 - 24;

// The string [start, start + length) of a decoded text (wasm.cjs decodeText).
function slice(text, start, length) {
  return typeof text === 'string' ? text.substring(start, start + length) : text.slice(start, length);
}

const whole = (text) => slice(text, 0, text.length);

const NO_BYTES = new Uint8Array(0);

function asBytes(chunk) {
  if (typeof chunk === 'string') return chunk;
  // A detached buffer (transferred away) holds no bytes, as WebIDL reads
  // it (TextDecoder's decode() too); copying from one would throw V8's own error.
  if (chunk instanceof Uint8Array) return realLength.call(chunk) === 0 ? NO_BYTES : chunk;
  // (A detached DataView's byteLength throws; its buffer's is 0.)
  if (ArrayBuffer.isView(chunk)) return chunk.buffer.byteLength === 0 ? NO_BYTES : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (chunk instanceof ArrayBuffer) return chunk.byteLength === 0 ? NO_BYTES : new Uint8Array(chunk);
  throw new TypeError(`ssekit: feed() takes a Uint8Array (or another ArrayBufferView, an ArrayBuffer) or a string, got ${wasm.describe(chunk)}`);
}

// undefined: the core's default (DEFAULT_MAX_*, generated from the core).
function limitOption(options, name) {
  const value = options[name];
  if (value === undefined || value === null) return undefined;
  if (value !== Infinity && !(Number.isInteger(value) && value >= 0)) {
    throw wasm.numberError(value, `ssekit: ${name} must be a non-negative integer or Infinity, got ${wasm.describe(value)}`);
  }
  // V8's longest string (2^29-24 UTF-16 units; n bytes decode to at most n):
  // a longer value is the limit's error, not a RangeError mid-feed().
  return Math.min(value, LONGEST_STRING);
}

// An option only the package's EventSource and stream() pass: a callback
// taking (type, data, lastEventId) instead of an event object, so a small
// event costs no object nobody reads. Not part of the public API.
const ON_EVENT_FIELDS = Symbol('ssekit onEventFields');
// Internal too, for stream(): like ON_EVENT_FIELDS, but called while the
// records are read, so it must run no user code (stream() only queues the
// event; user code runs when the queue is read). Saves a second pass.
const COLLECT_EVENT = Symbol('ssekit collectEvent');

function callbackOption(options, name) {
  const value = options[name];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'function') throw new TypeError(`ssekit: ${String(name)} must be a function`);
  return value;
}

// A named class expression (see SseError in eventsource.cjs).
const SseParseError = class SseParseError extends Error {
  constructor(code, offset, message) {
    super(`${message} (${code} at byte ${offset})`);
    this.name = 'SseParseError';
    // The core's error_name(): 'line_too_long', 'event_too_large', 'feed_after_finish'.
    this.code = code;
    // Bytes from the start of the stream (a BOM included) to the start of the offending line.
    this.offset = offset;
  }
};

// Only for parsers on the shared fallback instance (wasm.cjs acquire()):
// an own instance goes with its parser. Only a safety net: when it runs is
// up to the garbage collector.
const registry = new FinalizationRegistry(({ core, handle }) => core.exports.ssekit_parser_free(handle));

// A reader over a source of chunks: a ReadableStream (of any realm or
// polyfill), or a Node stream or other async iterable. { read() ->
// Promise<{done, value}>, cancel(reason) -> Promise, release?() }; null for
// anything else. cancel() lets the source go even while a read waits on it:
// a Node stream is destroyed (an async iterator's return() would wait for
// that read).
function chunkReader(source) {
  if (typeof source.getReader === 'function') {
    const reader = source.getReader();
    return {
      read: () => reader.read(),
      cancel: (reason) => Promise.resolve().then(() => reader.cancel(reason)),
      release: () => reader.releaseLock(),
    };
  }
  if (typeof source[Symbol.asyncIterator] === 'function') {
    const iterator = source[Symbol.asyncIterator]();
    return {
      read: () => iterator.next(),
      cancel: (reason) =>
        Promise.resolve().then(() => {
          if (typeof source.destroy === 'function') source.destroy();
          return iterator.return?.(reason);
        }),
    };
  }
  return null;
}

class Parser {
  #core = null;  // wasm.cjs Core, once attached
  #handle = 0;
  #header = 0;  // index of the header in the instance's HEAPU32
  #closed = false;
  #maxLineLength;
  #maxEventSize;
  #pendingId = null;  // lastEventId set before the core was attached
  #onEvent;
  #onEventFields;
  #collectEvent;
  #onComment;
  #onRetry;
  #error = null;  // sticky SseParseError, until reset()
  #busy = false;  // inside feed()/finish(), callbacks included
  #eventId = '';  // lastEventId of the last event record (ID_SAME)
  #types = [];  // event types by slot (TYPE_CACHED)
  // A string chunk's trailing high surrogate, held for the next chunk: the
  // two halves of one character may come in two strings.
  #highSurrogate = '';

  constructor(options) {
    // Throws SseLoadError at once under a CSP that forbids WebAssembly.
    wasm.checkAllowed();
    this.#maxLineLength = limitOption(options, 'maxLineLength');
    this.#maxEventSize = limitOption(options, 'maxEventSize');
    this.#onEvent = callbackOption(options, 'onEvent');
    this.#onEventFields = callbackOption(options, ON_EVENT_FIELDS);
    // The internal ones win (one is given at most: no check).
    this.#collectEvent = callbackOption(options, COLLECT_EVENT);
    this.#onComment = callbackOption(options, 'onComment');
    this.#onRetry = callbackOption(options, 'onRetry');
    if (!wasm.onMainThread || wasm.isCompiled(PARSER)) {
      this.#attach();
    } else {
      // Compiles off the main thread's long tasks; a feed() before it is
      // done compiles synchronously (await ready() to avoid that).
      prepare().catch(() => {});
    }
  }

  #attach() {
    if (this.#core !== null) {
      if (this.#core.broken) throw new SseLoadError('out_of_memory', 'ssekit: this parser ran out of WebAssembly memory');
      return this.#core;
    }
    const core = wasm.acquire(PARSER);
    const x = core.exports;
    const handle = x.ssekit_parser_create(this.#maxLineLength ?? DEFAULT_MAX_LINE_LENGTH, this.#maxEventSize ?? DEFAULT_MAX_EVENT_SIZE);
    if (handle === 0) throw new SseLoadError('out_of_memory', 'ssekit: out of WebAssembly memory');
    this.#core = core;
    this.#handle = handle;
    this.#header = x.ssekit_parser_header(handle) >>> 2;
    if (core.shared === true) registry.register(this, { core, handle }, this);
    if (this.#pendingId !== null) {
      const [ptr, len] = stage(core, this.#pendingId);
      x.ssekit_parser_set_last_event_id(handle, ptr, len);
      this.#pendingId = null;
    }
    return core;
  }

  feed(chunk) {
    this.#enter('feed()');
    let bytes = asBytes(chunk);
    if (this.#error !== null) throw this.#error;
    if (typeof bytes === 'string' || this.#highSurrogate !== '') bytes = this.#joinSurrogates(bytes);
    const core = this.#attach();
    if (bytes.length > FEED_PIECE && typeof bytes === 'string') bytes = wasm.encoder.encode(bytes);
    // A callback that closes the parser stops it (#run), here between pieces too.
    for (let at = 0, n = typeof bytes === 'string' ? 0 : realLength.call(bytes); ; ) {
      const [ptr, len] = stage(core, n > FEED_PIECE ? bytes.subarray(at, at + FEED_PIECE) : bytes);
      this.#run(core, core.exports.ssekit_parser_feed(this.#handle, ptr, len));
      if ((at += FEED_PIECE) >= n || this.#closed) return;
    }
  }

  finish() {
    this.#enter('finish()');
    if (this.#error !== null) throw this.#error;
    // A high surrogate that no low one followed is U+FFFD, as TextEncoder makes it.
    if (this.#highSurrogate !== '') this.feed(new Uint8Array(0));
    const core = this.#attach();
    this.#run(core, core.exports.ssekit_parser_finish(this.#handle));
  }

  reset() {
    this.#enter('reset()');
    this.#highSurrogate = '';
    const core = this.#core;
    // WebAssembly memory can't shrink: an instance a big event enlarged
    // goes, and the next feed() attaches a fresh one with the id, so a
    // long-lived EventSource does not hold its largest event's memory
    // across every later reconnect.
    if (core !== null && core.shared !== true && !core.broken && core.bytes > wasm.POOL_MEMORY_LIMIT) {
      const id = this.lastEventId;
      this.#detach();
      this.#pendingId = id;
      this.#types = [];  // as the new instance's type cache: empty
    } else {
      this.#attach().exports.ssekit_parser_reset(this.#handle);
    }
    this.#error = null;
  }

  // Puts a held high surrogate in front of `bytes`, and holds a string's
  // own trailing one.
  #joinSurrogates(bytes) {
    const held = this.#highSurrogate;
    this.#highSurrogate = '';
    if (typeof bytes !== 'string') {
      const first = wasm.encoder.encode(held);
      const joined = new Uint8Array(first.length + bytes.length);
      joined.set(first);
      joined.set(bytes, first.length);
      return joined;
    }
    let text = held + bytes;
    const last = text.charCodeAt(text.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) {
      this.#highSurrogate = text[text.length - 1];
      text = text.slice(0, -1);
    }
    return text;
  }

  // Gives the parser's WebAssembly memory back (its instance is dropped, or
  // pooled when it stayed small).
  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#detach();
  }

  #detach() {
    const core = this.#core;
    if (core === null) return;
    this.#core = null;
    if (core.shared === true) registry.unregister(this);
    if (!core.broken) core.exports.ssekit_parser_free(this.#handle);
    this.#handle = 0;
    wasm.release(core);
  }

  // Bytes of WebAssembly memory this parser holds (0 once closed, and
  // before its instance exists). Shared with other parsers only in the
  // fallback described in the README ("Memory").
  get memoryBytes() {
    return this.#core === null ? 0 : this.#core.bytes;
  }

  get lastEventId() {
    this.#checkOpen('lastEventId');
    const core = this.#core;
    if (core === null) return this.#pendingId ?? '';
    core.exports.ssekit_parser_last_event_id(this.#handle);
    const u32 = core.words();
    return decodeAt(core.heap(), u32[this.#header + HEADER_STRING_PTR], u32[this.#header + HEADER_STRING_LEN]);
  }

  // Sets the id events carry until the stream sends an `id:` field (e.g.
  // the id a client resumes from).
  // Not from a callback: they run after the core has read the whole chunk,
  // so the id would land after the `id:` fields the chunk has further on,
  // and what later events carry would depend on where chunks were cut.
  set lastEventId(id) {
    this.#enter('setting lastEventId');
    requireString(id, 'lastEventId');
    // As the core's set_last_event_id() and the serializer: the format can't carry these.
    if (/[\r\n\0]/.test(id)) {
      throw Object.assign(new TypeError('ssekit: lastEventId must not contain CR, LF or NUL (invalid_event_id)'), { code: 'invalid_event_id' });
    }
    const core = this.#core;
    if (core === null) {
      this.#pendingId = id;
      return;
    }
    const [ptr, len] = stage(core, id);
    core.exports.ssekit_parser_set_last_event_id(this.#handle, ptr, len);
  }

  get closed() {
    return this.#closed;
  }

  #checkOpen(what) {
    if (this.#closed) throw new Error(`ssekit: ${what} on a closed parser`);
  }

  #enter(what) {
    this.#checkOpen(what);
    // `code`: the core's name for the same refusal.
    if (this.#busy) throw Object.assign(new Error(`ssekit: ${what} called from inside one of this parser's callbacks`), { code: 'called_from_callback' });
  }

  // Decodes what the call produced, then delivers it; throws the parse
  // error, if any, after delivering what came before it.
  #run(core, status) {
    const heap = core.heap();
    const u32 = core.words();
    const h = this.#header;
    if (status !== 0) {
      const { name, message } = errorInfo(status);
      const offset = u32[h + HEADER_ERROR_LOW] + u32[h + HEADER_ERROR_HIGH] * TWO_32;
      this.#error = new SseParseError(name, offset, message);
    }
    const words = u32[h + HEADER_WORDS];
    if (words === 0) {
      if (core.taken.length !== 0) core.taken.length = 0;  // setting it is a slow builtin call, even to 0
      if (this.#error !== null) throw this.#error;
      return;
    }
    // Every string is a slice of one of the two texts (see bridge_encoder.hpp). V8
    // makes a slice of 13+ chars a view, so a kept string keeps its call's
    // text alive, as slices of a decoded chunk do in JS parsers.
    const ascii = decodeText(heap, u32, u32[h + HEADER_ASCII_PTR], u32[h + HEADER_ASCII_LEN], 0, 0);
    // The wide text's cuts: see cut_finder in bridge_encoder.hpp.
    const wide = decodeText(heap, u32, u32[h + HEADER_WIDE_PTR], u32[h + HEADER_WIDE_LEN], u32[h + HEADER_CUTS_PTR] >>> 2, u32[h + HEADER_CUTS_COUNT]);
    // Flat: [RECORD_EVENT, type, data, id, RECORD_COMMENT, text,
    // RECORD_RETRY, ms, ...], no object per record. A fresh array: reusing
    // one per parser measured 2-3% slower.
    const out = [];
    const onEvent = this.#onEvent;
    const onEventFields = this.#onEventFields;
    const collectEvent = this.#collectEvent;
    const wantEvents = (onEvent ?? onEventFields ?? collectEvent) !== null;
    const onComment = this.#onComment;
    const onRetry = this.#onRetry;
    for (let i = u32[h + HEADER_RECORDS] >>> 2, end = i + words; i < end; ) {
      const tag = u32[i];
      switch (tag & RECORD_KIND_MASK) {
        case RECORD_EVENT: {
          // Types and ids are decoded even without onEvent: later records refer to them.
          let type = 'message';
          if (tag & TYPE_CACHED) {
            type = this.#types[tag >>> TYPE_SLOT_SHIFT];
          } else if (!(tag & TYPE_MESSAGE)) {
            type = tag & TAKEN_TYPE ? whole(core.taken[u32[i + 1]]) : slice(tag & WIDE_TYPE ? wide : ascii, u32[i + 1], u32[i + 2]);
            // Stored as a copy of its own: a slice would keep the call's
            // whole text (up to 64 KiB) alive for as long as the slot.
            if (tag & TYPE_STORE) this.#types[tag >>> TYPE_SLOT_SHIFT] = (' ' + type).slice(1);
          }
          if (!(tag & ID_SAME)) this.#eventId = tag & TAKEN_ID ? whole(core.taken[u32[i + 5]]) : slice(tag & WIDE_ID ? wide : ascii, u32[i + 5], u32[i + 6]);
          if (wantEvents) {
            const data = tag & TAKEN_DATA ? whole(core.taken[u32[i + 3]]) : slice(tag & WIDE_DATA ? wide : ascii, u32[i + 3], u32[i + 4]);
            if (collectEvent !== null) collectEvent(type, data, this.#eventId);
            else out.push(RECORD_EVENT, type, data, this.#eventId);
          }
          i += EVENT_WORDS;
          break;
        }
        case RECORD_COMMENT:
          if (onComment !== null) out.push(RECORD_COMMENT, slice(tag & WIDE_TYPE ? wide : ascii, u32[i + 1], u32[i + 2]));
          i += COMMENT_WORDS;
          break;
        case RECORD_RETRY:
          if (onRetry !== null) out.push(RECORD_RETRY, u32[i + 1] + u32[i + 2] * TWO_32);
          i += RETRY_WORDS;
          break;
        default:
          throw new Error(`ssekit: bad record ${tag}`);  // a bug in the bridge
      }
    }
    if (core.taken.length !== 0) core.taken.length = 0;
    this.#busy = true;
    try {
      for (let k = 0; k < out.length && !this.#closed; ) {
        const kind = out[k];
        if (kind === RECORD_EVENT) {
          if (onEventFields !== null) onEventFields(out[k + 1], out[k + 2], out[k + 3]);
          else onEvent({ type: out[k + 1], data: out[k + 2], lastEventId: out[k + 3] });
          k += 4;
        } else {
          if (kind === RECORD_COMMENT) onComment(out[k + 1]);
          else onRetry(out[k + 1]);
          k += 2;
        }
      }
    } finally {
      this.#busy = false;
    }
    // A callback that closed the parser stopped it: the chunk's error too.
    if (this.#error !== null && !this.#closed) throw this.#error;
  }
}

// Class: the public createParser()'s subclass (create-parser.cjs).
function createParser(options = undefined, Class = Parser) {
  if (options === undefined || options === null) return new Class(Object.create(null));
  if (typeof options !== 'object' && typeof options !== 'function') throw new TypeError('ssekit: createParser() options must be an object');
  return new Class(options);
}

module.exports = { Parser, createParser, SseParseError, SseLoadError, ready, prepare, chunkReader, ON_EVENT_FIELDS, COLLECT_EVENT };
