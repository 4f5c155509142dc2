// WebSocket resume with `from`: no loss and no duplicate across disconnects
// during continuous publishing; resuming beyond history gives a gap; a
// foreign epoch is reported; the HTTP/WS history says 410/evicted.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  assertContiguous, history, publishOk, sleep, startServer, uid, WsClient,
} from './harness.mjs';

// Publishes `total` single events round-robin over `streams`, pacing itself.
function startPublisher(srv, streams, total, pauseMs = 2) {
  const state = { sent: 0, error: null };
  state.done = (async () => {
    for (let i = 0; i < total; i++) {
      const s = streams[i % streams.length];
      await publishOk(srv, s, { i });
      state.sent += 1;
      if (pauseMs) await sleep(pauseMs);
    }
  })().catch((e) => { state.error = e; throw e; });
  return state;
}

describe('resume', () => {
  let srv;
  const clients = [];
  const connect = async (opts) => { const c = await WsClient.connect(srv, opts); clients.push(c); return c; };

  before(async () => {
    srv = await startServer({ streams: [{ pattern: 'tiny/**', durability: 'memory', history: { max_events: 10 } }] });
  });
  after(async () => {
    for (const c of clients) c.terminate();
    await srv?.stop();
  });

  // Reconnects `cycles` times while `streams` are being published to, each
  // time resuming from the last seq seen per stream; returns the events seen.
  async function churn(streams, patterns, total) {
    const seen = new Map(streams.map((s) => [s, []]));
    const cursor = new Map(); // stream -> {epoch, seq}
    const record = (c) => {
      for (const m of c.messages) {
        if (m.type === 'gap') assert.fail(`unexpected gap while resuming: ${JSON.stringify(m)}`);
        if (m.type !== 'event') continue;
        seen.get(m.stream).push(m.seq);
        cursor.set(m.stream, { epoch: m.epoch, seq: m.seq });
      }
    };
    for (const s of streams) await publishOk(srv, s, { i: 'first' });
    let c = await connect();
    const first = await c.subscribe(patterns);
    // A client starts its cursors at the watermark the hub reports.
    for (const x of first.streams) cursor.set(x.stream, { epoch: x.epoch, seq: x.latest_seq });
    assert.deepEqual([...cursor.keys()].sort(), [...streams].sort(), 'subscribed should list the matched streams');
    const pub = startPublisher(srv, streams, total);
    for (let cycle = 0; cycle < 4; cycle++) {
      const target = c.events().length + 40;
      await c.waitFor(() => c.events().length >= target, 15000, { what: `40 events in cycle ${cycle}` });
      const sentAtClose = pub.sent;
      if (cycle % 2) c.close(); else c.terminate();
      await c.waitClose(5000).catch(() => {});
      record(c);
      await sleep(150); // publishing goes on meanwhile
      assert.ok(pub.sent > sentAtClose || pub.sent === total, 'nothing was published while disconnected');
      c = await connect();
      const from = Object.fromEntries(cursor);
      const r = await c.subscribe(patterns, { from });
      for (const x of r.streams) {
        if (cursor.has(x.stream)) assert.equal(x.epoch, cursor.get(x.stream).epoch, 'epoch changed without a reset');
      }
    }
    await pub.done;
    const lastSeq = Math.floor(total / streams.length) + 1;
    for (const s of streams) {
      await c.waitFor((m) => m.type === 'event' && m.stream === s && m.seq === lastSeq, 15000, { what: `${s} seq ${lastSeq}` });
    }
    record(c);
    return seen;
  }

  test('WS: reconnecting with from during continuous publishing loses nothing and duplicates nothing', { timeout: 60000 }, async () => {
    const s = `res/${uid('one')}`;
    const seen = await churn([s], [s], 600);
    // Subscribed at latest_seq 1 before publishing began: expect 2..601.
    assertContiguous(seen.get(s), 2, 601, 'resumed stream');
  });

  test('WS: resume through a wildcard pattern covers every matched stream', { timeout: 60000 }, async () => {
    const base = `res/${uid('multi')}`;
    const streams = [`${base}/a`, `${base}/b/c`];
    const seen = await churn(streams, [`${base}/**`], 600);
    for (const s of streams) {
      assertContiguous(seen.get(s), 2, 301, s);
    }
  });

  test('WS: from seq 0 replays the whole history, then live', { timeout: 10000 }, async () => {
    const s = `res/${uid('zero')}`;
    const p = await publishOk(srv, s, Array.from({ length: 7 }, (_, i) => ({ i })));
    const c = await connect();
    await c.subscribe([s], { from: { [s]: { epoch: p.epoch, seq: 0 } } });
    await c.waitFor((m) => m.type === 'event' && m.seq === 7);
    await publishOk(srv, s, { i: 7 });
    await c.waitFor((m) => m.type === 'event' && m.seq === 8);
    assertContiguous(c.events(s).map((e) => e.seq), 1, 8, 'replay');
    assert.deepEqual(c.events(s).map((e) => e.data.i), [0, 1, 2, 3, 4, 5, 6, 7]);
  });

  test('WS: from the latest seq sends nothing old, then live', { timeout: 10000 }, async () => {
    const s = `res/${uid('latest')}`;
    const p = await publishOk(srv, s, [{ i: 0 }, { i: 1 }, { i: 2 }]);
    const c = await connect();
    await c.subscribe([s], { from: { [s]: { epoch: p.epoch, seq: 3 } } });
    await publishOk(srv, s, { i: 3 });
    await c.waitFor((m) => m.type === 'event' && m.seq === 4);
    assert.deepEqual(c.messages.filter((m) => m.type === 'event' || m.type === 'gap').map((m) => [m.type, m.seq]), [['event', 4]]);
  });

  test('WS: resuming from an evicted seq gives a gap, then the oldest held events, then live', { timeout: 10000 }, async () => {
    const s = `tiny/${uid('gap')}`;
    const p = await publishOk(srv, s, Array.from({ length: 30 }, (_, i) => ({ i })));
    const c = await connect();
    await c.subscribe([s], { from: { [s]: { epoch: p.epoch, seq: 5 } } });
    await c.waitFor((m) => m.type === 'event' && m.seq === 30);
    await publishOk(srv, s, { i: 30 });
    await c.waitFor((m) => m.type === 'event' && m.seq === 31);
    const seq = c.messages.filter((m) => m.type === 'event' || m.type === 'gap');
    assert.equal(seq[0].type, 'gap', `first message should be a gap: ${JSON.stringify(seq[0])}`);
    assert.equal(seq[0].stream, s);
    assert.equal(seq[0].epoch, p.epoch);
    assert.equal(seq[0].from_seq, 6);
    assert.equal(seq[0].to_seq, 20);
    assert.equal(seq[0].reason, 'evicted');
    assertContiguous(seq.slice(1).map((m) => m.seq), 21, 31, 'after gap');
  });

  test('WS: a cursor from another epoch is reported and replay starts at the oldest held', { timeout: 10000 }, async () => {
    const s = `tiny/${uid('epoch')}`;
    const p = await publishOk(srv, s, Array.from({ length: 30 }, (_, i) => ({ i })));
    const c = await connect();
    const r = await c.subscribe([s], { from: { [s]: { epoch: `not-${p.epoch}`, seq: 25 } } });
    assert.equal(r.streams.find((x) => x.stream === s)?.epoch, p.epoch, 'subscribed must carry the current epoch');
    await c.waitFor((m) => m.type === 'event' && m.seq === 30);
    const seq = c.messages.filter((m) => m.type === 'event' || m.type === 'gap');
    assert.equal(seq[0].type, 'gap', `a gap should precede the replay: ${JSON.stringify(seq[0])}`);
    const evs = seq.filter((m) => m.type === 'event').map((m) => m.seq);
    assertContiguous(evs, 21, 30, 'replay after epoch change (seq 25 of another epoch means nothing)');
  });

  test('history below the oldest held seq is 410 over HTTP and evicted over WS', { timeout: 10000 }, async () => {
    const s = `tiny/${uid('410')}`;
    await publishOk(srv, s, Array.from({ length: 30 }, (_, i) => ({ i })));
    const r = await history(srv, s, 1, 100);
    assert.equal(r.status, 410, r.text);
    assert.equal(r.json.error.code, 'evicted');
    assert.equal(r.json.error.oldest_seq, 21);
    const c = await connect();
    const e = await c.request({ op: 'history', stream: s, from_seq: 3, limit: 100 });
    assert.equal(e.type, 'error', JSON.stringify(e));
    assert.equal(e.code, 'evicted');
    const ok = await c.request({ op: 'history', stream: s, from_seq: 21, limit: 100 });
    assert.deepEqual(ok.events.map((x) => x.seq), Array.from({ length: 10 }, (_, i) => 21 + i));
  });
});
