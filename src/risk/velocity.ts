/**
 * Velocity counters over sliding windows: `hit` records one event for a key and returns how many events the
 * key had within each window (this one included). In memory per instance, or in Redis (a sorted set per key,
 * one Lua call per hit) so every switch instance counts the same traffic.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { Fifo } from '../fifo.js';
import { SwitchError } from '../errors.js';

export interface VelocityStore {
  /**
   * Record one event and count each window. `answerWithinMs`: how long the caller can wait; a store that shares
   * its counts answers from this instance's own counts rather than later (docs/faults.md F17).
   */
  hit(key: string, windowsMs: readonly number[], at: number, answerWithinMs?: number): Promise<number[]>;
  /** Record one event of `amount` (minor units) and sum the amounts within each window, this one included. */
  hitAmount(key: string, amount: number, windowsMs: readonly number[], at: number, answerWithinMs?: number): Promise<number[]>;
  close?(): Promise<void>;
}

/**
 * Amount events of one key within the largest window: times and amounts side by side, the front trimmed as it
 * leaves the window. Summing walks the events of a window (a card has a handful; amount rules are per card or
 * merchant and currency).
 */
interface AmountSeries {
  t: number[];
  a: number[];
}

/** Event times of one key, sorted; entries before `head` have left every window (dropped in bulk, amortized). */
interface Series {
  t: number[];
  head: number;
}

