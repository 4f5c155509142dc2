// Durable streams: restart with old cursors (WS and SSE), kill -9 with `sync`
// publishers (every acknowledged event survives, exactly once, no holes),
// a new epoch for `async` streams after a crash, history and resume from the
// store beyond memory, store retention, a full store (503, then recovery),
// a damaged store refused at start, and the store tools.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {
  assertContiguous, BIN, fullHistory, history, metricSum, publish, publishOk, request, sleep, SseClient,
  startServer, uid, until, WsClient,
} from './harness.mjs';

const dirs = [];
function dataDir() {
  const d = mkdtempSync(path.join(os.tmpdir(), 'livehub-store-it-'));
  dirs.push(d);
  return d;
}
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function runBin(args, input) {
  return new Promise((resolve) => {
    const p = spawn(BIN, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c) => { out += c; });
    p.stderr.on('data', (c) => { err += c; });
    const t = setTimeout(() => p.kill('SIGKILL'), 20000);
    p.on('exit', (code) => { clearTimeout(t); resolve({ code, out, err }); });
    p.stdin.end(input ?? '');
  });
}

describe('store: restart', () => {
  test('a WS and an SSE client resume across a restart with their old cursors: no loss, no duplicate', { timeout: 60000 }, async () => {
    const dir = dataDir();
    const s = `dur/${uid('restart')}`;
    let srv = await startServer({}, { dataDir: dir });
    await publishOk(srv, s, Array.from({ length: 50 }, (_, i) => ({ i: i + 1 })));
    const { epoch } = (await request(srv, 'GET', `/v1/status/${s}`)).json;
    const stop = await srv.stop();
    assert.equal(stop.code, 0);

    srv = await startServer({}, { dataDir: dir });
    try {
      const st = (await request(srv, 'GET', `/v1/status/${s}`)).json;
      assert.equal(st.epoch, epoch, 'a clean restart keeps the epoch');
      assert.equal(st.latest_seq, 50, 'the watermark came back');
      const ws = await WsClient.connect(srv);
      const sub = await ws.subscribe([s], { from: { [s]: { epoch, seq: 30 } } });
      assert.equal(sub.streams[0].epoch, epoch);
      const es = SseClient.open(srv, [s], { lastEventId: `${s}@${epoch}:30` });
      try {
        await es.waitFor((m) => m.type === 'event' && m.data.seq === 50, 8000, 'SSE seq 50');
        await ws.waitFor((m) => m.type === 'event' && m.seq === 50, 8000, { what: 'WS seq 50' });
        const ack = await publishOk(srv, s, { i: 51 });
        assert.equal(ack.first_seq, 51, 'seqs continue where they stopped');
        await ws.waitFor((m) => m.type === 'event' && m.seq === 51, 5000, { what: 'WS live 51' });
        await es.waitFor((m) => m.type === 'event' && m.data.seq === 51, 5000, 'SSE live 51');
        assertContiguous(ws.events(s).map((e) => e.seq), 31, 51, 'WS after restart');
        assertContiguous(es.events(s).map((e) => e.data.seq), 31, 51, 'SSE after restart');
        assert.deepEqual(ws.events(s)[0].data, { i: 31 });
        assert.equal(ws.messages.filter((m) => m.type === 'gap').length, 0);
      } finally {
        ws.terminate();
        es.close();
      }
    } finally {
      await srv.stop();
    }
  });

  test('after kill -9 an async stream starts a new epoch and an old cursor gets epoch_changed', { timeout: 60000 }, async () => {
    const dir = dataDir();
    const s = `dur/${uid('crash-async')}`;
    let srv = await startServer({}, { dataDir: dir });
    await publishOk(srv, s, [{ a: 1 }, { a: 2 }, { a: 3 }]);
    const { epoch } = (await request(srv, 'GET', `/v1/status/${s}`)).json;
    await sleep(300);  // well past the async commit window
    await srv.crash();
    srv = await startServer({}, { dataDir: dir });
    try {
      const st = (await request(srv, 'GET', `/v1/status/${s}`)).json;
      assert.notEqual(st.epoch, epoch, 'same epoch after a crash of an async stream');
      assert.equal(st.latest_seq, 3, 'committed events are kept');
      const ws = await WsClient.connect(srv);
      await ws.subscribe([s], { from: { [s]: { epoch, seq: 2 } } });
      const gap = await ws.waitFor((m) => m.type === 'gap', 5000, { what: 'epoch_changed gap' });
      assert.equal(gap.reason, 'epoch_changed');
      await ws.waitFor((m) => m.type === 'event' && m.seq === 3, 5000, { what: 'replay of the new epoch' });
      ws.terminate();
    } finally {
      await srv.stop();
    }
  });

  test('kill -9 during sync publishing, many times: every acknowledged event is there exactly once, no holes', { timeout: 240000 }, async () => {
    const dir = dataDir();
    const s = 'sync/crashloop';
    const config = { streams: [{ pattern: 'sync/**', durability: 'sync' }] };
    const acked = new Map();  // seq -> data.k
    let epoch;
    for (let round = 0; round < 6; round++) {
      const srv = await startServer(config, { dataDir: dir });
      const st = await request(srv, 'GET', `/v1/status/${s}`);
      if (st.status === 200) {
        if (epoch) assert.equal(st.json.epoch, epoch, 'a sync stream keeps its epoch across a crash');
        epoch = st.json.epoch;
      }
      let stop = false;
      const publisher = async (p) => {
        for (let i = 0; !stop && i < 100000; i++) {
          const k = `${round}-${p}-${i}`;
          try {
            const r = await publish(srv, s, { k });
            if (r.status === 200) {
              acked.set(r.json.first_seq, k);
              epoch = r.json.epoch;
            }
          } catch { return; }  // the hub is gone
        }
      };
      const pubs = [0, 1, 2, 3].map(publisher);
      await sleep(150 + Math.floor(Math.random() * 350));
      await srv.crash();
      stop = true;
      await Promise.all(pubs);
    }
    const srv = await startServer(config, { dataDir: dir });
    try {
      const events = await fullHistory(srv, s);
      assert.ok(acked.size > 50, `only ${acked.size} acknowledged publishes in 6 rounds`);
      assertContiguous(events.map((e) => e.seq), 1, events.length, 'stored seqs');
      const bySeq = new Map(events.map((e) => [e.seq, e.data.k]));
      for (const [seq, k] of acked) assert.equal(bySeq.get(seq), k, `acknowledged seq ${seq} lost or changed`);
      const ks = events.map((e) => e.data.k);
      assert.equal(new Set(ks).size, ks.length, 'an event is stored twice');
    } finally {
      await srv.stop();
    }
  });
});

