// Test harness for the livehub integration suite: starts the real binary on
// 127.0.0.1:0 with a generated config, and gives small clients for HTTP
// (global fetch), WebSocket (`ws`), SSE (`eventsource` v2) and a raw
// hand-made WebSocket over `net` that can stop reading on purpose.
//
// Everything talks to 127.0.0.1 only. Every wait is bounded by a timeout.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import WebSocket from 'ws';

const require = createRequire(import.meta.url);
// eventsource 2.x: CommonJS, `new EventSource(url, {headers, createConnection})`,
// reconnects by itself with the last seen `id:` as the Last-Event-ID header.
export const EventSource = require('eventsource');

const here = path.dirname(fileURLToPath(import.meta.url));
export const BIN = process.env.LIVEHUB_BIN
  ? path.resolve(process.env.LIVEHUB_BIN)
  : path.resolve(here, '../../build/livehub');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls `fn` (sync or async) until it returns a truthy value; returns it.
export async function until(fn, timeoutMs, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

// A unique stream-name suffix so tests sharing a server never collide.
let uniq = 0;
export function uid(prefix = 't') {
  uniq += 1;
  return `${prefix}-${process.pid}-${uniq}-${randomBytes(3).toString('hex')}`;
}

// ---------------------------------------------------------------------------
// YAML (just what the config needs: maps, lists of maps, scalars)
// ---------------------------------------------------------------------------

function yamlScalar(v) {
  if (typeof v === 'string') return JSON.stringify(v); // a valid YAML double-quoted string
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null) return 'null';
  throw new Error(`unsupported YAML scalar ${v}`);
}

