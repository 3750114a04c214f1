/**
 * Model-based property test of decide() (src/ledger/decide.ts), in memory: the model, the operation arbitrary and
 * the replay rule of test/ledger/model.test.ts (hold / add batch / commit, plain or with final postings /
 * rollback / replays of an earlier call), without PostgreSQL, so thousands of sequences instead of 60.
 *
 * Each public call is what the ledger does for it (docs/ledger.md, "Write path and growth"): the LedgerOp built as
 * ledger.ts builds it (postings resolved to account ids, payload hash from hashOf) → load → decide → write, one
 * call per transaction. `MemDb` below stands in for the tables: `load` returns what store.ts load() reads (plans
 * with their postings, batch hashes from the journal, the recorded rejections the requests name, account
 * metadata, balances of no-negative accounts only) and `write` applies decide's Writes as store.ts write() does,
 * refusing what the database's statement-level checks refuse (docs/ledger.md, "Model": plans created in HOLD at
 * step 1 or COMMIT at step 2, only HOLD → …, batches and steps only grow, keys unique, deltas conserve money).
 *
 * Checked after every step:
 *  - the answer (result or error code) agrees with the model; a success has the result shape of its call;
 *  - the database accepts decide's writes;
 *  - the state decide left (it updates the loaded state in place, new plans included) agrees with what load()
 *    reads back after write(): state, batches, steps, hashes, postings, rejections, no-negative balances; and the
 *    journal has steps 2..last_step, the postings batches 1..last_batch;
 *  - the balances of every account (posted, pending debits, pending credits, the sums of the delta rows) agree
 *    with the model;
 *  - the invariants (docs/ledger.md, "Model"): per currency Σ posted = 0 and Σ pending debits = Σ pending credits;
 *    pending debits and credits ≥ 0; no no-negative account has min available below zero.
 * And that the test can fail: a hand-built sequence with its expected answers (a replay with a different payload
 * is SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH, a rejected hold stays rejected after funds arrive), and decide() with
 * three planted faults, each of which the property must find.
 *
 * FC_SEED replays another seed (propertyHolds in test/helpers/seed.ts); a failure prints fast-check's report.
 */
import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import fc from 'fast-check';
import { propertyHolds } from '../helpers/seed.js';
import { compensationId, decide } from '../../src/ledger/decide.js';
import { NO_FEES } from '../../src/ledger/fees.js';
import { hashOf, postingsForHash } from '../../src/ledger/validate.js';
import type { HoldRow, LedgerOp, LedgerResult, LoadedState, Posting, Rejection, RPosting, WPlan, Writes } from '../../src/ledger/types.js';
// the model and the operation arbitrary, shared with test/ledger/model.test.ts
import { ACCOUNTS, Model, sequences, type Call, type Op, type P } from './plan-model.js';

// ── the tables, in memory: what store.ts load() reads and write() writes ─────────────────────────────────

const CURRENCY = 978;
/** Account ids as ensureAccount would have assigned them (A..D = 1..4). */
const ACCOUNT_ID = new Map<string, number>(ACCOUNTS.map((a, i) => [a, i + 1]));
/** The partition day; ledger.ts takes utcDay() at the call, which only names the partition. */
const DAY = '2025-01-01';

interface PlanRow {
  id: string;
  day: string;
  state: WPlan['state'];
  kind: WPlan['kind'];
  lastBatch: number;
  lastStep: number;
  holdHash: string;
  closeHash: string | null;
  row: HoldRow;
  finalAmount: bigint | null;
  finalFee: bigint | null;
}
type PostingRow = Writes['postings'][number];
type JournalRow = Writes['journal'][number];
interface Balance {
  own: bigint;
  min: bigint;
  max: bigint;
}

class DbRefused extends Error {}

class MemDb {
  readonly accounts = new Map<number, { id: number; code: string; currency: number; noNegative: boolean }>(
    ACCOUNTS.map((a) => [ACCOUNT_ID.get(a)!, { id: ACCOUNT_ID.get(a)!, code: a, currency: CURRENCY, noNegative: a === 'A' }]),
  );
  readonly plans = new Map<string, PlanRow>();
  readonly postings = new Map<string, PostingRow[]>();
  readonly journal = new Map<string, JournalRow[]>();
  readonly rejections = new Map<string, Rejection>();
  /** Σ of the delta rows per account (no folder runs; the account rows stay at zero, so this is the balance). */
  readonly balances = new Map<number, Balance>([...this.accounts.keys()].map((id) => [id, { own: 0n, min: 0n, max: 0n }]));
  deltaRows = 0;

