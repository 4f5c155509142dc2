// Slow-client policy. A hand-made WebSocket client (raw `net` socket) does
// the handshake and then stops reading while ~16 MB of events are
// published, far beyond subscribers.queue_bytes and the kernel's buffers.
// drop_oldest: once it reads again it sees gap(s) with reason slow_client
// that, with the events it got, account for every seq exactly once.
// disconnect (per-pattern override): it is closed with 1008 naming the queue.
// Either way a healthy subscriber on the same stream gets every event.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  assertContiguous, publishOk, RawWs, sleep, startServer, streamPath, uid, WsClient,
} from './harness.mjs';

const EVENTS = 2000;
const PAD = 'x'.repeat(8000);

async function publishFlood(srv, s) {
  for (let b = 0; b < EVENTS / 50; b++) {
    await publishOk(srv, s, Array.from({ length: 50 }, (_, j) => ({ i: b * 50 + j, pad: PAD })));
  }
}

async function stalledSubscriber(srv, s) {
  const raw = await RawWs.connect(srv, `/v1/ws?streams=${streamPath(s)}`);
  await raw.waitFor((m) => m.type === 'subscribed', 5000, 'subscribed on the raw socket');
  raw.pause();
  return raw;
}

describe('slow clients', () => {
  let srv;
  const clients = [];

  before(async () => {
    srv = await startServer({
      history: { max_bytes: 64 * 1024 * 1024 },
      subscribers: {
        queue_bytes: 65536,
        slow_client: 'drop_oldest',
        ws_ping_interval_s: 300,
        write_timeout_s: 300,
      },
      streams: [{ pattern: 'slow/**', slow_client: 'disconnect' }],
    });
  });
  after(async () => {
    for (const c of clients) { if (c instanceof RawWs) c.destroy(); else c.terminate(); }
    await srv?.stop();
  });

  test('drop_oldest: a stalled client gets slow_client gaps that account for every missed seq', { timeout: 90000 }, async () => {
    const s = `fast/${uid('drop')}`;
    const healthy = await WsClient.connect(srv);
    clients.push(healthy);
    await healthy.subscribe([s]);
    const raw = await stalledSubscriber(srv, s);
    clients.push(raw);

    await publishFlood(srv, s);
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

    const events = raw.messages.filter((m) => m.type === 'event');
    const gaps = raw.messages.filter((m) => m.type === 'gap');
    assert.ok(gaps.length > 0, `no gap after stalling through ${EVENTS} x 8 KB events (got ${events.length} events)`);
    for (const g of gaps) {
      assert.equal(g.stream, s);
      assert.equal(g.reason, 'slow_client', JSON.stringify(g));
      assert.ok(Number.isInteger(g.from_seq) && Number.isInteger(g.to_seq) && g.from_seq <= g.to_seq, JSON.stringify(g));
    }
    assert.ok(events.length < EVENTS, 'every event was delivered although gaps were reported');
    // Events in order, none twice, data intact.
    for (let k = 1; k < events.length; k++) {
      assert.ok(events[k].seq > events[k - 1].seq, `out of order: ${events[k - 1].seq} then ${events[k].seq}`);
    }
    for (const e of events) assert.equal(e.data.i, e.seq - 1);
    // Every seq 1..EVENTS is either delivered or inside exactly one gap.
    const cover = new Uint8Array(EVENTS + 1);
    for (const e of events) cover[e.seq] += 1;
    for (const g of gaps) for (let q = g.from_seq; q <= g.to_seq; q++) cover[q] += 1;
    const missing = [];
    const double = [];
    for (let q = 1; q <= EVENTS; q++) {
      if (cover[q] === 0) missing.push(q);
      if (cover[q] > 1) double.push(q);
    }
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} seqs neither delivered nor reported in a gap`);
    assert.deepEqual(double.slice(0, 10), [], `${double.length} seqs both delivered and reported (or reported twice)`);
    // The newest events survive drop_oldest.
    assert.equal(events.at(-1).seq, EVENTS);
    // And the connection is still usable.
    raw.sendJson({ op: 'ping', id: 99 });
    await raw.waitFor((m) => m.type === 'pong' && m.id === 99, 5000, 'pong after catching up');
  });

  test('disconnect: a stalled client on a slow/** stream is closed with 1008; the healthy one gets everything', { timeout: 90000 }, async () => {
    const s = `slow/${uid('disc')}`;
    const healthy = await WsClient.connect(srv);
    clients.push(healthy);
    await healthy.subscribe([s]);
    const raw = await stalledSubscriber(srv, s);
    clients.push(raw);

    await publishFlood(srv, s);
    await healthy.waitFor((m) => m.type === 'event' && m.seq === EVENTS, 30000, { what: `healthy seq ${EVENTS}` });
    assertContiguous(healthy.events(s).map((e) => e.seq), 1, EVENTS, 'healthy subscriber');
    assert.equal(healthy.closed, null);

    await sleep(1000);
    raw.resume();
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
