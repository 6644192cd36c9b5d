// Compiled by test/types.test.mjs only, without the DOM library (lib
// es2022 + @types/node, as a Node project has): what Node users write.
import { Readable } from 'node:stream';
import { EventSource, serializeEvent, SseParseError, stream } from 'ssekit';
import type { SseMessageEvent } from 'ssekit';
import { Agent, fetch as undiciFetch } from 'undici';

const source = new EventSource('http://localhost/s', {
  // A custom fetch may give a Node stream as the body.
  fetch: async () => ({ status: 200, headers: new Headers({ 'content-type': 'text/event-stream' }), body: Readable.from(['data: x\n\n']) }),
});
source.onmessage = (e) => {
  const data: string = e.data;
  // @ts-expect-error data is a string, not any
  const n: number = e.data;
  void [data, n];
};
source.addEventListener('news', (e: SseMessageEvent) => void e.origin);
source.addEventListener('message', () => {}, { once: true });
for await (const ev of stream('http://localhost/s', { fetch: async () => ({ status: 200, headers: { get: () => 'text/event-stream' }, body: (async function* () { yield 'data: y\n\n'; })() }) })) {
  void ev.data.toUpperCase();
}

// Fields given as undefined count as omitted (exactOptionalPropertyTypes is on here).
void serializeEvent({ data: 'x', type: undefined, id: undefined, retry: undefined });
// @ts-expect-error the parser makes these
void new SseParseError('line_too_long');

// @types/node's EventSource declares readyState 0 | 1 | 2, where the DOM's
// (and ssekit's) say number: code typed against it needs a cast (README).
function follow(es: globalThis.EventSource): void {
  es.onmessage = (e) => void e.data;
}
// @ts-expect-error readyState: number is not 0 | 1 | 2
follow(source);
follow(source as unknown as globalThis.EventSource);
source.addEventListener('error', (e) => void (e.error ? e.error.reason : e.data));

// A fetch with its own init type fits as it is: undici's (the README's
// HTTP/2 recipe), with its own options added, or one typed as node-fetch
// types its body (no ReadableStream, no DOM FormData). Typed as the DOM's
// RequestInit, the option refused them all.
const agent = new Agent({ allowH2: true });
void new EventSource('http://localhost/s', { fetch: undiciFetch });
void stream('http://localhost/s', { fetch: (url, init) => undiciFetch(url, { ...init, dispatcher: agent }) });
declare function ownFetch(
  url: string,
  init?: { method?: string; body?: string | Uint8Array | null; headers?: Record<string, string> | [string, string][]; signal?: AbortSignal | null },
): Promise<{ status: number; headers: { get(name: string): string | null }; body: AsyncIterable<Uint8Array> }>;
void new EventSource('http://localhost/s', { fetch: ownFetch });
