// `snapshot` messages (keyed-state streams, docs/protocol.md) surface as a
// `snapshot` notification, and `snapshot: true` is sent in the subscribe op.
// The hub does not send snapshots yet (keyed state lands with the schema
// work), so a small WebSocket peer speaks the documented wire format here.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { WebSocketServer } from 'ws';

import { makeClient, until } from './helpers.mjs';

describe('snapshot messages', () => {
  let wss;
  let base;
  const ops = [];
  before(async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/v1/ws' });
    await new Promise((r) => wss.once('listening', r));
    base = `http://127.0.0.1:${wss.address().port}`;
    wss.on('connection', (sock) => {
      sock.on('message', (raw) => {
        const op = JSON.parse(String(raw));
        ops.push(op);
        if (op.op !== 'subscribe') return;
        sock.send(JSON.stringify({ type: 'subscribed', id: op.id, streams: [{ stream: 'state/a', epoch: 'e1', latest_seq: 41 }] }));
        sock.send(JSON.stringify({ type: 'snapshot', stream: 'state/a', epoch: 'e1', seq: 41, generation: 7, state: { k1: { v: 1 } } }));
        sock.send(JSON.stringify({ type: 'event', stream: 'state/a', seq: 42, epoch: 'e1', ts: 1, data: { k1: { v: 2 } } }));
      });
    });
  });
  after(() => new Promise((r) => wss.close(r)));

  test('a snapshot is surfaced before the events after it', async () => {
    const { client, rec } = makeClient(base, { transport: 'ws' });
    const order = [];
    client.on('snapshot', (s) => order.push({ snapshot: s }));
    client.subscribe('state/**', { snapshot: true }, (ev) => order.push({ seq: ev.seq }));
    try {
      await until(() => order.length >= 2, 5000, 'snapshot and event');
      assert.deepEqual(order[0], { snapshot: { stream: 'state/a', epoch: 'e1', seq: 41, generation: 7, state: { k1: { v: 1 } } } });
      assert.deepEqual(order[1], { seq: 42 });
      assert.equal(ops[0].snapshot, true, 'subscribe asked for a snapshot');
      assert.deepEqual(rec.gaps, []);
    } finally {
      client.close();
    }
  });
});
