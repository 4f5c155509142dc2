// Bad-input suite (issue 6, item 9): one hub takes truncated and malformed
// WebSocket frames, oversized and deeply nested bodies, invalid JSON / CSV /
// NDJSON, unknown ops, 10,000 subscribes on one connection, slowloris
// headers, oversized headers and URLs, publish floods and 2,000 half-open
// sockets — while a healthy subscriber follows a steady publish stream.
// Asserted: the hub stays up, the healthy client keeps a reasonable latency
// and receives every event in order, each refusal is specific (status and
// error code), livehub_refusals_total moved for each reason, and everything
// accepted is in history, intact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';

import {
  startServer, request, publish, fullHistory, parseMetrics, WsClient, RawWs, sleep, until, uid,
} from './harness.mjs';

const LIMITS = {
  max_body_bytes: 1048576,
  max_header_bytes: 8192,
  max_url_bytes: 2048,
  max_json_depth: 32,
  max_ws_message_bytes: 65536,
  max_subscriptions_per_connection: 100,
  max_connections_per_ip: 300,
  max_pattern_segments: 16,
  exempt_ips: ['192.0.2.1'], // not loopback: the limits apply to this test's clients
  publish_rate_per_connection: { rate: 50, burst: 50 },
  publish_rate_per_ip: { rate: 100000, burst: 100000 },
  header_timeout_s: 1,
  idle_timeout_s: 5,
};

async function refusals(server) {
  const r = await request(server, 'GET', '/metrics');
  const out = {};
  for (const s of parseMetrics(r.text)) {
    if (s.name !== 'livehub_refusals_total') continue;
    const m = /reason="([^"]+)"/.exec(s.labels);
    if (m) out[m[1]] = (out[m[1]] || 0) + s.value;
  }
  return out;
}

// Sends raw bytes on a fresh TCP connection; resolves with everything the
// hub sent back until it closed the connection (bounded by timeoutMs).
function rawExchange(server, chunks, { timeoutMs = 5000, gapMs = 0 } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port: server.port });
    let got = Buffer.alloc(0);
    const started = Date.now();
    const t = setTimeout(() => { sock.destroy(); resolve({ text: got.toString('latin1'), closed: false, ms: Date.now() - started }); }, timeoutMs);
    sock.on('data', (d) => { got = Buffer.concat([got, d]); });
    sock.on('error', () => {});
    sock.on('close', () => { clearTimeout(t); resolve({ text: got.toString('latin1'), closed: true, ms: Date.now() - started }); });
    sock.on('connect', async () => {
      for (const c of chunks) {
        if (sock.destroyed) return;
        sock.write(c);
        if (gapMs) await sleep(gapMs);
      }
    });
  });
}

function jsonBody(text) {
  const i = text.indexOf('\r\n\r\n');
  try { return JSON.parse(text.slice(i + 4)); } catch { return undefined; }
}

// A steady publisher (WS publish ops, 20/s) and a healthy subscriber.
async function startHealthy(server, stream) {
  const sub = await WsClient.connect(server);
  await sub.subscribe([stream]);
  const pub = await WsClient.connect(server);
  const acks = [];
  const latencies = [];
  let n = 0;
  let stop = false;
  sub.ws.on('message', (data) => {
    try {
      const m = JSON.parse(data.toString());
      if (m.type === 'event' && m.stream === stream) latencies.push(Date.now() - m.data.t);
    } catch { /* not JSON */ }
  });
  const loop = (async () => {
    while (!stop) {
      n += 1;
      const r = await pub.request({ op: 'publish', stream, data: { n, t: Date.now() } }, 10000);
      assert.equal(r.type, 'published', JSON.stringify(r));
      acks.push({ n, seq: r.first_seq });
      await sleep(50);
    }
  })();
  return {
    sub, pub, acks, latencies,
    async stop() { stop = true; await loop; },
  };
}

