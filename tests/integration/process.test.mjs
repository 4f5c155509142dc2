// Stream processing (issue 7 part A) end to end through the real binary:
// publish -> window -> derived stream -> WebSocket subscriber; a threshold
// alert and GET /v1/alerts (newest first); a restart with persistence; a
// DataSourceDown / recovered pair from a mock source stalled through its
// control API; and `check-config` refusing a bad processor.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { BIN, fullHistory, publishOk, request, startServer, until, WsClient } from './harness.mjs';

const T0 = 1_800_000_000_000; // event times, ms: fixed, so results are exact

const windows = [
  {
    name: 'temp-1s', input: 'sensors/**', output: 'derived/temp-1s', type: 'tumbling', size_s: 1,
    key: ['station'], time_field: 't', idle_timeout_s: 0,
    aggregates: { temp: ['count', 'avg', 'min', 'max', 'p50'] },
  },
];
const alerts = [
  {
    name: 'hot', type: 'threshold', input: 'sensors/**', output: 'alerts/hot', key: ['station'],
    when: 'temp > 30', clear: 'temp < 28', level: 'critical',
  },
];

async function alertList(server, stream, q = '') {
  const r = await request(server, 'GET', `/v1/alerts/${stream}${q}`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

describe('processing: windows and alerts', () => {
  let server;
  before(async () => { server = await startServer({ processors: { windows, alerts } }); });
  after(async () => { await server?.stop(); });

  test('a window result reaches a WebSocket subscriber of the derived stream', async () => {
    const ws = await WsClient.connect(server, { streams: ['derived/**'] });
    try {
      await ws.waitFor((m) => m.type === 'subscribed');
      const evs = [20, 22, 24, 26].map((temp, i) => ({ station: 's1', t: T0 + i * 100, temp }));
      evs.push({ station: 's2', t: T0 + 500, temp: 10 });
      await publishOk(server, 'sensors/a', evs);
      // Not closed yet: the watermark (max event time) is still inside it.
      await publishOk(server, 'sensors/b', { station: 's1', t: T0 + 1000, temp: 0 }); // closes [T0, T0+1000)
      const m1 = await ws.waitFor((m) => m.type === 'event' && m.stream === 'derived/temp-1s', 10000);
      const m2 = await ws.waitFor((m) => m.type === 'event' && m.stream === 'derived/temp-1s' && m.seq === 2, 10000);
      assert.equal(m1.seq, 1);
      assert.deepEqual(m1.data.key, { station: 's1' });
      assert.equal(m1.data.start, T0);
      assert.equal(m1.data.end, T0 + 1000);
      assert.equal(m1.data.count, 4);
      assert.equal(m1.data.final, true);
      assert.equal(m1.data.values.temp.avg, 23);
      assert.equal(m1.data.values.temp.min, 20);
      assert.equal(m1.data.values.temp.max, 26);
      assert.ok(Math.abs(m1.data.values.temp.p50 - 22) <= 0.22, JSON.stringify(m1.data)); // alpha 1%
      assert.deepEqual(m2.data.key, { station: 's2' });
      // A late event (its window closed) goes to derived/temp-1s/late.
      await publishOk(server, 'sensors/a', { station: 's1', t: T0 + 10, temp: 1 });
      await until(async () => (await fullHistory(server, 'derived/temp-1s/late').catch(() => [])).length === 1, 10000, 'late event');
      const late = await fullHistory(server, 'derived/temp-1s/late');
      assert.equal(late[0].data.event_time, T0 + 10);
      assert.deepEqual(late[0].data.data, { station: 's1', t: T0 + 10, temp: 1 });
      const metrics = (await request(server, 'GET', '/metrics')).text;
      assert.match(metrics, /livehub_window_late_events_total\{processor="temp-1s"\} 1/);
    } finally {
      ws.close();
    }
  });

  test('a threshold alert fires, resolves, and is listed newest first', async () => {
    await publishOk(server, 'sensors/hot', [
      { station: 'h1', t: T0, temp: 29 },
      { station: 'h1', t: T0 + 1, temp: 31.5 },
      { station: 'h1', t: T0 + 2, temp: 29 }, // hysteresis: still firing
      { station: 'h1', t: T0 + 3, temp: 27 }, // cleared
    ]);
    const list = await until(async () => {
      const l = await alertList(server, 'alerts/hot');
      return l.alerts.length === 2 ? l : null;
    }, 10000, 'two alerts');
    assert.equal(list.order, 'newest_first');
    const [resolved, firing] = list.alerts;
    assert.ok(resolved.seq > firing.seq);
    assert.equal(firing.data.type, 'ThresholdAlert');
    assert.equal(firing.data.state, 'firing');
    assert.equal(firing.data.level, 'critical');
    assert.equal(firing.data.rule, 'hot');
    assert.equal(firing.data.stream, 'sensors/hot');
    assert.deepEqual(firing.data.key, { station: 'h1' });
    assert.equal(firing.data.value, 31.5);
    assert.match(firing.data.message, /temp > 30/);
    assert.equal(resolved.data.state, 'resolved');
    assert.equal((await alertList(server, 'alerts/hot', '?limit=1')).alerts.length, 1);
    const notAlert = await request(server, 'GET', '/v1/alerts/derived/temp-1s');
    assert.equal(notAlert.status, 404);
    const metrics = (await request(server, 'GET', '/metrics')).text;
    assert.match(metrics, /livehub_alerts_total\{rule="hot",level="critical"\} 1/);
    assert.match(metrics, /livehub_alerts_total\{rule="hot",level="info"\} 1/);
  });
});

describe('processing: restart with persistence', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'livehub-proc-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('derived streams keep their history and seq, and processing goes on', async () => {
    const config = { processors: { windows } };
    let srv = await startServer(config, { dataDir: dir });
    let epoch;
    try {
      await publishOk(srv, 'sensors/r', [{ station: 'r', t: T0, temp: 1 }, { station: 'r', t: T0 + 1000, temp: 2 }]);
      await until(async () => (await fullHistory(srv, 'derived/temp-1s').catch(() => [])).length === 1, 10000, 'first result');
      epoch = (await request(srv, 'GET', '/v1/status/derived/temp-1s')).json.epoch;
    } finally {
      const st = await srv.stop();
      assert.equal(st.killed, false);
    }
    srv = await startServer(config, { dataDir: dir });
    try {
      await publishOk(srv, 'sensors/r', [{ station: 'r', t: T0 + 5000, temp: 3 }, { station: 'r', t: T0 + 6000, temp: 4 }]);
      const evs = await until(async () => {
        const h = await fullHistory(srv, 'derived/temp-1s').catch(() => []);
        return h.length === 2 ? h : null;
      }, 10000, 'second result after restart');
      assert.deepEqual(evs.map((e) => e.seq), [1, 2]);
      assert.equal(evs[0].data.start, T0);
      assert.equal(evs[1].data.start, T0 + 5000);
      assert.equal((await request(srv, 'GET', '/v1/status/derived/temp-1s')).json.epoch, epoch);
    } finally {
      await srv.stop();
    }
  });
});

