/**
 * A first-in first-out queue of (item, time) on two arrays and a head index: push and shift are O(1)
 * amortized, and it is compacted in place once half of it is consumed. The switch's bounded look-ups evict
 * from one of these instead of iterating a Map from its front, which in V8 walks past every entry deleted
 * there since the table's last rehash: a scan, under steady eviction (docs/faults.md F20).
 */
export class Fifo<T> {
  private items: T[] = [];
  private times: number[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T, at: number): void {
    this.items.push(item);
    this.times.push(at);
  }

  /** Time of the oldest entry; Infinity when empty. */
  peekAt(): number {
    return this.head < this.items.length ? this.times[this.head]! : Infinity;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head]!;
    this.items[this.head] = undefined as T;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}
