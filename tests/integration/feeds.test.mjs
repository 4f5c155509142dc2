// The `websocket` and `sse` client sources against real peers on 127.0.0.1:
// `livehub mock --serve` (the upstream feed), and small `ws` / `http`
// servers made here for junk, oversize, silent and failing upstreams.
// Covers: in-order delivery without loss, reconnect with bounded backoff
// after the upstream dies, SSE Last-Event-ID resume across an upstream
// restart and a hub restart, header injection (secrets never shown or
// logged), malformed and oversize frames, stall detection, heartbeat,
// HTTP errors.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

import { WebSocketServer } from 'ws';

import { BIN, fullHistory, request, sleep, startServer, uid, until } from './harness.mjs';

const SAN = process.env.LIVEHUB_SANITIZED ? 3 : 1; // slower under sanitizers

// ---------------------------------------------------------------------------
// Peers
// ---------------------------------------------------------------------------

const mocks = new Set();
after(() => { for (const m of mocks) m.proc.kill('SIGKILL'); });

// Starts `livehub mock --serve 127.0.0.1:<port>`; resolves once it listens.
async function startMock(args = [], port = 0) {
  const proc = spawn(BIN, ['mock', '--serve', `127.0.0.1:${port}`, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise((r) => proc.once('exit', r));
  let err = '';
  const listening = new Promise((resolve, reject) => {
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (c) => {
      err += c;
      const m = err.match(/"msg":"listening","port":(\d+)/);
      if (m) resolve(Number(m[1]));
    });
    exited.then((code) => reject(new Error(`livehub mock exited (${code}): ${err}`)));
    setTimeout(() => reject(new Error(`livehub mock did not listen: ${err}`)), 10000 * SAN);
  });
  const p = await listening;
  const mock = {
    proc, port: p, base: `http://127.0.0.1:${p}`,
    async kill() { proc.kill('SIGKILL'); await exited; mocks.delete(mock); },
    async json(route, method = 'GET') {
      const r = await fetch(`${mock.base}${route}`, { method, signal: AbortSignal.timeout(10000) });
      return r.json();
    },
  };
  mocks.add(mock);
  return mock;
}

// A `ws` server on an ephemeral port; `onConnection(ws, n)` per client.
async function startWsServer(onConnection) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  let n = 0;
  wss.on('connection', (ws) => { n += 1; onConnection(ws, n); });
  return {
    url: `ws://127.0.0.1:${wss.address().port}/feed`,
    connections: () => n,
    close: () => new Promise((r) => { for (const c of wss.clients) c.terminate(); wss.close(r); }),
  };
}

async function sourcesById(server) {
  const r = await request(server, 'GET', '/v1/sources');
  assert.equal(r.status, 200, r.text);
  return Object.fromEntries(r.json.sources.map((s) => [s.id, s]));
}

async function untilSource(server, id, pred, timeoutMs, what) {
  return until(async () => {
    const s = (await sourcesById(server))[id];
    return s && pred(s) ? s : null;
  }, timeoutMs * SAN, `${id}: ${what}`);
}

async function eventsOf(server, stream) {
  const r = await request(server, 'GET', `/v1/history/${stream}?limit=1`);
  if (r.status !== 200) return [];
  return fullHistory(server, stream);
}

// mock_seq of every record, in stream order.
const seqs = (events) => events.map((e) => e.data.mock_seq);

function assertContiguous(list, what) {
  assert.ok(list.length > 0, `${what}: no events`);
  for (let i = 1; i < list.length; i++) {
    assert.equal(list[i], list[i - 1] + 1, `${what}: mock_seq ${list[i - 1]} is followed by ${list[i]} at ${i} (duplicate or loss)`);
  }
}

const quickBackoff = { initial_s: 0.2, max_s: 1 };

// ---------------------------------------------------------------------------

