/**
 * Success-rate scoring per route (after Juspay's dynamic routing): the last N outcomes of each route
 * (approved = 1), score = their mean; an elimination factor ×0.95 per failure, ×1.0526 per success, capped
 * at 1. A route whose factor falls below the threshold is deprioritized (it cannot win the lottery unless
 * the decision explores), never removed. In memory, per instance: a tie-breaker, not a health signal.
 */
import type { SuccessRateView } from './selector.js';

export interface SuccessRateOptions {
  /** Outcomes kept per route. Default 100. */
  window: number;
  penalty: number;
  reward: number;
  /** Elimination below this factor. Default 0.35 (about 20 net consecutive failures). */
  threshold: number;
}

export const DEFAULT_SUCCESS_RATE_OPTIONS: Readonly<SuccessRateOptions> = Object.freeze({
  window: 100,
  penalty: 0.95,
  reward: 1.0526,
  threshold: 0.35,
});

interface RouteStats {
  ring: Uint8Array;
  next: number;
  count: number;
  sum: number;
  factor: number;
}

export class SuccessRateTracker implements SuccessRateView {
  private readonly o: SuccessRateOptions;
  private readonly routes = new Map<string, RouteStats>();

  constructor(options: Partial<SuccessRateOptions> = {}) {
    this.o = { ...DEFAULT_SUCCESS_RATE_OPTIONS, ...options };
  }

  record(route: string, success: boolean): void {
    let r = this.routes.get(route);
    if (!r) {
      r = { ring: new Uint8Array(this.o.window), next: 0, count: 0, sum: 0, factor: 1 };
      this.routes.set(route, r);
    }
    const v = success ? 1 : 0;
    if (r.count === this.o.window) r.sum -= r.ring[r.next]!;
    else r.count++;
    r.ring[r.next] = v;
    r.sum += v;
    r.next = (r.next + 1) % this.o.window;
    r.factor = success ? Math.min(1, r.factor * this.o.reward) : r.factor * this.o.penalty;
  }

  /** Mean of the last N outcomes; 1 for a route with no history (optimistic: new routes get tried). */
  score(route: string): number {
    const r = this.routes.get(route);
    return r && r.count > 0 ? r.sum / r.count : 1;
  }

  factor(route: string): number {
    return this.routes.get(route)?.factor ?? 1;
  }

  eliminated(route: string): boolean {
    return this.factor(route) < this.o.threshold;
  }

  snapshot(): Record<string, { score: number; factor: number; count: number }> {
    const out: Record<string, { score: number; factor: number; count: number }> = {};
    for (const [id, r] of this.routes) out[id] = { score: r.count ? r.sum / r.count : 1, factor: r.factor, count: r.count };
    return out;
  }
}
