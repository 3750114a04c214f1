/**
 * The acquirers the rules describe: a multiplexed link each (and, for acquirers with port 0, a stand-in host
 * started by the injected `startSimulator`: the entry point's built-in simulators), wrapped so every request is
 * seen by the failure detector, the success-rate tracker and the acquirer's circuit breaker.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { loadWireCodec, type IsoMessage } from '../iso8583/index.js';
import { AcquirerLink, type LinkTlsOptions, type UnmatchedHandler } from '../net/index.js';
import { framerByName } from '../wire/index.js';
import { isSwitchError, SwitchError, type ErrorCode } from '../errors.js';
import type { AcquirerDef } from '../routing/types.js';
import type { FailureDetector } from '../routing/detector.js';
import type { LinkBreakers } from '../routing/breakers.js';
import type { SuccessRateTracker } from '../routing/success-rate.js';
import type { KeyInfo, KeyStore } from '../security/key-store.js';
import { acquirerSecurity, importFromKeyField, type KeyExchangeSettings } from './acquirer-mac.js';

/**
 * Requests this switch refused to send, for reasons that say nothing about the acquirer: its breaker open, its own
 * caps, a message it could not pack or key. Neither the failure detector nor the breaker counts them; counting them
 * made a busy or misconfigured switch mark a healthy acquirer down.
 */
const LOCAL_REFUSALS = new Set<ErrorCode>([
  'SW_ERR_LINK_INFLIGHT_LIMIT',
  'SW_ERR_LINK_BACKPRESSURE',
  'SW_ERR_BREAKER_OPEN',
  'SW_ERR_LINK_PACK_FAILED',
  'SW_ERR_LINK_DUPLICATE_KEY',
  'SW_ERR_LINK_MISSING_KEY_FIELD',
]);

/**
 * Errors that mean the request was never written to the acquirer: try the next route. They are the local refusals
 * and the link having no connection (not ready, closed). Anything else (a timeout, a connection lost with it in
 * flight, even a link closed under it) may have reached the acquirer: it is reversed, never sent elsewhere
 * (docs/faults.md F09).
 */
const FAST_FAILURES = new Set<ErrorCode>([...LOCAL_REFUSALS, 'SW_ERR_LINK_NOT_READY', 'SW_ERR_LINK_CLOSED', 'SW_ERR_NO_LINK']);

/** A local refusal (LOCAL_REFUSALS): neither the detector nor the acquirer's breaker counts it as a failure. */
export function isLocalRefusal(e: unknown): boolean {
  return isSwitchError(e) && LOCAL_REFUSALS.has(e.code);
}

export function isFastFailure(e: unknown): boolean {
  return isSwitchError(e) && FAST_FAILURES.has(e.code);
}

/**
 * The link's TLS options from the acquirer's `link.tls` (docs/network.md, "Acquirer link TLS"), its PEM files read
 * now (relative paths from the working directory): a file missing or unreadable is SW_ERR_LINK_TLS_FILE naming the
 * acquirer and the path. The server name defaults to the host (as SNI too), except an IP address, which is checked
 * against the certificate's IP entries and sent as no SNI. Undefined when the acquirer has no `tls`.
 */
