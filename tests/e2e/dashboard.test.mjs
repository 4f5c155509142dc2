// End-to-end: the dashboard at "/" in headless Debian chromium (playwright-core)
// against a real hub with a mock source, through a TCP proxy that can refuse
// WebSocket upgrades and drop frames on the wire. One hub, one browser, the
// steps in order (each builds on the previous one's state):
//   page loads with no console errors -> chart updates, footer "receiving"
//   -> stop the mock from the Sources view: footer "stalled" -> start again
//   -> frames dropped on the wire: the client backfills, the table has no hole
//   -> SSE fallback when WebSocket is refused
//   -> hub killed and restarted: reconnect, then resume with no duplicate row.
// LIVEHUB_SCREENSHOTS=1 also writes docs/screenshots/*.png.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { startServer } from '../integration/harness.mjs';
import { openBrowser } from './browser.mjs';
import { startProxy } from './proxy.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const shotsDir = path.resolve(here, '../../docs/screenshots');
const SHOTS = process.env.LIVEHUB_SCREENSHOTS === '1';
const STREAM = 'mk/m1';

const config = {
  sources: [{
    id: 'mk', type: 'mock', stall_after_min_s: 2,
    mock: { streams: 2, interval_s: 0.1, shape: 'sensor' },
  }],
};

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

let hubPort;
let dataDir;
let hub;
let proxy;
let browser;
let page;

async function startHub() {
  return startServer(config, { dataDir, extraArgs: ['--listen', `127.0.0.1:${hubPort}`] });
}

async function shot(name) {
  if (!SHOTS) return;
  mkdirSync(shotsDir, { recursive: true });
  await page.waitForTimeout(400); // let a frame or two render
  await page.screenshot({ path: path.join(shotsDir, `${name}.png`) });
}

// The seqs in the events table, newest first.
async function tableSeqs() {
  return page.$$eval('#events-body tr[data-seq]', (rows) => rows.map((r) => Number(r.dataset.seq)));
}

function assertContiguousDescending(seqs, label) {
  for (let i = 1; i < seqs.length; i++) {
    assert.equal(seqs[i], seqs[i - 1] - 1, `${label}: row ${i} has seq ${seqs[i]} after ${seqs[i - 1]} (${seqs.slice(0, 20).join(',')}…)`);
  }
}

async function footerState(state, timeout = 15000) {
  await page.waitForSelector(`#live[data-state="${state}"]`, { timeout });
}

before(async () => {
  hubPort = await freePort();
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'livehub-e2e-data-'));
  hub = await startHub();
  proxy = await startProxy(hubPort);
  browser = await openBrowser();
  page = browser.page;
});

