import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import type { Codec } from '../../src/iso8583/codec-types.js';
import { IsoMessage, isResponseMti, responseMti } from '../../src/iso8583/message.js';
import { isApproval, loadWireCodec } from '../../src/iso8583/index.js';
import { createFramer, encodeFrame, type Framer, type FramerOptions } from '../../src/wire/framer.js';
import { Reassembler } from '../../src/wire/reassembler.js';
import { BatchWriter } from '../../src/net/batch-writer.js';
import { peekMti, transmissionDateTime } from '../../src/net/mti.js';
import { DEFAULT_BEHAVIOUR, mergeBehaviour, validateBehaviour, type Behaviour, type Latency, type Rule } from './config.js';
import { Journal } from './journal.js';
import { startControlServer, type ControlServer } from './control.js';
import { Rng } from './random.js';
import { SimMac, type SimulatorMacOptions } from './mac.js';
import { SimPin, type PinCheckEntry, type SimulatorPinOptions } from './pin.js';
import { settlementCsv, settlementItems, type SettlementBreaks, type SettlementFileOptions } from './settlement.js';
import { businessDay } from '../../src/ledger/business-day.js';
import { DEFAULT_SETTLEMENT_LAYOUT } from '../../src/ledger/settlement-file.js';

/**
 * TLS of the simulator's ISO 8583 port (docs/network.md, "Acquirer link TLS"). Versions are whatever is asked, the
 * old ones included, so a test can stand up a host the switch must refuse: a TLS 1.1-only host needs
 * `minVersion` and `maxVersion` TLSv1.1 and, with OpenSSL 3, `ciphers: 'DEFAULT@SECLEVEL=0'`.
 */
export interface SimulatorTlsOptions {
  /** Server certificate chain and key (PEM). */
  cert: string | Buffer;
  key: string | Buffer;
  /** CAs a client certificate must lead to (with requestCert). */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Ask every client for a certificate and refuse one without a valid certificate (default false). */
  requestCert?: boolean;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  /** OpenSSL cipher list (default node's). */
  ciphers?: string;
}

export interface AcquirerSimulatorOptions {
  /** Dialect name in specs/ (default iso87-binary), or a compiled codec. */
  dialect?: string;
  codec?: Codec;
  framer?: Framer | FramerOptions;
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  /** Start the HTTP control API (default true); port 0 unless given. */
  control?: boolean | { host?: string; port?: number };
  behaviour?: Partial<Behaviour>;
  /** Seed of every random choice (latency, faults, auth codes). */
  seed?: number;
  maxFrameBytes?: number;
  /** Keep a journal (default true); `{ max }` bounds it (default 200 000 entries). */
  journal?: boolean | { max: number };
  /** Serve TLS instead of plain TCP. */
  tls?: SimulatorTlsOptions;
  /** MAC every message and check every MAC (keys in clear hex: a test peer; docs/security.md, "MAC"). */
  mac?: SimulatorMacOptions;
  /** Check the PIN of DE52 (its zone PIN key in clear hex: a test peer; docs/security.md, "PIN translation"). */
  pin?: SimulatorPinOptions;
  /** The settlement file it writes (docs/ledger.md, "Settlement files"): layout, cut-over and its fee per row. */
  settlement?: Partial<Omit<SettlementFileOptions, 'day' | 'breaks'>>;
}

/** What a key exchange the simulator started came to. */
export interface KeyExchangeResult {
  /** DE39 of the switch's 0810 (undefined: no answer in time). */
  responseCode: string | undefined;
  /** Check value of the key sent (the true one, also when a wrong one was sent). */
  kcv: string;
  /** Whether the simulator now MACs under the new key (the 0810 said 00 and its MAC verified under the new key). */
  switched: boolean;
}

export interface SimulatorStats {
  connectionsAccepted: number;
  connectionsActive: number;
  connectionsRefused: number;
  received: number;
  answered: number;
  dropped: number;
  resets: number;
  garbageSent: number;
  partialSent: number;
  unpackErrors: number;
  /** TLS only: handshakes completed, and failed (a client refused: version, certificate, …). */
  tlsHandshakes: number;
  tlsErrors: number;
  /** TLS only: completed handshakes in which the client presented a certificate the simulator verified. */
  tlsClientCerts: number;
  /** TLS only: completed handshakes by negotiated version (TLSv1.2, TLSv1.3, …). */
  tlsVersions: Record<string, number>;
  /** With mac: messages received whose MAC verified, and those whose MAC was missing or wrong (not answered). */
  macVerified: number;
  macInvalid: number;
  /** With mac: key exchanges completed (the simulator moved to the new key). */
  keyChanges: number;
}