  /** store.ts load(): the plans the requests name, their postings and batch hashes, the rejections they name, accounts. */
  load(reqs: readonly LedgerOp[]): LoadedState {
    const ids = new Set<string>();
    const rejKeys: string[] = [];
    const accIds = requestAccounts(reqs);
    for (const r of reqs) {
      ids.add(r.planId);
      if (r.op === 'release') ids.add(compensationId(r.planId));
      if (r.op === 'hold') rejKeys.push(`hold:${r.planId}`);
      else if (r.op === 'batch') rejKeys.push(`batch:${r.planId}:${r.batchId}:${r.hash.slice(2)}`);
    }
    const state: LoadedState = { plans: new Map(), accounts: new Map(), rejections: new Map() };
    for (const id of [...ids].sort()) {
      const v = this.plans.get(id);
      if (!v) continue;
      const p: WPlan = {
        id: v.id,
        day: v.day,
        isNew: false,
        state: v.state,
        kind: v.kind,
        lastBatch: v.lastBatch,
        lastStep: v.lastStep,
        holdHash: v.holdHash,
        closeHash: v.closeHash,
        amount: v.row.amount,
        fee: v.row.fee,
        finalAmount: v.finalAmount,
        finalFee: v.finalFee,
        acquirer: v.row.acquirer,
        terminal: v.row.terminal,
        merchant: v.row.merchant,
        currency: v.row.currency,
        postings: [],
        batchHashes: new Map(),
        dirty: false,
      };
      for (const x of this.postings.get(id) ?? []) {
        p.postings.push({ batchId: x.batchId, from: x.from, to: x.to, amount: x.amount, currency: x.currency });
        accIds.add(x.from).add(x.to);
      }
      p.postings.sort((a, b) => a.batchId - b.batchId);
      // journal rows that name a batch: every batch after the hold, the internal ones of a partial capture included
      for (const j of this.journal.get(id) ?? []) if (j.batchId !== null) p.batchHashes.set(j.batchId, j.hash);
      state.plans.set(id, p);
    }
    for (const k of rejKeys) {
      const r = this.rejections.get(k);
      if (r) state.rejections.set(k, { ...r });
    }
    for (const id of accIds) {
      const a = this.accounts.get(id);
      if (!a) continue;
      // balances are read (under lock) for no-negative accounts only
      const b = a.noNegative ? this.balances.get(id)! : { own: 0n, min: 0n, max: 0n };
      state.accounts.set(id, { id, currency: a.currency, noNegative: a.noNegative, own: b.own, min: b.min, max: b.max });
    }
    return state;
  }

