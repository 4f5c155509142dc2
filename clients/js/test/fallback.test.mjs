// SSE fallback: behind a proxy that refuses WebSocket upgrades (403), an
// 'auto' client switches to SSE and receives events; once the proxy lets
// upgrades through, the client moves back to WebSocket on its next retry,
// with no loss and no duplicate across the switch.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';

import { assertContiguous, makeClient, publishOk, sleep, startServer, uid, until } from './helpers.mjs';

// An HTTP proxy on 127.0.0.1 in front of the hub: plain requests (SSE,
// history) are forwarded; upgrades are refused unless `allowUpgrades`.
function startProxy(hubPort) {
  const state = { allowUpgrades: false, refused: 0, upgraded: 0 };
  const server = http.createServer((req, res) => {
    const up = http.request({ host: '127.0.0.1', port: hubPort, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
    res.on('close', () => up.destroy());
  });
  server.on('upgrade', (req, sock, head) => {
    if (!state.allowUpgrades) {
      state.refused += 1;
      sock.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    state.upgraded += 1;
    const hub = net.connect(hubPort, '127.0.0.1', () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      hub.write(lines.join('\r\n') + '\r\n\r\n');
      if (head.length) hub.write(head);
      sock.pipe(hub).pipe(sock);
    });
    hub.on('error', () => sock.destroy());
    sock.on('error', () => hub.destroy());
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      state.port = server.address().port;
      state.base = `http://127.0.0.1:${state.port}`;
      state.close = () => new Promise((r) => { server.closeAllConnections(); server.close(r); });
      resolve(state);
    });
  });
}

describe('SSE fallback', () => {
  let srv;
  let proxy;
  const clients = [];
  before(async () => {
    srv = await startServer({}, { demo: false });
    proxy = await startProxy(srv.port);
  });
  after(async () => {
    for (const c of clients) c.close();
    await proxy?.close();
    await srv?.stop();
  });

  test('falls back to SSE when the upgrade is refused, and returns to WebSocket later', async () => {
    const stream = uid('fb');
    await publishOk(srv, stream, { i: 0 });
    const { client, rec } = makeClient(proxy.base, { transport: 'auto', wsRetryMs: 800 });
    clients.push(client);
    client.subscribe(stream, {}, rec.collect);
    await until(() => client.transport === 'sse' && client.state === 'subscribed', 10000, 'subscribed over SSE');
    assert.ok(proxy.refused >= 1, 'the WebSocket upgrade was tried first');
    assert.ok(client.stats.fallbacks >= 1);
    for (let i = 1; i <= 20; i++) await publishOk(srv, stream, { i });
    await until(() => rec.seqs(stream).length >= 20, 10000, '20 events over SSE');
    assert.equal(client.transport, 'sse');
    await sleep(1000); // a probe or two is refused meanwhile; SSE goes on
    assert.equal(client.transport, 'sse');

    proxy.allowUpgrades = true;
    // Publishing goes on while the client switches.
    let n = 21;
    const deadline = Date.now() + 15000;
    while (client.transport !== 'ws' && Date.now() < deadline) {
      await publishOk(srv, stream, { i: n++ });
      await sleep(20);
    }
    assert.equal(client.transport, 'ws', 'moved back to WebSocket');
    assert.ok(proxy.upgraded >= 1);
    for (let k = 0; k < 20; k++) await publishOk(srv, stream, { i: n++ });
    const last = n; // seq = i + 1 (seq 1 was i 0)
    await until(() => rec.seqs(stream).at(-1) === last, 10000, `seq ${last}`);
    await sleep(200);
    assertContiguous(rec.seqs(stream), 2, last, 'seqs across SSE -> WebSocket');
    assert.deepEqual(rec.transports, ['sse', 'ws']);
    assert.deepEqual(rec.gaps, []);
    assert.deepEqual(rec.backfills, [], 'the switch resumed from the cursors: nothing to backfill');
    client.close();
  });
});