/** Test faults of the MAC: answers (not to 0800) with a wrong MAC; the next key sent with a wrong check value. */
export interface MacFaults {
  badMac?: boolean;
  wrongKcv?: boolean;
}

export interface AcquirerSimulator {
  readonly host: string;
  readonly port: number;
  /** http://host:port of the control API, or null when it is off. */
  readonly controlUrl: string | null;
  readonly journal: Journal;
  readonly stats: SimulatorStats;
  readonly codec: Codec;
  readonly framer: Framer;
  /** Merges a partial behaviour (validated; faults merged key by key). Outage windows restart from now. */
  setBehaviour(patch: Partial<Behaviour>): Behaviour;
  behaviour(): Behaviour;
  /** Resets (RST) every open connection. */
  resetConnections(): number;
  /** Starts an outage now. */
  startOutage(durationMs: number, mode: 'down' | 'silent'): void;
  connectionCount(): number;
  /** With mac: the check value of the MAC key in use, else null. */
  macKcv(): string | null;
  /** With mac: sets the MAC faults (merged). */
  setMacFaults(f: MacFaults): MacFaults;
  /**
   * With mac and zmk: sends 0800 DE70 `code` (default 162) with a new MAC key under the ZMK and its check value (a
   * wrong one with `wrongKcv`, or the `wrongKcv` MAC fault) on an open connection, MACed under the current key, and
   * resolves with the switch's answer; on 00 (its MAC checked under the new key) later messages use the new key.
   */
  startKeyExchange(o?: { wrongKcv?: boolean; code?: '161' | '162'; timeoutMs?: number }): Promise<KeyExchangeResult>;
  /** Checks the PIN of every 0100/0200 with DE52 from now on (a wrong one answered 55); null stops checking. */
  setPinCheck(o: SimulatorPinOptions | null): void;
  /** The PIN checks made (each with the block as received), oldest first. */
  pinChecks(): PinCheckEntry[];
  /** The settlement file of a business day (YYYY-MM-DD) from its journal, in its layout, with `breaks` written in. */
  settlementFile(day: string, o?: { breaks?: SettlementBreaks; seed?: number; fee?: SettlementFileOptions['fee'] }): string;
  close(): Promise<void>;
}

/** Fields an answer copies from its request (never DE35, DE45, DE52, DE55). */
const ECHO_FIELDS = [2, 3, 4, 7, 11, 12, 13, 14, 18, 19, 22, 25, 32, 37, 41, 42, 49, 90];
const FINANCIAL = ['0100', '0200'];
/** What an approved balance inquiry answers when no rule names a balance (minor units). */
const DEFAULT_BALANCE = 100_000;

class SimConnection {
  readonly reassembler: Reassembler;
  readonly writer: BatchWriter;
  /** Set while a partial-frame fault dribbles a frame out: later frames queue behind it. */
  private slowQueue: Buffer[] | null = null;
  closed = false;

