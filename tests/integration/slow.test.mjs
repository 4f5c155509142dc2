// Slow-client policy. A hand-made WebSocket client (raw `net` socket) does
// the handshake and then stops reading while ~16 MB of events are
// published, far beyond subscribers.queue_bytes and the kernel's buffers.
// drop_oldest: once it reads again it sees gap(s) with reason slow_client
// that, with the events it got, account for every seq exactly once.
// disconnect (per-pattern override): it is closed with 1008 naming the queue.
// Either way a healthy subscriber on the same stream, which the publisher
// waits for, gets every event.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  assertContiguous, metricSum, publishOk, RawSse, RawWs, sleep, startServer, streamPath, uid, until, WsClient,
} from './harness.mjs';

const EVENTS = 2000;
const PAD = 'x'.repeat(8000);

// Publishes EVENTS x 8 KB in batches of 2 (16 KB), each once the healthy
// subscriber has the previous one: the healthy client never lags, while the
// stalled one falls ~16 MB behind. (The hub may still count a batch the
// client already has until its write-completion runs, so a batch must stay
// well under half of queue_bytes.)
async function publishFlood(srv, s, healthy) {
  const per = 2;
  for (let b = 0; b < EVENTS / per; b++) {
    const from = healthy.messages.length;
    const r = await publishOk(srv, s, Array.from({ length: per }, (_, j) => ({ i: b * per + j, pad: PAD })));
    await healthy.waitFor((m) => m.type !== 'event' || m.seq === r.last_seq, 10000, { from, what: `healthy seq ${r.last_seq}` });
  }
}

async function stalledSubscriber(srv, s) {
  const raw = await RawWs.connect(srv, `/v1/ws?streams=${streamPath(s)}`);
  await raw.waitFor((m) => m.type === 'subscribed', 5000, 'subscribed on the raw socket');
  raw.pause();
  return raw;
}

// Walks the events and gaps of `stream` in arrival order and checks that
// they account for seq 1..last exactly once, in order: each event is the
// next seq, each gap (reason slow_client) starts at the next seq. Data intact.
function accountFor(messages, stream, last) {
  const events = [];
  const gaps = [];
  let next = 1;
  for (const m of messages) {
    if (m.stream !== stream) continue;
    if (m.type === 'event') {
      assert.equal(m.seq, next, `event seq ${m.seq} where ${next} was due`);
      assert.equal(m.data.i, m.seq - 1, `seq ${m.seq} carries the data of another event`);
      events.push(m);
      next += 1;
    } else if (m.type === 'gap') {
      assert.equal(m.reason, 'slow_client', JSON.stringify(m));
      assert.equal(m.from_seq, next, `gap ${JSON.stringify(m)} where seq ${next} was due`);
      assert.ok(Number.isInteger(m.to_seq) && m.to_seq >= m.from_seq && m.to_seq <= last, JSON.stringify(m));
      gaps.push(m);
      next = m.to_seq + 1;
    }
  }
  assert.equal(next, last + 1, `events and gaps stop at seq ${next - 1}, not ${last}`);
  assert.equal(events.at(-1)?.seq, last, 'the newest event must survive drop_oldest');
  return { events, gaps };
}

