// StreamTracker puts one stream's events in order: it delivers each seq of
// the current epoch exactly once, in seq order, whatever order, duplicates
// or holes the live feed (WebSocket or SSE, resumed or not) brings.
//
// Gap handling: a seq jump, a hub `gap` message or an epoch change makes a
// hole. Live events beyond the hole are buffered while the tracker reads the
// hole from `/v1/history/{stream}` (page by page, following `next_seq`);
// history and live events go through the same `accept` path, so the merge
// delivers in order and drops duplicates; the buffer drains as soon as the
// hole closes. A range history no longer holds (HTTP 410) or that belongs
// to a previous epoch is reported as lost (`onGap`) and skipped.
//
// Threading: single-threaded (the browser / Node event loop); one history
// read at a time per tracker. Ownership: owned by its LivehubClient, which
// calls `dispose()` when it closes.
// Invariant: every event delivered has seq == delivered + 1 at that moment,
// and the buffer only holds seqs > delivered + 1.

import type { BackfillNotice, Cursor, EpochNotice, FetchLike, GapNotice, LivehubEvent, OverflowNotice } from './types.js';

/** Live events held per stream while a hole is backfilled, unless told otherwise. */
export const kDefaultMaxBuffered = 10000;

export interface TrackerHooks {
  deliver(ev: LivehubEvent): void;
  gap(n: GapNotice): void;
  epoch(n: EpochNotice): void;
  backfill(n: BackfillNotice): void;
  overflow?(n: OverflowNotice): void;
  error(code: string, message: string): void;
}

export interface TrackerOptions {
  /** The hub's base URL (http or https). */
  baseUrl: string;
  fetch: FetchLike;
  historyLimit: number;
  /** Most live events held while a hole below them is backfilled (default 10000). */
  maxBuffered?: number;
  /** Delay before retrying a failed history read (doubles, capped at maxMs). */
  retryInitialMs: number;
  retryMaxMs: number;
}

/** Percent-encodes each segment of a stream name, keeping the '/'. */
export function streamPath(stream: string): string {
  return stream.split('/').map(encodeURIComponent).join('/');
}

export class StreamTracker {
  readonly stream: string;
  epoch: string;
  /** Last seq delivered in `epoch` (0: none yet). */
  delivered: number;
  /** Highest seq known to exist (from live events and `gap` messages). */
  private knownTop: number;
  private readonly buffer = new Map<number, LivehubEvent>();
  private filling = false;
  private disposed = false;
  /** Counters, for tests and debugging. */
  readonly stats = { delivered: 0, duplicates: 0, backfilled: 0, lost: 0, historyReads: 0, overflowed: 0 };
  /** Live events not buffered in the current backfill (reported once per backfill). */
  private overflowRun = 0;

  constructor(stream: string, start: Cursor, private readonly hooks: TrackerHooks, private readonly opts: TrackerOptions) {
    this.stream = stream;
    this.epoch = start.epoch;
    this.delivered = start.seq;
    this.knownTop = start.seq;
  }

  cursor(): Cursor {
    return { epoch: this.epoch, seq: this.delivered };
  }

  /** Events waiting for a hole below them to be filled. */
  bufferedCount(): number {
    return this.buffer.size;
  }

  /** True while a history read is in flight or pending a retry. */
  isBackfilling(): boolean {
    return this.filling;
  }

  dispose(): void {
    this.disposed = true;
    this.buffer.clear();
  }

  /**
   * The hub names this stream's epoch (a `subscribed` entry or a message).
   * A different epoch drops the old position: seqs restart in the new one.
   */
  observeEpoch(epoch: string): void {
    if (epoch === this.epoch) return;
    const previous = this.epoch;
    const lastSeq = this.delivered;
    this.epoch = epoch;
    this.delivered = 0;
    this.knownTop = 0;
    this.buffer.clear();
    this.hooks.epoch({ stream: this.stream, previousEpoch: previous, epoch, lastSeq });
  }

  /** A live event (from `event` or an unpacked `batch`). */
  onLive(ev: LivehubEvent): void {
    if (this.disposed) return;
    this.observeEpoch(ev.epoch);
    if (ev.seq > this.knownTop) this.knownTop = ev.seq;
    this.accept(ev);
    this.ensureFilled();
  }

  /**
   * A hub `gap` message. `slow_client` ranges are still in history and are
   * backfilled; `evicted` and `epoch_changed` ranges are gone: reported and
   * skipped.
   */
  onGapMessage(epoch: string, fromSeq: number, toSeq: number, reason: string): void {
    if (this.disposed) return;
    this.observeEpoch(epoch);
    if (toSeq > this.knownTop) this.knownTop = toSeq;
    if (reason === 'slow_client') {
      this.ensureFilled();
      return;
    }
    this.skipLost(toSeq, reason, fromSeq);
    this.ensureFilled();
  }

  // Delivers `ev` if it is next, buffers it if a hole is below it, drops it
  // if already delivered.
  private accept(ev: LivehubEvent): void {
    if (ev.seq <= this.delivered || this.buffer.has(ev.seq)) {
      this.stats.duplicates += 1;
      return;
    }
    if (ev.seq !== this.delivered + 1) {
      this.bufferLive(ev);
      return;
    }
    this.deliverOne(ev);
    this.drain();
  }

