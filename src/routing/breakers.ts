/**
 * One opossum circuit breaker per acquirer link. opossum's default volumeThreshold of 0 trips on a handful
 * of calls: here a breaker opens only once `volumeThreshold` calls were seen in the rolling window and the
 * error percentage exceeds the threshold; after `resetTimeout` it lets one probe through (half-open).
 * Its state is readable for the selector (isOpen) and for metrics (states()).
 */
import CircuitBreaker from 'opossum';
import type { BreakerView } from './selector.js';

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface LinkBreakerOptions {
  volumeThreshold: number;
  errorThresholdPercentage: number;
  resetTimeout: number;
  rollingCountTimeout: number;
  rollingCountBuckets: number;
  /** Errors for which this returns true do not count as failures (e.g. a decline is an answer). */
  errorFilter?: (err: unknown) => boolean;
  onStateChange?: (acquirer: string, state: BreakerState) => void;
}

export const DEFAULT_BREAKER_OPTIONS: Readonly<LinkBreakerOptions> = Object.freeze({
  volumeThreshold: 20,
  errorThresholdPercentage: 50,
  resetTimeout: 5000,
  rollingCountTimeout: 10_000,
  rollingCountBuckets: 10,
});

type Action = (...args: never[]) => Promise<unknown>;

export class LinkBreakers implements BreakerView {
  private readonly o: LinkBreakerOptions;
  private readonly breakers = new Map<string, CircuitBreaker>();

  constructor(options: Partial<LinkBreakerOptions> = {}) {
    this.o = { ...DEFAULT_BREAKER_OPTIONS, ...options };
  }

  /** The breaker of an acquirer link, created on first use around `action` (the link's send). */
  breaker<A extends Action>(acquirer: string, action: A): CircuitBreaker<Parameters<A>, Awaited<ReturnType<A>>> {
    let b = this.breakers.get(acquirer);
    if (!b) {
      const opts: CircuitBreaker.Options = {
        timeout: false, // the link enforces the acquirer's response timeout
        volumeThreshold: this.o.volumeThreshold,
        errorThresholdPercentage: this.o.errorThresholdPercentage,
        resetTimeout: this.o.resetTimeout,
        rollingCountTimeout: this.o.rollingCountTimeout,
        rollingCountBuckets: this.o.rollingCountBuckets,
        // Neither latency percentiles nor snapshot events are read here; with them on, opossum keeps every call's
        // latency for the window and, every bucket, concatenates and sorts them all (at 10,000 calls/s, a sort of
        // 100,000 numbers each second per acquirer on the event loop: a stall of several milliseconds).
        rollingPercentilesEnabled: false,
        enableSnapshots: false,
        name: acquirer,
      };
      if (this.o.errorFilter) opts.errorFilter = this.o.errorFilter;
      b = new CircuitBreaker(action as unknown as (...args: unknown[]) => Promise<unknown>, opts);
      const notify = (s: BreakerState) => () => this.o.onStateChange?.(acquirer, s);
      b.on('open', notify('open'));
      b.on('halfOpen', notify('half_open'));
      b.on('close', notify('closed'));
      this.breakers.set(acquirer, b);
    }
    return b as unknown as CircuitBreaker<Parameters<A>, Awaited<ReturnType<A>>>;
  }

  /** Open (not half-open): calls would be rejected at once, so the selector skips the route. */
  isOpen(acquirer: string): boolean {
    const b = this.breakers.get(acquirer);
    return b !== undefined && b.opened && !b.halfOpen;
  }

  state(acquirer: string): BreakerState | undefined {
    const b = this.breakers.get(acquirer);
    if (!b) return undefined;
    return b.halfOpen ? 'half_open' : b.opened ? 'open' : 'closed';
  }

  states(): Record<string, BreakerState> {
    const out: Record<string, BreakerState> = {};
    for (const id of this.breakers.keys()) out[id] = this.state(id)!;
    return out;
  }

  shutdown(): void {
    for (const b of this.breakers.values()) b.shutdown();
    this.breakers.clear();
  }
}