  /** store.ts write(): one statement, refused whole by the database's checks (migrations 001–003). */
  write(w: Writes): void {
    const refuse = (why: string): never => {
      throw new DbRefused(`database refuses the write: ${why}`);
    };
    const deltas = [...w.deltas.values()].filter((d) => d.own !== 0n || d.min !== 0n || d.max !== 0n);
    // checks first (the statement is all or nothing)
    for (const { plan } of w.plans) {
      if (this.plans.has(plan.id)) refuse(`plan ${plan.id} exists`);
      if (!((plan.state === 'HOLD' && plan.lastStep === 1) || (plan.state === 'COMMIT' && plan.lastStep === 2))) {
        refuse(`plan ${plan.id} created ${plan.state} at step ${plan.lastStep}`);
      }
    }
    const postingKeys = new Set<string>();
    for (const x of w.postings) {
      const k = `${x.planId}/${x.batchId}/${x.seq}`;
      if (postingKeys.has(k) || (this.postings.get(x.planId) ?? []).some((y) => y.batchId === x.batchId && y.seq === x.seq)) refuse(`posting ${k} exists`);
      postingKeys.add(k);
      if (x.amount <= 0n || x.from === x.to || x.batchId < 1 || x.seq < 0) refuse(`posting ${k} malformed`);
      for (const id of [x.from, x.to]) if (this.accounts.get(id)?.currency !== x.currency) refuse(`posting ${k} names account ${id} of another currency`);
    }
    const steps = new Set<string>();
    for (const j of w.journal) {
      const k = `${j.planId}/${j.step}`;
      if (steps.has(k) || (this.journal.get(j.planId) ?? []).some((y) => y.step === j.step)) refuse(`journal step ${k} exists`);
      steps.add(k);
      if (j.step < 2 || (j.op === 'batch') !== (j.batchId !== null) || !['batch', 'commit', 'rollback'].includes(j.op)) refuse(`journal step ${k} malformed`);
    }
    const rejKeys = new Set<string>();
    for (const r of w.rejections) {
      if (rejKeys.has(r.key) || this.rejections.has(r.key)) refuse(`rejection ${r.key} exists`);
      rejKeys.add(r.key);
    }
    const perCurrency = new Map<number, { own: bigint; pending: bigint }>();
    for (const d of deltas) {
      if (this.accounts.get(d.account)?.currency !== d.currency) refuse(`delta for account ${d.account} in currency ${d.currency}`);
      const c = perCurrency.get(d.currency) ?? { own: 0n, pending: 0n };
      c.own += d.own;
      c.pending += d.min + d.max;
      perCurrency.set(d.currency, c);
    }
    for (const [cur, c] of perCurrency)
      if (c.own !== 0n || c.pending !== 0n) refuse(`deltas do not conserve currency ${cur} (posted ${c.own}, pending ${c.pending})`);
    for (const p of w.dirty) {
      const old = this.plans.get(p.id);
      if (!old || old.day !== p.day) continue; // the update matches no row
      if (old.state !== 'HOLD') refuse(`plan ${p.id} is ${old.state} (final); ${p.state} refused`);
      if (p.lastBatch < old.lastBatch || p.lastStep < old.lastStep) refuse(`plan ${p.id} batches only grow`);
    }
    // then the rows
    for (const { plan, hash, row } of w.plans) {
      const held = plan.state === 'HOLD';
      this.plans.set(plan.id, {
        id: plan.id,
        day: plan.day,
        state: plan.state,
        kind: row.kind,
        lastBatch: 1,
        lastStep: plan.lastStep,
        holdHash: hash,
        closeHash: plan.closeHash,
        row: { ...row },
        finalAmount: held ? null : plan.finalAmount,
        finalFee: held ? null : plan.finalFee,
      });
    }
    for (const x of w.postings) push(this.postings, x.planId, { ...x });
    for (const j of w.journal) push(this.journal, j.planId, { ...j });
    // params go through jsonb (store.ts jsonParams: bigints as text)
    for (const r of w.rejections) this.rejections.set(r.key, { hash: r.hash, code: r.code, params: viaJsonb(r.params) });
    for (const d of deltas) {
      const b = this.balances.get(d.account)!;
      b.own += d.own;
      b.min += d.min;
      b.max += d.max;
      this.deltaRows++;
    }
    for (const p of w.dirty) {
      const old = this.plans.get(p.id);
      if (!old || old.day !== p.day) continue;
      Object.assign(old, {
        state: p.state,
        lastBatch: p.lastBatch,
        lastStep: p.lastStep,
        closeHash: p.closeHash,
        finalAmount: p.finalAmount,
        finalFee: p.finalFee,
      });
    }
  }
}

const viaJsonb = (v: Rejection['params']): Rejection['params'] =>
  JSON.parse(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x))) as Rejection['params'];

function push<T>(m: Map<string, T[]>, k: string, v: T): void {
  const a = m.get(k);
  if (a) a.push(v);
  else m.set(k, [v]);
}

/** ledger.ts requestAccounts(): the accounts the requests' postings name. */
function requestAccounts(reqs: readonly LedgerOp[]): Set<number> {
  const s = new Set<number>();
  for (const r of reqs) {
    if (r.op === 'hold' || r.op === 'batch') for (const p of r.postings) s.add(p.from).add(p.to);
    if (r.op === 'commit' && r.finalPostings) for (const p of r.finalPostings) s.add(p.from).add(p.to);
  }
  return s;
}

