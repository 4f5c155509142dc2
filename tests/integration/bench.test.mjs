// The side-by-side harness's own parts, quickly (no Nchan or Pushpin needed):
// `livehub bench` options the peers comparison relies on (--stalled,
// --ndjson batches, --hub-pid as a list), the GRIP backend Pushpin talks
// to (bench/peers/grip-backend.mjs), and bench/peers/report.py writing
// its table between the markers of a doc. Every bench run is a second or so.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { BIN, startServer, until } from './harness.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// Runs `livehub bench ARGS --json`; returns {status, json: [records], out}.
function bench(args) {
  const r = spawnSync(BIN, ['bench', ...args, '--json'], { encoding: 'utf8', timeout: 60_000 });
  const json = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  return { status: r.status, json, out: `${r.stdout}\n${r.stderr}` };
}

describe('livehub bench options used by bench/peers', () => {
  test('--stalled leaves a fraction of subscribers unread and out of the delivery figures', () => {
    const r = bench(['fanout', '--spawn', '--subscribers', '20', '--stalled', '0.2', '--rate', '20',
      '--duration', '1', '--drain', '2']);
    assert.equal(r.status, 0, r.out);
    const [run] = r.json;
    assert.equal(run.subscribers, 20, r.out);
    assert.equal(run.stalled, 4, r.out);
    assert.equal(run.expected, run.published * 16, 'only the 16 reading subscribers are expected');
    assert.equal(run.lost, 0, r.out);
    assert.equal(run.delivered, run.expected, r.out);
    // livehub's own slow-client counters over the run, read from /metrics.
    assert.equal(run.hub_slow_client_drops, 0, r.out);
    assert.equal(run.hub_slow_client_disconnects, 0, r.out);
  });

  test('--ndjson publishes batches as NDJSON lines, every event delivered once', () => {
    const r = bench(['fanout', '--spawn', '--subscribers', '2', '--batch', '10', '--ndjson',
      '--rate', '20', '--duration', '1', '--drain', '2']);
    assert.equal(r.status, 0, r.out);
    const [run] = r.json;
    assert.equal(run.batch, 10);
    assert.equal(run.publish_rejected, 0, r.out);
    assert.ok(run.published >= 100 && run.published % 10 === 0, `published ${run.published}`);
    assert.equal(run.delivered, run.published * 2, r.out);
    assert.equal(run.duplicates + run.lost + run.reordered, 0, r.out);
  });

  describe('against a running hub', () => {
    let hub;
    before(async () => { hub = await startServer(); });
    after(async () => { await hub?.stop(); });

    test('--hub-pid takes a comma list and sums RSS over it', () => {
      const common = ['fanout', '--idle', '--url', hub.base, '--subscribers', '2', '--hold', '0'];
      const one = bench([...common, '--hub-pid', String(hub.proc.pid)]);
      assert.equal(one.status, 0, one.out);
      // This node process (tens of MB) counted as a second server process.
      const two = bench([...common, '--hub-pids', `${hub.proc.pid},${process.pid}`]);
      assert.equal(two.status, 0, two.out);
      const rss1 = one.json[0].hub_rss_before_kb;
      const rss2 = two.json[0].hub_rss_before_kb;
      assert.ok(rss1 > 0 && rss2 > rss1 + 10_000, `one pid ${rss1} KB, two pids ${rss2} KB`);
    });

    test('a peer needs a running server and Pushpin its publish URL; errors say so', () => {
      let r = bench(['fanout', '--peer', 'pushpin', '--url', hub.base]);
      assert.equal(r.status, 2);
      assert.match(r.out, /--peer pushpin needs --publish-url/);
      r = bench(['fanout', '--peer', 'nchan', '--spawn']);
      assert.equal(r.status, 2);
      assert.match(r.out, /--peer nchan needs a running server/);
      r = bench(['fanout', '--url', hub.base, '--hub-pid', '1,999999999']);
      assert.equal(r.status, 1);
      assert.match(r.out, /--hub-pid 999999999: no such process/);
    });
  });
});

