/**
 * A map whose entries leave after `ttlMs` (or, beyond `maxSize`, oldest first), for the switch's in-memory
 * look-ups that must stay bounded however long it runs (docs/faults.md F20). Every set is queued with its time;
 * eviction pops the queue's front, skipping entries that were set again since: O(1) amortized, never a scan.
 */
import { Fifo } from '../fifo.js';

export class ExpiringMap<K, V> {
  private readonly m = new Map<K, { at: number; v: V }>();
  private readonly order = new Fifo<K>();

  constructor(
    readonly ttlMs: number,
    readonly maxSize: number,
  ) {}

  set(key: K, value: V, now: number = Date.now()): void {
    this.m.set(key, { at: now, v: value });
    this.order.push(key, now);
    this.evict(now);
  }

  get(key: K, now: number = Date.now()): V | undefined {
    const e = this.m.get(key);
    if (!e) return undefined;
    if (now - e.at >= this.ttlMs) {
      this.m.delete(key);
      return undefined;
    }
    return e.v;
  }

  delete(key: K): boolean {
    return this.m.delete(key);
  }

  get size(): number {
    return this.m.size;
  }

  private evict(now: number): void {
    while (this.order.length > 0 && (this.m.size > this.maxSize || now - this.order.peekAt() >= this.ttlMs)) {
      const at = this.order.peekAt();
      const k = this.order.shift()!;
      // only the entry's latest queueing removes it; an older one is a leftover of a set since
      if (this.m.get(k)?.at === at) this.m.delete(k);
    }
  }
}
