// Ingest throughput per connector (issue 4): N messages of ~100 B JSON pushed
// as fast as the peer can into a hub with one source; reports messages/s
// from the first to the last published event and the hub's CPU per 100k
// messages. Peers: mosquitto + `mosquitto_pub -l` (MQTT, QoS 0 and 1), a
// Node `ws` server (WebSocket), a Node http server streaming SSE, and a
// Node http server whose one body holds N NDJSON records (HTTP polling).
//
// Run: node bench/ingest-throughput.mjs [--messages 100000]
//      (LIVEHUB_BIN defaults to build/livehub; needs tests/integration's
//      node_modules and the mosquitto broker)
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
process.env.LIVEHUB_BIN ??= path.join(here, '..', 'build', 'livehub');
const { startServer, request, sleep } = await import('../tests/integration/harness.mjs');
const { WebSocketServer } = createRequire(path.join(here, '..', 'tests', 'integration', 'package.json'))('ws');

const i = process.argv.indexOf('--messages');
const N = i > 0 ? Number(process.argv[i + 1]) : 100000;
const record = (k) => JSON.stringify({ k, sensor: 'station-12', temperature_c: 21.37, humidity_pct: 45.2, pad: 'xxxxxxxxxxxxxxxx' });

function cpuTicks(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
}
async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

// Starts a hub with `source`, runs `push()`, waits until N events are
// published (bounded: 120 s), returns the figures.
async function measure(name, source, push) {
  const server = await startServer({ history: { max_events: 1000 }, store: { enabled: false }, sources: [source] });
  try {
    const pid = server.proc.pid;
    const get = async () => (await request(server, 'GET', `/v1/sources/${source.id}`)).json;
    const deadline = Date.now() + 30000;
    while ((await get()).state !== 'subscribed' && (await get()).state !== 'receiving') {
      if (Date.now() > deadline) throw new Error(`${name}: source never subscribed`);
      await sleep(50);
    }
    const cpu0 = cpuTicks(pid);
    const t0 = Date.now();
    const pushing = push();
    // The rate runs from the first sample that saw events to the last
    // (a poll may fetch before push() is called, a feed may start late).
    let s;
    let first = null;
    const end = Date.now() + 120000;
    do {
      await sleep(20);
      s = await get();
      if (!first && s.events_published > 0) first = { t: Date.now(), n: s.events_published };
    } while (s.events_published + Object.values(s.dropped).reduce((a, b) => a + b, 0) < N && Date.now() < end);
    const now = Date.now();
    const secs = first && now > first.t + 20 ? (now - first.t + 20) / 1000 : (now - t0) / 1000;
    const cpu = (cpuTicks(pid) - cpu0) / 100;
    await pushing;
    return { connector: name, messages: N, published: s.events_published, dropped: s.dropped,
      seconds: +secs.toFixed(2), msgs_per_s: Math.round((s.events_published - (first && now > first.t + 20 ? first.n : 0)) / secs),
      hub_cpu_s_per_100k: +(cpu * 100000 / Math.max(1, s.events_published)).toFixed(2) };
  } finally {
    await server.stop();
  }
}

const results = [];
const lines = Array.from({ length: N }, (_, k) => record(k)).join('\n') + '\n';

// MQTT
{
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lh-ingest-'));
  const port = await freePort();
  writeFileSync(path.join(dir, 'm.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 1000000\nset_tcp_nodelay true\nuser ${os.userInfo().username}\n`);
  const broker = spawn('mosquitto', ['-c', path.join(dir, 'm.conf')], { stdio: 'ignore' });
  await sleep(500);
  for (const qos of [0, 1]) {
    results.push(await measure(`mqtt qos${qos}`, { id: 'mq', type: 'mqtt', stream: 'bench/mqtt', queue: { max_bytes: 64 << 20, policy: 'throttle' },
      mqtt: { url: `mqtt://127.0.0.1:${port}`, topics: ['bench/#'], qos, clean_session: true } }, async () => {
      // mosquitto 2.0 drops a QoS 1 publisher ("out of memory") after
      // ~34k queued messages in one connection: send 10k per connection.
      const all = lines.split('\n').filter(Boolean);
      for (let k = 0; k < all.length; k += 10000) {
        await new Promise((resolve) => {
          const p = spawn('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-t', 'bench/x', '-q', String(qos), '-l'], { stdio: ['pipe', 'ignore', 'inherit'] });
          p.on('exit', resolve);
          p.stdin.end(all.slice(k, k + 10000).join('\n') + '\n');
        });
      }
    }));
  }
  broker.kill();
  rmSync(dir, { recursive: true, force: true });
}

// WebSocket
{
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.on('listening', r));
  let blast;
  wss.on('connection', (ws) => { blast = () => { for (let k = 0; k < N; ++k) ws.send(record(k)); }; });
  results.push(await measure('websocket', { id: 'ws', type: 'websocket', stream: 'bench/ws', queue: { max_bytes: 64 << 20, policy: 'throttle' },
    websocket: { url: `ws://127.0.0.1:${wss.address().port}/` } }, async () => { blast(); }));
  wss.close();
}

// SSE
{
  let res;
  const srv = http.createServer((req, r) => { r.writeHead(200, { 'content-type': 'text/event-stream' }); r.flushHeaders(); res = r; });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  results.push(await measure('sse', { id: 'sse', type: 'sse', stream: 'bench/sse', queue: { max_bytes: 64 << 20, policy: 'throttle' },
    sse: { url: `http://127.0.0.1:${srv.address().port}/` } }, async () => {
    let out = '';
    for (let k = 0; k < N; ++k) out += `id: ${k}\ndata: ${record(k)}\n\n`;
    res.write(out);
  }));
  res?.destroy();
  srv.close();
}

// HTTP polling: one body of N NDJSON records.
{
  let served = false;
  const srv = http.createServer((req, r) => {
    if (served) { r.writeHead(304); r.end(); return; }
    served = true;
    r.writeHead(200, { 'content-type': 'application/x-ndjson', etag: '"1"' });
    r.end(lines);
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  results.push(await measure('http_poll (one NDJSON body)', { id: 'poll', type: 'http_poll', stream: 'bench/poll', format: 'ndjson',
    max_message_bytes: 64 << 20, queue: { max_bytes: 64 << 20, policy: 'throttle' },
    http_poll: { url: `http://127.0.0.1:${srv.address().port}/`, interval_s: 1 } }, async () => {}));
  srv.close();
}

console.log('| connector | messages | published | seconds | msgs/s | hub CPU-s per 100k |');
console.log('|---|---|---|---|---|---|');
for (const r of results) console.log(`| ${r.connector} | ${r.messages} | ${r.published} | ${r.seconds} | ${r.msgs_per_s} | ${r.hub_cpu_s_per_100k} |`);
console.log(JSON.stringify(results));