  constructor(
    readonly sim: Sim,
    readonly id: string,
    readonly socket: Socket,
  ) {
    this.writer = new BatchWriter(socket, sim.framer);
    this.reassembler = new Reassembler(sim.framer, {
      maxFrameBytes: sim.maxFrameBytes,
      onFrame: (payload) => sim.onFrame(this, payload),
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (this.closed) return;
      try {
        this.reassembler.push(chunk);
      } catch {
        sim.stats.unpackErrors++;
        this.reset();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      sim.conns.delete(this);
      sim.stats.connectionsActive = sim.conns.size;
    });
  }

  send(payload: Buffer, partial: boolean): void {
    if (this.closed) return;
    if (!partial && this.slowQueue === null) {
      this.writer.write(payload);
      return;
    }
    this.writer.flush();
    const frame = encodeFrame(this.sim.framer, payload);
    if (this.slowQueue) {
      this.slowQueue.push(frame);
      return;
    }
    this.slowQueue = [frame];
    void this.dribble();
  }

  private async dribble(): Promise<void> {
    const rng = this.sim.rng;
    while (this.slowQueue && this.slowQueue.length > 0 && !this.closed) {
      const frame = this.slowQueue.shift()!;
      let off = 0;
      while (off < frame.length && !this.closed) {
        const n = Math.max(1, Math.min(frame.length - off, rng.int(1, Math.ceil(frame.length / 2))));
        this.socket.write(frame.subarray(off, off + n));
        off += n;
        await new Promise((r) => setTimeout(r, 1));
      }
    }
    this.slowQueue = null;
  }

  reset(): void {
    if (this.closed) return;
    this.closed = true;
    this.sim.stats.resets++;
    // a TLS socket has no TCP handle of its own to send a reset on: it is closed instead
    if (this.socket instanceof tls.TLSSocket) this.socket.destroy();
    else this.socket.resetAndDestroy();
  }
}

class Sim implements AcquirerSimulator {
  readonly journal: Journal;
  readonly stats: SimulatorStats = {
    connectionsAccepted: 0,
    connectionsActive: 0,
    connectionsRefused: 0,
    received: 0,
    answered: 0,
    dropped: 0,
    resets: 0,
    garbageSent: 0,
    partialSent: 0,
    unpackErrors: 0,
    tlsHandshakes: 0,
    tlsErrors: 0,
    tlsClientCerts: 0,
    tlsVersions: {},
    macVerified: 0,
    macInvalid: 0,
    keyChanges: 0,
  };
  readonly conns = new Set<SimConnection>();
  readonly rng: Rng;
  readonly codec: Codec;
  readonly framer: Framer;
  readonly maxFrameBytes: number;
  host = '127.0.0.1';
  port = 0;
  controlUrl: string | null = null;
  private current: Behaviour;
  private behaviourSince = Date.now();
  private adhocOutage: { until: number; mode: 'down' | 'silent' } | null = null;
  private readonly server: net.Server | tls.Server;
  private control: ControlServer | null = null;
  private connSeq = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** ECHO_FIELDS that this dialect defines. */
  private readonly echoFields: number[];
  private readonly hasRrn: boolean;
  private readonly mac: SimMac | null;
  private pin: SimPin | null;
  private readonly settlement: Partial<Omit<SettlementFileOptions, 'day' | 'breaks'>>;
  private macFaults: MacFaults = {};
  private stanSeq = 0;
  /** Key exchanges sent, by DE11, waiting for their 0810. */
  private readonly exchanges = new Map<string, (resp: IsoMessage, payload: Buffer) => void>();

  constructor(opts: AcquirerSimulatorOptions) {
    const j = opts.journal ?? true;
    this.journal = j === false ? new Journal(0, false) : new Journal(j === true ? undefined : j.max);
    // a 1993 dialect answers in 1993 on the wire; the simulator's rules speak 1987 codes (src/iso8583/iso93.ts)
    this.codec = opts.codec ?? loadWireCodec(opts.dialect ?? 'iso87-binary');
    this.framer = opts.framer && 'readLength' in opts.framer ? opts.framer : createFramer((opts.framer as FramerOptions | undefined) ?? {});
    this.maxFrameBytes = opts.maxFrameBytes ?? 8192;
    this.echoFields = ECHO_FIELDS.filter((f) => this.codec.spec.fields[String(f)] !== undefined);
    this.hasRrn = this.codec.spec.fields['37'] !== undefined;
    this.rng = new Rng(opts.seed ?? Date.now());
    this.mac = opts.mac ? new SimMac(opts.mac, this.codec) : null;
    this.pin = opts.pin ? new SimPin(opts.pin) : null;
    this.settlement = opts.settlement ?? {};
    const b = opts.behaviour ?? {};
    validateBehaviour(b);
    this.current = mergeBehaviour(DEFAULT_BEHAVIOUR, b);
    this.server = opts.tls ? this.tlsServer(opts.tls) : net.createServer((s) => this.onConnection(s));
  }

