import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import type { Codec } from '../iso8583/codec-types.js';
import { IsoMessage, isResponseMti, responseMti } from '../iso8583/message.js';
import { loadDialect } from '../iso8583/dialect.js';
import { SwitchError } from '../errors.js';
import { createFramer, swapTpdu, type Framer } from '../wire/framer.js';
import { Reassembler } from '../wire/reassembler.js';
import { BatchWriter } from './batch-writer.js';
import { errInfo, silentLogger, type NetLogger } from './logger.js';
import { peekMti } from './mti.js';

export interface PspRequestContext {
  /** Unique per server, e.g. "psp-7". */
  readonly connectionId: string;
  /** Name of the PSP this server (or this connection, with `pspOf`) belongs to. */
  readonly psp: string;
  readonly remoteAddress: string;
  /** Date.now() when the frame was read. */
  readonly receivedAt: number;
}

/**
 * Answers one request. Resolve with the response, or null to send nothing. A rejection is answered with
 * the response MTI and DE39 "96" (system malfunction) and counted.
 */
export type PspHandler = (msg: IsoMessage, ctx: PspRequestContext) => Promise<IsoMessage | null>;

export interface PspTlsOptions {
  cert: string | Buffer;
  key: string | Buffer;
  /** CA bundle to check client certificates against (with requestClientCert). */
  ca?: string | Buffer;
  requestClientCert?: boolean;
  /** Default and floor: TLSv1.2. */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

export interface PspServerOptions {
  /** The PSP dialect: a compiled codec, or a dialect name in specs/ (default iso87-ascii-bbitmap). */
  codec?: Codec;
  dialect?: string;
  handler: PspHandler;
  /** Default: 2-byte binary length, no TPDU. */
  framer?: Framer;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** Server name in logs and errors (default "psp-server"). */
  name?: string;
  /** PSP name handed to the handler (default: the server name). */
  psp?: string;
  /** Open connections allowed, TLS handshakes under way included; further ones are closed at once (default 1000). */
  maxConnections?: number;
  /** Requests in flight across all connections; beyond it a request is answered 91 at once (default 10 000). */
  maxInFlight?: number;
  /** A TLS handshake not done within this is dropped (default 10 000). */
  handshakeTimeoutMs?: number;
  /** Requests in flight per connection; at the limit the connection is not read until one finishes (default 256). */
  maxInFlightPerConnection?: number;
  /** Frame length cap; a larger header closes the connection (default 8192). */
  maxFrameBytes?: number;
  /** Unsent response bytes after which a peer that does not read is cut off (default 4 MiB). */
  maxBufferedBytes?: number;
  /** A peer whose socket has not drained for this long is cut off too; 0 = never (default 30 000). */
  writeStallTimeoutMs?: number;
  /**
   * Close a connection with nothing in flight after this long without a complete frame (keep-alives count;
   * bytes that never make a frame do not: a slow-loris peer is cut off like an idle one); 0 = never (default 300 000).
   */
  idleTimeoutMs?: number;
  /** close(): time given to in-flight requests before connections are destroyed (default 10 000). */
  shutdownTimeoutMs?: number;
  /** Fields copied from the request into responses the server forms itself (format errors, handler failures). */
  echoFields?: readonly number[];
  tls?: PspTlsOptions;
  logger?: NetLogger;
}

/** Metric-ready counters; read `server.stats` at any time. */
export interface PspServerStats {
  connectionsAccepted: number;
  connectionsActive: number;
  connectionsRefused: number;
  connectionsClosed: number;
  framesIn: number;
  framesOut: number;
  keepAlives: number;
  bytesIn: number;
  bytesOut: number;
  inFlight: number;
  inFlightLimitHits: number;
  frameErrors: number;
  unpackErrors: number;
  formatErrorResponses: number;
  unreadableFrames: number;
  handlerErrors: number;
  packErrors: number;
  writePauses: number;
  slowReaderCutoffs: number;
  idleTimeouts: number;
  droppedResponses: number;
  tlsErrors: number;
  /** Requests answered 91 at once because maxInFlight was reached across connections. */
  inFlightRefused: number;
}

export type PspLimitKind = 'connections' | 'inflight' | 'inflight-total' | 'frame' | 'slow-reader';

export interface PspServerEvents {
  connection: [{ connectionId: string; remoteAddress: string }];
  disconnect: [{ connectionId: string; reason: string }];
  limit: [{ kind: PspLimitKind; connectionId?: string }];
  /** A request was answered; latency from read to write queue. */
  response: [{ connectionId: string; mti: string; responseMti: string; latencyMs: number }];
  /** A whole frame that did not unpack (answered 30, or dropped when it had no request MTI); `code`: SW_ERR_*. */
  unpackError: [{ connectionId: string; code: string }];
}

const DEFAULT_ECHO_FIELDS = [3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49] as const;

type PauseReason = 'inflight' | 'drain' | 'shutdown';

class PspConnection {
  inFlight = 0;
  /** When the last complete frame (or keep-alive) was read: what the idle timeout counts from. */
  lastFrameAt = Date.now();
  closed = false;
  readonly pausedFor = new Set<PauseReason>();
  readonly reassembler: Reassembler;
  readonly writer: BatchWriter;
  readonly ctxBase: { connectionId: string; psp: string; remoteAddress: string };