// ── the requests, built as ledger.ts builds them for each public call ───────────────────────────────────

const toPostings = (ps: P[]): Posting[] => ps.map((x) => ({ from: x.from, to: x.to, amount: BigInt(x.amount), currency: CURRENCY }));

/** ledger.ts resolvePostings() for the postings the arbitrary makes (valid: non-empty, from ≠ to, amount > 0, accounts exist). */
function resolve(ps: readonly Posting[]): RPosting[] {
  if (ps.length === 0) throw new Error('a batch needs at least one posting (refused before decide)');
  return ps.map((p) => ({ from: ACCOUNT_ID.get(p.from)!, to: ACCOUNT_ID.get(p.to)!, amount: p.amount, currency: p.currency }));
}

/** The LedgerOp of a public call: hold(id, postings), addBatch(id, n, postings), commit(id[, { postings }]), rollback(id). */
function ledgerOp(id: string, o: Call): LedgerOp {
  if (o.t === 'hold') {
    const spec = toPostings(o.ps);
    const row: HoldRow = {
      kind: 'postings',
      acquirer: null,
      terminal: null,
      merchant: null,
      currency: null,
      amount: null,
      fee: null,
      panHash: null,
      panMasked: null,
    };
    return { op: 'hold', planId: id, day: DAY, hash: hashOf(['hold', id, postingsForHash(spec), null, null]), postings: resolve(spec), row };
  }
  if (o.t === 'batch') {
    const spec = toPostings(o.ps);
    return { op: 'batch', planId: id, batchId: o.n, hash: hashOf(['batch', id, o.n, postingsForHash(spec)]), postings: resolve(spec) };
  }
  if (o.t === 'commit') {
    if (!o.ps) return { op: 'commit', planId: id, hash: hashOf(['commit', id]) };
    const spec = toPostings(o.ps);
    return { op: 'commit', planId: id, hash: hashOf(['commit', id, 'postings', postingsForHash(spec)]), finalPostings: resolve(spec) };
  }
  return { op: 'rollback', planId: id, hash: hashOf(['rollback', id]) };
}

/** What a successful call answers (postings plans carry no amount or fee). */
function expectedResult(id: string, o: Call): LedgerResult {
  if (o.t === 'hold') return { planId: id, state: 'HOLD', batchId: 1 };
  if (o.t === 'batch') return { planId: id, batchId: o.n };
  if (o.t === 'commit') return { planId: id, state: 'COMMIT' };
  return { planId: id, state: 'ROLLBACK' };
}

// ── one sequence: every call through load → decide → write, checked against the model ─────────────────

type Decide = typeof decide;

const show = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x instanceof Map ? [...x] : x));

/** Runs `seq` (replays resolved against the calls made so far); throws at the first disagreement. Returns the answers. */
function runSequence(seq: readonly Op[], decideFn: Decide = decide): string[] {
  const db = new MemDb();
  const model = new Model();
  const done: Call[] = [];
  const answers: string[] = [];
  for (const raw of seq) {
    const o = raw.t === 'replay' ? done[raw.k % Math.max(1, done.length)] : raw;
    if (!o) continue;
    // commit payloads normalised so a replay of "the same call" is the same payload in both worlds
    const mo: Call = o.t === 'commit' ? (o.ps ? { t: 'commit', p: o.p, ps: o.ps } : { t: 'commit', p: o.p }) : o;
    const id = `p${o.p}`;
    const where = `${show(o)} on ${id} (call ${done.length + 1})`;
    const expected = model.apply(id, mo);

    const req = ledgerOp(id, o);
    const state = db.load([req]);
    const { results, writes } = decideFn(state, [req], NO_FEES);
    if (results.length !== 1) throw new Error(`${where}: decide answered ${results.length} results for 1 request`);
    const res = results[0]!;
    const got = res instanceof Error ? ((res as { code?: string }).code ?? String(res)) : 'ok';
    if (got !== expected) throw new Error(`${where}: decide ${got}, model ${expected}`);
    if (!(res instanceof Error) && !isDeepStrictEqual(res, expectedResult(id, o)))
      throw new Error(`${where}: result ${show(res)}, expected ${show(expectedResult(id, o))}`);
    db.write(writes);
    checkPersisted(where, db, req, state, writes);
    checkBalances(where, db, model);
    answers.push(got);
    done.push(o);
  }
  return answers;
}

