// The command line as a person uses it: `serve` with its demo data,
// `livehub tail` (NDJSON out, cursor file, stop and resume with no loss and
// no duplicate), `livehub publish` (files and stdin in every body format)
// and `livehub check-config`.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {
  assertContiguous, BIN, fullHistory, publishOk, request, sleep, startServer, uid, until,
} from './harness.mjs';

// Runs the binary; collects stdout lines. Returns a handle with `done`.
function run(args, { input } = {}) {
  const proc = spawn(BIN, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  const h = { proc, lines: [], stderr: '' };
  let partial = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (chunk) => {
    partial += chunk;
    let i;
    while ((i = partial.indexOf('\n')) >= 0) {
      h.lines.push(partial.slice(0, i));
      partial = partial.slice(i + 1);
    }
  });
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (c) => { h.stderr += c; });
  h.done = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  if (input !== undefined) proc.stdin.end(input);
  return h;
}

async function runToEnd(args, opts, timeoutMs = 15000) {
  const h = run(args, opts);
  const t = setTimeout(() => h.proc.kill('SIGKILL'), timeoutMs);
  const res = await h.done;
  clearTimeout(t);
  return { ...res, stdout: h.lines.join('\n'), stderr: h.stderr };
}

const events = (lines) => lines.map((l) => JSON.parse(l)).filter((m) => m.type === 'event');

