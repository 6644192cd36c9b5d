'use strict';
// The serializers: every function goes through the core (no JS copy of the
// rules), in a WebAssembly module of its own (wasm/bridge_serializer.cpp,
// dist/ssekit-serializer-wasm.cjs), so a bundle with only the parser or the
// EventSource does not carry it. They share one instance (wasm.cjs
// acquire()); an instance big events made large is dropped a second later,
// so its memory comes back.

const wasm = require('./wasm.cjs');
const { encoder, decodeAt, errorInfo, stage, describe, requireString, ENCODE_IN_PLACE_LIMIT } = wasm;

// Required here, not in wasm.cjs, so that only a bundle with the serializers carries it.
const SERIALIZER = wasm.defineModule('dist/ssekit-serializer-wasm.cjs', () => require('../dist/ssekit-serializer-wasm.cjs'));

// BigInt() calls, not literals (1n): a bundler can't lower a literal for a
// target before ES2020 (Vite's build.target: 'es2019' failed on them).
const ZERO = BigInt(0);
const BITS_32 = BigInt(32);
const LOW_32 = BigInt(0xffffffff);
const MAX_U64 = (BigInt(1) << BigInt(64)) - BigInt(1);

// A named class expression (see SseError in eventsource.cjs).
const SseSerializeError = class SseSerializeError extends Error {
  constructor(code, message) {
    super(`${message} (${code})`);
    this.name = 'SseSerializeError';
    // The core's error_name(): 'invalid_event_type', 'invalid_event_id', 'invalid_comment'.
    this.code = code;
  }
};

let instance = null;
// An instance a call left larger than POOL_MEMORY_LIMIT is dropped (its
// memory freed with it) this long after, not at once: dropping it after
// every call made each event over ~450 KB pay for a new instance (3x slower).
const LARGE_INSTANCE_MS = 1000;
let dropping = null;

function core() {
  // acquire(): past the engine's limit on memories, an SseLoadError
  // (out_of_memory) if the engine refuses this module's instance too.
  if (instance === null) instance = wasm.acquire(SERIALIZER, false);
  return instance;
}

// After every call, a refused one too.
function settle(c) {
  if (c.bytes <= wasm.POOL_MEMORY_LIMIT || dropping !== null) return;
  dropping = setTimeout(() => {
    dropping = null;
    if (instance !== null && instance.bytes > wasm.POOL_MEMORY_LIMIT) instance = null;
  }, LARGE_INSTANCE_MS);
  dropping.unref?.();  // Node: the timer keeps no process alive
}

function u64Parts(value, what) {
  let big;
  if (typeof value === 'bigint') {
    big = value;
  } else if (typeof value === 'number' && Number.isInteger(value)) {
    big = BigInt(value);
  } else {
    throw new TypeError(`ssekit: ${what} must be a non-negative integer (number or bigint), got ${describe(value)}`);
  }
  if (big < ZERO || big > MAX_U64) {
    // A number that large is already rounded: say so, and what to pass instead.
    const rounded = typeof value === 'number' && !Number.isSafeInteger(value) ? ' (a number above 2^53 is rounded: pass a bigint)' : '';
    throw new RangeError(`ssekit: ${what} must be between 0 and 2^64-1, got ${describe(value)}${rounded}`);
  }
  return [Number(big & LOW_32), Number(big >> BITS_32)];
}

// The core's output: [address, length] at a fixed address per instance,
// asked for once (a call per event measured 3% of a small event's time).
const outputHeaders = new WeakMap();

// call(c) stages its input and calls the core, which writes the output.
function run(call) {
  const c = core();
  let status;
  try {
    status = call(c);
  } finally {
    // A core that aborted (out of memory) is dropped now, not at the next
    // call: its memory, up to 2 GiB, goes with it.
    if (c.broken) instance = null;
    else settle(c);
  }
  if (status !== 0) {
    const { name, message } = errorInfo(status);
    throw new SseSerializeError(name, message);
  }
  let header = outputHeaders.get(c);
  if (header === undefined) outputHeaders.set(c, (header = c.exports.ssekit_output_header() >>> 2));
  const u32 = c.words();
  return decodeAt(c.heap(), u32[header], u32[header + 1]);
}

