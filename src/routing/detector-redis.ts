/**
 * Failure detector shared by every switch instance through Redis. Each instance registers its own calls
 * (timeouts are swept locally, see DetectorBase) and, every `syncMs`, sends its pending bucket increments
 * and reads back every service's buckets in one pipeline, so all instances judge from the same counts and
 * agree within about two sync periods.
 *
 * Layout: hash `<prefix>fd:<service>` with fields `c:<idx>:<s|f|x>` (coarse buckets) and `r:<idx>:<s|f|x>`
 * (recent buckets), expiring after the window; set `<prefix>fd:services` lists the services.
 *
 * Probes of a dead service are cluster-wide: one instance at a time holds the lease `<prefix>fd:probe:<service>`
 * (SET NX PX, the probe interval), asked for in the same sync pipeline by the instances whose traffic wants the
 * route, so a dead acquirer sees one probe per interval from the whole cluster, not one per instance
 * (docs/routing.md, "Probes"). While Redis is unreachable each instance probes on its own again.
 *
 * If Redis cannot be reached the detector fails open: every route is alive, `degraded` is true, a log line
 * says so (once per transition) and `onDegradedChange` lets the caller set a metric.
 */
import { createLogger } from '../log.js';
import type { Redis } from 'ioredis';
import { DetectorBase, newCounts, type DetectorOptions, type ServiceCounts } from './detector.js';
import { renderError } from '../errors.js';

export interface DetectorLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface RedisDetectorOptions extends Partial<DetectorOptions> {
  redis: Redis;
  /** Key prefix, e.g. "sw:" (default). */
  prefix?: string;
  /** Period of flush + read (ms). Default 100. */
  syncMs?: number;
  logger?: DetectorLogger;
  onDegradedChange?: (degraded: boolean) => void;
  /** Pending increments kept while Redis is down, per service (beyond that they are dropped). */
  maxPendingFields?: number;
}

export class RedisFailureDetector extends DetectorBase {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly syncMs: number;
  private readonly log: DetectorLogger;
  private readonly onDegradedChange: ((d: boolean) => void) | undefined;
  private readonly maxPendingFields: number;
  private pending = new Map<string, Map<string, number>>();
  private snapshot = new Map<string, ServiceCounts>();
  private readonly known = new Set<string>();
  private readonly registered = new Set<string>();
  private stale: [string, string[]][] = [];
  private isDegraded = false;
  /** Dead services this instance's traffic wants to probe, with the lease length to ask for (ms). */
  private wanted = new Map<string, number>();
  /** Probe leases this instance holds and has not used yet: service → lease end (ms). */
  private readonly grants = new Map<string, number>();
  /** Written into the leases this instance holds (who probes, for an operator reading Redis). */
  private readonly instanceId = `${process.pid}-${Math.floor(Date.now() % 1e9).toString(36)}`;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private closed = false;

  constructor(opts: RedisDetectorOptions) {
    super(opts);
    this.redis = opts.redis;
    this.prefix = opts.prefix ?? 'sw:';
    this.syncMs = opts.syncMs ?? 100;
    this.log = opts.logger ?? createLogger({ name: 'failure-detector' });
    this.onDegradedChange = opts.onDegradedChange;
    this.maxPendingFields = opts.maxPendingFields ?? 10_000;
    this.timer = setInterval(() => void this.sync(), this.syncMs);
    this.timer.unref();
  }

  override get degraded(): boolean {
    return this.isDegraded;
  }

  private key(service: string): string {
    return `${this.prefix}fd:${service}`;
  }

  private get servicesKey(): string {
    return `${this.prefix}fd:services`;
  }

  protected record(service: string, t: number, kind: 'ok' | 'fail' | 'fast'): void {
    let p = this.pending.get(service);
    if (!p) {
      p = new Map();
      this.pending.set(service, p);
    }
    if (p.size >= this.maxPendingFields) return;
    const ci = Math.floor(t / this.o.bucketMs);
    const ri = Math.floor(t / this.o.recentBucketMs);
    const inc = (f: string): void => void p.set(f, (p.get(f) ?? 0) + 1);
    if (kind === 'ok') {
      inc(`c:${ci}:s`);
      inc(`r:${ri}:s`);
    } else {
      inc(`c:${ci}:f`);
      inc(`r:${ri}:f`);
      if (kind === 'fast') {
        inc(`c:${ci}:x`);
        inc(`r:${ri}:x`);
      }
    }
    this.known.add(service);
    // Reflect our own outcome locally until the next read replaces the snapshot.
    let c = this.snapshot.get(service);
    if (!c) {
      c = newCounts(this.o);
      this.snapshot.set(service, c);
    }
    const ok = kind === 'ok' ? 1 : 0;
    const x = kind === 'fast' ? 1 : 0;
    c.coarse.add(ci, ok, 1 - ok, x);
    c.fine.add(ri, ok, 1 - ok, x);
  }

  protected countsOf(service: string): ServiceCounts | undefined {
    return this.snapshot.get(service);
  }

  /**
   * A probe is granted only to the holder of the service's lease; asking takes effect at the next sync
   * (within syncMs). Degraded, the per-instance rule of DetectorBase applies.
   */
  override tryProbe(serviceId: string): boolean {
    if (this.isDegraded) return super.tryProbe(serviceId);
    if (this.isAlive(serviceId)) {
      this.resetProbes(serviceId);
      this.grants.delete(serviceId);
      this.wanted.delete(serviceId);
      return false;
    }
    const until = this.grants.get(serviceId);
    if (until !== undefined) {
      this.grants.delete(serviceId);
      if (until > this.o.now()) {
        this.noteProbe(serviceId);
        return true;
      }
    }
    this.wanted.set(serviceId, this.probeInterval(serviceId));
    return false;
  }

