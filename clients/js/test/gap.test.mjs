// Gap handling: holes in the live feed are backfilled from the real hub's
// /v1/history and merged in order with no duplicate; evicted ranges are
// reported as lost; a resume beyond history reports the hub's `gap`.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  assertContiguous, makeClient, publishOk, sleep, startServer, StreamTracker, uid, until, WebSocket,
} from './helpers.mjs';

const trackers = []; // disposed after the suite, also when a test fails

// Feeds the tracker like the client does and records what it hands on.
function tracker(srv, stream, start) {
  const out = { events: [], gaps: [], epochs: [], backfills: [], errors: [] };
  const t = new StreamTracker(stream, start, {
    deliver: (ev) => out.events.push(ev),
    gap: (g) => out.gaps.push(g),
    epoch: (e) => out.epochs.push(e),
    backfill: (b) => out.backfills.push(b),
    error: (code, message) => out.errors.push({ code, message }),
  }, { baseUrl: srv.base, fetch: (u) => fetch(u, { signal: AbortSignal.timeout(10000) }), historyLimit: 7, retryInitialMs: 50, retryMaxMs: 500 });
  trackers.push(t);
  return { t, out };
}

const ev = (stream, epoch, seq) => ({ stream, epoch, seq, ts: 1, data: { i: seq } });

describe('gaps and backfill', () => {
  let srv;
  const clients = [];
  before(async () => {
    srv = await startServer({
      streams: [{ pattern: 'tiny/**', durability: 'memory', history: { max_events: 10 } }],
    }, { demo: false });
  });
  after(async () => {
    for (const t of trackers) t.dispose();
    for (const c of clients) c.close();
    await srv?.stop();
  });

  test('out-of-order, duplicate and gapped live events merge with history in seq order', async () => {
    const stream = uid('merge');
    const first = await publishOk(srv, stream, Array.from({ length: 50 }, (_, k) => ({ i: k + 1 })));
    const { epoch } = first;
    const { t, out } = tracker(srv, stream, { epoch, seq: 0 });
    // Live events arrive with holes, out of order and twice, while the
    // tracker reads 1..29 and the other holes from history (pages of 7).
    for (const seq of [30, 31, 29, 45, 31, 30, 50, 46, 2]) t.onLive(ev(stream, epoch, seq));
    await until(() => out.events.length >= 50 && !t.isBackfilling(), 10000, 'backfill to 50');
    assertContiguous(out.events.map((e) => e.seq), 1, 50, 'merged seqs');
    assert.deepEqual(out.events.map((e) => e.data.i), Array.from({ length: 50 }, (_, k) => k + 1), 'payloads come from history where the live feed had none');
    assert.deepEqual(out.gaps, []);
    assert.ok(t.stats.duplicates >= 3, `duplicates ${t.stats.duplicates}`);
    assert.ok(t.stats.historyReads >= 5, `history pages ${t.stats.historyReads}`);
    assert.ok(out.backfills.length >= 1 && out.backfills[0].fromSeq === 1);
    assert.equal(t.bufferedCount(), 0);
    t.dispose();
  });

  test('live events keep arriving during a backfill and are delivered after it, once', async () => {
    const stream = uid('during');
    const { epoch } = await publishOk(srv, stream, Array.from({ length: 20 }, (_, k) => ({ i: k + 1 })));
    const { t, out } = tracker(srv, stream, { epoch, seq: 0 });
    t.onLive(ev(stream, epoch, 20)); // hole 1..19: a backfill starts
    for (let seq = 21; seq <= 40; seq++) {
      await publishOk(srv, stream, { i: seq });
      t.onLive(ev(stream, epoch, seq));
    }
    await until(() => out.events.length >= 40 && !t.isBackfilling(), 10000, 'all 40');
    assertContiguous(out.events.map((e) => e.seq), 1, 40, 'seqs');
    t.dispose();
  });

  test('an evicted range (410) is reported as lost and delivery goes on', async () => {
    const stream = uid('tiny/evict');
    const { epoch } = await publishOk(srv, stream, Array.from({ length: 30 }, (_, k) => ({ i: k + 1 })));
    const { t, out } = tracker(srv, stream, { epoch, seq: 0 });
    t.onLive(ev(stream, epoch, 30));
    await until(() => out.events.length >= 10 && !t.isBackfilling(), 10000, 'the ten held events');
    assert.deepEqual(out.gaps, [{ stream, epoch, fromSeq: 1, toSeq: 20, reason: 'evicted' }]);
    assertContiguous(out.events.map((e) => e.seq), 21, 30, 'held seqs');
    t.dispose();
  });

  test('the client backfills events its transport lost, with the real hub', async () => {
    const stream = uid('lossy');
    await publishOk(srv, stream, { i: 0 });
    // A WebSocket that silently loses event frames 10..25 and repeats 30:
    // what a client sees after a proxy hiccup or a bug upstream.
    class LossyWebSocket extends WebSocket {
      set onmessage(fn) {
        super.onmessage = fn && ((e) => {
          const m = JSON.parse(e.data);
          if (m.type === 'event' && m.stream === stream && m.seq >= 10 && m.seq <= 25) return;
          fn(e);
          if (m.type === 'event' && m.seq === 30) fn(e);
        });
      }
      get onmessage() { return super.onmessage; }
    }
    const { client, rec } = makeClient(srv.base, { transport: 'ws', WebSocket: LossyWebSocket });
    clients.push(client);
    client.subscribe(stream, {}, rec.collect);
    await until(() => client.state === 'subscribed', 10000, 'subscribed');
    await sleep(100);
    for (let i = 2; i <= 60; i++) await publishOk(srv, stream, { i });
    await until(() => rec.seqs(stream).length >= 59, 15000, '59 events');
    await sleep(200);
    assertContiguous(rec.seqs(stream), 2, 60, 'client seqs');
    assert.ok(rec.backfills.some((b) => b.fromSeq === 10), `backfills ${JSON.stringify(rec.backfills)}`);
    assert.ok(client.streamStats(stream).backfilled >= 16);
    assert.ok(client.streamStats(stream).duplicates >= 1);
    assert.deepEqual(rec.gaps, []);
    client.close();
  });

  test('resuming from a cursor beyond history reports the hub gap and continues', async () => {
    const stream = uid('tiny/resume');
    const { epoch } = await publishOk(srv, stream, Array.from({ length: 25 }, (_, k) => ({ i: k + 1 })));
    const { client, rec } = makeClient(srv.base, { transport: 'ws' });
    clients.push(client);
    const sub = client.subscribe(stream, { from: { [stream]: { epoch, seq: 3 } } }, rec.collect);
    await until(() => rec.seqs(stream).length >= 10, 10000, 'held events');
    assert.deepEqual(rec.gaps, [{ stream, epoch, fromSeq: 4, toSeq: 15, reason: 'evicted' }]);
    assertContiguous(rec.seqs(stream), 16, 25, 'after the gap');
    await publishOk(srv, stream, { i: 26 });
    await until(() => rec.seqs(stream).includes(26), 5000, 'live 26');
    assert.deepEqual(sub.cursor(), { [stream]: { epoch, seq: 26 } });
    client.close();
  });
});
