// The ESM entry takes the same CommonJS modules as index.cjs, so `import`
// and `require` in one program share one WebAssembly module and one class
// of each error. Named re-exports, one module each: with "sideEffects":
// false a bundler drops the modules a program does not import (the
// EventSource when only the parser is used).
export { EventSource, SseError } from './eventsource.cjs';
export { stream } from './stream.cjs';
export { createParser } from './create-parser.cjs';
export { SseParseError } from './parser.cjs';
export { serializeEvent, serializeComment, serializeRetry, serializeHeartbeat, SseSerializeError } from './serializer.cjs';
export { ready, SseLoadError } from './wasm.cjs';