  private probeKey(service: string): string {
    return `${this.prefix}fd:probe:${service}`;
  }

  // Degraded (Redis unreachable): health and probes go on from this instance's own counts, which record()
  // keeps adding to the last shared snapshot; the next successful read replaces them (docs/faults.md F17).

  private setDegraded(d: boolean, reason?: string): void {
    if (d === this.isDegraded) return;
    this.isDegraded = d;
    this.version++;
    if (d) {
      this.log.warn({ code: 'SW_ERR_DETECTOR_UNAVAILABLE', reason }, renderError('SW_ERR_DETECTOR_UNAVAILABLE', { reason: reason ?? 'unknown' }));
    } else {
      this.log.info({ event: 'detector_store_recovered' }, 'failure detector store is reachable again; health judgements resume');
    }
    try {
      this.onDegradedChange?.(d);
    } catch {
      // a metric hook must not break detection
    }
  }

  /** Flush pending increments and read every service's buckets (one pipeline). Safe to call any time. */
  sync(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.inFlight ??= this.doSync().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async doSync(): Promise<void> {
    this.sweep();
    const pending = this.pending;
    this.pending = new Map();
    const ttl = this.o.windowMs + 2 * this.o.bucketMs;
    const p = this.redis.pipeline();
    for (const [service, fields] of pending) {
      const k = this.key(service);
      for (const [f, n] of fields) p.hincrby(k, f, n);
      p.pexpire(k, ttl);
      if (!this.registered.has(service)) p.sadd(this.servicesKey, service);
    }
    if (pending.size > 0) p.pexpire(this.servicesKey, ttl * 10);
    for (const [k, fields] of this.stale) p.hdel(k, ...fields);
    this.stale = [];
    const asked = [...this.wanted];
    this.wanted = new Map();
    const leasesAt = p.length;
    const askedAt = this.o.now();
    for (const [service, ms] of asked) p.set(this.probeKey(service), this.instanceId, 'PX', ms, 'NX');
    p.smembers(this.servicesKey);
    const reading = [...this.known];
    for (const s of reading) p.hgetall(this.key(s));
    let results: [Error | null, unknown][] | null;
    try {
      results = await p.exec();
    } catch (e) {
      results = null;
      this.setDegraded(true, e instanceof Error ? e.message : String(e));
    }
    const firstError = results?.find(([err]) => err !== null)?.[0];
    if (!results || firstError) {
      if (firstError) this.setDegraded(true, firstError.message);
      // Keep what we could not send (bounded), so a short blip loses nothing.
      for (const [service, fields] of pending) {
        const cur = this.pending.get(service) ?? new Map<string, number>();
        for (const [f, n] of fields) if (cur.size < this.maxPendingFields) cur.set(f, (cur.get(f) ?? 0) + n);
        this.pending.set(service, cur);
      }
      return;
    }
    for (const s of pending.keys()) this.registered.add(s);
    asked.forEach(([service, ms], i) => {
      if (results[leasesAt + i]![1] === 'OK') this.grants.set(service, askedAt + ms);
    });
    const reads = results.slice(results.length - reading.length - 1);
    const members = (reads[0]![1] as string[] | null) ?? [];
    for (const m of members) this.known.add(m);
    const next = new Map<string, ServiceCounts>();
    const now = this.o.now();
    const minC = Math.floor(now / this.o.bucketMs) - Math.ceil(this.o.windowMs / this.o.bucketMs);
    const minR = Math.floor(now / this.o.recentBucketMs) - Math.ceil(this.o.recentMs / this.o.recentBucketMs);
    reading.forEach((service, i) => {
      const h = (reads[i + 1]![1] as Record<string, string> | null) ?? {};
      const c = newCounts(this.o);
      const old: string[] = [];
      for (const [field, v] of Object.entries(h)) {
        const [ring, idxS, kind] = field.split(':') as [string, string, string];
        const idx = Number(idxS);
        const n = Number(v);
        if (!Number.isFinite(idx) || !Number.isFinite(n)) continue;
        const isCoarse = ring === 'c';
        if (idx <= (isCoarse ? minC : minR)) {
          old.push(field);
          continue;
        }
        (isCoarse ? c.coarse : c.fine).add(idx, kind === 's' ? n : 0, kind === 'f' ? n : 0, kind === 'x' ? n : 0);
      }
      if (old.length > 0) this.stale.push([this.key(service), old]);
      next.set(service, c);
    });
    // Outcomes recorded locally while the pipeline was in flight are in this.pending: add them on top.
    for (const [service, fields] of this.pending) {
      const c = next.get(service) ?? newCounts(this.o);
      for (const [field, n] of fields) {
        const [ring, idxS, kind] = field.split(':') as [string, string, string];
        (ring === 'c' ? c.coarse : c.fine).add(Number(idxS), kind === 's' ? n : 0, kind === 'f' ? n : 0, kind === 'x' ? n : 0);
      }
      next.set(service, c);
    }
    this.snapshot = next;
    this.version++;
    this.setDegraded(false);
  }

  override async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.inFlight) await this.inFlight.catch(() => undefined);
    if (!this.closed && !this.isDegraded && this.pending.size > 0) await this.sync().catch(() => undefined);
    this.closed = true;
  }
}
