// Write pacing (subscribers.write_delay_ms): a connection that wrote less
// than the delay ago waits, so a burst of events leaves in a few gathered
// writes; after a quiet period an event goes out at once. Nothing is lost or
// reordered either way.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  assertContiguous, metricSum, publishOk, sleep, SseClient, startServer, uid, WsClient,
} from './harness.mjs';

describe('write pacing', () => {
  let srv;
  const clients = [];
  const DELAY_MS = 1000;  // large, so "waited" and "went at once" cannot be confused on a slow machine

  before(async () => { srv = await startServer({ subscribers: { write_delay_ms: DELAY_MS } }); });
  after(async () => {
    for (const c of clients) c.terminate();
    await srv?.stop();
  });

  test('a burst of 40 single-event publishes reaches the subscriber in a few writes, in order', { timeout: 20000 }, async () => {
    const s = `pace/${uid('burst')}`;
    const c = await WsClient.connect(srv); clients.push(c);
    await c.subscribe([s]);
    await sleep(DELAY_MS + 200);  // the `subscribed` reply is older than the delay
    const writes0 = await metricSum(srv, 'livehub_socket_writes_total');
    const paced0 = await metricSum(srv, 'livehub_socket_writes_paced_total');
    for (let i = 1; i <= 40; i++) await publishOk(srv, s, { i });
    await c.waitFor((m) => m.type === 'event' && m.stream === s && m.seq === 40, 10000, { what: 'seq 40' });
    assertContiguous(c.events(s).map((e) => e.seq), 1, 40, 'paced subscriber');
    assert.deepEqual(c.events(s).map((e) => e.data.i), Array.from({ length: 40 }, (_, k) => k + 1));
    const writes = (await metricSum(srv, 'livehub_socket_writes_total')) - writes0;
    const paced = (await metricSum(srv, 'livehub_socket_writes_paced_total')) - paced0;
    // The first event goes at once; the rest wait for the delay and go
    // together (40 publishes take far less than a second even under ASan).
    assert.ok(writes >= 2 && writes <= 6, `40 events took ${writes} socket writes`);
    assert.ok(paced >= 1, `no write was paced (${paced})`);
  });

  test('an event after a quiet period is written at once, not after the delay', { timeout: 20000 }, async () => {
    const s = `pace/${uid('quiet')}`;
    const c = await WsClient.connect(srv); clients.push(c);
    await c.subscribe([s]);
    await publishOk(srv, s, { i: 1 });
    await c.waitFor((m) => m.type === 'event' && m.stream === s && m.seq === 1, 5000);
    await sleep(DELAY_MS + 500);
    const t0 = Date.now();
    await publishOk(srv, s, { i: 2 });
    await c.waitFor((m) => m.type === 'event' && m.stream === s && m.seq === 2, 5000);
    const took = Date.now() - t0;
    assert.ok(took < DELAY_MS / 2, `the event after a quiet second took ${took} ms`);
  });

  test('the first event after a `subscribed` reply is written at once: a reply does not start the delay', { timeout: 20000 }, async () => {
    const s = `pace/${uid('reply')}`;
    const c = await WsClient.connect(srv); clients.push(c);
    await c.subscribe([s]);  // the reply was written just now
    const t0 = Date.now();
    await publishOk(srv, s, { i: 1 });
    await c.waitFor((m) => m.type === 'event' && m.stream === s && m.seq === 1, 5000, { what: 'seq 1' });
    const took = Date.now() - t0;
    assert.ok(took < DELAY_MS / 2, `the first event after subscribing took ${took} ms`);
    // Events still pace each other: a second one within the delay waits.
    const paced0 = await metricSum(srv, 'livehub_socket_writes_paced_total');
    await publishOk(srv, s, { i: 2 });
    await c.waitFor((m) => m.type === 'event' && m.stream === s && m.seq === 2, 5000, { what: 'seq 2' });
    assert.ok((await metricSum(srv, 'livehub_socket_writes_paced_total')) > paced0, 'seq 2 was not paced');
  });

  test('a full batch already queued is written at once, not held for the delay', { timeout: 20000 }, async () => {
    const s = `pace/${uid('full')}`;
    const c = await WsClient.connect(srv); clients.push(c);
    await c.subscribe([s]);
    await sleep(DELAY_MS + 200);
    await publishOk(srv, s, { i: 0 });
    await c.waitFor((m) => m.type === 'event' && m.stream === s && m.seq === 1, 5000, { what: 'seq 1' });
    // A write has just started, so a small batch would wait ~DELAY_MS; 48 x
    // 8 KB is more than one write's worth (256 KiB) and must not wait.
    const pad = 'x'.repeat(8000);
    const t0 = Date.now();
    await publishOk(srv, s, Array.from({ length: 48 }, (_, k) => ({ i: k + 1, pad })));
    await c.waitFor((m) => m.type === 'event' && m.stream === s && m.seq === 2, 5000, { what: 'seq 2' });
    const took = Date.now() - t0;
    assert.ok(took < DELAY_MS / 2, `the first event of a 384 KB burst took ${took} ms`);
    await c.waitFor((m) => m.type === 'event' && m.stream === s && m.seq === 49, 10000, { what: 'seq 49' });
    assertContiguous(c.events(s).map((e) => e.seq), 1, 49, 'burst subscriber');
    assert.deepEqual(c.events(s).map((e) => e.data.i), Array.from({ length: 49 }, (_, k) => k));
  });

  test('a connection already waiting with a small batch writes at once when a burst fills it', { timeout: 20000 }, async () => {
    const s = `pace/${uid('fill')}`;
    const c = await WsClient.connect(srv); clients.push(c);
    await c.subscribe([s]);
    await sleep(DELAY_MS + 200);
    await publishOk(srv, s, { i: 0 });  // quiet: written at once
    await c.waitFor((m) => m.type === 'event' && m.stream === s && m.seq === 1, 5000, { what: 'seq 1' });
    const paced0 = await metricSum(srv, 'livehub_socket_writes_paced_total');
    await publishOk(srv, s, { i: 1 });  // within the delay: held, the connection paced
    for (let k = 0; k < 50; k++) {
      if ((await metricSum(srv, 'livehub_socket_writes_paced_total')) > paced0) break;
      await sleep(10);
    }
    assert.ok((await metricSum(srv, 'livehub_socket_writes_paced_total')) > paced0, 'seq 2 was not held');
    assert.equal(c.events(s).length, 1, 'seq 2 went out before the delay');
    // 48 x 8 KB make the waiting batch more than one write's worth (256 KiB).
    const pad = 'x'.repeat(8000);
    const t0 = Date.now();
    await publishOk(srv, s, Array.from({ length: 48 }, (_, k) => ({ i: k + 2, pad })));
    await c.waitFor((m) => m.type === 'event' && m.stream === s && m.seq === 3, 5000, { what: 'seq 3' });
    const took = Date.now() - t0;
    assert.ok(took < DELAY_MS / 2, `the burst that filled a held batch waited ${took} ms`);
    await c.waitFor((m) => m.type === 'event' && m.stream === s && m.seq === 50, 10000, { what: 'seq 50' });
    assertContiguous(c.events(s).map((e) => e.seq), 1, 50, 'filled subscriber');
    assert.deepEqual(c.events(s).map((e) => e.data.i), Array.from({ length: 50 }, (_, k) => k));
  });

  test('an SSE subscriber (EventSource) is paced the same way and loses nothing', { timeout: 20000 }, async () => {
    const s = `pace/${uid('sse')}`;
    const c = SseClient.open(srv, [s]);
    try {
      await c.waitFor((m) => m.type === 'subscribed', 5000, 'subscribed');
      for (let i = 1; i <= 30; i++) await publishOk(srv, s, { i });
      await c.waitFor((m) => m.type === 'event' && m.data.seq === 30, 10000, 'seq 30');
      assertContiguous(c.events(s).map((m) => m.data.seq), 1, 30, 'paced SSE subscriber');
    } finally {
      c.close();
    }
  });
});