test('bad inputs are refused specifically while a healthy subscriber keeps receiving', { timeout: 60000 }, async (t) => {
  const server = await startServer({ limits: LIMITS, store: { enabled: false } });
  const stream = uid('healthy');
  const healthy = await startHealthy(server, stream);
  try {
    // --- WebSocket framing --------------------------------------------------
    {
      const raw = await RawWs.connect(server, '/v1/ws');
      raw.sock.write(Buffer.from([0x81, 0xfe, 0x00, 0x64, 1, 2, 3, 4, 0x41])); // 100-byte frame, 1 byte sent
      await sleep(100);
      raw.sock.end();
      await until(() => raw.ended, 5000, 'truncated frame connection to end');
    }
    {
      const raw = await RawWs.connect(server, '/v1/ws');
      raw.sendFrame(1, Buffer.from([0x7b, 0xff, 0xfe, 0x7d])); // invalid UTF-8 text
      await until(() => raw.close, 5000, 'close for invalid UTF-8');
      assert.equal(raw.close.code, 1007, JSON.stringify(raw.close));
    }
    {
      const raw = await RawWs.connect(server, '/v1/ws');
      raw.sock.write(Buffer.from([0x81, 0x02, 0x7b, 0x7d])); // unmasked client frame
      await until(() => raw.close, 5000, 'close for an unmasked frame');
      assert.equal(raw.close.code, 1002);
      assert.match(raw.close.reason, /masked/);
    }
    {
      const raw = await RawWs.connect(server, '/v1/ws');
      raw.sendFrame(1, Buffer.alloc(200000, 0x20)); // over max_ws_message_bytes
      await until(() => raw.close, 5000, 'close for an oversized message');
      assert.equal(raw.close.code, 1009);
    }

    // --- Client ops ------------------------------------------------------------
    const c = await WsClient.connect(server);
    let r = await c.request({ op: 'frobnicate' });
    assert.equal(r.code, 'unknown_op');
    c.send('{"op":"subscribe",');
    r = await c.waitFor((m) => m.type === 'error' && m.code === 'bad_request', 5000);
    c.send(`{"op":"ping","x":${'['.repeat(100)}${']'.repeat(100)}}`);
    r = await c.waitFor((m) => m.type === 'error' && m.code === 'too_deep', 5000);
    assert.match(r.message, /max_json_depth \(32\)/);
    r = await c.request({ op: 'subscribe', streams: [Array.from({ length: 20 }, () => 'a').join('/')] });
    assert.equal(r.code, 'pattern_too_complex');
    // 10,000 subscribes: the first 100 patterns are taken, the rest refused.
    const from = c.messages.length;
    for (let i = 0; i < 10000; i++) c.send({ op: 'subscribe', id: 100000 + i, streams: [`many/s${i}`] });
    await until(() => c.messages.length - from >= 10000, 30000, '10,000 subscribe replies');
    const replies = c.messages.slice(from).filter((m) => m.id >= 100000);
    assert.equal(replies.filter((m) => m.type === 'subscribed').length, 100);
    const refused = replies.filter((m) => m.type === 'error');
    assert.equal(refused.length, 9900);
    assert.ok(refused.every((m) => m.code === 'too_many_subscriptions'), JSON.stringify(refused[0]));
    // A WS publish flood hits the per-connection rate (50/s, burst 50).
    const fl = c.messages.length;
    for (let i = 0; i < 120; i++) c.send({ op: 'publish', id: 200000 + i, stream: `${stream}-wsflood`, data: { i } });
    await until(() => c.messages.slice(fl).filter((m) => m.id >= 200000).length >= 120, 10000, 'flood replies');
    const flood = c.messages.slice(fl).filter((m) => m.id >= 200000);
    const limited = flood.filter((m) => m.type === 'error');
    assert.ok(limited.length > 0 && limited.every((m) => m.code === 'rate_limited' && m.retry_after_ms > 0), JSON.stringify(limited[0]));
    const wsAccepted = flood.filter((m) => m.type === 'published');
    assert.ok(wsAccepted.length >= 50);
    c.close();

    // --- HTTP bodies -----------------------------------------------------------
    let h = await rawExchange(server, [`POST /v1/publish/${stream}-big HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10485760\r\n\r\n`]);
    assert.match(h.text, /^HTTP\/1\.1 413/);
    assert.equal(jsonBody(h.text).error.code, 'body_too_large');
    let p = await publish(server, `${stream}-x`, `${'['.repeat(200)}${']'.repeat(200)}`);
    assert.equal(p.status, 400);
    assert.equal(p.json.error.code, 'too_deep');
    p = await publish(server, `${stream}-x`, '{"a":1,,}');
    assert.equal(p.status, 400);
    assert.equal(p.json.error.code, 'bad_json');
    p = await publish(server, `${stream}-x`, '{"a":1}\n{"a":\n', 'application/x-ndjson');
    assert.equal(p.status, 400);
    assert.equal(p.json.error.code, 'bad_ndjson');
    assert.equal(p.json.error.line, 2);
    p = await publish(server, `${stream}-x`, 'a,b\n1,"2\n', 'text/csv');
    assert.equal(p.status, 400);
    assert.equal(p.json.error.code, 'bad_csv');
    // Nothing of the rejected batches was appended.
    assert.equal((await request(server, 'GET', `/v1/status/${stream}-x`)).status, 404);

    // --- HTTP publish flood on one keep-alive connection -------------------------
    const floodChunks = [];
    for (let i = 0; i < 120; i++) {
      const body = JSON.stringify({ i });
      floodChunks.push(`POST /v1/publish/${stream}-httpflood HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    }
    h = await rawExchange(server, [floodChunks.join('') + 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], { timeoutMs: 10000 });
    const statuses = [...h.text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    assert.equal(statuses.length, 121);
    const ok = statuses.slice(0, 120).filter((s) => s === 200).length; // the last one is /healthz
    assert.ok(ok >= 50 && statuses.includes(429), `statuses ${statuses.join(',')}`);
    assert.match(h.text, /Retry-After: \d+/);
    assert.match(h.text, /"code":"rate_limited"/);
    // Every accepted publish is in history, in order, intact.
    const hist = await fullHistory(server, `${stream}-httpflood`);
    assert.equal(hist.length, ok);
    hist.forEach((e, i) => assert.equal(e.seq, i + 1));
    const wsHist = await fullHistory(server, `${stream}-wsflood`);
    assert.deepEqual(wsHist.map((e) => e.seq), wsAccepted.map((m) => m.first_seq));

    // --- Headers, URLs, slowloris -----------------------------------------------
    h = await rawExchange(server, [`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`]);
    assert.match(h.text, /^HTTP\/1\.1 431/);
    assert.equal(jsonBody(h.text).error.code, 'headers_too_large');
    h = await rawExchange(server, [`GET /v1/status/${'a'.repeat(4000)} HTTP/1.1\r\nHost: x\r\n\r\n`]);
    assert.match(h.text, /^HTTP\/1\.1 414/);
    assert.equal(jsonBody(h.text).error.code, 'url_too_long');
    h = await rawExchange(server, [`GET /v1/status/${'a'.repeat(12000)} HTTP/1.1\r\nHost: x\r\n\r\n`]);
    assert.match(h.text, /^HTTP\/1\.1 414/);
    const slow = ['GET /healthz HTTP/1.1\r\n', 'Host: x\r\n'];
    for (let i = 0; i < 30; i++) slow.push(`X-${i}: y\r\n`);
    h = await rawExchange(server, slow, { gapMs: 200, timeoutMs: 8000 });
    assert.ok(h.closed && h.ms < 4000, `slowloris connection closed after ${h.ms} ms`);
    assert.equal(h.text, '');

    // --- 2,000 half-open sockets (per-IP limit 300, header timeout 1 s) -------------
    const socks = [];
    let refused503 = 0;
    for (let i = 0; i < 2000; i++) {
      const s = net.connect({ host: '127.0.0.1', port: server.port });
      s.on('error', () => {});
      s.on('data', (d) => { if (d.toString('latin1').startsWith('HTTP/1.1 503')) refused503 += 1; });
      socks.push(s);
    }
    await until(() => socks.every((s) => s.destroyed || s.readyState !== 'opening'), 10000, 'sockets to connect');
    await until(() => refused503 >= 1000, 10000, '503 for connections over the per-IP limit');
    // The hub drops the silent ones after the header timeout.
    await until(() => socks.filter((s) => !s.closed && !s.destroyed && s.readyState === 'open' && !s.readableEnded).length < 50, 10000, 'half-open sockets to be closed');
    for (const s of socks) s.destroy();
    // A new client gets in again.
    await until(async () => (await request(server, 'GET', '/healthz').catch(() => ({}))).status === 200, 5000, 'a fresh request to succeed');

    // --- Refusal counters ----------------------------------------------------------
    const counts = await refusals(server);
    for (const reason of ['ws_protocol', 'ws_message_too_large', 'too_deep', 'pattern_too_complex',
      'too_many_subscriptions', 'rate_limited', 'body_too_large', 'headers_too_large', 'url_too_long',
      'header_timeout', 'too_many_connections_per_ip']) {
      assert.ok(counts[reason] > 0, `refusals_total{reason="${reason}"} is ${counts[reason]}: ${JSON.stringify(counts)}`);
    }
    assert.ok(counts.too_many_subscriptions >= 9900);
    assert.ok(counts.too_deep >= 2); // the WS op and the publish body
    assert.ok(counts.too_many_connections_per_ip >= 1000);
    t.diagnostic(`refusals_total: ${JSON.stringify(counts)}`);
  } finally {
    await healthy.stop();
  }
  // --- The healthy client: every event, in order, timely; history intact ---------
  try {
    const last = healthy.acks.at(-1).seq;
    await until(() => healthy.sub.events(stream).length >= last, 5000, 'healthy subscriber to catch up');
    const got = healthy.sub.events(stream);
    assert.deepEqual(got.map((e) => e.seq), Array.from({ length: last }, (_, i) => i + 1));
    assert.ok(!healthy.sub.messages.some((m) => m.type === 'gap'));
    const sorted = [...healthy.latencies].sort((a, b) => a - b);
    const p99 = sorted[Math.floor(sorted.length * 0.99)];
    assert.ok(healthy.acks.length >= 20, `only ${healthy.acks.length} healthy publishes`);
    t.diagnostic(`healthy subscriber: ${got.length} events, latency p50 ${sorted[Math.floor(sorted.length / 2)]} ms, p99 ${p99} ms, max ${sorted.at(-1)} ms`);
    assert.ok(p99 < 2000, `healthy p99 latency ${p99} ms`);
    const hist = await fullHistory(server, stream);
    assert.deepEqual(hist.map((e) => [e.seq, e.data.n]), healthy.acks.map((a) => [a.seq, a.n]));
    assert.equal((await request(server, 'GET', '/healthz')).status, 200);
  } finally {
    healthy.sub.close();
    healthy.pub.close();
    await server.stop();
  }
});
