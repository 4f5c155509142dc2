// The `mqtt` source against the real Debian `mosquitto` broker on
// 127.0.0.1 (messages sent with `mosquitto_pub`): topic filters with + and #
// routed through the stream template, malformed/oversize payloads counted,
// reconnect after the broker restarts, QoS1 redelivery after livehub
// restarts (persistent session), stall detection, username/password kept
// secret, and throttle vs drop_oldest under a burst.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { fullHistory, request, startServer, uid, until } from './harness.mjs';

const MOSQUITTO = process.env.MOSQUITTO_BIN || '/usr/sbin/mosquitto';
const T = 20000; // generous waits: a noisy 2-core machine, sanitizer builds

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const c = net.connect({ host: '127.0.0.1', port });
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

// A mosquitto broker in its own temp dir; start() again after stop() reuses
// the port (the hub reconnects to the same address).
class Broker {
  constructor({ users, tls } = {}) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'livehub-mqtt-'));
    this.users = users;
    this.tls = tls;
    this.proc = null;
  }

  async start() {
    if (!this.port) this.port = await freePort();
    const conf = [
      `listener ${this.port} 127.0.0.1`,
      'persistence false',
      'max_queued_messages 100000',
      'log_dest none',
      // Run as root (CI containers), mosquitto would switch to the
      // `mosquitto` user, which cannot read our private temp dir.
      `user ${os.userInfo().username}`,
    ];
    if (this.tls && !this.cafile) await this.makeCerts();
    if (this.tls) {
      conf.push(`certfile ${path.join(this.dir, 'srv.crt')}`, `keyfile ${path.join(this.dir, 'srv.key')}`);
    }
    if (this.users) {
      const pw = path.join(this.dir, 'passwd');
      let first = true;
      for (const [u, p] of Object.entries(this.users)) {
        await run('mosquitto_passwd', ['-b', ...(first ? ['-c'] : []), pw, u, p]);
        first = false;
      }
      conf.push('allow_anonymous false', `password_file ${pw}`);
    } else {
      conf.push('allow_anonymous true');
    }
    const cfg = path.join(this.dir, 'mosquitto.conf');
    writeFileSync(cfg, `${conf.join('\n')}\n`);
    this.proc = spawn(MOSQUITTO, ['-c', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.exited = new Promise((r) => this.proc.once('exit', r));
    let err = '';
    this.proc.stderr.on('data', (d) => { err += d; });
    await until(async () => {
      if (this.proc.exitCode !== null) throw new Error(`mosquitto exited: ${err}`);
      return canConnect(this.port);
    }, T, 'mosquitto listening');
  }

  // A throw-away CA and a server certificate for localhost / 127.0.0.1.
  async makeCerts() {
    const f = (n) => path.join(this.dir, n);
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'),
      '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=livehub-test-ca']);
    await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('srv.key'),
      '-out', f('srv.csr'), '-subj', '/CN=localhost']);
    writeFileSync(f('ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    await run('openssl', ['x509', '-req', '-in', f('srv.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'),
      '-CAcreateserial', '-out', f('srv.crt'), '-days', '2', '-extfile', f('ext')]);
    this.cafile = f('ca.crt');
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGKILL');
      await this.exited;
    }
    this.proc = null;
  }

  async close() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  url() { return this.tls ? `mqtts://localhost:${this.port}` : `mqtt://127.0.0.1:${this.port}`; }

  // Publishes each of `messages` (strings) to `topic` in order, QoS 1.
  async publish(topic, messages, { user, pass } = {}) {
    const auth = user ? ['-u', user, '-P', pass] : [];
    if (this.tls) auth.push('--cafile', this.cafile);
    const args = ['-h', this.tls ? 'localhost' : '127.0.0.1', '-p', String(this.port), '-t', topic, '-q', '1', ...auth];
    if (messages.length === 1) return run('mosquitto_pub', [...args, '-m', messages[0]]);
    for (const m of messages) assert.ok(!m.includes('\n'), 'one message per line');
    return run('mosquitto_pub', [...args, '-l'], `${messages.join('\n')}\n`);
  }
}

function run(cmd, args, input) {
  return new Promise((resolve, reject) => {
    const p = execFile(cmd, args, { timeout: T }, (e, stdout, stderr) => {
      if (e) reject(new Error(`${cmd} ${args.join(' ')}: ${e.message} ${stderr}`));
      else resolve(stdout);
    });
    if (input !== undefined) p.stdin.end(input);
  });
}

