// The package's CommonJS entry point, reached by name as a user would.
'use strict';
const assert = require('node:assert/strict');
const { it } = require('node:test');

it('require("ssekit") gives the whole API', () => {
  const ssekit = require('ssekit');
  assert.deepEqual(Object.keys(ssekit).sort(), [
    'EventSource',
    'SseError',
    'SseLoadError',
    'SseParseError',
    'SseSerializeError',
    'createParser',
    'ready',
    'serializeComment',
    'serializeEvent',
    'serializeHeartbeat',
    'serializeRetry',
    'stream',
  ]);
  assert.equal(require.resolve('ssekit'), require.resolve('../src/index.cjs'));
  const events = [];
  const p = ssekit.createParser({ onEvent: (ev) => events.push(ev) });
  p.feed(ssekit.serializeEvent({ data: 'hi', id: '1' }));
  p.close();
  assert.deepEqual(events, [{ type: 'message', data: 'hi', lastEventId: '1' }]);
  assert.equal(require('ssekit/package.json').name, 'ssekit');
});
