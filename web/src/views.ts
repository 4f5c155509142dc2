// The dashboard's list views: Streams (/v1/streams), Sources (/v1/sources,
// with the mock source's controls) and Connections (/metrics). Each view owns
// its DOM under `root`; `poll()` fetches (once a second), `frame()` redraws
// what changed (once per animation frame at most).

import type { Cursor, LivehubClient } from '../../clients/js/src/index.js';
import { matchPattern } from '../../clients/js/src/index.js';
import type { LiveStore } from './live_store.js';

export interface ViewContext {
  root: HTMLElement;
  hub: LivehubClient;
  store: LiveStore;
  notices: string[];
  onTheme: Set<() => void>;
  // Where the page's live subscription is in `stream` (undefined: not known yet).
  cursor: (stream: string) => Cursor | undefined;
}

export interface View {
  poll(): Promise<void>;
  frame(): void;
  dispose(): void;
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

export async function fetchJson(path: string): Promise<any> {
  const res = await fetch(path, { cache: 'no-store' });
  const body = await res.json();
  if (!res.ok) throw new Error(body?.error?.message ?? `${path}: HTTP ${res.status}`);
  return body;
}

export function fmtAge(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

export function fmtNum(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return '—';
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(digits) + 'M';
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(digits) + 'k';
  return Number.isInteger(n) ? String(n) : n.toFixed(digits);
}

export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return '—';
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + ' MiB';
  if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + ' KiB';
  return Math.round(n) + ' B';
}

function stateClass(state: string): string {
  if (state === 'receiving') return 'ok';
  if (state === 'stalled' || state === 'connecting' || state === 'subscribed') return 'warn';
  return 'bad';
}

// ---------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------

interface StreamRow {
  stream: string;
  freshness: string;
  rate: number;
  bytesRate: number;
  latestSeq: number;
  ageMs: number;
  subscribers: number;
  evicted: number;
}

const kStreamColumns: [keyof StreamRow, string, boolean][] = [
  ['stream', 'stream', false], ['rate', 'msg/s', true], ['bytesRate', 'bytes/s', true],
  ['latestSeq', 'latest seq', true], ['ageMs', 'last update', true], ['subscribers', 'subscribers', true],
  ['evicted', 'evicted', true],
];

export class StreamsView implements View {
  private rows: StreamRow[] = [];
  private readonly prevBytes = new Map<string, [number, number]>(); // stream -> [bytes_in, server_time_ms]
  private sortKey: keyof StreamRow = 'stream';
  private sortDesc = false;
  private filter = '';
  private serverSkewMs = 0;
  private dirty = true;
  private readonly tbody: HTMLTableSectionElement;
  private readonly count: HTMLElement;
  private readonly head: HTMLTableRowElement;

  constructor(private readonly ctx: ViewContext) {
    const input = el('input', { type: 'search', placeholder: 'filter: name, or pattern like sensors/** or demo/*/m1', id: 'stream-filter', 'aria-label': 'filter streams' });
    input.value = sessionStorage.getItem('livehub.filter') ?? '';
    this.filter = input.value;
    input.addEventListener('input', () => {
      this.filter = input.value.trim();
      sessionStorage.setItem('livehub.filter', this.filter);
      this.dirty = true;
    });
    this.count = el('span', { class: 'muted' });
    this.head = el('tr', {}, el('th', {}, ''));
    for (const [key, label, num] of kStreamColumns) {
      const th = el('th', { 'data-sort': key, class: (num ? 'num ' : '') + (key === 'evicted' || key === 'bytesRate' ? 'hide-narrow' : '') }, label);
      th.addEventListener('click', () => {
        if (this.sortKey === key) this.sortDesc = !this.sortDesc;
        else [this.sortKey, this.sortDesc] = [key, num];
        this.dirty = true;
      });
      this.head.append(th);
    }
    this.tbody = el('tbody', { id: 'streams-body' });
    ctx.root.append(
      el('h1', {}, 'Streams'),
      el('div', { class: 'toolbar' }, input, this.count),
      el('div', { class: 'table-wrap' }, el('table', { id: 'streams' }, el('thead', {}, this.head), this.tbody)),
    );
  }

