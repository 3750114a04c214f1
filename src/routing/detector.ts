/**
 * Failure detector (after RBKmoney fault-detector, docs/architecture.md, "Algorithms"), per service id (an acquirer id or a
 * terminal id): the switch registers the start of every call at dispatch and its finish, error or timeout.
 *
 * Outcomes are counted in buckets: coarse buckets (2 s over 60 s) give the linearly weighted failure score
 * (newest bucket weight n, oldest 1; empty buckets are skipped instead of reading as healthy), and fine
 * buckets (250 ms over the last 1 s) give the recent failure rate that makes detection fast.
 *
 * A call still running past its time limit is counted as a failure at its deadline (the late finish is then
 * ignored). Fixes over the original: a minimum volume before a route is judged dead, and fast signals
 * (connection refused/reset) that judge a route dead at once when nothing succeeded recently.
 *
 * A service is dead when
 *   (a) recent volume ≥ minVolume and recent failure rate ≥ deadThreshold, or
 *   (b) recent fast failures ≥ fastFailures and no recent success, or
 *   (c) window volume ≥ minVolume and weighted score ≥ deadThreshold, unless recent successes show it works
 *       again (at least one recent success and recent rate < deadThreshold).
 * A dead service grants one probe call per probeIntervalMs: its success brings it back. In memory that is per
 * instance; the Redis store grants it to one instance of the cluster at a time (a lease, detector-redis.ts).
 *
 * Two stores behind one class hierarchy: in memory (this file) and Redis (detector-redis.ts), shared by
 * every switch instance.
 */
import type { HealthView } from './selector.js';
import { MinHeap } from './min-heap.js';

export interface DetectorOptions {
  bucketMs: number;
  windowMs: number;
  recentBucketMs: number;
  recentMs: number;
  minVolume: number;
  deadThreshold: number;
  fastFailures: number;
  /** Time limit of a call when start() is given none. */
  defaultTimeoutMs: number;
  probeIntervalMs: number;
  /** Clock (ms); injectable for tests and simulations. */
  now: () => number;
}

export const DEFAULT_DETECTOR_OPTIONS: Readonly<DetectorOptions> = Object.freeze({
  bucketMs: 2000,
  windowMs: 60_000,
  recentBucketMs: 250,
  recentMs: 1000,
  minVolume: 20,
  deadThreshold: 0.5,
  fastFailures: 3,
  defaultTimeoutMs: 5000,
  probeIntervalMs: 1000,
  now: Date.now,
});

export type FailureKind = 'error' | 'timeout' | 'fast';

export interface ServiceHealth {
  alive: boolean;
  /** Linearly weighted failure score over the window, 0..1. */
  score: number;
  /** Calls counted in the window. */
  volume: number;
  /** Failure rate over the recent window, 0..1. */
  recentRate: number;
  recentVolume: number;
  recentFast: number;
  reason: 'ok' | 'recent_failures' | 'fast_failures' | 'window_score' | 'awaiting_probe';
}

/** A registered call; pass it back to finish() or fail(). */
export interface CallToken {
  readonly services: readonly string[];
  readonly startedAt: number;
  readonly deadline: number;
  /** Set once the outcome is counted (including a timeout at the deadline). */
  settled: boolean;
}

export interface FailureDetector extends HealthView {
  /** Register a call at dispatch to every service in `services` (e.g. [acquirerId, terminalId]). */
  start(services: string | readonly string[], timeoutMs?: number): CallToken;
  /** The call got an answer (any response code: the service is reachable). */
  finish(token: CallToken): void;
  /** The call failed; 'fast' for connection refused/reset (counts at once). */
  fail(token: CallToken, kind?: FailureKind): void;
  /**
   * The call never left this switch for a reason that says nothing about the service (its breaker open, a local
   * cap, a message that could not be packed): settled, counted neither way.
   */
  cancel(token: CallToken): void;
  health(serviceId: string): ServiceHealth;
  /** True when the shared store is unreachable and every route is treated as alive. */
  readonly degraded: boolean;
  close(): Promise<void>;
}