describe('store: history beyond memory', () => {
  let srv;
  before(async () => {
    srv = await startServer({
      history: { max_events: 10 },
      streams: [{ pattern: 'ret/**', retention: { max_events: 20 } }],
    });
  });
  after(async () => { await srv?.stop(); });

  test('history and WS resume read the store once memory no longer holds the range', { timeout: 30000 }, async () => {
    const s = `deep/${uid('deep')}`;
    for (let b = 0; b < 10; b++) await publishOk(srv, s, Array.from({ length: 20 }, (_, i) => ({ n: b * 20 + i + 1 })));
    const first = await history(srv, s, 1, 50);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.events.length, 50);
    assert.equal(first.json.has_more, true);
    const all = await fullHistory(srv, s, 1, 64);
    assertContiguous(all.map((e) => e.seq), 1, 200, 'history from store + memory');
    assert.deepEqual(all.map((e) => e.data.n), Array.from({ length: 200 }, (_, i) => i + 1));
    const ws = await WsClient.connect(srv);
    const { epoch } = first.json;
    await ws.subscribe([s], { from: { [s]: { epoch, seq: 5 } } });
    await ws.waitFor((m) => m.type === 'event' && m.seq === 200, 10000, { what: 'seq 200' });
    assertContiguous(ws.events(s).map((e) => e.seq), 6, 200, 'resume from the store');
    assert.equal(ws.messages.filter((m) => m.type === 'gap').length, 0, 'a gap although the store held the range');
    ws.terminate();
  });

  test('store retention by count: older seqs are 410 with the oldest stored seq', { timeout: 30000 }, async () => {
    const s = `ret/${uid('count')}`;
    await publishOk(srv, s, Array.from({ length: 100 }, (_, i) => ({ n: i + 1 })));
    let r;
    await until(async () => {
      r = await history(srv, s, 1, 10);
      return r.status === 410;
    }, 5000, 'retention to delete the oldest events');
    assert.equal(r.json.error.oldest_seq ?? r.json.oldest_seq, 81, r.text);
    const kept = await fullHistory(srv, s, 81);
    assertContiguous(kept.map((e) => e.seq), 81, 100, 'kept by retention');
  });
});

