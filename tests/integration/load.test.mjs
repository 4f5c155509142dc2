// 1,000 concurrent WebSocket subscribers on one stream, opened in batches;
// each must receive every one of 100 events, in order.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  assertContiguous, metricSum, publishOk, request, startServer, uid, until, WsClient,
} from './harness.mjs';

const SUBSCRIBERS = 1000;
const EVENTS = 100;
const BATCH = 100;

describe('load', () => {
  let srv;
  const clients = [];

  before(async () => { srv = await startServer({}); });
  after(async () => {
    for (const c of clients) c.terminate();
    await srv?.stop();
  });

  test(`${SUBSCRIBERS} WebSocket subscribers each receive all ${EVENTS} events in order`, { timeout: 90000 }, async () => {
    const s = `load/${uid('k')}`;
    const t0 = Date.now();
    for (let b = 0; b < SUBSCRIBERS / BATCH; b++) {
      const batch = await Promise.all(Array.from({ length: BATCH }, () => WsClient.connect(srv, { timeoutMs: 20000 })));
      clients.push(...batch);
      await Promise.all(batch.map((c) => c.subscribe([s], {}, 20000)));
    }
    const tOpen = Date.now() - t0;
    assert.equal(clients.length, SUBSCRIBERS);
    const conns = await metricSum(srv, 'livehub_connections');
    assert.ok(conns >= SUBSCRIBERS, `livehub_connections is ${conns} with ${SUBSCRIBERS} sockets open`);

    for (let k = 0; k < EVENTS / 5; k++) {
      await publishOk(srv, s, Array.from({ length: 5 }, (_, j) => ({ k, j })));
    }
    const t1 = Date.now();
    await Promise.all(clients.map((c) => c.waitFor((m) => m.type === 'event' && m.seq === EVENTS, 60000, { what: `seq ${EVENTS}` })));
    const tDeliver = Date.now() - t1;
    for (const [i, c] of clients.entries()) {
      assertContiguous(c.events(s).map((e) => e.seq), 1, EVENTS, `subscriber ${i}`);
      assert.equal(c.closed, null, `subscriber ${i} was closed`);
    }
    // Timing for the report (not asserted beyond the test timeout).
    console.log(`# load: opened ${SUBSCRIBERS} subscribers in ${tOpen} ms; delivered ${EVENTS} events to all in ${tDeliver} ms`);

    for (const c of clients) c.terminate();
    await until(async () => (await metricSum(srv, 'livehub_connections')) === 0, 15000, 'livehub_connections back to 0 after closing all');
  });
});

describe('limits.max_connections', () => {
  let srv;
  const clients = [];
  before(async () => { srv = await startServer({ limits: { max_connections: 5 } }); });
  after(async () => {
    for (const c of clients) c.terminate();
    await srv?.stop();
  });

  test('subscriber connections beyond the limit are refused; a freed slot can be reused', { timeout: 20000 }, async () => {
    for (let i = 0; i < 5; i++) clients.push(await WsClient.connect(srv));
    await assert.rejects(WsClient.connect(srv), /refused|HTTP|closed|socket hang up/i, 'a 6th WebSocket was accepted');
    const sse = await request(srv, 'GET', '/v1/sse?streams=lim/x');
    assert.ok(sse.status >= 400, `a 6th (SSE) connection got HTTP ${sse.status}`);
    // Plain HTTP is not a subscriber connection and keeps working.
    assert.equal((await request(srv, 'GET', '/healthz')).status, 200);
    // Every admitted connection still works.
    for (const c of clients) assert.equal((await c.request({ op: 'ping' })).type, 'pong');
    clients.shift().terminate();
    await until(async () => {
      try { clients.push(await WsClient.connect(srv)); return true; } catch { return false; }
    }, 5000, 'a slot to free up');
    assert.equal(clients.length, 5);
  });
});
