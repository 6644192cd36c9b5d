// The package's ESM entry point, reached by name as a user would. It shares
// the CommonJS module's instance, so error classes are the same objects.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { it } from 'node:test';

import * as ssekit from 'ssekit';

it('import "ssekit" gives the same API as require("ssekit")', () => {
  const cjs = createRequire(import.meta.url)('ssekit');
  assert.deepEqual(Object.keys(ssekit).sort(), Object.keys(cjs).sort());
  for (const name of Object.keys(cjs)) assert.equal(ssekit[name], cjs[name], name);
  const p = ssekit.createParser({ maxLineLength: 1 });
  assert.throws(() => p.feed('data: x\n'), cjs.SseParseError);
  p.close();
});