describe('store: faults', () => {
  test('a full store answers 503 store_unavailable with Retry-After, then recovers without losing what it accepted', { timeout: 90000 }, async () => {
    const srv = await startServer({
      store: { max_db_bytes: 1048576 },
      history: { max_events: 10 },
      streams: [{ pattern: 'full/**', retention: { max_events: 100 } }],
    });
    try {
      const s = `full/${uid('disk')}`;
      const pad = 'x'.repeat(4000);
      let refused;
      const accepted = [];
      for (let i = 0; i < 400 && !refused; i++) {
        const r = await publish(srv, s, Array.from({ length: 20 }, (_, j) => ({ i, j, pad })));
        if (r.status === 200) accepted.push(r.json.last_seq);
        else refused = r;
      }
      assert.ok(refused, 'never refused: the store did not fill');
      assert.equal(refused.status, 503, refused.text);
      assert.equal(refused.json.error.code, 'store_unavailable');
      assert.match(refused.json.error.message, /full/);
      assert.equal(refused.headers.get('retry-after'), '1');
      assert.ok(await metricSum(srv, 'livehub_store_failures_total') > 0);
      const notReady = await request(srv, 'GET', '/readyz');
      assert.equal(notReady.status, 503, 'readyz while the store is full');
      assert.match(notReady.json.store, /full/);
      // Retention frees space; publishing works again.
      let ok;
      await until(async () => {
        const r = await publish(srv, s, { after: true });
        if (r.status === 200) ok = r.json;
        return ok;
      }, 30000, 'publishing to work again');
      assert.equal(ok.first_seq, accepted.at(-1) + 1, 'seqs continue after the refusals');
      const st = (await request(srv, 'GET', `/v1/status/${s}`)).json;
      assert.equal(st.latest_seq, ok.last_seq);
      // Ready again once the store commits what it still holds: a retried
      // batch can meet a still-full file once more, so readiness may lag
      // the first accepted publish by a retry or two.
      await until(async () => (await request(srv, 'GET', '/readyz')).status === 200, 30000,
        '/readyz to answer 200 again');
    } finally {
      await srv.stop();
    }
  });

  test('a damaged store file is refused at start with the file and the fix named', { timeout: 20000 }, async () => {
    const dir = dataDir();
    writeFileSync(path.join(dir, 'livehub.db'), Buffer.alloc(16384, 0x5a));
    await assert.rejects(startServer({}, { dataDir: dir }), (e) => {
      assert.match(e.message, /livehub\.db/);
      assert.match(e.message, /livehub store check/);
      assert.match(e.message, /backup/);
      return true;
    });
  });

  test('two hubs cannot share a data directory', { timeout: 20000 }, async () => {
    const dir = dataDir();
    const srv = await startServer({}, { dataDir: dir });
    try {
      await assert.rejects(startServer({}, { dataDir: dir }), /in use by another livehub/);
    } finally {
      await srv.stop();
    }
  });
});

describe('store: tools', () => {
  test('store check lists streams and says ok; export writes NDJSON; import appends with new seqs', { timeout: 30000 }, async () => {
    const dir = dataDir();
    let srv = await startServer({}, { dataDir: dir });
    await publishOk(srv, 'tool/src', [{ v: 1 }, { v: 2 }, { v: 3 }]);
    await srv.stop();
    const check = await runBin(['store', 'check', '--data-dir', dir]);
    assert.equal(check.code, 0, check.out + check.err);
    assert.match(check.out, /integrity: ok/);
    assert.match(check.out, /tool\/src\t\w+\t1\t3\t3\t/);
    const exp = await runBin(['store', 'export', 'tool/src', '--data-dir', dir]);
    assert.equal(exp.code, 0, exp.err);
    const lines = exp.out.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => [l.seq, l.data.v]), [[1, 1], [2, 2], [3, 3]]);
    const imp = await runBin(['store', 'import', 'tool/copy', '--data-dir', dir], exp.out);
    assert.equal(imp.code, 0, imp.err);
    srv = await startServer({}, { dataDir: dir });
    try {
      const copy = await fullHistory(srv, 'tool/copy');
      assert.deepEqual(copy.map((e) => [e.seq, e.data.v]), [[1, 1], [2, 2], [3, 3]]);
      const busy = await runBin(['store', 'import', 'tool/copy', '--data-dir', dir], exp.out);
      assert.notEqual(busy.code, 0);
      assert.match(busy.err, /in use/);
    } finally {
      await srv.stop();
    }
  });
});
