// Operational HTTP surface: /healthz, /readyz, /metrics (Prometheus text,
// livehub_ prefix, counters that move), unknown routes, and a clean exit on
// SIGTERM with subscribers attached.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  fullHistory, metricSum, parseMetrics, publish, publishOk, rawGet, request, startServer, streamPath,
  uid, until, WsClient,
} from './harness.mjs';

describe('operations', () => {
  let srv;
  before(async () => { srv = await startServer({}); });
  after(async () => { await srv?.stop(); });

  test('large NDJSON bodies, back to back and chunked, arrive whole and in order', { timeout: 30000 }, async () => {
    // Bodies larger than the read buffer's 64 KiB of room (read in several
    // pieces), then a small one (fetch keeps its connection alive, so usually
    // on the same connection, after the buffer shrank back).
    const s = `http/${uid('big')}`;
    const lines = (from, n) => Array.from({ length: n }, (_, k) => JSON.stringify({ i: from + k, pad: 'q'.repeat(90) })).join('\n');
    let next = 0;
    for (const n of [3000, 2500, 1]) {
      const r = await publish(srv, s, lines(next, n), 'application/x-ndjson');
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.last_seq - r.json.first_seq + 1, n);
      next += n;
    }
    // Chunked transfer encoding: no content-length to size the buffer by.
    const body = lines(next, 2000);
    const chunks = [];
    for (let k = 0; k < body.length; k += 7000) chunks.push(body.slice(k, k + 7000));
    const stream = new ReadableStream({
      pull(ctl) { if (chunks.length) ctl.enqueue(new TextEncoder().encode(chunks.shift())); else ctl.close(); },
    });
    const res = await fetch(srv.url(`/v1/publish/${streamPath(s)}`), {
      method: 'POST', body: stream, duplex: 'half', headers: { 'content-type': 'application/x-ndjson' },
      signal: AbortSignal.timeout(20000),
    });
    assert.equal(res.status, 200, await res.text());
    next += 2000;
    const events = await fullHistory(srv, s);
    assert.equal(events.length, next);
    events.forEach((e, k) => {
      assert.equal(e.seq, k + 1);
      assert.equal(e.data.i, k);
    });
  });

  test('/healthz and /readyz answer 200', { timeout: 10000 }, async () => {
    assert.equal((await request(srv, 'GET', '/healthz')).status, 200);
    assert.equal((await request(srv, 'GET', '/readyz')).status, 200);
  });

  test('/metrics is Prometheus text whose publish counter counts events', { timeout: 10000 }, async () => {
    const r = await request(srv, 'GET', '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') || '', /^text\/plain/);
    const samples = parseMetrics(r.text);
    assert.ok(samples.length > 0, 'no samples');
    assert.ok(samples.some((x) => x.name === 'livehub_events_published_total'), 'livehub_events_published_total missing');
    assert.ok(samples.some((x) => x.name === 'livehub_connections'), 'livehub_connections missing');
    for (const x of samples) assert.ok(!Number.isNaN(x.value), `unparsable sample ${x.name}`);
    // HELP/TYPE lines precede the livehub_ families.
    assert.match(r.text, /^# TYPE livehub_events_published_total counter$/m);

    const before = await metricSum(srv, 'livehub_events_published_total');
    await publishOk(srv, `ops/${uid('m')}`, Array.from({ length: 7 }, (_, i) => ({ i })));
    await publishOk(srv, `ops/${uid('m')}`, { one: 1 });
    const afterSum = await metricSum(srv, 'livehub_events_published_total');
    assert.equal(afterSum - before, 8, `counter moved by ${afterSum - before} for 8 events`);
  });

  test('livehub_connections follows WebSocket and SSE subscribers', { timeout: 15000 }, async () => {
    const base = await metricSum(srv, 'livehub_connections');
    const ws = await WsClient.connect(srv);
    const sse = await rawGet(srv, '/v1/sse?streams=ops/x');
    try {
      await until(async () => (await metricSum(srv, 'livehub_connections')) === base + 2, 5000, 'connections +2');
    } finally {
      ws.terminate();
      sse.req.destroy();
    }
    await until(async () => (await metricSum(srv, 'livehub_connections')) === base, 5000, 'connections back to baseline');
  });

  test('$sys/events carries connection open/close lifecycle events to subscribers', { timeout: 10000 }, async () => {
    const watcher = await WsClient.connect(srv);
    try {
      const r = await watcher.subscribe(['$sys/events']);
      assert.equal(r.streams[0]?.stream, '$sys/events', JSON.stringify(r));
      const from = watcher.messages.length;
      const other = await WsClient.connect(srv);
      await watcher.waitFor((m) => m.type === 'event' && m.stream === '$sys/events' && m.data?.event === 'open', 5000, { from, what: 'open event' });
      other.terminate();
      await watcher.waitFor((m) => m.type === 'event' && m.stream === '$sys/events' && m.data?.event === 'close', 5000, { from, what: 'close event' });
      // `**` is for user streams; $sys/ must be asked for by name.
      const all = await watcher.subscribe(['**']);
      assert.ok(!all.streams.some((x) => x.stream.startsWith('$sys/')), JSON.stringify(all.streams));
    } finally {
      watcher.terminate();
    }
  });

  test('$sys/events answers status and history like any other stream', { timeout: 10000 }, async () => {
    const ws = await WsClient.connect(srv); // guarantees at least one lifecycle event
    ws.terminate();
    const h = await request(srv, 'GET', '/v1/history/$sys/events?from_seq=1&limit=5');
    assert.equal(h.status, 200, h.text.slice(0, 200));
    assert.ok(h.json.events.length > 0);
    const st = await request(srv, 'GET', '/v1/status/$sys/events');
    assert.equal(st.status, 200, `status of $sys/events: ${st.status} ${st.text.slice(0, 200)}`);
    assert.ok(st.json.latest_seq >= h.json.events.at(-1).seq);
  });

  test('unknown routes are 404 and wrong methods are refused', { timeout: 10000 }, async () => {
    assert.equal((await request(srv, 'GET', '/v1/nope')).status, 404);
    const r = await request(srv, 'GET', '/v1/publish/ops/x');
    assert.ok(r.status === 405 || r.status === 404, `GET on publish: ${r.status}`);
    assert.equal((await request(srv, 'GET', `/v1/status/ops/${uid('none')}`)).status, 404);
  });
});

describe('shutdown', () => {
  test('SIGTERM with live subscribers exits cleanly within 5 s', { timeout: 20000 }, async () => {
    const srv = await startServer({});
    const ws = await WsClient.connect(srv);
    await ws.subscribe(['ops/**']);
    const sse = await rawGet(srv, '/v1/sse?streams=ops/**');
    await publishOk(srv, 'ops/shutdown', { bye: true });
    await ws.waitFor((m) => m.type === 'event');
    const t0 = Date.now();
    const res = await srv.stop(5000);
    sse.req.destroy();
    assert.equal(res.killed, false, `needed SIGKILL after 5 s; stderr:\n${srv.tail(10)}`);
    assert.equal(res.code, 0, `exit code ${res.code} signal ${res.signal}; stderr:\n${srv.tail(10)}`);
    assert.ok(Date.now() - t0 < 5000);
    const closed = await ws.waitClose(2000);
    assert.ok(closed.code === 1001 || closed.code === 1006 || closed.code === 1000, `close code ${closed.code}`);
  });
});
