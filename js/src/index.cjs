'use strict';
// ssekit for JavaScript: the C++ core's parser and serializer, compiled to
// WebAssembly (wasm/bridge.cpp is the other side of every call here).
//
// Rules that keep this correct:
// - One WASM call per chunk. Everything it produced (events, comments,
//   retries, the error) is decoded into JS values right after the call,
//   before any user callback runs, so callbacks may use other parsers freely.
// - No view into WASM memory outlives a call: memory can grow (detaching old
//   views), and the record buffer and input region are reused. HEAPU8 and
//   HEAPU32 are read from the module after every call.

const encoder = new TextEncoder();
// ignoreBOM: a U+FEFF inside a field is data (only the stream's first BOM is
// dropped, by the core), so TextDecoder must not eat it. The core repairs
// invalid UTF-8 in parsed text with TextDecoder's rules before it gets here.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

// Record layout: see the comment at the top of wasm/bridge.cpp.
const RECORD_EVENT = 1;
const RECORD_COMMENT = 2;
const RECORD_RETRY = 3;
const TYPE_MESSAGE = 1 << 8;
const ID_SAME = 1 << 9;
const TYPE_CACHED = 1 << 10;
const WIDE_TYPE = 1 << 12;  // also a comment's text
const WIDE_DATA = 1 << 13;
const WIDE_ID = 1 << 14;
const TYPE_SLOT_SHIFT = 16;
// Word offsets in a parser's header (struct header in bridge.cpp).
const HEADER_STATUS = 0;
const HEADER_RECORDS = 1;
const HEADER_WORDS = 2;
const HEADER_ERROR_LOW = 3;
const HEADER_ERROR_HIGH = 4;
const HEADER_STRING_PTR = 5;
const HEADER_STRING_LEN = 6;
const HEADER_ASCII_PTR = 7;
const HEADER_ASCII_LEN = 8;
const HEADER_WIDE_PTR = 9;
const HEADER_WIDE_LEN = 10;
const HEADER_CUTS_PTR = 11;
const HEADER_CUTS_COUNT = 12;

const TWO_32 = 2 ** 32;
const MAX_U32 = TWO_32 - 1;
const MAX_U64 = (1n << 64n) - 1n;
// Longer strings are encoded to an exact-size array first instead of
// reserving 3 bytes per UTF-16 unit in WASM memory.
const ENCODE_IN_PLACE_LIMIT = 1 << 16;

let wasm = null;

// The module is instantiated synchronously on first use (it is small and
// inlined), so createParser() and the serializers are synchronous.
function module_() {
  if (wasm !== null) return wasm;
  let factory;
  try {
    factory = require('../dist/ssekit-wasm.cjs');
  } catch (e) {
    throw new Error('ssekit: dist/ssekit-wasm.cjs is missing; build it with `npm run build` in js/', { cause: e });
  }
  const m = factory();
  if (typeof m._ssekit_parser_create !== 'function') throw new Error('ssekit: the WebAssembly module did not load');
  wasm = m;
  return m;
}

const errorNames = new Map();

function errorInfo(code) {
  let info = errorNames.get(code);
  if (info === undefined) {
    const m = wasm;
    info = {
      name: decodeAt(m.HEAPU8, m._ssekit_error_name_ptr(code), m._ssekit_error_name_len(code)),
      message: decodeAt(m.HEAPU8, m._ssekit_error_message_ptr(code), m._ssekit_error_message_len(code)),
    };
    errorNames.set(code, info);
  }
  return info;
}

function decodeAt(heap, ptr, len) {
  return len === 0 ? '' : decoder.decode(heap.subarray(ptr, ptr + len));
}

// The non-ASCII text, decoded in the pieces the bridge cut it into (see
// cut_finder in bridge.cpp).
function decodeWide(heap, u32, h) {
  const ptr = u32[h + HEADER_WIDE_PTR];
  const len = u32[h + HEADER_WIDE_LEN];
  const count = u32[h + HEADER_CUTS_COUNT];
  if (count === 0) return decodeAt(heap, ptr, len);
  let text = '';
  let at = ptr;
  for (let c = u32[h + HEADER_CUTS_PTR] >>> 2, end = c + count; c < end; ++c) {
    const cut = ptr + u32[c];
    text += decoder.decode(heap.subarray(at, cut));
    at = cut;
  }
  return text + decoder.decode(heap.subarray(at, ptr + len));
}

// Copies `bytes` (a string is UTF-8 encoded) into the shared input region.
// Returns [address, length]; valid until the next call into the module.
function stage(bytes) {
  const m = wasm;
  if (typeof bytes === 'string') {
    if (bytes.length > ENCODE_IN_PLACE_LIMIT) return stage(encoder.encode(bytes));
    const capacity = bytes.length * 3;
    const ptr = m._ssekit_input(capacity);
    const { written } = encoder.encodeInto(bytes, m.HEAPU8.subarray(ptr, ptr + capacity));
    return [ptr, written];
  }
  const ptr = m._ssekit_input(bytes.length);
  m.HEAPU8.set(bytes, ptr);
  return [ptr, bytes.length];
}