/** One bucket's counts: successes, failures, fast failures. */
export interface Bucket {
  idx: number;
  s: number;
  f: number;
  x: number;
}

/** Fixed-size ring of buckets addressed by absolute bucket index. */
export class BucketRing {
  readonly slots: Bucket[];
  constructor(readonly size: number) {
    this.slots = Array.from({ length: size }, () => ({ idx: -1, s: 0, f: 0, x: 0 }));
  }
  at(idx: number): Bucket {
    const b = this.slots[idx % this.size]!;
    if (b.idx !== idx) {
      b.idx = idx;
      b.s = 0;
      b.f = 0;
      b.x = 0;
    }
    return b;
  }
  add(idx: number, s: number, f: number, x: number): void {
    if (this.slots[idx % this.size]!.idx > idx) return; // older than the ring: already out of the window
    const b = this.at(idx);
    b.s += s;
    b.f += f;
    b.x += x;
  }
  /** Replace the contents (for a snapshot read from a shared store). */
  reset(): void {
    for (const b of this.slots) b.idx = -1;
  }
}

export interface ServiceCounts {
  coarse: BucketRing;
  fine: BucketRing;
}

export function newCounts(o: DetectorOptions): ServiceCounts {
  return {
    coarse: new BucketRing(Math.ceil(o.windowMs / o.bucketMs)),
    fine: new BucketRing(Math.ceil(o.recentMs / o.recentBucketMs)),
  };
}

/** Pure evaluation of one service's counts at time `now`. */
export function evaluateHealth(c: ServiceCounts, now: number, o: DetectorOptions): ServiceHealth {
  const n = c.coarse.size;
  const cur = Math.floor(now / o.bucketMs);
  let wsum = 0;
  let score = 0;
  let volume = 0;
  for (const b of c.coarse.slots) {
    if (b.idx < 0 || b.idx > cur || b.idx <= cur - n) continue;
    const v = b.s + b.f;
    if (v === 0) continue;
    const w = b.idx - (cur - n); // newest n, oldest 1
    wsum += w;
    score += (w * b.f) / v;
    volume += v;
  }
  score = wsum > 0 ? score / wsum : 0;
  const fcur = Math.floor(now / o.recentBucketMs);
  const fn = c.fine.size;
  let rs = 0;
  let rf = 0;
  let rx = 0;
  for (const b of c.fine.slots) {
    if (b.idx < 0 || b.idx > fcur || b.idx <= fcur - fn) continue;
    rs += b.s;
    rf += b.f;
    rx += b.x;
  }
  const rv = rs + rf;
  const recentRate = rv > 0 ? rf / rv : 0;
  let reason: ServiceHealth['reason'] = 'ok';
  if (rv >= o.minVolume && recentRate >= o.deadThreshold) reason = 'recent_failures';
  else if (rx >= o.fastFailures && rs === 0) reason = 'fast_failures';
  else if (volume >= o.minVolume && score >= o.deadThreshold && !(rs > 0 && recentRate < o.deadThreshold)) reason = 'window_score';
  return { alive: reason === 'ok', score, volume, recentRate, recentVolume: rv, recentFast: rx, reason };
}

interface HeapEntry {
  deadline: number;
  token: CallToken;
  /** Where the entry is in the heap (-1: not in it). */
  at: number;
}

/** A token as the detector keeps it: with its heap entry, to take it out once the call settles. */
type RunningToken = CallToken & { entry?: HeapEntry };

/**
 * Call registration, timeouts, probes and health caching shared by both stores. Subclasses decide where
 * outcomes are recorded (`record`) and where counts come from (`countsOf`).
 */
