/**
 * The switch's own tables (switch_txn, events, SAF, dead letters, orphan reversals). Writes on the
 * authorization path go through one group committer: concurrent intents, outcomes and queued reversals share
 * a transaction of set-based statements (jsonb_to_recordset), so the hot path pays no round trip of its own.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { createGroupCommit, type GroupCommitStats, type GroupCommitter, type BatchInfo } from '../store/group-commit.js';
import { migrate } from '../store/migrate.js';
import { SwitchError } from '../errors.js';

export const SWITCH_MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

export type TxnKind = 'auth' | 'financial' | 'capture' | 'reversal';
export type TxnState = 'received' | 'sent' | 'approved' | 'declined' | 'timed_out' | 'failed' | 'captured' | 'reversed' | 'expired' | 'acknowledged';
export type TxnEventName =
  | 'received' | 'routed' | 'sent' | 'answered' | 'held' | 'captured' | 'reversal_queued' | 'reversal_sent' | 'reversed'
  | 'expired' | 'declined' | 'timed_out' | 'failed' | 'late_response' | 'duplicate' | 'rerouted' | 'dead_letter' | 'acknowledged';

export interface TxnRow {
  id: string;
  kind: TxnKind;
  psp: string;
  mti: string;
  psp_stan: string;
  psp_terminal: string;
  psp_merchant: string;
  psp_dt: string;
  dup_key: string;
  original_id: string | null;
  state: TxnState;
  amount: string | null;
  currency: string | null;
  pan_hash: string | null;
  pan_masked: string | null;
  merchant: string | null;
  acquirer: string | null;
  terminal: string | null;
  acq_stan: string | null;
  acq_rrn: string | null;
  acq_dt: string | null;
  response_code: string | null;
  auth_code: string | null;
  captured_amount: string | null;
  rules_version: number | null;
  explanation: unknown;
  created_at: Date;
  updated_at: Date;
}

export type NewTxn = Omit<TxnRow, 'created_at' | 'updated_at' | 'explanation' | 'amount' | 'captured_amount'> & {
  amount: bigint | null;
  explanation: unknown;
};

export interface TxnUpdate {
  id: string;
  state?: TxnState;
  response_code?: string;
  auth_code?: string;
  acquirer?: string;
  terminal?: string;
  acq_stan?: string;
  acq_rrn?: string;
  acq_dt?: string;
  captured_amount?: bigint;
}

export interface TxnEvent {
  txn_id: string;
  event: TxnEventName;
  data?: Record<string, unknown>;
}

export interface SafEntry {
  txn_id: string;
  acquirer: string;
  mti: '0400' | '0420';
  fields: Record<string, string>;
  expires_at: Date;
}

/** One durable write on the hot path: any mix of a new row, an update, a queued reversal and events. */
export interface WriteReq {
  insert?: NewTxn;
  update?: TxnUpdate;
  saf?: SafEntry;
  events: TxnEvent[];
}

/** Not inserted: a duplicate of `duplicateOf`, or (`duplicateOf` empty) an intent refused because its reversal came first. */
export type WriteRes = { inserted: true } | { inserted: false; duplicateOf: string } | { ok: true };

const INSERT_SQL = `
with x as (
  select * from jsonb_to_recordset($1::jsonb) as r(
    id text, kind text, psp text, mti text, psp_stan text, psp_terminal text, psp_merchant text, psp_dt text,
    dup_key text, original_id text, state text, amount bigint, currency text, pan_hash text, pan_masked text,
    merchant text, acquirer text, terminal text, acq_stan text, acq_rrn text, acq_dt text, response_code text,
    auth_code text, rules_version int, explanation jsonb)
), ins as (
  insert into switch_txn (id, kind, psp, mti, psp_stan, psp_terminal, psp_merchant, psp_dt, dup_key, original_id,
    state, amount, currency, pan_hash, pan_masked, merchant, acquirer, terminal, acq_stan, acq_rrn, acq_dt,
    response_code, auth_code, rules_version, explanation)
  select id, kind, psp, mti, psp_stan, psp_terminal, psp_merchant, psp_dt, dup_key, original_id, state, amount,
    currency, pan_hash, pan_masked, merchant, acquirer, terminal, acq_stan, acq_rrn, acq_dt, response_code,
    auth_code, rules_version, explanation from x
  -- an authorization whose reversal came first (possibly on another instance) is never sent
  where not (x.state = 'sent' and exists (select 1 from switch_orphan_reversal o
    where o.psp = x.psp and o.orig_key = x.psp_stan || '|' || x.psp_terminal || '|' || x.psp_merchant))
  on conflict (psp, dup_key) do nothing
  returning id
), ev as (
  insert into switch_txn_event (txn_id, event, data)
  select e.txn_id, e.event, e.data from rows from (jsonb_to_recordset($2::jsonb) as (txn_id text, event text, data jsonb)) with ordinality as e(txn_id, event, data, ord)
  join ins on ins.id = e.txn_id
  order by e.ord
  returning 1
)
select id from ins`;

