// Public types of the livehub browser client: the events a subscription
// receives, the notifications the client emits, and the constructor options.
// Plain data only; nothing here holds resources.

/** One event of a stream, as delivered to a subscription callback. */
export interface LivehubEvent {
  stream: string;
  seq: number;
  epoch: string;
  /** The hub's receive time, ms since the Unix epoch. */
  ts: number;
  data: unknown;
}

/** A resume position in one stream: the last seq the client has seen. */
export interface Cursor {
  epoch: string;
  seq: number;
}

/** Connection health, as shown by a live indicator. */
export type ConnectionState = 'disconnected' | 'connecting' | 'subscribed' | 'receiving' | 'stalled';

export type TransportKind = 'ws' | 'sse';

/** Events that are gone for good (evicted from history, or an epoch reset). */
export interface GapNotice {
  stream: string;
  epoch: string;
  /** First and last lost seq, inclusive. */
  fromSeq: number;
  toSeq: number;
  /** 'evicted' (history no longer holds them), 'epoch_changed', 'missing'. */
  reason: string;
}

/** A stream's epoch changed: its history was reset; seqs start again. */
export interface EpochNotice {
  stream: string;
  previousEpoch: string;
  epoch: string;
  /** The last seq delivered in the previous epoch. */
  lastSeq: number;
}

/** Events recovered from /v1/history after a hole in the live feed. */
export interface BackfillNotice {
  stream: string;
  epoch: string;
  fromSeq: number;
  toSeq: number;
  /** How many events the history reads delivered. */
  events: number;
}

/**
 * A `snapshot` message of the hub (keyed-state streams): the merged state of
 * `stream` as of `seq`, at `generation`. Events after `seq` follow as usual.
 */
export interface SnapshotNotice {
  stream: string;
  epoch: string;
  seq: number;
  generation?: number;
  state: unknown;
}

/** A stream's buffer of live events waiting for a backfill hit its bound. */
export interface OverflowNotice {
  stream: string;
  /** The bound (`maxBufferedEvents`). Counted in `streamStats(stream).overflowed`. */
  limit: number;
}

/** A `health` message of the hub: a source feeding a stream changed state. */
export interface HealthNotice {
  source?: string;
  state?: string;
  stream?: string;
  last_message_age_ms?: number;
  [key: string]: unknown;
}

/** An `error` message of the hub, or a failure inside the client. */
export interface ErrorNotice {
  code: string;
  message: string;
  id?: number;
}

export interface ClientEvents {
  state: ConnectionState;
  transport: TransportKind;
  gap: GapNotice;
  epoch: EpochNotice;
  backfill: BackfillNotice;
  health: HealthNotice;
  snapshot: SnapshotNotice;
  overflow: OverflowNotice;
  error: ErrorNotice;
}

/** The subset of the WebSocket API the client uses (browser or `ws`). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketCtor = new (url: string) => WebSocketLike;

/** The subset of the EventSource API the client uses (browser or `eventsource`). */
export interface EventSourceLike {
  onopen: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  addEventListener(type: string, fn: (ev: any) => void): void;
  close(): void;
}
export type EventSourceCtor = new (url: string) => EventSourceLike;

export type FetchLike = (url: string, init?: { signal?: AbortSignal; headers?: Record<string, string> }) => Promise<{
  status: number;
  json(): Promise<any>;
}>;

export interface ClientOptions {
  /** The hub's base URL, e.g. 'http://127.0.0.1:8080'. Default: the page's origin. */
  url?: string;
  /** 'auto' (WebSocket, falling back to SSE), 'ws' or 'sse'. Default 'auto'. */
  transport?: 'auto' | TransportKind;
  /** Constructors and fetch; default the global ones (inject `ws`/`eventsource` in Node). */
  WebSocket?: WebSocketCtor;
  EventSource?: EventSourceCtor;
  fetch?: FetchLike;
  /** Reconnect delays: exponential from initialMs to maxMs, with jitter. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** No message for this long while connected -> 'stalled'. Default 10000. */
  stallAfterMs?: number;
  /** While on the SSE fallback, try WebSocket again this often. Default 30000. */
  wsRetryMs?: number;
  /** Page size of /v1/history reads when backfilling. Default 1000. */
  historyLimit?: number;
  /**
   * Per stream, at most this many live events are held while a hole below
   * them is backfilled (default 10000). Beyond it the newest are not held:
   * they are read from history after the hole (an `overflow` notification).
   */
  maxBufferedEvents?: number;
  /** Connect at construction (default true); otherwise on the first subscribe. */
  autoConnect?: boolean;
  /**
   * A JWT or API key (docs/security.md), or a function returning the current
   * one (read at every connect). Sent as `?token=` on WebSocket and SSE URLs
   * (browsers cannot set headers there) and as `Authorization: Bearer` on
   * fetches (history backfill).
   */
  token?: string | (() => string | undefined);
}

export interface SubscribeOptions {
  /** At most this many deliveries per second per stream (the hub batches the rest). */
  maxHz?: number;
  /** Ask the hub for a `snapshot` of keyed-state streams first (`snapshot: true` in the subscribe op). */
  snapshot?: boolean;
  /** Resume positions: events after these seqs are delivered first. */
  from?: Record<string, Cursor>;
}

export type EventCallback = (ev: LivehubEvent) => void;
