// Polled sources against a real HTTP peer on 127.0.0.1 (a Node `http`
// server in this file):
//   http_poll  JSON records under a JSON Pointer with ETag / Last-Modified
//              (304s happen and publish nothing), NDJSON by Content-Type,
//              malformed JSON counted while polling goes on, HTTP 500 then
//              recovery (disconnected -> receiving, last_error), timeouts,
//              oversize bodies, the request-rate cap, header injection from
//              an environment secret (never shown in /v1/sources or logs),
//              and "304 forever" -> stalled.
//   gtfs_rt    a FeedMessage built with `protoc --encode` from a text
//              proto: vehicle / trip / alert streams and their fields, the
//              stale flag, an unchanged header.timestamp not republished,
//              malformed bytes counted.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { fullHistory, request, startServer, uid, until } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const PROTO_DIR = path.resolve(here, '../../proto');
const TOKEN = `tok-${uid('secret')}`;

// The peer: every route's behaviour is a field of `peer` the tests change.
const peer = {
  items: { version: 1, list: [{ id: 'a', v: 1 }, { id: 'b', v: 2 }], requests: 0, conditionalHits: 0 },
  nd: { requests: 0 },
  bad: { malformed: true, requests: 0 },
  flaky: { fail: true, requests: 0 },
  rate: { requests: [] },
  auth: { seen: [] },
  still: { requests: 0, notModified: 0 },
  hang: { requests: 0 },
  big: { requests: 0 },
  gtfs: { body: Buffer.alloc(0), requests: 0 },
};

function serve(req, res) {
  const url = new URL(req.url, 'http://x');
  const send = (status, body, headers = {}) => {
    res.writeHead(status, headers);
    res.end(body);
  };
  switch (url.pathname) {
    case '/items': {
      const p = peer.items;
      p.requests += 1;
      const etag = `"v${p.version}"`;
      const lastModified = new Date(Date.UTC(2026, 0, 1, 0, 0, p.version)).toUTCString();
      if (req.headers['if-none-match'] === etag && req.headers['if-modified-since'] === lastModified) {
        p.conditionalHits += 1;
        return send(304, undefined, { ETag: etag });
      }
      return send(200, JSON.stringify({ meta: { version: p.version }, data: { items: p.list } }), {
        'Content-Type': 'application/json', ETag: etag, 'Last-Modified': lastModified,
      });
    }
    case '/nd':
      peer.nd.requests += 1;
      return send(200, `{"n":${peer.nd.requests},"k":"x"}\n{"n":${peer.nd.requests},"k":"y"}\n`,
        { 'Content-Type': 'application/x-ndjson' });
    case '/bad':
      peer.bad.requests += 1;
      return send(200, peer.bad.malformed ? '{"items": [1, 2' : '{"items": [{"ok": true}]}',
        { 'Content-Type': 'application/json' });
    case '/flaky':
      peer.flaky.requests += 1;
      if (peer.flaky.fail) return send(500, 'boom');
      return send(200, JSON.stringify({ recovered: peer.flaky.requests }));
    case '/rate':
      peer.rate.requests.push(Date.now());
      return send(200, JSON.stringify({ t: Date.now() }));
    case '/auth':
      peer.auth.seen.push(req.headers.authorization || '');
      return send(200, JSON.stringify({ ok: true }));
    case '/still': {
      peer.still.requests += 1;
      if (req.headers['if-none-match'] === '"same"') {
        peer.still.notModified += 1;
        return send(304, undefined, { ETag: '"same"' });
      }
      return send(200, JSON.stringify({ once: true }), { ETag: '"same"' });
    }
    case '/hang':
      peer.hang.requests += 1;
      return undefined; // never answers: the source's timeout must fire
    case '/big':
      peer.big.requests += 1;
      return send(200, JSON.stringify({ pad: 'x'.repeat(4096) }));
    case '/gtfs':
      peer.gtfs.requests += 1;
      return send(200, peer.gtfs.body, { 'Content-Type': 'application/x-protobuf' });
    default:
      return send(404, 'no such route');
  }
}

