/**
 * Success-rate routing state shared by every instance through Redis (docs/routing.md, "Failure detector,
 * breakers, success rate"). Each route's last `window` outcomes are one list, `<prefix>sr:<route>` (1 approved,
 * 0 not), capped on every push; `<prefix>sr:routes` lists the routes. Every `syncMs` an instance sends the
 * outcomes it saw since the last sync and reads every route's list back in one pipeline, and computes score,
 * elimination factor and volume from the list (oldest first) the same way on every instance, so they all rank the
 * routes alike. Between syncs a route's own outcomes count here at once; if Redis is down this instance's own
 * window is used (and a warning logged once per transition).
 */
import type { Redis } from 'ioredis';
import { errorSummary } from '../errors.js';
import { SuccessRateTracker, rateOf, type RouteRate, type SuccessRateOptions } from './success-rate.js';

export interface RedisSuccessRateOptions extends Partial<SuccessRateOptions> {
  redis: Redis;
  prefix?: string;
  /** Period of push + read (ms). Default 200. */
  syncMs?: number;
  log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

export class RedisSuccessRateTracker extends SuccessRateTracker {
  private readonly redis: Redis;
  private readonly prefix: string;
  private pending = new Map<string, number[]>();
  private shared = new Map<string, RouteRate>();
  private readonly timer: NodeJS.Timeout;
  private syncing: Promise<void> | undefined;
  private degraded = false;

  constructor(private readonly ro: RedisSuccessRateOptions) {
    super(ro);
    this.redis = ro.redis;
    this.prefix = ro.prefix ?? 'sw:';
    this.timer = setInterval(() => void this.sync(), ro.syncMs ?? 200);
    this.timer.unref();
  }

  override record(route: string, success: boolean): void {
    super.record(route, success);
    let p = this.pending.get(route);
    if (!p) this.pending.set(route, (p = []));
    p.push(success ? 1 : 0);
  }

  /** The shared figures once read, else this instance's own. */
  protected override rate(route: string): RouteRate | undefined {
    return this.shared.get(route) ?? super.rate(route);
  }

  /** Every route's figures: the shared ones, and this instance's for routes not read yet. */
  override snapshot(): Record<string, RouteRate> {
    const out = super.snapshot();
    for (const [id, r] of this.shared) out[id] = r;
    return out;
  }

  /** Pushes what this instance saw and reads every route back (one pipeline); resolves when done. */
  sync(): Promise<void> {
    this.syncing ??= this.doSync().finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  private async doSync(): Promise<void> {
    const pending = this.pending;
    this.pending = new Map();
    const routesKey = `${this.prefix}sr:routes`;
    try {
      const push = this.redis.pipeline();
      for (const [route, outcomes] of pending) {
        const k = `${this.prefix}sr:${route}`;
        push
          .rpush(k, ...outcomes)
          .ltrim(k, -this.o.window, -1)
          .expire(k, 86_400)
          .sadd(routesKey, route);
      }
      push.smembers(routesKey);
      const res = await push.exec();
      const routes = (res?.at(-1)?.[1] as string[] | undefined) ?? [];
      const read = this.redis.pipeline();
      for (const r of routes) read.lrange(`${this.prefix}sr:${r}`, 0, -1);
      const lists = routes.length > 0 ? ((await read.exec()) ?? []) : [];
      const next = new Map<string, RouteRate>();
      routes.forEach((r, i) => {
        const list = (lists[i]?.[1] as string[] | undefined) ?? [];
        if (list.length > 0)
          next.set(
            r,
            rateOf(
              list.map((x) => (x === '1' ? 1 : 0)),
              this.o,
            ),
          );
      });
      this.shared = next;
      if (this.degraded) {
        this.degraded = false;
        this.ro.log?.info({}, 'success rates shared through Redis again');
      }
    } catch (e) {
      // not sent: kept for the next sync (bounded by the window per route)
      for (const [route, outcomes] of pending) {
        const p = this.pending.get(route) ?? [];
        this.pending.set(route, [...outcomes, ...p].slice(-this.o.window));
      }
      this.shared = new Map();
      if (!this.degraded) {
        this.degraded = true;
        this.ro.log?.warn({ err: errorSummary(e) }, "success rates not shared (Redis unreachable): this instance's own are used");
      }
    }
  }

  override async close(): Promise<void> {
    clearInterval(this.timer);
    await this.syncing?.catch(() => undefined);
  }
}
