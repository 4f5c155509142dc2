// Signals during start-up: `serve` catches SIGHUP (TLS reload) together with
// SIGINT/SIGTERM at its very start, so a SIGHUP sent while the hub is still
// starting (opening the store, binding the listener, starting sources) waits
// for start-up to finish and is handled then, instead of killing the hub.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { request, sleep, startServer, until } from './harness.mjs';

// Whether process `pid` catches signal `signo` (Linux /proc: SigCgt is a hex
// mask, bit n-1 for signal n). False while the process has not got that far.
function catches(pid, signo) {
  try {
    const m = /SigCgt:\s*([0-9a-f]+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m !== null && ((BigInt(`0x${m[1]}`) >> BigInt(signo - 1)) & 1n) === 1n;
  } catch {
    return false;
  }
}

const SIGTERM = 15;

test('SIGHUPs sent throughout start-up do not kill the hub; each is handled once it runs', { timeout: 30000 }, async () => {
  let proc;
  let sent = 0;
  let stop = false;
  // From the moment `serve` catches SIGTERM (its first lines: before the
  // config is applied, the store opened or the port bound) until shortly
  // after "listening", send a SIGHUP every 2 ms (watching for that moment on
  // every turn of the event loop, so the first one comes right away).
  const hammer = (async () => {
    await until(() => proc, 5000, 'spawn');
    const deadline = Date.now() + 20000;
    while (!stop && Date.now() < deadline && proc.exitCode === null && proc.signalCode === null) {
      if (sent > 0 || catches(proc.pid, SIGTERM)) {
        proc.kill('SIGHUP');
        sent += 1;
        await sleep(2);
      } else {
        await new Promise((r) => setImmediate(r));
      }
    }
  })();
  let server;
  try {
    server = await startServer({}, { onSpawn: (p) => { proc = p; } });
    await sleep(300); // and a little after "listening", while sources start
  } finally {
    stop = true;
    await hammer;
  }
  try {
    assert.equal(proc.signalCode, null, `killed by ${proc.signalCode}`);
    assert.ok(sent >= 1, 'no SIGHUP was sent during start-up');
    const health = await request(server, 'GET', '/healthz');
    assert.equal(health.status, 200);
    // Without a tls section every SIGHUP is logged as ignored.
    await until(() => server.stderr.some((l) => l.includes('SIGHUP ignored: no tls section')), 5000,
      'a "SIGHUP ignored" log line');
  } finally {
    const res = await server.stop();
    assert.deepEqual({ code: res.code, killed: res.killed }, { code: 0, killed: false }, server.tail());
  }
});
