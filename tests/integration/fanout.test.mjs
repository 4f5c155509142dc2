// Fan-out over WebSocket: ordered delivery to many subscribers, live start,
// wildcard patterns (`*`, `**`) including streams created after subscribing,
// and unsubscribe.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  assertContiguous, fullHistory, pool, publishOk, sleep, startServer, uid, until, WsClient,
} from './harness.mjs';

describe('fan-out', () => {
  let srv;
  const clients = [];
  const connect = async (opts) => { const c = await WsClient.connect(srv, opts); clients.push(c); return c; };

  before(async () => { srv = await startServer({}); });
  after(async () => {
    for (const c of clients) c.terminate();
    await srv?.stop();
  });

  // Publishes a sentinel on `stream` and waits until `client` has it: every
  // message published before it on the connection's subscriptions is in.
  async function flush(client, stream) {
    const token = uid('flush');
    await publishOk(srv, stream, { flush: token });
    await client.waitFor((m) => m.type === 'event' && m.stream === stream && m.data?.flush === token, 5000, { what: 'flush sentinel' });
  }

  test('50 subscribers each see seq 1..500 in order, identical to history', { timeout: 60000 }, async () => {
    const s = `fan/${uid('order')}`;
    const subs = [];
    for (let i = 0; i < 50; i++) subs.push(await connect());
    await Promise.all(subs.map((c) => c.subscribe([s])));
    // Four concurrent publishers, single events and small batches mixed.
    let n = 0;
    await pool(4, 4, async (w) => {
      for (let k = 0; k < 25; k++) {
        if (k % 5 === 0) {
          await publishOk(srv, s, Array.from({ length: 5 }, (_, j) => ({ w, k, j })));
          n += 5;
        } else {
          await publishOk(srv, s, { w, k });
          n += 1;
        }
      }
    });
    assert.equal(n, 4 * (20 + 25));
    // Top up to exactly 500 events.
    await publishOk(srv, s, Array.from({ length: 500 - n }, (_, j) => ({ tail: j })));
    const hist = await fullHistory(srv, s);
    assert.equal(hist.length, 500);
    await Promise.all(subs.map((c) => c.waitFor((m) => m.type === 'event' && m.stream === s && m.seq === 500, 30000, { what: 'seq 500' })));
    for (const [i, c] of subs.entries()) {
      const ev = c.events(s);
      assertContiguous(ev.map((e) => e.seq), 1, 500, `subscriber ${i}`);
      for (let k = 0; k < 500; k++) {
        if (JSON.stringify(ev[k].data) !== JSON.stringify(hist[k].data)) {
          assert.fail(`subscriber ${i} seq ${k + 1}: ${JSON.stringify(ev[k].data)} != history ${JSON.stringify(hist[k].data)}`);
        }
      }
      assert.equal(new Set(ev.map((e) => e.epoch)).size, 1);
      assert.deepEqual(c.messages.filter((m) => m.type === 'gap'), [], `subscriber ${i} got a gap`);
    }
  });

  test('a subscription without from starts live, right after latest_seq', { timeout: 10000 }, async () => {
    const s = `fan/${uid('live')}`;
    await publishOk(srv, s, Array.from({ length: 10 }, (_, i) => ({ i })));
    const c = await connect();
    const r = await c.subscribe([s]);
    assert.deepEqual(r.streams.map((x) => [x.stream, x.latest_seq]), [[s, 10]]);
    await publishOk(srv, s, { i: 10 });
    const ev = await c.waitFor((m) => m.type === 'event' && m.stream === s);
    assert.equal(ev.seq, 11, 'old events were replayed to a live subscription');
    await flush(c, s);
    assert.deepEqual(c.events(s).map((e) => e.seq), [11, 12]);
  });

  test('live subscriptions racing a busy publisher start exactly after their latest_seq', { timeout: 30000 }, async () => {
    const s = `fan/${uid('race')}`;
    await publishOk(srv, s, { i: -1 });
    let stop = false;
    let sent = 0;
    const pub = (async () => {
      while (!stop && sent < 3000) { await publishOk(srv, s, { i: sent }); sent += 1; }
    })();
    const subs = [];
    for (let k = 0; k < 20; k++) {
      const c = await connect();
      const r = await c.subscribe([s]);
      subs.push({ c, latest: r.streams.find((x) => x.stream === s).latest_seq });
      await sleep(20);
    }
    stop = true;
    await pub;
    const last = sent + 1;
    for (const [k, { c, latest }] of subs.entries()) {
      if (latest === last) continue;
      await c.waitFor((m) => m.type === 'event' && m.seq === last, 10000, { what: `subscriber ${k} seq ${last}` });
      assertContiguous(c.events(s).map((e) => e.seq), latest + 1, last, `subscriber ${k} (subscribed at latest_seq ${latest})`);
    }
    assert.ok(new Set(subs.map((x) => x.latest)).size > 5, 'subscriptions did not interleave with publishing');
  });

  test('* matches exactly one segment', { timeout: 10000 }, async () => {
    const base = `fan/${uid('star')}`;
    const c = await connect();
    await c.subscribe([`${base}/*/temp`, `${base}/flush`]);
    await publishOk(srv, `${base}/a/temp`, { v: 'a' });
    await publishOk(srv, `${base}/b/temp`, { v: 'b' });
    await publishOk(srv, `${base}/a/b/temp`, { v: 'deep' });
    await publishOk(srv, `${base}/temp`, { v: 'shallow' });
    await publishOk(srv, `${base}/a/temperature`, { v: 'prefix' });
    await flush(c, `${base}/flush`);
    const got = c.events().filter((e) => e.stream !== `${base}/flush`).map((e) => e.data.v);
    assert.deepEqual(got, ['a', 'b']);
  });

  test('* also works as a glob inside one segment (prefix-*)', { timeout: 10000 }, async () => {
    const base = `fan/${uid('glob')}`;
    const c = await connect();
    await c.subscribe([`${base}/E13-*`, `${base}/flush`]);
    await publishOk(srv, `${base}/E13-F03`, { v: 'yes1' });
    await publishOk(srv, `${base}/E13-`, { v: 'yes-empty-rest' });
    await publishOk(srv, `${base}/E14-F01`, { v: 'no-prefix' });
    await publishOk(srv, `${base}/E13-F03/x`, { v: 'no-deeper' });
    await publishOk(srv, `${base}/xE13-F03`, { v: 'no-infix' });
    await flush(c, `${base}/flush`);
    const got = c.events().filter((e) => e.stream !== `${base}/flush`).map((e) => e.data.v);
    assert.deepEqual(got, ['yes1', 'yes-empty-rest']);
  });

  test('** matches any number of segments', { timeout: 10000 }, async () => {
    const base = `fan/${uid('dstar')}`;
    const c = await connect();
    await c.subscribe([`${base}/in/**`, `${base}/flush`]);
    await publishOk(srv, `${base}/in/a`, { v: 1 });
    await publishOk(srv, `${base}/in/a/b/c/d`, { v: 2 });
    await publishOk(srv, `${base}/out/a`, { v: 3 });
    await publishOk(srv, `${base}/inside/a`, { v: 4 });
    await flush(c, `${base}/flush`);
    const got = c.events().filter((e) => e.stream !== `${base}/flush`).map((e) => e.data.v);
    assert.deepEqual(got, [1, 2]);
  });

  test('a stream created after subscribing to a matching pattern is delivered from seq 1', { timeout: 10000 }, async () => {
    const base = `fan/${uid('new')}`;
    const c = await connect();
    const r = await c.subscribe([`${base}/**`]);
    assert.deepEqual(r.streams, [], 'nothing should match yet');
    const s1 = `${base}/x/born-later`;
    await publishOk(srv, s1, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    await publishOk(srv, s1, { n: 4 });
    const s2 = `${base}/y`;
    await publishOk(srv, s2, { n: 1 });
    await c.waitFor((m) => m.type === 'event' && m.stream === s1 && m.seq === 4);
    await c.waitFor((m) => m.type === 'event' && m.stream === s2 && m.seq === 1);
    assert.deepEqual(c.events(s1).map((e) => [e.seq, e.data.n]), [[1, 1], [2, 2], [3, 3], [4, 4]]);
    assert.deepEqual(c.events(s2).map((e) => e.seq), [1]);
  });

  test('an exact subscription to a stream that does not exist yet delivers it from seq 1', { timeout: 10000 }, async () => {
    const s = `fan/${uid('exact-later')}`;
    const c = await connect();
    const r = await c.subscribe([s]);
    assert.deepEqual(r.streams, []);
    await publishOk(srv, s, [{ n: 1 }, { n: 2 }]);
    await c.waitFor((m) => m.type === 'event' && m.stream === s && m.seq === 2);
    assert.deepEqual(c.events(s).map((e) => e.seq), [1, 2]);
  });

  test('max_hz coalesces deliveries into batches without dropping events', {
    timeout: 20000,
  }, async () => {
    const s = `fan/${uid('hz')}`;
    const c = await connect();
    await c.subscribe([s], { max_hz: 2 });
    const t0 = Date.now();
    for (let i = 0; i < 60; i++) {
      await publishOk(srv, s, { i });
      await sleep(15);
    }
    const seqs = () => c.messages.flatMap((m) => {
      if (m.stream !== s) return [];
      if (m.type === 'event') return [m.seq];
      if (m.type === 'batch') return m.events.map((e) => e.seq);
      return [];
    });
    await until(() => seqs().length >= 60, 10000, 'all 60 events');
    const elapsedS = (Date.now() - t0) / 1000;
    assertContiguous(seqs(), 1, 60, 'coalesced');
    const deliveries = c.messages.filter((m) => m.stream === s && (m.type === 'event' || m.type === 'batch')).length;
    assert.ok(deliveries <= Math.ceil(elapsedS * 2) + 2, `${deliveries} deliveries in ${elapsedS.toFixed(1)} s at max_hz 2`);
    assert.ok(c.messages.some((m) => m.type === 'batch'), 'no batch message');
  });

  test('overlapping patterns deliver each event once', { timeout: 10000 }, async () => {
    const base = `fan/${uid('overlap')}`;
    const s = `${base}/a/b`;
    const c = await connect();
    await c.subscribe([s, `${base}/*/b`, `${base}/**`]);
    await publishOk(srv, s, [{ n: 1 }, { n: 2 }]);
    await flush(c, s);
    assert.deepEqual(c.events(s).map((e) => e.seq), [1, 2, 3]);
  });

  test('unsubscribe stops delivery; other subscriptions continue', { timeout: 10000 }, async () => {
    const base = `fan/${uid('unsub')}`;
    const gone = `${base}/gone`;
    const kept = `${base}/kept`;
    const c = await connect();
    await c.subscribe([gone]);
    await c.subscribe([kept]);
    await publishOk(srv, gone, { n: 1 });
    await c.waitFor((m) => m.type === 'event' && m.stream === gone && m.seq === 1);
    const u = await c.request({ op: 'unsubscribe', streams: [gone] });
    assert.equal(u.type, 'unsubscribed');
    await publishOk(srv, gone, [{ n: 2 }, { n: 3 }]);
    await flush(c, kept);
    await sleep(200);
    assert.deepEqual(c.events(gone).map((e) => e.seq), [1], 'events arrived after unsubscribe');
    // A wildcard unsubscribe works the same way.
    const w = await connect();
    await w.subscribe([`${base}/**`]);
    await publishOk(srv, gone, { n: 4 });
    await w.waitFor((m) => m.type === 'event' && m.stream === gone && m.seq === 4);
    await w.request({ op: 'unsubscribe', streams: [`${base}/**`] });
    await w.subscribe([kept]);
    await publishOk(srv, gone, { n: 5 });
    await flush(w, kept);
    await sleep(200);
    assert.deepEqual(w.events(gone).map((e) => e.seq), [4]);
  });

  test('closing one subscriber does not disturb the others', { timeout: 15000 }, async () => {
    const s = `fan/${uid('churn')}`;
    const stay = await connect();
    await stay.subscribe([s]);
    for (let i = 0; i < 10; i++) {
      const tmp = await connect();
      await tmp.subscribe([s]);
      await publishOk(srv, s, { i });
      if (i % 2) tmp.terminate(); else tmp.close();
    }
    await stay.waitFor((m) => m.type === 'event' && m.stream === s && m.seq === 10);
    assertContiguous(stay.events(s).map((e) => e.seq), 1, 10, 'survivor');
  });
});
