// The entry for Cloudflare Workers (workerd), chosen by the "workerd" export
// condition, which wrangler and other Workers bundlers set. workerd differs
// from browsers in three ways that broke the package there (a helper's
// probe); each is handled here, so browser bundles carry none of it, and
// each only where the runtime in hand shows the difference:
// 1. It compiles WebAssembly only while the Worker starts (its global
//    scope): at request time every compile fails ("Wasm code generation
//    disallowed by embedder"). So both modules are compiled at import.
// 2. Its dispatchEvent() calls the target's on<type> property itself, ahead
//    of the listeners (cloudflare/workerd#6022), so the EventSource's
//    handler attributes, listeners as in browsers, ran twice per event.
//    There they are plain properties that dispatchEvent() calls.
// 3. Its fetch() encodes header values as UTF-8 itself, where fetch()
//    elsewhere takes bytes (a ByteString): Last-Event-ID, sent as its UTF-8
//    bytes, went out encoded twice. There it goes as text.
import { EventSource as BaseEventSource, stream as baseStream, createParser, serializeHeartbeat } from './index.mjs';

export * from './index.mjs';

// 1. Both modules, whatever the Worker imports: which it uses is not known
// here, and a compile at request time fails. A failure here (a runtime that
// refuses even at startup) is reported by the first call that needs the
// module, as everywhere else.
try {
  createParser().close();
  serializeHeartbeat();
} catch {
  // reported later
}

// 2.
const probe = new EventTarget();
let probeCalls = 0;
probe.onssekitprobe = () => ++probeCalls;
probe.dispatchEvent(new Event('ssekitprobe'));
if (probeCalls > 0) {
  const handlers = new WeakMap();
  for (const type of ['open', 'message', 'error']) {
    Object.defineProperty(BaseEventSource.prototype, `on${type}`, {
      get() {
        return handlers.get(this)?.[type] ?? null;
      },
      set(handler) {
        if (!handlers.has(this)) handlers.set(this, {});
        // As the attribute: a function or an object, anything else is null.
        handlers.get(this)[type] = typeof handler === 'function' || (handler !== null && typeof handler === 'object') ? handler : null;
      },
      enumerable: true,
      configurable: true,
    });
  }
}

// 3. fetch() elsewhere refuses a header value above U+00FF.
let textHeaders = false;
try {
  new Headers({ probe: '\u2713' });  // eslint-disable-line no-new
  textHeaders = true;
} catch {
  // a ByteString, as the Fetch standard has it
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

// The fetch() to use: Last-Event-ID's UTF-8 bytes back to text.
function textIdFetch(fetchFunction) {
  return (url, init) => {
    const id = init?.headers?.['last-event-id'];
    if (typeof id === 'string' && /[\x80-\xff]/.test(id)) {
      let text;
      try {
        text = utf8.decode(Uint8Array.from(id, (c) => c.charCodeAt(0)));
      } catch {
        text = id;  // not UTF-8 bytes: not what the package made
      }
      init = { ...init, headers: { ...init.headers, 'last-event-id': text } };
    }
    return fetchFunction(url, init);
  };
}

// The options with that fetch(); anything else as given, so the package's
// own checks see it (and name it) as before. A Proxy, not an object that
// inherits from the options: their getters then run on them (a getter of a
// private field threw on the heir).
function withTextIds(init) {
  if (init !== undefined && init !== null && typeof init !== 'object' && typeof init !== 'function') return init;
  const given = init?.fetch ?? globalThis.fetch;
  if (typeof given !== 'function') return init;
  const fetch = textIdFetch(given);
  if (init === undefined || init === null) return { __proto__: null, fetch };
  return new Proxy(init, { get: (target, key) => (key === 'fetch' ? fetch : Reflect.get(target, key)) });
}

let EventSource = BaseEventSource;
if (textHeaders) {
  EventSource = class EventSource extends BaseEventSource {
    constructor(url, init = undefined) {
      // Without arguments, the base's WebIDL error.
      if (arguments.length === 0) super();
      else super(url, withTextIds(init));
    }
  };
  // A bundler may rename a module's top-level class (EventSource3).
  Object.defineProperty(EventSource, 'name', { value: 'EventSource' });
}

const stream = textHeaders ? (url, init = undefined) => baseStream(url, withTextIds(init)) : baseStream;

export { EventSource, stream };
