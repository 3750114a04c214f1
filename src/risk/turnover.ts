/**
 * Turnover limits (docs/routing.md, "Turnover limits"): per terminal and per merchant, an amount and a count per
 * day and per month (UTC), per currency, from terminals.yaml and merchants.yaml. An authorization reserves its
 * amount on its terminal and its merchant before it is sent, all periods at once or none (one Lua call in Redis,
 * so every instance counts the same turnover; a Map otherwise); a decline, a failure or a reversal gives back what
 * it reserved, on the day and month of the authorization.
 */
import type { Redis } from 'ioredis';

export interface TurnoverLimit {
  amount_minor?: number;
  count?: number;
}

/** Limits of one currency. */
export interface TurnoverPeriods {
  day?: TurnoverLimit;
  month?: TurnoverLimit;
}

/** ISO 4217 numeric currency → its limits. */
export type TurnoverLimits = Record<string, TurnoverPeriods>;

export type TurnoverSubjectKind = 'terminal' | 'merchant';

export interface TurnoverSubject {
  kind: TurnoverSubjectKind;
  id: string;
  limits: TurnoverLimits | undefined;
}

export type TurnoverPeriod = 'day' | 'month';

/** The limit a reservation would have passed. */
export interface TurnoverBreach {
  kind: TurnoverSubjectKind;
  id: string;
  period: TurnoverPeriod;
  what: 'amount' | 'count';
  used: number;
  limit: number;
}

export interface TurnoverStore {
  /** Reserves `amount` (and one) on every subject's limited periods of `currency` at `at`, or nothing and the first breach. */
  reserve(subjects: readonly TurnoverSubject[], currency: string, amount: number, at: number): Promise<TurnoverBreach | null>;
  /** Gives back `amount` and `count` (0 or 1) reserved at `at` (never below zero). */
  release(subjects: ReadonlyArray<{ kind: TurnoverSubjectKind; id: string }>, currency: string, amount: number, count: number, at: number): Promise<void>;
  /** Amount and count used now in one period (tests, the console). */
  used(kind: TurnoverSubjectKind, id: string, currency: string, period: TurnoverPeriod, at: number): Promise<{ amount: number; count: number }>;
}

const PERIODS: readonly TurnoverPeriod[] = ['day', 'month'];

/** The period's bucket: 2026-12-06 or 2026-12 (UTC). */
export function periodOf(period: TurnoverPeriod, at: number): string {
  const iso = new Date(at).toISOString();
  return period === 'day' ? iso.slice(0, 10) : iso.slice(0, 7);
}

/** Seconds a period's counters are kept: past its end, with a day to spare. */
const TTL_S: Record<TurnoverPeriod, number> = { day: 2 * 86_400, month: 32 * 86_400 };

interface Check {
  key: string;
  kind: TurnoverSubjectKind;
  id: string;
  period: TurnoverPeriod;
  amountLimit: number;
  countLimit: number;
}

const keyOf = (kind: TurnoverSubjectKind, id: string, currency: string, period: TurnoverPeriod, at: number): string =>
  `${kind}:${id}:${currency}:${periodOf(period, at)}`;

/** Every limited period of the subjects for `currency` (-1: no limit on that measure). */
function checksOf(subjects: readonly TurnoverSubject[], currency: string, at: number): Check[] {
  const out: Check[] = [];
  for (const s of subjects) {
    const c = s.limits?.[currency];
    if (!c) continue;
    for (const period of PERIODS) {
      const l = c[period];
      if (!l || (l.amount_minor === undefined && l.count === undefined)) continue;
      out.push({
        key: keyOf(s.kind, s.id, currency, period, at),
        kind: s.kind,
        id: s.id,
        period,
        amountLimit: l.amount_minor ?? -1,
        countLimit: l.count ?? -1,
      });
    }
  }
  return out;
}

/** This instance's counters (no Redis configured). */
export class MemoryTurnoverStore implements TurnoverStore {
  private readonly counts = new Map<string, { amount: number; count: number; until: number }>();

  async reserve(subjects: readonly TurnoverSubject[], currency: string, amount: number, at: number): Promise<TurnoverBreach | null> {
    const checks = checksOf(subjects, currency, at);
    const now = Date.now();
    for (const c of checks) {
      const u = this.live(c.key, now);
      if (c.amountLimit >= 0 && u.amount + amount > c.amountLimit)
        return { kind: c.kind, id: c.id, period: c.period, what: 'amount', used: u.amount, limit: c.amountLimit };
      if (c.countLimit >= 0 && u.count + 1 > c.countLimit)
        return { kind: c.kind, id: c.id, period: c.period, what: 'count', used: u.count, limit: c.countLimit };
    }
    for (const c of checks) {
      const u = this.live(c.key, now);
      this.counts.set(c.key, { amount: u.amount + amount, count: u.count + 1, until: now + TTL_S[c.period] * 1000 });
    }
    return null;
  }

