// The server for bench/eventsource-bench.mjs, run in its own process so
// that its work does not count against the clients: serves each workload
// (bench-workload's bytes, loaded once) at /<name> as text/event-stream in
// 64 KiB writes, then ends the response. Prints its port, then serves until
// its stdin closes (the parent exiting ends it).
//   node bench/sse-server.mjs BIN SIZE llm,feed,...
import { spawnSync } from 'node:child_process';
import http from 'node:http';

const [bin, size, names] = process.argv.slice(2);
const bodies = new Map();
for (const name of names.split(',')) {
  const r = spawnSync(bin, [name, size], { maxBuffer: Number(size) + (16 << 20) });
  if (r.status !== 0) throw new Error(`${bin} ${name} ${size}: ${r.stderr}`);
  bodies.set(name, r.stdout);
}

const server = http.createServer(async (req, res) => {
  const body = bodies.get(new URL(req.url, 'http://x').pathname.slice(1));
  if (body === undefined) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  for (let at = 0; at < body.length && !res.destroyed; at += 65536) {
    // Waits for the socket to drain, as a streaming server does.
    if (!res.write(body.subarray(at, at + 65536))) await new Promise((resolve) => res.once('drain', resolve));
  }
  res.end();
});
server.keepAliveTimeout = 1000;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