export function toYaml(obj, indent = 0) {
  const pad = ' '.repeat(indent);
  let out = '';
  for (const [k, v] of Object.entries(obj)) {
    if (Array.isArray(v)) {
      out += `${pad}${k}:\n`;
      for (const item of v) {
        if (item !== null && typeof item === 'object') {
          const body = toYaml(item, indent + 4);
          out += `${pad}  - ${body.slice(indent + 4)}`;
        } else {
          out += `${pad}  - ${yamlScalar(item)}\n`;
        }
      }
    } else if (v !== null && typeof v === 'object') {
      out += `${pad}${k}:\n${toYaml(v, indent + 2)}`;
    } else {
      out += `${pad}${k}: ${yamlScalar(v)}\n`;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Server process
// ---------------------------------------------------------------------------

const live = new Set();
process.on('exit', () => {
  for (const p of live) {
    try { p.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

export class Server {
  constructor(proc, port, dir) {
    this.proc = proc;
    this.port = port;
    this.dir = dir;
    this.base = `http://127.0.0.1:${port}`;
    this.wsBase = `ws://127.0.0.1:${port}`;
    this.stderr = proc._lines;
    this.exited = proc._exited;
  }

  url(p) { return `${this.base}${p}`; }

  // Last lines of the server's stderr, for failure messages.
  tail(n = 30) { return this.stderr.slice(-n).join('\n'); }

  // kill -9: no shutdown path at all (crash tests).
  async crash() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    await this.exited;
    live.delete(this.proc);
    try { rmSync(this.dir, { recursive: true, force: true }); } catch { /* best effort */ }
  }

  // SIGTERM, then SIGKILL after `graceMs`. Returns {code, signal, killed}.
  async stop(graceMs = 5000) {
    let killed = false;
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => { killed = true; this.proc.kill('SIGKILL'); }, graceMs);
      await this.exited;
      clearTimeout(t);
    }
    live.delete(this.proc);
    try { rmSync(this.dir, { recursive: true, force: true }); } catch { /* best effort */ }
    return { code: this.proc.exitCode, signal: this.proc.signalCode, killed };
  }
}

// Starts `livehub serve` with `config` (an object written as YAML) and waits
// for its `"msg":"listening"` log line to learn the port.
// `dataDir` keeps the store in a directory the caller owns (restart tests).
// `env` adds environment variables (e.g. secrets referenced as ${NAME}).
// `onSpawn(proc)` is called right after the spawn (signals during start-up).
// The server's stdout and stderr lines are both kept in `server.stderr`.
export async function startServer(config = {}, { startTimeoutMs = 15000, extraArgs = [], demo = false, dataDir: ownDataDir, env = {}, onSpawn } = {}) {
  if (!existsSync(BIN)) {
    throw new Error(`livehub binary not found at ${BIN}; build it (cmake -S . -B build -G Ninja && ninja -C build livehub) or set LIVEHUB_BIN`);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'livehub-it-'));
  const cfgPath = path.join(dir, 'config.yaml');
  const dataDir = ownDataDir || path.join(dir, 'data');
  writeFileSync(cfgPath, toYaml(config));
  // `--listen` in extraArgs (a fixed port, for restart tests) replaces the default port 0.
  const listen = extraArgs.includes('--listen') ? [] : ['--listen', '127.0.0.1:0'];
  const args = ['serve', ...listen, ...(demo ? [] : ['--no-demo']), '--data-dir', dataDir, '--config', cfgPath, ...extraArgs];
  const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  live.add(proc);
  onSpawn?.(proc);
  proc._lines = [];
  proc._exited = new Promise((resolve) => proc.once('exit', resolve));

  let resolvePort;
  const portPromise = new Promise((r) => { resolvePort = r; });
  let partial = '';
  const onLine = (line) => {
    if (proc._lines.length > 5000) proc._lines.splice(0, 1000);
    proc._lines.push(line);
    if (line.includes('"listening"')) {
      try {
        const j = JSON.parse(line);
        if (j.msg === 'listening' && Number.isInteger(j.port) && j.port > 0) resolvePort(j.port);
      } catch { /* not JSON: keep looking */ }
    }
  };
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (chunk) => {
    partial += chunk;
    let i;
    while ((i = partial.indexOf('\n')) >= 0) {
      onLine(partial.slice(0, i));
      partial = partial.slice(i + 1);
    }
  });
  let partialOut = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (chunk) => { // never let a full pipe block the server
    partialOut += chunk;
    let i;
    while ((i = partialOut.indexOf('\n')) >= 0) {
      onLine(partialOut.slice(0, i));
      partialOut = partialOut.slice(i + 1);
    }
  });

  let timer;
  const port = await Promise.race([
    portPromise,
    proc._exited.then((code) => {
      throw new Error(`livehub exited (code ${code}) before listening:\n${proc._lines.slice(-30).join('\n')}`);
    }),
    new Promise((_, rej) => {
      timer = setTimeout(() => rej(new Error(`livehub did not log "listening" within ${startTimeoutMs} ms:\n${proc._lines.slice(-30).join('\n')}`)), startTimeoutMs);
    }),
  ]).finally(() => clearTimeout(timer)).catch(async (e) => {
    proc.kill('SIGKILL');
    await proc._exited;
    live.delete(proc);
    throw e;
  });
  return new Server(proc, port, dir);
}

// ---------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------

// Returns {status, headers, text, json} (json is undefined when not JSON).
export async function request(server, method, p, { body, contentType, headers = {} } = {}) {
  const h = { ...headers };
  if (contentType) h['content-type'] = contentType;
  const res = await fetch(server.url(p), {
    method, body, headers: h, signal: AbortSignal.timeout(20000),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

// Percent-encodes each segment but keeps the '/' separators, as a client would.
export function streamPath(stream) {
  return stream.split('/').map(encodeURIComponent).join('/');
}

export function publish(server, stream, body, contentType = 'application/json') {
  const b = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
  return request(server, 'POST', `/v1/publish/${streamPath(stream)}`, { body: b, contentType });
}

// Publishes and asserts success; returns the reply JSON.
export async function publishOk(server, stream, body, contentType) {
  const r = await publish(server, stream, body, contentType);
  if (r.status !== 200) throw new Error(`publish to ${stream} failed: ${r.status} ${r.text}`);
  return r.json;
}

export async function status(server, stream) {
  return request(server, 'GET', `/v1/status/${streamPath(stream)}`);
}

export async function history(server, stream, fromSeq, limit) {
  const q = new URLSearchParams();
  if (fromSeq !== undefined) q.set('from_seq', String(fromSeq));
  if (limit !== undefined) q.set('limit', String(limit));
  return request(server, 'GET', `/v1/history/${streamPath(stream)}?${q}`);
}

// Reads the whole history of `stream` from `fromSeq` by following next_seq.
export async function fullHistory(server, stream, fromSeq = 1, limit = 1000) {
  const events = [];
  let from = fromSeq;
  for (let i = 0; i < 10000; i++) {
    const r = await history(server, stream, from, limit);
    if (r.status !== 200) throw new Error(`history ${stream} from ${from}: ${r.status} ${r.text}`);
    events.push(...r.json.events);
    if (!r.json.has_more) return events;
    from = r.json.next_seq;
  }
  throw new Error('history did not end');
}

// Parses Prometheus text into [{name, labels, value}].
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m) out.push({ name: m[1], labels: m[2] || '', value: Number(m[3]) });
  }
  return out;
}

export async function metricSum(server, name) {
  const r = await request(server, 'GET', '/metrics');
  return parseMetrics(r.text).filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);
}

