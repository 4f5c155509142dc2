// LivehubClient: a browser client for livehub's subscriber protocol
// (docs/protocol.md). It keeps one logical connection to the hub over
// WebSocket, falls back to Server-Sent Events when WebSocket fails before it
// opens (a proxy refusing the upgrade) and tries WebSocket again every
// `wsRetryMs`; reconnects with exponential backoff and jitter; resumes every
// stream from its last delivered seq; and routes every stream through a
// StreamTracker, which delivers in seq order with no duplicate and
// backfills holes from /v1/history.
//
// Threading: single-threaded (the browser / Node event loop); every
// callback runs on it. Ownership: the client owns its links, trackers and
// timers; `close()` releases all of them. A Subscription is a handle owned by
// the caller; `close()` on it detaches it from the client.

import { matchPattern } from './pattern.js';
import { StreamTracker } from './stream_tracker.js';
import { SseLink, WsLink } from './transport.js';
import type {
  ClientEvents, ClientOptions, ConnectionState, Cursor, EventCallback, EventSourceCtor, FetchLike,
  LivehubEvent, SubscribeOptions, TransportKind, WebSocketCtor,
} from './types.js';

type Listener<K extends keyof ClientEvents> = (value: ClientEvents[K]) => void;

/** A handle on one `subscribe` call. */
export class Subscription {
  /** The SSE `id:` cursor of this subscription's last event stream. */
  sseCursor: string | undefined;
  /** The request id of its WebSocket `subscribe`, matched in `subscribed`/`error`. */
  wsId = 0;
  closed = false;

  constructor(
    private readonly client: LivehubClient,
    readonly patterns: readonly string[],
    readonly options: SubscribeOptions,
    readonly callback: EventCallback,
  ) {}

  matches(stream: string): boolean {
    return this.patterns.some((p) => matchPattern(p, stream));
  }

  /** The position of every stream this subscription has seen: pass it as `from` to resume. */
  cursor(): Record<string, Cursor> {
    return this.client.cursorFor(this);
  }

  /** Stops delivery and unsubscribes on the hub. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.detach(this);
  }
}

export class LivehubClient {
  private readonly base: string;
  private readonly mode: 'auto' | TransportKind;
  private readonly WS: WebSocketCtor | undefined;
  private readonly ES: EventSourceCtor | undefined;
  private readonly fetchFn: FetchLike;
  private readonly tokenOption: ClientOptions['token'];
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly stallAfterMs: number;
  private readonly wsRetryMs: number;
  private readonly historyLimit: number;
  private readonly maxBuffered: number;

  private readonly listeners = new Map<string, Set<(v: any) => void>>();
  private readonly subs = new Set<Subscription>();
  private readonly trackers = new Map<string, StreamTracker>();

  private stateValue: ConnectionState = 'disconnected';
  private transportValue: TransportKind | null = null;
  private ws: WsLink | null = null;
  private probe: WsLink | null = null;
  private readonly sse = new Map<Subscription, SseLink>();
  private sseOpened = false;     // every SSE link of this attempt has opened once
  private usingSse = false;      // the current attempt carries subscriptions over SSE
  private readonly pendingAcks = new Set<Subscription>(); // sent, `subscribed` not yet seen
  private preferSse = false;     // auto mode: WebSocket just failed before opening
  private attempt = 0;           // reconnect attempts since the last successful open
  private nextId = 1;
  private closed = false;
  private started = false;
  private lastMessageAt = 0;
  private lastEventAt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private probeTimer: ReturnType<typeof setTimeout> | null = null;
  private stallTimer: ReturnType<typeof setInterval> | null = null;

  /** Counters, for tests and debugging pages. */
  readonly stats = { messages: 0, events: 0, batches: 0, gaps: 0, reconnects: 0, fallbacks: 0 };