export function acquirerTls(def: AcquirerDef, host: string): LinkTlsOptions | undefined {
  const t = def.link.tls;
  if (!t) return undefined;
  if ((t.cert === undefined) !== (t.key === undefined)) {
    throw new SwitchError('SW_ERR_CONFIG_INVALID', {
      path: `acquirers.${def.id}.link.tls`,
      reason: 'cert and key go together (a client certificate and its key)',
    });
  }
  const read = (what: 'ca' | 'cert' | 'key', file: string): Buffer => {
    const full = path.resolve(file);
    try {
      return readFileSync(full);
    } catch (e) {
      const reason = (e as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new SwitchError('SW_ERR_LINK_TLS_FILE', { acquirer: def.id, what, path: full, reason }, { cause: e });
    }
  };
  const servername = t.servername ?? (isIP(host) === 0 ? host : undefined);
  const pins = t.pin === undefined ? [] : typeof t.pin === 'string' ? [t.pin] : t.pin;
  return {
    ...(t.ca !== undefined ? { ca: read('ca', t.ca) } : {}),
    ...(t.cert !== undefined && t.key !== undefined ? { cert: read('cert', t.cert), key: read('key', t.key) } : {}),
    ...(servername !== undefined ? { servername } : {}),
    minVersion: t.minVersion ?? 'TLSv1.2',
    ...(pins.length > 0 ? { pins } : {}),
  };
}

/** A stand-in acquirer host for an acquirer configured with port 0 (docs/switch.md, "Built-in simulators"). */
export interface BuiltInSimulator {
  readonly host: string;
  readonly port: number;
  /** Its HTTP control API, if it has one. */
  readonly controlUrl: string | null;
  close(): Promise<void>;
}

/** Starts the stand-in host of an acquirer configured with port 0; injected by the entry point. */
export type StartBuiltInSimulator = (def: AcquirerDef) => Promise<BuiltInSimulator>;

export interface Acquirer {
  def: AcquirerDef;
  link: AcquirerLink;
  simulator: BuiltInSimulator | null;
  timeoutMs: number;
  /** A call running longer counts as failing for the failure detector (≤ timeoutMs). */
  slowMs: number;
  /** The acquirer's key exchange (docs/security.md, "Key exchange"), or null. */
  keyExchange: KeyExchangeSettings | null;
}

export interface AcquirerSetOptions {
  acquirers: readonly AcquirerDef[];
  detector: FailureDetector;
  breakers: LinkBreakers;
  successRate: SuccessRateTracker;
  builtInSimulators: boolean;
  /** Subscribes to a link before it starts (metrics see its first connection); the returned function unsubscribes at close. */
  observeLink?: (link: AcquirerLink) => () => void;
  /** Starts the host of an acquirer with port 0 (when builtInSimulators); without it such an acquirer is refused. */
  startSimulator?: StartBuiltInSimulator;
  timeoutOverrideMs?: number;
  onUnmatched: UnmatchedHandler;
  /** Card-security keys: needed by an acquirer with `mac` or `key_exchange` (else SW_ERR_SEC_NO_KEY_STORE at start). */
  keys?: KeyStore;
  /** Told what each apply() changed, for metrics. */
  onApplied?: (changes: AcquirerChanges) => void;
  log: Logger;
}

/**
 * What one apply() did to the running acquirers (docs/switch.md, "Acquirers on activation"): connected new ones,
 * replaced the link of ones whose connection settings changed, took the new definition of ones where only
 * the response-code maps, settlement or names changed, retired the ones no longer configured, and the ones it
 * could not build (they keep what they had: an added one stays absent, a changed one keeps its old link).
 */
export interface AcquirerChanges {
  added: string[];
  replaced: string[];
  updated: string[];
  removed: string[];
  failed: Array<{ acquirer: string; code: string; message: string }>;
}

/** The parts of a definition its link is built from: a change to any of them builds a new link. */
function linkPart(def: AcquirerDef): unknown {
  return { link: def.link, mac: def.mac ?? null, key_exchange: def.key_exchange ?? null, simulator: def.simulator ?? null };
}

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

export class AcquirerSet {
  private readonly byId = new Map<string, Acquirer>();
  private readonly unobserve = new Map<Acquirer, () => void>();
  /** Acquirers retired by an apply, finishing what they have in flight before their link closes. */
  private readonly retiring = new Set<Promise<void>>();
  /** apply() calls run one after another, in the order they were made. */
  private applying: Promise<unknown> = Promise.resolve();

  private constructor(private readonly o: AcquirerSetOptions) {}

  static async start(o: AcquirerSetOptions): Promise<AcquirerSet> {
    const set = new AcquirerSet(o);
    try {
      for (const def of o.acquirers) set.byId.set(def.id, await set.build(def));
    } catch (e) {
      // one acquirer refused (a TLS file missing, a bad option): the links and simulators already started go too
      await set.close();
      throw e;
    }
    return set;
  }

  /**
   * Brings the running acquirers to `defs` (an activated acquirers.yaml) without a restart (docs/switch.md,
   * "Acquirers on activation"). A new acquirer is built and given its connect timeout to sign on before apply
   * resolves; a changed link is built beside the old one, swapped in, and the old one retired; a change that no
   * link is built from (response codes, settlement, name) takes effect at once. With `remove` (the default), an
   * acquirer `defs` no longer names is retired: no new request reaches it, what it has in flight finishes (up to
   * its response timeout), then it signs off and closes. An acquirer that cannot be built is logged and reported
   * in `failed`; the others still apply. `build: false` only retires (the second half of an activation, after the
   * rules were swapped in: what could not be built is not tried, nor counted, twice).
   */
  apply(defs: readonly AcquirerDef[], o: { build?: boolean; remove?: boolean } = {}): Promise<AcquirerChanges> {
    const run = this.applying.then(() => this.applyNow(defs, o.build ?? true, o.remove ?? true));
    this.applying = run.catch(() => undefined);
    return run;
  }

  private async applyNow(defs: readonly AcquirerDef[], build: boolean, remove: boolean): Promise<AcquirerChanges> {
    const ch: AcquirerChanges = { added: [], replaced: [], updated: [], removed: [], failed: [] };
    for (const def of build ? defs : []) {
      const cur = this.byId.get(def.id);
      if (cur && sameJson(cur.def, def)) continue;
      if (cur && sameJson(linkPart(cur.def), linkPart(def))) {
        this.byId.set(def.id, { ...cur, def });
        ch.updated.push(def.id);
        continue;
      }
      try {
        const next = await this.build(def);
        await next.link.waitReady(1, def.link.timeouts_ms.connect).catch(() => undefined);
        this.byId.set(def.id, next);
        if (cur) {
          this.retire(cur);
          ch.replaced.push(def.id);
        } else ch.added.push(def.id);
      } catch (e) {
        const code = isSwitchError(e) ? e.code : 'error';
        const message = e instanceof Error ? e.message : String(e);
        ch.failed.push({ acquirer: def.id, code, message });
        this.o.log.error({ acquirer: def.id, code, reason: message }, cur ? 'acquirer change not applied: its old link stays' : 'new acquirer not started');
      }
    }
    if (remove) {
      const wanted = new Set(defs.map((d) => d.id));
      for (const [id, a] of [...this.byId]) {
        if (wanted.has(id)) continue;
        this.byId.delete(id);
        this.retire(a);
        ch.removed.push(id);
      }
    }
    if (ch.added.length + ch.replaced.length + ch.updated.length + ch.removed.length + ch.failed.length > 0) {
      this.o.log.info({ ...ch, failed: ch.failed.map((f) => f.acquirer) }, 'acquirers applied');
      this.o.onApplied?.(ch);
    }
    return ch;
  }

  /** Out of the set already: finishes its requests in flight (up to its timeout), signs off, closes, stops its simulator. */
  private retire(a: Acquirer): void {
    const done = (async () => {
      const idle = await a.link.whenIdle(a.timeoutMs + 1000);
      if (!idle) this.o.log.warn({ acquirer: a.def.id, inFlight: a.link.inFlight }, 'retired link still had requests in flight at its timeout: closing');
      await a.link.close({ signOff: true }).catch(() => undefined);
      this.unobserve.get(a)?.();
      this.unobserve.delete(a);
      await a.simulator?.close().catch(() => undefined);
    })();
    this.retiring.add(done);
    void done.finally(() => this.retiring.delete(done));
  }

  /** Resolves once every acquirer retired so far has closed. */
  async retired(): Promise<void> {
    await this.applying;
    await Promise.all([...this.retiring]);
  }

  private async build(def: AcquirerDef): Promise<Acquirer> {
    const codec = loadWireCodec(def.link.dialect, def.link.action_codes ? { actionCodes: def.link.action_codes } : {});
    if (def.link.action_codes && codec.spec.version !== 1993) {
      throw new SwitchError('SW_ERR_CONFIG_INVALID', {
        path: `acquirers.${def.id}.link.action_codes`,
        reason: `action codes are ISO 8583:1993; ${def.link.dialect} is 1987 (response_codes maps its codes)`,
      });
    }
    const framer = framerByName(def.link.framer);
    let host = def.link.host ?? '127.0.0.1';
    let port = def.link.port ?? 0;
    let simulator: BuiltInSimulator | null = null;
    if (port === 0 && def.link.tls) {
      throw new SwitchError('SW_ERR_CONFIG_INVALID', {
        path: `acquirers.${def.id}.link.tls`,
        reason: "the built-in simulator (port 0) serves plain TCP: set the host and port of the acquirer's TLS endpoint",
      });
    }
    // read before anything starts for this acquirer: a missing file stops the switch here, naming it
    const tls = acquirerTls(def, host);
    // the key store there, the MAC key in it, the key field in the dialect: checked before anything starts for it
    const security = await acquirerSecurity(def, codec, this.o.keys, this.o.log.child({ acquirer: def.id, module: 'security' }));
    if (port === 0) {
      if (!this.o.builtInSimulators || !this.o.startSimulator) {
        const why = this.o.builtInSimulators ? 'this entry point starts none (npm start does)' : 'builtInSimulators is off';
        throw new SwitchError('SW_ERR_CONFIG_INVALID', {
          path: `acquirers.${def.id}.link.port`,
          reason: `port 0 needs a built-in simulator and ${why}: set the acquirer's host and port`,
        });
      }
      simulator = await this.o.startSimulator(def);
      host = simulator.host;
      port = simulator.port;
      this.o.log.info({ acquirer: def.id, port, control: simulator.controlUrl, dialect: def.link.dialect }, 'built-in acquirer simulator started');
    }
    const timeoutMs = this.o.timeoutOverrideMs || def.link.timeouts_ms.response;
    const link = new AcquirerLink({
      name: def.id,
      host,
      port,
      codec,
      framer,
      connections: def.link.connections,
      defaultTimeoutMs: timeoutMs,
      connectTimeoutMs: def.link.timeouts_ms.connect,
      // half-open detection within the echo interval (docs/faults.md F18): a connection silent for a whole
      // interval is dead; an echo goes out after half of it, so a healthy idle one always has read by then
      echoIdleMs: Math.floor((def.link.timeouts_ms.echo_interval ?? 30_000) / 2),
      readTimeoutMs: def.link.timeouts_ms.echo_interval ?? 30_000,
      maxInFlight: 20_000,
      // back-off between connection attempts, doubling from 100 ms: capped so a link is back soon after its acquirer
      reconnect: { maxMs: def.link.timeouts_ms.reconnect_max ?? 10_000 },
      logger: this.o.log.child({ acquirer: def.id }),
      ...(tls ? { tls } : {}),
      ...(security.guard ? { guard: security.guard } : {}),
      ...(security.onNetworkRequest ? { onNetworkRequest: security.onNetworkRequest } : {}),
    });
    link.onUnmatched(this.o.onUnmatched);
    const off = this.o.observeLink?.(link);
    link.start();
    const slowMs = Math.min(timeoutMs, def.link.timeouts_ms.slow ?? timeoutMs);
    const a: Acquirer = { def, link, simulator, timeoutMs, slowMs, keyExchange: security.keyExchange ?? null };
    if (off) this.unobserve.set(a, off);
    return a;
  }

  get(id: string): Acquirer {
    const a = this.byId.get(id);
    if (!a) throw new SwitchError('SW_ERR_NO_LINK', { acquirer: id });
    return a;
  }

  /** The acquirer, or undefined when none by that id runs (never configured, or retired by an activation). */
  find(id: string): Acquirer | undefined {
    return this.byId.get(id);
  }

  all(): Acquirer[] {
    return [...this.byId.values()];
  }

  async waitReady(timeoutMs: number): Promise<void> {
    await Promise.all(this.all().map((a) => a.link.waitReady(1, timeoutMs).catch(() => undefined)));
  }

  nextStan(id: string): string {
    return this.get(id).link.nextStan();
  }

  /**
   * Sends through the acquirer's breaker; the detector sees the start at dispatch and the outcome, with
   * connection-level failures counted at once. `services` are the detector ids (acquirer, terminal).
   */
  async request(id: string, msg: IsoMessage, services: readonly string[], timeoutMs?: number): Promise<IsoMessage> {
    const a = this.get(id);
    const t = timeoutMs ?? a.timeoutMs;
    const token = this.o.detector.start(services, Math.min(t, a.slowMs));
    // the link is an argument, not captured: the breaker outlives a link an activation replaced
    const breaker = this.o.breakers.breaker(id, (link: AcquirerLink, m: IsoMessage, ms: number) => link.request(m, { timeoutMs: ms }));
    try {
      const res = await breaker.fire(a.link, msg, t);
      this.o.detector.finish(token);
      return res;
    } catch (e) {
      const code = isSwitchError(e) ? e.code : (e as { code?: string }).code;
      if (code === 'EOPENBREAKER') {
        this.o.detector.cancel(token);
        throw new SwitchError('SW_ERR_BREAKER_OPEN', { acquirer: id });
      }
      if (isLocalRefusal(e)) {
        this.o.detector.cancel(token);
        throw e;
      }
      const fast = isFastFailure(e) || code === 'SW_ERR_LINK_CONNECTION_LOST';
      this.o.detector.fail(token, code === 'SW_ERR_LINK_TIMEOUT' ? 'timeout' : fast ? 'fast' : 'error');
      throw e;
    }
  }

  /**
   * Asks the acquirer for a new working key (0800 DE70 161) and imports the one its 0810 carries (docs/security.md,
   * "Key exchange"). SW_ERR_SEC_KEY_EXCHANGE when the acquirer has no key exchange configured, or answers other than
   * 00; the store's refusal (SW_ERR_SEC_KCV_MISMATCH, …) as it is. Either way the old key stays in use.
   */
  async requestKeyChange(id: string, timeoutMs?: number): Promise<KeyInfo> {
    const a = this.get(id);
    const kx = a.keyExchange;
    if (!kx || !this.o.keys) throw new SwitchError('SW_ERR_SEC_KEY_EXCHANGE', { acquirer: id, reason: 'it has no key_exchange configured' });
    const r = await a.link.networkManagement('161', {}, timeoutMs);
    const rc = r.getString(39);
    if (rc !== '00') throw new SwitchError('SW_ERR_SEC_KEY_EXCHANGE', { acquirer: id, reason: `it answered 0810 with response code ${String(rc)}` });
    const info = await importFromKeyField(this.o.keys, kx, r);
    this.o.log.info({ acquirer: id, key: info.name, kcv: info.kcv }, 'working key imported from the 0810 to our key change request');
    return info;
  }

  recordOutcome(terminal: string, approved: boolean): void {
    this.o.successRate.record(terminal, approved);
  }

  async close(): Promise<void> {
    await this.applying;
    await Promise.all(this.all().map((a) => a.link.close({ signOff: true }).catch(() => undefined)));
    await Promise.all([...this.retiring]);
    for (const off of this.unobserve.values()) off();
    this.unobserve.clear();
    await Promise.all(this.all().map((a) => a.simulator?.close().catch(() => undefined)));
  }
}
