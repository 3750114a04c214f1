import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { Codec } from '../iso8583/codec-types.js';
import { IsoMessage, responseMti } from '../iso8583/message.js';
import { loadDialect } from '../iso8583/dialect.js';
import { errorSummary, scrubSecrets, SwitchError, type ErrorCode } from '../errors.js';
import { createFramer, type Framer } from '../wire/framer.js';
import { silentLogger, type NetLogger } from './logger.js';
import { PspConnection } from './psp-connection.js';

export interface PspRequestContext {
  /** Unique per server, e.g. "psp-7". */
  readonly connectionId: string;
  /**
   * The PSP the request comes from: the identity its connection's client certificate maps to (`identities`), or
   * the server's `psp` for a connection not identified by a certificate (docs/security.md, "PSP identity").
   */
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
  /** CA bundle client certificates must chain to; required with requestClientCert or requireClientCert (the system roots are never used). */
  ca?: string | Buffer;
  /** Ask for a client certificate: one presented must chain to `ca` and map to a PSP, else the connection is refused. */
  requestClientCert?: boolean;
  /** Refuse connections without a client certificate too (implies requestClientCert). */
  requireClientCert?: boolean;
  /** Default and floor: TLSv1.2. */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

/**
 * A PSP known by its client certificate (docs/security.md, "PSP identity"): by subject attributes, all of which
 * must be the certificate's ("CN=psp-beta", or "CN=psp-beta,O=Beta Payments"), or by the sha256 fingerprint of
 * the certificate ("AB:CD:…", case and colons free). Give one of the two.
 */
export interface PspIdentity {
  /** The PSP name of every request on a connection with this certificate (merchants list it in `psps`). */
  readonly name: string;
  readonly subject?: string;
  readonly fingerprint256?: string;
}

/** Why a connection was refused before any frame was read from it (`refused` event, counted in `stats`). */
export type PspRefusal = 'no-certificate' | 'untrusted' | 'unmapped' | 'psp-connections';

/** Each PSP's share of the switch: 0 = no cap of its own (the listener's limits still apply). */
export interface PspShare {
  maxConnections: number;
  maxInFlight: number;
}

/**
 * Per-PSP limits, counted per identity across every server handed the same instance (docs/security.md, "PSP
 * identity"): a PSP over its share is refused while the others are still served. A connection beyond
 * `maxConnections` is closed after its handshake; a request beyond `maxInFlight` is answered `unavailable` at once.
 */
export class PspQuotas {
  private readonly conns = new Map<string, number>();
  private readonly inFlight = new Map<string, number>();
  /** PSPs whose in-flight cap is being hit: logged once when reached, not once per request refused. */
  private readonly atCap = new Set<string>();
  private readonly shares: ReadonlyMap<string, PspShare>;
  private readonly fallback: PspShare;

  constructor(o: { default?: Partial<PspShare>; perPsp?: ReadonlyArray<{ name: string } & Partial<PspShare>> } = {}) {
    this.fallback = { maxConnections: o.default?.maxConnections ?? 0, maxInFlight: o.default?.maxInFlight ?? 0 };
    const shares = new Map<string, PspShare>();
    for (const p of o.perPsp ?? []) {
      if (shares.has(p.name)) throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: `perPsp.${p.name}`, reason: 'listed twice' });
      shares.set(p.name, { maxConnections: p.maxConnections ?? this.fallback.maxConnections, maxInFlight: p.maxInFlight ?? this.fallback.maxInFlight });
    }
    for (const s of [this.fallback, ...shares.values()])
      for (const [k, v] of Object.entries(s))
        if (!Number.isInteger(v) || v < 0) throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: `perPsp.${k}`, reason: 'must be a whole number' });
    this.shares = shares;
  }

  shareOf(psp: string): PspShare {
    return this.shares.get(psp) ?? this.fallback;
  }

  connections(psp: string): number {
    return this.conns.get(psp) ?? 0;
  }

  inFlightOf(psp: string): number {
    return this.inFlight.get(psp) ?? 0;
  }

  /** Every PSP seen, with its counts and its share (admin, health). */
  snapshot(): Array<{ psp: string; connections: number; inFlight: number } & PspShare> {
    const names = new Set([...this.conns.keys(), ...this.inFlight.keys(), ...this.shares.keys()]);
    return [...names].sort().map((psp) => ({ psp, connections: this.connections(psp), inFlight: this.inFlightOf(psp), ...this.shareOf(psp) }));
  }

  /** @internal A connection of `psp` opens: false (nothing counted) when it already has its share. */
  openConnection(psp: string): boolean {
    const max = this.shareOf(psp).maxConnections;
    const n = this.connections(psp);
    if (max > 0 && n >= max) return false;
    this.conns.set(psp, n + 1);
    return true;
  }

  /** @internal */
  closeConnection(psp: string): void {
    const n = this.connections(psp) - 1;
    if (n > 0) this.conns.set(psp, n);
    else this.conns.delete(psp);
  }

  /** @internal A request of `psp` starts: 'ok' (counted), or refused: 'first' when the cap was just reached, else 'full'. */
  acquire(psp: string): 'ok' | 'first' | 'full' {
    const max = this.shareOf(psp).maxInFlight;
    const n = this.inFlightOf(psp);
    if (max > 0 && n >= max) {
      if (this.atCap.has(psp)) return 'full';
      this.atCap.add(psp);
      return 'first';
    }
    this.inFlight.set(psp, n + 1);
    return 'ok';
  }

  /** @internal */
  release(psp: string): void {
    const n = this.inFlightOf(psp) - 1;
    if (n > 0) this.inFlight.set(psp, n);
    else this.inFlight.delete(psp);
    if (n < this.shareOf(psp).maxInFlight) this.atCap.delete(psp);
  }
}

