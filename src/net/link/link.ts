import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import type { Socket } from 'node:net';
import type { Codec } from '../../iso8583/codec-types.js';
import { IsoMessage, isResponseMti } from '../../iso8583/message.js';
import { errorSummary, SwitchError } from '../../errors.js';
import { createFramer, type Framer } from '../../wire/framer.js';
import { silentLogger, type NetLogger } from '../logger.js';
import { StanGenerator, transmissionDateTime } from '../mti.js';
import { LinkConnection, type ConnectionHost, type DownKind } from './connection.js';
import { compileMatchKey, RecentKeys, type MatchKeyFn, type MatchKeySpec } from './matcher.js';
import type { LinkGuard, NetworkRequestHandler } from './guard.js';
import { checkPins, compileLinkTls, isTlsLibraryError, tlsFailure, tlsFailureReason, type CompiledLinkTls, type LinkTlsOptions } from './tls.js';

export interface ReconnectOptions {
  /** First delay (default 100 ms). */
  initialMs?: number;
  /** Cap (default 30 000 ms). */
  maxMs?: number;
  /** Growth per failed attempt (default 2). */
  factor?: number;
  /** Fraction of the delay drawn at random: delay × (1 − jitter × U[0,1)) (default 0.5). */
  jitter?: number;
}

export interface AcquirerLinkOptions {
  /** Acquirer name: in logs, errors and events. */
  name: string;
  host: string;
  port: number;
  codec: Codec;
  /** Default: 2-byte binary length. */
  framer?: Framer;
  /** Persistent connections kept open (default 2). */
  connections?: number;
  /** Match key (default response-class MTI + DE41 + DE11), as data or a function. */
  matchKey?: MatchKeySpec | MatchKeyFn;
  /** Per-request timeout when request() is given none (default 30 000 ms). */
  defaultTimeoutMs?: number;
  /** Requests in flight over the whole link; the next one fails at once (default 1000). */
  maxInFlight?: number;
  /** Unsent bytes per connection above which it takes no new request (default 1 MiB). */
  maxBufferedBytes?: number;
  maxFrameBytes?: number;
  /** Send 0800 DE70=001 and wait for 0810 DE39=00 before a connection counts as ready (default true). */
  signOn?: boolean;
  signOnTimeoutMs?: number;
  /** Send an echo (0800 DE70=301) after this long without anything read; 0 = never (default 30 000). */
  echoIdleMs?: number;
  /** A connection from which nothing was read for this long is dead (half-open); 0 = never (default 60 000). */
  readTimeoutMs?: number;
  connectTimeoutMs?: number;
  reconnect?: ReconnectOptions;
  /**
   * Connect with TLS (node:tls, TLS 1.2 at least; docs/network.md, "Acquirer link TLS"): checked and compiled into
   * one secure context at construction (SW_ERR_LINK_TLS_CONFIG), `pins` checked on every connection.
   */
  tls?: LinkTlsOptions;
  /**
   * Signs every outgoing message and checks every incoming one (the MAC: docs/security.md, "MAC"); absent: none.
   * A message failing the check is never matched or answered as usual (`macInvalid`).
   */
  guard?: LinkGuard;
  /** Answers inbound 0800s other than echo, sign-on and sign-off (key exchange: docs/security.md, "Key exchange"). */
  onNetworkRequest?: NetworkRequestHandler;
  /** STAN source for messages the link originates (0800); shared with the caller through nextStan(). */
  stan?: StanGenerator;
  logger?: NetLogger;
}

export interface RequestOptions {
  timeoutMs?: number;
}

export type UnmatchedReason = 'late' | 'unknown' | 'inbound-request' | 'no-key';
export interface UnmatchedInfo {
  reason: UnmatchedReason;
  connectionId: string;
  link: string;
}
export type UnmatchedHandler = (msg: IsoMessage, info: UnmatchedInfo) => void;

export interface LinkEvents {
  /** `tlsProtocol`: the version a TLS connection negotiated (TLSv1.2, TLSv1.3). */
  connected: [{ link: string; connectionId: string; slot: number; tlsProtocol?: string }];
  ready: [{ link: string; connectionId: string; slot: number }];
  /** Any connection going down; `kind` tells closed-by-us from failed. Followed by 'closed' or 'failed'. */
  down: [{ link: string; connectionId: string; slot: number; kind: DownKind; reason: string; code?: string }];
  closed: [{ link: string; connectionId: string; slot: number; reason: string }];
  /**
   * A connection failed, or a connect attempt did (connectionId is then null). A TLS failure has `code`
   * SW_ERR_LINK_TLS_HANDSHAKE (reason: the library's code) or SW_ERR_LINK_TLS_PIN_MISMATCH.
   */
  failed: [{ link: string; connectionId: string | null; slot: number; reason: string; code?: string; retryInMs?: number }];
  sent: [{ link: string; connectionId: string; mti: string; at: number }];
  answered: [{ link: string; connectionId: string; mti: string; responseMti: string; responseCode: string | undefined; latencyMs: number }];
  timeout: [{ link: string; connectionId: string; mti: string; timeoutMs: number }];
  /** A request that failed without an answer other than by timeout (connection lost, link closed). */
  rejected: [{ link: string; connectionId: string | null; mti: string; code: string }];
  unmatched: [{ link: string; connectionId: string; mti: string; reason: UnmatchedReason }];
  /** A whole frame from the acquirer that did not unpack (skipped); `code` is its SW_ERR_* code. */
  unpackError: [{ link: string; connectionId: string; code: string }];
  /**
   * A message from the acquirer that failed the guard's check (its MAC missing or wrong), treated as never received:
   * a response stays unmatched (its request times out), an inbound 0800 is refused. `code` SW_ERR_SEC_MAC_INVALID.
   */
  macInvalid: [{ link: string; connectionId: string; mti: string; code: string }];
  /** A request that could not be packed (refused, never sent); `code` is the codec's SW_ERR_* code. */
  packError: [{ link: string; mti: string; code: string }];
  /** The link was full (`needDrain`) and has capacity again: once per full spell (see `isFull`). */
  drain: [{ link: string; inFlight: number }];
  /** The last application request in flight settled (answered, timed out or failed): nothing is in flight. */
  idle: [{ link: string }];
}

