// GET /v1/history, /v1/status and /v1/streams: pagination, watermarks and
// retention by count, bytes and age (410 evicted with oldest_seq).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  fullHistory, history, publishOk, request, sleep, startServer, status, uid,
} from './harness.mjs';

describe('history, status and streams', () => {
  let srv;
  before(async () => {
    srv = await startServer({
      streams: [
        { pattern: 'count/**', durability: 'memory', history: { max_events: 20 } },
        { pattern: 'bytes/**', durability: 'memory', history: { max_bytes: 16384 } },
        { pattern: 'aged/**', durability: 'memory', history: { max_age_s: 1 } },
      ],
    });
  });
  after(async () => { await srv?.stop(); });

  test('history pages through a stream with has_more and next_seq', { timeout: 15000 }, async () => {
    const s = `hist/${uid('page')}`;
    const published = await publishOk(srv, s, Array.from({ length: 25 }, (_, i) => ({ i })));
    let r = await history(srv, s, 1, 10);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.stream, s);
    assert.equal(r.json.epoch, published.epoch);
    assert.deepEqual(r.json.events.map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(r.json.events.map((e) => e.data.i), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const e of r.json.events) assert.equal(typeof e.ts, 'number');
    assert.equal(r.json.has_more, true);
    assert.equal(r.json.next_seq, 11);

    r = await history(srv, s, 11, 10);
    assert.deepEqual(r.json.events.map((e) => e.seq), [11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    assert.equal(r.json.has_more, true);
    assert.equal(r.json.next_seq, 21);

    r = await history(srv, s, 21, 10);
    assert.deepEqual(r.json.events.map((e) => e.seq), [21, 22, 23, 24, 25]);
    assert.equal(r.json.has_more, false);

    r = await history(srv, s, 18, 3);
    assert.deepEqual(r.json.events.map((e) => e.seq), [18, 19, 20]);
  });

  test('history past the end is empty, not an error', { timeout: 10000 }, async () => {
    const s = `hist/${uid('end')}`;
    await publishOk(srv, s, [{ a: 1 }, { a: 2 }]);
    const r = await history(srv, s, 3, 10);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.events, []);
    assert.equal(r.json.has_more, false);
  });

  test('status reports the watermark; unknown streams are 404 not_found', { timeout: 10000 }, async () => {
    const s = `hist/${uid('status')}`;
    const p = await publishOk(srv, s, [{ a: 1 }, { a: 2 }, { a: 3 }]);
    const before = Date.now();
    const r = await status(srv, s);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.stream, s);
    assert.equal(r.json.epoch, p.epoch);
    assert.equal(r.json.latest_seq, 3);
    assert.equal(r.json.first_seq, 1);
    const ev = await fullHistory(srv, s);
    assert.equal(r.json.latest_ts_ms, ev[2].ts);
    assert.ok(Math.abs(r.json.server_time_ms - before) < 5000, `server_time_ms ${r.json.server_time_ms} far from ${before}`);
    assert.ok(r.json.server_time_ms >= r.json.latest_ts_ms);

    const missing = await status(srv, `hist/${uid('nope')}`);
    assert.equal(missing.status, 404);
    assert.equal(missing.json?.error?.code, 'not_found', missing.text);
  });

  test('/v1/streams lists every stream with its watermark', { timeout: 10000 }, async () => {
    const a = `hist/${uid('list-a')}`;
    const b = `hist/${uid('list-b')}/deep/er`;
    const pa = await publishOk(srv, a, [{ x: 1 }, { x: 2 }]);
    const pb = await publishOk(srv, b, { y: 1 });
    const r = await request(srv, 'GET', '/v1/streams');
    assert.equal(r.status, 200, r.text);
    assert.ok(Array.isArray(r.json.streams), r.text.slice(0, 200));
    assert.equal(typeof r.json.server_time_ms, 'number');
    const byName = new Map(r.json.streams.map((x) => [x.stream, x]));
    assert.equal(byName.get(a)?.latest_seq, 2);
    assert.equal(byName.get(a)?.epoch, pa.epoch);
    assert.equal(byName.get(b)?.latest_seq, 1);
    assert.equal(byName.get(b)?.epoch, pb.epoch);
  });

  test('count retention evicts the oldest; history below it is 410 with oldest_seq', { timeout: 10000 }, async () => {
    const s = `count/${uid('evict')}`;
    await publishOk(srv, s, Array.from({ length: 50 }, (_, i) => ({ i })));
    const st = await status(srv, s);
    assert.equal(st.json.latest_seq, 50);
    assert.equal(st.json.first_seq, 31, `20 events kept means first_seq 31: ${st.text}`);

    const r = await history(srv, s, 5, 10);
    assert.equal(r.status, 410, r.text);
    assert.equal(r.json?.error?.code, 'evicted', r.text);
    assert.equal(r.json.error.oldest_seq, 31, r.text);

    const kept = await fullHistory(srv, s, 31);
    assert.deepEqual(kept.map((e) => e.seq), Array.from({ length: 20 }, (_, i) => 31 + i));
    assert.deepEqual(kept.map((e) => e.data.i), Array.from({ length: 20 }, (_, i) => 30 + i));
  });

  test('byte retention keeps history under max_bytes and contiguous to the end', { timeout: 10000 }, async () => {
    const s = `bytes/${uid('evict')}`;
    await publishOk(srv, s, Array.from({ length: 64 }, (_, i) => ({ i, pad: 'b'.repeat(1000) })));
    const st = await status(srv, s);
    assert.equal(st.json.latest_seq, 64);
    assert.ok(st.json.first_seq > 1, `64 KB published with max_bytes 16384 but first_seq is ${st.json.first_seq}`);
    assert.ok(st.json.first_seq >= 64 - 17, `more than 16 KB of 1 KB events held: first_seq ${st.json.first_seq}`);
    const kept = await fullHistory(srv, s, st.json.first_seq);
    assert.equal(kept[0].seq, st.json.first_seq);
    assert.equal(kept[kept.length - 1].seq, 64);
    const r = await history(srv, s, 1, 10);
    assert.equal(r.status, 410, r.text);
    assert.equal(r.json?.error?.oldest_seq, st.json.first_seq);
  });

  test('age retention drops events older than max_age_s', { timeout: 15000 }, async () => {
    const s = `aged/${uid('evict')}`;
    await publishOk(srv, s, Array.from({ length: 5 }, (_, i) => ({ i })));
    await sleep(2500);
    await publishOk(srv, s, { fresh: true });
    const r = await history(srv, s, 1, 10);
    assert.equal(r.status, 410, `events 2.5 s old kept with max_age_s 1: ${r.status} ${r.text.slice(0, 300)}`);
    assert.equal(r.json?.error?.oldest_seq, 6, r.text);
    const st = await status(srv, s);
    assert.equal(st.json.latest_seq, 6);
  });
});