describe('processing: source health alerts', () => {
  let server;
  before(async () => {
    server = await startServer({
      sources: [{ id: 'mk', type: 'mock', stall_after_min_s: 1, mock: { streams: 1, interval_s: 0.05 } }],
      processors: { alerts: [{ name: 'src', type: 'source_health', output: 'alerts/sources', sources: ['mk'], level: 'critical' }] },
    });
  });
  after(async () => { await server?.stop(); });

  test('a stalled mock source raises DataSourceDown, and recovering DataSourceRecovered', async () => {
    await until(async () => (await request(server, 'GET', '/v1/sources/mk')).json.state === 'receiving', 10000, 'receiving');
    let r = await request(server, 'POST', '/v1/sources/mk/control', { body: JSON.stringify({ running: false }) });
    assert.equal(r.status, 200, r.text);
    const down = await until(async () => {
      const l = await alertList(server, 'alerts/sources');
      return l.alerts.find((a) => a.data.type === 'DataSourceDown');
    }, 15000, 'DataSourceDown');
    assert.equal(down.data.level, 'critical');
    assert.equal(down.data.rule, 'src');
    assert.deepEqual(down.data.key, { source: 'mk' });
    assert.equal(down.data.state, 'firing');
    assert.match(down.data.message, /mk/);
    r = await request(server, 'POST', '/v1/sources/mk/control', { body: JSON.stringify({ running: true }) });
    assert.equal(r.status, 200, r.text);
    const list = await until(async () => {
      const l = await alertList(server, 'alerts/sources');
      return l.alerts[0]?.data.type === 'DataSourceRecovered' ? l : null;
    }, 15000, 'DataSourceRecovered');
    assert.equal(list.alerts.length, 2);
  });
});

describe('processing: config errors', () => {
  test('check-config names the processor key and the problem', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'livehub-proc-cfg-'));
    try {
      const file = path.join(dir, 'bad.yaml');
      writeFileSync(file, 'processors:\n  alerts:\n    - {name: a, type: threshold, input: x, output: y, when: "temp => 3"}\n');
      const r = spawnSync(BIN, ['check-config', file], { encoding: 'utf8', timeout: 10000 });
      assert.equal(r.status, 2);
      assert.match(r.stderr, /processors\.alerts\[0\]\.when: .*in 'temp => 3'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
