// Event-stream endpoints written the way SSE tutorials write them: plain
// node:http, writeHead, res.write with template strings, setInterval.
// Prints "listening on http://127.0.0.1:PORT" and serves until killed.
import http from 'node:http';

const tokens = ['Server', '-sent', ' events', ' are', ' simple', '.'];

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');

  if (url.pathname === '/time') {
    // The classic: a counter with ids; the connection ends every 5 events,
    // and the browser (or our client) reconnects with Last-Event-ID.
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    res.write('retry: 50\n\n');
    let id = Number(req.headers['last-event-id'] || 0);
    const timer = setInterval(() => {
      id++;
      res.write(`id: ${id}\n`);
      res.write(`data: ${JSON.stringify({ n: id, time: new Date().toISOString() })}\n\n`);
      if (id % 5 === 0) {
        clearInterval(timer);
        res.end();
      }
    }, 10);
    req.on('close', () => clearInterval(timer));
    return;
  }

  if (url.pathname === '/chat' && req.method === 'POST') {
    // The LLM style: read a JSON body, stream tokens, then [DONE] and end.
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const { prompt } = JSON.parse(body);
      res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache' });
      res.flushHeaders();
      res.write(`: answering ${prompt}\n\n`);
      let i = 0;
      const timer = setInterval(() => {
        if (i < tokens.length) {
          res.write(`data: ${JSON.stringify({ token: tokens[i++] })}\n\n`);
        } else {
          clearInterval(timer);
          res.write('data: [DONE]\n\n');
          res.end();
        }
      }, 5);
    });
    return;
  }

  if (url.pathname === '/notes') {
    // A tutorial bug: a message with a newline written into one data: line.
    // The second line becomes a field named "second line", which readers ignore.
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Access-Control-Allow-Origin': '*' });
    const message = 'first line\nsecond line';
    res.write(`event: note\ndata: ${message}\n\n`);
    res.write('event: note\r\ndata: crlf ok\r\n\r\n');
    res.end();
    return;
  }

  if (url.pathname === '/auth') {
    if (req.headers.authorization !== 'Bearer let-me-in') {
      res.writeHead(401, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: 'unauthorized' }));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.end('data: welcome\n\n');
    return;
  }

  res.writeHead(404);
  res.end();
});

server.listen(0, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
