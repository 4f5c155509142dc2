// livehub dashboard: hash-routed views over the hub's REST API and one live
// connection through the browser client (clients/js, the same code anyone
// can use). Views: #/streams, #/stream/<name>, #/sources, #/connections.
// Rendering is driven by requestAnimationFrame: events only update state,
// and the views redraw from the frame loop however fast events arrive (the
// chart at most 30/s, the events table at most 10/s). Polled data (/v1/streams, /v1/sources, /metrics) refreshes
// once a second, only for the view on screen.

import './styles.css';
import { LivehubClient } from '../../clients/js/src/index.js';
import type { ConnectionState } from '../../clients/js/src/index.js';
import { LiveStore } from './live_store.js';
import { StreamView } from './stream_view.js';
import { ConnectionsView, SourcesView, StreamsView } from './views.js';
import type { View } from './views.js';

const kPollMs = 1000;
const kStallAfterMs = 5000;

const hub = new LivehubClient({ stallAfterMs: kStallAfterMs, backoff: { initialMs: 300, maxMs: 5000 } });
const store = new LiveStore();
const notices: string[] = []; // recent backfill / gap / epoch notes, newest last

// Every stream, live. max_hz batches fast streams (never drops): one
// delivery per stream per frame is all the page can show anyway.
const everything = hub.subscribe(['**'], { maxHz: 30 }, (ev) => store.add(ev));
hub.on('epoch', (n) => {
  store.reset(n.stream);
  note(`${n.stream}: epoch changed (${n.previousEpoch} → ${n.epoch}); following the new epoch from its start`);
});
hub.on('backfill', (n) => note(`${n.stream}: backfilled ${n.events} event(s), seq ${n.fromSeq}–${n.toSeq}, from history`));
hub.on('overflow', (n) => note(`${n.stream}: more than ${n.limit} live events waiting for a backfill; the rest is read from history`));
hub.on('gap', (n) => note(`${n.stream}: seq ${n.fromSeq}–${n.toSeq} lost (${n.reason})`));

function note(text: string): void {
  notices.push(`${new Date().toLocaleTimeString()} ${text}`);
  if (notices.length > 20) notices.shift();
}

// Exposed for tests, benchmarks and curious users (window.livehub in devtools).
(globalThis as any).livehub = { hub, store, notices };

// ---------------------------------------------------------------------------
// Theme: auto (prefers-color-scheme) -> light -> dark, saved in localStorage.
// ---------------------------------------------------------------------------

const themeButton = document.getElementById('theme') as HTMLButtonElement;
const themeListeners = new Set<() => void>();
function currentTheme(): string {
  return document.documentElement.dataset.theme ?? 'auto';
}
function applyTheme(t: string): void {
  if (t === 'auto') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
  try {
    localStorage.setItem('livehub.theme', t);
  } catch { /* private mode: not saved */ }
  themeButton.textContent = `Theme: ${t}`;
  for (const fn of themeListeners) fn();
}
themeButton.textContent = `Theme: ${currentTheme()}`;
themeButton.addEventListener('click', () => {
  const order = ['auto', 'light', 'dark'];
  applyTheme(order[(order.indexOf(currentTheme()) + 1) % order.length]);
});
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
  for (const fn of themeListeners) fn();
});

// ---------------------------------------------------------------------------
// Footer: the live indicator.
// ---------------------------------------------------------------------------

const live = document.getElementById('live')!;
const liveText = document.getElementById('live-text')!;
const liveTransport = document.getElementById('live-transport')!;
document.getElementById('live-hub')!.textContent = location.host;

function seconds(ms: number): string {
  return ms < 10_000 ? (ms / 1000).toFixed(1) + 's' : Math.round(ms / 1000) + 's';
}

function liveLabel(state: ConnectionState, ageMs: number): string {
  const age = Number.isFinite(ageMs) ? ageMs : null;
  switch (state) {
    case 'receiving': return `Live • ${age === null ? '—' : seconds(age) + ' ago'}`;
    case 'stalled': return `Stale • ${age === null ? 'no data yet' : seconds(age)}`;
    case 'subscribed': return 'Subscribed • waiting for data';
    case 'connecting': return 'Connecting…';
    default: return 'Disconnected • reconnecting';
  }
}

let lastLive = '';
function renderFooter(): void {
  const state = hub.state;
  const text = liveLabel(state, hub.lastUpdateAgeMs());
  const tr = hub.transport ? (hub.transport === 'ws' ? 'WebSocket' : 'SSE') : '—';
  const key = state + text + tr;
  if (key === lastLive) return;
  lastLive = key;
  live.dataset.state = state;
  liveText.textContent = text;
  liveTransport.textContent = tr;
  live.title = `connection: ${state}; transport: ${tr}; reconnects: ${hub.stats.reconnects}`;
}

// ---------------------------------------------------------------------------
// Router and the frame loop.
// ---------------------------------------------------------------------------

const root = document.getElementById('view')!;
let view: View | null = null;
let pollTimer: ReturnType<typeof setTimeout> | null = null;
let pollGeneration = 0;

function route(): void {
  const hash = location.hash || '#/streams';
  view?.dispose();
  root.textContent = '';
  const ctx = { root, hub, store, notices, onTheme: themeListeners, cursor: (s: string) => everything.cursor()[s] };
  let name = 'streams';
  if (hash.startsWith('#/stream/')) {
    name = 'stream';
    view = new StreamView(ctx, decodeURIComponent(hash.slice('#/stream/'.length)));
  } else if (hash === '#/sources') {
    name = 'sources';
    view = new SourcesView(ctx);
  } else if (hash === '#/connections') {
    name = 'connections';
    view = new ConnectionsView(ctx);
  } else {
    view = new StreamsView(ctx);
  }
  document.body.dataset.view = name;
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a')) {
    a.classList.toggle('active', a.dataset.nav === (name === 'stream' ? 'streams' : name));
  }
  // Poll at once for the new view, then every kPollMs.
  pollGeneration += 1;
  if (pollTimer) clearTimeout(pollTimer);
  void poll(pollGeneration);
}

async function poll(gen: number): Promise<void> {
  const v = view;
  try {
    await v?.poll();
  } catch {
    // The hub is unreachable: the footer already says so; keep polling.
  }
  // Every fetch adds a resource-timing entry the page never reads; the
  // browser keeps up to 250 of them: clear them so a page left open for
  // hours holds steady memory.
  performance.clearResourceTimings();
  if (gen !== pollGeneration) return;
  pollTimer = setTimeout(() => void poll(gen), kPollMs);
}

function frame(): void {
  renderFooter();
  view?.frame();
  requestAnimationFrame(frame);
}

window.addEventListener('hashchange', route);
route();
requestAnimationFrame(frame);