export abstract class DetectorBase implements FailureDetector {
  protected readonly o: DetectorOptions;
  /** Running calls, earliest deadline first. */
  private readonly running = new MinHeap<HeapEntry>(
    (x, y) => x.deadline < y.deadline,
    (e, i) => (e.at = i),
  );
  private readonly lastProbe = new Map<string, number>();
  private readonly probesSinceDead = new Map<string, number>();
  private readonly cache = new Map<string, { version: number; tick: number; h: ServiceHealth }>();
  /** Bumped whenever counts change, invalidating cached health. */
  protected version = 0;
  /**
   * Services judged dead, with the time of that judgement. A dead service stays dead until a call started
   * after it (a probe) succeeds: without this latch, a service whose recent window empties once traffic
   * has moved away reads as alive again from its older, healthier buckets, traffic returns, and it flaps.
   */
  private readonly deadSince = new Map<string, number>();

  constructor(options: Partial<DetectorOptions> = {}) {
    this.o = { ...DEFAULT_DETECTOR_OPTIONS, ...options };
  }

  get degraded(): boolean {
    return false;
  }

  /** Count one outcome for a service at time t. */
  protected abstract record(service: string, t: number, kind: 'ok' | 'fail' | 'fast'): void;
  /** The counts a health judgement is made from, or undefined if the service has none. */
  protected abstract countsOf(service: string): ServiceCounts | undefined;

  start(services: string | readonly string[], timeoutMs?: number): CallToken {
    const now = this.o.now();
    this.sweep(now);
    const list = typeof services === 'string' ? [services] : services;
    const token: RunningToken = { services: list, startedAt: now, deadline: now + (timeoutMs ?? this.o.defaultTimeoutMs), settled: false };
    const entry: HeapEntry = { deadline: token.deadline, token, at: -1 };
    token.entry = entry;
    this.running.push(entry);
    return token;
  }

  /**
   * A call settled before its deadline leaves the heap at once: waiting for the deadline kept every call of the
   * last timeout's worth alive (100,000 at 10,000 calls/s and 10 s), which made each young-generation GC copy them.
   */
  private settle(token: CallToken): void {
    token.settled = true;
    const entry = (token as RunningToken).entry;
    if (entry && entry.at >= 0) this.running.removeAt(entry.at);
    (token as RunningToken).entry = undefined;
  }

  finish(token: CallToken): void {
    const now = this.o.now();
    this.sweep(now);
    if (token.settled) return; // already counted as a timeout at its deadline
    this.settle(token);
    const kind = now > token.deadline ? 'fail' : 'ok';
    for (const s of token.services) {
      this.record(s, now, kind);
      if (kind === 'ok') {
        const since = this.deadSince.get(s);
        if (since !== undefined && token.startedAt >= since) this.deadSince.delete(s);
      }
    }
    this.version++;
  }

  fail(token: CallToken, kind: FailureKind = 'error'): void {
    const now = this.o.now();
    this.sweep(now);
    if (token.settled) return;
    this.settle(token);
    for (const s of token.services) this.record(s, now, kind === 'fast' ? 'fast' : 'fail');
    this.version++;
    for (const s of token.services) this.health(s); // latch every service of the call that is now dead
  }

  cancel(token: CallToken): void {
    if (!token.settled) this.settle(token);
  }

  /** Count running calls past their deadline as failures (at their deadline). */
  sweep(now: number = this.o.now()): void {
    let e = this.running.peek();
    let failed: Set<string> | undefined;
    while (e && e.deadline <= now) {
      this.running.pop();
      (e.token as RunningToken).entry = undefined;
      if (!e.token.settled) {
        e.token.settled = true;
        for (const s of e.token.services) {
          this.record(s, e.deadline, 'fail');
          (failed ??= new Set()).add(s);
        }
        this.version++;
      }
      e = this.running.peek();
    }
    if (failed) for (const s of failed) this.health(s); // latch every service that is now dead
  }

