/**
 * The store-and-forward queue's SQL (switch_saf, switch_dead_letter): a small working table, claimed with a
 * lease (FOR UPDATE SKIP LOCKED) so several instances share it without sending an entry twice at once.
 * Closing a reversal also moves its transaction from timed out (or failed) to reversed, in the same transaction;
 * a completion advice (0220) closes with a note only: its capture was committed when it was queued.
 */
import type pg from 'pg';
import { inTransaction } from '../../store/tx.js';
import { SwitchTx } from './tx.js';
import type { SafMti } from './rows.js';

export interface SafRow {
  id: string;
  txn_id: string;
  txn_day: string;
  acquirer: string;
  mti: SafMti;
  fields: Record<string, string>;
  attempts: number;
  /** An earlier attempt may have reached the acquirer: this one goes as the repeat. */
  sent: boolean;
  expires_at: Date;
}

export class SafQueue {
  constructor(private readonly pool: pg.Pool) {}

  /** Due entries, each leased for `leaseSec` (its attempt counted now). */
  async claim(leaseSec: number, limit = 100): Promise<SafRow[]> {
    const { rows } = await this.pool.query<SafRow>(
      `update switch_saf s set attempts = s.attempts + 1, next_at = now() + make_interval(secs => $1)
       where s.id in (select id from switch_saf where done_at is null and next_at <= now() order by next_at limit $2 for update skip locked)
       returning s.id, s.txn_id, to_char(s.txn_day, 'YYYY-MM-DD') as txn_day, s.acquirer, s.mti, s.fields, s.attempts, s.sent, s.expires_at`,
      [leaseSec, limit],
    );
    return rows;
  }

  /** The acquirer answered: close the entry, and a transaction still waiting for its reversal is now reversed. */
  async done(r: SafRow, o: { mti: string; code: string }): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await client.query('update switch_saf set done_at = now(), response_code = $2 where id = $1', [r.id, o.code]);
      if (r.mti === '0220') {
        await new SwitchTx(client).note(r.txn_id, r.txn_day, 'advice_sent', { mti: o.mti, attempts: r.attempts, code: o.code });
        return;
      }
      await client.query(
        `insert into switch_outcome (txn_id, seq, day, state, reason)
         select v.id, v.seq + 1, v.day, 'reversed', 'reversal answered ' || $3 from switch_txn v
          where v.id = $1 and v.day = $2::date and v.state in ('timed_out', 'failed')
         on conflict do nothing`,
        [r.txn_id, r.txn_day, o.code],
      );
      await new SwitchTx(client).note(r.txn_id, r.txn_day, 'reversal_sent', { mti: o.mti, attempts: r.attempts, code: o.code });
    });
  }

  /** Not closed: due again in `seconds`. `left`: this attempt may have reached the acquirer (the next is a repeat). */
  async backoff(id: string, seconds: number, error: string, left: boolean): Promise<void> {
    await this.pool.query(
      `update switch_saf set next_at = now() + make_interval(secs => $2), last_error = $3, sent = sent or $4 where id = $1 and done_at is null`,
      [id, seconds, error, left],
    );
  }

  async deadLetter(r: SafRow, reason: string): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await client.query('update switch_saf set done_at = now() where id = $1', [r.id]);
      await client.query(
        `insert into switch_dead_letter (saf_id, txn_id, acquirer, mti, attempts, reason) values ($1, $2, $3, $4, $5, $6)
         on conflict (saf_id) do update set retried_at = null, attempts = excluded.attempts, reason = excluded.reason, created_at = now()`,
        [r.id, r.txn_id, r.acquirer, r.mti, r.attempts - 1, reason],
      );
      await new SwitchTx(client).note(r.txn_id, r.txn_day, 'dead_letter', { reason });
    });
  }

  /**
   * Puts a dead letter back in the queue (operator retry) for `windowMs` of repeats; false when it is not a dead
   * letter. Should the window pass without an answer that closes it, it is a dead letter again (deadLetter above).
   */
  async retry(safId: string, windowMs: number): Promise<boolean> {
    return inTransaction(this.pool, async (client) => {
      const { rowCount } = await client.query('update switch_dead_letter set retried_at = now() where saf_id = $1 and retried_at is null', [safId]);
      if (!rowCount) return false;
      await client.query(`update switch_saf set done_at = null, attempts = 0, next_at = now(), expires_at = now() + make_interval(secs => $2) where id = $1`, [
        safId,
        windowMs / 1000,
      ]);
      return true;
    });
  }

  /** Entries not yet closed (waiting to be sent or repeated): the switch_saf_depth metric. */
  async depth(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>('select count(*) as n from switch_saf where done_at is null');
    return Number(rows[0]?.n ?? 0);
  }

  /** Dead letters no operator has retried: the switch_dead_letters metric. */
  async deadLetterCount(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>('select count(*) as n from switch_dead_letter where retried_at is null');
    return Number(rows[0]?.n ?? 0);
  }
}
