// Compiled by test/types.test.mjs only (tsc --noEmit): the ESM declarations.
import { createParser, EventSource, stream, SseError, serializeComment, serializeEvent, serializeHeartbeat, serializeRetry, SseParseError, SseSerializeError, SseLoadError, ready } from 'ssekit';
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
void createParser().readFrom(new Response('data: x\n\n'));
void createParser().readFrom(['data: ', new Uint8Array([120, 10, 10])]);
// @ts-expect-error numbers are not a source
void createParser().readFrom(5);
parser.reset();
const id: string = parser.lastEventId;
const closed: boolean = parser.closed;
parser.close();
parser.lastEventId = 'resume';
// @ts-expect-error lastEventId is a string
parser.lastEventId = 1;
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

const source = new EventSource('http://localhost/s', {
  headers: { Authorization: 'Bearer t' },
  method: 'POST',
  body: '{}',
  lastEventId: '7',
  idleTimeout: 30_000,
  backoff: { factor: 2, maxDelay: 60_000, minDelay: 500, jitter: 0.3 },
  reconnectionTime: 1000,
  lastEventIdQuery: 'lastEventId',
  replayBody: true,
  fetch: (url, init) => fetch(url, init),
});
const state: number = source.readyState;
const open: 1 = EventSource.OPEN;
source.onmessage = (e) => void e.data.toUpperCase();
source.onerror = function (e) {
  // @ts-expect-error a server's `event: error` has no `error`: test it first
  void e.error.reason;
  if (e.error === undefined) return void e.data;  // the server's event: error
  const reason: 'network_error' | 'http_status' | 'no_content' | 'wrong_content_type' | 'limit_exceeded' | 'idle_timeout' | 'end_of_stream' | 'invalid_response' | 'invalid_url' | 'cors_refused' | 'redirect_refused' | 'attempt_hook_failed' | 'out_of_memory' = e.error.reason;
  const status: number = e.error.status;
  const wait: number | null = e.reconnectDelay;
  void [reason, status, wait, this.url];
};
source.addEventListener('news', (e) => void e.lastEventId.length);
source.addEventListener('error', (e) => void (e.error instanceof SseError));
new EventSource('http://localhost/s', { backoff: false });
new EventSource('http://localhost/s', {
  retryServerErrors: true,
  attemptHookTimeout: 5000,
  onAttempt: async (request, info) => {
    const kind: 'first' | 'reconnect' = info.kind;
    if (info.previousStatus === 401) request.headers.set('authorization', `Bearer ${info.number}`);
    void [kind, info.failures, info.previousReason];
  },
});
new EventSource('http://localhost/s', { onAttempt: (request) => ({ ...request, url: 'http://localhost/t' }) });
// @ts-expect-error the hook's request has no `signal`
new EventSource('http://localhost/s', { onAttempt: (request) => void request.signal });
// @ts-expect-error readyState is read-only
source.readyState = 2;
source.close();

async function tokens(signal: AbortSignal): Promise<string> {
  let text = '';
  for await (const ev of stream(new URL('http://localhost/chat'), { method: 'POST', body: '{}', signal })) {
    const origin: string = ev.origin;
    text += ev.data + origin.length;
  }
  return text;
}
void [state, open, tokens];

async function loaded(): Promise<number> {
  await ready();
  const p = createParser();
  const held: number = p.memoryBytes;
  p.close();
  try {
    createParser();
  } catch (e) {
    if (e instanceof SseLoadError) {
      const code: 'csp_blocked' | 'wasm_unavailable' | 'missing_build' | 'load_failed' | 'compile_failed' | 'out_of_memory' = e.code;
      void code;
    }
  }
  return held;
}
void loaded;
