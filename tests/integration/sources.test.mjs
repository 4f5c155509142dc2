// Sources (issue 4's framework) through the `mock` source: /v1/sources,
// runtime control, health states and `health` messages to subscribers,
// injected faults, drop_oldest vs throttle under a producer 10x faster than
// the source's max_rate (queue memory stays within its budget), metrics.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { fullHistory, metricSum, request, sleep, startServer, until, WsClient } from './harness.mjs';

async function source(server, id) {
  const r = await request(server, 'GET', `/v1/sources/${id}`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function control(server, id, body) {
  return request(server, 'POST', `/v1/sources/${id}/control`, { body: JSON.stringify(body) });
}

describe('sources: mock', () => {
  let server;
  before(async () => {
    server = await startServer({
      sources: [
        { id: 'mk', type: 'mock', stall_after_min_s: 1,
          backoff: { initial_s: 0.2, max_s: 0.5 },
          mock: { streams: 2, interval_s: 0.05, batch_size: 2 } },
      ],
    });
  });
  after(async () => { await server?.stop(); });

  test('lists the source, its health and counters; publishes into its streams', async () => {
    await until(async () => (await source(server, 'mk')).events_published >= 20, 10000, 'events published');
    const list = await request(server, 'GET', '/v1/sources');
    assert.equal(list.status, 200);
    const s = list.json.sources.find((x) => x.id === 'mk');
    assert.ok(s, list.text);
    assert.equal(s.type, 'mock');
    assert.equal(s.state, 'receiving');
    assert.ok(s.last_message_age_ms >= 0 && s.last_message_age_ms < 5000, JSON.stringify(s));
    assert.equal(s.stream, '{id}/{key}');
    assert.ok(s.messages_in > 0 && s.records_in >= s.messages_in);
    // The events in the hub are the mock's, in upstream order.
    const evs = await fullHistory(server, 'mk/m1');
    assert.ok(evs.length >= 5);
    for (let i = 1; i < evs.length; ++i) assert.equal(evs[i].data.mock_seq, evs[i - 1].data.mock_seq + 1);
    const m = await request(server, 'GET', '/metrics');
    assert.match(m.text, /livehub_source_state\{source="mk",type="mock",state="receiving"\} 1/);
    assert.ok((await metricSum(server, 'livehub_source_events_published_total')) > 0);
  });

  test('stopping the producer turns it stalled (told to subscribers), starting it again receiving', async () => {
    const ws = await WsClient.connect(server, { streams: ['mk/m1'] });
    try {
      const r = await control(server, 'mk', { running: false });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.mock.running, false);
      await until(async () => (await source(server, 'mk')).state === 'stalled', 8000, 'stalled');
      const h = await ws.waitFor((m) => m.type === 'health' && m.state === 'stalled', 8000);
      assert.equal(h.source, 'mk');
      assert.equal(h.stream, 'mk/m1');
      await control(server, 'mk', { running: true });
      await until(async () => (await source(server, 'mk')).state === 'receiving', 8000, 'receiving again');
      await ws.waitFor((m) => m.type === 'health' && m.state === 'receiving', 8000);
    } finally {
      ws.close();
    }
  });

  test('skip makes an upstream hole visible in mock_seq; the hub sequence stays contiguous', async () => {
    const before = (await fullHistory(server, 'mk/m1')).length;
    const r = await control(server, 'mk', { skip: 100 });
    assert.equal(r.status, 200, r.text);
    await until(async () => (await fullHistory(server, 'mk/m1')).length > before + 4, 8000, 'more events');
    const evs = await fullHistory(server, 'mk/m1');
    let jumps = 0;
    for (let i = 1; i < evs.length; ++i) {
      assert.equal(evs[i].seq, evs[i - 1].seq + 1);
      if (evs[i].data.mock_seq === evs[i - 1].data.mock_seq + 101) ++jumps;
    }
    assert.equal(jumps, 1);
  });

  test('disconnect: disconnected, then reconnects with backoff and receives again', async () => {
    const r0 = (await source(server, 'mk')).reconnects;
    const r = await control(server, 'mk', { disconnect: true });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.state, 'disconnected');
    assert.equal(r.json.last_error, 'disconnected by control');
    await until(async () => {
      const s = await source(server, 'mk');
      return s.reconnects === r0 + 1 && s.state === 'receiving';
    }, 8000, 'reconnected');
  });

  test('bad control and unknown sources get specific errors', async () => {
    const bad = await control(server, 'mk', { rate: -1 });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'bad_control');
    assert.match(bad.json.error.message, /rate/);
    const unk = await control(server, 'mk', { nope: 1 });
    assert.equal(unk.status, 400);
    assert.match(unk.json.error.message, /unknown control 'nope'/);
    const junk = await request(server, 'POST', '/v1/sources/mk/control', { body: '{oops' });
    assert.equal(junk.status, 400);
    const missing = await request(server, 'GET', '/v1/sources/none');
    assert.equal(missing.status, 404);
    const wrong = await request(server, 'DELETE', '/v1/sources/mk');
    assert.equal(wrong.status, 400);
    // Still healthy afterwards.
    await until(async () => (await source(server, 'mk')).state === 'receiving', 5000, 'receiving');
  });
});

