/**
 * Housekeeping that must hold across crashes and instances:
 * - expiry: approved authorizations older than the hold age are rolled back (default 7 days);
 * - recovery: transactions left 'sent' by a crash (the PSP never got an answer) are treated as timed out,
 *   and their reversal is queued.
 * Both claim rows with FOR UPDATE SKIP LOCKED, so several instances can run them at once.
 */
import type { Logger } from 'pino';
import type pg from 'pg';
import type { Ledger } from '../ledger/index.js';
import { reversalFields } from './translate.js';
import { inTransaction } from '../store/tx.js';
import { releaseFunds, safeErr } from './flows.js';
import { isSwitchError } from '../errors.js';
import type { AcquirerSet } from './acquirers.js';

export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly ledger: Ledger,
    private readonly acquirers: AcquirerSet,
    private readonly o: { holdAgeMs: number; intervalMs: number; staleSentMs: number; safExpireMs: number; onExpired?: (n: number) => void; kickSaf: () => void },
    private readonly log: Logger,
  ) {}

  start(): this {
    this.timer = setInterval(() => void this.run(), this.o.intervalMs);
    this.timer.unref();
    return this;
  }

  async run(): Promise<{ expired: number; recovered: number }> {
    if (this.busy) return { expired: 0, recovered: 0 };
    this.busy = true;
    try {
      const recovered = await this.recover();
      const expired = await this.expire();
      return { expired, recovered };
    } catch (e) {
      this.log.error({ err: safeErr(e) }, 'sweep failed');
      return { expired: 0, recovered: 0 };
    } finally {
      this.busy = false;
    }
  }

  /** Rolls back holds older than the hold age. The rollback is idempotent, so a crash mid-way is replayed. */
  async expire(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await inTransaction(this.pool, async (client) => {
        const { rows } = await client.query<{ id: string }>(
          `select id from switch_txn where state = 'approved' and kind = 'auth' and created_at < now() - make_interval(secs => $1)
           order by created_at limit 200 for update skip locked`,
          [this.o.holdAgeMs / 1000],
        );
        for (const r of rows) {
          // An approval whose hold was never written (the PSP was told 91) has no plan: nothing to release.
          await this.ledger.rollback(r.id).catch((e: unknown) => {
            if (!isSwitchError(e, 'SW_ERR_LEDGER_PLAN_NOT_FOUND')) throw e;
          });
        }
        if (rows.length) {
          const ids = rows.map((r) => r.id);
          await client.query(`update switch_txn set state = 'expired' where id = any($1)`, [ids]);
          await client.query(`insert into switch_txn_event (txn_id, event) select unnest($1::text[]), 'expired'`, [ids]);
        }
        return rows.length;
      });
      total += n;
      if (n < 200) break;
    }
    if (total) {
      this.log.info({ expired: total }, 'expired authorization holds rolled back');
      this.o.onExpired?.(total);
    }
    return total;
  }

  /** 'sent' rows older than every acquirer timeout: the process that sent them died. Queue their reversal. */
  async recover(): Promise<number> {
    const n = await inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{ id: string; mti: string; acquirer: string; acq_stan: string; acq_rrn: string; acq_dt: string; amount: string; currency: string; terminal: string }>(
        `select id, mti, acquirer, acq_stan, acq_rrn, acq_dt, amount, currency, terminal from switch_txn
         where state = 'sent' and updated_at < now() - make_interval(secs => $1) limit 500 for update skip locked`,
        [this.o.staleSentMs / 1000],
      );
      for (const r of rows) {
        // The crash may have come after the hold (or a 0200's commit) was written: the PSP never saw the
        // approval, so the money is released before the reversal is queued (idempotent, replayed if we die here).
        await releaseFunds(this.ledger, r.id);
        const acq = this.acquirers.all().find((a) => a.def.id === r.acquirer);
        const stan = acq ? acq.link.nextStan() : r.acq_stan;
        const fields = reversalFields(stan, {
          mti: r.mti, stan: r.acq_stan, dt: r.acq_dt, rrn: r.acq_rrn, ...this.terminalIds(r.terminal),
          processingCode: '000000', amount: String(r.amount ?? '0'), currency: r.currency ?? '',
        });
        await client.query(`update switch_txn set state = 'timed_out', response_code = '91' where id = $1`, [r.id]);
        await client.query(
          `insert into switch_saf (txn_id, acquirer, mti, fields, expires_at) values ($1, $2, '0420', $3, now() + make_interval(secs => $4)) on conflict (txn_id, mti) do nothing`,
          [r.id, r.acquirer, JSON.stringify(fields), this.o.safExpireMs / 1000],
        );
        await client.query(`insert into switch_txn_event (txn_id, event, data) values ($1, 'timed_out', '{"reason":"recovered after a crash"}'), ($1, 'reversal_queued', '{"mti":"0420"}')`, [r.id]);
        // A reversal queued by the flow itself (hold failed after an approval) may already be delivered.
        await client.query(`update switch_txn set state = 'reversed' where id = $1 and exists (select 1 from switch_saf where txn_id = $1 and done_at is not null and response_code is not null)`, [r.id]);
      }
      return rows.length;
    });
    if (n) {
      this.log.warn({ recovered: n }, 'transactions left in flight by a crash: reversals queued');
      this.o.kickSaf();
    }
    return n;
  }

  terminalIds: (terminal: string) => { terminalId: string; merchantId: string } = () => ({ terminalId: '', merchantId: '' });

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