async function sources(server) {
  const r = await request(server, 'GET', '/v1/sources');
  assert.equal(r.status, 200, r.text);
  return r.json.sources;
}

async function source(server, id) {
  return (await sources(server)).find((s) => s.id === id);
}

const isUp = (s) => s && (s.state === 'subscribed' || s.state === 'receiving');

async function waitUp(server, id) {
  return until(async () => {
    const s = await source(server, id);
    return isUp(s) && s;
  }, T, `source ${id} subscribed`);
}

// The data of every event in `stream` once there are at least `n`.
async function waitEvents(server, stream, n) {
  let events = [];
  await until(async () => {
    const r = await request(server, 'GET', `/v1/history/${stream}?from_seq=1&limit=1`);
    if (r.status !== 200) return false;
    events = await fullHistory(server, stream);
    return events.length >= n;
  }, T, `${n} events in ${stream}`);
  return events.map((e) => e.data);
}

// Stops the hub gracefully and checks it exited cleanly: exit code 0 and
// no sanitizer report (under LIVEHUB_SANITIZED builds a leak or UB fails).
async function stopClean(server) {
  const r = await server.stop();
  const report = server.stderr.find((l) => /Sanitizer|runtime error/.test(l));
  assert.equal(report, undefined, report);
  assert.deepEqual({ code: r.code, killed: r.killed }, { code: 0, killed: false }, server.tail());
  return r;
}

function mqttSource(id, broker, mqtt, extra = {}) {
  return { id, type: 'mqtt', mqtt: { url: broker.url(), ...mqtt }, ...extra };
}

