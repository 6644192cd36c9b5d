// EventSource edges a mutation run found untested: initMessageEvent() in a
// dispatch, reconnectDelay on a failed connection, WebIDL conversions of
// withCredentials and handler attributes, close() in the constructor's
// task, the attempt hook and refusals on a POST, credentials after a
// cross-origin redirect, cancelling a body that ignores the signal.
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { EventSource } from '../src/index.mjs';
import { sendStream, testFixtures, within } from './eventsource-server.mjs';

const { server, open } = testFixtures();
async function flush() {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}
const sse = (text) => new Response(text, { headers: { 'content-type': 'text/event-stream' } });

describe('EventSource: edges', () => {
  it('initMessageEvent() during the dispatch changes nothing, as the DOM says, in any listener', async () => {
    // Node 20's EventTarget reports eventPhase NONE to the second and later
    // listeners: a guard on eventPhase alone let the change through there.
    for (const listeners of [1, 3]) {
      const source = new EventSource('http://example.test/', { fetch: async () => sse('data: x\n\n') });
      const seen = await new Promise((resolve) => {
        for (let i = 1; i <= listeners; i++) {
          source.addEventListener('message', (e) => {
            e.initMessageEvent('changed', false, false, 'changed', 'http://changed.example', '9');
            if (i === listeners) resolve([e.type, e.data, e.origin, e.lastEventId]);
          });
        }
      });
      source.close();
      assert.deepEqual(seen, ['message', 'x', 'http://example.test', ''], `${listeners} listener(s)`);
    }
  });

  it('the error event of a failed connection has reconnectDelay null', async () => {
    const s = await server((req, res) => res.writeHead(404).end());
    const { source, rec, errors } = open(s.url);
    await rec.until(() => rec.count('error') === 1, 'the failure');
    assert.equal(source.readyState, EventSource.CLOSED);
    assert.equal(errors[0].error.reason, 'http_status');
    assert.equal(errors[0].reconnectDelay, null);
  });

  it('withCredentials is converted as a WebIDL boolean: 1 is true, and the request includes credentials', async () => {
    let init;
    let called;
    const fetched = new Promise((resolve) => (called = resolve));
    const source = new EventSource('http://example.test/', {
      withCredentials: 1,
      fetch: (url, i) => {
        init = i;
        called();
        return new Promise(() => {});
      },
    });
    assert.equal(source.withCredentials, true);
    await fetched;
    assert.equal(init.credentials, 'include');
    source.close();
  });

  it('close() in the task that made it: no request, and no error event later either', async () => {
    let requests = 0;
    const source = new EventSource('http://127.0.0.1:9/closed', {
      fetch: () => {
        requests++;
        return new Promise(() => {});
      },
    });
    const errors = [];
    source.onerror = (e) => errors.push(e.error?.reason);
    source.close();
    // A later EventSource's start runs after the closed one's would have.
    let called;
    const started = new Promise((resolve) => (called = resolve));
    const later = new EventSource('http://127.0.0.1:9/later', {
      fetch: () => {
        called();
        return new Promise(() => {});
      },
    });
    await started;
    await flush();
    later.close();
    assert.deepEqual(errors, []);
    assert.equal(requests, 0);
    assert.equal(source.readyState, EventSource.CLOSED);
  });

  it('an event handler attribute keeps an object it is given (WebIDL [LegacyTreatNonObjectAsNull])', () => {
    const source = new EventSource('http://example.test/', { fetch: () => new Promise(() => {}) });
    const handler = { handleEvent() {} };
    source.onmessage = handler;
    assert.equal(source.onmessage, handler);
    source.onerror = 'not callable';
    assert.equal(source.onerror, null);
    source.close();
  });

  it('onmessage runs with this = the EventSource', async () => {
    const source = new EventSource('http://example.test/', { fetch: async () => sse('data: x\n\n') });
    const that = await new Promise((resolve) => {
      source.onmessage = function () {
        resolve(this);
      };
    });
    source.close();
    assert.equal(that, source);
  });

  // attempt-hook.test.mjs (uses its `quick`)
  it('a failed hook on a POST sent nothing, so the POST still goes after the backoff (no replayBody needed)', async () => {
    const quick = { reconnectionTime: 5, backoff: { minDelay: 1, jitter: 0 } };
    const s = await server((req, res) => sendStream(res, 'data: ok\n\n', { end: false }));
    let calls = 0;
    const onAttempt = () => {
      if (++calls === 1) throw new Error('token service down');
    };
    const { source, rec, errors } = open(s.url, { ...quick, method: 'POST', body: 'p', onAttempt });
    await rec.until(() => rec.count('message') === 1, 'the event once the hook recovered');
    assert.equal(errors[0].error.reason, 'attempt_hook_failed');
    assert.equal(typeof errors[0].reconnectDelay, 'number');
    assert.deepEqual(s.requests.map((r) => r.body), ['p']);
    source.close();
  });

  it('after a redirect to another origin, reconnects there go without Authorization (as fetch() dropped it)', async () => {
    const target = await server((req, res) => sendStream(res, 'data: x\n\n'));
    const start = await server((req, res) => res.writeHead(307, { location: target.url }).end());
    const { source } = open(start.url, { headers: { authorization: 'Bearer secret', 'x-other': 'kept' }, reconnectionTime: 1, backoff: { minDelay: 1 } });
    await target.waitForRequests(2);
    source.close();
    assert.equal(start.requests.length, 1);
    assert.equal(start.requests[0].headers.authorization, 'Bearer secret');
    assert.deepEqual(target.requests.slice(0, 2).map((r) => [r.headers.authorization, r.headers['x-other']]), [[undefined, 'kept'], [undefined, 'kept']]);
  });

  it('close() cancels a custom fetch body that ignores the signal (its iterator is returned)', async () => {
    let returned;
    const cancelled = new Promise((resolve) => (returned = resolve));
    const body = {
      [Symbol.asyncIterator]() {
        let sent = false;
        return {
          next: () => (sent ? new Promise(() => {}) : ((sent = true), Promise.resolve({ done: false, value: new TextEncoder().encode('data: x\n\n') }))),
          return: () => {
            returned();
            return Promise.resolve({ done: true });
          },
        };
      },
    };
    const fetch = async () => ({ status: 200, headers: new Headers({ 'content-type': 'text/event-stream' }), body });
    const source = new EventSource('http://example.test/', { fetch });
    await new Promise((resolve) => (source.onmessage = resolve));
    source.close();
    await within(5000, 'the body cancelled', () => cancelled);
  });

  // attempt-hook.test.mjs (uses its `quick`)
  it('with a hook, a 401 on a POST is a refusal: the POST goes again with the new token (no replayBody needed)', async () => {
    const quick = { reconnectionTime: 5, backoff: { minDelay: 1, jitter: 0 } };
    const s = await server((req, res, n) => {
      if (n === 1) res.writeHead(401).end();
      else sendStream(res, 'data: ok\n\n', { end: false });
    });
    const onAttempt = (request, info) => request.headers.set('authorization', `Bearer ${info.number}`);
    const { source, rec } = open(s.url, { ...quick, method: 'POST', body: 'p', onAttempt });
    await rec.until(() => rec.count('message') === 1, 'the event after the 401');
    source.close();
    assert.deepEqual(s.requests.map((r) => [r.body, r.headers.authorization]), [['p', 'Bearer 1'], ['p', 'Bearer 2']]);
  });

  // attempt-hook.test.mjs (uses its `quick`)
  it('a 504 on a POST with retryServerErrors is a refusal: the POST goes again', async () => {
    const quick = { reconnectionTime: 5, backoff: { minDelay: 1, jitter: 0 } };
    const s = await server((req, res, n) => {
      if (n === 1) res.writeHead(504, { 'Retry-After': '0' }).end();
      else sendStream(res, 'data: ok\n\n', { end: false });
    });
    const { source, rec } = open(s.url, { ...quick, method: 'POST', body: 'p', retryServerErrors: true });
    await rec.until(() => rec.count('message') === 1, 'the event after the 504');
    source.close();
    assert.deepEqual(s.requests.map((r) => r.body), ['p', 'p']);
  });
});
