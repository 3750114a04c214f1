/**
 * Store-and-forward of reversals (shared/design.md §4): each queued entry is sent as 0400/0420, repeated as
 * 0401/0421 with exponential backoff until the acquirer answers; an entry that exhausts its attempts or
 * expires moves to the dead-letter table, never dropped silently. Entries are claimed with a lease
 * (FOR UPDATE SKIP LOCKED), so several instances share the queue without sending an entry twice at once.
 */
import type { Logger } from 'pino';
import type pg from 'pg';
import { IsoMessage } from '../iso8583/index.js';
import { transmissionDateTime } from '../net/index.js';
import { isSwitchError } from '../errors.js';
import type { SwitchConfig } from './config.js';
import type { AcquirerSet } from './acquirers.js';
import { safeErr } from './flows.js';
import { inTransaction } from '../store/tx.js';

interface SafRow {
  id: string;
  txn_id: string;
  acquirer: string;
  mti: '0400' | '0420';
  fields: Record<string, string>;
  attempts: number;
  expires_at: Date;
}

export interface SafObserver {
  sent?(o: { acquirer: string; mti: string; ok: boolean }): void;
  deadLetter?(o: { acquirer: string; reason: string }): void;
  depth?(n: number): void;
}

export class SafWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly acquirers: AcquirerSet,
    private readonly cfg: SwitchConfig['saf'],
    private readonly log: Logger,
    private readonly observer: SafObserver = {},
  ) {}

  start(): this {
    this.timer = setInterval(() => this.kick(), this.cfg.pollMs);
    this.timer.unref();
    this.kick();
    return this;
  }

  /** Run a pass now (coalesced with one already running). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass().then(() => undefined)
      .catch((e: unknown) => this.log.error({ err: safeErr(e) }, 'SAF pass failed'))
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Claims due entries and sends them; resolves when this pass is done. */
  async pass(): Promise<number> {
    const lease = Math.ceil((this.cfg.timeoutMs * 2) / 1000);
    const { rows } = await this.pool.query<SafRow>(
      `update switch_saf s set attempts = s.attempts + 1, next_at = now() + make_interval(secs => $1)
       where s.id in (select id from switch_saf where done_at is null and next_at <= now() order by next_at limit 100 for update skip locked)
       returning s.id, s.txn_id, s.acquirer, s.mti, s.fields, s.attempts, s.expires_at`,
      [lease],
    );
    await Promise.all(rows.map((r) => this.deliver(r)));
    if (this.observer.depth) {
      const { rows: d } = await this.pool.query<{ n: string }>('select count(*) as n from switch_saf where done_at is null');
      this.observer.depth(Number(d[0]?.n ?? 0));
    }
    return rows.length;
  }

  private async deliver(r: SafRow): Promise<void> {
    if (r.attempts > this.cfg.maxAttempts || r.expires_at.getTime() < Date.now()) {
      await this.deadLetter(r, r.attempts > this.cfg.maxAttempts ? `no answer after ${r.attempts - 1} attempts` : 'expired');
      return;
    }
    const mti = r.attempts === 1 ? r.mti : r.mti === '0400' ? '0401' : '0421';
    const msg = new IsoMessage(mti);
    for (const [k, v] of Object.entries(r.fields)) msg.set(Number(k), v);
    msg.set(7, transmissionDateTime());
    try {
      const answer = await this.acquirers.request(r.acquirer, msg, [r.acquirer], this.cfg.timeoutMs);
      const code = answer.getString(39) ?? '';
      await inTransaction(this.pool, async (client) => {
        await client.query('update switch_saf set done_at = now(), response_code = $2 where id = $1', [r.id, code]);
        await client.query(`update switch_txn set state = 'reversed' where id = $1 and state = 'timed_out'`, [r.txn_id]);
        await client.query(`insert into switch_txn_event (txn_id, event, data) values ($1, 'reversal_sent', $2)`, [r.txn_id, JSON.stringify({ mti, attempts: r.attempts, code })]);
      });
      this.observer.sent?.({ acquirer: r.acquirer, mti, ok: true });
    } catch (e) {
      const backoff = Math.min(this.cfg.retryMaxMs, this.cfg.retryInitialMs * 2 ** Math.min(r.attempts - 1, 20));
      await this.pool.query(`update switch_saf set next_at = now() + make_interval(secs => $2), last_error = $3 where id = $1 and done_at is null`, [
        r.id, backoff / 1000, isSwitchError(e) ? e.code : 'error',
      ]);
      this.observer.sent?.({ acquirer: r.acquirer, mti, ok: false });
    }
  }

  private async deadLetter(r: SafRow, reason: string): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await client.query('update switch_saf set done_at = now() where id = $1', [r.id]);
      await client.query(
        `insert into switch_dead_letter (saf_id, txn_id, acquirer, mti, attempts, reason) values ($1, $2, $3, $4, $5, $6) on conflict (saf_id) do nothing`,
        [r.id, r.txn_id, r.acquirer, r.mti, r.attempts - 1, reason],
      );
      await client.query(`insert into switch_txn_event (txn_id, event, data) values ($1, 'dead_letter', $2)`, [r.txn_id, JSON.stringify({ reason })]);
    });
    this.log.error({ txnId: r.txn_id, acquirer: r.acquirer, reason }, 'reversal moved to dead letters: operator action needed');
    this.observer.deadLetter?.({ acquirer: r.acquirer, reason });
  }

  /** Puts a dead letter back in the queue (operator retry). */
  async retry(safId: string): Promise<boolean> {
    const requeued = await inTransaction(this.pool, async (client) => {
      const { rowCount } = await client.query('update switch_dead_letter set retried_at = now() where saf_id = $1 and retried_at is null', [safId]);
      if (!rowCount) return false;
      await client.query(`update switch_saf set done_at = null, attempts = 0, next_at = now(), expires_at = greatest(expires_at, now() + interval '1 day') where id = $1`, [safId]);
      return true;
    });
    if (requeued) this.kick();
    return requeued;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
