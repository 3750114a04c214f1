/**
 * BIN table: ranges of PAN prefixes → card info; the most specific (narrowest) range wins, like an ATM's
 * financial institution table. Ranges live in an 8-digit key space (prefix "4" = 40000000..49999999). At
 * build time the ranges are cut into disjoint segments, each labelled with its narrowest covering range
 * (sweep + heap, O(n log n)); a lookup is one binary search over the segment starts.
 */
import type { BinDef, BinInfo } from './types.js';
import { MinHeap } from './min-heap.js';

export const BIN_KEY_DIGITS = 8;
const KEY_SPACE = 10 ** BIN_KEY_DIGITS;

export interface BinRange {
  lo: number;
  hi: number;
  info: BinInfo;
}

/** "4111" → [41110000, 41119999]; a range ["51","55"] → [51000000, 55999999]. */
export function binDefToRange(def: BinDef): { lo: number; hi: number } {
  const lo = def.prefix ?? def.range![0];
  const hi = def.prefix ?? def.range![1];
  return {
    lo: Number(lo.padEnd(BIN_KEY_DIGITS, '0')),
    hi: Number(hi.padEnd(BIN_KEY_DIGITS, '9')),
  };
}

/** The first 8 digits of a PAN prefix as a number (shorter input is padded with zeros); -1 if not digits. */
export function binKey(bin: string): number {
  let k = 0;
  const n = bin.length < BIN_KEY_DIGITS ? bin.length : BIN_KEY_DIGITS;
  if (n === 0) return -1;
  for (let i = 0; i < n; i++) {
    const c = bin.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    k = k * 10 + c;
  }
  for (let i = n; i < BIN_KEY_DIGITS; i++) k *= 10;
  return k;
}

interface HeapItem {
  width: number;
  order: number;
  idx: number;
}

function less(a: HeapItem, b: HeapItem): boolean {
  return a.width < b.width || (a.width === b.width && a.order < b.order);
}

export class BinTable {
  /** Segment starts, ascending; segment i covers starts[i] .. starts[i+1]-1. */
  private readonly starts: Float64Array;
  /** Index into `infos` of the narrowest range covering the segment, or -1. */
  private readonly owner: Int32Array;
  private readonly infos: BinInfo[];
  readonly rangeCount: number;

  constructor(ranges: readonly BinRange[]) {
    this.rangeCount = ranges.length;
    this.infos = ranges.map((r) => r.info);
    const events: { at: number; add: boolean; idx: number }[] = [];
    ranges.forEach((r, idx) => {
      events.push({ at: r.lo, add: true, idx });
      events.push({ at: r.hi + 1, add: false, idx });
    });
    events.sort((a, b) => a.at - b.at);
    const starts: number[] = [];
    const owner: number[] = [];
    const heap = new MinHeap<HeapItem>(less);
    const removed = new Uint8Array(ranges.length);
    let i = 0;
    while (i < events.length) {
      const at = events[i]!.at;
      for (; i < events.length && events[i]!.at === at; i++) {
        const ev = events[i]!;
        if (ev.add) {
          const r = ranges[ev.idx]!;
          heap.push({ width: r.hi - r.lo, order: ev.idx, idx: ev.idx });
        } else {
          removed[ev.idx] = 1;
        }
      }
      while (heap.size > 0 && removed[heap.peek()!.idx] === 1) heap.pop();
      if (at >= KEY_SPACE) break;
      const top = heap.peek();
      const o = top ? top.idx : -1;
      if (owner.length > 0 && owner[owner.length - 1] === o) continue; // merge equal neighbours
      starts.push(at);
      owner.push(o);
    }
    this.starts = Float64Array.from(starts);
    this.owner = Int32Array.from(owner);
  }

  static fromDefs(defs: readonly BinDef[]): BinTable {
    return new BinTable(
      defs.map((d) => {
        const { lo, hi } = binDefToRange(d);
        const info: BinInfo = { brand: d.brand, card_type: d.card_type, country: d.country };
        if (d.issuer !== undefined) info.issuer = d.issuer;
        return { lo, hi, info: Object.freeze(info) };
      }),
    );
  }

  get segmentCount(): number {
    return this.starts.length;
  }

  /** Card info of the narrowest range covering the first 8 digits of `bin`, or null. */
  lookup(bin: string): BinInfo | null {
    const k = binKey(bin);
    return k < 0 ? null : this.lookupKey(k);
  }

  lookupKey(k: number): BinInfo | null {
    const s = this.starts;
    let lo = 0;
    let hi = s.length - 1;
    if (hi < 0 || k < s[0]!) return null;
    // Largest i with s[i] <= k.
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (s[mid]! <= k) lo = mid;
      else hi = mid - 1;
    }
    const o = this.owner[lo]!;
    return o < 0 ? null : this.infos[o]!;
  }
}
