/**
 * Velocity counters over sliding windows: `hit` records one event for a key and returns how many events the
 * key had within each window (this one included). In memory per instance, or in Redis (a sorted set per key,
 * one Lua call per hit) so every switch instance counts the same traffic.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface VelocityStore {
  hit(key: string, windowsMs: readonly number[], at: number): Promise<number[]>;
  close?(): Promise<void>;
}

export class MemoryVelocityStore implements VelocityStore {
  private readonly events = new Map<string, number[]>();
  private hits = 0;

  constructor(private readonly maxKeys = 1_000_000) {}

  async hit(key: string, windowsMs: readonly number[], at: number): Promise<number[]> {
    return this.hitSync(key, windowsMs, at);
  }

  hitSync(key: string, windowsMs: readonly number[], at: number): number[] {
    const max = Math.max(...windowsMs);
    let list = this.events.get(key);
    if (!list) {
      if (this.events.size >= this.maxKeys) this.evictOld(at - max);
      list = [];
      this.events.set(key, list);
    }
    // Keep the list sorted (events normally arrive in time order).
    let i = list.length;
    while (i > 0 && list[i - 1]! > at) i--;
    list.splice(i, 0, at);
    let drop = 0;
    while (drop < list.length && list[drop]! <= at - max) drop++;
    if (drop > 0) list.splice(0, drop);
    if (++this.hits % 10_000 === 0) this.evictOld(at - max);
    return windowsMs.map((w) => {
      const from = at - w;
      let n = 0;
      for (let k = list.length - 1; k >= 0; k--) {
        const v = list[k]!;
        if (v <= from) break;
        if (v <= at) n++;
      }
      return n;
    });
  }

  private evictOld(before: number): void {
    for (const [k, list] of this.events) if (list.length === 0 || list[list.length - 1]! <= before) this.events.delete(k);
  }
}

// KEYS[1] = key; ARGV[1] = at, ARGV[2] = member, ARGV[3] = max window, ARGV[4..] = windows.
const HIT_LUA = `
local at = tonumber(ARGV[1])
local maxw = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], at, ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', at - maxw)
redis.call('PEXPIRE', KEYS[1], maxw + 1000)
local out = {}
for i = 4, #ARGV do
  out[#out + 1] = redis.call('ZCOUNT', KEYS[1], '(' .. (at - tonumber(ARGV[i])), at)
end
return out
`;

type HitCommand = (key: string, ...args: (string | number)[]) => Promise<unknown>;

export class RedisVelocityStore implements VelocityStore {
  private seq = 0;
  private readonly instance = randomBytes(4).toString('hex');
  private readonly cmd: HitCommand;

  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'sw:',
  ) {
    // defineCommand sends EVALSHA and falls back to EVAL once per connection.
    const r = redis as Redis & { swVelocityHit?: HitCommand };
    if (!r.swVelocityHit) redis.defineCommand('swVelocityHit', { numberOfKeys: 1, lua: HIT_LUA });
    this.cmd = (r.swVelocityHit as HitCommand).bind(redis);
  }

  async hit(key: string, windowsMs: readonly number[], at: number): Promise<number[]> {
    const max = Math.max(...windowsMs);
    const member = `${at}:${this.instance}:${(this.seq = (this.seq + 1) % 1e9)}`;
    const res = (await this.cmd(`${this.prefix}vel:${key}`, at, member, max, ...windowsMs)) as unknown[];
    return res.map(Number);
  }
}
