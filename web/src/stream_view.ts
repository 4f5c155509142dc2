// The Stream view (#/stream/<name>): a live uPlot chart of the stream's
// numeric fields, the latest events and the fields seen. Events land in the
// LiveStore as they arrive; this view redraws in `frame()` (one animation
// frame, rate-limited: the chart at most 30 and the table at most 10
// redraws a second, however fast events come).

import uPlot from 'uplot';
import { streamPath } from '../../clients/js/src/index.js';
import type { StreamState } from './live_store.js';
import { kMaxRows, rowText } from './live_store.js';
import type { View, ViewContext } from './views.js';
import { el, fetchJson, fmtAge, fmtNum } from './views.js';

const kPalette = ['#2f81f7', '#f0883e', '#3fb950', '#db61a2', '#a371f7', '#d29922', '#39c5cf', '#f85149'];
const kPreload = 200;
const kTableIntervalMs = 100;
// The chart redraws at most 30 times a second (every other frame at 60 Hz):
// a software-rendered canvas redraw is the page's largest cost, and 30/s
// reads as smooth for a live line.
const kChartIntervalMs = 1000 / 30 - 2;
// One formatter for every row (toLocaleTimeString with options builds one per call).
const kTime = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });

export class StreamView implements View {
  private chart: uPlot | null = null;
  private chartFor: StreamState | null = null;
  private chartShape = -1;
  private drawnVersion = -1;
  private noticeCount = -1;
  private status: any = null;
  private disposed = false;
  private fieldCount = -1;
  private rowsFor: StreamState | null = null;
  private tableAt = 0;
  private chartAt = 0;
  private tableVersion = -1;
  private readonly cards: HTMLElement;
  private readonly chartBox: HTMLElement;
  private readonly notes: HTMLElement;
  private readonly fields: HTMLElement;
  private readonly tbody: HTMLTableSectionElement;
  private readonly resize: ResizeObserver;
  private readonly themeHook = () => this.destroyChart();
  // Redraw counter (tests check the chart is updating and capped by rAF).
  static redraws = 0;

  constructor(private readonly ctx: ViewContext, private readonly stream: string) {
    this.cards = el('div', { class: 'grid', id: 'stream-cards' });
    this.chartBox = el('div', { class: 'chart', id: 'chart' });
    this.notes = el('div', { class: 'notes', id: 'stream-notes' });
    this.fields = el('div', { class: 'fields', id: 'fields' });
    this.tbody = el('tbody', { id: 'events-body' });
    ctx.root.append(
      el('div', { class: 'toolbar' }, el('a', { href: '#/streams' }, '← Streams')),
      el('h1', { id: 'stream-name' }, stream),
      this.cards,
      this.chartBox,
      this.notes,
      el('h2', {}, 'Fields seen'),
      this.fields,
      el('h2', {}, `Latest events (newest first, up to ${kMaxRows})`),
      el('div', { class: 'table-wrap' }, el('table', { id: 'events' },
        el('thead', {}, el('tr', {}, el('th', { class: 'num' }, 'seq'), el('th', {}, 'received'), el('th', {}, 'data'))),
        this.tbody)),
    );
    this.resize = new ResizeObserver(() => {
      if (this.chart) this.chart.setSize({ width: this.chartWidth(), height: this.chartHeight() });
    });
    this.resize.observe(this.chartBox);
    ctx.onTheme.add(this.themeHook);
    void this.preload();
  }

  // Up to kPreload events from history, so the view is not empty at first:
  // the ones before where the live subscription stands (its cursor), so
  // history and live meet with no hole and no overlap.
  private async preload(): Promise<void> {
    try {
      let c = this.ctx.cursor(this.stream);
      for (let i = 0; !c && i < 50 && !this.disposed; i++) {
        await new Promise((r) => setTimeout(r, 100));
        c = this.ctx.cursor(this.stream);
      }
      if (!c || c.seq < 1 || this.disposed) return;
      const from = Math.max(1, c.seq - kPreload + 1);
      const h = await fetchJson(`/v1/history/${streamPath(this.stream)}?from_seq=${from}&limit=${c.seq - from + 1}`);
      if (h.epoch !== c.epoch || this.disposed) return;
      this.ctx.store.preload(this.stream, h.epoch, (h.events as any[]).map((e) => ({
        stream: this.stream, seq: e.seq, epoch: h.epoch, ts: e.ts, data: e.data,
      })));
    } catch {
      // No such stream yet, or evicted: live events fill the view.
    }
  }

  async poll(): Promise<void> {
    try {
      this.status = await fetchJson(`/v1/status/${streamPath(this.stream)}`);
    } catch (e) {
      this.status = { error: (e as Error).message };
    }
  }

  private chartWidth(): number {
    return Math.max(200, this.chartBox.clientWidth - 16);
  }

  private chartHeight(): number {
    return window.innerWidth < 640 ? 200 : 280;
  }

  private destroyChart(): void {
    this.chart?.destroy();
    this.chart = null;
    this.chartShape = -1;
    this.drawnVersion = -1;
  }

