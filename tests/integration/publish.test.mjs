// POST /v1/publish/{stream}: body formats, sequencing, and every rejection
// path. A rejected batch must append nothing (checked via /v1/status).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  fullHistory, pool, publish, publishOk, request, startServer, status, uid,
} from './harness.mjs';

const MAX_BODY = 65536;
const MAX_EVENT = 4096;

describe('publish', () => {
  let srv;
  before(async () => {
    srv = await startServer({ limits: { max_body_bytes: MAX_BODY, max_event_bytes: MAX_EVENT } });
  });
  after(async () => { await srv?.stop(); });

  async function latestSeq(stream) {
    const r = await status(srv, stream);
    assert.equal(r.status, 200, `status ${stream}: ${r.text}`);
    return r.json.latest_seq;
  }

  // Publishes one event so the stream exists, and returns its name.
  async function seeded(prefix) {
    const s = `pub/${uid(prefix)}`;
    await publishOk(srv, s, { seed: true });
    return s;
  }

  // Asserts a JSON error reply and that `stream` did not move.
  async function assertRejected(stream, r, httpStatus, code) {
    assert.equal(r.status, httpStatus, `expected HTTP ${httpStatus} ${code}, got ${r.status} ${r.text}`);
    assert.ok(r.json && r.json.error, `error body is not {"error":{...}}: ${r.text}`);
    assert.equal(r.json.error.code, code, `error code: ${r.text}`);
    assert.equal(typeof r.json.error.message, 'string');
    assert.ok(r.json.error.message.length > 0, 'error message is empty');
    assert.equal(await latestSeq(stream), 1, `rejected batch appended to ${stream}`);
  }

  test('one JSON value becomes one event, kept verbatim with a hub timestamp', { timeout: 10000 }, async () => {
    const s = `pub/${uid('one')}`;
    const data = { temp: 21.5, ok: true, tags: ['a', 'ü', '雪'], nested: { n: null, x: -3 } };
    const t0 = Date.now();
    const r = await publish(srv, s, data);
    const t1 = Date.now();
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.stream, s);
    assert.equal(typeof r.json.epoch, 'string');
    assert.ok(r.json.epoch.length > 0, 'empty epoch');
    assert.equal(r.json.first_seq, 1);
    assert.equal(r.json.last_seq, 1);
    const ev = await fullHistory(srv, s);
    assert.equal(ev.length, 1);
    assert.equal(ev[0].seq, 1);
    assert.deepEqual(ev[0].data, data);
    assert.ok(ev[0].ts >= t0 - 5 && ev[0].ts <= t1 + 5, `ts ${ev[0].ts} outside [${t0}, ${t1}]`);
  });

  test('a JSON array appends one event per element, in order', { timeout: 10000 }, async () => {
    const s = `pub/${uid('arr')}`;
    await publishOk(srv, s, { first: 1 });
    const batch = [{ i: 0 }, 42, 'str', [1, 2], { i: 4 }];
    const r = await publishOk(srv, s, batch);
    assert.equal(r.first_seq, 2);
    assert.equal(r.last_seq, 6);
    const ev = await fullHistory(srv, s);
    assert.deepEqual(ev.map((e) => e.seq), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(ev.slice(1).map((e) => e.data), batch);
  });

  test('application/json with a charset parameter is accepted', { timeout: 10000 }, async () => {
    const s = `pub/${uid('charset')}`;
    const r = await publish(srv, s, JSON.stringify({ a: 1 }), 'application/json; charset=utf-8');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.last_seq, 1);
  });

  test('NDJSON appends one event per line', { timeout: 10000 }, async () => {
    const s = `pub/${uid('ndjson')}`;
    const lines = [{ a: 1 }, { b: [2] }, { c: 'x' }];
    const r = await publishOk(srv, s, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`, 'application/x-ndjson');
    assert.equal(r.first_seq, 1);
    assert.equal(r.last_seq, 3);
    assert.deepEqual((await fullHistory(srv, s)).map((e) => e.data), lines);
  });

  test('NDJSON accepts CRLF line ends and a last line without a newline', { timeout: 10000 }, async () => {
    const s = `pub/${uid('crlf')}`;
    const r = await publishOk(srv, s, '{"a":1}\r\n{"a":2}\r\n{"a":3}', 'application/x-ndjson');
    assert.equal(r.last_seq, 3);
    assert.deepEqual((await fullHistory(srv, s)).map((e) => e.data), [{ a: 1 }, { a: 2 }, { a: 3 }]);
  });

  test('CSV honours RFC 4180 quoting (commas, quotes and newlines inside fields)', { timeout: 10000 }, async () => {
    const s = `pub/${uid('csvq')}`;
    const body = 'name,comment\r\n"Smith, J","said ""hi"""\r\nplain,"two\nlines"\r\n';
    const r = await publishOk(srv, s, body, 'text/csv');
    assert.equal(r.last_seq, 2, 'two data rows');
    const ev = await fullHistory(srv, s);
    assert.deepEqual(ev.map((e) => e.data), [
      { name: 'Smith, J', comment: 'said "hi"' },
      { name: 'plain', comment: 'two\nlines' },
    ]);
  });

  test('CSV with a header row appends one object per data row', { timeout: 10000 }, async () => {
    const s = `pub/${uid('csv')}`;
    const r = await publishOk(srv, s, 'id,name,value\n1,alpha,10.5\n2,beta,-3\n3,gamma,0\n', 'text/csv');
    assert.equal(r.first_seq, 1);
    assert.equal(r.last_seq, 3);
    const ev = await fullHistory(srv, s);
    assert.equal(ev.length, 3);
    assert.deepEqual(ev.map((e) => e.data.name), ['alpha', 'beta', 'gamma']);
    // Numbers may be typed or kept as text; the value must survive either way.
    assert.deepEqual(ev.map((e) => String(e.data.id)), ['1', '2', '3']);
    assert.deepEqual(ev.map((e) => Number(e.data.value)), [10.5, -3, 0]);
  });

  test('concurrent publishers get unique, contiguous seqs matching the stored data', { timeout: 30000 }, async () => {
    const s = `pub/${uid('conc')}`;
    const replies = [];
    await pool(400, 8, async (i) => {
      const r = await publishOk(srv, s, { i });
      assert.equal(r.first_seq, r.last_seq);
      replies.push({ seq: r.first_seq, i });
    });
    const seqs = replies.map((r) => r.seq).sort((a, b) => a - b);
    assert.deepEqual(seqs, Array.from({ length: 400 }, (_, k) => k + 1));
    const ev = await fullHistory(srv, s);
    assert.equal(ev.length, 400);
    const bySeq = new Map(ev.map((e) => [e.seq, e.data.i]));
    for (const r of replies) assert.equal(bySeq.get(r.seq), r.i, `seq ${r.seq} holds the wrong data`);
  });

  test('malformed JSON is rejected with bad_json and appends nothing', { timeout: 10000 }, async () => {
    const s = await seeded('badjson');
    await assertRejected(s, await publish(srv, s, '{"a": 1, "b": ', 'application/json'), 400, 'bad_json');
    await assertRejected(s, await publish(srv, s, '[{"a":1}, {"b":2}', 'application/json'), 400, 'bad_json');
    await assertRejected(s, await publish(srv, s, '{"a":1} trailing', 'application/json'), 400, 'bad_json');
  });

  test('NDJSON with a bad line names the line and appends nothing', { timeout: 10000 }, async () => {
    const s = await seeded('badnd');
    const r = await publish(srv, s, '{"ok":1}\n{"broken":\n{"ok":3}\n', 'application/x-ndjson');
    await assertRejected(s, r, 400, 'bad_ndjson');
    assert.equal(r.json.error.line, 2, `error should name line 2: ${r.text}`);
  });

  test('CSV with a ragged row names the line and appends nothing', { timeout: 10000 }, async () => {
    const s = await seeded('badcsv');
    const r = await publish(srv, s, 'a,b\n1,2\n3\n4,5\n', 'text/csv');
    await assertRejected(s, r, 400, 'bad_csv');
    assert.equal(r.json.error.line, 3, `error should name line 3 (header is line 1): ${r.text}`);
  });

  test('an empty batch is rejected', { timeout: 10000 }, async () => {
    const s = await seeded('empty');
    await assertRejected(s, await publish(srv, s, '[]', 'application/json'), 400, 'empty_batch');
  });

  test('one oversized event rejects the whole batch', { timeout: 10000 }, async () => {
    const s = await seeded('bigev');
    const r = await publish(srv, s, [{ small: 1 }, { big: 'x'.repeat(MAX_EVENT + 100) }]);
    assert.ok(r.status === 400 || r.status === 413, `status ${r.status}: ${r.text}`);
    await assertRejected(s, r, r.status, 'event_too_large');
  });

  test('a body over limits.max_body_bytes gets 413 body_too_large', { timeout: 10000 }, async () => {
    const s = await seeded('bigbody');
    // Many small events: no single event is too large, only the body.
    const batch = Array.from({ length: Math.ceil((MAX_BODY * 2) / 100) }, (_, i) => ({ i, pad: 'p'.repeat(80) }));
    await assertRejected(s, await publish(srv, s, batch), 413, 'body_too_large');
    // The server still works afterwards.
    assert.equal((await publishOk(srv, s, { after: true })).last_seq, 2);
  });

  test('bad stream names get 400 bad_stream_name', { timeout: 10000 }, async () => {
    const cases = ['a//b', 'a b', 'a/', 'x'.repeat(201), 'bad*name', 'semi;colon'];
    for (const name of cases) {
      // Raw path for the slash cases; percent-encoded otherwise.
      const p = `/v1/publish/${name.includes('/') ? name : encodeURIComponent(name)}`;
      const r = await request(srv, 'POST', p, { body: '{"a":1}', contentType: 'application/json' });
      assert.equal(r.status, 400, `name ${JSON.stringify(name.slice(0, 40))}: ${r.status} ${r.text}`);
      assert.equal(r.json?.error?.code, 'bad_stream_name', `name ${JSON.stringify(name.slice(0, 40))}: ${r.text}`);
    }
    // The limits themselves are valid: 200 chars, every allowed character.
    const longest = `pub/${'y'.repeat(196)}`;
    assert.equal(longest.length, 200);
    assert.equal((await publish(srv, longest, { a: 1 })).status, 200);
    assert.equal((await publish(srv, `pub/${uid('chars')}/A-Z_a.z-0.9`, { a: 1 })).status, 200);
  });

  test('publishing to $sys/... is forbidden', { timeout: 10000 }, async () => {
    const r = await request(srv, 'POST', '/v1/publish/$sys/events', { body: '{"a":1}', contentType: 'application/json' });
    assert.equal(r.status, 403, r.text);
    assert.ok(r.json?.error?.code, `error body expected: ${r.text}`);
  });

  test('an unsupported content type gets 415', { timeout: 10000 }, async () => {
    const s = await seeded('mime');
    await assertRejected(s, await publish(srv, s, 'hello', 'text/plain'), 415, 'unsupported_media_type');
    await assertRejected(s, await publish(srv, s, 'x', 'application/octet-stream'), 415, 'unsupported_media_type');
  });
});

describe('publish with limits.max_streams', () => {
  let srv;
  before(async () => { srv = await startServer({ limits: { max_streams: 5 } }); });
  after(async () => { await srv?.stop(); });

  test('streams beyond the limit are refused with too_many_streams; existing ones still work', { timeout: 10000 }, async () => {
    const ok = [];
    const refused = [];
    for (let i = 0; i < 8; i++) {
      const s = `cap/s${i}`;
      const r = await publish(srv, s, { i });
      if (r.status === 200) ok.push(s);
      else refused.push({ s, r });
    }
    assert.ok(ok.length >= 1 && ok.length <= 5, `accepted ${ok.length} streams with max_streams 5`);
    assert.ok(refused.length >= 3, `only ${refused.length} refused`);
    for (const { s, r } of refused) {
      assert.ok(r.status >= 400, `${s}: ${r.status}`);
      assert.equal(r.json?.error?.code, 'too_many_streams', `${s}: ${r.status} ${r.text}`);
      assert.equal((await status(srv, s)).status, 404, `${s} was created although refused`);
    }
    const again = await publishOk(srv, ok[0], { again: true });
    assert.equal(again.last_seq, 2);
  });
});
