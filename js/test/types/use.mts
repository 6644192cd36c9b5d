// Compiled by test/types.test.mjs only (tsc --noEmit): the ESM declarations.
import { createParser, serializeComment, serializeEvent, serializeHeartbeat, serializeRetry, SseParseError, SseSerializeError } from 'ssekit';
import type { OutgoingEvent, Parser, ParserOptions, SseEvent } from 'ssekit';

const seen: SseEvent[] = [];
const options: ParserOptions = {
  onEvent: (ev) => seen.push(ev),
  onComment: (text: string) => void text.length,
  onRetry: (ms: number) => void ms.toFixed(),
  maxLineLength: 1024,
  maxEventSize: Infinity,
};
const parser: Parser = createParser(options);
parser.feed('data: x\n\n');
parser.feed(new Uint8Array([10]));
parser.finish();
parser.reset();
const id: string = parser.lastEventId;
const closed: boolean = parser.closed;
parser.close();
// @ts-expect-error lastEventId is read-only
parser.lastEventId = 'x';
// @ts-expect-error numbers are not chunks
parser.feed(1);

try {
  createParser().feed('');
} catch (e) {
  if (e instanceof SseParseError) {
    const code: 'line_too_long' | 'event_too_large' | 'feed_after_finish' = e.code;
    const offset: number = e.offset;
    void [code, offset];
  }
  if (e instanceof SseSerializeError) void e.code;
}

const ev: OutgoingEvent = { data: 'a', type: 't', id: '1', retry: 10n };
const out: string[] = [serializeEvent(ev), serializeComment('c'), serializeRetry(5), serializeRetry(5n), serializeHeartbeat()];
// @ts-expect-error data is required
serializeEvent({ type: 't' });
void [id, closed, out];
