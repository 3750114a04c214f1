/**
 * Read side of the switch's tables for the admin API (src/admin/deps.ts): transaction search and history,
 * the store-and-forward queue and dead letters, and recent traffic as backtest input. Everything returned is
 * already safe to show: masked PANs only.
 */
import type pg from 'pg';
import { SwitchError } from '../../errors.js';
import { responseClass as classOf } from '../../iso8583/response-codes.js';
import { responseMti } from '../../iso8583/index.js';
import type {
  SafEntry,
  SafQueries,
  TrafficQueries,
  TrafficSeries,
  TrafficSeriesQuery,
  TransactionDetail,
  TransactionFilter,
  TransactionMessage,
  TransactionQueries,
  TransactionSummary,
} from '../../read-model.js';
import type { PastDecision } from '../../routing/backtest.js';
import { decodeExplanation } from '../../routing/explanation-codec.js';
import type { TxnRow } from './rows.js';

/** One definition of approved / declined / error (src/iso8583/response-codes.ts); null while in flight. */
function responseClass(code: string | null): string | null {
  return code === null ? null : classOf(code);
}

function summary(r: TxnRow): TransactionSummary {
  return {
    id: r.id,
    at: r.created_at.toISOString(),
    psp: r.psp,
    mti: r.mti,
    stan: r.psp_stan,
    rrn: r.acq_rrn,
    terminal: r.psp_terminal,
    merchant: r.psp_merchant,
    panMasked: r.pan_masked ?? '',
    amountMinor: r.amount ?? '0',
    currency: r.currency ?? '',
    responseCode: r.response_code,
    class: responseClass(r.response_code),
    acquirer: r.acquirer,
    routedTerminal: r.terminal,
    state: r.state,
  };
}

/** The messages of a transaction, rebuilt from its recorded fields (docs/admin.md, "Transaction explorer"). */
function messagesOf(r: TxnRow): TransactionMessage[] {
  const pick = (o: Record<string, string | null | undefined>): Record<string, string> =>
    Object.fromEntries(Object.entries(o).filter((e): e is [string, string] => typeof e[1] === 'string' && e[1] !== ''));
  const amount = r.amount === null ? null : r.amount.padStart(12, '0');
  const out: TransactionMessage[] = [
    {
      leg: 'psp_request',
      mti: r.mti,
      fields: pick({ 2: r.pan_masked, 4: amount, 7: r.psp_dt, 11: r.psp_stan, 41: r.psp_terminal, 42: r.psp_merchant, 49: r.currency }),
    },
  ];
  if (r.acquirer) {
    out.push({
      leg: 'acquirer_request',
      mti: r.mti,
      fields: pick({ 2: r.pan_masked, 4: amount, 7: r.acq_dt, 11: r.acq_stan, 37: r.acq_rrn, 41: r.acq_tid, 42: r.acq_mid, 49: r.currency }),
    });
    if (r.state !== 'sent' && r.state !== 'timed_out')
      out.push({
        leg: 'acquirer_answer',
        mti: responseMti(r.mti),
        fields: pick({ 11: r.acq_stan, 37: r.acq_rrn, 38: r.auth_code, 39: r.response_code, 4: r.approved_amount?.padStart(12, '0') }),
      });
  }
  if (r.response_code)
    out.push({ leg: 'psp_answer', mti: responseMti(r.mti), fields: pick({ 11: r.psp_stan, 37: r.acq_rrn, 38: r.auth_code, 39: r.response_code }) });
  return out;
}

export class SwitchTransactionQueries implements TransactionQueries {
  constructor(private readonly pool: pg.Pool) {}

  async search(f: TransactionFilter): Promise<TransactionSummary[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      args.push(v);
      where.push(sql.replace('?', `$${args.length}`));
    };
    if (f.rrn) add('acq_rrn = ?', f.rrn);
    if (f.stan) add('psp_stan = ?', f.stan);
    if (f.terminal) add('psp_terminal = ?', f.terminal);
    if (f.merchant) add('psp_merchant = ?', f.merchant);
    if (f.panMasked) add('pan_masked = ?', f.panMasked);
    if (f.last4) add('right(pan_masked, 4) = ?', f.last4);
    if (f.acquirer) add('acquirer = ?', f.acquirer);
    if (f.routedTerminal) add('terminal = ?', f.routedTerminal);
    if (f.responseCode) add('response_code = ?', f.responseCode);
    if (f.from) add('created_at >= ?', f.from);
    if (f.to) add('created_at < ?', f.to);
    args.push(Math.max(1, Math.min(500, f.limit)));
    const { rows } = await this.pool.query<TxnRow>(
      `select * from switch_txn ${where.length ? `where ${where.join(' and ')}` : ''} order by created_at desc limit $${args.length}`,
      args,
    );
    return rows.map(summary);
  }

  async get(id: string): Promise<TransactionDetail | null> {
    const { rows } = await this.pool.query<TxnRow>('select * from switch_txn where id = $1', [id]);
    const r = rows[0];
    if (!r) return null;
    const ev = await this.pool.query<{ event: string; at: Date; data: Record<string, unknown> | null }>(
      'select event, at, data from switch_txn_history where txn_id = $1 order by at, k',
      [id],
    );
    return {
      ...summary(r),
      events: ev.rows.map((e) => ({ at: e.at.toISOString(), type: e.event, detail: e.data ?? {} })),
      explanation: decodeExplanation(r.explanation),
      messages: messagesOf(r),
      // the token routing and risk see: the first 32 hex digits of the keyed hash (as src/switch/flows/authorize.ts)
      cardToken: r.pan_hash ? r.pan_hash.slice(0, 32) : null,
    };
  }
}