  private buildChart(s: StreamState): void {
    this.destroyChart();
    this.chartBox.replaceChildren();
    if (!s.numeric.length) {
      this.chartBox.append(el('div', { class: 'muted' }, 'no numeric fields yet'));
      this.chartShape = s.chartShape;
      this.chartFor = s;
      return;
    }
    const css = getComputedStyle(document.documentElement);
    const fg = css.getPropertyValue('--muted').trim() || '#888';
    const grid = css.getPropertyValue('--line').trim() || '#ddd';
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    this.chart = new uPlot({
      width: this.chartWidth(),
      height: this.chartHeight(),
      cursor: { drag: { x: false, y: false } },
      legend: { live: false },
      series: [{}, ...s.numeric.map((name, i) => ({ label: name, stroke: kPalette[i % kPalette.length], width: 1.5, spanGaps: true }))],
      axes: [axis, axis],
      scales: { x: { time: true } },
    }, [s.times, ...s.numeric.map((k) => s.values.get(k)!)] as uPlot.AlignedData, this.chartBox);
    this.chartShape = s.chartShape;
    this.chartFor = s;
  }

  frame(): void {
    const s = this.ctx.store.get(this.stream);
    this.renderCards(s);
    if (this.ctx.notices.length !== this.noticeCount) {
      this.noticeCount = this.ctx.notices.length;
      const mine = this.ctx.notices.filter((n) => n.includes(` ${this.stream}: `)).slice(-3);
      this.notes.replaceChildren(...mine.map((n) => el('div', { class: 'note' }, n)));
    }
    if (!s) {
      if (!this.chartBox.childElementCount) this.chartBox.append(el('div', { class: 'muted' }, 'waiting for events…'));
      return;
    }
    const chartDue = performance.now() - this.chartAt >= kChartIntervalMs;
    if ((s.version === this.drawnVersion || !chartDue) && s === this.chartFor) {
      // Rows held back by the table's rate limit still show up.
      if (s.version !== this.tableVersion && performance.now() - this.tableAt >= kTableIntervalMs) {
        this.tableAt = performance.now();
        this.renderRows(s);
        this.tableVersion = s.version;
      }
      return;
    }
    if (s !== this.chartFor || s.chartShape !== this.chartShape || (!this.chart && s.numeric.length)) this.buildChart(s);
    this.drawnVersion = s.version;
    this.chartAt = performance.now();
    StreamView.redraws += 1;
    if (this.chart) this.chart.setData([s.times, ...s.numeric.map((k) => s.values.get(k)!)] as uPlot.AlignedData);
    this.chartBox.dataset.points = String(s.times.length);
    this.chartBox.dataset.version = String(s.version);

    // The table is for reading: 10 updates a second is as fast as anyone
    // reads rows, and spares the layout work of 60 (the chart keeps 60).
    const now = performance.now();
    if (s !== this.rowsFor || now - this.tableAt >= kTableIntervalMs) {
      this.tableAt = now;
      this.renderRows(s);
      this.tableVersion = s.version;
    }
    if (s.fields.size !== this.fieldCount) {
      this.fieldCount = s.fields.size;
      this.fields.replaceChildren(...[...s.fields].map(([k, t]) => el('code', { title: t }, `${k}: ${t}`)));
    }
  }

  // Rows are only ever appended (newest) and trimmed (oldest) while the
  // stream state is the same object: add the new <tr>s on top and drop the
  // old ones at the bottom instead of rebuilding the table every frame.
  private renderRows(s: StreamState): void {
    if (s !== this.rowsFor) {
      this.rowsFor = s;
      this.tbody.replaceChildren();
    }
    const keep = new Set(s.rows.map((r) => r.seq));
    for (let tr = this.tbody.lastElementChild as HTMLElement | null; tr; ) {
      const prev = tr.previousElementSibling as HTMLElement | null;
      if (!keep.has(Number(tr.dataset.seq))) tr.remove();
      tr = prev;
    }
    const top = Number((this.tbody.firstElementChild as HTMLElement | null)?.dataset.seq ?? -Infinity);
    const frag = document.createDocumentFragment();
    for (let i = s.rows.length - 1; i >= 0 && s.rows[i].seq > top; i--) {
      const r = s.rows[i];
      frag.append(el('tr', { 'data-seq': String(r.seq), class: r.hole ? 'hole' : '', title: r.hole ? 'upstream sequence hole before this event (mock_seq jumped)' : '' },
        el('td', { class: 'num' }, String(r.seq)),
        el('td', { class: 'mono' }, kTime.format(r.ts) + '.' + String(r.ts % 1000).padStart(3, '0')),
        el('td', { class: 'data mono' }, rowText(r)),
      ));
    }
    this.tbody.prepend(frag);
  }

  private cardsKey = '';
  private renderCards(s: StreamState | undefined): void {
    const st = this.status;
    const age = s?.lastTs ? Date.now() - s.lastTs : (st?.latest_ts_ms ? st.server_time_ms - st.latest_ts_ms : NaN);
    const values: [string, string][] = [
      ['latest seq', String(Math.max(s?.lastSeq ?? 0, st?.latest_seq ?? 0))],
      ['last update', fmtAge(age)],
      ['msg/s (hub)', st?.rate_per_s !== undefined ? fmtNum(st.rate_per_s) : '—'],
      ['received here', fmtNum(s?.received ?? 0, 0)],
      ['freshness', st?.freshness ?? (st?.error ? 'unknown stream' : '—')],
      ['epoch', st?.epoch ?? s?.epoch ?? '—'],
    ];
    const key = values.map((v) => v[1]).join('|');
    if (key === this.cardsKey) return;
    this.cardsKey = key;
    this.cards.replaceChildren(...values.map(([k, v]) =>
      el('div', { class: 'card' }, el('div', { class: 'k' }, k), el('div', { class: 'v' }, v))));
  }

  dispose(): void {
    this.disposed = true;
    this.resize.disconnect();
    this.ctx.onTheme.delete(this.themeHook);
    this.destroyChart();
  }
}