// ---------------------------------------------------------------------------
// WebSocket client (the `ws` package)
// ---------------------------------------------------------------------------

export class WsClient {
  constructor(ws) {
    this.ws = ws;
    this.messages = [];   // every parsed server message, in arrival order
    this.bad = [];        // frames that were not JSON
    this.waiters = new Set();
    this.nextId = 1000;
    this.closed = null;   // {code, reason} once closed
    ws.on('message', (data, isBinary) => {
      let m;
      try { m = JSON.parse(isBinary ? data : data.toString('utf8')); } catch { this.bad.push(String(data)); return; }
      this.messages.push(m);
      for (const w of [...this.waiters]) w.check();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString('utf8') };
      for (const w of [...this.waiters]) w.check();
    });
    ws.on('error', (e) => { this.error = e; });
  }

  // Opens a connection to /v1/ws (with `?streams=` when given) and waits for it.
  static async connect(server, { streams, timeoutMs = 10000, options = {} } = {}) {
    const q = streams ? `?streams=${streams.map(encodeURIComponent).join(',')}` : '';
    const ws = new WebSocket(`${server.wsBase}/v1/ws${q}`, { perMessageDeflate: false, ...options });
    const client = new WsClient(ws);
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => { ws.terminate(); reject(new Error('WebSocket connect timed out')); }, timeoutMs);
      ws.once('open', () => { clearTimeout(t); resolve(); });
      ws.once('error', (e) => { clearTimeout(t); reject(e); });
      ws.once('unexpected-response', (req, res) => { clearTimeout(t); reject(new Error(`WebSocket upgrade refused: HTTP ${res.statusCode}`)); });
    });
    return client;
  }

  send(obj) { this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)); }

  // Resolves with the first message (index >= `from`) satisfying `pred`.
  waitFor(pred, timeoutMs = 5000, { from = 0, what = 'message' } = {}) {
    return new Promise((resolve, reject) => {
      const w = {
        check: () => {
          for (let i = from; i < this.messages.length; i++) {
            if (pred(this.messages[i])) { done(); resolve(this.messages[i]); return; }
          }
          from = this.messages.length;
          if (this.closed) { done(); reject(new Error(`connection closed (${this.closed.code} ${this.closed.reason}) while waiting for ${what}`)); }
        },
      };
      const t = setTimeout(() => { done(); reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last messages: ${JSON.stringify(this.messages.slice(-3)).slice(0, 600)}`)); }, timeoutMs);
      const done = () => { clearTimeout(t); this.waiters.delete(w); };
      this.waiters.add(w);
      w.check();
    });
  }

  // Sends `op` with a fresh id and resolves with the reply carrying that id.
  async request(op, timeoutMs = 5000) {
    const id = op.id ?? this.nextId++;
    const from = this.messages.length;
    this.send({ ...op, id });
    return this.waitFor((m) => m.id === id && m.type !== 'event', timeoutMs, { from, what: `reply to ${op.op} id ${id}` });
  }

  async subscribe(streams, extra = {}, timeoutMs = 5000) {
    const r = await this.request({ op: 'subscribe', streams, ...extra }, timeoutMs);
    if (r.type !== 'subscribed') throw new Error(`subscribe ${JSON.stringify(streams)} failed: ${JSON.stringify(r)}`);
    return r;
  }

  events(stream) {
    return this.messages.filter((m) => m.type === 'event' && (stream === undefined || m.stream === stream));
  }

  waitClose(timeoutMs = 5000) {
    if (this.closed) return Promise.resolve(this.closed);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`connection not closed within ${timeoutMs} ms`)), timeoutMs);
      this.ws.once('close', () => { clearTimeout(t); resolve(this.closed); });
    });
  }

  close() {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
  }

  terminate() { this.ws.terminate(); }
}

// ---------------------------------------------------------------------------
// Raw WebSocket over `net`: handshake by hand, can pause reading entirely.
// ---------------------------------------------------------------------------

export class RawWs {
  constructor(sock, { autoPong = true } = {}) {
    this.sock = sock;
    this.autoPong = autoPong;
    this.buf = Buffer.alloc(0);
    this.messages = [];  // parsed JSON text frames
    this.close = null;   // {code, reason} from a close frame
    this.ended = false;  // TCP connection ended or errored
    this.bytes = 0;
    this.onProgress = () => {};
    sock.on('data', (d) => { this.bytes += d.length; this._feed(d); });
    sock.on('end', () => { this.ended = true; this.onProgress(); });
    sock.on('close', () => { this.ended = true; this.onProgress(); });
    sock.on('error', (e) => { this.error = e; this.ended = true; this.onProgress(); });
  }

  static connect(server, pathAndQuery, timeoutMs = 10000, options = {}) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: '127.0.0.1', port: server.port });
      const key = randomBytes(16).toString('base64');
      let head = Buffer.alloc(0);
      const t = setTimeout(() => { sock.destroy(); reject(new Error('raw WebSocket handshake timed out')); }, timeoutMs);
      const onData = (d) => {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        clearTimeout(t);
        sock.off('data', onData);
        const status = head.subarray(0, end).toString('latin1');
        if (!/^HTTP\/1\.1 101/.test(status)) { sock.destroy(); reject(new Error(`raw handshake refused: ${status.split('\r\n')[0]}`)); return; }
        const raw = new RawWs(sock, options);
        const rest = head.subarray(end + 4);
        if (rest.length) { raw.bytes += rest.length; raw._feed(rest); }
        resolve(raw);
      };
      sock.on('data', onData);
      sock.once('error', (e) => { clearTimeout(t); reject(e); });
      sock.write(
        `GET ${pathAndQuery} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
  }

  _feed(d) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      if (this.buf.length < 2) break;
      const b0 = this.buf[0], b1 = this.buf[1];
      const opcode = b0 & 0x0f;
      let len = b1 & 0x7f, off = 2;
      if (len === 126) { if (this.buf.length < 4) break; len = this.buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (this.buf.length < 10) break; len = Number(this.buf.readBigUInt64BE(2)); off = 10; }
      const masked = (b1 & 0x80) !== 0;
      if (masked) off += 4; // servers must not mask; tolerate it anyway
      if (this.buf.length < off + len) break;
      let payload = this.buf.subarray(off, off + len);
      if (masked) {
        const mask = this.buf.subarray(off - 4, off);
        payload = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
      }
      this.buf = this.buf.subarray(off + len);
      // Server frames in this suite are small enough to be unfragmented.
      if (opcode === 1) {
        try { this.messages.push(JSON.parse(payload.toString('utf8'))); } catch { /* ignore non-JSON */ }
      } else if (opcode === 8) {
        this.close = { code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005, reason: payload.subarray(2).toString('utf8') };
      } else if (opcode === 9) {
        this.pings = (this.pings || 0) + 1;
        if (this.autoPong) this.sendFrame(0xA, payload); // answer pings once reading
      }
    }
    this.onProgress();
  }

  sendFrame(opcode, payload) {
    const mask = randomBytes(4);
    const len = payload.length;
    const hdr = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len])
      : len < 65536 ? Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff])
        : (() => { const h = Buffer.alloc(10); h[0] = 0x80 | opcode; h[1] = 0x80 | 127; h.writeBigUInt64BE(BigInt(len), 2); return h; })();
    const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
    if (!this.sock.destroyed) this.sock.write(Buffer.concat([hdr, mask, body]));
  }

  sendJson(obj) { this.sendFrame(1, Buffer.from(JSON.stringify(obj))); }

  pause() { this.sock.pause(); }
  resume() { this.sock.resume(); }

  waitFor(pred, timeoutMs, what = 'raw message') {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = this.messages.find(pred);
        if (m) { finish(); resolve(m); } else if (this.ended) { finish(); reject(new Error(`raw connection ended while waiting for ${what}`)); }
      };
      const t = setTimeout(() => { finish(); reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)); }, timeoutMs);
      const finish = () => { clearTimeout(t); this.onProgress = () => {}; };
      this.onProgress = check;
      check();
    });
  }

  // Resolves once `pred()` holds (checked on every chunk), or rejects on timeout.
  waitUntil(pred, timeoutMs, what) {
    return new Promise((resolve, reject) => {
      const check = () => { if (pred()) { finish(); resolve(); } };
      const t = setTimeout(() => { finish(); reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)); }, timeoutMs);
      const finish = () => { clearTimeout(t); this.onProgress = () => {}; };
      this.onProgress = check;
      check();
    });
  }

  destroy() { this.sock.destroy(); }
}