/** Subject attributes of an identity, parsed: "CN=a,O=b" → [["CN","a"],["O","b"]]; a backslash escapes the next character. */
export function parseSubject(subject: string): Array<[string, string]> | null {
  const out: Array<[string, string]> = [];
  let key: string | null = null;
  let cur = '';
  const flush = (): boolean => {
    if (key === null) return false;
    const k = key.trim();
    const v = cur.trim();
    if (!/^[A-Za-z][A-Za-z0-9.-]*$/.test(k) || v === '') return false;
    out.push([k.toUpperCase(), v]);
    key = null;
    cur = '';
    return true;
  };
  for (let i = 0; i < subject.length; i++) {
    const ch = subject[i]!;
    if (ch === '\\') {
      if (i + 1 >= subject.length) return null;
      cur += subject[++i]!;
    } else if (ch === '=' && key === null) {
      key = cur;
      cur = '';
    } else if (ch === ',') {
      if (!flush()) return null;
    } else cur += ch;
  }
  return flush() ? out : null;
}

/** A sha256 fingerprint as node:tls writes it (upper-case hex pairs joined by colons), or null when it is not 32 bytes of hex. */
export function normalizeFingerprint(fp: string): string | null {
  const hex = fp.replace(/[:\s]/g, '').toUpperCase();
  return /^[0-9A-F]{64}$/.test(hex) ? hex.match(/../g)!.join(':') : null;
}