  async poll(): Promise<void> {
    const j = await fetchJson('/v1/streams');
    this.serverSkewMs = Date.now() - j.server_time_ms;
    this.rows = (j.streams as any[]).map((s) => {
      const prev = this.prevBytes.get(s.stream);
      let bytesRate = NaN;
      if (prev && s.server_time_ms > prev[1]) bytesRate = ((s.bytes_in - prev[0]) * 1000) / (s.server_time_ms - prev[1]);
      this.prevBytes.set(s.stream, [s.bytes_in, s.server_time_ms]);
      return {
        stream: s.stream,
        freshness: s.freshness,
        rate: s.rate_per_s,
        bytesRate,
        latestSeq: s.latest_seq,
        ageMs: s.latest_ts_ms ? s.server_time_ms - s.latest_ts_ms : Infinity,
        subscribers: s.subscribers,
        evicted: s.evicted,
      };
    });
    this.dirty = true;
  }

  private matches(stream: string): boolean {
    const f = this.filter;
    if (!f) return true;
    if (f.includes('*')) {
      try {
        return matchPattern(f, stream);
      } catch {
        return false;
      }
    }
    return stream.toLowerCase().includes(f.toLowerCase());
  }

  frame(): void {
    // Live seqs from the client are fresher than the last poll.
    for (const r of this.rows) {
      const s = this.ctx.store.get(r.stream);
      if (s && s.lastSeq > r.latestSeq && s.received) {
        r.latestSeq = s.lastSeq;
        r.ageMs = Math.max(0, Date.now() - this.serverSkewMs - s.lastTs);
        this.dirty = true;
      }
    }
    if (!this.dirty) return;
    this.dirty = false;
    const shown = this.rows.filter((r) => this.matches(r.stream));
    const k = this.sortKey;
    shown.sort((a, b) => {
      const x = a[k], y = b[k];
      const c = typeof x === 'string' ? x.localeCompare(y as string) : (x as number) - (y as number) || 0;
      return this.sortDesc ? -c : c;
    });
    for (const th of this.head.querySelectorAll<HTMLElement>('th[data-sort]')) {
      th.classList.toggle('sorted-asc', th.dataset.sort === k && !this.sortDesc);
      th.classList.toggle('sorted-desc', th.dataset.sort === k && this.sortDesc);
    }
    this.count.textContent = `${shown.length} of ${this.rows.length} streams`;
    const frag = document.createDocumentFragment();
    for (const r of shown) {
      const link = el('a', { href: '#/stream/' + encodeURIComponent(r.stream) }, r.stream);
      frag.append(el('tr', { 'data-stream': r.stream },
        el('td', {}, el('span', { class: `dot ${r.freshness}`, title: `freshness: ${r.freshness}` })),
        el('td', {}, link),
        el('td', { class: 'num' }, fmtNum(r.rate)),
        el('td', { class: 'num hide-narrow' }, Number.isNaN(r.bytesRate) ? '—' : fmtBytes(r.bytesRate)),
        el('td', { class: 'num' }, String(r.latestSeq)),
        el('td', { class: 'num' }, fmtAge(r.ageMs)),
        el('td', { class: 'num' }, String(r.subscribers)),
        el('td', { class: 'num hide-narrow' }, String(r.evicted)),
      ));
    }
    if (!shown.length) frag.append(el('tr', {}, el('td', { colspan: '8', class: 'muted' }, this.rows.length ? 'no stream matches the filter' : 'no streams yet: publish to /v1/publish/{stream}')));
    this.tbody.replaceChildren(frag);
  }

  dispose(): void {}
}

// ---------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------

export class SourcesView implements View {
  private sources: any[] = [];
  private fetchedAt = 0;
  private dirty = true;
  private readonly tbody: HTMLTableSectionElement;
  private readonly controls: HTMLElement;
  private readonly built = new Set<string>(); // mock sources with a control panel

  constructor(ctx: ViewContext) {
    this.tbody = el('tbody', { id: 'sources-body' });
    this.controls = el('div', { id: 'mock-controls' });
    const head = el('tr', {});
    for (const [h, cls] of [['source', ''], ['type', 'hide-narrow'], ['state', ''], ['last message', 'num'], ['reconnects', 'num'],
      ['events', 'num hide-narrow'], ['last error', '']]) head.append(el('th', { class: cls }, h));
    ctx.root.append(
      el('h1', {}, 'Sources'),
      el('div', { class: 'table-wrap' }, el('table', { id: 'sources' }, el('thead', {}, head), this.tbody)),
      this.controls,
    );
  }

  async poll(): Promise<void> {
    const j = await fetchJson('/v1/sources');
    this.sources = j.sources;
    this.fetchedAt = Date.now();
    this.dirty = true;
  }