const UPDATE_SQL = `
update switch_txn t set
  state = coalesce(x.state, t.state),
  response_code = coalesce(x.response_code, t.response_code),
  auth_code = coalesce(x.auth_code, t.auth_code),
  acquirer = coalesce(x.acquirer, t.acquirer),
  terminal = coalesce(x.terminal, t.terminal),
  acq_stan = coalesce(x.acq_stan, t.acq_stan),
  acq_rrn = coalesce(x.acq_rrn, t.acq_rrn),
  acq_dt = coalesce(x.acq_dt, t.acq_dt),
  captured_amount = coalesce(x.captured_amount, t.captured_amount)
from jsonb_to_recordset($1::jsonb) as x(id text, state text, response_code text, auth_code text, acquirer text,
  terminal text, acq_stan text, acq_rrn text, acq_dt text, captured_amount bigint)
where t.id = x.id
returning t.id`;

const EVENTS_SQL = `insert into switch_txn_event (txn_id, event, data)
  select txn_id, event, data from rows from (jsonb_to_recordset($1::jsonb) as (txn_id text, event text, data jsonb)) with ordinality as e(txn_id, event, data, ord)
  order by ord`;

const SAF_SQL = `insert into switch_saf (txn_id, acquirer, mti, fields, expires_at)
  select txn_id, acquirer, mti, fields, expires_at from jsonb_to_recordset($1::jsonb)
    as s(txn_id text, acquirer text, mti text, fields jsonb, expires_at timestamptz)
  on conflict (txn_id, mti) do nothing`;

const json = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));

export interface SwitchStoreOptions {
  pool: pg.Pool;
  maxWaitMs?: number;
  migrate?: boolean;
  onBatch?: (info: BatchInfo) => void;
}

export class SwitchStore {
  readonly pool: pg.Pool;
  private readonly writer: GroupCommitter<WriteReq, WriteRes>;

  private constructor(o: SwitchStoreOptions) {
    this.pool = o.pool;
    this.writer = createGroupCommit<WriteReq, WriteRes>({
      pool: o.pool,
      name: 'switch',
      maxWaitMs: o.maxWaitMs ?? 1,
      maxInFlight: 2,
      flush: (client, reqs) => flush(client, reqs),
      ...(o.onBatch ? { onBatch: o.onBatch } : {}),
    });
  }

  static async open(o: SwitchStoreOptions): Promise<SwitchStore> {
    if (o.migrate !== false) await migrate(o.pool, { module: 'switch', dir: SWITCH_MIGRATIONS_DIR });
    return new SwitchStore(o);
  }

  write(req: WriteReq): Promise<WriteRes> {
    return this.writer.submit(req);
  }

  stats(): GroupCommitStats {
    return this.writer.stats();
  }

  close(): Promise<void> {
    return this.writer.close();
  }

  async get(id: string): Promise<TxnRow | undefined> {
    const { rows } = await this.pool.query<TxnRow>('select * from switch_txn where id = $1', [id]);
    return rows[0];
  }

  async byDupKey(psp: string, dupKey: string): Promise<TxnRow | undefined> {
    const { rows } = await this.pool.query<TxnRow>('select * from switch_txn where psp = $1 and dup_key = $2', [psp, dupKey]);
    return rows[0];
  }
}

async function flush(client: pg.PoolClient, reqs: readonly WriteReq[]): Promise<Array<WriteRes | Error>> {
  const inserts: NewTxn[] = [];
  const insertEvents: TxnEvent[] = [];
  const updates: TxnUpdate[] = [];
  const events: TxnEvent[] = [];
  const safs: SafEntry[] = [];
  const seen = new Set<string>();
  for (const r of reqs) {
    if (r.insert) {
      inserts.push(r.insert);
      insertEvents.push(...r.events);
    } else events.push(...r.events);
    if (r.update) updates.push(r.update);
    if (r.saf) safs.push(r.saf);
  }
  const out: Array<WriteRes | Error> = [];
  if (inserts.length) {
    const { rows } = await client.query<{ id: string }>({ name: 'switch_insert', text: INSERT_SQL, values: [json(inserts), json(insertEvents)] });
    for (const row of rows) seen.add(row.id);
  }
  if (updates.length) {
    const { rowCount } = await client.query({ name: 'switch_update', text: UPDATE_SQL, values: [json(updates)] });
    if ((rowCount ?? 0) !== updates.length) throw new SwitchError('SW_ERR_TXN_NOT_FOUND', { id: `${updates.length - (rowCount ?? 0)} of ${updates.length} updates` });
  }
  if (events.length) await client.query({ name: 'switch_events', text: EVENTS_SQL, values: [json(events)] });
  if (safs.length) await client.query({ name: 'switch_saf', text: SAF_SQL, values: [json(safs)] });
  const dupIds = inserts.filter((i) => !seen.has(i.id));
  const dupOf = new Map<string, string>();
  if (dupIds.length) {
    const { rows } = await client.query<{ id: string; psp: string; dup_key: string }>(
      `select t.id, t.psp, t.dup_key from switch_txn t join jsonb_to_recordset($1::jsonb) as d(psp text, dup_key text)
         on t.psp = d.psp and t.dup_key = d.dup_key`,
      [json(dupIds.map((d) => ({ psp: d.psp, dup_key: d.dup_key })))],
    );
    for (const r of rows) dupOf.set(`${r.psp}\u0000${r.dup_key}`, r.id);
  }
  for (const r of reqs) {
    if (r.insert) {
      if (seen.has(r.insert.id)) out.push({ inserted: true });
      else out.push({ inserted: false, duplicateOf: dupOf.get(`${r.insert.psp}\u0000${r.insert.dup_key}`) ?? '' });
    } else out.push({ ok: true });
  }
  return out;
}
