// Imported by the EventSource and stream() test files: records every
// unhandled promise rejection in the file's process and fails the file's
// last hook if there was one. The package must never produce one, whatever
// a server or a custom fetch() does.
import assert from 'node:assert/strict';
import { after } from 'node:test';

const unhandled = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));

after(async () => {
  // Rejections are reported after a macrotask turn.
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(unhandled.map((e) => String(e?.stack ?? e)), [], 'unhandled promise rejections');
});