function asBytes(chunk) {
  if (typeof chunk === 'string' || chunk instanceof Uint8Array) return chunk;
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  throw new TypeError('ssekit: feed() takes a Uint8Array (or another ArrayBufferView, an ArrayBuffer) or a string');
}

function limitOption(options, name, fallback) {
  const value = options[name];
  if (value === undefined) return fallback;
  if (value === Infinity) return MAX_U32;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new RangeError(`ssekit: ${name} must be a non-negative integer or Infinity, got ${String(value)}`);
  }
  // 32-bit WebAssembly: nothing larger fits in memory anyway.
  return Math.min(value, MAX_U32);
}

function callbackOption(options, name) {
  const value = options[name];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'function') throw new TypeError(`ssekit: ${name} must be a function`);
  return value;
}

class SseParseError extends Error {
  constructor(code, offset, message) {
    super(`${message} (${code} at byte ${offset})`);
    this.name = 'SseParseError';
    // The core's error_name(): 'line_too_long', 'event_too_large', 'feed_after_finish'.
    this.code = code;
    // Bytes from the start of the stream (a BOM included) to the start of the offending line.
    this.offset = offset;
  }
}

class SseSerializeError extends Error {
  constructor(code, message) {
    super(`${message} (${code})`);
    this.name = 'SseSerializeError';
    // The core's error_name(): 'invalid_event_type', 'invalid_event_id', 'invalid_comment'.
    this.code = code;
  }
}

// Frees a parser the program forgot to close(). Only a safety net: when it
// runs is up to the garbage collector.
const registry = new FinalizationRegistry((handle) => wasm._ssekit_parser_free(handle));

class Parser {
  #handle;
  #header;  // index of the header in HEAPU32
  #onEvent;
  #onComment;
  #onRetry;
  #error = null;  // sticky SseParseError, until reset()
  #busy = false;  // inside feed()/finish(), callbacks included
  #eventId = '';  // lastEventId of the last event record (ID_SAME)
  #types = [];  // event types by slot (TYPE_CACHED)
  // A string chunk's trailing high surrogate, held for the next chunk: the
  // two halves of one character may come in two strings (issue 9 item 6).
  #highSurrogate = '';

  constructor(options) {
    const m = module_();
    const maxLineLength = limitOption(options, 'maxLineLength', m._ssekit_default_max_line_length());
    const maxEventSize = limitOption(options, 'maxEventSize', m._ssekit_default_max_event_size());
    this.#onEvent = callbackOption(options, 'onEvent');
    this.#onComment = callbackOption(options, 'onComment');
    this.#onRetry = callbackOption(options, 'onRetry');
    const handle = m._ssekit_parser_create(maxLineLength, maxEventSize);
    if (handle === 0) throw new Error('ssekit: out of WebAssembly memory');
    this.#handle = handle;
    this.#header = m._ssekit_parser_header(handle) >>> 2;
    registry.register(this, handle, this);
  }