  constructor(options: ClientOptions = {}) {
    const g = globalThis as any;
    const origin = typeof g.location?.origin === 'string' ? g.location.origin : 'http://127.0.0.1:8080';
    this.base = (options.url ?? origin).replace(/\/+$/, '');
    this.mode = options.transport ?? 'auto';
    this.WS = options.WebSocket ?? g.WebSocket;
    this.ES = options.EventSource ?? g.EventSource;
    const f = options.fetch ?? g.fetch;
    if (typeof f !== 'function') throw new Error('livehub: no fetch available; pass options.fetch');
    this.tokenOption = options.token;
    this.fetchFn = (url, init) => {
      const token = this.currentToken();
      if (!token) return f(url, init);
      return f(url, { ...init, headers: { ...(init?.headers ?? {}), authorization: `Bearer ${token}` } });
    };
    this.initialMs = options.backoff?.initialMs ?? 500;
    this.maxMs = options.backoff?.maxMs ?? 15000;
    this.stallAfterMs = options.stallAfterMs ?? 10000;
    this.wsRetryMs = options.wsRetryMs ?? 30000;
    this.historyLimit = options.historyLimit ?? 1000;
    this.maxBuffered = Math.max(1, options.maxBufferedEvents ?? 10000);
    if (this.mode !== 'sse' && !this.WS) throw new Error('livehub: no WebSocket available; pass options.WebSocket');
    if (this.mode !== 'ws' && !this.ES) throw new Error('livehub: no EventSource available; pass options.EventSource');
    if (options.autoConnect ?? true) this.start();
  }

  // ---------------------------------------------------------------------------
  // Public API
  // ---------------------------------------------------------------------------

  get state(): ConnectionState {
    return this.stateValue;
  }

  /** The transport of the current connection ('ws' or 'sse'), null before the first. */
  get transport(): TransportKind | null {
    return this.transportValue;
  }

  /** Milliseconds since the last event arrived (Infinity before the first). */
  lastUpdateAgeMs(): number {
    return this.lastEventAt ? Date.now() - this.lastEventAt : Infinity;
  }