/**
 * The state decide() left (changed in place: new plans added, batches, steps, balances, rejections) agrees with
 * what load() reads after write(). One difference is allowed: batch 1 has no journal row (the plan row records
 * the hold). The internal batches of a commit with final postings are in both: decide records their hashes as
 * load() reads them back, so an addBatch of their ids answers the same inside one group-committed transaction
 * as in a later one (SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH).
 */
function checkPersisted(where: string, db: MemDb, req: LedgerOp, left: LoadedState, writes: Writes): void {
  const back = db.load([req]);
  const mine = left.plans.get(req.planId);
  const read = back.plans.get(req.planId);
  if (!mine !== !read) throw new Error(`${where}: plan ${mine ? 'decided but not written' : 'written but not decided'}`);
  if (mine && read) {
    for (const k of ['state', 'kind', 'lastBatch', 'lastStep', 'holdHash', 'closeHash', 'finalAmount', 'finalFee'] as const) {
      if (mine[k] !== read[k]) throw new Error(`${where}: plan ${k} decided ${show(mine[k])}, read back ${show(read[k])}`);
    }
    const key = (x: WPlan['postings'][number]) => `${x.batchId}:${x.from}>${x.to}:${x.amount}:${x.currency}`;
    const a = mine.postings.map(key).sort();
    const b = read.postings.map(key).sort();
    if (!isDeepStrictEqual(a, b)) throw new Error(`${where}: postings decided ${show(a)}, read back ${show(b)}`);
    for (const [batch, h] of mine.batchHashes) {
      if (batch >= 2 && read.batchHashes.get(batch) !== h)
        throw new Error(`${where}: batch ${batch} hash decided ${h}, read back ${read.batchHashes.get(batch)}`);
    }
    for (const [batch, h] of read.batchHashes) {
      if (batch >= 2 && mine.batchHashes.get(batch) !== h)
        throw new Error(`${where}: batch ${batch} hash read back ${h}, decided ${mine.batchHashes.get(batch)}`);
    }
    // the journal has steps 2..last_step (the plan row is step 1), closed by the commit or rollback; batches 1..last_batch
    const js = (db.journal.get(req.planId) ?? []).map((j) => j.step).sort((x, y) => x - y);
    if (
      !isDeepStrictEqual(
        js,
        Array.from({ length: read.lastStep - 1 }, (_, i) => i + 2),
      )
    )
      throw new Error(`${where}: journal steps ${show(js)}, last step ${read.lastStep}`);
    const last = (db.journal.get(req.planId) ?? []).find((j) => j.step === read.lastStep);
    if (read.state !== 'HOLD' && last?.op !== read.state.toLowerCase()) throw new Error(`${where}: ${read.state} plan's last journal step is ${show(last)}`);
    const bs = [...new Set(read.postings.map((x) => x.batchId))].sort((x, y) => x - y);
    if (
      !isDeepStrictEqual(
        bs,
        Array.from({ length: read.lastBatch }, (_, i) => i + 1),
      )
    )
      throw new Error(`${where}: posting batches ${show(bs)}, last batch ${read.lastBatch}`);
  }
  for (const r of writes.rejections) {
    if (!isDeepStrictEqual(left.rejections.get(r.key), db.rejections.get(r.key)))
      throw new Error(`${where}: rejection ${r.key} decided ${show(left.rejections.get(r.key))}, stored ${show(db.rejections.get(r.key))}`);
  }
  for (const [id, a] of left.accounts) {
    if (!a.noNegative) continue;
    const b = db.balances.get(id)!;
    if (a.own !== b.own || a.min !== b.min || a.max !== b.max) throw new Error(`${where}: account ${id} decided ${show(a)}, stored ${show(b)}`);
  }
}