  frame(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const frag = document.createDocumentFragment();
    for (const s of this.sources) {
      frag.append(el('tr', { 'data-source': s.id, 'data-state': s.state },
        el('td', {}, s.id),
        el('td', { class: 'hide-narrow' }, s.type),
        el('td', {}, el('span', { class: `badge ${stateClass(s.state)}` }, s.state)),
        el('td', { class: 'num' }, fmtAge(s.last_message_age_ms)),
        el('td', { class: 'num' }, String(s.reconnects ?? 0)),
        el('td', { class: 'num hide-narrow' }, fmtNum(s.events_published ?? 0, 0)),
        el('td', { class: 'data' }, s.last_error ? String(s.last_error) : '—'),
      ));
      if (s.mock && !this.built.has(s.id)) this.buildControls(s);
      if (s.mock) this.syncControls(s);
    }
    if (!this.sources.length) frag.append(el('tr', {}, el('td', { colspan: '7', class: 'muted' }, 'no sources configured (see docs/connectors.md)')));
    this.tbody.replaceChildren(frag);
    void this.fetchedAt;
  }

  // Controls of one mock source: POST /v1/sources/{id}/control.
  private buildControls(s: any): void {
    this.built.add(s.id);
    const id = s.id as string;
    const field = (name: string, label: string, attrs: Record<string, string>) => {
      const input = el('input', { name, type: 'number', ...attrs });
      return [el('label', {}, label, input), input] as const;
    };
    const [rateL, rate] = field('rate', 'rate (ticks/s)', { min: '0.1', max: '10000', step: 'any' });
    const [batchL, batch] = field('batch_size', 'batch size', { min: '1', max: '10000', step: '1' });
    const [dropL, drop] = field('drop_pct', 'drop %', { min: '0', max: '100', step: 'any' });
    const [jitterL, jitter] = field('jitter_ms', 'jitter (ms)', { min: '0', step: '1' });
    const [skipL, skip] = field('skip', 'skip sequences', { min: '1', step: '1', value: '5' });
    const result = el('div', { class: 'result', 'data-result': id });
    const send = async (body: Record<string, unknown>) => {
      result.className = 'result';
      result.textContent = 'sending…';
      try {
        const res = await fetch(`/v1/sources/${encodeURIComponent(id)}/control`, {
          method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
        });
        const j = await res.json();
        if (!res.ok) throw new Error(j?.error?.message ?? `HTTP ${res.status}`);
        result.textContent = `applied ${JSON.stringify(body)}`;
        this.sources = this.sources.map((x) => (x.id === id ? j : x));
        this.dirty = true;
      } catch (e) {
        result.className = 'result error';
        result.textContent = `refused: ${(e as Error).message}`;
      }
    };
    const num = (i: HTMLInputElement) => Number(i.value);
    const start = el('button', { type: 'button', 'data-action': 'start' }, 'Start');
    const stop = el('button', { type: 'button', 'data-action': 'stop' }, 'Stop');
    const apply = el('button', { type: 'button', class: 'primary', 'data-action': 'apply' }, 'Apply');
    const skipBtn = el('button', { type: 'button', 'data-action': 'skip' }, 'Skip');
    start.addEventListener('click', () => void send({ running: true }));
    stop.addEventListener('click', () => void send({ running: false }));
    apply.addEventListener('click', () => void send({
      rate: num(rate), batch_size: num(batch), drop_pct: num(drop), jitter_ms: num(jitter),
    }));
    skipBtn.addEventListener('click', () => void send({ skip: num(skip) }));
    for (const i of [rate, batch, drop, jitter]) i.addEventListener('input', () => { i.dataset.edited = '1'; });
    const box = el('div', { class: 'controls', 'data-controls': id },
      el('div', {}, el('strong', {}, id), el('div', { class: 'muted' }, 'mock source')),
      el('div', { class: 'actions' }, start, stop),
      rateL, batchL, dropL, jitterL,
      el('div', { class: 'actions' }, apply),
      skipL,
      el('div', { class: 'actions' }, skipBtn),
      result,
    );
    this.controls.append(el('h2', {}, `Controls: ${id}`), box);
  }

  // Shows the source's current settings in inputs the user has not touched.
  private syncControls(s: any): void {
    const box = this.controls.querySelector(`[data-controls="${CSS.escape(s.id)}"]`);
    if (!box) return;
    const m = s.mock;
    const values: Record<string, number> = { rate: m.rate, batch_size: m.batch_size, drop_pct: m.drop_pct, jitter_ms: m.jitter_ms };
    for (const [name, v] of Object.entries(values)) {
      const i = box.querySelector<HTMLInputElement>(`input[name="${name}"]`);
      if (i && !i.dataset.edited && document.activeElement !== i) i.value = String(v);
    }
    box.querySelector<HTMLButtonElement>('[data-action=start]')!.disabled = m.running;
    box.querySelector<HTMLButtonElement>('[data-action=stop]')!.disabled = !m.running;
  }