describe('mqtt source', () => {
  let broker;
  before(async () => {
    broker = new Broker();
    await broker.start();
  });
  after(async () => { await broker?.close(); });

  test('bad mqtt settings are refused at start with the key named', { timeout: 60000 }, async () => {
    const cases = [
      [{ url: broker.url(), topics: ['a/b#'] }, /sources\[0\]\.mqtt\.topics\[0\].*'#'/],
      [{ url: 'http://127.0.0.1:1', topics: ['a'] }, /sources\[0\]\.mqtt\.url.*mqtt:\/\//],
      [{ url: broker.url(), topics: ['a'], qos: 2 }, /sources\[0\]\.mqtt\.qos/],
      [{ url: broker.url(), topics: ['a'], color: 'red' }, /sources\[0\]\.mqtt\.color.*unknown key/],
      [{ url: broker.url() }, /sources\[0\]\.mqtt\.topics/],
      [{ url: broker.url(), topics: ['a'], username: 'u', password: '${MQTT_UNSET_FOR_TEST}' },
        /sources\[0\]\.mqtt\.password.*MQTT_UNSET_FOR_TEST/],
    ];
    for (const [mqtt, re] of cases) {
      await assert.rejects(startServer({ sources: [{ id: 'x', type: 'mqtt', mqtt }] }), re);
    }
  });

  test('+ and # filters route topics to streams, in order', { timeout: 60000 }, async () => {
    const root = uid('air');
    const srv = await startServer({
      sources: [
        mqttSource('plus', broker, { topics: [`${root}/+/air`], clean_session: true },
          { stream: 'sensors/{2}/air' }),
        mqttSource('hash', broker, { topics: [`${root}/hall/#`] }, { stream: 'hall/{topic}' }),
      ],
    });
    try {
      await waitUp(srv, 'plus');
      await waitUp(srv, 'hash');
      const n = 30;
      const msgs = (tag) => Array.from({ length: n }, (_, i) => JSON.stringify({ tag, i }));
      await broker.publish(`${root}/s1/air`, msgs('s1'));
      await broker.publish(`${root}/s2/air`, msgs('s2'));
      await broker.publish(`${root}/hall/a/b`, msgs('ab'));

      const s1 = await waitEvents(srv, 'sensors/s1/air', n);
      const s2 = await waitEvents(srv, 'sensors/s2/air', n);
      assert.deepEqual(s1.map((d) => d.i), [...Array(n).keys()]);
      assert.ok(s1.every((d) => d.tag === 's1'));
      assert.deepEqual(s2.map((d) => d.i), [...Array(n).keys()]);
      assert.ok(s2.every((d) => d.tag === 's2'));
      const ab = await waitEvents(srv, `hall/${root}/hall/a/b`, n);
      assert.deepEqual(ab.map((d) => d.i), [...Array(n).keys()]);

      const plus = await source(srv, 'plus');
      assert.equal(plus.state, 'receiving');
      assert.equal(plus.messages_in, 2 * n);
      assert.equal(plus.events_published, 2 * n);
      assert.deepEqual(plus.topics, [`${root}/+/air`]);
      assert.equal(plus.client_id, 'livehub-plus');
      assert.equal(plus.url, broker.url());
      const hash = await source(srv, 'hash');
      assert.equal(hash.messages_in, n, 'the # filter must not see the + topics');
    } finally {
      await stopClean(srv);
    }
  });

  test('malformed and oversize payloads are counted and the source goes on', { timeout: 60000 }, async () => {
    const root = uid('bad');
    const srv = await startServer({
      sources: [mqttSource('bad', broker, { topics: [`${root}/#`], qos: 0 },
        { stream: 'bad/{2}', max_message_bytes: 200 })],
    });
    try {
      await waitUp(srv, 'bad');
      await broker.publish(`${root}/x`, [JSON.stringify({ i: 1 })]);
      await broker.publish(`${root}/x`, ['{"i": 2, oops']);
      await broker.publish(`${root}/x`, [JSON.stringify({ pad: 'x'.repeat(500) })]);
      await broker.publish(`${root}/x`, [JSON.stringify({ i: 3 })]);
      const data = await waitEvents(srv, 'bad/x', 2);
      assert.deepEqual(data, [{ i: 1 }, { i: 3 }]);
      const s = await until(async () => {
        const x = await source(srv, 'bad');
        return x.messages_in === 4 && x;
      }, T, 'four messages in');
      assert.equal(s.dropped.oversize, 1, JSON.stringify(s.dropped));
      const total = Object.values(s.dropped).reduce((a, b) => a + b, 0);
      assert.equal(total, 2, JSON.stringify(s.dropped));
      assert.equal(s.events_published, 2);
      assert.equal(s.state, 'receiving');
    } finally {
      await stopClean(srv);
    }
  });

  test('broker restart: disconnected, then reconnects, resubscribes and receives', { timeout: 90000 }, async () => {
    const own = new Broker();
    await own.start();
    const root = uid('rc');
    const srv = await startServer({
      sources: [mqttSource('rc', own, { topics: [`${root}/+`] },
        { stream: 'rc/{2}', backoff: { initial_s: 0.2, max_s: 1 } })],
    });
    try {
      await waitUp(srv, 'rc');
      await own.publish(`${root}/a`, [JSON.stringify({ before: true })]);
      await waitEvents(srv, 'rc/a', 1);

      await own.stop();
      const down = await until(async () => {
        const s = await source(srv, 'rc');
        return s.state === 'disconnected' && s;
      }, T, 'disconnected after the broker died');
      assert.ok(down.last_error && down.last_error.includes('mqtt'), down.last_error);
      // A few reconnect attempts fail while the broker is gone.
      await until(async () => (await source(srv, 'rc')).reconnects >= 2, T, 'reconnect attempts');

      await own.start(); // same port, no persistence: the session is gone
      const up = await waitUp(srv, 'rc');
      assert.ok(up.reconnects >= 2);
      await own.publish(`${root}/a`, [JSON.stringify({ after: true })]);
      const data = await waitEvents(srv, 'rc/a', 2);
      assert.deepEqual(data, [{ before: true }, { after: true }]);
      assert.equal((await source(srv, 'rc')).state, 'receiving');
    } finally {
      await stopClean(srv);
      await own.close();
    }
  });

  test('a broker that stops answering is caught by keepalive, then reconnected', { timeout: 90000 }, async () => {
    const own = new Broker();
    await own.start();
    const root = uid('ka');
    const srv = await startServer({
      sources: [mqttSource('ka', own, { topics: [`${root}/+`], keepalive_s: 5 },
        { stream: 'ka/{2}', connect_timeout_s: 2, backoff: { initial_s: 0.2, max_s: 1 } })],
    });
    try {
      await waitUp(srv, 'ka');
      own.proc.kill('SIGSTOP'); // the TCP connection stays open, nothing answers
      const down = await until(async () => {
        const s = await source(srv, 'ka');
        return s.state === 'disconnected' && s;
      }, 40000, 'keepalive failure noticed');
      assert.match(down.last_error, /keepalive|lost/i);
      own.proc.kill('SIGCONT');
      await waitUp(srv, 'ka');
      await own.publish(`${root}/a`, [JSON.stringify({ back: 1 })]);
      assert.deepEqual(await waitEvents(srv, 'ka/a', 1), [{ back: 1 }]);
      assert.ok((await source(srv, 'ka')).reconnects >= 1);
    } finally {
      own.proc?.kill('SIGCONT');
      await stopClean(srv);
      await own.close();
    }
  });

  test('QoS1 messages published while livehub is down arrive after it restarts', { timeout: 90000 }, async () => {
    const root = uid('persist');
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'livehub-mqtt-data-'));
    const config = {
      sources: [mqttSource('persist', broker, { topics: [`${root}/#`], qos: 1, client_id: `lh-${root}` },
        { stream: 'persist/{2}' })],
    };
    try {
      let srv = await startServer(config, { dataDir });
      await waitUp(srv, 'persist');
      await broker.publish(`${root}/p`, [JSON.stringify({ i: 0 })]);
      await waitEvents(srv, 'persist/p', 1);
      await stopClean(srv); // graceful: DISCONNECT, the session stays

      const n = 50;
      await broker.publish(`${root}/p`, Array.from({ length: n }, (_, i) => JSON.stringify({ i: i + 1 })));

      srv = await startServer(config, { dataDir });
      try {
        const data = await waitEvents(srv, 'persist/p', n + 1);
        assert.deepEqual(data.map((d) => d.i), [...Array(n + 1).keys()]);
        const s = await source(srv, 'persist');
        assert.equal(s.session_present, true);
        assert.equal(s.messages_in, n);
      } finally {
        await stopClean(srv);
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('silence turns the source stalled; a message makes it receiving', { timeout: 60000 }, async () => {
    const root = uid('stall');
    const srv = await startServer({
      sources: [mqttSource('quiet', broker, { topics: [`${root}/#`] },
        { stream: 'quiet', stall_after_min_s: 2 })],
    });
    try {
      await until(async () => (await source(srv, 'quiet')).state === 'stalled', T, 'stalled');
      await broker.publish(`${root}/x`, [JSON.stringify({ wake: 1 })]);
      await until(async () => (await source(srv, 'quiet')).state === 'receiving', T, 'receiving (2 s window)');
      await until(async () => (await source(srv, 'quiet')).state === 'stalled', T, 'stalled again');
    } finally {
      await stopClean(srv);
    }
  });

  test('username/password: accepted, refused, and never shown or logged', { timeout: 60000 }, async () => {
    const secret = `pw-${uid('s')}`;
    const wrong = `wrong-${uid('s')}`;
    const auth = new Broker({ users: { hubuser: secret, pubuser: 'pubpass' } });
    await auth.start();
    const root = uid('auth');
    const srv = await startServer({
      sources: [
        mqttSource('good', auth, { topics: [`${root}/#`], username: 'hubuser', password: '${MQTT_SECRET}' },
          { stream: 'auth/{2}' }),
        mqttSource('badpw', auth, { topics: [`${root}/#`], username: 'hubuser', password: '${MQTT_WRONG}' },
          { stream: 'auth/{2}', backoff: { initial_s: 0.2, max_s: 0.5 } }),
      ],
    }, { env: { MQTT_SECRET: secret, MQTT_WRONG: wrong } });
    try {
      await waitUp(srv, 'good');
      await auth.publish(`${root}/k`, [JSON.stringify({ ok: 1 })], { user: 'pubuser', pass: 'pubpass' });
      assert.deepEqual(await waitEvents(srv, 'auth/k', 1), [{ ok: 1 }]);
      const bad = await until(async () => {
        const s = await source(srv, 'badpw');
        return s.reconnects >= 2 && s.last_error && s;
      }, T, 'refused source retrying');
      assert.ok(!isUp(bad));
      assert.match(bad.last_error, /refused|authori/i);

      const r = await request(srv, 'GET', '/v1/sources');
      assert.ok(!r.text.includes(secret), 'password in /v1/sources');
      assert.ok(!r.text.includes(wrong), 'password in /v1/sources');
      const one = await request(srv, 'GET', '/v1/sources/good');
      assert.ok(!one.text.includes(secret));
      const m = await request(srv, 'GET', '/metrics');
      assert.ok(!m.text.includes(secret));
    } finally {
      await stopClean(srv);
      await auth.close();
    }
    const logs = srv.stderr.join('\n');
    assert.ok(logs.includes('badpw'), 'the logs mention the refused source');
    assert.ok(!logs.includes(secret), 'password in the logs');
    assert.ok(!logs.includes(wrong), 'password in the logs');
  });

  test('mqtts: verified with ca_file, refused without the CA, accepted with verify false', { timeout: 60000 }, async () => {
    const tls = new Broker({ tls: true });
    await tls.start();
    const root = uid('tls');
    const srv = await startServer({
      sources: [
        mqttSource('tlsok', tls, { topics: [`${root}/#`] }, { stream: 'tls/{2}', tls: { ca_file: tls.cafile } }),
        mqttSource('tlsnoca', tls, { topics: [`${root}/#`] },
          { stream: 'tls/{2}', backoff: { initial_s: 0.2, max_s: 0.5 } }),
        { id: 'tlsinsecure', type: 'mqtt', stream: 'tlsi/{2}', tls: { verify: false },
          mqtt: { url: `mqtts://127.0.0.1:${tls.port}`, topics: [`${root}/#`] } },
      ],
    });
    try {
      await waitUp(srv, 'tlsok');
      await waitUp(srv, 'tlsinsecure');
      await tls.publish(`${root}/x`, [JSON.stringify({ secure: 1 })]);
      assert.deepEqual(await waitEvents(srv, 'tls/x', 1), [{ secure: 1 }]);
      assert.deepEqual(await waitEvents(srv, 'tlsi/x', 1), [{ secure: 1 }]);
      const bad = await until(async () => {
        const s = await source(srv, 'tlsnoca');
        return s.reconnects >= 1 && s.last_error && s;
      }, T, 'untrusted broker refused');
      assert.ok(!isUp(bad));
      assert.equal(bad.messages_in, 0);
      assert.match(bad.last_error, /certificate|TLS/i);
    } finally {
      await stopClean(srv);
      await tls.close();
    }
  });

  test('a burst: drop_oldest counts queue_full drops, throttle loses nothing', { timeout: 120000 }, async () => {
    const root = uid('burst');
    const n = 2000;
    const limits = { max_rate: 500, queue: { max_bytes: 4096 } };
    const srv = await startServer({
      sources: [
        mqttSource('drop', broker, { topics: [`${root}/drop`] },
          { stream: 'burst/drop', ...limits, queue: { ...limits.queue, policy: 'drop_oldest' } }),
        mqttSource('thr', broker, { topics: [`${root}/thr`] },
          { stream: 'burst/thr', ...limits, queue: { ...limits.queue, policy: 'throttle' } }),
      ],
    });
    try {
      await waitUp(srv, 'drop');
      await waitUp(srv, 'thr');
      const msgs = Array.from({ length: n }, (_, i) => JSON.stringify({ i }));
      await Promise.all([broker.publish(`${root}/drop`, msgs), broker.publish(`${root}/thr`, msgs)]);

      let maxQueued = 0;
      let sawThrottled = false;
      const done = await until(async () => {
        const all = await sources(srv);
        const d = all.find((s) => s.id === 'drop');
        const t = all.find((s) => s.id === 'thr');
        maxQueued = Math.max(maxQueued, d.queue.bytes, t.queue.bytes);
        sawThrottled ||= t.queue.throttled;
        const dDone = d.messages_in === n && d.queue.records === 0;
        const tDone = t.events_published === n;
        return dDone && tDone && { d, t };
      }, 90000, 'both sources through the burst');

      const { d, t } = done;
      assert.ok(d.dropped.queue_full > 0, JSON.stringify(d.dropped));
      assert.equal(d.events_published + d.dropped.queue_full, n);
      assert.deepEqual(t.dropped, {});
      assert.equal(t.messages_in, n);
      assert.ok(sawThrottled, 'the throttle source paused at least once');
      // Memory stays near the budget (one message may overshoot it).
      assert.ok(maxQueued <= 2 * 4096, `queue reached ${maxQueued} bytes`);

      const thr = await waitEvents(srv, 'burst/thr', n);
      assert.deepEqual(thr.map((x) => x.i), [...Array(n).keys()]);
      const drop = await fullHistory(srv, 'burst/drop');
      const seen = drop.map((e) => e.data.i);
      assert.equal(seen.length, d.events_published);
      assert.ok(seen.every((v, k) => k === 0 || v > seen[k - 1]), 'drop_oldest keeps order');
    } finally {
      await stopClean(srv);
    }
  });
});