after(async () => {
  await browser?.close();
  await proxy?.close();
  await hub?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test('the page loads every view with no console errors', async () => {
  await page.goto(`${proxy.base}/#/streams`);
  await page.waitForSelector(`#streams-body tr[data-stream="${STREAM}"]`, { timeout: 15000 });
  await footerState('receiving');
  // Filter by pattern.
  await page.fill('#stream-filter', 'mk/*2');
  await page.waitForFunction(() => document.querySelectorAll('#streams-body tr[data-stream]').length === 1, null, { timeout: 5000 });
  assert.ok(await page.$('#streams-body tr[data-stream="mk/m2"]'));
  await page.fill('#stream-filter', '');
  // Every stream again ($sys/events too).
  await page.waitForFunction(() => document.querySelectorAll('#streams-body tr[data-stream]').length >= 3, null, { timeout: 5000 });
  await shot('streams');

  await page.goto(`${proxy.base}/#/sources`);
  await page.waitForSelector('#sources-body tr[data-source="mk"] .badge', { timeout: 10000 });
  await page.waitForSelector('[data-controls="mk"]');
  await shot('sources');

  await page.goto(`${proxy.base}/#/connections`);
  await page.waitForSelector('#conn-cards [data-metric="livehub_subscriptions"]', { timeout: 10000 });
  // The cards show the latest /metrics poll: the first may predate the
  // page's own subscribe, so wait (bounded) for a poll that counts it.
  const sel = '#conn-cards [data-metric="livehub_subscriptions"] .v';
  await page.waitForFunction((s) => Number(document.querySelector(s)?.textContent) >= 1, sel,
    { timeout: 5000 }).catch(() => {});
  const subs = await page.textContent(sel);
  assert.ok(Number(subs) >= 1, `the page's own subscription is counted: ${subs}`);
  await shot('connections');

  // The same page on a phone, dark.
  if (SHOTS) {
    await page.setViewportSize({ width: 390, height: 780 });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(`${proxy.base}/#/streams`);
    await page.waitForSelector(`#streams-body tr[data-stream="${STREAM}"]`);
    await shot('streams-phone-dark');
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.emulateMedia({ colorScheme: 'light' });
  }
  assert.deepEqual(browser.errors, [], 'no console errors');
});

test('a stream\'s chart and table update live; the footer says receiving', async () => {
  await page.goto(`${proxy.base}/#/stream/${encodeURIComponent(STREAM)}`);
  await page.waitForSelector('#chart canvas', { timeout: 10000 });
  const v1 = Number(await page.getAttribute('#chart', 'data-version'));
  await page.waitForFunction((v) => Number(document.querySelector('#chart').dataset.version) > v + 5, v1, { timeout: 10000 });
  await footerState('receiving');
  assert.match(await page.textContent('#live-text'), /^Live • \d+\.\ds ago$/);
  assert.match(await page.textContent('#fields'), /value: number/);
  const seqs = await tableSeqs();
  assert.ok(seqs.length >= 5, `rows: ${seqs.length}`);
  assertContiguousDescending(seqs, 'live table');
  await shot('stream');
  await page.click('#theme'); // auto -> light
  await page.click('#theme'); // light -> dark
  assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
  await page.waitForSelector('#chart canvas');
  await shot('stream-dark');
  await page.click('#theme'); // back to auto
  assert.deepEqual(browser.errors, [], 'no console errors');
});

test('stopping the mock source turns the footer stalled; starting it makes it receive again', async () => {
  await page.goto(`${proxy.base}/#/sources`);
  await page.waitForSelector('[data-controls="mk"] [data-action=stop]:not([disabled])', { timeout: 10000 });
  await page.click('[data-controls="mk"] [data-action=stop]');
  await page.waitForSelector('[data-result="mk"]:has-text("applied")', { timeout: 5000 });
  await footerState('stalled', 20000);
  assert.match(await page.textContent('#live-text'), /^Stale • \d+(\.\d)?s$/);
  // The hub sees the source go quiet too.
  await page.waitForSelector('#sources-body tr[data-source="mk"][data-state="stalled"]', { timeout: 20000 });
  await page.click('[data-controls="mk"] [data-action=start]');
  await footerState('receiving', 10000);
  assert.deepEqual(browser.errors, [], 'no console errors');
});

test('events lost on the wire are backfilled from history: the table has no hole', async () => {
  await page.goto(`${proxy.base}/#/stream/${encodeURIComponent(STREAM)}`);
  await page.waitForFunction(() => document.querySelectorAll('#events-body tr[data-seq]').length >= 5, null, { timeout: 10000 });
  const before = await page.evaluate((s) => window.livehub.hub.streamStats(s)?.backfilled ?? 0, STREAM);
  proxy.dropEvents(STREAM, 3);
  await page.waitForFunction(([s, b]) => (window.livehub.hub.streamStats(s)?.backfilled ?? 0) > b, [STREAM, before], { timeout: 15000 });
  assert.equal(proxy.dropped, 3, 'three frames were dropped on the wire');
  await page.waitForSelector('#stream-notes .note:has-text("backfilled")', { timeout: 5000 });
  await page.waitForTimeout(300);
  const seqs = await tableSeqs();
  assertContiguousDescending(seqs, 'table after backfill');
  const out = await page.evaluate((s) => window.livehub.store.get(s).outOfOrder, STREAM);
  assert.equal(out, 0, 'the client never delivered a seq twice or out of order');
  assert.deepEqual(browser.errors, [], 'no console errors');
});

test('falls back to SSE when WebSocket is refused', async () => {
  proxy.refuseUpgrades = true;
  const refusedBefore = proxy.refused;
  const second = await browser.context.newPage();
  try {
    await second.goto(`${proxy.base}/#/stream/${encodeURIComponent(STREAM)}`);
    await second.waitForSelector('#live[data-state="receiving"]', { timeout: 15000 });
    assert.equal(await second.textContent('#live-transport'), 'SSE');
    assert.ok(proxy.refused > refusedBefore, 'the WebSocket upgrade was tried and refused');
    await second.waitForFunction(() => document.querySelectorAll('#events-body tr[data-seq]').length >= 3, null, { timeout: 10000 });
    const seqs = await second.$$eval('#events-body tr[data-seq]', (rows) => rows.map((r) => Number(r.dataset.seq)));
    assertContiguousDescending(seqs, 'SSE table');
  } finally {
    await second.close();
    proxy.refuseUpgrades = false;
  }
  // A refused WebSocket shows as a failed resource load; nothing else may fail.
  const unexpected = browser.errors.filter((e) => !/WebSocket|403/.test(e));
  assert.deepEqual(unexpected, []);
  browser.errors.length = 0;
});

test('a killed hub: the page reconnects when it is back and resumes without duplicate rows', async () => {
  await page.goto(`${proxy.base}/#/stream/${encodeURIComponent(STREAM)}`);
  await footerState('receiving');
  await page.waitForFunction(() => document.querySelectorAll('#events-body tr[data-seq]').length >= 10, null, { timeout: 10000 });
  const lastBefore = (await tableSeqs())[0];
  await hub.crash();
  proxy.cutAll();
  await footerState('disconnected', 10000);
  hub = await startHub();
  await footerState('receiving', 20000);
  const reconnects = await page.evaluate(() => window.livehub.hub.stats.reconnects);
  assert.ok(reconnects >= 1, `reconnects: ${reconnects}`);
  await page.waitForFunction((s) => Number(document.querySelector('#events-body tr[data-seq]')?.dataset.seq) > s + 5, lastBefore, { timeout: 10000 });
  const seqs = await tableSeqs();
  assert.equal(new Set(seqs).size, seqs.length, `no duplicate rows: ${seqs.join(',')}`);
  assertContiguousDescending(seqs, 'table across the restart');
  const out = await page.evaluate((s) => window.livehub.store.get(s).outOfOrder, STREAM);
  assert.equal(out, 0);
});
