// Schema registry end to end: PUT/GET /v1/schema, refusals over HTTP and
// WebSocket publish naming field and types, a bad batch appends nothing,
// schema_warning events on $sys/events, CSV typed by the schema, config
// `schemas:`, and schemas surviving a restart with the store on.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { metricSum, publish, request, startServer, uid, WsClient } from './harness.mjs';

const putSchema = (srv, pattern, schema) =>
  request(srv, 'PUT', `/v1/schema/${pattern}`, { body: JSON.stringify(schema), contentType: 'application/json' });

describe('schema registry', () => {
  let srv;
  before(async () => {
    srv = await startServer({
      schemas: [{ pattern: 'cfg/**', fields: { v: 'int', t: 'timestamp' }, required: ['v'], time_index: 't', policy: 'reject' }],
    });
  });
  after(async () => { await srv?.stop(); });

  test('PUT registers a schema; GET shows the effective schema and the fields seen', async () => {
    const p = `sch/${uid('a')}`;
    const put = await putSchema(srv, `${p}/**`, {
      fields: { station: 'string', temp: 'float', ts: 'timestamp' }, required: ['station'], time_index: 'ts', policy: 'warn',
    });
    assert.equal(put.status, 200, put.text);
    assert.equal(put.json.time_index, 'ts');
    assert.equal((await publish(srv, `${p}/x`, { station: 's1', temp: 20, ts: 1732233600000, hum: 40 })).status, 200);
    const got = await request(srv, 'GET', `/v1/schema/${p}/x`);
    assert.equal(got.status, 200);
    assert.equal(got.json.schema.pattern, `${p}/**`);
    assert.deepEqual(got.json.schema.required, ['station']);
    assert.equal(got.json.schema.fields.hum.type, 'int');
    assert.equal(got.json.schema.fields.hum.discovered, true);
    assert.deepEqual(got.json.fields_seen, { hum: 'int', station: 'string', temp: 'float', ts: 'timestamp' });
    const none = await request(srv, 'GET', `/v1/schema/nothing/${uid('n')}`);
    assert.equal(none.status, 200);
    assert.equal(none.json.schema, null);
    const bad = await putSchema(srv, `${p}/bad`, { fields: { x: 'decimal' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'bad_schema');
    assert.match(bad.json.error.message, /fields\.x/);
  });

  test('a type mismatch or a missing required field refuses the whole batch, naming field, types and index', async () => {
    const p = `sch/${uid('b')}`;
    assert.equal((await putSchema(srv, `${p}/**`, { fields: { station: 'string', temp: 'float' }, required: ['station'] })).status, 200);
    const s = `${p}/x`;
    const r = await publish(srv, s, [{ station: 'a', temp: 1 }, { station: 'b', temp: 'hot' }]);
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.code, 'schema_type_mismatch');
    assert.equal(r.json.error.field, 'temp');
    assert.equal(r.json.error.expected, 'float');
    assert.equal(r.json.error.actual, 'string');
    assert.equal(r.json.error.index, 1);
    assert.equal((await request(srv, 'GET', `/v1/status/${s}`)).status, 404, 'nothing appended');
    const m = await publish(srv, s, '{"temp":1}\n', 'application/x-ndjson');
    assert.equal(m.status, 400);
    assert.equal(m.json.error.code, 'schema_missing_field');
    assert.equal(m.json.error.field, 'station');
    assert.ok(await metricSum(srv, 'livehub_schema_rejected_total') >= 2);
  });

  test('WebSocket publish goes through the same check', async () => {
    const p = `sch/${uid('c')}`;
    await putSchema(srv, `${p}/**`, { fields: { n: 'int' }, policy: 'reject' });
    const ws = await WsClient.connect(srv);
    try {
      const bad = await ws.request({ op: 'publish', stream: `${p}/x`, data: { n: 1.5 } });
      assert.equal(bad.type, 'error');
      assert.equal(bad.code, 'schema_type_mismatch');
      assert.equal(bad.field, 'n');
      assert.equal(bad.expected, 'int');
      assert.equal(bad.actual, 'float');
      const unknown = await ws.request({ op: 'publish', stream: `${p}/x`, data: { n: 1, extra: true } });
      assert.equal(unknown.code, 'schema_unknown_field');
      assert.equal(unknown.field, 'extra');
      const ok = await ws.request({ op: 'publish', stream: `${p}/x`, data: { n: 2 } });
      assert.equal(ok.type, 'published');
    } finally { ws.close(); }
  });

  test('a new field under policy warn emits schema_warning on $sys/events, once', async () => {
    const p = `sch/${uid('d')}`;
    await putSchema(srv, `${p}/**`, { fields: { a: 'int' }, policy: 'warn' });
    const ws = await WsClient.connect(srv);
    try {
      await ws.subscribe(['$sys/events']);
      const before = await metricSum(srv, 'livehub_schema_warnings_total');
      await publish(srv, `${p}/x`, [{ a: 1, fresh: 'x' }, { a: 2, fresh: 'y' }]);
      const w = await ws.waitFor((m) => m.type === 'event' && m.data.event === 'schema_warning' && m.data.field === 'fresh');
      assert.equal(w.data.inferred_type, 'string');
      assert.equal(w.data.stream, `${p}/x`);
      assert.equal(await metricSum(srv, 'livehub_schema_warnings_total'), before + 1);
    } finally { ws.close(); }
  });

  test('CSV columns take the schema types', async () => {
    const p = `sch/${uid('e')}`;
    await putSchema(srv, `${p}/**`, { fields: { id: 'string', n: 'int', on: 'bool' } });
    const s = `${p}/x`;
    assert.equal((await publish(srv, s, 'id,n,on\n007,042,1\n', 'text/csv')).status, 200);
    const h = await request(srv, 'GET', `/v1/history/${s}?from_seq=1`);
    assert.deepEqual(h.json.events[0].data, { id: '007', n: 42, on: true });
    const bad = await publish(srv, s, 'id,n,on\na,1,0\nb,many,0\n', 'text/csv');
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'schema_type_mismatch');
    assert.equal(bad.json.error.line, 3);
  });

  test('config schemas apply from the start', async () => {
    const r = await publish(srv, 'cfg/x', { v: 1, other: 2 });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, 'schema_unknown_field');
    const got = await request(srv, 'GET', '/v1/schema/cfg/x');
    assert.equal(got.json.schema.time_index, 't');
  });
});

describe('schema persistence', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'livehub-schema-it-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('schemas put over HTTP (and discovered fields) survive a restart', { timeout: 30000 }, async () => {
    let srv = await startServer({}, { dataDir: dir });
    try {
      await putSchema(srv, 'keep/**', { fields: { a: 'int' }, policy: 'allow' });
      assert.equal((await publish(srv, 'keep/x', { a: 1, found: 'x' })).status, 200);
    } finally { await srv.stop(); }
    srv = await startServer({}, { dataDir: dir });
    try {
      const got = await request(srv, 'GET', '/v1/schema/keep/y');
      assert.equal(got.json.schema.fields.a.type, 'int');
      assert.equal(got.json.schema.fields.found.type, 'string');
      assert.equal((await publish(srv, 'keep/y', { a: 'no' })).status, 400);
    } finally { await srv.stop(); }
  });
});