  async release(
    subjects: ReadonlyArray<{ kind: TurnoverSubjectKind; id: string }>,
    currency: string,
    amount: number,
    count: number,
    at: number,
  ): Promise<void> {
    for (const s of subjects)
      for (const period of PERIODS) {
        const key = keyOf(s.kind, s.id, currency, period, at);
        const u = this.counts.get(key);
        if (u) this.counts.set(key, { ...u, amount: Math.max(0, u.amount - amount), count: Math.max(0, u.count - count) });
      }
  }

  async used(kind: TurnoverSubjectKind, id: string, currency: string, period: TurnoverPeriod, at: number): Promise<{ amount: number; count: number }> {
    const u = this.live(keyOf(kind, id, currency, period, at), Date.now());
    return { amount: u.amount, count: u.count };
  }

  private live(key: string, now: number): { amount: number; count: number } {
    const u = this.counts.get(key);
    if (!u || u.until < now) return { amount: 0, count: 0 };
    return u;
  }
}

/**
 * KEYS: the counters (hashes a, n); ARGV: amount, then per key amount limit, count limit, ttl. Checks every key,
 * then increments every key: all or nothing. Returns 0, or the 1-based index of the breached key, 1 for amount
 * or 2 for count, and the used value.
 */
const RESERVE_LUA = `
local amount = tonumber(ARGV[1])
for i, k in ipairs(KEYS) do
  local al = tonumber(ARGV[2 + (i - 1) * 3])
  local cl = tonumber(ARGV[3 + (i - 1) * 3])
  local a = tonumber(redis.call('HGET', k, 'a') or '0')
  local n = tonumber(redis.call('HGET', k, 'n') or '0')
  if al >= 0 and a + amount > al then return {i, 1, a} end
  if cl >= 0 and n + 1 > cl then return {i, 2, n} end
end
for i, k in ipairs(KEYS) do
  redis.call('HINCRBY', k, 'a', amount)
  redis.call('HINCRBY', k, 'n', 1)
  redis.call('EXPIRE', k, tonumber(ARGV[4 + (i - 1) * 3]))
end
return {0, 0, 0}
`;

/** KEYS: counters; ARGV: amount, count. Decrements the ones that exist, never below zero. */
const RELEASE_LUA = `
for _, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 1 then
    local a = tonumber(redis.call('HGET', k, 'a') or '0') - tonumber(ARGV[1])
    local n = tonumber(redis.call('HGET', k, 'n') or '0') - tonumber(ARGV[2])
    redis.call('HSET', k, 'a', math.max(a, 0), 'n', math.max(n, 0))
  end
end
return 0
`;

type LuaCommand = (...args: Array<string | number>) => Promise<unknown>;

/** Counters in Redis, shared by every instance. */
export class RedisTurnoverStore implements TurnoverStore {
  private readonly reserveCmd: LuaCommand;
  private readonly releaseCmd: LuaCommand;

  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'sw:',
  ) {
    const r = redis as Redis & { swTurnoverReserve?: LuaCommand; swTurnoverRelease?: LuaCommand };
    if (!r.swTurnoverReserve) redis.defineCommand('swTurnoverReserve', { lua: RESERVE_LUA });
    if (!r.swTurnoverRelease) redis.defineCommand('swTurnoverRelease', { lua: RELEASE_LUA });
    const rr = redis as Redis & { swTurnoverReserve: LuaCommand; swTurnoverRelease: LuaCommand };
    this.reserveCmd = rr.swTurnoverReserve.bind(redis);
    this.releaseCmd = rr.swTurnoverRelease.bind(redis);
  }

  private k(key: string): string {
    return `${this.prefix}to:${key}`;
  }

  async reserve(subjects: readonly TurnoverSubject[], currency: string, amount: number, at: number): Promise<TurnoverBreach | null> {
    const checks = checksOf(subjects, currency, at);
    if (checks.length === 0) return null;
    const args: Array<string | number> = [checks.length, ...checks.map((c) => this.k(c.key)), amount];
    for (const c of checks) args.push(c.amountLimit, c.countLimit, TTL_S[c.period]);
    const [i, what, used] = (await this.reserveCmd(...args)) as [number, number, number];
    if (i === 0) return null;
    const c = checks[i - 1]!;
    return what === 1
      ? { kind: c.kind, id: c.id, period: c.period, what: 'amount', used, limit: c.amountLimit }
      : { kind: c.kind, id: c.id, period: c.period, what: 'count', used, limit: c.countLimit };
  }

  async release(
    subjects: ReadonlyArray<{ kind: TurnoverSubjectKind; id: string }>,
    currency: string,
    amount: number,
    count: number,
    at: number,
  ): Promise<void> {
    const keys = subjects.flatMap((s) => PERIODS.map((p) => this.k(keyOf(s.kind, s.id, currency, p, at))));
    if (keys.length === 0) return;
    await this.releaseCmd(keys.length, ...keys, amount, count);
  }

  async used(kind: TurnoverSubjectKind, id: string, currency: string, period: TurnoverPeriod, at: number): Promise<{ amount: number; count: number }> {
    const h = await this.redis.hmget(this.k(keyOf(kind, id, currency, period, at)), 'a', 'n');
    return { amount: Number(h[0] ?? 0), count: Number(h[1] ?? 0) };
  }
}
