/**
 * Per-token limit of the heavy admin requests (validate, evaluate, backtest; docs/admin.md "Rate limits"): a
 * sliding minute per token name on this instance. Beyond it, SW_ERR_ADMIN_RATE_LIMITED (429) with the wait.
 */
import { SwitchError } from '../errors.js';

export class HeavyRequestLimit {
  private readonly seen = new Map<string, number[]>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one request of `who`, or throws when it already made perMinute in the last minute. */
  take(who: string, what: string): void {
    const t = this.now();
    const since = t - 60_000;
    const times = (this.seen.get(who) ?? []).filter((x) => x > since);
    if (times.length >= this.perMinute) {
      this.seen.set(who, times);
      const retryAfterS = Math.max(1, Math.ceil((times[0]! - since) / 1000));
      throw new SwitchError('SW_ERR_ADMIN_RATE_LIMITED', { limit: this.perMinute, what, retryAfterS });
    }
    times.push(t);
    this.seen.set(who, times);
  }
}
