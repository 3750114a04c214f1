/**
 * The in-memory model of posting plans (docs/ledger.md) that the model tests check the ledger against: through
 * PostgreSQL (model.test.ts) and through the pure decide() in memory (decide-model.test.ts). Accounts A..D, A
 * may not go negative; operations are hold, add batch, commit (plain or with final postings), rollback, replay.
 */
import fc from 'fast-check';

export const ACCOUNTS = ['A', 'B', 'C', 'D'] as const; // A may not go negative
export type P = { from: string; to: string; amount: number };
export type Op =
  | { t: 'hold'; p: number; ps: P[] }
  | { t: 'batch'; p: number; n: number; ps: P[] }
  | { t: 'commit'; p: number; ps?: P[] }
  | { t: 'rollback'; p: number }
  | { t: 'replay'; k: number };
export type Call = Exclude<Op, { t: 'replay' }>;

export const posting = fc
  .record({ from: fc.constantFrom(...ACCOUNTS), to: fc.constantFrom(...ACCOUNTS), amount: fc.integer({ min: 1, max: 60 }) })
  .filter((x) => x.from !== x.to);
export const postings = fc.array(posting, { minLength: 1, maxLength: 3 });
export const planIdx = fc.integer({ min: 0, max: 4 });
export const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ t: fc.constant('hold' as const), p: planIdx, ps: postings }), weight: 4 },
  { arbitrary: fc.record({ t: fc.constant('batch' as const), p: planIdx, n: fc.integer({ min: 2, max: 4 }), ps: postings }), weight: 3 },
  { arbitrary: fc.record({ t: fc.constant('commit' as const), p: planIdx, ps: fc.option(postings, { nil: undefined }) }), weight: 2 },
  { arbitrary: fc.record({ t: fc.constant('rollback' as const), p: planIdx }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('replay' as const), k: fc.nat() }), weight: 2 },
);
export const sequences = fc.array(op, { minLength: 1, maxLength: 30 });

export interface MPlan {
  state: 'HOLD' | 'COMMIT' | 'ROLLBACK';
  hold: string;
  close?: string;
  batches: Map<number, string>;
  postings: P[];
}

export class Model {
  acc = new Map<string, { own: number; min: number; max: number }>(ACCOUNTS.map((a) => [a, { own: 0, min: 0, max: 0 }]));
  plans = new Map<string, MPlan>();
  rejected = new Map<string, string>(); // key -> payload

  private D(ps: P[]): Map<string, number> {
    const d = new Map<string, number>();
    for (const x of ps) {
      d.set(x.from, (d.get(x.from) ?? 0) - x.amount);
      d.set(x.to, (d.get(x.to) ?? 0) + x.amount);
    }
    return d;
  }
  /** Pending change from plan diff before→after; returns false if A would go below zero. */
  private pending(before: P[], after: P[], apply: boolean): boolean {
    const b = this.D(before);
    const a = this.D(after);
    const changes: Array<[string, number, number]> = [];
    for (const k of new Set([...a.keys(), ...b.keys()])) {
      const x = b.get(k) ?? 0;
      const y = a.get(k) ?? 0;
      changes.push([k, Math.min(y, 0) - Math.min(x, 0), Math.max(y, 0) - Math.max(x, 0)]);
    }
    for (const [k, dm] of changes) {
      const s = this.acc.get(k)!;
      if (k === 'A' && dm < 0 && s.own + s.min + dm < 0) return false;
    }
    if (apply)
      for (const [k, dm, dx] of changes) {
        const s = this.acc.get(k)!;
        s.min += dm;
        s.max += dx;
      }
    return true;
  }
  apply(id: string, o: Call): string {
    const payload = JSON.stringify(o);
    const p = this.plans.get(id);
    if (o.t === 'hold') {
      const rj = this.rejected.get(`hold:${id}`);
      if (rj !== undefined) return rj === payload ? 'SW_ERR_LEDGER_INSUFFICIENT_FUNDS' : 'SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH';
      if (p) return p.hold === payload ? 'ok' : 'SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH';
      if (!this.pending([], o.ps, true)) {
        this.rejected.set(`hold:${id}`, payload);
        return 'SW_ERR_LEDGER_INSUFFICIENT_FUNDS';
      }
      this.plans.set(id, { state: 'HOLD', hold: payload, batches: new Map([[1, payload]]), postings: [...o.ps] });
      return 'ok';
    }
    if (!p) return 'SW_ERR_LEDGER_PLAN_NOT_FOUND';
    if (o.t === 'batch') {
      const prev = p.batches.get(o.n);
      if (prev !== undefined) return prev === payload ? 'ok' : 'SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH';
      if (this.rejected.has(`batch:${id}:${o.n}:${payload}`)) return 'SW_ERR_LEDGER_INSUFFICIENT_FUNDS';
      if (p.state !== 'HOLD') return 'SW_ERR_LEDGER_PLAN_STATE';
      if (o.n !== Math.max(...p.batches.keys()) + 1) return 'SW_ERR_LEDGER_BATCH_ORDER';
      if (!this.pending(p.postings, [...p.postings, ...o.ps], true)) {
        this.rejected.set(`batch:${id}:${o.n}:${payload}`, payload);
        return 'SW_ERR_LEDGER_INSUFFICIENT_FUNDS';
      }
      p.batches.set(o.n, payload);
      p.postings.push(...o.ps);
      return 'ok';
    }
    const target = o.t === 'commit' ? 'COMMIT' : 'ROLLBACK';
    if (p.state !== 'HOLD') {
      if (p.state !== target) return 'SW_ERR_LEDGER_PLAN_STATE';
      return p.close === payload ? 'ok' : 'SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH';
    }
    if (o.t === 'commit' && o.ps) {
      if (!this.pending(p.postings, o.ps, true)) return 'SW_ERR_LEDGER_INSUFFICIENT_FUNDS';
      const last = Math.max(...p.batches.keys());
      p.batches.set(last + 1, 'revert');
      p.batches.set(last + 2, 'final');
      p.postings = [...o.ps];
    }
    for (const [k, v] of this.D(p.postings)) {
      const s = this.acc.get(k)!;
      if (target === 'COMMIT') s.own += v;
      s.min -= Math.min(v, 0);
      s.max -= Math.max(v, 0);
    }
    p.state = target;
    p.close = payload;
    return 'ok';
  }
}