  // Holds `ev` until the hole below it closes. Bounded: at the limit the
  // highest seqs give way (the lowest are delivered first, as soon as the
  // hole closes); what is not held stays below knownTop, so the backfill
  // reads it from history afterwards. Nothing is lost while history has it.
  private bufferLive(ev: LivehubEvent): void {
    const limit = this.opts.maxBuffered ?? kDefaultMaxBuffered;
    if (this.buffer.size >= limit) {
      let highest = -1;
      for (const seq of this.buffer.keys()) if (seq > highest) highest = seq;
      this.stats.overflowed += 1;
      this.overflowRun += 1;
      if (this.overflowRun === 1) {
        this.hooks.overflow?.({ stream: this.stream, limit });
      }
      if (ev.seq > highest) return;
      this.buffer.delete(highest);
    }
    this.buffer.set(ev.seq, ev);
  }

  private deliverOne(ev: LivehubEvent): void {
    this.delivered = ev.seq;
    this.stats.delivered += 1;
    this.hooks.deliver(ev);
  }

  private drain(): void {
    for (let next = this.buffer.get(this.delivered + 1); next; next = this.buffer.get(this.delivered + 1)) {
      this.buffer.delete(next.seq);
      this.deliverOne(next);
    }
  }

  // Marks [delivered+1, toSeq] as lost (reported once), then drains.
  private skipLost(toSeq: number, reason: string, fromHint = this.delivered + 1): void {
    if (toSeq <= this.delivered) return;
    const from = Math.max(this.delivered + 1, fromHint);
    if (from <= toSeq) {
      this.stats.lost += toSeq - from + 1;
      this.hooks.gap({ stream: this.stream, epoch: this.epoch, fromSeq: from, toSeq, reason });
    }
    for (const seq of this.buffer.keys()) if (seq <= toSeq) this.buffer.delete(seq);
    this.delivered = toSeq;
    this.drain();
  }

  private lowestBuffered(): number {
    let low = Infinity;
    for (const seq of this.buffer.keys()) if (seq < low) low = seq;
    return low;
  }

  // True while something known to exist has not been delivered.
  private hasHole(): boolean {
    return this.buffer.size > 0 || this.knownTop > this.delivered;
  }

  private ensureFilled(): void {
    if (this.filling || this.disposed || !this.hasHole()) return;
    this.filling = true;
    this.backfill().catch((e) => {
      this.hooks.error('backfill_failed', `${this.stream}: ${String(e)}`);
    }).finally(() => {
      this.filling = false;
      // Something may have arrived that needs another read.
      if (!this.disposed && this.hasHole()) setTimeout(() => this.ensureFilled(), this.opts.retryInitialMs);
    });
  }

  // Reads history from delivered+1 until the hole below the buffer closes.
  private async backfill(): Promise<void> {
    const startSeq = this.delivered + 1;
    const startEpoch = this.epoch;
    let recovered = 0;
    let retryMs = this.opts.retryInitialMs;
    let stuckPages = 0;
    while (!this.disposed && this.hasHole()) {
      const before = this.delivered;
      const from = this.delivered + 1;
      const url = `${this.opts.baseUrl}/v1/history/${streamPath(this.stream)}?from_seq=${from}&limit=${this.opts.historyLimit}`;
      let status: number;
      let body: any;
      try {
        this.stats.historyReads += 1;
        const res = await this.opts.fetch(url);
        status = res.status;
        body = await res.json().catch(() => undefined);
      } catch {
        // The hub is unreachable: wait and retry (the live side reconnects).
        await new Promise((r) => setTimeout(r, retryMs));
        retryMs = Math.min(retryMs * 2, this.opts.retryMaxMs);
        continue;
      }
      if (this.disposed) return;
      if (status === 200 && body && Array.isArray(body.events)) {
        if (typeof body.epoch === 'string' && body.epoch !== this.epoch) {
          this.observeEpoch(body.epoch); // reset under us: read the new epoch from its start
          continue;
        }
        for (const e of body.events) {
          const before2 = this.delivered;
          this.accept({ stream: this.stream, seq: e.seq, epoch: this.epoch, ts: e.ts, data: e.data });
          if (this.delivered > before2) recovered += this.delivered - before2;
        }
        if (this.delivered > this.knownTop) this.knownTop = this.delivered;
        if (this.hasHole() && this.delivered === before) {
          // History ends below what we know exists. The read may have raced a
          // publish: read again a little later; after three tries the seqs
          // are missing for good.
          if (++stuckPages >= 3) {
            const low = this.lowestBuffered();
            this.skipLost(low === Infinity ? this.knownTop : low - 1, 'missing');
            stuckPages = 0;
          } else {
            await new Promise((r) => setTimeout(r, this.opts.retryInitialMs));
          }
          continue;
        }
      } else if (status === 410) {
        const oldest = Number(body?.error?.oldest_seq);
        if (Number.isFinite(oldest) && oldest > this.delivered + 1) {
          this.skipLost(oldest - 1, 'evicted');
        } else {
          // 410 without a usable oldest_seq: give up on what is below the buffer.
          const low = this.lowestBuffered();
          this.skipLost(low === Infinity ? this.knownTop : low - 1, 'evicted');
        }
      } else if (status === 404) {
        // The stream is gone (a hub restarted without its store): nothing to read.
        const low = this.lowestBuffered();
        this.skipLost(low === Infinity ? this.knownTop : low - 1, 'missing');
      } else {
        await new Promise((r) => setTimeout(r, retryMs));
        retryMs = Math.min(retryMs * 2, this.opts.retryMaxMs);
        continue;
      }
      retryMs = this.opts.retryInitialMs;
      stuckPages = 0;
    }
    this.overflowRun = 0;
    if (recovered > 0 && this.epoch === startEpoch) {
      this.stats.backfilled += recovered;
      this.hooks.backfill({ stream: this.stream, epoch: this.epoch, fromSeq: startSeq, toSeq: this.delivered, events: recovered });
    }
  }
}
