// Manual smoke check (not part of `npm test`): the built client, loaded as
// plain ESM by headless Chromium (Debian's `chromium`), against a real hub,
// over 'ws', 'sse' and 'auto'. Usage, after `npm run build`:
//   LIVEHUB_BIN=../../build/livehub node scripts/browser-smoke.mjs
// Exits non-zero unless each client receives seqs 1..20 in order.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { publishOk, startServer, until } from '../test/helpers.mjs';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const srv = await startServer({}, { demo: false });
const reports = [];
const page = `<!doctype html><script type="module">
import { LivehubClient } from './dist/index.js';
const out = {};
const report = (k, v) => fetch('/report', { method: 'POST', body: JSON.stringify({ k, v }) });
for (const transport of ['ws', 'sse', 'auto']) {
  const hub = new LivehubClient({ url: '${srv.base}', transport, stallAfterMs: 3000 });
  const seqs = [];
  hub.subscribe('br/' + transport, {}, (ev) => { seqs.push(ev.seq); if (seqs.length === 20) report(transport, { seqs, state: hub.state, transport: hub.transport }); });
  hub.on('state', (s) => { if (s === 'subscribed') report(transport + '-ready', s); });
  hub.on('error', (e) => report(transport + '-error', e));
}
window.addEventListener('error', (e) => report('page-error', String(e.message)));
</script>`;
const files = http.createServer((req, res) => {
  if (req.method === 'POST') { let b = ''; req.on('data', (c) => b += c); req.on('end', () => { reports.push(JSON.parse(b)); res.end('ok'); }); return; }
  if (req.url === '/' ) { res.writeHead(200, { 'content-type': 'text/html' }); return res.end(page); }
  try { const body = readFileSync(path.join(root, path.normalize(req.url))); res.writeHead(200, { 'content-type': req.url.endsWith('.js') ? 'text/javascript' : 'application/json' }); res.end(body); }
  catch { res.writeHead(404); res.end(); }
});
await new Promise((r) => files.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${files.address().port}/`;
const chrome = spawn('chromium', ['--headless=new', '--no-sandbox', '--disable-gpu', '--remote-debugging-port=0', url], { stdio: 'ignore' });
try {
  await until(() => ['ws', 'sse', 'auto'].every((t) => reports.some((r) => r.k === t + '-ready')), 30000, 'three clients subscribed');
  for (let i = 1; i <= 20; i++) for (const t of ['ws', 'sse', 'auto']) await publishOk(srv, 'br/' + t, { i });
  await until(() => ['ws', 'sse', 'auto'].every((t) => reports.some((r) => r.k === t)), 15000, 'events in the browser');
  for (const t of ['ws', 'sse', 'auto']) {
    const r = reports.find((x) => x.k === t).v;
    assert.deepEqual(r.seqs, Array.from({ length: 20 }, (_, k) => k + 1), `${t} seqs`);
    assert.equal(r.transport, t === 'sse' ? 'sse' : 'ws');
  }
  assert.ok(!reports.some((r) => r.k.endsWith('error')), 'no errors in the page');
  console.log('browser smoke: ok (ws, sse, auto)');
} finally {
  if (process.exitCode) console.log(JSON.stringify(reports));
  chrome.kill('SIGKILL');
  files.close();
  await srv.stop();
}
