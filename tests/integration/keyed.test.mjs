// Keyed state streams end to end: a new subscriber gets the `snapshot` then
// the diffs after it; a diff for another generation is dropped and marks
// the stream need_full (status, subscribers, publisher reply); max_hz
// conflates diffs to the latest per key; state survives a restart.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { metricSum, publish, publishOk, request, sleep, startServer, uid, until, WsClient } from './harness.mjs';

const full = (generation, state) => ({ type: 'full', generation, state });
const diff = (generation, patch) => ({ type: 'diff', generation, patch });

describe('keyed state', () => {
  let srv;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'livehub-keyed-it-'));
  after(async () => { await srv?.stop(); rmSync(dir, { recursive: true, force: true }); });

  test('subscribe gets the snapshot first, then the diffs after its seq', { timeout: 30000 }, async () => {
    srv = await startServer({ streams: [{ pattern: 'kv/**', keyed: 'true' }] }, { dataDir: dir });
    const s = `kv/${uid('a')}`;
    await publishOk(srv, s, full(1, { a: 1, b: { x: 1 } }));
    await publishOk(srv, s, diff(1, { a: null, b: { y: 2 } }));
    const ws = await WsClient.connect(srv);
    try {
      const sub = await ws.subscribe([s]);
      assert.equal(sub.streams[0].latest_seq, 2);
      const snap = await ws.waitFor((m) => m.type === 'snapshot');
      assert.equal(snap.stream, s);
      assert.equal(snap.seq, 2);
      assert.equal(snap.generation, 1);
      assert.deepEqual(snap.state, { b: { x: 1, y: 2 } });
      await publishOk(srv, s, diff(1, { c: 3 }));
      const ev = await ws.waitFor((m) => m.type === 'event' && m.stream === s);
      assert.equal(ev.seq, 3);
      assert.deepEqual(ev.data.patch, { c: 3 });
      assert.ok(ws.messages.indexOf(snap) < ws.messages.indexOf(ev), 'snapshot before diffs');
      const st = (await request(srv, 'GET', `/v1/status/${s}`)).json;
      assert.equal(st.keyed.generation, 1);
      assert.equal(st.keyed.need_full, false);
    } finally { ws.close(); }
  });

  test('a diff for another generation is dropped and marks need_full', async () => {
    const s = `kv/${uid('b')}`;
    await publishOk(srv, s, full(5, { v: 1 }));
    const ws = await WsClient.connect(srv);
    try {
      await ws.subscribe([s]);
      await ws.waitFor((m) => m.type === 'snapshot');
      const before = await metricSum(srv, 'livehub_keyed_diffs_dropped_total');
      const r = await publish(srv, s, diff(4, { v: 2 }));
      assert.equal(r.status, 400);
      assert.equal(r.json.error.code, 'generation_mismatch');
      const note = await ws.waitFor((m) => m.type === 'need_full');
      assert.equal(note.rejected_generation, 4);
      assert.equal(note.generation, 5);
      const st = (await request(srv, 'GET', `/v1/status/${s}`)).json;
      assert.equal(st.latest_seq, 1, 'the stale diff was not appended');
      assert.equal(st.keyed.need_full, true);
      assert.equal(st.keyed.diffs_dropped, 1);
      const listed = (await request(srv, 'GET', '/v1/streams')).json.streams.find((x) => x.stream === s);
      assert.equal(listed.keyed.need_full, true);
      assert.equal(await metricSum(srv, 'livehub_keyed_diffs_dropped_total'), before + 1);
      // Mixed batch: the good diff is appended, the reply says what was dropped.
      const mixed = await publishOk(srv, s, [diff(5, { v: 3 }), diff(9, { v: 4 })]);
      assert.equal(mixed.dropped, 1);
      assert.equal(mixed.need_full, true);
      await publishOk(srv, s, full(6, { v: 10 }));
      assert.equal((await request(srv, 'GET', `/v1/status/${s}`)).json.keyed.need_full, false);
      const bad = await publish(srv, s, { v: 1 });
      assert.equal(bad.status, 400);
      assert.equal(bad.json.error.code, 'keyed_bad_event');
    } finally { ws.close(); }
  });

  test('max_hz conflates diffs to the latest value per key', { timeout: 20000 }, async () => {
    const s = `kv/${uid('c')}`;
    await publishOk(srv, s, full(1, { k1: 0, k2: 0 }));
    const ws = await WsClient.connect(srv);
    try {
      await ws.subscribe([s], { max_hz: 2 });
      await ws.waitFor((m) => m.type === 'snapshot');
      for (let i = 1; i <= 30; i++) await publishOk(srv, s, diff(1, { [`k${(i % 2) + 1}`]: i }));
      await until(() => ws.messages.some((m) => m.type === 'batch' && m.events.at(-1).seq === 31)
        || ws.messages.some((m) => m.type === 'event' && m.seq === 31), 8000, 'seq 31 delivered');
      let state = { k1: 0, k2: 0 };
      let delivered = 0;
      for (const m of ws.messages) {
        const evs = m.type === 'batch' ? m.events : m.type === 'event' ? [m] : [];
        for (const e of evs) { delivered++; state = { ...state, ...e.data.patch }; }
      }
      assert.deepEqual(state, { k1: 30, k2: 29 }, 'conflation keeps the latest value per key');
      assert.ok(delivered < 30, `diffs were conflated (${delivered} deliveries for 30 diffs)`);
      assert.ok(await metricSum(srv, 'livehub_keyed_diffs_conflated_total') > 0);
    } finally { ws.close(); }
  });

  test('state survives a restart', { timeout: 30000 }, async () => {
    const s = `kv/${uid('d')}`;
    await publishOk(srv, s, full(3, { a: { b: 1 } }));
    await publishOk(srv, s, [diff(3, { a: { c: 2 } }), diff(3, { d: [1, 2] })]);
    const inferred = `inf/${uid('d')}`;  // no rule: keyed because its first event is a full
    await publishOk(srv, inferred, { type: 'full', state: { z: 1 } });
    await publishOk(srv, inferred, diff(1, { y: 2 }));
    const plain = `inf/${uid('p')}`;
    await publishOk(srv, plain, { temp: 1 });
    await srv.stop();
    srv = await startServer({ streams: [{ pattern: 'kv/**', keyed: 'true' }] }, { dataDir: dir });
    const ws = await WsClient.connect(srv);
    try {
      await ws.subscribe([s]);
      const snap = await ws.waitFor((m) => m.type === 'snapshot');
      assert.equal(snap.seq, 3);
      assert.equal(snap.generation, 3);
      assert.deepEqual(snap.state, { a: { b: 1, c: 2 }, d: [1, 2] });
      assert.equal((await publish(srv, s, diff(3, { e: 1 }))).status, 200, 'diffs of the restored generation apply');
      await ws.subscribe([inferred]);
      const snap2 = await ws.waitFor((m) => m.type === 'snapshot' && m.stream === inferred);
      assert.deepEqual(snap2.state, { y: 2, z: 1 });
      assert.equal(snap2.generation, 1, 'a full without generation got generation 1');
      assert.equal((await request(srv, 'GET', `/v1/status/${plain}`)).json.keyed, undefined);
      assert.equal((await publish(srv, plain, { temp: 2 })).status, 200, 'an ordinary stream stays ordinary');
      await sleep(10);
    } finally { ws.close(); }
  });
});