describe('slow clients', () => {
  let srv;
  const clients = [];

  before(async () => {
    srv = await startServer({
      history: { max_bytes: 64 * 1024 * 1024 },
      subscribers: {
        queue_bytes: 65536,
        socket_send_buffer: 16384,
        slow_client: 'drop_oldest',
        ws_ping_interval_s: 300,
        write_timeout_s: 300,
      },
      streams: [{ pattern: 'slow/**', slow_client: 'disconnect' }],
    });
  });
  after(async () => {
    for (const c of clients) { if (c instanceof WsClient) c.terminate(); else c.destroy(); }
    await srv?.stop();
  });

  test('drop_oldest: a stalled client gets slow_client gaps that account for every missed seq', { timeout: 90000 }, async () => {
    const s = `fast/${uid('drop')}`;
    const healthy = await WsClient.connect(srv);
    clients.push(healthy);
    await healthy.subscribe([s]);
    const raw = await stalledSubscriber(srv, s);
    clients.push(raw);

    await publishFlood(srv, s, healthy);
    await healthy.waitFor((m) => m.type === 'event' && m.seq === EVENTS, 30000, { what: `healthy seq ${EVENTS}` });
    assertContiguous(healthy.events(s).map((e) => e.seq), 1, EVENTS, 'healthy subscriber');
    assert.equal(healthy.messages.filter((m) => m.type === 'gap').length, 0, 'healthy subscriber got a gap');

    await sleep(500);
    raw.resume();
    await raw.waitUntil(
      () => raw.messages.some((m) => m.type === 'event' && m.seq === EVENTS) || raw.ended || raw.close,
      30000, `the stalled client to catch up to seq ${EVENTS}`);
    assert.equal(raw.close, null, `drop_oldest must not close the client: ${JSON.stringify(raw.close)}`);
    assert.equal(raw.ended, false, 'drop_oldest must not drop the connection');

    const { events, gaps } = accountFor(raw.messages, s, EVENTS);
    assert.ok(gaps.length > 0, `no gap after stalling through ${EVENTS} x 8 KB events (got ${events.length} events)`);
    console.log(`# drop_oldest: stalled client got ${events.length} events and ${gaps.length} gap(s)`);
    // What the stalled client got before its first gap sat in the kernel's
    // buffers (and one in-flight write, within queue_bytes).
    // subscribers.socket_send_buffer bounds the hub's side; under kernel
    // autotuning (0) a stalled socket takes megabytes.
    const firstGap = raw.messages.findIndex((m) => m.stream === s && m.type === 'gap');
    const before = raw.messages.slice(0, firstGap).filter((m) => m.stream === s && m.type === 'event').length;
    console.log(`# drop_oldest: ${before} x 8 KB events reached the stalled client before its first gap`);
    assert.ok(before * PAD.length < 1024 * 1024,
      `${before} x 8 KB events were buffered for a stalled client with socket_send_buffer 16 KiB`);
    // And the connection is still usable.
    raw.sendJson({ op: 'ping', id: 99 });
    await raw.waitFor((m) => m.type === 'pong' && m.id === 99, 5000, 'pong after catching up');
  });

  test('drop_oldest over SSE: a stalled reader gets event: gap (slow_client) accounting for every seq', { timeout: 90000 }, async () => {
    const s = `fast/${uid('ssedrop')}`;
    const healthy = await WsClient.connect(srv);
    clients.push(healthy);
    await healthy.subscribe([s]);
    const raw = await RawSse.connect(srv, `/v1/sse?streams=${streamPath(s)}`);
    clients.push(raw);
    await until(() => raw.messages().some((m) => m.type === 'subscribed'), 5000, 'SSE subscribed');
    raw.pause();

    await publishFlood(srv, s, healthy);
    assertContiguous(healthy.events(s).map((e) => e.seq), 1, EVENTS, 'healthy subscriber');
    await sleep(500);
    raw.resume();
    await until(() => raw.messages().some((m) => m.type === 'event' && m.seq === EVENTS) || raw.ended, 30000, `SSE reader to reach seq ${EVENTS}`);
    assert.equal(raw.ended, false, 'drop_oldest must not end the SSE response');
    const msgs = raw.messages();
    const { events, gaps } = accountFor(msgs, s, EVENTS);
    assert.ok(gaps.length > 0, `no gap after stalling through ${EVENTS} x 8 KB events (got ${events.length} events)`);
    for (const m of msgs) {
      if (m.type === 'gap' || m.type === 'event') assert.equal(m.sse_event, m.type, 'SSE event: line must carry the message type');
    }
  });

  test('drop_oldest: a burst bigger than queue_bytes reaches a reading client as events and gaps, in order', { timeout: 30000 }, async () => {
    const s = `fast/${uid('burst')}`;
    const c = await WsClient.connect(srv);
    clients.push(c);
    await c.subscribe([s]);
    const total = 500;
    for (let b = 0; b < total / 50; b++) {
      await publishOk(srv, s, Array.from({ length: 50 }, (_, j) => ({ i: b * 50 + j, pad: PAD })));
    }
    await c.waitFor((m) => m.type === 'event' && m.seq === total, 20000, { what: `seq ${total}` });
    // 400 KB per publish against a 64 KB queue: some must have been dropped.
    const { gaps } = accountFor(c.messages, s, total);
    assert.ok(gaps.length > 0, 'a 400 KB burst fit a 64 KB queue without a gap');
    assert.equal(c.closed, null);
  });

  test('disconnect: a stalled client on a slow/** stream is closed with 1008; the healthy one gets everything', { timeout: 90000 }, async () => {
    const s = `slow/${uid('disc')}`;
    const healthy = await WsClient.connect(srv);
    clients.push(healthy);
    await healthy.subscribe([s]);
    const raw = await stalledSubscriber(srv, s);
    clients.push(raw);

    // The hub gives a stalled peer a 2 s grace to take its close frame, so
    // the client starts reading again as soon as the hub has decided to cut
    // it (the flood itself can take longer than that under ASan).
    const disconnectsBefore = await metricSum(srv, 'livehub_disconnects_total');
    let floodDone = false;
    const watcher = (async () => {
      await until(async () => floodDone || await metricSum(srv, 'livehub_disconnects_total') > disconnectsBefore,
        60000, 'the slow-client disconnect');
      raw.resume();
    })();
    await publishFlood(srv, s, healthy);
    floodDone = true;
    await watcher;
    await healthy.waitFor((m) => m.type === 'event' && m.seq === EVENTS, 30000, { what: `healthy seq ${EVENTS}` });
    assertContiguous(healthy.events(s).map((e) => e.seq), 1, EVENTS, 'healthy subscriber');
    assert.equal(healthy.closed, null);

    await raw.waitUntil(() => raw.close || raw.ended, 30000, 'the stalled client to be closed');
    const got = raw.messages.filter((m) => m.type === 'event').length;
    assert.ok(got < EVENTS, `the stalled client received all ${EVENTS} events; it should have been cut off`);
    assert.ok(raw.close, `connection ended without a close frame (received ${got} events${raw.error ? `, ${raw.error.code}` : ''})`);
    assert.equal(raw.close.code, 1008, `close code ${raw.close.code} reason ${JSON.stringify(raw.close.reason)}`);
    assert.match(raw.close.reason, /queue/i);
    // The healthy subscriber is unaffected and still live.
    await publishOk(srv, s, { i: EVENTS });
    await healthy.waitFor((m) => m.type === 'event' && m.seq === EVENTS + 1, 5000, { what: 'healthy live after the cut' });
  });
});

describe('shutdown with a stalled client', () => {
  test('SIGTERM exits within 5 s even while a write to a stalled client is pending', { timeout: 60000 }, async () => {
    const srv = await startServer({ history: { max_bytes: 64 * 1024 * 1024 }, subscribers: { queue_bytes: 65536 } });
    const s = `fast/${uid('term')}`;
    const raw = await stalledSubscriber(srv, s);
    try {
      for (let b = 0; b < 25; b++) {
        await publishOk(srv, s, Array.from({ length: 50 }, (_, j) => ({ i: b * 50 + j, pad: PAD })));
      }
      await sleep(300);
      const t0 = Date.now();
      const res = await srv.stop(5000);
      assert.equal(res.killed, false, `needed SIGKILL: a stalled subscriber blocked shutdown; stderr:\n${srv.tail(10)}`);
      assert.ok(Date.now() - t0 < 5000);
      assert.equal(res.code, 0, `exit code ${res.code} signal ${res.signal}`);
    } finally {
      raw.destroy();
      await srv.stop();
    }
  });
});
