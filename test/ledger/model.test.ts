/**
 * Model-based property test: random sequences of hold / add batch / commit (plain or with final postings) /
 * rollback / replays against an in-memory model of posting plans; every answer (result or error code) and
 * every balance must agree, and the audit must pass.
 */
import t from 'tap';
import fc from 'fast-check';
import { testDb } from '../helpers/db.js';
import { propertyHolds } from '../helpers/seed.js';
import { createLedger, type Posting } from '../../src/ledger/ledger.js';

const ACCOUNTS = ['A', 'B', 'C', 'D'] as const; // A may not go negative
type P = { from: string; to: string; amount: number };
type Op =
  | { t: 'hold'; p: number; ps: P[] }
  | { t: 'batch'; p: number; n: number; ps: P[] }
  | { t: 'commit'; p: number; ps?: P[] }
  | { t: 'rollback'; p: number }
  | { t: 'replay'; k: number };

const posting = fc
  .record({ from: fc.constantFrom(...ACCOUNTS), to: fc.constantFrom(...ACCOUNTS), amount: fc.integer({ min: 1, max: 60 }) })
  .filter((x) => x.from !== x.to);
const postings = fc.array(posting, { minLength: 1, maxLength: 3 });
const planIdx = fc.integer({ min: 0, max: 4 });
const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ t: fc.constant('hold' as const), p: planIdx, ps: postings }), weight: 4 },
  { arbitrary: fc.record({ t: fc.constant('batch' as const), p: planIdx, n: fc.integer({ min: 2, max: 4 }), ps: postings }), weight: 3 },
  { arbitrary: fc.record({ t: fc.constant('commit' as const), p: planIdx, ps: fc.option(postings, { nil: undefined }) }), weight: 2 },
  { arbitrary: fc.record({ t: fc.constant('rollback' as const), p: planIdx }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('replay' as const), k: fc.nat() }), weight: 2 },
);

interface MPlan {
  state: 'HOLD' | 'COMMIT' | 'ROLLBACK';
  hold: string;
  close?: string;
  batches: Map<number, string>;
  postings: P[];
}

class Model {
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
  apply(id: string, o: Exclude<Op, { t: 'replay' }>): string {
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

const toPostings = (ps: P[]): Posting[] => ps.map((x) => ({ from: x.from, to: x.to, amount: BigInt(x.amount), currency: 978 }));

t.test('ledger agrees with the model on random operation sequences', async (t) => {
  const db = await testDb(t);
  const ledger = await createLedger({ pool: db.pool });
  t.teardown(() => ledger.close());
  for (const a of ACCOUNTS) await ledger.ensureAccount({ code: a, kind: 'system', currency: 978, noNegative: a === 'A' });
  const model = new Model();
  let run = 0;
  let ops = 0;
  // FC_SEED replays another run (propertyHolds reads it); the failure report prints the seed and path
  await propertyHolds(
    t,
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), async (seq) => {
      run++;
      const done: Array<Exclude<Op, { t: 'replay' }>> = [];
      for (const raw of seq) {
        const o = raw.t === 'replay' ? done[raw.k % Math.max(1, done.length)] : raw;
        if (!o) continue;
        // commit/rollback payloads: normalise so replays of "the same call" hash the same in both worlds
        const id = `r${run}-p${o.p}`;
        const mo: Exclude<Op, { t: 'replay' }> = o.t === 'commit' ? (o.ps ? { t: 'commit', p: o.p, ps: o.ps } : { t: 'commit', p: o.p }) : o;
        const expected = model.apply(id, mo);
        let got: string;
        try {
          if (o.t === 'hold') await ledger.hold(id, toPostings(o.ps));
          else if (o.t === 'batch') await ledger.addBatch(id, o.n, toPostings(o.ps));
          else if (o.t === 'commit') await ledger.commit(id, o.ps ? { postings: toPostings(o.ps) } : undefined);
          else await ledger.rollback(id);
          got = 'ok';
        } catch (e) {
          got = (e as { code?: string }).code ?? String(e);
        }
        ops++;
        if (got !== expected) throw new Error(`${JSON.stringify(o)} on ${id}: ledger ${got}, model ${expected}`);
        done.push(o);
      }
      for (const a of ACCOUNTS) {
        const b = await ledger.balances(a);
        const m = model.acc.get(a)!;
        const got = { own: Number(b.posted), min: Number(b.minAvailable - b.posted), max: Number(b.maxAvailable - b.posted) };
        if (JSON.stringify(got) !== JSON.stringify(m)) throw new Error(`account ${a}: ledger ${JSON.stringify(got)}, model ${JSON.stringify(m)}`);
      }
    }),
    { numRuns: 60, seed: 138, endOnFailure: true },
    'the ledger answers and balances as the model does',
  );
  t.ok(ops > 100, `${ops} operations compared`);
  const r = await ledger.check();
  t.same(r.violations, []);
});
