/**
 * What the sweeper reads (src/switch/sweeper.ts): transactions a crash left without an answer, authorizations
 * old enough to expire, and captures whose claim went stale. Each scan walks forward from a watermark kept in
 * switch_sweep (one row per scan, locked by the instance running it: several sweepers never overlap), over a
 * range of transaction ids (they start with their creation time, so the primary key serves the range), and
 * the work it finds is done in the same transaction that advances the watermark.
 */
import type pg from 'pg';
import { inTransaction } from '../../store/tx.js';
import { dayOf } from '../keys.js';
import { SwitchTx } from './tx.js';

/** Lower bound of the ids of transactions created at `ms` or later (ids start with base-36 milliseconds). */
export function txnIdAt(ms: number): string {
  return Math.max(0, Math.floor(ms)).toString(36).padStart(8, '0');
}

/** When a transaction was created, from its id (src/switch/ids.ts). */
export function txnIdTime(id: string): number {
  return parseInt(id.slice(0, 8), 36);
}

export interface LostIntent {
  id: string;
  day: string;
  mti: string;
  amount: string | null;
  currency: string | null;
  acquirer: string;
  terminal: string | null;
  acq_stan: string;
  acq_rrn: string;
  acq_dt: string;
  acq_tid: string | null;
  acq_mid: string | null;
  created_ms: number;
}

export interface OpenAuth {
  id: string;
  day: string;
  seq: number;
  created_ms: number;
}

/** A capture claim a crash left behind: the authorization, as the acquirer got it, and the capture (`ref`, `amount`). */
export interface StaleClaim {
  id: string;
  day: string;
  seq: number;
  ref: string | null;
  /** the capture's amount (the claim's) */
  amount: string;
  /** the claim's reason: PARTIAL_CLAIM for a partial capture */
  reason: string | null;
  merchant: string;
  authorized: string;
  mti: string;
  acquirer: string;
  currency: string | null;
  acq_stan: string | null;
  acq_dt: string | null;
  acq_rrn: string | null;
  acq_tid: string | null;
  acq_mid: string | null;
  terminal: string | null;
}

export class SweepQueries {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Runs `fn` holding scan `name`'s watermark (created at `initial` the first time); resolves undefined when
   * another instance holds it. `fn` returns the new watermark, written in the same transaction.
   */
  async withWatermark<T>(
    name: string,
    initialMs: number,
    fn: (tx: SwitchTx, watermarkMs: number) => Promise<{ next: number; result: T }>,
  ): Promise<T | undefined> {
    return inTransaction(this.pool, async (client) => {
      await client.query('insert into switch_sweep (name, watermark) values ($1, to_timestamp($2 / 1000.0)) on conflict do nothing', [name, initialMs]);
      const { rows } = await client.query<{ ms: string }>(
        `select (extract(epoch from watermark) * 1000)::bigint::text as ms from switch_sweep where name = $1 for update skip locked`,
        [name],
      );
      if (!rows[0]) return undefined;
      const { next, result } = await fn(new SwitchTx(client), Number(rows[0].ms));
      await client.query('update switch_sweep set watermark = greatest(watermark, to_timestamp($2 / 1000.0)) where name = $1', [name, next]);
      return result;
    });
  }

  /** Sent, never answered: routed authorizations created in [fromMs, toMs) without an outcome, oldest first. */
  async lostIntents(tx: SwitchTx, fromMs: number, toMs: number, limit: number): Promise<LostIntent[]> {
    const { rows } = await tx.client.query<LostIntent>(
      `select i.txn_id as id, to_char(i.day, 'YYYY-MM-DD') as day, i.mti, i.amount::text, i.currency,
              coalesce(r.acquirer, i.acquirer) as acquirer, coalesce(r.terminal, i.terminal) as terminal,
              coalesce(r.acq_stan, i.acq_stan) as acq_stan, coalesce(r.acq_rrn, i.acq_rrn) as acq_rrn, coalesce(r.acq_dt, i.acq_dt) as acq_dt,
              coalesce(r.acq_tid, i.acq_tid) as acq_tid, coalesce(r.acq_mid, i.acq_mid) as acq_mid
         from switch_intent i
         left join lateral (select x.* from switch_intent x where x.txn_id = i.txn_id and x.day = i.day and x.attempt > 1
                             order by x.attempt desc limit 1) r on true
        where i.attempt = 1 and i.txn_id >= $1 and i.txn_id < $2
          and i.day between $3::date and $4::date
          and i.kind in ('auth', 'financial', 'refund', 'balance', 'incremental') and i.state is null and i.acquirer is not null
          and not exists (select 1 from switch_outcome o where o.txn_id = i.txn_id and o.day = i.day and o.seq = 1)
        order by i.txn_id limit $5`,
      [txnIdAt(fromMs), txnIdAt(toMs), utcDay(fromMs - 86_400_000), utcDay(toMs), limit],
    );
    return rows.map((r) => ({ ...r, created_ms: txnIdTime(r.id) }));
  }

  /** Approved authorizations (not captured, reversed or expired) created in [fromMs, toMs), oldest first. */
  async openAuths(tx: SwitchTx, fromMs: number, toMs: number, limit: number): Promise<OpenAuth[]> {
    const { rows } = await tx.client.query<OpenAuth>(
      `select v.id, to_char(v.day, 'YYYY-MM-DD') as day, v.seq
         from switch_txn v
        where v.id >= $1 and v.id < $2 and v.day between $3::date and $4::date and v.kind = 'auth' and v.state = 'approved'
        order by v.id limit $5`,
      [txnIdAt(fromMs), txnIdAt(toMs), utcDay(fromMs - 86_400_000), utcDay(toMs), limit],
    );
    return rows.map((r) => ({ ...r, created_ms: txnIdTime(r.id) }));
  }

  /** Captures sent to an acquirer before `beforeMs` that never got a result recorded (the claim is still the latest step). */
  async staleClaims(tx: SwitchTx, beforeMs: number, sinceDay: string, limit: number): Promise<StaleClaim[]> {
    const { rows } = await tx.client.query<StaleClaim>(
      `select o.txn_id as id, to_char(o.day, 'YYYY-MM-DD') as day, o.seq, o.ref, o.amount::text, o.reason, v.merchant,
              coalesce(v.approved_amount, v.amount)::text as authorized, v.mti, v.acquirer, v.currency,
              v.acq_stan, v.acq_dt, v.acq_rrn, v.acq_tid, v.acq_mid, v.terminal
         from switch_outcome o join switch_txn v on v.id = o.txn_id and v.day = o.day
        where o.state = 'capturing' and o.at < to_timestamp($1 / 1000.0) and o.day >= $2::date
          and not exists (select 1 from switch_outcome n where n.txn_id = o.txn_id and n.day = o.day and n.seq > o.seq)
        order by o.at limit $3`,
      [beforeMs, sinceDay, limit],
    );
    return rows;
  }
}

/** The UTC day of `ms`, never before the epoch (a watermark starts at 0). */
const utcDay = (ms: number): string => dayOf(Math.max(0, ms));
