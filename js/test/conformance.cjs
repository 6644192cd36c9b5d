'use strict';
// Loads the shared conformance data (../../tests/conformance/*.json, format
// in its README.md) as strictly as the C++ loader does: an unknown key or a
// malformed value is an error, so a typo can't quietly test something else.
//
// Strings: every byte string is kept as bytes (Uint8Array) and, where the
// JS API deals in strings, decoded the way the package decodes, with
// TextDecoder (U+FFFD for invalid UTF-8, a U+FEFF kept). The package always
// decodes, so `rawBytes` cases compare the decoded raw bytes, which is what a
// JS user of such a stream gets.

const fs = require('node:fs');
const path = require('node:path');

const dir = path.resolve(__dirname, '../../tests/conformance');
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
const fatalDecoder = new TextDecoder('utf-8', { ignoreBOM: true, fatal: true });

class DataError extends Error {}

function checkKeys(obj, allowed, what) {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new DataError(`${what} must be an object`);
  for (const key of Object.keys(obj)) if (!allowed.includes(key)) throw new DataError(`${what}: unknown key "${key}"`);
}

function required(obj, key, what) {
  if (!(key in obj)) throw new DataError(`${what}: missing "${key}"`);
  return obj[key];
}

// Integers of 16 and more digits don't survive JSON.parse as numbers: they
// are rewritten to {"$u64": "digits"} first and become BigInt.
function parseJson(text) {
  return JSON.parse(text.replace(/([:[,]\s*)(\d{16,})(?=\s*[,\]}])/g, '$1{"$u64": "$2"}'));
}

function u64(v, what) {
  if (v !== null && typeof v === 'object' && typeof v.$u64 === 'string') {
    const big = BigInt(v.$u64);
    if (big >= 1n << 64n) throw new DataError(`${what}: ${v.$u64} is not below 2^64`);
    return big;
  }
  if (!Number.isInteger(v) || v < 0) throw new DataError(`${what} must be a non-negative integer`);
  return BigInt(v);
}

function bytes(v, what) {
  if (typeof v === 'string') return new Uint8Array(Buffer.from(v, 'utf8'));
  checkKeys(v, ['hex'], what);
  const hex = required(v, 'hex', what);
  if (typeof hex !== 'string') throw new DataError(`${what}: hex must be a string`);
  const digits = hex.replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(digits)) throw new DataError(`${what}: bad hex "${hex}"`);
  return new Uint8Array(Buffer.from(digits, 'hex'));
}

const text = (v, what) => decoder.decode(bytes(v, what));

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// An expected record as the JS callbacks deliver it.
function record(v, what) {
  if (v !== null && typeof v === 'object' && 'comment' in v) {
    checkKeys(v, ['comment'], what);
    return { comment: text(v.comment, what) };
  }
  if (v !== null && typeof v === 'object' && 'retry' in v) {
    checkKeys(v, ['retry'], what);
    // onRetry delivers a number: exact to 2^53, correctly rounded above.
    return { retry: Number(u64(v.retry, what)) };
  }
  checkKeys(v, ['type', 'data', 'lastEventId'], what);
  return {
    type: text(required(v, 'type', what), what),
    data: text(required(v, 'data', what), what),
    lastEventId: text(required(v, 'lastEventId', what), what),
  };
}

function expectList(v, what) {
  if (!Array.isArray(v)) throw new DataError(`${what}: expect must be an array`);
  return v.map((r, i) => record(r, `${what} expect[${i}]`));
}

const parserErrors = ['line_too_long', 'event_too_large', 'feed_after_finish'];
const serializerErrors = ['invalid_event_type', 'invalid_event_id', 'invalid_comment'];