  dispose(): void {}
}

// ---------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------

// Prometheus text -> "name{labels}" -> value (samples only).
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    if (sp > 0) out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

function sumOf(m: Map<string, number>, name: string, labelFilter = ''): number {
  let total = 0;
  for (const [k, v] of m) {
    if ((k === name || k.startsWith(name + '{')) && k.includes(labelFilter)) total += v;
  }
  return total;
}

export class ConnectionsView implements View {
  private metrics = new Map<string, number>();
  private streams: any[] = [];
  private dirty = true;
  private selfKey = '';
  private readonly cards: HTMLElement;
  private readonly self: HTMLElement;
  private readonly tbody: HTMLTableSectionElement;

  constructor(private readonly ctx: ViewContext) {
    this.cards = el('div', { class: 'grid', id: 'conn-cards' });
    this.self = el('div', { class: 'grid', id: 'conn-self' });
    this.tbody = el('tbody', {});
    ctx.root.append(
      el('h1', {}, 'Connections'),
      this.cards,
      el('h2', {}, 'This page\'s connection'),
      this.self,
      el('h2', {}, 'Subscribers per stream'),
      el('div', { class: 'table-wrap' }, el('table', { id: 'conn-streams' },
        el('thead', {}, el('tr', {}, el('th', {}, 'stream'), el('th', { class: 'num' }, 'subscribers'))), this.tbody)),
    );
  }

  async poll(): Promise<void> {
    const [text, j] = await Promise.all([
      fetch('/metrics', { cache: 'no-store' }).then((r) => r.text()),
      fetchJson('/v1/streams'),
    ]);
    this.metrics = parseMetrics(text);
    this.streams = j.streams;
    this.dirty = true;
  }

  frame(): void {
    const h = this.ctx.hub;
    const key = [h.state, h.transport, h.stats.messages, h.stats.reconnects, h.stats.fallbacks, h.stats.gaps].join();
    if (key !== this.selfKey) {
      this.selfKey = key;
      this.renderSelf();
    }
    if (!this.dirty) return;
    this.dirty = false;
    this.renderMetrics();
  }

  private renderSelf(): void {
    const h = this.ctx.hub;
    const selfCard = (k: string, v: string) => el('div', { class: 'card' }, el('div', { class: 'k' }, k), el('div', { class: 'v' }, v));
    this.self.replaceChildren(
      selfCard('state', h.state), selfCard('transport', h.transport ?? '—'),
      selfCard('messages', fmtNum(h.stats.messages, 0)), selfCard('reconnects', String(h.stats.reconnects)),
      selfCard('SSE fallbacks', String(h.stats.fallbacks)), selfCard('gaps', String(h.stats.gaps)),
    );
  }

  private renderMetrics(): void {
    const m = this.metrics;
    const card = (k: string, v: string, metric: string) =>
      el('div', { class: 'card', 'data-metric': metric, title: metric }, el('div', { class: 'k' }, k), el('div', { class: 'v' }, v));
    this.cards.replaceChildren(
      card('connections (WebSocket)', fmtNum(sumOf(m, 'livehub_connections', 'kind="ws"'), 0), 'livehub_connections{kind="ws"}'),
      card('connections (SSE)', fmtNum(sumOf(m, 'livehub_connections', 'kind="sse"'), 0), 'livehub_connections{kind="sse"}'),
      card('subscriptions', fmtNum(sumOf(m, 'livehub_subscriptions'), 0), 'livehub_subscriptions'),
      card('outbound queues', fmtBytes(sumOf(m, 'livehub_outbound_queue_bytes')), 'livehub_outbound_queue_bytes'),
      card('slow-client drops', fmtNum(sumOf(m, 'livehub_drops_total', 'reason="slow_client"'), 0), 'livehub_drops_total{reason="slow_client"}'),
      card('slow-client disconnects', fmtNum(sumOf(m, 'livehub_disconnects_total', 'reason="slow_client"'), 0), 'livehub_disconnects_total{reason="slow_client"}'),
    );
    const frag = document.createDocumentFragment();
    for (const s of [...this.streams].sort((a, b) => b.subscribers - a.subscribers || a.stream.localeCompare(b.stream))) {
      frag.append(el('tr', {}, el('td', {}, s.stream), el('td', { class: 'num' }, String(s.subscribers))));
    }
    this.tbody.replaceChildren(frag);
  }

  dispose(): void {}
}