// ---------------------------------------------------------------------------
// SSE client (the `eventsource` package, v2)
// ---------------------------------------------------------------------------

// `error` is not listed: the library uses that name for connection errors.
const SSE_TYPES = ['event', 'gap', 'subscribed', 'batch', 'snapshot', 'health', 'pong'];

// Wraps an EventSource: collects every typed message with its `id:` cursor.
// `sockets` holds the TCP sockets it opened, so a test can cut one and let
// the library reconnect by itself (with Last-Event-ID).
export class SseClient {
  constructor(url, { headers } = {}) {
    this.messages = [];   // {type, data (parsed), id (lastEventId at dispatch)}
    this.errors = [];
    this.opens = 0;
    this.sockets = [];
    this.waiters = new Set();
    this.es = new EventSource(url, {
      headers,
      createConnection: (opts) => {
        const s = net.createConnection({ host: opts.hostname || opts.host, port: opts.port });
        this.sockets.push(s);
        return s;
      },
    });
    this.es.reconnectInterval = 300;
    this.es.on('open', () => { this.opens += 1; this._notify(); });
    this.es.on('error', (e) => {
      // A server `event: error` block arrives here too, as a MessageEvent.
      if (e && typeof e.data === 'string') this.messages.push({ type: 'error', data: parseSseData(e.data), id: e.lastEventId });
      else this.errors.push(e);
      this._notify();
    });
    for (const type of SSE_TYPES) {
      this.es.on(type, (ev) => {
        this.messages.push({ type, data: parseSseData(ev.data), id: ev.lastEventId });
        this._notify();
      });
    }
  }