// Below this many UTF-16 units an ASCII string is copied by a loop:
// encodeInto()'s call costs more than the loop for short strings (60 ns
// against 30 for 16 characters, Node 20), and a relay's events are short.
const COPY_LOOP_LIMIT = 32;

// Writes `s` at heap[at..] (room for s.length * 3 bytes); its byte length.
function place(heap, at, s) {
  const n = s.length;
  if (n <= COPY_LOOP_LIMIT) {
    let k = 0;
    for (; k < n; ++k) {
      const unit = s.charCodeAt(k);
      if (unit >= 0x80) break;
      heap[at + k] = unit;
    }
    if (k === n) return n;
  }
  return encoder.encodeInto(s, heap.subarray(at, at + n * 3)).written;
}

// Stages an event's three strings one after another in the input region:
// their [address, length] pairs in `placed`, reused (nothing here calls
// back into user code, so no call can interleave with another).
const placed = [0, 0, 0, 0, 0, 0];
const roomFor = (p) => (typeof p === 'string' ? p.length * 3 : p.length);
function stageEvent(c, data, type, id) {
  const big = data.length > ENCODE_IN_PLACE_LIMIT || type.length > ENCODE_IN_PLACE_LIMIT || id.length > ENCODE_IN_PLACE_LIMIT;
  // Encoded first when large: room for 3 bytes per unit would be too much.
  const parts = big ? [data, type, id].map((s) => (s.length > ENCODE_IN_PLACE_LIMIT ? encoder.encode(s) : s)) : null;
  let at = c.exports.ssekit_input(big ? roomFor(parts[0]) + roomFor(parts[1]) + roomFor(parts[2]) : (data.length + type.length + id.length) * 3);
  const heap = c.heap();
  for (let k = 0; k < 3; ++k) {
    const p = big ? parts[k] : k === 0 ? data : k === 1 ? type : id;
    let len;
    if (typeof p !== 'string') {
      heap.set(p, at);
      len = p.length;
    } else {
      len = place(heap, at, p);  // "" is 0 bytes: the loop writes none
    }
    placed[2 * k] = at;
    placed[2 * k + 1] = len;
    at += len;
  }
}

function serializeEvent(event) {
  if (event === null || typeof event !== 'object') throw new TypeError('ssekit: serializeEvent() takes an object {data, type?, id?, retry?}');
  // eventsource-parser and many tutorials call the type `event`: refused,
  // not silently sent as a message.
  if (event.event !== undefined) throw new TypeError('ssekit: serializeEvent() takes the event type as `type`, not `event`');
  const data = requireString(event.data, 'data');
  const type = event.type === undefined ? '' : requireString(event.type, 'type');
  // An event as stream() and the parsers give it has its id as
  // `lastEventId`: a relay's serializeEvent(e) dropped every id (a helper's
  // probe), so the reader behind it could not resume. Taken when there is
  // no `id`, '' too: it is the id in force after the event, and an
  // upstream that reset it ('id:' alone) must reset the reader's as well.
  const [given, name] = event.id === undefined && event.lastEventId !== undefined ? [event.lastEventId, 'lastEventId'] : [event.id, 'id'];
  const hasId = given !== undefined;
  const id = hasId ? requireString(given, name) : '';
  const hasRetry = event.retry !== undefined;
  const [retryLow, retryHigh] = hasRetry ? u64Parts(event.retry, 'retry') : [0, 0];
  return run((c) => {
    stageEvent(c, data, type, id);
    const p = placed;
    return c.exports.ssekit_serialize_event(p[0], p[1], p[2], p[3], p[4], p[5], hasId ? 1 : 0, hasRetry ? 1 : 0, retryLow, retryHigh);
  });
}

function serializeComment(text) {
  requireString(text, 'the comment');
  return run((c) => c.exports.ssekit_serialize_comment(...stage(c, text)));
}

function serializeRetry(milliseconds) {
  const [low, high] = u64Parts(milliseconds, 'retry');
  return run((c) => c.exports.ssekit_serialize_retry(low, high));
}

let heartbeat = null;

function serializeHeartbeat() {
  if (heartbeat === null) heartbeat = run((c) => c.exports.ssekit_serialize_heartbeat());
  return heartbeat;
}

module.exports = { serializeEvent, serializeComment, serializeRetry, serializeHeartbeat, SseSerializeError };