  private tlsServer(o: SimulatorTlsOptions): tls.Server {
    const requestCert = o.requestCert ?? false;
    const server = tls.createServer(
      {
        cert: o.cert,
        key: o.key,
        ...(o.ca !== undefined ? { ca: o.ca } : {}),
        requestCert,
        rejectUnauthorized: requestCert,
        ...(o.minVersion ? { minVersion: o.minVersion } : {}),
        ...(o.maxVersion ? { maxVersion: o.maxVersion } : {}),
        ...(o.ciphers ? { ciphers: o.ciphers } : {}),
      },
      (s) => {
        this.stats.tlsHandshakes++;
        const v = s.getProtocol() ?? 'unknown';
        this.stats.tlsVersions[v] = (this.stats.tlsVersions[v] ?? 0) + 1;
        if (requestCert && s.authorized) this.stats.tlsClientCerts++;
        this.onConnection(s);
      },
    );
    // during a 'down' outage a connection is reset before its handshake, as the plain server does
    server.prependListener('connection', (raw: Socket) => {
      if (this.outageMode() !== 'down') return;
      this.stats.connectionsRefused++;
      raw.on('error', () => undefined);
      raw.resetAndDestroy();
    });
    server.on('tlsClientError', () => {
      this.stats.tlsErrors++;
    });
    return server;
  }

