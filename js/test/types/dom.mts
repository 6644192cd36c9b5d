// Compiled by test/types.test.mjs only, with the DOM library: ssekit's
// types next to the platform's own.
import { EventSource } from 'ssekit';

const source = new EventSource('http://localhost/s');
// Handlers written for the browser's MessageEvent fit.
source.onmessage = (e: MessageEvent) => void e.data;
source.onmessage = (e: MessageEvent<string>) => void e.data.length;
source.addEventListener('news', (e: MessageEvent) => void e.lastEventId);
source.addEventListener('news', { handleEvent: (e: Event) => void e.type });
source.addEventListener('message', () => {}, { once: true, signal: new AbortController().signal });
// Code typed against the platform's EventSource takes ssekit's.
function follow(es: globalThis.EventSource): void {
  es.onmessage = (e) => void e.data;
}
follow(source);
const Platform: typeof globalThis.EventSource = EventSource;
void new Platform('http://localhost/s', { withCredentials: true });
// Set with ssekit's types: the error event's reason is typed.
source.onerror = (e) => void e.error?.reason;
