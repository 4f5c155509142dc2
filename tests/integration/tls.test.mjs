// TLS on the main listener: https, wss and SSE over https with a
// self-signed certificate generated here (nothing private is committed),
// SIGHUP reloading the certificate while an existing wss connection keeps
// receiving, a bad reload keeping the old certificate, and start-up errors
// that name the bad file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

import WebSocket from 'ws';

import { startServer, sleep, until, uid } from './harness.mjs';

const dir = mkdtempSync(path.join(os.tmpdir(), 'livehub-tls-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function makeCert(name) {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`,
    '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}

// The certificate the hub presents to a new connection (its subject CN).
function servedCN(port, ca) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername: undefined }, () => {
      const cn = s.getPeerCertificate().subject.CN;
      const proto = s.getProtocol();
      s.end();
      resolve({ cn, proto });
    });
    s.on('error', reject);
  });
}

function httpsRequest(port, ca, method, p, body) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, method, path: p, ca, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text, json: (() => { try { return JSON.parse(text); } catch { return undefined; } })() }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

test('https, wss and SSE over TLS; SIGHUP swaps the certificate without dropping connections', { timeout: 40000 }, async () => {
  const a = makeCert('hub-a');
  const b = makeCert('hub-b');
  const live = { cert: path.join(dir, 'live.crt'), key: path.join(dir, 'live.key') };
  copyFileSync(a.cert, live.cert);
  copyFileSync(a.key, live.key);
  const caA = execFileSync('cat', [a.cert]);
  const caB = execFileSync('cat', [b.cert]);
  const server = await startServer({ tls: { cert_file: live.cert, key_file: live.key }, store: { enabled: false } });
  try {
    const port = server.port;
    const stream = uid('tls');
    // Plain HTTP on the TLS port gets no answer in clear text.
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`));

    const first = await servedCN(port, caA);
    assert.equal(first.cn, 'hub-a');
    assert.match(first.proto, /^TLSv1\.[23]$/);
    // TLS 1.1 is refused.
    await assert.rejects(new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, ca: caA, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }, () => { s.end(); resolve(); });
      s.on('error', reject);
    }));

    let r = await httpsRequest(port, caA, 'POST', `/v1/publish/${stream}`, JSON.stringify({ n: 1 }));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.first_seq, 1);

    // wss: a subscriber that stays connected across the reload.
    const ws = new WebSocket(`wss://127.0.0.1:${port}/v1/ws?streams=${stream}`, { ca: caA, perMessageDeflate: false });
    const got = [];
    ws.on('message', (d) => { const m = JSON.parse(d.toString()); if (m.type === 'event') got.push(m.seq); });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    await sleep(200);

    // SSE over https, resuming from the start of the stream.
    const sse = [];
    const sseReq = https.get({ host: '127.0.0.1', port, path: `/v1/sse?streams=${stream}&last_event_id=${encodeURIComponent('')}`, ca: caA }, (res) => {
      assert.equal(res.statusCode, 200);
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = block.split('\n').find((l) => l.startsWith('data:'));
          if (data) { const m = JSON.parse(data.slice(5)); if (m.type === 'event') sse.push(m.seq); }
        }
      });
    });
    sseReq.on('error', () => {});
    await sleep(300);

    for (let n = 2; n <= 5; n++) {
      r = await httpsRequest(port, caA, 'POST', `/v1/publish/${stream}`, JSON.stringify({ n }));
      assert.equal(r.status, 200);
    }
    await until(() => got.length >= 4 && sse.length >= 4, 5000, 'wss and SSE events before the reload');

    // Reload to certificate B.
    copyFileSync(b.cert, live.cert);
    copyFileSync(b.key, live.key);
    server.proc.kill('SIGHUP');
    await until(() => server.stderr.some((l) => l.includes('"tls reloaded"')), 5000, 'tls reloaded log line');
    const second = await servedCN(port, caB);
    assert.equal(second.cn, 'hub-b');
    await assert.rejects(servedCN(port, caA)); // A's CA no longer verifies new handshakes

    for (let n = 6; n <= 8; n++) {
      r = await httpsRequest(port, caB, 'POST', `/v1/publish/${stream}`, JSON.stringify({ n }));
      assert.equal(r.status, 200);
    }
    // The wss connection made with certificate A is still up and receiving.
    await until(() => got.includes(8) && sse.includes(8), 5000, 'events after the reload on old connections');
    assert.equal(ws.readyState, WebSocket.OPEN);
    assert.deepEqual(got, [2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(sse.filter((s) => s >= 2), [2, 3, 4, 5, 6, 7, 8]);

    // A broken certificate file: the reload fails, B stays in use.
    writeFileSync(live.cert, 'not a certificate\n');
    server.proc.kill('SIGHUP');
    await until(() => server.stderr.some((l) => l.includes('tls reload failed') && l.includes('live.crt')), 5000, 'reload failure logged');
    assert.equal((await servedCN(port, caB)).cn, 'hub-b');
    const m = await httpsRequest(port, caB, 'GET', '/metrics');
    assert.match(m.text, /livehub_tls_reloads_total\{result="ok"\} 1/);
    assert.match(m.text, /livehub_tls_reloads_total\{result="error"\} 1/);

    ws.close();
    sseReq.destroy();
  } finally {
    await server.stop();
  }
});

test('a TLS handshake that never comes is dropped after the header timeout and counted', { timeout: 20000 }, async () => {
  const a = makeCert('hub-t');
  const server = await startServer({ tls: { cert_file: a.cert, key_file: a.key }, limits: { header_timeout_s: 0.5 }, store: { enabled: false } });
  try {
    const net = await import('node:net');
    const started = Date.now();
    await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: server.port });
      s.on('error', () => {});
      s.on('close', resolve);
    });
    assert.ok(Date.now() - started < 5000);
    const m = await httpsRequest(server.port, execFileSync('cat', [a.cert]), 'GET', '/metrics');
    assert.match(m.text, /livehub_refusals_total\{reason="tls_handshake_timeout"\} 1/);
  } finally {
    await server.stop();
  }
});

test('start-up refuses a missing or mismatched certificate or key, naming the file', { timeout: 20000 }, async () => {
  const a = makeCert('hub-c');
  const b = makeCert('hub-d');
  await assert.rejects(startServer({ tls: { cert_file: path.join(dir, 'nope.crt'), key_file: a.key } }),
    /tls\.cert_file '.*nope\.crt': cannot open the file/);
  await assert.rejects(startServer({ tls: { cert_file: a.cert, key_file: b.key } }),
    /tls\.key_file '.*hub-d\.key': does not match the certificate/);
  const junk = path.join(dir, 'junk.key');
  writeFileSync(junk, 'junk\n');
  await assert.rejects(startServer({ tls: { cert_file: a.cert, key_file: junk } }),
    /tls\.key_file '.*junk\.key': not a usable PEM private key/);
  await assert.rejects(startServer({ tls: { cert_file: a.cert } }), /tls: needs both cert_file and key_file/);
});
