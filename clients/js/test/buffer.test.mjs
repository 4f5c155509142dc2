// The buffer of live events held while a hole is backfilled is bounded
// (maxBufferedEvents): at the bound the newest are not held, an `overflow`
// is reported once, and the backfill reads them from the real hub's history
// afterwards, so every event is still delivered once and in order.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { assertContiguous, publishOk, startServer, StreamTracker, uid, until } from './helpers.mjs';

describe('bounded backfill buffer', () => {
  let srv;
  const trackers = [];
  before(async () => {
    srv = await startServer({}, { demo: false });
  });
  after(async () => {
    for (const t of trackers) t.dispose();
    await srv?.stop();
  });

  test('live events beyond the bound are read from history instead: all delivered once, in order', async () => {
    const stream = uid('bound');
    const { epoch } = await publishOk(srv, stream, Array.from({ length: 300 }, (_, k) => ({ i: k + 1 })));
    const out = { events: [], overflows: [], gaps: [] };
    const t = new StreamTracker(stream, { epoch, seq: 0 }, {
      deliver: (ev) => out.events.push(ev),
      gap: (g) => out.gaps.push(g),
      epoch: () => {},
      backfill: () => {},
      overflow: (n) => out.overflows.push(n),
      error: () => {},
    }, { baseUrl: srv.base, fetch: (u) => fetch(u, { signal: AbortSignal.timeout(10000) }), historyLimit: 50, maxBuffered: 20, retryInitialMs: 50, retryMaxMs: 500 });
    trackers.push(t);
    // 1..100 are missing from the live feed; 101..300 arrive live at once,
    // faster than history is read: only 20 of them can be held.
    let maxHeld = 0;
    for (let seq = 101; seq <= 300; seq++) {
      t.onLive({ stream, epoch, seq, ts: 1, data: { i: seq } });
      maxHeld = Math.max(maxHeld, t.bufferedCount());
    }
    assert.ok(maxHeld <= 20, `held at most 20, held ${maxHeld}`);
    assert.equal(t.stats.overflowed, 180, 'every live event beyond the bound is counted');
    assert.equal(out.overflows.length, 1, 'reported once per backfill');
    assert.deepEqual(out.overflows[0], { stream, limit: 20 });
    await until(() => out.events.length >= 300 && !t.isBackfilling(), 15000, 'delivery of 1..300');
    assertContiguous(out.events.map((e) => e.seq), 1, 300, 'delivered seqs');
    assert.deepEqual(out.events.map((e) => e.data.i), Array.from({ length: 300 }, (_, k) => k + 1));
    assert.deepEqual(out.gaps, [], 'nothing lost: history had it all');
    assert.equal(t.bufferedCount(), 0);
  });
});