  on<K extends keyof ClientEvents>(name: K, fn: Listener<K>): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(fn);
    return () => this.off(name, fn);
  }

  off<K extends keyof ClientEvents>(name: K, fn: Listener<K>): void {
    this.listeners.get(name)?.delete(fn);
  }

  /**
   * Subscribes to streams by name or pattern; `callback` gets every event of
   * a matching stream, per stream in seq order, each once.
   */
  subscribe(patterns: string | string[], options: SubscribeOptions = {}, callback: EventCallback): Subscription {
    if (this.closed) throw new Error('livehub: client is closed');
    const list = Array.isArray(patterns) ? [...patterns] : [patterns];
    const sub = new Subscription(this, list, options, callback);
    for (const [stream, c] of Object.entries(options.from ?? {})) {
      if (!this.trackers.has(stream)) this.trackers.set(stream, this.newTracker(stream, c));
    }
    this.subs.add(sub);
    if (!this.started) {
      this.start();
    } else if (this.ws?.isOpen) {
      this.sendSubscribe(sub);
    } else if (this.usingSse && !this.reconnectTimer) {
      this.openSse(sub);
    }
    return sub;
  }

  /** Closes every connection and subscription; the client cannot be reused. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimers();
    this.ws?.close();
    this.ws = null;
    this.probe?.close();
    this.probe = null;
    this.closeSse();
    for (const t of this.trackers.values()) t.dispose();
    this.trackers.clear();
    for (const s of this.subs) s.closed = true;
    this.subs.clear();
    this.setState('disconnected');
  }

  /** Per-stream counters of the trackers (delivered, duplicates, backfilled, lost). */
  streamStats(stream: string): StreamTracker['stats'] | undefined {
    return this.trackers.get(stream)?.stats;
  }

  // ---------------------------------------------------------------------------
  // Used by Subscription
  // ---------------------------------------------------------------------------

  cursorFor(sub: Subscription): Record<string, Cursor> {
    const out: Record<string, Cursor> = {};
    for (const [stream, t] of this.trackers) if (sub.matches(stream)) out[stream] = t.cursor();
    return out;
  }

  detach(sub: Subscription): void {
    this.subs.delete(sub);
    this.pendingAcks.delete(sub);
    const link = this.sse.get(sub);
    if (link) {
      link.close();
      this.sse.delete(sub);
    }
    if (this.ws?.isOpen) {
      // Keep patterns another subscription still uses.
      const still = new Set([...this.subs].flatMap((s) => s.patterns));
      const drop = sub.patterns.filter((p) => !still.has(p));
      if (drop.length) this.ws.send({ op: 'unsubscribe', id: this.nextId++, streams: drop });
    }
  }

  // ---------------------------------------------------------------------------
  // Connection management
  // ---------------------------------------------------------------------------

  private start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.stallTimer = setInterval(() => this.checkStall(), Math.max(50, Math.min(1000, this.stallAfterMs / 4)));
    this.connect();
  }

  private emit<K extends keyof ClientEvents>(name: K, value: ClientEvents[K]): void {
    for (const fn of [...(this.listeners.get(name) ?? [])]) {
      try {
        fn(value);
      } catch (e) {
        if (name !== 'error') this.emit('error', { code: 'listener_threw', message: String(e) });
      }
    }
  }

  private setState(s: ConnectionState): void {
    if (s === this.stateValue) return;
    this.stateValue = s;
    this.emit('state', s);
  }

  private setTransport(t: TransportKind): void {
    if (t === this.transportValue) return;
    this.transportValue = t;
    this.emit('transport', t);
  }

  private currentToken(): string | undefined {
    const t = this.tokenOption;
    return typeof t === 'function' ? t() : t;
  }

  private wsUrl(): string {
    const token = this.currentToken();
    const q = token ? `?token=${encodeURIComponent(token)}` : '';
    return this.base.replace(/^http/, 'ws') + '/v1/ws' + q;
  }

  private connect(): void {
    if (this.closed) return;
    this.reconnectTimer = null;
    if (this.ws) return; // a WebSocket probe took over meanwhile
    this.setState('connecting');
    const useSse = this.mode === 'sse' || (this.mode === 'auto' && this.preferSse);
    this.pendingAcks.clear();
    this.usingSse = useSse;
    if (useSse) {
      // With no subscription yet there is nothing to open: the first
      // `subscribe` opens its event stream.
      this.sseOpened = false;
      for (const sub of this.subs) this.openSse(sub);
    } else {
      this.ws = new WsLink(this.wsUrl(), this.WS!, this.wsHandlers());
    }
  }

  private wsHandlers() {
    return {
      onOpen: () => this.onWsOpen(),
      onMessage: (m: any) => this.onMessage(m),
      onClose: (wasOpen: boolean, reason: string) => {
        this.ws = null;
        if (this.closed) return;
        if (!wasOpen && this.mode === 'auto') {
          // Blocked or refused before opening: try SSE at once.
          this.stats.fallbacks += 1;
          this.preferSse = true;
          this.connect();
          return;
        }
        this.lost(reason);
      },
    };
  }

  private onWsOpen(): void {
    this.attempt = 0;
    this.preferSse = false;
    this.setTransport('ws');
    this.lastMessageAt = Date.now();
    // 'subscribed' once the hub answers (at once when there is nothing to subscribe).
    if (this.subs.size === 0) this.setState('subscribed');
    for (const sub of this.subs) this.sendSubscribe(sub);
  }

  private sendSubscribe(sub: Subscription): void {
    sub.wsId = this.nextId++;
    this.pendingAcks.add(sub);
    const op: Record<string, unknown> = { op: 'subscribe', id: sub.wsId, streams: sub.patterns };
    const from = this.cursorFor(sub);
    if (Object.keys(from).length) op.from = from;
    if (sub.options.maxHz !== undefined) op.max_hz = sub.options.maxHz;
    if (sub.options.snapshot) op.snapshot = true;
    this.ws!.send(op);
  }

  private sseUrl(sub: Subscription): string {
    const q = new URLSearchParams({ streams: sub.patterns.join(',') });
    if (sub.options.maxHz !== undefined) q.set('max_hz', String(sub.options.maxHz));
    // The hub's own `id:` cursor when this subscription has one; otherwise
    // one made from the trackers (after a switch from WebSocket, or `from`).
    let cursor = sub.sseCursor;
    if (!cursor) {
      const parts = Object.entries(this.cursorFor(sub)).map(([s, c]) => `${s}@${c.epoch}:${c.seq}`);
      if (parts.length) cursor = parts.join(',');
    }
    if (cursor) q.set('last_event_id', cursor);
    const token = this.currentToken();
    if (token) q.set('token', token);
    return `${this.base}/v1/sse?${q}`;
  }

  private openSse(sub: Subscription): void {
    const link = new SseLink(this.sseUrl(sub), this.ES!, {
      onOpen: () => {
        if ([...this.sse.values()].every((l) => l.isOpen)) this.onSseAllOpen();
      },
      onMessage: (m: any, cursor?: string) => {
        if (cursor) sub.sseCursor = cursor;
        if (m.type === 'subscribed') this.pendingAcks.delete(sub);
        this.onMessage(m);
      },
      onClose: (wasOpen: boolean, reason: string) => {
        this.sse.delete(sub);
        if (this.closed) return;
        // One SSE link failing drops them all: reconnect as one connection.
        const allOpened = this.sseOpened;
        this.closeSse();
        if (!allOpened && !wasOpen && this.mode === 'auto') this.preferSse = false; // both failed: start over with WebSocket
        this.lost(reason);
      },
    });
    this.sse.set(sub, link);
    this.pendingAcks.add(sub);
  }

  private onSseAllOpen(): void {
    if (this.sseOpened) return;
    this.sseOpened = true;
    this.attempt = 0;
    this.setTransport('sse');
    this.lastMessageAt = Date.now();
    if (this.mode === 'auto') this.scheduleProbe();
  }

  private closeSse(): void {
    for (const link of this.sse.values()) link.close();
    this.sse.clear();
    this.sseOpened = false;
  }

  // While on SSE in auto mode: try a WebSocket now and then; when one opens,
  // it takes over (subscribing from the trackers' cursors) and SSE closes.
  private scheduleProbe(): void {
    if (this.probeTimer || this.closed) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = null;
      if (this.closed || this.transportValue !== 'sse' || !this.sseOpened) return;
      const probe = new WsLink(this.wsUrl(), this.WS!, {
        onOpen: () => {
          this.probe = null;
          if (this.closed || this.ws) return probe.close();
          if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
          this.reconnectTimer = null;
          this.closeSse();
          this.usingSse = false;
          this.pendingAcks.clear();
          for (const sub of this.subs) sub.sseCursor = undefined;
          probe.setHandlers(this.wsHandlers());
          this.ws = probe;
          this.onWsOpen();
        },
        onMessage: () => {},
        onClose: () => {
          this.probe = null;
          this.scheduleProbe();
        },
      });
      this.probe = probe;
    }, this.wsRetryMs);
  }

  // The connection dropped: back off, then connect again.
  private lost(reason: string): void {
    if (this.closed || this.reconnectTimer) return;
    this.setState('disconnected');
    const exp = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 20));
    const delay = exp / 2 + Math.random() * (exp / 2); // "equal jitter"
    this.attempt += 1;
    this.stats.reconnects += 1;
    this.emit('error', { code: 'disconnected', message: `${reason}; reconnecting in ${Math.round(delay)} ms` });
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private checkStall(): void {
    if (this.stateValue !== 'subscribed' && this.stateValue !== 'receiving') return;
    if (Date.now() - this.lastMessageAt > this.stallAfterMs) this.setState('stalled');
  }

  private clearTimers(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.probeTimer) clearTimeout(this.probeTimer);
    if (this.stallTimer) clearInterval(this.stallTimer);
    this.reconnectTimer = this.probeTimer = this.stallTimer = null;
  }

  // ---------------------------------------------------------------------------
  // Messages
  // ---------------------------------------------------------------------------

  private newTracker(stream: string, start: Cursor): StreamTracker {
    return new StreamTracker(stream, start, {
      deliver: (ev) => this.dispatch(ev),
      gap: (n) => {
        this.stats.gaps += 1;
        this.emit('gap', n);
      },
      epoch: (n) => this.emit('epoch', n),
      backfill: (n) => this.emit('backfill', n),
      overflow: (n) => this.emit('overflow', n),
      error: (code, message) => this.emit('error', { code, message }),
    }, {
      baseUrl: this.base,
      fetch: this.fetchFn,
      historyLimit: this.historyLimit,
      maxBuffered: this.maxBuffered,
      retryInitialMs: Math.min(this.initialMs, 200),
      retryMaxMs: this.maxMs,
    });
  }

  // The tracker of `stream`; a stream first seen in a message starts before
  // seq 1 (the hub sends a stream created after subscribing from seq 1).
  private tracker(stream: string, epoch: string): StreamTracker {
    let t = this.trackers.get(stream);
    if (!t) {
      t = this.newTracker(stream, { epoch, seq: 0 });
      this.trackers.set(stream, t);
    }
    return t;
  }

  private dispatch(ev: LivehubEvent): void {
    for (const sub of this.subs) {
      if (sub.closed || !sub.matches(ev.stream)) continue;
      try {
        sub.callback(ev);
      } catch (e) {
        this.emit('error', { code: 'callback_threw', message: String(e) });
      }
    }
  }

  private onMessage(m: any): void {
    if (this.closed) return;
    const now = Date.now();
    this.stats.messages += 1;
    this.lastMessageAt = now;
    if (this.stateValue === 'stalled') this.setState('receiving');
    switch (m.type) {
      case 'event':
        if (typeof m.stream !== 'string' || !Number.isInteger(m.seq)) return;
        this.stats.events += 1;
        this.lastEventAt = now;
        this.setState('receiving');
        this.tracker(m.stream, m.epoch).onLive({ stream: m.stream, seq: m.seq, epoch: m.epoch, ts: m.ts, data: m.data });
        return;
      case 'batch': {
        if (typeof m.stream !== 'string' || !Array.isArray(m.events)) return;
        this.stats.batches += 1;
        this.stats.events += m.events.length;
        this.lastEventAt = now;
        this.setState('receiving');
        const t = this.tracker(m.stream, m.epoch);
        for (const e of m.events) t.onLive({ stream: m.stream, seq: e.seq, epoch: m.epoch, ts: e.ts, data: e.data });
        return;
      }
      case 'subscribed':
        for (const s of m.streams ?? []) {
          const t = this.trackers.get(s.stream);
          if (!t) this.trackers.set(s.stream, this.newTracker(s.stream, { epoch: s.epoch, seq: s.latest_seq }));
          else t.observeEpoch(s.epoch);
        }
        if (typeof m.id === 'number') {
          for (const sub of this.pendingAcks) if (sub.wsId === m.id) this.pendingAcks.delete(sub);
        }
        // 'subscribed' once every subscription sent on this connection is acknowledged.
        if (this.pendingAcks.size === 0 && this.stateValue !== 'receiving') this.setState('subscribed');
        return;
      case 'gap':
        if (typeof m.stream !== 'string') return;
        this.tracker(m.stream, m.epoch).onGapMessage(m.epoch, m.from_seq, m.to_seq, m.reason);
        return;
      case 'health':
        this.emit('health', m);
        return;
      case 'snapshot':
        if (typeof m.stream !== 'string' || typeof m.epoch !== 'string') return;
        this.tracker(m.stream, m.epoch).observeEpoch(m.epoch);
        this.emit('snapshot', { stream: m.stream, epoch: m.epoch, seq: Number(m.seq), generation: m.generation, state: m.state });
        return;
      case 'error':
        this.emit('error', { code: String(m.code), message: String(m.message), id: m.id });
        return;
      default: // pong, replies to other ops: liveness only
    }
  }
}