interface SafRow {
  id: string;
  txn_id: string;
  acquirer: string;
  mti: string;
  attempts: number;
  next_at: Date | null;
  last_error: string | null;
  created_at: Date;
  dead: boolean;
}

function safEntry(r: SafRow): SafEntry {
  return {
    id: String(r.id),
    txId: r.txn_id,
    acquirer: r.acquirer,
    mti: r.mti,
    attempts: r.attempts,
    state: r.dead ? 'dead' : 'pending',
    nextAttemptAt: r.dead || !r.next_at ? null : r.next_at.toISOString(),
    lastError: r.last_error,
    createdAt: r.created_at.toISOString(),
  };
}

const SAF_SELECT = `select s.id, s.txn_id, s.acquirer, s.mti, s.attempts, s.next_at, s.last_error, s.created_at,
  (d.saf_id is not null and d.retried_at is null) as dead
  from switch_saf s left join switch_dead_letter d on d.saf_id = s.id`;

export class SwitchSafQueries implements SafQueries {
  constructor(
    private readonly pool: pg.Pool,
    private readonly worker: { retry(safId: string): Promise<boolean> },
  ) {}

  async list(limit: number): Promise<SafEntry[]> {
    const { rows } = await this.pool.query<SafRow>(`${SAF_SELECT} where s.done_at is null order by s.created_at limit $1`, [limit]);
    return rows.map(safEntry);
  }

  async deadLetters(limit: number): Promise<SafEntry[]> {
    const { rows } = await this.pool.query<SafRow>(`${SAF_SELECT} where d.saf_id is not null and d.retried_at is null order by d.created_at limit $1`, [limit]);
    return rows.map(safEntry);
  }

  async retry(id: string): Promise<SafEntry | null> {
    if (!/^[0-9]{1,18}$/.test(id)) return null;
    const { rows } = await this.pool.query<SafRow>(`${SAF_SELECT} where s.id = $1`, [id]);
    if (!rows[0]) return null;
    if (!rows[0].dead) throw new SwitchError('SW_ERR_ADMIN_CONFLICT', { what: 'SAF entry', id, reason: 'it is not a dead letter' });
    await this.worker.retry(id);
    const after = await this.pool.query<SafRow>(`${SAF_SELECT} where s.id = $1`, [id]);
    return after.rows[0] ? safEntry(after.rows[0]) : null;
  }
}

/** Recent authorizations as backtest input: BIN and card token from the stored masked PAN and PAN hash. */
export class SwitchTrafficQueries implements TrafficQueries {
  constructor(private readonly pool: pg.Pool) {}

