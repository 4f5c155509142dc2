// LiveStore keeps what the dashboard shows of each stream's live events:
// the latest rows, the numeric series for the chart and the fields seen.
// Memory is bounded per stream (kMaxRows rows, kMaxPoints chart points,
// kMaxFields fields) and in streams (kMaxStreams: the least recently
// updated is forgotten first), however fast events arrive.
// Threading: the page's event loop only.

import type { LivehubEvent } from '../../clients/js/src/index.js';

export const kMaxRows = 50;
export const kMaxPoints = 600;
export const kMaxFields = 64;
export const kMaxStreams = 500;
const kMaxSeriesFields = 8; // chart lines

export interface Row {
  seq: number;
  ts: number;
  data: unknown;
  text?: string;  // preview, made when first rendered
  hole: boolean; // an upstream sequence hole (the mock's `mock_seq` jumped)
}

export class StreamState {
  readonly rows: Row[] = [];        // newest last
  readonly fields = new Map<string, string>(); // name -> type seen last
  readonly numeric: string[] = [];  // chart fields, in first-seen order
  // Chart data: times (s) and one array per numeric field, ring-trimmed.
  readonly times: number[] = [];
  readonly values = new Map<string, (number | null)[]>();
  lastSeq = 0;
  epoch = '';
  lastTs = 0;
  received = 0;
  lastMockSeq = 0;
  outOfOrder = 0;
  version = 0; // bumps on every change; views redraw when it moved
  chartShape = 0; // bumps when numeric fields are added (the chart is rebuilt)

  add(ev: LivehubEvent): void {
    // The client delivers each seq once, in order; count (and skip) anything else.
    if (ev.epoch === this.epoch && ev.seq <= this.lastSeq) {
      this.outOfOrder += 1;
      return;
    }
    this.received += 1;
    this.lastSeq = ev.seq;
    this.epoch = ev.epoch;
    this.lastTs = ev.ts;
    this.version += 1;
    const flat = flatten(ev.data);
    for (const [k, v] of flat) {
      if (!this.fields.has(k) && this.fields.size >= kMaxFields) continue;
      this.fields.set(k, typeof v);
      if (typeof v === 'number' && k !== 'mock_seq' && k !== 't' && !this.values.has(k) && this.numeric.length < kMaxSeriesFields) {
        this.numeric.push(k);
        this.values.set(k, this.times.map(() => null));
        this.chartShape += 1;
      }
    }
    let hole = false;
    const mockSeq = flat.get('mock_seq');
    if (typeof mockSeq === 'number') {
      hole = this.lastMockSeq > 0 && mockSeq > this.lastMockSeq + 1;
      this.lastMockSeq = mockSeq;
    }
    this.rows.push({ seq: ev.seq, ts: ev.ts, data: ev.data, hole });
    if (this.rows.length > kMaxRows) this.rows.splice(0, this.rows.length - kMaxRows);
    if (this.numeric.length) {
      this.times.push(ev.ts / 1000);
      for (const k of this.numeric) {
        const v = flat.get(k);
        this.values.get(k)!.push(typeof v === 'number' && Number.isFinite(v) ? v : null);
      }
      if (this.times.length > kMaxPoints * 1.25) {
        const cut = this.times.length - kMaxPoints;
        this.times.splice(0, cut);
        for (const arr of this.values.values()) arr.splice(0, cut);
      }
    }
  }

  // A new epoch: seqs start over, old rows would mislead.
  reset(): void {
    this.rows.length = 0;
    this.times.length = 0;
    for (const arr of this.values.values()) arr.length = 0;
    this.lastSeq = 0;
    this.lastMockSeq = 0;
    this.version += 1;
  }
}

export class LiveStore {
  private readonly streams = new Map<string, StreamState>();

  get(stream: string): StreamState | undefined {
    return this.streams.get(stream);
  }

  add(ev: LivehubEvent): void {
    let s = this.streams.get(ev.stream);
    if (!s) {
      if (this.streams.size >= kMaxStreams) {
        const oldest = [...this.streams.entries()].reduce((a, b) => (a[1].lastTs <= b[1].lastTs ? a : b));
        this.streams.delete(oldest[0]);
      }
      s = new StreamState();
      this.streams.set(ev.stream, s);
    }
    s.add(ev);
  }

  // Recent history read when a stream view opens: events older than the
  // first live one go in front of it (same epoch only).
  preload(stream: string, epoch: string, events: LivehubEvent[]): void {
    const cur = this.streams.get(stream);
    if (cur && cur.epoch && cur.epoch !== epoch) return;
    const firstLive = cur?.rows[0]?.seq ?? Infinity;
    const next = new StreamState();
    for (const ev of events) if (ev.seq < firstLive) next.add(ev);
    if (cur) {
      for (const r of cur.rows) next.add({ stream, seq: r.seq, epoch: cur.epoch, ts: r.ts, data: r.data });
      next.received = cur.received;
      next.outOfOrder = cur.outOfOrder;
      next.version = cur.version + 1;
    }
    this.streams.set(stream, next);
  }

  reset(stream: string): void {
    this.streams.get(stream)?.reset();
  }
}

// Top-level and one nested level of an object, as "a" / "a.b" -> value.
function flatten(data: unknown): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    out.set('value', data);
    return out;
  }
  for (const [k, v] of Object.entries(data as Record<string, unknown>)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) out.set(`${k}.${k2}`, v2);
    } else {
      out.set(k, v);
    }
  }
  return out;
}

export function rowText(row: Row): string {
  if (row.text === undefined) row.text = preview(row.data);
  return row.text;
}

function preview(data: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(data) ?? String(data);
  } catch {
    text = String(data);
  }
  return text.length > 300 ? text.slice(0, 300) + '…' : text;
}