/** Balances (sums of the delta rows) agree with the model; the invariants of docs/ledger.md, "Model", hold. */
function checkBalances(where: string, db: MemDb, model: Model): void {
  const sums = new Map<number, { posted: bigint; debits: bigint; credits: bigint }>();
  for (const a of ACCOUNTS) {
    const info = db.accounts.get(ACCOUNT_ID.get(a)!)!;
    const b = db.balances.get(info.id)!;
    const got = { posted: b.own, debitsPending: -b.min, creditsPending: b.max };
    const m = model.acc.get(a)!;
    const want = { posted: BigInt(m.own), debitsPending: BigInt(-m.min), creditsPending: BigInt(m.max) };
    if (!isDeepStrictEqual(got, want)) throw new Error(`${where}: account ${a}: decide ${show(got)}, model ${show(want)}`);
    if (got.debitsPending < 0n || got.creditsPending < 0n) throw new Error(`${where}: account ${a} has negative pending ${show(got)}`);
    if (info.noNegative && b.own + b.min < 0n) throw new Error(`${where}: no-negative account ${a} at min available ${b.own + b.min}`);
    const s = sums.get(info.currency) ?? { posted: 0n, debits: 0n, credits: 0n };
    s.posted += got.posted;
    s.debits += got.debitsPending;
    s.credits += got.creditsPending;
    sums.set(info.currency, s);
  }
  for (const [cur, s] of sums) {
    if (s.posted !== 0n || s.debits !== s.credits)
      throw new Error(`${where}: currency ${cur}: Σ posted ${s.posted}, Σ pending debits ${s.debits}, credits ${s.credits}`);
  }
}

// ── the tests ───────────────────────────────────────────────────────────────────────────────────────────

const NUM_RUNS = 10_000;
const SEED = 8583;

t.test('decide() agrees with the model on random operation sequences', async (t) => {
  let calls = 0;
  let replays = 0;
  const codes = new Map<string, number>();
  const t0 = performance.now();
  await propertyHolds(
    t,
    fc.property(sequences, (seq) => {
      for (const a of runSequence(seq)) codes.set(a, (codes.get(a) ?? 0) + 1);
      calls += seq.length;
      replays += seq.filter((o) => o.t === 'replay').length;
    }),
    { numRuns: NUM_RUNS, seed: SEED, endOnFailure: true },
    'load → decide → write answers and balances as the model does',
  );
  t.comment(`${calls} calls (${replays} replays) in ${Math.round(performance.now() - t0)} ms; answers ${show(Object.fromEntries([...codes].sort()))}`);
  // the sequences reach every answer the model knows, so each branch was compared
  for (const c of [
    'ok',
    'SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH',
    'SW_ERR_LEDGER_INSUFFICIENT_FUNDS',
    'SW_ERR_LEDGER_PLAN_NOT_FOUND',
    'SW_ERR_LEDGER_PLAN_STATE',
    'SW_ERR_LEDGER_BATCH_ORDER',
  ]) {
    t.ok((codes.get(c) ?? 0) > 0, `answered ${c} (${codes.get(c) ?? 0} times)`);
  }
});

