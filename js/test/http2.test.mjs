// The EventSource over HTTP/2, through undici's fetch with
// allowH2 (a user's `fetch` option; Node's own fetch speaks HTTP/1.1 only).
// An h2 probe found that a stream the server resets with REFUSED_STREAM
// before answering, which RFC 9113 8.7 defines as closed before any
// processing, counted as sent: a POST closed the EventSource instead of
// being sent again. Loopback, a throwaway certificate for localhost.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';

import { Agent, fetch as undiciFetch } from 'undici';

import { EventSource } from '../src/index.mjs';

// Self-signed for localhost and 127.0.0.1, valid until 2126 (made with
// openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1).
const CERT = `
-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUPcOWQU9MBtINwsi6hC3hmiQz9SgwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwNjAyNTA1OFoYDzIxMjYxMTEy
MDI1MDU4WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAS2fcGBoMatkLXJeVN+teJ7j2SrqCLuyyizNH3DKx2uQcKes4Z1NpMu
eF/RNb+iF6h6vQUxDCDmjJgFcSDtJPYyo28wbTAdBgNVHQ4EFgQUWBnOW2TAO4sR
ebrHT4zI19DgxBowHwYDVR0jBBgwFoAUWBnOW2TAO4sRebrHT4zI19DgxBowDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDSAAwRQIhAMOlJ4ZvsNI0zV730wo6sfWsfGpiGNBbDg7r1pwV7HPAAiBt
5IzAtdI8BKyb7quOF+tYeLLyu7wvlXKUmUAeuLMMhg==
-----END CERTIFICATE-----
`;
const KEY = `
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg3lVrODuJbP2sh86d
ESojaqrXJIkzC8Ye90J1e63oGXWhRANCAAS2fcGBoMatkLXJeVN+teJ7j2SrqCLu
yyizNH3DKx2uQcKes4Z1NpMueF/RNb+iF6h6vQUxDCDmjJgFcSDtJPYy
-----END PRIVATE KEY-----
`;

const { NGHTTP2_REFUSED_STREAM } = http2.constants;
let server;
let origin;
const requests = [];  // { path, body }
const dispatcher = new Agent({ allowH2: true, connect: { rejectUnauthorized: false } });
const fetchH2 = (url, init) => undiciFetch(url, { ...init, dispatcher });

before(async () => {
  server = http2.createSecureServer({ cert: CERT, key: KEY, allowHTTP1: false });
  server.on('session', (session) => session.on('error', () => {}));
  server.on('stream', (st, headers) => {
    st.on('error', () => {});
    const path = headers[':path'];
    let body = '';
    st.on('data', (d) => { body += d; });
    st.on('end', () => {
      requests.push({ path, body });
      // The first request to each path is refused before any answer.
      if (requests.filter((r) => r.path === path).length === 1) {
        st.close(NGHTTP2_REFUSED_STREAM);
        return;
      }
      st.respond({ ':status': 200, 'content-type': 'text/event-stream' });
      st.end('data: second attempt\n\n');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `https://localhost:${server.address().port}`;
});

after(async () => {
  await dispatcher.close();
  await new Promise((resolve) => server.close(resolve));
});

// Resolves with the first message, or rejects with the error that closed
// the EventSource.
function firstMessage(es) {
  return new Promise((resolve, reject) => {
    es.onmessage = (e) => resolve(e.data);
    es.onerror = (e) => {
      if (es.readyState === EventSource.CLOSED) reject(e.error);
    };
  }).finally(() => es.close());
}

describe('HTTP/2 (undici with allowH2)', () => {
  it('a POST refused with REFUSED_STREAM before any answer is sent again: it was never processed', async () => {
    const es = new EventSource(`${origin}/post`, { fetch: fetchH2, method: 'POST', body: 'q=1', reconnectionTime: 0 });
    assert.equal(await firstMessage(es), 'second attempt');
    assert.deepEqual(requests.filter((r) => r.path === '/post').map((r) => r.body), ['q=1', 'q=1']);
  });
});