describe('serve with demo data', () => {
  let srv;
  before(async () => { srv = await startServer({}, { demo: true }); });
  after(async () => { await srv?.stop(); });

  test('/v1/streams lists the demo streams and they keep advancing', { timeout: 15000 }, async () => {
    let names = [];
    await until(async () => {
      const r = await request(srv, 'GET', '/v1/streams');
      names = (r.json?.streams || []).map((s) => s.stream);
      return names.some((n) => n.startsWith('demo/sensors/')) && names.some((n) => n.startsWith('demo/ticker/'));
    }, 5000, 'demo streams');
    const seqOf = async () => (await request(srv, 'GET', '/v1/status/demo/sensors/station-1')).json.latest_seq;
    const first = await seqOf();
    await sleep(500);
    assert.ok(await seqOf() > first, 'demo/sensors/station-1 did not advance in 500 ms');
  });

  test("`livehub tail 'demo/**'` prints demo events as NDJSON", { timeout: 15000 }, async () => {
    const res = await runToEnd(['tail', '--url', srv.wsBase, '--count', '20', 'demo/**']);
    assert.equal(res.code, 0, res.stderr);
    const lines = res.stdout.split('\n').filter(Boolean);
    const evs = events(lines);
    assert.equal(evs.length, 20);
    for (const e of evs) {
      assert.match(e.stream, /^demo\//);
      assert.ok(Number.isInteger(e.seq) && typeof e.epoch === 'string' && Number.isInteger(e.ts));
      assert.equal(typeof e.data, 'object');
    }
    const station = evs.find((e) => e.stream.startsWith('demo/sensors/'));
    assert.ok(station, 'no sensor event among the first 20');
    assert.equal(typeof station.data.temperature_c, 'number', JSON.stringify(station.data));
  });
});

describe('CLI against a hub', () => {
  let srv;
  let dir;
  before(async () => {
    srv = await startServer();
    dir = mkdtempSync(path.join(os.tmpdir(), 'livehub-cli-'));
  });
  after(async () => {
    await srv?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('tail stopped with SIGTERM and restarted with its cursor file: no loss, no duplicate', { timeout: 60000 }, async () => {
    const base = `cli/${uid('tail')}`;
    const streams = [`${base}/a`, `${base}/b`];
    for (const s of streams) await publishOk(srv, s, { warm: true });
    // Start from a cursor file written by hand (the format tail keeps):
    // after the warm-up event of each stream.
    const cursorFile = path.join(dir, `${uid('cursor')}.json`);
    const start = {};
    for (const s of streams) start[s] = { epoch: (await request(srv, 'GET', `/v1/status/${s}`)).json.epoch, seq: 1 };
    writeFileSync(cursorFile, JSON.stringify(start));
    const args = ['tail', '--url', srv.wsBase, '--quiet', '--cursor-file', cursorFile, `${base}/*`];
    const total = 400;
    let published = 0;
    const pub = (async () => {
      for (; published < total; published++) {
        await publishOk(srv, streams[published % 2], { i: published });
        await sleep(2);
      }
    })();
    const outputs = [];
    for (let round = 0; round < 3; round++) {
      const t = run(args);
      const startedAt = Date.now();
      outputs.push(t);
      const want = 60;
      await until(() => t.lines.length >= want || published >= total, 15000, `tail round ${round} output`);
      // Once everything is published a round may end at once: give the
      // process time to reach main() and install its SIGTERM handler (slow
      // under ASan), else the signal's default action kills it mid-start.
      await sleep(Math.max(0, 2000 - (Date.now() - startedAt)));
      t.proc.kill('SIGTERM');
      const res = await t.done;
      assert.equal(res.code, 0, `tail exit ${JSON.stringify(res)}: ${t.stderr}`);
      assert.ok(existsSync(cursorFile), 'no cursor file written');
    }
    await pub;
    // The last run catches up to the end.
    const last = run(args);
    outputs.push(last);
    const seen = () => outputs.flatMap((o) => events(o.lines));
    await until(() => seen().length >= total, 20000, `all ${total} events across runs`).catch((e) => {
      throw new Error(`${e.message}; got ${seen().length}: ${outputs.map((o) => o.lines.length).join(',')} lines per run; stderr: ${outputs.map((o) => o.stderr).join('|')}`);
    });
    last.proc.kill('SIGTERM');
    await last.done;
    for (const s of streams) {
      assertContiguous(seen().filter((e) => e.stream === s).map((e) => e.seq), 2, 1 + total / 2, s);
    }
    const cursor = JSON.parse(readFileSync(cursorFile, 'utf8'));
    for (const s of streams) assert.equal(cursor[s].seq, 1 + total / 2, JSON.stringify(cursor));
  });

  test('publish sends a file in each body format and stdin; a bad file fails with the hub\'s message', { timeout: 20000 }, async () => {
    const s = `cli/${uid('pub')}`;
    const f = (name, text) => { const p = path.join(dir, name); writeFileSync(p, text); return p; };
    const url = srv.base;
    let r = await runToEnd(['publish', '--url', url, s, f('one.json', '{"a":1}')]);
    assert.equal(r.code, 0, r.stderr);
    r = await runToEnd(['publish', '--url', url, s, f('rows.ndjson', '{"a":2}\n{"a":3}\n')]);
    assert.equal(r.code, 0, r.stderr);
    r = await runToEnd(['publish', '--url', url, s, f('rows.csv', 'a,b\n4,x\n5,y\n')]);
    assert.equal(r.code, 0, r.stderr);
    r = await runToEnd(['publish', '--url', url, s, '-'], { input: '[{"a":6},{"a":7}]' });
    assert.equal(r.code, 0, r.stderr);
    const hist = await fullHistory(srv, s);
    assert.deepEqual(hist.map((e) => e.data.a), [1, 2, 3, 4, 5, 6, 7]);
    assert.equal(hist[3].data.b, 'x');
    r = await runToEnd(['publish', '--url', url, s, f('bad.ndjson', '{"a":8}\n{"a":\n')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /line 2/);
    assert.equal((await fullHistory(srv, s)).length, 7, 'a rejected file appended something');
  });

  test('check-config accepts a good file and names the bad key of a bad one', { timeout: 10000 }, async () => {
    const good = path.join(dir, 'good.yaml');
    writeFileSync(good, 'listen: 127.0.0.1:9999\nhistory:\n  max_events: 500\n');
    let r = await runToEnd(['check-config', good]);
    assert.equal(r.code, 0, r.stderr);
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'history:\n  max_eventz: 500\n');
    r = await runToEnd(['check-config', bad]);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /history\.max_eventz/);
  });
});
