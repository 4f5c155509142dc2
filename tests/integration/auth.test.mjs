// Access control (docs/security.md): JWT (HS256 / RS256) and API keys over
// HTTP, WebSocket and SSE; pattern subscriptions never deliver an uncovered
// stream (also one created later); expiry closes with a reason and refresh
// extends; ?token= and the cookie; CORS preflight and the WebSocket Origin
// check; the safe default for non-loopback listening.
// Keys are generated here with node:crypto; no private key is committed.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, createHmac, createSign, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import WebSocket from 'ws';

import {
  BIN, parseMetrics, request, sleep, startServer, streamPath, uid, until, WsClient,
} from './harness.mjs';

const SECRET = 'integration-test-secret-0123456789abcdef';
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PUBLIC_PEM = publicKey.export({ type: 'spki', format: 'pem' });
const INGEST_KEY = 'lh_ingest_' + Math.random().toString(36).slice(2);
const OPS_KEY = 'lh_ops_' + Math.random().toString(36).slice(2);
const sha256 = (s) => createHash('sha256').update(s).digest('hex');
const b64 = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

// Signs a JWT. alg: HS256 (with `secret`), RS256 (the test's private key), or 'none'.
function jwt(claims, { alg = 'HS256', kid, secret = SECRET } = {}) {
  const header = { alg, typ: 'JWT', ...(kid ? { kid } : {}) };
  const signing = `${b64(header)}.${b64({ exp: now() + 600, ...claims })}`;
  let sig = '';
  if (alg === 'HS256') sig = createHmac('sha256', secret).update(signing).digest('base64url');
  if (alg === 'RS256') sig = createSign('RSA-SHA256').update(signing).sign(privateKey).toString('base64url');
  return `${signing}.${sig}`;
}

const bearer = (t) => ({ authorization: `Bearer ${t}` });

async function post(srv, stream, body, headers = {}) {
  return request(srv, 'POST', `/v1/publish/${streamPath(stream)}`, {
    body: JSON.stringify(body), contentType: 'application/json', headers,
  });
}