/** A certificate's subject as one line, "CN=psp-beta,O=Beta" (logs and errors: a certificate is public, never a secret). */
export function subjectLine(cert: PeerCertificate): string {
  const s = (cert.subject ?? {}) as unknown as Record<string, string | string[]>;
  const line = Object.entries(s)
    .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}=${String(x).replace(/[,\\]/g, (c) => `\\${c}`)}`))
    .join(',');
  return scrubSecrets(line.slice(0, 200)) || '(empty subject)';
}

/** The identity map of a server, compiled once; `resolve` names the PSP of a trusted client certificate. */
export class PspIdentityMap {
  private readonly byFingerprint = new Map<string, string>();
  private readonly bySubject: Array<{ name: string; attrs: Array<[string, string]> }> = [];

  constructor(readonly identities: readonly PspIdentity[]) {
    identities.forEach((id, i) => {
      const bad = (reason: string) => new SwitchError('SW_ERR_NET_TLS_CONFIG', { reason: `identities[${i}] (${id.name || 'no name'}): ${reason}` });
      if (typeof id.name !== 'string' || id.name === '') throw bad('name is required');
      const hasSubject = !!id.subject;
      const hasFp = !!id.fingerprint256;
      if (hasSubject === hasFp) throw bad('give exactly one of subject and fingerprint256');
      if (hasFp) {
        const fp = normalizeFingerprint(id.fingerprint256!);
        if (!fp) throw bad('fingerprint256 must be 32 bytes of hex (colons optional)');
        const other = this.byFingerprint.get(fp);
        if (other !== undefined && other !== id.name) throw bad(`the same fingerprint is already mapped to ${other}`);
        this.byFingerprint.set(fp, id.name);
      } else {
        const attrs = parseSubject(id.subject!);
        if (!attrs) throw bad('subject must be attribute=value pairs separated by commas, e.g. "CN=psp-beta"');
        this.bySubject.push({ name: id.name, attrs });
      }
    });
  }

  get size(): number {
    return this.identities.length;
  }

  /** The PSP of a certificate: its fingerprint first, then the subjects; two subjects naming different PSPs is ambiguous (null). */
  resolve(cert: PeerCertificate): { psp: string } | { reason: string } {
    const fp = cert.fingerprint256 ? normalizeFingerprint(cert.fingerprint256) : null;
    const byFp = fp ? this.byFingerprint.get(fp) : undefined;
    if (byFp !== undefined) return { psp: byFp };
    const subject = (cert.subject ?? {}) as unknown as Record<string, string | string[] | undefined>;
    const values = new Map<string, string[]>();
    for (const [k, v] of Object.entries(subject)) if (v !== undefined) values.set(k.toUpperCase(), Array.isArray(v) ? v : [v]);
    const names = new Set<string>();
    for (const s of this.bySubject) if (s.attrs.every(([k, v]) => values.get(k)?.includes(v) ?? false)) names.add(s.name);
    if (names.size === 1) return { psp: [...names][0]! };
    if (names.size > 1) return { reason: `subject matches ${names.size} PSPs` };
    return { reason: this.size ? 'no identity matches' : 'no identities configured' };
  }
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
  /**
   * PSP name handed to the handler for a connection not identified by a client certificate (default: the server
   * name); unused when `tls.requireClientCert` holds.
   */
  psp?: string;
  /**
   * Client certificates mapped to PSP names (needs `tls.requestClientCert` or `requireClientCert`): a trusted
   * certificate that maps to none is refused. Empty: any trusted certificate is the server's `psp`.
   */
  identities?: readonly PspIdentity[];
  /** Per-PSP shares (connections, in flight), shared by the servers of one switch; absent: only this server's limits. */
  quotas?: PspQuotas;
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
  /** Connections refused after the handshake: no client certificate where one is required (SW_ERR_NET_CLIENT_CERT_MISSING). */
  clientCertMissing: number;
  /** … a client certificate that does not chain to the configured CA, or is expired (SW_ERR_NET_CLIENT_CERT_UNTRUSTED). */
  clientCertUntrusted: number;
  /** … a trusted certificate that maps to no PSP (SW_ERR_NET_CLIENT_CERT_UNMAPPED). */
  clientCertUnmapped: number;
  /** … a PSP that already has its share of connections (SW_ERR_NET_PSP_CONNECTION_LIMIT). */
  pspConnectionsRefused: number;
  /** Requests answered 91 at once because their PSP had its share in flight (SW_ERR_NET_PSP_INFLIGHT_LIMIT). */
  pspInFlightRefused: number;
}

export type PspLimitKind = 'connections' | 'inflight' | 'inflight-total' | 'frame' | 'slow-reader' | 'psp-connections' | 'psp-inflight';

export interface PspServerEvents {
  /** A connection accepted, `psp` the identity its requests carry. */
  connection: [{ connectionId: string; remoteAddress: string; psp: string }];
  disconnect: [{ connectionId: string; reason: string }];
  /** `psp` with the per-PSP kinds. */
  limit: [{ kind: PspLimitKind; connectionId?: string; psp?: string }];
  /** A connection refused after its TLS handshake, before any frame was read; `code` is its SW_ERR_NET_* code. */
  refused: [{ reason: PspRefusal; code: ErrorCode; remoteAddress: string; psp?: string }];
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
  readonly options: Required<Omit<PspServerOptions, 'tls' | 'logger' | 'dialect' | 'answers' | 'identities' | 'quotas'>> & {
    tls?: PspTlsOptions;
    answers: Readonly<PspAnswers>;
  };
  /** Client certificate → PSP (empty unless client certificates are asked for). */
  readonly identities: PspIdentityMap;
  readonly quotas: PspQuotas | undefined;
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
    clientCertMissing: 0,
    clientCertUntrusted: 0,
    clientCertUnmapped: 0,
    pspConnectionsRefused: 0,
    pspInFlightRefused: 0,
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
    this.identities = new PspIdentityMap(opts.identities ?? []);
    this.quotas = opts.quotas;
    if (this.identities.size > 0 && !this.asksClientCert)
      throw new SwitchError('SW_ERR_NET_TLS_CONFIG', { reason: 'identities need tls with requestClientCert or requireClientCert' });
    if (opts.tls) {
      const t = opts.tls;
      if (!t.cert || !t.key) throw new SwitchError('SW_ERR_NET_TLS_CONFIG', { reason: 'cert and key are required' });
      const minVersion = t.minVersion ?? 'TLSv1.2';
      if (minVersion !== 'TLSv1.2' && minVersion !== 'TLSv1.3')
        throw new SwitchError('SW_ERR_NET_TLS_CONFIG', { reason: 'minVersion must be TLSv1.2 or TLSv1.3' });
      // without a CA of its own node would check client certificates against the system roots: any public CA's
      // customer would be trusted
      if (this.asksClientCert && !t.ca)
        throw new SwitchError('SW_ERR_NET_TLS_CONFIG', { reason: 'client certificates need a CA bundle (ca) to be checked against' });
      try {
        this.server = tls.createServer(
          {
            cert: t.cert,
            key: t.key,
            ...(t.ca ? { ca: t.ca } : {}),
            requestCert: this.asksClientCert,
            // The verdict is the server's own, after the handshake (identify()): node's rejectUnauthorized would
            // drop an untrusted client silently, neither counted nor logged.
            rejectUnauthorized: false,
            minVersion,
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

  /** Client certificates are asked for on this server (tls.requestClientCert or requireClientCert). */
  get asksClientCert(): boolean {
    const t = this.options.tls;
    return !!t && !!(t.requestClientCert || t.requireClientCert);
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
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    const who = this.identify(socket, remote);
    if ('refusal' in who) {
      this.refuseClient(socket, remote, who.refusal, who.error, who.fields);
      return;
    }
    const psp = who.psp;
    if (this.quotas && !this.quotas.openConnection(psp)) {
      const max = this.quotas.shareOf(psp).maxConnections;
      this.stats.pspConnectionsRefused++;
      this.emit('limit', { kind: 'psp-connections', psp });
      const error = new SwitchError('SW_ERR_NET_PSP_CONNECTION_LIMIT', { server: this.options.name, psp, max });
      this.refuseClient(socket, remote, 'psp-connections', error, { psp, max }, psp);
      return;
    }
    // renegotiation could present another certificate after the identity was settled: not allowed
    if (this.options.tls) (socket as TLSSocket).disableRenegotiation();
    const id = `${this.options.name}-${++this.seq}`;
    const c = new PspConnection(this, id, socket, psp);
    this.conns.set(id, c);
    this.stats.connectionsAccepted++;
    this.stats.connectionsActive = this.conns.size;
    this.log.info({ connectionId: id, remote, psp }, 'PSP connected');
    this.emit('connection', { connectionId: id, remoteAddress: remote, psp });
  }

  /**
   * The PSP a new connection belongs to (docs/security.md, "PSP identity"): without client certificates asked
   * for, the server's `psp`; with them, the identity a trusted certificate maps to. Refused: no certificate where
   * one is required, one that does not chain to the CA (or has expired), a trusted one that maps to no PSP.
   */
  private identify(socket: Socket, remote: string): { psp: string } | { refusal: PspRefusal; error: SwitchError; fields: Record<string, unknown> } {
    if (!this.asksClientCert) return { psp: this.options.psp };
    const server = this.options.name;
    const ts = socket as TLSSocket;
    const cert = ts.getPeerCertificate();
    const present = !!cert && Object.keys(cert).length > 0;
    if (!present) {
      if (!this.options.tls!.requireClientCert) return { psp: this.options.psp };
      return { refusal: 'no-certificate', error: new SwitchError('SW_ERR_NET_CLIENT_CERT_MISSING', { server, remote }), fields: {} };
    }
    const subject = subjectLine(cert);
    if (!ts.authorized) {
      const reason = String(ts.authorizationError ?? 'not verified');
      return {
        refusal: 'untrusted',
        error: new SwitchError('SW_ERR_NET_CLIENT_CERT_UNTRUSTED', { server, remote, subject, reason }),
        fields: { subject, reason },
      };
    }
    if (this.identities.size === 0) return { psp: this.options.psp };
    const r = this.identities.resolve(cert);
    if ('psp' in r) return r;
    const fingerprint = cert.fingerprint256 ?? '?';
    return {
      refusal: 'unmapped',
      error: new SwitchError('SW_ERR_NET_CLIENT_CERT_UNMAPPED', { server, remote, subject, fingerprint, reason: r.reason }),
      fields: { subject, fingerprint, reason: r.reason },
    };
  }

  /** Closes a connection refused before any frame was read from it: counted, logged with its code (no secrets: a certificate is public). */
  private refuseClient(socket: Socket, remote: string, refusal: PspRefusal, error: SwitchError, fields: Record<string, unknown>, psp?: string): void {
    if (refusal === 'no-certificate') this.stats.clientCertMissing++;
    else if (refusal === 'untrusted') this.stats.clientCertUntrusted++;
    else if (refusal === 'unmapped') this.stats.clientCertUnmapped++;
    this.stats.connectionsRefused++;
    this.emit('refused', { reason: refusal, code: error.code, remoteAddress: remote, ...(psp !== undefined ? { psp } : {}) });
    this.raise('warn', error, null, { remote, refusal, ...fields }, 'PSP connection refused after the handshake');
    socket.destroy();
  }

  /** @internal */
  connectionClosed(c: PspConnection, reason: string): void {
    if (!this.conns.delete(c.id)) return;
    this.quotas?.closeConnection(c.psp);
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