/** First index in [lo, hi) whose time is greater than x (times are sorted). */
function upperBound(t: readonly number[], lo: number, hi: number, x: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (t[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * In-memory velocity: per key, the sorted event times within the largest window. A hit appends (events
 * arrive in time order; a late one is inserted in place), expires from the front by moving a head index, and
 * counts each window with a binary search: O(log n) per window, where the first version scanned and shifted
 * the whole list (O(n): a busy merchant's 10 s window holds tens of thousands of events).
 * Eviction: each key has one entry in a queue, with the time of its last event when it was queued. Each hit
 * looks at the queue's front: a key whose last event has left the largest window is dropped, one seen since is
 * queued again at its last event. A key is requeued at most once per window, so this is O(1) amortized per hit,
 * never a scan. Beyond `maxKeys` the front goes whatever its age: the key least recently queued
 * (docs/faults.md F20).
 */
export class MemoryVelocityStore implements VelocityStore {
  /**
   * Per key: the time of its only event (a plain number, the common case: most cards are seen once an hour),
   * or its series once there are two. A first event allocates nothing but the map entry: the store lives for
   * the largest window, so every object it holds is one the garbage collector copies and promotes.
   */
  private readonly events = new Map<string, Series | number>();
  private readonly order = new Fifo<string>();

  constructor(private readonly maxKeys = 1_000_000) {}

  async hit(key: string, windowsMs: readonly number[], at: number): Promise<number[]> {
    return this.hitSync(key, windowsMs, at);
  }

  /** Per key and currency amount sums; at most maxKeys keys (beyond, the key first seen longest ago goes). */
  private readonly amounts = new Map<string, AmountSeries>();

  async hitAmount(key: string, amount: number, windowsMs: readonly number[], at: number): Promise<number[]> {
    return this.hitAmountSync(key, amount, windowsMs, at);
  }

  hitAmountSync(key: string, amount: number, windowsMs: readonly number[], at: number): number[] {
    const maxW = Math.max(...windowsMs);
    let s = this.amounts.get(key);
    if (!s) {
      if (this.amounts.size >= this.maxKeys) this.amounts.delete(this.amounts.keys().next().value!);
      this.amounts.set(key, (s = { t: [], a: [] }));
    }
    let i = s.t.length;
    while (i > 0 && s.t[i - 1]! > at) i--;
    s.t.splice(i, 0, at);
    s.a.splice(i, 0, amount);
    let drop = 0;
    while (drop < s.t.length && s.t[drop]! <= at - maxW) drop++;
    if (drop > 0) {
      s.t.splice(0, drop);
      s.a.splice(0, drop);
    }
    return windowsMs.map((w) => {
      let sum = 0;
      for (let k = s.t.length - 1; k >= 0 && s.t[k]! > at - w; k--) if (s.t[k]! <= at) sum += s.a[k]!;
      return sum;
    });
  }

  hitSync(key: string, windowsMs: readonly number[], at: number): number[] {
    let max = 0;
    for (const w of windowsMs) if (w > max) max = w;
    const cutoff = at - max;
    this.evict(cutoff);
    const v = this.events.get(key);
    if (v === undefined || (typeof v === 'number' && v <= cutoff)) {
      if (v === undefined) this.order.push(key, at);
      this.events.set(key, at);
      return windowsMs.map(() => 1);
    }
    let s: Series;
    if (typeof v === 'number') {
      s = { t: [v], head: 0 };
      this.events.set(key, s);
    } else s = v;
    const t = s.t;
    let i = t.length;
    while (i > s.head && t[i - 1]! > at) i--;
    if (i === t.length) t.push(at);
    else t.splice(i, 0, at);
    if (s.head < t.length && t[s.head]! <= cutoff) s.head = upperBound(t, s.head, t.length, cutoff);
    if (s.head > 1024 && s.head * 2 > t.length) {
      s.t = t.slice(s.head);
      s.head = 0;
    }
    const list = s.t;
    const end = upperBound(list, s.head, list.length, at);
    const out = new Array<number>(windowsMs.length);
    for (let k = 0; k < windowsMs.length; k++) out[k] = end - upperBound(list, s.head, end, at - windowsMs[k]!);
    return out;
  }

  /** Keys count that are held now (the bound under test). */
  get size(): number {
    return this.events.size;
  }

  /** Looks at the queue's front: drops keys past every window (or over the cap), requeues keys seen since. */
  private evict(before: number): void {
    for (let n = 0; n < 4 && this.order.length > 0; n++) {
      const over = this.events.size >= this.maxKeys;
      if (!over && this.order.peekAt() > before) return;
      const k = this.order.shift()!;
      const s = this.events.get(k);
      if (s === undefined) continue;
      const last = typeof s === 'number' ? s : s.head >= s.t.length ? -Infinity : s.t[s.t.length - 1]!;
      if (over || last <= before) this.events.delete(k);
      else this.order.push(k, last);
    }
  }
}

/** Both scripts' start: the event added, the key trimmed to the largest window and kept as long. */
const WINDOW_LUA = `local at = tonumber(ARGV[1])
local maxw = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], at, ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', at - maxw)
redis.call('PEXPIRE', KEYS[1], maxw + 1000)
local out = {}`;

// KEYS[1] = key; ARGV[1] = at, ARGV[2] = member, ARGV[3] = max window, ARGV[4..] = windows.
const HIT_LUA = `${WINDOW_LUA}
for i = 4, #ARGV do
  out[#out + 1] = redis.call('ZCOUNT', KEYS[1], '(' .. (at - tonumber(ARGV[i])), at)
end
return out
`;

// KEYS[1] = key; ARGV[1] = at, ARGV[2] = member ending in ':<amount>', ARGV[3] = max window, ARGV[4..] = windows.
const HIT_AMOUNT_LUA = `${WINDOW_LUA}
for i = 4, #ARGV do
  local sum = 0
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (at - tonumber(ARGV[i])), at)) do
    sum = sum + tonumber(string.match(m, ':(%d+)$'))
  end
  out[#out + 1] = sum
end
return out
`;

type HitCommand = (key: string, ...args: (string | number)[]) => Promise<unknown>;

/**
 * Velocity shared through Redis. Every hit is also counted in memory, and when Redis cannot answer the counts
 * come from there: this instance's own view, so scoring goes on rather than falling back to its error level
 * (docs/faults.md F17). Once Redis answers again the shared counts are used.
 */
export class RedisVelocityStore implements VelocityStore {
  private seq = 0;
  private readonly local: MemoryVelocityStore;
  private readonly instance = randomBytes(4).toString('hex');
  private readonly cmd: HitCommand;

  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'sw:',
    o: { localMaxKeys?: number; onFallback?: (e: unknown) => void } = {},
  ) {
    this.local = new MemoryVelocityStore(o.localMaxKeys ?? 200_000);
    this.onFallback = o.onFallback;
    // defineCommand sends EVALSHA and falls back to EVAL once per connection.
    const r = redis as Redis & { swVelocityHit?: HitCommand };
    if (!r.swVelocityHit) redis.defineCommand('swVelocityHit', { numberOfKeys: 1, lua: HIT_LUA });
    this.cmd = (r.swVelocityHit as HitCommand).bind(redis);
    const ra = redis as Redis & { swVelocityHitAmount?: HitCommand };
    if (!ra.swVelocityHitAmount) redis.defineCommand('swVelocityHitAmount', { numberOfKeys: 1, lua: HIT_AMOUNT_LUA });
    this.amountCmd = (ra.swVelocityHitAmount as HitCommand).bind(redis);
  }

  private readonly amountCmd: HitCommand;

  async hitAmount(key: string, amount: number, windowsMs: readonly number[], at: number, answerWithinMs?: number): Promise<number[]> {
    const mine = this.local.hitAmountSync(key, amount, windowsMs, at);
    const member = `${at}:${this.instance}:${(this.seq = (this.seq + 1) % 1e9)}:${Math.trunc(amount)}`;
    const shared = this.amountCmd(`${this.prefix}vela:${key}`, at, member, Math.max(...windowsMs), ...windowsMs) as Promise<unknown[]>;
    return this.sharedOr(shared, mine, answerWithinMs);
  }

  private readonly onFallback: ((e: unknown) => void) | undefined;

  async hit(key: string, windowsMs: readonly number[], at: number, answerWithinMs?: number): Promise<number[]> {
    const mine = this.local.hitSync(key, windowsMs, at);
    const max = Math.max(...windowsMs);
    const member = `${at}:${this.instance}:${(this.seq = (this.seq + 1) % 1e9)}`;
    const shared = this.cmd(`${this.prefix}vel:${key}`, at, member, max, ...windowsMs) as Promise<unknown[]>;
    return this.sharedOr(shared, mine, answerWithinMs);
  }

  /** The shared counts, or this instance's own when Redis fails or is later than the caller can wait. */
  private async sharedOr(shared: Promise<unknown[]>, mine: number[], answerWithinMs: number | undefined): Promise<number[]> {
    let timer: NodeJS.Timeout | undefined;
    try {
      // A command in flight when the connection is cut waits for ioredis's reconnect and retry, far longer than
      // the scorer's budget: past the budget the answer comes from this instance's counts (docs/faults.md F17).
      const late =
        answerWithinMs === undefined
          ? null
          : new Promise<null>((resolve) => {
              timer = setTimeout(() => resolve(null), answerWithinMs);
            });
      const res = await (late ? Promise.race([shared, late]) : shared);
      if (res === null) {
        shared.catch(() => undefined);
        this.onFallback?.(new SwitchError('SW_ERR_RISK_VELOCITY_LATE', { ms: answerWithinMs ?? 0 }));
        return mine;
      }
      return res.map(Number);
    } catch (e) {
      this.onFallback?.(e);
      return mine;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }
}
