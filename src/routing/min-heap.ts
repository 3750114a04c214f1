/**
 * A binary min-heap ordered by `less`; used for BIN range sweeps and for call deadlines. With `moved`, the heap
 * tells each item its index whenever it changes (-1 once it leaves), so an item can be removed from anywhere
 * in O(log n) with `removeAt`.
 */
export class MinHeap<T> {
  private readonly a: T[] = [];

  constructor(
    private readonly less: (x: T, y: T) => boolean,
    private readonly moved?: (x: T, index: number) => void,
  ) {}

  get size(): number {
    return this.a.length;
  }

  peek(): T | undefined {
    return this.a[0];
  }

  push(x: T): void {
    this.a.push(x);
    this.moved?.(x, this.a.length - 1);
    this.up(this.a.length - 1);
  }

  pop(): T | undefined {
    return this.a.length === 0 ? undefined : this.removeAt(0);
  }

  /** Removes the item at `index` (as `moved` last reported it). */
  removeAt(index: number): T | undefined {
    const a = this.a;
    if (index < 0 || index >= a.length) return undefined;
    const x = a[index]!;
    const last = a.pop()!;
    if (index < a.length) {
      a[index] = last;
      this.moved?.(last, index);
      this.down(index);
      this.up(index);
    }
    this.moved?.(x, -1);
    return x;
  }

  private swap(i: number, j: number): void {
    const a = this.a;
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
    this.moved?.(a[i]!, i);
    this.moved?.(a[j]!, j);
  }

  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(this.a[i]!, this.a[p]!)) break;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const a = this.a;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && this.less(a[l]!, a[m]!)) m = l;
      if (r < a.length && this.less(a[r]!, a[m]!)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}
