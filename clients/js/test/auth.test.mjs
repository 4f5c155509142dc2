// The `token` option: sent as ?token= on WebSocket and SSE URLs and as
// Authorization on fetches, against a hub that requires credentials.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import { makeClient, publish, request, sleep, startServer, uid, until } from './helpers.mjs';

const KEY = `lh_js_${Math.random().toString(36).slice(2)}`;

describe('token option', () => {
  let srv;
  const clients = [];
  before(async () => {
    srv = await startServer({
      auth: {
        api_keys: [{ name: 'js', sha256: createHash('sha256').update(KEY).digest('hex'), subscribe: ['js/**'], publish: ['js/**'] }],
      },
    }, { demo: false });
  });
  after(async () => {
    for (const c of clients) c.close();
    await srv?.stop();
  });

  const pub = async (stream, body) => {
    const r = await request(srv, 'POST', `/v1/publish/${stream}`, {
      body: JSON.stringify(body), contentType: 'application/json', headers: { authorization: `Bearer ${KEY}` },
    });
    assert.equal(r.status, 200, r.text);
  };

  for (const transport of ['ws', 'sse']) {
    test(`subscribes with a token over ${transport}`, async () => {
      const stream = uid(`js/${transport}`);
      await pub(stream, { i: 0 });
      const { client, rec } = makeClient(srv.base, { transport, token: () => KEY });
      clients.push(client);
      client.subscribe(['js/**'], {}, rec.collect);
      await until(() => client.state === 'subscribed' || client.state === 'receiving', 10000, 'subscribed');
      await sleep(100);
      for (let i = 1; i <= 5; i++) await pub(stream, { i });
      await until(() => rec.seqs(stream).length >= 5, 10000, `5 events over ${transport}`);
      assert.deepEqual(rec.events.filter((e) => e.stream === stream).map((e) => e.data.i), [1, 2, 3, 4, 5]);
      client.close();
    });
  }

  test('without the token the hub refuses the connection', async () => {
    const r = await publish(srv, uid('js/x'), { a: 1 });
    assert.equal(r.status, 401);
    const { client, rec } = makeClient(srv.base, { transport: 'ws' });
    clients.push(client);
    client.subscribe(['js/**'], {}, rec.collect);
    await sleep(1000);
    assert.notEqual(client.state, 'subscribed');
    assert.notEqual(client.state, 'receiving');
    client.close();
  });
});
