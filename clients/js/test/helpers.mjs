// Shared helpers of the clients/js tests: the integration harness (a real
// livehub binary), the client built in ../dist, and Node's stand-ins for the
// browser's WebSocket / EventSource (the `ws` and `eventsource` packages).

import { createRequire } from 'node:module';
import net from 'node:net';

import WebSocket from 'ws';

export * from '../../../tests/integration/harness.mjs';
export { LivehubClient, StreamTracker } from '../dist/index.js';
import { LivehubClient } from '../dist/index.js';

const require = createRequire(import.meta.url);
export const EventSource = require('eventsource');
export { WebSocket };

// A free TCP port on 127.0.0.1 (for restarting a hub on the same port).
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// A client wired for Node, recording what it delivers and notifies.
export function makeClient(url, opts = {}) {
  const client = new LivehubClient({
    url,
    WebSocket,
    EventSource,
    fetch: (u, init) => fetch(u, { ...init, signal: AbortSignal.timeout(10000) }),
    backoff: { initialMs: 100, maxMs: 1000 },
    stallAfterMs: 5000,
    ...opts,
  });
  const rec = { events: [], gaps: [], epochs: [], backfills: [], states: [], transports: [], errors: [], health: [] };
  client.on('state', (s) => rec.states.push(s));
  client.on('transport', (t) => rec.transports.push(t));
  client.on('gap', (g) => rec.gaps.push(g));
  client.on('epoch', (e) => rec.epochs.push(e));
  client.on('backfill', (b) => rec.backfills.push(b));
  client.on('error', (e) => rec.errors.push(e));
  client.on('health', (h) => rec.health.push(h));
  rec.collect = (ev) => rec.events.push(ev);
  rec.seqs = (stream) => rec.events.filter((e) => e.stream === stream).map((e) => e.seq);
  return { client, rec };
}

// Throws unless `seqs` has no duplicate and is strictly increasing.
export function assertStrictlyIncreasing(seqs, label = 'seqs') {
  for (let i = 1; i < seqs.length; i++) {
    if (seqs[i] <= seqs[i - 1]) throw new Error(`${label}: seq ${seqs[i]} after ${seqs[i - 1]} at index ${i}`);
  }
}