t.test('a hand-built sequence gives the answers docs/ledger.md ("Idempotency") names', async (t) => {
  const B_C_10: P[] = [{ from: 'B', to: 'C', amount: 10 }];
  const seq: Op[] = [
    { t: 'hold', p: 0, ps: B_C_10 }, // 1 ok
    { t: 'replay', k: 0 }, // 2 the same hold again: the same answer
    { t: 'hold', p: 0, ps: [{ from: 'B', to: 'C', amount: 11 }] }, // 3 same id, different payload
    { t: 'hold', p: 1, ps: [{ from: 'A', to: 'B', amount: 5 }] }, // 4 A (no-negative) has nothing
    { t: 'hold', p: 2, ps: [{ from: 'B', to: 'A', amount: 5 }] }, // 5 funds for A…
    { t: 'commit', p: 2 }, // 6 …posted
    { t: 'replay', k: 3 }, // 7 the rejected hold stays rejected after funds arrive
    { t: 'hold', p: 1, ps: [{ from: 'A', to: 'B', amount: 4 }] }, // 8 and its id refuses another payload
    { t: 'batch', p: 0, n: 3, ps: B_C_10 }, // 9 batch 3 before 2
    { t: 'batch', p: 0, n: 2, ps: B_C_10 }, // 10 ok
    { t: 'batch', p: 0, n: 2, ps: [{ from: 'C', to: 'B', amount: 1 }] }, // 11 batch 2 again, different payload
    { t: 'commit', p: 0, ps: [{ from: 'B', to: 'D', amount: 7 }] }, // 12 commit with final postings (batches 3, 4 internal)
    { t: 'batch', p: 0, n: 3, ps: B_C_10 }, // 13 batch 3 is the commit's revert batch
    { t: 'commit', p: 0 }, // 14 committed with final postings: a plain commit is another payload
    { t: 'rollback', p: 0 }, // 15 committed
    { t: 'rollback', p: 3 }, // 16 no such plan
  ];
  t.same(runSequence(seq), [
    'ok',
    'ok',
    'SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH',
    'SW_ERR_LEDGER_INSUFFICIENT_FUNDS',
    'ok',
    'ok',
    'SW_ERR_LEDGER_INSUFFICIENT_FUNDS',
    'SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH',
    'SW_ERR_LEDGER_BATCH_ORDER',
    'ok',
    'SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH',
    'ok',
    'SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH',
    'SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH',
    'SW_ERR_LEDGER_PLAN_STATE',
    'SW_ERR_LEDGER_PLAN_NOT_FOUND',
  ]);
  // the checks are not vacuous: the replay of call 3 is refused by decide, and a run that expected otherwise fails
  const mismatchOk: Decide = (state, reqs, fees) => {
    const out = decide(state, reqs, fees);
    const answered = (r: LedgerResult | Error): LedgerResult | Error =>
      (r as { code?: string }).code === 'SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH' ? { planId: reqs[0]!.planId, state: 'HOLD', batchId: 1 } : r;
    return { ...out, results: out.results.map(answered) };
  };
  t.throws(
    () => runSequence(seq.slice(0, 3), mismatchOk),
    /hold.*on p0 \(call 3\): decide ok, model SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH/,
    'a replay with a different payload answered ok fails the check',
  );
});

/** decide() with a planted fault; the property must find a counterexample. */
const mutants: Array<{ name: string; fault: Decide; finds: RegExp }> = [
  {
    name: 'idempotency by plan id only (a hold replay with another payload answered as the first)',
    fault: (state, reqs, fees) =>
      decide(
        state,
        reqs.map((r) => (r.op === 'hold' && state.plans.has(r.planId) ? { ...r, hash: state.plans.get(r.planId)!.holdHash } : r)),
        fees,
      ),
    finds: /decide ok, model SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH/,
  },
  {
    name: 'recorded rejections not loaded (a rejected hold or batch decided afresh on replay)',
    fault: (state, reqs, fees) => {
      state.rejections.clear();
      return decide(state, reqs, fees);
    },
    // a replay decided afresh: accepted once funds arrived, refused for funds instead of another payload, or recorded twice
    finds: /decide \S+, model SW_ERR_LEDGER_(INSUFFICIENT_FUNDS|IDEMPOTENCY_MISMATCH)|rejection \S+ exists/,
  },
  {
    name: 'a closed plan not written back (Writes.dirty dropped)',
    fault: (state, reqs, fees) => {
      const out = decide(state, reqs, fees);
      return { ...out, writes: { ...out.writes, dirty: [] } };
    },
    finds: /decided .*read back/,
  },
  {
    name: 'pending credits left out of the balance deltas',
    fault: (state, reqs, fees) => {
      const out = decide(state, reqs, fees);
      for (const d of out.writes.deltas.values()) d.max = 0n;
      return out;
    },
    finds: /database refuses the write: deltas do not conserve/,
  },
];

t.test('the property finds planted faults in decide()', async (t) => {
  for (const m of mutants) {
    const r = fc.check(
      fc.property(sequences, (seq) => void runSequence(seq, m.fault)),
      { numRuns: NUM_RUNS, seed: SEED },
    );
    t.ok(r.failed, `found: ${m.name}${r.failed ? ` (after ${r.numRuns} runs, shrunk to ${r.counterexample?.[0].length} calls)` : ''}`);
    t.match(
      String((r.errorInstance as Error | undefined)?.message ?? ''),
      m.finds,
      `  with the expected disagreement: ${String((r.errorInstance as Error | undefined)?.message ?? '').slice(0, 160)}`,
    );
  }
});