export interface LinkStats {
  sent: number;
  answered: number;
  timeouts: number;
  rejectedInFlightCap: number;
  rejectedNotReady: number;
  rejectedBackpressure: number;
  rejectedDuplicate: number;
  failedOnDrop: number;
  unmatched: number;
  unpackErrors: number;
  echoesSent: number;
  signOns: number;
  connectsFailed: number;
  halfOpen: number;
  /** TLS handshakes that failed or were refused (pin mismatch), and TLS connections failed by an alert. */
  tlsFailures: number;
  /** Messages from the acquirer that failed the guard's check (MAC missing or wrong): dropped as never received. */
  macInvalid: number;
}

interface Pending {
  key: string;
  mti: string;
  conn: LinkConnection;
  sentAt: number;
  timeoutMs: number;
  timer: NodeJS.Timeout;
  resolve: (m: IsoMessage) => void;
  reject: (e: Error) => void;
  /** Sign-on and echo: not counted as traffic in events. */
  internal: boolean;
}

interface Slot {
  index: number;
  conn: LinkConnection | null;
  attempt: number;
  timer: NodeJS.Timeout | null;
  connecting: Socket | null;
}

type Resolved = Required<Omit<AcquirerLinkOptions, 'tls' | 'logger' | 'stan' | 'matchKey' | 'reconnect' | 'guard' | 'onNetworkRequest'>> & {
  reconnect: Required<ReconnectOptions>;
  tls: LinkTlsOptions | undefined;
};

/**
 * A multiplexed link to one acquirer: a small pool of persistent connections, each signed on and kept alive
 * with echoes, many requests in flight over them, answers matched by key in any order.
 */
export class AcquirerLink extends EventEmitter<LinkEvents> implements ConnectionHost {
  readonly name: string;
  readonly options: Resolved;
  readonly stats: LinkStats = {
    sent: 0,
    answered: 0,
    timeouts: 0,
    rejectedInFlightCap: 0,
    rejectedNotReady: 0,
    rejectedBackpressure: 0,
    rejectedDuplicate: 0,
    failedOnDrop: 0,
    unmatched: 0,
    unpackErrors: 0,
    echoesSent: 0,
    signOns: 0,
    connectsFailed: 0,
    halfOpen: 0,
    tlsFailures: 0,
    macInvalid: 0,
  };
  private readonly log: NetLogger;
  private readonly keyOf: MatchKeyFn;
  private readonly stan: StanGenerator;
  private readonly guard: LinkGuard | null;
  private readonly networkHandler: NetworkRequestHandler | null;
  private readonly pending = new Map<string, Pending>();
  private readonly recentTimeouts = new RecentKeys();
  private readonly slots: Slot[] = [];
  /** The TLS options compiled once (secure context, pins); null: plain TCP. */
  private readonly tlsConfig: CompiledLinkTls | null;
  private ready: LinkConnection[] = [];
  private rr = 0;
  private appInFlight = 0;
  private connSeq = 0;
  private started = false;
  private closed = false;
  private unmatchedHandler: UnmatchedHandler | null = null;
  private keepAliveTimer: NodeJS.Timeout | null = null;
  private readyWaiters: (() => void)[] = [];
  /** Seen full since the last 'drain' (see needDrain). */
  private drainNeeded = false;
  private drainScheduled = false;
  /** While drainNeeded: unsent bytes leave the socket without an event of ours, so they are looked at every few ms. */
  private drainPoll: NodeJS.Timeout | null = null;