describe('bench/peers/grip-backend.mjs (what Pushpin asks it)', () => {
  let proc;
  let base;
  before(async () => {
    proc = spawn(process.execPath, [path.join(root, 'bench/peers/grip-backend.mjs'), '0'],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (c) => { out += c; });
    const port = await until(() => /listening on 127\.0\.0\.1:(\d+)/.exec(out)?.[1], 10_000, 'backend');
    base = `http://127.0.0.1:${port}`;
  });
  after(() => { proc?.kill('SIGTERM'); });

  test('an HTTP subscribe is held as an SSE stream on its channel', async () => {
    const res = await fetch(`${base}/sub/bench/1-1/s0`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    assert.equal(res.headers.get('grip-hold'), 'stream');
    assert.equal(res.headers.get('grip-channel'), 'bench/1-1/s0');
    assert.equal(await res.text(), '');
  });

  test('a WebSocket-over-HTTP OPEN is accepted and subscribed with a control message', async () => {
    const res = await fetch(`${base}/sub/s7-%C3%A9`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/websocket-events' },
      body: 'OPEN\r\n',
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/websocket-events');
    assert.equal(res.headers.get('sec-websocket-extensions'), 'grip');
    const control = 'c:{"type":"subscribe","channel":"s7-é"}';
    const bytes = Buffer.byteLength(control);  // the length is in bytes, in hex
    assert.equal(await res.text(), `OPEN\r\nTEXT ${bytes.toString(16)}\r\n${control}\r\n`);
  });

  test('a CLOSE is echoed; anything but /sub/<channel> is 404', async () => {
    const res = await fetch(`${base}/sub/s7`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/websocket-events' },
      body: Buffer.from('CLOSE 2\r\n\x03\xe8\r\n', 'latin1'),  // code 1000, binary
    });
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), Buffer.from('CLOSE 2\r\n\x03\xe8\r\n', 'latin1'));
    assert.equal((await fetch(`${base}/other`)).status, 404);
  });
});

test('bench/peers/report.py writes its table between the markers, keeping the rest', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-peers-'));
  try {
    const ramp = bench(['ramp', '--spawn', '--subscribers', '5', '--rates', '10,20', '--keep-going',
      '--duration', '0.5', '--drain', '1']);
    assert.equal(ramp.status, 0, ramp.out);
    writeFileSync(path.join(dir, 'livehub-a-ws.txt'), ramp.out);
    writeFileSync(path.join(dir, 'machine.txt'), 'cpu: test\n');
    writeFileSync(path.join(dir, 'commands.txt'), 'a-ws: livehub bench ramp ...\n');
    const doc = path.join(dir, 'doc.md');
    const prose = 'Prose naming `<!-- bench-peers:begin -->` and `<!-- bench-peers:end -->` stays.\n';
    writeFileSync(doc, `# Doc\n${prose}before\n<!-- bench-peers:begin -->\nold table\n<!-- bench-peers:end -->\nafter\n`);
    const r = spawnSync('python3', [path.join(root, 'bench/peers/report.py'), dir, '--doc', doc],
      { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    const text = readFileSync(doc, 'utf8');
    assert.ok(text.startsWith(`# Doc\n${prose}before\n<!-- bench-peers:begin -->\n`), text.slice(0, 300));
    assert.match(text, /<!-- bench-peers:end -->\nafter\n$/);
    assert.doesNotMatch(text, /old table/);
    assert.match(text, /\| livehub \| \(a\) WS \| 20 \| [0-9 ]+ \| 0 \|.*\| pass \|/);
    assert.match(text, /highest passing rate \| \*\*20 msg\/s\*\*/);
    assert.match(text, /\(d\) idle WS connections: server RSS per connection \| not run \|/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bench/peers/report.py takes the median of the efficiency rounds and pairs rounds for the ratio range', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-peers-'));
  try {
    const run = bench(['fanout', '--spawn', '--subscribers', '5', '--rate', '20', '--duration', '0.5',
      '--drain', '1']);
    assert.equal(run.status, 0, run.out);
    assert.equal(run.json.length, 1, run.out);
    // CPU % is over the publishing window, CPU per delivery over it and the drain.
    const { publish_window_s: pub, window_s: all } = run.json[0];
    assert.ok(pub >= 0.45 && pub <= all, `publish window ${pub} s, whole window ${all} s`);
    // One real record, its CPU per delivery set per round: livehub 1, 3, 2
    // (median 2), Nchan 4, 4, 8 (median 4): 0.50x, rounds 0.25x-0.75x.
    const write = (server, round, cpu) => writeFileSync(path.join(dir, `${server}-eff-ws-${round}.txt`),
      `${JSON.stringify({ ...run.json[0], hub_cpu_s_per_million: cpu })}\n`);
    [[1, 1, 4], [2, 3, 4], [3, 2, 8]].forEach(([round, mine, theirs]) => {
      write('livehub', round, mine);
      write('nchan', round, theirs);
    });
    writeFileSync(path.join(dir, 'machine.txt'), 'cpu: test\n');
    const r = spawnSync('python3', [path.join(root, 'bench/peers/report.py'), dir],
      { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    const line = r.stdout.split('\n').find((l) => l.startsWith('| efficiency WS'));
    assert.ok(line, r.stdout);
    assert.match(line, /\| \*\*2\.00 CPU-s \/ M\*\* median of 3 \(1\.00–3\.00\), 0\.50× Nchan \(rounds 0\.25–0\.75×\)/);
    assert.match(line, /\| \*\*4\.00 CPU-s \/ M\*\* median of 3 \(4\.00–8\.00\) \(CPU/);
    assert.match(r.stdout, /\| livehub \| eff\. WS round 3 \| 20 \|/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
