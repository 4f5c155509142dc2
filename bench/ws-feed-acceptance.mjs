// The seed's connector acceptance, measured (issue 4):
//   a WebSocket feed at 10 Hz x 10 kB frames for 60 s -> zero drops, hub RSS
//   stable within 5 % between second 10 and second 60, delivery to 100
//   subscribers with p99 < 50 ms.
// Upstream: `livehub mock --serve` (one stream, one 10 kB record per frame).
// Hub: `livehub serve` with a `websocket` source on that feed.
// Subscribers: 100 npm `ws` clients on the hub; latency = receive time -
// the record's `t` (the mock's clock when it made the record, same host).
//
// Run: node bench/ws-feed-acceptance.mjs [--seconds 60] [--subscribers 100]
//      (LIVEHUB_BIN defaults to build/livehub; needs tests/integration's
//      node_modules: cd tests/integration && npm ci)
// Prints a JSON summary and exits 0 when every acceptance bound holds.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
process.env.LIVEHUB_BIN ??= path.join(here, '..', 'build', 'livehub');
const { startServer, request, sleep, until } = await import('../tests/integration/harness.mjs');
const { createRequire } = await import('node:module');
const WebSocket = createRequire(path.join(here, '..', 'tests', 'integration', 'package.json'))('ws');

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const SECONDS = arg('seconds', 60);
const SUBSCRIBERS = arg('subscribers', 100);
const FRAME = arg('frame-bytes', 10000);
const HZ = arg('hz', 10);

function rssKb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}
function cpuTicks(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);  // utime + stime
}

// 1. The upstream feed.
const mock = spawn(process.env.LIVEHUB_BIN, ['mock', '--serve', '127.0.0.1:0', '--interval', String(1 / HZ),
  '--frame-bytes', String(FRAME), '--streams', '1', '--shape', 'sensor'], { stdio: ['ignore', 'pipe', 'pipe'] });
let mockOut = '';
const mockPort = await new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(`mock did not start: ${mockOut}`)), 10000);
  const on = (c) => {
    mockOut += c;
    const m = /"msg":"listening","port":(\d+)/.exec(mockOut);
    if (m) { clearTimeout(t); resolve(Number(m[1])); }
  };
  mock.stdout.on('data', on);
  mock.stderr.on('data', on);
});

// 2. The hub with a websocket source on it.
const server = await startServer({
  // 10 s of the feed in memory: history reaches its bound before second
  // 10, so RSS after that measures leaks, not retention filling up.
  history: { max_events: 100 },
  sources: [{ id: 'feed', type: 'websocket', stream: 'bench/feed', max_message_bytes: 4 * FRAME,
    websocket: { url: `ws://127.0.0.1:${mockPort}/ws` } }],
});
const pid = server.proc.pid;

// 3. Subscribers.
let measuring = false;
const lat = [];
const subs = [];
let gaps = 0;
let orderErrors = 0;
for (let i = 0; i < SUBSCRIBERS; ++i) {
  const ws = new WebSocket(`${server.wsBase}/v1/ws?streams=bench/feed`);
  const st = { ws, count: 0, last: 0 };
  ws.on('message', (buf) => {
    const now = Date.now();
    // The envelope and the record's first fields are in the first bytes;
    // parsing 100 x 10 kB of JSON per tick would measure the tool, not the hub.
    const head = buf.toString('latin1', 0, 400);
    if (head.startsWith('{"type":"gap"')) ++gaps;
    if (!head.startsWith('{"type":"event"')) return;
    const seq = Number(/"seq":(\d+)/.exec(head)[1]);
    const t = Number(/"t":(\d+)/.exec(head)[1]);
    if (st.last && seq !== st.last + 1) ++orderErrors;
    st.last = seq;
    ++st.count;
    if (measuring) lat.push(now - t);
  });
  subs.push(st);
}
await until(() => subs.every((s) => s.ws.readyState === 1), 20000, 'subscribers connected');
await until(async () => (await request(server, 'GET', '/v1/sources/feed')).json.state === 'receiving', 20000, 'feed receiving');

// 4. Measure.
measuring = true;
const rss = [];
const t0 = Date.now();
const cpu0 = cpuTicks(pid);
const first = (await request(server, 'GET', '/v1/sources/feed')).json;
for (let s = 1; s <= SECONDS; ++s) {
  await sleep(t0 + s * 1000 - Date.now());
  rss.push(rssKb(pid));
}
measuring = false;
const cpuS = (cpuTicks(pid) - cpu0) / 100;
await sleep(1000);
const src = (await request(server, 'GET', '/v1/sources/feed')).json;
const stats = await (await fetch(`http://127.0.0.1:${mockPort}/stats`)).json().catch(() => ({}));
for (const s of subs) s.ws.terminate();
await server.stop();
mock.kill('SIGTERM');

lat.sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
const dropped = Object.values(src.dropped).reduce((a, b) => a + b, 0);
const rss10 = rss[Math.min(9, rss.length - 1)];
const rssEnd = rss[rss.length - 1];
const summary = {
  seconds: SECONDS, hz: HZ, frame_bytes: FRAME, subscribers: SUBSCRIBERS,
  feed_messages: src.messages_in - first.messages_in, published: src.events_published,
  source_dropped: dropped, subscriber_gaps: gaps, order_errors: orderErrors,
  deliveries: lat.length, latency_ms: { p50: q(0.5), p99: q(0.99), max: lat[lat.length - 1] },
  hub_rss_kb: { at_10s: rss10, at_end: rssEnd, change_pct: +(100 * (rssEnd - rss10) / rss10).toFixed(2) },
  hub_cpu_pct: +(100 * cpuS / SECONDS).toFixed(1), mock: stats,
};
const pass = dropped === 0 && gaps === 0 && orderErrors === 0 && q(0.99) < 50 &&
  Math.abs(summary.hub_rss_kb.change_pct) <= 5 && summary.feed_messages >= SECONDS * HZ * 0.9;
summary.pass = pass;
console.log(JSON.stringify(summary, null, 2));
process.exit(pass ? 0 : 1);
