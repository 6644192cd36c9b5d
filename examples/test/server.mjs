// The loopback server examples/test/run.sh runs the examples against.
//   POST /v1/chat   an LLM-style stream: "Bearer good-key" gets three deltas
//                   and `data: [DONE]`, after which the connection stays
//                   open (the client must stop by itself); "Bearer
//                   slow-down" gets 429, anything else 401, each with a
//                   JSON error body.
//   GET /feed/NAME  event NAME, data "NAME N", every 20 ms, up to 500.
//   GET /burst      five events (data "N") in one write, then the end.
//   GET /tokens/issue  the current token (text) for /tokens/feed.
//   GET /tokens/feed   with "Bearer <current token>": the next 3 events
//                   after Last-Event-ID (id N, data "event N"), then the
//                   token expires and the response ends; else 401.
// Prints "listening on http://127.0.0.1:PORT" when ready; every response and
// the process end by themselves (timers are bounded and unref'd).
import http from 'node:http';

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (req.method === 'POST' && url.pathname === '/v1/chat') return chat(req, res);
  const feed = /^\/feed\/([a-z]+)$/.exec(url.pathname);
  if (req.method === 'GET' && feed) return ticker(res, feed[1]);
  if (req.method === 'GET' && url.pathname === '/burst') {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    return res.end([1, 2, 3, 4, 5].map((n) => `data: ${n}\n\n`).join(''));
  }
  if (req.method === 'GET' && url.pathname === '/tokens/issue') return res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`tok-${generation}\r\n`);
  if (req.method === 'GET' && url.pathname === '/tokens/feed') return tokenFeed(req, res);
  res.writeHead(404).end();
});

function chat(req, res) {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => {
    const auth = req.headers.authorization;
    if (auth === 'Bearer slow-down') {
      res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '20' });
      return res.end('{"error":{"type":"rate_limit","message":"slow down"}}');
    }
    if (auth !== 'Bearer good-key') {
      res.writeHead(401, { 'Content-Type': 'application/json' });
      return res.end('{"error":{"type":"auth","message":"invalid api key"}}');
    }
    const prompt = JSON.parse(body).prompt;
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    const deltas = [`you said ${prompt}`, 'Hel', 'lo'];
    deltas.forEach((d) => res.write(`data: ${JSON.stringify({ delta: d })}\n\n`));
    res.write('data: [DONE]\n\n');
    // Left open, as such servers do; ended after a bound in case the client hangs on.
    setTimeout(() => res.end(), 30000).unref();
  });
}

let generation = 1;
function tokenFeed(req, res) {
  if (req.headers.authorization !== `Bearer tok-${generation}`) {
    res.writeHead(401, { 'Content-Type': 'application/json' });
    return res.end('{"error":"token expired"}');
  }
  const from = Number(req.headers['last-event-id'] ?? 0);
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  for (let i = from + 1; i <= from + 3; i++) res.write(`retry: 10\nid: ${i}\ndata: event ${i}\n\n`);
  generation++;
  res.end();
}

function ticker(res, name) {
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  let n = 0;
  const timer = setInterval(() => {
    res.write(`event: ${name}\ndata: ${name} ${++n}\n\n`);
    if (n === 500) { clearInterval(timer); res.end(); }
  }, 20);
  timer.unref();
  res.on('close', () => clearInterval(timer));
}

server.listen(0, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
// The whole run is bounded: the test takes seconds.
setTimeout(() => process.exit(0), 150000).unref();