  /** Number of registered calls not yet settled or swept (a bound for tests). */
  get runningCount(): number {
    return this.running.size;
  }

  health(serviceId: string): ServiceHealth {
    const now = this.o.now();
    this.sweep(now);
    const tick = Math.floor(now / this.o.recentBucketMs);
    const cached = this.cache.get(serviceId);
    if (cached && cached.version === this.version && cached.tick === tick) return cached.h;
    const counts = this.countsOf(serviceId);
    let h: ServiceHealth = counts
      ? evaluateHealth(counts, now, this.o)
      : { alive: true, score: 0, volume: 0, recentRate: 0, recentVolume: 0, recentFast: 0, reason: 'ok' };
    if (!h.alive) {
      if (!this.deadSince.has(serviceId)) this.deadSince.set(serviceId, now);
    } else if (h.alive && this.deadSince.has(serviceId) && !this.degraded) {
      // Another instance's successful probe shows in the shared counts: a success in a recent bucket after
      // the one in which this instance judged the service dead releases the latch here too.
      const since = Math.floor(this.deadSince.get(serviceId)! / this.o.recentBucketMs);
      const probed = counts?.fine.slots.some((b) => b.idx > since && b.s > 0) ?? false;
      if (probed) this.deadSince.delete(serviceId);
      else h = { ...h, alive: false, reason: 'awaiting_probe' };
    }
    this.cache.set(serviceId, { version: this.version, tick, h });
    return h;
  }

  isAlive(serviceId: string): boolean {
    return this.health(serviceId).alive;
  }

  failureScore(serviceId: string): number {
    return this.health(serviceId).score;
  }

  /**
   * One probe per interval for a dead service. Each probe is a real call that is likely lost while the
   * service is down, so after the first failed probe the interval doubles (2 × probeIntervalMs), trading a
   * second of recovery time for half the probe losses; it starts again from probeIntervalMs once alive.
   */
  tryProbe(serviceId: string): boolean {
    if (this.isAlive(serviceId)) {
      this.resetProbes(serviceId);
      return false;
    }
    const last = this.lastProbe.get(serviceId);
    if (last !== undefined && this.o.now() - last < this.probeInterval(serviceId)) return false;
    this.noteProbe(serviceId);
    return true;
  }

  /** How long after this instance's last probe of a dead service the next one is due (ms). */
  protected probeInterval(serviceId: string): number {
    const n = this.probesSinceDead.get(serviceId) ?? 0;
    return this.o.probeIntervalMs * Math.min(2, 2 ** Math.max(0, n - 1));
  }

  /** A probe of a dead service is being sent now. */
  protected noteProbe(serviceId: string): void {
    this.lastProbe.set(serviceId, this.o.now());
    this.probesSinceDead.set(serviceId, (this.probesSinceDead.get(serviceId) ?? 0) + 1);
  }

  /** The service is alive: the next time it dies, probing starts again from probeIntervalMs. */
  protected resetProbes(serviceId: string): void {
    this.probesSinceDead.delete(serviceId);
  }

  async close(): Promise<void> {
    // nothing by default
  }
}

/** The detector of one switch instance, counts in memory. */
export class MemoryFailureDetector extends DetectorBase {
  private readonly counts = new Map<string, ServiceCounts>();

  protected record(service: string, t: number, kind: 'ok' | 'fail' | 'fast'): void {
    let c = this.counts.get(service);
    if (!c) {
      c = newCounts(this.o);
      this.counts.set(service, c);
    }
    const ok = kind === 'ok' ? 1 : 0;
    const bad = 1 - ok;
    const fast = kind === 'fast' ? 1 : 0;
    c.coarse.add(Math.floor(t / this.o.bucketMs), ok, bad, fast);
    c.fine.add(Math.floor(t / this.o.recentBucketMs), ok, bad, fast);
  }

  protected countsOf(service: string): ServiceCounts | undefined {
    return this.counts.get(service);
  }
}