// Opens /v1/ws with a query and headers; resolves a WsClient or rejects
// with the HTTP status of a refused upgrade.
function wsOpen(srv, query = '', options = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${srv.wsBase}/v1/ws${query}`, { perMessageDeflate: false, ...options });
    const client = new WsClient(ws);
    const t = setTimeout(() => { ws.terminate(); reject(new Error('connect timed out')); }, 10000);
    ws.once('open', () => { clearTimeout(t); resolve(client); });
    ws.once('unexpected-response', (req, res) => {
      clearTimeout(t);
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body })));
    });
    ws.once('error', (e) => { clearTimeout(t); reject(e); });
  });
}

// Reads an SSE response as text blocks until `pred(text)` or the end.
async function sseRead(srv, query, headers, pred, timeoutMs = 8000) {
  const ctrl = new AbortController();
  let timedOut = false;
  const t = setTimeout(() => { timedOut = true; ctrl.abort(); }, timeoutMs);
  const res = await fetch(`${srv.base}/v1/sse?${query}`, { headers, signal: ctrl.signal });
  let text = '';
  let ended = false;
  if (res.status === 200) {
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) { ended = true; break; }
        text += Buffer.from(value).toString('utf8');
        if (pred(text)) break;
      }
    } catch {
      // The hub closed the socket (ended) or the time ran out.
      ended = !timedOut;
    }
    ctrl.abort();
  } else {
    text = await res.text();
  }
  clearTimeout(t);
  return { status: res.status, headers: res.headers, text, ended };
}

describe('auth', () => {
  let srv;
  let dir;
  let opsMetrics;
  // Waits until `n` SSE connections are open (so they are subscribed).
  const sseOpen = (n) => until(async () => {
    const r = await request(srv, 'GET', '/metrics', { headers: { 'x-api-key': OPS_KEY } });
    return parseMetrics(r.text).some((m) => m.name === 'livehub_connections' && m.labels.includes('sse') && m.value >= n);
  }, 10000, `${n} SSE connection(s)`);

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'livehub-auth-'));
    const pem = path.join(dir, 'rsa.pem');
    writeFileSync(pem, PUBLIC_PEM);
    srv = await startServer({
      auth: {
        jwt: { hs256_secret: '${LH_TEST_SECRET}', public_keys: [{ kid: 'rsa1', file: pem }], leeway_s: 0 },
        api_keys: [
          { name: 'ingest', sha256: sha256(INGEST_KEY), publish: ['ingest/**'], subscribe: ['ingest/**'] },
          { name: 'ops', sha256: sha256(OPS_KEY), scopes: ['admin', 'metrics'] },
        ],
        anonymous: { subscribe: ['public/**'] },
        allowed_origins: ['https://app.example.com'],
      },
    }, { env: { LH_TEST_SECRET: SECRET } });
    opsMetrics = async () => {
      const r = await request(srv, 'GET', '/metrics', { headers: { 'x-api-key': OPS_KEY } });
      assert.equal(r.status, 200, r.text);
      return parseMetrics(r.text).filter((m) => m.name === 'livehub_auth_refusals_total');
    };
  });

  after(async () => {
    await srv?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('HTTP publish: allowed with a covering token or key, refused with a specific code', async () => {
    const s = `ingest/${uid()}`;
    let r = await post(srv, s, { a: 1 });
    assert.equal(r.status, 401);
    assert.equal(r.json.error.code, 'unauthorized');
    assert.match(r.headers.get('www-authenticate'), /Bearer/);
    r = await post(srv, s, { a: 1 }, { 'x-api-key': INGEST_KEY });
    assert.equal(r.status, 200, r.text);
    r = await post(srv, s, { a: 2 }, bearer(INGEST_KEY));
    assert.equal(r.status, 200, r.text);
    r = await post(srv, `other/${uid()}`, { a: 1 }, { 'x-api-key': INGEST_KEY });
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'forbidden');
    r = await post(srv, s, { a: 3 }, bearer(jwt({ sub: 'p', publish: ['ingest/**'] })));
    assert.equal(r.status, 200, r.text);
    r = await post(srv, s, { a: 3 }, bearer(jwt({ sub: 'p', publish: ['ingest/**'] }, { alg: 'RS256', kid: 'rsa1' })));
    assert.equal(r.status, 200, r.text);
    r = await post(srv, s, { a: 1 }, { 'x-api-key': 'not-a-key' });
    assert.equal(r.status, 401);
    assert.equal(r.json.error.code, 'unknown_api_key');
    // Nothing refused was appended.
    const h = await request(srv, 'GET', `/v1/history/${streamPath(s)}`, { headers: { 'x-api-key': INGEST_KEY } });
    assert.equal(h.status, 200, h.text);
    assert.deepEqual(h.json.events.map((e) => e.data.a), [1, 2, 3, 3]);
  });

  test('forged, expired, none, HS/RS confusion and wrong-kid tokens are refused by name', async () => {
    const s = `ingest/${uid()}`;
    const grant = { sub: 'mallory', publish: ['**'] };
    const cases = [
      [jwt(grant, { secret: 'another-secret-another-secret-another' }), 'bad_signature'],
      [jwt({ ...grant, exp: now() - 5 }), 'token_expired'],
      [jwt({ ...grant, nbf: now() + 600 }), 'token_not_yet_valid'],
      [jwt(grant, { alg: 'none' }), 'unsupported_alg'],
      // The RSA public key used as the HMAC secret of an HS256 token.
      [jwt(grant, { secret: PUBLIC_PEM }), 'bad_signature'],
      [jwt(grant, { secret: PUBLIC_PEM, kid: 'rsa1' }), 'unknown_key'],
      [jwt(grant, { alg: 'RS256', kid: 'rsa9' }), 'unknown_key'],
      ['abc.def', 'unknown_api_key'],
      [`${b64('{"alg":"HS256"')}.${b64({})}.x`, 'invalid_token'],
    ];
    const before = await opsMetrics();
    for (const [token, code] of cases) {
      const r = await post(srv, s, { x: 1 }, bearer(token));
      assert.equal(r.status, 401, `${code}: ${r.text}`);
      assert.equal(r.json.error.code, code, r.text);
    }
    const afterM = await opsMetrics();
    const count = (ms, reason) => ms.filter((m) => m.labels.includes(`reason="${reason}"`)).reduce((a, m) => a + m.value, 0);
    assert.ok(count(afterM, 'bad_signature') >= count(before, 'bad_signature') + 2);
    assert.ok(count(afterM, 'token_expired') >= count(before, 'token_expired') + 1);
    assert.ok(count(afterM, 'unsupported_alg') >= count(before, 'unsupported_alg') + 1);
    const h = await request(srv, 'GET', `/v1/status/${streamPath(s)}`, { headers: { 'x-api-key': INGEST_KEY } });
    assert.equal(h.status, 404, 'no refused publish created the stream');
  });

  test('REST reads, stream list, sources control and metrics follow the grants', async () => {
    const s = `ingest/${uid()}`;
    assert.equal((await post(srv, s, { v: 1 }, { 'x-api-key': INGEST_KEY })).status, 200);
    const reader = bearer(jwt({ sub: 'r', subscribe: ['elsewhere/**'] }));
    let r = await request(srv, 'GET', `/v1/history/${streamPath(s)}`, { headers: reader });
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'forbidden');
    r = await request(srv, 'GET', `/v1/history/${streamPath(s)}`);
    assert.equal(r.status, 401);
    r = await request(srv, 'GET', '/v1/streams', { headers: reader });
    assert.equal(r.status, 200);
    assert.ok(!r.json.streams.some((x) => x.stream === s), 'uncovered stream listed');
    r = await request(srv, 'GET', '/v1/streams', { headers: { 'x-api-key': INGEST_KEY } });
    assert.ok(r.json.streams.some((x) => x.stream === s), 'covered stream not listed');
    r = await request(srv, 'POST', '/v1/sources/x/control', { body: '{}', headers: reader });
    assert.equal(r.status, 403);
    r = await request(srv, 'POST', '/v1/sources/x/control', { body: '{}', headers: { 'x-api-key': OPS_KEY } });
    assert.equal(r.status, 404, 'admin passes the policy (and there is no such source)');
    r = await request(srv, 'GET', '/metrics', { headers: reader });
    assert.equal(r.status, 403);
    r = await request(srv, 'GET', '/healthz');
    assert.equal(r.status, 200);
  });

  test('WebSocket: subscribe and publish allowed and refused; $sys/events needs admin', async () => {
    const token = jwt({ sub: 'w', subscribe: ['ingest/**'], publish: ['ingest/w/*'] });
    const c = await wsOpen(srv, `?token=${token}`);
    try {
      let r = await c.request({ op: 'subscribe', streams: ['secret/**'] });
      assert.equal(r.type, 'error');
      assert.equal(r.code, 'forbidden');
      r = await c.request({ op: 'subscribe', streams: ['$sys/events'] });
      assert.equal(r.code, 'forbidden');
      r = await c.request({ op: 'publish', stream: 'ingest/x/y', data: { a: 1 } });
      assert.equal(r.code, 'forbidden');
      const s = `ingest/w/${uid()}`;
      await c.subscribe([s]);
      r = await c.request({ op: 'publish', stream: s, data: { a: 1 } });
      assert.equal(r.type, 'published', JSON.stringify(r));
      await c.waitFor((m) => m.type === 'event' && m.stream === s);
    } finally { c.close(); }
    // Anonymous: only the anonymous grant.
    const a = await wsOpen(srv);
    try {
      const r = await a.request({ op: 'subscribe', streams: ['ingest/**'] });
      assert.equal(r.code, 'unauthorized');
      assert.equal((await a.request({ op: 'subscribe', streams: ['public/**'] })).type, 'subscribed');
    } finally { a.close(); }
    const ops = await wsOpen(srv, '', { headers: { 'x-api-key': OPS_KEY } });
    try {
      assert.equal((await ops.request({ op: 'subscribe', streams: ['$sys/events'] })).type, 'subscribed');
    } finally { ops.close(); }
    await assert.rejects(wsOpen(srv, '?token=garbage.garbage.garbage'), (e) => e.status === 401);
  });

  test('a pattern subscription never delivers an uncovered stream, existing or created later', async () => {
    const room = `room-${uid()}`;
    const publisher = bearer(jwt({ sub: 'pub', publish: [`${room}/**`] }));
    assert.equal((await post(srv, `${room}/b/old`, { n: 0 }, publisher)).status, 200);
    const token = jwt({ sub: 'viewer', subscribe: [`${room}/a/*`] });
    const c = await wsOpen(srv, `?token=${token}`);
    const sse = sseRead(srv, `streams=${room}/**&token=${token}`, {}, (t) => t.includes(`${room}/a/late`) && t.includes('"n":3'));
    try {
      await c.subscribe([`${room}/**`]);
      await sseOpen(1);
      for (const [s, n] of [[`${room}/b/late`, 1], [`${room}/a/late`, 2], [`${room}/b/late`, 3], [`${room}/a/late`, 3]]) {
        assert.equal((await post(srv, s, { n }, publisher)).status, 200);
      }
      await c.waitFor((m) => m.type === 'event' && m.stream === `${room}/a/late` && m.data.n === 3);
      const streams = new Set(c.events().map((m) => m.stream));
      assert.deepEqual([...streams], [`${room}/a/late`]);
      const r = await sse;
      assert.equal(r.status, 200);
      assert.ok(r.text.includes(`${room}/a/late`), r.text.slice(0, 500));
      assert.ok(!r.text.includes(`${room}/b/`), 'SSE leaked an uncovered stream');
    } finally { c.close(); }
  });

  test('SSE: refused without a grant, allowed with ?token= and with the cookie', async () => {
    let r = await sseRead(srv, 'streams=ingest/**', {}, () => true);
    assert.equal(r.status, 401);
    assert.equal(JSON.parse(r.text).error.code, 'unauthorized');
    const token = jwt({ sub: 's', subscribe: ['ingest/**'] });
    r = await sseRead(srv, 'streams=secret/**', bearer(token), () => true);
    assert.equal(r.status, 403);
    const s = `ingest/${uid()}`;
    const got = sseRead(srv, `streams=${s}`, { cookie: `other=1; livehub_token=${token}` }, (t) => t.includes('"v":7'));
    await sseOpen(1);
    assert.equal((await post(srv, s, { v: 7 }, { 'x-api-key': INGEST_KEY })).status, 200);
    r = await got;
    assert.equal(r.status, 200);
    assert.match(r.text, /event: event\ndata: .*"v":7/);
  });

  test('expiry closes the connection with a reason; refresh extends it', async () => {
    const short = jwt({ sub: 'e', subscribe: ['ingest/**'], exp: now() + 3 });
    const c = await wsOpen(srv, `?token=${short}`);
    const r = await c.request({ op: 'refresh', token: jwt({ sub: 'e', subscribe: ['ingest/**'], exp: now() + 60 }) });
    assert.equal(r.type, 'refreshed', JSON.stringify(r));
    const d = await wsOpen(srv, `?token=${short}`);
    const bad = await d.request({ op: 'refresh', token: jwt({ sub: 'someone-else', exp: now() + 60 }) });
    assert.equal(bad.code, 'forbidden');
    const closed = await d.waitClose(8000);
    assert.equal(closed.code, 4401);
    assert.match(closed.reason, /token_expired/);
    assert.ok(d.messages.some((m) => m.type === 'error' && m.code === 'token_expired'));
    // The refreshed one is still open after the first token's expiry.
    assert.equal(c.closed, null);
    assert.equal((await c.request({ op: 'ping' })).type, 'pong');
    c.close();
    // SSE: an error event naming the reason, then the end of the stream.
    const sse = await sseRead(srv, 'streams=ingest/**',
      bearer(jwt({ sub: 'e', subscribe: ['ingest/**'], exp: now() + 2 })), () => false, 8000);
    assert.equal(sse.status, 200);
    assert.ok(sse.ended, 'SSE stream did not end at expiry');
    assert.match(sse.text, /event: error\ndata: \{"type":"error","code":"token_expired"/);
  });

  test('a refresh with a narrower grant detaches what it no longer covers', async () => {
    const keep = `ingest/keep-${uid()}`;
    const drop = `ingest/drop-${uid()}`;
    for (const s of [keep, drop]) assert.equal((await post(srv, s, { n: 0 }, { 'x-api-key': INGEST_KEY })).status, 200);
    const c = await wsOpen(srv, `?token=${jwt({ sub: 'n', subscribe: ['ingest/**'] })}`);
    try {
      await c.subscribe(['ingest/**']);
      const r = await c.request({ op: 'refresh', token: jwt({ sub: 'n', subscribe: ['ingest/keep-*'] }) });
      assert.equal(r.type, 'refreshed', JSON.stringify(r));
      assert.ok(r.revoked.includes(drop), JSON.stringify(r));
      assert.ok(!r.revoked.includes(keep));
      const from = c.messages.length;
      for (const s of [drop, keep]) assert.equal((await post(srv, s, { n: 1 }, { 'x-api-key': INGEST_KEY })).status, 200);
      await c.waitFor((m) => m.type === 'event' && m.stream === keep && m.data.n === 1, 5000, { from });
      assert.ok(!c.messages.slice(from).some((m) => m.stream === drop), 'revoked stream still delivered');
    } finally { c.close(); }
  });

  test('CORS preflight and the WebSocket Origin check use the allowlist', async () => {
    let r = await request(srv, 'OPTIONS', '/v1/publish/ingest/x', {
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.equal(r.headers.get('access-control-allow-credentials'), 'true');
    assert.match(r.headers.get('access-control-allow-headers'), /Authorization/);
    r = await request(srv, 'OPTIONS', '/v1/publish/ingest/x', { headers: { origin: 'https://evil.example' } });
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'origin_not_allowed');
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    r = await post(srv, `ingest/${uid()}`, { a: 1 }, { 'x-api-key': INGEST_KEY, origin: 'https://evil.example' });
    assert.equal(r.status, 403, 'a cross-site POST is refused, not just unreadable');
    r = await post(srv, `ingest/${uid()}`, { a: 1 }, { 'x-api-key': INGEST_KEY, origin: 'https://app.example.com' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), 'https://app.example.com');
    await assert.rejects(wsOpen(srv, '?streams=public/x', { origin: 'https://evil.example' }), (e) => e.status === 403);
    const ok = await wsOpen(srv, '?streams=public/x', { origin: 'https://app.example.com' });
    ok.close();
  });
});

describe('safe defaults', () => {
  test('non-loopback listen without auth refuses to start; --insecure starts', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'livehub-auth-'));
    try {
      const proc = spawn(BIN, ['serve', '--no-demo', '--listen', '0.0.0.0:0', '--data-dir', path.join(dir, 'd')],
        { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      proc.stderr.on('data', (d) => { err += d; });
      const code = await new Promise((resolve) => proc.once('exit', resolve));
      assert.equal(code, 2);
      assert.match(err, /refusing to listen on 0\.0\.0\.0 without authentication/);
      assert.match(err, /--insecure/);
    } finally { rmSync(dir, { recursive: true, force: true }); }
    const srv = await startServer({}, { extraArgs: ['--listen', '0.0.0.0:0', '--insecure'] });
    try {
      await until(() => srv.stderr.some((l) => l.includes('insecure')), 5000, 'insecure warning');
      const r = await request(srv, 'GET', '/healthz');
      assert.equal(r.status, 200);
    } finally { await srv.stop(); }
  });

  test('check-config reads the key files and names a bad auth key', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'livehub-auth-'));
    const run = (cfg) => new Promise((resolve) => {
      const file = path.join(dir, 'c.yaml');
      writeFileSync(file, cfg);
      const p = spawn(BIN, ['check-config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d) => { err += d; });
      p.once('exit', (code) => resolve({ code, err }));
    });
    try {
      let r = await run(`auth:\n  jwt:\n    public_keys: [{kid: a, file: ${path.join(dir, 'missing.pem')}}]\n`);
      assert.equal(r.code, 2);
      assert.match(r.err, /missing\.pem/);
      r = await run('auth:\n  api_keys: [{name: a, sha256: plain-text-key}]\n');
      assert.equal(r.code, 2);
      assert.match(r.err, /auth\.api_keys\[0\]\.sha256/);
      r = await run('auth:\n  anonymous: {subscribe: ["a//b"]}\n');
      assert.equal(r.code, 2);
      assert.match(r.err, /auth\.anonymous\.subscribe/);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  test('an open loopback hub keeps anonymous read/write and CORS *', async () => {
    const srv = await startServer({});
    try {
      const r = await post(srv, `x/${uid()}`, { a: 1 }, { origin: 'https://anything.example' });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('access-control-allow-origin'), '*');
    } finally { await srv.stop(); }
  });
});