function parserCase(c, file) {
  const what = `${file}: case "${c && c.name}"`;
  checkKeys(c, ['name', 'source', 'stream', 'options', 'expect', 'lastEventId', 'error'], what);
  const streamValue = required(c, 'stream', what);
  const parts = Array.isArray(streamValue)
    ? streamValue.map((p, i) => bytes(p, `${what} stream[${i}]`))
    : [bytes(streamValue, `${what} stream`)];
  const options = {};
  let rawBytes = false;
  if (c.options !== undefined) {
    checkKeys(c.options, ['maxLineLength', 'maxEventSize', 'rawBytes'], `${what} options`);
    for (const key of ['maxLineLength', 'maxEventSize']) {
      if (key in c.options) options[key] = Number(u64(c.options[key], `${what} options.${key}`));
    }
    if ('rawBytes' in c.options) {
      if (typeof c.options.rawBytes !== 'boolean') throw new DataError(`${what}: rawBytes must be a boolean`);
      rawBytes = c.options.rawBytes;
    }
  }
  let error = null;
  if (c.error !== undefined) {
    checkKeys(c.error, ['code', 'offset'], `${what} error`);
    const code = required(c.error, 'code', what);
    if (!parserErrors.includes(code)) throw new DataError(`${what}: unknown error code "${code}"`);
    error = { code, offset: Number(u64(required(c.error, 'offset', what), `${what} error.offset`)) };
  }
  return {
    name: required(c, 'name', what),
    source: required(c, 'source', what),
    file,
    stream: concat(parts),
    parts,
    options,
    rawBytes,
    expect: expectList(required(c, 'expect', what), what),
    lastEventId: text(required(c, 'lastEventId', what), what),
    error,
  };
}

// Serializer input strings must be valid UTF-8: the JS API takes strings.
function inputString(v, what) {
  return fatalDecoder.decode(bytes(v, what));
}

function serializerCase(c, file) {
  const what = `${file}: case "${c && c.name}"`;
  checkKeys(c, ['name', 'source', 'event', 'comment', 'heartbeat', 'retry', 'bytes', 'expect', 'error'], what);
  const inputs = ['event', 'comment', 'heartbeat', 'retry'].filter((k) => k in c);
  if (inputs.length !== 1) throw new DataError(`${what}: needs exactly one of event, comment, heartbeat, retry`);
  const out = { name: required(c, 'name', what), source: required(c, 'source', what), file, what: inputs[0] };
  switch (inputs[0]) {
    case 'event': {
      checkKeys(c.event, ['data', 'type', 'id', 'retry'], `${what} event`);
      const ev = { data: inputString(required(c.event, 'data', what), what) };
      if ('type' in c.event) ev.type = inputString(c.event.type, what);
      if ('id' in c.event) ev.id = inputString(c.event.id, what);
      if ('retry' in c.event) ev.retry = u64(c.event.retry, `${what} event.retry`);
      out.event = ev;
      break;
    }
    case 'comment':
      out.comment = inputString(c.comment, what);
      break;
    case 'heartbeat':
      if (c.heartbeat !== true) throw new DataError(`${what}: heartbeat must be true`);
      break;
    case 'retry':
      out.retry = u64(c.retry, `${what} retry`);
      break;
  }
  if ('error' in c) {
    if ('bytes' in c || 'expect' in c) throw new DataError(`${what}: error excludes bytes and expect`);
    if (!serializerErrors.includes(c.error)) throw new DataError(`${what}: unknown error code "${c.error}"`);
    out.error = c.error;
  } else {
    out.bytes = bytes(required(c, 'bytes', what), `${what} bytes`);
    out.expect = expectList(required(c, 'expect', what), what);
  }
  return out;
}

function load() {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  const parserCases = [];
  const serializerCases = [];
  for (const file of files) {
    const doc = parseJson(fs.readFileSync(path.join(dir, file), 'utf8'));
    checkKeys(doc, ['description', 'cases'], file);
    if (!Array.isArray(doc.cases)) throw new DataError(`${file}: cases must be an array`);
    const serializer = file.startsWith('serializer');
    for (const c of doc.cases) (serializer ? serializerCases : parserCases).push(serializer ? serializerCase(c, file) : parserCase(c, file));
  }
  const names = new Set();
  for (const c of [...parserCases, ...serializerCases]) {
    if (names.has(c.name)) throw new DataError(`duplicate case name "${c.name}"`);
    names.add(c.name);
  }
  return { dir, files, parserCases, serializerCases };
}

module.exports = { load, concat, DataError };
