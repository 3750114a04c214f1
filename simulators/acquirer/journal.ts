import type { IsoMessage } from '../../src/iso8583/message.js';
import { maskPan } from '../../src/iso8583/mask.js';

export interface JournalEntry {
  seq: number;
  at: number;
  connectionId: string;
  direction: 'in' | 'out';
  mti: string | null;
  /** DE11 */
  stan?: string;
  /** DE41 */
  terminal?: string;
  /** DE42 */
  merchant?: string;
  /** DE37 */
  rrn?: string;
  /** DE2, masked 6+4. */
  pan?: string;
  /** DE4 */
  amount?: string;
  /** DE49 */
  currency?: string;
  /** DE39 */
  responseCode?: string;
  /** DE70 */
  networkCode?: string;
  /** DE3 */
  processingCode?: string;
  /** DE54 (additional amounts: a cashback, a balance) */
  additionalAmounts?: string;
  /** DE90 (the original a capture, refund or reversal names) */
  original?: string;
  /** Set when the frame could not be unpacked (its SW_ERR_* code). */
  error?: string;
}

export interface JournalFilter {
  direction?: 'in' | 'out';
  mti?: string | string[];
  stan?: string;
  terminal?: string;
  rrn?: string;
  connectionId?: string;
  responseCode?: string;
}

const str = (m: IsoMessage, f: number): string | undefined => {
  const v = m.get(f);
  return typeof v === 'string' ? v : undefined;
};

/**
 * What the simulator received and answered, card data masked. Bounded (the oldest entries go first).
 * Tests ask it questions like "exactly one reversal for this STAN reached the acquirer".
 */
export class Journal {
  private entries: JournalEntry[] = [];
  private seq = 0;
  /** Keeps about the last `max` entries; `enabled: false` records nothing (benchmarks). */
  constructor(
    private readonly max = 200_000,
    readonly enabled = true,
  ) {}

  record(connectionId: string, direction: 'in' | 'out', msg: IsoMessage): JournalEntry | null {
    if (!this.enabled) return null;
    const e: JournalEntry = { seq: ++this.seq, at: Date.now(), connectionId, direction, mti: msg.mti };
    const pan = str(msg, 2);
    if (pan !== undefined) e.pan = maskPan(pan);
    const pairs: [keyof JournalEntry, number][] = [
      ['stan', 11],
      ['terminal', 41],
      ['merchant', 42],
      ['rrn', 37],
      ['amount', 4],
      ['currency', 49],
      ['responseCode', 39],
      ['networkCode', 70],
      ['processingCode', 3],
      ['additionalAmounts', 54],
      ['original', 90],
    ];
    for (const [k, f] of pairs) {
      const v = str(msg, f);
      if (v !== undefined) (e as unknown as Record<string, string>)[k] = v;
    }
    this.push(e);
    return e;
  }

  recordError(connectionId: string, code: string, mti: string | null): void {
    if (!this.enabled) return;
    this.push({ seq: ++this.seq, at: Date.now(), connectionId, direction: 'in', mti, error: code });
  }

  private push(e: JournalEntry): void {
    this.entries.push(e);
    // trim in steps of a tenth, so a full journal costs amortized O(1) per entry
    if (this.entries.length > this.max + Math.ceil(this.max / 10)) this.entries.splice(0, this.entries.length - this.max);
  }

  find(f: JournalFilter = {}): JournalEntry[] {
    const mtis = f.mti === undefined ? null : Array.isArray(f.mti) ? f.mti : [f.mti];
    return this.entries.filter(
      (e) =>
        (f.direction === undefined || e.direction === f.direction) &&
        (mtis === null || (e.mti !== null && mtis.includes(e.mti))) &&
        (f.stan === undefined || e.stan === f.stan) &&
        (f.terminal === undefined || e.terminal === f.terminal) &&
        (f.rrn === undefined || e.rrn === f.rrn) &&
        (f.connectionId === undefined || e.connectionId === f.connectionId) &&
        (f.responseCode === undefined || e.responseCode === f.responseCode),
    );
  }

  count(f: JournalFilter = {}): number {
    return this.find(f).length;
  }

  all(): readonly JournalEntry[] {
    return this.entries;
  }

  get size(): number {
    return this.entries.length;
  }

  clear(): void {
    this.entries = [];
  }
}
