/**
 * Success-rate scoring per route (after Juspay's dynamic routing): the last N outcomes of each route
 * (approved = 1), score = their mean; an elimination factor ×0.95 per failure, ×1.0526 per success, capped
 * at 1. A route whose factor falls below the threshold is deprioritized (it cannot win the lottery unless
 * the decision explores), never removed. A route whose rate is below `lackingBelow` over at least
 * `lackingMinVolume` outcomes is "lacking": ranked after the other routes of its priority, never removed, and
 * its explanation says so. In memory per instance here; shared by every instance through Redis in
 * success-rate-redis.ts (docs/routing.md, "Failure detector, breakers, success rate").
 */
import type { SuccessRateView } from './selector.js';

export interface SuccessRateOptions {
  /** Outcomes kept per route. Default 100. */
  window: number;
  penalty: number;
  reward: number;
  /** Elimination below this factor. Default 0.35 (about 20 net consecutive failures). */
  threshold: number;
  /** Lacking below this success rate. Default 0.5. */
  lackingBelow: number;
  /** … over at least this many outcomes. Default 20. */
  lackingMinVolume: number;
}

export const DEFAULT_SUCCESS_RATE_OPTIONS: Readonly<SuccessRateOptions> = Object.freeze({
  window: 100,
  penalty: 0.95,
  reward: 1.0526,
  threshold: 0.35,
  lackingBelow: 0.5,
  lackingMinVolume: 20,
});

/** One route's figures: mean of its window, elimination factor, outcomes in the window. */
export interface RouteRate {
  score: number;
  factor: number;
  count: number;
}

/** A route's figures from its outcomes, oldest first (how every instance computes them from the shared window). */
export function rateOf(outcomes: ArrayLike<number>, o: Pick<SuccessRateOptions, 'penalty' | 'reward'>): RouteRate {
  let sum = 0;
  let factor = 1;
  for (let i = 0; i < outcomes.length; i++) {
    const ok = outcomes[i] === 1;
    sum += ok ? 1 : 0;
    factor = ok ? Math.min(1, factor * o.reward) : factor * o.penalty;
  }
  return { score: outcomes.length > 0 ? sum / outcomes.length : 1, factor, count: outcomes.length };
}

interface RouteStats {
  ring: Uint8Array;
  next: number;
  count: number;
  sum: number;
  factor: number;
  /** The figures as of the last outcome: made once per outcome, read by every decision without a new object. */
  rate: RouteRate;
}

export class SuccessRateTracker implements SuccessRateView {
  protected readonly o: SuccessRateOptions;
  private readonly routes = new Map<string, RouteStats>();

  constructor(options: Partial<SuccessRateOptions> = {}) {
    this.o = { ...DEFAULT_SUCCESS_RATE_OPTIONS, ...options };
  }

  record(route: string, success: boolean): void {
    let r = this.routes.get(route);
    if (!r) {
      r = { ring: new Uint8Array(this.o.window), next: 0, count: 0, sum: 0, factor: 1, rate: { score: 1, factor: 1, count: 0 } };
      this.routes.set(route, r);
    }
    const v = success ? 1 : 0;
    if (r.count === this.o.window) r.sum -= r.ring[r.next]!;
    else r.count++;
    r.ring[r.next] = v;
    r.sum += v;
    r.next = (r.next + 1) % this.o.window;
    r.factor = success ? Math.min(1, r.factor * this.o.reward) : r.factor * this.o.penalty;
    r.rate = { score: r.sum / r.count, factor: r.factor, count: r.count };
  }

  /** This instance's figures of a route, or undefined before its first outcome. */
  protected rate(route: string): RouteRate | undefined {
    return this.routes.get(route)?.rate;
  }

  /** Mean of the last N outcomes; 1 for a route with no history (optimistic: new routes get tried). */
  score(route: string): number {
    return this.rate(route)?.score ?? 1;
  }

  factor(route: string): number {
    return this.rate(route)?.factor ?? 1;
  }

  eliminated(route: string): boolean {
    return this.factor(route) < this.o.threshold;
  }

  /** Converts too little: ranked after the other routes of its priority (not removed). */
  lacking(route: string): boolean {
    const r = this.rate(route);
    return r !== undefined && r.count >= this.o.lackingMinVolume && r.score < this.o.lackingBelow;
  }

  snapshot(): Record<string, RouteRate> {
    const out: Record<string, RouteRate> = {};
    for (const id of this.routes.keys()) out[id] = this.rate(id)!;
    return out;
  }

  async close(): Promise<void> {}
}
