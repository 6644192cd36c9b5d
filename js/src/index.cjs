'use strict';
// ssekit for JavaScript: the C++ core's parser and serializer compiled to
// WebAssembly (parser.cjs, serializer.cjs, loaded by wasm.cjs), and an
// EventSource and stream() on top (eventsource.cjs, stream.cjs). This file only exports.

const { EventSource, SseError } = require('./eventsource.cjs');
const { stream } = require('./stream.cjs');
const { createParser } = require('./create-parser.cjs');
const { SseParseError } = require('./parser.cjs');
const { serializeEvent, serializeComment, serializeRetry, serializeHeartbeat, SseSerializeError } = require('./serializer.cjs');
const { ready, SseLoadError } = require('./wasm.cjs');

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
  SseLoadError,
  ready,
};
