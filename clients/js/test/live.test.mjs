// Live delivery over WebSocket and SSE, max_hz batches unpacked in order,
// connection states (subscribed -> receiving -> stalled -> receiving).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { assertContiguous, makeClient, publishOk, sleep, startServer, uid, until } from './helpers.mjs';

describe('live delivery', () => {
  let srv;
  const clients = [];
  before(async () => { srv = await startServer({}, { demo: false }); });
  after(async () => {
    for (const c of clients) c.close();
    await srv?.stop();
  });

  for (const transport of ['ws', 'sse']) {
    test(`delivers every event in order over ${transport}`, async () => {
      const stream = uid(`live/${transport}`);
      await publishOk(srv, stream, { i: 0 }); // exists before subscribing: starts live after seq 1
      const { client, rec } = makeClient(srv.base, { transport });
      clients.push(client);
      client.subscribe(['live/**'], {}, rec.collect);
      await until(() => client.state === 'subscribed' || client.state === 'receiving', 10000, 'subscribed');
      assert.equal(client.transport, transport);
      await sleep(100);
      for (let i = 1; i <= 60; i++) await publishOk(srv, stream, { i });
      await publishOk(srv, stream, Array.from({ length: 140 }, (_, k) => ({ i: 61 + k })));
      await until(() => rec.seqs(stream).length >= 200, 15000, `200 events over ${transport}`);
      await sleep(100);
      assertContiguous(rec.seqs(stream), 2, 201, `${transport} seqs`);
      const evs = rec.events.filter((e) => e.stream === stream);
      assert.deepEqual(evs.map((e) => e.data.i), Array.from({ length: 200 }, (_, k) => k + 1));
      assert.ok(evs.every((e) => typeof e.epoch === 'string' && e.epoch && e.ts > 0));
      assert.equal(client.state, 'receiving');
      assert.ok(client.lastUpdateAgeMs() < 10000);
      assert.deepEqual(rec.gaps, []);
      client.close();
      assert.equal(client.state, 'disconnected');
    });
  }

  for (const transport of ['ws', 'sse']) {
    test(`maxHz batches are unpacked in order over ${transport}`, async () => {
      const stream = uid('hz');
      await publishOk(srv, stream, { i: 0 });
      const { client, rec } = makeClient(srv.base, { transport });
      clients.push(client);
      client.subscribe(stream, { maxHz: 4 }, rec.collect);
      await until(() => client.state === 'subscribed', 10000, 'subscribed');
      await sleep(100);
      for (let i = 1; i <= 80; i++) await publishOk(srv, stream, { i });
      await until(() => rec.seqs(stream).length >= 80, 15000, '80 coalesced events');
      assertContiguous(rec.seqs(stream), 2, 81, 'coalesced seqs');
      assert.ok(client.stats.batches >= 1, `expected batch messages, got ${JSON.stringify(client.stats)}`);
      assert.ok(client.stats.messages < 80, `coalescing should need fewer messages than events: ${JSON.stringify(client.stats)}`);
      client.close();
    });
  }

  test('state goes stalled when the hub is silent and back to receiving', async () => {
    const stream = uid('stall');
    const { client, rec } = makeClient(srv.base, { transport: 'ws', stallAfterMs: 400 });
    clients.push(client);
    client.subscribe(stream, {}, rec.collect);
    await until(() => client.state === 'subscribed', 10000, 'subscribed');
    await publishOk(srv, stream, { i: 1 });
    await until(() => client.state === 'receiving', 5000, 'receiving');
    await until(() => client.state === 'stalled', 5000, 'stalled');
    assert.ok(client.lastUpdateAgeMs() >= 400, `age ${client.lastUpdateAgeMs()}`);
    await publishOk(srv, stream, { i: 2 });
    await until(() => client.state === 'receiving', 5000, 'receiving again');
    assert.deepEqual(rec.seqs(stream), [1, 2]);
    const i = rec.states.indexOf('stalled');
    assert.ok(i > 0 && rec.states.slice(i + 1).includes('receiving'), `states ${rec.states}`);
    client.close();
  });
});
