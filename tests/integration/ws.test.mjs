// WebSocket request/reply ops (publish, status, history, ping, subscriptions)
// and misuse: unknown ops, invalid JSON, bad names, forbidden streams,
// subscription limit, oversized messages (close 1009).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  fullHistory, publishOk, RawWs, startServer, status, uid, WsClient,
} from './harness.mjs';

const MAX_SUBS = 8;
const MAX_WS_MSG = 65536;

describe('WebSocket ops', () => {
  let srv;
  const clients = [];
  const connect = async (opts) => { const c = await WsClient.connect(srv, opts); clients.push(c); return c; };

  before(async () => {
    srv = await startServer({
      limits: { max_subscriptions_per_connection: MAX_SUBS, max_ws_message_bytes: MAX_WS_MSG },
      subscribers: { ws_ping_interval_s: 1 },
    });
  });
  after(async () => {
    for (const c of clients) c.terminate();
    await srv?.stop();
  });

  test('ping gets a pong with the same id', { timeout: 10000 }, async () => {
    const c = await connect();
    const r = await c.request({ op: 'ping', id: 7 });
    assert.deepEqual({ type: r.type, id: r.id }, { type: 'pong', id: 7 });
  });

  test('publish op appends and replies published; status and history ops agree with HTTP', { timeout: 10000 }, async () => {
    const c = await connect();
    const s = `wsop/${uid('pub')}`;
    const p1 = await c.request({ op: 'publish', stream: s, data: { n: 1 } });
    assert.equal(p1.type, 'published', JSON.stringify(p1));
    assert.equal(p1.stream, s);
    assert.equal(p1.first_seq, 1);
    assert.equal(p1.last_seq, 1);
    assert.equal(typeof p1.epoch, 'string');
    const p2 = await c.request({ op: 'publish', stream: s, data: { n: 2 } });
    assert.equal(p2.first_seq, 2);
    assert.equal(p2.epoch, p1.epoch);

    const st = await c.request({ op: 'status', stream: s });
    assert.equal(st.type, 'status', JSON.stringify(st));
    const http = (await status(srv, s)).json;
    assert.equal(st.stream, s);
    assert.equal(st.epoch, http.epoch);
    assert.equal(st.latest_seq, 2);
    assert.equal(st.latest_ts_ms, http.latest_ts_ms);
    assert.equal(typeof st.server_time_ms, 'number');

    const h = await c.request({ op: 'history', stream: s, from_seq: 1, limit: 1 });
    assert.equal(h.type, 'history', JSON.stringify(h));
    assert.equal(h.stream, s);
    assert.equal(h.epoch, p1.epoch);
    assert.deepEqual(h.events.map((e) => [e.seq, e.data.n]), [[1, 1]]);
    assert.equal(h.has_more, true);
    assert.equal(h.next_seq, 2);
    const h2 = await c.request({ op: 'history', stream: s, from_seq: 2, limit: 10 });
    assert.deepEqual(h2.events.map((e) => e.data), [{ n: 2 }]);
    assert.equal(h2.has_more, false);

    assert.deepEqual((await fullHistory(srv, s)).map((e) => e.data), [{ n: 1 }, { n: 2 }]);
  });

  test('a publish op is delivered to a subscriber on another connection', { timeout: 10000 }, async () => {
    const s = `wsop/${uid('relay')}`;
    const sub = await connect();
    await sub.subscribe([s]);
    const pub = await connect();
    await pub.request({ op: 'publish', stream: s, data: { hello: 'world' } });
    const ev = await sub.waitFor((m) => m.type === 'event' && m.stream === s);
    assert.equal(ev.seq, 1);
    assert.deepEqual(ev.data, { hello: 'world' });
    assert.equal(typeof ev.ts, 'number');
    assert.equal(typeof ev.epoch, 'string');
  });

  test('pipelined publish ops are answered in order with consecutive seqs', { timeout: 10000 }, async () => {
    const c = await connect();
    const s = `wsop/${uid('pipe')}`;
    const from = c.messages.length;
    for (let i = 0; i < 50; i++) c.send({ op: 'publish', id: 500 + i, stream: s, data: { i } });
    await c.waitFor((m) => m.id === 549, 5000, { from, what: 'reply 549' });
    const replies = c.messages.slice(from).filter((m) => m.type === 'published');
    assert.deepEqual(replies.map((m) => m.id), Array.from({ length: 50 }, (_, i) => 500 + i));
    assert.deepEqual(replies.map((m) => m.first_seq), Array.from({ length: 50 }, (_, i) => 1 + i));
    assert.deepEqual((await fullHistory(srv, s)).map((e) => e.data.i), Array.from({ length: 50 }, (_, i) => i));
  });

  test('the hub pings an idle connection (ws_ping_interval_s 1)', { timeout: 10000 }, async () => {
    const c = await connect();
    const pinged = new Promise((resolve) => c.ws.once('ping', resolve));
    const t0 = Date.now();
    await Promise.race([pinged, new Promise((_, rej) => setTimeout(() => rej(new Error('no ping within 4 s')), 4000))]);
    assert.ok(Date.now() - t0 < 4000);
    assert.equal(c.closed, null, 'a client that answers pings must stay open');
  });

  test('a near-limit event (900 KB) reaches WS subscribers intact', { timeout: 15000 }, async () => {
    const s = `wsop/${uid('large')}`;
    const a = await connect();
    const b = await connect();
    await a.subscribe([s]);
    await b.subscribe([s]);
    const big = { blob: Array.from({ length: 900 }, (_, i) => String(i % 10).repeat(1000)).join('') };
    await publishOk(srv, s, [{ small: 1 }, big, { small: 3 }]);
    for (const c of [a, b]) {
      await c.waitFor((m) => m.type === 'event' && m.seq === 3, 10000, { what: 'seq 3' });
      assert.deepEqual(c.events(s).map((e) => e.seq), [1, 2, 3]);
      assert.equal(c.events(s)[1].data.blob.length, big.blob.length);
      assert.equal(c.events(s)[1].data.blob, big.blob);
    }
  });

  test('subscriptions lists the current patterns after subscribe and unsubscribe', { timeout: 10000 }, async () => {
    const c = await connect();
    const base = `wsop/${uid('subs')}`;
    const pats = [`${base}/a`, `${base}/*`, `${base}/**`];
    await c.subscribe(pats);
    let r = await c.request({ op: 'subscriptions' });
    assert.equal(r.type, 'subscriptions', JSON.stringify(r));
    assert.deepEqual([...r.streams].sort(), [...pats].sort());
    const u = await c.request({ op: 'unsubscribe', streams: [`${base}/*`] });
    assert.equal(u.type, 'unsubscribed', JSON.stringify(u));
    assert.deepEqual(u.streams, [`${base}/*`]);
    r = await c.request({ op: 'subscriptions' });
    assert.deepEqual([...r.streams].sort(), [`${base}/a`, `${base}/**`].sort());
  });

  test('subscribed lists the concrete existing streams a pattern matches', { timeout: 10000 }, async () => {
    const base = `wsop/${uid('match')}`;
    await publishOk(srv, `${base}/one`, [{ a: 1 }, { a: 2 }]);
    const p2 = await publishOk(srv, `${base}/two`, { b: 1 });
    await publishOk(srv, `${base}/two/deeper`, { c: 1 });
    const c = await connect();
    const r = await c.subscribe([`${base}/*`]);
    const got = new Map(r.streams.map((x) => [x.stream, x]));
    assert.deepEqual([...got.keys()].sort(), [`${base}/one`, `${base}/two`]);
    assert.equal(got.get(`${base}/one`).latest_seq, 2);
    assert.equal(got.get(`${base}/two`).latest_seq, 1);
    assert.equal(got.get(`${base}/two`).epoch, p2.epoch);
  });

  test('streams in the connect URL are subscribed at connect', { timeout: 10000 }, async () => {
    const base = `wsop/${uid('url')}`;
    const c = await connect({ streams: [`${base}/x`, `${base}/y/**`] });
    await c.waitFor((m) => m.type === 'subscribed', 5000, { what: 'subscribed for URL streams' });
    await publishOk(srv, `${base}/x`, { v: 'x' });
    await publishOk(srv, `${base}/y/z/w`, { v: 'yzw' });
    await publishOk(srv, `${base}/other`, { v: 'no' });
    await c.waitFor((m) => m.type === 'event' && m.stream === `${base}/y/z/w`);
    await c.waitFor((m) => m.type === 'event' && m.stream === `${base}/x`);
    const r = await c.request({ op: 'ping' }); // flushes anything still in flight
    assert.equal(r.type, 'pong');
    assert.deepEqual(c.events().map((e) => e.data.v).sort(), ['x', 'yzw']);
  });

  test('an unknown op is an error and the connection stays usable', { timeout: 10000 }, async () => {
    const c = await connect();
    const r = await c.request({ op: 'frobnicate', id: 41 });
    assert.equal(r.type, 'error');
    assert.equal(r.id, 41);
    assert.equal(r.code, 'unknown_op');
    assert.ok(typeof r.message === 'string' && r.message.length > 0);
    assert.equal((await c.request({ op: 'ping' })).type, 'pong');
    assert.equal(c.closed, null);
  });

  test('invalid JSON and malformed requests are bad_request; the connection stays usable', { timeout: 10000 }, async () => {
    const c = await connect();
    let from = c.messages.length;
    c.send('{"op":"ping", "id": ');
    const e1 = await c.waitFor((m) => m.type === 'error', 5000, { from, what: 'error for invalid JSON' });
    assert.equal(e1.code, 'bad_request');

    from = c.messages.length;
    c.send('[1,2,3]');
    const e2 = await c.waitFor((m) => m.type === 'error', 5000, { from, what: 'error for a non-object' });
    assert.equal(e2.code, 'bad_request');

    const e3 = await c.request({ op: 'subscribe', streams: 'not-a-list' });
    assert.equal(e3.type, 'error');
    assert.equal(e3.code, 'bad_request');
    assert.match(e3.message, /'streams' must be an array of strings/);
    const e3b = await c.request({ op: 'subscribe', streams: ['a', 1] });
    assert.equal(e3b.code, 'bad_request');
    assert.match(e3b.message, /'streams' must be an array of strings/);

    const e4 = await c.request({ op: 'publish', data: { no: 'stream' } });
    assert.equal(e4.type, 'error');
    assert.ok(['bad_request', 'bad_stream_name'].includes(e4.code), JSON.stringify(e4));

    assert.equal((await c.request({ op: 'ping' })).type, 'pong');
    assert.equal(c.closed, null);
  });

  test('a bad max_hz is bad_request and subscribes nothing', { timeout: 10000 }, async () => {
    const c = await connect();
    for (const v of [0, -5, 'fast', 1e9]) {
      const r = await c.request({ op: 'subscribe', streams: ['ok/one'], max_hz: v });
      assert.equal(r.type, 'error', JSON.stringify(r));
      assert.equal(r.code, 'bad_request');
      assert.match(r.message, /max_hz/);
    }
    const subs = await c.request({ op: 'subscriptions' });
    assert.deepEqual(subs.streams, []);
  });

  test('subscribing to a malformed pattern is bad_pattern', { timeout: 10000 }, async () => {
    const c = await connect();
    const bad = await c.request({ op: 'subscribe', streams: ['a//b'] });
    assert.equal(bad.type, 'error', JSON.stringify(bad));
    assert.equal(bad.code, 'bad_pattern', JSON.stringify(bad));
    assert.equal((await c.request({ op: 'ping' })).type, 'pong');
  });

  test('publishing to a bad stream name is bad_stream_name', { timeout: 10000 }, async () => {
    const c = await connect();
    const badPub = await c.request({ op: 'publish', stream: 'x y', data: 1 });
    assert.equal(badPub.type, 'error', JSON.stringify(badPub));
    assert.equal(badPub.code, 'bad_stream_name', JSON.stringify(badPub));
  });

  test('status of an unknown stream is not_found', { timeout: 10000 }, async () => {
    const c = await connect();
    const nf = await c.request({ op: 'status', stream: `wsop/${uid('missing')}` });
    assert.equal(nf.type, 'error', JSON.stringify(nf));
    assert.equal(nf.code, 'not_found', JSON.stringify(nf));
  });

  test('publishing to $sys/... is forbidden', { timeout: 10000 }, async () => {
    const c = await connect();
    const sys = await c.request({ op: 'publish', stream: '$sys/events', data: { fake: true } });
    assert.equal(sys.type, 'error', JSON.stringify(sys));
    assert.equal(sys.code, 'forbidden', JSON.stringify(sys));
    assert.equal((await c.request({ op: 'ping' })).type, 'pong');
  });

  test('more than max_subscriptions_per_connection patterns are refused', { timeout: 10000 }, async () => {
    const c = await connect();
    const base = `wsop/${uid('limit')}`;
    for (let i = 0; i < MAX_SUBS; i++) await c.subscribe([`${base}/p${i}`]);
    const r = await c.request({ op: 'subscribe', streams: [`${base}/one-too-many`] });
    assert.equal(r.type, 'error', JSON.stringify(r));
    assert.equal(r.code, 'too_many_subscriptions');
    const subs = await c.request({ op: 'subscriptions' });
    assert.equal(subs.streams.length, MAX_SUBS);
    assert.ok(!subs.streams.includes(`${base}/one-too-many`));
    // Unsubscribing frees a slot.
    await c.request({ op: 'unsubscribe', streams: [`${base}/p0`] });
    await c.subscribe([`${base}/one-too-many`]);
  });

  test('a client message over max_ws_message_bytes closes the connection with 1009', { timeout: 10000 }, async () => {
    const c = await connect();
    c.send({ op: 'publish', stream: `wsop/${uid('huge')}`, data: 'z'.repeat(MAX_WS_MSG + 1024) });
    const closed = await c.waitClose(5000);
    assert.equal(closed.code, 1009, `close code ${closed.code} (${closed.reason})`);
    // The server is fine afterwards.
    const d = await connect();
    assert.equal((await d.request({ op: 'ping' })).type, 'pong');
  });
});

describe('dead WebSocket peers', () => {
  let srv;
  before(async () => {
    srv = await startServer({ subscribers: { ws_ping_interval_s: 1, ws_pong_timeout_s: 1 } });
  });
  after(async () => { await srv?.stop(); });

  test('a peer that never answers pings is closed', { timeout: 15000 }, async () => {
    const raw = await RawWs.connect(srv, '/v1/ws', 5000, { autoPong: false });
    const live = await WsClient.connect(srv); // answers pings: must survive
    try {
      const t0 = Date.now();
      await raw.waitUntil(() => raw.ended || raw.close, 8000, 'the silent peer to be closed');
      assert.ok(Date.now() - t0 >= 900, 'closed before any ping could have been missed');
      assert.equal(live.closed, null, 'a peer that answers pings was closed too');
      assert.equal((await live.request({ op: 'ping' })).type, 'pong');
    } finally {
      raw.destroy();
      live.terminate();
    }
  });
});
