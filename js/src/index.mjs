// The ESM entry re-exports the CommonJS one, so `import` and `require` in one
// program share one WebAssembly instance and one SseParseError class.
import ssekit from './index.cjs';

export const {
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
} = ssekit;