  feed(chunk) {
    this.#enter('feed');
    let bytes = asBytes(chunk);
    if (this.#error !== null) throw this.#error;
    if (typeof bytes === 'string' || this.#highSurrogate !== '') bytes = this.#joinSurrogates(bytes);
    const [ptr, len] = stage(bytes);
    this.#run(wasm._ssekit_parser_feed(this.#handle, ptr, len));
  }

  finish() {
    this.#enter('finish');
    if (this.#error !== null) throw this.#error;
    // A high surrogate that no low one followed is U+FFFD, as TextEncoder makes it.
    if (this.#highSurrogate !== '') this.feed(new Uint8Array(0));
    this.#run(wasm._ssekit_parser_finish(this.#handle));
  }

  reset() {
    this.#enter('reset');
    this.#highSurrogate = '';
    wasm._ssekit_parser_reset(this.#handle);
    this.#error = null;
  }

  close() {
    if (this.#handle === 0) return;
    registry.unregister(this);
    wasm._ssekit_parser_free(this.#handle);
    this.#handle = 0;
  }

  // Puts a held high surrogate in front of `bytes`, and holds a string's
  // own trailing one.
  #joinSurrogates(bytes) {
    const held = this.#highSurrogate;
    this.#highSurrogate = '';
    if (typeof bytes !== 'string') {
      const first = encoder.encode(held);
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

  get lastEventId() {
    this.#checkOpen('lastEventId');
    const m = wasm;
    m._ssekit_parser_last_event_id(this.#handle);
    const u32 = m.HEAPU32;
    return decodeAt(m.HEAPU8, u32[this.#header + HEADER_STRING_PTR], u32[this.#header + HEADER_STRING_LEN]);
  }

  // Feeds every chunk of `source`, then calls finish(). A source is a fetch
  // Response, a ReadableStream, a Node stream, any (async) iterable of
  // chunks, or one chunk. Stops early, without finish(), if a callback
  // closes the parser.
  async readFrom(source) {
    this.#checkOpen('readFrom()');
    if (typeof Response !== 'undefined' && source instanceof Response) source = source.body;
    if (source === null || typeof source === 'string' || ArrayBuffer.isView(source) || source instanceof ArrayBuffer) {
      if (source !== null) this.feed(source);
    } else if (typeof ReadableStream !== 'undefined' && source instanceof ReadableStream) {
      // getReader() rather than async iteration, which not every browser has.
      const reader = source.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          this.feed(value);
          if (this.#handle === 0) {
            reader.cancel().catch(() => {});
            return;
          }
        }
      } catch (e) {
        reader.cancel(e).catch(() => {});
        throw e;
      } finally {
        reader.releaseLock();
      }
    } else if (source != null && (typeof source[Symbol.asyncIterator] === 'function' || typeof source[Symbol.iterator] === 'function')) {
      // Leaving the loop early closes the source (return() / destroy()).
      for await (const chunk of source) {
        this.feed(chunk);
        if (this.#handle === 0) return;
      }
    } else {
      throw new TypeError('ssekit: readFrom() takes a Response, a ReadableStream, a Node stream, an (async) iterable of chunks, or a chunk');
    }
    if (this.#handle !== 0) this.finish();
  }

  // Sets the id events carry until the stream sends an `id:` field (e.g.
  // the id a client resumes from).
  set lastEventId(id) {
    this.#checkOpen('lastEventId');
    requireString(id, 'lastEventId');
    const [ptr, len] = stage(id);
    wasm._ssekit_parser_set_last_event_id(this.#handle, ptr, len);
  }

  get closed() {
    return this.#handle === 0;
  }

  #checkOpen(what) {
    if (this.#handle === 0) throw new Error(`ssekit: ${what} on a closed parser`);
  }

  #enter(what) {
    this.#checkOpen(`${what}()`);
    if (this.#busy) throw new Error(`ssekit: ${what}() called from inside one of this parser's callbacks`);
  }

  // Decodes what the call produced, then delivers it; throws the parse
  // error, if any, after delivering what came before it.
  #run(status) {
    const m = wasm;
    const heap = m.HEAPU8;
    const u32 = m.HEAPU32;
    const h = this.#header;
    if (status !== 0) {
      const { name, message } = errorInfo(status);
      const offset = u32[h + HEADER_ERROR_LOW] + u32[h + HEADER_ERROR_HIGH] * TWO_32;
      this.#error = new SseParseError(name, offset, message);
    }
    const words = u32[h + HEADER_WORDS];
    if (words === 0) {
      if (this.#error !== null) throw this.#error;
      return;
    }
    // Every string is a slice of one of the two texts (see bridge.cpp). V8
    // makes a slice of 13+ chars a view, so a kept string keeps its call's
    // text alive, as slices of a decoded chunk do in JS parsers.
    const ascii = decodeAt(heap, u32[h + HEADER_ASCII_PTR], u32[h + HEADER_ASCII_LEN]);
    const wide = decodeWide(heap, u32, h);
    // [kind, value, kind, value, ...]. A fresh array: reusing one per parser
    // measured 2-3% slower.
    const out = [];
    const onEvent = this.#onEvent;
    const onComment = this.#onComment;
    const onRetry = this.#onRetry;
    for (let i = u32[h + HEADER_RECORDS] >>> 2, end = i + words; i < end; ) {
      const tag = u32[i];
      switch (tag & 0xff) {
        case RECORD_EVENT: {
          // Types and ids are decoded even without onEvent: later records refer to them.
          let type = 'message';
          if (tag & TYPE_CACHED) {
            type = this.#types[tag >>> TYPE_SLOT_SHIFT];
          } else if (!(tag & TYPE_MESSAGE)) {
            type = (tag & WIDE_TYPE ? wide : ascii).substring(u32[i + 1], u32[i + 1] + u32[i + 2]);
            this.#types[tag >>> TYPE_SLOT_SHIFT] = type;
          }
          if (!(tag & ID_SAME)) this.#eventId = (tag & WIDE_ID ? wide : ascii).substring(u32[i + 5], u32[i + 5] + u32[i + 6]);
          if (onEvent !== null) {
            const data = (tag & WIDE_DATA ? wide : ascii).substring(u32[i + 3], u32[i + 3] + u32[i + 4]);
            out.push(RECORD_EVENT, { type, data, lastEventId: this.#eventId });
          }
          i += 7;
          break;
        }
        case RECORD_COMMENT:
          if (onComment !== null) out.push(RECORD_COMMENT, (tag & WIDE_TYPE ? wide : ascii).substring(u32[i + 1], u32[i + 1] + u32[i + 2]));
          i += 3;
          break;
        case RECORD_RETRY:
          if (onRetry !== null) out.push(RECORD_RETRY, u32[i + 1] + u32[i + 2] * TWO_32);
          i += 3;
          break;
        default:
          throw new Error(`ssekit: internal error, unknown record ${tag}`);
      }
    }
    this.#busy = true;
    try {
      for (let k = 0; k < out.length && this.#handle !== 0; k += 2) {
        const kind = out[k];
        if (kind === RECORD_EVENT) onEvent(out[k + 1]);
        else if (kind === RECORD_COMMENT) onComment(out[k + 1]);
        else onRetry(out[k + 1]);
      }
    } finally {
      this.#busy = false;
    }
    if (this.#error !== null) throw this.#error;
  }
}

function createParser(options = {}) {
  if (options === null || typeof options !== 'object') throw new TypeError('ssekit: createParser() options must be an object');
  return new Parser(options);
}

// --- Serializer: every function goes through the core (no JS copy of the rules).

function u64Parts(value, what) {
  let big;
  if (typeof value === 'bigint') {
    big = value;
  } else if (typeof value === 'number' && Number.isInteger(value)) {
    big = BigInt(value);
  } else {
    throw new TypeError(`ssekit: ${what} must be a non-negative integer (number or bigint), got ${String(value)}`);
  }
  if (big < 0n || big > MAX_U64) throw new RangeError(`ssekit: ${what} must be between 0 and 2^64-1, got ${String(value)}`);
  return [Number(big & 0xffffffffn), Number(big >> 32n)];
}

function requireString(value, what) {
  if (typeof value !== 'string') throw new TypeError(`ssekit: ${what} must be a string`);
  return value;
}

function output(status) {
  const m = wasm;
  if (status !== 0) {
    const { name, message } = errorInfo(status);
    throw new SseSerializeError(name, message);
  }
  const header = m._ssekit_output_header() >>> 2;
  const u32 = m.HEAPU32;
  return decodeAt(m.HEAPU8, u32[header], u32[header + 1]);
}

// Stages several strings one after another in the input region.
function stageAll(strings) {
  const parts = strings.map((s) => (s.length > ENCODE_IN_PLACE_LIMIT ? encoder.encode(s) : s));
  const capacity = parts.reduce((n, p) => n + (typeof p === 'string' ? p.length * 3 : p.length), 0);
  const m = wasm;
  let at = m._ssekit_input(capacity);
  const heap = m.HEAPU8;
  return parts.map((p) => {
    let len;
    if (typeof p === 'string') {
      len = encoder.encodeInto(p, heap.subarray(at, at + p.length * 3)).written;
    } else {
      heap.set(p, at);
      len = p.length;
    }
    const placed = [at, len];
    at += len;
    return placed;
  });
}

function serializeEvent(event) {
  if (event === null || typeof event !== 'object') throw new TypeError('ssekit: serializeEvent() takes an object {data, type?, id?, retry?}');
  const data = requireString(event.data, 'data');
  const type = event.type === undefined ? '' : requireString(event.type, 'type');
  const hasId = event.id !== undefined;
  const id = hasId ? requireString(event.id, 'id') : '';
  const hasRetry = event.retry !== undefined;
  const [retryLow, retryHigh] = hasRetry ? u64Parts(event.retry, 'retry') : [0, 0];
  const m = module_();
  const [[dataPtr, dataLen], [typePtr, typeLen], [idPtr, idLen]] = stageAll([data, type, id]);
  return output(
    m._ssekit_serialize_event(dataPtr, dataLen, typePtr, typeLen, idPtr, idLen, hasId ? 1 : 0, hasRetry ? 1 : 0, retryLow, retryHigh),
  );
}

function serializeComment(text) {
  requireString(text, 'the comment');
  const m = module_();
  const [ptr, len] = stage(text);
  return output(m._ssekit_serialize_comment(ptr, len));
}

function serializeRetry(milliseconds) {
  const [low, high] = u64Parts(milliseconds, 'retry');
  return output(module_()._ssekit_serialize_retry(low, high));
}

let heartbeat = null;

function serializeHeartbeat() {
  if (heartbeat === null) heartbeat = output(module_()._ssekit_serialize_heartbeat());
  return heartbeat;
}

// Required last: it uses createParser through module.exports.
const { EventSource, stream, SseError } = require('./eventsource.cjs');

module.exports = {
  EventSource,
  stream,
  SseError,
  createParser,
  serializeEvent,
  serializeComment,
  serializeRetry,
  serializeHeartbeat,
  SseParseError,
  SseSerializeError,
};
