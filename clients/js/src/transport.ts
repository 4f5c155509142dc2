// The two wire transports under LivehubClient, reduced to one shape:
// open, receive parsed hub messages, learn whether the link ever opened when
// it closes. WsLink is one WebSocket carrying every subscription; SseLink is
// one EventSource carrying one subscription (SSE fixes the patterns and
// max_hz in the URL).
//
// Threading: single-threaded event loop. Ownership: a link is owned by the
// LivehubClient that created it; `close()` detaches every handler first, so
// a closed link never calls back.

import type { EventSourceCtor, EventSourceLike, WebSocketCtor, WebSocketLike } from './types.js';

export interface LinkHandlers {
  onOpen(): void;
  /** A parsed hub message; `cursor` is the SSE `id:` it carried, if any. */
  onMessage(msg: any, cursor?: string): void;
  /** The link failed or closed by itself; `wasOpen` tells if it ever opened. */
  onClose(wasOpen: boolean, reason: string): void;
}

// The hub's message types (docs/protocol.md); SSE sends each as `event: <type>`.
const SSE_TYPES = ['subscribed', 'event', 'batch', 'snapshot', 'gap', 'health', 'error', 'pong'];

function parse(data: unknown): any {
  if (typeof data !== 'string') return undefined;
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}

export class WsLink {
  private ws: WebSocketLike | null;
  private opened = false;

  constructor(url: string, Ctor: WebSocketCtor, private handlers: LinkHandlers) {
    this.ws = new Ctor(url);
    this.ws.onopen = () => {
      this.opened = true;
      this.handlers.onOpen();
    };
    this.ws.onmessage = (ev) => {
      const msg = parse(ev.data);
      if (msg && typeof msg === 'object') this.handlers.onMessage(msg);
    };
    // Browsers give no detail on errors; `close` always follows `error`.
    this.ws.onerror = () => {};
    this.ws.onclose = (ev) => this.finish(`websocket closed (${ev?.code ?? '?'})`);
  }

  get isOpen(): boolean {
    return this.opened && this.ws !== null;
  }

  /** Replaces the handlers (used when a probe link becomes the main link). */
  setHandlers(h: LinkHandlers): void {
    this.handlers = h;
  }

  send(obj: unknown): void {
    if (this.ws && this.opened) this.ws.send(JSON.stringify(obj));
  }

  close(): void {
    const ws = this.ws;
    this.ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    ws.onerror = () => {}; // `ws` throws on an unhandled error event
    try {
      ws.close();
    } catch {
      /* closing a socket that never opened can throw in some runtimes */
    }
  }

  private finish(reason: string): void {
    if (!this.ws) return;
    this.close();
    this.handlers.onClose(this.opened, reason);
  }
}

export class SseLink {
  private es: EventSourceLike | null;
  private opened = false;

  constructor(url: string, Ctor: EventSourceCtor, private readonly handlers: LinkHandlers) {
    this.es = new Ctor(url);
    this.es.onopen = () => {
      this.opened = true;
      this.handlers.onOpen();
    };
    // A connection error. EventSource would reconnect by itself with its own
    // timing; the client does that instead, with backoff and its cursor.
    this.es.onerror = (ev) => {
      if (ev && typeof ev.data === 'string') return; // the hub's `event: error`, handled below
      this.finish('event stream failed');
    };
    for (const type of SSE_TYPES) {
      this.es.addEventListener(type, (ev) => {
        if (!this.es || typeof ev?.data !== 'string') return;
        const msg = parse(ev.data);
        if (msg && typeof msg === 'object') this.handlers.onMessage(msg, ev.lastEventId || undefined);
      });
    }
  }

  get isOpen(): boolean {
    return this.opened && this.es !== null;
  }

  close(): void {
    const es = this.es;
    this.es = null;
    if (!es) return;
    es.onopen = es.onerror = null;
    es.close();
  }

  private finish(reason: string): void {
    if (!this.es) return;
    this.close();
    this.handlers.onClose(this.opened, reason);
  }
}
