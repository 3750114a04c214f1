/**
 * The switch's writes off the authorization path, inside one transaction each (captures, reversals, expiry,
 * recovery, store-and-forward results): every step of a transaction's history is an insert of step n+1, and
 * two writers of the same step collide on the primary key, so whichever commits first wins and the other
 * learns it lost (docs/switch.md, "Serialized per transaction"). The ledger's part of the same change runs on
 * the same client (`client`, for Ledger.runInTx), so money and state commit together.
 */
import type pg from 'pg';
import { flushIntents, safValues } from './hot.js';
import type { Intent, IntentResult, NoteEvent, Outcome, SafEntry } from './rows.js';

export class SwitchTx {
  constructor(
    readonly client: pg.PoolClient,
    private readonly duplicateWindowMs?: number,
  ) {}

  /** Step `o.seq` of a transaction's history; false when another writer already took that step. */
  async transition(o: Outcome): Promise<boolean> {
    const { rowCount } = await this.client.query({
      name: 'switch_transition',
      text: `insert into switch_outcome (txn_id, seq, day, state, response_code, auth_code, amount, ref, reason)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict do nothing`,
      values: [o.txnId, o.seq, o.day, o.state, o.code ?? null, o.authCode ?? null, o.amount?.toString() ?? null, o.ref ?? null, o.reason ?? null],
    });
    return rowCount === 1;
  }

  async intent(i: Intent): Promise<IntentResult> {
    const [r] = await flushIntents(this.client, [i], this.duplicateWindowMs);
    return r!;
  }

  async queueSaf(s: SafEntry): Promise<void> {
    await this.client.query({
      name: 'switch_saf_one',
      text: `insert into switch_saf (txn_id, txn_day, acquirer, mti, fields, expires_at)
             select * from unnest($1::switch_saf_in[]) on conflict (txn_id, mti) do nothing`,
      values: [safValues([s])],
    });
  }

  /**
   * A completion advice the acquirer did not acknowledge online. `sent`: it may have reached the acquirer (it
   * timed out, or a crash hid its answer), so the queue sends it as a repeat, 0221; otherwise as 0220 first.
   */
  async queueAdvice(s: SafEntry, sent: boolean): Promise<void> {
    await this.client.query(
      `insert into switch_saf (txn_id, txn_day, acquirer, mti, fields, expires_at, sent) values ($1, $2, $3, '0220', $4, $5, $6)
       on conflict (txn_id, mti) do nothing`,
      [s.txn_id, s.txn_day, s.acquirer, JSON.stringify(s.fields), s.expires_at, sent],
    );
    await this.note(s.txn_id, s.txn_day, 'advice_queued', { sent });
  }

  async orphan(psp: string, key: string, txnId: string): Promise<void> {
    await this.client.query('insert into switch_orphan_reversal (psp, orig_key, txn_id) values ($1, $2, $3) on conflict do nothing', [psp, key, txnId]);
  }

  async note(txnId: string, day: string, event: NoteEvent, data: Record<string, unknown> | null = null): Promise<void> {
    await this.client.query('insert into switch_note (txn_id, day, event, data) values ($1, $2, $3, $4)', [
      txnId,
      day,
      event,
      data === null ? null : JSON.stringify(data),
    ]);
  }
}
