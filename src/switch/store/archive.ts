/**
 * Archiving a day of the switch (docs/retention.md): when every transaction of that day is settled (none in
 * flight, no capture at an acquirer, no authorization still holding money, no reversal still owed), its
 * intents, outcomes and notes, and the finished store-and-forward entries and dead letters of its
 * transactions, are written to archive files; then the day's partitions are dropped and those entries
 * deleted, in one transaction after the files are on disk.
 */
import path from 'node:path';
import type pg from 'pg';
import { archiveQuery, daysBefore, partitionName, type DayArchive } from '../../store/archive-file.js';
import { inTransaction } from '../../store/tx.js';

const TABLES = ['switch_intent', 'switch_outcome', 'switch_note'] as const;

export async function switchDaysBefore(pool: pg.Pool, before: string): Promise<string[]> {
  return daysBefore(pool, 'switch_intent', before);
}

export async function archiveSwitchDay(pool: pg.Pool, day: string, dir: string, o: { dryRun?: boolean } = {}): Promise<DayArchive> {
  return inTransaction(pool, async (client) => {
    const { rows: open } = await client.query<{ n: number }>(
      `select count(*)::int as n from switch_txn where day = $1::date
          and (state in ('sent', 'capturing') or (kind = 'auth' and state = 'approved'))`,
      [day],
    );
    const { rows: owed } = await client.query<{ n: number }>(`select count(*)::int as n from switch_saf where txn_day = $1::date and done_at is null`, [day]);
    if (open[0]!.n > 0 || owed[0]!.n > 0) {
      return { day, archived: false, reason: `${open[0]!.n} transaction(s) not settled, ${owed[0]!.n} reversal(s) still owed`, rows: {} };
    }
    if (o.dryRun) return { day, archived: false, reason: 'dry run: would be archived', rows: {} };
    const rows: Record<string, number> = {};
    for (const t of TABLES) {
      rows[t] = await archiveQuery(client, `select * from ${t} where day = $1::date`, [day], path.join(dir, `${partitionName(t, day)}.ndjson.gz`));
    }
    rows.switch_saf = await archiveQuery(
      client,
      `select s.*, d.reason as dead_letter_reason, d.created_at as dead_letter_at, d.retried_at from switch_saf s
         left join switch_dead_letter d on d.saf_id = s.id where s.txn_day = $1::date`,
      [day],
      path.join(dir, `${partitionName('switch_saf', day)}.ndjson.gz`),
    );
    await client.query('delete from switch_dead_letter where saf_id in (select id from switch_saf where txn_day = $1::date)', [day]);
    await client.query('delete from switch_saf where txn_day = $1::date', [day]);
    await client.query(`delete from switch_orphan_reversal where created_at < $1::date + 1`, [day]);
    for (const t of TABLES) await client.query(`drop table ${partitionName(t, day)}`);
    return { day, archived: true, rows };
  });
}