  /** Volume, approval rate and p95 latency per bucket and key, from the switch's own records. */
  async series(q: TrafficSeriesQuery): Promise<TrafficSeries> {
    const bucketSeconds = q.window === 'hour' ? 300 : 3600;
    const n = q.window === 'hour' ? 12 : 24;
    const end = Math.ceil((q.now ?? new Date()).getTime() / (bucketSeconds * 1000)) * bucketSeconds * 1000;
    const start = new Date(end - n * bucketSeconds * 1000);
    // the rule is the explanation's fourth field (src/routing/explanation-codec.ts)
    const key =
      q.by === 'acquirer'
        ? `coalesce(acquirer, '(none)')`
        : q.by === 'terminal'
          ? `coalesce(terminal, '(none)')`
          : `coalesce(nullif(split_part(explanation, '|', 4), ''), '(none)')`;
    const { rows } = await this.pool.query<{ b: Date; k: string; code: string | null; n: string; p95: number | null }>(
      `select date_bin(make_interval(secs => $1), created_at, $2) as b, ${key} as k, response_code as code, count(*)::text as n,
              percentile_cont(0.95) within group (order by extract(epoch from (updated_at - created_at)) * 1000) filter (where state <> 'sent') as p95
         from switch_txn where kind in ('auth', 'financial') and created_at >= $2 and created_at < $3
        group by 1, 2, 3`,
      [bucketSeconds, start, new Date(end)],
    );
    const buckets = Array.from({ length: n }, (_, i) => new Date(start.getTime() + i * bucketSeconds * 1000).toISOString());
    const byKey = new Map<string, { volume: number[]; approved: number[]; answered: number[]; p95: Array<number | null> }>();
    for (const r of rows) {
      const i = Math.floor((r.b.getTime() - start.getTime()) / (bucketSeconds * 1000));
      if (i < 0 || i >= n) continue;
      let s = byKey.get(r.k);
      if (!s)
        byKey.set(
          r.k,
          (s = {
            volume: new Array<number>(n).fill(0),
            approved: new Array<number>(n).fill(0),
            answered: new Array<number>(n).fill(0),
            p95: new Array<number | null>(n).fill(null),
          }),
        );
      const count = Number(r.n);
      s.volume[i]! += count;
      if (r.code) s.answered[i]! += count;
      if (r.code && classOf(r.code) === 'approved') s.approved[i]! += count;
      // the largest of the codes' p95: an upper bound of the bucket's p95, the figure an SRE reads first
      if (r.p95 !== null) s.p95[i] = Math.max(s.p95[i] ?? 0, Math.round(r.p95 * 10) / 10);
    }
    return {
      by: q.by,
      window: q.window,
      bucketSeconds,
      buckets,
      series: [...byKey]
        .sort((a, b) => a[0].localeCompare(b[0]))
        .map(([k, s]) => ({
          key: k,
          volume: s.volume,
          approvalRate: s.answered.map((a, i) => (a > 0 ? s.approved[i]! / a : null)),
          p95Ms: s.p95,
        })),
    };
  }

  async recent(limit: number): Promise<PastDecision[]> {
    const { rows } = await this.pool.query<TxnRow>(
      `select * from switch_txn where kind in ('auth', 'financial') and pan_masked is not null order by created_at desc limit $1`,
      [Math.max(1, Math.min(100_000, limit))],
    );
    const out: PastDecision[] = [];
    for (const r of rows) {
      const bin = (r.pan_masked ?? '').slice(0, 6);
      if (!/^[0-9]{6}$/.test(bin) || !r.currency || !r.amount) continue;
      const risk = decodeExplanation(r.explanation)?.risk.level;
      const cls = responseClass(r.response_code);
      out.push({
        context: {
          bin,
          cardToken: (r.pan_hash ?? r.id).slice(0, 32),
          amountMinor: BigInt(r.amount),
          currency: r.currency,
          merchantId: r.psp_merchant,
          psp: r.psp,
          at: r.created_at,
        },
        routedTo: r.terminal,
        outcome: cls === 'approved' ? 'approved' : cls === 'declined' ? 'declined' : 'failed',
        ...(risk ? { riskLevel: risk } : {}),
      });
    }
    return out;
  }
}

/**
 * Intent rows that carry a PAN hash (every attempt keeps its transaction's), counted per stored key id (null:
 * written before key ids, the legacy key): how many rows each PAN hash key still covers (src/switch/pan-key.ts,
 * `npm run pan-keys -- report`). A scan of every day partition, never on the hot path.
 */
export async function switchPanKeyRows(q: Pick<pg.PoolClient, 'query'>): Promise<Array<{ key: string | null; rows: number }>> {
  const { rows } = await q.query<{ key: string | null; rows: string }>(
    'select pan_key as key, count(*)::text as rows from switch_intent where pan_hash is not null group by pan_key order by pan_key nulls first',
  );
  return rows.map((r) => ({ key: r.key, rows: Number(r.rows) }));
}

/**
 * The acquirer's reference (the RRN the switch sent it, DE37) of each transaction id: what a settlement file
 * names a row by (src/ledger/settlement.ts). A capture's advice carries its authorization's RRN, so a capture
 * answers with its original's; the last attempt is the one the acquirer saw.
 */
export async function acquirerReferences(q: Pick<pg.Pool, 'query'>, txnIds: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (txnIds.length === 0) return out;
  const { rows } = await q.query<{ txn_id: string; rrn: string | null }>(
    `select i.txn_id, case when i.kind = 'capture' then coalesce(o.acq_rrn, i.acq_rrn) else coalesce(i.acq_rrn, o.acq_rrn) end as rrn
       from (select distinct on (txn_id) txn_id, kind, acq_rrn, original_id from switch_intent where txn_id = any($1::text[]) order by txn_id, attempt desc) i
       left join lateral (select acq_rrn from switch_intent where txn_id = i.original_id and acq_rrn is not null order by attempt desc limit 1) o on true`,
    [txnIds],
  );
  for (const r of rows) if (r.rrn) out.set(r.txn_id, r.rrn);
  return out;
}