describe('sources: backpressure under a producer 10x faster than max_rate', () => {
  let server;
  const QUEUE = 32 * 1024;
  before(async () => {
    const mock = { streams: 1, interval_s: 0.01, batch_size: 10, payload_bytes: 200, shape: 'counter' };
    // 1,000 records/s offered; the hub takes 100/s from each source.
    server = await startServer({
      sources: [
        { id: 'drop', type: 'mock', max_rate: 100, queue: { max_bytes: QUEUE, policy: 'drop_oldest' }, mock },
        { id: 'thr', type: 'mock', max_rate: 100, queue: { max_bytes: QUEUE, policy: 'throttle' }, mock },
      ],
    });
  });
  after(async () => { await server?.stop(); });

  test('drop_oldest drops (counted) and throttle holds the producer back; queues stay within budget', async () => {
    const deadline = Date.now() + 3000;
    let maxDrop = 0;
    let maxThr = 0;
    let sawThrottled = false;
    while (Date.now() < deadline) {
      const { json } = await request(server, 'GET', '/v1/sources');
      const d = json.sources.find((s) => s.id === 'drop');
      const t = json.sources.find((s) => s.id === 'thr');
      maxDrop = Math.max(maxDrop, d.queue.bytes);
      maxThr = Math.max(maxThr, t.queue.bytes);
      sawThrottled ||= t.queue.throttled;
      await sleep(50);
    }
    const d = await source(server, 'drop');
    const t = await source(server, 'thr');
    assert.ok(maxDrop <= QUEUE, `drop_oldest queue ${maxDrop} > ${QUEUE}`);
    // throttle may overshoot by the one message that hit the limit.
    assert.ok(maxThr <= QUEUE + 10 * 400, `throttle queue ${maxThr}`);
    assert.ok(sawThrottled, 'throttle engaged');
    assert.ok(d.dropped.queue_full > 0, JSON.stringify(d));
    assert.equal(t.dropped.queue_full, undefined, JSON.stringify(t));
    // Everything decoded is published, queued or counted.
    assert.equal(d.events_published + d.queue.records + d.dropped.queue_full, d.records_in);
    assert.equal(t.events_published + t.queue.records, t.records_in);
    // The throttled producer made about what the hub took (10x less than offered).
    assert.ok(t.mock.rate === 100 && t.records_made <= t.records_in + 10, JSON.stringify(t));
    // The rate cap holds: ~100 events/s per source (generous bounds).
    assert.ok(d.events_published < 100 * 6, `published ${d.events_published}`);
    // The published drop_oldest stream is contiguous in hub seq; its counter
    // values show the upstream holes the drops made.
    const evs = await fullHistory(server, 'drop/m1');
    assert.ok(evs.length > 0);
    for (let i = 1; i < evs.length; ++i) assert.equal(evs[i].seq, evs[i - 1].seq + 1);
    assert.ok((await metricSum(server, 'livehub_source_dropped_total')) >= d.dropped.queue_full);
  });
});