  static open(server, streams, { lastEventId, headers, query = '' } = {}) {
    const q = new URLSearchParams({ streams: streams.join(',') });
    if (lastEventId !== undefined) q.set('last_event_id', lastEventId);
    return new SseClient(`${server.base}/v1/sse?${q}${query}`, { headers });
  }

  _notify() { for (const w of [...this.waiters]) w(); }

  waitFor(pred, timeoutMs = 5000, what = 'SSE message') {
    return new Promise((resolve, reject) => {
      const w = () => {
        const m = this.messages.find(pred);
        if (m) { finish(); resolve(m); }
      };
      const t = setTimeout(() => { finish(); reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; errors: ${this.errors.map((e) => e.message || e.status).join(',')}`)); }, timeoutMs);
      const finish = () => { clearTimeout(t); this.waiters.delete(w); };
      this.waiters.add(w);
      w();
    });
  }

  events(stream) {
    return this.messages.filter((m) => m.type === 'event' && (stream === undefined || m.data.stream === stream));
  }

  // Cuts the current TCP connection; the library reconnects after ~300 ms.
  cut() { const s = this.sockets[this.sockets.length - 1]; if (s) s.destroy(); }

  close() { this.es.close(); }
}

// eventsource 2.x keeps its `data` buffer across reconnects, so a block cut
// mid-way can prefix the next one; every message is one line of JSON, so the
// last line is the message actually dispatched.
function parseSseData(data) {
  try { return JSON.parse(data); } catch {
    const lines = data.split('\n');
    try { return JSON.parse(lines[lines.length - 1]); } catch { return { unparsable: data }; }
  }
}

// Opens a plain HTTP GET and collects the raw text (for SSE framing checks).
export function rawGet(server, p, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: server.port, path: p, headers }, (res) => {
      const r = { status: res.statusCode, headers: res.headers, text: '', res, req };
      res.setEncoding('utf8');
      res.on('data', (c) => { r.text += c; });
      resolve(r);
    });
    req.on('error', reject);
    req.setTimeout(20000, () => req.destroy(new Error('rawGet timeout')));
  });
}

// A raw SSE connection over `net`, so a test can stop reading entirely.
// Decodes `Transfer-Encoding: chunked` itself.
export class RawSse {
  constructor(sock) {
    this.sock = sock;
    this.raw = Buffer.alloc(0);   // bytes not yet decoded
    this.head = null;             // response head once complete
    this.chunked = false;
    this.body = Buffer.alloc(0);  // decoded body bytes
    this.ended = false;
    sock.on('data', (d) => { this.raw = Buffer.concat([this.raw, d]); this._decode(); });
    sock.on('end', () => { this.ended = true; });
    sock.on('close', () => { this.ended = true; });
    sock.on('error', (e) => { this.error = e; this.ended = true; });
  }

  static connect(server, pathAndQuery, headers = {}) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: '127.0.0.1', port: server.port }, () => {
        const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
        sock.write(`GET ${pathAndQuery} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nAccept: text/event-stream\r\n${extra}\r\n`);
        resolve(new RawSse(sock));
      });
      sock.once('error', reject);
    });
  }

  _decode() {
    if (!this.head) {
      const end = this.raw.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.head = this.raw.subarray(0, end).toString('latin1');
      this.chunked = /^transfer-encoding:\s*chunked/im.test(this.head);
      this.raw = this.raw.subarray(end + 4);
    }
    if (!this.chunked) {
      this.body = Buffer.concat([this.body, this.raw]);
      this.raw = Buffer.alloc(0);
      return;
    }
    for (;;) {
      const eol = this.raw.indexOf('\r\n');
      if (eol < 0) return;
      const size = parseInt(this.raw.subarray(0, eol).toString('latin1'), 16);
      if (Number.isNaN(size)) throw new Error(`bad chunk size line: ${this.raw.subarray(0, eol)}`);
      if (this.raw.length < eol + 2 + size + 2) return;
      this.body = Buffer.concat([this.body, this.raw.subarray(eol + 2, eol + 2 + size)]);
      this.raw = this.raw.subarray(eol + 2 + size + 2);
      if (size === 0) return;
    }
  }

  get text() { return this.body.toString('utf8'); }

  // Every complete block that has `data:`, parsed, with its event type and id.
  messages() {
    const blocks = this.text.split(/\r?\n\r?\n/);
    blocks.pop(); // possibly incomplete
    const out = [];
    for (const block of blocks) {
      let event;
      let id;
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith('event:')) event = line.slice(6).replace(/^ /, '');
        else if (line.startsWith('id:')) id = line.slice(3).replace(/^ /, '');
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (!data.length) continue;
      let msg;
      try { msg = JSON.parse(data.join('\n')); } catch { msg = { unparsable: data.join('\n') }; }
      out.push({ ...msg, sse_event: event, sse_id: id });
    }
    return out;
  }

  pause() { this.sock.pause(); }
  resume() { this.sock.resume(); }
  destroy() { this.sock.destroy(); }
}

// ---------------------------------------------------------------------------
// Assertions on sequences
// ---------------------------------------------------------------------------

// Throws unless `seqs` is exactly first, first+1, ..., last.
export function assertContiguous(seqs, first, last, label = 'seqs') {
  const problems = [];
  if (seqs.length !== last - first + 1) problems.push(`expected ${last - first + 1} items, got ${seqs.length}`);
  for (let i = 0; i < seqs.length && problems.length < 5; i++) {
    if (seqs[i] !== first + i) problems.push(`at index ${i}: expected seq ${first + i}, got ${seqs[i]}`);
  }
  if (problems.length) throw new Error(`${label} not contiguous ${first}..${last}: ${problems.join('; ')}`);
}

// Runs `fn(i)` for i in [0, n) with at most `concurrency` in flight.
export async function pool(n, concurrency, fn) {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, n) }, async () => {
    while (next < n) { const i = next++; await fn(i); }
  });
  await Promise.all(workers);
}
