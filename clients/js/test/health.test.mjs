// Source health reaches the client: a mock source stopped through the
// sources API makes the hub send `health` (stalled, then receiving), which
// the client surfaces as `health` notifications; the events the source
// publishes arrive in order. Also: closing a subscription stops its
// deliveries, and two subscriptions each get only their streams.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { assertStrictlyIncreasing, makeClient, publishOk, request, sleep, startServer, uid, until } from './helpers.mjs';

describe('health and subscriptions', () => {
  let srv;
  const clients = [];
  before(async () => {
    srv = await startServer({
      sources: [
        { id: 'mk', type: 'mock', stall_after_min_s: 1,
          backoff: { initial_s: 0.2, max_s: 0.5 },
          mock: { streams: 1, interval_s: 0.05, batch_size: 2 } },
      ],
    }, { demo: false });
  });
  after(async () => {
    for (const c of clients) c.close();
    await srv?.stop();
  });

  for (const transport of ['ws', 'sse']) {
    test(`source health messages are surfaced over ${transport}`, async () => {
      const { client, rec } = makeClient(srv.base, { transport });
      clients.push(client);
      client.subscribe('mk/**', {}, rec.collect);
      await until(() => rec.seqs('mk/m1').length >= 5, 10000, 'mock events');
      const control = (body) => request(srv, 'POST', '/v1/sources/mk/control', { body: JSON.stringify(body) });
      try {
        assert.equal((await control({ running: false })).status, 200);
        await until(() => rec.health.some((h) => h.state === 'stalled'), 10000, 'health stalled');
      } finally {
        await control({ running: true });
      }
      await until(() => rec.health.some((h) => h.state === 'receiving'), 10000, 'health receiving');
      const h = rec.health.find((x) => x.state === 'stalled');
      assert.equal(h.source, 'mk');
      assert.equal(h.stream, 'mk/m1');
      const n = rec.seqs('mk/m1').length;
      await until(() => rec.seqs('mk/m1').length >= n + 5, 10000, 'events after the restart of the source');
      const seqs = rec.seqs('mk/m1');
      assertStrictlyIncreasing(seqs, 'mock seqs');
      assert.equal(seqs.at(-1) - seqs[0] + 1, seqs.length, 'no hole');
      client.close();
    });
  }

  test('each subscription gets its own streams; a closed one gets nothing more', async () => {
    const a = uid('suba');
    const b = uid('subb');
    const { client, rec } = makeClient(srv.base, { transport: 'ws' });
    clients.push(client);
    const gotA = [];
    const gotB = [];
    const subA = client.subscribe(a, {}, (ev) => gotA.push(ev));
    client.subscribe([b], {}, (ev) => gotB.push(ev));
    await until(() => client.state === 'subscribed', 10000, 'subscribed');
    await publishOk(srv, a, [{ i: 1 }, { i: 2 }]);
    await publishOk(srv, b, [{ i: 1 }, { i: 2 }, { i: 3 }]);
    await until(() => gotA.length >= 2 && gotB.length >= 3, 10000, 'both');
    assert.deepEqual(gotA.map((e) => `${e.stream}:${e.seq}`), [`${a}:1`, `${a}:2`]);
    assert.deepEqual(gotB.map((e) => `${e.stream}:${e.seq}`), [`${b}:1`, `${b}:2`, `${b}:3`]);
    assert.deepEqual(subA.cursor()[a].seq, 2);
    subA.close();
    await sleep(100);
    await publishOk(srv, a, { i: 3 });
    await publishOk(srv, b, { i: 4 });
    await until(() => gotB.length >= 4, 10000, 'b after closing a');
    await sleep(200);
    assert.equal(gotA.length, 2, 'a closed subscription delivers nothing more');
    assert.deepEqual(rec.errors.filter((e) => e.code !== 'disconnected'), []);
    client.close();
  });
});
