#!/usr/bin/env node
// Browser jank benchmark of the dashboard (issue 5, part 4; not in `make test`).
// Starts a hub whose mock source makes the load, opens the dashboard's Stream
// view in headless Debian chromium (playwright-core), and measures in the page:
//   - frame rate: requestAnimationFrame callbacks per second (target >= 55);
//   - long tasks: PerformanceObserver 'longtask' entries (target: none > 50 ms);
//   - JS heap: Runtime.getHeapUsage after a forced GC, at second 10 and at the
//     end (target: within 5 %).
// Scenarios: `big`  = 1 stream at 10 Hz x 10 kB frames;
//            `many` = 20 streams at 100 Hz x 1 kB each (2000 events/s).
//
// Usage (from the repository root, after `make build` and the e2e npm ci):
//   node bench/browser-jank.mjs [--seconds 60] [--scenario big|many|both] [--bin build/livehub]
//                               [--view '#/stream/jank%2Fm1']   (the dashboard route to measure)
// Exit code 0 when every target holds, 1 otherwise.

import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    scenario: { type: 'string', default: 'both' },
    bin: { type: 'string', default: path.join(root, 'build/livehub') },
    view: { type: 'string', default: '#/stream/jank%2Fm1' },
  },
});
process.env.LIVEHUB_BIN = path.resolve(args.bin);
const seconds = Number(args.seconds);
if (!(seconds >= 12)) throw new Error('--seconds must be at least 12 (the heap is first read at second 10)');

// playwright-core is installed by tests/e2e (npm ci there).
const require = createRequire(path.join(root, 'tests/e2e/package.json'));
require.resolve('playwright-core');
const { startServer } = await import('../tests/integration/harness.mjs');
const { openBrowser } = await import('../tests/e2e/browser.mjs');

const scenarios = {
  big: { label: '1 stream, 10 Hz x 10 kB', streams: 1, interval_s: 0.1, payload_bytes: 10240 },
  many: { label: '20 streams, 100 Hz x 1 kB each', streams: 20, interval_s: 0.01, payload_bytes: 1024 },
};

// Installed before the page's own scripts: counts frames per wall-clock
// second and records long tasks.
const probe = () => {
  const m = { frames: [], longTasks: [], t0: performance.now() };
  window.__jank = m;
  let second = 0;
  let count = 0;
  const tick = (t) => {
    const s = Math.floor((t - m.t0) / 1000);
    if (s !== second) {
      m.frames.push(count);
      for (let k = second + 1; k < s; k++) m.frames.push(0); // whole seconds without a frame
      second = s;
      count = 0;
    }
    count += 1;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) m.longTasks.push(Math.round(e.duration));
  }).observe({ type: 'longtask', buffered: true });
};

async function heap(cdp) {
  await cdp.send('HeapProfiler.collectGarbage');
  const { usedSize } = await cdp.send('Runtime.getHeapUsage');
  return usedSize;
}

async function run(name) {
  const sc = scenarios[name];
  const srv = await startServer({
    sources: [{ id: 'jank', type: 'mock', mock: { streams: sc.streams, interval_s: sc.interval_s, payload_bytes: sc.payload_bytes, shape: 'sensor' } }],
  });
  const browser = await openBrowser();
  try {
    const { page, context } = browser;
    await page.addInitScript(probe);
    const cdp = await context.newCDPSession(page);
    await page.goto(`${srv.base}/${args.view}`);
    await page.waitForSelector('#live[data-state="receiving"]', { timeout: 20000 });
    const start = Date.now();
    const at = (s) => new Promise((r) => setTimeout(r, Math.max(0, start + s * 1000 - Date.now())));
    // Heap every 10 s (after a GC), to tell a plateau from steady growth.
    const series = [];
    for (let s = 10; s < seconds; s += 10) {
      await at(s);
      series.push(await heap(cdp));
    }
    await at(seconds);
    const heapEnd = await heap(cdp);
    const heap10 = series[0];
    series.push(heapEnd);
    const m = await page.evaluate(() => window.__jank);
    const stats = await page.evaluate(() => ({ events: window.livehub.hub.stats.events, messages: window.livehub.hub.stats.messages }));
    // Frame rate over whole seconds after the page settled (from second 2).
    const fps = m.frames.slice(2);
    const mean = fps.reduce((a, b) => a + b, 0) / fps.length;
    const sorted = [...fps].sort((a, b) => a - b);
    const p5 = sorted[Math.floor(sorted.length * 0.05)];
    const longOver50 = m.longTasks.filter((d) => d > 50);
    const heapDelta = (heapEnd - heap10) / heap10;
    const res = {
      scenario: `${name}: ${sc.label}`,
      seconds,
      events_received: stats.events,
      ws_messages: stats.messages,
      fps_mean: Number(mean.toFixed(1)),
      fps_p5: p5,
      fps_min: sorted[0],
      long_tasks: m.longTasks.length,
      long_tasks_over_50ms: longOver50.length,
      longest_task_ms: m.longTasks.length ? Math.max(...m.longTasks) : 0,
      heap_s10_mb: Number((heap10 / 1048576).toFixed(2)),
      heap_end_mb: Number((heapEnd / 1048576).toFixed(2)),
      heap_change_pct: Number((heapDelta * 100).toFixed(1)),
      heap_every_10s_mb: series.map((h) => Number((h / 1048576).toFixed(2))),
      errors: browser.errors.length,
    };
    res.pass = res.fps_mean >= 55 && longOver50.length === 0 && Math.abs(heapDelta) <= 0.05 && res.errors === 0;
    return res;
  } finally {
    await browser.close();
    await srv.stop();
  }
}

const names = args.scenario === 'both' ? ['big', 'many'] : [args.scenario];
const results = [];
for (const n of names) {
  if (!scenarios[n]) throw new Error(`unknown scenario '${n}' (big, many, both)`);
  const r = await run(n);
  results.push(r);
  console.log(JSON.stringify(r));
}
process.exit(results.every((r) => r.pass) ? 0 : 1);