  constructor(opts: AcquirerLinkOptions) {
    super();
    this.name = opts.name;
    const r = opts.reconnect ?? {};
    this.options = {
      name: opts.name,
      host: opts.host,
      port: opts.port,
      codec: opts.codec,
      framer: opts.framer ?? createFramer(),
      connections: opts.connections ?? 2,
      defaultTimeoutMs: opts.defaultTimeoutMs ?? 30_000,
      maxInFlight: opts.maxInFlight ?? 1000,
      maxBufferedBytes: opts.maxBufferedBytes ?? 1024 * 1024,
      maxFrameBytes: opts.maxFrameBytes ?? 8192,
      signOn: opts.signOn ?? true,
      signOnTimeoutMs: opts.signOnTimeoutMs ?? 5000,
      echoIdleMs: opts.echoIdleMs ?? 30_000,
      readTimeoutMs: opts.readTimeoutMs ?? 60_000,
      connectTimeoutMs: opts.connectTimeoutMs ?? 5000,
      reconnect: { initialMs: r.initialMs ?? 100, maxMs: r.maxMs ?? 30_000, factor: r.factor ?? 2, jitter: r.jitter ?? 0.5 },
      tls: opts.tls ? { ...opts.tls, minVersion: opts.tls.minVersion ?? 'TLSv1.2' } : undefined,
    };
    const o = this.options;
    for (const k of ['connections', 'maxInFlight', 'maxBufferedBytes', 'maxFrameBytes'] as const) {
      if (!Number.isInteger(o[k]) || o[k] < 1) throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: `link.${k}`, reason: 'must be a positive integer' });
    }
    if (o.echoIdleMs > 0 && o.readTimeoutMs > 0 && o.readTimeoutMs <= o.echoIdleMs) {
      throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: 'link.readTimeoutMs', reason: 'must be longer than echoIdleMs' });
    }
    if (o.reconnect.jitter < 0 || o.reconnect.jitter > 1)
      throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: 'link.reconnect.jitter', reason: 'must be within 0..1' });
    this.tlsConfig = o.tls ? compileLinkTls(this.name, o.tls) : null;
    this.log = opts.logger ?? silentLogger;
    this.keyOf = compileMatchKey(opts.matchKey);
    this.stan = opts.stan ?? new StanGenerator();
    this.guard = opts.guard ?? null;
    this.networkHandler = opts.onNetworkRequest ?? null;
  }

  // ── public API ────────────────────────────────────────────────────────────────────────────────────

  /** Opens the pool; connections keep reconnecting until close(). */
  start(): this {
    if (this.started) return this;
    this.started = true;
    for (let i = 0; i < this.options.connections; i++) {
      const slot: Slot = { index: i, conn: null, attempt: 0, timer: null, connecting: null };
      this.slots.push(slot);
      this.connect(slot);
    }
    const tick = this.keepAliveTick();
    if (tick > 0) {
      this.keepAliveTimer = setInterval(() => this.checkConnections(), tick);
      this.keepAliveTimer.unref();
    }
    return this;
  }

  /** Resolves once `count` connections are ready (default 1); rejects after timeoutMs. */
  waitReady(count = 1, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (this.ready.length >= count) {
          clearTimeout(timer);
          resolve();
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        this.readyWaiters = this.readyWaiters.filter((w) => w !== waiter);
        reject(new SwitchError('SW_ERR_LINK_NOT_READY', { link: this.name }));
      }, timeoutMs);
      const waiter = (): void => {
        if (check()) this.readyWaiters = this.readyWaiters.filter((w) => w !== waiter);
      };
      if (!check()) this.readyWaiters.push(waiter);
    });
  }

  get readyCount(): number {
    return this.ready.length;
  }

  /** Application requests in flight (sign-on and echoes excluded). */
  get inFlight(): number {
    return this.appInFlight;
  }

  /**
   * True while request() would be refused for capacity: the in-flight cap is reached
   * (SW_ERR_LINK_INFLIGHT_LIMIT), or every ready connection has maxBufferedBytes or more unsent
   * (SW_ERR_LINK_BACKPRESSURE). No ready connection at all is not full: it is not ready (waitReady).
   */
  get isFull(): boolean {
    if (this.closed) return false;
    if (this.appInFlight >= this.options.maxInFlight) return true;
    return this.ready.length > 0 && !this.hasBufferRoom();
  }

  /**
   * True from the moment the link is seen full (a request() that filled it or was refused for it) until
   * 'drain' is emitted, when it has capacity again (docs/network.md, "Acquirer link"). request() still fails
   * fast while full; a producer that would rather wait (SAF replay, a benchmark) waits for 'drain'.
   */
  get needDrain(): boolean {
    return this.drainNeeded;
  }

  /**
   * Resolves true once no application request is in flight (at once when none is, or the link is closed), false
   * after `timeoutMs` with some still in flight: a link being retired finishes what it sent before it closes.
   */
  whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.appInFlight === 0 || this.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (idle: boolean): void => {
        clearTimeout(timer);
        this.off('idle', onIdle);
        resolve(idle);
      };
      const onIdle = (): void => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      timer.unref();
      this.on('idle', onIdle);
    });
  }

  /** Next STAN from the link's generator (DE11 for messages the caller builds, if it wants). */
  nextStan(): string {
    return this.stan.next();
  }

  /** Where late and unmatched responses go (one handler; a later call replaces it). */
  onUnmatched(handler: UnmatchedHandler): this {
    this.unmatchedHandler = handler;
    return this;
  }

  /**
   * Sends a request and resolves with its matched response. Fails fast (rejected promise, nothing sent) on:
   * link closed, in-flight cap, duplicate in-flight key, no ready connection, backpressure, pack failure.
   * Fails later with SW_ERR_LINK_TIMEOUT or SW_ERR_LINK_CONNECTION_LOST. A request that fills the link, or
   * is refused because it is full, sets `needDrain`; 'drain' follows when there is room again.
   */
  request(msg: IsoMessage, opts: RequestOptions = {}): Promise<IsoMessage> {
    const o = this.options;
    if (this.closed) return Promise.reject(new SwitchError('SW_ERR_LINK_CLOSED', { link: this.name }));
    if (this.appInFlight >= o.maxInFlight) {
      this.stats.rejectedInFlightCap++;
      this.markFull();
      return Promise.reject(new SwitchError('SW_ERR_LINK_INFLIGHT_LIMIT', { link: this.name, max: o.maxInFlight }));
    }
    const key = this.keyOf(msg);
    if (key === null) {
      return Promise.reject(new SwitchError('SW_ERR_LINK_MISSING_KEY_FIELD', { link: this.name, mti: msg.mti, field: 'all' }));
    }
    if (this.pending.has(key)) {
      this.stats.rejectedDuplicate++;
      return Promise.reject(new SwitchError('SW_ERR_LINK_DUPLICATE_KEY', { link: this.name, mti: msg.mti }));
    }
    const conn = this.pick();
    if (conn === null) {
      if (this.ready.length === 0) {
        this.stats.rejectedNotReady++;
        return Promise.reject(new SwitchError('SW_ERR_LINK_NOT_READY', { link: this.name }));
      }
      this.stats.rejectedBackpressure++;
      this.markFull();
      return Promise.reject(new SwitchError('SW_ERR_LINK_BACKPRESSURE', { link: this.name, max: o.maxBufferedBytes }));
    }
    let bytes: Buffer;
    try {
      bytes = o.codec.pack(this.guard ? this.guard.prepare(msg) : msg);
    } catch (e) {
      const code = errorSummary(e).code;
      this.emit('packError', { link: this.name, mti: msg.mti, code: code ?? 'unknown' });
      return Promise.reject(new SwitchError('SW_ERR_LINK_PACK_FAILED', { link: this.name, mti: msg.mti, reason: code ?? 'error' }, { cause: e }));
    }
    const p = this.dispatch(conn, key, msg.mti, bytes, opts.timeoutMs ?? o.defaultTimeoutMs, false);
    if (!this.drainNeeded && (this.appInFlight >= o.maxInFlight || (conn.writer.pendingBytes >= o.maxBufferedBytes && !this.hasBufferRoom()))) this.markFull();
    return p;
  }

  /**
   * Closes the link: no more reconnects, connections closed by us ('closed' events), requests still in
   * flight rejected with SW_ERR_LINK_CONNECTION_LOST (they were written: the acquirer may be working on them),
   * later requests with SW_ERR_LINK_CLOSED. With signOff, a 0800 DE70=002 goes out first on each ready
   * connection (answers awaited for up to 1 s).
   */
  async close(opts: { signOff?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.keepAliveTimer) clearInterval(this.keepAliveTimer);
    this.stopDrainPoll();
    this.drainNeeded = false;
    for (const s of this.slots) {
      if (s.timer) clearTimeout(s.timer);
      s.timer = null;
      s.connecting?.destroy();
    }
    if (opts.signOff) {
      await Promise.allSettled(this.ready.map((c) => this.networkRequest(c, '002', 1000)));
    }
    for (const p of [...this.pending.values()]) {
      this.settle(p);
      if (!p.internal) this.emit('rejected', { link: this.name, connectionId: p.conn.id, mti: p.mti, code: 'SW_ERR_LINK_CONNECTION_LOST' });
      p.reject(new SwitchError('SW_ERR_LINK_CONNECTION_LOST', { link: this.name, connection: p.conn.id, reason: 'link closed' }));
    }
    const downs = this.slots
      .map((s) => s.conn)
      .filter((c): c is LinkConnection => c !== null)
      .map(
        (c) =>
          new Promise<void>((r) => {
            c.socket.once('close', () => r());
            c.close('link-closed');
            if (c.socket.destroyed) r();
          }),
      );
    await Promise.all(downs);
  }

  // ── dispatch and matching ────────────────────────────────────────────────────────────────────────
  //
  //   request() ── closed? cap? key? duplicate? pick a ready connection with room? pack? ── any no: reject, nothing sent
  //       │
  //       ▼ dispatch
  //   pending.set(key, p) + conn.pendingKeys.add(key) + appInFlight++ (not internal) ──► conn.writer (pending writes)
  //       │                                                                                  │ one write() per turn
  //       │   settle(p), exactly once, by whichever comes first:                              ▼
  //       ├── answer matched (onMessage) ──────────► resolve                              socket ──► acquirer
  //       ├── timeout (onTimeout) ─────────────────► reject SW_ERR_LINK_TIMEOUT; key kept in recentTimeouts (late)
  //       ├── its connection down (onDown) ────────► reject SW_ERR_LINK_CONNECTION_LOST
  //       └── close() ─────────────────────────────► reject SW_ERR_LINK_CONNECTION_LOST
  //   settle: timer cleared, pending.delete(key), conn.pendingKeys.delete(key), appInFlight-- ──► drain check
  //
  //   invariants: a key is in `pending` at most once (a second one is refused as a duplicate);
  //   pending.size = Σ conn.pendingKeys.size over connections; appInFlight = |{p in pending, !p.internal}| ≤ maxInFlight;
  //   a connection whose writer has maxBufferedBytes or more unsent (queued + socket buffer) gets no new request.
  //   full (isFull) = appInFlight at the cap, or no ready connection with room; seen full → needDrain until 'drain'.

  private dispatch(conn: LinkConnection, key: string, mti: string, bytes: Buffer, timeoutMs: number, internal: boolean): Promise<IsoMessage> {
    return new Promise<IsoMessage>((resolve, reject) => {
      const sentAt = Date.now();
      const p: Pending = {
        key,
        mti,
        conn,
        sentAt,
        timeoutMs,
        resolve,
        reject,
        internal,
        timer: setTimeout(() => this.onTimeout(p), timeoutMs),
      };
      this.pending.set(key, p);
      conn.pendingKeys.add(key);
      if (!internal) {
        this.appInFlight++;
        this.stats.sent++;
      }
      this.write(conn, bytes, (e) => {
        // not sealed (its key missing, the key store closed): never sent, refused as a message that did not pack
        if (this.pending.get(key) !== p) return;
        this.settle(p);
        const code = errorSummary(e).code ?? 'error';
        if (!internal) this.emit('packError', { link: this.name, mti, code });
        p.reject(new SwitchError('SW_ERR_LINK_PACK_FAILED', { link: this.name, mti, reason: code }, { cause: e }));
      });
      if (!internal && this.listenerCount('sent') > 0) this.emit('sent', { link: this.name, connectionId: conn.id, mti, at: sentAt });
    });
  }

  /**
   * Writes packed bytes on a connection: at once without a guard; with one, sealed first, the writes of a connection
   * kept in the order asked for (a seal is asynchronous). `onSealError`: the bytes were not sent.
   */
  private write(conn: LinkConnection, bytes: Buffer, onSealError?: (e: unknown) => void): void {
    const guard = this.guard;
    if (!guard) {
      conn.send(bytes);
      return;
    }
    const sealed = guard.seal(bytes);
    // a rejection is handled in the chain below; this keeps it from counting as unhandled meanwhile
    sealed.catch(() => undefined);
    conn.outbound = conn.outbound.then(
      () =>
        sealed.then(
          (b) => {
            if (conn.state !== 'down') conn.send(b);
          },
          (e: unknown) => {
            this.log.warn({ link: this.name, connectionId: conn.id, ...errorSummary(e) }, 'outgoing message not sealed, not sent');
            onSealError?.(e);
          },
        ),
      () => undefined,
    );
  }

  private settle(p: Pending): void {
    clearTimeout(p.timer);
    this.pending.delete(p.key);
    p.conn.pendingKeys.delete(p.key);
    if (!p.internal && --this.appInFlight === 0) this.emit('idle', { link: this.name });
    if (this.drainNeeded) this.checkDrain();
  }

  // ── drain: full → room again ─────────────────────────────────────────────────────────────────────

  private hasBufferRoom(): boolean {
    const max = this.options.maxBufferedBytes;
    for (const c of this.ready) if (c.writer.pendingBytes < max) return true;
    return false;
  }

  private markFull(): void {
    if (this.drainNeeded || this.closed) return;
    this.drainNeeded = true;
    this.drainPoll = setInterval(() => this.checkDrain(), 10);
    this.drainPoll.unref();
  }

  private stopDrainPoll(): void {
    if (this.drainPoll) clearInterval(this.drainPoll);
    this.drainPoll = null;
  }

  /** Room for one more request: under the in-flight cap and a ready connection under maxBufferedBytes. */
  private hasRoom(): boolean {
    return !this.closed && this.appInFlight < this.options.maxInFlight && this.hasBufferRoom();
  }

  /**
   * Emits 'drain' (on the next tick, never inside a settle) once the link that was full has room again; with
   * no connection ready it waits for one (a request would only be refused as not ready). Not after close().
   */
  private checkDrain(): void {
    if (!this.drainNeeded || this.drainScheduled || !this.hasRoom()) return;
    this.drainScheduled = true;
    process.nextTick(() => {
      this.drainScheduled = false;
      if (!this.drainNeeded || !this.hasRoom()) return;
      this.drainNeeded = false;
      this.stopDrainPoll();
      this.emit('drain', { link: this.name, inFlight: this.appInFlight });
    });
  }

  private onTimeout(p: Pending): void {
    if (this.pending.get(p.key) !== p) return;
    this.settle(p);
    this.recentTimeouts.add(p.key);
    if (!p.internal) {
      this.stats.timeouts++;
      this.emit('timeout', { link: this.name, connectionId: p.conn.id, mti: p.mti, timeoutMs: p.timeoutMs });
    }
    p.reject(new SwitchError('SW_ERR_LINK_TIMEOUT', { link: this.name, mti: p.mti, timeoutMs: p.timeoutMs }));
  }

  /** @internal ConnectionHost */
  onMessage(conn: LinkConnection, msg: IsoMessage, payload: Buffer): void {
    const guard = this.guard;
    if (!guard) {
      this.deliver(conn, msg);
      return;
    }
    // checked at once (before the reassembler reuses `payload`), delivered in arrival order
    let verdict: Promise<boolean>;
    try {
      verdict = guard.check(payload, msg);
    } catch (e) {
      verdict = Promise.reject(e);
    }
    verdict.catch(() => undefined);
    conn.inbound = conn.inbound.then(() =>
      verdict.then(
        (ok) => (ok ? this.deliver(conn, msg) : this.refuse(conn, msg, undefined)),
        (e: unknown) => this.refuse(conn, msg, e),
      ),
    );
  }

  /** A message whose check failed: counted, logged with its code, and not matched (a request answered 0810 refusedCode). */
  private refuse(conn: LinkConnection, msg: IsoMessage, e: unknown): void {
    const code = e === undefined ? 'SW_ERR_SEC_MAC_INVALID' : (errorSummary(e).code ?? 'SW_ERR_SEC_MAC_INVALID');
    this.stats.macInvalid++;
    this.emit('macInvalid', { link: this.name, connectionId: conn.id, mti: msg.mti, code });
    this.log.warn({ link: this.name, connectionId: conn.id, mti: msg.mti, code }, 'message from the acquirer failed its MAC check: treated as not received');
    if (msg.mti === '0800') this.answerNetwork(conn, msg, this.guard?.refusedCode ?? '30');
  }

  private deliver(conn: LinkConnection, msg: IsoMessage): void {
    if (!isResponseMti(msg.mti)) {
      this.onInboundRequest(conn, msg);
      return;
    }
    const key = this.keyOf(msg);
    const p = key === null ? undefined : this.pending.get(key);
    if (p === undefined) {
      const reason: UnmatchedReason = key === null ? 'no-key' : this.recentTimeouts.take(key) ? 'late' : 'unknown';
      this.unmatched(conn, msg, reason);
      return;
    }
    this.settle(p);
    if (!p.internal) {
      this.stats.answered++;
      const rc = msg.get(39);
      if (this.listenerCount('answered') > 0) {
        this.emit('answered', {
          link: this.name,
          connectionId: conn.id,
          mti: p.mti,
          responseMti: msg.mti,
          responseCode: typeof rc === 'string' ? rc : undefined,
          latencyMs: Date.now() - p.sentAt,
        });
      }
    }
    p.resolve(msg);
  }

  private onInboundRequest(conn: LinkConnection, msg: IsoMessage): void {
    if (msg.mti === '0800') {
      const code = msg.getString(70);
      const handled = code === '001' || code === '002' || code === '301' || !this.networkHandler ? undefined : this.callNetworkHandler(conn, msg);
      if (handled === undefined) {
        // the acquirer's own echo or sign-on: answer it
        this.answerNetwork(conn, msg, '00');
        return;
      }
      handled.then(
        (r) => this.sendAnswer(conn, r),
        (e: unknown) => {
          this.log.warn({ link: this.name, connectionId: conn.id, ...errorSummary(e) }, 'inbound 0800 handler failed');
          this.answerNetwork(conn, msg, '96');
        },
      );
      return;
    }
    this.unmatched(conn, msg, 'inbound-request');
  }

  private callNetworkHandler(conn: LinkConnection, msg: IsoMessage): Promise<IsoMessage> | undefined {
    try {
      return this.networkHandler!(msg, { link: this.name, connectionId: conn.id });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** 0810 to an inbound 0800 with DE7, DE11, DE70 copied and DE39 `rc`. */
  private answerNetwork(conn: LinkConnection, msg: IsoMessage, rc: string): void {
    const r = new IsoMessage('0810');
    for (const f of [7, 11, 70]) {
      const v = msg.get(f);
      if (v !== undefined) r.set(f, v);
    }
    this.sendAnswer(conn, r.set(39, rc));
  }

  private sendAnswer(conn: LinkConnection, r: IsoMessage): void {
    if (conn.state === 'down') return;
    try {
      this.write(conn, this.options.codec.pack(this.guard ? this.guard.prepare(r) : r));
    } catch (e) {
      this.log.warn({ link: this.name, connectionId: conn.id, ...errorSummary(e) }, 'could not answer an inbound 0800');
    }
  }

  private unmatched(conn: LinkConnection, msg: IsoMessage, reason: UnmatchedReason): void {
    this.stats.unmatched++;
    this.emit('unmatched', { link: this.name, connectionId: conn.id, mti: msg.mti, reason });
    if (this.unmatchedHandler) {
      try {
        this.unmatchedHandler(msg, { reason, connectionId: conn.id, link: this.name });
      } catch (e) {
        this.log.error({ link: this.name, ...errorSummary(e) }, 'onUnmatched handler threw');
      }
    } else {
      this.log.warn({ link: this.name, connectionId: conn.id, mti: msg.mti, reason }, 'unmatched response and no onUnmatched handler');
    }
  }

  /** @internal ConnectionHost */
  onUnpackError(conn: LinkConnection, e: unknown): void {
    this.stats.unpackErrors++;
    this.emit('unpackError', { link: this.name, connectionId: conn.id, code: errorSummary(e).code ?? 'unknown' });
    this.log.warn({ link: this.name, connectionId: conn.id, ...errorSummary(e) }, 'frame from the acquirer failed to unpack, skipped');
  }

  // ── pool: connect, sign on, keep alive, reconnect ─────────────────────────────────────────────────

  private pick(): LinkConnection | null {
    const n = this.ready.length;
    const max = this.options.maxBufferedBytes;
    for (let i = 0; i < n; i++) {
      const c = this.ready[(this.rr + i) % n]!;
      if (c.writer.pendingBytes < max) {
        this.rr = (this.rr + i + 1) % n;
        return c;
      }
    }
    return null;
  }

  private connect(slot: Slot): void {
    if (this.closed) return;
    const o = this.options;
    const secure = this.tlsConfig;
    let socket: Socket;
    try {
      socket = secure ? tls.connect({ ...secure.connect, host: o.host, port: o.port }) : net.connect({ host: o.host, port: o.port });
    } catch (e) {
      // options node refuses only when connecting (the context was built at construction): retried, never thrown
      this.stats.connectsFailed++;
      this.scheduleReconnect(slot, null, errorSummary(e).code ?? 'connect-error');
      return;
    }
    slot.connecting = socket;
    const connectEvent = secure ? 'secureConnect' : 'connect';
    // with TLS, 'connect' is the TCP connection: a failure after it is the handshake's
    let tcpUp = false;
    if (secure) socket.once('connect', () => (tcpUp = true));
    const timer = setTimeout(() => socket.destroy(new Error(tcpUp ? 'handshake timeout' : 'connect timeout')), o.connectTimeoutMs);
    const onError = (e: Error): void => {
      clearTimeout(timer);
      slot.connecting = null;
      socket.destroy();
      this.stats.connectsFailed++;
      if (secure && (tcpUp || e instanceof SwitchError)) {
        this.stats.tlsFailures++;
        const err = tlsFailure(this.name, o.host, o.port, e);
        this.scheduleReconnect(slot, null, tlsFailureReason(err), err.code, err);
      } else {
        this.scheduleReconnect(slot, null, (e as NodeJS.ErrnoException).code ?? e.message);
      }
    };
    socket.once('error', onError);
    socket.once(connectEvent, () => {
      if (secure) {
        // the chain was verified and the name checked by node:tls; the pins are ours (docs/security.md)
        const pinError = checkPins(this.name, o.host, o.port, socket as tls.TLSSocket, secure.pins);
        if (pinError) {
          socket.off('error', onError);
          socket.on('error', () => undefined);
          onError(pinError);
          return;
        }
      }
      clearTimeout(timer);
      socket.off('error', onError);
      slot.connecting = null;
      if (this.closed) {
        socket.destroy();
        return;
      }
      const id = `${this.name}-${++this.connSeq}`;
      const conn = new LinkConnection(this, id, slot.index, socket, o.framer, o.maxFrameBytes, o.codec);
      slot.conn = conn;
      const tlsProtocol = secure ? ((socket as tls.TLSSocket).getProtocol() ?? undefined) : undefined;
      this.log.info({ link: this.name, connectionId: id, slot: slot.index, ...(tlsProtocol ? { tls: tlsProtocol } : {}) }, 'acquirer connected');
      this.emit('connected', { link: this.name, connectionId: id, slot: slot.index, ...(tlsProtocol ? { tlsProtocol } : {}) });
      if (o.signOn) this.signOn(conn, slot);
      else this.markReady(conn, slot);
    });
  }

  private signOn(conn: LinkConnection, slot: Slot): void {
    this.stats.signOns++;
    this.networkRequest(conn, '001', this.options.signOnTimeoutMs).then(
      (resp) => {
        const rc = resp.get(39);
        if (rc === '00') this.markReady(conn, slot);
        else {
          const err = new SwitchError('SW_ERR_LINK_SIGN_ON_FAILED', { link: this.name, connection: conn.id, reason: `response code ${String(rc)}` });
          this.log.warn({ link: this.name, connectionId: conn.id, code: err.code }, err.message);
          conn.fail('sign-on-refused', err);
        }
      },
      (e: unknown) => {
        // connection already down (its own event was emitted) or link closing (close() closes it): nothing to add
        if (conn.state === 'down' || this.closed) return;
        const err = new SwitchError('SW_ERR_LINK_SIGN_ON_FAILED', { link: this.name, connection: conn.id, reason: errorSummary(e).code ?? 'error' });
        this.log.warn({ link: this.name, connectionId: conn.id, code: err.code }, err.message);
        conn.fail('sign-on-failed', err);
      },
    );
  }

  private markReady(conn: LinkConnection, slot: Slot): void {
    if (conn.state !== 'signing-on' || this.closed) return;
    conn.state = 'ready';
    conn.lastReadAt = Date.now();
    slot.attempt = 0;
    this.ready.push(conn);
    this.log.info({ link: this.name, connectionId: conn.id, ready: this.ready.length }, 'acquirer connection ready');
    this.emit('ready', { link: this.name, connectionId: conn.id, slot: slot.index });
    for (const w of [...this.readyWaiters]) w();
    if (this.drainNeeded) this.checkDrain();
  }

  /**
   * Sends a network-management 0800 of the caller's (key exchange: DE70 161) on a ready connection and resolves with
   * its 0810, whatever its DE39. DE7 and DE11 are the link's; `fields` adds others. SW_ERR_LINK_NOT_READY without a
   * ready connection; SW_ERR_LINK_TIMEOUT without an answer in time (default: the link's timeout).
   */
  networkManagement(code: string, fields: Readonly<Record<number, string | Buffer>> = {}, timeoutMs?: number): Promise<IsoMessage> {
    if (this.closed) return Promise.reject(new SwitchError('SW_ERR_LINK_CLOSED', { link: this.name }));
    const conn = this.pick() ?? this.ready[0];
    if (!conn) return Promise.reject(new SwitchError('SW_ERR_LINK_NOT_READY', { link: this.name }));
    return this.networkRequest(conn, code, timeoutMs ?? this.options.defaultTimeoutMs, fields);
  }

  /** Sends a network-management 0800 on one connection (DE7, DE11 from the link's STAN generator, DE70). */
  private networkRequest(conn: LinkConnection, code: string, timeoutMs: number, fields: Readonly<Record<number, string | Buffer>> = {}): Promise<IsoMessage> {
    const msg = new IsoMessage('0800', { ...fields, 7: transmissionDateTime(), 11: this.stan.next(), 70: code });
    let key = this.keyOf(msg);
    if (key === null || this.pending.has(key)) key = `0810|net|${msg.getString(11) ?? ''}`;
    let bytes: Buffer;
    try {
      bytes = this.options.codec.pack(this.guard ? this.guard.prepare(msg) : msg);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.dispatch(conn, key, '0800', bytes, timeoutMs, true);
  }

  /** @internal ConnectionHost */
  onDown(conn: LinkConnection, kind: DownKind, reason: string, error: SwitchError | Error | undefined): void {
    this.ready = this.ready.filter((c) => c !== conn);
    const slot = this.slots[conn.slot];
    if (slot && slot.conn === conn) slot.conn = null;
    // everything in flight on this connection fails at once, as lost: it was written, it may have arrived
    const code = 'SW_ERR_LINK_CONNECTION_LOST';
    for (const key of [...conn.pendingKeys]) {
      const p = this.pending.get(key);
      if (!p) continue;
      this.settle(p);
      if (!p.internal) {
        this.stats.failedOnDrop++;
        this.emit('rejected', { link: this.name, connectionId: conn.id, mti: p.mti, code });
      }
      p.reject(new SwitchError(code, { link: this.name, connection: conn.id, reason: this.closed ? 'link closed' : reason }));
    }
    let errCode = error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
    // an alert after the handshake (TLS 1.3: the acquirer refusing our client certificate) is a TLS failure too
    if (this.tlsConfig && !(error instanceof SwitchError) && isTlsLibraryError(error)) {
      this.stats.tlsFailures++;
      errCode = tlsFailure(this.name, this.options.host, this.options.port, error).code;
    }
    this.log[kind === 'closed' ? 'info' : 'warn']({ link: this.name, connectionId: conn.id, kind, reason, code: errCode }, 'acquirer connection down');
    this.emit('down', { link: this.name, connectionId: conn.id, slot: conn.slot, kind, reason, ...(errCode ? { code: errCode } : {}) });
    if (kind === 'closed') this.emit('closed', { link: this.name, connectionId: conn.id, slot: conn.slot, reason });
    if (slot && !this.closed) this.scheduleReconnect(slot, conn.id, reason, errCode);
    else if (kind === 'failed') this.emit('failed', { link: this.name, connectionId: conn.id, slot: conn.slot, reason, ...(errCode ? { code: errCode } : {}) });
  }

  /** `error`: a connect attempt's TLS failure, logged with its code and message (both safe: docs/security.md). */
  private scheduleReconnect(slot: Slot, connectionId: string | null, reason: string, code?: string, error?: SwitchError): void {
    if (this.closed) return;
    const r = this.options.reconnect;
    const base = Math.min(r.maxMs, r.initialMs * Math.pow(r.factor, slot.attempt));
    const delay = Math.max(1, Math.round(base * (1 - r.jitter * Math.random())));
    slot.attempt++;
    this.emit('failed', { link: this.name, connectionId, slot: slot.index, reason, ...(code ? { code } : {}), retryInMs: delay });
    if (error) this.log.warn({ link: this.name, slot: slot.index, reason, retryInMs: delay, ...errorSummary(error) }, 'acquirer TLS handshake failed');
    else if (connectionId === null) this.log.warn({ link: this.name, slot: slot.index, reason, retryInMs: delay }, 'acquirer connect failed');
    slot.timer = setTimeout(() => {
      slot.timer = null;
      this.connect(slot);
    }, delay);
  }

  private keepAliveTick(): number {
    const o = this.options;
    const bounds = [o.echoIdleMs, o.readTimeoutMs].filter((x) => x > 0);
    if (bounds.length === 0) return 0;
    return Math.max(10, Math.floor(Math.min(...bounds) / 4));
  }

  /** Echo after idle; half-open detection: nothing read within readTimeoutMs → failed. */
  private checkConnections(): void {
    const o = this.options;
    const now = Date.now();
    for (const conn of [...this.ready]) {
      const silent = now - conn.lastReadAt;
      if (o.readTimeoutMs > 0 && silent >= o.readTimeoutMs) {
        this.stats.halfOpen++;
        const err = new SwitchError('SW_ERR_LINK_HALF_OPEN', { link: this.name, connection: conn.id, ms: silent, readTimeoutMs: o.readTimeoutMs });
        this.log.warn({ link: this.name, connectionId: conn.id, code: err.code, silentMs: silent }, err.message);
        conn.fail('half-open', err);
        continue;
      }
      if (o.echoIdleMs > 0 && silent >= o.echoIdleMs && !conn.echoOutstanding) {
        conn.echoOutstanding = true;
        this.stats.echoesSent++;
        const timeout = o.readTimeoutMs > 0 ? o.readTimeoutMs : o.echoIdleMs;
        this.networkRequest(conn, '301', timeout)
          .catch(() => undefined)
          .finally(() => {
            conn.echoOutstanding = false;
          });
      }
    }
  }
}
