'use strict';
// The public createParser(): parser.cjs's parser with readFrom(). A module
// of its own, so the EventSource's bundle, which never reads a source this
// way, leaves readFrom() out.

const base = require('./parser.cjs');

const { chunkReader, prepare } = base;

// A callback that throws leaves the rest of its chunk undelivered (the core
// read it all first). As the C++ parser does (errc::feed_interrupted), the
// parser then refuses feed() and finish() until reset(), and lastEventId is
// the id in force where the callback threw, not at the chunk's end: resumed
// from that, a client skipped the events never delivered. Kept here, out of
// the EventSource's bundle, whose own callbacks don't throw.
const GUARD = Symbol('guard');

function interrupted() {
  return Object.assign(new Error('ssekit: a callback threw, so the rest of its chunk was not delivered: reset() the parser before feeding it again (feed_interrupted)'), { code: 'feed_interrupted' });
}

// `options` with its callbacks wrapped to record, in `guard`, the id in
// force and whether one threw. Anything else reaches the base as given.
function guarded(options, guard) {
  if (options === null || typeof options !== 'object') return options;
  const o = Object.create(options);
  o[GUARD] = guard;
  const watch = (f) => (value) => {
    try {
      return f(value);
    } catch (e) {
      guard.thrown = true;
      throw e;
    }
  };
  const { onEvent, onComment, onRetry } = options;
  if (typeof onEvent === 'function') {
    const f = watch(onEvent);
    o.onEvent = (event) => {
      guard.id = event.lastEventId;
      return f(event);
    };
  }
  if (typeof onComment === 'function') o.onComment = watch(onComment);
  if (typeof onRetry === 'function') o.onRetry = watch(onRetry);
  return o;
}

class Parser extends base.Parser {
  #stopReading = null;  // ends readFrom()'s waiting read
  #reading = false;  // a readFrom() is under way
  #guard;  // { thrown, id }: see guarded()

  constructor(options) {
    super(options);
    this.#guard = options?.[GUARD] ?? { thrown: false, id: null };
  }

  feed(chunk) {
    this.#guarded(() => super.feed(chunk));
  }

  finish() {
    this.#guarded(() => super.finish());
  }

  reset() {
    super.reset();
    this.#guard.thrown = false;
    this.#guard.id = null;
  }

  get lastEventId() {
    return super.lastEventId;
  }

  set lastEventId(id) {
    super.lastEventId = id;
    this.#guard.id = null;  // read again before the next feed()
  }

  #guarded(run) {
    const guard = this.#guard;
    if (guard.thrown && !this.closed) throw interrupted();
    // The id a comment's or retry's callback that throws before any event leaves.
    if (guard.id === null && !this.closed) guard.id = super.lastEventId;
    try {
      run();
    } catch (e) {
      if (guard.thrown && !this.closed) {
        const id = guard.id;
        this.lastEventId = id;
        guard.id = id;
      }
      throw e;
    }
  }

  // Feeds every chunk of `source`, then calls finish(). A source is a fetch
  // Response (of any fetch implementation), a ReadableStream, a Node
  // stream, any (async) iterable of chunks, or one chunk. Stops early,
  // without finish(), when the parser is closed, from a callback or from
  // outside: a read that is waiting is abandoned and the source let go.
  async readFrom(source) {
    if (this.closed) throw new Error('ssekit: readFrom() on a closed parser');
    // Two at once would interleave two streams' chunks in one parser (as
    // C++ async_next, one at a time: already_started).
    if (this.#reading) throw Object.assign(new Error('ssekit: readFrom() is already reading into this parser (already_started)'), { code: 'already_started' });
    this.#reading = true;
    try {
      await this.#read(source);
    } finally {
      this.#reading = false;
    }
  }

  async #read(source) {
    await prepare();
    // A Response by its shape: other fetch implementations have their own class.
    if (source?.body !== undefined && typeof source.arrayBuffer === 'function') source = source.body;
    if (source === null || typeof source === 'string' || ArrayBuffer.isView(source) || source instanceof ArrayBuffer) {
      if (source !== null && !this.closed) this.feed(source);
    } else {
      const reader = source != null && typeof source === 'object' ? chunkReader(source) : null;
      if (reader !== null) {
        await this.#readAll(reader);
      } else if (source != null && typeof source[Symbol.iterator] === 'function') {
        for await (const chunk of source) {
          if (this.closed) return;
          this.feed(chunk);
        }
      } else {
        throw new TypeError('ssekit: readFrom() takes a Response, a ReadableStream, a Node stream, an (async) iterable of chunks, or a chunk');
      }
    }
    if (!this.closed) this.finish();
  }

  close() {
    super.close();
    this.#stopReading?.();
  }

  async #readAll(reader) {
    let ended = false;
    try {
      while (!this.closed) {
        // close() ends a read that is waiting. A fresh promise per read: one
        // raced against a promise living as long as the source would hold a
        // reaction per chunk.
        const step = await new Promise((resolve, reject) => {
          this.#stopReading = resolve;
          Promise.resolve(reader.read()).then(resolve, reject);
        });
        if (this.closed) break;
        if (step.done) {
          ended = true;
          break;
        }
        this.feed(step.value);
      }
    } catch (e) {
      reader.cancel(e).catch(() => {});
      throw e;
    } finally {
      this.#stopReading = null;
    }
    // Read to its end, the source goes back to the caller unlocked; closed
    // before that, it is let go.
    if (ended) reader.release?.();
    else reader.cancel().catch(() => {});
  }
}

const OPTIONS = ['onEvent', 'onComment', 'onRetry', 'maxLineLength', 'maxEventSize'];
// Names of eventsource-parser's options: what takes their place here.
const INSTEAD = {
  onError: 'feed() and finish() throw an SseParseError instead',
  maxBufferSize: 'maxLineLength and maxEventSize bound a line and an event',
};

// Our own API, not a WebIDL dictionary: an option it does not know is a
// mistake (a limit believed set and not), so it is refused by name.
function checkOptions(options) {
  if (typeof options === 'function') {
    throw new TypeError('ssekit: createParser() takes an options object, e.g. createParser({ onEvent(event) {} }), not a function');
  }
  if (options === null || typeof options !== 'object') return;  // base.createParser says what is wrong
  for (const key of Object.keys(options)) {
    if (OPTIONS.includes(key)) continue;
    const hint = Object.hasOwn(INSTEAD, key) ? `: ${INSTEAD[key]}` : ` (its options: ${OPTIONS.join(', ')})`;
    throw new TypeError(`ssekit: createParser() has no option '${key}'${hint}`);
  }
}

const createParser = (options = undefined) => {
  checkOptions(options);
  return base.createParser(guarded(options, { thrown: false, id: null }), Parser);
};

module.exports = { createParser };
