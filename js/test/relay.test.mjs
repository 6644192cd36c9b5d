// The README's relay ("Serving and relaying"): stream() from an upstream,
// serializeEvent() to each client. Its three promises, on loopback: the ids
// reach the client (it can resume), a client that leaves stops the
// upstream's request, and a client that stops reading stops the reading of
// the upstream instead of piling events up in the relay. Every wait ends on
// an event, bounded by a deadline.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';

import { createParser, serializeEvent, stream } from 'ssekit';

const within = (ms, what, promise) => {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: none within ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(timer));
};

// The upstream: /ids sends four events with ids (the last resets it) and ends; /endless sends
// 1 KiB events, up to 256 MiB, and reports each time it must wait for its
// client (and the wait's end), the end of those 256 MiB, and the request's
// close.
const ENDLESS_LIMIT = 256 * 1024 * 1024;
const upstreamEvents = { blocked: null, drained: null, finished: null, closed: null };
let upstream;
let upstreamUrl;
function startUpstream() {
  upstream = http.createServer(async (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    if (req.url === '/ids') {
      res.end('id: 1\ndata: one\n\nevent: named\ndata: two\n\nid: 3\ndata: three\n\nid\ndata: four\n\n');
      return;
    }
    const closed = once(res, 'close');
    upstreamEvents.closed?.({ closed });  // wrapped: a promise would be adopted
    const payload = `data: ${'x'.repeat(1024)}\n\n`;
    for (let n = 0, sent = 0; !res.destroyed; n++) {
      const event = `id: ${n}\n${payload}`;
      sent += event.length;
      if (sent > ENDLESS_LIMIT) {
        upstreamEvents.finished?.();
        res.end();
        return;
      }
      if (!res.write(event)) {
        upstreamEvents.blocked?.();
        await Promise.race([once(res, 'drain'), closed]);
        upstreamEvents.drained?.();
      }
    }
  });
  return new Promise((resolve) => upstream.listen(0, '127.0.0.1', () => resolve((upstreamUrl = `http://127.0.0.1:${upstream.address().port}`))));
}

// The README's relay, with the upstream path from the request's.
const relayState = { buffered: 0 };
let relay;
let relayUrl;
function startRelay() {
  relay = http.createServer(async (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    let sentId = '';
    try {
      for await (const e of stream(upstreamUrl + req.url, { signal: gone.signal })) {
        const id = e.lastEventId === sentId ? undefined : e.lastEventId;
        sentId = e.lastEventId;
        if (!res.write(serializeEvent({ type: e.type, data: e.data, id }))) await once(res, 'drain', { signal: gone.signal });
        relayState.buffered = Math.max(relayState.buffered, res.writableLength);
      }
    } catch (e) {
      if (!gone.signal.aborted) throw e;
    }
    res.end();
  });
  return new Promise((resolve) => relay.listen(0, '127.0.0.1', () => resolve((relayUrl = `http://127.0.0.1:${relay.address().port}`))));
}

describe('the README relay', () => {
  before(async () => {
    await startUpstream();
    await startRelay();
  });
  after(async () => {
    relay.closeAllConnections();
    upstream.closeAllConnections();
    await Promise.all([new Promise((resolve) => relay.close(resolve)), new Promise((resolve) => upstream.close(resolve))]);
  });

  it('passes the events on with their ids, a reset included', async () => {
    const response = await fetch(`${relayUrl}/ids`);
    const events = [];
    const parser = createParser({ onEvent: (e) => events.push(e) });
    await within(30_000, 'end of the relayed stream', parser.readFrom(response));
    parser.close();
    assert.deepEqual(events, [
      { type: 'message', data: 'one', lastEventId: '1' },
      { type: 'named', data: 'two', lastEventId: '1' },
      { type: 'message', data: 'three', lastEventId: '3' },
      { type: 'message', data: 'four', lastEventId: '' },  // the upstream's reset, relayed
    ]);
  });

  it('a client that leaves ends the upstream request', async () => {
    const upstreamClosed = new Promise((resolve) => (upstreamEvents.closed = resolve));
    const controller = new AbortController();
    const response = await fetch(`${relayUrl}/endless`, { signal: controller.signal });
    const reader = response.body.getReader();
    await reader.read();
    const { closed } = await within(30_000, 'upstream request', upstreamClosed);
    controller.abort();
    await within(30_000, "the upstream request's close after the client left", closed);
    upstreamEvents.closed = null;
  });

  it('a client that stops reading stops the reading of the upstream; the relay buffers little', async () => {
    relayState.buffered = 0;
    let blocked = new Promise((resolve) => (upstreamEvents.blocked = resolve));
    const upstreamClosed = new Promise((resolve) => (upstreamEvents.closed = resolve));
    const socket = net.connect(relay.address().port, '127.0.0.1');
    socket.write('GET /endless HTTP/1.1\r\nHost: relay\r\n\r\n');
    socket.pause();  // reads nothing from here on
    const { closed } = await within(30_000, 'upstream request', upstreamClosed);
    // Held back, the upstream waits for good (its last wait ends no more;
    // 2 s without an end concludes it); without backpressure the relay takes
    // all it sends (into its own buffer) and the upstream reaches its end.
    const finished = new Promise((resolve) => (upstreamEvents.finished = resolve)).then(() => {
      throw new Error(`the upstream sent all ${ENDLESS_LIMIT} bytes to a relay whose client read nothing`);
    });
    for (let stuck = false; !stuck; ) {
      await within(60_000, 'a wait of the upstream', Promise.race([blocked, finished]));
      blocked = new Promise((resolve) => (upstreamEvents.blocked = resolve));
      const drained = new Promise((resolve) => (upstreamEvents.drained = resolve));
      stuck = await Promise.race([finished, drained.then(() => false), new Promise((resolve) => setTimeout(resolve, 2000, true))]);
    }
    // One write past the high-water mark (16 KiB), not the stream.
    assert.ok(relayState.buffered < 64 * 1024, `the relay buffered ${relayState.buffered} bytes for one client`);
    socket.destroy();
    await within(30_000, "the upstream request's close after the client left", closed);
    for (const key of Object.keys(upstreamEvents)) upstreamEvents[key] = null;
  });
});