  async start(opts: AcquirerSimulatorOptions): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
        this.server.off('error', reject);
        const a = this.server.address() as AddressInfo;
        this.host = a.address;
        this.port = a.port;
        resolve();
      });
    });
    const c = opts.control ?? true;
    if (c !== false) {
      const co = c === true ? {} : c;
      this.control = await startControlServer(this, co.host ?? '127.0.0.1', co.port ?? 0);
      this.controlUrl = this.control.url;
    }
  }

  behaviour(): Behaviour {
    return this.current;
  }

  setBehaviour(patch: Partial<Behaviour>): Behaviour {
    validateBehaviour(patch);
    const wasNoRead = !!this.current.faults.acceptNoRead;
    this.current = mergeBehaviour(this.current, patch);
    this.behaviourSince = Date.now();
    const noRead = !!this.current.faults.acceptNoRead;
    if (noRead !== wasNoRead)
      for (const c of this.conns) {
        if (noRead) c.socket.pause();
        else c.socket.resume();
      }
    if (this.outageMode() === 'down') this.resetConnections();
    return this.current;
  }

  resetConnections(): number {
    const n = this.conns.size;
    for (const c of [...this.conns]) c.reset();
    return n;
  }

  startOutage(durationMs: number, mode: 'down' | 'silent'): void {
    this.adhocOutage = { until: Date.now() + durationMs, mode };
    if (mode === 'down') this.resetConnections();
  }

  connectionCount(): number {
    return this.conns.size;
  }

  setPinCheck(o: SimulatorPinOptions | null): void {
    this.pin = o ? new SimPin(o) : null;
  }

  settlementFile(day: string, f: { breaks?: SettlementBreaks; seed?: number; fee?: SettlementFileOptions['fee'] } = {}): string {
    const o = { ...this.settlement, ...(f.fee ? { fee: f.fee } : {}) };
    return settlementCsv(this.journal.all(), {
      layout: o.layout ?? DEFAULT_SETTLEMENT_LAYOUT,
      ...(o.cutover ? { cutover: o.cutover } : {}),
      ...(o.fee ? { fee: o.fee } : {}),
      ...(f.seed !== undefined ? { seed: f.seed } : {}),
      day,
      breaks: f.breaks ?? {},
    });
  }

  pinChecks(): PinCheckEntry[] {
    return this.pin?.checks() ?? [];
  }

  macKcv(): string | null {
    return this.mac ? SimMac.kcv(this.mac.tak) : null;
  }

  setMacFaults(f: MacFaults): MacFaults {
    this.macFaults = { ...this.macFaults, ...f };
    return this.macFaults;
  }

  startKeyExchange(o: { wrongKcv?: boolean; code?: '161' | '162'; timeoutMs?: number } = {}): Promise<KeyExchangeResult> {
    const mac = this.mac;
    if (!mac) return Promise.reject(new Error('simulator: a key exchange needs mac'));
    const conn = [...this.conns].find((c) => !c.closed);
    if (!conn) return Promise.reject(new Error('simulator: no connection open'));
    const { key, fieldValue, kcv } = mac.newKey((n) => this.randomBytes(n), o.wrongKcv ?? this.macFaults.wrongKcv ?? false);
    this.stanSeq = (this.stanSeq % 999_999) + 1;
    const stan = String(this.stanSeq).padStart(6, '0');
    const req = new IsoMessage('0800', { 7: transmissionDateTime(), 11: stan, 70: o.code ?? '162', [mac.keyField]: fieldValue });
    return new Promise<KeyExchangeResult>((resolve) => {
      const timer = setTimeout(() => {
        this.exchanges.delete(stan);
        resolve({ responseCode: undefined, kcv, switched: false });
      }, o.timeoutMs ?? 5000);
      this.exchanges.set(stan, (resp, payload) => {
        clearTimeout(timer);
        this.exchanges.delete(stan);
        const rc = resp.getString(39);
        // the answer accepting the key is MACed under it; a refusal under the key still in use
        const ok = rc === '00' ? mac.verify(payload, resp, key) : mac.verify(payload, resp);
        if (ok) this.stats.macVerified++;
        else this.stats.macInvalid++;
        const switched = rc === '00' && ok;
        if (switched) {
          mac.tak = key;
          this.stats.keyChanges++;
        }
        resolve({ responseCode: rc, kcv, switched });
      });
      this.journal.record(conn.id, 'out', req);
      conn.send(mac.pack(req), false);
    });
  }

  private randomBytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.rng.int(0, 255);
    return b;
  }

  /** The outage in force now, if any. */
  outageMode(): 'down' | 'silent' | null {
    if (this.adhocOutage === null && !this.current.faults.outages?.length) return null;
    const now = Date.now();
    if (this.adhocOutage) {
      if (now < this.adhocOutage.until) return this.adhocOutage.mode;
      this.adhocOutage = null;
    }
    for (const w of this.current.faults.outages ?? []) {
      const start = this.behaviourSince + w.startMs;
      if (now >= start && now < start + w.durationMs) return w.mode;
    }
    return null;
  }

  private onConnection(socket: Socket): void {
    if (this.outageMode() === 'down') {
      this.stats.connectionsRefused++;
      socket.on('error', () => undefined);
      // (a TLS connection whose handshake ended as the outage began: it has no TCP handle to reset)
      if (socket instanceof tls.TLSSocket) socket.destroy();
      else socket.resetAndDestroy();
      return;
    }
    const c = new SimConnection(this, `sim-${++this.connSeq}`, socket);
    this.conns.add(c);
    this.stats.connectionsAccepted++;
    this.stats.connectionsActive = this.conns.size;
    if (this.current.faults.acceptNoRead) socket.pause();
  }

  onFrame(conn: SimConnection, payload: Buffer): void {
    this.stats.received++;
    let req: IsoMessage;
    try {
      req = this.codec.unpack(payload);
    } catch (e) {
      this.stats.unpackErrors++;
      this.journal.recordError(conn.id, (e as { code?: string }).code ?? 'error', peekMti(this.codec, payload));
      return;
    }
    this.journal.record(conn.id, 'in', req);
    if (isResponseMti(req.mti)) {
      // the 0810 to a key exchange of ours; any other answer is to something we never send: ignored
      const stan = req.getString(11);
      const waiting = req.mti === '0810' && stan !== undefined ? this.exchanges.get(stan) : undefined;
      waiting?.(req, payload);
      return;
    }
    if (this.mac) {
      if (!this.mac.verify(payload, req)) {
        this.stats.macInvalid++;
        return; // a request whose MAC fails is not answered
      }
      this.stats.macVerified++;
    }
    const outage = this.outageMode();
    if (outage === 'down') {
      conn.reset();
      return;
    }
    if (outage === 'silent') {
      this.stats.dropped++;
      return;
    }
    const b = this.current;
    const f = b.faults;
    if (req.mti === '0800') {
      if (f.ignoreEchoes && req.get(70) === '301') {
        this.stats.dropped++;
        return;
      }
      if (this.mac && (req.get(70) === '161' || req.get(70) === '162')) {
        this.answerKeyRequest(conn, req);
        return;
      }
      this.answer(conn, this.networkAnswer(req), 0);
      return;
    }
    if (req.mti === '0500') {
      this.answer(conn, this.totalsAnswer(req), 0);
      return;
    }
    const rule = this.matchRule(req);
    const action = rule?.action ?? 'answer';
    if (action === 'reset' || this.rng.chance(f.resetConnections)) {
      conn.reset();
      return;
    }
    if (action === 'drop' || this.rng.chance(f.neverAnswer)) {
      this.stats.dropped++;
      return;
    }
    let delay = this.sampleLatency(b.latency) + (rule?.delayMs ?? 0);
    if (f.answerLate && this.rng.chance(f.answerLate.probability)) delay += f.answerLate.delayMs;
    // a wrong PIN (or a block that is no format 0 block for the card under our key) is declined, whatever the rules say
    const verdict = this.pin && FINANCIAL.includes(req.mti) ? this.pin.check(req) : null;
    const code =
      verdict === 'wrong' || verdict === 'unreadable' ? this.pin!.wrongPinCode : (rule?.respond ?? (rule ? b.defaultResponseCode : this.defaultCodeFor(req)));
    const answer = this.financialAnswer(req, code);
    if (rule?.approveAmount !== undefined) answer.set(4, String(rule.approveAmount).padStart(12, '0'));
    const pc = req.get(3);
    if (isApproval(code) && typeof pc === 'string' && pc.startsWith('30')) {
      // a balance inquiry: the available balance (amount type 02) of the account DE3 names, in DE49's currency
      const currency = req.get(49);
      const bal = String(rule?.balance ?? DEFAULT_BALANCE).padStart(12, '0');
      answer.set(54, `${pc.slice(2, 4)}02${typeof currency === 'string' ? currency : '000'}C${bal}`);
    }
    this.answer(conn, answer, delay);
  }

  private defaultCodeFor(req: IsoMessage): string {
    return FINANCIAL.includes(req.mti) ? this.current.defaultResponseCode : '00';
  }

  private matchRule(req: IsoMessage): Rule | undefined {
    const amountText = req.get(4);
    const amount = typeof amountText === 'string' ? Number(amountText) : undefined;
    const pan = req.get(2);
    const term = req.get(41);
    const pc = req.get(3);
    for (const r of this.current.rules) {
      const w = r.when ?? {};
      if (!(w.mti ?? FINANCIAL).includes(req.mti)) continue;
      if (w.amountMin !== undefined && (amount === undefined || amount < w.amountMin)) continue;
      if (w.amountMax !== undefined && (amount === undefined || amount > w.amountMax)) continue;
      if (w.panSuffix !== undefined && (typeof pan !== 'string' || !pan.endsWith(w.panSuffix))) continue;
      if (w.terminal !== undefined && term !== w.terminal) continue;
      if (w.processingCode !== undefined && (typeof pc !== 'string' || !pc.startsWith(w.processingCode))) continue;
      return r;
    }
    return undefined;
  }

  private sampleLatency(l: Latency): number {
    switch (l.distribution) {
      case 'fixed':
        return l.ms;
      case 'uniform':
        return l.minMs + this.rng.next() * Math.max(0, l.maxMs - l.minMs);
      case 'normal':
        return Math.max(0, l.meanMs + l.stddevMs * this.rng.normal());
      case 'exponential':
        return -l.meanMs * Math.log(1 - this.rng.next());
    }
  }

  /**
   * A reconciliation request (0500): the 0510 carries the simulator's own totals of that business day (DE15, the
   * year nearest today) and currency (DE50), counted from its journal as its settlement file is, and DE66 1 when
   * they equal the switch's, else 2 (docs/switch.md, "Cut-over totals").
   */
  private totalsAnswer(req: IsoMessage): IsoMessage {
    const mmdd = req.getString(15) ?? '0101';
    const now = new Date();
    const year = [now.getUTCFullYear() - 1, now.getUTCFullYear(), now.getUTCFullYear() + 1]
      .map((y) => ({ y, d: Math.abs(Date.parse(`${y}-${mmdd.slice(0, 2)}-${mmdd.slice(2)}T12:00:00Z`) - now.getTime()) }))
      .sort((a, b) => a.d - b.d)[0]!.y;
    const day = `${year}-${mmdd.slice(0, 2)}-${mmdd.slice(2)}`;
    const currency = req.getString(50) ?? '';
    const cutover = this.settlement.cutover ?? {};
    const mine = settlementItems(this.journal.all()).filter((i) => i.currency === currency && businessDay(new Date(i.at), cutover) === day);
    const sum = (type: string) => mine.filter((i) => i.type === type).reduce((a, i) => ({ n: a.n + 1, amount: a.amount + i.amount }), { n: 0, amount: 0n });
    const [credits, creditRev, debits, debitRev] = [sum('refund'), sum('refund_reversal'), sum('sale'), sum('reversal')];
    const r = new IsoMessage('0510');
    for (const f of [7, 11, 15, 50]) {
      const v = req.get(f);
      if (v !== undefined) r.set(f, v);
    }
    const n10 = (v: number) => String(v).padStart(10, '0');
    const n16 = (v: bigint) => v.toString().padStart(16, '0');
    const fields: Record<number, string> = {
      74: n10(credits.n),
      75: n10(creditRev.n),
      76: n10(debits.n),
      77: n10(debitRev.n),
      86: n16(credits.amount),
      87: n16(creditRev.amount),
      88: n16(debits.amount),
      89: n16(debitRev.amount),
    };
    let same = true;
    for (const [f, v] of Object.entries(fields)) {
      r.set(Number(f), v);
      if (req.getString(Number(f)) !== v) same = false;
    }
    return r.set(39, '00').set(66, same ? '1' : '2');
  }

  private networkAnswer(req: IsoMessage): IsoMessage {
    const r = new IsoMessage('0810');
    for (const f of [7, 11, 70]) {
      const v = req.get(f);
      if (v !== undefined) r.set(f, v);
    }
    return r.set(39, '00');
  }

  /**
   * The switch asks for a new key (0800 DE70 161): the 0810 carries one under the ZMK, MACed under the key in use,
   * which the simulator leaves for the new one once it is written (unless its check value was sent wrong: the switch
   * then refuses the key and keeps the old one, and so does the simulator).
   */
  private answerKeyRequest(conn: SimConnection, req: IsoMessage): void {
    const mac = this.mac!;
    const r = this.networkAnswer(req);
    if (!mac.zmk) {
      this.answerNow(conn, r.set(39, '12'));
      return;
    }
    const wrong = this.macFaults.wrongKcv ?? false;
    const { key, fieldValue } = mac.newKey((n) => this.randomBytes(n), wrong);
    this.answerNow(conn, r.set(mac.keyField, fieldValue));
    if (!wrong) {
      mac.tak = key;
      this.stats.keyChanges++;
    }
  }

  private financialAnswer(req: IsoMessage, code: string): IsoMessage {
    const r = new IsoMessage(responseMti(req.mti));
    for (const f of this.echoFields) {
      const v = req.get(f);
      if (v !== undefined) r.set(f, v);
    }
    if (!r.has(37) && this.hasRrn) r.set(37, this.rng.digits(12));
    if (isApproval(code) && (req.mti === '0100' || req.mti === '0200')) r.set(38, this.rng.alnum(6));
    return r.set(39, code);
  }

  private answer(conn: SimConnection, resp: IsoMessage, delayMs: number): void {
    if (delayMs <= 0) this.answerNow(conn, resp);
    else {
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.answerNow(conn, resp);
      }, delayMs);
      this.timers.add(t);
    }
  }

  private answerNow(conn: SimConnection, resp: IsoMessage): void {
    if (conn.closed) return;
    if (this.outageMode() === 'silent') {
      this.stats.dropped++;
      return;
    }
    const badMac = !!this.macFaults.badMac && !resp.mti.startsWith('08');
    let bytes = this.mac ? this.mac.pack(resp, this.mac.tak, badMac) : this.codec.pack(resp);
    const f = this.current.faults;
    if (resp.mti !== '0810' && this.rng.chance(f.garbageFrames)) {
      this.stats.garbageSent++;
      bytes = Buffer.from(Array.from({ length: bytes.length }, () => this.rng.int(0, 255)));
      bytes[0] = 0xff; // never a readable MTI
    } else {
      this.journal.record(conn.id, 'out', resp);
    }
    const partial = this.rng.chance(f.partialFrames);
    if (partial) this.stats.partialSent++;
    this.stats.answered++;
    conn.send(bytes, partial);
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const c of [...this.conns]) {
      c.closed = true;
      c.socket.destroy();
    }
    await Promise.all([new Promise<void>((r) => this.server.close(() => r())), this.control?.close()]);
  }
}

/** Starts an acquirer simulator on a port (0 = free) with its control API. */
export async function startAcquirerSimulator(opts: AcquirerSimulatorOptions = {}): Promise<AcquirerSimulator> {
  const sim = new Sim(opts);
  await sim.start(opts);
  return sim;
}
