// Server-Sent Events: framing (event/id/data, keep-alive comments), delivery
// to a third-party EventSource client, and resume with Last-Event-ID (the
// client's own reconnect, the header on a new client, and the query
// parameter) with no loss and no duplicate; evicted ranges arrive as gaps.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  assertContiguous, fullHistory, publishOk, rawGet, request, sleep, SseClient, startServer, uid, until, WsClient,
} from './harness.mjs';

// Splits raw SSE text into blocks of {event, id, data[], comments[]}.
function parseBlocks(text) {
  const blocks = [];
  for (const raw of text.split(/\r?\n\r?\n/)) {
    if (!raw.trim()) continue;
    const b = { event: undefined, id: undefined, data: [], comments: [] };
    for (const line of raw.split(/\r?\n/)) {
      if (line.startsWith(':')) { b.comments.push(line); continue; }
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'event') b.event = value;
      else if (field === 'id') b.id = value;
      else if (field === 'data') b.data.push(value);
    }
    blocks.push(b);
  }
  return blocks;
}

describe('SSE', () => {
  let srv;
  const open = [];
  const sse = (...args) => { const c = SseClient.open(srv, ...args); open.push(c); return c; };

  before(async () => {
    srv = await startServer({
      subscribers: { sse_keepalive_s: 1 },
      streams: [{ pattern: 'tiny/**', durability: 'memory', history: { max_events: 10 } }],
    });
  });
  after(async () => {
    for (const c of open) c.close();
    await srv?.stop();
  });

  test('framing: event type, id cursor, one JSON data line; keep-alive comments when idle', { timeout: 15000 }, async () => {
    const s = `sse/${uid('frame')}`;
    await publishOk(srv, s, { before: true });
    const r = await rawGet(srv, `/v1/sse?streams=${encodeURIComponent(s)}`);
    try {
      assert.equal(r.status, 200);
      assert.match(r.headers['content-type'] || '', /^text\/event-stream/);
      await until(() => parseBlocks(r.text).some((b) => b.event === 'subscribed'), 5000, 'subscribed block');
      await publishOk(srv, s, { n: 1 });
      await until(() => parseBlocks(r.text).some((b) => b.event === 'event'), 5000, 'event block');
      const blocks = parseBlocks(r.text).filter((b) => b.event !== undefined);
      const sub = blocks.find((b) => b.event === 'subscribed');
      assert.equal(JSON.parse(sub.data.join('\n')).type, 'subscribed');
      const ev = blocks.find((b) => b.event === 'event');
      assert.equal(ev.data.length, 1, 'one data line per message');
      const msg = JSON.parse(ev.data[0]);
      assert.deepEqual([msg.type, msg.stream, msg.seq, msg.data], ['event', s, 2, { n: 1 }]);
      assert.ok(ev.id && ev.id.length > 0, 'event blocks carry an id: cursor');
      // Idle for a while: keep-alive comments (sse_keepalive_s is 1).
      const mark = r.text.length;
      await until(() => /(^|\n):[^\n]*\n/.test(r.text.slice(mark)), 4000, 'a keep-alive comment line');
    } finally {
      r.req.destroy();
    }
  });

  test('EventSource receives events of several patterns with ids', { timeout: 15000 }, async () => {
    const base = `sse/${uid('es')}`;
    const c = sse([`${base}/a`, `${base}/b/**`]);
    await c.waitFor((m) => m.type === 'subscribed', 5000, 'subscribed');
    await publishOk(srv, `${base}/a`, [{ v: 1 }, { v: 2 }]);
    await publishOk(srv, `${base}/b/x/y`, { v: 3 });
    await publishOk(srv, `${base}/c`, { v: 'not subscribed' });
    await c.waitFor((m) => m.type === 'event' && m.data.stream === `${base}/b/x/y`, 5000, 'event on b/x/y');
    await c.waitFor((m) => m.type === 'event' && m.data.stream === `${base}/a` && m.data.seq === 2, 5000, 'a seq 2');
    await sleep(100);
    const evs = c.events();
    assert.deepEqual(evs.map((m) => m.data.data.v).sort(), [1, 2, 3]);
    for (const m of evs) {
      assert.equal(m.data.type, 'event');
      assert.ok(m.id, 'event without id');
    }
    assert.equal(c.events(`${base}/a`).map((m) => m.data.seq).join(), '1,2');
  });

  test('EventSource reconnects by itself with Last-Event-ID: no loss, no duplicate', { timeout: 60000 }, async () => {
    const base = `sse/${uid('auto')}`;
    const streams = [`${base}/one`, `${base}/two`];
    for (const s of streams) await publishOk(srv, s, { i: 'first' });
    const c = sse(streams);
    await c.waitFor((m) => m.type === 'subscribed', 5000, 'subscribed');
    // The publisher keeps going until the three cuts are done (at least 600
    // events, bounded in count and time): a slow reconnect must not leave
    // fewer than 40 new events for the next cut (a race CI once hit).
    let cutsDone = false;
    let published = 0;
    const pub = (async () => {
      const deadline = Date.now() + 45000;
      while ((!cutsDone || published < 600) && published < 6000 && Date.now() < deadline) {
        await publishOk(srv, streams[published % 2], { i: published });
        published++;
        await sleep(3);
      }
    })();
    for (let cut = 0; cut < 3; cut++) {
      const target = c.events().length + 40;
      await until(() => c.events().length >= target, 15000, `40 events before cut ${cut}`);
      const opensBefore = c.opens;
      c.cut(); // the library reconnects after 300 ms with Last-Event-ID
      await until(() => c.opens > opensBefore, 10000, `reconnect ${cut}`);
    }
    cutsDone = true;
    await pub;
    // Stream k got ceil or floor of half the events, after its first one.
    const lastOf = [Math.ceil(published / 2) + 1, Math.floor(published / 2) + 1];
    for (const [k, s] of streams.entries()) {
      await c.waitFor((m) => m.type === 'event' && m.data.stream === s && m.data.seq === lastOf[k], 15000, `${s} seq ${lastOf[k]}`);
    }
    assert.ok(c.opens >= 4, `expected 4 connections, saw ${c.opens}`);
    assert.deepEqual(c.messages.filter((m) => m.type === 'gap').map((m) => m.data), [], 'no gap expected');
    for (const [k, s] of streams.entries()) {
      assertContiguous(c.events(s).map((m) => m.data.seq), 2, lastOf[k], s);
    }
  });

  test('the cursor survives a second drop right after reconnecting (before any new event)', { timeout: 20000 }, async () => {
    const s = `sse/${uid('twice')}`;
    await publishOk(srv, s, { n: 1 });
    const c = sse([s]);
    await c.waitFor((m) => m.type === 'subscribed', 5000, 'subscribed');
    await publishOk(srv, s, [{ n: 2 }, { n: 3 }, { n: 4 }]);
    await c.waitFor((m) => m.type === 'event' && m.data.seq === 4, 5000, 'seq 4');
    const subscribedCount = () => c.messages.filter((m) => m.type === 'subscribed').length;
    c.cut(); // reconnects with Last-Event-ID = cursor after seq 4
    await until(() => subscribedCount() === 2, 5000, 'second subscribed');
    c.cut(); // drop again before any event arrived on the new connection
    await publishOk(srv, s, [{ n: 5 }, { n: 6 }, { n: 7 }]); // published while away
    await until(() => subscribedCount() === 3, 5000, 'third subscribed');
    await publishOk(srv, s, { n: 8 });
    await c.waitFor((m) => m.type === 'event' && m.data.seq === 8, 5000, 'seq 8');
    assertContiguous(c.events(s).map((m) => m.data.seq), 2, 8, 'events across two quick reconnects');
  });

  test('a new EventSource with the Last-Event-ID header resumes every stream', { timeout: 15000 }, async () => {
    const base = `sse/${uid('hdr')}`;
    const streams = [`${base}/x`, `${base}/y`];
    for (const s of streams) await publishOk(srv, s, { n: 0 });
    const a = sse(streams);
    await a.waitFor((m) => m.type === 'subscribed', 5000, 'subscribed');
    await publishOk(srv, streams[0], [{ n: 1 }, { n: 2 }]);
    await publishOk(srv, streams[1], { n: 1 });
    await a.waitFor((m) => m.type === 'event' && m.data.stream === streams[1] && m.data.seq === 2, 5000, 'y seq 2');
    await a.waitFor((m) => m.type === 'event' && m.data.stream === streams[0] && m.data.seq === 3, 5000, 'x seq 3');
    const cursor = a.events().at(-1).id;
    assert.ok(cursor, 'no id on the last event');
    a.close();
    // Missed while away: x 4..6, y 3..4.
    await publishOk(srv, streams[0], [{ n: 3 }, { n: 4 }, { n: 5 }]);
    await publishOk(srv, streams[1], [{ n: 2 }, { n: 3 }]);
    const b = sse(streams, { headers: { 'Last-Event-ID': cursor } });
    await b.waitFor((m) => m.type === 'event' && m.data.stream === streams[0] && m.data.seq === 6, 5000, 'x seq 6');
    await b.waitFor((m) => m.type === 'event' && m.data.stream === streams[1] && m.data.seq === 4, 5000, 'y seq 4');
    await publishOk(srv, streams[1], { n: 4 });
    await b.waitFor((m) => m.type === 'event' && m.data.stream === streams[1] && m.data.seq === 5, 5000, 'y seq 5 live');
    assert.deepEqual(b.events(streams[0]).map((m) => m.data.seq), [4, 5, 6]);
    assert.deepEqual(b.events(streams[1]).map((m) => m.data.seq), [3, 4, 5]);
  });

  test('last_event_id in the query resumes like the header', { timeout: 15000 }, async () => {
    const s = `sse/${uid('query')}`;
    await publishOk(srv, s, { n: 0 });
    const a = sse([s]);
    await a.waitFor((m) => m.type === 'subscribed', 5000, 'subscribed');
    await publishOk(srv, s, [{ n: 1 }, { n: 2 }]);
    const ev = await a.waitFor((m) => m.type === 'event' && m.data.seq === 3, 5000, 'seq 3');
    a.close();
    await publishOk(srv, s, [{ n: 3 }, { n: 4 }]);
    const b = sse([s], { lastEventId: ev.id });
    await b.waitFor((m) => m.type === 'event' && m.data.seq === 5, 5000, 'seq 5');
    await publishOk(srv, s, { n: 5 });
    await b.waitFor((m) => m.type === 'event' && m.data.seq === 6, 5000, 'seq 6');
    assert.deepEqual(b.events(s).map((m) => [m.data.seq, m.data.data.n]), [[4, 3], [5, 4], [6, 5]]);
  });

  test('resuming past evicted history delivers event: gap, then the oldest held events', { timeout: 15000 }, async () => {
    const s = `tiny/${uid('ssegap')}`;
    await publishOk(srv, s, { n: 1 });
    const a = sse([s]);
    await a.waitFor((m) => m.type === 'subscribed', 5000, 'subscribed');
    await publishOk(srv, s, { n: 2 });
    const ev = await a.waitFor((m) => m.type === 'event' && m.data.seq === 2, 5000, 'seq 2');
    a.close();
    await publishOk(srv, s, Array.from({ length: 30 }, (_, i) => ({ n: 3 + i }))); // seq 3..32, 23..32 held
    const b = sse([s], { lastEventId: ev.id });
    await b.waitFor((m) => m.type === 'event' && m.data.seq === 32, 5000, 'seq 32');
    const ordered = b.messages.filter((m) => m.type === 'gap' || m.type === 'event');
    assert.equal(ordered[0].type, 'gap', `first should be a gap: ${JSON.stringify(ordered[0])}`);
    assert.deepEqual(
      [ordered[0].data.type, ordered[0].data.stream, ordered[0].data.from_seq, ordered[0].data.to_seq, ordered[0].data.reason],
      ['gap', s, 3, 22, 'evicted'],
    );
    assertContiguous(ordered.slice(1).map((m) => m.data.seq), 23, 32, 'after gap');
  });
  test('a payload with awkward numbers and strings survives HTTP -> WS, SSE and history unchanged', { timeout: 15000 }, async () => {
    const s = `sse/${uid('payload')}`;
    const data = {
      f: [0.1, 1e-7, 1.7976931348623157e308, -0.5, 123456789.123456, 5e-324],
      i: [0, -1, 9007199254740991, -9007199254740991],
      s: 'é😀\u0000\t"\\/</script>\r\n\n\ndata: fake',
      u: '\u2028\u2029\ufeff',
      nested: { a: [[], {}, [null]], '': 'empty key', 'k.e/y': true },
    };
    await publishOk(srv, s, { warmup: true });
    const ws = await WsClient.connect(srv);
    await ws.subscribe([s]);
    const es = sse([s]);
    await es.waitFor((m) => m.type === 'subscribed', 5000, 'subscribed');
    await publishOk(srv, s, data);
    const viaWs = await ws.waitFor((m) => m.type === 'event' && m.seq === 2);
    const viaSse = await es.waitFor((m) => m.type === 'event' && m.data.seq === 2, 5000, 'SSE seq 2');
    ws.terminate();
    assert.deepEqual(viaWs.data, data, 'WebSocket copy differs');
    assert.deepEqual(viaSse.data.data, data, 'SSE copy differs');
    assert.deepEqual((await fullHistory(srv, s))[1].data, data, 'history copy differs');
    assert.equal(es.messages.filter((m) => m.data.unparsable).length, 0, 'an SSE block was not valid JSON');
  });

  test('a malformed pattern in ?streams= is refused with 400', { timeout: 10000 }, async () => {
    const r = await request(srv, 'GET', '/v1/sse?streams=ok/one,bad//two');
    assert.equal(r.status, 400, `status ${r.status}: ${r.text.slice(0, 200)}`);
  });
  test('?max_hz= batches events (event: batch), ids resume after the batch with no loss', { timeout: 20000 }, async () => {
    const s = `sse/${uid('hz')}`;
    const es = sse([s], { query: '&max_hz=4' });
    await es.waitFor((m) => m.type === 'subscribed', 5000, 'subscribed');
    const seqsOf = () => es.messages.flatMap((m) => {
      if (m.data.stream !== s) return [];
      if (m.type === 'event') return [m.data.seq];
      if (m.type === 'batch') return m.data.events.map((e) => e.seq);
      return [];
    });
    for (let i = 0; i < 4; i++) await publishOk(srv, s, Array.from({ length: 10 }, (_, j) => ({ i, j })));
    await until(() => seqsOf().length >= 40, 8000, '40 events');
    assertContiguous(seqsOf(), 1, 40, 'coalesced SSE');
    const batch = es.messages.find((m) => m.type === 'batch');
    assert.ok(batch, 'no batch block');
    const last = batch.data.events[batch.data.events.length - 1].seq;
    assert.ok(batch.id.includes(`${s}@${batch.data.epoch}:${last}`), `batch id ${batch.id} does not end at ${last}`);
    // The library reconnects with the id of the last block: nothing twice.
    es.cut();
    await until(() => es.opens >= 2, 5000, 'reconnect');
    await publishOk(srv, s, [{ after: 1 }, { after: 2 }]);
    await until(() => seqsOf().length >= 42, 8000, '42 events');
    await sleep(300);
    assertContiguous(seqsOf(), 1, 42, 'after resume');
  });

  test('a bad ?max_hz= is refused with 400 naming the parameter', { timeout: 10000 }, async () => {
    for (const v of ['0', '-1', 'fast', '1e9']) {
      const r = await request(srv, 'GET', `/v1/sse?streams=ok/one&max_hz=${v}`);
      assert.equal(r.status, 400, `max_hz=${v}: status ${r.status}`);
      assert.match(r.text, /max_hz/);
    }
  });
});
