import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import type { Codec } from '../iso8583/codec-types.js';
import { IsoMessage, responseMti } from '../iso8583/message.js';
import { loadDialect } from '../iso8583/dialect.js';
import { errorSummary, SwitchError } from '../errors.js';
import { createFramer, type Framer } from '../wire/framer.js';
import { silentLogger, type NetLogger } from './logger.js';
import { PspConnection } from './psp-connection.js';

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
 * the response MTI and DE39 `answers.systemError` and counted.
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

/**
 * The DE39 codes of the answers the server forms on its own (docs/network.md, "PSP server"). The switch passes
 * its configured ones (`responseCodes`); the defaults are the ISO 8583:1987 meanings.
 */
export interface PspAnswers {
  /** A request frame that does not unpack (its MTI readable): default "30", format error. */
  formatError: string;
  /** The handler rejected, or its response could not be packed: default "96", system malfunction. */
  systemError: string;
  /** maxInFlight reached across connections: default "91", issuer or switch inoperative. */
  unavailable: string;
}

export const DEFAULT_PSP_ANSWERS: Readonly<PspAnswers> = Object.freeze({ formatError: '30', systemError: '96', unavailable: '91' });

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
  /** DE39 of the answers the server forms itself (default DEFAULT_PSP_ANSWERS; a partial object overrides some). */
  answers?: Partial<PspAnswers>;
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
  /** A whole frame that did not unpack (answered formatError, or dropped when it had no request MTI); `code`: SW_ERR_*. */
  unpackError: [{ connectionId: string; code: string }];
  /** An answer that could not be packed (the PSP gets the system-error code instead); `code` is its SW_ERR_* code. */
  packError: [{ connectionId: string; code: string }];
  /**
   * Every SW_ERR_NET_* the server raises on its own, as a SwitchError (also logged, through errorSummary):
   * connection and in-flight limits, slow readers cut off, idle and shutdown closes, handler failures, dropped
   * frames. `connectionId` is null for the server-wide ones.
   */
  netError: [{ connectionId: string | null; error: SwitchError }];
}

const DEFAULT_ECHO_FIELDS = [3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49] as const;

/**
 * The PSP-facing ISO 8583 server: many pipelined requests per connection, answered as soon as each is ready,
 * in any order; explicit backpressure and limits (docs/architecture.md, "Conventions").
 */
export class PspServer extends EventEmitter<PspServerEvents> {
  readonly options: Required<Omit<PspServerOptions, 'tls' | 'logger' | 'dialect' | 'answers'>> & { tls?: PspTlsOptions; answers: Readonly<PspAnswers> };
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
      answers: Object.freeze({ ...DEFAULT_PSP_ANSWERS, ...opts.answers }),
      ...(opts.tls ? { tls: opts.tls } : {}),
    };
    for (const k of ['maxConnections', 'maxInFlight', 'maxInFlightPerConnection', 'maxFrameBytes', 'maxBufferedBytes'] as const) {
      const v = this.options[k];
      if (!Number.isInteger(v) || v < 1) throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: k, reason: 'must be a positive integer' });
    }
    for (const [k, v] of Object.entries(this.options.answers)) {
      if (typeof v !== 'string' || !/^[0-9A-Z]{2}$/.test(v))
        throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: `answers.${k}`, reason: 'must be 2 characters 0-9 A-Z' });
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
        throw new SwitchError('SW_ERR_NET_TLS_CONFIG', { reason: errorSummary(e).message }, { cause: e });
      }
      this.server.on('tlsClientError', (e, socket) => {
        this.stats.tlsErrors++;
        this.log.warn({ server: name, ...errorSummary(e) }, 'TLS handshake failed');
        // with a listener here Node leaves the socket open (a handshake timeout included): close it
        socket.destroy();
      });
    } else {
      this.server = net.createServer((s) => this.onConnection(s));
    }
    this.server.on('error', (e) => this.log.error({ server: name, ...errorSummary(e) }, 'server error'));
  }

  /** Starts listening; resolves with the bound address (port 0 → the chosen port). */
  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const o = this.options;
      const onErr = (e: Error): void =>
        reject(
          new SwitchError(
            'SW_ERR_NET_LISTEN_FAILED',
            { server: o.name, host: o.host, port: o.port, reason: (e as NodeJS.ErrnoException).code ?? e.message },
            { cause: e },
          ),
        );
      this.server.once('error', onErr);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', onErr);
        const idle = this.options.idleTimeoutMs;
        if (idle > 0) {
          this.idleTimer = setInterval(
            () => {
              const now = Date.now();
              for (const c of this.conns.values()) c.checkIdle(now);
            },
            Math.max(10, Math.min(1_000, Math.floor(idle / 4))),
          );
          this.idleTimer.unref();
        }
        const a = this.server.address() as AddressInfo;
        this.log.info(
          {
            server: this.options.name,
            host: a.address,
            port: a.port,
            framer: this.options.framer.name,
            dialect: this.options.codec.name,
            tls: !!this.options.tls,
          },
          'PSP server listening',
        );
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

  /**
   * @internal Raises one of the server's own SW_ERR_NET_* errors: emitted on 'netError' and logged with its
   * safe summary (code, message) and `fields`.
   */
  raise(level: 'info' | 'warn' | 'error', error: SwitchError, connectionId: string | null, fields: Record<string, unknown>, msg: string): void {
    this.emit('netError', { connectionId, error });
    this.log[level]({ ...(connectionId === null ? { server: this.options.name } : { connectionId }), ...errorSummary(error), ...fields }, msg);
  }

  private refuse(): void {
    const max = this.options.maxConnections;
    this.stats.connectionsRefused++;
    this.emit('limit', { kind: 'connections' });
    this.raise('warn', new SwitchError('SW_ERR_NET_CONNECTION_LIMIT', { server: this.options.name, max }), null, { max }, 'connection limit reached, refusing');
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
          this.raise(
            'warn',
            new SwitchError('SW_ERR_NET_SHUTDOWN', { server: this.options.name }),
            c.id,
            { inFlight: c.inFlight },
            'shutdown timeout, destroying connection',
          );
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
