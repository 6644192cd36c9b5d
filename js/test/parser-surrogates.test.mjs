// createParser().feed(string): a character outside the BMP (an emoji) is
// two UTF-16 units, and a string chunk may end between them. The parser
// holds a trailing high surrogate until the next chunk (issue 9 item 6).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createParser } from '../src/index.mjs';

function parse(chunks, finish = true) {
  const events = [];
  const parser = createParser({ onEvent: (e) => events.push([e.data, e.lastEventId]) });
  for (const c of chunks) parser.feed(c);
  if (finish) parser.finish();
  parser.close();
  return events;
}

describe('createParser(): string chunks split inside a surrogate pair', () => {
  const text = 'id: 😀\ndata: a😀b\n\ndata: 🎉\n\n';

  it('every split of the text gives the same events as the whole', () => {
    const whole = parse([text]);
    assert.deepEqual(whole, [['a😀b', '😀'], ['🎉', '😀']]);
    for (let i = 0; i <= text.length; i++) {
      assert.deepEqual(parse([text.slice(0, i), text.slice(i)]), whole, `split at ${i}`);
    }
    // One UTF-16 unit per chunk.
    assert.deepEqual(parse([...text].flatMap((ch) => ch.split(''))), whole);
  });

  it('a held high surrogate followed by bytes, by a non-surrogate, or by the end is U+FFFD', () => {
    assert.deepEqual(parse(['data: x\ud83d', new TextEncoder().encode('y\n\n')]), [['x\ufffdy', '']]);
    assert.deepEqual(parse(['data: x\ud83d', 'y\n\n']), [['x\ufffdy', '']]);
    const events = [];
    const parser = createParser({ onEvent: (e) => events.push(e.data) });
    parser.feed('data: \ud83d');
    parser.reset();
    parser.feed('data: \ude00z\n\n');
    assert.deepEqual(events, ['\ufffdz']);
    parser.close();
  });
});