describe('websocket and sse sources', () => {
  test('ingest the mock feed in order with no loss', async () => {
    const mock = await startMock(['--interval', '0.02', '--streams', '2']);
    const id = uid('feed');
    const server = await startServer({
      sources: [
        // Two mock streams: over the WebSocket both go to one stream,
        // interleaved; over SSE m2 goes where event_stream_map says.
        { id: 'w', type: 'websocket', stream: `${id}/ws`, websocket: { url: `ws://127.0.0.1:${mock.port}/ws` } },
        { id: 's', type: 'sse', stream: `${id}/sse/{event}`,
          sse: { url: `http://127.0.0.1:${mock.port}/sse`, event_stream_map: { m2: `${id}/mapped/{event}` } } },
      ],
    });
    try {
      await until(async () => (await eventsOf(server, `${id}/ws`)).length >= 120 &&
        (await eventsOf(server, `${id}/sse/m1`)).length >= 60 &&
        (await eventsOf(server, `${id}/mapped/m2`)).length >= 60, 20000 * SAN, '60 events on each stream');
      const src = await sourcesById(server);
      for (const s of ['w', 's']) {
        assert.equal(src[s].state, 'receiving', JSON.stringify(src[s]));
        assert.deepEqual(src[s].dropped, {});
        assert.equal(src[s].reconnects, 0);
      }
      // The WebSocket carries m1 and m2 alternately (same mock_seq each tick).
      const ws = seqs(await eventsOf(server, `${id}/ws`));
      assertContiguous(ws.filter((_, i) => i % 2 === 0), 'websocket m1');
      assertContiguous(ws.filter((_, i) => i % 2 === 1), 'websocket m2');
      assertContiguous(seqs(await eventsOf(server, `${id}/sse/m1`)), 'sse');
      assertContiguous(seqs(await eventsOf(server, `${id}/mapped/m2`)), 'sse event_stream_map');
      assert.equal((await request(server, 'GET', `/v1/history/${id}/sse/m2`)).status, 404);
      assert.match(src.s.last_event_id, /^\d+$/);
      assert.equal(src.w.url, `ws://127.0.0.1:${mock.port}/ws`);
    } finally {
      await server.stop();
      await mock.kill();
    }
  });

  test('reconnect with bounded backoff after the upstream dies, and receive again', async () => {
    let mock = await startMock(['--interval', '0.05']);
    const port = mock.port;
    const id = uid('rc');
    const server = await startServer({
      sources: [
        { id: 'w', type: 'websocket', stream: `${id}/ws`, backoff: quickBackoff, websocket: { url: `ws://127.0.0.1:${port}/ws` } },
        { id: 's', type: 'sse', stream: `${id}/sse`, backoff: quickBackoff, sse: { url: `http://127.0.0.1:${port}/sse` } },
      ],
    });
    try {
      await untilSource(server, 'w', (s) => s.state === 'receiving', 10000, 'receiving');
      await untilSource(server, 's', (s) => s.state === 'receiving', 10000, 'receiving');
      await mock.kill();
      for (const s of ['w', 's']) {
        await untilSource(server, s, (x) => x.reconnects >= 5, 15000, '5 reconnect attempts');
      }
      // The gaps between attempts (from the hub's reconnect log lines) stay
      // within [initial - jitter, max + jitter] plus scheduling slack, and grow.
      for (const s of ['w', 's']) {
        const ts = server.stderr.map((l) => { try { return JSON.parse(l); } catch { return null; } })
          .filter((j) => j && j.msg === 'reconnect' && j.source === s).map((j) => j.ts);
        assert.ok(ts.length >= 5, `${s}: ${ts.length} reconnect lines`);
        const gaps = ts.slice(1).map((t, i) => t - ts[i]);
        for (const g of gaps) {
          assert.ok(g >= 150, `${s}: gap ${g} ms < initial 200 ms - 20 % jitter (${gaps})`);
          assert.ok(g <= 1200 + 600 * SAN, `${s}: gap ${g} ms > max 1 s + jitter + slack (${gaps})`);
        }
        assert.ok(Math.max(...gaps) >= 600, `${s}: backoff did not grow (${gaps})`);
      }
      const src = await sourcesById(server);
      assert.equal(src.w.state, 'disconnected');
      assert.match(src.w.last_error, /refused|connect/i);
      assert.match(src.s.last_error, /refused|connect/i);
      // The upstream comes back on the same port: both receive again.
      mock = await startMock(['--interval', '0.05'], port);
      const before = (await eventsOf(server, `${id}/ws`)).length;
      await untilSource(server, 'w', (s) => s.state === 'receiving', 10000, 'receiving again');
      await untilSource(server, 's', (s) => s.state === 'receiving', 10000, 'receiving again');
      await until(async () => (await eventsOf(server, `${id}/ws`)).length > before + 5, 10000 * SAN, 'new events');
    } finally {
      await server.stop();
      await mock.kill();
    }
  });

  test('sse resumes with Last-Event-ID across an upstream restart and a hub restart', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'livehub-feeds-'));
    const state = path.join(dir, 'mock.state');
    const dataDir = path.join(dir, 'hub');
    const mockArgs = ['--interval', '0.02', '--state-file', state];
    let mock = await startMock(mockArgs);
    const port = mock.port;
    const id = uid('resume');
    const stream = `${id}/m1`;
    const config = {
      sources: [{ id: 's', type: 'sse', stream: `${id}/{event}`, backoff: quickBackoff, sse: { url: `http://127.0.0.1:${port}/sse` } }],
    };
    let server = await startServer(config, { dataDir });
    try {
      await until(async () => (await eventsOf(server, stream)).length >= 30, 15000 * SAN, '30 events');
      // Upstream restart: the mock comes back with its backlog; the hub asks
      // for what came after its last id.
      await mock.kill();
      await untilSource(server, 's', (s) => s.state === 'disconnected', 10000, 'disconnected');
      const lastBefore = (await sourcesById(server)).s.last_event_id;
      mock = await startMock(mockArgs, port);
      await untilSource(server, 's', (s) => s.state === 'receiving', 10000, 'receiving after upstream restart');
      const seen = await mock.json('/seen-headers');
      assert.equal(seen['/sse'].last_event_id, lastBefore, JSON.stringify(seen));
      const n1 = (await eventsOf(server, stream)).length;
      await until(async () => (await eventsOf(server, stream)).length >= n1 + 20, 15000 * SAN, '20 more events');
      // Hub restart: the cursor comes back from the store.
      const stopped = await server.stop();
      assert.equal(stopped.killed, false);
      await sleep(300); // the mock makes ~15 messages meanwhile
      server = await startServer(config, { dataDir });
      await untilSource(server, 's', (s) => s.state === 'receiving', 10000, 'receiving after hub restart');
      const seen2 = await mock.json('/seen-headers');
      assert.match(seen2['/sse'].last_event_id, /^\d+$/);
      assert.ok(Number(seen2['/sse'].last_event_id) > Number(lastBefore));
      const n2 = (await eventsOf(server, stream)).length;
      await until(async () => (await eventsOf(server, stream)).length >= n2 + 20, 15000 * SAN, '20 more events');
      // No duplicate and no hole over both restarts.
      assertContiguous(seqs(await eventsOf(server, stream)), 'sse over restarts');
    } finally {
      await server.stop();
      await mock.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('configured headers reach the peer; the secret never shows in /v1/sources or logs', async () => {
    const mock = await startMock(['--interval', '0.05']);
    const secret = `Bearer s3cr3t-${uid('tok')}`;
    const apiKey = `k-${uid('key')}`;
    const sha = (s) => createHash('sha256').update(s).digest('hex');
    const id = uid('hdr');
    const server = await startServer({
      network: { headers: [{ hosts: '127.0.0.*', headers: { 'X-Api-Key': '${TEST_API_KEY}' } }] },
      sources: [
        { id: 'w', type: 'websocket', stream: `${id}/ws`, headers: { Authorization: '${TEST_TOKEN}' },
          websocket: { url: `ws://127.0.0.1:${mock.port}/ws?token=${apiKey}` } },
        { id: 's', type: 'sse', stream: `${id}/sse`, headers: { Authorization: '${TEST_TOKEN}' },
          sse: { url: `http://user:${apiKey}@127.0.0.1:${mock.port}/sse` } },
      ],
    }, { env: { TEST_TOKEN: secret, TEST_API_KEY: apiKey } });
    try {
      await untilSource(server, 'w', (s) => s.state === 'receiving', 10000, 'receiving');
      await untilSource(server, 's', (s) => s.state === 'receiving', 10000, 'receiving');
      const seen = await mock.json('/seen-headers');
      for (const p of ['/ws', '/sse']) {
        assert.ok(seen[p], JSON.stringify(seen));
        assert.ok(seen[p].header_names.includes('Authorization'), JSON.stringify(seen[p]));
        assert.ok(seen[p].header_names.includes('X-Api-Key'), JSON.stringify(seen[p]));
        assert.equal(seen[p].authorization_sha256, sha(secret));
      }
      const list = await request(server, 'GET', '/v1/sources');
      const one = await request(server, 'GET', '/v1/sources/w');
      for (const text of [list.text, one.text, server.stderr.join('\n')]) {
        assert.ok(!text.includes('s3cr3t'), 'the token leaked');
        assert.ok(!text.includes(apiKey), 'the API key leaked');
      }
      assert.match(list.text, /token=\*\*\*/);
    } finally {
      await server.stop();
      await mock.kill();
    }
  });

  test('malformed websocket frames are counted and the source keeps receiving', async () => {
    let timer;
    const peer = await startWsServer((ws) => {
      let n = 0;
      ws.send(JSON.stringify({ n: n++ }));
      ws.send('not json{');
      ws.send('[1,2');
      ws.send(Buffer.from([0xff, 0xfe, 0x00]), { binary: true });
      timer = setInterval(() => { if (n < 200) ws.send(JSON.stringify({ n: n++ })); }, 20);
      ws.on('close', () => clearInterval(timer));
    });
    const id = uid('junk');
    const server = await startServer({
      sources: [{ id: 'w', type: 'websocket', stream: `${id}`, websocket: { url: peer.url } }],
    });
    try {
      const s = await untilSource(server, 'w', (x) => x.events_published >= 20, 10000, '20 good frames');
      const dropped = Object.values(s.dropped).reduce((a, b) => a + b, 0);
      assert.ok(dropped >= 3, JSON.stringify(s.dropped));
      assert.equal(s.state, 'receiving');
      assert.equal(s.reconnects, 0);
      const ns = (await eventsOf(server, id)).map((e) => e.data.n);
      assert.deepEqual(ns.slice(0, 5), [0, 1, 2, 3, 4]);
    } finally {
      clearInterval(timer);
      await server.stop();
      await peer.close();
    }
  });

  test('oversize websocket frames are refused, counted, and the source reconnects', async () => {
    const peer = await startWsServer((ws, conn) => {
      ws.send(JSON.stringify({ conn, n: 1 }));
      ws.send(JSON.stringify({ conn, pad: 'x'.repeat(200 * 1024) }));
      ws.send(JSON.stringify({ conn, n: 2 }));
    });
    const id = uid('big');
    const server = await startServer({
      sources: [{ id: 'w', type: 'websocket', stream: `${id}`, max_message_bytes: 4096, backoff: quickBackoff, websocket: { url: peer.url } }],
    });
    try {
      const s = await untilSource(server, 'w', (x) => (x.dropped.oversize || 0) >= 2, 15000, '2 oversize drops');
      assert.ok(s.reconnects >= 1);
      assert.match(s.last_error, /max_message_bytes=4096/);
      const events = await eventsOf(server, id);
      assert.ok(events.every((e) => e.data.pad === undefined), 'an oversize frame was published');
      const conns = new Set(events.map((e) => e.data.conn));
      assert.ok(conns.size >= 2, `events from ${conns.size} connection(s)`);
      // Still alive and serving.
      assert.equal((await request(server, 'GET', '/v1/sources')).status, 200);
    } finally {
      await server.stop();
      await peer.close();
    }
  });

  test('a silent upstream turns the source stalled, never receiving; heartbeat reconnects', async () => {
    const peer = await startWsServer(() => { /* accepts, says nothing */ });
    const server = await startServer({
      sources: [
        { id: 'quiet', type: 'websocket', stream: 'quiet', stall_after_min_s: 1, expected_interval_s: 0.2, websocket: { url: peer.url } },
        { id: 'hb', type: 'websocket', stream: 'hb', backoff: quickBackoff, websocket: { url: peer.url, heartbeat_timeout_s: 0.5 } },
      ],
    });
    try {
      const states = new Set();
      await until(async () => {
        const s = (await sourcesById(server)).quiet;
        states.add(s.state);
        return s.state === 'stalled';
      }, 10000 * SAN, 'stalled');
      assert.ok(!states.has('receiving'), [...states].join(','));
      const q = (await sourcesById(server)).quiet;
      assert.equal(q.messages_in, 0);
      assert.equal(q.reconnects, 0, 'stall detection only reports');
      const hb = await untilSource(server, 'hb', (s) => s.reconnects >= 2, 10000, 'heartbeat reconnects');
      assert.match(hb.last_error, /heartbeat/);
    } finally {
      await server.stop();
      await peer.close();
    }
  });

  test('HTTP errors (sse, websocket upgrade) and a wrong content type are shown and retried', async () => {
    let hits = 0;
    const peer = http.createServer((req, res) => {
      hits += 1;
      if (req.url.startsWith('/down')) {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('maintenance');
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      }
    });
    await new Promise((r) => peer.listen(0, '127.0.0.1', r));
    const port = peer.address().port;
    const server = await startServer({
      sources: [
        { id: 'down', type: 'sse', stream: 'down', backoff: quickBackoff, sse: { url: `http://127.0.0.1:${port}/down` } },
        { id: 'json', type: 'sse', stream: 'json', backoff: quickBackoff, sse: { url: `http://127.0.0.1:${port}/json` } },
        { id: 'wsdown', type: 'websocket', stream: 'wsdown', backoff: quickBackoff, websocket: { url: `ws://127.0.0.1:${port}/down` } },
      ],
    });
    try {
      const d = await untilSource(server, 'down', (s) => s.reconnects >= 2, 10000, 'retries');
      assert.match(d.last_error, /HTTP 503/);
      assert.notEqual(d.state, 'receiving');
      const j = await untilSource(server, 'json', (s) => s.reconnects >= 2, 10000, 'retries');
      assert.match(j.last_error, /not text\/event-stream/);
      const w = await untilSource(server, 'wsdown', (s) => s.reconnects >= 2, 10000, 'retries');
      assert.match(w.last_error, /upgrade declined with HTTP 503/);
      assert.ok(hits >= 6);
    } finally {
      await server.stop();
      await new Promise((r) => peer.close(r));
    }
  });

  test('throttle: a source over its queue budget stops reading, loses nothing, memory bounded', async () => {
    // 500 records/s upstream, 50/s into the hub: the queue fills and the
    // sources must hold back reading (TCP backpressure) instead of dropping.
    const mock = await startMock(['--interval', '0.01', '--batch-size', '5']);
    const id = uid('thr');
    const common = { max_rate: 50, queue: { max_bytes: 4096, policy: 'throttle' } };
    const server = await startServer({
      sources: [
        { id: 'w', type: 'websocket', stream: `${id}/ws`, ...common, websocket: { url: `ws://127.0.0.1:${mock.port}/ws` } },
        { id: 's', type: 'sse', stream: `${id}/sse`, ...common, sse: { url: `http://127.0.0.1:${mock.port}/sse` } },
      ],
    });
    try {
      const seen = { w: false, s: false };
      let maxQueued = 0;
      await until(async () => {
        const src = await sourcesById(server);
        for (const k of ['w', 's']) {
          if (src[k].queue.throttled) seen[k] = true;
          maxQueued = Math.max(maxQueued, src[k].queue.bytes);
        }
        return seen.w && seen.s && src.w.events_published >= 60 && src.s.events_published >= 60;
      }, 20000 * SAN, 'both throttled and 60 events each');
      const src = await sourcesById(server);
      for (const k of ['w', 's']) {
        assert.deepEqual(src[k].dropped, {}, `${k}: ${JSON.stringify(src[k].dropped)}`);
        assert.equal(src[k].reconnects, 0);
      }
      // One message (5 records of ~60 B) may land over the budget.
      assert.ok(maxQueued <= 4096 + 2048, `queue reached ${maxQueued} bytes`);
      assertContiguous(seqs(await eventsOf(server, `${id}/ws`)), 'websocket under throttle');
      assertContiguous(seqs(await eventsOf(server, `${id}/sse`)), 'sse under throttle');
    } finally {
      await server.stop();
      await mock.kill();
    }
  });

  test('wss and https: verified against ca_file, refused without it, allowed with verify off', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'livehub-tls-'));
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
      '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
    const tlsServer = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let n = 0;
      const t = setInterval(() => { n += 1; res.write(`id: ${n}\ndata: {"n":${n}}\n\n`); }, 30);
      req.on('close', () => clearInterval(t));
    });
    const wss = new WebSocketServer({ server: tlsServer });
    wss.on('connection', (ws) => {
      let n = 0;
      const t = setInterval(() => ws.send(JSON.stringify({ n: ++n })), 30);
      ws.on('close', () => clearInterval(t));
    });
    await new Promise((r) => tlsServer.listen(0, '127.0.0.1', r));
    const port = tlsServer.address().port;
    const server = await startServer({
      sources: [
        { id: 'wss-ca', type: 'websocket', stream: 'tls/wss', tls: { ca_file: cert }, websocket: { url: `wss://127.0.0.1:${port}/ws` } },
        { id: 'https-ca', type: 'sse', stream: 'tls/sse', tls: { ca_file: cert }, sse: { url: `https://localhost:${port}/sse` } },
        { id: 'wss-noca', type: 'websocket', stream: 'tls/no', backoff: quickBackoff, websocket: { url: `wss://127.0.0.1:${port}/ws` } },
        { id: 'https-noverify', type: 'sse', stream: 'tls/nv', tls: { verify: false }, sse: { url: `https://127.0.0.1:${port}/sse` } },
      ],
    });
    try {
      for (const id of ['wss-ca', 'https-ca', 'https-noverify']) {
        await untilSource(server, id, (s) => s.state === 'receiving' && s.events_published >= 3, 15000, 'receiving over TLS');
      }
      const no = await untilSource(server, 'wss-noca', (s) => s.reconnects >= 1 && s.last_error, 15000, 'TLS refusal');
      assert.match(no.last_error, /TLS handshake.*certificate verify failed/);
      assert.equal(no.events_published, 0);
    } finally {
      await server.stop();
      for (const c of wss.clients) c.terminate();
      tlsServer.closeAllConnections();
      await new Promise((r) => tlsServer.close(r));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('bad websocket/sse config is refused with the key named', async () => {
    for (const [src, pattern] of [
      [{ id: 'x', type: 'websocket', websocket: { url: 'http://127.0.0.1:1/' } }, /websocket\.url.*ws:\/\/ or wss:\/\//],
      [{ id: 'x', type: 'websocket', websocket: { url: 'ws://127.0.0.1:1/', pingz: 1 } }, /websocket\.pingz: unknown key/],
      [{ id: 'x', type: 'sse', sse: { url: 'ws://127.0.0.1:1/' } }, /sse\.url/],
      [{ id: 'x', type: 'sse' }, /sse: is required/],
    ]) {
      await assert.rejects(startServer({ sources: [src] }), pattern);
    }
  });
});