  constructor(
    readonly server: PspServer,
    readonly id: string,
    readonly socket: Socket,
  ) {
    const o = server.options;
    this.ctxBase = { connectionId: id, psp: o.psp, remoteAddress: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}` };
    this.reassembler = new Reassembler(o.framer, {
      maxFrameBytes: o.maxFrameBytes,
      onFrame: (payload, tpdu) => this.onFrame(payload, tpdu),
      onKeepAlive: () => {
        server.stats.keepAlives++;
        this.lastFrameAt = Date.now();
      },
    });
    this.writer = new BatchWriter(socket, o.framer, (ok) => {
      if (!ok && !this.closed) {
        server.stats.writePauses++;
        this.pause('drain');
      }
      this.checkBuffered();
    });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    socket.on('data', (chunk: Buffer) => {
      server.stats.bytesIn += chunk.length;
      try {
        this.reassembler.push(chunk);
      } catch (e) {
        server.stats.frameErrors++;
        server.emit('limit', { kind: 'frame', connectionId: id });
        server.log.warn({ connectionId: id, ...errInfo(e) }, 'bad frame header, closing the connection');
        this.destroy('frame-error');
      }
    });
    socket.on('drain', () => this.resume('drain'));
    socket.on('error', (e) => server.log.debug({ connectionId: id, ...errInfo(e) }, 'socket error'));
    socket.on('close', () => this.onClose());
  }

  /** The server's idle sweep: nothing in flight and no complete frame for idleTimeoutMs → closed. */
  checkIdle(now: number): void {
    const ms = this.server.options.idleTimeoutMs;
    if (this.closed || this.inFlight > 0 || now - this.lastFrameAt < ms) return;
    this.server.stats.idleTimeouts++;
    this.server.log.info({ connectionId: this.id, code: 'SW_ERR_NET_IDLE_TIMEOUT', ms }, 'idle connection closed (no complete frame)');
    this.end('idle');
  }

  private onFrame(payload: Buffer, tpdu: Buffer | undefined): void {
    if (this.closed) return;
    const server = this.server;
    const st = server.stats;
    st.framesIn++;
    const receivedAt = Date.now();
    this.lastFrameAt = receivedAt;
    const replyTpdu = tpdu ? swapTpdu(tpdu) : undefined;
    let msg: IsoMessage;
    try {
      msg = server.options.codec.unpack(payload);
    } catch (e) {
      this.onUnpackError(payload, replyTpdu, e);
      return;
    }
    if (isResponseMti(msg.mti)) {
      // an answer to nothing the switch asked: there is no one to answer
      this.dropFrame('response MTI from a client', msg.mti, undefined);
      return;
    }
    if (st.inFlight >= server.options.maxInFlight) {
      // the switch as a whole is full: refuse fast, without reading it further or asking anyone
      st.inFlightRefused++;
      server.emit('limit', { kind: 'inflight-total', connectionId: this.id });
      this.inFlight++;
      st.inFlight++;
      this.finish(msg, server.formedResponse(msg, '91'), replyTpdu, receivedAt);
      return;
    }
    this.inFlight++;
    st.inFlight++;
    if (this.inFlight >= server.options.maxInFlightPerConnection && !this.pausedFor.has('inflight')) {
      st.inFlightLimitHits++;
      server.emit('limit', { kind: 'inflight', connectionId: this.id });
      server.log.warn(
        { connectionId: this.id, code: 'SW_ERR_NET_INFLIGHT_LIMIT', max: server.options.maxInFlightPerConnection },
        'in-flight limit reached, reading paused',
      );
      this.pause('inflight');
    }
    const ctx: PspRequestContext = { ...this.ctxBase, receivedAt };
    let p: Promise<IsoMessage | null>;
    try {
      p = server.options.handler(msg, ctx);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (resp) => this.finish(msg, resp, replyTpdu, receivedAt),
      (e: unknown) => {
        st.handlerErrors++;
        server.log.error(
          { connectionId: this.id, code: 'SW_ERR_NET_HANDLER_FAILED', mti: msg.mti, cause: errInfo(e).code },
          new SwitchError('SW_ERR_NET_HANDLER_FAILED', { connection: this.id, mti: msg.mti, reason: errInfo(e).code ?? 'error' }).message,
        );
        this.finish(msg, server.formedResponse(msg, '96'), replyTpdu, receivedAt);
      },
    );
  }

  private onUnpackError(payload: Buffer, replyTpdu: Buffer | undefined, e: unknown): void {
    const server = this.server;
    const st = server.stats;
    st.unpackErrors++;
    server.emit('unpackError', { connectionId: this.id, code: errInfo(e).code ?? 'unknown' });
    const mti = peekMti(server.options.codec, payload);
    if (mti === null || isResponseMti(mti)) {
      // A whole frame, so the stream is still in step: drop this one, keep the connection and what is in flight
      // on it. Only a framing error (a length header that cannot be right) closes a connection.
      this.dropFrame(mti === null ? 'no MTI' : 'response MTI from a client', mti, e);
      return;
    }
    server.log.warn({ connectionId: this.id, mti, cause: errInfo(e) }, 'frame failed to unpack, answering with a format error (30)');
    let bytes: Buffer;
    try {
      bytes = server.options.codec.pack(new IsoMessage(responseMti(mti), { 39: '30' }));
    } catch (pe) {
      st.packErrors++;
      server.log.error({ connectionId: this.id, cause: errInfo(pe) }, 'format-error response could not be packed, closing');
      this.destroy('unreadable-frame');
      return;
    }
    st.formatErrorResponses++;
    this.send(bytes, replyTpdu);
  }

  private dropFrame(reason: string, mti: string | null, cause: unknown): void {
    this.server.stats.unreadableFrames++;
    this.server.log.warn(
      { connectionId: this.id, code: 'SW_ERR_NET_UNREADABLE_FRAME', reason, ...(mti ? { mti } : {}), ...(cause ? { cause: errInfo(cause) } : {}) },
      'frame dropped, connection kept',
    );
  }

  private finish(req: IsoMessage, resp: IsoMessage | null, replyTpdu: Buffer | undefined, receivedAt: number): void {
    const server = this.server;
    const st = server.stats;
    this.inFlight--;
    st.inFlight--;
    if (this.closed) {
      if (resp) st.droppedResponses++;
      return;
    }
    if (resp) {
      let bytes: Buffer | null = null;
      try {
        bytes = server.options.codec.pack(resp);
      } catch (e) {
        st.packErrors++;
        server.log.error({ connectionId: this.id, mti: resp.mti, cause: errInfo(e) }, 'response could not be packed, answering 96');
        try {
          bytes = server.options.codec.pack(server.formedResponse(req, '96'));
        } catch {
          bytes = null;
        }
      }
      if (bytes) {
        this.send(bytes, replyTpdu);
        server.emit('response', { connectionId: this.id, mti: req.mti, responseMti: resp.mti, latencyMs: Date.now() - receivedAt });
      }
    }
    if (this.inFlight < server.options.maxInFlightPerConnection) this.resume('inflight');
    if (server.draining && this.inFlight === 0) this.end('shutdown');
  }

  private send(bytes: Buffer, tpdu: Buffer | undefined): void {
    if (this.closed) return;
    this.server.stats.framesOut++;
    this.server.stats.bytesOut += bytes.length + this.server.options.framer.headerBytes + (tpdu ? tpdu.length : 0);
    this.writer.write(bytes, tpdu);
    this.checkBuffered();
  }

  private checkBuffered(): void {
    const max = this.server.options.maxBufferedBytes;
    const pending = this.writer.pendingBytes;
    if (!this.closed && pending > max) this.cutOff(pending, 'buffered output over the cap');
  }

  private cutOff(pending: number, why: string): void {
    const server = this.server;
    const max = server.options.maxBufferedBytes;
    server.stats.slowReaderCutoffs++;
    server.emit('limit', { kind: 'slow-reader', connectionId: this.id });
    server.log.warn({ connectionId: this.id, code: 'SW_ERR_NET_SLOW_READER', bytes: pending, max, why }, 'peer is not reading, cut off');
    this.destroy('slow-reader');
  }

  private stallTimer: NodeJS.Timeout | null = null;

  pause(reason: PauseReason): void {
    if (reason === 'drain' && !this.stallTimer && this.server.options.writeStallTimeoutMs > 0) {
      this.stallTimer = setTimeout(() => {
        this.stallTimer = null;
        if (this.pausedFor.has('drain')) this.cutOff(this.writer.pendingBytes, 'no drain within the write stall timeout');
      }, this.server.options.writeStallTimeoutMs);
      this.stallTimer.unref();
    }
    if (this.pausedFor.size === 0) {
      this.socket.pause();
      this.reassembler.pause();
    }
    this.pausedFor.add(reason);
  }

  resume(reason: PauseReason): void {
    if (reason === 'drain' && this.stallTimer) {
      clearTimeout(this.stallTimer);
      this.stallTimer = null;
    }
    if (!this.pausedFor.delete(reason) || this.pausedFor.size > 0 || this.closed) return;
    this.socket.resume();
    this.reassembler.resume();
  }

  /** Flushes what is queued, then half-closes. */
  end(reason: string): void {
    if (this.closed) return;
    this.closeReason = reason;
    this.writer.flush();
    this.closed = true;
    this.pause('shutdown');
    this.socket.end();
    // a peer that never closes its side: do not wait forever
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  destroy(reason: string): void {
    if (this.closed) return;
    this.closeReason = reason;
    this.closed = true;
    this.writer.discard();
    this.socket.destroy();
  }

  closeReason = 'peer-closed';

  private onClose(): void {
    this.closed = true;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.writer.discard();
    this.server.connectionClosed(this, this.closeReason);
  }
}

/**
 * The PSP-facing ISO 8583 server: many pipelined requests per connection, answered as soon as each is ready,
 * in any order; explicit backpressure and limits (docs/architecture.md, "Conventions").
 */
export class PspServer extends EventEmitter<PspServerEvents> {
  readonly options: Required<Omit<PspServerOptions, 'tls' | 'logger' | 'dialect'>> & { tls?: PspTlsOptions };
  readonly log: NetLogger;
  readonly stats: PspServerStats = {
    connectionsAccepted: 0,
    connectionsActive: 0,
    connectionsRefused: 0,
    connectionsClosed: 0,
    framesIn: 0,
    framesOut: 0,
    keepAlives: 0,
    bytesIn: 0,
    bytesOut: 0,
    inFlight: 0,
    inFlightLimitHits: 0,
    frameErrors: 0,
    unpackErrors: 0,
    formatErrorResponses: 0,
    unreadableFrames: 0,
    handlerErrors: 0,
    packErrors: 0,
    writePauses: 0,
    slowReaderCutoffs: 0,
    idleTimeouts: 0,
    droppedResponses: 0,
    tlsErrors: 0,
    inFlightRefused: 0,
  };
  /** TCP connections open under a TLS listener, handshakes under way included (they count toward maxConnections). */
  private tcpOpen = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  draining = false;
  private readonly server: net.Server;
  private readonly conns = new Map<string, PspConnection>();
  private seq = 0;
  private closing: Promise<void> | null = null;
  private readonly idle = new EventEmitter();

  constructor(opts: PspServerOptions) {
    super();
    const name = opts.name ?? 'psp-server';
    this.options = {
      codec: opts.codec ?? loadDialect(opts.dialect ?? 'iso87-ascii-bbitmap'),
      handler: opts.handler,
      framer: opts.framer ?? createFramer(),
      host: opts.host ?? '127.0.0.1',
      port: opts.port ?? 0,
      name,
      psp: opts.psp ?? name,
      maxConnections: opts.maxConnections ?? 1000,
      maxInFlight: opts.maxInFlight ?? 10_000,
      handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 10_000,
      maxInFlightPerConnection: opts.maxInFlightPerConnection ?? 256,
      maxFrameBytes: opts.maxFrameBytes ?? 8192,
      maxBufferedBytes: opts.maxBufferedBytes ?? 4 * 1024 * 1024,
      writeStallTimeoutMs: opts.writeStallTimeoutMs ?? 30_000,
      idleTimeoutMs: opts.idleTimeoutMs ?? 300_000,
      shutdownTimeoutMs: opts.shutdownTimeoutMs ?? 10_000,
      echoFields: opts.echoFields ?? DEFAULT_ECHO_FIELDS,
      ...(opts.tls ? { tls: opts.tls } : {}),
    };
    for (const k of ['maxConnections', 'maxInFlight', 'maxInFlightPerConnection', 'maxFrameBytes', 'maxBufferedBytes'] as const) {
      const v = this.options[k];
      if (!Number.isInteger(v) || v < 1) throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: k, reason: 'must be a positive integer' });
    }
    this.log = opts.logger ?? silentLogger;
    if (opts.tls) {
      if (!opts.tls.cert || !opts.tls.key) throw new SwitchError('SW_ERR_NET_TLS_CONFIG', { reason: 'cert and key are required' });
      try {
        this.server = tls.createServer(
          {
            cert: opts.tls.cert,
            key: opts.tls.key,
            ...(opts.tls.ca ? { ca: opts.tls.ca } : {}),
            requestCert: opts.tls.requestClientCert ?? false,
            rejectUnauthorized: opts.tls.requestClientCert ?? false,
            minVersion: opts.tls.minVersion ?? 'TLSv1.2',
            handshakeTimeout: this.options.handshakeTimeoutMs,
          },
          (s) => this.onConnection(s),
        );
        // Every TCP connection counts toward maxConnections from its first byte, while its TLS handshake is
        // still under way too: a flood of handshakes that never finish cannot hold more sockets than that.
        this.server.on('connection', (raw: Socket) => {
          if (this.draining || this.tcpOpen >= this.options.maxConnections) {
            this.refuse();
            raw.destroy();
            return;
          }
          this.tcpOpen++;
          raw.once('close', () => this.tcpOpen--);
        });
      } catch (e) {
        throw new SwitchError('SW_ERR_NET_TLS_CONFIG', { reason: errInfo(e).err }, { cause: e });
      }
      this.server.on('tlsClientError', (e, socket) => {
        this.stats.tlsErrors++;
        this.log.warn({ server: name, ...errInfo(e) }, 'TLS handshake failed');
        // with a listener here Node leaves the socket open (a handshake timeout included): close it
        socket.destroy();
      });
    } else {
      this.server = net.createServer((s) => this.onConnection(s));
    }
    this.server.on('error', (e) => this.log.error({ server: name, ...errInfo(e) }, 'server error'));
  }

  /** Starts listening; resolves with the bound address (port 0 → the chosen port). */
  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const o = this.options;
      const onErr = (e: Error): void =>
        reject(new SwitchError('SW_ERR_NET_LISTEN_FAILED', { server: o.name, host: o.host, port: o.port, reason: (e as NodeJS.ErrnoException).code ?? e.message }, { cause: e }));
      this.server.once('error', onErr);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', onErr);
        const idle = this.options.idleTimeoutMs;
        if (idle > 0) {
          this.idleTimer = setInterval(() => {
            const now = Date.now();
            for (const c of this.conns.values()) c.checkIdle(now);
          }, Math.max(10, Math.min(1_000, Math.floor(idle / 4))));
          this.idleTimer.unref();
        }
        const a = this.server.address() as AddressInfo;
        this.log.info({ server: this.options.name, host: a.address, port: a.port, framer: this.options.framer.name, dialect: this.options.codec.name, tls: !!this.options.tls }, 'PSP server listening');
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  get port(): number {
    const a = this.server.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  /** Builds a response the server forms itself: response MTI, echo fields, DE39. */
  formedResponse(req: IsoMessage, responseCode: string): IsoMessage {
    const r = new IsoMessage(responseMti(req.mti));
    for (const f of this.options.echoFields) {
      const v = req.get(f);
      if (v !== undefined) r.set(f, v);
    }
    r.set(39, responseCode);
    return r;
  }

  private refuse(): void {
    this.stats.connectionsRefused++;
    this.emit('limit', { kind: 'connections' });
    this.log.warn({ server: this.options.name, code: 'SW_ERR_NET_CONNECTION_LIMIT', max: this.options.maxConnections }, 'connection limit reached, refusing');
  }

  private onConnection(socket: Socket): void {
    if (this.draining) {
      socket.destroy();
      return;
    }
    if (this.conns.size >= this.options.maxConnections) {
      this.refuse();
      socket.destroy();
      return;
    }
    const id = `${this.options.name}-${++this.seq}`;
    const c = new PspConnection(this, id, socket);
    this.conns.set(id, c);
    this.stats.connectionsAccepted++;
    this.stats.connectionsActive = this.conns.size;
    this.log.info({ connectionId: id, remote: c.ctxBase.remoteAddress }, 'PSP connected');
    this.emit('connection', { connectionId: id, remoteAddress: c.ctxBase.remoteAddress });
  }

  /** @internal */
  connectionClosed(c: PspConnection, reason: string): void {
    if (!this.conns.delete(c.id)) return;
    this.stats.connectionsClosed++;
    this.stats.connectionsActive = this.conns.size;
    this.log.info({ connectionId: c.id, reason, inFlight: c.inFlight }, 'PSP connection closed');
    this.emit('disconnect', { connectionId: c.id, reason });
    if (this.conns.size === 0) this.idle.emit('empty');
  }

  /**
   * Graceful shutdown: stop accepting, stop reading, let in-flight requests finish and their answers go out,
   * then close; connections still busy after shutdownTimeoutMs are destroyed.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.draining = true;
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.log.info({ server: this.options.name, connections: this.conns.size, inFlight: this.stats.inFlight }, 'PSP server shutting down');
    const serverClosed = new Promise<void>((r) => this.server.close(() => r()));
    for (const c of this.conns.values()) {
      c.pause('shutdown');
      if (c.inFlight === 0) c.end('shutdown');
    }
    const allGone = new Promise<void>((resolve) => {
      if (this.conns.size === 0) return resolve();
      const timer = setTimeout(() => {
        for (const c of this.conns.values()) {
          this.log.warn({ connectionId: c.id, inFlight: c.inFlight, code: 'SW_ERR_NET_SHUTDOWN' }, 'shutdown timeout, destroying connection');
          c.destroy('shutdown-timeout');
        }
      }, this.options.shutdownTimeoutMs);
      timer.unref();
      this.idle.once('empty', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.closing = Promise.all([serverClosed, allGone]).then(() => undefined);
    return this.closing;
  }
}

/** Creates and starts a PSP server. */
export async function startPspServer(opts: PspServerOptions): Promise<PspServer> {
  const s = new PspServer(opts);
  await s.listen();
  return s;
}