// A FeedMessage from text format, encoded by protoc with the repo's proto.
function encodeFeed(text) {
  return execFileSync('protoc', [`-I${PROTO_DIR}`, '--encode=transit_realtime.FeedMessage',
    path.join(PROTO_DIR, 'gtfs-realtime.proto')], { input: text, maxBuffer: 1 << 20 });
}

function feedText(headerTs, nowS, vehicleLat = 52.5) {
  return `
header { gtfs_realtime_version: "2.0" timestamp: ${headerTs} }
entity { id: "e-v1" vehicle {
  vehicle { id: "bus 1" label: "One" } trip { trip_id: "T1" route_id: "R1" }
  position { latitude: ${vehicleLat} longitude: 13.25 bearing: 90 speed: 5.5 }
  timestamp: ${nowS} current_status: STOPPED_AT stop_id: "S1" } }
entity { id: "e-v2" vehicle {
  vehicle { id: "bus-2" } position { latitude: 1 longitude: 2 }
  timestamp: ${nowS - 1000} } }
entity { id: "e-t1" trip_update {
  trip { trip_id: "T1" route_id: "R1" }
  stop_time_update { stop_sequence: 4 stop_id: "S4" arrival { delay: 60 } departure { delay: 90 time: ${nowS + 300} } } } }
entity { id: "al-1" alert {
  active_period { start: ${nowS - 60} end: ${nowS + 3600} }
  informed_entity { route_id: "R1" }
  cause: CONSTRUCTION effect: DETOUR
  header_text { translation { text: "Umleitung" language: "de" } translation { text: "Detour" language: "en" } }
  description_text { translation { text: "Use stop S5" } } } }
`;
}

async function sources(srv) {
  const r = await request(srv, 'GET', '/v1/sources');
  assert.equal(r.status, 200, r.text);
  return r;
}

async function source(srv, id) {
  const r = await sources(srv);
  return r.json.sources.find((s) => s.id === id);
}

async function events(srv, stream) {
  const r = await request(srv, 'GET', `/v1/history/${stream}?from_seq=1&limit=1000`);
  return r.status === 200 ? r.json.events : [];
}

