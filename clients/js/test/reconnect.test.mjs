// Reconnect and resume: the hub is stopped and restarted on the same port
// and data directory while a publisher keeps publishing; the client
// delivers every acknowledged event exactly once, in order. With the store
// disabled the restart starts a new epoch: the client reports it and
// follows the stream from its new start.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {
  assertContiguous, assertStrictlyIncreasing, freePort, makeClient, publish, publishOk, sleep, startServer, status, uid, until,
} from './helpers.mjs';

// Publishes one event every `pauseMs` until stopped, riding out the restart:
// a refused publish is simply not counted (nothing was appended).
function startPublisher(getServer, stream, pauseMs = 10) {
  const st = { acked: 0, failed: 0, stop: false };
  st.done = (async () => {
    for (let i = 0; i < 5000 && !st.stop; i++) {
      try {
        const r = await publish(getServer(), stream, { i });
        if (r.status === 200) st.acked += 1; else st.failed += 1;
      } catch {
        st.failed += 1;
      }
      await sleep(pauseMs);
    }
  })();
  return st;
}

describe('reconnect', () => {
  const dirs = [];
  const servers = [];
  const clients = [];
  after(async () => {
    for (const c of clients) c.close();
    for (const s of servers) await s.stop().catch(() => {});
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  async function start(port, dataDir, config = {}) {
    const s = await startServer(config, { demo: false, dataDir, extraArgs: ['--listen', `127.0.0.1:${port}`] });
    servers.push(s);
    assert.equal(s.port, port, 'the hub should listen on the fixed port');
    return s;
  }

  for (const transport of ['ws', 'sse']) {
    test(`resumes over ${transport} after a restart with no loss and no duplicate`, async () => {
      const port = await freePort();
      const dataDir = mkdtempSync(path.join(os.tmpdir(), 'livehub-js-'));
      dirs.push(dataDir);
      let srv = await start(port, dataDir);
      const stream = uid('re/s');
      const { epoch } = await publishOk(srv, stream, { i: 'first' });
      const { client, rec } = makeClient(srv.base, { transport });
      clients.push(client);
      client.subscribe('re/**', {}, rec.collect);
      await until(() => client.state === 'subscribed', 10000, 'subscribed');
      const pub = startPublisher(() => srv, stream);
      await until(() => rec.seqs(stream).length >= 30, 10000, '30 events before the restart');
      await srv.stop();
      await until(() => client.state === 'disconnected' || client.state === 'connecting', 5000, 'disconnect noticed');
      await sleep(300); // publishes fail meanwhile
      srv = await start(port, dataDir);
      await until(() => client.state === 'receiving', 15000, 'receiving after the restart');
      const before = rec.seqs(stream).length;
      await until(() => rec.seqs(stream).length >= before + 30, 15000, '30 events after the restart');
      pub.stop = true;
      await pub.done;
      const st = await status(srv, stream);
      assert.equal(st.status, 200);
      assert.equal(st.json.epoch, epoch, 'the store keeps the epoch across a clean restart');
      const last = st.json.latest_seq;
      await until(() => rec.seqs(stream).at(-1) === last, 10000, `seq ${last}`);
      await sleep(200);
      assertContiguous(rec.seqs(stream), 2, last, `${transport} seqs across the restart`);
      assert.ok(last - 1 >= pub.acked, `every acknowledged publish delivered (${pub.acked} acked, last seq ${last})`);
      assert.ok(client.stats.reconnects >= 1);
      assert.deepEqual(rec.gaps, []);
      assert.deepEqual(rec.epochs, []);
      assert.deepEqual(rec.backfills, [], 'the resume itself was complete: nothing to backfill');
      assert.ok(rec.states.includes('disconnected') && rec.states.at(-1) === 'receiving', `states ${rec.states}`);
      client.close();
      await srv.stop();
    });
  }

  for (const transport of ['ws', 'sse']) {
    test(`an epoch change after an in-memory restart is reported and followed over ${transport}`, async () => {
      const port = await freePort();
      const dataDir = mkdtempSync(path.join(os.tmpdir(), 'livehub-js-'));
      dirs.push(dataDir);
      const cfg = { store: { enabled: false } };
      let srv = await start(port, dataDir, cfg);
      const stream = uid('ep/s');
      const { epoch: oldEpoch } = await publishOk(srv, stream, { i: 1 });
      const { client, rec } = makeClient(srv.base, { transport });
      clients.push(client);
      const sub = client.subscribe('ep/**', {}, rec.collect);
      await until(() => client.state === 'subscribed', 10000, 'subscribed');
      for (let i = 2; i <= 5; i++) await publishOk(srv, stream, { i });
      await until(() => rec.seqs(stream).length >= 4, 10000, 'seqs 2..5');
      await srv.stop();
      srv = await start(port, dataDir, cfg);
      // Published before the client is back: it resubscribes with the old
      // epoch, the hub answers with the new one.
      const { epoch: newEpoch } = await publishOk(srv, stream, [{ i: 'n1' }, { i: 'n2' }]);
      assert.notEqual(newEpoch, oldEpoch);
      await until(() => rec.epochs.length >= 1, 15000, 'epoch notice');
      await publishOk(srv, stream, { i: 'n3' });
      await until(() => rec.events.filter((e) => e.epoch === newEpoch).length >= 3, 10000, 'new-epoch events');
      await sleep(200);
      assert.deepEqual(rec.epochs, [{ stream, previousEpoch: oldEpoch, epoch: newEpoch, lastSeq: 5 }]);
      assert.deepEqual(rec.events.filter((e) => e.epoch === oldEpoch).map((e) => e.seq), [2, 3, 4, 5]);
      assert.deepEqual(rec.events.filter((e) => e.epoch === newEpoch).map((e) => e.seq), [1, 2, 3]);
      assertStrictlyIncreasing(rec.events.filter((e) => e.epoch === newEpoch).map((e) => e.seq));
      assert.deepEqual(sub.cursor(), { [stream]: { epoch: newEpoch, seq: 3 } });
      client.close();
      await srv.stop();
    });
  }
});