describe('polled sources', () => {
  let srv;
  let web;
  const p = uid('poll');
  const feed = uid('feed');
  const fast = { initial_s: 0.1, max_s: 0.3 };

  before(async () => {
    const nowS = Math.floor(Date.now() / 1000);
    peer.gtfs.body = encodeFeed(feedText(nowS, nowS));
    peer.gtfs.firstTs = nowS;
    web = http.createServer(serve);
    await new Promise((r) => web.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${web.address().port}`;
    const poll = (route, extra = {}) => ({ url: `${base}${route}`, interval_s: 0.2, max_requests_per_min: 600, ...extra });
    srv = await startServer({
      sources: [
        { id: 'items', type: 'http_poll', stream: `${p}/items/{field:id}`, http_poll: poll('/items', { records_pointer: '/data/items' }) },
        { id: 'nd', type: 'http_poll', stream: `${p}/nd`, http_poll: poll('/nd', { interval_s: 0.5 }) },
        { id: 'bad', type: 'http_poll', stream: `${p}/bad`, http_poll: poll('/bad', { records_pointer: '/items' }) },
        { id: 'flaky', type: 'http_poll', stream: `${p}/flaky`, backoff: fast, http_poll: poll('/flaky') },
        { id: 'rate', type: 'http_poll', stream: `${p}/rate`, http_poll: { url: `${base}/rate`, interval_s: 0.05, max_requests_per_min: 60 } },
        { id: 'auth', type: 'http_poll', stream: `${p}/auth`, headers: { Authorization: '${POLL_TOKEN}' }, http_poll: poll('/auth', { interval_s: 1 }) },
        { id: 'still', type: 'http_poll', stream: `${p}/still`, stall_after_min_s: 1, http_poll: poll('/still') },
        { id: 'hang', type: 'http_poll', stream: `${p}/hang`, backoff: fast, http_poll: poll('/hang', { timeout_s: 0.3 }) },
        { id: 'big', type: 'http_poll', stream: `${p}/big`, max_message_bytes: 1024, http_poll: poll('/big', { interval_s: 0.5 }) },
        { id: 'gtfs', type: 'gtfs_rt', gtfs_rt: { url: `${base}/gtfs`, interval_s: 0.2, max_requests_per_min: 600, feed, stale_after_s: 90 } },
      ],
    }, { env: { POLL_TOKEN: `Bearer ${TOKEN}` } });
  });

  after(async () => {
    if (srv) await srv.stop();
    if (web) {
      web.closeAllConnections();
      await new Promise((r) => web.close(r));
    }
  });

  test('JSON records under a pointer; ETag/Last-Modified make 304s that publish nothing', async () => {
    await until(async () => (await events(srv, `${p}/items/b`)).length >= 1, 15000, 'items published');
    const a = await events(srv, `${p}/items/a`);
    assert.deepEqual(a[0].data, { id: 'a', v: 1 });
    await until(() => peer.items.conditionalHits >= 3, 15000, 'conditional 304s');
    assert.equal((await events(srv, `${p}/items/a`)).length, 1, 'a 304 republished nothing');
    const s = await source(srv, 'items');
    assert.ok(s.not_modified >= 3, JSON.stringify(s));
    assert.ok(['receiving', 'subscribed', 'stalled'].includes(s.state), s.state);
    assert.equal(s.records_pointer, '/data/items');
    // A new version is fetched and published once.
    peer.items.list = [{ id: 'a', v: 2 }];
    peer.items.version = 2;
    await until(async () => (await events(srv, `${p}/items/a`)).length === 2, 15000, 'new version');
    assert.deepEqual((await events(srv, `${p}/items/a`))[1].data, { id: 'a', v: 2 });
    assert.equal((await events(srv, `${p}/items/b`)).length, 1);
  });

  test('NDJSON by Content-Type: one event per line', async () => {
    const evs = await until(async () => {
      const e = await events(srv, `${p}/nd`);
      return e.length >= 4 && e;
    }, 15000, 'ndjson events');
    assert.deepEqual(evs[0].data, { n: 1, k: 'x' });
    assert.deepEqual(evs[1].data, { n: 1, k: 'y' });
    assert.equal((await source(srv, 'nd')).state, 'receiving');
  });

  test('malformed JSON is counted and polling continues', async () => {
    const s = await until(async () => {
      const x = await source(srv, 'bad');
      return (x.dropped.bad_json || 0) >= 3 && x;
    }, 15000, 'bad_json drops');
    assert.equal((await events(srv, `${p}/bad`)).length, 0);
    assert.notEqual(s.state, 'disconnected', 'a bad body is not a broken connection');
    peer.bad.malformed = false;
    const evs = await until(async () => {
      const e = await events(srv, `${p}/bad`);
      return e.length >= 1 && e;
    }, 15000, 'recovered body published');
    assert.deepEqual(evs[0].data, { ok: true });
  });

  test('HTTP 500: disconnected with last_error, backoff retries, then receiving', async () => {
    const s = await until(async () => {
      const x = await source(srv, 'flaky');
      return x.state === 'disconnected' && x.reconnects >= 2 && x;
    }, 15000, 'flaky disconnected');
    assert.match(s.last_error, /HTTP 500/);
    assert.match(s.last_error, /\/flaky/);
    const before = peer.flaky.requests;
    peer.flaky.fail = false;
    await until(async () => (await source(srv, 'flaky')).state === 'receiving', 15000, 'flaky receiving');
    assert.ok(peer.flaky.requests > before);
    const evs = await events(srv, `${p}/flaky`);
    assert.ok(evs.length >= 1 && evs[0].data.recovered > before, JSON.stringify(evs[0]));
  });

  test('a request that never answers times out and is reported', async () => {
    const s = await until(async () => {
      const x = await source(srv, 'hang');
      return x.reconnects >= 2 && x.last_error && x;
    }, 15000, 'hang timeouts');
    assert.match(s.last_error, /timed out/);
    assert.ok(['disconnected', 'connecting'].includes(s.state), s.state);
  });

  test('an oversize body is dropped as oversize, polling continues', async () => {
    await until(async () => ((await source(srv, 'big')).dropped.oversize || 0) >= 2, 15000, 'oversize drops');
    assert.equal((await events(srv, `${p}/big`)).length, 0);
  });

  test('the request-rate cap holds when the interval is smaller', async () => {
    await until(() => peer.rate.requests.length >= 2, 15000, 'rate requests');
    const start = Date.now();
    const n0 = peer.rate.requests.length;
    await new Promise((r) => setTimeout(r, 2000));
    const n = peer.rate.requests.filter((t) => t >= start).length;
    assert.ok(n <= 3, `${n} requests in 2 s with max_requests_per_min 60 (had ${n0} before)`);
    // Every 2 s window since the start holds at most 3 arrivals (one per
    // second at the hub, plus transit jitter), not the ~40 the interval asks.
    const times = peer.rate.requests;
    for (const t0 of times) {
      const inWindow = times.filter((t) => t >= t0 && t < t0 + 2000).length;
      assert.ok(inWindow <= 3, `${inWindow} requests within 2 s of ${t0}`);
    }
  });

  test('headers from an environment secret reach the peer and are never shown', async () => {
    await until(() => peer.auth.seen.length >= 1, 15000, 'auth request');
    assert.equal(peer.auth.seen[0], `Bearer ${TOKEN}`);
    const list = await sources(srv);
    assert.ok(!list.text.includes(TOKEN), 'token in /v1/sources');
    const one = await request(srv, 'GET', '/v1/sources/auth');
    assert.equal(one.status, 200);
    assert.ok(!one.text.includes(TOKEN), 'token in /v1/sources/auth');
    assert.deepEqual(one.json.header_names, ['Authorization']);
    assert.ok(!srv.stderr.join('\n').includes(TOKEN), 'token in the hub output');
  });

  test('304 forever is connected but no new data: stalled', async () => {
    const s = await until(async () => {
      const x = await source(srv, 'still');
      return x.state === 'stalled' && x;
    }, 15000, 'still stalled');
    assert.ok(peer.still.notModified >= 1);
    assert.equal(s.last_error, null);
    assert.equal((await events(srv, `${p}/still`)).length, 1);
  });

  test('GTFS-RT: vehicles, trips and alerts with their fields and the stale flag', async () => {
    const v1 = `transit/${feed}/vehicles/bus_1`;
    const [e1] = await until(async () => {
      const e = await events(srv, v1);
      return e.length >= 1 && e;
    }, 15000, 'vehicle event');
    assert.equal(e1.data.vehicle_id, 'bus 1');
    assert.equal(e1.data.vehicle_label, 'One');
    assert.equal(e1.data.trip_id, 'T1');
    assert.equal(e1.data.route_id, 'R1');
    assert.equal(e1.data.lat, 52.5);
    assert.equal(e1.data.lon, 13.25);
    assert.equal(e1.data.bearing, 90);
    assert.equal(e1.data.speed, 5.5);
    assert.equal(e1.data.current_status, 'STOPPED_AT');
    assert.equal(e1.data.stop_id, 'S1');
    assert.equal(e1.data.stale, false);
    const [e2] = await events(srv, `transit/${feed}/vehicles/bus-2`);
    assert.equal(e2.data.stale, true, 'a position 1000 s old is stale');
    const [t1] = await events(srv, `transit/${feed}/trips/T1`);
    assert.equal(t1.data.route_id, 'R1');
    assert.equal(t1.data.delay, 90);
    assert.equal(t1.data.stop_time_updates.length, 1);
    assert.deepEqual(
      { ...t1.data.stop_time_updates[0], departure_time: 0 },
      { stop_sequence: 4, stop_id: 'S4', arrival_delay: 60, arrival_time: null, departure_delay: 90, departure_time: 0, schedule_relationship: null },
    );
    const [al] = await events(srv, `transit/${feed}/alerts`);
    assert.equal(al.data.id, 'al-1');
    assert.equal(al.data.cause, 'CONSTRUCTION');
    assert.equal(al.data.effect, 'DETOUR');
    assert.equal(al.data.header, 'Detour');
    assert.equal(al.data.description, 'Use stop S5');
    assert.deepEqual(al.data.informed_entities, [{ route_id: 'R1' }]);
    assert.equal(al.data.active_periods.length, 1);
  });

  test('GTFS-RT: an unchanged header.timestamp is not republished; malformed bytes are counted', async () => {
    const v1 = `transit/${feed}/vehicles/bus_1`;
    await until(async () => ((await source(srv, 'gtfs')).dropped.unchanged_feed || 0) >= 3, 15000, 'unchanged polls');
    assert.equal((await events(srv, v1)).length, 1, 'the same feed was republished');
    peer.gtfs.body = Buffer.from([0x0a, 0xff, 0xff, 0x01, 0x02]);
    const s = await until(async () => {
      const x = await source(srv, 'gtfs');
      return (x.dropped.bad_protobuf || 0) >= 2 && x;
    }, 15000, 'bad_protobuf drops');
    assert.notEqual(s.state, 'disconnected');
    const nowS = Math.floor(Date.now() / 1000);
    peer.gtfs.body = encodeFeed(feedText(peer.gtfs.firstTs + 1, nowS, 48.25));
    const evs = await until(async () => {
      const e = await events(srv, v1);
      return e.length === 2 && e;
    }, 15000, 'new feed published');
    assert.equal(evs[1].data.lat, 48.25);
  });

  test('shutdown with fetches in flight (a hanging peer) is clean', async () => {
    await until(() => peer.hang.requests >= 1, 15000, 'a hanging request');
    const r = await srv.stop(10000);
    assert.equal(r.killed, false, 'the hub did not stop within 10 s');
    assert.equal(r.code, 0, srv.tail());
    assert.ok(!/AddressSanitizer|runtime error|LeakSanitizer/.test(srv.stderr.join('\n')), srv.tail());
  });
});

describe('polled sources over TLS', () => {
  test('https: verified against ca_file (by name), refused without it, allowed with verify off', async () => {
    const https = await import('node:https');
    const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
    const os = await import('node:os');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'livehub-poll-tls-'));
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
      '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });
    let n = 0;
    const peer = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
      n += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify([{ n }]));
    });
    await new Promise((r) => peer.listen(0, '127.0.0.1', r));
    const port = peer.address().port;
    const poll = { interval_s: 0.2, max_requests_per_min: 600 };
    const server = await startServer({
      sources: [
        { id: 'tls-ca', type: 'http_poll', stream: 'tlspoll/ca', tls: { ca_file: cert }, http_poll: { url: `https://localhost:${port}/feed`, ...poll } },
        { id: 'tls-none', type: 'http_poll', stream: 'tlspoll/none', backoff: { initial_s: 0.2, max_s: 0.5 }, http_poll: { url: `https://localhost:${port}/feed`, ...poll } },
        // The certificate names localhost only: by IP the host name check fails.
        { id: 'tls-ip', type: 'http_poll', stream: 'tlspoll/ip', tls: { ca_file: cert }, backoff: { initial_s: 0.2, max_s: 0.5 }, http_poll: { url: `https://127.0.0.1:${port}/feed`, ...poll } },
        { id: 'tls-off', type: 'http_poll', stream: 'tlspoll/off', tls: { verify: false }, http_poll: { url: `https://127.0.0.1:${port}/feed`, ...poll } },
      ],
    });
    const src = async (id) => (await request(server, 'GET', `/v1/sources/${id}`)).json;
    try {
      for (const id of ['tls-ca', 'tls-off']) {
        await until(async () => (await src(id)).events_published >= 2, 15000, `${id} publishing over https`);
      }
      for (const id of ['tls-none', 'tls-ip']) {
        await until(async () => { const s = await src(id); return s.reconnects >= 1 && s.last_error; }, 15000, `${id} refused`);
        const s = await src(id);
        assert.equal(s.events_published, 0, JSON.stringify(s));
        assert.match(s.last_error, /certificate|verify|handshake/i, s.last_error);
      }
    } finally {
      await server.stop();
      peer.closeAllConnections();
      await new Promise((r) => peer.close(r));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
